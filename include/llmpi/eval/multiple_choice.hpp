#pragma once

#include <span>
#include <string>
#include <vector>

namespace llmpi {

// Multiple choice by log-likelihood (ARC/HellaSwag/MMLU style): the choice whose continuation
// the model finds most likely, raw and normalised by the continuation's length in bytes (so
// long answers are not penalised for having more tokens). Ties go to the lowest index.
struct ChoiceScores {
  std::vector<double> loglik;             // sum of token log-probabilities per choice
  std::vector<double> loglik_normalised;  // divided by the continuation's byte length
  int chosen = -1;                        // by raw log-likelihood
  int chosen_normalised = -1;
};

ChoiceScores score_choices(std::span<const double> loglik,
                           std::span<const std::string> continuations);

}  // namespace llmpi
