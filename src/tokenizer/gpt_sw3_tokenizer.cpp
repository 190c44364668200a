// GPT-SW3's tokenizer as Hugging Face's GPTSw3Tokenizer (transformers 5) runs it:
//  encode: split the text on its special tokens (matched on the raw text), clean each piece
//          between them (gpt_sw3_text.hpp) and encode it with SentencePiece; no BOS or EOS is
//          added, with or without add_special_tokens;
//  decode: SentencePiece decodes the runs of ordinary tokens; each special token is written as
//          its text, preceded by a space unless the token before it was special too.
#include "gpt_sw3_tokenizer.hpp"

#include <sentencepiece_processor.h>

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "gpt_sw3_text.hpp"
#include "llmpi/core/error.hpp"
#include "llmpi/core/input_file.hpp"
#include "unicode.hpp"

namespace llmpi {

namespace {

using Json = nlohmann::json;

constexpr const char* kClassName = "GPTSw3Tokenizer";
constexpr std::uint64_t kMaxConfigBytes = std::uint64_t{16} << 20;
constexpr std::string_view kSentencePieceSpace = "\xe2\x96\x81";  // U+2581

// The special-token attributes Hugging Face knows by name, in its order.
constexpr std::array<const char*, 7> kNamedSpecialTokens = {
    "bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"};

// One entry of tokenizer_config.json's "added_tokens_decoder".
struct AddedTokenEntry {
  std::int32_t id;
  std::string content;
  bool special;
};

// What tokenizer_config.json and special_tokens_map.json decide.
struct GptSw3Settings {
  std::vector<std::string> special_tokens;  // Hugging Face's all_special_tokens, no repeats
  std::vector<AddedTokenEntry> added_tokens;
  bool split_special_tokens = false;          // true: special-token text is ordinary text
  bool clean_up_tokenization_spaces = false;  // true: " ." -> "." and the like after decoding
  bool legacy = true;                         // false: Hugging Face drops the dummy prefix
};

std::optional<Json> read_json_if_present(const std::filesystem::path& path,
                                         const std::string& what) {
  std::error_code error;
  if (!std::filesystem::exists(std::filesystem::symlink_status(path, error))) return std::nullopt;
  Json json = parse_json(read_input_file(path, what, kMaxConfigBytes), path.string());
  if (!json.is_object()) throw Error(path.string() + ": expected a JSON object");
  return json;
}

// A token as the config writes it: a string, or an AddedToken object with "content".
std::string token_text(const Json& value, const std::string& where) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value.at("content").is_string())
    return value.at("content").get<std::string>();
  throw Error(where + ": expected a string or an object with a string \"content\", got " +
              value.dump());
}

bool flag(const Json& object, const char* key, bool fallback, const std::string& where) {
  if (!object.contains(key) || object.at(key).is_null()) return fallback;
  if (!object.at(key).is_boolean())
    throw Error(where + ": \"" + key + "\" must be true or false, got " + object.at(key).dump());
  return object.at(key).get<bool>();
}

