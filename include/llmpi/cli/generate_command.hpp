#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace llmpi {

struct GenerateArgs {
  std::string model_dir;
  std::string prompt_ids;
  std::string prompt_text;
  int max_new_tokens = 32;
  bool ignore_eos = false;
  std::string backend = "cpu";
  int device = 0;
};

// Registers `llmpi generate` and its options on `app`.
CLI::App& add_generate_command(CLI::App& app, GenerateArgs& args);

// Runs it; returns the process exit code. Errors propagate as exceptions.
int run_generate(const GenerateArgs& args);

// "1,2,3" -> {1, 2, 3}; refuses anything else naming the offending entry.
std::vector<std::int32_t> parse_token_ids(const std::string& text);

}  // namespace llmpi
