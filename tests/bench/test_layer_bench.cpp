// The layer bench's roofline on a hybrid stack (Evo 2: Hyena layers of three kinds and one
// attention layer): per layer, the mean over the timed layers of what a decode step reads,
// checked against the planner's own counts of parameters and recurrent state.
#include <catch2/catch.hpp>

#include "llmpi/backend/cpu_backend.hpp"
#include "llmpi/bench/layer_bench.hpp"
#include "llmpi/config/planner.hpp"
#include "reference_fixture.hpp"

using namespace llmpi;
using namespace llmpi::testing;

TEST_CASE("the layer bench counts a hybrid stack's weights, keys and states per layer", "[bench]") {
  const ModelConfig config = load_model_config(fixtures_dir() / "evo2_tiny_fp8_f32");
  REQUIRE(config.num_layers == 4);  // hcs, hcm, hcl, attention
  const ModelShard shard = make_model_shard(config, ParallelLayout{1, 1, 1}, RankCoordinates{});
  CpuBackend backend(1);
  LayerBenchSettings settings;
  settings.layers = 4;
  settings.batches = {1, 3};
  settings.context = 20;
  settings.prefill_tokens = 8;
  settings.repeats = 1;
  settings.copy_bytes = std::int64_t{1} << 20;
  const LayerBenchReport report = run_layer_bench(backend, config, shard, settings);

  CHECK(report.attention_share == Approx(0.25));
  CHECK_FALSE(report.fp8_gemms);  // the CPU emulates the fixture's FP8 projections
  // Keys and values (fp32 on the CPU) in the one attention layer, each Hyena layer's fp32
  // state read and written: a quarter of each per layer.
  const double kv_row_bytes = 2.0 * config.num_kv_heads * config.head_dim * 4.0;
  const double state_bytes = 4.0 * static_cast<double>(recurrent_state_elements(config, 0, 4, 1));
  REQUIRE(state_bytes > 0.0);
  // Every parameter of the four layers (the planner's count less the final norm), held in bf16
  // (linear weights) or fp32 (the rest): between 2 and 4 bytes each.
  const ParameterCounts parameters = count_parameters(config);
  const double layer_parameters = static_cast<double>(parameters.attention + parameters.mlp +
                                                      parameters.norms - config.hidden_size) /
                                  4.0;
  REQUIRE(report.decode.size() == 2);
  for (const DecodeTiming& t : report.decode) {
    INFO("batch " << t.batch);
    CHECK(t.kv_bytes ==
          Approx(t.batch *
                 (kv_row_bytes * static_cast<double>(settings.context + 1) + 2.0 * state_bytes) /
                 4.0));
    CHECK(t.weight_bytes >= 2.0 * layer_parameters);
    CHECK(t.weight_bytes <= 4.0 * layer_parameters);
    CHECK(t.roofline_ms > 0.0);
  }
}
