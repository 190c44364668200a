#include "llmpi/tokenizer/chat_template.hpp"

#include <nlohmann/json.hpp>
#include <system_error>
#include <utility>
#include <vector>

#include "jinja_lexer.hpp"
#include "jinja_parser.hpp"
#include "jinja_render.hpp"
#include "llmpi/core/error.hpp"
#include "llmpi/core/input_file.hpp"
#include "unicode.hpp"

namespace llmpi {

namespace {

using Json = nlohmann::json;

// tokenizer_config.json may list every added token; chat_template.jinja is one template.
constexpr std::uint64_t kMaxConfigBytes = std::uint64_t{64} << 20;

void require_utf8(const std::string& text, const std::string& what) {
  const std::size_t invalid = unicode::first_invalid(text);
  if (invalid != std::string::npos)
    throw Error(what + " is not valid UTF-8 (byte " + std::to_string(invalid) + ")");
}

jinja::Value message_value(const ChatMessage& message) {
  return jinja::Value::dict({{"role", jinja::Value::string(message.role)},
                             {"content", jinja::Value::string(message.content)}});
}

bool path_exists(const std::filesystem::path& path) {
  std::error_code error;
  return std::filesystem::exists(std::filesystem::symlink_status(path, error));
}

Json read_json_object(const std::filesystem::path& path, const std::string& what) {
  Json json = parse_json(read_input_file(path, what, kMaxConfigBytes), path.string());
  if (!json.is_object()) throw Error(path.string() + ": expected a JSON object");
  return json;
}

// A special token as the config writes it: a string, an AddedToken object, or null (none).
std::optional<std::string> token_text(const Json& config, const char* key,
                                      const std::string& file) {
  if (!config.contains(key) || config.at(key).is_null()) return std::nullopt;
  const Json& value = config.at(key);
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value.at("content").is_string())
    return value.at("content").get<std::string>();
  throw Error(file + ": \"" + key +
              "\" must be a string or an object with a string \"content\", got " + value.dump());
}

// The template text and its name for messages, from tokenizer_config.json's "chat_template".
std::pair<std::string, std::string> config_template(const Json& config, const std::string& file) {
  const std::string field = file + " \"chat_template\"";
  if (!config.contains("chat_template") || config.at("chat_template").is_null())
    throw Error(file +
                " has no \"chat_template\" (and there is no chat_template.jinja beside it): "
                "the checkpoint has no chat template");
  const Json& value = config.at("chat_template");
  if (value.is_string()) return {value.get<std::string>(), field};
  if (!value.is_array())
    throw Error(field + " must be a string or a list of {\"name\", \"template\"}, got " +
                std::string(value.type_name()));
  std::string names;
  for (const Json& entry : value) {
    if (!entry.is_object() || !entry.contains("name") || !entry.at("name").is_string() ||
        !entry.contains("template") || !entry.at("template").is_string())
      throw Error(field + ": every entry must be {\"name\": string, \"template\": string}, got " +
                  entry.dump());
    const std::string name = entry.at("name").get<std::string>();
    if (name == "default") return {entry.at("template").get<std::string>(), field + " \"default\""};
    names += (names.empty() ? "" : ", ") + name;
  }
  throw Error(field + " has several templates but none named \"default\" (it has: " + names + ")");
}

}  // namespace

// The special tokens transformers hands a chat template by name (its special_tokens_map).
constexpr const char* kSpecialTokens[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                          "pad_token", "cls_token", "mask_token"};

struct ChatTemplate::Parsed {
  jinja::Body body;
};

ChatTemplate::ChatTemplate(std::string text, std::string where,
                           std::optional<std::string> bos_token,
                           std::optional<std::string> eos_token,
                           std::map<std::string, std::string> other_tokens)
    : text_(std::move(text)),
      where_(std::move(where)),
      bos_token_(std::move(bos_token)),
      eos_token_(std::move(eos_token)),
      other_tokens_(std::move(other_tokens)) {
  if (bos_token_) require_utf8(*bos_token_, where_ + ": bos_token");
  if (eos_token_) require_utf8(*eos_token_, where_ + ": eos_token");
  for (const auto& [name, token] : other_tokens_) require_utf8(token, where_ + ": " + name);
  auto parsed = std::make_shared<Parsed>();
  parsed->body = jinja::parse_template(jinja::tokenize(text_, where_), where_);
  parsed_ = std::move(parsed);
}

std::string ChatTemplate::render(std::span<const ChatMessage> messages,
                                 bool add_generation_prompt) const {
  // transformers refuses an empty conversation before rendering.
  if (messages.empty()) throw Error(where_ + ": cannot apply a chat template to no messages");
  std::vector<jinja::Value> message_values;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const std::string what = "message " + std::to_string(i) + "'s ";
    require_utf8(messages[i].role, what + "role");
    require_utf8(messages[i].content, what + "content");
    message_values.push_back(message_value(messages[i]));
  }
  std::vector<std::pair<std::string, jinja::Value>> variables = {
      {"messages", jinja::Value::list(std::move(message_values))},
      {"add_generation_prompt", jinja::Value::boolean(add_generation_prompt)},
      {"tools", jinja::Value::none()},
      {"documents", jinja::Value::none()},
  };
  if (bos_token_) variables.emplace_back("bos_token", jinja::Value::string(*bos_token_));
  if (eos_token_) variables.emplace_back("eos_token", jinja::Value::string(*eos_token_));
  for (const auto& [name, token] : other_tokens_) {
    variables.emplace_back(name, jinja::Value::string(token));
  }
  return jinja::render(parsed_->body, where_, std::move(variables));
}

ChatTemplate load_chat_template(const std::filesystem::path& model_dir) {
  const auto config_path = model_dir / "tokenizer_config.json";
  const std::string config_file = config_path.string();
  Json config = read_json_object(config_path, "tokenizer config");
  // Configs written before "added_tokens_decoder" existed let special_tokens_map.json decide.
  const auto map_path = model_dir / "special_tokens_map.json";
  if (!config.contains("added_tokens_decoder") && path_exists(map_path)) {
    const Json map = read_json_object(map_path, "special tokens map");
    for (const char* key : kSpecialTokens) {
      if (map.contains(key)) config[key] = map.at(key);
    }
  }
  std::optional<std::string> bos = token_text(config, "bos_token", config_file);
  std::optional<std::string> eos = token_text(config, "eos_token", config_file);
  std::map<std::string, std::string> others;
  for (const char* key : kSpecialTokens) {
    if (std::string_view(key) == "bos_token" || std::string_view(key) == "eos_token") continue;
    if (auto token = token_text(config, key, config_file)) others.emplace(key, std::move(*token));
  }
  // A separate chat_template.jinja takes priority over the config's entry, as in transformers.
  const auto jinja_path = model_dir / "chat_template.jinja";
  if (path_exists(jinja_path)) {
    return ChatTemplate(read_input_file(jinja_path, "chat template", kMaxConfigBytes),
                        jinja_path.string(), std::move(bos), std::move(eos), std::move(others));
  }
  auto [text, where] = config_template(config, config_file);
  return ChatTemplate(std::move(text), std::move(where), std::move(bos), std::move(eos),
                      std::move(others));
}

}  // namespace llmpi
