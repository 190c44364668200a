// The model is the same function as Hugging Face transformers: logits at every prompt position
// and at every greedy step within 1e-4 relative error (fp32 compute on both sides), and the
// same 32 greedy tokens, for every reference fixture.
#include <catch2/catch.hpp>
#include <cstdio>

#include "llmpi/backend/cpu_backend.hpp"
#include "llmpi/engine/generator.hpp"
#include "llmpi/model/transformer.hpp"
#include "reference_fixture.hpp"

using namespace llmpi;
using namespace llmpi::testing;

namespace {
constexpr double kTolerance = 1e-4;
}  // namespace

TEST_CASE("logits and greedy tokens match Hugging Face on every reference fixture",
          "[model][reference]") {
  for (const std::string& name : reference_fixture_names()) {
    DYNAMIC_SECTION(name) {
      const ReferenceFixture fixture = load_reference_fixture(name);
      CpuBackend backend;
      Transformer model = load_reference_model(fixture, backend);
      double worst_prompt = 0.0;
      double worst_step = 0.0;
      for (const ReferencePrompt& prompt : fixture.prompts) {
        KvCache cache(backend, model.config(), static_cast<std::int64_t>(prompt.ids.size()));
        const auto logits =
            backend.download(model.forward(prompt.ids, cache, LogitsFor::every_token));
        const auto vocab = static_cast<std::size_t>(model.config().vocab_size);
        REQUIRE(logits.size() == prompt.ids.size() * vocab);
        for (std::size_t t = 0; t < prompt.ids.size(); ++t) {
          const double error =
              relative_error(std::span(logits).subspan(t * vocab, vocab), prompt.logits[t]);
          INFO("prompt position " << t);
          CHECK(error <= kTolerance);
          worst_prompt = std::max(worst_prompt, error);
        }

        const GenerationOptions options = greedy_options(prompt);
        const GenerationResult result = generate(model, prompt.ids, options);
        CHECK(result.tokens == prompt.greedy_ids);
        REQUIRE(result.step_logits.size() == prompt.greedy_step_logits.size());
        for (std::size_t step = 0; step < result.step_logits.size(); ++step) {
          const double error =
              relative_error(result.step_logits[step], prompt.greedy_step_logits[step]);
          INFO("greedy step " << step);
          CHECK(error <= kTolerance);
          worst_step = std::max(worst_step, error);
        }
      }
      std::printf("%-26s max relative error: prompt logits %.2e, greedy-step logits %.2e\n",
                  name.c_str(), worst_prompt, worst_step);
    }
  }
}

TEST_CASE("a batched decode gives every prompt the tokens and logits it gets alone",
          "[model][reference]") {
  for (const std::string& name : reference_fixture_names()) {
    DYNAMIC_SECTION(name) {
      const ReferenceFixture fixture = load_reference_fixture(name);
      CpuBackend backend;
      Transformer model = load_reference_model(fixture, backend);
      // Every prompt twice, the copies with a different length of generation, so sequences
      // leave the batch at different steps and the rows change under the others.
      const std::vector<GenerationRequest> requests = greedy_requests_twice(fixture);
      // All four at once; three slots for four requests (the fourth enters when the first
      // stops, in the blocks it leaves); blocks of 4 tokens; and a pool of 8-token blocks that
      // holds only two of the longest at once, so requests wait for blocks, not slots.
      std::int64_t longest = 0;
      for (const GenerationRequest& request : requests) {
        longest = std::max<std::int64_t>(longest, static_cast<std::int64_t>(request.prompt.size()) +
                                                      request.options.max_new_tokens);
      }
      const std::pair<const char*, BatchSettings> layouts[] = {
          {"4 slots", {}},
          {"3 slots", {.max_active = 3}},
          {"blocks of 4", {.block_tokens = 4}},
          {"pool for 2", {.kv_tokens = 2 * (longest + 8), .block_tokens = 8}}};
      for (const auto& [what, limits] : layouts) {
        const std::vector<GenerationResult> results = generate_batch(model, requests, limits);
        REQUIRE(results.size() == requests.size());
        double worst = 0.0;
        for (std::size_t r = 0; r < results.size(); ++r) {
          const ReferencePrompt& prompt = fixture.prompts[r % fixture.prompts.size()];
          const auto want = static_cast<std::size_t>(requests[r].options.max_new_tokens);
          CHECK(results[r].tokens ==
                std::vector<std::int32_t>(prompt.greedy_ids.begin(),
                                          prompt.greedy_ids.begin() + static_cast<long>(want)));
          REQUIRE(results[r].step_logits.size() == want);
          for (std::size_t step = 0; step < want; ++step) {
            const double error =
                relative_error(results[r].step_logits[step], prompt.greedy_step_logits[step]);
            CHECK(error <= kTolerance);
            worst = std::max(worst, error);
          }
        }
        std::printf("%-26s batched decode of %zu sequences, %-11s: max relative error %.2e\n",
                    name.c_str(), requests.size(), what, worst);
      }

      // Sampling: each sequence draws from its own stream, as it would alone.
      std::vector<GenerationRequest> sampled;
      for (std::size_t p = 0; p < fixture.prompts.size(); ++p) {
        GenerationOptions options;
        options.max_new_tokens = 16;
        options.stop_at_eos = false;
        options.temperature = 0.8;
        options.top_p = 0.95;
        options.seed = 11 + p;
        sampled.push_back({fixture.prompts[p].ids, options});
      }
      const std::vector<GenerationResult> together =
          generate_batch(model, sampled, {.max_active = 1});
      for (std::size_t p = 0; p < sampled.size(); ++p) {
        CHECK(together[p].tokens == generate(model, sampled[p].prompt, sampled[p].options).tokens);
      }
    }
  }
}

