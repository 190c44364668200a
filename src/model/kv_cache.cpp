#include "llmpi/model/kv_cache.hpp"

namespace llmpi {

KvCache::KvCache(Backend& backend, const ModelConfig& config, std::int64_t capacity)
    : capacity_(capacity) {
  for (int layer = 0; layer < config.num_layers; ++layer) {
    keys_.push_back(backend.allocate(capacity, config.kv_size()));
    values_.push_back(backend.allocate(capacity, config.kv_size()));
  }
}

}  // namespace llmpi
