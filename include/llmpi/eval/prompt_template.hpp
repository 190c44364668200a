#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace llmpi {

// A prompt with {field} placeholders filled from a dataset record ("{{" and "}}" are literal
// braces). Fields must be strings or numbers.
class PromptTemplate {
 public:
  // `source` locates the template in messages ("tasks/gsm8k.yaml: prompt").
  PromptTemplate(std::string text, std::string source);

  // `where` locates the record ("data.jsonl:17"); a field the record lacks is an error naming
  // both and listing the fields it has.
  std::string render(const nlohmann::json& record, const std::string& where) const;
  const std::vector<std::string>& fields() const { return fields_; }

 private:
  struct Piece {
    bool field;
    std::string text;  // literal text, or the field name
  };
  std::vector<Piece> pieces_;
  std::vector<std::string> fields_;
  std::string source_;
};

}  // namespace llmpi
