#include "llmpi/cli/generate_command.hpp"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "llmpi/backend/cpu_backend.hpp"
#include "llmpi/cli/preset_options.hpp"
#include "llmpi/config/model_config.hpp"
#include "llmpi/config/parallel_layout.hpp"
#include "llmpi/config/planner.hpp"
#include "llmpi/core/error.hpp"
#include "llmpi/dist/topology.hpp"
#include "llmpi/engine/generator.hpp"
#include "llmpi/model/checkpoint.hpp"
#include "llmpi/model/transformer.hpp"
#include "llmpi/tokenizer/tokenizer.hpp"
#ifdef LLMPI_HAVE_CUDA
#include "llmpi/backend/cuda_backend.hpp"
#endif

namespace llmpi {

CLI::App& add_generate_command(CLI::App& app, GenerateArgs& args) {
  CLI::App* command = app.add_subcommand("generate", "Greedy generation from a prompt");
  add_model_options(*command, args.model);
  auto* ids =
      command->add_option("--prompt-ids", args.prompt_ids, "Prompt token ids, comma separated");
  auto* text = command->add_option("--prompt", args.prompt_text,
                                   "Prompt text, tokenized with the checkpoint's tokenizer");
  ids->excludes(text);
  command->add_option("--max-new-tokens", args.max_new_tokens, "Tokens to generate")
      ->check(CLI::Range(1, 1 << 24));
  command->add_flag("--ignore-eos", args.ignore_eos, "Keep generating after an EOS token");
  return *command;
}

std::vector<std::int32_t> parse_token_ids(const std::string& text) {
  std::vector<std::int32_t> ids;
  std::size_t begin = 0;
  while (begin <= text.size()) {
    const std::size_t end = std::min(text.find(',', begin), text.size());
    const std::string item = text.substr(begin, end - begin);
    std::size_t used = 0;
    long long value = -1;
    try {
      value = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || item.empty() || value < 0 || value > 0x7fffffff) {
      throw Error("--prompt-ids: '" + item +
                  "' is not a token id; expected non-negative integers separated by commas, "
                  "e.g. 1,2,3");
    }
    ids.push_back(static_cast<std::int32_t>(value));
    begin = end + 1;
  }
  return ids;
}

int run_generate(const GenerateArgs& args) {
  if (args.prompt_text.empty() && args.prompt_ids.empty()) {
    throw Error("generate: give the prompt as --prompt TEXT or --prompt-ids 1,2,3");
  }
  std::unique_ptr<Tokenizer> tokenizer;
  std::vector<std::int32_t> prompt;
  if (!args.prompt_text.empty()) {
    tokenizer = load_tokenizer(checkpoint_dir(args.model));
    prompt = tokenizer->encode(args.prompt_text, true);
  } else {
    prompt = parse_token_ids(args.prompt_ids);
  }

  ModelSession session(args.model, static_cast<std::int64_t>(prompt.size()) + args.max_new_tokens);
  Transformer& model = session.model();
  const bool leader = session.leader();
  GenerationOptions options;
  options.max_new_tokens = args.max_new_tokens;
  options.stop_at_eos = !args.ignore_eos;
  const GenerationResult result = generate(model, prompt, options);
  if (!leader) return 0;

  std::string tokens;
  for (std::size_t i = 0; i < result.tokens.size(); ++i) {
    tokens += (i ? "," : "") + std::to_string(result.tokens[i]);
  }
  std::printf("tokens: %s\n", tokens.c_str());
  if (tokenizer) std::printf("text: %s\n", tokenizer->decode(result.tokens, true).c_str());
  std::printf("prefill: %zu tokens in %.3f s (%.1f tokens/s)\n", prompt.size(),
              result.prefill_seconds, static_cast<double>(prompt.size()) / result.prefill_seconds);
  const std::size_t decoded = result.tokens.size() - 1;  // the first came from the prefill
  if (decoded > 0) {
    std::printf("decode: %zu tokens in %.3f s (%.1f tokens/s)\n", decoded, result.decode_seconds,
                static_cast<double>(decoded) / result.decode_seconds);
  }
  return 0;
}

}  // namespace llmpi
