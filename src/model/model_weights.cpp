#include "llmpi/model/model_weights.hpp"

#include <algorithm>
#include <string>

#include "llmpi/core/error.hpp"

namespace llmpi {

namespace {

using Shape = std::vector<std::int64_t>;

// Reads checkpoint tensors with the shapes config.json implies and uploads them.
class WeightReader {
 public:
  WeightReader(const Checkpoint& checkpoint, Backend& backend)
      : checkpoint_(checkpoint), backend_(backend) {}

  std::vector<float> host(const std::string& name, const Shape& shape) {
    return checkpoint_.read(name, shape);
  }
  Tensor matrix(const std::string& name, std::int64_t rows, std::int64_t cols) {
    return backend_.upload(host(name, {rows, cols}), rows, cols);
  }
  Tensor vector(const std::string& name, std::int64_t size) {
    return backend_.upload(host(name, {size}), 1, size);
  }
  Tensor optional_vector(bool present, const std::string& name, std::int64_t size) {
    return present ? vector(name, size) : Tensor{};
  }
  // Several checkpoint tensors stacked along rows: fused projections.
  Tensor stacked(const std::vector<std::string>& names, const std::vector<std::int64_t>& rows,
                 std::int64_t cols) {
    std::vector<float> all;
    std::int64_t total_rows = 0;
    for (std::size_t i = 0; i < names.size(); ++i) {
      const auto part = host(names[i], cols == 0 ? Shape{rows[i]} : Shape{rows[i], cols});
      all.insert(all.end(), part.begin(), part.end());
      total_rows += rows[i];
    }
    return cols == 0 ? backend_.upload(all, 1, total_rows) : backend_.upload(all, total_rows, cols);
  }
  Backend& backend() { return backend_; }

