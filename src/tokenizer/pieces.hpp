#pragma once

#include <string>
#include <vector>

namespace llmpi {

// A piece of text on its way through a tokenizer pipeline. `at_start` marks the piece that
// begins at the very start of the input (Metaspace's prepend_scheme "first" needs it).
struct Piece {
  std::string text;
  bool at_start = false;
};
using Pieces = std::vector<Piece>;

// Replaces every occurrence of the literal `from`.
void replace_all(std::string& text, const std::string& from, const std::string& to);

// How a split keeps the delimiters it found (tokenizers' SplitDelimiterBehavior).
enum class SplitBehavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

// Splits `piece` at the byte ranges `matches` (sorted, non-overlapping) and appends the
// resulting non-empty pieces to `out`. With `invert`, the matches are the content and the
// gaps are the delimiters.
void split_piece(const Piece& piece,
                 const std::vector<std::pair<std::size_t, std::size_t>>& matches,
                 SplitBehavior behavior, bool invert, Pieces& out);

}  // namespace llmpi
