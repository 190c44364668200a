#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace llmpi {

struct TokenizeArgs {
  std::string model_dir;
  std::string text;
  bool add_special_tokens = false;
};

// `llmpi tokenize --model DIR "text"`: prints the ids and their pieces.
CLI::App& add_tokenize_command(CLI::App& app, TokenizeArgs& args);
int run_tokenize(const TokenizeArgs& args);

}  // namespace llmpi
