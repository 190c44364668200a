#pragma once

#include <cstdint>

#include "llmpi/config/model_config.hpp"
#include "llmpi/config/parallel_layout.hpp"

namespace llmpi {

// The part of the model one rank holds: its layers (pipeline stage), its heads, MLP columns and
// vocabulary rows (tensor-parallel rank). The whole model is the shard of a 1 x 1 layout.
struct ModelShard {
  int tp_size = 1, tp_rank = 0;
  int pp_size = 1, pp_rank = 0;
  int layer_begin = 0, layer_end = 0;  // global layer indices [begin, end)
  HeadShard heads;
  std::int64_t intermediate_begin = 0, intermediate_count = 0;
  std::int64_t vocab_begin = 0, vocab_count = 0;
  // Hyena layers' channels (whole filter groups; none without Hyena layers).
  std::int64_t hyena_channel_begin = 0, hyena_channel_count = 0;

  bool first_stage() const { return pp_rank == 0; }
  bool last_stage() const { return pp_rank == pp_size - 1; }
  int layer_count() const { return layer_end - layer_begin; }
};

ModelShard make_model_shard(const ModelConfig& config, const ParallelLayout& layout,
                            const RankCoordinates& coordinates);
ModelShard whole_model(const ModelConfig& config);

}  // namespace llmpi
