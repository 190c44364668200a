#include "llmpi/model/model_shard.hpp"

namespace llmpi {

ModelShard make_model_shard(const ModelConfig& config, const ParallelLayout& layout,
                            const RankCoordinates& coordinates) {
  ModelShard shard;
  shard.tp_size = layout.tp;
  shard.tp_rank = coordinates.tp_rank;
  shard.pp_size = layout.pp;
  shard.pp_rank = coordinates.pp_rank;
  const auto [layer_begin, layer_end] =
      balanced_range(config.num_layers, layout.pp, coordinates.pp_rank);
  shard.layer_begin = static_cast<int>(layer_begin);
  shard.layer_end = static_cast<int>(layer_end);
  shard.heads = head_shard(config, layout.tp, coordinates.tp_rank);
  const auto [inter_begin, inter_end] =
      balanced_range(config.intermediate_size, layout.tp, coordinates.tp_rank);
  shard.intermediate_begin = inter_begin;
  shard.intermediate_count = inter_end - inter_begin;
  const auto [vocab_begin, vocab_end] =
      vocab_range(config.vocab_size, layout.tp, coordinates.tp_rank);
  shard.vocab_begin = vocab_begin;
  shard.vocab_count = vocab_end - vocab_begin;
  if (config.has_recurrent_layers()) {
    shard.hyena_channel_count = config.hidden_size / layout.tp;
    shard.hyena_channel_begin = coordinates.tp_rank * shard.hyena_channel_count;
  }
  return shard;
}

ModelShard whole_model(const ModelConfig& config) {
  return make_model_shard(config, ParallelLayout{}, RankCoordinates{});
}

}  // namespace llmpi
