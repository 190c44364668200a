#include "llmpi/results/summary.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include "llmpi/core/error.hpp"

namespace llmpi {

namespace {

double mean(double sum, std::int64_t count) {
  return count > 0 ? sum / static_cast<double>(count) : 0.0;
}

// The sample standard deviation (n - 1) over the root of n, from the sum and the sum of
// squares of n values.
double standard_error(double sum, double square_sum, std::int64_t n) {
  if (n < 2) return kNotScored;
  const double count = static_cast<double>(n);
  const double variance = std::max(0.0, (square_sum - sum * sum / count) / (count - 1));
  return std::sqrt(variance / count);
}

// The sum of squares of a task's scores, recovered from its mean and standard error.
double sum_of_squares(const TaskSummary& task) {
  const double n = static_cast<double>(task.scored);
  const double variance = task.scored > 1 && !std::isnan(task.score_stderr)
                              ? task.score_stderr * task.score_stderr * n
                              : 0.0;
  return variance * (n - 1) + n * task.mean_score * task.mean_score;
}

}  // namespace

double quantile(std::vector<double> values, double q) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const double position = std::clamp(q, 0.0, 1.0) * static_cast<double>(values.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(position));
  const std::size_t above = std::min(below + 1, values.size() - 1);
  const double fraction = position - static_cast<double>(below);
  return values[below] + (values[above] - values[below]) * fraction;
}

std::vector<TaskSummary> summarise_tasks(std::span<const RequestResult> rows) {
  struct Totals {
    TaskSummary summary;
    std::vector<double> latencies;
    double score_sum = 0;
    double score_square_sum = 0;
    double normalised_sum = 0;
    double normalised_square_sum = 0;
    double ttft_sum = 0;
    std::string first_id;
    // Perplexity documents: log-likelihoods, words and bytes summed.
    double loglikelihood_sum = 0;
    double words = 0;
    double bytes = 0;
  };
  std::map<std::string, Totals> by_task;
  for (const RequestResult& row : rows) {
    auto [it, inserted] = by_task.try_emplace(row.task);
    Totals& totals = it->second;
    if (inserted) {
      totals.summary.task = row.task;
      totals.summary.category = row.category;
      totals.first_id = row.id;
    } else if (totals.summary.category != row.category) {
      throw Error("task '" + row.task + "' has requests in two categories: '" +
                  totals.summary.category + "' (request '" + totals.first_id + "') and '" +
                  row.category + "' (request '" + row.id + "')");
    }
    TaskSummary& s = totals.summary;
    ++s.requests;
    s.failed += row.status == RequestStatus::failed ? 1 : 0;
    s.skipped += row.status == RequestStatus::skipped ? 1 : 0;
    s.truncated += row.status == RequestStatus::truncated ? 1 : 0;
    if (!std::isnan(row.score)) {
      ++s.scored;
      totals.score_sum += row.score;
      totals.score_square_sum += row.score * row.score;
      const double normalised = std::isnan(row.score_normalised) ? row.score : row.score_normalised;
      totals.normalised_sum += normalised;
      totals.normalised_square_sum += normalised * normalised;
    }
    if (std::isfinite(row.loglikelihood) && !std::isnan(row.score)) {
      totals.loglikelihood_sum += row.loglikelihood;
      totals.words += static_cast<double>(row.words);
      totals.bytes += static_cast<double>(row.bytes);
    }
    totals.latencies.push_back(row.latency_s);
    totals.ttft_sum += row.ttft_s;
    s.prompt_tokens += row.prompt_tokens;
    s.generated_tokens += row.generated_tokens;
  }
  std::vector<TaskSummary> tasks;
  for (auto& [name, totals] : by_task) {
    TaskSummary& s = totals.summary;
    s.mean_score = s.scored > 0 ? totals.score_sum / static_cast<double>(s.scored) : kNotScored;
    s.score_stderr = standard_error(totals.score_sum, totals.score_square_sum, s.scored);
    s.mean_score_normalised =
        s.scored > 0 ? totals.normalised_sum / static_cast<double>(s.scored) : kNotScored;
    s.score_normalised_stderr =
        standard_error(totals.normalised_sum, totals.normalised_square_sum, s.scored);
    double latency_sum = 0;
    for (const double latency : totals.latencies) latency_sum += latency;
    s.mean_latency_s = mean(latency_sum, s.requests);
    s.p50_latency_s = quantile(totals.latencies, 0.50);
    s.p95_latency_s = quantile(std::move(totals.latencies), 0.95);
    s.mean_ttft_s = mean(totals.ttft_sum, s.requests);
    if (totals.bytes > 0) {
      s.word_perplexity = std::exp(-totals.loglikelihood_sum / totals.words);
      s.byte_perplexity = std::exp(-totals.loglikelihood_sum / totals.bytes);
      s.bits_per_byte = -totals.loglikelihood_sum / totals.bytes / std::log(2.0);
    }
    tasks.push_back(s);
  }
  return tasks;
}