TEST_CASE("a batch refuses mixed sampling settings and bad sequences", "[model][reference]") {
  const ReferenceFixture fixture = load_reference_fixture(reference_fixture_names().front());
  CpuBackend backend;
  Transformer model = load_reference_model(fixture, backend);
  GenerationOptions greedy;
  GenerationOptions hot;
  hot.temperature = 0.7;
  const std::vector<GenerationRequest> mixed{{fixture.prompts[0].ids, greedy},
                                             {fixture.prompts[0].ids, hot}};
  CHECK_THROWS_WITH(generate_batch(model, mixed),
                    Catch::Contains("must share temperature and top_p"));

  KvCache cache(backend, model.config(), 8, 2);
  const std::vector<std::int32_t> tokens{1, 2};
  const std::vector<int> repeated{1, 1};
  CHECK_THROWS_WITH(model.decode(tokens, repeated, cache), Catch::Contains("repeated"));
  const std::vector<int> outside{0, 2};
  CHECK_THROWS_WITH(model.decode(tokens, outside, cache), Catch::Contains("not in the KV cache"));
  cache.advance(8, 1);
  const std::vector<int> full{0, 1};
  CHECK_THROWS_WITH(model.decode(tokens, full, cache), Catch::Contains("exceeds the KV cache"));
}

TEST_CASE("prompts longer than one step are prefilled in chunks with the same results",
          "[model][reference]") {
  for (const std::string& name : reference_fixture_names()) {
    DYNAMIC_SECTION(name) {
      const ReferenceFixture fixture = load_reference_fixture(name);
      CpuBackend backend;
      Transformer model = load_reference_model(fixture, backend);
      if (model.config().hyena.fp8_input_projections) {
        // Each chunk is one FP8 call with its own scale, as a TE Linear called per chunk:
        // chunks change the numbers by design, and no reference computes chunked FP8.
        std::printf("%-26s prefill in chunks: not compared (FP8 scales each chunk)\n",
                    name.c_str());
        continue;
      }
      const ReferencePrompt& prompt = fixture.prompts.front();
      const auto vocab = static_cast<std::size_t>(model.config().vocab_size);
      const std::span<const std::int32_t> context(prompt.ids.data(), prompt.ids.size() / 2);
      const std::span<const std::int32_t> continuation =
          std::span(prompt.ids).subspan(context.size());
      const double whole = model.continuation_log_likelihood(context, continuation);
      // Chunks of 3 tokens: a chunk boundary falls inside the context and the continuation.
      model.set_step_tokens(3);
      KvCache cache(backend, model.config(), static_cast<std::int64_t>(prompt.ids.size()));
      const auto logits =
          backend.download(model.forward(prompt.ids, cache, LogitsFor::every_token));
      REQUIRE(logits.size() == prompt.ids.size() * vocab);
      double worst = 0.0;
      for (std::size_t t = 0; t < prompt.ids.size(); ++t) {
        const double error =
            relative_error(std::span(logits).subspan(t * vocab, vocab), prompt.logits[t]);
        worst = std::max(worst, error);
        CHECK(error <= kTolerance);
      }
      CHECK(model.continuation_log_likelihood(context, continuation) ==
            Approx(whole).epsilon(1e-5));
      const std::vector<GenerationResult> results =
          generate_batch(model, greedy_requests_twice(fixture), {.max_active = 3});
      for (std::size_t r = 0; r < results.size(); ++r) {
        const ReferencePrompt& expected = fixture.prompts[r % fixture.prompts.size()];
        CHECK(std::equal(results[r].tokens.begin(), results[r].tokens.end(),
                         expected.greedy_ids.begin()));
      }
      std::printf("%-26s prefill in chunks of 3: max relative error %.2e\n", name.c_str(), worst);
    }
  }
}

