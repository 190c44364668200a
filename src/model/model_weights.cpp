#include "llmpi/model/model_weights.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <utility>

#include "llmpi/core/error.hpp"

namespace llmpi {

namespace {

using Shape = std::vector<std::int64_t>;

// Reads a rank's slices of checkpoint tensors, with the shapes config.json implies, and
// uploads them. Only the slice's bytes are copied out of the memory-mapped files. A matrix is
// uploaded as a weight in the dtype of the tensors it was read from (the backend may keep it
// so), vectors (norms, biases) as the backend stores activations.
class ShardReader {
 public:
  ShardReader(const ModelConfig& config, const Checkpoint& checkpoint, Backend& backend,
              const ModelShard& shard)
      : c_(config), checkpoint_(checkpoint), backend_(backend), shard_(shard) {}

  Tensor vector(const std::string& name, std::int64_t size) {
    return backend_.upload(checkpoint_.read(name, Shape{size}), 1, size);
  }
  Tensor optional_vector(bool present, const std::string& name, std::int64_t size) {
    return present ? vector(name, size) : Tensor{};
  }
  // Rows [first, first + count) of a [rows, cols] matrix (cols = 0: a vector).
  std::vector<float> rows(const std::string& name, std::int64_t rows, std::int64_t cols,
                          std::int64_t first, std::int64_t count) {
    const Shape shape = cols == 0 ? Shape{rows} : Shape{rows, cols};
    note_dtype(name);
    return checkpoint_.read_rows(name, shape, first, count);
  }
  // Rows [first, first + count) of an n-dimensional tensor (rows along its first dimension).
  std::vector<float> rows(const std::string& name, const Shape& shape, std::int64_t first,
                          std::int64_t count) {
    note_dtype(name);
    return checkpoint_.read_rows(name, shape, first, count);
  }
  // A small matrix the ops read as it is (filters, poles), stored like activations.
  Tensor small_matrix(const std::vector<float>& values, std::int64_t rows) {
    read_dtype_.reset();
    mixed_ = false;
    return backend_.upload(values, rows, static_cast<std::int64_t>(values.size()) / rows);
  }
  // `values` read since the last upload; `as_read` false: changed since (a folded scale), so
  // no longer exactly in the checkpoint's dtype.
  Tensor upload(const std::vector<float>& values, std::int64_t cols, bool as_read = true) {
    const auto count = static_cast<std::int64_t>(values.size());
    const DType stored = as_read && read_dtype_ ? *read_dtype_ : DType::f32;
    read_dtype_.reset();
    mixed_ = false;
    return cols == 0 ? backend_.upload(values, 1, count)
                     : backend_.upload_weight(values, count / cols, cols, stored);
  }
  // Columns [first, first + count) of a [rows, cols] matrix, on the host.
  std::vector<float> columns_of(const std::string& name, std::int64_t rows, std::int64_t cols,
                                std::int64_t first, std::int64_t count) {
    note_dtype(name);
    return checkpoint_.read_columns(name, Shape{rows, cols}, first, count);
  }
  // Columns [first, first + count) of a [rows, cols] matrix: a row-parallel weight.
  Tensor columns(const std::string& name, std::int64_t rows, std::int64_t cols, std::int64_t first,
                 std::int64_t count) {
    std::vector<float> values = columns_of(name, rows, cols, first, count);
    return upload(values, count);
  }
  // A row-parallel layer's bias: added once, by TP rank 0, before the all-reduce.
  Tensor row_parallel_bias(bool present, const std::string& name, std::int64_t size) {
    return present && shard_.tp_rank == 0 ? vector(name, size) : Tensor{};
  }

  const ModelConfig& config() const { return c_; }
  const ModelShard& shard() const { return shard_; }

