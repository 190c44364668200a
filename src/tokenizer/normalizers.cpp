#include <memory>

#include "llmpi/core/error.hpp"
#include "pipeline.hpp"
#include "regex.hpp"

namespace llmpi {

namespace {

using Json = nlohmann::json;

class PrependNormalizer final : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

// Replace with a literal pattern or a regular expression.
class ReplaceNormalizer final : public Normalizer {
 public:
  ReplaceNormalizer(const Json& pattern, std::string content, const std::string& where)
      : content_(std::move(content)) {
    if (pattern.contains("String")) {
      literal_ = pattern.at("String").get<std::string>();
    } else if (pattern.contains("Regex")) {
      regex_ = std::make_unique<Regex>(pattern.at("Regex").get<std::string>());
    } else {
      throw Error(where + ": Replace pattern must be {\"String\": ...} or {\"Regex\": ...}");
    }
  }
  void normalize(std::string& text) const override {
    if (!regex_) {
      replace_all(text, literal_, content_);
      return;
    }
    std::string out;
    std::size_t cursor = 0;
    for (const auto& [begin, end] : regex_->find_all(text)) {
      out.append(text, cursor, begin - cursor);
      out += content_;
      cursor = end;
    }
    out.append(text, cursor, std::string::npos);
    text = std::move(out);
  }

 private:
  std::string literal_;
  std::unique_ptr<Regex> regex_;
  std::string content_;
};

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps)
      : steps_(std::move(steps)) {}
  void normalize(std::string& text) const override {
    for (const auto& step : steps_) step->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const Json& json, const std::string& where) {
  if (json.is_null()) return nullptr;
  const std::string type = json.value("type", "");
  if (type == "Sequence") {
    auto steps = make_steps<Normalizer>(json, "normalizers", where, make_normalizer);
    return std::make_unique<SequenceNormalizer>(std::move(steps));
  }
  if (type == "Prepend")
    return std::make_unique<PrependNormalizer>(json.at("prepend").get<std::string>());
  if (type == "Replace") {
    return std::make_unique<ReplaceNormalizer>(json.at("pattern"),
                                               json.at("content").get<std::string>(), where);
  }
  throw Error(where + ": normalizer type '" + type +
              "' is not implemented (llmpi implements Sequence, Prepend, Replace)");
}

}  // namespace llmpi
