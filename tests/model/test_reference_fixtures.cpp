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

Transformer load_model(const ReferenceFixture& fixture, Backend& backend) {
  ModelConfig config = load_model_config(fixture.dir);
  Checkpoint checkpoint(fixture.dir);
  ModelWeights weights = load_model_weights(config, checkpoint, backend);
  return Transformer(std::move(config), std::move(weights), backend);
}
}  // namespace

TEST_CASE("logits and greedy tokens match Hugging Face on every reference fixture",
          "[model][reference]") {
  for (const std::string& name : reference_fixture_names()) {
    DYNAMIC_SECTION(name) {
      const ReferenceFixture fixture = load_reference_fixture(name);
      CpuBackend backend;
      Transformer model = load_model(fixture, backend);
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

        GenerationOptions options;
        options.max_new_tokens = static_cast<int>(prompt.greedy_ids.size());
        options.stop_at_eos = false;
        options.keep_logits = true;
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