 private:
  // The dtype of what was read since the last upload; none where the tensors differ.
  void note_dtype(const std::string& name) {
    const std::optional<DType> dtype = checkpoint_.info(name).dtype;
    if (mixed_ || (read_dtype_ && read_dtype_ != dtype)) {
      mixed_ = true;
      read_dtype_.reset();
      return;
    }
    read_dtype_ = dtype;
  }

  const ModelConfig& c_;
  const Checkpoint& checkpoint_;
  Backend& backend_;
  const ModelShard& shard_;
  std::optional<DType> read_dtype_;
  bool mixed_ = false;
};

void append(std::vector<float>& to, const std::vector<float>& from) {
  to.insert(to.end(), from.begin(), from.end());
}

// A row-major [rows, cols] block as [cols, rows]: a Conv1D weight (in x out) as the Linear
// layout (out x in) every backend multiplies by.
std::vector<float> transposed(const std::vector<float>& values, std::int64_t rows,
                              std::int64_t cols) {
  std::vector<float> out(values.size());
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = 0; c < cols; ++c) {
      out[static_cast<std::size_t>(c * rows + r)] = values[static_cast<std::size_t>(r * cols + c)];
    }
  }
  return out;
}

// The names under which a GPT-2 checkpoint stores its tensors: transformers' GPT2LMHeadModel
// writes "transformer.h.0...", the original OpenAI uploads "h.0..." with no prefix.
std::string gpt2_prefix(const Checkpoint& checkpoint) {
  return checkpoint.contains("transformer.wte.weight") ? "transformer." : "";
}

void load_gpt2_layer(ShardReader& reader, const std::string& prefix, int index,
                     LayerWeights& layer) {
  const ModelConfig& c = reader.config();
  const ModelShard& s = reader.shard();
  const std::string p = prefix + "h." + std::to_string(index) + ".";
  const std::int64_t hidden = c.hidden_size;
  const std::int64_t hd = c.head_dim;
  layer.attention_norm_weight = reader.vector(p + "ln_1.weight", hidden);
  layer.attention_norm_bias = reader.vector(p + "ln_1.bias", hidden);
  layer.mlp_norm_weight = reader.vector(p + "ln_2.weight", hidden);
  layer.mlp_norm_bias = reader.vector(p + "ln_2.bias", hidden);

  // c_attn's output columns are [q | k | v], each hidden wide: this rank's heads of each third.
  const std::int64_t q_first = s.heads.q_begin * hd;
  const std::int64_t q_count = s.heads.q_count * hd;
  const std::int64_t kv_first = s.heads.kv_begin * hd;
  const std::int64_t kv_count = s.heads.kv_count * hd;
  const std::string attn = p + "attn.c_attn";
  std::vector<float> weight;
  std::vector<float> bias;
  const std::array<std::pair<std::int64_t, std::int64_t>, 3> thirds{
      {{q_first, q_count}, {hidden + kv_first, kv_count}, {2 * hidden + kv_first, kv_count}}};
  for (const auto& [first, count] : thirds) {
    append(weight, transposed(reader.columns_of(attn + ".weight", hidden, 3 * hidden, first, count),
                              hidden, count));
    append(bias, reader.rows(attn + ".bias", 3 * hidden, 0, first, count));
  }
  // GPT-2's score scaling options become a factor on q, so every backend's attention applies
  // its usual 1/sqrt(head_dim) and nothing else.
  const float factor = c.attention_score_factor(index);
  if (factor != 1.0f) {
    for (std::int64_t i = 0; i < q_count * hidden; ++i)
      weight[static_cast<std::size_t>(i)] *= factor;
    for (std::int64_t i = 0; i < q_count; ++i) bias[static_cast<std::size_t>(i)] *= factor;
  }
  layer.qkv_weight = reader.upload(weight, hidden, factor == 1.0f);
  layer.qkv_bias = reader.upload(bias, 0);
  // Row-parallel projections: this rank's input rows of the Conv1D, transposed.
  layer.output_weight = reader.upload(
      transposed(reader.rows(p + "attn.c_proj.weight", hidden, hidden, q_first, q_count), q_count,
                 hidden),
      q_count);
  layer.output_bias = reader.row_parallel_bias(true, p + "attn.c_proj.bias", hidden);

  const std::int64_t inter = c.intermediate_size;
  layer.up_weight =
      reader.upload(transposed(reader.columns_of(p + "mlp.c_fc.weight", hidden, inter,
                                                 s.intermediate_begin, s.intermediate_count),
                               hidden, s.intermediate_count),
                    hidden);
  layer.up_bias = reader.upload(
      reader.rows(p + "mlp.c_fc.bias", inter, 0, s.intermediate_begin, s.intermediate_count), 0);
  layer.down_weight =
      reader.upload(transposed(reader.rows(p + "mlp.c_proj.weight", inter, hidden,
                                           s.intermediate_begin, s.intermediate_count),
                               s.intermediate_count, hidden),
                    s.intermediate_count);
  layer.down_bias = reader.row_parallel_bias(true, p + "mlp.c_proj.bias", hidden);
}

