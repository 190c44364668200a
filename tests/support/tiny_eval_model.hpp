#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace llmpi::testing {

// GPT-2's byte-to-character table: the one-character token that stands for `byte`.
std::string gpt2_byte_character(int byte);

// A model `llmpi eval` can run in well under a second per request: a reference fixture with a
// vocabulary of 256 (llama_gqa_f32: 128 positions; falcon_gqa_bf16_sharded: the tiny-falcon-gqa
// preset's checkpoint) copied into `dir` with a byte-level BPE tokenizer.json of no merges, so
// each byte of a prompt is one token. Returns `dir`.
std::filesystem::path write_tiny_eval_model(const std::filesystem::path& dir,
                                            const std::string& fixture = "llama_gqa_f32");

// A JSON Lines dataset of arithmetic questions, one per id: {"id", "question": "N + 2?",
// "answer": "#### N+2"}.
void write_questions(const std::filesystem::path& path, const std::vector<std::string>& ids);
// "q0", "q1", ... "q<count-1>".
std::vector<std::string> numbered_ids(int count);
// A task file `name` of category math over `dataset` (relative to the task file), prompting
// "Q: {question}\nA:", with the given generation and scorer settings (YAML, indented).
void write_question_task(const std::filesystem::path& path, const std::string& name,
                         const std::string& dataset,
                         const std::string& generation = "  max_new_tokens: 6\n",
                         const std::string& scorer = "  type: exact_match\n");

}  // namespace llmpi::testing
