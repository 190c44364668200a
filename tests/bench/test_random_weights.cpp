// Random stand-in weights have exactly the shapes the checkpoint loader gives, for the whole
// model and for a tensor-parallel shard, on every reference fixture's architecture.
#include <catch2/catch.hpp>

#include "llmpi/backend/cpu_backend.hpp"
#include "llmpi/bench/random_weights.hpp"
#include "reference_fixture.hpp"

using namespace llmpi;
using namespace llmpi::testing;

namespace {

void same_shape(const Tensor& random, const Tensor& loaded, const std::string& what) {
  INFO(what);
  CHECK(random.empty() == loaded.empty());
  CHECK(random.rows == loaded.rows);
  CHECK(random.cols == loaded.cols);
}

}  // namespace

TEST_CASE("random weights have the loaded weights' shapes", "[bench]") {
  for (const std::string& name : reference_fixture_names()) {
    const ReferenceFixture fixture = load_reference_fixture(name);
    const ModelConfig config = load_model_config(fixture.dir);
    for (const int tp : {1, 2}) {
      if (config.num_heads % tp != 0 || config.hidden_size % tp != 0) continue;
      DYNAMIC_SECTION(name << " tp " << tp) {
        const ParallelLayout layout{tp, 1, 1};
        const ModelShard shard = make_model_shard(config, layout, RankCoordinates{1 % tp, 0, 0});
        CpuBackend backend;
        const ModelWeights loaded =
            load_model_weights(config, Checkpoint(fixture.dir), backend, shard);
        const ModelWeights random = random_model_weights(config, shard, backend, 1);
        same_shape(random.embedding, loaded.embedding, "embedding");
        same_shape(random.position_embedding, loaded.position_embedding, "position embedding");
        same_shape(random.lm_head, loaded.lm_head, "lm_head");
        same_shape(random.final_norm_weight, loaded.final_norm_weight, "final norm");
        same_shape(random.final_norm_bias, loaded.final_norm_bias, "final norm bias");
        REQUIRE(random.layers.size() == loaded.layers.size());
        const LayerWeights& r = random.layers.front();
        const LayerWeights& l = loaded.layers.front();
        same_shape(r.attention_norm_weight, l.attention_norm_weight, "attention norm");
        same_shape(r.attention_norm_bias, l.attention_norm_bias, "attention norm bias");
        same_shape(r.mlp_norm_weight, l.mlp_norm_weight, "mlp norm");
        same_shape(r.mlp_norm_bias, l.mlp_norm_bias, "mlp norm bias");
        same_shape(r.qkv_weight, l.qkv_weight, "qkv");
        same_shape(r.qkv_bias, l.qkv_bias, "qkv bias");
        same_shape(r.output_weight, l.output_weight, "output");
        same_shape(r.output_bias, l.output_bias, "output bias");
        same_shape(r.up_weight, l.up_weight, "up");
        same_shape(r.up_bias, l.up_bias, "up bias");
        same_shape(r.down_weight, l.down_weight, "down");
        same_shape(r.down_bias, l.down_bias, "down bias");
        same_shape(r.hyena_projection, l.hyena_projection, "hyena projection");
        same_shape(r.short_filter, l.short_filter, "short filter");
        same_shape(r.hyena_filter, l.hyena_filter, "hyena filter");
        same_shape(r.hyena_skip, l.hyena_skip, "hyena skip");
        same_shape(r.log_poles, l.log_poles, "log poles");
        same_shape(r.residues, l.residues, "residues");
      }
    }
  }
}
