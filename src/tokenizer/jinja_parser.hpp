#pragma once

// Parses a chat template's tokens with jinja2's grammar and operator precedence. Constructs
// outside llmpi's subset are refused here, before anything renders: llmpi::Error
// "<where>:<line>: chat template uses the filter 'x', which llmpi does not support
// (supported: ...)". Private to src/tokenizer/.
#include <string>
#include <vector>

#include "jinja_ast.hpp"
#include "jinja_lexer.hpp"

namespace llmpi::jinja {

Body parse_template(std::vector<Token> tokens, const std::string& where);

// The statements llmpi supports, for messages.
std::string supported_statements();

}  // namespace llmpi::jinja
