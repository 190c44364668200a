#pragma once

#include <cstdint>

#include "llmpi/backend/backend.hpp"
#include "llmpi/config/model_config.hpp"
#include "llmpi/model/model_shard.hpp"
#include "llmpi/model/model_weights.hpp"

namespace llmpi {

// Random stand-ins for one rank's weights, in exactly the shapes load_model_weights gives that
// shard (biases, norms, tied head included): what benchmarks at a real model's shape run on
// when the checkpoint is not at hand, the weight matrices as a bf16 checkpoint gives them (kept
// so where the backend holds weights as stored). Values are N(0, 0.02) (norm weights 1); each
// tensor is a
// random block tiled down its rows, since timing does not depend on the values.
ModelWeights random_model_weights(const ModelConfig& config, const ModelShard& shard,
                                  Backend& backend, std::uint32_t seed);

// The same tiling for any tensor (a KV cache filled with plausible values, say).
void fill_random(Backend& backend, Tensor& tensor, std::uint32_t seed);

}  // namespace llmpi
