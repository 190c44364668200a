#pragma once

#include <filesystem>

namespace llmpi::testing {

// A model `llmpi eval` can run in well under a second per request: the llama_gqa_f32 fixture
// (random weights, vocabulary 256, 128 positions) copied into `dir` with a byte-level BPE
// tokenizer.json of no merges, so each byte of a prompt is one token. Returns `dir`.
std::filesystem::path write_tiny_eval_model(const std::filesystem::path& dir);

}  // namespace llmpi::testing
