#include "llmpi/config/parallel_layout.hpp"

#include "llmpi/core/error.hpp"
#include "llmpi/core/text.hpp"

namespace llmpi {

std::string describe(const ParallelLayout& layout) {
  return "tp=" + std::to_string(layout.tp) + " pp=" + std::to_string(layout.pp) +
         " dp=" + std::to_string(layout.dp);
}

RankCoordinates rank_coordinates(const ParallelLayout& layout, int world_rank) {
  return {world_rank % layout.tp, (world_rank / layout.tp) % layout.pp,
          world_rank / (layout.tp * layout.pp)};
}

bool tp_fits_heads(const ModelConfig& config, int tp) {
  if (tp < 1 || config.num_heads % tp != 0) return false;
  return tp <= config.num_kv_heads ? config.num_kv_heads % tp == 0 : tp % config.num_kv_heads == 0;
}

namespace {
// A Hyena layer's channels are split by whole filter groups (every rank runs its groups' filters
// on its channels alone).
bool tp_fits_hyena_groups(const ModelConfig& config, int tp) {
  if (!config.has_recurrent_layers()) return true;
  return config.hidden_size % tp == 0 && config.hyena.hcs_filter_groups % tp == 0 &&
         config.hyena.hcm_filter_groups % tp == 0;
}
}  // namespace

std::vector<int> valid_tp_values(const ModelConfig& config, int at_most) {
  std::vector<int> values;
  for (int tp = 1; tp <= at_most; ++tp) {
    if (tp_fits_heads(config, tp) && tp_fits_hyena_groups(config, tp)) values.push_back(tp);
  }
  return values;
}

void validate_layout(const ModelConfig& config, const ParallelLayout& layout, int world_size) {
  if (layout.tp < 1 || layout.pp < 1 || layout.dp < 1) {
    throw Error(
        "parallel layout: tp, pp and dp must be at least 1 (got tp=" + std::to_string(layout.tp) +
        " pp=" + std::to_string(layout.pp) + " dp=" + std::to_string(layout.dp) + ")");
  }
  if (layout.world() != world_size) {
    throw Error("parallel layout: dp x pp x tp = " + std::to_string(layout.dp) + " x " +
                std::to_string(layout.pp) + " x " + std::to_string(layout.tp) + " = " +
                std::to_string(layout.world()) + " ranks, but the job has " +
                std::to_string(world_size) + "; launch " + std::to_string(layout.world()) +
                " ranks or choose a layout whose product is " + std::to_string(world_size));
  }
  if (config.num_heads % layout.tp != 0) {
    throw Error("parallel layout: tp=" + std::to_string(layout.tp) + " does not divide the " +
                std::to_string(config.num_heads) + " attention heads of " + config.source +
                "; valid tp up to 16: " + join(valid_tp_values(config, 16)));
  }
  if (!tp_fits_heads(config, layout.tp)) {
    throw Error("parallel layout: tp=" + std::to_string(layout.tp) +
                " neither divides nor is a "
                "multiple of the " +
                std::to_string(config.num_kv_heads) + " key/value heads of " + config.source +
                "; valid tp up to 16: " + join(valid_tp_values(config, 16)));
  }
  if (!tp_fits_hyena_groups(config, layout.tp)) {
    throw Error("parallel layout: tp=" + std::to_string(layout.tp) +
                " does not divide the Hyena filter groups of " + config.source + " (hidden " +
                std::to_string(config.hidden_size) + ", hcs_filter_groups " +
                std::to_string(config.hyena.hcs_filter_groups) + ", hcm_filter_groups " +
                std::to_string(config.hyena.hcm_filter_groups) +
                "); valid tp up to 16: " + join(valid_tp_values(config, 16)));
  }
  if (layout.pp > config.num_layers) {
    throw Error("parallel layout: pp=" + std::to_string(layout.pp) + " pipeline stages for " +
                std::to_string(config.num_layers) + " layers; pp can be at most " +
                std::to_string(config.num_layers));
  }
}

std::pair<std::int64_t, std::int64_t> balanced_range(std::int64_t total, int parts, int part) {
  const std::int64_t base = total / parts;
  const std::int64_t extra = total % parts;
  const std::int64_t begin = part * base + std::min<std::int64_t>(part, extra);
  return {begin, begin + base + (part < extra ? 1 : 0)};
}

std::pair<std::int64_t, std::int64_t> vocab_range(std::int64_t vocab, int tp, int tp_rank) {
  const std::int64_t block = (vocab + tp - 1) / tp;
  const std::int64_t begin = std::min(vocab, block * tp_rank);
  return {begin, std::min(vocab, begin + block)};
}

HeadShard head_shard(const ModelConfig& config, int tp, int tp_rank) {
  HeadShard shard;
  shard.q_count = config.num_heads / tp;
  shard.q_begin = tp_rank * shard.q_count;
  if (tp <= config.num_kv_heads) {
    shard.kv_count = config.num_kv_heads / tp;
    shard.kv_begin = tp_rank * shard.kv_count;
  } else {
    shard.kv_count = 1;
    shard.kv_begin = tp_rank / (tp / config.num_kv_heads);
  }
  return shard;
}

}  // namespace llmpi
