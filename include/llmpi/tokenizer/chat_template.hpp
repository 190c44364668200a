#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>

namespace llmpi {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant", ...
  std::string content;
};

// A checkpoint's chat template (a jinja2 template), rendered byte for byte as transformers'
// apply_chat_template(messages, tokenize=False, add_generation_prompt=...) renders it: jinja2
// as transformers configures it (trim_blocks, lstrip_blocks, loop controls, a sandbox that
// makes data immutable), with raise_exception, namespace, range and dict defined.
//
// llmpi implements the subset of jinja2 that chat templates use; a template reaching past it
// is refused when constructed, naming the construct and its line, rather than rendered
// approximately. Immutable once built: render() may be called from several threads.
class ChatTemplate {
 public:
  // `where` names the template in errors ("<where>:<line>: ..."). A token given as nullopt
  // is undefined to the template, as in transformers for a tokenizer without one.
  // Errors: llmpi::Error, e.g. "<where>:3: chat template uses the filter 'map', which llmpi
  // does not support (supported: ...)", or a syntax error with its line.
  // `other_tokens`: the tokenizer's other special tokens by name (unk_token, pad_token, ...),
  // which transformers also hands the template.
  ChatTemplate(std::string text, std::string where, std::optional<std::string> bos_token,
               std::optional<std::string> eos_token,
               std::map<std::string, std::string> other_tokens = {});

  // The prompt for `messages` (at least one; valid UTF-8). The template sees `messages`
  // (dicts with "role" and "content"), `add_generation_prompt`, `bos_token`, `eos_token`,
  // the other special tokens, and `tools` and `documents` as none.
  // Errors: llmpi::Error "<where>:<line>: chat template raised an error: <its message>" when
  // the template calls raise_exception (e.g. roles that do not alternate), or
  // "<where>:<line>: chat template error: ..." for what jinja2 would fail on too.
  std::string render(std::span<const ChatMessage> messages, bool add_generation_prompt) const;

  const std::string& text() const { return text_; }
  const std::string& where() const { return where_; }
  const std::optional<std::string>& bos_token() const { return bos_token_; }
  const std::optional<std::string>& eos_token() const { return eos_token_; }

 private:
  struct Parsed;
  std::string text_;
  std::string where_;
  std::optional<std::string> bos_token_;
  std::optional<std::string> eos_token_;
  std::map<std::string, std::string> other_tokens_;
  std::shared_ptr<const Parsed> parsed_;
};

// The chat template of a Hugging Face checkpoint directory, found where transformers finds it:
// <model_dir>/chat_template.jinja when present, else tokenizer_config.json's "chat_template"
// (a string, or a list of {"name", "template"} from which "default" is taken). bos_token and
// eos_token come from tokenizer_config.json (a string or an AddedToken object with
// "content"; special_tokens_map.json overrides them when the config predates
// "added_tokens_decoder", as transformers does).
// Errors: llmpi::Error naming the file and field; a checkpoint without a template is refused
// with "... has no chat template".
ChatTemplate load_chat_template(const std::filesystem::path& model_dir);

}  // namespace llmpi
