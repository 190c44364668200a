#include "llmpi/eval/prompt_template.hpp"

#include <algorithm>

#include "llmpi/core/error.hpp"

namespace llmpi {

PromptTemplate::PromptTemplate(std::string text, std::string source) : source_(std::move(source)) {
  std::string literal;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
      literal += c;  // escaped brace
      ++i;
      continue;
    }
    if (c == '}')
      throw Error(source_ + ": unmatched '}' at offset " + std::to_string(i) +
                  " (write }} for a literal brace)");
    if (c != '{') {
      literal += c;
      continue;
    }
    const std::size_t close = text.find('}', i);
    if (close == std::string::npos) {
      throw Error(source_ + ": unclosed '{' at offset " + std::to_string(i) +
                  " (write {{ for a literal brace)");
    }
    const std::string name = text.substr(i + 1, close - i - 1);
    if (name.empty() || name.find_first_of("{ \t\n") != std::string::npos) {
      throw Error(source_ + ": '{" + name + "}' is not a field name");
    }
    if (!literal.empty()) pieces_.push_back({false, std::move(literal)});
    literal.clear();
    pieces_.push_back({true, name});
    if (std::find(fields_.begin(), fields_.end(), name) == fields_.end()) fields_.push_back(name);
    i = close;
  }
  if (!literal.empty()) pieces_.push_back({false, std::move(literal)});
}

std::string PromptTemplate::render(const nlohmann::json& record, const std::string& where) const {
  std::string out;
  for (const Piece& piece : pieces_) {
    if (!piece.field) {
      out += piece.text;
      continue;
    }
    if (!record.contains(piece.text)) {
      std::string available;
      for (const auto& [key, value] : record.items())
        available += (available.empty() ? "" : ", ") + key;
      throw Error(source_ + " names field '" + piece.text + "', which the record at " + where +
                  " does not have (it has: " + available + ")");
    }
    const auto& value = record.at(piece.text);
    if (value.is_string()) {
      out += value.get<std::string>();
    } else if (value.is_number()) {
      out += value.dump();
    } else {
      throw Error(source_ + " names field '" + piece.text + "', which is " + value.type_name() +
                  " in the record at " + where + "; only strings and numbers can be filled in");
    }
  }
  return out;
}

}  // namespace llmpi
