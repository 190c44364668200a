// The paged KV cache: block bookkeeping, admission by reservation, and a sequence whose blocks
// are scattered through the pool computing exactly what it computes in consecutive rows.
#include <catch2/catch.hpp>
#include <cstdio>

#include "llmpi/backend/cpu_backend.hpp"
#include "llmpi/engine/generator.hpp"
#include "llmpi/model/kv_cache.hpp"
#include "reference_fixture.hpp"

using namespace llmpi;
using namespace llmpi::testing;

TEST_CASE("the pool hands out blocks in order, reserves whole lengths and takes them back",
          "[model][kv-cache]") {
  const ReferenceFixture fixture = load_reference_fixture(reference_fixture_names().front());
  const ModelConfig config = load_model_config(fixture.dir);
  CpuBackend backend(1);
  // Sequences of up to 20 tokens in blocks of 4: 5 blocks each, 15 in all.
  KvCache cache(backend, config, whole_model(config), 20, 3, 0, 4);
  CHECK(cache.total_blocks() == 15);
  CHECK(cache.blocks_per_sequence() == 5);
  REQUIRE(cache.reserve(10, 0));
  CHECK(cache.block_table(0).size() == 3);
  CHECK(cache.consecutive_rows(0, 10) == 0);
  CHECK(cache.row(0, 9) == 9);
  REQUIRE(cache.reserve(5, 1));
  CHECK(cache.row(1, 0) == 12);  // after sequence 0's three blocks
  CHECK(cache.free_blocks() == 10);
  CHECK_FALSE(cache.reserve(21, 2));  // over the capacity: nothing taken
  CHECK(cache.free_blocks() == 10);
  cache.advance(10, 0);
  cache.truncate(3, 0);  // forgets tokens, keeps the blocks
  CHECK(cache.length(0) == 3);
  CHECK(cache.free_blocks() == 10);
  cache.release(0);
  CHECK(cache.length(0) == 0);
  CHECK(cache.free_blocks() == 13);
  REQUIRE(cache.reserve(12, 2));  // sequence 0's blocks, back in their order
  CHECK(cache.consecutive_rows(2, 12) == 0);

  // A pool smaller than the sequences' capacities: reserving is admission control.
  KvCache small(backend, config, whole_model(config), 20, 3, 24, 4);
  CHECK(small.total_blocks() == 6);
  REQUIRE(small.reserve(20, 0));
  CHECK_FALSE(small.reserve(8, 1));  // 2 blocks wanted, 1 free
  REQUIRE(small.reserve(4, 1));
  CHECK_THROWS_WITH(small.advance(5, 1), Catch::Contains("the pool has 0 of 6 free"));
  CHECK_THROWS_WITH(KvCache(backend, config, whole_model(config), 20, 1, 0, 6),
                    Catch::Contains("a power of two"));
}

