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
  // Every parameter of the four layers (the planner's count less the final norm): the linear
  // weights in bf16 (random stand-ins are bf16, as a checkpoint's), the rest in fp32.
  const ParameterCounts parameters = count_parameters(config);
  const double all_parameters = static_cast<double>(parameters.attention + parameters.mlp +
                                                    parameters.norms - config.hidden_size);
  const double hidden = config.hidden_size;
  const double q = static_cast<double>(shard.heads.q_count) * config.head_dim;
  const double kv = static_cast<double>(shard.heads.kv_count) * config.head_dim;
  const double channels = static_cast<double>(shard.hyena_channel_count);
  const double mlp = 3.0 * static_cast<double>(shard.intermediate_count) * hidden;  // gated
  double linear_parameters = 0.0;
  for (int layer = 0; layer < 4; ++layer) {
    linear_parameters += mlp + (config.mixer(layer) == MixerKind::attention
                                    ? (q + 2.0 * kv) * hidden + hidden * q
                                    : 3.0 * channels * hidden + hidden * channels);
  }
  const double layer_bytes =
      (2.0 * linear_parameters + 4.0 * (all_parameters - linear_parameters)) / 4.0;
  REQUIRE(report.decode.size() == 2);
  for (const DecodeTiming& t : report.decode) {
    INFO("batch " << t.batch);
    CHECK(t.kv_bytes ==
          Approx(t.batch *
                 (kv_row_bytes * static_cast<double>(settings.context + 1) + 2.0 * state_bytes) /
                 4.0));
    CHECK(t.weight_bytes == Approx(layer_bytes));
    CHECK(t.roofline_ms > 0.0);
  }
}
