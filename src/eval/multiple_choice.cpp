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
}  // namespace

ChoiceScores score_choices(std::span<const double> loglik,
                           std::span<const std::string> continuations) {
  if (loglik.size() != continuations.size() || loglik.empty()) {
    throw Error("multiple choice: " + std::to_string(loglik.size()) + " log-likelihoods for " +
                std::to_string(continuations.size()) + " choices");
  }
  ChoiceScores scores;
  scores.loglik.assign(loglik.begin(), loglik.end());
  for (std::size_t i = 0; i < loglik.size(); ++i) {
    const double length = static_cast<double>(std::max<std::size_t>(continuations[i].size(), 1));
    scores.loglik_normalised.push_back(loglik[i] / length);
  }
  scores.chosen = first_best(scores.loglik);
  scores.chosen_normalised = first_best(scores.loglik_normalised);
  return scores;
}

}  // namespace llmpi
