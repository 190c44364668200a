#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "llmpi/model/sampler.hpp"

using namespace llmpi;

TEST_CASE("sampling follows softmax(logits / T), restricted to the nucleus", "[model][sampling]") {
  const std::vector<float> logits = {0.0f, std::log(3.0f), -30.0f};  // p = 0.25, 0.75, ~0
  SeededRandom random(42);
  int ones = 0;
  const int draws = 20000;
  for (int i = 0; i < draws; ++i) ones += sample_token(logits, 1.0, 1.0, random) == 1 ? 1 : 0;
  CHECK(static_cast<double>(ones) / draws == Approx(0.75).margin(0.015));

  // top_p 0.5: only the most likely token is in the nucleus.
  for (int i = 0; i < 100; ++i) CHECK(sample_token(logits, 1.0, 0.5, random) == 1);
  // A low temperature sharpens towards the argmax.
  int sharp = 0;
  for (int i = 0; i < 1000; ++i) sharp += sample_token(logits, 0.1, 1.0, random) == 1 ? 1 : 0;
  CHECK(sharp > 995);
}

TEST_CASE("a seed gives the same draws, another seed other draws", "[model][sampling]") {
  std::vector<float> logits(50);
  for (std::size_t i = 0; i < logits.size(); ++i) logits[i] = static_cast<float>(i % 7) * 0.3f;
  auto draw = [&](std::uint64_t seed) {
    SeededRandom random(seed);
    std::vector<std::int32_t> tokens;
    for (int i = 0; i < 32; ++i) tokens.push_back(sample_token(logits, 0.9, 0.95, random));
    return tokens;
  };
  CHECK(draw(7) == draw(7));
  CHECK(draw(7) != draw(8));
  SeededRandom a(1);
  CHECK(a.next() == 0x910a2dec89025cc1ull);  // SplitMix64's published first output for seed 1
}
