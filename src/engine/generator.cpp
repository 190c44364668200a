#include "llmpi/engine/generator.hpp"

#include <algorithm>
#include <chrono>

#include "llmpi/core/error.hpp"
#include "llmpi/model/sampler.hpp"

namespace llmpi {

namespace {
double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}
}  // namespace

GenerationResult generate(Transformer& model, std::span<const std::int32_t> prompt,
                          const GenerationOptions& options) {
  const ModelConfig& config = model.config();
  if (prompt.empty()) throw Error("generate: the prompt has no tokens");
  if (options.max_new_tokens < 1) throw Error("generate: --max-new-tokens must be at least 1");
  const auto total = static_cast<std::int64_t>(prompt.size()) + options.max_new_tokens;
  if (total > config.max_position_embeddings) {
    throw Error("generate: prompt (" + std::to_string(prompt.size()) + " tokens) + " +
                std::to_string(options.max_new_tokens) + " new tokens exceeds the model's " +
                std::to_string(config.max_position_embeddings) +
                " positions (max_position_embeddings in " + config.source + ")");
  }
  for (std::int32_t id : prompt) {
    if (id < 0 || id >= config.vocab_size) {
      throw Error("generate: prompt token id " + std::to_string(id) +
                  " is outside the vocabulary [0, " + std::to_string(config.vocab_size) + ")");
    }
  }

  KvCache cache(model.backend(), config, model.shard(), total);
  GenerationResult result;
  bool stopped = false;
  SeededRandom random(options.seed);
  // Every rank of the replica runs each step; the last stage's choice reaches all of them.
  auto take = [&](const Tensor& logits) {
    if (options.keep_logits && model.shard().last_stage()) {
      result.step_logits.push_back(model.full_logits(logits));
    }
    const std::int32_t token =
        options.temperature > 0.0
            ? model.sampled_token(logits, options.temperature, options.top_p, random)
            : model.greedy_token(logits);
    result.tokens.push_back(token);
    if (options.on_token && options.on_token(token)) stopped = true;
    return token;
  };
  auto is_eos = [&](std::int32_t token) {
    return options.stop_at_eos &&
           std::find(config.eos_token_ids.begin(), config.eos_token_ids.end(), token) !=
               config.eos_token_ids.end();
  };

  auto clock = std::chrono::steady_clock::now();
  std::int32_t token = take(model.forward(prompt, cache, LogitsFor::last_token));
  result.prefill_seconds = seconds_since(clock);

  clock = std::chrono::steady_clock::now();
  while (static_cast<int>(result.tokens.size()) < options.max_new_tokens && !is_eos(token) &&
         !stopped) {
    const std::int32_t input[] = {token};
    token = take(model.forward(input, cache, LogitsFor::last_token));
  }
  result.decode_seconds = seconds_since(clock);
  return result;
}

}  // namespace llmpi
