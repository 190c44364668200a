#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace llmpi {

enum class Architecture { llama, falcon, gpt2, striped_hyena2 };
enum class NormKind {
  rms_norm,  // x / sqrt(mean(x^2) + eps)
  layer_norm,
  rms_norm_eps_on_root,  // StripedHyena's: x / (sqrt(mean(x^2)) + eps)
};
enum class MlpKind {
  swiglu,
  gelu,       // exact (erf) GELU
  gelu_tanh,  // GPT-2's tanh approximation (gelu_new, gelu_pytorch_tanh)
  // StripedHyena 2 (evo2_style_activations): (act(l1 x) * (l2 x)) l3 with act the exact GELU
  // in layer 0 and the identity in every other layer.
  evo2_gated,
};
// What mixes a block's tokens before its MLP.
enum class MixerKind {
  attention,
  hyena_short,   // hcs: explicit FIR of a few taps per filter group
  hyena_medium,  // hcm: explicit FIR of ~128 taps per filter group, plus a skip term
  hyena_long,    // hcl: implicit modal filter (real poles and residues per channel), plus skip
};

// StripedHyena 2's Hyena operators (docs/evo2.md): sizes from the evo2 config.
struct HyenaConfig {
  int short_filter_length = 0;  // depthwise FIR on the 3 x hidden input projections
  int hcs_filter_length = 0, hcs_filter_groups = 0;
  int hcm_filter_length = 0, hcm_filter_groups = 0;
  int state_size = 0;  // hcl poles per channel
  // use_fp8_input_projections: the input projections computed as Transformer Engine's FP8
  // GEMMs, emulated (E4M3 inputs and weights, per-tensor scales; docs/evo2.md).
  bool fp8_input_projections = false;
};
// Where token positions enter the model.
enum class PositionEncoding {
  rotary,   // Llama, Falcon: q and k rotated by position
  learned,  // GPT-2: a learned position embedding added to the token embedding
};

// How Q, K and V come out of the checkpoint's projection weights.
enum class QkvLayout {
  separate,            // Llama: q_proj, k_proj, v_proj
  falcon_grouped,      // Falcon new_decoder_architecture: per KV group [q.. q, k, v]
  falcon_multi_query,  // Falcon-7B: [all q heads, k, v]
  falcon_interleaved,  // Falcon without multi-query: per head [q, k, v]
  gpt2_conv1d,         // GPT-2 c_attn: [q | k | v] output columns of an [in, out] Conv1D
};

// The architecture-relevant contents of a Hugging Face config.json, normalised: legacy key
// names resolved, defaults applied exactly as transformers applies them.
struct ModelConfig {
  std::string source;  // path of the config.json, for messages
  Architecture architecture = Architecture::llama;
  std::string model_type;

  int vocab_size = 0;
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int max_position_embeddings = 0;

  PositionEncoding position_encoding = PositionEncoding::rotary;
  float rope_theta = 10000.0f;  // rotary only
  // Linear position interpolation: rotary angles use position / rope_position_divisor.
  float rope_position_divisor = 1.0f;
  float norm_eps = 1e-5f;
  NormKind norm = NormKind::rms_norm;
  MlpKind mlp = MlpKind::swiglu;
  QkvLayout qkv_layout = QkvLayout::separate;

  bool parallel_attention = false;  // attention and MLP read the same input and are summed
  bool separate_mlp_norm = false;   // Falcon ln_attn + ln_mlp (two norms in a parallel block)
  bool attention_bias = false;      // bias on the Q/K/V projections
  bool output_bias = false;         // bias on the attention output projection
  bool mlp_bias = false;
  bool tie_word_embeddings = false;
  // GPT-2's attention scaling: scores divided by sqrt(head_dim) only when scale_attn_weights,
  // and further by (layer index + 1) when scale_attn_by_inverse_layer_idx.
  bool scale_attn_weights = true;
  bool scale_attn_by_inverse_layer_idx = false;

  // Per layer, when the layers differ (StripedHyena 2); empty: attention everywhere.
  std::vector<MixerKind> mixers;
  HyenaConfig hyena;

  std::optional<int> bos_token_id;
  std::vector<int> eos_token_ids;
  std::string torch_dtype;  // as declared; informational only

  MixerKind mixer(int layer) const {
    return mixers.empty() ? MixerKind::attention : mixers[static_cast<std::size_t>(layer)];
  }
  // Whether some layer carries a per-sequence recurrent state (a Hyena operator) besides keys
  // and values: such a model cannot share cached prefixes by block.
  bool has_recurrent_layers() const;
  // Channels per filter group of a Hyena layer (1 for hcl: one filter per channel).
  int hyena_group_width(MixerKind kind) const;
  // The per-sequence state of a Hyena layer of `kind` on `channels` channels, in values: the
  // short FIR's last inputs (of all 3 x channels projections) and the long operator's (its FIR's
  // last inputs, or the modal state).
  struct HyenaStateWidths {
    std::int64_t short_filter = 0;
    std::int64_t hyena_operator = 0;
  };
  HyenaStateWidths hyena_state_widths(MixerKind kind, std::int64_t channels) const;
  int q_size() const { return num_heads * head_dim; }
  int kv_size() const { return num_kv_heads * head_dim; }
  // The factor by which layer `layer`'s attention scores differ from the usual
  // 1/sqrt(head_dim) that every backend applies (1 except for GPT-2's options).
  float attention_score_factor(int layer) const;
};

// Parses config.json text; `source` names the file in every message.
ModelConfig parse_model_config(const std::string& json_text, const std::string& source);

// Reads DIR/config.json.
ModelConfig load_model_config(const std::filesystem::path& model_dir);

std::string architecture_name(Architecture architecture);

}  // namespace llmpi