void load_llama_layer(ShardReader& reader, int index, LayerWeights& layer) {
  const ModelConfig& c = reader.config();
  const ModelShard& s = reader.shard();
  const std::string p = "model.layers." + std::to_string(index) + ".";
  const std::int64_t hidden = c.hidden_size;
  const std::int64_t hd = c.head_dim;
  layer.attention_norm_weight = reader.vector(p + "input_layernorm.weight", hidden);
  layer.mlp_norm_weight = reader.vector(p + "post_attention_layernorm.weight", hidden);

  // This rank's query heads, then its key heads, then its value heads.
  auto qkv = [&](const std::string& suffix, std::int64_t cols) {
    std::vector<float> all = reader.rows(p + "self_attn.q_proj" + suffix, c.q_size(), cols,
                                         s.heads.q_begin * hd, s.heads.q_count * hd);
    append(all, reader.rows(p + "self_attn.k_proj" + suffix, c.kv_size(), cols,
                            s.heads.kv_begin * hd, s.heads.kv_count * hd));
    append(all, reader.rows(p + "self_attn.v_proj" + suffix, c.kv_size(), cols,
                            s.heads.kv_begin * hd, s.heads.kv_count * hd));
    return reader.upload(all, cols);
  };
  layer.qkv_weight = qkv(".weight", hidden);
  if (c.attention_bias) layer.qkv_bias = qkv(".bias", 0);
  layer.output_weight = reader.columns(p + "self_attn.o_proj.weight", hidden, c.q_size(),
                                       s.heads.q_begin * hd, s.heads.q_count * hd);
  layer.output_bias = reader.row_parallel_bias(c.output_bias, p + "self_attn.o_proj.bias", hidden);

  const std::int64_t inter = c.intermediate_size;
  auto gate_up = [&](const std::string& suffix, std::int64_t cols) {
    std::vector<float> all = reader.rows(p + "mlp.gate_proj" + suffix, inter, cols,
                                         s.intermediate_begin, s.intermediate_count);
    append(all, reader.rows(p + "mlp.up_proj" + suffix, inter, cols, s.intermediate_begin,
                            s.intermediate_count));
    return reader.upload(all, cols);
  };
  layer.up_weight = gate_up(".weight", hidden);
  if (c.mlp_bias) layer.up_bias = gate_up(".bias", 0);
  layer.down_weight = reader.columns(p + "mlp.down_proj.weight", hidden, inter,
                                     s.intermediate_begin, s.intermediate_count);
  layer.down_bias = reader.row_parallel_bias(c.mlp_bias, p + "mlp.down_proj.bias", hidden);
}

