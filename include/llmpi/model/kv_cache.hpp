#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "llmpi/backend/backend.hpp"
#include "llmpi/config/model_config.hpp"
#include "llmpi/model/model_shard.hpp"

namespace llmpi {

// Keys and values of one sequence for this rank's layers and KV heads,
// [capacity, local kv heads * head_dim] each. `length` tokens are filled.
class KvCache {
 public:
  KvCache(Backend& backend, const ModelConfig& config, const ModelShard& shard,
          std::int64_t capacity);
  KvCache(Backend& backend, const ModelConfig& config, std::int64_t capacity);

  std::int64_t capacity() const { return capacity_; }
  std::int64_t length() const { return length_; }
  Tensor& keys(int local_layer) { return keys_[static_cast<std::size_t>(local_layer)]; }
  Tensor& values(int local_layer) { return values_[static_cast<std::size_t>(local_layer)]; }
  void advance(std::int64_t tokens) { length_ += tokens; }
  void clear() { length_ = 0; }
  // Forgets every token from `length` on (a benchmark repeating one step, a rejected draft).
  void truncate(std::int64_t length) {
    length_ = std::min(length_, std::max<std::int64_t>(length, 0));
  }

 private:
  std::int64_t capacity_;
  std::int64_t length_ = 0;
  std::vector<Tensor> keys_;
  std::vector<Tensor> values_;
};

}  // namespace llmpi
