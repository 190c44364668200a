#include "reference_fixture.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "checkpoint_writer.hpp"
#include "llmpi/model/checkpoint.hpp"
#include "llmpi/model/model_weights.hpp"

namespace llmpi::testing {

std::filesystem::path fixtures_dir() {
  return LLMPI_FIXTURES_DIR;
}

GenerationOptions greedy_options(const ReferencePrompt& prompt, int fewer) {
  GenerationOptions options;
  options.max_new_tokens = static_cast<int>(prompt.greedy_ids.size()) - fewer;
  options.stop_at_eos = false;
  options.keep_logits = true;
  return options;
}

std::vector<GenerationRequest> greedy_requests_twice(const ReferenceFixture& fixture) {
  std::vector<GenerationRequest> requests;
  for (const int fewer : {0, 7}) {
    for (const ReferencePrompt& prompt : fixture.prompts) {
      requests.push_back({prompt.ids, greedy_options(prompt, fewer)});
    }
  }
  return requests;
}

std::vector<std::string> reference_fixture_names() {
  return {"llama_gqa_f32",           "llama_tied_f16",
          "falcon_mqa_f16",          "falcon_gqa_bf16_sharded",
          "falcon_seq_bias_f32",     "gpt2_tied_f32",
          "gpt2_untied_inverse_f16", "gpt2_unscaled_bf16_sharded",
          "evo2_tiny_f32",           "evo2_tiny_untied_f32",
          "evo2_tiny_long_f32",      "evo2_tiny_fp8_f32"};
}

ReferenceFixture load_reference_fixture(const std::string& name) {
  ReferenceFixture fixture;
  fixture.name = name;
  fixture.dir = fixtures_dir() / name;
  const auto json = nlohmann::json::parse(read_text(fixture.dir / "reference.json"));
  fixture.bf16_rel_logits = json.value("bf16_rel_logits", 0.0);
  for (const auto& prompt : json.at("prompts")) {
    ReferencePrompt p;
    p.ids = prompt.at("ids").get<std::vector<std::int32_t>>();
    p.logits = prompt.at("logits").get<std::vector<std::vector<float>>>();
    p.greedy_ids = prompt.at("greedy_ids").get<std::vector<std::int32_t>>();
    p.greedy_step_logits = prompt.at("greedy_step_logits").get<std::vector<std::vector<float>>>();
    fixture.prompts.push_back(std::move(p));
  }
  return fixture;
}

double bf16_tolerance(const ReferenceFixture& fixture) {
  return std::max(5e-2, 2.0 * fixture.bf16_rel_logits);
}

double relative_error(std::span<const float> actual, std::span<const float> expected) {
  if (actual.size() != expected.size()) {
    throw std::runtime_error("relative_error: sizes differ");
  }
  double difference = 0.0;
  double reference = 0.0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double d = static_cast<double>(actual[i]) - expected[i];
    difference += d * d;
    reference += static_cast<double>(expected[i]) * expected[i];
  }
  return std::sqrt(difference) / std::sqrt(reference);
}

TempDir::TempDir(const std::string& label)
    : path_(std::filesystem::temp_directory_path() /
            ("llmpi-" + label + "-" + std::to_string(::getpid()))) {
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

Transformer load_reference_model(const ReferenceFixture& fixture, Backend& backend) {
  ModelConfig config = load_model_config(fixture.dir);
  Checkpoint checkpoint(fixture.dir);
  ModelWeights weights = load_model_weights(config, checkpoint, backend);
  return Transformer(std::move(config), std::move(weights), backend);
}

}  // namespace llmpi::testing
