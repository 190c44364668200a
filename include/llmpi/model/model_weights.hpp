#pragma once

#include <vector>

#include "llmpi/backend/backend.hpp"
#include "llmpi/config/model_config.hpp"
#include "llmpi/model/checkpoint.hpp"
#include "llmpi/model/model_shard.hpp"

namespace llmpi {

// One transformer block's weights in the layout the model code uses, whatever the checkpoint's:
// Q, K and V fused as [q | k | v] rows (Falcon's fused layouts are reordered on load), SwiGLU's
// gate and up fused as [gate | up] rows. Absent biases and norm biases are empty tensors.
struct LayerWeights {
  Tensor attention_norm_weight, attention_norm_bias;
  Tensor mlp_norm_weight, mlp_norm_bias;  // empty when the MLP reads the attention's norm
  Tensor qkv_weight, qkv_bias;
  Tensor output_weight, output_bias;
  Tensor up_weight, up_bias;  // SwiGLU: [gate | up]; GELU: dense_h_to_4h
  Tensor down_weight, down_bias;
  // A Hyena layer's operator on this rank's channels c0 .. c0 + C (output_weight and
  // output_bias are its out_filter_dense; empty in attention layers). Filter taps are kept in
  // lag order: tap k multiplies the input k tokens back.
  Tensor hyena_projection;  // [3C, hidden]: per channel its post-gate, x1 and v rows
  // With FP8 input projections, hyena_projection holds E4M3 values of the weight times its
  // scale (E4M3 bytes where the backend runs FP8 GEMMs, else in the weight's dtype), and the
  // projection's outputs are multiplied by this (1 / that scale).
  float hyena_projection_inverse_scale = 1.0f;
  Tensor short_filter;         // [3C, short_filter_length]
  Tensor hyena_filter;         // hcs, hcm: [C / group width, filter length]
  Tensor hyena_skip;           // hcm, hcl: D [1, C]
  Tensor log_poles, residues;  // hcl: [C, state_size] each
};

// A rank's weights: its layers, and within them its heads and MLP columns; the embedding on
// the first stage and the final norm and LM head on the last, each split by vocabulary rows.
// Row-parallel biases are held by TP rank 0 only, so the all-reduce adds them once.
struct ModelWeights {
  Tensor embedding;  // [vocab rows of this rank, hidden]; first stage only
  // [max_position_embeddings, hidden], learned positions only; first stage, TP rank 0 only.
  Tensor position_embedding;
  std::vector<LayerWeights> layers;           // this stage's layers
  Tensor final_norm_weight, final_norm_bias;  // last stage only
  Tensor lm_head;  // [vocab rows of this rank, hidden]; the embedding itself when tied
  std::size_t checkpoint_bytes = 0;  // bytes this rank read from the safetensors files
};

ModelWeights load_model_weights(const ModelConfig& config, const Checkpoint& checkpoint,
                                Backend& backend, const ModelShard& shard);
ModelWeights load_model_weights(const ModelConfig& config, const Checkpoint& checkpoint,
                                Backend& backend);

// Row order that turns a Falcon fused query_key_value weight into [q | k | v]: entry i is the
// head-sized row block of the checkpoint that goes to block i. Exposed for tests.
std::vector<int> falcon_qkv_block_order(const ModelConfig& config);

}  // namespace llmpi
