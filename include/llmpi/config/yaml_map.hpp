#pragma once

// Strict reading of YAML maps (presets, task files): unknown and repeated keys refused, types
// checked, and "FILE:LINE: key 'a.b'" at the start of every message.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "llmpi/core/error.hpp"

namespace llmpi {

// YAML 1.2 core-schema types of a scalar; quoted scalars are always strings.
enum class ScalarKind { null, boolean, integer, number, string };

inline ScalarKind classify(const YAML::Node& node) {
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

inline bool parse_boolean(const std::string& text) {
  return text[0] == 't' || text[0] == 'T';
}

// 1-based line of a node; yaml-cpp has none for a missing value, so the key's line stands in.
inline int line_of(const YAML::Node& node, int fallback) {
  return node.Mark().line >= 0 ? node.Mark().line + 1 : fallback;
}

// One YAML map of the preset: refuses keys it does not know and repeated keys, and reads its
// values with their types checked. `path` is the dotted name of the map ("" at the top).
class YamlMap {
 public:
  YamlMap(const YAML::Node& node, std::string source, std::string path,
          std::vector<std::string> keys, int line, std::string kind = "preset")
      : source_(std::move(source)),
        path_(std::move(path)),
        keys_(std::move(keys)),
        line_(line),
        kind_(std::move(kind)) {
    if (!node.IsDefined() || node.IsNull()) return;
    if (!node.IsMap()) {
      throw Error(source_ + ":" + std::to_string(line_of(node, line_)) + ": " +
                  (path_.empty() ? "a " + kind_ : "key '" + path_ + "'") +
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
        throw Error(where(key, key_line) + " is not a " + kind_ + " key; valid " +
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

  YamlMap map(const std::string& key, std::vector<std::string> keys) const {
    const YAML::Node empty;
    const YAML::Node& value = entries_.count(key) ? node(key) : empty;
    return YamlMap(value, source_, dotted(key), std::move(keys), line(key), kind_);
  }

  // A list of strings (a single string counts as a list of one).
  std::vector<std::string> strings(const std::string& key) const {
    if (!has(key)) return {};
    const YAML::Node& value = node(key);
    if (value.IsScalar()) return {string(key, "")};
    if (!value.IsSequence()) type_error(key, "a string or a list of strings");
    std::vector<std::string> result;
    for (const YAML::Node& item : value) {
      if (!item.IsScalar() || classify(item) != ScalarKind::string) {
        type_error(key, "a list of strings");
      }
      result.push_back(item.Scalar());
    }
    return result;
  }

  bool boolean(const std::string& key, bool fallback) const {
    if (!has(key)) return fallback;
    const YAML::Node& value = scalar(key, "true or false");
    if (classify(value) != ScalarKind::boolean) type_error(key, "true or false");
    return parse_boolean(value.Scalar());
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
  std::string kind_;
  std::map<std::string, Entry> entries_;
};

}  // namespace llmpi
