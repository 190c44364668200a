#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "llmpi/cli/model_session.hpp"

namespace llmpi {

struct GenerateArgs {
  ModelOptions model;
  std::string prompt_ids;
  std::string prompt_text;
  int max_new_tokens = 32;
  bool ignore_eos = false;
};

// Registers `llmpi generate` and its options on `app`.
CLI::App& add_generate_command(CLI::App& app, GenerateArgs& args);

// Runs it on every rank of the job (MPI must be initialised); rank 0 prints. Errors propagate
// as exceptions.
int run_generate(const GenerateArgs& args);

// "1,2,3" -> {1, 2, 3}; refuses anything else naming the offending entry.
std::vector<std::int32_t> parse_token_ids(const std::string& text);

}  // namespace llmpi