std::vector<CategorySummary> summarise_categories(std::span<const TaskSummary> tasks) {
  struct Totals {
    CategorySummary summary;
    double score_sum = 0;
    double score_square_sum = 0;  // rebuilt from each task's mean and standard error
    double task_score_sum = 0;
    std::int64_t tasks_scored = 0;
    double latency_sum = 0;
    double ttft_sum = 0;
  };
  std::map<std::string, Totals> by_category;
  for (const TaskSummary& task : tasks) {
    Totals& totals = by_category[task.category];
    CategorySummary& c = totals.summary;
    c.category = task.category;
    ++c.tasks;
    c.requests += task.requests;
    c.scored += task.scored;
    c.failed += task.failed;
    c.skipped += task.skipped;
    c.truncated += task.truncated;
    if (task.scored > 0 && !std::isnan(task.mean_score)) {
      totals.score_sum += task.mean_score * static_cast<double>(task.scored);
      totals.score_square_sum += sum_of_squares(task);
      totals.task_score_sum += task.mean_score;
      ++totals.tasks_scored;
    }
    totals.latency_sum += task.mean_latency_s * static_cast<double>(task.requests);
    totals.ttft_sum += task.mean_ttft_s * static_cast<double>(task.requests);
    c.prompt_tokens += task.prompt_tokens;
    c.generated_tokens += task.generated_tokens;
  }
  std::vector<CategorySummary> categories;
  for (auto& [name, totals] : by_category) {
    CategorySummary& c = totals.summary;
    c.mean_score = c.scored > 0 ? totals.score_sum / static_cast<double>(c.scored) : kNotScored;
    c.score_stderr = standard_error(totals.score_sum, totals.score_square_sum, c.scored);
    c.macro_mean_score = totals.tasks_scored > 0
                             ? totals.task_score_sum / static_cast<double>(totals.tasks_scored)
                             : kNotScored;
    c.mean_latency_s = mean(totals.latency_sum, c.requests);
    c.mean_ttft_s = mean(totals.ttft_sum, c.requests);
    categories.push_back(c);
  }
  return categories;
}

RunStats run_stats(std::span<const RequestResult> rows, double wall_time_s) {
  RunStats stats;
  stats.wall_time_s = wall_time_s;
  stats.requests = static_cast<std::int64_t>(rows.size());
  std::vector<double> latencies;
  double latency_sum = 0;
  double ttft_sum = 0;
  for (const RequestResult& row : rows) {
    stats.prompt_tokens += row.prompt_tokens;
    stats.generated_tokens += row.generated_tokens;
    latencies.push_back(row.latency_s);
    latency_sum += row.latency_s;
    ttft_sum += row.ttft_s;
  }
  const auto per_second = [&](std::int64_t count) {
    return wall_time_s > 0 ? static_cast<double>(count) / wall_time_s : 0.0;
  };
  stats.requests_per_s = per_second(stats.requests);
  stats.prompt_tokens_per_s = per_second(stats.prompt_tokens);
  stats.generated_tokens_per_s = per_second(stats.generated_tokens);
  stats.mean_latency_s = mean(latency_sum, stats.requests);
  stats.p50_latency_s = quantile(latencies, 0.50);
  stats.p95_latency_s = quantile(std::move(latencies), 0.95);
  stats.mean_ttft_s = mean(ttft_sum, stats.requests);
  return stats;
}

}  // namespace llmpi
