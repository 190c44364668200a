#include <catch2/catch.hpp>
#include <cmath>

#include "llmpi/core/error.hpp"
#include "llmpi/results/summary.hpp"

using namespace llmpi;
using Catch::Matchers::Contains;

namespace {
RequestResult row(const std::string& id, const std::string& task, const std::string& category,
                  double score, double latency) {
  RequestResult r;
  r.id = id;
  r.task = task;
  r.category = category;
  r.score = score;
  r.latency_s = latency;
  r.ttft_s = latency / 10;
  r.prompt_tokens = 10;
  r.generated_tokens = 5;
  return r;
}
}  // namespace

TEST_CASE("quantiles interpolate as numpy's default does", "[results][summary]") {
  CHECK(quantile({}, 0.5) == 0.0);
  CHECK(quantile({7.0}, 0.95) == 7.0);
  CHECK(quantile({4.0, 1.0, 3.0, 2.0}, 0.5) == Approx(2.5));
  CHECK(quantile({4.0, 1.0, 3.0, 2.0}, 0.95) == Approx(3.85));  // np.percentile(.., 95)
  CHECK(quantile({1.0, 2.0}, 1.0) == 2.0);
}

TEST_CASE("tasks are summarised with unscored requests left out of the mean",
          "[results][summary]") {
  const std::vector<RequestResult> rows = {
      row("a1", "arc", "reasoning", 1.0, 1.0), row("g1", "gsm8k", "math", 0.0, 2.0),
      row("a2", "arc", "reasoning", 0.0, 3.0), row("g2", "gsm8k", "math", kNotScored, 4.0),
      row("m1", "mmlu", "reasoning", 1.0, 5.0)};
  const auto tasks = summarise_tasks(rows);
  REQUIRE(tasks.size() == 3);
  CHECK(tasks[0].task == "arc");  // sorted by name
  CHECK(tasks[0].category == "reasoning");
  CHECK(tasks[0].requests == 2);
  CHECK(tasks[0].scored == 2);
  CHECK(tasks[0].mean_score == Approx(0.5));
  CHECK(tasks[0].mean_latency_s == Approx(2.0));
  CHECK(tasks[0].p50_latency_s == Approx(2.0));
  CHECK(tasks[0].mean_ttft_s == Approx(0.2));
  CHECK(tasks[0].prompt_tokens == 20);
  CHECK(tasks[0].generated_tokens == 10);
  CHECK(tasks[1].task == "gsm8k");
  CHECK(tasks[1].scored == 1);
  CHECK(tasks[1].mean_score == Approx(0.0));

  const auto categories = summarise_categories(tasks);
  REQUIRE(categories.size() == 2);
  CHECK(categories[0].category == "math");
  CHECK(categories[1].category == "reasoning");
  CHECK(categories[1].tasks == 2);
  CHECK(categories[1].requests == 3);
  CHECK(categories[1].mean_score == Approx(2.0 / 3.0));   // over requests
  CHECK(categories[1].macro_mean_score == Approx(0.75));  // over tasks: (0.5 + 1) / 2
  CHECK(categories[1].mean_latency_s == Approx(3.0));
  CHECK(categories[1].prompt_tokens == 30);

  const std::vector<RequestResult> unscored = {row("x", "gen", "writing", kNotScored, 1.0)};
  const auto none = summarise_tasks(unscored);
  CHECK(none[0].scored == 0);
  CHECK(std::isnan(none[0].mean_score));
  CHECK(std::isnan(summarise_categories(none)[0].mean_score));
}

TEST_CASE("a task with requests in two categories is refused by name", "[results][summary]") {
  const std::vector<RequestResult> rows = {row("a1", "arc", "reasoning", 1.0, 1.0),
                                           row("a2", "arc", "math", 1.0, 1.0)};
  CHECK_THROWS_WITH(summarise_tasks(rows), Contains("task 'arc'") && Contains("'reasoning'") &&
                                               Contains("'math' (request 'a2')"));
}

TEST_CASE("throughput is counted over the given wall time", "[results][summary]") {
  const std::vector<RequestResult> rows = {row("a", "t", "c", 1.0, 1.0),
                                           row("b", "t", "c", 1.0, 3.0)};
  const RunStats stats = run_stats(rows, 4.0);
  CHECK(stats.requests == 2);
  CHECK(stats.prompt_tokens == 20);
  CHECK(stats.generated_tokens == 10);
  CHECK(stats.requests_per_s == Approx(0.5));
  CHECK(stats.generated_tokens_per_s == Approx(2.5));
  CHECK(stats.mean_latency_s == Approx(2.0));
  CHECK(stats.p95_latency_s == Approx(2.9));
  CHECK(run_stats(rows, 0.0).requests_per_s == 0.0);
}
