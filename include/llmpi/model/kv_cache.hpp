#pragma once

#include <cstdint>
#include <optional>
#include <span>
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
class KvCache {
 public:
  // The prefill kernel's key tile; any power of two works (tests use small ones).
  static constexpr int kDefaultBlockTokens = 64;

  // pool_tokens: tokens of every sequence together (0: capacity for each sequence).
  KvCache(Backend& backend, const ModelConfig& config, const ModelShard& shard,
          std::int64_t capacity, int sequences = 1, std::int64_t pool_tokens = 0,
          int block_tokens = kDefaultBlockTokens);
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
  std::int64_t free_blocks() const { return static_cast<std::int64_t>(free_.size()); }
  std::int64_t total_blocks() const { return total_blocks_; }

  // Makes `sequence` hold blocks for `tokens` tokens, taking them from the pool; false (and
  // nothing taken) where too few are free or `tokens` exceeds the capacity.
  bool reserve(std::int64_t tokens, int sequence = 0);

  // The pool of one layer: every sequence's blocks.
  Tensor& keys(int local_layer) { return keys_[static_cast<std::size_t>(local_layer)]; }
  Tensor& values(int local_layer) { return values_[static_cast<std::size_t>(local_layer)]; }
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
  // repeating one step).
  void truncate(std::int64_t length, int sequence = 0);
  // Forgets `sequence` and returns its blocks to the pool (a finished request).
  void release(int sequence);
  void clear();

 private:
  static std::size_t index(int sequence) { return static_cast<std::size_t>(sequence); }
  void forget_recordings();

  Backend* backend_;
  std::uint64_t id_;  // 0 once moved from
  std::int64_t capacity_;
  int block_tokens_;
  std::int64_t total_blocks_;
  std::vector<std::int64_t> lengths_;
  std::vector<std::vector<std::int32_t>> tables_;
  std::vector<std::int32_t> free_;  // a stack: the next block handed out is free_.back()
  std::vector<Tensor> keys_;
  std::vector<Tensor> values_;
};

}  // namespace llmpi