TEST_CASE(
    "shared prefixes: whole blocks found by their tokens, held by several sequences, kept "
    "until the pool needs them",
    "[model][kv-cache]") {
  const ReferenceFixture fixture = load_reference_fixture(reference_fixture_names().front());
  const ModelConfig config = load_model_config(fixture.dir);
  CpuBackend backend(1);
  KvCache cache(backend, config, whole_model(config), 20, 3, 0, 4, KvCache::PrefixSharing::on);
  const std::vector<std::int32_t> a{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  CHECK(cache.admit(a, 9, 12, 0) == 0);  // nothing published yet
  cache.advance(10, 0);                  // (the model writes its rows)
  cache.publish(a, 0);                   // its two full blocks; the third is partial
  CHECK(cache.free_blocks() == 12);

  // The same first 8 tokens: both blocks shared, only the rest is taken from the pool.
  const std::vector<std::int32_t> b{1, 2, 3, 4, 5, 6, 7, 8, 99, 98};
  CHECK(cache.admit(b, 9, 12, 1) == 8);
  CHECK(cache.length(1) == 8);
  CHECK(cache.block_table(1)[0] == cache.block_table(0)[0]);
  CHECK(cache.block_table(1)[1] == cache.block_table(0)[1]);
  CHECK(cache.free_blocks() == 11);
  // A difference in the second block: only the first is shared; `reusable` caps the match.
  const std::vector<std::int32_t> c{1, 2, 3, 4, 5, 0, 7, 8, 9};
  CHECK(cache.admit(c, 8, 9, 2) == 4);
  cache.release(2);
  CHECK(cache.admit(b, 7, 12, 2) == 4);
  cache.release(2);
  CHECK(cache.reused_tokens() == 16);
  CHECK_THROWS_WITH(cache.admit(a, 9, 12, 1), Catch::Contains("still holds tokens"));
  CHECK_THROWS_WITH(cache.truncate(2, 0), Catch::Contains("prefix sharing"));

  // Released by both, the shared blocks keep their contents: counted free, found again.
  cache.release(0);
  cache.release(1);
  CHECK(cache.free_blocks() == 15);
  CHECK(cache.admit(a, 9, 12, 0) == 8);
  cache.release(0);

  // A pool of 4 blocks: a sequence needing all of them takes the shared ones' too, and the
  // prefix is then gone.
  KvCache small(backend, config, whole_model(config), 16, 2, 16, 4, KvCache::PrefixSharing::on);
  REQUIRE(small.admit(a, 9, 12, 0) == 0);
  small.advance(10, 0);
  small.publish(a, 0);
  small.release(0);
  CHECK(small.free_blocks() == 4);
  const std::vector<std::int32_t> other{50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62};
  REQUIRE(small.admit(other, 12, 16, 1) == 0);
  CHECK(small.free_blocks() == 0);
  CHECK_FALSE(small.admit(a, 9, 12, 0).has_value());  // no room: nothing taken
  small.release(1);
  CHECK(small.admit(a, 9, 12, 0) == 0);  // evicted

  // Without sharing, admit is a reservation.
  KvCache plain(backend, config, whole_model(config), 20, 2, 0, 4);
  REQUIRE(plain.admit(a, 9, 12, 0) == 0);
  plain.advance(10, 0);
  plain.publish(a, 0);
  CHECK(plain.admit(a, 9, 12, 1) == 0);
  CHECK(plain.free_blocks() == 4);
}

TEST_CASE("a sequence in scattered blocks computes what it computes in order",
          "[model][kv-cache][reference]") {
  constexpr double kTolerance = 1e-4;
  const ReferenceFixture fixture = load_reference_fixture(reference_fixture_names().front());
  CpuBackend backend(1);
  Transformer model = load_reference_model(fixture, backend);
  const ReferencePrompt& prompt = fixture.prompts.front();
  const auto length = static_cast<std::int64_t>(prompt.ids.size());
  const auto vocab = static_cast<std::size_t>(model.config().vocab_size);
  const std::int64_t capacity = length + 8;
  KvCache cache(backend, model.config(), whole_model(model.config()), capacity, 2, 0, 2);
  // Sequences 0 and 1 take blocks in turn, so sequence 0 holds every other block.
  for (std::int64_t tokens = 2; tokens <= capacity; tokens += 2) {
    REQUIRE(cache.reserve(tokens, 0));
    REQUIRE(cache.reserve(tokens, 1));
  }
  REQUIRE_FALSE(cache.consecutive_rows(0, 4).has_value());

  // The prompt in two chunks (the second attends over gathered rows), then greedy decoding.
  const auto half = static_cast<std::ptrdiff_t>(length / 2);
  const std::vector<std::int32_t> first(prompt.ids.begin(), prompt.ids.begin() + half);
  const std::vector<std::int32_t> rest(prompt.ids.begin() + half, prompt.ids.end());
  model.forward(first, cache, LogitsFor::every_token, 0);
  const std::vector<float> logits =
      backend.download(model.forward(rest, cache, LogitsFor::every_token, 0));
  double worst = 0.0;
  for (std::size_t t = 0; t < rest.size(); ++t) {
    const double error = relative_error(std::span(logits).subspan(t * vocab, vocab),
                                        prompt.logits[static_cast<std::size_t>(half) + t]);
    worst = std::max(worst, error);
    CHECK(error <= kTolerance);
  }
  std::vector<std::int32_t> next = {prompt.greedy_ids.front()};
  const std::vector<int> sequence = {0};
  for (std::size_t step = 1; step < 8; ++step) {
    const Tensor step_logits = model.decode(next, sequence, cache);
    const std::vector<float> values = backend.download(step_logits);
    const double error = relative_error(values, prompt.greedy_step_logits[step]);
    worst = std::max(worst, error);
    CHECK(error <= kTolerance);
    CHECK(backend.max_rows(step_logits).front().index == prompt.greedy_ids[step]);
    next = {prompt.greedy_ids[step]};
  }
  std::printf("%-26s scattered blocks of 2 tokens: max relative error %.2e\n", fixture.name.c_str(),
              worst);
}