 private:
  const Checkpoint& checkpoint_;
  Backend& backend_;
};

// Moves head-sized row blocks of a [blocks * block_rows, cols] matrix into the given order.
std::vector<float> reorder_blocks(const std::vector<float>& source, const std::vector<int>& order,
                                  std::int64_t block_rows, std::int64_t cols) {
  std::vector<float> result(source.size());
  const auto block_size = static_cast<std::size_t>(block_rows * cols);
  for (std::size_t dst = 0; dst < order.size(); ++dst) {
    const auto src = static_cast<std::size_t>(order[dst]);
    std::copy_n(source.begin() + static_cast<std::ptrdiff_t>(src * block_size), block_size,
                result.begin() + static_cast<std::ptrdiff_t>(dst * block_size));
  }
  return result;
}

void load_llama_layer(const ModelConfig& c, WeightReader& reader, int index, LayerWeights& layer) {
  const std::string p = "model.layers." + std::to_string(index) + ".";
  const std::int64_t hidden = c.hidden_size;
  layer.attention_norm_weight = reader.vector(p + "input_layernorm.weight", hidden);
  layer.mlp_norm_weight = reader.vector(p + "post_attention_layernorm.weight", hidden);
  const std::vector<std::string> qkv = {p + "self_attn.q_proj", p + "self_attn.k_proj",
                                        p + "self_attn.v_proj"};
  const std::vector<std::int64_t> qkv_rows = {c.q_size(), c.kv_size(), c.kv_size()};
  layer.qkv_weight = reader.stacked({qkv[0] + ".weight", qkv[1] + ".weight", qkv[2] + ".weight"},
                                    qkv_rows, hidden);
  if (c.attention_bias) {
    layer.qkv_bias =
        reader.stacked({qkv[0] + ".bias", qkv[1] + ".bias", qkv[2] + ".bias"}, qkv_rows, 0);
  }
  layer.output_weight = reader.matrix(p + "self_attn.o_proj.weight", hidden, c.q_size());
  layer.output_bias = reader.optional_vector(c.output_bias, p + "self_attn.o_proj.bias", hidden);
  const std::int64_t inter = c.intermediate_size;
  layer.up_weight = reader.stacked({p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"},
                                   {inter, inter}, hidden);
  if (c.mlp_bias) {
    layer.up_bias =
        reader.stacked({p + "mlp.gate_proj.bias", p + "mlp.up_proj.bias"}, {inter, inter}, 0);
  }
  layer.down_weight = reader.matrix(p + "mlp.down_proj.weight", hidden, inter);
  layer.down_bias = reader.optional_vector(c.mlp_bias, p + "mlp.down_proj.bias", hidden);
}

void load_falcon_layer(const ModelConfig& c, WeightReader& reader, int index, LayerWeights& layer) {
  const std::string p = "transformer.h." + std::to_string(index) + ".";
  const std::int64_t hidden = c.hidden_size;
  const bool two_norms_parallel = c.parallel_attention && c.separate_mlp_norm;
  const std::string attn_norm = two_norms_parallel ? "ln_attn" : "input_layernorm";
  layer.attention_norm_weight = reader.vector(p + attn_norm + ".weight", hidden);
  layer.attention_norm_bias = reader.vector(p + attn_norm + ".bias", hidden);
  if (c.separate_mlp_norm) {
    const std::string mlp_norm = two_norms_parallel ? "ln_mlp" : "post_attention_layernorm";
    layer.mlp_norm_weight = reader.vector(p + mlp_norm + ".weight", hidden);
    layer.mlp_norm_bias = reader.vector(p + mlp_norm + ".bias", hidden);
  }
  const std::int64_t qkv_rows = c.q_size() + 2 * c.kv_size();
  const auto order = falcon_qkv_block_order(c);
  const std::string qkv = p + "self_attention.query_key_value";
  layer.qkv_weight = reader.backend().upload(
      reorder_blocks(reader.host(qkv + ".weight", {qkv_rows, hidden}), order, c.head_dim, hidden),
      qkv_rows, hidden);
  if (c.attention_bias) {
    layer.qkv_bias = reader.backend().upload(
        reorder_blocks(reader.host(qkv + ".bias", {qkv_rows}), order, c.head_dim, 1), 1, qkv_rows);
  }
  layer.output_weight = reader.matrix(p + "self_attention.dense.weight", hidden, c.q_size());
  layer.output_bias =
      reader.optional_vector(c.output_bias, p + "self_attention.dense.bias", hidden);
  const std::int64_t inter = c.intermediate_size;
  layer.up_weight = reader.matrix(p + "mlp.dense_h_to_4h.weight", inter, hidden);
  layer.up_bias = reader.optional_vector(c.mlp_bias, p + "mlp.dense_h_to_4h.bias", inter);
  layer.down_weight = reader.matrix(p + "mlp.dense_4h_to_h.weight", hidden, inter);
  layer.down_bias = reader.optional_vector(c.mlp_bias, p + "mlp.dense_4h_to_h.bias", hidden);
}

}  // namespace

std::vector<int> falcon_qkv_block_order(const ModelConfig& c) {
  const int heads = c.num_heads;
  const int kv_heads = c.num_kv_heads;
  // Destination blocks: q heads 0..heads-1, then k heads, then v heads.
  std::vector<int> order(static_cast<std::size_t>(heads + 2 * kv_heads));
  auto place = [&](int destination, int source) {
    order[static_cast<std::size_t>(destination)] = source;
  };
  switch (c.qkv_layout) {
    case QkvLayout::falcon_grouped: {
      // Per KV group g: its heads/kv_heads query heads, then its key, then its value.
      const int per_group = heads / kv_heads + 2;
      for (int g = 0; g < kv_heads; ++g) {
        for (int j = 0; j < per_group - 2; ++j) place(g * (per_group - 2) + j, g * per_group + j);
        place(heads + g, g * per_group + per_group - 2);
        place(heads + kv_heads + g, g * per_group + per_group - 1);
      }
      break;
    }
    case QkvLayout::falcon_interleaved:
      for (int h = 0; h < heads; ++h) {
        place(h, 3 * h);
        place(heads + h, 3 * h + 1);
        place(2 * heads + h, 3 * h + 2);
      }
      break;
    case QkvLayout::falcon_multi_query:
    case QkvLayout::separate:
      for (int i = 0; i < heads + 2 * kv_heads; ++i) place(i, i);
      break;
  }
  return order;
}

ModelWeights load_model_weights(const ModelConfig& c, const Checkpoint& checkpoint,
                                Backend& backend) {
  WeightReader reader(checkpoint, backend);
  ModelWeights weights;
  const bool llama = c.architecture == Architecture::llama;
  const std::int64_t hidden = c.hidden_size;
  weights.embedding =
      reader.matrix(llama ? "model.embed_tokens.weight" : "transformer.word_embeddings.weight",
                    c.vocab_size, hidden);
  weights.layers.resize(static_cast<std::size_t>(c.num_layers));
  for (int i = 0; i < c.num_layers; ++i) {
    LayerWeights& layer = weights.layers[static_cast<std::size_t>(i)];
    if (llama) {
      load_llama_layer(c, reader, i, layer);
    } else {
      load_falcon_layer(c, reader, i, layer);
    }
  }
  if (llama) {
    weights.final_norm_weight = reader.vector("model.norm.weight", hidden);
  } else {
    weights.final_norm_weight = reader.vector("transformer.ln_f.weight", hidden);
    weights.final_norm_bias = reader.vector("transformer.ln_f.bias", hidden);
  }
  // Tied: transformers ignores a stored lm_head.weight and uses the embedding.
  weights.lm_head = c.tie_word_embeddings ? weights.embedding
                                          : reader.matrix("lm_head.weight", c.vocab_size, hidden);
  weights.checkpoint_bytes = checkpoint.bytes_read();
  return weights;
}

}  // namespace llmpi
