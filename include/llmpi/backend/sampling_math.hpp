// The numbers nucleus sampling is made of, written once for the CPU backend and the CUDA
// kernels so that both draw the same token from the same logits. C++17: kernels include it.
//
// A row is sampled without ever gathering its logits (each TP rank holds a vocabulary slice):
// - the nucleus boundary is found by radix selection on the logits' bit patterns, summing each
//   token's probability mass into 256 bins per round, 8 bits a round; the masses are fixed-point
//   integers, so the sums are exact in any order and on any number of ranks;
// - the token is the Gumbel-max of the nucleus: argmax of (logit - max) / T + Gumbel noise,
//   which is a draw from the softmax restricted to it. The noise of token i depends only on the
//   row's seed and i, so any split of the vocabulary draws the same token.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "llmpi/backend/host_device.hpp"

namespace llmpi::sampling {

constexpr int kBinBits = 8;
constexpr int kBins = 1 << kBinBits;
constexpr int kRounds = 32 / kBinBits;
// A token's mass is exp((logit - max) / T) in units of 2^-40: the most likely token is 2^40, a
// 256k vocabulary sums below 2^58, and a token under 2^-40 of the top one counts as nothing.
constexpr float kMassScale = 1099511627776.0f;

// Orders floats as unsigned integers: a < b exactly when sortable_key(a) < sortable_key(b).
LLMPI_HOST_DEVICE inline std::uint32_t sortable_key(float value) {
  if (value == 0.0f) value = 0.0f;  // -0 and +0 are equally likely: one key
#if defined(__CUDA_ARCH__)
  const std::uint32_t bits = __float_as_uint(value);
#else
  std::uint32_t bits = 0;
  std::memcpy(&bits, &value, sizeof bits);
#endif
  return (bits & 0x80000000u) != 0 ? ~bits : (bits | 0x80000000u);
}

// Whether `key` starts with the top `prefix_bits` bits of `prefix` (0 to 24 bits).
LLMPI_HOST_DEVICE inline bool has_prefix(std::uint32_t key, std::uint32_t prefix, int prefix_bits) {
  return prefix_bits == 0 || (key >> (32 - prefix_bits)) == (prefix >> (32 - prefix_bits));
}

// The 8 bits of `key` after its first `prefix_bits`.
LLMPI_HOST_DEVICE inline int bin_of(std::uint32_t key, int prefix_bits) {
  return static_cast<int>((key >> (32 - kBinBits - prefix_bits)) & (kBins - 1));
}

// A NaN logit weighs nothing (and, its Gumbel key NaN, is never drawn): both backends ignore it.
LLMPI_HOST_DEVICE inline std::uint64_t fixed_mass(float logit, float row_max,
                                                  float inv_temperature) {
  const float weight = expf((logit - row_max) * inv_temperature);
  return weight > 0.0f ? static_cast<std::uint64_t>(weight * kMassScale) : 0;
}

// Uniform in (0, 1) for token `column` of a row drawing with `seed` (SplitMix64's mixer over the
// column; 23 bits, so the value is never 0 or 1).
LLMPI_HOST_DEVICE inline float uniform_noise(std::uint64_t seed, long long column) {
  std::uint64_t z = seed + static_cast<std::uint64_t>(column + 1) * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (static_cast<float>(z >> 41) + 0.5f) * 0x1p-23f;
}

LLMPI_HOST_DEVICE inline float gumbel_key(float logit, float row_max, float inv_temperature,
                                          float uniform) {
  return (logit - row_max) * inv_temperature - logf(-logf(uniform));
}

}  // namespace llmpi::sampling
