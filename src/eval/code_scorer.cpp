#include "llmpi/eval/code_scorer.hpp"

#include "llmpi/core/error.hpp"

namespace llmpi {

std::string code_program(const nlohmann::json& problem, const std::string& prompt,
                         const std::string& completion, const ScorerSpec& scorer) {
  const auto field = [&](const std::string& name) {
    if (!problem.contains(name) || !problem.at(name).is_string()) {
      throw Error("code scorer: the problem has no string field '" + name + "'");
    }
    return problem.at(name).get<std::string>();
  };
  return prompt + completion + "\n\n" + field(scorer.tests_field) + "\n\ncheck(" +
         field(scorer.entry_point_field) + ")\n";
}

SandboxResult run_code_tests(const nlohmann::json& problem, const std::string& prompt,
                             const std::string& completion, const ScorerSpec& scorer) {
  SandboxLimits limits;
  limits.wall_seconds = scorer.timeout_s;
  limits.cpu_seconds = scorer.timeout_s;
  return run_python_sandboxed(code_program(problem, prompt, completion, scorer), limits);
}

double pass_at_k(int n, int c, int k) {
  if (n < 1 || c < 0 || c > n || k < 1 || k > n) {
    throw Error("pass@k: needs 0 <= c <= n and 1 <= k <= n (n=" + std::to_string(n) +
                " c=" + std::to_string(c) + " k=" + std::to_string(k) + ")");
  }
  if (n - c < k) return 1.0;
  // C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k / i), stable for large n.
  double fail = 1.0;
  for (int i = n - c + 1; i <= n; ++i) fail *= 1.0 - static_cast<double>(k) / i;
  return 1.0 - fail;
}

}  // namespace llmpi
