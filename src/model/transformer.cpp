#include "llmpi/model/transformer.hpp"

#include <numeric>
#include <vector>

#include "llmpi/core/error.hpp"

namespace llmpi {

Transformer::Transformer(ModelConfig config, ModelWeights weights, Backend& backend)
    : config_(std::move(config)), weights_(std::move(weights)), backend_(backend) {}

Tensor Transformer::norm(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  Tensor out = backend_.allocate(x.rows, x.cols);
  if (config_.norm == NormKind::rms_norm) {
    backend_.rms_norm(x, weight, config_.norm_eps, out);
  } else {
    backend_.layer_norm(x, weight, bias, config_.norm_eps, out);
  }
  return out;
}

Tensor Transformer::attention(const Tensor& normed, const LayerWeights& layer, int layer_index,
                              KvCache& cache, std::span<const std::int32_t> positions) {
  const std::int64_t tokens = normed.rows;
  const ModelConfig& c = config_;
  Tensor qkv = backend_.allocate(tokens, c.q_size() + 2 * c.kv_size());
  backend_.linear(normed, layer.qkv_weight, layer.qkv_bias, qkv);
  Tensor q = backend_.allocate(tokens, c.q_size());
  Tensor k = backend_.allocate(tokens, c.kv_size());
  Tensor v = backend_.allocate(tokens, c.kv_size());
  backend_.split_qkv(qkv, q, k, v);
  backend_.rotary(q, c.head_dim, positions, c.rope_theta);
  backend_.rotary(k, c.head_dim, positions, c.rope_theta);
  const std::int64_t start = cache.length();
  backend_.copy_rows(k, cache.keys(layer_index), start);
  backend_.copy_rows(v, cache.values(layer_index), start);
  Tensor context = backend_.allocate(tokens, c.q_size());
  backend_.attention(q, cache.keys(layer_index), cache.values(layer_index), c.num_heads,
                     c.num_kv_heads, c.head_dim, start, context);
  Tensor out = backend_.allocate(tokens, c.hidden_size);
  backend_.linear(context, layer.output_weight, layer.output_bias, out);
  return out;
}

Tensor Transformer::mlp(const Tensor& normed, const LayerWeights& layer) {
  const std::int64_t tokens = normed.rows;
  const std::int64_t inter = config_.intermediate_size;
  Tensor hidden;
  if (config_.mlp == MlpKind::swiglu) {
    Tensor gate_up = backend_.allocate(tokens, 2 * inter);
    backend_.linear(normed, layer.up_weight, layer.up_bias, gate_up);
    hidden = backend_.allocate(tokens, inter);
    backend_.silu_mul(gate_up, hidden);
  } else {
    hidden = backend_.allocate(tokens, inter);
    backend_.linear(normed, layer.up_weight, layer.up_bias, hidden);
    backend_.gelu(hidden);
  }
  Tensor out = backend_.allocate(tokens, config_.hidden_size);
  backend_.linear(hidden, layer.down_weight, layer.down_bias, out);
  return out;
}

Tensor Transformer::forward(std::span<const std::int32_t> tokens, KvCache& cache, LogitsFor which) {
  const auto count = static_cast<std::int64_t>(tokens.size());
  if (count == 0) throw Error("forward: no tokens to run");
  const std::int64_t start = cache.length();
  if (start + count > cache.capacity()) {
    throw Error("sequence of " + std::to_string(start + count) +
                " tokens exceeds the KV cache capacity of " + std::to_string(cache.capacity()) +
                " tokens");
  }
  std::vector<std::int32_t> positions(tokens.size());
  std::iota(positions.begin(), positions.end(), static_cast<std::int32_t>(start));

  Tensor x = backend_.allocate(count, config_.hidden_size);
  backend_.embedding(tokens, weights_.embedding, x);
  for (int index = 0; index < config_.num_layers; ++index) {
    const LayerWeights& layer = weights_.layers[static_cast<std::size_t>(index)];
    Tensor normed = norm(x, layer.attention_norm_weight, layer.attention_norm_bias);
    Tensor attention_out = attention(normed, layer, index, cache, positions);
    if (config_.parallel_attention) {
      // Attention and MLP both read the block's input; their sum joins the residual once.
      const Tensor mlp_in =
          config_.separate_mlp_norm ? norm(x, layer.mlp_norm_weight, layer.mlp_norm_bias) : normed;
      Tensor mlp_out = mlp(mlp_in, layer);
      backend_.add(mlp_out, attention_out);
      backend_.add(x, mlp_out);
    } else {
      backend_.add(x, attention_out);
      Tensor mlp_out = mlp(norm(x, layer.mlp_norm_weight, layer.mlp_norm_bias), layer);
      backend_.add(x, mlp_out);
    }
  }
  cache.advance(count);

  const Tensor rows = which == LogitsFor::every_token ? x : x.row_range(count - 1, 1);
  Tensor final_hidden = norm(rows, weights_.final_norm_weight, weights_.final_norm_bias);
  Tensor logits = backend_.allocate(final_hidden.rows, config_.vocab_size);
  backend_.linear(final_hidden, weights_.lm_head, Tensor{}, logits);
  return logits;
}

}  // namespace llmpi
