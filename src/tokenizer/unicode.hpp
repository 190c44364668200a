#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace llmpi::unicode {

// Decodes UTF-8 into code points; throws Error naming the byte offset of the first invalid
// sequence (overlong forms, surrogates and values past U+10FFFF are invalid, as in Rust's str).
std::vector<char32_t> decode(std::string_view text);

// Offset of the first invalid byte, or npos when the text is valid UTF-8.
std::size_t first_invalid(std::string_view text);

void append_utf8(std::string& out, char32_t code_point);
std::string encode(char32_t code_point);

// Bytes to text the way Rust's String::from_utf8_lossy does: every maximal invalid subpart
// becomes one U+FFFD.
std::string from_utf8_lossy(std::string_view bytes);

// Length of the longest prefix of `bytes` that ends on a character boundary, treating a
// trailing incomplete-but-so-far-valid sequence as not yet complete (streaming decoders).
std::size_t complete_prefix(std::string_view bytes);

// Canonical composition (Unicode NFC) of valid UTF-8, as Python's unicodedata.normalize("NFC")
// computes it: the tables are generated from Python's unicodedata (unicode_nfc_table.inc, by
// scripts/make_unicode_nfc_table.py), so llmpi and Hugging Face's Python tokenizers agree.
std::string nfc(std::string_view text);
std::u32string nfc(std::u32string_view code_points);
// The Unicode version those tables come from ("14.0.0").
const char* nfc_unicode_version();

// GPT-2's reversible byte <-> printable character map used by byte-level BPE.
const std::vector<std::string>& byte_to_char();  // 256 UTF-8 strings
int char_to_byte(char32_t code_point);           // -1 if not in the map

}  // namespace llmpi::unicode