GptSw3Settings read_settings(const std::filesystem::path& model_dir, Json config,
                             const std::string& config_name) {
  GptSw3Settings settings;
  settings.split_special_tokens = flag(config, "split_special_tokens", false, config_name);
  settings.clean_up_tokenization_spaces =
      flag(config, "clean_up_tokenization_spaces", false, config_name);
  settings.legacy = flag(config, "legacy", true, config_name);

  auto add_special = [&](const std::string& token) {
    if (!token.empty() && std::find(settings.special_tokens.begin(), settings.special_tokens.end(),
                                    token) == settings.special_tokens.end()) {
      settings.special_tokens.push_back(token);
    }
  };
  auto is_named = [](const std::string& key) {
    return std::find_if(kNamedSpecialTokens.begin(), kNamedSpecialTokens.end(),
                        [&](const char* name) { return key == name; }) != kNamedSpecialTokens.end();
  };
  // Other "*_token" keys with a string value become special tokens too (Hugging Face's
  // model-specific special tokens); it collects them before merging special_tokens_map.json.
  std::vector<std::string> model_specific;
  for (const auto& [key, value] : config.items()) {
    if (key.ends_with("_token") && !is_named(key) && value.is_string())
      model_specific.push_back(value.get<std::string>());
  }

  // Without "added_tokens_decoder" (configs written before it existed), Hugging Face lets
  // special_tokens_map.json override the config's special tokens.
  if (!config.contains("added_tokens_decoder")) {
    const auto map_path = model_dir / "special_tokens_map.json";
    if (auto map = read_json_if_present(map_path, "special tokens map")) {
      for (const auto& [key, value] : map->items()) config[key] = value;
    }
  }

  std::array<std::optional<std::string>, kNamedSpecialTokens.size()> named;
  for (std::size_t i = 0; i < named.size(); ++i) {
    const Json& value = config.value(kNamedSpecialTokens[i], Json());
    if (!value.is_null()) named[i] = token_text(value, config_name + ": " + kNamedSpecialTokens[i]);
  }
  // GPTSw3Tokenizer's defaults for tokens left unset. It chooses them by the name the tokenizer
  // was loaded by: gpt-sw3-7b pads with <unk> and begins with <|endoftext|>.
  const bool named_7b = model_dir.string().find("gpt-sw3-7b") != std::string::npos;
  auto& [bos, eos, unk, sep, pad, cls, mask] = named;
  if (!eos) eos = "<|endoftext|>";
  if (!unk) unk = "<unk>";
  if (!pad) pad = named_7b ? *unk : "<pad>";
  if (!bos) bos = named_7b ? *eos : "<s>";
  for (const auto& token : named) {
    if (token) add_special(*token);
  }
  for (const char* key : {"extra_special_tokens", "additional_special_tokens"}) {
    const Json& extra = config.value(key, Json());
    const std::string where = config_name + ": " + key;
    if (extra.is_array()) {
      for (const Json& token : extra) add_special(token_text(token, where));
    } else if (extra.is_object()) {
      for (const auto& [name, token] : extra.items()) add_special(token_text(token, where));
    } else if (!extra.is_null()) {
      throw Error(where + ": expected a list of tokens, got " + extra.dump());
    }
  }
  for (const std::string& token : model_specific) add_special(token);

  const Json& decoder = config.value("added_tokens_decoder", Json());
  if (!decoder.is_null() && !decoder.is_object())
    throw Error(config_name + ": \"added_tokens_decoder\" must map ids to tokens");
  if (decoder.is_object()) {
    for (const auto& [key, entry] : decoder.items()) {
      const std::string where = config_name + ": added_tokens_decoder[\"" + key + "\"]";
      std::int32_t id = -1;
      try {
        std::size_t used = 0;
        id = static_cast<std::int32_t>(std::stol(key, &used));
        if (used != key.size() || id < 0) id = -1;
      } catch (const std::exception&) {
      }
      if (id < 0 || !entry.is_object()) throw Error(where + ": expected an id and a token object");
      // Hugging Face strips whitespace beside such tokens; GPT-SW3's never ask for it.
      for (const char* key_flag : {"lstrip", "rstrip", "single_word"}) {
        if (flag(entry, key_flag, false, where)) {
          throw Error(where + ": \"" + key_flag +
                      "\": true is not supported for GPT-SW3 tokenizers (valid: false)");
        }
      }
      settings.added_tokens.push_back(
          {id, token_text(entry, where), flag(entry, "special", false, where)});
    }
  }
  return settings;
}

std::filesystem::path sentencepiece_model(const std::filesystem::path& model_dir) {
  for (const char* name : {"spiece.model", "tokenizer.model"}) {
    std::error_code error;
    const auto path = model_dir / name;
    if (std::filesystem::exists(std::filesystem::symlink_status(path, error))) {
      require_regular_file(path, "SentencePiece model");
      return path;
    }
  }
  throw Error("no spiece.model or tokenizer.model in " + model_dir.string() +
              " (GPT-SW3's tokenizer_config.json names GPTSw3Tokenizer, a SentencePiece model)");
}

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  std::string out;
  std::size_t start = 0;
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, start)) {
    out.append(text, start, at - start).append(to);
    start = at + from.size();
  }
  text = out.append(text, start);
}

