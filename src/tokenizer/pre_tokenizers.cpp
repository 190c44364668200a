#include <memory>

#include "llmpi/core/error.hpp"
#include "pipeline.hpp"
#include "regex.hpp"
#include "unicode.hpp"

namespace llmpi {

namespace {

using Json = nlohmann::json;

// GPT-2's split: contractions, letter runs, number runs, other-symbol runs, whitespace.
constexpr const char* kByteLevelPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

SplitBehavior parse_behavior(const Json& json, const std::string& where) {
  const std::string name = json.is_string() ? json.get<std::string>() : "";
  if (name == "Removed") return SplitBehavior::removed;
  if (name == "Isolated") return SplitBehavior::isolated;
  if (name == "MergedWithPrevious") return SplitBehavior::merged_with_previous;
  if (name == "MergedWithNext") return SplitBehavior::merged_with_next;
  if (name == "Contiguous") return SplitBehavior::contiguous;
  throw Error(where + ": unknown split behavior " + json.dump() +
              " (Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous)");
}

std::string escape_literal(const std::string& literal) {
  std::string out = "\\Q";
  std::size_t cursor = 0;
  for (std::size_t at = literal.find("\\E"); at != std::string::npos;
       at = literal.find("\\E", cursor)) {
    out.append(literal, cursor, at - cursor);
    out += "\\E\\\\E\\Q";
    cursor = at + 2;
  }
  out.append(literal, cursor, std::string::npos);
  return out + "\\E";
}

// Splits every piece at the matches of one regular expression.
class RegexSplit final : public PreTokenizer {
 public:
  RegexSplit(const std::string& pattern, SplitBehavior behavior, bool invert)
      : regex_(pattern), behavior_(behavior), invert_(invert) {}
  void split(Pieces& pieces) const override {
    Pieces out;
    for (const Piece& piece : pieces) {
      split_piece(piece, regex_.find_all(piece.text), behavior_, invert_, out);
    }
    pieces = std::move(out);
  }

 private:
  Regex regex_;
  SplitBehavior behavior_;
  bool invert_;
};

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space),
        split_(use_regex
                   ? std::make_unique<RegexSplit>(kByteLevelPattern, SplitBehavior::isolated, false)
                   : nullptr) {}
  void split(Pieces& pieces) const override {
    if (add_prefix_space_) {
      for (Piece& piece : pieces) {
        if (piece.text.empty() || piece.text.front() != ' ') piece.text.insert(0, " ");
      }
    }
    if (split_) split_->split(pieces);
    const auto& table = unicode::byte_to_char();
    for (Piece& piece : pieces) {
      std::string mapped;
      mapped.reserve(piece.text.size() * 2);
      for (const char c : piece.text) mapped += table[static_cast<unsigned char>(c)];
      piece.text = std::move(mapped);
    }
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<RegexSplit> split_;
};

class MetaspacePreTokenizer final : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, std::string scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(std::move(scheme)), split_(split) {}
  void split(Pieces& pieces) const override {
    Pieces out;
    for (Piece piece : pieces) {
      std::string replaced;
      for (const char c : piece.text) {
        if (c == ' ') {
          replaced += replacement_;
        } else {
          replaced += c;
        }
      }
      const bool prepend = scheme_ == "always" || (scheme_ == "first" && piece.at_start);
      if (prepend && replaced.rfind(replacement_, 0) != 0) replaced.insert(0, replacement_);
      piece.text = std::move(replaced);
      if (!split_) {
        out.push_back(std::move(piece));
        continue;
      }
      std::vector<std::pair<std::size_t, std::size_t>> matches;
      for (std::size_t at = piece.text.find(replacement_); at != std::string::npos;
           at = piece.text.find(replacement_, at + replacement_.size())) {
        matches.emplace_back(at, at + replacement_.size());
      }
      split_piece(piece, matches, SplitBehavior::merged_with_next, false, out);
    }
    pieces = std::move(out);
  }

 private:
  std::string replacement_;
  std::string scheme_;
  bool split_;
};

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps)
      : steps_(std::move(steps)) {}
  void split(Pieces& pieces) const override {
    for (const auto& step : steps_) step->split(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& json, const std::string& where) {
  if (json.is_null()) return nullptr;
  const std::string type = json.value("type", "");
  if (type == "Sequence") {
    auto steps = make_steps<PreTokenizer>(json, "pretokenizers", where, make_pre_tokenizer);
    return std::make_unique<SequencePreTokenizer>(std::move(steps));
  }
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevelPreTokenizer>(json.value("add_prefix_space", true),
                                                   json.value("use_regex", true));
  }
  if (type == "Digits") {
    return std::make_unique<RegexSplit>(
        json.value("individual_digits", false) ? R"(\p{N})" : R"(\p{N}+)", SplitBehavior::isolated,
        false);
  }
  if (type == "Punctuation") {
    // Rust's char::is_ascii_punctuation (which includes $+<=>^`|~) or Unicode category P.
    const SplitBehavior behavior = json.contains("behavior")
                                       ? parse_behavior(json.at("behavior"), where)
                                       : SplitBehavior::isolated;
    return std::make_unique<RegexSplit>(R"([\p{P}!-/:-@\[-`{-~])", behavior, false);
  }
  if (type == "Split") {
    const Json& pattern = json.at("pattern");
    std::string regex;
    if (pattern.contains("Regex")) {
      regex = pattern.at("Regex").get<std::string>();
    } else if (pattern.contains("String")) {
      regex = escape_literal(pattern.at("String").get<std::string>());
    } else {
      throw Error(where + ": Split pattern must be {\"String\": ...} or {\"Regex\": ...}");
    }
    return std::make_unique<RegexSplit>(regex, parse_behavior(json.at("behavior"), where),
                                        json.value("invert", false));
  }
  if (type == "Metaspace") {
    std::string scheme = json.value("prepend_scheme", "");
    if (scheme.empty()) scheme = json.value("add_prefix_space", true) ? "always" : "never";
    if (scheme != "always" && scheme != "first" && scheme != "never") {
      throw Error(where + ": Metaspace prepend_scheme '" + scheme +
                  "' is not one of always, first, never");
    }
    return std::make_unique<MetaspacePreTokenizer>(json.value("replacement", "\xe2\x96\x81"),
                                                   scheme, json.value("split", true));
  }
  if (type == "Whitespace") {
    return std::make_unique<RegexSplit>(R"(\w+|[^\w\s]+)", SplitBehavior::removed, true);
  }
  if (type == "WhitespaceSplit") {
    return std::make_unique<RegexSplit>(R"(\s+)", SplitBehavior::removed, false);
  }
  throw Error(where + ": pre-tokenizer type '" + type +
              "' is not implemented (llmpi implements Sequence, ByteLevel, Digits, Punctuation, "
              "Split, Metaspace, Whitespace, WhitespaceSplit)");
}

}  // namespace llmpi
