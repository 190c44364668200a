#include "llmpi/bench/random_weights.hpp"

#include <algorithm>
#include <random>
#include <vector>

namespace llmpi {

namespace {

constexpr std::int64_t kBlockRows = 64;

class RandomTensors {
 public:
  RandomTensors(Backend& backend, std::uint32_t seed) : backend_(backend), generator_(seed) {}

  Tensor matrix(std::int64_t rows, std::int64_t cols) {
    Tensor tensor = backend_.allocate(rows, cols);
    fill(tensor);
    return tensor;
  }
  // A weight matrix as a bf16 checkpoint gives it: compact where the backend keeps weights as
  // stored (the CPU), else in the backend's own storage.
  Tensor weight(std::int64_t rows, std::int64_t cols) {
    if (backend_.storage_dtype() == DType::bf16 || !backend_.holds_weights_as(DType::bf16)) {
      return matrix(rows, cols);
    }
    const std::int64_t block_rows = std::min(kBlockRows, rows);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    std::vector<float> block(static_cast<std::size_t>(block_rows * cols));
    for (float& v : block) v = normal(generator_);
    std::vector<float> values(static_cast<std::size_t>(rows * cols));
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = block[i % block.size()];
    return backend_.upload_weight(values, rows, cols, DType::bf16);
  }
  Tensor constant(std::int64_t cols, float value) { return constant(1, cols, value); }
  Tensor constant(std::int64_t rows, std::int64_t cols, float value) {
    const std::vector<float> values(static_cast<std::size_t>(rows * cols), value);
    return backend_.upload(values, rows, cols);
  }
  void fill(Tensor& tensor) {
    if (tensor.numel() == 0) return;
    const std::int64_t block_rows = std::min(kBlockRows, tensor.rows);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    std::vector<float> values(static_cast<std::size_t>(block_rows * tensor.cols));
    for (float& v : values) v = normal(generator_);
    const Tensor block = backend_.upload(values, block_rows, tensor.cols);
    for (std::int64_t row = 0; row < tensor.rows; row += block_rows) {
      const std::int64_t count = std::min(block_rows, tensor.rows - row);
      backend_.copy_rows(block.row_range(0, count), tensor, row);
    }
  }

 private:
  Backend& backend_;
  std::mt19937 generator_;
};

}  // namespace

void fill_random(Backend& backend, Tensor& tensor, std::uint32_t seed) {
  RandomTensors(backend, seed).fill(tensor);
}

ModelWeights random_model_weights(const ModelConfig& config, const ModelShard& shard,
                                  Backend& backend, std::uint32_t seed) {
  RandomTensors random(backend, seed);
  const std::int64_t hidden = config.hidden_size;
  const std::int64_t q = static_cast<std::int64_t>(shard.heads.q_count) * config.head_dim;
  const std::int64_t kv = static_cast<std::int64_t>(shard.heads.kv_count) * config.head_dim;
  const std::int64_t inter = shard.intermediate_count;
  const bool gated = config.mlp == MlpKind::swiglu || config.mlp == MlpKind::evo2_gated;
  const std::int64_t up_rows = gated ? 2 * inter : inter;
  const std::int64_t channels = shard.hyena_channel_count;
  const bool layer_norm = config.norm == NormKind::layer_norm;
  const bool rank0 = shard.tp_rank == 0;  // row-parallel biases live on TP rank 0 only

  ModelWeights weights;
  for (int layer = 0; layer < shard.layer_count(); ++layer) {
    LayerWeights l;
    l.attention_norm_weight = random.constant(hidden, 1.0f);
    if (layer_norm) l.attention_norm_bias = random.constant(hidden, 0.0f);
    if (config.separate_mlp_norm) {
      l.mlp_norm_weight = random.constant(hidden, 1.0f);
      if (layer_norm) l.mlp_norm_bias = random.constant(hidden, 0.0f);
    }
    const MixerKind kind = config.mixer(shard.layer_begin + layer);
    if (kind == MixerKind::attention) {
      l.qkv_weight = random.weight(q + 2 * kv, hidden);
      if (config.attention_bias) l.qkv_bias = random.matrix(1, q + 2 * kv);
      l.output_weight = random.weight(hidden, q);
      if (config.output_bias && rank0) l.output_bias = random.matrix(1, hidden);
    } else {
      const HyenaConfig& h = config.hyena;
      l.hyena_projection = random.weight(3 * channels, hidden);
      l.short_filter = random.matrix(3 * channels, h.short_filter_length);
      if (kind == MixerKind::hyena_long) {
        // Decaying poles (|p| < 1), as trained ones are: a long run stays finite.
        l.log_poles = random.constant(channels, h.state_size, -0.5f);
        l.residues = random.matrix(channels, h.state_size);
      } else {
        const int taps = kind == MixerKind::hyena_short ? h.hcs_filter_length : h.hcm_filter_length;
        l.hyena_filter = random.matrix(channels / config.hyena_group_width(kind), taps);
      }
      if (kind != MixerKind::hyena_short) l.hyena_skip = random.matrix(1, channels);
      l.output_weight = random.weight(hidden, channels);
      if (rank0) l.output_bias = random.matrix(1, hidden);
    }
    l.up_weight = random.weight(up_rows, hidden);
    l.down_weight = random.weight(hidden, inter);
    if (config.mlp_bias) {
      l.up_bias = random.matrix(1, up_rows);
      if (rank0) l.down_bias = random.matrix(1, hidden);
    }
    weights.layers.push_back(l);
  }
  if (shard.first_stage()) weights.embedding = random.weight(shard.vocab_count, hidden);
  if (shard.first_stage() && rank0 && config.position_encoding == PositionEncoding::learned) {
    weights.position_embedding = random.weight(config.max_position_embeddings, hidden);
  }
  if (shard.last_stage()) {
    weights.final_norm_weight = random.constant(hidden, 1.0f);
    if (layer_norm) weights.final_norm_bias = random.constant(hidden, 0.0f);
    weights.lm_head = config.tie_word_embeddings && shard.first_stage()
                          ? weights.embedding
                          : random.weight(shard.vocab_count, hidden);
  }
  return weights;
}

}  // namespace llmpi
