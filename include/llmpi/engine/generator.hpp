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
  double prefill_seconds = 0.0;                 // this request's own prefill
  double first_token_seconds = 0.0;  // from the batch's start: waiting for a slot, then prefill
  double decode_seconds = 0.0;       // from its first token until it finished (the batch's steps,
                                     // and the prefills of requests admitted meanwhile)
  std::int64_t reused_prompt_tokens = 0;  // leading prompt tokens a shared prefix spared
};

struct GenerationRequest {
  std::span<const std::int32_t> prompt;
  GenerationOptions options;
};

// Decoding of one sequence, greedy or sampled: prefill the prompt, then one token per step
// through the KV cache. Every rank of the replica calls it and gets the same tokens.
GenerationResult generate(Transformer& model, std::span<const std::int32_t> prompt,
                          const GenerationOptions& options);

// How much one generate_batch call may hold at once.
struct BatchSettings {
  int max_active = 0;          // sequences at once (0: all)
  std::int64_t kv_tokens = 0;  // the paged KV cache's tokens (0: every active sequence at the
                               // longest request's length; never less than that length)
  int block_tokens = KvCache::kDefaultBlockTokens;
};

// Decoding of several sequences together (continuous batching): up to limits.max_active
// sequences run at once, their keys and values in a paged KV cache of limits.kv_tokens tokens.
// Requests are admitted in order while a slot is free and the cache can reserve their whole
// length (prompt + max_new_tokens); each is prefilled alone, then every active sequence
// advances one token per step in one batched pass, so the weights are read once per step for
// all of them. A sequence that stops returns its blocks for the next request. Each sequence is
// computed as `generate` computes it alone, up to the summation order of batched products.
// All requests share temperature and top_p. Results come back in request order.
//
// With `shared` (a cache sharing prefixes, kept by the caller across calls, its shape at least
// batch_cache_shape's), each prompt starts from the blocks of its leading tokens an earlier
// sequence computed, and offers its own to the next; its slots bound the sequences at once.
std::vector<GenerationResult> generate_batch(Transformer& model,
                                             std::span<const GenerationRequest> requests,
                                             const BatchSettings& limits = {},
                                             KvCache* shared = nullptr);

// The paged KV cache generate_batch uses for `requests` within `limits`: sequences of up to
// the longest request's length, as many at once as limits.max_active allows, and a pool of
// limits.kv_tokens clamped between one and every such sequence.
struct BatchCacheShape {
  std::int64_t capacity = 0;
  int sequences = 0;
  std::int64_t pool_tokens = 0;  // 0: capacity for each sequence
  int block_tokens = KvCache::kDefaultBlockTokens;
};
BatchCacheShape batch_cache_shape(const ModelConfig& config,
                                  std::span<const GenerationRequest> requests,
                                  const BatchSettings& limits);

}  // namespace llmpi
