#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "llmpi/backend/backend.hpp"
#include "llmpi/engine/generator.hpp"
#include "llmpi/model/transformer.hpp"

namespace llmpi::testing {

// Hugging Face's outputs for one prompt of a fixture (scripts/make_reference_fixtures.py).
struct ReferencePrompt {
  std::vector<std::int32_t> ids;
  std::vector<std::vector<float>> logits;  // per prompt position
  std::vector<std::int32_t> greedy_ids;
  std::vector<std::vector<float>> greedy_step_logits;
};

struct ReferenceFixture {
  std::string name;
  std::filesystem::path dir;
  std::vector<ReferencePrompt> prompts;
  // How far the reference's own bf16 run puts the prompt logits from these fp32 ones (max
  // relative error per row; the Evo 2 fixtures record it, 0 where not recorded).
  double bf16_rel_logits = 0.0;
};

std::filesystem::path fixtures_dir();
std::vector<std::string> reference_fixture_names();
ReferenceFixture load_reference_fixture(const std::string& name);

// The fixture's checkpoint as a whole (unsharded) model on `backend`.
Transformer load_reference_model(const ReferenceFixture& fixture, Backend& backend);

// Greedy generation of a prompt's recorded continuation (minus its last `fewer` tokens),
// ignoring EOS and keeping every step's logits.
GenerationOptions greedy_options(const ReferencePrompt& prompt, int fewer = 0);

// Every prompt of the fixture twice, the second copies stopping 7 tokens early, so sequences
// leave a batch at different steps.
std::vector<GenerationRequest> greedy_requests_twice(const ReferenceFixture& fixture);

// How far (relative error per logits row) a bf16 backend may be from the fixture's fp32
// logits: 5e-2, or twice what the reference itself moves when run in bf16 where the fixture
// records that. Tiny random Evo 2 models amplify rounding: vtx's own bf16 run is 0.04 to 0.29
// from its fp32 one (0.19 with the FP8 projections).
double bf16_tolerance(const ReferenceFixture& fixture);

// ||actual - expected||_2 / ||expected||_2
double relative_error(std::span<const float> actual, std::span<const float> expected);

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& label);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace llmpi::testing
