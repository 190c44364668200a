#include "llmpi/backend/fp8_e4m3.hpp"

#include <algorithm>
#include <cmath>

namespace llmpi {

float round_to_e4m3(float x) {
  if (std::isnan(x)) return x;
  const float magnitude = std::min(std::fabs(x), kE4m3Max);
  int exponent = 0;
  std::frexp(magnitude, &exponent);  // magnitude = m 2^exponent, m in [0.5, 1)
  // Three mantissa bits: the binade [2^(exponent-1), 2^exponent) is in steps of 2^(exponent-4);
  // below the smallest normal (2^-6) the subnormals are steps of 2^-9.
  const int step = std::max(exponent - 4, -9);
  // nearbyint rounds in the default mode, to nearest with ties to even; the scaling by powers
  // of two on either side is exact. Saturated inputs stay at 448 (a multiple of its step, 32).
  const float rounded = std::ldexp(std::nearbyint(std::ldexp(magnitude, -step)), step);
  return std::copysign(rounded, x);
}

}  // namespace llmpi
