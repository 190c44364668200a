#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "llmpi/backend/backend.hpp"
#include "llmpi/config/model_config.hpp"
#include "llmpi/dist/comm.hpp"
#include "llmpi/model/kv_cache.hpp"
#include "llmpi/model/model_shard.hpp"
#include "llmpi/model/model_weights.hpp"
#include "llmpi/model/sampler.hpp"

namespace llmpi {

enum class LogitsFor { last_token, every_token };

// The communicators a sharded model uses; null where the layout has one rank.
struct ModelComms {
  Comm* tp = nullptr;  // this rank's tensor-parallel group
  Comm* pp = nullptr;  // this rank's pipeline chain (same dp and tp rank, all stages)
};

// The decoder-only transformer of every supported architecture: one block parameterised by
// the few real differences (norm kind, MLP kind, parallel attention, separate MLP norm,
// rotary or learned positions, and StripedHyena 2's Hyena operators in place of attention in
// some layers), computing this rank's shard: column-parallel Q/K/V and up projections, row-parallel
// output and down projections with one all-reduce each (one per layer for parallel attention +
// MLP), vocabulary-parallel embedding and head, activations handed stage to stage.
class Transformer {
 public:
  Transformer(ModelConfig config, ModelWeights weights, Backend& backend);
  Transformer(ModelConfig config, ModelWeights weights, Backend& backend, const ModelShard& shard,
              ModelComms comms);

  // The most tokens one forward pass runs at once (batch.max_tokens, what the planner sized
  // the activations for; 0: no limit). Longer prompts are prefilled in chunks of this size.
  void set_step_tokens(std::int64_t tokens) { step_tokens_ = tokens; }

  // Runs `tokens` (continuing sequence `sequence` of `cache`) through this rank's layers.
  // Every rank of a replica calls it with the same tokens. Returns this rank's logits
  // [1 or tokens, vocab rows of this rank] on the last stage, an empty tensor elsewhere.
  Tensor forward(std::span<const std::int32_t> tokens, KvCache& cache, LogitsFor which,
                 int sequence = 0);
  // One decode step for a batch: tokens[r] continues sequence sequences[r] of `cache` (all
  // different). The weights are read once for the whole batch. Returns this rank's logits
  // [rows, vocab rows of this rank] on the last stage, an empty tensor elsewhere.
  Tensor decode(std::span<const std::int32_t> tokens, std::span<const int> sequences,
                KvCache& cache);

  // The greedy token of each of the `rows` logits rows, agreed by every rank of the replica
  // (ranks before the last stage hold no logits but know how many rows there are).
  std::vector<std::int32_t> greedy_tokens(const Tensor& logits, std::size_t rows);
  // A token sampled from each logits row (temperature, top-p), row r drawing from randoms[r].
  // The TP ranks of the last stage sample together from their vocabulary slices (only per-row
  // sums and maxima cross the group) with identical random streams, so they agree; the tokens
  // then reach every stage. The streams must be advanced alike on those ranks (one draw per
  // row per step).
  std::vector<std::int32_t> sampled_tokens(const Tensor& logits, double temperature, double top_p,
                                           std::span<SeededRandom> randoms);
  // Every logits row over the whole vocabulary (gathered across TP; last stage only).
  std::vector<float> full_logits(const Tensor& logits);
  // log p(targets[r]) under logits row r (last stage only). Each TP rank reduces its own
  // vocabulary rows to (max, sum of exponentials) and the target's logit; only those few
  // numbers per row cross the TP group, never the logits.
  std::vector<double> log_probs(const Tensor& logits, std::span<const std::int32_t> targets);
  // Sum of log p(continuation token | everything before it) for context + continuation, known
  // to every rank of the replica. Runs its own forward pass from an empty cache, or in sequence
  // 0 of `shared` (a cache sharing prefixes, its sequence 0 empty), where the context's leading
  // blocks another call computed are reused and its own are offered to the next. It runs
  // log_likelihood_tokens(context + continuation) tokens, which `shared` must have room for.
  // The tokens continuation_log_likelihood runs for a text of `text_tokens`: all but the last,
  // which predicts nothing; all of them with FP8 input projections, whose scales depend on
  // every row of a call (evo2 scores a sequence in one call over all of it).
  std::int64_t log_likelihood_tokens(std::int64_t text_tokens) const {
    return config_.hyena.fp8_input_projections ? text_tokens : text_tokens - 1;
  }
  // Whether this rank's FP8 input projections run as FP8 GEMMs (E4M3 weights on a backend
  // with FP8 tensor cores) rather than emulated; false without FP8 projections.
  bool runs_fp8_gemms() const;
  double continuation_log_likelihood(std::span<const std::int32_t> context,
                                     std::span<const std::int32_t> continuation,
                                     KvCache* shared = nullptr);

  // Whether `flag` is true on any rank of the replica; every rank of it must call this at the
  // same point (how a stop request seen by one rank stops them all at one step).
  bool any_rank_of_replica(bool flag);

  const ModelConfig& config() const { return config_; }
  const ModelShard& shard() const { return shard_; }
  const ModelWeights& weights() const { return weights_; }
  Backend& backend() { return backend_; }

 private:
  Tensor forward_chunk(std::span<const std::int32_t> tokens, KvCache& cache, LogitsFor which,
                       int sequence);
  void check_tokens(std::span<const std::int32_t> tokens) const;
  void check_positions(std::int64_t length, int sequence) const;
  Tensor norm(const Tensor& x, const Tensor& weight, const Tensor& bias);
  // x += delta (nothing when delta is empty), then norm(x): one pass where the backend fuses it.
  Tensor add_then_norm(Tensor& x, const Tensor& delta, const Tensor& weight, const Tensor& bias);
  struct Step;
  Tensor run_layers(std::span<const std::int32_t> tokens, const Step& step, KvCache& cache);
  Tensor attention(const Tensor& normed, const LayerWeights& layer, int local_layer, KvCache& cache,
                   const Step& step);
  Tensor logits_of(const Tensor& hidden);
  std::vector<std::int32_t> tell_every_stage(std::vector<std::int32_t> tokens);
  // StripedHyena 2's Hyena operator on this rank's channels (a partial sum like attention's).
  Tensor hyena(const Tensor& normed, const LayerWeights& layer, int local_layer, KvCache& cache,
               const Step& step);
  // The Hyena input projections (normed x W^T), as FP8 GEMMs where the config asks for them.
  void hyena_projection(const Tensor& normed, const LayerWeights& layer, const Step& step,
                        Tensor& out);
  // FP8 input projections: each Hyena layer's weight to E4M3 with one scale for the whole
  // tensor (its largest magnitude agreed across the TP group), once, at construction.
  void quantize_hyena_projections();
  Tensor mlp(const Tensor& normed, const LayerWeights& layer, int local_layer);
  RmsEpsilon rms_epsilon() const;
  void tp_sum(Tensor& partial);
  Tensor receive_activations(std::int64_t tokens);
  void send_activations(const Tensor& x);

  ModelConfig config_;
  ModelWeights weights_;
  Backend& backend_;
  ModelShard shard_;
  ModelComms comms_;
  std::int64_t step_tokens_ = 0;
};

}  // namespace llmpi
