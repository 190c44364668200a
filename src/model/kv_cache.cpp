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
                 std::int64_t capacity, int sequences, std::int64_t pool_tokens, int block_tokens,
                 PrefixSharing sharing)
    : backend_(&backend),
      id_(next_cache_id()),
      capacity_(capacity),
      block_tokens_(block_tokens),
      total_blocks_(0),
      sharing_(sharing) {
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
  if (config.has_recurrent_layers()) sharing_ = PrefixSharing::off;
  lengths_.assign(static_cast<std::size_t>(sequences), 0);
  tables_.resize(static_cast<std::size_t>(sequences));
  const std::int64_t width = static_cast<std::int64_t>(shard.heads.kv_count) * config.head_dim;
  const std::int64_t channels = shard.hyena_channel_count;
  for (int layer = shard.layer_begin; layer < shard.layer_end; ++layer) {
    const MixerKind kind = config.mixer(layer);
    if (kind == MixerKind::attention) {
      keys_.push_back(backend.allocate(total_blocks_ * block_tokens_, width));
      values_.push_back(backend.allocate(total_blocks_ * block_tokens_, width));
      states_.emplace_back();
      continue;
    }
    keys_.emplace_back();
    values_.emplace_back();
    const ModelConfig::HyenaStateWidths widths = config.hyena_state_widths(kind, channels);
    states_.push_back({backend.allocate_state(sequences, widths.short_filter),
                       backend.allocate_state(sequences, widths.hyena_operator)});
  }
  clear();
}

void KvCache::zero_states(int sequence) {
  for (RecurrentState& state : states_) {
    for (Tensor* tensor : {&state.short_filter, &state.hyena_operator}) {
      if (tensor->empty()) continue;
      if (sequence < 0) {
        backend_->zero_rows(*tensor, 0, tensor->rows);
      } else {
        backend_->zero_rows(*tensor, sequence, 1);
      }
    }
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
      sharing_(other.sharing_),
      holders_(std::move(other.holders_)),
      generation_(std::move(other.generation_)),
      key_(std::move(other.key_)),
      shared_(std::move(other.shared_)),
      idle_(std::move(other.idle_)),
      idle_at_(std::move(other.idle_at_)),
      reused_tokens_(other.reused_tokens_),
      keys_(std::move(other.keys_)),
      values_(std::move(other.values_)),
      states_(std::move(other.states_)) {}

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
    sharing_ = other.sharing_;
    holders_ = std::move(other.holders_);
    generation_ = std::move(other.generation_);
    key_ = std::move(other.key_);
    shared_ = std::move(other.shared_);
    idle_ = std::move(other.idle_);
    idle_at_ = std::move(other.idle_at_);
    reused_tokens_ = other.reused_tokens_;
    keys_ = std::move(other.keys_);
    values_ = std::move(other.values_);
    states_ = std::move(other.states_);
  }
  return *this;
}

void KvCache::forget_recordings() {
  // Recordings hold this memory's addresses: they go before the memory does.
  if (id_ != 0) backend_->forget_repeated(id_);
  id_ = 0;
}

std::size_t KvCache::BlockKeyHash::operator()(const BlockKey& key) const {
  // FNV-1a over the parent, its generation and the tokens.
  std::uint64_t hash = 1469598103934665603ull;
  auto mix = [&hash](std::uint64_t value) { hash = (hash ^ value) * 1099511628211ull; };
  mix(static_cast<std::uint32_t>(key.parent));
  mix(key.parent_generation);
  for (const std::int32_t token : key.tokens) mix(static_cast<std::uint32_t>(token));
  return static_cast<std::size_t>(hash);
}

KvCache::BlockKey KvCache::key_for(std::int32_t parent,
                                   std::span<const std::int32_t> tokens) const {
  return {parent, parent < 0 ? 0 : generation_[static_cast<std::size_t>(parent)],
          std::vector<std::int32_t>(tokens.begin(), tokens.end())};
}

std::int32_t KvCache::take_block() {
  std::int32_t block = 0;
  if (!free_.empty()) {
    block = free_.back();
    free_.pop_back();
  } else {
    // The least recently released shared block gives up its contents.
    block = idle_.front();
    idle_.pop_front();
    shared_.erase(*key_[static_cast<std::size_t>(block)]);
    key_[static_cast<std::size_t>(block)].reset();
  }
  const auto b = static_cast<std::size_t>(block);
  ++generation_[b];  // new contents: keys naming the old ones as parent no longer match
  holders_[b] = 1;
  return block;
}

void KvCache::drop_reference(std::int32_t block) {
  const auto b = static_cast<std::size_t>(block);
  if (--holders_[b] > 0) return;
  if (key_[b]) {
    idle_at_[b] = idle_.insert(idle_.end(), block);
  } else {
    free_.push_back(block);
  }
}

