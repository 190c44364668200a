#include "llmpi/eval/multiple_choice.hpp"

#include "llmpi/core/error.hpp"

namespace llmpi {

namespace {
int first_best(const std::vector<double>& values) {
  int best = 0;
  for (std::size_t i = 1; i < values.size(); ++i) {
    if (values[i] > values[static_cast<std::size_t>(best)]) best = static_cast<int>(i);
  }
  return best;
}

// Python's len() of the decoded text: bytes that start a UTF-8 sequence.
std::size_t code_points(const std::string& text) {
  std::size_t count = 0;
  for (const char c : text) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  return count;
}
}  // namespace

ChoiceScores score_choices(std::span<const double> loglik, std::span<const std::string> choices) {
  if (loglik.size() != choices.size() || loglik.empty()) {
    throw Error("multiple choice: " + std::to_string(loglik.size()) + " log-likelihoods for " +
                std::to_string(choices.size()) + " choices");
  }
  ChoiceScores scores;
  scores.loglik.assign(loglik.begin(), loglik.end());
  for (std::size_t i = 0; i < loglik.size(); ++i) {
    const double length = static_cast<double>(std::max<std::size_t>(code_points(choices[i]), 1));
    scores.loglik_normalised.push_back(loglik[i] / length);
  }
  scores.chosen = first_best(scores.loglik);
  scores.chosen_normalised = first_best(scores.loglik_normalised);
  return scores;
}

}  // namespace llmpi
