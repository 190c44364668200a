// tokenizer.json: added tokens matched first (never split), then per remaining segment the
// normalizer, the pre-tokenizer and the BPE model, then the post-processor's template.
#include <algorithm>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "bpe_model.hpp"
#include "char_level_tokenizer.hpp"
#include "gpt_sw3_tokenizer.hpp"
#include "llmpi/core/error.hpp"
#include "llmpi/core/input_file.hpp"
#include "llmpi/tokenizer/tokenizer.hpp"
#include "pipeline.hpp"
#include "regex.hpp"
#include "unicode.hpp"

namespace llmpi {

namespace {

using Json = nlohmann::json;

struct AddedToken {
  std::int32_t id;
  std::string content;
  bool special, normalized, lstrip, rstrip, single_word;
};

struct Segment {
  std::string text;
  std::int32_t added_id = -1;  // >= 0: an added token, emitted as is
  bool at_start = false;
};

bool is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// Leftmost-longest matching of a set of literal tokens, honouring lstrip/rstrip/single_word.
class AddedTokenMatcher {
 public:
  explicit AddedTokenMatcher(std::vector<const AddedToken*> tokens) : word_char_(R"(\w)") {
    std::sort(tokens.begin(), tokens.end(), [](const AddedToken* a, const AddedToken* b) {
      return a->content.size() > b->content.size();
    });
    for (const AddedToken* token : tokens) {
      if (!token->content.empty())
        by_first_byte_[static_cast<unsigned char>(token->content[0])].push_back(token);
    }
  }
  bool empty() const { return by_first_byte_.empty(); }

  // Splits `segment` into added tokens and the text between them.
  void split(const Segment& segment, std::vector<Segment>& out) const {
    const std::string& text = segment.text;
    std::size_t cursor = 0;  // start of pending ordinary text
    std::size_t i = 0;
    while (i < text.size()) {
      const auto it = by_first_byte_.find(static_cast<unsigned char>(text[i]));
      const AddedToken* found = nullptr;
      if (it != by_first_byte_.end()) {
        for (const AddedToken* token : it->second) {
          if (text.compare(i, token->content.size(), token->content) == 0 &&
              (!token->single_word || is_single_word(text, i, i + token->content.size()))) {
            found = token;
            break;
          }
        }
      }
      if (found == nullptr) {
        ++i;
        continue;
      }
      std::size_t begin = i;
      std::size_t end = i + found->content.size();
      if (found->lstrip) {
        while (begin > cursor && is_space(static_cast<unsigned char>(text[begin - 1]))) --begin;
      }
      if (found->rstrip) {
        while (end < text.size() && is_space(static_cast<unsigned char>(text[end]))) ++end;
      }
      if (begin > cursor) {
        out.push_back({text.substr(cursor, begin - cursor), -1, segment.at_start && cursor == 0});
      }
      out.push_back({found->content, found->id, false});
      cursor = end;
      i = end;
    }
    if (cursor < text.size()) {
      out.push_back({text.substr(cursor), -1, segment.at_start && cursor == 0});
    }
  }

 private:
  bool is_single_word(const std::string& text, std::size_t begin, std::size_t end) const {
    if (begin > 0) {
      std::size_t prev = begin - 1;
      while (prev > 0 && (static_cast<unsigned char>(text[prev]) & 0xc0) == 0x80) --prev;
      if (word_char_.matches_at_start(std::string_view(text).substr(prev, begin - prev)))
        return false;
    }
    return end >= text.size() || !word_char_.matches_at_start(std::string_view(text).substr(end));
  }

  std::unordered_map<unsigned char, std::vector<const AddedToken*>> by_first_byte_;
  Regex word_char_;
};

class HfTokenizer final : public Tokenizer {
 public:
  HfTokenizer(const Json& json, const std::string& source)
      : model_(require_key(json, "model", source), source + ": model") {
    normalizer_ = make_normalizer(json.value("normalizer", Json()), source + ": normalizer");
    pre_tokenizer_ =
        make_pre_tokenizer(json.value("pre_tokenizer", Json()), source + ": pre_tokenizer");
    decoder_ = make_decoder(json.value("decoder", Json()), source + ": decoder");
    post_processor_ =
        make_post_processor(json.value("post_processor", Json()), source + ": post_processor");
    for (const Json& entry : json.value("added_tokens", Json::array())) {
      AddedToken token{entry.at("id").get<std::int32_t>(), entry.at("content").get<std::string>(),
                       entry.value("special", false),      entry.value("normalized", true),
                       entry.value("lstrip", false),       entry.value("rstrip", false),
                       entry.value("single_word", false)};
      added_.push_back(token);
    }
    std::vector<const AddedToken*> raw, normalized;
    for (const AddedToken& token : added_) {
      added_by_id_[token.id] = &token;
      added_by_content_[token.content] = token.id;
      // Special tokens are matched on the raw text whatever their flag says (tokenizers does
      // the same); other added tokens after normalisation when they ask for it.
      (token.normalized && !token.special && normalizer_ ? normalized : raw).push_back(&token);
    }
    raw_matcher_ = std::make_unique<AddedTokenMatcher>(raw);
    normalized_matcher_ = std::make_unique<AddedTokenMatcher>(normalized);
    vocab_size_ = model_.size();
    for (const AddedToken& token : added_) vocab_size_ = std::max(vocab_size_, token.id + 1);
  }

