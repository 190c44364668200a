#pragma once

// GPT-SW3's tokenizer (Hugging Face's GPTSw3Tokenizer): a SentencePiece model behind its own
// text clean-up, special-token handling and decoding. Chosen by load_tokenizer.
#include <filesystem>
#include <memory>

#include "llmpi/tokenizer/tokenizer.hpp"

namespace llmpi {

// Whether DIR's tokenizer is GPTSw3Tokenizer. Hugging Face's AutoTokenizer reads the class from
// tokenizer_config.json's "tokenizer_class", and from config.json's when that has none.
bool names_gpt_sw3_tokenizer(const std::filesystem::path& model_dir);

// DIR/spiece.model (the name GPTSw3Tokenizer asks for) or DIR/tokenizer.model, with the special
// tokens and options of DIR/tokenizer_config.json and DIR/special_tokens_map.json.
std::unique_ptr<Tokenizer> load_gpt_sw3_tokenizer(const std::filesystem::path& model_dir);

}  // namespace llmpi
