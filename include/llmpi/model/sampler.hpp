#pragma once

#include <cstdint>
#include <span>

namespace llmpi {

// A small, fully specified random stream (SplitMix64), so a seed gives the same draws on every
// rank, compiler and standard library.
class SeededRandom {
 public:
  explicit SeededRandom(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next();
  double uniform();  // [0, 1) with 53 random bits

 private:
  std::uint64_t state_;
};

// A token drawn from softmax(logits / temperature) restricted to the smallest set of most
// likely tokens whose probability reaches top_p (nucleus sampling; at least one token).
// Equal probabilities keep index order, so the draw is reproducible.
std::int32_t sample_token(std::span<const float> logits, double temperature, double top_p,
                          SeededRandom& random);

}  // namespace llmpi
