// The throughput driver runs every request to its full output length within the KV pool, and
// a tensor-parallel share charges exactly the bytes its all-reduces would move.
#include <catch2/catch.hpp>

#include "llmpi/backend/cpu_backend.hpp"
#include "llmpi/bench/throughput_bench.hpp"
#include "llmpi/config/parallel_layout.hpp"
#include "reference_fixture.hpp"

using namespace llmpi;
using namespace llmpi::testing;
using Catch::Matchers::Contains;

TEST_CASE("throughput shapes parse, and bad ones are named", "[bench]") {
  const std::vector<ThroughputShape> shapes = parse_throughput_shapes("128/128,2048/7");
  REQUIRE(shapes.size() == 2);
  CHECK(shapes[1].input_tokens == 2048);
  CHECK(shapes[1].output_tokens == 7);
  CHECK_THROWS_WITH(parse_throughput_shapes("128/128,64"),
                    Contains("'64'") && Contains("INPUT/OUTPUT"));
  CHECK_THROWS_WITH(parse_throughput_shapes("0/5"), Contains("'0/5'"));
  CHECK_THROWS_WITH(parse_throughput_shapes("12/x"), Contains("'12/x'"));
}

TEST_CASE("continuous batching within the KV pool, all-reduces charged by bytes", "[bench]") {
  const ModelConfig config = load_model_config(fixtures_dir() / "llama_gqa_f32");
  CpuBackend backend;
  ThroughputSettings settings;
  settings.shapes = {{16, 8}, {5, 20}};
  settings.requests = 6;
  settings.kv_tokens = 150;  // two 64-token blocks: 2 requests of 24 tokens at once, or of 25
  settings.step_tokens = 64;

  const ModelShard whole = make_model_shard(config, ParallelLayout{1, 1, 1}, RankCoordinates{});
  const std::vector<ThroughputResult> alone =
      run_throughput_bench(backend, config, whole, settings);
  REQUIRE(alone.size() == 2);
  for (const ThroughputResult& r : alone) {
    CHECK(r.requests == 6);
    CHECK(r.in_flight == 2);
    CHECK(r.modelled_comm_seconds == 0.0);
    CHECK(r.all_reduces == 0);
    CHECK(r.output_tokens_per_s() > 0.0);
    CHECK(r.ttft_ms_mean >= r.prefill_ms_mean);
    CHECK(r.tpot_ms_mean > 0.0);
  }

  // One rank of tp = 2: every token passes the embedding's all-reduce and two per layer
  // (attention and MLP outputs), each [tokens, hidden] in fp32.
  settings.bus_bytes_per_s = 100e9;
  const ModelShard share =
      make_model_shard(config, ParallelLayout{2, 1, 1}, RankCoordinates{0, 0, 0});
  const std::vector<ThroughputResult> modelled =
      run_throughput_bench(backend, config, share, settings);
  for (const ThroughputResult& r : modelled) {
    const double token_passes =
        6.0 * static_cast<double>(r.shape.input_tokens + r.shape.output_tokens - 1);
    const double bytes = token_passes * config.hidden_size * 4.0 * (2 * config.num_layers + 1);
    CHECK(r.all_reduce_bytes == Approx(bytes));
    CHECK(r.modelled_comm_seconds == Approx(bytes * 2.0 * 1 / 2 / 100e9));
  }

  settings.shapes = {{200, 100}};
  CHECK_THROWS_WITH(run_throughput_bench(backend, config, whole, settings),
                    Contains("200/100") && Contains("positions"));
  settings.shapes = {{16, 8}};
  settings.bus_bytes_per_s = 0.0;
  CHECK_THROWS_WITH(run_throughput_bench(backend, config, share, settings), Contains("--bus-gbps"));
}
