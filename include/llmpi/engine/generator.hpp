#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "llmpi/model/transformer.hpp"

namespace llmpi {

struct GenerationOptions {
  int max_new_tokens = 32;
  bool stop_at_eos = true;   // stop after emitting one of config.json's eos ids
  bool keep_logits = false;  // return the logits that chose each token (tests, scoring)
  double temperature = 0.0;  // 0: greedy; otherwise sampling with top_p from `seed`
  double top_p = 1.0;
  std::uint64_t seed = 0;
  // Called on every rank for each new token; true ends generation (stop strings). Every rank
  // sees the same tokens, so every rank decides the same.
  std::function<bool(std::int32_t)> on_token;
};

struct GenerationResult {
  std::vector<std::int32_t> tokens;             // new tokens only
  std::vector<std::vector<float>> step_logits;  // when keep_logits (last pipeline stage only)
  double prefill_seconds = 0.0;
  double decode_seconds = 0.0;  // every step after the first token
};

// Decoding of one sequence, greedy or sampled: prefill the prompt, then one token per step
// through the KV cache. Every rank of the replica calls it and gets the same tokens. The
// batching scheduler builds on the same forward pass.
GenerationResult generate(Transformer& model, std::span<const std::int32_t> prompt,
                          const GenerationOptions& options);

}  // namespace llmpi
