#pragma once

#include <span>
#include <string>
#include <vector>

namespace llmpi {

// Multiple choice by log-likelihood (ARC/HellaSwag/MMLU style), as lm-evaluation-harness
// scores it: the choice whose continuation the model finds most likely (`acc`), and the same
// with each log-likelihood divided by the choice's length in characters (`acc_norm`: Unicode
// code points of the choice text, without the delimiter before it), so long answers are not
// penalised for having more tokens. Ties go to the lowest index.
struct ChoiceScores {
  std::vector<double> loglik;             // sum of token log-probabilities per choice
  std::vector<double> loglik_normalised;  // divided by the choice's length in characters
  int chosen = -1;                        // by raw log-likelihood
  int chosen_normalised = -1;
};

ChoiceScores score_choices(std::span<const double> loglik, std::span<const std::string> choices);

}  // namespace llmpi
