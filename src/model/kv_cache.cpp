#include "llmpi/model/kv_cache.hpp"

namespace llmpi {

KvCache::KvCache(Backend& backend, const ModelConfig& config, const ModelShard& shard,
                 std::int64_t capacity)
    : capacity_(capacity) {
  const std::int64_t width = static_cast<std::int64_t>(shard.heads.kv_count) * config.head_dim;
  for (int layer = 0; layer < shard.layer_count(); ++layer) {
    keys_.push_back(backend.allocate(capacity, width));
    values_.push_back(backend.allocate(capacity, width));
  }
}

KvCache::KvCache(Backend& backend, const ModelConfig& config, std::int64_t capacity)
    : KvCache(backend, config, whole_model(config), capacity) {}

}  // namespace llmpi
