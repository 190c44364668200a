#pragma once

#include <filesystem>
#include <string>

namespace llmpi::testing {

// GPT-2's byte-to-character table: the one-character token that stands for `byte`.
std::string gpt2_byte_character(int byte);

// A model `llmpi eval` can run in well under a second per request: a reference fixture with a
// vocabulary of 256 (llama_gqa_f32: 128 positions; falcon_gqa_bf16_sharded: the tiny-falcon-gqa
// preset's checkpoint) copied into `dir` with a byte-level BPE tokenizer.json of no merges, so
// each byte of a prompt is one token. Returns `dir`.
std::filesystem::path write_tiny_eval_model(const std::filesystem::path& dir,
                                            const std::string& fixture = "llama_gqa_f32");

}  // namespace llmpi::testing
