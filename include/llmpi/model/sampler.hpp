#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "llmpi/backend/backend.hpp"
#include "llmpi/dist/comm.hpp"

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

// One token per logits row, drawn from softmax(logits / temperature) restricted to the nucleus:
// the most likely tokens whose probability first reaches top_p (at least one token; tokens
// exactly as likely as the last one needed are all in). Row r draws with randoms[r] (one
// value per row per call).
//
// `logits` holds this rank's vocabulary columns [first_column, first_column + cols) and `tp`
// (null for one rank) the ranks holding the rest: they all call with the same streams and get
// the same tokens, and no rank sees another's logits (sampling_math.hpp says how). The token
// drawn does not depend on how the vocabulary is split.
std::vector<std::int32_t> sample_rows(Backend& backend, Comm* tp, const Tensor& logits,
                                      std::int64_t first_column, double temperature, double top_p,
                                      std::span<SeededRandom> randoms);

}  // namespace llmpi