TEST_CASE(
    "prompts starting from a shared prefix's blocks get the tokens and logits they get "
    "alone",
    "[model][reference]") {
  for (const std::string& name : reference_fixture_names()) {
    DYNAMIC_SECTION(name) {
      const ReferenceFixture fixture = load_reference_fixture(name);
      CpuBackend backend;
      Transformer model = load_reference_model(fixture, backend);
      // Each prompt twice: the second copy starts from the first's blocks (of 4 tokens), and a
      // second batch through the same cache from the first batch's, released meanwhile.
      const std::vector<GenerationRequest> requests = greedy_requests_twice(fixture);
      const BatchCacheShape shape = batch_cache_shape(model.config(), requests, {});
      KvCache shared(backend, model.config(), model.shard(), shape.capacity, 2, 0, 4,
                     KvCache::PrefixSharing::on);
      // A model with Hyena layers runs the same requests with nothing shared.
      const bool sharing = !model.config().has_recurrent_layers();
      CHECK(shared.shares_prefixes() == sharing);
      double worst = 0.0;
      for (int pass = 0; pass < 2; ++pass) {
        const std::vector<GenerationResult> results =
            generate_batch(model, requests, {.max_active = 2, .block_tokens = 4}, &shared);
        for (std::size_t r = 0; r < results.size(); ++r) {
          const ReferencePrompt& prompt = fixture.prompts[r % fixture.prompts.size()];
          const auto want = static_cast<std::size_t>(requests[r].options.max_new_tokens);
          const auto reusable =
              sharing ? static_cast<std::int64_t>((prompt.ids.size() - 1) / 4 * 4) : 0;
          CHECK(results[r].reused_prompt_tokens ==
                (pass == 0 && r < fixture.prompts.size() ? 0 : reusable));
          CHECK(results[r].tokens ==
                std::vector<std::int32_t>(prompt.greedy_ids.begin(),
                                          prompt.greedy_ids.begin() + static_cast<long>(want)));
          REQUIRE(results[r].step_logits.size() == want);
          for (std::size_t step = 0; step < want; ++step) {
            const double error =
                relative_error(results[r].step_logits[step], prompt.greedy_step_logits[step]);
            CHECK(error <= kTolerance);
            worst = std::max(worst, error);
          }
        }
      }
      // Log-likelihoods: a continuation after a context whose blocks another call computed.
      const ReferencePrompt& prompt = fixture.prompts.front();
      const std::span<const std::int32_t> context(prompt.ids.data(), prompt.ids.size() - 2);
      const std::span<const std::int32_t> continuation = std::span(prompt.ids).last(2);
      const double alone = model.continuation_log_likelihood(context, continuation);
      const std::int64_t before = shared.reused_tokens();
      CHECK(model.continuation_log_likelihood(context, continuation, &shared) ==
            Approx(alone).epsilon(1e-5));
      CHECK(shared.reused_tokens() - before ==
            (sharing ? static_cast<std::int64_t>((context.size() - 1) / 4 * 4) : 0));
      std::printf("%-26s shared prefixes: max relative error %.2e\n", name.c_str(), worst);
    }
  }
}

TEST_CASE("a model with learned positions refuses to run past its last position",
          "[model][bad-input]") {
  const ReferenceFixture fixture = load_reference_fixture("gpt2_unscaled_bf16_sharded");
  CpuBackend backend;
  Transformer model = load_reference_model(fixture, backend);
  const int positions = model.config().max_position_embeddings;  // 64
  KvCache cache(backend, model.config(), positions + 1);
  const std::vector<std::int32_t> too_long(static_cast<std::size_t>(positions + 1), 5);
  CHECK_THROWS_WITH(model.forward(too_long, cache, LogitsFor::last_token),
                    Catch::Matchers::Contains("65 tokens") &&
                        Catch::Matchers::Contains("64 learned positions") &&
                        Catch::Matchers::Contains("max_position_embeddings"));
  // Up to the last position it runs, and one decode step more is refused.
  const std::vector<std::int32_t> full(static_cast<std::size_t>(positions), 5);
  model.forward(full, cache, LogitsFor::last_token);
  const std::vector<std::int32_t> next{7};
  const std::vector<int> sequences{0};
  CHECK_THROWS_WITH(model.decode(next, sequences, cache),
                    Catch::Matchers::Contains("learned positions"));
}
