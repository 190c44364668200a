#include "llmpi/config/model_config.hpp"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <utility>

#include "llmpi/core/error.hpp"
#include "llmpi/core/input_file.hpp"

namespace llmpi {

namespace {

using Json = nlohmann::json;

// Typed access to config.json keys; every failure names the file and the key.
class ConfigReader {
 public:
  ConfigReader(const Json& json, std::string source) : json_(json), source_(std::move(source)) {}

  bool has(const char* key) const { return json_.contains(key) && !json_.at(key).is_null(); }

  int positive_int(const char* key) const {
    const Json& value = at(key);
    if (!value.is_number_integer() || value.get<long long>() <= 0 ||
        value.get<long long>() > (1ll << 31) - 1) {
      fail(key, "must be a positive integer, got " + value.dump());
    }
    return value.get<int>();
  }
  int positive_int_or(const char* key, int fallback) const {
    return has(key) ? positive_int(key) : fallback;
  }
  // First of several spellings that is present (transformers' name first, legacy names after).
  int positive_int_any(std::initializer_list<const char*> keys) const {
    for (const char* key : keys) {
      if (has(key)) return positive_int(key);
    }
    std::string names;
    for (const char* key : keys)
      names += std::string(names.empty() ? "" : " or ") + "'" + key + "'";
    throw Error(source_ + ": missing key " + names);
  }

  float positive_float(const char* key) const {
    const Json& value = at(key);
    if (!value.is_number() || value.get<double>() <= 0.0) {
      fail(key, "must be a positive number, got " + value.dump());
    }
    return value.get<float>();
  }
  float positive_float_or(const char* key, float fallback) const {
    return has(key) ? positive_float(key) : fallback;
  }

  bool boolean_or(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    const Json& value = at(key);
    if (!value.is_boolean()) fail(key, "must be true or false, got " + value.dump());
    return value.get<bool>();
  }

  std::string string_or(const char* key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    const Json& value = at(key);
    if (!value.is_string()) fail(key, "must be a string, got " + value.dump());
    return value.get<std::string>();
  }

  const Json& at(const char* key) const {
    if (!json_.contains(key)) throw Error(source_ + ": missing key '" + key + "'");
    return json_.at(key);
  }

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw Error(source_ + ": key '" + key + "' " + what);
  }

  const std::string& source() const { return source_; }

