#include "llmpi/cli/generate_command.hpp"

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "llmpi/backend/cpu_backend.hpp"
#ifdef LLMPI_HAVE_CUDA
#include "llmpi/backend/cuda_backend.hpp"
#endif
#include "llmpi/config/model_config.hpp"
#include "llmpi/core/error.hpp"
#include "llmpi/engine/greedy_generator.hpp"
#include "llmpi/model/checkpoint.hpp"
#include "llmpi/model/transformer.hpp"
#ifdef LLMPI_HAVE_TOKENIZER
#include "llmpi/tokenizer/tokenizer.hpp"
#endif

namespace llmpi {

CLI::App& add_generate_command(CLI::App& app, GenerateArgs& args) {
  CLI::App* command = app.add_subcommand("generate", "Greedy generation from token ids");
  command->add_option("--model", args.model_dir, "Hugging Face checkpoint directory")->required();
  auto* ids =
      command->add_option("--prompt-ids", args.prompt_ids, "Prompt token ids, comma separated");
#ifdef LLMPI_HAVE_TOKENIZER
  auto* text = command->add_option("--prompt", args.prompt_text,
                                   "Prompt text, tokenized with the checkpoint's tokenizer");
  ids->excludes(text);
#else
  ids->required();
#endif
  command->add_option("--max-new-tokens", args.max_new_tokens, "Tokens to generate")
      ->check(CLI::PositiveNumber);
  command->add_flag("--ignore-eos", args.ignore_eos, "Keep generating after an EOS token");
  command->add_option("--backend", args.backend, "cpu, or cuda where built with CUDA")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  command->add_option("--device", args.device, "CUDA device index (cuda backend)")
      ->check(CLI::NonNegativeNumber);
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

namespace {
std::unique_ptr<Backend> make_backend(const GenerateArgs& args) {
  if (args.backend == "cuda") {
#ifdef LLMPI_HAVE_CUDA
    return std::make_unique<CudaBackend>(args.device);
#else
    throw Error("--backend cuda: this llmpi was built without CUDA (nvcc was not found)");
#endif
  }
  return std::make_unique<CpuBackend>();
}
}  // namespace

int run_generate(const GenerateArgs& args) {
  std::vector<std::int32_t> prompt;
#ifdef LLMPI_HAVE_TOKENIZER
  std::unique_ptr<Tokenizer> tokenizer;
  if (args.prompt_text.empty() && args.prompt_ids.empty()) {
    throw Error("generate: give the prompt as --prompt TEXT or --prompt-ids 1,2,3");
  }
  if (!args.prompt_text.empty()) {
    tokenizer = load_tokenizer(args.model_dir);
    prompt = tokenizer->encode(args.prompt_text, true);
  } else {
    prompt = parse_token_ids(args.prompt_ids);
  }
#else
  prompt = parse_token_ids(args.prompt_ids);
#endif
  const auto load_start = std::chrono::steady_clock::now();
  ModelConfig config = load_model_config(args.model_dir);
  Checkpoint checkpoint(args.model_dir);
  const std::unique_ptr<Backend> backend_owner = make_backend(args);
  Backend& backend = *backend_owner;
  ModelWeights weights = load_model_weights(config, checkpoint, backend);
  const double load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  std::printf("model: %s (%s, %d layers, hidden %d, heads %d/%d kv, vocab %d)\n",
              args.model_dir.c_str(), architecture_name(config.architecture).c_str(),
              config.num_layers, config.hidden_size, config.num_heads, config.num_kv_heads,
              config.vocab_size);
  std::printf("weights: %.1f MB read in %.2f s, backend %s\n",
              static_cast<double>(weights.checkpoint_bytes) / 1e6, load_seconds,
              backend.name().c_str());

  Transformer model(std::move(config), std::move(weights), backend);
  GenerationOptions options;
  options.max_new_tokens = args.max_new_tokens;
  options.stop_at_eos = !args.ignore_eos;
  const GenerationResult result = generate_greedy(model, prompt, options);

  std::string tokens;
  for (std::size_t i = 0; i < result.tokens.size(); ++i) {
    tokens += (i ? "," : "") + std::to_string(result.tokens[i]);
  }
  std::printf("tokens: %s\n", tokens.c_str());
#ifdef LLMPI_HAVE_TOKENIZER
  if (tokenizer) std::printf("text: %s\n", tokenizer->decode(result.tokens, true).c_str());
#endif
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
