// tokenizer.model through Debian's libsentencepiece, for checkpoints that ship only that.
#include <sentencepiece_processor.h>

#include "llmpi/core/error.hpp"
#include "llmpi/tokenizer/tokenizer.hpp"
#include "unicode.hpp"

namespace llmpi {

namespace {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  SentencePieceTokenizer(const std::filesystem::path& path, bool add_bos) : add_bos_(add_bos) {
    const auto status = processor_.Load(path.string());
    if (!status.ok())
      throw Error(path.string() + ": not a SentencePiece model: " + status.ToString());
  }

  std::vector<std::int32_t> encode(std::string_view text, bool add_special_tokens) const override {
    if (unicode::first_invalid(text) != std::string_view::npos) unicode::decode(text);
    std::vector<int> pieces;
    const auto status = processor_.Encode(text, &pieces);
    if (!status.ok()) throw Error("sentencepiece encode: " + status.ToString());
    std::vector<std::int32_t> ids;
    if (add_special_tokens && add_bos_ && processor_.bos_id() >= 0)
      ids.push_back(processor_.bos_id());
    ids.insert(ids.end(), pieces.begin(), pieces.end());
    return ids;
  }

  std::string decode(std::span<const std::int32_t> ids, bool skip_special_tokens) const override {
    std::vector<int> kept;
    for (const std::int32_t id : ids) {
      check_id(id);
      if (skip_special_tokens && is_special(id)) continue;
      kept.push_back(id);
    }
    std::string text;
    const auto status = processor_.Decode(kept, &text);
    if (!status.ok()) throw Error("sentencepiece decode: " + status.ToString());
    return text;
  }

  std::optional<std::int32_t> token_to_id(std::string_view token) const override {
    const int id = processor_.PieceToId(token);
    if (id == processor_.unk_id() && processor_.IdToPiece(id) != token) return std::nullopt;
    return id;
  }
  std::string id_to_token(std::int32_t id) const override {
    check_id(id);
    return processor_.IdToPiece(id);
  }
  std::int32_t vocab_size() const override { return processor_.GetPieceSize(); }
  bool is_special(std::int32_t id) const override {
    return processor_.IsControl(id) || processor_.IsUnknown(id);
  }

 private:
  void check_id(std::int32_t id) const {
    if (id < 0 || id >= processor_.GetPieceSize()) {
      throw Error("token id " + std::to_string(id) + " is not in the vocabulary (size " +
                  std::to_string(processor_.GetPieceSize()) + ")");
    }
  }

  sentencepiece::SentencePieceProcessor processor_;
  bool add_bos_;
};

}  // namespace

std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::filesystem::path& model_file,
                                                        bool add_bos) {
  return std::make_unique<SentencePieceTokenizer>(model_file, add_bos);
}

}  // namespace llmpi