 private:
  const Json& json_;
  std::string source_;
};

// head_dim = hidden / heads where the config has no head_dim of its own; `key` names the hidden
// size as the file spells it.
void set_head_dim(const ConfigReader& reader, const char* key, ModelConfig& config) {
  if (config.hidden_size % config.num_heads != 0) {
    reader.fail(key, std::to_string(config.hidden_size) +
                         " is not divisible by the number of heads " +
                         std::to_string(config.num_heads));
  }
  config.head_dim = config.hidden_size / config.num_heads;
}

std::optional<int> optional_token(const ConfigReader& reader, const char* key) {
  if (!reader.has(key)) return std::nullopt;
  const Json& value = reader.at(key);
  if (!value.is_number_integer() || value.get<long long>() < 0) {
    reader.fail(key, "must be a non-negative token id, got " + value.dump());
  }
  return value.get<int>();
}

std::vector<int> eos_tokens(const ConfigReader& reader) {
  if (!reader.has("eos_token_id")) return {};
  const Json& value = reader.at("eos_token_id");
  std::vector<int> ids;
  auto add = [&](const Json& item) {
    if (!item.is_number_integer() || item.get<long long>() < 0) {
      reader.fail("eos_token_id", "must be a token id or a list of token ids, got " + value.dump());
    }
    ids.push_back(item.get<int>());
  };
  if (value.is_array()) {
    for (const Json& item : value) add(item);
  } else {
    add(value);
  }
  return ids;
}

// Rotary settings: transformers 5 writes `rope_parameters`, earlier versions `rope_theta` and
// `rope_scaling`. Only plain rotary is implemented; every scaling variant is refused by name.
void read_rope(const ConfigReader& reader, const Json& json, ModelConfig& config) {
  config.rope_theta = reader.positive_float_or("rope_theta", 10000.0f);
  auto check_type = [&](const Json& params, const std::string& key) {
    std::string type = "default";
    if (params.contains("rope_type") && params.at("rope_type").is_string()) {
      type = params.at("rope_type").get<std::string>();
    } else if (params.contains("type") && params.at("type").is_string()) {
      type = params.at("type").get<std::string>();
    }
    if (type != "default") {
      reader.fail(key, "asks for rope type '" + type +
                           "', which llmpi does not implement (only plain rotary, rope_type "
                           "'default', is supported)");
    }
    if (params.contains("partial_rotary_factor") &&
        params.at("partial_rotary_factor").get<double>() != 1.0) {
      reader.fail(key, "asks for partial_rotary_factor " +
                           params.at("partial_rotary_factor").dump() +
                           ", which llmpi does not implement (only 1.0)");
    }
  };
  if (reader.has("rope_scaling")) {
    const Json& scaling = json.at("rope_scaling");
    if (!scaling.is_object()) reader.fail("rope_scaling", "must be an object or null");
    check_type(scaling, "rope_scaling");
  }
  if (reader.has("rope_parameters")) {
    const Json& params = json.at("rope_parameters");
    if (!params.is_object()) reader.fail("rope_parameters", "must be an object or null");
    check_type(params, "rope_parameters");
    if (params.contains("rope_theta")) {
      const Json& theta = params.at("rope_theta");
      if (!theta.is_number() || theta.get<double>() <= 0.0) {
        reader.fail("rope_parameters.rope_theta", "must be a positive number, got " + theta.dump());
      }
      config.rope_theta = theta.get<float>();
    }
  }
}

void read_llama(const ConfigReader& reader, const Json& json, ModelConfig& config) {
  config.architecture = Architecture::llama;
  config.hidden_size = reader.positive_int("hidden_size");
  config.intermediate_size = reader.positive_int("intermediate_size");
  config.num_layers = reader.positive_int("num_hidden_layers");
  config.num_heads = reader.positive_int("num_attention_heads");
  config.num_kv_heads = reader.positive_int_or("num_key_value_heads", config.num_heads);
  if (!reader.has("head_dim") && config.hidden_size < config.num_heads) {
    reader.fail("hidden_size", std::to_string(config.hidden_size) + " over " +
                                   std::to_string(config.num_heads) +
                                   " attention heads leaves a head dimension of 0; give "
                                   "head_dim or check hidden_size and num_attention_heads");
  }
  config.head_dim = reader.positive_int_or("head_dim", config.hidden_size / config.num_heads);
  config.vocab_size = reader.positive_int_or("vocab_size", 32000);
  config.max_position_embeddings = reader.positive_int_or("max_position_embeddings", 2048);
  config.norm_eps = reader.positive_float_or("rms_norm_eps", 1e-6f);
  config.norm = NormKind::rms_norm;
  config.mlp = MlpKind::swiglu;
  config.qkv_layout = QkvLayout::separate;
  config.parallel_attention = false;
  config.separate_mlp_norm = true;
  config.attention_bias = reader.boolean_or("attention_bias", false);
  config.output_bias = config.attention_bias;
  config.mlp_bias = reader.boolean_or("mlp_bias", false);
  config.tie_word_embeddings = reader.boolean_or("tie_word_embeddings", false);
  const std::string act = reader.string_or("hidden_act", "silu");
  if (act != "silu") {
    reader.fail("hidden_act", "is '" + act + "'; llmpi implements Llama's 'silu' only");
  }
  if (reader.has("sliding_window")) {
    reader.fail("sliding_window", "is set; sliding-window attention is not implemented");
  }
  read_rope(reader, json, config);
}

void read_falcon(const ConfigReader& reader, const Json& json, ModelConfig& config) {
  config.architecture = Architecture::falcon;
  // Legacy RefinedWeb configs (the original Falcon-40B/180B/7B uploads) use other key names;
  // transformers' FalconConfig accepts n_embed, and the originals n_head, n_head_kv, n_layer.
  config.hidden_size = reader.positive_int_any({"hidden_size", "n_embed"});
  config.num_layers = reader.positive_int_any({"num_hidden_layers", "n_layer"});
  config.num_heads = reader.positive_int_any({"num_attention_heads", "n_head"});
  const bool legacy_grouped = config.model_type == "RefinedWeb";  // Falcon-40B's original code
  const bool new_arch = reader.boolean_or("new_decoder_architecture", legacy_grouped);
  const bool multi_query = reader.boolean_or("multi_query", true);
  int kv_heads = config.num_heads;
  if (reader.has("num_kv_heads")) {
    kv_heads = reader.positive_int("num_kv_heads");
  } else if (reader.has("n_head_kv")) {
    kv_heads = reader.positive_int("n_head_kv");
  }
  if (reader.boolean_or("alibi", false)) {
    reader.fail("alibi", "is true; ALiBi position encoding is not implemented (only rotary)");
  }
  const std::string act = reader.string_or("activation", "gelu");
  if (act != "gelu") {
    reader.fail("activation", "is '" + act + "'; llmpi implements Falcon's 'gelu' only");
  }
  config.parallel_attention = reader.boolean_or("parallel_attn", true);
  if (new_arch && !config.parallel_attention) {
    reader.fail("parallel_attn",
                "is false with new_decoder_architecture true; transformers has "
                "no such Falcon layer either (set parallel_attn true)");
  }
  if (new_arch) {
    config.qkv_layout = QkvLayout::falcon_grouped;
    config.num_kv_heads = kv_heads;
  } else if (multi_query) {
    config.qkv_layout = QkvLayout::falcon_multi_query;
    config.num_kv_heads = 1;
  } else {
    config.qkv_layout = QkvLayout::falcon_interleaved;
    config.num_kv_heads = config.num_heads;
  }
  set_head_dim(reader, "hidden_size", config);
  const int norms_in_parallel_block =
      reader.positive_int_or("num_ln_in_parallel_attn", new_arch ? 2 : 1);
  if (norms_in_parallel_block > 2) {
    reader.fail("num_ln_in_parallel_attn", "must be 1 or 2");
  }
  // Mirrors FalconDecoderLayer: two norms only in a parallel block with num_ln == 2 (which is
  // also what new_decoder_architecture defaults to); a sequential block has its post-attention
  // norm; otherwise the MLP reads the attention's norm.
  config.separate_mlp_norm =
      !config.parallel_attention || (new_arch && norms_in_parallel_block == 2);
  config.intermediate_size = reader.positive_int_or("ffn_hidden_size", 4 * config.hidden_size);
  config.vocab_size = reader.positive_int_or("vocab_size", 65024);
  config.max_position_embeddings = reader.positive_int_or("max_position_embeddings", 2048);
  config.norm_eps = reader.positive_float_or("layer_norm_epsilon", 1e-5f);
  config.norm = NormKind::layer_norm;
  config.mlp = MlpKind::gelu;
  const bool bias = reader.boolean_or("bias", false);
  config.attention_bias = bias;
  config.output_bias = bias;
  config.mlp_bias = bias;
  config.tie_word_embeddings = reader.boolean_or("tie_word_embeddings", true);
  read_rope(reader, json, config);
}

// GPT-2 as transformers' GPT2Config reads it: n_* names (or their hidden_size-style aliases),
// n_inner null meaning 4 x n_embd, learned positions, biases everywhere, a sequential block.
void read_gpt2(const ConfigReader& reader, ModelConfig& config) {
  config.architecture = Architecture::gpt2;
  config.hidden_size = reader.positive_int_or("n_embd", 0);
  if (config.hidden_size == 0) config.hidden_size = reader.positive_int_or("hidden_size", 768);
  config.num_layers = reader.has("n_layer") ? reader.positive_int("n_layer")
                                            : reader.positive_int_or("num_hidden_layers", 12);
  config.num_heads = reader.has("n_head") ? reader.positive_int("n_head")
                                          : reader.positive_int_or("num_attention_heads", 12);
  config.num_kv_heads = config.num_heads;
  set_head_dim(reader, "n_embd", config);
  config.intermediate_size = reader.positive_int_or("n_inner", 4 * config.hidden_size);
  config.vocab_size = reader.positive_int_or("vocab_size", 50257);
  config.max_position_embeddings = reader.has("n_positions")
                                       ? reader.positive_int("n_positions")
                                       : reader.positive_int_or("max_position_embeddings", 1024);
  config.norm_eps = reader.positive_float_or("layer_norm_epsilon", 1e-5f);
  config.norm = NormKind::layer_norm;
  const std::string act = reader.string_or("activation_function", "gelu_new");
  if (act == "gelu") {
    config.mlp = MlpKind::gelu;
  } else if (act == "gelu_new" || act == "gelu_pytorch_tanh" || act == "gelu_fast") {
    config.mlp = MlpKind::gelu_tanh;  // three spellings of one tanh formula
  } else {
    reader.fail("activation_function",
                "is '" + act +
                    "'; llmpi implements 'gelu' (erf) and the tanh approximation 'gelu_new', "
                    "'gelu_pytorch_tanh', 'gelu_fast'");
  }
  config.position_encoding = PositionEncoding::learned;
  config.qkv_layout = QkvLayout::gpt2_conv1d;
  config.parallel_attention = false;
  config.separate_mlp_norm = true;
  config.attention_bias = true;
  config.output_bias = true;
  config.mlp_bias = true;
  config.tie_word_embeddings = reader.boolean_or("tie_word_embeddings", true);
  config.scale_attn_weights = reader.boolean_or("scale_attn_weights", true);
  config.scale_attn_by_inverse_layer_idx =
      reader.boolean_or("scale_attn_by_inverse_layer_idx", false);
  // Scores in fp32 scaled before the softmax is what every backend does already; the option
  // only changes the order of rounding in half-precision torch.
  (void)reader.boolean_or("reorder_and_upcast_attn", false);
  if (reader.has("add_cross_attention") && reader.boolean_or("add_cross_attention", false)) {
    reader.fail("add_cross_attention", "is true; llmpi runs decoder-only models");
  }
}

// The block kind of every layer from evo2's four index lists; each layer in exactly one.
std::vector<MixerKind> striped_hyena_mixers(const ConfigReader& reader, int layers) {
  std::vector<std::optional<MixerKind>> kinds(static_cast<std::size_t>(layers));
  const std::pair<const char*, MixerKind> lists[] = {{"hcs_layer_idxs", MixerKind::hyena_short},
                                                     {"hcm_layer_idxs", MixerKind::hyena_medium},
                                                     {"hcl_layer_idxs", MixerKind::hyena_long},
                                                     {"attn_layer_idxs", MixerKind::attention}};
  for (const auto& [key, kind] : lists) {
    if (!reader.has(key)) continue;
    const Json& list = reader.at(key);
    if (!list.is_array()) reader.fail(key, "must be a list of layer indices, got " + list.dump());
    for (const Json& item : list) {
      if (!item.is_number_integer() || item.get<long long>() < 0 ||
          item.get<long long>() >= layers) {
        reader.fail(key, "holds " + item.dump() + "; layer indices are 0 .. " +
                             std::to_string(layers - 1) + " (num_layers " + std::to_string(layers) +
                             ")");
      }
      auto& slot = kinds[static_cast<std::size_t>(item.get<int>())];
      if (slot) reader.fail(key, "names layer " + item.dump() + ", which another list names too");
      slot = kind;
    }
  }
  std::vector<MixerKind> mixers;
  for (std::size_t layer = 0; layer < kinds.size(); ++layer) {
    if (!kinds[layer]) {
      throw Error(reader.source() + ": layer " + std::to_string(layer) +
                  " is in none of hcs_layer_idxs, hcm_layer_idxs, hcl_layer_idxs, "
                  "attn_layer_idxs");
    }
    mixers.push_back(*kinds[layer]);
  }
  return mixers;
}

// StripedHyena 2 (Evo 2) from the evo2 yml keys as vtx reads them (docs/evo2.md). Options vtx
// has that the published evo2 configs do not use are refused by name rather than guessed.
void read_striped_hyena2(const ConfigReader& reader, ModelConfig& config) {
  config.architecture = Architecture::striped_hyena2;
  config.hidden_size = reader.positive_int("hidden_size");
  if (reader.has("num_filters") && reader.positive_int("num_filters") != config.hidden_size) {
    reader.fail("num_filters", "differs from hidden_size; llmpi runs Hyena over every channel");
  }
  config.num_layers = reader.positive_int("num_layers");
  config.num_heads = reader.positive_int("num_attention_heads");
  if (reader.positive_int_or("proj_groups", 1) != 1) {
    reader.fail("proj_groups", "is not 1; llmpi runs evo2's multi-head attention only");
  }
  config.num_kv_heads = config.num_heads;
  set_head_dim(reader, "hidden_size", config);
  config.intermediate_size = reader.positive_int("inner_mlp_size");
  config.vocab_size = reader.positive_int("vocab_size");
  config.max_position_embeddings = reader.positive_int_or("max_seqlen", 8192);
  config.norm_eps = reader.positive_float_or("eps", 1e-6f);
  config.norm = NormKind::rms_norm_eps_on_root;
  const std::string act = reader.string_or("mlp_activation", "gelu");
  if (act != "gelu") reader.fail("mlp_activation", "is '" + act + "'; evo2's is 'gelu'");
  if (!reader.boolean_or("evo2_style_activations", false)) {
    reader.fail("evo2_style_activations",
                "is not true; llmpi implements evo2's MLPs (GELU in layer 0 only)");
  }
  config.mlp = MlpKind::evo2_gated;
  config.qkv_layout = QkvLayout::falcon_interleaved;  // Wqkv rows per head: q, k, v
  config.separate_mlp_norm = true;
  config.attention_bias = false;
  config.output_bias = reader.boolean_or("mha_out_proj_bias", false);
  config.mlp_bias = false;
  config.tie_word_embeddings = reader.boolean_or("tie_embeddings", false);
  config.rope_theta = reader.positive_float_or("rotary_emb_base", 10000.0f);
  if (reader.boolean_or("use_interpolated_rotary_pos_emb", false)) {
    config.rope_position_divisor = reader.positive_float_or("rotary_emb_scaling_factor", 1.0f);
  }
  // The layouts vtx can be configured for; the evo2 checkpoints use exactly these.
  const std::pair<const char*, bool> required[] = {
      {"interleave", true},          {"column_split", true},   {"column_split_hyena", false},
      {"hyena_flip_x1x2", false},    {"qkv_proj_bias", false}, {"short_filter_bias", false},
      {"hyena_out_proj_bias", true}, {"final_norm", true}};
  for (const auto& [key, value] : required) {
    if (reader.has(key) && reader.boolean_or(key, value) != value) {
      reader.fail(key, std::string("is ") + (value ? "false" : "true") +
                           "; llmpi reads evo2 checkpoints, where it is " +
                           (value ? "true" : "false"));
    }
  }
  config.mixers = striped_hyena_mixers(reader, config.num_layers);
  HyenaConfig& h = config.hyena;
  h.short_filter_length = reader.positive_int("short_filter_length");
  h.hcs_filter_length = reader.positive_int("hcs_filter_length");
  h.hcs_filter_groups = reader.positive_int("hcs_filter_groups");
  h.hcm_filter_length = reader.positive_int("hcm_filter_length");
  h.hcm_filter_groups = reader.positive_int("hcm_filter_groups");
  h.state_size = reader.positive_int("state_size");
  h.fp8_input_projections = reader.boolean_or("use_fp8_input_projections", false);
  for (const char* key : {"hcs_filter_groups", "hcm_filter_groups"}) {
    if (config.hidden_size % reader.positive_int(key) != 0) {
      reader.fail(key, "does not divide hidden_size " + std::to_string(config.hidden_size));
    }
  }
  // vtx's hcs filters have no skip term, so it keeps them under 128 taps; hcm's have one.
  if (h.hcs_filter_length >= 128) {
    reader.fail("hcs_filter_length",
                "is 128 or more, where vtx gives the filter a skip term "
                "that evo2's short filters do not have");
  }
  // CharLevelTokenizer: end of document 0 (also what generation stops at).
  config.eos_token_ids = {0};
}

}  // namespace

