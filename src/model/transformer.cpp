#include "llmpi/model/transformer.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "llmpi/backend/fp8_e4m3.hpp"
#include "llmpi/core/error.hpp"

namespace llmpi {

namespace {
// A flat [1, count] view of `count` elements of `t` starting at element `first`.
Tensor flat_view(const Tensor& t, std::int64_t first, std::int64_t count) {
  Tensor view = t;
  view.data = static_cast<char*>(t.data) + static_cast<std::size_t>(first) * dtype_size(t.dtype);
  view.rows = 1;
  view.cols = count;
  return view;
}
}  // namespace

// Where one forward step's tokens go: their positions and cache rows, and either one sequence's
// causal block (prefill, or decoding a single sequence) or one token for each of several.
struct Transformer::Step {
  std::vector<std::int32_t> positions;
  std::vector<std::int32_t> cache_rows;  // where each token's key and value go
  bool batched = false;
  // One sequence: the position of its first new token, and where its keys 0 .. start + tokens
  // are: from one pool row on (a fresh pool's usual case), or else row by row.
  std::int64_t start = 0;
  std::optional<std::int64_t> first_row;
  std::vector<std::int32_t> history_rows;
  // Batched: each row's sequence's block table and key count (the new key included).
  std::vector<std::int32_t> block_table;
  int blocks_per_row = 0;
  std::vector<std::int32_t> key_count;
  // Each row's sequence: its row of the Hyena layers' recurrent states.
  std::vector<std::int32_t> state_slots;
};

namespace {
// Takes the blocks `tokens` tokens of `sequence` need, or fails naming the pool.
void hold(KvCache& cache, std::int64_t tokens, int sequence, const char* what) {
  if (tokens > cache.capacity()) {
    throw Error(std::string(what) + ": sequence " + std::to_string(sequence) + " of " +
                std::to_string(tokens) + " tokens exceeds the KV cache capacity of " +
                std::to_string(cache.capacity()) + " tokens");
  }
  if (!cache.reserve(tokens, sequence)) {
    throw Error(std::string(what) + ": sequence " + std::to_string(sequence) + " of " +
                std::to_string(tokens) + " tokens needs more KV cache blocks than the " +
                std::to_string(cache.free_blocks()) + " free of " +
                std::to_string(cache.total_blocks()) +
                " (admit fewer sequences at once, or give the cache more memory)");
  }
}
}  // namespace

Transformer::Transformer(ModelConfig config, ModelWeights weights, Backend& backend)
    : Transformer(config, std::move(weights), backend, whole_model(config), ModelComms{}) {}

Transformer::Transformer(ModelConfig config, ModelWeights weights, Backend& backend,
                         const ModelShard& shard, ModelComms comms)
    : config_(std::move(config)),
      weights_(std::move(weights)),
      backend_(backend),
      shard_(shard),
      comms_(comms) {
  if (config_.hyena.fp8_input_projections) quantize_hyena_projections();
}

void Transformer::quantize_hyena_projections() {
  for (std::size_t local = 0; local < weights_.layers.size(); ++local) {
    if (config_.mixer(shard_.layer_begin + static_cast<int>(local)) == MixerKind::attention) {
      continue;
    }
    LayerWeights& layer = weights_.layers[local];
    Tensor& weight = layer.hyena_projection;
    std::vector<float> values = backend_.download(weight);
    const auto count = static_cast<std::int64_t>(values.size());
    // Evo2-40B's projections are 8.5 G values in all: the loops use the node's cores.
    float amax = 0.0f;
#pragma omp parallel for reduction(max : amax)
    for (std::int64_t i = 0; i < count; ++i) amax = std::fmax(amax, std::fabs(values[i]));
    if (comms_.tp != nullptr) {  // the scale is the whole tensor's, as TE's
      std::int64_t rank = 0;
      comms_.tp->arg_max(std::span(&amax, 1), std::span(&rank, 1));
    }
    const float scale = e4m3_scale(amax);
#pragma omp parallel for
    for (std::int64_t i = 0; i < count; ++i) values[i] = round_to_e4m3(values[i] * scale);
    // As E4M3 bytes where the backend multiplies them on FP8 tensor cores (half bf16's
    // memory), else as E4M3 values in the weight's own dtype.
    const DType stored =
        backend_.runs_e4m3_linear(weight.rows, weight.cols) ? DType::e4m3 : weight.dtype;
    weight = backend_.upload_weight(values, weight.rows, weight.cols, stored);
    layer.hyena_projection_inverse_scale *= 1.0f / scale;  // weights quantized twice stay right
  }
}

bool Transformer::runs_fp8_gemms() const {
  return std::any_of(weights_.layers.begin(), weights_.layers.end(),
                     [](const LayerWeights& l) { return l.hyena_projection.dtype == DType::e4m3; });
}

RmsEpsilon Transformer::rms_epsilon() const {
  return config_.norm == NormKind::rms_norm_eps_on_root ? RmsEpsilon::on_root : RmsEpsilon::in_mean;
}

Tensor Transformer::norm(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  Tensor out = backend_.allocate(x.rows, x.cols);
  if (config_.norm != NormKind::layer_norm) {
    backend_.rms_norm(x, weight, config_.norm_eps, out, rms_epsilon());
  } else {
    backend_.layer_norm(x, weight, bias, config_.norm_eps, out);
  }
  return out;
}

Tensor Transformer::add_then_norm(Tensor& x, const Tensor& delta, const Tensor& weight,
                                  const Tensor& bias) {
  if (delta.empty()) return norm(x, weight, bias);
  Tensor out = backend_.allocate(x.rows, x.cols);
  if (config_.norm != NormKind::layer_norm) {
    backend_.add_rms_norm(x, delta, weight, config_.norm_eps, out, rms_epsilon());
  } else {
    backend_.add_layer_norm(x, delta, weight, bias, config_.norm_eps, out);
  }
  return out;
}

void Transformer::tp_sum(Tensor& partial) {
  if (comms_.tp != nullptr && shard_.tp_size > 1) comms_.tp->all_reduce_sum(partial);
}

Tensor Transformer::attention(const Tensor& normed, const LayerWeights& layer, int local_layer,
                              KvCache& cache, const Step& step) {
  const std::int64_t tokens = normed.rows;
  const int heads = shard_.heads.q_count;
  const int kv_heads = shard_.heads.kv_count;
  const std::int64_t q_size = static_cast<std::int64_t>(heads) * config_.head_dim;
  const std::int64_t kv_size = static_cast<std::int64_t>(kv_heads) * config_.head_dim;
  Tensor qkv = backend_.allocate(tokens, q_size + 2 * kv_size);
  backend_.linear(normed, layer.qkv_weight, layer.qkv_bias, qkv);
  Tensor q = backend_.allocate(tokens, q_size);
  Tensor& pool_keys = cache.keys(local_layer);
  Tensor& pool_values = cache.values(local_layer);
  const float theta =
      config_.position_encoding == PositionEncoding::rotary ? config_.rope_theta : 0.0f;
  backend_.qkv_into_cache(qkv, config_.head_dim, step.positions, theta,
                          config_.rope_position_divisor, step.cache_rows, q, pool_keys,
                          pool_values);
  Tensor context = backend_.allocate(tokens, q_size);
  if (step.batched) {
    const PagedKeys paged{step.block_table, step.blocks_per_row, cache.block_tokens(),
                          step.key_count};
    backend_.decode_attention(q, pool_keys, pool_values, heads, kv_heads, config_.head_dim, paged,
                              context);
  } else if (step.first_row) {
    // The sequence's rows are consecutive: attend in place.
    const std::int64_t seen = step.start + tokens;
    backend_.attention(q, pool_keys.row_range(*step.first_row, seen),
                       pool_values.row_range(*step.first_row, seen), heads, kv_heads,
                       config_.head_dim, step.start, context);
  } else {
    // Blocks out of order: gather the sequence's keys once per layer, then attend as usual.
    const auto seen = static_cast<std::int64_t>(step.history_rows.size());
    Tensor keys = backend_.allocate(seen, kv_size);
    Tensor values = backend_.allocate(seen, kv_size);
    backend_.gather_rows(pool_keys, step.history_rows, keys);
    backend_.gather_rows(pool_values, step.history_rows, values);
    backend_.attention(q, keys, values, heads, kv_heads, config_.head_dim, step.start, context);
  }
  // Row-parallel: a partial sum over this rank's heads (the bias is on TP rank 0 only).
  Tensor out = backend_.allocate(tokens, config_.hidden_size);
  backend_.linear(context, layer.output_weight, layer.output_bias, out);
  return out;
}

Tensor Transformer::hyena(const Tensor& normed, const LayerWeights& layer, int local_layer,
                          KvCache& cache, const Step& step) {
  const std::int64_t tokens = normed.rows;
  const std::int64_t channels = shard_.hyena_channel_count;
  const MixerKind kind = config_.mixer(shard_.layer_begin + local_layer);
  // Input projections, then the short FIR over all three of each channel's projections.
  Tensor projected = backend_.allocate(tokens, 3 * channels);
  hyena_projection(normed, layer, step, projected);
  Tensor filtered = backend_.allocate(tokens, 3 * channels);
  backend_.causal_conv(projected, layer.short_filter, 1, Tensor{},
                       cache.short_filter_state(local_layer), step.state_slots, filtered);
  projected = Tensor{};
  Tensor u = backend_.allocate(tokens, channels);
  backend_.hyena_input(filtered, u);
  // The long operator: an explicit filter per group of channels, or the modal recurrence.
  Tensor y = backend_.allocate(tokens, channels);
  Tensor& state = cache.operator_state(local_layer);
  if (kind == MixerKind::hyena_long) {
    backend_.modal_scan(u, layer.log_poles, layer.residues, layer.hyena_skip, state,
                        step.state_slots, y);
  } else {
    backend_.causal_conv(u, layer.hyena_filter, config_.hyena_group_width(kind), layer.hyena_skip,
                         state, step.state_slots, y);
  }
  Tensor gated = backend_.allocate(tokens, channels);
  backend_.hyena_output(filtered, y, gated);
  // Row-parallel: a partial sum over this rank's channels (the bias on TP rank 0 only).
  Tensor out = backend_.allocate(tokens, config_.hidden_size);
  backend_.linear(gated, layer.output_weight, layer.output_bias, out);
  return out;
}

void Transformer::hyena_projection(const Tensor& normed, const LayerWeights& layer,
                                   const Step& step, Tensor& out) {
  if (!config_.hyena.fp8_input_projections) {
    backend_.linear(normed, layer.hyena_projection, Tensor{}, out);
    return;
  }
  // TE scales what one call of its Linear sees: a prefill chunk of one sequence, or in a
  // batched decode step each sequence's one token (evo2 runs one sequence per call).
  const bool fp8_gemm = layer.hyena_projection.dtype == DType::e4m3;
  Tensor quantized = fp8_gemm ? backend_.allocate_e4m3(normed.rows, normed.cols)
                              : backend_.allocate(normed.rows, normed.cols);
  Tensor inverse_scales = backend_.allocate_state(normed.rows, 1);
  backend_.quantize_e4m3(normed, step.batched ? Fp8Scaling::per_row : Fp8Scaling::per_tensor,
                         quantized, inverse_scales);
  backend_.linear(quantized, layer.hyena_projection, Tensor{}, out);
  backend_.scale_rows(out, inverse_scales, layer.hyena_projection_inverse_scale);
}

Tensor Transformer::mlp(const Tensor& normed, const LayerWeights& layer, int local_layer) {
  const std::int64_t tokens = normed.rows;
  const std::int64_t inter = shard_.intermediate_count;
  Tensor hidden;
  if (config_.mlp == MlpKind::swiglu || config_.mlp == MlpKind::evo2_gated) {
    Tensor gate_up = backend_.allocate(tokens, 2 * inter);
    backend_.linear(normed, layer.up_weight, layer.up_bias, gate_up);
    hidden = backend_.allocate(tokens, inter);
    // evo2_style_activations: the first block's MLP is GELU-gated, every later one bilinear.
    const GateActivation activation = config_.mlp == MlpKind::swiglu ? GateActivation::silu
                                      : shard_.layer_begin + local_layer == 0
                                          ? GateActivation::gelu
                                          : GateActivation::identity;
    backend_.gated_mul(gate_up, activation, hidden);
  } else {
    hidden = backend_.allocate(tokens, inter);
    backend_.linear(normed, layer.up_weight, layer.up_bias, hidden);
    if (config_.mlp == MlpKind::gelu_tanh) {
      backend_.gelu_tanh(hidden);
    } else {
      backend_.gelu(hidden);
    }
  }
  Tensor out = backend_.allocate(tokens, config_.hidden_size);
  backend_.linear(hidden, layer.down_weight, layer.down_bias, out);
  return out;
}

// Between stages each TP rank moves only its 1/tp share of the activations; the receiving TP
// group all-gathers them, so traffic across nodes is not multiplied by tp.
void Transformer::send_activations(const Tensor& x) {
  const std::int64_t total = x.numel();
  const int tp = shard_.tp_size;
  if (total % tp != 0) {
    comms_.pp->send(flat_view(x, 0, total), shard_.pp_rank + 1);
    return;
  }
  const std::int64_t share = total / tp;
  comms_.pp->send(flat_view(x, share * shard_.tp_rank, share), shard_.pp_rank + 1);
}

Tensor Transformer::receive_activations(std::int64_t tokens) {
  Tensor x = backend_.allocate(tokens, config_.hidden_size);
  const std::int64_t total = x.numel();
  const int tp = shard_.tp_size;
  if (total % tp != 0 || tp == 1) {
    Tensor all = flat_view(x, 0, total);
    comms_.pp->receive(all, shard_.pp_rank - 1);
    return x;
  }
  Tensor share = backend_.allocate(1, total / tp);
  comms_.pp->receive(share, shard_.pp_rank - 1);
  Tensor all = flat_view(x, 0, total);
  comms_.tp->all_gather(share, all);
  return x;
}

Tensor Transformer::forward(std::span<const std::int32_t> tokens, KvCache& cache, LogitsFor which,
                            int sequence) {
  const auto count = static_cast<std::int64_t>(tokens.size());
  if (count == 0) throw Error("forward: no tokens to run");
  if (sequence < 0 || sequence >= cache.sequences()) {
    throw Error("forward: sequence " + std::to_string(sequence) + " is not in the KV cache's " +
                std::to_string(cache.sequences()) + " sequences");
  }
  // The whole prompt is checked and its blocks taken before any chunk runs.
  check_tokens(tokens);
  check_positions(cache.length(sequence) + count, sequence);
  hold(cache, cache.length(sequence) + count, sequence, "forward");
  const std::int64_t chunk = step_tokens_ > 0 ? step_tokens_ : count;
  if (count <= chunk) return forward_chunk(tokens, cache, which, sequence);
  // More tokens than one step may hold: chunk by chunk, each attending to the earlier ones
  // through the cache, so activations stay at one step's size.
  Tensor all;
  if (which == LogitsFor::every_token && shard_.last_stage()) {
    all = backend_.allocate(count, shard_.vocab_count);
  }
  Tensor logits;
  for (std::int64_t first = 0; first < count; first += chunk) {
    const std::int64_t size = std::min(chunk, count - first);
    logits = forward_chunk(
        tokens.subspan(static_cast<std::size_t>(first), static_cast<std::size_t>(size)), cache,
        which, sequence);
    if (!all.empty()) backend_.copy_rows(logits, all, first);
  }
  return which == LogitsFor::every_token ? all : logits;
}

Tensor Transformer::forward_chunk(std::span<const std::int32_t> tokens, KvCache& cache,
                                  LogitsFor which, int sequence) {
  // The tokens were checked by the callers (forward, continuation_log_likelihood).
  const auto count = static_cast<std::int64_t>(tokens.size());
  Step step;
  step.start = cache.length(sequence);
  const std::int64_t seen = step.start + count;
  hold(cache, seen, sequence, "forward");
  step.positions.resize(tokens.size());
  std::iota(step.positions.begin(), step.positions.end(), static_cast<std::int32_t>(step.start));
  step.state_slots.assign(tokens.size(), sequence);
  step.first_row = cache.consecutive_rows(sequence, seen);
  if (step.first_row) {
    for (std::int64_t position = step.start; position < seen; ++position) {
      step.cache_rows.push_back(static_cast<std::int32_t>(*step.first_row + position));
    }
  } else {
    for (std::int64_t position = 0; position < seen; ++position) {
      step.history_rows.push_back(static_cast<std::int32_t>(cache.row(sequence, position)));
    }
    step.cache_rows.assign(step.history_rows.begin() + step.start, step.history_rows.end());
  }
  const Tensor x = run_layers(tokens, step, cache);
  cache.advance(count, sequence);
  if (!shard_.last_stage()) return Tensor{};
  return logits_of(which == LogitsFor::every_token ? x : x.row_range(count - 1, 1));
}

Tensor Transformer::decode(std::span<const std::int32_t> tokens, std::span<const int> sequences,
                           KvCache& cache) {
  if (tokens.empty() || tokens.size() != sequences.size()) {
    throw Error("decode: " + std::to_string(tokens.size()) + " tokens for " +
                std::to_string(sequences.size()) + " sequences (one each, at least one)");
  }
  check_tokens(tokens);  // here: a replayed step runs none of the step's host code
  Step step;
  step.batched = true;
  std::vector<bool> seen(static_cast<std::size_t>(cache.sequences()), false);
  for (const int sequence : sequences) {
    if (sequence < 0 || sequence >= cache.sequences() || seen[static_cast<std::size_t>(sequence)]) {
      throw Error("decode: sequence " + std::to_string(sequence) +
                  " is repeated or not in the KV cache's " + std::to_string(cache.sequences()) +
                  " sequences");
    }
    seen[static_cast<std::size_t>(sequence)] = true;
    const std::int64_t position = cache.length(sequence);
    check_positions(position + 1, sequence);
    hold(cache, position + 1, sequence, "decode");
    step.positions.push_back(static_cast<std::int32_t>(position));
    step.state_slots.push_back(sequence);
    step.cache_rows.push_back(static_cast<std::int32_t>(cache.row(sequence, position)));
    step.key_count.push_back(static_cast<std::int32_t>(position + 1));
    // A fixed width per row (unused entries 0, never read), so a recorded step's shape holds.
    const std::span<const std::int32_t> table = cache.block_table(sequence);
    const auto width = static_cast<std::size_t>(cache.blocks_per_sequence());
    step.block_table.insert(
        step.block_table.end(), table.begin(),
        table.begin() + static_cast<std::ptrdiff_t>(std::min(width, table.size())));
    step.block_table.resize(step.block_table.size() + width - std::min(width, table.size()), 0);
  }
  step.blocks_per_row = cache.blocks_per_sequence();
  // Between steps only these index arrays change, so a backend with graphs replays the step.
  const std::array<std::span<const std::int32_t>, 6> indices{
      tokens, step.positions, step.cache_rows, step.block_table, step.key_count, step.state_slots};
  const RepeatedStep shape{reinterpret_cast<std::uintptr_t>(this), cache.id(),
                           static_cast<std::int64_t>(tokens.size()), cache.capacity(),
                           shard_.last_stage() ? shard_.vocab_count : 0};
  Tensor logits = backend_.run_repeated(shape, indices, [&] {
    const Tensor x = run_layers(tokens, step, cache);
    return shard_.last_stage() ? logits_of(x) : Tensor{};
  });
  for (const int sequence : sequences) cache.advance(1, sequence);
  return logits;
}

void Transformer::check_positions(std::int64_t length, int sequence) const {
  // Learned positions stop at the table's end; rotary ones would go on, less well.
  if (config_.position_encoding == PositionEncoding::learned &&
      length > config_.max_position_embeddings) {
    throw Error("sequence " + std::to_string(sequence) + " would reach " + std::to_string(length) +
                " tokens, past the " + std::to_string(config_.max_position_embeddings) +
                " learned positions of the model (max_position_embeddings in " + config_.source +
                ")");
  }
}

void Transformer::check_tokens(std::span<const std::int32_t> tokens) const {
  for (const std::int32_t id : tokens) {
    if (id < 0 || id >= config_.vocab_size) {
      throw Error("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                  std::to_string(config_.vocab_size) + ")");
    }
  }
}

Tensor Transformer::run_layers(std::span<const std::int32_t> tokens, const Step& step,
                               KvCache& cache) {
  const auto count = static_cast<std::int64_t>(tokens.size());
  Tensor x;
  if (shard_.first_stage()) {
    x = backend_.allocate(count, config_.hidden_size);
    backend_.embedding(tokens, weights_.embedding, shard_.vocab_begin, x);
    if (!weights_.position_embedding.empty()) {
      Tensor positions = backend_.allocate(count, config_.hidden_size);
      backend_.embedding(step.positions, weights_.position_embedding, 0, positions);
      backend_.add(x, positions);
    }
    tp_sum(x);  // each rank contributed the rows of its vocabulary slice
  } else {
    x = receive_activations(count);
  }

  // Each residual branch is added to x in the same pass as the norm that reads x next.
  Tensor pending;
  for (int local = 0; local < shard_.layer_count(); ++local) {
    const LayerWeights& layer = weights_.layers[static_cast<std::size_t>(local)];
    // The branch is in x after this: its memory goes now, not a layer later.
    Tensor normed = add_then_norm(x, std::exchange(pending, Tensor{}), layer.attention_norm_weight,
                                  layer.attention_norm_bias);
    Tensor attention_out = config_.mixer(shard_.layer_begin + local) == MixerKind::attention
                               ? attention(normed, layer, local, cache, step)
                               : hyena(normed, layer, local, cache, step);
    if (config_.parallel_attention) {
      // Attention and MLP both read the block's input: sum their partials, all-reduce once.
      const Tensor mlp_in =
          config_.separate_mlp_norm ? norm(x, layer.mlp_norm_weight, layer.mlp_norm_bias) : normed;
      Tensor mlp_out = mlp(mlp_in, layer, local);
      backend_.add(mlp_out, attention_out);
      tp_sum(mlp_out);
      pending = std::move(mlp_out);
    } else {
      // Only x lives on into the MLP: the attention's input and output go once used, keeping
      // a step's activations within the planner's estimate.
      normed = Tensor{};
      tp_sum(attention_out);
      const Tensor mlp_in = add_then_norm(x, std::exchange(attention_out, Tensor{}),
                                          layer.mlp_norm_weight, layer.mlp_norm_bias);
      Tensor mlp_out = mlp(mlp_in, layer, local);
      tp_sum(mlp_out);
      pending = std::move(mlp_out);
    }
  }
  if (!pending.empty()) backend_.add(x, pending);
  if (!shard_.last_stage()) send_activations(x);
  return x;
}

Tensor Transformer::logits_of(const Tensor& hidden) {
  Tensor final_hidden = norm(hidden, weights_.final_norm_weight, weights_.final_norm_bias);
  Tensor logits = backend_.allocate(final_hidden.rows, shard_.vocab_count);
  backend_.linear(final_hidden, weights_.lm_head, Tensor{}, logits);
  return logits;
}

bool Transformer::any_rank_of_replica(bool flag) {
  std::uint64_t count = flag ? 1 : 0;
  // Over the TP group, then along the pipeline: every rank of the replica is counted.
  if (comms_.tp != nullptr && shard_.tp_size > 1) comms_.tp->all_reduce_sum(std::span(&count, 1));
  if (comms_.pp != nullptr && shard_.pp_size > 1) comms_.pp->all_reduce_sum(std::span(&count, 1));
  return count > 0;
}

std::vector<std::int32_t> Transformer::tell_every_stage(std::vector<std::int32_t> tokens) {
  // The first stage embeds them next: the last stage tells every stage.
  if (comms_.pp != nullptr && shard_.pp_size > 1) {
    comms_.pp->broadcast(std::span(tokens), shard_.pp_size - 1);
  }
  return tokens;
}

std::vector<std::int32_t> Transformer::greedy_tokens(const Tensor& logits, std::size_t rows) {
  std::vector<std::int32_t> tokens(rows, 0);
  if (shard_.last_stage()) {
    if (static_cast<std::size_t>(logits.rows) != rows) {
      throw Error("greedy_tokens: " + std::to_string(rows) + " rows expected, the logits have " +
                  std::to_string(logits.rows));
    }
    // Each TP rank's best over its vocabulary rows, then the best of those: no rank needs
    // the full logits.
    const std::vector<RowMax> local = backend_.max_rows(logits);
    std::vector<float> values;
    std::vector<std::int64_t> indices;
    for (const RowMax& best : local) {
      values.push_back(best.value);
      indices.push_back(shard_.vocab_begin + best.index);
    }
    if (comms_.tp != nullptr && shard_.tp_size > 1) comms_.tp->arg_max(values, indices);
    for (std::size_t r = 0; r < tokens.size(); ++r) {
      tokens[r] = static_cast<std::int32_t>(indices[r]);
    }
  }
  return tell_every_stage(std::move(tokens));
}

std::vector<double> Transformer::log_probs(const Tensor& logits,
                                           std::span<const std::int32_t> targets) {
  const std::int64_t rows = logits.rows;
  if (static_cast<std::int64_t>(targets.size()) != rows) {
    throw Error("log_probs: " + std::to_string(targets.size()) + " targets for " +
                std::to_string(rows) + " logits rows");
  }
  // Per row: this rank's max, its sum of exp(logit - max), and the target's logit if owned.
  std::vector<std::int32_t> columns;
  for (const std::int32_t target : targets) {
    const std::int64_t owned = target - shard_.vocab_begin;
    columns.push_back(owned >= 0 && owned < shard_.vocab_count ? static_cast<std::int32_t>(owned)
                                                               : -1);
  }
  std::vector<float> summary;
  for (const RowLogSoftmax& row : backend_.log_softmax_rows(logits, columns)) {
    summary.insert(summary.end(), {row.max, row.sum_exp, row.target});
  }
  std::vector<float> all = summary;
  const int tp = shard_.tp_size;
  if (comms_.tp != nullptr && tp > 1) {
    all.resize(summary.size() * static_cast<std::size_t>(tp));
    comms_.tp->all_gather(summary, all);  // on the host: fp32 whatever the backend stores
  }
  std::vector<double> result(static_cast<std::size_t>(rows));
  for (std::int64_t r = 0; r < rows; ++r) {
    double max = -INFINITY;
    for (int k = 0; k < tp; ++k)
      max = std::max<double>(max, all[static_cast<std::size_t>((k * rows + r) * 3)]);
    double sum = 0.0;
    double target = 0.0;
    for (int k = 0; k < tp; ++k) {
      const auto at = static_cast<std::size_t>((k * rows + r) * 3);
      sum += all[at + 1] * std::exp(all[at] - max);
      target += all[at + 2];  // only the owning rank's entry is non-zero
    }
    result[static_cast<std::size_t>(r)] = target - (max + std::log(sum));
  }
  return result;
}

double Transformer::continuation_log_likelihood(std::span<const std::int32_t> context,
                                                std::span<const std::int32_t> continuation,
                                                KvCache* shared) {
  if (context.empty() || continuation.empty()) {
    throw Error("log-likelihood: the context and the continuation need at least one token each");
  }
  const auto text_tokens = static_cast<std::int64_t>(context.size() + continuation.size());
  const std::int64_t count = log_likelihood_tokens(text_tokens);
  std::vector<std::int32_t> tokens(context.begin(), context.end());
  tokens.insert(tokens.end(), continuation.begin(), continuation.end());
  tokens.resize(static_cast<std::size_t>(count));
  const std::int64_t predicted_end = text_tokens - 1;  // rows up to here predict a token
  check_tokens(tokens);
  check_tokens(continuation.last(1));
  check_positions(count, 0);
  // Rows context.size() - 1 onwards predict the continuation's tokens: a shared prefix may
  // spare the rows before them.
  const auto predicting = static_cast<std::int64_t>(context.size()) - 1;
  std::optional<KvCache> own;
  KvCache& cache = shared != nullptr ? *shared : own.emplace(backend_, config_, shard_, count);
  if (cache.capacity() < count || cache.length(0) != 0) {
    throw Error("log-likelihood: " + std::to_string(count) +
                " tokens need an empty sequence 0 of at least that capacity in the KV cache "
                "(it holds " +
                std::to_string(cache.capacity()) + ")");
  }
  const std::optional<std::int64_t> held = cache.admit(tokens, predicting, count, 0);
  if (!held) {
    throw Error("log-likelihood: " + std::to_string(count) +
                " tokens need more KV cache blocks than the " +
                std::to_string(cache.free_blocks()) + " free");
  }
  struct Release {
    KvCache& cache;
    ~Release() { cache.release(0); }
  } release{cache};
  // Chunk by chunk (one step's tokens at most), so only one chunk's logits exist at a time.
  const std::int64_t chunk = step_tokens_ > 0 ? step_tokens_ : count;
  double total = 0.0;
  for (std::int64_t first = *held; first < count; first += chunk) {
    const std::int64_t size = std::min(chunk, count - first);
    const std::int64_t from = std::max(first, predicting);
    const std::int64_t end = std::min(first + size, predicted_end);
    const Tensor logits = forward_chunk(
        std::span(tokens).subspan(static_cast<std::size_t>(first), static_cast<std::size_t>(size)),
        cache, from < end ? LogitsFor::every_token : LogitsFor::last_token, 0);
    if (!shard_.last_stage() || from >= end) continue;
    const Tensor rows = logits.row_range(from - first, end - from);
    for (const double value :
         log_probs(rows, continuation.subspan(static_cast<std::size_t>(from - predicting),
                                              static_cast<std::size_t>(end - from)))) {
      total += value;
    }
  }
  cache.publish(tokens, 0);
  if (comms_.pp != nullptr && shard_.pp_size > 1) {
    comms_.pp->broadcast(std::span(&total, 1), shard_.pp_size - 1);
  }
  return total;
}

std::vector<std::int32_t> Transformer::sampled_tokens(const Tensor& logits, double temperature,
                                                      double top_p,
                                                      std::span<SeededRandom> randoms) {
  std::vector<std::int32_t> tokens(randoms.size(), 0);
  if (shard_.last_stage()) {
    if (static_cast<std::size_t>(logits.rows) != randoms.size()) {
      throw Error("sampled_tokens: " + std::to_string(randoms.size()) + " random streams for " +
                  std::to_string(logits.rows) + " logits rows");
    }
    tokens = sample_rows(backend_, shard_.tp_size > 1 ? comms_.tp : nullptr, logits,
                         shard_.vocab_begin, temperature, top_p, randoms);
  }
  return tell_every_stage(std::move(tokens));
}

std::vector<float> Transformer::full_logits(const Tensor& logits) {
  const std::vector<float> local = backend_.download(logits);
  const int tp = shard_.tp_size;
  if (comms_.tp == nullptr || tp == 1) return local;
  // Pad every rank's slice to the same width, gather, and put the columns back in order.
  const std::int64_t rows = logits.rows;
  const std::int64_t block = (config_.vocab_size + tp - 1) / tp;
  std::vector<float> padded(static_cast<std::size_t>(rows * block), 0.0f);
  for (std::int64_t r = 0; r < rows; ++r) {
    std::copy_n(local.begin() + r * shard_.vocab_count, shard_.vocab_count,
                padded.begin() + r * block);
  }
  std::vector<float> all(padded.size() * static_cast<std::size_t>(tp));
  comms_.tp->all_gather(padded, all);
  std::vector<float> full(static_cast<std::size_t>(rows * config_.vocab_size));
  for (int rank = 0; rank < tp; ++rank) {
    const auto [begin, end] = vocab_range(config_.vocab_size, tp, rank);
    for (std::int64_t r = 0; r < rows; ++r) {
      std::copy_n(all.begin() + (rank * rows + r) * block, end - begin,
                  full.begin() + r * config_.vocab_size + begin);
    }
  }
  return full;
}

}  // namespace llmpi
