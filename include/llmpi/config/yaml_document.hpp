#pragma once

#include <yaml-cpp/yaml.h>

#include <string>

namespace llmpi {

// Bounds on a preset or task file: far beyond any real one, far below what could exhaust
// memory (an alias bomb expands exponentially) or the parser's stack (deep nesting).
inline constexpr int kMaxYamlDepth = 64;
inline constexpr long long kMaxYamlNodes = 100000;  // aliases counted as what they expand to

// Parses YAML text after checking those bounds; every refusal is an llmpi::Error starting with
// "SOURCE:LINE:".
YAML::Node load_yaml(const std::string& text, const std::string& source);

}  // namespace llmpi
