#include "llmpi/config/planner.hpp"

#include <algorithm>
#include <cstdio>

#include "llmpi/core/error.hpp"
#include "llmpi/core/text.hpp"

namespace llmpi {

namespace {

// Parameters of one layer held by one tensor-parallel rank.
struct LayerShard {
  std::int64_t attention = 0;  // or the Hyena operator that takes its place
  std::int64_t mlp = 0;
  std::int64_t norms = 0;
  std::int64_t total() const { return attention + mlp + norms; }
};

std::int64_t norm_size(const ModelConfig& c) {
  return std::int64_t{c.hidden_size} * (c.norm == NormKind::layer_norm ? 2 : 1);  // + bias
}

// A learned position table (GPT-2), held whole.
std::int64_t position_parameters(const ModelConfig& c) {
  return c.position_encoding == PositionEncoding::learned
             ? std::int64_t{c.max_position_embeddings} * c.hidden_size
             : 0;
}

std::int64_t intermediate_rows(const ModelConfig& c, int tp, int tp_rank) {
  const auto [begin, end] = balanced_range(c.intermediate_size, tp, tp_rank);
  return end - begin;
}

bool gated_mlp(const ModelConfig& c) {
  return c.mlp == MlpKind::swiglu || c.mlp == MlpKind::evo2_gated;  // [gate | up] rows
}

// A Hyena layer's share (StripedHyena 2): input projections, short FIR, its long filter (taps
// per group, or poles and residues per channel) and skip, the output projection and its bias.
std::int64_t hyena_parameters(const ModelConfig& c, MixerKind kind, int tp) {
  const std::int64_t hidden = c.hidden_size;
  const std::int64_t channels = hidden / tp;
  const HyenaConfig& h = c.hyena;
  std::int64_t count =
      3 * channels * hidden + 3 * channels * h.short_filter_length + hidden * channels + hidden;
  const std::int64_t groups = channels / c.hyena_group_width(kind);
  if (kind == MixerKind::hyena_short) count += groups * h.hcs_filter_length;
  if (kind == MixerKind::hyena_medium) count += groups * h.hcm_filter_length + channels;
  if (kind == MixerKind::hyena_long) count += 2 * channels * h.state_size + channels;
  return count;
}

// Norms and row-parallel output biases are replicated on every rank (the bias is added once,
// after the all-reduce, but each rank keeps it).
LayerShard layer_shard(const ModelConfig& c, int layer, int tp, int tp_rank) {
  const HeadShard heads = head_shard(c, tp, tp_rank);
  const std::int64_t hidden = c.hidden_size;
  const std::int64_t qkv_rows = std::int64_t{heads.q_count + 2 * heads.kv_count} * c.head_dim;
  const std::int64_t q_cols = std::int64_t{heads.q_count} * c.head_dim;
  LayerShard shard;
  const MixerKind kind = c.mixer(layer);
  if (kind == MixerKind::attention) {
    shard.attention = qkv_rows * hidden + hidden * q_cols;
    if (c.attention_bias) shard.attention += qkv_rows;
    if (c.output_bias) shard.attention += hidden;
  } else {
    shard.attention = hyena_parameters(c, kind, tp);
  }

  const std::int64_t inter = intermediate_rows(c, tp, tp_rank);
  const std::int64_t up_rows = inter * (gated_mlp(c) ? 2 : 1);  // gate and up
  shard.mlp = up_rows * hidden + hidden * inter;
  if (c.mlp_bias) shard.mlp += up_rows + hidden;

  shard.norms = norm_size(c) * (c.separate_mlp_norm ? 2 : 1);
  return shard;
}

std::int64_t vocab_rows(const ModelConfig& c, int tp, int tp_rank) {
  const auto [begin, end] = vocab_range(c.vocab_size, tp, tp_rank);
  return end - begin;
}

// Live tensors of one engine step of max_batch_tokens tokens: residual, normed input, attention and
// MLP outputs and the stage hand-off (4 x hidden), this rank's Q/K/V, gate/up and MLP hidden, and
// on the last stage fp32 logits for every token (scoring reads them all).
std::int64_t activation_bytes(const ModelConfig& c, const PlanSettings& s, int tp, int tp_rank,
                              bool last_stage) {
  const HeadShard heads = head_shard(c, tp, tp_rank);
  const std::int64_t inter = intermediate_rows(c, tp, tp_rank);
  // The mixer's widest moment: Q/K/V, or a Hyena layer's projections, their filtered copy and
  // the operator's three channel-wide results.
  const std::int64_t attention = std::int64_t{heads.q_count + 2 * heads.kv_count} * c.head_dim;
  const std::int64_t hyena = c.has_recurrent_layers() ? 9 * std::int64_t{c.hidden_size} / tp : 0;
  const std::int64_t per_token =
      4 * std::int64_t{c.hidden_size} + std::max(attention, hyena) + inter * (gated_mlp(c) ? 3 : 2);
  std::int64_t bytes = s.max_batch_tokens * per_token * std::int64_t(dtype_size(s.dtype));
  if (last_stage) bytes += s.max_batch_tokens * vocab_rows(c, tp, tp_rank) * 4;
  return bytes;
}

std::string gib(std::int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f GiB", double(bytes) / double(kGiB));
  return text;
}

std::string describe_cluster(const Cluster& cluster) {
  return std::to_string(cluster.nodes) + (cluster.nodes == 1 ? " node" : " nodes") + " x " +
         std::to_string(cluster.gpus_per_node) + " GPUs of " + gib(cluster.gpu_bytes);
}

// Ranks of one replica (dp rank 0): every replica holds the same.
std::int64_t replica_tokens_fit(const ModelConfig& c, const PlanSettings& s,
                                const ParallelLayout& layout, std::int64_t gpu_bytes) {
  std::int64_t tokens = -1;
  for (int pp_rank = 0; pp_rank < layout.pp; ++pp_rank) {
    for (int tp_rank = 0; tp_rank < layout.tp; ++tp_rank) {
      const std::int64_t fit = rank_memory(c, s, layout, tp_rank, pp_rank, gpu_bytes).tokens_fit;
      tokens = tokens < 0 ? fit : std::min(tokens, fit);
    }
  }
  return tokens;
}

std::optional<ParallelLayout> smallest_on(const ModelConfig& c, const PlanSettings& s,
                                          const Cluster& cluster) {
  std::vector<int> tps = node_tp_values(c, cluster.gpus_per_node);
  std::reverse(tps.begin(), tps.end());
  for (int size = 1; size <= cluster.gpus(); ++size) {
    if (cluster.gpus() % size != 0) continue;
    for (const int tp : tps) {
      if (size % tp != 0 || size / tp > c.num_layers) continue;
      const ParallelLayout layout{tp, size / tp, cluster.gpus() / size};
      if (replica_tokens_fit(c, s, layout, cluster.gpu_bytes) >= s.context_length) return layout;
    }
  }
  return std::nullopt;
}

}  // namespace

ParameterCounts count_parameters(const ModelConfig& c) {
  ParameterCounts counts;
  counts.embedding = std::int64_t{c.vocab_size} * c.hidden_size + position_parameters(c);
  for (int i = 0; i < c.num_layers; ++i) {
    const LayerShard layer = layer_shard(c, i, 1, 0);
    counts.attention += layer.attention;
    counts.mlp += layer.mlp;
    counts.norms += layer.norms;
  }
  counts.norms += norm_size(c);
  counts.lm_head = c.tie_word_embeddings ? 0 : std::int64_t{c.vocab_size} * c.hidden_size;
  return counts;
}

int attention_layers(const ModelConfig& c, int layer_begin, int layer_end) {
  int count = 0;
  for (int i = layer_begin; i < layer_end; ++i) count += c.mixer(i) == MixerKind::attention;
  return count;
}

std::int64_t kv_bytes_per_token(const ModelConfig& c, DType dtype) {
  return std::int64_t{attention_layers(c, 0, c.num_layers)} * 2 * c.num_kv_heads * c.head_dim *
         std::int64_t(dtype_size(dtype));
}

std::int64_t recurrent_state_elements(const ModelConfig& c, int layer_begin, int layer_end,
                                      int tp) {
  std::int64_t elements = 0;
  for (int i = layer_begin; i < layer_end; ++i) {
    const auto widths = c.hyena_state_widths(c.mixer(i), c.hidden_size / tp);
    elements += widths.short_filter + widths.hyena_operator;
  }
  return elements;
}

RankMemory rank_memory(const ModelConfig& c, const PlanSettings& s, const ParallelLayout& layout,
                       int tp_rank, int pp_rank, std::int64_t gpu_bytes) {
  const bool first = pp_rank == 0;
  const bool last = pp_rank == layout.pp - 1;
  const auto [begin, end] = balanced_range(c.num_layers, layout.pp, pp_rank);
  const std::int64_t element = std::int64_t(dtype_size(s.dtype));

  std::int64_t parameters = 0;
  for (std::int64_t i = begin; i < end; ++i) {
    parameters += layer_shard(c, static_cast<int>(i), layout.tp, tp_rank).total();
  }
  const std::int64_t vocab_slice = vocab_rows(c, layout.tp, tp_rank) * c.hidden_size;
  if (first) parameters += vocab_slice;
  if (first && tp_rank == 0) parameters += position_parameters(c);  // see ModelWeights
  if (last) {
    parameters += norm_size(c);
    // A tied head shares the embedding's memory only where both sit on the same stage.
    if (!c.tie_word_embeddings || !first) parameters += vocab_slice;
  }

  RankMemory memory;
  memory.layer_begin = static_cast<int>(begin);
  memory.layer_end = static_cast<int>(end);
  memory.weight_bytes = parameters * element;
  memory.activation_bytes = activation_bytes(c, s, layout.tp, tp_rank, last);
  memory.reserve_bytes = s.reserve_bytes;
  memory.usable_bytes = static_cast<std::int64_t>(double(gpu_bytes) * s.gpu_fraction);
  memory.kv_bytes_per_token =
      std::int64_t{attention_layers(c, static_cast<int>(begin), static_cast<int>(end))} * 2 *
      head_shard(c, layout.tp, tp_rank).kv_count * c.head_dim * element;
  // Recurrent states are fp32 whatever the dtype (Backend::allocate_state).
  memory.state_bytes_per_sequence =
      recurrent_state_elements(c, static_cast<int>(begin), static_cast<int>(end), layout.tp) *
      std::int64_t{sizeof(float)};
  memory.kv_budget_bytes =
      memory.usable_bytes - memory.weight_bytes - memory.activation_bytes - memory.reserve_bytes;
  // One sequence's recurrent state comes first; then as many tokens' keys and values as fit (a
  // stage of Hyena layers alone holds no keys: any length fits).
  const std::int64_t for_tokens = memory.kv_budget_bytes - memory.state_bytes_per_sequence;
  if (for_tokens <= 0) {
    memory.tokens_fit = 0;
  } else if (memory.kv_bytes_per_token == 0) {
    memory.tokens_fit = memory.state_bytes_per_sequence > 0 ? kUnboundedTokens : 0;
  } else {
    memory.tokens_fit = for_tokens / memory.kv_bytes_per_token;
  }
  return memory;
}

LayoutPlan plan_layout(const ModelConfig& c, const PlanSettings& s, const Cluster& cluster,
                       const ParallelLayout& layout) {
  LayoutPlan plan;
  plan.layout = layout;
  plan.tokens_fit = -1;
  for (int rank = 0; rank < layout.world(); ++rank) {
    RankPlan entry;
    entry.rank = rank;
    entry.node = rank / cluster.gpus_per_node;
    entry.coordinates = rank_coordinates(layout, rank);
    entry.memory = rank_memory(c, s, layout, entry.coordinates.tp_rank, entry.coordinates.pp_rank,
                               cluster.gpu_bytes);
    plan.tokens_fit = plan.tokens_fit < 0 ? entry.memory.tokens_fit
                                          : std::min(plan.tokens_fit, entry.memory.tokens_fit);
    plan.ranks.push_back(entry);
  }
  plan.fits = plan.tokens_fit >= s.context_length;
  return plan;
}

std::vector<int> node_tp_values(const ModelConfig& c, int gpus_per_node) {
  std::vector<int> values;
  for (const int tp : valid_tp_values(c, gpus_per_node)) {
    if (gpus_per_node % tp == 0) values.push_back(tp);
  }
  return values;
}

std::optional<Placement> smallest_layout(const ModelConfig& c, const PlanSettings& s,
                                         const Cluster& cluster) {
  if (cluster.gpus_per_node < 1 || cluster.gpu_bytes <= 0) {
    throw Error("planner: a cluster needs at least 1 GPU per node and a GPU memory size (got " +
                std::to_string(cluster.gpus_per_node) + " GPUs per node of " +
                gib(cluster.gpu_bytes) + ")");
  }
  if (cluster.nodes > 0) {
    if (const auto layout = smallest_on(c, s, cluster)) return Placement{cluster, *layout};
    return std::nullopt;
  }
  // The fewest GPUs of any replica decide the nodes; on that many nodes the layout must also
  // divide the cluster, which a larger replica may do first.
  const std::vector<int> tps = node_tp_values(c, cluster.gpus_per_node);
  const int most_gpus = tps.back() * c.num_layers;  // every layer its own stage at the largest tp
  int fewest_gpus = 0;
  for (int size = 1; size <= most_gpus && fewest_gpus == 0; ++size) {
    for (const int tp : tps) {
      const ParallelLayout layout{tp, size / tp, 1};
      if (size % tp == 0 && layout.pp <= c.num_layers &&
          replica_tokens_fit(c, s, layout, cluster.gpu_bytes) >= s.context_length) {
        fewest_gpus = size;
        break;
      }
    }
  }
  if (fewest_gpus == 0) return std::nullopt;
  for (int nodes = (fewest_gpus + cluster.gpus_per_node - 1) / cluster.gpus_per_node;
       (nodes - 1) * cluster.gpus_per_node < most_gpus; ++nodes) {
    Cluster sized = cluster;
    sized.nodes = nodes;
    if (const auto layout = smallest_on(c, s, sized)) return Placement{sized, *layout};
  }
  return std::nullopt;
}

std::string propose_layout(const ModelConfig& c, const PlanSettings& s, const Cluster& cluster) {
  if (const auto here = smallest_layout(c, s, cluster)) {
    return "the smallest layout that fits " + describe_cluster(cluster) + " is " +
           describe(here->layout);
  }
  Cluster any = cluster;
  any.nodes = 0;
  if (const auto larger = smallest_layout(c, s, any)) {
    return "nothing fits " + describe_cluster(cluster) + "; the model needs " +
           describe_cluster(larger->cluster) + " with " + describe(larger->layout);
  }
  return "the model does not fit GPUs of " + gib(cluster.gpu_bytes) +
         " at any layout (one pipeline stage per layer and the largest tp still leave too "
         "little memory)";
}

void check_fits(const ModelConfig& c, const PlanSettings& s, const Cluster& cluster,
                const ParallelLayout& layout) {
  const std::vector<int> node_tps = node_tp_values(c, cluster.gpus_per_node);
  if (layout.tp >= 1 && !tp_fits_heads(c, layout.tp)) {
    throw Error("parallel layout: tp=" + std::to_string(layout.tp) + " does not split the " +
                std::to_string(c.num_heads) + " attention heads and " +
                std::to_string(c.num_kv_heads) +
                (c.num_kv_heads == 1 ? " key/value head of " : " key/value heads of ") + c.source +
                " evenly; valid tp on nodes of " + std::to_string(cluster.gpus_per_node) +
                " GPUs: " + join(node_tps) + "; " + propose_layout(c, s, cluster));
  }
  if (layout.tp >= 1 &&
      (layout.tp > cluster.gpus_per_node || cluster.gpus_per_node % layout.tp != 0)) {
    throw Error("parallel layout: tp=" + std::to_string(layout.tp) +
                " cannot keep each tensor-parallel group on one node of " +
                std::to_string(cluster.gpus_per_node) + " GPUs; valid tp there: " + join(node_tps) +
                "; " + propose_layout(c, s, cluster));
  }
  try {
    validate_layout(c, layout, cluster.gpus());
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + "; " + propose_layout(c, s, cluster));
  }
  const LayoutPlan plan = plan_layout(c, s, cluster, layout);
  if (plan.fits) return;
  const auto tightest = std::min_element(
      plan.ranks.begin(), plan.ranks.end(),
      [](const auto& a, const auto& b) { return a.memory.tokens_fit < b.memory.tokens_fit; });
  const RankMemory& m = tightest->memory;
  const std::int64_t needed = m.weight_bytes + m.activation_bytes + m.reserve_bytes +
                              s.context_length * m.kv_bytes_per_token + m.state_bytes_per_sequence;
  const std::string state = m.state_bytes_per_sequence > 0
                                ? ", Hyena state " + gib(m.state_bytes_per_sequence)
                                : std::string();
  throw Error("parallel layout " + describe(layout) + " does not fit: rank " +
              std::to_string(tightest->rank) + " needs " + gib(needed) + " (weights " +
              gib(m.weight_bytes) + ", activations " + gib(m.activation_bytes) + ", reserve " +
              gib(m.reserve_bytes) + ", KV cache of one " + std::to_string(s.context_length) +
              "-token sequence " + gib(s.context_length * m.kv_bytes_per_token) + state + ") but " +
              gib(m.usable_bytes) + " of its " + gib(cluster.gpu_bytes) +
              " are usable (gpu fraction " + std::to_string(s.gpu_fraction).substr(0, 4) + "); " +
              propose_layout(c, s, cluster));
}

}  // namespace llmpi
