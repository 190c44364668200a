#include "llmpi/model/sampler.hpp"

#include <cmath>
#include <string>

#include "llmpi/backend/sampling_math.hpp"
#include "llmpi/core/error.hpp"

namespace llmpi {

std::uint64_t SeededRandom::next() {
  std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double SeededRandom::uniform() {
  return static_cast<double>(next() >> 11) * 0x1.0p-53;
}

namespace {

// The sortable key of each row's nucleus boundary: radix selection, 8 bits a round, on the
// masses summed over every rank. Tokens at or above the key are the nucleus.
std::vector<std::uint32_t> nucleus_thresholds(Backend& backend, Comm* tp, const Tensor& logits,
                                              std::span<const float> row_max, float inv_temperature,
                                              double top_p) {
  const auto rows = static_cast<std::size_t>(logits.rows);
  std::vector<std::uint32_t> prefix(rows, 0);
  if (top_p >= 1.0) return prefix;            // every token
  std::vector<std::uint64_t> above(rows, 0);  // mass of the tokens past the prefix's range
  std::vector<double> target(rows, 0.0);
  std::vector<std::uint64_t> histogram(rows * sampling::kBins);
  for (int round = 0; round < sampling::kRounds; ++round) {
    const int prefix_bits = round * sampling::kBinBits;
    backend.mass_histogram(logits, row_max, inv_temperature, prefix, prefix_bits, histogram);
    if (tp != nullptr) tp->all_reduce_sum(histogram);
    for (std::size_t r = 0; r < rows; ++r) {
      const std::uint64_t* bins = histogram.data() + r * sampling::kBins;
      if (round == 0) {
        std::uint64_t total = 0;
        for (int b = 0; b < sampling::kBins; ++b) total += bins[b];
        target[r] = top_p * static_cast<double>(total);
      }
      // From the most likely bin down: the first whose mass takes the sum to the target holds
      // the boundary (bin 0 if rounding leaves the target out of reach).
      int b = sampling::kBins - 1;
      while (b > 0 && static_cast<double>(above[r] + bins[b]) < target[r]) above[r] += bins[b--];
      prefix[r] |= static_cast<std::uint32_t>(b) << (32 - sampling::kBinBits - prefix_bits);
    }
  }
  return prefix;
}

}  // namespace

std::vector<std::int32_t> sample_rows(Backend& backend, Comm* tp, const Tensor& logits,
                                      std::int64_t first_column, double temperature, double top_p,
                                      std::span<SeededRandom> randoms) {
  if (!(temperature > 0.0) || !(top_p > 0.0) || top_p > 1.0) {
    throw Error("sampling: needs temperature > 0 and 0 < top_p <= 1, got temperature " +
                std::to_string(temperature) + ", top_p " + std::to_string(top_p));
  }
  const auto rows = static_cast<std::size_t>(logits.rows);
  if (randoms.size() != rows) {
    throw Error("sampling: " + std::to_string(randoms.size()) + " random streams for " +
                std::to_string(rows) + " logits rows");
  }
  if (rows == 0) return {};
  const bool group = tp != nullptr && tp->size() > 1;
  Comm* const sum_over = group ? tp : nullptr;

  // Every rank's row maximum, so all scale their masses alike.
  std::vector<float> row_max;
  std::vector<std::int64_t> where;
  for (const RowMax& best : backend.max_rows(logits)) {
    row_max.push_back(best.value);
    where.push_back(first_column + best.index);
  }
  if (group) tp->arg_max(row_max, where);

  const auto inv_temperature = static_cast<float>(1.0 / temperature);
  if (!std::isfinite(inv_temperature)) {
    throw Error("sampling: temperature " + std::to_string(temperature) +
                " is too small for fp32 (use 0 for greedy decoding)");
  }
  for (std::size_t r = 0; r < rows; ++r) {
    if (!std::isfinite(row_max[r])) {
      throw Error("sampling: logits row " + std::to_string(r) + " has a largest value of " +
                  std::to_string(row_max[r]) +
                  " (the model produced infinite logits, or no finite one)");
    }
  }
  const std::vector<std::uint32_t> threshold =
      nucleus_thresholds(backend, sum_over, logits, row_max, inv_temperature, top_p);
  std::vector<std::uint64_t> seeds;
  for (SeededRandom& random : randoms) seeds.push_back(random.next());

  std::vector<float> keys;
  std::vector<std::int64_t> tokens;
  for (const RowMax& best :
       backend.gumbel_max_rows(logits, row_max, inv_temperature, threshold, seeds, first_column)) {
    keys.push_back(best.value);
    tokens.push_back(first_column + best.index);
  }
  if (group) tp->arg_max(keys, tokens);
  return {tokens.begin(), tokens.end()};
}

}  // namespace llmpi
