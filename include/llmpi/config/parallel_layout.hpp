#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "llmpi/config/model_config.hpp"

namespace llmpi {

// world = dp x pp x tp, tp fastest (docs/parallelism.md, "Ranks and groups").
struct ParallelLayout {
  int tp = 1;
  int pp = 1;
  int dp = 1;
  int world() const { return tp * pp * dp; }
};

// "tp=2 pp=1 dp=4"
std::string describe(const ParallelLayout& layout);

struct RankCoordinates {
  int tp_rank = 0;
  int pp_rank = 0;
  int dp_rank = 0;
};

RankCoordinates rank_coordinates(const ParallelLayout& layout, int world_rank);

// Tensor-parallel degrees the model's heads allow: tp divides the attention heads, and either
// divides the KV heads or is a multiple of them (KV heads are then replicated).
bool tp_fits_heads(const ModelConfig& config, int tp);
std::vector<int> valid_tp_values(const ModelConfig& config, int at_most);

// Refuses an impossible layout before any weight is read; every message names the numbers and
// a valid choice.
void validate_layout(const ModelConfig& config, const ParallelLayout& layout, int world_size);

// [begin, end) of `part` out of `parts` near-equal contiguous pieces of `total` (the first
// pieces are one longer when it does not divide).
std::pair<std::int64_t, std::int64_t> balanced_range(std::int64_t total, int parts, int part);

// Vocabulary rows of a TP rank: equal ceil(vocab / tp) blocks, the last one shorter.
std::pair<std::int64_t, std::int64_t> vocab_range(std::int64_t vocab, int tp, int tp_rank);

// The attention heads a TP rank owns: query heads [q_begin, q_begin + q_count) and KV heads
// [kv_begin, kv_begin + kv_count). With tp > kv heads, each KV head is replicated on
// tp / kv_heads consecutive ranks.
struct HeadShard {
  int q_begin = 0, q_count = 0;
  int kv_begin = 0, kv_count = 0;
};
HeadShard head_shard(const ModelConfig& config, int tp, int tp_rank);

}  // namespace llmpi
