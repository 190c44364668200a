#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace llmpi {

// Text <-> token ids, exactly as the checkpoint's Hugging Face tokenizer does it. Instances are
// not thread-safe (they keep caches); give each thread its own.
class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Invalid UTF-8 is refused with the byte offset (Hugging Face takes only valid strings).
  virtual std::vector<std::int32_t> encode(std::string_view text,
                                           bool add_special_tokens) const = 0;
  virtual std::string decode(std::span<const std::int32_t> ids, bool skip_special_tokens) const = 0;

  virtual std::optional<std::int32_t> token_to_id(std::string_view token) const = 0;
  virtual std::string id_to_token(std::int32_t id) const = 0;
  virtual std::int32_t vocab_size() const = 0;
  virtual bool is_special(std::int32_t id) const = 0;
};

// GPT-SW3's tokenizer when DIR's tokenizer_config.json (or config.json) names GPTSw3Tokenizer;
// Evo 2's byte tokenizer when config.json's tokenizer_type is CharLevelTokenizer; otherwise
// DIR/tokenizer.json when present, else DIR/tokenizer.model (SentencePiece).
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& model_dir);

// Hugging Face tokenizer.json; `source` names the file in messages.
std::unique_ptr<Tokenizer> parse_hf_tokenizer(const std::string& json_text,
                                              const std::string& source);

// A SentencePiece model file (Llama-2's tokenizer.model), BOS added when asked to.
std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::filesystem::path& model_file,
                                                        bool add_bos = true);

// Streaming detokenisation: text appears as soon as it is complete, and never half a UTF-8
// character (a byte-fallback or byte-level token may carry only part of one).
class IncrementalDecoder {
 public:
  explicit IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = true);

  // Appends `id` and returns the newly completed text (possibly empty).
  std::string push(std::int32_t id);
  // Whatever is still held back (an incomplete final character comes out as U+FFFD).
  std::string flush();

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  std::vector<std::int32_t> ids_;
  std::size_t prefix_ = 0;  // decoding restarts here, so context-dependent decoders agree
  std::size_t read_ = 0;    // text of ids_[prefix_, read_) has been emitted
};

}  // namespace llmpi
