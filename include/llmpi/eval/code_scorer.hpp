#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "llmpi/eval/sandbox.hpp"
#include "llmpi/eval/task.hpp"

namespace llmpi {

// HumanEval-style functional correctness: the problem's prompt, the model's completion, the
// problem's tests, then check(<entry point>), run in the sandbox; passed only if it exits 0.
std::string code_program(const nlohmann::json& problem, const std::string& prompt,
                         const std::string& completion, const ScorerSpec& scorer);
SandboxResult run_code_tests(const nlohmann::json& problem, const std::string& prompt,
                             const std::string& completion, const ScorerSpec& scorer);

// The unbiased pass@k estimate from n samples of which c passed (Chen et al., 2021):
// 1 - C(n - c, k) / C(n, k).
double pass_at_k(int n, int c, int k);

}  // namespace llmpi
