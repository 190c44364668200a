// Unicode NFC (UAX #15): canonical decomposition, canonical ordering of combining marks, then
// canonical composition. The data come from Python's unicodedata (unicode_nfc_table.inc), the
// normaliser Hugging Face's Python tokenizers call, so both give the same text.
#include <algorithm>
#include <cstdint>
#include <iterator>

#include "unicode.hpp"

namespace llmpi::unicode {

namespace {

struct CombiningClassRange {
  char32_t first, last;
  std::uint8_t combining_class;
};
struct CanonicalDecomposition {
  char32_t code_point, first, second;  // second == 0: a singleton mapping
};
struct CanonicalComposition {
  char32_t first, second, composite;
};

#include "unicode_nfc_table.inc"

// Binary search needs sorted tables; a hand edit of the generated file must not break that.
static_assert(std::is_sorted(std::begin(kCombiningClassRanges), std::end(kCombiningClassRanges),
                             [](const auto& a, const auto& b) { return a.last < b.first; }));
static_assert(std::is_sorted(std::begin(kCanonicalDecompositions),
                             std::end(kCanonicalDecompositions), [](const auto& a, const auto& b) {
                               return a.code_point < b.code_point;
                             }));
static_assert(std::is_sorted(std::begin(kCanonicalCompositions), std::end(kCanonicalCompositions),
                             [](const auto& a, const auto& b) {
                               return a.first < b.first ||
                                      (a.first == b.first && a.second < b.second);
                             }));

// Hangul syllables are composed and decomposed by arithmetic (Unicode 3.12), not by table.
constexpr char32_t kSyllableBase = 0xAC00;
constexpr char32_t kLeadingBase = 0x1100;
constexpr char32_t kVowelBase = 0x1161;
constexpr char32_t kTrailingBase = 0x11A7;
constexpr char32_t kLeadingCount = 19;
constexpr char32_t kVowelCount = 21;
constexpr char32_t kTrailingCount = 28;
constexpr char32_t kSyllablesPerLeading = kVowelCount * kTrailingCount;
constexpr char32_t kSyllableCount = kLeadingCount * kSyllablesPerLeading;

// Every code point below U+0300 is unchanged by NFC and never combines with what follows;
// none below U+00C0 has a decomposition.
constexpr char32_t kFirstNonTrivial = 0x0300;
constexpr char32_t kFirstDecomposable = 0x00C0;
static_assert(std::begin(kCanonicalDecompositions)->code_point >= kFirstDecomposable);
static_assert(std::begin(kCombiningClassRanges)->first >= kFirstNonTrivial);

int combining_class(char32_t cp) {
  if (cp < kFirstNonTrivial) return 0;
  const auto* end = std::end(kCombiningClassRanges);
  const auto* it = std::lower_bound(std::begin(kCombiningClassRanges), end, cp,
                                    [](const auto& range, char32_t c) { return range.last < c; });
  return it != end && it->first <= cp ? it->combining_class : 0;
}

void decompose_into(char32_t cp, std::u32string& out) {
  if (cp >= kSyllableBase && cp < kSyllableBase + kSyllableCount) {
    const char32_t index = cp - kSyllableBase;
    out += kLeadingBase + index / kSyllablesPerLeading;
    out += kVowelBase + index % kSyllablesPerLeading / kTrailingCount;
    if (index % kTrailingCount != 0) out += kTrailingBase + index % kTrailingCount;
    return;
  }
  if (cp >= kFirstDecomposable) {
    const auto* end = std::end(kCanonicalDecompositions);
    const auto* it =
        std::lower_bound(std::begin(kCanonicalDecompositions), end, cp,
                         [](const auto& entry, char32_t c) { return entry.code_point < c; });
    if (it != end && it->code_point == cp) {
      // Mappings are one level deep in the data; their parts may decompose further.
      decompose_into(it->first, out);
      if (it->second != 0) decompose_into(it->second, out);
      return;
    }
  }
  out += cp;
}

// Stable sort of each run of non-starters by combining class (canonical ordering).
void reorder_marks(std::u32string& text) {
  std::size_t i = 0;
  while (i < text.size()) {
    if (combining_class(text[i]) == 0) {
      ++i;
      continue;
    }
    std::size_t end = i;
    while (end < text.size() && combining_class(text[end]) != 0) ++end;
    if (end - i > 1) {
      std::stable_sort(text.begin() + static_cast<std::ptrdiff_t>(i),
                       text.begin() + static_cast<std::ptrdiff_t>(end), [](char32_t a, char32_t b) {
                         return combining_class(a) < combining_class(b);
                       });
    }
    i = end;
  }
}

// The primary composite of the pair, or 0 when there is none.
char32_t compose_pair(char32_t first, char32_t second) {
  if (first >= kLeadingBase && first < kLeadingBase + kLeadingCount && second >= kVowelBase &&
      second < kVowelBase + kVowelCount) {
    return kSyllableBase +
           ((first - kLeadingBase) * kVowelCount + (second - kVowelBase)) * kTrailingCount;
  }
  if (first >= kSyllableBase && first < kSyllableBase + kSyllableCount &&
      (first - kSyllableBase) % kTrailingCount == 0 && second > kTrailingBase &&
      second < kTrailingBase + kTrailingCount) {
    return first + (second - kTrailingBase);
  }
  const auto* end = std::end(kCanonicalCompositions);
  const auto* it = std::lower_bound(
      std::begin(kCanonicalCompositions), end, std::pair{first, second},
      [](const auto& entry, const auto& key) {
        return entry.first < key.first || (entry.first == key.first && entry.second < key.second);
      });
  return it != end && it->first == first && it->second == second ? it->composite : 0;
}

// Canonical composition in place: each mark joins the last starter unless blocked, that is
// unless a character between them has class 0 or a class at least its own. After canonical
// ordering the last kept character has the highest class since that starter.
void compose(std::u32string& text) {
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::size_t starter = kNone;
  int last_class = 0;
  std::size_t kept = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char32_t cp = text[i];
    const int cp_class = combining_class(cp);
    if (starter != kNone) {
      const bool adjacent = kept == starter + 1;
      if (adjacent || last_class < cp_class) {
        if (const char32_t composite = compose_pair(text[starter], cp); composite != 0) {
          text[starter] = composite;
          continue;
        }
      }
    }
    if (cp_class == 0) starter = kept;
    text[kept++] = cp;
    last_class = cp_class;
  }
  text.resize(kept);
}

}  // namespace

std::u32string nfc(std::u32string_view code_points) {
  if (std::all_of(code_points.begin(), code_points.end(),
                  [](char32_t cp) { return cp < kFirstNonTrivial; })) {
    return std::u32string(code_points);
  }
  std::u32string text;
  text.reserve(code_points.size());
  for (const char32_t cp : code_points) decompose_into(cp, text);
  reorder_marks(text);
  compose(text);
  return text;
}

std::string nfc(std::string_view text) {
  if (first_invalid(text) != std::string_view::npos) decode(text);  // throws, naming the byte
  // Fast path: text with nothing at or above U+0300 is already in NFC (its UTF-8 lead bytes
  // are all below 0xCC).
  if (std::all_of(text.begin(), text.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0xcc; })) {
    return std::string(text);
  }
  const std::vector<char32_t> decoded = decode(text);
  const std::u32string composed = nfc(std::u32string_view(decoded.data(), decoded.size()));
  std::string out;
  out.reserve(text.size());
  for (const char32_t cp : composed) append_utf8(out, cp);
  return out;
}

const char* nfc_unicode_version() {
  return kUnicodeVersion;
}

}  // namespace llmpi::unicode
