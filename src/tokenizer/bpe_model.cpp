#include "bpe_model.hpp"

#include <cstdio>
#include <functional>
#include <queue>

#include "llmpi/core/error.hpp"
#include "unicode.hpp"

namespace llmpi {

namespace {
constexpr std::size_t kCacheLimit = 1 << 16;

std::size_t utf8_length(unsigned char lead) {
  return lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
}
}  // namespace

BpeModel::BpeModel(const nlohmann::json& model, const std::string& where) {
  if (model.value("type", "BPE") != "BPE") {
    throw Error(where + ": model type '" + model.value("type", "") +
                "' is not implemented (llmpi implements BPE)");
  }
  if (!model.contains("vocab") || !model.at("vocab").is_object()) {
    throw Error(where + ": BPE model has no vocab object");
  }
  if (!model.value("dropout", nlohmann::json()).is_null()) {
    throw Error(where + ": BPE dropout is set; evaluation needs deterministic tokenization");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (model.contains(key) && !model.at(key).is_null() &&
        !model.at(key).get<std::string>().empty()) {
      throw Error(where + ": BPE " + key + " is not implemented");
    }
  }
  for (const auto& [token, id] : model.at("vocab").items()) {
    if (!id.is_number_integer() || id.get<long long>() < 0) {
      throw Error(where + ": vocab entry '" + token + "' has id " + id.dump());
    }
    const auto value = id.get<std::int32_t>();
    vocab_.emplace(token, value);
    if (static_cast<std::size_t>(value) >= tokens_.size())
      tokens_.resize(static_cast<std::size_t>(value) + 1);
    tokens_[static_cast<std::size_t>(value)] = token;
  }
  std::int32_t rank = 0;
  for (const auto& merge : model.value("merges", nlohmann::json::array())) {
    std::string left, right;
    if (merge.is_string()) {  // "a b"
      const std::string text = merge.get<std::string>();
      const std::size_t space = text.find(' ', 1);
      if (space == std::string::npos) throw Error(where + ": merge '" + text + "' has no space");
      left = text.substr(0, space);
      right = text.substr(space + 1);
    } else if (merge.is_array() && merge.size() == 2) {  // ["a", "b"]
      left = merge.at(0).get<std::string>();
      right = merge.at(1).get<std::string>();
    } else {
      throw Error(where + ": merge " + merge.dump() + " is neither \"a b\" nor [\"a\", \"b\"]");
    }
    const auto a = vocab_.find(left);
    const auto b = vocab_.find(right);
    const auto result = vocab_.find(left + right);
    if (a == vocab_.end() || b == vocab_.end() || result == vocab_.end()) {
      throw Error(where + ": merge '" + left + " " + right +
                  "' uses tokens missing from the vocab");
    }
    merges_.emplace(pair_key(a->second, b->second), Merge{rank++, result->second});
  }
  if (model.contains("unk_token") && model.at("unk_token").is_string()) {
    const auto unk = vocab_.find(model.at("unk_token").get<std::string>());
    if (unk == vocab_.end()) throw Error(where + ": unk_token is not in the vocab");
    unk_id_ = unk->second;
  }
  byte_fallback_ = model.value("byte_fallback", false);
  fuse_unk_ = model.value("fuse_unk", false);
  ignore_merges_ = model.value("ignore_merges", false);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    const auto it = vocab_.find(name);
    byte_ids_[b] = it == vocab_.end() ? -1 : it->second;
  }
}

std::optional<std::int32_t> BpeModel::token_to_id(const std::string& token) const {
  const auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(std::int32_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= tokens_.size()) return nullptr;
  return &tokens_[static_cast<std::size_t>(id)];
}

