#include "unicode.hpp"

#include <array>
#include <unordered_map>

#include "llmpi/core/error.hpp"

namespace llmpi::unicode {

namespace {

// Length of the valid UTF-8 sequence starting at `i`, 0 if invalid. `needed` receives how
// many bytes a sequence with this lead byte would have (for streaming).
std::size_t valid_sequence(std::string_view s, std::size_t i, char32_t* out) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    *out = b0;
    return 1;
  }
  std::size_t length;
  char32_t value;
  unsigned char low = 0x80;
  unsigned char high = 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    length = 2;
    value = b0 & 0x1fu;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    length = 3;
    value = b0 & 0x0fu;
    if (b0 == 0xe0) low = 0xa0;   // no overlong forms
    if (b0 == 0xed) high = 0x9f;  // no surrogates
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    length = 4;
    value = b0 & 0x07u;
    if (b0 == 0xf0) low = 0x90;
    if (b0 == 0xf4) high = 0x8f;  // nothing past U+10FFFF
  } else {
    return 0;
  }
  for (std::size_t k = 1; k < length; ++k) {
    if (i + k >= s.size()) return 0;
    const auto b = static_cast<unsigned char>(s[i + k]);
    const unsigned char lo = k == 1 ? low : 0x80;
    const unsigned char hi = k == 1 ? high : 0xbf;
    if (b < lo || b > hi) return 0;
    value = (value << 6) | (b & 0x3fu);
  }
  *out = value;
  return length;
}

// How many bytes of the (possibly truncated) sequence at `i` are a valid prefix of some
// sequence: the "maximal subpart" that from_utf8_lossy replaces with one U+FFFD.
std::size_t maximal_subpart(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  std::size_t length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    length = 2;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    length = 3;
    if (b0 == 0xe0) low = 0xa0;
    if (b0 == 0xed) high = 0x9f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    length = 4;
    if (b0 == 0xf0) low = 0x90;
    if (b0 == 0xf4) high = 0x8f;
  } else {
    return 1;
  }
  std::size_t k = 1;
  for (; k < length && i + k < s.size(); ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    const unsigned char lo = k == 1 ? low : 0x80;
    const unsigned char hi = k == 1 ? high : 0xbf;
    if (b < lo || b > hi) break;
  }
  return k;
}

}  // namespace

std::size_t first_invalid(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    char32_t cp;
    const std::size_t n = valid_sequence(text, i, &cp);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

std::vector<char32_t> decode(std::string_view text) {
  std::vector<char32_t> out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    char32_t cp;
    const std::size_t n = valid_sequence(text, i, &cp);
    if (n == 0) {
      throw Error("input is not valid UTF-8: invalid byte 0x" +
                  std::string(1, "0123456789abcdef"[static_cast<unsigned char>(text[i]) >> 4]) +
                  std::string(1, "0123456789abcdef"[static_cast<unsigned char>(text[i]) & 15]) +
                  " at byte offset " + std::to_string(i));
    }
    out.push_back(cp);
    i += n;
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

std::string encode(char32_t cp) {
  std::string out;
  append_utf8(out, cp);
  return out;
}

std::string from_utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (std::size_t i = 0; i < bytes.size();) {
    char32_t cp;
    const std::size_t n = valid_sequence(bytes, i, &cp);
    if (n > 0) {
      out.append(bytes.substr(i, n));
      i += n;
    } else {
      out += "\xef\xbf\xbd";
      i += maximal_subpart(bytes, i);
    }
  }
  return out;
}

std::size_t complete_prefix(std::string_view bytes) {
  // Only the last three bytes can start an unfinished sequence.
  const std::size_t begin = bytes.size() > 3 ? bytes.size() - 3 : 0;
  for (std::size_t i = begin; i < bytes.size(); ++i) {
    const auto b = static_cast<unsigned char>(bytes[i]);
    if (b < 0x80 || (b & 0xc0) == 0x80) continue;
    const std::size_t subpart = maximal_subpart(bytes, i);
    const std::size_t length = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
    if (i + subpart == bytes.size() && subpart < length && b >= 0xc2 && b <= 0xf4) return i;
  }
  return bytes.size();
}

const std::vector<std::string>& byte_to_char() {
  static const std::vector<std::string> table = [] {
    // Printable bytes map to themselves; the rest to U+0100 upwards, in byte order.
    std::vector<std::string> t(256);
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
      t[static_cast<std::size_t>(b)] = encode(printable ? static_cast<char32_t>(b) : next++);
    }
    return t;
  }();
  return table;
}

int char_to_byte(char32_t cp) {
  static const std::unordered_map<char32_t, int> inverse = [] {
    std::unordered_map<char32_t, int> m;
    const auto& table = byte_to_char();
    for (int b = 0; b < 256; ++b) m[decode(table[static_cast<std::size_t>(b)]).front()] = b;
    return m;
  }();
  const auto it = inverse.find(cp);
  return it == inverse.end() ? -1 : it->second;
}

}  // namespace llmpi::unicode