void load_falcon_layer(ShardReader& reader, int index, LayerWeights& layer) {
  const ModelConfig& c = reader.config();
  const ModelShard& s = reader.shard();
  const std::string p = "transformer.h." + std::to_string(index) + ".";
  const std::int64_t hidden = c.hidden_size;
  const std::int64_t hd = c.head_dim;
  const bool two_norms_parallel = c.parallel_attention && c.separate_mlp_norm;
  const std::string attn_norm = two_norms_parallel ? "ln_attn" : "input_layernorm";
  layer.attention_norm_weight = reader.vector(p + attn_norm + ".weight", hidden);
  layer.attention_norm_bias = reader.vector(p + attn_norm + ".bias", hidden);
  if (c.separate_mlp_norm) {
    const std::string mlp_norm = two_norms_parallel ? "ln_mlp" : "post_attention_layernorm";
    layer.mlp_norm_weight = reader.vector(p + mlp_norm + ".weight", hidden);
    layer.mlp_norm_bias = reader.vector(p + mlp_norm + ".bias", hidden);
  }

  // The fused query_key_value holds head-sized row blocks in the checkpoint's layout; take the
  // blocks of this rank's query, key and value heads, in that order.
  const std::int64_t qkv_rows = c.q_size() + 2 * c.kv_size();
  const auto order = falcon_qkv_block_order(c);
  std::vector<int> blocks;
  for (int h = 0; h < s.heads.q_count; ++h)
    blocks.push_back(order[static_cast<std::size_t>(s.heads.q_begin + h)]);
  for (int part = 1; part <= 2; ++part) {
    for (int h = 0; h < s.heads.kv_count; ++h) {
      blocks.push_back(order[static_cast<std::size_t>(c.num_heads + (part - 1) * c.num_kv_heads +
                                                      s.heads.kv_begin + h)]);
    }
  }
  const std::string qkv = p + "self_attention.query_key_value";
  auto gather_blocks = [&](const std::string& suffix, std::int64_t cols) {
    std::vector<float> all;
    for (const int block : blocks)
      append(all, reader.rows(qkv + suffix, qkv_rows, cols, block * hd, hd));
    return reader.upload(all, cols);
  };
  layer.qkv_weight = gather_blocks(".weight", hidden);
  if (c.attention_bias) layer.qkv_bias = gather_blocks(".bias", 0);
  layer.output_weight = reader.columns(p + "self_attention.dense.weight", hidden, c.q_size(),
                                       s.heads.q_begin * hd, s.heads.q_count * hd);
  layer.output_bias =
      reader.row_parallel_bias(c.output_bias, p + "self_attention.dense.bias", hidden);

  const std::int64_t inter = c.intermediate_size;
  layer.up_weight = reader.upload(reader.rows(p + "mlp.dense_h_to_4h.weight", inter, hidden,
                                              s.intermediate_begin, s.intermediate_count),
                                  hidden);
  if (c.mlp_bias) {
    layer.up_bias = reader.upload(reader.rows(p + "mlp.dense_h_to_4h.bias", inter, 0,
                                              s.intermediate_begin, s.intermediate_count),
                                  0);
  }
  layer.down_weight = reader.columns(p + "mlp.dense_4h_to_h.weight", hidden, inter,
                                     s.intermediate_begin, s.intermediate_count);
  layer.down_bias = reader.row_parallel_bias(c.mlp_bias, p + "mlp.dense_4h_to_h.bias", hidden);
}

// Each row's taps reversed: a conv1d cross-correlation filter (its last tap on the current
// token) in lag order.
std::vector<float> reversed_rows(std::vector<float> values, std::int64_t cols) {
  for (auto row = values.begin(); row != values.end(); row += cols) std::reverse(row, row + cols);
  return values;
}

