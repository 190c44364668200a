#include "llmpi/bench/layer_bench.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <numeric>
#include <string>

#include "llmpi/bench/random_weights.hpp"
#include "llmpi/core/error.hpp"
#include "llmpi/model/transformer.hpp"

namespace llmpi {

namespace {

template <typename Body>
double mean_ms(Backend& backend, int repeats, Body&& body) {
  // Warm-up: first-touch pages, cuBLAS heuristics, pool growth; a backend with graphs
  // records a repeated step the second time it runs.
  body();
  body();
  backend.synchronize();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < repeats; ++i) body();
  backend.synchronize();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
             .count() /
         repeats;
}

double bytes_of(const Tensor& t) {
  return static_cast<double>(t.numel()) * static_cast<double>(dtype_size(t.dtype));
}

double layer_weight_bytes(const LayerWeights& l) {
  double total = 0.0;
  for (const Tensor* t :
       {&l.attention_norm_weight, &l.attention_norm_bias, &l.mlp_norm_weight, &l.mlp_norm_bias,
        &l.qkv_weight, &l.qkv_bias, &l.output_weight, &l.output_bias, &l.up_weight, &l.up_bias,
        &l.down_weight, &l.down_bias, &l.hyena_projection, &l.short_filter, &l.hyena_filter,
        &l.hyena_skip, &l.log_poles, &l.residues}) {
    total += bytes_of(*t);
  }
  return total;
}

// One layer of the timed stack, as the mean over its layers (Evo 2's differ in kind): the
// bytes of its weights, the share of layers with a KV cache, the fp32 recurrent state a
// sequence keeps, and the parameters its GEMMs multiply (for prefill's flops; the Hyena
// convolutions' few hundred flops per channel and token are left out).
struct StackMeans {
  double weight_bytes = 0.0;
  double attention_share = 0.0;
  double state_bytes_per_sequence = 0.0;
  double matmul_params = 0.0;
};

StackMeans stack_means(const ModelConfig& config, const ModelShard& shard,
                       const std::vector<LayerWeights>& layers) {
  StackMeans m;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const LayerWeights& l = layers[i];
    m.weight_bytes += layer_weight_bytes(l);
    m.matmul_params +=
        static_cast<double>(l.qkv_weight.numel() + l.output_weight.numel() + l.up_weight.numel() +
                            l.down_weight.numel() + l.hyena_projection.numel());
    const MixerKind kind = config.mixer(shard.layer_begin + static_cast<int>(i));
    if (kind == MixerKind::attention) {
      m.attention_share += 1.0;
    } else {
      const auto widths = config.hyena_state_widths(kind, shard.hyena_channel_count);
      m.state_bytes_per_sequence +=
          4.0 * static_cast<double>(widths.short_filter + widths.hyena_operator);
    }
  }
  const auto count = static_cast<double>(std::max<std::size_t>(layers.size(), 1));
  m.weight_bytes /= count;
  m.attention_share /= count;
  m.state_bytes_per_sequence /= count;
  m.matmul_params /= count;
  return m;
}

// The same layer stack at two depths sharing one set of weights, so the difference of their
// step times is `layers` layers exactly (the embedding and head cost the same in both).
struct TwoDepths {
  ModelConfig shallow_config, deep_config;
  ModelShard shallow_shard, deep_shard;
  std::unique_ptr<Transformer> shallow, deep;
};

ModelShard with_layers(ModelShard shard, int layers) {
  shard.layer_begin = 0;
  shard.layer_end = layers;
  shard.pp_size = 1;
  shard.pp_rank = 0;
  return shard;
}

