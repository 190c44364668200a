#include "llmpi/cli/bench_command.hpp"

#include <sys/wait.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "llmpi/cli/backend_choice.hpp"
#include "llmpi/config/parallel_layout.hpp"
#include "llmpi/config/planner.hpp"
#include "llmpi/config/preset.hpp"
#include "llmpi/core/error.hpp"
#include "llmpi/model/model_shard.hpp"

namespace llmpi {

CLI::App& add_bench_command(CLI::App& app, BenchArgs& args) {
  CLI::App* command = app.add_subcommand(
      "bench", "Time one rank's share of a preset's layers against the hardware's ceilings");
  command->add_option("--preset", args.preset, "Preset name (presets/NAME.yaml) or YAML file")
      ->required();
  command->add_option("--backend", args.backend, "cpu, or cuda where built with CUDA")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  command->add_option("--device", args.device, "CUDA device index")->check(CLI::Range(0, 1023));
  command->add_option("--tp", args.tp, "Tensor-parallel slice to time (default: the preset's tp)")
      ->check(CLI::Range(1, 1 << 24));
  LayerBenchSettings& s = args.settings;
  command->add_option("--layers", s.layers, "Layers L; per-layer times come from 2L minus L")
      ->check(CLI::Range(1, 1 << 24));
  command->add_option("--batches", s.batches, "Decode batch sizes, comma separated")
      ->delimiter(',')
      ->check(CLI::Range(1, 1 << 24));
  command->add_option("--context", s.context, "Tokens in each sequence's cache when decoding")
      ->check(CLI::Range(1, 1 << 24));
  command->add_option("--prefill-tokens", s.prefill_tokens, "Prompt length for prefill")
      ->check(CLI::Range(1, 1 << 24));
  command->add_option("--repeats", s.repeats, "Timed repeats of each measurement")
      ->check(CLI::Range(1, 1 << 24));
  command->add_option("--copy-mib", args.copy_mib, "Buffer of the bandwidth probe (MiB)")
      ->check(CLI::Range(1, 1 << 24));
  command->add_flag("--torch", args.torch,
                    "Also time the same shapes with PyTorch/transformers (scripts/"
                    "bench_torch_layer.py) and print the ratios");
  command->add_option("--python", args.python, "Python with torch and transformers, for --torch");
  command->add_flag("--throughput", args.throughput,
                    "End-to-end throughput of the whole model (this TP rank's share) on "
                    "synthetic requests with continuous batching");
  command->add_option("--shapes", args.shapes,
                      "--throughput: INPUT/OUTPUT token lengths, comma separated");
  ThroughputSettings& t = args.throughput_settings;
  command
      ->add_option("--requests", t.requests,
                   "--throughput: requests per shape (default: twice what fits in flight)")
      ->check(CLI::Range(1, 1 << 24));
  command
      ->add_option("--max-in-flight", t.max_in_flight,
                   "--throughput: at most this many sequences at once (default: what the KV "
                   "pool holds)")
      ->check(CLI::Range(1, 1 << 24));
  command
      ->add_option("--bus-gbps", args.bus_gbps,
                   "--throughput with tp > 1: bus bandwidth (GB/s, as nccl-tests' busbw) at "
                   "which the all-reduces are modelled")
      ->check(CLI::Range(0.001, 1e6));
  return *command;
}

namespace {

std::string shell_quoted(const std::string& text) {
  std::string quoted = "'";
  for (const char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// Runs one of the PyTorch baseline scripts with `arguments` and returns its last JSON line.
nlohmann::json torch_script(const BenchArgs& args, const std::string& script,
                            const std::string& arguments) {
  const std::string command = shell_quoted(args.python) + " " +
                              shell_quoted(std::string(LLMPI_SCRIPTS_DIR) + "/" + script) + " " +
                              arguments;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) throw Error("bench --torch: cannot run " + command);
  std::string last_json;
  char line[4096];
  while (std::fgets(line, sizeof line, pipe.get()) != nullptr) {
    if (line[0] == '{') last_json = line;
  }
  const int status = pclose(pipe.release());
  if (status != 0 || last_json.empty()) {
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    throw Error("bench --torch: `" + command + "` failed (exit status " + std::to_string(code) +
                "); it needs torch and transformers in " + args.python + " (--python)");
  }
  return nlohmann::json::parse(last_json);
}

// PyTorch's times for the same layer shapes.
nlohmann::json torch_baseline(const BenchArgs& args, const std::string& preset_path, int tp,
                              const std::string& device) {
  const LayerBenchSettings& s = args.settings;
  std::string batches;
  for (const int b : s.batches) batches += (batches.empty() ? "" : ",") + std::to_string(b);
  return torch_script(args, "bench_torch_layer.py",
                      "--preset " + shell_quoted(preset_path) + " --tp " + std::to_string(tp) +
                          " --layers " + std::to_string(s.layers) + " --batches " + batches +
                          " --context " + std::to_string(s.context) + " --prefill-tokens " +
                          std::to_string(s.prefill_tokens) + " --repeats " +
                          std::to_string(s.repeats) + " --device " + device);
}

// PyTorch/transformers generating the same requests in static batches on the same device.
nlohmann::json torch_throughput(const BenchArgs& args, const std::string& preset_path,
                                const ThroughputResult& ours, const std::string& device) {
  return torch_script(args, "bench_torch_throughput.py",
                      "--preset " + shell_quoted(preset_path) + " --input " +
                          std::to_string(ours.shape.input_tokens) + " --output " +
                          std::to_string(ours.shape.output_tokens) + " --requests " +
                          std::to_string(ours.requests) + " --batch " +
                          std::to_string(ours.in_flight) + " --device " + device);
}

int run_throughput(const BenchArgs& args, const std::string& preset_path, const Preset& preset,
                   int tp) {
  const ModelConfig& config = preset.model;
  const ParallelLayout layout{tp, 1, 1};
  validate_layout(config, layout, tp);
  const ModelShard shard = make_model_shard(config, layout, RankCoordinates{});
  std::unique_ptr<Backend> backend = make_backend(args.backend, args.device, 0);

  ThroughputSettings settings = args.throughput_settings;
  settings.shapes = parse_throughput_shapes(args.shapes);
  settings.bus_bytes_per_s = args.bus_gbps * 1e9;
  settings.step_tokens = preset.batch.max_tokens;
  PlanSettings plan = plan_settings(preset);
  plan.dtype = backend->storage_dtype();
  const RankMemory memory = rank_memory(config, plan, layout, 0, 0, backend->memory_bytes());
  settings.kv_tokens = memory.tokens_fit;

  std::printf(
      "llmpi bench --throughput: %s (%s, %d layers, hidden %lld), tp slice 1 of %d, random "
      "weights, backend %s in %s\n",
      preset.name.c_str(), architecture_name(config.architecture).c_str(), config.num_layers,
      static_cast<long long>(config.hidden_size), tp, backend->name().c_str(),
      std::string(dtype_name(backend->storage_dtype())).c_str());
  std::printf(
      "KV pool %lld tokens (the planner's budget for this rank), steps of at most %lld "
      "tokens\n",
      static_cast<long long>(settings.kv_tokens), static_cast<long long>(settings.step_tokens));
  if (tp > 1) {
    std::printf(
        "NOTE: one rank of %d runs; its all-reduces move nothing and are charged the time a ring "
        "all-reduce takes at %.0f GB/s bus bandwidth: a MODEL of the communication, not a "
        "measurement. TTFT and TPOT below are compute only.\n",
        tp, args.bus_gbps);
  }
  std::fflush(stdout);
  const std::vector<ThroughputResult> results =
      run_throughput_bench(*backend, config, shard, settings);
  backend.reset();  // PyTorch gets the device to itself

  std::printf("  %6s %6s %8s %9s %10s %10s %14s %10s %10s %9s%s\n", "input", "output", "requests",
              "in flight", "compute s", "comm s", "out tok/s/GPU", "TTFT ms", "TTFT p50", "TPOT ms",
              args.torch ? "   torch tok/s  llmpi/torch" : "");
  for (const ThroughputResult& r : results) {
    std::printf("  %6lld %6lld %8d %9d %10.3f %10.3f %14.1f %10.2f %10.2f %9.3f",
                static_cast<long long>(r.shape.input_tokens),
                static_cast<long long>(r.shape.output_tokens), r.requests, r.in_flight,
                r.compute_seconds, r.modelled_comm_seconds, r.output_tokens_per_s() / tp,
                r.ttft_ms_mean, r.ttft_ms_p50, r.tpot_ms_mean);
    if (args.torch && tp == 1) {
      const nlohmann::json theirs =
          torch_throughput(args, preset_path, r, args.backend == "cuda" ? "cuda" : "cpu");
      if (theirs.at("output_tokens_per_s").is_number()) {
        const double rate = theirs.at("output_tokens_per_s").get<double>();
        std::printf(" %13.1f %11.2fx", rate, r.output_tokens_per_s() / rate);
      } else {
        std::printf(" %13s  (%s)", "-", theirs.value("error", "no result").c_str());
      }
    } else if (args.torch) {
      std::printf(" %13s %12s", "-", "(tp > 1)");
    }
    std::printf("\n");
    if (tp > 1) {
      std::printf("         modelled: %lld all-reduces, %.1f MB\n",
                  static_cast<long long>(r.all_reduces), r.all_reduce_bytes / 1e6);
    }
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int run_bench(const BenchArgs& args) {
  const std::string preset_path = resolve_preset_path(args.preset).string();
  const Preset preset = load_preset(preset_path);
  const ModelConfig& config = preset.model;
  const int tp = args.tp > 0 ? args.tp : preset.layout.tp;
  if (args.throughput) return run_throughput(args, preset_path, preset, tp);
  const ParallelLayout layout{tp, 1, 1};
  validate_layout(config, layout, tp);
  const ModelShard shard = make_model_shard(config, layout, RankCoordinates{});

  std::unique_ptr<Backend> backend = make_backend(args.backend, args.device, 0);
  LayerBenchSettings settings = args.settings;
  const std::int64_t copy_mib = args.copy_mib > 0        ? args.copy_mib
                                : args.backend == "cuda" ? 1024
                                                         : 256;
  settings.copy_bytes = copy_mib << 20;

  std::printf(
      "llmpi bench: %s (%s, hidden %lld, heads %d/%d kv, head_dim %d, intermediate %lld), tp "
      "slice 1 of %d: %d/%d heads, %lld MLP columns, %lld vocabulary rows\n",
      preset.name.c_str(), architecture_name(config.architecture).c_str(),
      static_cast<long long>(config.hidden_size), config.num_heads, config.num_kv_heads,
      config.head_dim, static_cast<long long>(config.intermediate_size), tp, shard.heads.q_count,
      shard.heads.kv_count, static_cast<long long>(shard.intermediate_count),
      static_cast<long long>(shard.vocab_count));
  std::printf("backend %s; weights and KV cache in %s; layers timed as %d minus %d\n",
              backend->name().c_str(), std::string(dtype_name(backend->storage_dtype())).c_str(),
              2 * settings.layers, settings.layers);
  std::fflush(stdout);
  const LayerBenchReport report = run_layer_bench(*backend, config, shard, settings);

  // PyTorch gets the device to itself: our pool keeps what it grew to until the backend goes.
  backend.reset();
  std::optional<nlohmann::json> torch;
  if (args.torch)
    torch = torch_baseline(args, preset_path, tp, args.backend == "cuda" ? "cuda" : "cpu");

  std::printf("copy bandwidth (read + write, %lld MiB): %.1f GB/s\n",
              static_cast<long long>(copy_mib), report.copy_bytes_per_s / 1e9);
  std::printf("decode, context %lld, per layer per step:\n",
              static_cast<long long>(settings.context));
  if (report.attention_share < 1.0) {
    std::printf(
        "  (means over the %d timed layers, %.0f%% of them attention: KV MB is their keys "
        "and values, plus the Hyena layers' fp32 states read and written)\n",
        settings.layers, 100.0 * report.attention_share);
  }
  if (config.hyena.fp8_input_projections) {
    std::printf("  Hyena input projections: %s\n", report.fp8_gemms
                                                       ? "FP8 GEMMs (E4M3 weights, one byte each)"
                                                       : "FP8 emulated (GEMMs on E4M3 values)");
  }
  const bool graphs = !report.decode.empty() && report.decode.front().graph_ms_per_layer > 0.0;
  std::printf("  %6s %11s %11s %9s %12s %9s%s%s\n", "batch", "ms/layer", "weights MB", "KV MB",
              "roofline ms", "ratio", graphs ? "  graph ms/layer  ratio" : "",
              torch ? "   torch ms  torch/llmpi" : "");
  for (std::size_t i = 0; i < report.decode.size(); ++i) {
    const DecodeTiming& t = report.decode[i];
    std::printf("  %6d %11.4f %11.2f %9.2f %12.4f %8.2fx", t.batch, t.ms_per_layer,
                t.weight_bytes / 1e6, t.kv_bytes / 1e6, t.roofline_ms,
                t.ms_per_layer / t.roofline_ms);
    if (graphs) {
      std::printf(" %15.4f %5.2fx", t.graph_ms_per_layer, t.graph_ms_per_layer / t.roofline_ms);
    }
    if (torch) {
      // Against llmpi's faster way of running the step.
      const double theirs = torch->at("decode").at(i).at("ms_per_layer").get<double>();
      std::printf(" %10.4f %11.2fx", theirs, theirs / t.best_ms_per_layer());
    }
    std::printf("\n");
  }
  const PrefillTiming& p = report.prefill;
  const double rate = p.flops_per_layer / (p.ms_per_layer * 1e-3) / 1e12;
  const double gemm_rate = 2.0 * static_cast<double>(p.gemm_m) * static_cast<double>(p.gemm_n) *
                           static_cast<double>(p.gemm_k) / (p.gemm_ms * 1e-3) / 1e12;
  std::printf(
      "prefill %lld tokens, per layer: %.3f ms, %.2f TFLOP/s; plain GEMM [%lld x %lld] x "
      "[%lld x %lld]^T: %.2f TFLOP/s; ratio %.2f\n",
      static_cast<long long>(p.tokens), p.ms_per_layer, rate, static_cast<long long>(p.gemm_m),
      static_cast<long long>(p.gemm_k), static_cast<long long>(p.gemm_n),
      static_cast<long long>(p.gemm_k), gemm_rate, rate / gemm_rate);
  if (torch) {
    const double theirs = torch->at("prefill").at("ms_per_layer").get<double>();
    std::printf("torch %s on %s: prefill %.3f ms/layer, torch/llmpi %.2fx\n",
                torch->value("torch", "?").c_str(), torch->value("device", "?").c_str(), theirs,
                theirs / p.ms_per_layer);
  }
  return 0;
}

}  // namespace llmpi