// A StripedHyena 2 block (docs/evo2.md): the Hyena operator or the attention on this rank's
// channels or heads, and the gated MLP on its columns.
void load_striped_hyena2_layer(ShardReader& reader, int index, LayerWeights& layer) {
  const ModelConfig& c = reader.config();
  const ModelShard& s = reader.shard();
  const std::string p = "blocks." + std::to_string(index) + ".";
  const std::int64_t hidden = c.hidden_size;
  layer.attention_norm_weight = reader.vector(p + "pre_norm.scale", hidden);
  layer.mlp_norm_weight = reader.vector(p + "post_norm.scale", hidden);
  const MixerKind kind = c.mixer(index);
  if (kind == MixerKind::attention) {
    // Wqkv rows per head [q, k, v]: this rank's heads' q rows, then their k rows, then v.
    const std::int64_t hd = c.head_dim;
    const std::string qkv = p + "inner_mha_cls.Wqkv.weight";
    std::vector<float> weight;
    for (int part = 0; part < 3; ++part) {
      for (int h = s.heads.q_begin; h < s.heads.q_begin + s.heads.q_count; ++h) {
        append(weight, reader.rows(qkv, 3 * hidden, hidden, (3 * h + part) * hd, hd));
      }
    }
    layer.qkv_weight = reader.upload(weight, hidden);
    layer.output_weight = reader.columns(p + "inner_mha_cls.out_proj.weight", hidden, hidden,
                                         s.heads.q_begin * hd, s.heads.q_count * hd);
    layer.output_bias =
        reader.row_parallel_bias(c.output_bias, p + "inner_mha_cls.out_proj.bias", hidden);
  } else {
    // Interleaved projections: channel c's three rows are 3c .. 3c + 2, so a rank's channels
    // are one block of rows.
    const std::int64_t c0 = s.hyena_channel_begin;
    const std::int64_t count = s.hyena_channel_count;
    layer.hyena_projection = reader.upload(
        reader.rows(p + "projections.weight", 3 * hidden, hidden, 3 * c0, 3 * count), hidden);
    const std::int64_t short_taps = c.hyena.short_filter_length;
    layer.short_filter = reader.small_matrix(
        reversed_rows(reader.rows(p + "filter.short_filter_weight",
                                  Shape{3 * hidden, 1, short_taps}, 3 * c0, 3 * count),
                      short_taps),
        3 * count);
    if (kind == MixerKind::hyena_long) {
      const std::int64_t states = c.hyena.state_size;
      layer.log_poles = reader.small_matrix(
          reader.rows(p + "filter.log_poles", Shape{hidden, states, 1}, c0, count), count);
      layer.residues = reader.small_matrix(
          reader.rows(p + "filter.residues", Shape{hidden, states}, c0, count), count);
    } else {
      const bool short_kind = kind == MixerKind::hyena_short;
      const std::int64_t groups =
          short_kind ? c.hyena.hcs_filter_groups : c.hyena.hcm_filter_groups;
      const std::int64_t taps = short_kind ? c.hyena.hcs_filter_length : c.hyena.hcm_filter_length;
      const std::int64_t width = c.hyena_group_width(kind);
      std::vector<float> filter =
          reader.rows(p + "filter.h", Shape{groups, 1, taps}, c0 / width, count / width);
      // hcs is a cross-correlation (conv1d), hcm a true convolution (its tap 0 on lag 0).
      if (short_kind) filter = reversed_rows(std::move(filter), taps);
      layer.hyena_filter = reader.small_matrix(filter, count / width);
    }
    if (kind != MixerKind::hyena_short) {
      layer.hyena_skip = reader.small_matrix(reader.rows(p + "filter.D", hidden, 0, c0, count), 1);
    }
    layer.output_weight = reader.columns(p + "out_filter_dense.weight", hidden, hidden, c0, count);
    layer.output_bias = reader.row_parallel_bias(true, p + "out_filter_dense.bias", hidden);
  }
  // [l1 | l2] rows like SwiGLU's [gate | up]; l3 by columns.
  const std::int64_t inter = c.intermediate_size;
  std::vector<float> l1_l2 =
      reader.rows(p + "mlp.l1.weight", inter, hidden, s.intermediate_begin, s.intermediate_count);
  append(l1_l2, reader.rows(p + "mlp.l2.weight", inter, hidden, s.intermediate_begin,
                            s.intermediate_count));
  layer.up_weight = reader.upload(l1_l2, hidden);
  layer.down_weight = reader.columns(p + "mlp.l3.weight", hidden, inter, s.intermediate_begin,
                                     s.intermediate_count);
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
    case QkvLayout::gpt2_conv1d:
      for (int i = 0; i < heads + 2 * kv_heads; ++i) place(i, i);
      break;
  }
  return order;
}

