#include "llmpi/model/kv_cache.hpp"

#include <string>

#include "llmpi/core/error.hpp"

namespace llmpi {

KvCache::KvCache(Backend& backend, const ModelConfig& config, const ModelShard& shard,
                 std::int64_t capacity, int sequences)
    : capacity_(capacity) {
  if (capacity < 1 || sequences < 1) {
    throw Error("KV cache: capacity " + std::to_string(capacity) + " and sequences " +
                std::to_string(sequences) + " must both be at least 1");
  }
  lengths_.assign(static_cast<std::size_t>(sequences), 0);
  const std::int64_t width = static_cast<std::int64_t>(shard.heads.kv_count) * config.head_dim;
  for (int layer = 0; layer < shard.layer_count(); ++layer) {
    keys_.push_back(backend.allocate(capacity * sequences, width));
    values_.push_back(backend.allocate(capacity * sequences, width));
  }
}

KvCache::KvCache(Backend& backend, const ModelConfig& config, std::int64_t capacity, int sequences)
    : KvCache(backend, config, whole_model(config), capacity, sequences) {}

Tensor KvCache::keys(int local_layer, int sequence) const {
  return keys_.at(static_cast<std::size_t>(local_layer)).row_range(row(sequence, 0), capacity_);
}

Tensor KvCache::values(int local_layer, int sequence) const {
  return values_.at(static_cast<std::size_t>(local_layer)).row_range(row(sequence, 0), capacity_);
}

}  // namespace llmpi
