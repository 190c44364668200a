#include "gpt_sw3_text.hpp"

#include "unicode.hpp"

namespace llmpi {

namespace {

// The characters Hugging Face removes: U+0000-U+0008, U+000B-U+001F, U+007F-U+009F, U+00A0,
// U+00AD and U+200B. Carriage return goes too; tab and newline stay.
bool is_removed(char32_t cp) {
  return cp <= 0x08 || (cp >= 0x0b && cp <= 0x1f) || (cp >= 0x7f && cp <= 0xa0) || cp == 0xad ||
         cp == 0x200b;
}

// The characters it replaces by U+0020: en, em, four-per-em, punctuation, thin, hair, narrow
// no-break and ideographic spaces, and the object replacement character. (Its list also names
// U+0020 itself and U+0084, which is removed first.) Not U+2000 or U+2001: NFC afterwards maps
// those to U+2002 and U+2003, which then stay.
bool becomes_space(char32_t cp) {
  switch (cp) {
    case 0x2002:
    case 0x2003:
    case 0x2005:
    case 0x2008:
    case 0x2009:
    case 0x200a:
    case 0x202f:
    case 0x3000:
    case 0xfffc:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string gpt_sw3_clean_text(std::string_view text) {
  const std::vector<char32_t> decoded = unicode::decode(text);
  std::u32string kept;
  kept.reserve(decoded.size());
  for (const char32_t cp : decoded) {
    if (is_removed(cp)) continue;
    kept += becomes_space(cp) ? U' ' : cp;
  }
  std::string out;
  out.reserve(text.size());
  for (const char32_t cp : unicode::nfc(kept)) unicode::append_utf8(out, cp);
  return out;
}

}  // namespace llmpi
