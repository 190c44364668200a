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

// How far (relative error per logits row) the CUDA backend's bf16 may be from an fp32 result
// for this model: 5e-2; 0.5 with FP8 input projections, where bf16 weights and projection
// inputs move E4M3 roundings by a whole step (on the CPU, those roundings alone put
// evo2_tiny_fp8_f32's logits up to 0.38 from its fp32 reference, 0.04 without FP8). The FP8
// kernels themselves are checked against the CPU on the same inputs (test_cuda_ops.cpp).
double bf16_tolerance(const ModelConfig& config);

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