void BpeModel::initial_symbols(const std::string& word, std::vector<std::int32_t>& symbols) const {
  bool previous_unk = false;
  for (std::size_t i = 0; i < word.size();) {
    const std::size_t length =
        std::min(utf8_length(static_cast<unsigned char>(word[i])), word.size() - i);
    const auto it = vocab_.find(word.substr(i, length));
    if (it != vocab_.end()) {
      symbols.push_back(it->second);
      previous_unk = false;
    } else {
      bool all_bytes = byte_fallback_;
      for (std::size_t k = 0; k < length && all_bytes; ++k) {
        all_bytes = byte_ids_[static_cast<unsigned char>(word[i + k])] >= 0;
      }
      if (all_bytes) {
        for (std::size_t k = 0; k < length; ++k) {
          symbols.push_back(byte_ids_[static_cast<unsigned char>(word[i + k])]);
        }
        previous_unk = false;
      } else if (unk_id_) {
        if (!(fuse_unk_ && previous_unk)) symbols.push_back(*unk_id_);
        previous_unk = true;
      }
    }
    i += length;
  }
}

void BpeModel::merge_all(std::vector<std::int32_t>& symbols) const {
  // The symbols as a linked list, and every mergeable neighbouring pair in a heap ordered by
  // merge rank, then position: the lowest-ranked pair is merged first, the leftmost of equal
  // ones, as a scan of the whole word for the best pair would, but in O(n log n). A popped pair
  // whose symbols have changed since it was pushed is stale and skipped.
  const auto count = static_cast<int>(symbols.size());
  if (count < 2) return;
  std::vector<int> previous(symbols.size()), next(symbols.size());
  for (int i = 0; i < count; ++i) {
    previous[static_cast<std::size_t>(i)] = i - 1;
    next[static_cast<std::size_t>(i)] = i + 1 < count ? i + 1 : -1;
  }
  struct Candidate {
    std::int32_t rank;
    int position;
    std::int32_t result;
    bool operator>(const Candidate& other) const {
      return rank != other.rank ? rank > other.rank : position > other.position;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  const auto push = [&](int left) {
    const int right = next[static_cast<std::size_t>(left)];
    if (right < 0) return;
    const auto it = merges_.find(pair_key(symbols[static_cast<std::size_t>(left)],
                                          symbols[static_cast<std::size_t>(right)]));
    if (it != merges_.end()) heap.push({it->second.rank, left, it->second.result});
  };
  std::vector<bool> alive(symbols.size(), true);
  for (int i = 0; i + 1 < count; ++i) push(i);
  while (!heap.empty()) {
    const Candidate top = heap.top();
    heap.pop();
    const auto left = static_cast<std::size_t>(top.position);
    const int right = next[left];
    if (!alive[left] || right < 0) continue;
    const auto it = merges_.find(pair_key(symbols[left], symbols[static_cast<std::size_t>(right)]));
    if (it == merges_.end() || it->second.rank != top.rank || it->second.result != top.result) {
      continue;  // stale
    }
    symbols[left] = top.result;
    alive[static_cast<std::size_t>(right)] = false;
    next[left] = next[static_cast<std::size_t>(right)];
    if (next[left] >= 0) previous[static_cast<std::size_t>(next[left])] = top.position;
    if (previous[left] >= 0) push(previous[left]);
    push(top.position);
  }
  std::size_t kept = 0;
  for (int i = 0; i >= 0; i = next[static_cast<std::size_t>(i)])
    symbols[kept++] = symbols[static_cast<std::size_t>(i)];
  symbols.resize(kept);
}

void BpeModel::encode_word(const std::string& word, std::vector<std::int32_t>& out) const {
  if (ignore_merges_) {
    const auto whole = vocab_.find(word);
    if (whole != vocab_.end()) {
      out.push_back(whole->second);
      return;
    }
  }
  if (const auto cached = cache_.find(word); cached != cache_.end()) {
    out.insert(out.end(), cached->second.begin(), cached->second.end());
    return;
  }
  std::vector<std::int32_t> symbols;
  initial_symbols(word, symbols);
  merge_all(symbols);
  if (cache_.size() >= kCacheLimit) cache_.clear();
  cache_.emplace(word, symbols);
  out.insert(out.end(), symbols.begin(), symbols.end());
}

}  // namespace llmpi