// Hugging Face's clean_up_tokenization, in its order.
void clean_up_tokenization_spaces(std::string& text) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 10> kRules = {{
      {" .", "."},
      {" ?", "?"},
      {" !", "!"},
      {" ,", ","},
      {" ' ", "'"},
      {" n't", "n't"},
      {" 'm", "'m"},
      {" 's", "'s"},
      {" 've", "'ve"},
      {" 're", "'re"},
  }};
  for (const auto& [from, to] : kRules) replace_all(text, from, to);
}

class GptSw3Tokenizer final : public Tokenizer {
 public:
  GptSw3Tokenizer(const std::filesystem::path& model_path, GptSw3Settings settings,
                  const std::string& config_name)
      : clean_up_(settings.clean_up_tokenization_spaces) {
    const auto status = processor_.Load(model_path.string());
    if (!status.ok())
      throw Error(model_path.string() + ": not a SentencePiece model: " + status.ToString());
    if (!settings.legacy && adds_dummy_prefix()) {
      throw Error(config_name + ": \"legacy\": false (drop SentencePiece's dummy prefix) is not " +
                  "supported with " + model_path.string() + ", which adds one (valid: true)");
    }
    for (const std::string& token : settings.special_tokens) {
      const auto id = piece_id(token);
      if (!id) {
        throw Error(config_name + ": special token \"" + token + "\" is not a piece of " +
                    model_path.string() + "; GPT-SW3's special tokens are pieces of its model");
      }
      special_ids_.insert(*id);
      special_texts_.insert(token);
      if (!settings.split_special_tokens) matched_.push_back({token, *id});
    }
    for (const AddedTokenEntry& token : settings.added_tokens) {
      const auto id = piece_id(token.content);
      if (id != token.id) {
        throw Error(config_name + ": added token \"" + token.content + "\" has id " +
                    std::to_string(token.id) + ", but " + model_path.string() + " gives it " +
                    (id ? std::to_string(*id) : "none") + " (valid: the model's id)");
      }
      if (token.special && !special_texts_.contains(token.content)) {
        throw Error(config_name + ": added token \"" + token.content +
                    "\" is special but not one of the special tokens (valid: " +
                    special_token_list() + ")");
      }
      const bool listed = std::any_of(matched_.begin(), matched_.end(),
                                      [&](const auto& m) { return m.first == token.content; });
      if (!settings.split_special_tokens && !listed) matched_.push_back({token.content, token.id});
    }
    // Longest first, so that a match at a position is the longest one there.
    std::stable_sort(matched_.begin(), matched_.end(),
                     [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  }

  std::vector<std::int32_t> encode(std::string_view text,
                                   bool /*add_special_tokens*/) const override {
    // GPTSw3Tokenizer adds no BOS or EOS (its special_tokens_pattern is "none").
    if (unicode::first_invalid(text) != std::string_view::npos) unicode::decode(text);
    std::vector<std::int32_t> ids;
    std::size_t plain_start = 0;
    std::size_t i = 0;
    while (i < text.size()) {
      const auto match = token_at(text, i);
      if (!match) {
        ++i;
        continue;
      }
      encode_plain(text.substr(plain_start, i - plain_start), ids);
      ids.push_back(match->second);
      i += match->first.size();
      plain_start = i;
    }
    encode_plain(text.substr(plain_start), ids);
    return ids;
  }

  std::string decode(std::span<const std::int32_t> ids, bool skip_special_tokens) const override {
    std::string out;
    std::vector<int> ordinary;
    bool previous_special = false;
    for (const std::int32_t id : ids) {
      check_id(id);
      if (skip_special_tokens && special_ids_.contains(id)) continue;
      const std::string piece = processor_.IdToPiece(id);
      if (!special_texts_.contains(piece)) {
        ordinary.push_back(id);
        previous_special = false;
        continue;
      }
      // Hugging Face writes a space before a special token that follows ordinary text (or
      // starts the output), so decode(encode(text)) is not always text.
      if (!previous_special) out += ' ';
      out += decode_ordinary(ordinary) + piece;
      ordinary.clear();
      previous_special = true;
    }
    out += decode_ordinary(ordinary);
    if (clean_up_) clean_up_tokenization_spaces(out);
    return out;
  }

  std::optional<std::int32_t> token_to_id(std::string_view token) const override {
    return piece_id(token);
  }
  std::string id_to_token(std::int32_t id) const override {
    check_id(id);
    return processor_.IdToPiece(id);
  }
  std::int32_t vocab_size() const override { return processor_.GetPieceSize(); }
  bool is_special(std::int32_t id) const override { return special_ids_.contains(id); }

 private:
  std::optional<std::int32_t> piece_id(std::string_view piece) const {
    const int id = processor_.PieceToId(piece);
    if (id < 0 || processor_.IdToPiece(id) != piece) return std::nullopt;
    return id;
  }

  // Whether SentencePiece puts a U+2581 before the text (its add_dummy_prefix).
  bool adds_dummy_prefix() const {
    std::vector<std::string> pieces;
    if (!processor_.Encode("a", &pieces).ok()) return false;
    return std::any_of(pieces.begin(), pieces.end(), [](const std::string& piece) {
      return piece.find(kSentencePieceSpace) != std::string::npos;
    });
  }

  // The special or added token whose text starts at `at`, longest first (Hugging Face's
  // trie split: leftmost, then longest).
  const std::pair<std::string, std::int32_t>* token_at(std::string_view text,
                                                       std::size_t at) const {
    for (const auto& token : matched_) {
      if (text.substr(at).starts_with(token.first)) return &token;
    }
    return nullptr;
  }

  void encode_plain(std::string_view text, std::vector<std::int32_t>& ids) const {
    if (text.empty()) return;
    const std::string cleaned = gpt_sw3_clean_text(text);
    std::vector<int> pieces;
    const auto status = processor_.Encode(cleaned, &pieces);
    if (!status.ok()) throw Error("sentencepiece encode: " + status.ToString());
    ids.insert(ids.end(), pieces.begin(), pieces.end());
  }

  std::string decode_ordinary(const std::vector<int>& ids) const {
    std::string text;
    const auto status = processor_.Decode(ids, &text);
    if (!status.ok()) throw Error("sentencepiece decode: " + status.ToString());
    return text;
  }

  void check_id(std::int32_t id) const {
    if (id < 0 || id >= processor_.GetPieceSize()) {
      throw Error("token id " + std::to_string(id) + " is not in the vocabulary (size " +
                  std::to_string(processor_.GetPieceSize()) + ")");
    }
  }

  std::string special_token_list() const {
    std::vector<std::string> sorted(special_texts_.begin(), special_texts_.end());
    std::sort(sorted.begin(), sorted.end());
    std::string list;
    for (const std::string& token : sorted) list += (list.empty() ? "" : ", ") + token;
    return list;
  }

  sentencepiece::SentencePieceProcessor processor_;
  bool clean_up_;
  std::unordered_set<std::int32_t> special_ids_;
  std::unordered_set<std::string> special_texts_;
  std::vector<std::pair<std::string, std::int32_t>> matched_;  // matched in the raw text
};

}  // namespace

bool names_gpt_sw3_tokenizer(const std::filesystem::path& model_dir) {
  for (const auto& [name, what] : {std::pair{"tokenizer_config.json", "tokenizer config"},
                                   std::pair{"config.json", "model config"}}) {
    const auto path = model_dir / name;
    const auto json = read_json_if_present(path, what);
    if (!json || !json->contains("tokenizer_class") || json->at("tokenizer_class").is_null())
      continue;
    const Json& value = json->at("tokenizer_class");
    if (!value.is_string())
      throw Error(path.string() + ": \"tokenizer_class\" must be a string, got " + value.dump());
    return value.get<std::string>() == kClassName;
  }
  return false;
}

std::unique_ptr<Tokenizer> load_gpt_sw3_tokenizer(const std::filesystem::path& model_dir) {
  const auto config_path = model_dir / "tokenizer_config.json";
  Json config = read_json_if_present(config_path, "tokenizer config").value_or(Json::object());
  const auto model_path = sentencepiece_model(model_dir);
  try {
    return std::make_unique<GptSw3Tokenizer>(
        model_path, read_settings(model_dir, std::move(config), config_path.string()),
        config_path.string());
  } catch (const Json::exception& e) {
    throw Error(config_path.string() + ": unexpected structure: " + e.what());
  }
}

}  // namespace llmpi
