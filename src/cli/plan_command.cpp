#include "llmpi/cli/plan_command.hpp"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "llmpi/cli/preset_options.hpp"
#include "llmpi/config/planner.hpp"
#include "llmpi/core/error.hpp"
#include "llmpi/core/text.hpp"

namespace llmpi {

namespace {

// printf into a growing report.
class Report {
 public:
#if defined(__GNUC__)
  __attribute__((format(printf, 2, 3)))
#endif
  void
  line(const char* format, ...) {
    va_list arguments, copy;
    va_start(arguments, format);
    va_copy(copy, arguments);
    const int length = std::vsnprintf(nullptr, 0, format, copy);
    va_end(copy);
    std::string formatted(static_cast<std::size_t>(std::max(length, 0)) + 1, '\0');
    std::vsnprintf(formatted.data(), formatted.size(), format, arguments);
    va_end(arguments);
    formatted.back() = '\n';
    text_ += formatted;
  }
  const std::string& text() const {
    return text_;
  }

 private:
  std::string text_;
};

double gib(std::int64_t bytes) {
  return double(bytes) / double(kGiB);
}
double kib(std::int64_t bytes) {
  return double(bytes) / double(kKiB);
}

std::string with_commas(std::int64_t value) {
  std::string digits = std::to_string(value);
  for (int at = static_cast<int>(digits.size()) - 3; at > 0; at -= 3) {
    digits.insert(static_cast<std::size_t>(at), ",");
  }
  return digits;
}

// 68.98 B, 119.10 K: counts of parameters at a glance.
std::string short_count(std::int64_t count) {
  char text[32];
  const double value = double(count);
  if (value >= 1e9) {
    std::snprintf(text, sizeof text, "%.2f B", value / 1e9);
  } else if (value >= 1e6) {
    std::snprintf(text, sizeof text, "%.2f M", value / 1e6);
  } else {
    std::snprintf(text, sizeof text, "%.2f K", value / 1e3);
  }
  return text;
}

std::string short_bytes(std::int64_t bytes) {
  char text[32];
  if (bytes >= kGiB) {
    std::snprintf(text, sizeof text, "%.2f GiB", gib(bytes));
  } else {
    std::snprintf(text, sizeof text, "%.2f MiB", double(bytes) / double(kKiB * kKiB));
  }
  return text;
}

bool explicit_layout(const PresetOverrides& overrides) {
  return overrides.tp || overrides.pp || overrides.dp;
}

// The layout the flags ask for, on --nodes nodes or the fewest whole nodes holding it.
Placement requested_placement(const Preset& preset, const PlanArgs& args, Cluster cluster) {
  ParallelLayout layout{args.overrides.tp.value_or(preset.layout.tp),
                        args.overrides.pp.value_or(preset.layout.pp), 1};
  const int replica = std::max(1, layout.tp * layout.pp);
  if (cluster.nodes == 0) {
    const int ranks = replica * std::max(1, args.overrides.dp.value_or(1));
    cluster.nodes = (ranks + cluster.gpus_per_node - 1) / cluster.gpus_per_node;
  }
  layout.dp = args.overrides.dp.value_or(std::max(1, cluster.gpus() / replica));
  return {cluster, layout};
}

void describe_model(Report& out, const Preset& preset) {
  const ModelConfig& m = preset.model;
  out.line("preset        %s (%s)", preset.source.c_str(), preset.name.c_str());
  out.line(
      "model         %s: %d layers, hidden %d, %d heads and %d KV heads of %d, MLP %d, "
      "vocab %d, LM head %s",
      architecture_name(m.architecture).c_str(), m.num_layers, m.hidden_size, m.num_heads,
      m.num_kv_heads, m.head_dim, m.intermediate_size, m.vocab_size,
      m.tie_word_embeddings ? "tied to the embedding" : "separate");
  const ParameterCounts p = count_parameters(m);
  const bool hyena = m.has_recurrent_layers();
  out.line("parameters    %s = %s (embedding %s, %s %s, MLP %s, norms %s, LM head %s)",
           with_commas(p.total()).c_str(), short_count(p.total()).c_str(),
           short_count(p.embedding).c_str(), hyena ? "attention and Hyena" : "attention",
           short_count(p.attention).c_str(), short_count(p.mlp).c_str(),
           short_count(p.norms).c_str(), p.lm_head ? short_count(p.lm_head).c_str() : "tied");
  const std::string dtype = preset_dtype_name(preset.dtype);
  out.line("weights       %s in %s",
           short_bytes(p.total() * std::int64_t(dtype_size(preset.dtype))).c_str(), dtype.c_str());
  const std::int64_t kv = kv_bytes_per_token(m, preset.dtype);
  out.line("KV cache      %g KiB per token (whole model, %s); one %d-token sequence %s", kib(kv),
           dtype.c_str(), preset.context_length, short_bytes(kv * preset.context_length).c_str());
  if (hyena) {
    // A constant per sequence, whatever its length: what lets a 1M-token sequence fit.
    const std::int64_t state =
        recurrent_state_elements(m, 0, m.num_layers, 1) * std::int64_t{sizeof(float)};
    out.line("Hyena state   %s per sequence (whole model, fp32), whatever its length",
             short_bytes(state).c_str());
  }
}

void describe_cluster(Report& out, const Preset& preset, const PlanSettings& settings,
                      const Cluster& cluster) {
  out.line(
      "cluster       %d node%s x %d GPUs of %.2f GiB; usable %.0f%% = %.2f GiB per GPU, "
      "reserve %.2f GiB, activations for %lld tokens per step",
      cluster.nodes, cluster.nodes == 1 ? "" : "s", cluster.gpus_per_node, gib(cluster.gpu_bytes),
      settings.gpu_fraction * 100.0,
      gib(static_cast<std::int64_t>(double(cluster.gpu_bytes) * settings.gpu_fraction)),
      gib(settings.reserve_bytes), static_cast<long long>(settings.max_batch_tokens));
  out.line("tp allowed    %s (%d heads, %d KV heads, %d GPUs per node)",
           join(node_tp_values(preset.model, cluster.gpus_per_node)).c_str(),
           preset.model.num_heads, preset.model.num_kv_heads, cluster.gpus_per_node);
}

void describe_ranks(Report& out, const LayoutPlan& plan, const Cluster& cluster,
                    std::int64_t context_length) {
  const ParallelLayout& layout = plan.layout;
  out.line("%s", "");
  out.line("layout %s: %d ranks on %d node%s", describe(layout).c_str(), layout.world(),
           cluster.nodes, cluster.nodes == 1 ? "" : "s");
  out.line("%5s %5s %4s %4s %4s %9s %12s %12s %13s %12s %10s", "rank", "node", "tp", "pp", "dp",
           "layers", "weights GiB", "activ. GiB", "KV KiB/token", "tokens fit", "sequences");
  for (const RankPlan& rank : plan.ranks) {
    const RankMemory& m = rank.memory;
    const std::string layers =
        std::to_string(m.layer_begin) + "-" + std::to_string(m.layer_end - 1);
    out.line("%5d %5d %4d %4d %4d %9s %12.2f %12.2f %13g %12lld %10lld", rank.rank, rank.node,
             rank.coordinates.tp_rank, rank.coordinates.pp_rank, rank.coordinates.dp_rank,
             layers.c_str(), gib(m.weight_bytes), gib(m.activation_bytes),
             kib(m.kv_bytes_per_token), static_cast<long long>(m.tokens_fit),
             static_cast<long long>(m.tokens_fit / context_length));
  }
  out.line("per replica   %s tokens = %lld sequences of %lld tokens; %d replica%s",
           with_commas(plan.tokens_fit).c_str(),
           static_cast<long long>(plan.tokens_fit / context_length),
           static_cast<long long>(context_length), layout.dp, layout.dp == 1 ? "" : "s");
}

// What a job generator needs for one replica of the chosen layout: its nodes and ranks per node,
// and the host memory a node needs (the checkpoint bytes its ranks read, plus 4 GiB a rank for
// the process, its buffers and the communication libraries).
std::string plan_json(const Preset& preset, const PlanSettings& settings, const Placement& chosen) {
  const ParallelLayout& layout = chosen.layout;
  const int replica = layout.tp * layout.pp;
  const int per_node = std::min(replica, chosen.cluster.gpus_per_node);
  const int nodes = (replica + per_node - 1) / per_node;
  const LayoutPlan plan = plan_layout(preset.model, settings, chosen.cluster, layout);
  std::vector<std::int64_t> node_bytes(static_cast<std::size_t>(nodes), 0);
  for (const RankPlan& rank : plan.ranks) {
    if (rank.rank >= replica) break;
    node_bytes[static_cast<std::size_t>(rank.rank / per_node)] +=
        rank.memory.weight_bytes + 4 * kGiB;
  }
  const std::int64_t host_bytes = *std::max_element(node_bytes.begin(), node_bytes.end());
  nlohmann::json json = {
      {"preset", preset.name},
      {"layout", {{"tp", layout.tp}, {"pp", layout.pp}, {"dp", layout.dp}}},
      {"replica",
       {{"ranks", replica},
        {"nodes", nodes},
        {"ranks_per_node", per_node},
        {"host_memory_gib_per_node", static_cast<std::int64_t>((host_bytes + kGiB - 1) / kGiB)}}},
      {"tokens_fit", plan.tokens_fit},
      {"context_length", preset.context_length},
      {"fits", plan.fits}};
  return json.dump(1) + "\n";
}

}  // namespace

CLI::App& add_plan_command(CLI::App& app, PlanArgs& args) {
  CLI::App* command = app.add_subcommand(
      "plan", "Weights and KV cache per rank and the smallest valid layout for a cluster");
  command->add_option("--preset", args.preset, "Preset file, or NAME for presets/NAME.yaml")
      ->required();
  command->add_option("--gpus-per-node", args.gpus_per_node, "GPUs (ranks) per node")
      ->required()
      ->check(CLI::Range(1, 1 << 24));
  command->add_option("--gpu-mem-gib", args.gpu_mem_gib, "Memory of one GPU in GiB")
      ->required()
      ->check(CLI::Range(0.01, 1048576.0));
  command->add_option("--nodes", args.nodes, "Nodes (default: the fewest that hold the model)")
      ->check(CLI::Range(1, 1 << 24));
  command
      ->add_option("--format", args.format,
                   "text, or json: the layout and the job one replica needs (nodes, ranks "
                   "per node, host memory per node)")
      ->check(CLI::IsMember({"text", "json"}));
  add_preset_override_options(*command, args.overrides);
  return *command;
}

std::string plan_report(const PlanArgs& args) {
  Preset preset = load_preset(resolve_preset_path(args.preset));
  PresetOverrides values = args.overrides;
  values.tp.reset();  // the layout flags are what this command checks, below
  values.pp.reset();
  values.dp.reset();
  apply_overrides(preset, values);
  const PlanSettings settings = plan_settings(preset);
  const ModelConfig& model = preset.model;
  Cluster cluster{args.nodes, args.gpus_per_node,
                  static_cast<std::int64_t>(args.gpu_mem_gib * double(kGiB))};

  const std::optional<Placement> smallest = smallest_layout(model, settings, cluster);
  Placement chosen;
  if (explicit_layout(args.overrides)) {
    chosen = requested_placement(preset, args, cluster);
    check_fits(model, settings, chosen.cluster, chosen.layout);
  } else if (smallest) {
    chosen = *smallest;
  } else {
    throw Error(preset.source + ": " + propose_layout(model, settings, cluster));
  }

  if (args.format == "json") {
    // What a job would run: the preset's own layout (one replica) where it fits, else the
    // smallest that does.
    Placement job = chosen;
    if (!explicit_layout(args.overrides)) {
      try {
        ParallelLayout own = preset.layout;
        own.dp = 1;
        Cluster one = chosen.cluster;  // the nodes one replica fills
        one.gpus_per_node = std::min(one.gpus_per_node, own.tp * own.pp);
        one.nodes = (own.tp * own.pp + one.gpus_per_node - 1) / one.gpus_per_node;
        check_fits(model, settings, one, own);
        job = {one, own};
      } catch (const Error&) {
        // the smallest layout stands
      }
    }
    return plan_json(preset, settings, job);
  }

  Report out;
  describe_model(out, preset);
  describe_cluster(out, preset, settings, chosen.cluster);
  if (smallest) {
    const int replica = smallest->layout.tp * smallest->layout.pp;
    out.line("smallest      %s (%d GPU%s per replica) on %d node%s",
             describe(smallest->layout).c_str(), replica, replica == 1 ? "" : "s",
             smallest->cluster.nodes, smallest->cluster.nodes == 1 ? "" : "s");
  } else {
    out.line("smallest      none on this cluster: %s",
             propose_layout(model, settings, cluster).c_str());
  }
  // The preset's own layout, on the same cluster as the table below.
  try {
    ParallelLayout own = preset.layout;
    if (!preset.dp_fixed) own.dp = std::max(1, chosen.cluster.gpus() / (own.tp * own.pp));
    check_fits(model, settings, chosen.cluster, own);
    out.line("preset layout %s: fits", describe(own).c_str());
  } catch (const Error& e) {
    out.line("preset layout refused: %s", e.what());
  }
  describe_ranks(out, plan_layout(model, settings, chosen.cluster, chosen.layout), chosen.cluster,
                 preset.context_length);
  return out.text();
}

int run_plan(const PlanArgs& args) {
  std::fputs(plan_report(args).c_str(), stdout);
  return 0;
}

}  // namespace llmpi