bool ModelConfig::has_recurrent_layers() const {
  for (const MixerKind kind : mixers) {
    if (kind != MixerKind::attention) return true;
  }
  return false;
}

int ModelConfig::hyena_group_width(MixerKind kind) const {
  switch (kind) {
    case MixerKind::hyena_short:
      return hidden_size / hyena.hcs_filter_groups;
    case MixerKind::hyena_medium:
      return hidden_size / hyena.hcm_filter_groups;
    case MixerKind::hyena_long:
    case MixerKind::attention:
      return 1;
  }
  return 1;
}

ModelConfig::HyenaStateWidths ModelConfig::hyena_state_widths(MixerKind kind,
                                                              std::int64_t channels) const {
  HyenaStateWidths widths;
  widths.short_filter = 3 * channels * (hyena.short_filter_length - 1);
  switch (kind) {
    case MixerKind::attention:
      return {};
    case MixerKind::hyena_short:
      widths.hyena_operator = channels * (hyena.hcs_filter_length - 1);
      break;
    case MixerKind::hyena_medium:
      widths.hyena_operator = channels * (hyena.hcm_filter_length - 1);
      break;
    case MixerKind::hyena_long:
      widths.hyena_operator = channels * hyena.state_size;
      break;
  }
  return widths;
}

float ModelConfig::attention_score_factor(int layer) const {
  float factor = 1.0f;
  if (!scale_attn_weights) factor *= std::sqrt(static_cast<float>(head_dim));
  if (scale_attn_by_inverse_layer_idx) factor /= static_cast<float>(layer + 1);
  return factor;
}

