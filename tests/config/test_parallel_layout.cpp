#include <catch2/catch.hpp>

#include "llmpi/config/parallel_layout.hpp"

using namespace llmpi;
using Catch::Matchers::Contains;

namespace {
ModelConfig llama_70b() {
  return parse_model_config(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 8192,
    "intermediate_size": 28672, "num_hidden_layers": 80, "num_attention_heads": 64,
    "num_key_value_heads": 8, "vocab_size": 32000})",
                            "llama-2-70b/config.json");
}
}  // namespace

TEST_CASE("rank coordinates put tp fastest, then pp, then dp", "[config][parallel]") {
  const ParallelLayout layout{2, 3, 2};
  const auto c = rank_coordinates(layout, 7);  // 7 = dp 1, pp 0, tp 1
  CHECK(c.tp_rank == 1);
  CHECK(c.pp_rank == 0);
  CHECK(c.dp_rank == 1);
  CHECK(rank_coordinates(layout, 5).pp_rank == 2);
}

TEST_CASE("impossible layouts are refused with the numbers and a valid choice",
          "[config][parallel][bad-input]") {
  const ModelConfig c = llama_70b();
  CHECK_NOTHROW(validate_layout(c, {8, 2, 1}, 16));
  CHECK_THROWS_WITH(validate_layout(c, {8, 2, 1}, 12),
                    Contains("1 x 2 x 8 = 16 ranks, but the job has 12"));
  CHECK_THROWS_WITH(validate_layout(c, {6, 1, 1}, 6),
                    Contains("tp=6 does not divide the 64 attention heads") &&
                        Contains("valid tp up to 16: 1, 2, 4, 8, 16"));
  CHECK_THROWS_WITH(validate_layout(c, {1, 81, 1}, 81),
                    Contains("pp=81 pipeline stages for 80 layers"));
  ModelConfig odd = c;
  odd.num_heads = 48;
  odd.num_kv_heads = 8;  // tp=12 divides the 48 heads but fits 8 KV heads in neither way
  CHECK_THROWS_WITH(validate_layout(odd, {12, 1, 1}, 12),
                    Contains("tp=12 neither divides nor is a multiple of the 8 key/value heads"));
}

TEST_CASE("heads, vocabulary and layers are split evenly", "[config][parallel]") {
  const ModelConfig c = llama_70b();
  const auto shard = head_shard(c, 8, 3);
  CHECK(shard.q_begin == 24);
  CHECK(shard.q_count == 8);
  CHECK(shard.kv_begin == 3);
  CHECK(shard.kv_count == 1);
  // tp above the KV heads: each KV head on tp / kv_heads consecutive ranks.
  const auto replicated = head_shard(c, 16, 5);
  CHECK(replicated.kv_count == 1);
  CHECK(replicated.kv_begin == 2);
  CHECK(vocab_range(32000, 3, 2) == std::pair<std::int64_t, std::int64_t>{21334, 32000});
  CHECK(balanced_range(80, 3, 0) == std::pair<std::int64_t, std::int64_t>{0, 27});
  CHECK(balanced_range(80, 3, 2) == std::pair<std::int64_t, std::int64_t>{54, 80});
}
