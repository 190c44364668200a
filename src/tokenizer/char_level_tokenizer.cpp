#include "char_level_tokenizer.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "llmpi/core/error.hpp"
#include "llmpi/core/input_file.hpp"
#include "unicode.hpp"

namespace llmpi {

namespace {

constexpr const char* kTypeName = "CharLevelTokenizer";
constexpr std::uint64_t kMaxConfigBytes = std::uint64_t{16} << 20;
// vtx's end of document (also its end of sequence) and padding ids.
constexpr std::int32_t kEndOfDocument = 0;
constexpr std::int32_t kPad = 1;

std::optional<nlohmann::json> model_config(const std::filesystem::path& model_dir) {
  const auto path = model_dir / "config.json";
  std::error_code error;
  if (!std::filesystem::exists(std::filesystem::symlink_status(path, error))) return std::nullopt;
  return parse_json(read_input_file(path, "model config", kMaxConfigBytes), path.string());
}

class CharLevelTokenizer : public Tokenizer {
 public:
  explicit CharLevelTokenizer(std::int32_t vocab_size) : vocab_size_(vocab_size) {}

  // The text's bytes; vtx adds nothing, special tokens or not.
  std::vector<std::int32_t> encode(std::string_view text, bool) const override {
    if (unicode::first_invalid(text) != std::string_view::npos) unicode::decode(text);
    std::vector<std::int32_t> ids;
    ids.reserve(text.size());
    for (const char byte : text) ids.push_back(static_cast<unsigned char>(byte));
    return ids;
  }

  // vtx's detokenize: each id the character of that code point, clamped to [32, vocab size]
  // (so the end-of-document and padding ids read as spaces), unless they are skipped.
  std::string decode(std::span<const std::int32_t> ids, bool skip_special_tokens) const override {
    std::string text;
    for (const std::int32_t id : ids) {
      if (skip_special_tokens && is_special(id)) continue;
      text += id_to_token(id);
    }
    return text;
  }

  std::optional<std::int32_t> token_to_id(std::string_view token) const override {
    if (token.size() != 1) return std::nullopt;
    return static_cast<unsigned char>(token.front());
  }
  std::string id_to_token(std::int32_t id) const override {
    return unicode::encode(static_cast<char32_t>(std::clamp(id, 32, vocab_size_)));
  }
  std::int32_t vocab_size() const override { return vocab_size_; }
  bool is_special(std::int32_t id) const override { return id == kEndOfDocument || id == kPad; }

 private:
  std::int32_t vocab_size_;
};

}  // namespace

bool names_char_level_tokenizer(const std::filesystem::path& model_dir) {
  const auto config = model_config(model_dir);
  if (!config || !config->is_object() || !config->contains("tokenizer_type")) return false;
  const nlohmann::json& value = config->at("tokenizer_type");
  return value.is_string() && value.get<std::string>() == kTypeName;
}

std::unique_ptr<Tokenizer> load_char_level_tokenizer(const std::filesystem::path& model_dir) {
  const auto config = model_config(model_dir);
  const std::string source = (model_dir / "config.json").string();
  if (!config || !config->contains("vocab_size") || !config->at("vocab_size").is_number_integer() ||
      config->at("vocab_size").get<long long>() < 256 ||
      config->at("vocab_size").get<long long>() > (1 << 24)) {
    throw Error(source +
                ": a CharLevelTokenizer needs \"vocab_size\", an integer of at least 256 "
                "(one id per byte)");
  }
  return std::make_unique<CharLevelTokenizer>(config->at("vocab_size").get<std::int32_t>());
}

}  // namespace llmpi
