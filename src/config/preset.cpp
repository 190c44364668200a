// Presets apart from their YAML syntax: the value rules, command-line overrides, and the checks
// the engine runs against a checkpoint and a launch.
#include "llmpi/config/preset.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "llmpi/core/error.hpp"
#include "preset_rules.hpp"

namespace llmpi {

namespace preset_rules {

namespace {
std::string join(const std::vector<int>& values) {
  std::string text;
  for (const int value : values) text += (text.empty() ? "" : ", ") + std::to_string(value);
  return text;
}
}  // namespace

DType dtype(const std::string& value, const std::string& where) {
  if (value == "bf16") return DType::bf16;
  if (value == "fp16") return DType::f16;
  if (value == "fp32") return DType::f32;
  throw Error(where + " is '" + value + "'; valid: bf16, fp16, fp32");
}

void tp(const ModelConfig& model, int value, const std::string& where) {
  const std::vector<int> fitting = valid_tp_values(model, std::max(value, 1));
  if (!fitting.empty() && fitting.back() == value) return;
  const std::string hyena = model.has_recurrent_layers()
                                ? ", and the Hyena filter groups (" +
                                      std::to_string(model.hyena.hcs_filter_groups) + " and " +
                                      std::to_string(model.hyena.hcm_filter_groups) + ")"
                                : "";
  // 16 bounds the list: no node holds more GPUs in one tensor-parallel group.
  throw Error(where + " is " + std::to_string(value) + ", which does not split the " +
              std::to_string(model.num_heads) + " attention heads and " +
              std::to_string(model.num_kv_heads) +
              (model.num_kv_heads == 1 ? " key/value head" : " key/value heads") + hyena +
              " evenly (tp must divide the heads and divide or be a multiple "
              "of the key/value heads); valid tp up to 16: " +
              join(valid_tp_values(model, 16)));
}

void pp(const ModelConfig& model, int value, const std::string& where) {
  if (value >= 1 && value <= model.num_layers) return;
  throw Error(where + " is " + std::to_string(value) + "; pp is a number of pipeline stages " +
              "from 1 to the " + std::to_string(model.num_layers) + " layers");
}

void context_length(const ModelConfig& model, int value, const std::string& where) {
  if (value >= 1 && value <= model.max_position_embeddings) return;
  throw Error(where + " is " + std::to_string(value) + "; valid: 1 to the model's " +
              std::to_string(model.max_position_embeddings) +
              " positions (max_position_embeddings)");
}

void positive(long long value, const std::string& where) {
  if (value >= 1) return;
  throw Error(where + " is " + std::to_string(value) + "; it must be at least 1");
}

void fraction(double value, const std::string& where) {
  if (value > 0.0 && value <= 1.0) return;
  std::ostringstream text;
  text << where << " is " << value << "; valid: a fraction above 0 and at most 1";
  throw Error(text.str());
}

void non_negative(double value, const std::string& where) {
  if (value >= 0.0 && std::isfinite(value)) return;
  std::ostringstream text;
  text << where << " is " << value << "; it must be 0 or more";
  throw Error(text.str());
}

}  // namespace preset_rules

std::string preset_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::bf16:
      return "bf16";
    case DType::f16:
      return "fp16";
    case DType::f32:
      return "fp32";
    case DType::e4m3:
      return "e4m3";  // not a preset's dtype: FP8 GEMM operands only
  }
  return "?";
}

