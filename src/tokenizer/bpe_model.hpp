#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace llmpi {

// Byte-pair encoding as tokenizers' BPE model does it: characters (or, with byte_fallback,
// <0xNN> byte tokens) merged pair by pair, lowest merge rank first, leftmost on ties.
class BpeModel {
 public:
  BpeModel(const nlohmann::json& model, const std::string& where);

  void encode_word(const std::string& word, std::vector<std::int32_t>& out) const;

  std::optional<std::int32_t> token_to_id(const std::string& token) const;
  const std::string* id_to_token(std::int32_t id) const;
  std::int32_t size() const { return static_cast<std::int32_t>(tokens_.size()); }

 private:
  struct Merge {
    std::int32_t rank;
    std::int32_t result;
  };
  static std::uint64_t pair_key(std::int32_t a, std::int32_t b) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) |
           static_cast<std::uint32_t>(b);
  }
  void initial_symbols(const std::string& word, std::vector<std::int32_t>& symbols) const;
  // Applies the merges to `symbols` in place, lowest rank first (leftmost among equals).
  void merge_all(std::vector<std::int32_t>& symbols) const;

  std::unordered_map<std::string, std::int32_t> vocab_;
  std::vector<std::string> tokens_;  // by id; ids may have gaps filled by added tokens
  std::unordered_map<std::uint64_t, Merge> merges_;
  std::optional<std::int32_t> unk_id_;
  bool byte_fallback_ = false;
  bool fuse_unk_ = false;
  bool ignore_merges_ = false;
  std::int32_t byte_ids_[256];
  mutable std::unordered_map<std::string, std::vector<std::int32_t>> cache_;
};

}  // namespace llmpi
