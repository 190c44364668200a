#include "llmpi/model/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

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

std::int32_t sample_token(std::span<const float> logits, double temperature, double top_p,
                          SeededRandom& random) {
  if (logits.empty()) throw Error("sampling: no logits");
  if (temperature <= 0.0 || top_p <= 0.0 || top_p > 1.0) {
    throw Error("sampling: needs temperature > 0 and 0 < top_p <= 1");
  }
  const float max = *std::max_element(logits.begin(), logits.end());
  std::vector<double> probability(logits.size());
  double total = 0.0;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    probability[i] = std::exp((static_cast<double>(logits[i]) - max) / temperature);
    total += probability[i];
  }
  // The nucleus: the most likely tokens (ties in index order) until their mass reaches top_p.
  // It is usually a small part of the vocabulary, so sort only a growing prefix: the order and
  // the sums are those of a full stable sort.
  const auto before = [&](std::int32_t a, std::int32_t b) {
    const double pa = probability[static_cast<std::size_t>(a)];
    const double pb = probability[static_cast<std::size_t>(b)];
    return pa > pb || (pa == pb && a < b);
  };
  std::vector<std::int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::size_t sorted = 0;  // order[0, sorted) holds the most likely tokens, in order
  std::size_t kept = 0;
  double mass = 0.0;
  while (true) {
    std::size_t more = std::min(order.size(), sorted == 0 ? 64 : 8 * sorted);
    // Everything past the sorted prefix ranks after it: only the rest needs sorting. A large
    // part (or the whole vocabulary, when top_p keeps it all) is cheaper to sort at once.
    if (more > order.size() / 8 || top_p >= 1.0) more = order.size();
    const auto from = order.begin() + static_cast<std::ptrdiff_t>(sorted);
    if (more == order.size()) {
      std::stable_sort(from, order.end(), before);  // merge sort: faster here than a heap
    } else {
      std::partial_sort(from, order.begin() + static_cast<std::ptrdiff_t>(more), order.end(),
                        before);
    }
    sorted = more;
    while (kept < sorted && (kept == 0 || mass < top_p * total)) {
      mass += probability[static_cast<std::size_t>(order[kept++])];
    }
    if (sorted == order.size() || mass >= top_p * total) break;
  }
  double draw = random.uniform() * mass;
  for (std::size_t i = 0; i < kept; ++i) {
    draw -= probability[static_cast<std::size_t>(order[i])];
    if (draw < 0.0) return order[i];
  }
  return order[kept - 1];
}

}  // namespace llmpi
