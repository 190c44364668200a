// Evo 2 (StripedHyena 2) beyond what every reference fixture checks (logits, greedy decoding
// through the recurrent states, batches, chunks): evo2's own sequence scores and the states'
// bookkeeping in the cache.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "checkpoint_writer.hpp"
#include "llmpi/backend/cpu_backend.hpp"
#include "llmpi/core/error.hpp"
#include "llmpi/model/transformer.hpp"
#include "reference_fixture.hpp"

using namespace llmpi;
using namespace llmpi::testing;

namespace {
const char* const kEvo2Fixtures[] = {"evo2_tiny_f32", "evo2_tiny_untied_f32", "evo2_tiny_long_f32",
                                     "evo2_tiny_fp8_f32"};
}  // namespace

TEST_CASE("sequence scores equal evo2's score_sequences on every Evo 2 fixture", "[model][evo2]") {
  for (const char* name : kEvo2Fixtures) {
    DYNAMIC_SECTION(name) {
      const ReferenceFixture fixture = load_reference_fixture(name);
      const auto json = nlohmann::json::parse(read_text(fixture.dir / "reference.json"));
      CpuBackend backend;
      Transformer model = load_reference_model(fixture, backend);
      for (std::size_t p = 0; p < fixture.prompts.size(); ++p) {
        const std::vector<std::int32_t>& ids = fixture.prompts[p].ids;
        const auto& score = json.at("prompts").at(p).at("score");
        INFO("prompt " << p << " of " << ids.size() << " tokens");
        // prepend_bos=True: the end-of-document id 0 in front, every token scored.
        const std::vector<std::int32_t> eod{0};
        const double with_bos = model.continuation_log_likelihood(eod, ids);
        CHECK(with_bos == Approx(score.at("sum_bos").get<double>()).epsilon(1e-4));
        CHECK(with_bos / static_cast<double>(ids.size()) ==
              Approx(score.at("mean_bos").get<double>()).epsilon(1e-4));
        if (ids.size() < 2) continue;  // the default scores nothing in a 1-token sequence
        // The default: the first token conditions, the rest are scored.
        const double sum =
            model.continuation_log_likelihood(std::span(ids).first(1), std::span(ids).subspan(1));
        CHECK(sum == Approx(score.at("sum").get<double>()).epsilon(1e-4));
        CHECK(sum / static_cast<double>(ids.size() - 1) ==
              Approx(score.at("mean").get<double>()).epsilon(1e-4));
      }
    }
  }
}

TEST_CASE("a cache of a model with Hyena layers shares nothing and keeps zeroed states",
          "[model][evo2]") {
  const ReferenceFixture fixture = load_reference_fixture("evo2_tiny_f32");
  CpuBackend backend;
  Transformer model = load_reference_model(fixture, backend);
  KvCache cache(backend, model.config(), model.shard(), 64, 2, 0, 4, KvCache::PrefixSharing::on);
  CHECK_FALSE(cache.shares_prefixes());
  // A released sequence's states are zero again: the next prompt in its slot starts afresh.
  const std::vector<std::int32_t>& ids = fixture.prompts.front().ids;
  const Tensor first = model.forward(ids, cache, LogitsFor::last_token, 1);
  const std::vector<float> before = backend.download(first);
  cache.release(1);
  const std::vector<float> again =
      backend.download(model.forward(ids, cache, LogitsFor::last_token, 1));
  CHECK(again == before);
  // States cannot be rewound: a partial truncation is refused, a full one resets them.
  CHECK_THROWS_WITH(cache.truncate(3, 1), Catch::Contains("cannot be truncated"));
  cache.truncate(0, 1);
  CHECK(backend.download(model.forward(ids, cache, LogitsFor::last_token, 1)) == before);
}

TEST_CASE("FP8 input projections are what matches the FP8 reference", "[model][evo2][fp8]") {
  // The same checkpoint with the projections as plain GEMMs is far from the FP8 reference:
  // the emulation, not luck, makes the every-fixture checks pass for evo2_tiny_fp8_f32.
  const ReferenceFixture fixture = load_reference_fixture("evo2_tiny_fp8_f32");
  ModelConfig config = load_model_config(fixture.dir);
  REQUIRE(config.hyena.fp8_input_projections);
  config.hyena.fp8_input_projections = false;
  CpuBackend backend;
  Checkpoint checkpoint(fixture.dir);
  Transformer plain(config, load_model_weights(config, checkpoint, backend), backend);
  const ReferencePrompt& prompt = fixture.prompts.front();
  KvCache cache(backend, plain.config(), static_cast<std::int64_t>(prompt.ids.size()));
  const std::vector<float> logits =
      backend.download(plain.forward(prompt.ids, cache, LogitsFor::last_token));
  const double error = relative_error(logits, prompt.logits.back());
  std::printf("evo2_tiny_fp8_f32 without the FP8 emulation: relative error %.2e\n", error);
  CHECK(error > 1e-3);
}

TEST_CASE("a batched FP8 decode scales each sequence's token alone", "[model][evo2][fp8]") {
  // Two prompts decoded together give each the logits it gets alone: per-row scales, so a
  // sequence's numbers never depend on its neighbours in the batch.
  const ReferenceFixture fixture = load_reference_fixture("evo2_tiny_fp8_f32");
  CpuBackend backend;
  Transformer model = load_reference_model(fixture, backend);
  REQUIRE(fixture.prompts.size() >= 2);
  KvCache cache(backend, model.config(), 64, 2);
  std::vector<std::int32_t> next;
  for (int s = 0; s < 2; ++s) {
    const ReferencePrompt& prompt = fixture.prompts[static_cast<std::size_t>(s)];
    (void)model.forward(prompt.ids, cache, LogitsFor::last_token, s);
    next.push_back(prompt.greedy_ids.front());
  }
  const std::vector<int> sequences{0, 1};
  const std::vector<float> batched = backend.download(model.decode(next, sequences, cache));
  const auto vocab = static_cast<std::size_t>(model.config().vocab_size);
  for (std::size_t s = 0; s < 2; ++s) {
    const double error = relative_error(std::span(batched).subspan(s * vocab, vocab),
                                        fixture.prompts[s].greedy_step_logits.at(1));
    INFO("sequence " << s);
    CHECK(error <= 1e-4);
  }
}