std::filesystem::path resolve_preset_path(const std::string& path_or_name) {
  const std::filesystem::path given(path_or_name);
  if (std::filesystem::is_regular_file(given)) return given;
  // A bare NAME: presets/NAME.yaml under the working directory, then under $LLMPI_PRESETS or
  // the source tree's presets/ (where a build run from elsewhere finds the shipped ones).
  std::vector<std::filesystem::path> folders = {"presets"};
  if (const char* env = std::getenv("LLMPI_PRESETS")) folders.emplace_back(env);
#ifdef LLMPI_DEFAULT_PRESETS_DIR
  folders.emplace_back(LLMPI_DEFAULT_PRESETS_DIR);
#endif
  const bool bare = given.parent_path().empty() && given.extension().empty();
  std::vector<std::string> names;
  std::string searched;
  for (const auto& folder : folders) {
    const std::filesystem::path named = folder / (path_or_name + ".yaml");
    if (bare && std::filesystem::is_regular_file(named)) return named;
    searched += (searched.empty() ? "" : ", ") + folder.string();
    std::error_code ignored;
    for (const auto& entry : std::filesystem::directory_iterator(folder, ignored)) {
      if (entry.path().extension() == ".yaml") names.push_back(entry.path().stem().string());
    }
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::string available;
  for (const auto& name : names) available += (available.empty() ? "" : ", ") + name;
  throw Error("preset '" + path_or_name + "': no such file, nor " + path_or_name + ".yaml in " +
              searched + (available.empty() ? "" : "; presets there: " + available));
}

Preset preset_from_checkpoint(const ModelConfig& model, const std::string& checkpoint) {
  Preset preset;
  preset.name = std::filesystem::path(checkpoint).filename().string();
  preset.source = model.source;
  preset.model = model;
  preset.checkpoint = checkpoint;
  preset.context_length = model.max_position_embeddings;
  return preset;
}

void apply_overrides(Preset& preset, const PresetOverrides& overrides) {
  const ModelConfig& model = preset.model;
  if (overrides.checkpoint) preset.checkpoint = *overrides.checkpoint;
  if (overrides.dtype) preset.dtype = preset_rules::dtype(*overrides.dtype, "--dtype");
  if (overrides.tp) {
    preset_rules::tp(model, *overrides.tp, "--tp");
    preset.layout.tp = *overrides.tp;
  }
  if (overrides.pp) {
    preset_rules::pp(model, *overrides.pp, "--pp");
    preset.layout.pp = *overrides.pp;
  }
  if (overrides.dp) {
    preset_rules::positive(*overrides.dp, "--dp");
    preset.layout.dp = *overrides.dp;
    preset.dp_fixed = true;
  }
  if (overrides.context_length) {
    preset_rules::context_length(model, *overrides.context_length, "--context-length");
    preset.context_length = *overrides.context_length;
  }
  if (overrides.max_batch_sequences) {
    preset_rules::positive(*overrides.max_batch_sequences, "--max-batch-sequences");
    preset.batch.max_sequences = *overrides.max_batch_sequences;
  }
  if (overrides.max_batch_tokens) {
    preset_rules::positive(*overrides.max_batch_tokens, "--max-batch-tokens");
    preset.batch.max_tokens = *overrides.max_batch_tokens;
  }
  if (overrides.gpu_memory_fraction) {
    preset_rules::fraction(*overrides.gpu_memory_fraction, "--gpu-memory-fraction");
    preset.memory.gpu_fraction = *overrides.gpu_memory_fraction;
  }
  if (overrides.stall_limit_s) {
    preset_rules::non_negative(*overrides.stall_limit_s, "--stall-limit");
    preset.stall_limit_s = *overrides.stall_limit_s;
  }
}

namespace {

// One field compared between the preset's `model:` and a checkpoint's config.json.
class ConfigComparison {
 public:
  ConfigComparison(const Preset& preset, const ModelConfig& checkpoint)
      : preset_(preset), checkpoint_(checkpoint) {}

  template <typename T>
  void same(const char* field, const T& pinned, const T& found) const {
    if (pinned == found) return;
    throw Error(preset_.source + " pins " + field + " " + text(pinned) + " but " +
                checkpoint_.source + " has " + text(found) +
                "; use a preset made for this checkpoint or correct the preset's model: section");
  }

 private:
  template <typename T>
  static std::string text(const T& value) {
    std::ostringstream out;
    if constexpr (std::is_same_v<T, bool>) {
      out << (value ? "true" : "false");
    } else {
      out << value;
    }
    return out.str();
  }

  const Preset& preset_;
  const ModelConfig& checkpoint_;
};

std::string qkv_layout_name(QkvLayout layout) {
  switch (layout) {
    case QkvLayout::separate:
      return "separate q/k/v projections";
    case QkvLayout::falcon_grouped:
      return "Falcon grouped query_key_value (new_decoder_architecture)";
    case QkvLayout::falcon_multi_query:
      return "Falcon multi-query query_key_value";
    case QkvLayout::falcon_interleaved:
      return "Falcon interleaved query_key_value";
    case QkvLayout::gpt2_conv1d:
      return "GPT-2 c_attn (Conv1D)";
  }
  return "?";
}

// A StripedHyena 2 model's block structure and Hyena sizes, in one line ("" for the others).
std::string hyena_text(const ModelConfig& c) {
  if (!c.has_recurrent_layers()) return "";
  std::string text;
  for (int layer = 0; layer < c.num_layers; ++layer) {
    const MixerKind kind = c.mixer(layer);
    text += kind == MixerKind::attention      ? 'a'
            : kind == MixerKind::hyena_short  ? 's'
            : kind == MixerKind::hyena_medium ? 'm'
                                              : 'l';
  }
  const HyenaConfig& h = c.hyena;
  return text + " short " + std::to_string(h.short_filter_length) + " hcs " +
         std::to_string(h.hcs_filter_length) + "/" + std::to_string(h.hcs_filter_groups) + " hcm " +
         std::to_string(h.hcm_filter_length) + "/" + std::to_string(h.hcm_filter_groups) +
         " state " + std::to_string(h.state_size);
}

std::string mlp_name(MlpKind mlp) {
  switch (mlp) {
    case MlpKind::swiglu:
      return "SwiGLU";
    case MlpKind::gelu:
      return "GELU (erf)";
    case MlpKind::gelu_tanh:
      return "GELU (tanh approximation)";
    case MlpKind::evo2_gated:
      return "evo2's gated MLP (GELU in layer 0, bilinear after)";
  }
  return "?";
}

}  // namespace

void check_checkpoint_matches(const Preset& preset, const ModelConfig& checkpoint) {
  const ModelConfig& pinned = preset.model;
  const ConfigComparison compare(preset, checkpoint);
  compare.same("architecture", architecture_name(pinned.architecture),
               architecture_name(checkpoint.architecture));
  compare.same("hidden_size", pinned.hidden_size, checkpoint.hidden_size);
  compare.same("intermediate_size", pinned.intermediate_size, checkpoint.intermediate_size);
  compare.same("num_hidden_layers", pinned.num_layers, checkpoint.num_layers);
  compare.same("num_attention_heads", pinned.num_heads, checkpoint.num_heads);
  compare.same("key/value heads", pinned.num_kv_heads, checkpoint.num_kv_heads);
  compare.same("head_dim", pinned.head_dim, checkpoint.head_dim);
  compare.same("vocab_size", pinned.vocab_size, checkpoint.vocab_size);
  compare.same("max_position_embeddings", pinned.max_position_embeddings,
               checkpoint.max_position_embeddings);
  compare.same("rope_theta", pinned.rope_theta, checkpoint.rope_theta);
  compare.same("the rotary position divisor", pinned.rope_position_divisor,
               checkpoint.rope_position_divisor);
  compare.same("the block kinds and Hyena sizes (a attention, s/m/l hcs/hcm/hcl)",
               hyena_text(pinned), hyena_text(checkpoint));
  compare.same("norm epsilon", pinned.norm_eps, checkpoint.norm_eps);
  compare.same("the query/key/value layout", qkv_layout_name(pinned.qkv_layout),
               qkv_layout_name(checkpoint.qkv_layout));
  compare.same("parallel attention", pinned.parallel_attention, checkpoint.parallel_attention);
  compare.same("separate MLP norm", pinned.separate_mlp_norm, checkpoint.separate_mlp_norm);
  compare.same("attention bias", pinned.attention_bias, checkpoint.attention_bias);
  compare.same("output bias", pinned.output_bias, checkpoint.output_bias);
  compare.same("MLP bias", pinned.mlp_bias, checkpoint.mlp_bias);
  compare.same("tie_word_embeddings", pinned.tie_word_embeddings, checkpoint.tie_word_embeddings);
  compare.same("the MLP activation", mlp_name(pinned.mlp), mlp_name(checkpoint.mlp));
  compare.same("scale_attn_weights", pinned.scale_attn_weights, checkpoint.scale_attn_weights);
  compare.same("scale_attn_by_inverse_layer_idx", pinned.scale_attn_by_inverse_layer_idx,
               checkpoint.scale_attn_by_inverse_layer_idx);
}

ParallelLayout layout_for_world(const Preset& preset, int world_size) {
  ParallelLayout layout = preset.layout;
  if (!preset.dp_fixed) {
    const int per_replica = layout.tp * layout.pp;
    if (world_size % per_replica != 0) {
      throw Error(preset.source + ": " + std::to_string(world_size) +
                  " ranks do not split into replicas of tp x pp = " + std::to_string(layout.tp) +
                  " x " + std::to_string(layout.pp) + " = " + std::to_string(per_replica) +
                  "; launch a multiple of " + std::to_string(per_replica) + " ranks");
    }
    layout.dp = world_size / per_replica;
  }
  validate_layout(preset.model, layout, world_size);
  return layout;
}

PlanSettings plan_settings(const Preset& preset) {
  PlanSettings settings;
  settings.dtype = preset.dtype;
  settings.context_length = preset.context_length;
  settings.max_batch_tokens = preset.batch.max_tokens;
  settings.gpu_fraction = preset.memory.gpu_fraction;
  settings.reserve_bytes = static_cast<std::int64_t>(preset.memory.reserve_gib * double(kGiB));
  return settings;
}

}  // namespace llmpi