ModelWeights load_model_weights(const ModelConfig& c, const Checkpoint& checkpoint,
                                Backend& backend, const ModelShard& shard) {
  ShardReader reader(c, checkpoint, backend, shard);
  ModelWeights weights;
  const std::int64_t hidden = c.hidden_size;
  const std::string gpt2 = c.architecture == Architecture::gpt2 ? gpt2_prefix(checkpoint) : "";
  std::string embedding_name;
  switch (c.architecture) {
    case Architecture::llama:
      embedding_name = "model.embed_tokens.weight";
      break;
    case Architecture::falcon:
      embedding_name = "transformer.word_embeddings.weight";
      break;
    case Architecture::gpt2:
      embedding_name = gpt2 + "wte.weight";
      break;
    case Architecture::striped_hyena2:
      embedding_name = "embedding_layer.weight";
      break;
  }
  auto vocab_rows = [&](const std::string& name) {
    return reader.upload(
        reader.rows(name, c.vocab_size, hidden, shard.vocab_begin, shard.vocab_count), hidden);
  };
  if (shard.first_stage()) weights.embedding = vocab_rows(embedding_name);
  // Added once, before the embedding's all-reduce, so only TP rank 0 holds it.
  if (shard.first_stage() && shard.tp_rank == 0 &&
      c.position_encoding == PositionEncoding::learned) {
    weights.position_embedding =
        reader.upload(reader.rows(gpt2 + "wpe.weight", c.max_position_embeddings, hidden, 0,
                                  c.max_position_embeddings),
                      hidden);
  }
  for (int i = shard.layer_begin; i < shard.layer_end; ++i) {
    LayerWeights layer;
    switch (c.architecture) {
      case Architecture::llama:
        load_llama_layer(reader, i, layer);
        break;
      case Architecture::falcon:
        load_falcon_layer(reader, i, layer);
        break;
      case Architecture::gpt2:
        load_gpt2_layer(reader, gpt2, i, layer);
        break;
      case Architecture::striped_hyena2:
        load_striped_hyena2_layer(reader, i, layer);
        break;
    }
    weights.layers.push_back(std::move(layer));
  }
  if (shard.last_stage()) {
    if (c.architecture == Architecture::llama) {
      weights.final_norm_weight = reader.vector("model.norm.weight", hidden);
    } else if (c.architecture == Architecture::striped_hyena2) {
      weights.final_norm_weight = reader.vector("norm.scale", hidden);
    } else {
      const std::string final_norm =
          c.architecture == Architecture::gpt2 ? gpt2 + "ln_f" : std::string("transformer.ln_f");
      weights.final_norm_weight = reader.vector(final_norm + ".weight", hidden);
      weights.final_norm_bias = reader.vector(final_norm + ".bias", hidden);
    }
    // Tied: transformers ignores a stored lm_head.weight and uses the embedding.
    if (!c.tie_word_embeddings) {
      weights.lm_head = vocab_rows(
          c.architecture == Architecture::striped_hyena2 ? "unembed.weight" : "lm_head.weight");
    } else if (shard.first_stage()) {
      weights.lm_head = weights.embedding;
    } else {
      weights.lm_head = vocab_rows(embedding_name);
    }
  }
  weights.checkpoint_bytes = checkpoint.bytes_read();
  return weights;
}

ModelWeights load_model_weights(const ModelConfig& config, const Checkpoint& checkpoint,
                                Backend& backend) {
  return load_model_weights(config, checkpoint, backend, whole_model(config));
}

}  // namespace llmpi
