#pragma once

#include <cstdint>
#include <span>

#include "llmpi/backend/backend.hpp"
#include "llmpi/config/model_config.hpp"
#include "llmpi/model/kv_cache.hpp"
#include "llmpi/model/model_weights.hpp"

namespace llmpi {

enum class LogitsFor { last_token, every_token };

// The decoder-only transformer of every supported architecture: one block parameterised by
// the few real differences (norm kind, MLP kind, parallel attention, separate MLP norm).
class Transformer {
 public:
  Transformer(ModelConfig config, ModelWeights weights, Backend& backend);

  // Runs `tokens` (continuing the sequence held in `cache`), appends their keys and values to
  // the cache, and returns logits [1 or tokens, vocab].
  Tensor forward(std::span<const std::int32_t> tokens, KvCache& cache, LogitsFor which);

  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  Backend& backend() { return backend_; }

 private:
  Tensor norm(const Tensor& x, const Tensor& weight, const Tensor& bias);
  Tensor attention(const Tensor& normed, const LayerWeights& layer, int layer_index, KvCache& cache,
                   std::span<const std::int32_t> positions);
  Tensor mlp(const Tensor& normed, const LayerWeights& layer);

  ModelConfig config_;
  ModelWeights weights_;
  Backend& backend_;
};

}  // namespace llmpi
