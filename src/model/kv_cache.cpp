#include "llmpi/model/kv_cache.hpp"

#include <atomic>
#include <string>
#include <utility>

#include "llmpi/core/error.hpp"

namespace llmpi {

namespace {
std::uint64_t next_cache_id() {
  static std::atomic<std::uint64_t> last{0};
  return ++last;
}
}  // namespace

KvCache::KvCache(Backend& backend, const ModelConfig& config, const ModelShard& shard,
                 std::int64_t capacity, int sequences)
    : backend_(&backend), id_(next_cache_id()), capacity_(capacity) {
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

KvCache::~KvCache() {
  release();
}

KvCache::KvCache(KvCache&& other) noexcept
    : backend_(other.backend_),
      id_(std::exchange(other.id_, 0)),
      capacity_(other.capacity_),
      lengths_(std::move(other.lengths_)),
      keys_(std::move(other.keys_)),
      values_(std::move(other.values_)) {}

KvCache& KvCache::operator=(KvCache&& other) noexcept {
  if (this != &other) {
    release();
    backend_ = other.backend_;
    id_ = std::exchange(other.id_, 0);
    capacity_ = other.capacity_;
    lengths_ = std::move(other.lengths_);
    keys_ = std::move(other.keys_);
    values_ = std::move(other.values_);
  }
  return *this;
}

void KvCache::release() {
  // Recordings hold this memory's addresses: they go before the memory does.
  if (id_ != 0) backend_->forget_repeated(id_);
  id_ = 0;
}

Tensor KvCache::keys(int local_layer, int sequence) const {
  return keys_.at(static_cast<std::size_t>(local_layer)).row_range(row(sequence, 0), capacity_);
}

Tensor KvCache::values(int local_layer, int sequence) const {
  return values_.at(static_cast<std::size_t>(local_layer)).row_range(row(sequence, 0), capacity_);
}

}  // namespace llmpi
