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
#include "llmpi/core/error.hpp"
#include "preset_rules.hpp"

namespace llmpi {

namespace {

using Json = nlohmann::json;

// YAML 1.2 core-schema types of a scalar; quoted scalars are always strings.
enum class ScalarKind { null, boolean, integer, number, string };

ScalarKind classify(const YAML::Node& node) {
  if (node.IsNull()) return ScalarKind::null;
  if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") return ScalarKind::string;
  const std::string& text = node.Scalar();
  if (text == "true" || text == "True" || text == "TRUE" || text == "false" || text == "False" ||
      text == "FALSE") {
    return ScalarKind::boolean;
  }
  long long integer = 0;
  const char* end = text.data() + text.size();
  const char* digits = text.data() + (!text.empty() && text[0] == '+');  // from_chars takes '-'
  const auto [stop, error] = std::from_chars(digits, end, integer);
  if (digits != end && stop == end && error == std::errc()) return ScalarKind::integer;
  char* parsed_end = nullptr;
  const double number = std::strtod(text.c_str(), &parsed_end);
  if (!text.empty() && parsed_end == text.c_str() + text.size() && std::isfinite(number)) {
    return ScalarKind::number;
  }
  return ScalarKind::string;
}

bool parse_boolean(const std::string& text) {
  return text[0] == 't' || text[0] == 'T';
}

// 1-based line of a node; yaml-cpp has none for a missing value, so the key's line stands in.
int line_of(const YAML::Node& node, int fallback) {
  return node.Mark().line >= 0 ? node.Mark().line + 1 : fallback;
}

// One YAML map of the preset: refuses keys it does not know and repeated keys, and reads its
// values with their types checked. `path` is the dotted name of the map ("" at the top).
class PresetMap {
 public:
  PresetMap(const YAML::Node& node, std::string source, std::string path,
            std::vector<std::string> keys, int line)
      : source_(std::move(source)), path_(std::move(path)), keys_(std::move(keys)), line_(line) {
    if (!node.IsDefined() || node.IsNull()) return;
    if (!node.IsMap()) {
      throw Error(source_ + ":" + std::to_string(line_of(node, line_)) + ": " +
                  (path_.empty() ? "a preset" : "key '" + path_ + "'") +
                  " must be a map with keys " + key_list());
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
      const int key_line = line_of(it->first, line_);
      if (!it->first.IsScalar()) {
        throw Error(source_ + ":" + std::to_string(key_line) +
                    ": keys must be plain names; valid here: " + key_list());
      }
      const std::string key = it->first.Scalar();
      if (std::find(keys_.begin(), keys_.end(), key) == keys_.end()) {
        throw Error(where(key, key_line) + " is not a preset key; valid " +
                    (path_.empty() ? "top-level keys" : "keys under '" + path_ + "'") + ": " +
                    key_list());
      }
      if (entries_.count(key)) {
        throw Error(where(key, key_line) + " appears twice (first on line " +
                    std::to_string(entries_.at(key).line) + ")");
      }
      entries_.emplace(key, Entry{it->second, key_line});
    }
  }

  bool has(const std::string& key) const {
    return entries_.count(key) && !entries_.at(key).value.IsNull();
  }

  // "FILE:LINE: key 'a.b'", the start of every message about the key.
  std::string where(const std::string& key) const {
    return where(key, entries_.count(key) ? entries_.at(key).line : line_);
  }
  int line(const std::string& key) const {
    return entries_.count(key) ? entries_.at(key).line : line_;
  }
  const YAML::Node& node(const std::string& key) const { return entries_.at(key).value; }

  long long integer(const std::string& key, long long fallback) const {
    if (!has(key)) return fallback;
    const YAML::Node& value = scalar(key, "an integer");
    if (classify(value) != ScalarKind::integer) type_error(key, "an integer");
    long long result = 0;
    const std::string& text = value.Scalar();
    const char* digits = text.data() + (text[0] == '+');
    if (std::from_chars(digits, text.data() + text.size(), result).ec != std::errc()) {
      type_error(key, "an integer");
    }
    return result;
  }
  int small_integer(const std::string& key, int fallback) const {
    const long long value = integer(key, fallback);
    if (value < -(1ll << 31) || value > (1ll << 31) - 1) {
      throw Error(where(key) + " is " + std::to_string(value) + ", out of range");
    }
    return static_cast<int>(value);
  }

