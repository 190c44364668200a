#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "llmpi/backend/backend.hpp"
#include "llmpi/config/model_config.hpp"
#include "llmpi/model/model_shard.hpp"

namespace llmpi {

// Keys and values for this rank's layers and KV heads, paged: one pool of fixed-size blocks of
// block_tokens tokens per layer ([blocks * block_tokens, local kv heads * head_dim]), shared by
// `sequences` sequences of up to `capacity` tokens each. A sequence holds a table of blocks that
// grows as it lengthens (or up front, by reserve) and returns them when released, so the pool
// is sized by the tokens held at once, not by every sequence's longest possible length.
// Requests are admitted by reserving their blocks (admission control, never out of memory
// mid-step). A fresh pool hands out blocks in order, so one sequence's rows are consecutive.
//
// With prefix sharing, a full block whose tokens (and every token before them) another
// sequence already computed is shared by reference instead of computed again: the few-shot
// examples before every prompt of a task, the question before each answer of a multiple-choice
// request. A shared block is counted once in the pool; it returns to the pool when no sequence
// holds it, and keeps its contents for a later sequence until the pool needs the block for
// something else (least recently released first). Only full blocks are shared, so a sequence
// never writes into a block another holds.
//
// A Hyena layer (StripedHyena 2) has no keys or values: each sequence holds a recurrent state of
// a fixed size instead (the last inputs of its short filters, or its modal filter's state), one
// row per sequence, zero while the sequence is empty. A model with such layers cannot resume
// from a shared block of keys, so its caches never share prefixes.
class KvCache {
 public:
  // The prefill kernel's key tile; any power of two works (tests use small ones).
  static constexpr int kDefaultBlockTokens = 64;

  // pool_tokens: tokens of every sequence together (0: capacity for each sequence).
  enum class PrefixSharing { off, on };
  KvCache(Backend& backend, const ModelConfig& config, const ModelShard& shard,
          std::int64_t capacity, int sequences = 1, std::int64_t pool_tokens = 0,
          int block_tokens = kDefaultBlockTokens, PrefixSharing sharing = PrefixSharing::off);
  KvCache(Backend& backend, const ModelConfig& config, std::int64_t capacity, int sequences = 1);
  ~KvCache();
  KvCache(KvCache&& other) noexcept;
  KvCache& operator=(KvCache&& other) noexcept;
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  // Names this cache's memory for the backend's recorded decode steps, which write into it.
  std::uint64_t id() const { return id_; }

  std::int64_t capacity() const { return capacity_; }  // tokens per sequence at most
  int sequences() const { return static_cast<int>(lengths_.size()); }
  std::int64_t length(int sequence = 0) const { return lengths_.at(index(sequence)); }

  int block_tokens() const { return block_tokens_; }
  std::int64_t blocks_for(std::int64_t tokens) const {
    return (tokens + block_tokens_ - 1) / block_tokens_;
  }
  int blocks_per_sequence() const { return static_cast<int>(blocks_for(capacity_)); }
  // Blocks no sequence holds (those keeping a shared prefix's contents included).
  std::int64_t free_blocks() const {
    return static_cast<std::int64_t>(free_.size() + idle_.size());
  }
  std::int64_t total_blocks() const { return total_blocks_; }
  bool shares_prefixes() const { return sharing_ == PrefixSharing::on; }

  // Makes `sequence` hold blocks for `tokens` tokens, taking them from the pool; false (and
  // nothing taken) where too few are free or `tokens` exceeds the capacity.
  bool reserve(std::int64_t tokens, int sequence = 0);
  // Starts the empty `sequence` on `prompt`: with prefix sharing, it takes the blocks holding
  // the longest run of `prompt`'s leading tokens (whole blocks, at most `reusable` tokens) that
  // were computed before and publish()ed, and its length becomes their token count; then it
  // reserves the rest of `tokens`. Returns that length (0 without sharing), or nothing (and
  // nothing taken) where the pool cannot hold the rest.
  std::optional<std::int64_t> admit(std::span<const std::int32_t> prompt, std::int64_t reusable,
                                    std::int64_t tokens, int sequence);
  // Offers `sequence`'s full blocks holding the leading `prompt` tokens (already computed) to
  // later sequences starting with the same tokens. Nothing without prefix sharing.
  void publish(std::span<const std::int32_t> prompt, int sequence);
  // Tokens admit() found computed, over this cache's life.
  std::int64_t reused_tokens() const { return reused_tokens_; }

