#pragma once

#include <string>
#include <string_view>

namespace llmpi::results_text {

// Well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF) without NUL:
// what HDF5 stores as a C string and h5py decodes without error.
bool storable(std::string_view text);

// The text with each byte that starts no well-formed sequence, and each NUL, replaced by U+FFFD.
// Generation cut off mid-character ends in such bytes.
std::string make_storable(std::string_view text);

}  // namespace llmpi::results_text
