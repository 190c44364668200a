#include "llmpi/engine/generator.hpp"

#include <algorithm>
#include <chrono>
#include <optional>

#include "llmpi/core/error.hpp"
#include "llmpi/core/stop_request.hpp"
#include "llmpi/core/time_ledger.hpp"
#include "llmpi/model/sampler.hpp"

namespace llmpi {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void check_request(const ModelConfig& config, const GenerationRequest& request,
                   const GenerationRequest& first) {
  const auto& prompt = request.prompt;
  const auto& options = request.options;
  if (prompt.empty()) throw Error("generate: the prompt has no tokens");
  if (options.max_new_tokens < 1) throw Error("generate: --max-new-tokens must be at least 1");
  const auto total = static_cast<std::int64_t>(prompt.size()) + options.max_new_tokens;
  if (total > config.max_position_embeddings) {
    throw Error("generate: prompt (" + std::to_string(prompt.size()) + " tokens) + " +
                std::to_string(options.max_new_tokens) + " new tokens exceeds the model's " +
                std::to_string(config.max_position_embeddings) +
                " positions (max_position_embeddings in " + config.source + ")");
  }
  for (const std::int32_t id : prompt) {
    if (id < 0 || id >= config.vocab_size) {
      throw Error("generate: prompt token id " + std::to_string(id) +
                  " is outside the vocabulary [0, " + std::to_string(config.vocab_size) + ")");
    }
  }
  if (options.temperature != first.options.temperature || options.top_p != first.options.top_p) {
    throw Error("generate: requests batched together must share temperature and top_p");
  }
}

// One request's progress through the batch.
struct Sequence {
  explicit Sequence(const GenerationRequest& r) : request(&r), random(r.options.seed) {}
  const GenerationRequest* request;
  GenerationResult result;
  SeededRandom random;
  int slot = -1;  // its sequence in the KV cache, once admitted
  bool done = false;
  std::chrono::steady_clock::time_point decode_start;
};

}  // namespace

GenerationResult generate(Transformer& model, std::span<const std::int32_t> prompt,
                          const GenerationOptions& options) {
  const GenerationRequest request{prompt, options};
  return std::move(generate_batch(model, std::span(&request, 1), {.max_active = 1}).front());
}

BatchCacheShape batch_cache_shape(const ModelConfig& config,
                                  std::span<const GenerationRequest> requests,
                                  const BatchSettings& limits) {
  BatchCacheShape shape;
  for (const GenerationRequest& request : requests) {
    check_request(config, request, requests.front());
    shape.capacity =
        std::max<std::int64_t>(shape.capacity, static_cast<std::int64_t>(request.prompt.size()) +
                                                   request.options.max_new_tokens);
  }
  const auto count = static_cast<int>(requests.size());
  shape.sequences = limits.max_active > 0 ? std::min(limits.max_active, count) : count;
  // The pool: what the caller's memory allows, but never less than the longest request nor
  // more than every slot at that length could use.
  if (limits.block_tokens < 1) {
    throw Error("generate: KV cache blocks of " + std::to_string(limits.block_tokens) +
                " tokens (at least 1, a power of two)");
  }
  shape.block_tokens = limits.block_tokens;
  const std::int64_t block = limits.block_tokens;
  const std::int64_t longest = (shape.capacity + block - 1) / block * block;
  shape.pool_tokens =
      limits.kv_tokens > 0 ? std::clamp(limits.kv_tokens, longest, longest * shape.sequences) : 0;
  return shape;
}

