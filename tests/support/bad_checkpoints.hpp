#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace llmpi::testing {

// One broken checkpoint: how to make it from a valid one, and what the error must say.
struct BadCheckpoint {
  std::string name;
  std::vector<std::string> message_parts;  // every one must appear in the error message
  std::function<void(const std::filesystem::path& dir)> make;
};

// The cases, each built from a copy of `valid_fixture` (a single-file Llama checkpoint).
std::vector<BadCheckpoint> bad_checkpoints();

// Copies the valid fixture into `dir` (created afresh) and applies the case.
void build_bad_checkpoint(const BadCheckpoint& bad, const std::filesystem::path& valid_fixture,
                          const std::filesystem::path& dir);

}  // namespace llmpi::testing
