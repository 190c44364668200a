// Nucleus sampling through the CPU backend's passes: the distribution, the nucleus boundary
// (ties included), seeds, and that a split vocabulary draws what the whole one draws.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <vector>

#include "llmpi/backend/cpu_backend.hpp"
#include "llmpi/backend/sampling_math.hpp"
#include "llmpi/model/sampler.hpp"

using namespace llmpi;

namespace {

// How often each token is drawn from one logits row in `draws` calls with one stream.
std::map<std::int32_t, int> counts(const std::vector<float>& logits, double temperature,
                                   double top_p, int draws, std::uint64_t seed = 42) {
  CpuBackend backend(1);
  const Tensor row = backend.upload(logits, 1, static_cast<std::int64_t>(logits.size()));
  std::vector<SeededRandom> random{SeededRandom(seed)};
  std::map<std::int32_t, int> seen;
  for (int i = 0; i < draws; ++i) {
    ++seen[sample_rows(backend, nullptr, row, 0, temperature, top_p, random).front()];
  }
  return seen;
}

}  // namespace

TEST_CASE("sampling follows softmax(logits / T), restricted to the nucleus", "[model][sampling]") {
  const std::vector<float> logits = {0.0f, std::log(3.0f), -30.0f};  // p = 0.25, 0.75, ~0
  const int draws = 20000;
  CHECK(static_cast<double>(counts(logits, 1.0, 1.0, draws)[1]) / draws ==
        Approx(0.75).margin(0.015));
  // top_p 0.5: only the most likely token is in the nucleus.
  CHECK(counts(logits, 1.0, 0.5, 100)[1] == 100);
  // A low temperature sharpens towards the argmax.
  CHECK(counts(logits, 0.1, 1.0, 1000)[1] > 995);
}

TEST_CASE("the nucleus ends at the first token that reaches top_p, its ties included",
          "[model][sampling]") {
  // Probabilities 8/16, 4/16, 2/16, 1/16, 1/16.
  std::vector<float> logits;
  for (const float weight : {8.0f, 4.0f, 2.0f, 1.0f, 1.0f}) logits.push_back(std::log(weight));
  const int draws = 4000;
  const auto two = counts(logits, 1.0, 0.74, draws);  // 12/16 reaches 0.74
  CHECK(two.size() == 2);
  CHECK(static_cast<double>(two.at(0)) / draws == Approx(8.0 / 12.0).margin(0.03));
  CHECK(counts(logits, 1.0, 0.76, draws).size() == 3);  // needs 14/16
  // 0.9 needs token 3 (15/16); token 4 is exactly as likely, so it is in too.
  const auto all = counts(logits, 1.0, 0.9, draws);
  CHECK(all.size() == 5);
  CHECK(static_cast<double>(all.at(4)) / draws == Approx(1.0 / 16.0).margin(0.015));
}

TEST_CASE("sampled tokens stay in the nucleus of random rows", "[model][sampling]") {
  CpuBackend backend(1);
  const std::int64_t vocab = 3000;
  const int rows = 6;
  SeededRandom noise(5);
  std::vector<float> logits(static_cast<std::size_t>(rows * vocab));
  for (float& value : logits) value = static_cast<float>(4.0 * (noise.uniform() - 0.5));
  const Tensor tensor = backend.upload(logits, rows, vocab);
  for (const double top_p : {0.05, 0.5, 0.9}) {
    // The reference nucleus: sort by probability (double), take tokens until top_p is reached.
    std::vector<std::vector<bool>> in(rows, std::vector<bool>(static_cast<std::size_t>(vocab)));
    for (int r = 0; r < rows; ++r) {
      const float* row = logits.data() + r * vocab;
      std::vector<std::int64_t> order(static_cast<std::size_t>(vocab));
      for (std::int64_t i = 0; i < vocab; ++i) order[static_cast<std::size_t>(i)] = i;
      std::sort(order.begin(), order.end(), [&](auto a, auto b) { return row[a] > row[b]; });
      double total = 0.0;
      for (std::int64_t i = 0; i < vocab; ++i) total += std::exp(static_cast<double>(row[i]));
      double mass = 0.0;
      for (const std::int64_t i : order) {
        in[static_cast<std::size_t>(r)][static_cast<std::size_t>(i)] = true;
        mass += std::exp(static_cast<double>(row[i]));
        if (mass >= top_p * total) break;
      }
    }
    std::vector<SeededRandom> randoms;
    for (int r = 0; r < rows; ++r) randoms.emplace_back(100 + static_cast<std::uint64_t>(r));
    for (int draw = 0; draw < 200; ++draw) {
      const auto tokens = sample_rows(backend, nullptr, tensor, 0, 1.0, top_p, randoms);
      for (int r = 0; r < rows; ++r) {
        CHECK(in[static_cast<std::size_t>(r)][static_cast<std::size_t>(tokens[r])]);
      }
    }
  }
}