  std::vector<std::int32_t> encode(std::string_view text, bool add_special_tokens) const override {
    if (const std::size_t bad = unicode::first_invalid(text); bad != std::string_view::npos) {
      unicode::decode(text);  // throws with the byte and offset
    }
    std::vector<Segment> segments;
    raw_matcher_->split({std::string(text), -1, true}, segments);
    std::vector<std::int32_t> ids;
    for (Segment& segment : segments) {
      if (segment.added_id >= 0) {
        ids.push_back(segment.added_id);
        continue;
      }
      if (normalizer_) normalizer_->normalize(segment.text);
      std::vector<Segment> parts;
      if (normalized_matcher_->empty()) {
        parts.push_back(std::move(segment));
      } else {
        normalized_matcher_->split(segment, parts);
      }
      for (Segment& part : parts) {
        if (part.added_id >= 0) {
          ids.push_back(part.added_id);
          continue;
        }
        Pieces pieces{{std::move(part.text), part.at_start}};
        if (pre_tokenizer_) pre_tokenizer_->split(pieces);
        for (const Piece& piece : pieces) model_.encode_word(piece.text, ids);
      }
    }
    if (add_special_tokens && post_processor_) post_processor_->process(ids);
    return ids;
  }

  std::string decode(std::span<const std::int32_t> ids, bool skip_special_tokens) const override {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (const std::int32_t id : ids) {
      if (skip_special_tokens && is_special(id)) continue;
      tokens.push_back(id_to_token(id));
    }
    if (!decoder_) {
      std::string joined;
      for (std::size_t i = 0; i < tokens.size(); ++i) joined += (i ? " " : "") + tokens[i];
      return joined;
    }
    decoder_->decode_chain(tokens);
    std::string joined;
    for (const std::string& token : tokens) joined += token;
    return joined;
  }

  std::optional<std::int32_t> token_to_id(std::string_view token) const override {
    const std::string key(token);
    if (const auto it = added_by_content_.find(key); it != added_by_content_.end())
      return it->second;
    return model_.token_to_id(key);
  }

  std::string id_to_token(std::int32_t id) const override {
    if (const auto it = added_by_id_.find(id); it != added_by_id_.end()) return it->second->content;
    const std::string* token = model_.id_to_token(id);
    if (token == nullptr || token->empty()) {
      throw Error("token id " + std::to_string(id) + " is not in the vocabulary (size " +
                  std::to_string(vocab_size_) + ")");
    }
    return *token;
  }

  std::int32_t vocab_size() const override { return vocab_size_; }

  bool is_special(std::int32_t id) const override {
    const auto it = added_by_id_.find(id);
    return it != added_by_id_.end() && it->second->special;
  }

 private:
  static const Json& require_key(const Json& json, const char* key, const std::string& source) {
    if (!json.is_object() || !json.contains(key)) {
      throw Error(source + ": missing '" + key + "' (is this a Hugging Face tokenizer.json?)");
    }
    return json.at(key);
  }

  BpeModel model_;
  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<Decoder> decoder_;
  std::unique_ptr<PostProcessor> post_processor_;
  std::vector<AddedToken> added_;
  std::unordered_map<std::int32_t, const AddedToken*> added_by_id_;
  std::unordered_map<std::string, std::int32_t> added_by_content_;
  std::unique_ptr<AddedTokenMatcher> raw_matcher_;
  std::unique_ptr<AddedTokenMatcher> normalized_matcher_;
  std::int32_t vocab_size_ = 0;
};

}  // namespace

std::unique_ptr<Tokenizer> parse_hf_tokenizer(const std::string& json_text,
                                              const std::string& source) {
  const Json json = parse_json(json_text, source);
  try {
    return std::make_unique<HfTokenizer>(json, source);
  } catch (const Json::exception& e) {
    // A key of the wrong type or missing deep inside a stage.
    throw Error(source + ": unexpected structure: " + e.what());
  }
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& model_dir) {
  // A class named in the config comes first, as in Hugging Face's AutoTokenizer: GPT-SW3's
  // clean-up and decoding are not in any tokenizer.json.
  if (names_gpt_sw3_tokenizer(model_dir)) return load_gpt_sw3_tokenizer(model_dir);
  if (names_char_level_tokenizer(model_dir)) return load_char_level_tokenizer(model_dir);
  const auto json_path = model_dir / "tokenizer.json";
  std::error_code error;
  if (std::filesystem::exists(std::filesystem::symlink_status(json_path, error))) {
    constexpr std::uint64_t kMaxBytes = std::uint64_t{1} << 30;
    return parse_hf_tokenizer(read_input_file(json_path, "tokenizer", kMaxBytes),
                              json_path.string());
  }
  const auto model_path = model_dir / "tokenizer.model";
  if (std::filesystem::exists(model_path)) return load_sentencepiece_tokenizer(model_path);
  throw Error("no tokenizer.json or tokenizer.model in " + model_dir.string());
}

}  // namespace llmpi
