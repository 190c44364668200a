#pragma once

// The rules one preset value must follow, shared by the YAML reader and the command-line
// overrides. `where` says where the value came from ("presets/x.yaml:12: key 'parallel.tp'" or
// "--tp") and starts every message.

#include <string>

#include "llmpi/config/model_config.hpp"
#include "llmpi/core/dtype.hpp"

namespace llmpi::preset_rules {

DType dtype(const std::string& value, const std::string& where);
void tp(const ModelConfig& model, int value, const std::string& where);
void pp(const ModelConfig& model, int value, const std::string& where);
void context_length(const ModelConfig& model, int value, const std::string& where);
void positive(long long value, const std::string& where);
void fraction(double value, const std::string& where);
void non_negative(double value, const std::string& where);

}  // namespace llmpi::preset_rules
