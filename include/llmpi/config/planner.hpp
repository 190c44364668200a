#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "llmpi/config/model_config.hpp"
#include "llmpi/config/parallel_layout.hpp"
#include "llmpi/core/dtype.hpp"

namespace llmpi {

// Memory planning from the model config alone (docs/presets.md, "How the planner computes").
// Byte counts follow llmpi's sharding: column-parallel Q/K/V and gate/up split by tp on their
// outputs, row-parallel output and down projections on their inputs, KV heads replicated when
// tp exceeds them, embedding and LM head split on the vocabulary; the embedding on the first
// pipeline stage, the final norm and LM head on the last.

constexpr std::int64_t kGiB = std::int64_t{1} << 30;
constexpr std::int64_t kKiB = std::int64_t{1} << 10;

struct ParameterCounts {
  std::int64_t embedding = 0;  // tokens, and positions where they are learned
  std::int64_t attention = 0;  // every layer: Q/K/V and output projections, their biases
  std::int64_t mlp = 0;        // every layer
  std::int64_t norms = 0;      // every layer's norms and the final norm
  std::int64_t lm_head = 0;    // 0 when tied to the embedding
  std::int64_t total() const { return embedding + attention + mlp + norms + lm_head; }
};
ParameterCounts count_parameters(const ModelConfig& config);

// Keys and values of one token in every layer of the whole model.
std::int64_t kv_bytes_per_token(const ModelConfig& config, DType dtype);
// Elements of the recurrent state one sequence keeps in layers [layer_begin, layer_end) on one
// of tp ranks: the Hyena layers' short-filter inputs and long-operator state (0 without them).
std::int64_t recurrent_state_elements(const ModelConfig& config, int layer_begin, int layer_end,
                                      int tp);
// tokens_fit of a stage whose layers keep no keys (Hyena layers only): no length is too long.
constexpr std::int64_t kUnboundedTokens = std::int64_t{1} << 50;

// What sizes the memory of a rank besides the model.
struct PlanSettings {
  DType dtype = DType::bf16;          // weights and KV cache
  std::int64_t context_length = 0;    // one sequence of this length must fit in the KV cache
  std::int64_t max_batch_tokens = 0;  // tokens in one engine step: sizes the activations
  double gpu_fraction = 0.90;         // of each GPU's memory llmpi may use
  std::int64_t reserve_bytes = kGiB;  // fixed workspace, kept out of the KV cache
};

struct Cluster {
  int nodes = 1;  // 0 in a search: as few as the model needs
  int gpus_per_node = 1;
  std::int64_t gpu_bytes = 0;
  int gpus() const { return nodes * gpus_per_node; }
};

// The memory of one rank; every rank of a replica holds the KV cache of the same tokens.
struct RankMemory {
  int layer_begin = 0, layer_end = 0;  // [begin, end) of this pipeline stage
  std::int64_t weight_bytes = 0;
  std::int64_t activation_bytes = 0;  // one engine step of max_batch_tokens (an estimate)
  std::int64_t reserve_bytes = 0;
  std::int64_t usable_bytes = 0;              // gpu_bytes x gpu_fraction
  std::int64_t kv_bytes_per_token = 0;        // this rank's attention layers and KV heads
  std::int64_t state_bytes_per_sequence = 0;  // its Hyena layers' recurrent state (fp32)
  std::int64_t kv_budget_bytes = 0;  // usable - weights - activations - reserve (may be < 0)
  std::int64_t tokens_fit = 0;
};
RankMemory rank_memory(const ModelConfig& config, const PlanSettings& settings,
                       const ParallelLayout& layout, int tp_rank, int pp_rank,
                       std::int64_t gpu_bytes);

struct RankPlan {
  int rank = 0, node = 0;
  RankCoordinates coordinates;
  RankMemory memory;
};

// Every rank of a layout on a cluster (ranks fill nodes in order, so rank / gpus_per_node is
// the node).
struct LayoutPlan {
  ParallelLayout layout;
  std::vector<RankPlan> ranks;
  std::int64_t tokens_fit = 0;  // per replica: the smallest of its ranks
  bool fits = false;            // every rank holds one context_length sequence
};
LayoutPlan plan_layout(const ModelConfig& config, const PlanSettings& settings,
                       const Cluster& cluster, const ParallelLayout& layout);

// Tensor-parallel degrees a node allows: they fit the heads and divide the GPUs of a node (a
// TP group must sit on one node).
std::vector<int> node_tp_values(const ModelConfig& config, int gpus_per_node);

// The smallest tp x pp that fits, the higher tp first among equal products (tp stays on one
// node's fast links; pipeline stages add bubbles), with dp filling the cluster. With
// cluster.nodes == 0 the fewest nodes that hold it. nullopt when nothing fits.
struct Placement {
  Cluster cluster;
  ParallelLayout layout;
};
std::optional<Placement> smallest_layout(const ModelConfig& config, const PlanSettings& settings,
                                         const Cluster& cluster);

// "the smallest layout that fits <cluster> is ...", or the nodes the model needs, or that no
// layout fits GPUs of that size: the advice every refusal ends with.
std::string propose_layout(const ModelConfig& config, const PlanSettings& settings,
                           const Cluster& cluster);

// The check before any weight is read: the layout is valid for the model and the cluster and
// every rank fits. Refusals name the numbers and the smallest layout that would work.
void check_fits(const ModelConfig& config, const PlanSettings& settings, const Cluster& cluster,
                const ParallelLayout& layout);

}  // namespace llmpi
