#include "jinja_lexer.hpp"

#include <array>
#include <string_view>

#include "jinja_value.hpp"
#include "llmpi/core/error.hpp"
#include "unicode.hpp"

namespace llmpi::jinja {

namespace {

// Longest first, as jinja2 matches them.
constexpr std::array<std::string_view, 26> kOperators = {
    "//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[",
    "]",  "(",  ")",  "{",  "}",  ">",  "<", "=", ".", ":", "|", ",", ";"};

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_name_char(char c) {
  return is_name_start(c) || is_digit(c);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The character at byte `i` of valid UTF-8 and its length in bytes.
char32_t char_at(std::string_view s, std::size_t i, std::size_t* bytes) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  *bytes = b0 < 0x80 ? 1 : b0 < 0xe0 ? 2 : b0 < 0xf0 ? 3 : 4;
  if (*bytes == 1) return b0;
  char32_t c = b0 & (0xff >> (*bytes + 1));
  for (std::size_t k = 1; k < *bytes; ++k)
    c = (c << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3fu);
  return c;
}

// Bytes of Python whitespace (str.isspace, which is regex \s) starting at `i`.
std::size_t space_run(std::string_view s, std::size_t i) {
  const std::size_t begin = i;
  while (i < s.size()) {
    std::size_t bytes;
    if (!is_python_space(char_at(s, i, &bytes))) break;
    i += bytes;
  }
  return i - begin;
}

// `text` without trailing Python whitespace (str.rstrip()).
std::string_view rstrip_space(std::string_view text) {
  std::size_t end = 0;
  for (std::size_t i = 0; i < text.size();) {
    std::size_t bytes;
    if (!is_python_space(char_at(text, i, &bytes))) end = i + bytes;
    i += bytes;
  }
  return text.substr(0, end);
}

// jinja2 reads templates with universal newlines and drops one trailing newline
// (keep_trailing_newline=False).
std::string normalize_newlines(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (std::size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

class Lexer {
 public:
  Lexer(std::string_view source, const std::string& where) : src_(source), where_(where) {}

  std::vector<Token> run() {
    while (pos_ < src_.size()) lex_text_and_tag();
    tokens_.push_back({Token::Kind::kEnd, "", line_});
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void fail(int line, const std::string& message) const {
    throw Error(where_ + ":" + std::to_string(line) + ": chat template syntax error: " + message);
  }

  bool at(std::string_view text) const { return src_.substr(pos_).starts_with(text); }
  char peek(std::size_t offset = 0) const {
    return pos_ + offset < src_.size() ? src_[pos_ + offset] : '\0';
  }

  // Moves past `bytes` bytes, counting lines; remembers whether they ended a line.
  void advance(std::size_t bytes) {
    for (std::size_t i = 0; i < bytes; ++i) {
      if (src_[pos_ + i] == '\n') ++line_;
    }
    if (bytes > 0) line_starting_ = src_[pos_ + bytes - 1] == '\n';
    pos_ += bytes;
  }

  void push(Token::Kind kind, std::string text, int line) {
    tokens_.push_back({kind, std::move(text), line});
  }

  // Template text up to the next {{, {% or {#, stripped as jinja2 strips it, then the tag.
  void lex_text_and_tag() {
    std::size_t tag = pos_;
    while (true) {
      tag = src_.find('{', tag);
      if (tag == std::string_view::npos || tag + 1 >= src_.size()) break;
      const char second = src_[tag + 1];
      if (second == '{' || second == '%' || second == '#') break;
      ++tag;
    }
    if (tag == std::string_view::npos || tag + 1 >= src_.size()) {
      push(Token::Kind::kText, std::string(src_.substr(pos_)), line_);
      advance(src_.size() - pos_);
      return;
    }
    const char kind = src_[tag + 1];
    const char sign = tag + 2 < src_.size() && (src_[tag + 2] == '-' || src_[tag + 2] == '+')
                          ? src_[tag + 2]
                          : '\0';
    const std::string_view text = strip_before_tag(src_.substr(pos_, tag - pos_), kind, sign);
    if (!text.empty()) push(Token::Kind::kText, std::string(text), line_);
    advance(tag - pos_);
    const int line = line_;
    advance(sign != '\0' ? 3 : 2);
    if (kind == '#') {
      lex_comment(line);
    } else if (kind == '%') {
      refuse_raw(line);
      lex_tag(Token::Kind::kBlockBegin, line);
    } else {
      lex_tag(Token::Kind::kVariableBegin, line);
    }
  }

  // "-" strips all whitespace before the tag; lstrip_blocks strips the indentation of a
  // {% or {# that starts its line, unless "+" says not to.
  std::string_view strip_before_tag(std::string_view text, char kind, char sign) const {
    if (sign == '-') return rstrip_space(text);
    if (sign == '+' || kind == '{') return text;
    const std::size_t line_start = text.rfind('\n') + 1;  // 0 when there is no newline
    if (line_start == 0 && !line_starting_) return text;
    const std::size_t indent = text.size() - line_start;
    if (indent > 0 && space_run(text, line_start) == indent) return text.substr(0, line_start);
    return text;
  }

  // {% raw %} hands its body through untouched; llmpi has no need for it and refuses it.
  void refuse_raw(int line) const {
    std::size_t i = pos_ + space_run(src_, pos_);
    if (src_.substr(i).starts_with("raw") && (i + 3 >= src_.size() || !is_name_char(src_[i + 3])))
      throw Error(where_ + ":" + std::to_string(line) +
                  ": chat template uses the statement 'raw', which llmpi does not support");
  }

  void lex_comment(int line) {
    std::size_t close = src_.find("#}", pos_);
    if (close == std::string_view::npos) fail(line, "missing '#}' to close the comment");
    const char sign =
        close > pos_ && (src_[close - 1] == '-' || src_[close - 1] == '+') ? src_[close - 1] : '\0';
    advance(close + 2 - pos_);
    finish_tag(sign, true);
  }

  // After a closing delimiter: "-" eats the whitespace that follows, trim_blocks the newline
  // after a block or comment ("+" keeps it).
  void finish_tag(char sign, bool block) {
    if (sign == '-') {
      advance(space_run(src_, pos_));
    } else if (sign != '+' && block && peek() == '\n') {
      advance(1);
    }
  }

  bool lex_tag_end(bool block) {
    const std::string_view close = block ? "%}" : "}}";
    char sign = '\0';
    if ((peek() == '-' || (block && peek() == '+')) && src_.substr(pos_ + 1).starts_with(close)) {
      sign = peek();
      advance(1);
    } else if (!at(close)) {
      return false;
    }
    const int line = line_;
    advance(2);
    finish_tag(sign, block);
    push(block ? Token::Kind::kBlockEnd : Token::Kind::kVariableEnd, "", line);
    return true;
  }

  void lex_tag(Token::Kind begin, int line) {
    const bool block = begin == Token::Kind::kBlockBegin;
    push(begin, "", line);
    balance_.clear();
    while (true) {
      if (pos_ >= src_.size()) fail(line, block ? "missing '%}' to close the tag" : "missing '}}'");
      if (balance_.empty() && lex_tag_end(block)) return;
      if (const std::size_t spaces = space_run(src_, pos_)) {
        advance(spaces);
      } else if (is_digit(peek())) {
        lex_number();
      } else if (is_name_start(peek())) {
        std::size_t end = pos_;
        while (end < src_.size() && is_name_char(src_[end])) ++end;
        push(Token::Kind::kName, std::string(src_.substr(pos_, end - pos_)), line_);
        advance(end - pos_);
      } else if (peek() == '\'' || peek() == '"') {
        lex_string();
      } else {
        lex_operator();
      }
    }
  }

  // End of (\d+_)*\d+ from `i`, or `i` when no digit is there.
  std::size_t digits_end(std::size_t i) const {
    if (i >= src_.size() || !is_digit(src_[i])) return i;
    while (i < src_.size() && is_digit(src_[i])) ++i;
    while (i + 1 < src_.size() && src_[i] == '_' && is_digit(src_[i + 1])) {
      ++i;
      while (i < src_.size() && is_digit(src_[i])) ++i;
    }
    return i;
  }

  // End of a float literal at pos_, or npos (jinja2's float_re).
  std::size_t float_end() const {
    if (pos_ > 0 && src_[pos_ - 1] == '.') return std::string_view::npos;
    const std::size_t integer = digits_end(pos_);
    std::size_t fraction = std::string_view::npos;
    if (integer < src_.size() && src_[integer] == '.') {
      const std::size_t end = digits_end(integer + 1);
      if (end > integer + 1) fraction = end;
    }
    const std::size_t before_exponent = fraction != std::string_view::npos ? fraction : integer;
    if (before_exponent < src_.size() &&
        (src_[before_exponent] == 'e' || src_[before_exponent] == 'E')) {
      std::size_t i = before_exponent + 1;
      if (i < src_.size() && (src_[i] == '+' || src_[i] == '-')) ++i;
      const std::size_t end = digits_end(i);
      if (end > i) return end;
    }
    return fraction;
  }

  // End of an integer literal at pos_ (decimal only; 0x, 0o and 0b are refused).
  std::size_t integer_end() const {
    std::size_t i = pos_;
    if (src_[i] != '0') {
      ++i;
      while (i < src_.size() && (is_digit(src_[i]) ||
                                 (src_[i] == '_' && i + 1 < src_.size() && is_digit(src_[i + 1]))))
        ++i;
      return i;
    }
    const char base = i + 1 < src_.size() ? src_[i + 1] : '\0';
    if (base == 'x' || base == 'X' || base == 'o' || base == 'O' || base == 'b' || base == 'B')
      fail(line_, "llmpi supports decimal integer literals only");
    ++i;
    while (i < src_.size() &&
           (src_[i] == '0' || (src_[i] == '_' && i + 1 < src_.size() && src_[i + 1] == '0')))
      ++i;
    return i;
  }

  void lex_number() {
    const std::size_t fend = float_end();
    const bool is_float = fend != std::string_view::npos;
    const std::size_t end = is_float ? fend : integer_end();
    std::string text;
    for (const char c : src_.substr(pos_, end - pos_)) {
      if (c != '_') text += c;
    }
    push(is_float ? Token::Kind::kFloat : Token::Kind::kInteger, std::move(text), line_);
    advance(end - pos_);
  }

  void lex_string() {
    const char quote = peek();
    const int line = line_;
    std::size_t i = pos_ + 1;
    while (i < src_.size() && src_[i] != quote) i += src_[i] == '\\' ? 2 : 1;
    if (i >= src_.size()) fail(line, "unterminated string literal");
    push(Token::Kind::kString, decode_escapes(src_.substr(pos_ + 1, i - pos_ - 1), line), line);
    advance(i + 1 - pos_);
  }

  // Python's "unicode-escape" decoding, which jinja2 applies to string literals.
  std::string decode_escapes(std::string_view raw, int line) const {
    std::string out;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '\\') {
        out += raw[i];
        continue;
      }
      const char c = raw[++i];
      switch (c) {
        case '\n':  // a line continuation
          break;
        case '\\':
        case '\'':
        case '"':
          out += c;
          break;
        case 'a':
          out += '\a';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'v':
          out += '\v';
          break;
        case 'x':
          unicode::append_utf8(out, hex_escape(raw, i, 2, line));
          break;
        case 'u':
          unicode::append_utf8(out, hex_escape(raw, i, 4, line));
          break;
        case 'U':
          unicode::append_utf8(out, hex_escape(raw, i, 8, line));
          break;
        case 'N':
          fail(line, "llmpi does not support \\N{...} escapes");
        default:
          if (c >= '0' && c <= '7') {
            char32_t value = static_cast<char32_t>(c - '0');
            for (int k = 0; k < 2 && i + 1 < raw.size() && raw[i + 1] >= '0' && raw[i + 1] <= '7';
                 ++k)
              value = value * 8 + static_cast<char32_t>(raw[++i] - '0');
            unicode::append_utf8(out, value);
          } else if (static_cast<unsigned char>(c) >= 0x80) {
            out += backslash_before_non_ascii(raw, i);
          } else {
            out += '\\';  // Python keeps an unknown escape as written
            out += c;
          }
      }
    }
    return out;
  }

  // \x, \u or \U with exactly `digits` hex digits after raw[i]; leaves i on the last one.
  char32_t hex_escape(std::string_view raw, std::size_t& i, int digits, int line) const {
    char32_t value = 0;
    for (int k = 0; k < digits; ++k) {
      const int d = i + 1 < raw.size() ? hex_value(raw[i + 1]) : -1;
      if (d < 0)
        fail(line, "truncated \\" + std::string(1, raw[i - static_cast<std::size_t>(k)]) +
                       " escape in a string literal");
      value = value * 16 + static_cast<char32_t>(d);
      ++i;
    }
    if (value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff))
      fail(line, "a string literal escapes a surrogate or a value past U+10FFFF");
    return value;
  }

  // jinja2 escapes non-ASCII text as \xNN/\uNNNN before decoding, so "\é" ends up as the
  // backslash followed by the letters of that escape.
  static std::string backslash_before_non_ascii(std::string_view raw, std::size_t& i) {
    std::size_t bytes;
    const char32_t c = char_at(raw, i, &bytes);
    i += bytes - 1;
    static constexpr char kHex[] = "0123456789abcdef";
    const int width = c < 0x100 ? 2 : c < 0x10000 ? 4 : 8;
    std::string out = std::string("\\") + (width == 2 ? "x" : width == 4 ? "u" : "U");
    for (int shift = (width - 1) * 4; shift >= 0; shift -= 4) out += kHex[(c >> shift) & 0xf];
    return out;
  }

  void lex_operator() {
    for (const std::string_view op : kOperators) {
      if (!at(op)) continue;
      track_balance(op);
      push(Token::Kind::kOperator, std::string(op), line_);
      advance(op.size());
      return;
    }
    std::size_t bytes;
    char_at(src_, pos_, &bytes);
    fail(line_, "unexpected character '" + std::string(src_.substr(pos_, bytes)) + "'");
  }

  void track_balance(std::string_view op) {
    if (op == "(" || op == "[" || op == "{") {
      balance_.push_back(op == "(" ? ')' : op == "[" ? ']' : '}');
    } else if (op == ")" || op == "]" || op == "}") {
      if (balance_.empty()) fail(line_, "unexpected '" + std::string(op) + "'");
      if (balance_.back() != op[0])
        fail(line_, "unexpected '" + std::string(op) + "', expected '" +
                        std::string(1, balance_.back()) + "'");
      balance_.pop_back();
    }
  }

  std::string_view src_;
  const std::string& where_;
  std::size_t pos_ = 0;
  int line_ = 1;
  bool line_starting_ = true;  // jinja2's: the last thing lexed ended a line
  std::vector<Token> tokens_;
  std::vector<char> balance_;  // closing brackets expected, innermost last
};

}  // namespace

std::vector<Token> tokenize(std::string source, const std::string& where) {
  const std::size_t invalid = unicode::first_invalid(source);
  if (invalid != std::string::npos)
    throw Error(where + ": chat template is not valid UTF-8 (byte " + std::to_string(invalid) +
                ")");
  const std::string text = normalize_newlines(source);
  return Lexer(text, where).run();
}

}  // namespace llmpi::jinja