  double number(const std::string& key, double fallback) const {
    if (!has(key)) return fallback;
    const YAML::Node& value = scalar(key, "a number");
    const ScalarKind kind = classify(value);
    if (kind != ScalarKind::integer && kind != ScalarKind::number) type_error(key, "a number");
    return std::strtod(value.Scalar().c_str(), nullptr);
  }

  std::string string(const std::string& key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    const YAML::Node& value = scalar(key, "a string");
    if (classify(value) != ScalarKind::string) type_error(key, "a string");
    return value.Scalar();
  }

  PresetMap map(const std::string& key, std::vector<std::string> keys) const {
    const YAML::Node empty;
    const YAML::Node& value = entries_.count(key) ? node(key) : empty;
    return PresetMap(value, source_, dotted(key), std::move(keys), line(key));
  }

 private:
  struct Entry {
    YAML::Node value;
    int line;
  };

  std::string dotted(const std::string& key) const {
    return path_.empty() ? key : path_ + "." + key;
  }

  std::string where(const std::string& key, int at_line) const {
    return source_ + ":" + std::to_string(at_line) + ": key '" + dotted(key) + "'";
  }

  const YAML::Node& scalar(const std::string& key, const char* expected) const {
    const YAML::Node& value = node(key);
    if (!value.IsScalar()) type_error(key, expected);
    return value;
  }

  [[noreturn]] void type_error(const std::string& key, const char* expected) const {
    const YAML::Node& value = node(key);
    const std::string got = value.IsScalar()     ? "'" + value.Scalar() + "'"
                            : value.IsMap()      ? "a map"
                            : value.IsSequence() ? "a list"
                                                 : "nothing";
    throw Error(where(key) + " must be " + expected + ", got " + got);
  }

  std::string key_list() const {
    std::string text;
    for (const auto& key : keys_) text += (text.empty() ? "" : ", ") + key;
    return text;
  }

  std::string source_;
  std::string path_;
  std::vector<std::string> keys_;
  int line_;
  std::map<std::string, Entry> entries_;
};

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
ModelConfig parse_model_section(const PresetMap& top, const std::string& source) {
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
  try {
    return YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw Error(source + ":" + std::to_string(e.mark.line + 1) + ":" +
                std::to_string(e.mark.column + 1) + ": not valid YAML: " + e.msg);
  }
}

}  // namespace

Preset parse_preset(const std::string& yaml_text, const std::string& source) {
  const YAML::Node document = parse_yaml(yaml_text, source);
  if (!document.IsMap()) {
    throw Error(source +
                ":1: a preset is a YAML map with the keys name, model, dtype, "
                "checkpoint, context_length, parallel, batch, memory (docs/presets.md)");
  }
  const PresetMap top(document, source, "",
                      {"name", "description", "checkpoint", "dtype", "context_length", "parallel",
                       "batch", "memory", "model"},
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

  const PresetMap parallel = top.map("parallel", {"tp", "pp", "dp"});
  preset.layout.tp = parallel.small_integer("tp", 1);
  preset_rules::tp(model, preset.layout.tp, parallel.where("tp"));
  preset.layout.pp = parallel.small_integer("pp", 1);
  preset_rules::pp(model, preset.layout.pp, parallel.where("pp"));
  preset.dp_fixed = parallel.has("dp");
  preset.layout.dp = parallel.small_integer("dp", 1);
  preset_rules::positive(preset.layout.dp, parallel.where("dp"));

  const PresetMap batch = top.map("batch", {"max_sequences", "max_tokens"});
  preset.batch.max_sequences = batch.small_integer("max_sequences", preset.batch.max_sequences);
  preset_rules::positive(preset.batch.max_sequences, batch.where("max_sequences"));
  preset.batch.max_tokens = batch.small_integer("max_tokens", preset.batch.max_tokens);
  preset_rules::positive(preset.batch.max_tokens, batch.where("max_tokens"));

  const PresetMap memory = top.map("memory", {"gpu_fraction", "reserve_gib"});
  preset.memory.gpu_fraction = memory.number("gpu_fraction", preset.memory.gpu_fraction);
  preset_rules::fraction(preset.memory.gpu_fraction, memory.where("gpu_fraction"));
  preset.memory.reserve_gib = memory.number("reserve_gib", preset.memory.reserve_gib);
  preset_rules::non_negative(preset.memory.reserve_gib, memory.where("reserve_gib"));
  return preset;
}

Preset load_preset(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error("cannot open preset " + path.string());
  std::stringstream text;
  text << file.rdbuf();
  return parse_preset(text.str(), path.string());
}

}  // namespace llmpi