std::vector<GenerationResult> generate_batch(Transformer& model,
                                             std::span<const GenerationRequest> requests,
                                             const BatchSettings& limits, KvCache* shared) {
  if (requests.empty()) return {};
  const ModelConfig& config = model.config();
  const BatchCacheShape shape = batch_cache_shape(config, requests, limits);
  const double temperature = requests.front().options.temperature;
  const double top_p = requests.front().options.top_p;

  std::vector<Sequence> sequences;
  for (const GenerationRequest& request : requests) {
    sequences.emplace_back(request);
  }
  std::optional<KvCache> own;
  if (shared == nullptr) {
    own.emplace(model.backend(), config, model.shard(), shape.capacity, shape.sequences,
                shape.pool_tokens, shape.block_tokens);
  } else if (shared->capacity() < shape.capacity) {
    throw Error("generate: the shared KV cache holds sequences of " +
                std::to_string(shared->capacity()) + " tokens; these requests need " +
                std::to_string(shape.capacity));
  } else {
    // A batch abandoned by an error may have left sequences behind: they hold nothing now.
    for (int sequence = 0; sequence < shared->sequences(); ++sequence) shared->release(sequence);
  }
  KvCache& cache = shared != nullptr ? *shared : *own;
  const int slots = std::min(shape.sequences, cache.sequences());

  // Every rank of the replica runs each step; the last stage's choices reach all of them.
  // `active` lists the sequences the logits rows belong to.
  auto take = [&](const Tensor& logits, std::span<const int> active) {
    const PhaseScope sampling(Phase::sampling);
    std::vector<std::int32_t> tokens;
    if (temperature > 0.0) {
      std::vector<SeededRandom> randoms;
      for (const int s : active) randoms.push_back(sequences[static_cast<std::size_t>(s)].random);
      tokens = model.sampled_tokens(logits, temperature, top_p, randoms);
      for (std::size_t r = 0; r < active.size(); ++r) {
        sequences[static_cast<std::size_t>(active[r])].random = randoms[r];
      }
    } else {
      tokens = model.greedy_tokens(logits, active.size());
    }
    const bool keep = model.shard().last_stage() && std::ranges::any_of(active, [&](int s) {
                        return sequences[static_cast<std::size_t>(s)].request->options.keep_logits;
                      });
    const std::vector<float> all = keep ? model.full_logits(logits) : std::vector<float>{};
    const auto vocab = static_cast<std::size_t>(config.vocab_size);
    for (std::size_t r = 0; r < active.size(); ++r) {
      Sequence& sequence = sequences[static_cast<std::size_t>(active[r])];
      const GenerationOptions& options = sequence.request->options;
      const std::int32_t token = tokens[r];
      if (keep && options.keep_logits) {
        sequence.result.step_logits.emplace_back(
            all.begin() + static_cast<std::ptrdiff_t>(r * vocab),
            all.begin() + static_cast<std::ptrdiff_t>((r + 1) * vocab));
      }
      sequence.result.tokens.push_back(token);
      const bool stopped = options.on_token && options.on_token(token);
      const bool eos = options.stop_at_eos &&
                       std::ranges::find(config.eos_token_ids, token) != config.eos_token_ids.end();
      sequence.done = stopped || eos ||
                      static_cast<int>(sequence.result.tokens.size()) >= options.max_new_tokens;
    }
  };

  // Requests enter in order while a slot is free and the pool has the blocks for their whole
  // length (prompt and every new token, reserved now, so a step never runs out): prefilled
  // alone, then decoded with every other active sequence until they stop, when their slot and
  // blocks go to the next request.
  const auto batch_start = std::chrono::steady_clock::now();
  std::vector<int> free_slots;
  for (int slot = slots - 1; slot >= 0; --slot) free_slots.push_back(slot);
  std::size_t next = 0;
  auto finish = [&](Sequence& sequence) {
    cache.release(sequence.slot);
    free_slots.push_back(sequence.slot);
  };
  auto admit = [&] {
    while (!free_slots.empty() && next < sequences.size()) {
      const int index = static_cast<int>(next);
      Sequence& sequence = sequences[static_cast<std::size_t>(index)];
      const std::span<const std::int32_t> prompt = sequence.request->prompt;
      const auto length = std::ssize(prompt) + sequence.request->options.max_new_tokens;
      // At least the prompt's last token is computed: its logits choose the first new token.
      const std::optional<std::int64_t> held =
          cache.admit(prompt, std::ssize(prompt) - 1, length, free_slots.back());
      if (!held) break;  // after some finish
      ++next;
      sequence.slot = free_slots.back();
      free_slots.pop_back();
      const auto clock = std::chrono::steady_clock::now();
      Tensor logits;
      {
        const PhaseScope prefill(Phase::prefill);
        logits = model.forward(prompt.subspan(static_cast<std::size_t>(*held)), cache,
                               LogitsFor::last_token, sequence.slot);
        cache.publish(prompt, sequence.slot);
      }
      sequence.result.reused_prompt_tokens = *held;
      take(logits, std::span(&index, 1));
      sequence.decode_start = std::chrono::steady_clock::now();
      sequence.result.prefill_seconds =
          std::chrono::duration<double>(sequence.decode_start - clock).count();
      sequence.result.first_token_seconds =
          std::chrono::duration<double>(sequence.decode_start - batch_start).count();
      if (sequence.done) finish(sequence);
    }
  };

  while (true) {
    admit();
    std::vector<int> active;
    std::vector<int> active_slots;
    std::vector<std::int32_t> inputs;
    for (std::size_t s = 0; s < sequences.size(); ++s) {
      if (sequences[s].slot < 0 || sequences[s].done) continue;
      active.push_back(static_cast<int>(s));
      active_slots.push_back(sequences[s].slot);
      inputs.push_back(sequences[s].result.tokens.back());
    }
    if (active.empty()) {
      if (next == sequences.size()) break;
      throw Error("generate: request " + std::to_string(next) + " needs more KV cache blocks (" +
                  std::to_string(cache.free_blocks()) + " of " +
                  std::to_string(cache.total_blocks()) + " free) than the pool has");
    }
    // A stop request anywhere in the replica abandons the batch on all its ranks at this step.
    if (const int signal = stop_signal(); model.any_rank_of_replica(signal != 0)) {
      throw Interrupted(signal);
    }
    Tensor logits;
    {
      const PhaseScope decode(Phase::decode);
      logits = model.decode(inputs, active_slots, cache);
    }
    take(logits, active);
    for (const int s : active) {
      Sequence& sequence = sequences[static_cast<std::size_t>(s)];
      if (!sequence.done) continue;
      sequence.result.decode_seconds = seconds_since(sequence.decode_start);
      finish(sequence);
    }
  }
  std::vector<GenerationResult> results;
  for (Sequence& sequence : sequences) results.push_back(std::move(sequence.result));
  return results;
}

}  // namespace llmpi
