#pragma once

// The text clean-up GPT-SW3's tokenizer applies before SentencePiece (Hugging Face's
// GPTSw3Tokenizer.preprocess_text): its SentencePiece model was trained on text cleaned this
// way, with SentencePiece's own normalisation switched off.
#include <string>
#include <string_view>

namespace llmpi {

// Drops non-printing characters (C0 controls other than tab and newline, DEL, C1 controls,
// no-break space, soft hyphen, zero-width space), turns the unusual spaces GPT-SW3 lists into
// ' ', then applies NFC. `text` must be valid UTF-8 (Error otherwise).
std::string gpt_sw3_clean_text(std::string_view text);

}  // namespace llmpi