  // The pool of one layer: every sequence's blocks (empty tensors in a Hyena layer).
  Tensor& keys(int local_layer) { return keys_[static_cast<std::size_t>(local_layer)]; }
  Tensor& values(int local_layer) { return values_[static_cast<std::size_t>(local_layer)]; }
  // A Hyena layer's per-sequence states, row `sequence` each: the short FIR's last inputs
  // [sequences, (short_filter_length - 1) * 3C], and the long operator's (its FIR's last inputs,
  // or the modal state [sequences, C * state_size]).
  Tensor& short_filter_state(int local_layer) {
    return states_[static_cast<std::size_t>(local_layer)].short_filter;
  }
  Tensor& operator_state(int local_layer) {
    return states_[static_cast<std::size_t>(local_layer)].hyena_operator;
  }
  // The pool row of `sequence`'s token at `position` (a block it holds).
  std::int64_t row(int sequence, std::int64_t position) const;
  // The sequence's blocks, in position order.
  std::span<const std::int32_t> block_table(int sequence) const {
    return tables_.at(index(sequence));
  }
  // The first pool row of `sequence` when its positions [0, tokens) sit in consecutive rows.
  std::optional<std::int64_t> consecutive_rows(int sequence, std::int64_t tokens) const;

  // Holds `tokens` more tokens of `sequence` (after the caller wrote their rows); takes blocks
  // as needed and fails naming the pool when none are left.
  void advance(std::int64_t tokens, int sequence = 0);
  // Forgets every token of `sequence` from `length` on; its blocks stay its own (a benchmark
  // repeating one step; refused with prefix sharing, where a block may be another's too, and
  // with Hyena layers past length 0, whose states cannot be rewound).
  void truncate(std::int64_t length, int sequence = 0);
  // Forgets `sequence` and returns its blocks to the pool (a finished request).
  void release(int sequence);
  // Empties every sequence and forgets every shared prefix.
  void clear();

 private:
  // What a shared block holds: its tokens, after the block before it in its sequences (none:
  // -1), whose contents are named by its generation (bumped whenever it is handed out anew).
  struct BlockKey {
    std::int32_t parent = -1;
    std::uint64_t parent_generation = 0;
    std::vector<std::int32_t> tokens;
    bool operator==(const BlockKey&) const = default;
  };
  struct BlockKeyHash {
    std::size_t operator()(const BlockKey& key) const;
  };

  static std::size_t index(int sequence) { return static_cast<std::size_t>(sequence); }
  void forget_recordings();
  BlockKey key_for(std::int32_t parent, std::span<const std::int32_t> tokens) const;
  std::int32_t take_block();
  void drop_reference(std::int32_t block);

  Backend* backend_;
  std::uint64_t id_;  // 0 once moved from
  std::int64_t capacity_;
  int block_tokens_;
  std::int64_t total_blocks_;
  std::vector<std::int64_t> lengths_;
  std::vector<std::vector<std::int32_t>> tables_;
  std::vector<std::int32_t> free_;  // a stack: the next block handed out is free_.back()
  PrefixSharing sharing_ = PrefixSharing::off;
  std::vector<std::int32_t> holders_;         // per block: the sequences holding it
  std::vector<std::uint64_t> generation_;     // per block
  std::vector<std::optional<BlockKey>> key_;  // per block: its key while it is shared
  std::unordered_map<BlockKey, std::int32_t, BlockKeyHash> shared_;
  std::list<std::int32_t> idle_;  // shared blocks nobody holds, least recently released first
  std::vector<std::list<std::int32_t>::iterator> idle_at_;  // per block, valid while idle
  std::int64_t reused_tokens_ = 0;
  std::vector<Tensor> keys_;
  std::vector<Tensor> values_;
  struct RecurrentState {
    Tensor short_filter;
    Tensor hyena_operator;
  };
  std::vector<RecurrentState> states_;  // per local layer; empty tensors in attention layers
  void zero_states(int sequence);       // -1: every sequence
};

}  // namespace llmpi
