#pragma once

// Evo 2's CharLevelTokenizer (vtx's vortex/model/tokenizer.py): one token per byte of the text,
// no merges and nothing added. Chosen by load_tokenizer when config.json's "tokenizer_type"
// names it (the evo2 configs' key).
#include <filesystem>
#include <memory>

#include "llmpi/tokenizer/tokenizer.hpp"

namespace llmpi {

bool names_char_level_tokenizer(const std::filesystem::path& model_dir);

// vocab_size from DIR/config.json (512 for every evo2 model).
std::unique_ptr<Tokenizer> load_char_level_tokenizer(const std::filesystem::path& model_dir);

}  // namespace llmpi
