#include <catch2/catch.hpp>
#include <filesystem>

#include "llmpi/config/planner.hpp"
#include "llmpi/config/preset.hpp"
#include "llmpi/core/error.hpp"

using namespace llmpi;
using Catch::Matchers::Contains;

namespace {

Preset preset(const std::string& name) {
  return load_preset(std::filesystem::path(LLMPI_PRESETS_DIR) / (name + ".yaml"));
}

Cluster gpus_80gib(int nodes = 1) {
  return Cluster{nodes, 8, 80 * kGiB};
}

// Within 1% of the published size.
void check_parameters(const std::string& name, double published) {
  INFO(name);
  const double counted = double(count_parameters(preset(name).model).total());
  CHECK(counted == Approx(published).epsilon(0.01));
}

}  // namespace

TEST_CASE("parameter counts derived from the configs match the published sizes", "[planner]") {
  check_parameters("falcon-40b", 41.3e9);    // head tied to the embedding
  check_parameters("falcon-180b", 178.6e9);  // head tied
  check_parameters("llama-2-70b", 69.0e9);   // separate head
  check_parameters("codellama-70b", 69.0e9);
  check_parameters("falcon-7b", 6.92e9);
  // ALIA-40B's model card gives the exact count.
  CHECK(count_parameters(preset("alia-40b").model).total() == 40'433'885'184);
  CHECK(count_parameters(preset("alia-40b").model).embedding == 2'097'152'000);

  const ParameterCounts llama = count_parameters(preset("llama-2-70b").model);
  CHECK(llama.lm_head == llama.embedding);
  CHECK(count_parameters(preset("falcon-40b").model).lm_head == 0);
}

TEST_CASE("KV-cache bytes per token, whole model in bf16", "[planner]") {
  CHECK(kv_bytes_per_token(preset("llama-2-70b").model, DType::bf16) == 320 * kKiB);
  CHECK(kv_bytes_per_token(preset("codellama-70b").model, DType::bf16) == 320 * kKiB);
  CHECK(kv_bytes_per_token(preset("falcon-40b").model, DType::bf16) == 120 * kKiB);
  CHECK(kv_bytes_per_token(preset("falcon-180b").model, DType::bf16) == 160 * kKiB);
  CHECK(kv_bytes_per_token(preset("alia-40b").model, DType::bf16) == 192 * kKiB);
  CHECK(kv_bytes_per_token(preset("falcon-7b").model, DType::f32) == 32 * 2 * 64 * 4);
}

TEST_CASE("per-rank weights add up to the model plus what is replicated", "[planner]") {
  const Preset llama = preset("llama-2-70b");
  const PlanSettings settings = plan_settings(llama);
  const ModelConfig& m = llama.model;
  const ParameterCounts counts = count_parameters(m);
  const std::int64_t replicated_norms =
      std::int64_t{m.num_layers} * 2 * m.hidden_size + m.hidden_size;
  for (const ParallelLayout layout : {ParallelLayout{4, 1, 1}, ParallelLayout{2, 3, 1}}) {
    const LayoutPlan plan = plan_layout(m, settings, Cluster{1, 8, 80 * kGiB}, layout);
    std::int64_t bytes = 0;
    for (const RankPlan& rank : plan.ranks) bytes += rank.memory.weight_bytes;
    CHECK(bytes == 2 * (counts.total() + (layout.tp - 1) * replicated_norms));
  }
}

TEST_CASE("KV heads are replicated when tp exceeds them", "[planner]") {
  const Preset falcon = preset("falcon-180b");
  const PlanSettings settings = plan_settings(falcon);
  const RankMemory tp8 = rank_memory(falcon.model, settings, {8, 1, 1}, 3, 0, 80 * kGiB);
  CHECK(tp8.kv_bytes_per_token == 160 * kKiB / 8);  // one of the 8 KV heads per rank

  const Preset mqa = preset("tiny-falcon-mqa");  // one KV head
  const PlanSettings tiny = plan_settings(mqa);
  const RankMemory tp2 = rank_memory(mqa.model, tiny, {2, 1, 1}, 1, 0, kGiB);
  CHECK(tp2.kv_bytes_per_token == kv_bytes_per_token(mqa.model, DType::f32));
}

TEST_CASE("pipeline stages: embedding first, head last, a tied head copied", "[planner]") {
  const Preset falcon = preset("falcon-40b");  // tied
  const PlanSettings settings = plan_settings(falcon);
  const ModelConfig& m = falcon.model;
  const std::int64_t vocab_bytes = 2 * std::int64_t{m.vocab_size} * m.hidden_size;
  const RankMemory one = rank_memory(m, settings, {1, 1, 1}, 0, 0, 80 * kGiB);
  CHECK(one.weight_bytes == 2 * count_parameters(m).total());
  const RankMemory first = rank_memory(m, settings, {1, 2, 1}, 0, 0, 80 * kGiB);
  const RankMemory last = rank_memory(m, settings, {1, 2, 1}, 0, 1, 80 * kGiB);
  CHECK(first.layer_begin == 0);
  CHECK(first.layer_end == 30);
  CHECK(last.layer_begin == 30);
  CHECK(last.layer_end == 60);
  CHECK(first.weight_bytes + last.weight_bytes == one.weight_bytes + vocab_bytes);
}

TEST_CASE("tokens that fit: usable memory less weights, activations, reserve", "[planner]") {
  const Preset llama = preset("llama-2-70b");
  const PlanSettings settings = plan_settings(llama);
  const RankMemory m = rank_memory(llama.model, settings, {4, 1, 1}, 0, 0, 80 * kGiB);
  CHECK(m.usable_bytes == static_cast<std::int64_t>(80 * kGiB * 0.9));
  CHECK(m.reserve_bytes == kGiB);
  CHECK(m.kv_bytes_per_token == 80 * kKiB);
  CHECK(m.tokens_fit ==
        (m.usable_bytes - m.weight_bytes - m.activation_bytes - m.reserve_bytes) / (80 * kKiB));
  CHECK(m.tokens_fit > 100'000);
  const RankMemory whole = rank_memory(llama.model, settings, {1, 1, 1}, 0, 0, 80 * kGiB);
  CHECK(whole.tokens_fit == 0);  // 128 GiB of weights on an 80 GiB GPU
}

TEST_CASE("Llama-2-70B at tp=6 is refused with the valid choices", "[planner]") {
  const Preset llama = preset("llama-2-70b");
  CHECK_THROWS_WITH(check_fits(llama.model, plan_settings(llama), gpus_80gib(), {6, 1, 1}),
                    Contains("tp=6 does not split the 64 attention heads") &&
                        Contains("valid tp on nodes of 8 GPUs: 1, 2, 4, 8") &&
                        Contains("the smallest layout that fits 1 node x 8 GPUs of 80.00 GiB "
                                 "is tp=2 pp=1 dp=4"));
  // On a node of 12 GPUs too: 6 and 12 split neither the 64 heads.
  CHECK_THROWS_WITH(
      check_fits(llama.model, plan_settings(llama), Cluster{1, 12, 80 * kGiB}, {6, 1, 2}),
      Contains("valid tp on nodes of 12 GPUs: 1, 2, 4"));
}

TEST_CASE("Falcon-180B at tp=12 is refused (232 = 8 x 29 heads)", "[planner]") {
  const Preset falcon = preset("falcon-180b");
  const PlanSettings settings = plan_settings(falcon);
  CHECK_THROWS_WITH(check_fits(falcon.model, settings, Cluster{1, 12, 80 * kGiB}, {12, 1, 1}),
                    Contains("tp=12 does not split the 232 attention heads") &&
                        Contains("valid tp on nodes of 12 GPUs: 1, 2, 4;"));
  CHECK_THROWS_WITH(
      check_fits(falcon.model, settings, gpus_80gib(2), {12, 1, 1}),
      Contains("valid tp on nodes of 8 GPUs: 1, 2, 4, 8") && Contains("is tp=8 pp=1 dp=2"));
  CHECK(valid_tp_values(falcon.model, 16) == std::vector<int>{1, 2, 4, 8});
}

TEST_CASE("Falcon-7B's 71 heads allow no tensor parallelism", "[planner]") {
  const Preset falcon = preset("falcon-7b");
  CHECK(valid_tp_values(falcon.model, 16) == std::vector<int>{1});
  CHECK(node_tp_values(falcon.model, 8) == std::vector<int>{1});
  CHECK_THROWS_WITH(check_fits(falcon.model, plan_settings(falcon), gpus_80gib(), {2, 1, 4}),
                    Contains("71 attention heads") && Contains("valid tp on nodes of 8 GPUs: 1;"));
  // Where one GPU is too small, the planner pipelines instead.
  const auto small = smallest_layout(falcon.model, plan_settings(falcon), Cluster{1, 8, 12 * kGiB});
  REQUIRE(small);
  CHECK(small->layout.tp == 1);
  CHECK(small->layout.pp == 2);
  CHECK(small->layout.dp == 4);
}

TEST_CASE("smallest layouts of the big presets on 8 GPUs of 80 GiB", "[planner]") {
  struct Expected {
    const char* name;
    int tp, pp, dp;
  };
  for (const Expected e : {Expected{"llama-2-70b", 2, 1, 4}, Expected{"codellama-70b", 2, 1, 4},
                           Expected{"falcon-40b", 2, 1, 4}, Expected{"falcon-180b", 8, 1, 1},
                           Expected{"alia-40b", 2, 1, 4}, Expected{"falcon-7b", 1, 1, 8}}) {
    INFO(e.name);
    const Preset p = preset(e.name);
    const PlanSettings settings = plan_settings(p);
    for (const int nodes : {1, 0}) {  // one node, and "as few as needed"
      const auto placement = smallest_layout(p.model, settings, gpus_80gib(nodes));
      REQUIRE(placement);
      CHECK(placement->cluster.nodes == 1);
      CHECK(placement->layout.tp == e.tp);
      CHECK(placement->layout.pp == e.pp);
      CHECK(placement->layout.dp == e.dp);
      CHECK_NOTHROW(validate_layout(p.model, placement->layout, 8));
      CHECK_NOTHROW(check_fits(p.model, settings, gpus_80gib(), placement->layout));
      const LayoutPlan plan = plan_layout(p.model, settings, gpus_80gib(), placement->layout);
      CHECK(plan.fits);
      CHECK(plan.tokens_fit >= p.context_length);
    }
    // The preset's own layout fits the same cluster, dp filling it.
    ParallelLayout own = p.layout;
    own.dp = 8 / (own.tp * own.pp);
    CHECK_NOTHROW(check_fits(p.model, settings, gpus_80gib(), own));
  }
}

TEST_CASE("the planner adds nodes and pipeline stages when GPUs are small", "[planner]") {
  const Preset falcon = preset("falcon-180b");
  const PlanSettings settings = plan_settings(falcon);
  const auto placement = smallest_layout(falcon.model, settings, Cluster{0, 8, 40 * kGiB});
  REQUIRE(placement);
  CHECK(placement->cluster.nodes == 2);
  CHECK(placement->layout.tp == 8);
  CHECK(placement->layout.pp == 2);
  CHECK(placement->layout.dp == 1);
  CHECK_FALSE(smallest_layout(falcon.model, settings, Cluster{1, 8, 40 * kGiB}));
  CHECK_THROWS_WITH(check_fits(falcon.model, settings, Cluster{1, 8, 40 * kGiB}, {8, 1, 1}),
                    Contains("does not fit: rank 0 needs") &&
                        Contains("nothing fits 1 node x 8 GPUs of 40.00 GiB; the model needs "
                                 "2 nodes x 8 GPUs of 40.00 GiB with tp=8 pp=2 dp=1"));
}

TEST_CASE("a layout that does not fit is refused with the numbers", "[planner]") {
  const Preset llama = preset("llama-2-70b");
  CHECK_THROWS_WITH(check_fits(llama.model, plan_settings(llama), gpus_80gib(), {1, 1, 8}),
                    Contains("parallel layout tp=1 pp=1 dp=8 does not fit: rank 0 needs") &&
                        Contains("weights 128.") && Contains("of its 80.00 GiB are usable") &&
                        Contains("is tp=2 pp=1 dp=4"));
  CHECK_THROWS_WITH(check_fits(llama.model, plan_settings(llama), gpus_80gib(), {2, 1, 2}),
                    Contains("but the job has 8"));
  CHECK_THROWS_WITH(check_fits(llama.model, plan_settings(llama), gpus_80gib(81), {8, 81, 1}),
                    Contains("pp=81"));
}