bool KvCache::reserve(std::int64_t tokens, int sequence) {
  std::vector<std::int32_t>& table = tables_.at(index(sequence));
  const std::int64_t more = blocks_for(tokens) - static_cast<std::int64_t>(table.size());
  if (tokens > capacity_ || more > free_blocks()) return false;
  for (std::int64_t i = 0; i < more; ++i) table.push_back(take_block());
  return true;
}

std::optional<std::int64_t> KvCache::admit(std::span<const std::int32_t> prompt,
                                           std::int64_t reusable, std::int64_t tokens,
                                           int sequence) {
  std::vector<std::int32_t>& table = tables_.at(index(sequence));
  if (!table.empty() || lengths_.at(index(sequence)) != 0) {
    throw Error("KV cache: sequence " + std::to_string(sequence) +
                " is admitted while it still holds tokens");
  }
  // The shared blocks matching the prompt's leading whole blocks.
  std::vector<std::int32_t> matched;
  if (shares_prefixes()) {
    const std::int64_t limit = std::min<std::int64_t>(reusable, std::ssize(prompt));
    std::int32_t parent = -1;
    for (std::int64_t first = 0; first + block_tokens_ <= limit; first += block_tokens_) {
      const auto found =
          shared_.find(key_for(parent, prompt.subspan(static_cast<std::size_t>(first),
                                                      static_cast<std::size_t>(block_tokens_))));
      if (found == shared_.end()) break;
      parent = found->second;
      matched.push_back(parent);
    }
  }
  const std::int64_t idle_matched = std::ranges::count_if(matched, [this](std::int32_t block) {
    return holders_[static_cast<std::size_t>(block)] == 0;
  });
  const std::int64_t more = blocks_for(tokens) - std::ssize(matched);
  if (tokens > capacity_ || more > free_blocks() - idle_matched) return std::nullopt;
  for (const std::int32_t block : matched) {
    const auto b = static_cast<std::size_t>(block);
    if (holders_[b]++ == 0) idle_.erase(idle_at_[b]);
    table.push_back(block);
  }
  for (std::int64_t i = 0; i < more; ++i) table.push_back(take_block());
  const std::int64_t held = std::ssize(matched) * block_tokens_;
  lengths_.at(index(sequence)) = held;
  reused_tokens_ += held;
  return held;
}

void KvCache::publish(std::span<const std::int32_t> prompt, int sequence) {
  if (!shares_prefixes()) return;
  const std::vector<std::int32_t>& table = tables_.at(index(sequence));
  const std::int64_t computed = std::min<std::int64_t>(std::ssize(prompt), length(sequence));
  std::int32_t parent = -1;
  for (std::int64_t b = 0; (b + 1) * block_tokens_ <= computed; ++b) {
    const std::int32_t block = table[static_cast<std::size_t>(b)];
    std::optional<BlockKey>& key = key_[static_cast<std::size_t>(block)];
    if (!key) {
      BlockKey wanted = key_for(parent, prompt.subspan(static_cast<std::size_t>(b * block_tokens_),
                                                       static_cast<std::size_t>(block_tokens_)));
      // Another sequence computed the same tokens meanwhile: its block stays the shared one.
      if (shared_.contains(wanted)) return;
      shared_.emplace(wanted, block);
      key = std::move(wanted);
    }
    parent = block;
  }
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
  if (shares_prefixes()) {
    throw Error("KV cache: truncating a sequence is refused with prefix sharing on");
  }
  std::int64_t& current = lengths_.at(index(sequence));
  const bool recurrent = std::ranges::any_of(
      states_, [](const RecurrentState& state) { return !state.short_filter.empty(); });
  if (recurrent && length > 0 && length < current) {
    throw Error("KV cache: a sequence through Hyena layers cannot be truncated to " +
                std::to_string(length) + " of its " + std::to_string(current) +
                " tokens (its recurrent state holds all of them)");
  }
  current = std::min(current, std::max<std::int64_t>(length, 0));
  if (current == 0) zero_states(sequence);
}

void KvCache::release(int sequence) {
  std::vector<std::int32_t>& table = tables_.at(index(sequence));
  // Last block first onto the stack, so the next sequence gets them back in order.
  for (auto block = table.rbegin(); block != table.rend(); ++block) drop_reference(*block);
  table.clear();
  lengths_.at(index(sequence)) = 0;
  zero_states(sequence);
}

void KvCache::clear() {
  std::fill(lengths_.begin(), lengths_.end(), 0);
  for (std::vector<std::int32_t>& table : tables_) table.clear();
  // Back to a fresh pool's order: blocks handed out in order again.
  const auto blocks = static_cast<std::size_t>(total_blocks_);
  holders_.assign(blocks, 0);
  generation_.resize(blocks, 0);
  for (std::uint64_t& generation : generation_) ++generation;
  key_.assign(blocks, std::nullopt);
  shared_.clear();
  idle_.clear();
  idle_at_.resize(blocks);
  free_.clear();
  for (auto block = static_cast<std::int32_t>(total_blocks_); block-- > 0;) free_.push_back(block);
  zero_states(-1);
}

}  // namespace llmpi
