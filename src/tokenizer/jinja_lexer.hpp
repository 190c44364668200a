#pragma once

// Splits a chat template into text and tag tokens the way jinja2's lexer does with
// transformers' settings (trim_blocks, lstrip_blocks, keep_trailing_newline off), whitespace
// control included, so the text between tags comes out byte for byte as jinja2's.
// Private to src/tokenizer/.
#include <string>
#include <vector>

namespace llmpi::jinja {

struct Token {
  enum class Kind {
    kText,           // template text, whitespace control already applied
    kVariableBegin,  // {{
    kVariableEnd,    // }}
    kBlockBegin,     // {%
    kBlockEnd,       // %}
    kName,
    kString,  // text: the literal's value, escapes decoded
    kInteger,
    kFloat,
    kOperator,
    kEnd,
  };
  Kind kind;
  std::string text;
  int line;
};

// Errors: llmpi::Error "<where>:<line>: chat template syntax error: ...".
std::vector<Token> tokenize(std::string source, const std::string& where);

}  // namespace llmpi::jinja
