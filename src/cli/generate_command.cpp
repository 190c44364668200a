#include "llmpi/cli/generate_command.hpp"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <csignal>
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
#include "llmpi/engine/greedy_generator.hpp"
#include "llmpi/model/checkpoint.hpp"
#include "llmpi/model/transformer.hpp"
#include "llmpi/tokenizer/tokenizer.hpp"
#ifdef LLMPI_HAVE_CUDA
#include "llmpi/backend/cuda_backend.hpp"
#endif

namespace llmpi {

CLI::App& add_generate_command(CLI::App& app, GenerateArgs& args) {
  CLI::App* command = app.add_subcommand("generate", "Greedy generation from a prompt");
  command->add_option("--preset", args.preset, "Preset name (presets/NAME.yaml) or YAML file");
  command->add_option("--model", args.model_dir,
                      "Hugging Face checkpoint directory (default: the preset's checkpoint)");
  auto* ids =
      command->add_option("--prompt-ids", args.prompt_ids, "Prompt token ids, comma separated");
  auto* text = command->add_option("--prompt", args.prompt_text,
                                   "Prompt text, tokenized with the checkpoint's tokenizer");
  ids->excludes(text);
  command->add_option("--max-new-tokens", args.max_new_tokens, "Tokens to generate")
      ->check(CLI::PositiveNumber);
  command->add_flag("--ignore-eos", args.ignore_eos, "Keep generating after an EOS token");
  command->add_option("--backend", args.backend, "cpu, or cuda where built with CUDA")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  command->add_option("--device", args.device,
                      "CUDA device index (default: the rank's local rank on its node)");
  add_preset_override_options(*command, args.overrides);
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

std::unique_ptr<Backend> make_backend(const GenerateArgs& args, const Topology& topology) {
  if (args.backend == "cuda") {
#ifdef LLMPI_HAVE_CUDA
    return std::make_unique<CudaBackend>(args.device >= 0 ? args.device : topology.local_rank());
#else
    throw Error("--backend cuda: this llmpi was built without CUDA (nvcc was not found)");
#endif
  }
  // Ranks sharing a machine share its cores, unless OMP_NUM_THREADS says otherwise.
  int threads = 0;
  if (std::getenv("OMP_NUM_THREADS") == nullptr) {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    threads = std::max(1, cores / topology.ranks_on_node());
  }
  return std::make_unique<CpuBackend>(threads);
}

// For the dead-rank test: LLMPI_FAULT_KILL_RANK=r LLMPI_FAULT_KILL_AT_TOKEN=n makes rank r
// kill itself (SIGKILL, no clean-up) when it has seen n new tokens.
std::function<void(std::int32_t)> fault_injection(int world_rank) {
  const char* rank = std::getenv("LLMPI_FAULT_KILL_RANK");
  const char* at = std::getenv("LLMPI_FAULT_KILL_AT_TOKEN");
  if (rank == nullptr || at == nullptr || std::atoi(rank) != world_rank) return {};
  auto seen = std::make_shared<int>(0);
  const int limit = std::atoi(at);
  return [seen, limit](std::int32_t) {
    if (++*seen >= limit) std::raise(SIGKILL);
  };
}

}  // namespace

namespace {
std::string checkpoint_dir(const GenerateArgs& args) {
  if (!args.model_dir.empty()) return args.model_dir;
  if (args.preset.empty()) throw Error("generate: give --model DIR or --preset NAME");
  const Preset preset = load_preset(resolve_preset_path(args.preset));
  if (preset.checkpoint.empty()) {
    throw Error("generate: preset " + preset.source +
                " names no checkpoint; give it one or pass --model DIR");
  }
  return preset.checkpoint;
}
}  // namespace

int run_generate(const GenerateArgs& args) {
  int world_size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  if (args.prompt_text.empty() && args.prompt_ids.empty()) {
    throw Error("generate: give the prompt as --prompt TEXT or --prompt-ids 1,2,3");
  }
  std::unique_ptr<Tokenizer> tokenizer;
  std::vector<std::int32_t> prompt;
  if (!args.prompt_text.empty()) {
    tokenizer = load_tokenizer(checkpoint_dir(args));
    prompt = tokenizer->encode(args.prompt_text, true);
  } else {
    prompt = parse_token_ids(args.prompt_ids);
  }

  const auto load_start = std::chrono::steady_clock::now();
  // The preset (or the checkpoint alone) with the command line's overrides.
  const std::string model_dir = checkpoint_dir(args);
  ModelConfig config = load_model_config(model_dir);
  Preset preset = args.preset.empty() ? preset_from_checkpoint(config, model_dir)
                                      : load_preset(resolve_preset_path(args.preset));
  apply_overrides(preset, args.overrides);
  if (!args.preset.empty()) check_checkpoint_matches(preset, config);
  const ParallelLayout layout = layout_for_world(preset, world_size);
  validate_layout(config, layout, world_size);  // before any weight is read
  Topology topology(layout);
  const bool leader = topology.world_rank() == 0;
  const std::string rank_map = topology.rank_map();
  if (leader) std::printf("%s", rank_map.c_str());

  const ModelShard shard = make_model_shard(config, layout, topology.coordinates());
  const std::unique_ptr<Backend> backend = make_backend(args, topology);
  // The planner's verdict for this machine, still before any weight is read.
  PlanSettings settings = plan_settings(preset);
  settings.dtype = backend->storage_dtype();
  settings.context_length = static_cast<std::int64_t>(prompt.size()) + args.max_new_tokens;
  // A GPU is one rank's; the CPU backend's RAM is shared by the ranks on the machine.
  const std::int64_t memory = args.backend == "cpu"
                                  ? backend->memory_bytes() / topology.ranks_on_node()
                                  : backend->memory_bytes();
  check_fits(config, settings, Cluster{topology.nodes(), topology.ranks_on_node(), memory}, layout);
  Checkpoint checkpoint(model_dir);
  ModelWeights weights = load_model_weights(config, checkpoint, *backend, shard);
  const double load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  double bytes = static_cast<double>(weights.checkpoint_bytes);
  double all_bytes = bytes;
  MPI_Allreduce(&bytes, &all_bytes, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  if (leader) {
    std::printf(
        "model: %s (%s, %d layers, hidden %d, heads %d/%d kv, vocab %d), tp %d pp %d dp %d\n",
        model_dir.c_str(), architecture_name(config.architecture).c_str(), config.num_layers,
        config.hidden_size, config.num_heads, config.num_kv_heads, config.vocab_size, layout.tp,
        layout.pp, layout.dp);
    std::printf("weights: %.1f MB read by rank 0 (%.1f MB by all ranks) in %.2f s, backend %s\n",
                bytes / 1e6, all_bytes / 1e6, load_seconds, backend->name().c_str());
  }

  Transformer model(std::move(config), std::move(weights), *backend, shard,
                    ModelComms{&topology.tp(), &topology.pp()});
  GenerationOptions options;
  options.max_new_tokens = args.max_new_tokens;
  options.stop_at_eos = !args.ignore_eos;
  options.on_token = fault_injection(topology.world_rank());
  const GenerationResult result = generate_greedy(model, prompt, options);
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
