#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "llmpi/backend/backend.hpp"
#include "llmpi/config/model_config.hpp"
#include "llmpi/model/model_shard.hpp"

namespace llmpi {

// Keys and values of `sequences` sequences for this rank's layers and KV heads. Each layer
// holds one [sequences * capacity, local kv heads * head_dim] tensor; sequence s owns rows
// [s * capacity, (s + 1) * capacity), of which the first length(s) are filled. One tensor per
// layer lets a batched decode step write and read every sequence with one kernel each.
class KvCache {
 public:
  KvCache(Backend& backend, const ModelConfig& config, const ModelShard& shard,
          std::int64_t capacity, int sequences = 1);
  KvCache(Backend& backend, const ModelConfig& config, std::int64_t capacity, int sequences = 1);
  ~KvCache();
  KvCache(KvCache&& other) noexcept;
  KvCache& operator=(KvCache&& other) noexcept;
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  // Names this cache's memory for the backend's recorded decode steps, which write into it.
  std::uint64_t id() const { return id_; }

  std::int64_t capacity() const { return capacity_; }  // tokens per sequence
  int sequences() const { return static_cast<int>(lengths_.size()); }
  std::int64_t length(int sequence = 0) const { return lengths_.at(index(sequence)); }

  // Every sequence's rows of one layer.
  Tensor& keys(int local_layer) { return keys_[static_cast<std::size_t>(local_layer)]; }
  Tensor& values(int local_layer) { return values_[static_cast<std::size_t>(local_layer)]; }
  // One sequence's rows of one layer.
  Tensor keys(int local_layer, int sequence) const;
  Tensor values(int local_layer, int sequence) const;
  // The cache row of `sequence`'s token at `position`.
  std::int64_t row(int sequence, std::int64_t position) const {
    return static_cast<std::int64_t>(sequence) * capacity_ + position;
  }

  void advance(std::int64_t tokens, int sequence = 0) { lengths_.at(index(sequence)) += tokens; }
  void clear() { std::fill(lengths_.begin(), lengths_.end(), 0); }
  // Forgets every token of `sequence` from `length` on (a benchmark repeating one step, a
  // finished sequence whose slot is reused).
  void truncate(std::int64_t length, int sequence = 0) {
    auto& current = lengths_.at(index(sequence));
    current = std::min(current, std::max<std::int64_t>(length, 0));
  }

 private:
  static std::size_t index(int sequence) { return static_cast<std::size_t>(sequence); }
  void release();

  Backend* backend_;
  std::uint64_t id_;  // 0 once moved from
  std::int64_t capacity_;
  std::vector<std::int64_t> lengths_;
  std::vector<Tensor> keys_;
  std::vector<Tensor> values_;
};

}  // namespace llmpi
