#include "llmpi/model/kv_cache.hpp"

#include <algorithm>
#include <atomic>
#include <limits>
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
                 std::int64_t capacity, int sequences, std::int64_t pool_tokens, int block_tokens)
    : backend_(&backend),
      id_(next_cache_id()),
      capacity_(capacity),
      block_tokens_(block_tokens),
      total_blocks_(0) {
  if (capacity < 1 || sequences < 1 || pool_tokens < 0 || block_tokens < 1 ||
      (block_tokens & (block_tokens - 1)) != 0) {
    throw Error("KV cache: capacity " + std::to_string(capacity) + " and sequences " +
                std::to_string(sequences) + " must both be at least 1, blocks of " +
                std::to_string(block_tokens) + " tokens a power of two (pool of " +
                std::to_string(pool_tokens) + " tokens)");
  }
  total_blocks_ = pool_tokens > 0 ? blocks_for(pool_tokens) : blocks_for(capacity) * sequences;
  if (total_blocks_ * block_tokens_ > std::numeric_limits<std::int32_t>::max()) {
    throw Error("KV cache of " + std::to_string(total_blocks_ * block_tokens_) +
                " tokens has more rows than 32-bit indices reach");
  }
  lengths_.assign(static_cast<std::size_t>(sequences), 0);
  tables_.resize(static_cast<std::size_t>(sequences));
  clear();
  const std::int64_t width = static_cast<std::int64_t>(shard.heads.kv_count) * config.head_dim;
  for (int layer = 0; layer < shard.layer_count(); ++layer) {
    keys_.push_back(backend.allocate(total_blocks_ * block_tokens_, width));
    values_.push_back(backend.allocate(total_blocks_ * block_tokens_, width));
  }
}

KvCache::KvCache(Backend& backend, const ModelConfig& config, std::int64_t capacity, int sequences)
    : KvCache(backend, config, whole_model(config), capacity, sequences) {}

KvCache::~KvCache() {
  forget_recordings();
}

KvCache::KvCache(KvCache&& other) noexcept
    : backend_(other.backend_),
      id_(std::exchange(other.id_, 0)),
      capacity_(other.capacity_),
      block_tokens_(other.block_tokens_),
      total_blocks_(other.total_blocks_),
      lengths_(std::move(other.lengths_)),
      tables_(std::move(other.tables_)),
      free_(std::move(other.free_)),
      keys_(std::move(other.keys_)),
      values_(std::move(other.values_)) {}

KvCache& KvCache::operator=(KvCache&& other) noexcept {
  if (this != &other) {
    forget_recordings();
    backend_ = other.backend_;
    id_ = std::exchange(other.id_, 0);
    capacity_ = other.capacity_;
    block_tokens_ = other.block_tokens_;
    total_blocks_ = other.total_blocks_;
    lengths_ = std::move(other.lengths_);
    tables_ = std::move(other.tables_);
    free_ = std::move(other.free_);
    keys_ = std::move(other.keys_);
    values_ = std::move(other.values_);
  }
  return *this;
}

void KvCache::forget_recordings() {
  // Recordings hold this memory's addresses: they go before the memory does.
  if (id_ != 0) backend_->forget_repeated(id_);
  id_ = 0;
}

bool KvCache::reserve(std::int64_t tokens, int sequence) {
  std::vector<std::int32_t>& table = tables_.at(index(sequence));
  const std::int64_t more = blocks_for(tokens) - static_cast<std::int64_t>(table.size());
  if (tokens > capacity_ || more > free_blocks()) return false;
  for (std::int64_t i = 0; i < more; ++i) {
    table.push_back(free_.back());
    free_.pop_back();
  }
  return true;
}

std::int64_t KvCache::row(int sequence, std::int64_t position) const {
  const std::vector<std::int32_t>& table = tables_.at(index(sequence));
  return static_cast<std::int64_t>(table.at(static_cast<std::size_t>(position / block_tokens_))) *
             block_tokens_ +
         position % block_tokens_;
}

std::optional<std::int64_t> KvCache::consecutive_rows(int sequence, std::int64_t tokens) const {
  const std::vector<std::int32_t>& table = tables_.at(index(sequence));
  const auto used = static_cast<std::size_t>(blocks_for(tokens));
  if (used == 0 || used > table.size()) return std::nullopt;
  for (std::size_t b = 1; b < used; ++b) {
    if (table[b] != table[0] + static_cast<std::int32_t>(b)) return std::nullopt;
  }
  return static_cast<std::int64_t>(table[0]) * block_tokens_;
}

void KvCache::advance(std::int64_t tokens, int sequence) {
  std::int64_t& current = lengths_.at(index(sequence));
  if (!reserve(current + tokens, sequence)) {
    throw Error("KV cache: sequence " + std::to_string(sequence) + " of " +
                std::to_string(current + tokens) + " tokens needs " +
                std::to_string(blocks_for(current + tokens)) + " blocks of " +
                std::to_string(block_tokens_) + " tokens; it holds " +
                std::to_string(tables_.at(index(sequence)).size()) + ", the pool has " +
                std::to_string(free_blocks()) + " of " + std::to_string(total_blocks_) +
                " free (capacity " + std::to_string(capacity_) + " tokens per sequence)");
  }
  current += tokens;
}

void KvCache::truncate(std::int64_t length, int sequence) {
  std::int64_t& current = lengths_.at(index(sequence));
  current = std::min(current, std::max<std::int64_t>(length, 0));
}

void KvCache::release(int sequence) {
  std::vector<std::int32_t>& table = tables_.at(index(sequence));
  // Last block first onto the stack, so the next sequence gets them back in order.
  for (auto block = table.rbegin(); block != table.rend(); ++block) free_.push_back(*block);
  table.clear();
  lengths_.at(index(sequence)) = 0;
}

void KvCache::clear() {
  std::fill(lengths_.begin(), lengths_.end(), 0);
  for (std::vector<std::int32_t>& table : tables_) table.clear();
  // Back to a fresh pool's order: blocks handed out in order again.
  free_.clear();
  for (auto block = static_cast<std::int32_t>(total_blocks_); block-- > 0;) free_.push_back(block);
}

}  // namespace llmpi