TwoDepths build_models(Backend& backend, const ModelConfig& config, const ModelShard& shard,
                       int layers) {
  TwoDepths m;
  m.shallow_config = config;
  m.shallow_config.num_layers = layers;
  m.deep_config = config;
  m.deep_config.num_layers = 2 * layers;
  // Layers of different kinds (Evo 2): the deep model repeats the shallow one's kinds with its
  // weights.
  if (!config.mixers.empty()) {
    m.shallow_config.mixers.resize(static_cast<std::size_t>(layers));
    m.deep_config.mixers = m.shallow_config.mixers;
    m.deep_config.mixers.insert(m.deep_config.mixers.end(), m.shallow_config.mixers.begin(),
                                m.shallow_config.mixers.end());
  }
  m.shallow_shard = with_layers(shard, layers);
  m.deep_shard = with_layers(shard, 2 * layers);
  ModelWeights shallow = random_model_weights(m.shallow_config, m.shallow_shard, backend, 1);
  ModelWeights deep = shallow;
  deep.layers.insert(deep.layers.end(), shallow.layers.begin(), shallow.layers.end());
  m.shallow = std::make_unique<Transformer>(m.shallow_config, std::move(shallow), backend,
                                            m.shallow_shard, ModelComms{});
  m.deep = std::make_unique<Transformer>(m.deep_config, std::move(deep), backend, m.deep_shard,
                                         ModelComms{});
  return m;
}

double decode_ms(Backend& backend, Transformer& model, int batch, const LayerBenchSettings& s) {
  const ModelConfig& config = model.config();
  // Each step is undone by truncating the keys, except in Hyena layers, whose states cannot be
  // rewound: there every step (two warm-ups and the repeats) goes on one token further.
  const bool rewinds = !config.has_recurrent_layers();
  KvCache cache(backend, config, model.shard(), s.context + 1 + (rewinds ? 0 : s.repeats + 2),
                batch);
  for (int layer = 0; layer < model.shard().layer_count(); ++layer) {
    fill_random(backend, cache.keys(layer), 3);
    fill_random(backend, cache.values(layer), 4);
  }
  std::vector<int> sequences(static_cast<std::size_t>(batch));
  std::iota(sequences.begin(), sequences.end(), 0);
  for (const int sequence : sequences) cache.advance(s.context, sequence);
  const std::vector<std::int32_t> tokens(static_cast<std::size_t>(batch),
                                         static_cast<std::int32_t>(7 % config.vocab_size));
  return mean_ms(backend, s.repeats, [&] {
    model.decode(tokens, sequences, cache);
    if (!rewinds) return;
    for (const int sequence : sequences) cache.truncate(s.context, sequence);
  });
}

double prefill_ms(Backend& backend, Transformer& model, const LayerBenchSettings& s) {
  KvCache cache(backend, model.config(), model.shard(), s.prefill_tokens);
  std::vector<std::int32_t> prompt(static_cast<std::size_t>(s.prefill_tokens));
  for (std::size_t i = 0; i < prompt.size(); ++i) {
    prompt[i] =
        static_cast<std::int32_t>((i * 7919) % static_cast<std::size_t>(model.config().vocab_size));
  }
  return mean_ms(backend, std::max(2, s.repeats / 4), [&] {
    cache.clear();
    model.forward(prompt, cache, LogitsFor::last_token);
  });
}

}  // namespace

