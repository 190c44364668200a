#include "llmpi/tokenizer/tokenizer.hpp"

namespace llmpi {

namespace {
// U+FFFD at the end means the last token(s) carry only part of a character so far.
bool ends_incomplete(const std::string& text) {
  return text.size() >= 3 && text.compare(text.size() - 3, 3, "\xef\xbf\xbd") == 0;
}
}  // namespace

IncrementalDecoder::IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_special_(skip_special_tokens) {}

std::string IncrementalDecoder::push(std::int32_t id) {
  ids_.push_back(id);
  const std::span<const std::int32_t> all(ids_);
  // Decode a window that starts a few tokens back, so decoders that look at neighbours
  // (a leading space stripped from the first token, say) see the same context each time.
  const std::string before =
      tokenizer_.decode(all.subspan(prefix_, read_ - prefix_), skip_special_);
  const std::string after = tokenizer_.decode(all.subspan(prefix_), skip_special_);
  if (after.size() <= before.size() || ends_incomplete(after) ||
      after.compare(0, before.size(), before) != 0) {
    return {};
  }
  prefix_ = read_;
  read_ = ids_.size();
  return after.substr(before.size());
}

std::string IncrementalDecoder::flush() {
  const std::span<const std::int32_t> all(ids_);
  const std::string before =
      tokenizer_.decode(all.subspan(prefix_, read_ - prefix_), skip_special_);
  const std::string after = tokenizer_.decode(all.subspan(prefix_), skip_special_);
  prefix_ = read_ = ids_.size();
  return after.size() > before.size() ? after.substr(before.size()) : std::string();
}

}  // namespace llmpi
