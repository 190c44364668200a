#pragma once

#include <span>
#include <vector>

#include "llmpi/results/records.hpp"

namespace llmpi {

// Per task, sorted by task name. A task whose rows name two categories is refused.
std::vector<TaskSummary> summarise_tasks(std::span<const RequestResult> rows);

// Per category, sorted by name, from the task summaries (so a task whose score is not a plain
// mean still adds up right): counts and tokens summed, means weighted by requests.
std::vector<CategorySummary> summarise_categories(std::span<const TaskSummary> tasks);

// Throughput of `rows` completed in `wall_time_s` seconds, and their latencies.
RunStats run_stats(std::span<const RequestResult> rows, double wall_time_s);

// The q-quantile (0..1) with linear interpolation between order statistics, as numpy's
// default; 0 for no values.
double quantile(std::vector<double> values, double q);

}  // namespace llmpi