TEST_CASE("a seed gives the same draws, another seed other draws", "[model][sampling]") {
  std::vector<float> logits(50);
  for (std::size_t i = 0; i < logits.size(); ++i) logits[i] = static_cast<float>(i % 7) * 0.3f;
  CpuBackend backend(1);
  const Tensor row = backend.upload(logits, 1, 50);
  auto draw = [&](std::uint64_t seed) {
    std::vector<SeededRandom> random{SeededRandom(seed)};
    std::vector<std::int32_t> tokens;
    for (int i = 0; i < 32; ++i) {
      tokens.push_back(sample_rows(backend, nullptr, row, 0, 0.9, 0.95, random).front());
    }
    return tokens;
  };
  CHECK(draw(7) == draw(7));
  CHECK(draw(7) != draw(8));
  SeededRandom a(1);
  CHECK(a.next() == 0x910a2dec89025cc1ull);  // SplitMix64's published first output for seed 1
}

TEST_CASE("a vocabulary split in slices sums and draws as the whole row", "[model][sampling]") {
  // What tensor-parallel ranks do: each passes over its own columns, the histograms add up and
  // the best Gumbel key over the slices is the whole row's.
  CpuBackend backend(1);
  const std::int64_t vocab = 1000;
  SeededRandom noise(9);
  std::vector<float> logits(static_cast<std::size_t>(vocab));
  for (float& value : logits) value = static_cast<float>(6.0 * noise.uniform());
  const Tensor whole = backend.upload(logits, 1, vocab);
  const std::vector<float> row_max = {*std::max_element(logits.begin(), logits.end())};
  const std::vector<std::uint32_t> prefix = {sampling::sortable_key(3.0f)};
  const std::vector<std::uint64_t> seeds = {12345};
  std::vector<std::uint64_t> expected(sampling::kBins);
  backend.mass_histogram(whole, row_max, 1.25f, prefix, 8, expected);
  const RowMax best = backend.gumbel_max_rows(whole, row_max, 1.25f, prefix, seeds, 0).front();

  std::vector<std::uint64_t> summed(sampling::kBins, 0);
  RowMax best_of_slices{-INFINITY, 0};
  for (const auto& [begin, end] : {std::pair{0, 333}, std::pair{333, 334}, std::pair{334, 1000}}) {
    const Tensor slice =
        backend.upload(std::span(logits).subspan(static_cast<std::size_t>(begin),
                                                 static_cast<std::size_t>(end - begin)),
                       1, end - begin);
    std::vector<std::uint64_t> part(sampling::kBins);
    backend.mass_histogram(slice, row_max, 1.25f, prefix, 8, part);
    for (int b = 0; b < sampling::kBins; ++b) summed[static_cast<std::size_t>(b)] += part[b];
    const RowMax local =
        backend.gumbel_max_rows(slice, row_max, 1.25f, prefix, seeds, begin).front();
    if (local.value > best_of_slices.value) best_of_slices = {local.value, begin + local.index};
  }
  CHECK(summed == expected);
  CHECK(best_of_slices.index == best.index);
  CHECK(best_of_slices.value == best.value);
}

TEST_CASE("sampling refuses what it cannot draw from", "[model][sampling]") {
  CpuBackend backend(1);
  std::vector<SeededRandom> random{SeededRandom(1)};
  const Tensor row = backend.upload(std::vector<float>{0.0f, 1.0f}, 1, 2);
  CHECK_THROWS_WITH(sample_rows(backend, nullptr, row, 0, 1e-40, 1.0, random),
                    Catch::Contains("too small for fp32"));
  CHECK_THROWS_WITH(sample_rows(backend, nullptr, row, 0, 1.0, 0.0, random),
                    Catch::Contains("0 < top_p <= 1"));
  const Tensor infinite = backend.upload(std::vector<float>{0.0f, INFINITY}, 1, 2);
  CHECK_THROWS_WITH(sample_rows(backend, nullptr, infinite, 0, 1.0, 1.0, random),
                    Catch::Contains("logits row 0"));
  // -0 and +0 are one value: a nucleus ending at 0 takes both.
  const Tensor zeros = backend.upload(std::vector<float>{1.0f, 0.0f, -0.0f, -5.0f}, 1, 4);
  std::map<std::int32_t, int> seen;
  for (int i = 0; i < 400; ++i)
    ++seen[sample_rows(backend, nullptr, zeros, 0, 1.0, 0.8, random)[0]];
  CHECK(seen.count(1) == 1);
  CHECK(seen.count(2) == 1);
  CHECK(seen.count(3) == 0);
}
