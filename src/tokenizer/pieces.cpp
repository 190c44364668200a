#include "pieces.hpp"

namespace llmpi {

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  std::string out;
  std::size_t cursor = 0;
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, cursor)) {
    out.append(text, cursor, at - cursor);
    out += to;
    cursor = at + from.size();
  }
  out.append(text, cursor, std::string::npos);
  text = std::move(out);
}

void split_piece(const Piece& piece,
                 const std::vector<std::pair<std::size_t, std::size_t>>& matches,
                 SplitBehavior behavior, bool invert, Pieces& out) {
  // Label every byte range of the piece as delimiter or content, in order.
  struct Span {
    std::size_t begin, end;
    bool delimiter;
  };
  std::vector<Span> spans;
  std::size_t cursor = 0;
  for (const auto& [begin, end] : matches) {
    if (begin > cursor) spans.push_back({cursor, begin, invert});
    spans.push_back({begin, end, !invert});
    cursor = end;
  }
  if (cursor < piece.text.size()) spans.push_back({cursor, piece.text.size(), invert});

  std::vector<std::pair<std::size_t, std::size_t>> result;
  for (std::size_t i = 0; i < spans.size(); ++i) {
    const Span& s = spans[i];
    if (!s.delimiter) {
      result.emplace_back(s.begin, s.end);
      continue;
    }
    switch (behavior) {
      case SplitBehavior::removed:
        break;
      case SplitBehavior::isolated:
        result.emplace_back(s.begin, s.end);
        break;
      case SplitBehavior::contiguous:
        if (i > 0 && spans[i - 1].delimiter && !result.empty() && result.back().second == s.begin) {
          result.back().second = s.end;
        } else {
          result.emplace_back(s.begin, s.end);
        }
        break;
      case SplitBehavior::merged_with_previous:
        if (i > 0 && !spans[i - 1].delimiter && !result.empty()) {
          result.back().second = s.end;
        } else {
          result.emplace_back(s.begin, s.end);
        }
        break;
      case SplitBehavior::merged_with_next:
        if (i + 1 < spans.size() && !spans[i + 1].delimiter) {
          spans[i + 1].begin = s.begin;
        } else {
          result.emplace_back(s.begin, s.end);
        }
        break;
    }
  }
  for (const auto& [begin, end] : result) {
    if (end > begin) {
      out.push_back({piece.text.substr(begin, end - begin), piece.at_start && begin == 0});
    }
  }
}

}  // namespace llmpi
