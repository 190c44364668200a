// The YAML side of presets: strict keys and types with file and line in every message; the
// `model:` section handed to the config.json parser so config semantics live in one place.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "llmpi/config/preset.hpp"
#include "llmpi/config/yaml_document.hpp"
#include "llmpi/config/yaml_map.hpp"
#include "llmpi/core/error.hpp"
#include "llmpi/core/input_file.hpp"
#include "preset_rules.hpp"

namespace llmpi {

namespace {

using Json = nlohmann::json;

// The `model:` map as the JSON of a config.json, so it can be pasted from a published one.
Json to_json(const YAML::Node& node, const std::string& source) {
  if (node.IsMap()) {
    Json object = Json::object();
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar()) {
        throw Error(source + ":" + std::to_string(line_of(it->first, 0)) +
                    ": model keys must be plain names");
      }
      object[it->first.Scalar()] = to_json(it->second, source);
    }
    return object;
  }
  if (node.IsSequence()) {
    Json array = Json::array();
    for (const auto& item : node) array.push_back(to_json(item, source));
    return array;
  }
  switch (classify(node)) {
    case ScalarKind::null:
      return nullptr;
    case ScalarKind::boolean:
      return parse_boolean(node.Scalar());
    case ScalarKind::integer:
      return std::stoll(node.Scalar());
    case ScalarKind::number:
      return std::strtod(node.Scalar().c_str(), nullptr);
    case ScalarKind::string:
      break;
  }
  return node.Scalar();
}

// parse_model_config names the key but knows no lines: its message is re-anchored on the line
// of that key in the preset (or of `model:` for a missing one).
ModelConfig parse_model_section(const YamlMap& top, const std::string& source) {
  const int model_line = top.line("model");
  if (!top.has("model")) {
    throw Error(source + ":" + std::to_string(model_line) +
                ": key 'model' is missing; it holds the architecture as the keys of the "
                "model's Hugging Face config.json");
  }
  const YAML::Node& model = top.node("model");
  if (!model.IsMap()) {
    throw Error(source + ":" + std::to_string(model_line) +
                ": key 'model' must be a map of config.json keys");
  }
  const std::string prefix = source + ": model";
  try {
    ModelConfig config = parse_model_config(to_json(model, source).dump(), prefix);
    config.source = source;
    return config;
  } catch (const Error& e) {
    std::string message = e.what();
    if (message.rfind(prefix, 0) != 0) throw;
    int line = model_line;
    const auto quote = message.find("key '");
    if (quote != std::string::npos) {
      const auto begin = quote + 5;
      std::string key = message.substr(begin, message.find('\'', begin) - begin);
      key = key.substr(0, key.find('.'));  // rope_parameters.rope_theta -> rope_parameters
      for (auto it = model.begin(); it != model.end(); ++it) {
        if (it->first.Scalar() == key) line = line_of(it->first, line);
      }
    }
    throw Error(source + ":" + std::to_string(line) + ": model" + message.substr(prefix.size()));
  }
}

YAML::Node parse_yaml(const std::string& yaml_text, const std::string& source) {
  return load_yaml(yaml_text, source);
}

}  // namespace

Preset parse_preset(const std::string& yaml_text, const std::string& source) {
  const YAML::Node document = parse_yaml(yaml_text, source);
  if (!document.IsMap()) {
    throw Error(source +
                ":1: a preset is a YAML map with the keys name, model, dtype, "
                "checkpoint, context_length, parallel, batch, memory (docs/presets.md)");
  }
  const YamlMap top(document, source, "",
                    {"name", "description", "checkpoint", "dtype", "context_length", "parallel",
                     "batch", "memory", "stall_limit_s", "model"},
                    1);
  Preset preset;
  preset.source = source;
  preset.yaml_text = yaml_text;
  preset.model = parse_model_section(top, source);
  const ModelConfig& model = preset.model;

  preset.name = top.string("name", std::filesystem::path(source).stem().string());
  preset.description = top.string("description", "");
  const std::string checkpoint = top.string("checkpoint", "");
  if (!checkpoint.empty()) {
    // Relative to the preset's folder, so a preset works from any working directory.
    const std::filesystem::path path(checkpoint);
    preset.checkpoint =
        path.is_absolute()
            ? checkpoint
            : (std::filesystem::path(source).parent_path() / path).lexically_normal().string();
  }
  preset.dtype = preset_rules::dtype(top.string("dtype", "bf16"), top.where("dtype"));
  preset.context_length = top.small_integer("context_length", model.max_position_embeddings);
  preset_rules::context_length(model, preset.context_length, top.where("context_length"));

  preset.stall_limit_s = top.small_integer("stall_limit_s", preset.stall_limit_s);
  preset_rules::non_negative(preset.stall_limit_s, top.where("stall_limit_s"));

  const YamlMap parallel = top.map("parallel", {"tp", "pp", "dp"});
  preset.layout.tp = parallel.small_integer("tp", 1);
  preset_rules::tp(model, preset.layout.tp, parallel.where("tp"));
  preset.layout.pp = parallel.small_integer("pp", 1);
  preset_rules::pp(model, preset.layout.pp, parallel.where("pp"));
  preset.dp_fixed = parallel.has("dp");
  preset.layout.dp = parallel.small_integer("dp", 1);
  preset_rules::positive(preset.layout.dp, parallel.where("dp"));

  const YamlMap batch = top.map("batch", {"max_sequences", "max_tokens"});
  preset.batch.max_sequences = batch.small_integer("max_sequences", preset.batch.max_sequences);
  preset_rules::positive(preset.batch.max_sequences, batch.where("max_sequences"));
  preset.batch.max_tokens = batch.small_integer("max_tokens", preset.batch.max_tokens);
  preset_rules::positive(preset.batch.max_tokens, batch.where("max_tokens"));

  const YamlMap memory = top.map("memory", {"gpu_fraction", "reserve_gib"});
  preset.memory.gpu_fraction = memory.number("gpu_fraction", preset.memory.gpu_fraction);
  preset_rules::fraction(preset.memory.gpu_fraction, memory.where("gpu_fraction"));
  preset.memory.reserve_gib = memory.number("reserve_gib", preset.memory.reserve_gib);
  preset_rules::non_negative(preset.memory.reserve_gib, memory.where("reserve_gib"));
  return preset;
}

Preset load_preset(const std::filesystem::path& path) {
  constexpr std::uint64_t kMaxBytes = std::uint64_t{4} << 20;
  return parse_preset(read_input_file(path, "preset", kMaxBytes), path.string());
}

}  // namespace llmpi