LayerBenchReport run_layer_bench(Backend& backend, const ModelConfig& config,
                                 const ModelShard& shard, const LayerBenchSettings& s) {
  if (s.layers < 1 || s.repeats < 1 || s.context < 1 || s.prefill_tokens < 1 || s.batches.empty()) {
    throw Error(
        "bench: --layers, --repeats, --context and --prefill-tokens must be at least 1, "
        "and --batches must name at least one batch size");
  }
  for (const int batch : s.batches) {
    if (batch < 1)
      throw Error("bench: batch size " + std::to_string(batch) + " must be at least 1");
  }
  if (s.context + 1 > config.max_position_embeddings ||
      s.prefill_tokens > config.max_position_embeddings) {
    throw Error("bench: --context " + std::to_string(s.context) + " + 1 and --prefill-tokens " +
                std::to_string(s.prefill_tokens) + " must fit the model's " +
                std::to_string(config.max_position_embeddings) + " positions");
  }
  LayerBenchReport report;

  // Ceiling for decode: a device-to-device copy (reads and writes every byte once).
  const std::int64_t cols = 4096;
  const std::int64_t rows = std::max<std::int64_t>(
      1, s.copy_bytes / (cols * static_cast<std::int64_t>(dtype_size(backend.storage_dtype()))));
  const Tensor source = backend.allocate(rows, cols);
  Tensor target = backend.allocate(rows, cols);
  const double copy_ms = mean_ms(backend, s.repeats, [&] { backend.copy_rows(source, target, 0); });
  report.copy_bytes_per_s = 2.0 * bytes_of(source) / (copy_ms * 1e-3);

  TwoDepths models = build_models(backend, config, shard, s.layers);
  const LayerWeights& layer = models.shallow->weights().layers.front();
  const StackMeans means =
      stack_means(models.shallow_config, models.shallow_shard, models.shallow->weights().layers);
  report.attention_share = means.attention_share;
  report.fp8_gemms = models.shallow->runs_fp8_gemms();
  const double kv_row_bytes = 2.0 * static_cast<double>(shard.heads.kv_count) * config.head_dim *
                              static_cast<double>(dtype_size(backend.storage_dtype()));
  const auto per_layer_ms = [&](int batch) {
    return (decode_ms(backend, *models.deep, batch, s) -
            decode_ms(backend, *models.shallow, batch, s)) /
           s.layers;
  };
  // Each step both ways where the backend can record steps: one launch per op, and replayed.
  const bool recording = backend.records_repeated();
  backend.set_records_repeated(true);
  const bool can_record = backend.records_repeated();
  for (const int batch : s.batches) {
    DecodeTiming t;
    t.batch = batch;
    backend.set_records_repeated(false);
    t.ms_per_layer = per_layer_ms(batch);
    if (can_record) {
      backend.set_records_repeated(true);
      t.graph_ms_per_layer = per_layer_ms(batch);
    }
    t.weight_bytes = means.weight_bytes;
    // Each sequence's keys in the attention layers; its state read and written in the others.
    t.kv_bytes = static_cast<double>(batch) *
                 (kv_row_bytes * static_cast<double>(s.context + 1) * means.attention_share +
                  2.0 * means.state_bytes_per_sequence);
    t.roofline_ms = (t.weight_bytes + t.kv_bytes) / report.copy_bytes_per_s * 1e3;
    report.decode.push_back(t);
  }
  backend.set_records_repeated(recording);

  PrefillTiming& p = report.prefill;
  p.tokens = s.prefill_tokens;
  p.ms_per_layer =
      (prefill_ms(backend, *models.deep, s) - prefill_ms(backend, *models.shallow, s)) / s.layers;
  const auto tokens = static_cast<double>(s.prefill_tokens);
  // QK^T and PV over the causal half: 2 GEMMs x 2 flops x tokens^2 / 2 x head_dim per head.
  const double attention_flops = 2.0 * tokens * tokens * config.head_dim *
                                 static_cast<double>(shard.heads.q_count) * means.attention_share;
  p.flops_per_layer = 2.0 * tokens * means.matmul_params + attention_flops;
  // The plain GEMM: the layer's largest projection (the MLP's up, or gate and up) at this size.
  p.gemm_m = s.prefill_tokens;
  p.gemm_n = layer.up_weight.rows;
  p.gemm_k = layer.up_weight.cols;
  Tensor x = backend.allocate(p.gemm_m, p.gemm_k);
  fill_random(backend, x, 5);
  Tensor y = backend.allocate(p.gemm_m, p.gemm_n);
  p.gemm_ms = mean_ms(backend, s.repeats, [&] { backend.linear(x, layer.up_weight, Tensor{}, y); });
  return report;
}

}  // namespace llmpi