std::string architecture_name(Architecture architecture) {
  switch (architecture) {
    case Architecture::llama:
      return "llama";
    case Architecture::falcon:
      return "falcon";
    case Architecture::gpt2:
      return "gpt2";
    case Architecture::striped_hyena2:
      return "striped_hyena2";
  }
  return "?";
}

ModelConfig parse_model_config(const std::string& json_text, const std::string& source) {
  const Json json = parse_json(json_text, source);
  if (!json.is_object()) throw Error(source + ": expected a JSON object at the top level");
  ConfigReader reader(json, source);
  ModelConfig config;
  config.source = source;
  config.model_type = reader.string_or("model_type", "");

  std::string architecture;
  if (reader.has("architectures")) {
    const Json& list = json.at("architectures");
    if (!list.is_array() || list.empty() || !list.at(0).is_string()) {
      reader.fail("architectures", "must be a non-empty list of class names");
    }
    architecture = list.at(0).get<std::string>();
  }
  const bool is_llama =
      architecture == "LlamaForCausalLM" || (architecture.empty() && config.model_type == "llama");
  const bool is_falcon = architecture == "FalconForCausalLM" || architecture == "RWForCausalLM" ||
                         (architecture.empty() &&
                          (config.model_type == "falcon" || config.model_type == "RefinedWeb" ||
                           config.model_type == "RefinedWebModel"));
  const bool is_gpt2 =
      architecture == "GPT2LMHeadModel" || (architecture.empty() && config.model_type == "gpt2");
  const bool is_striped_hyena2 = architecture == "StripedHyena2" ||
                                 (architecture.empty() && config.model_type == "stripedhyena2");
  if (is_llama) {
    read_llama(reader, json, config);
  } else if (is_striped_hyena2) {
    read_striped_hyena2(reader, config);
  } else if (is_falcon) {
    read_falcon(reader, json, config);
  } else if (is_gpt2) {
    read_gpt2(reader, config);
  } else {
    const std::string what = !architecture.empty()        ? "architecture '" + architecture + "'"
                             : !config.model_type.empty() ? "model_type '" + config.model_type + "'"
                                                          : "model (neither 'architectures' nor "
                                                            "'model_type' is given)";
    throw Error(source + ": unknown " + what +
                "; llmpi supports LlamaForCausalLM, FalconForCausalLM (also RWForCausalLM, "
                "model_type falcon, RefinedWeb, RefinedWebModel), GPT2LMHeadModel (model_type "
                "gpt2) and StripedHyena2 (Evo 2, model_type stripedhyena2; docs/evo2.md)");
  }

  if (config.num_heads % config.num_kv_heads != 0) {
    throw Error(source + ": the " + std::to_string(config.num_heads) +
                " attention heads are not a multiple of the " +
                std::to_string(config.num_kv_heads) + " key/value heads");
  }
  config.bos_token_id = optional_token(reader, "bos_token_id");
  if (reader.has("eos_token_id")) config.eos_token_ids = eos_tokens(reader);
  if (reader.has("torch_dtype")) {
    config.torch_dtype = reader.string_or("torch_dtype", "");
  } else if (reader.has("dtype")) {
    config.torch_dtype = reader.string_or("dtype", "");
  }
  return config;
}

ModelConfig load_model_config(const std::filesystem::path& model_dir) {
  const std::filesystem::path path = model_dir / "config.json";
  std::error_code error;
  if (!std::filesystem::exists(std::filesystem::symlink_status(path, error))) {
    throw Error("missing " + path.string() +
                " (a model directory is a Hugging Face checkpoint: config.json, "
                "*.safetensors, tokenizer.json)");
  }
  // Present but unusable (a link loop, no permission, a FIFO) is said as such.
  constexpr std::uint64_t kMaxBytes = std::uint64_t{16} << 20;
  return parse_model_config(read_input_file(path, "model config", kMaxBytes), path.string());
}

}  // namespace llmpi
