#include "llmpi/cli/report_command.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "llmpi/core/error.hpp"
#include "llmpi/core/time_ledger.hpp"
#include "llmpi/results/results_file.hpp"
#include "llmpi/results/run_summary.hpp"
#include "llmpi/results/summary.hpp"

namespace llmpi {

CLI::App& add_report_command(CLI::App& app, ReportArgs& args) {
  CLI::App* command =
      app.add_subcommand("report", "Summarise a results file, or compare several side by side");
  command->add_option("results", args.results, "Results files (HDF5) of llmpi eval")
      ->required()
      ->expected(1, -1);
  command->add_option("--plot", args.plot,
                      "Also draw the first file's scores, memory, utilisation and temperature "
                      "over time and time per rank to this PNG (scripts/plot_results.py, needs "
                      "matplotlib and h5py)");
  command->add_option("--format", args.format, "text, or csv / json for notebooks")
      ->check(CLI::IsMember({"text", "csv", "json"}));
  return *command;
}

namespace {

// Everything the report says about one file, read fully (a file that cannot be is an error).
struct RunReport {
  std::string file;
  std::string label;
  std::int64_t version = 0;
  RunMetadata metadata;
  std::vector<RunSession> sessions;
  std::vector<RequestResult> rows;
  std::vector<TaskSummary> tasks;
  std::vector<CategorySummary> categories;
  std::optional<RunStats> stats;
  std::vector<RankTelemetry> ranks;
  std::optional<int> straggler;

  bool finished() const { return !metadata.end_time.empty(); }
  // The largest memory any rank held: GPU where read, else the host's.
  double peak_memory_bytes(bool& gpu) const {
    double peak = 0;
    gpu = false;
    for (const RankTelemetry& r : ranks) {
      if (!std::isnan(r.peak_gpu_memory_bytes)) {
        gpu = true;
        peak = std::max(peak, r.peak_gpu_memory_bytes);
      }
    }
    if (gpu) return peak;
    for (const RankTelemetry& r : ranks) peak = std::max(peak, r.peak_host_rss_bytes);
    return peak;
  }
};

RunReport load_run(const std::string& path) {
  const ResultsReader reader(path);
  RunReport run;
  run.file = path;
  run.label = std::filesystem::path(path).stem().string();
  run.version = reader.schema_version();
  run.metadata = reader.metadata();
  run.sessions = reader.sessions();
  run.rows = reader.requests();
  // From the rows themselves: a run stopped early is reported as far as it got.
  run.tasks = summarise_tasks(run.rows);
  run.categories = summarise_categories(run.tasks);
  if (run.finished()) run.stats = reader.run_stats();
  run.ranks = summarise_ranks(reader.telemetry_sources(), reader.telemetry_samples());
  run.straggler = find_straggler(run.ranks);
  return run;
}

double gib(double bytes) {
  return bytes / (1024.0 * 1024.0 * 1024.0);
}

std::string score_text(double score, double stderr_) {
  char text[48];
  if (std::isnan(score)) return "-";
  if (std::isnan(stderr_)) {
    std::snprintf(text, sizeof text, "%.3f", score);
  } else {
    std::snprintf(text, sizeof text, "%.3f ± %.3f", score, stderr_);
  }
  return text;
}

std::string difference_text(const PairedDifference& d) {
  char text[96];
  if (d.pairs == 0) return "no shared requests";
  if (std::isnan(d.ci_low)) {
    std::snprintf(text, sizeof text, "%+.3f (n=%lld)", d.mean, static_cast<long long>(d.pairs));
  } else {
    std::snprintf(text, sizeof text, "%+.3f [%+.3f, %+.3f] n=%lld", d.mean, d.ci_low, d.ci_high,
                  static_cast<long long>(d.pairs));
  }
  return text;
}

void print_sessions(const std::vector<RunSession>& sessions) {
  for (std::size_t i = 0; i < sessions.size(); ++i) {
    const RunSession& s = sessions[i];
    const std::string ending =
        !s.ending.empty() ? s.ending : (s.end_time.empty() ? "killed (no end recorded)" : "");
    std::printf("session %zu: from row %lld, %s to %s%s%s\n", i + 1,
                static_cast<long long>(s.first_row), s.start_time.c_str(),
                s.end_time.empty() ? "?" : s.end_time.c_str(), ending.empty() ? "" : ": ",
                ending.c_str());
  }
}

void print_tasks(const RunReport& run) {
  std::printf("\n%-16s %-10s %8s %7s %7s %15s %10s %10s %8s\n", "task", "category", "requests",
              "failed", "skipped", "score", "p50 lat s", "p95 lat s", "ttft s");
  for (const TaskSummary& t : run.tasks) {
    std::printf("%-16s %-10s %8lld %7lld %7lld %15s %10.2f %10.2f %8.2f\n", t.task.c_str(),
                t.category.c_str(), static_cast<long long>(t.requests),
                static_cast<long long>(t.failed), static_cast<long long>(t.skipped),
                score_text(t.mean_score, t.score_stderr).c_str(), t.p50_latency_s, t.p95_latency_s,
                t.mean_ttft_s);
  }
  // The second measure where a task has one (acc_norm, the harness's flexible-extract), and
  // perplexity tasks' perplexities.
  for (const TaskSummary& t : run.tasks) {
    if (!std::isnan(t.mean_score_normalised) && t.mean_score_normalised != t.mean_score) {
      std::printf("%-16s normalised score (acc_norm / flexible-extract) %s\n", t.task.c_str(),
                  score_text(t.mean_score_normalised, t.score_normalised_stderr).c_str());
    }
    if (!std::isnan(t.bits_per_byte)) {
      std::printf("%-16s word perplexity %.4f, byte perplexity %.4f, bits per byte %.4f\n",
                  t.task.c_str(), t.word_perplexity, t.byte_perplexity, t.bits_per_byte);
    }
  }
  std::printf("\n%-16s %8s %8s %8s %15s\n", "category", "tasks", "requests", "failed", "score");
  for (const CategorySummary& c : run.categories) {
    std::printf("%-16s %8lld %8lld %8lld %15s\n", c.category.c_str(),
                static_cast<long long>(c.tasks), static_cast<long long>(c.requests),
                static_cast<long long>(c.failed + c.skipped),
                score_text(c.mean_score, c.score_stderr).c_str());
  }
}

// The requests that failed or were skipped or truncated, each with its reason: reported apart
// from the scores, a few per task.
void print_problems(const std::vector<RequestResult>& rows) {
  constexpr int kPerTask = 5;
  std::map<std::string, int> shown;
  bool header = false;
  for (const RequestResult& row : rows) {
    if (row.status == RequestStatus::ok) continue;
    if (!header) {
      std::printf(
          "\nrequests not scored as run (failed: counted as the task's policy says; "
          "skipped: not scored; truncated: scored on a shortened prompt):\n");
      header = true;
    }
    if (++shown[row.task] > kPerTask) continue;
    std::printf("  %-24s %-9s %s\n", row.id.c_str(), status_name(row.status).c_str(),
                row.error.c_str());
  }
  for (const auto& [task, count] : shown) {
    if (count > kPerTask) std::printf("  ... %s: %d more\n", task.c_str(), count - kPerTask);
  }
}

void print_ranks(const RunReport& run) {
  if (run.ranks.empty()) return;
  std::printf("\n%-5s %-34s %10s %10s %7s %7s %7s %8s %9s\n", "rank", "gpu", "peak GiB", "plan GiB",
              "diff", "util %", "temp C", "power W", "host GiB");
  for (const RankTelemetry& r : run.ranks) {
    const bool gpu = !std::isnan(r.peak_gpu_memory_bytes);
    const double peak = gpu ? r.peak_gpu_memory_bytes : r.peak_host_rss_bytes;
    char diff[16] = "-";
    if (r.planned_bytes > 0) {
      std::snprintf(diff, sizeof diff, "%+.0f%%",
                    100.0 * (peak - r.planned_bytes) / r.planned_bytes);
    }
    const auto number = [](double value, const char* format) {
      char text[24];
      if (std::isnan(value)) return std::string("-");
      std::snprintf(text, sizeof text, format, value);
      return std::string(text);
    };
    const std::string name = gpu ? r.gpu : "(host) " + r.note;
    std::printf("%-5d %-34.34s %10.2f %10.2f %7s %7s %7s %8s %9.2f\n", r.rank, name.c_str(),
                gib(peak), gib(r.planned_bytes), diff,
                number(r.mean_gpu_utilization_pct, "%.0f").c_str(),
                number(r.peak_gpu_temperature_c, "%.0f").c_str(),
                number(r.peak_gpu_power_w, "%.0f").c_str(), gib(r.peak_host_rss_bytes));
  }
  std::printf("\nseconds per rank:");
  for (int p = 0; p < kPhases; ++p) std::printf(" %9s", phase_name(static_cast<Phase>(p)).c_str());
  std::printf("\n");
  for (const RankTelemetry& r : run.ranks) {
    std::printf("%-17d", r.rank);
    for (const double s : r.phase_s) std::printf(" %9.1f", s);
    std::printf("\n");
  }
  if (run.straggler) {
    const RankTelemetry& slow = run.ranks[static_cast<std::size_t>(
        std::find_if(run.ranks.begin(), run.ranks.end(),
                     [&](const RankTelemetry& r) { return r.rank == *run.straggler; }) -
        run.ranks.begin())];
    std::printf(
        "straggler: rank %d waited %.1f s on the others, far less than they waited on "
        "it: the job runs at its pace\n",
        slow.rank, slow.phase_s[kPhases - 1]);
  }
}

void print_one(const RunReport& run) {
  const RunMetadata& m = run.metadata;
  std::printf("run: preset %s, backend %s, %d ranks (tp %d pp %d dp %d) on %d node(s)\n",
              m.preset_name.c_str(), m.backend.c_str(), m.world_size, m.tp, m.pp, m.dp, m.nodes);
  std::printf("started %s, ended %s, %zu requests (results schema %lld)\n", m.start_time.c_str(),
              run.finished() ? m.end_time.c_str() : "(not finished)", run.rows.size(),
              static_cast<long long>(run.version));
  print_sessions(run.sessions);
  print_tasks(run);
  print_problems(run.rows);
  print_ranks(run);
  if (run.stats) {
    std::printf(
        "\nthroughput: %.2f requests/s, %.1f prompt tokens/s, %.1f generated tokens/s; "
        "latency mean %.2f s, p95 %.2f s\n",
        run.stats->requests_per_s, run.stats->prompt_tokens_per_s,
        run.stats->generated_tokens_per_s, run.stats->mean_latency_s, run.stats->p95_latency_s);
  }
}

// A line per task and category across the runs, each later run with its paired difference
// against the first.
void print_side_by_side(const std::vector<RunReport>& runs) {
  std::printf("runs:\n");
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const RunMetadata& m = runs[i].metadata;
    std::printf("  [%zu] %s: preset %s, backend %s, %d ranks, %zu requests, %s\n", i + 1,
                runs[i].file.c_str(), m.preset_name.c_str(), m.backend.c_str(), m.world_size,
                runs[i].rows.size(), runs[i].finished() ? "finished" : "not finished");
  }
  std::printf("\n%-28s", "score ± standard error");
  for (std::size_t i = 0; i < runs.size(); ++i)
    std::printf(" %16s", ("[" + std::to_string(i + 1) + "]").c_str());
  for (std::size_t i = 1; i < runs.size(); ++i) {
    std::printf("  %-36s", ("[" + std::to_string(i + 1) + "]-[1] 95% CI").c_str());
  }
  std::printf("\n");
  std::map<std::string, std::string> category_of;
  for (const RunReport& run : runs) {
    for (const TaskSummary& t : run.tasks) category_of[t.task] = t.category;
  }
  const auto line = [&](const std::string& title, const std::string& name, bool category) {
    std::printf("%-28.28s", title.c_str());
    for (const RunReport& run : runs) {
      std::string cell = "-";
      if (category) {
        for (const CategorySummary& c : run.categories) {
          if (c.category == name) cell = score_text(c.mean_score, c.score_stderr);
        }
      } else {
        for (const TaskSummary& t : run.tasks) {
          if (t.task == name) cell = score_text(t.mean_score, t.score_stderr);
        }
      }
      std::printf(" %16s", cell.c_str());
    }
    for (std::size_t i = 1; i < runs.size(); ++i) {
      const auto keep = [&](const RequestResult& r) {
        return category ? r.category == name : r.task == name;
      };
      std::printf("  %-36s",
                  difference_text(paired_difference(runs[0].rows, runs[i].rows, keep)).c_str());
    }
    std::printf("\n");
  };
  for (const auto& [task, category] : category_of) line(task + " (" + category + ")", task, false);
  std::map<std::string, bool> categories;
  for (const auto& [task, category] : category_of) categories[category] = true;
  for (const auto& [category, unused] : categories) line("category " + category, category, true);

  const auto rate = [](const RunReport& run, double RunStats::*field) {
    char cell[32] = "-";
    if (run.stats) std::snprintf(cell, sizeof cell, "%.2f", (*run.stats).*field);
    return std::string(cell);
  };
  std::printf("\n%-28s", "requests/s");
  for (const RunReport& run : runs) {
    std::printf(" %16s", rate(run, &RunStats::requests_per_s).c_str());
  }
  std::printf("\n%-28s", "generated tokens/s");
  for (const RunReport& run : runs) {
    std::printf(" %16s", rate(run, &RunStats::generated_tokens_per_s).c_str());
  }
  std::printf("\n%-28s", "peak memory GiB");
  for (const RunReport& run : runs) {
    bool gpu = false;
    const double peak = run.peak_memory_bytes(gpu);
    char cell[32] = "-";
    if (peak > 0) std::snprintf(cell, sizeof cell, "%.2f %s", gib(peak), gpu ? "GPU" : "host");
    std::printf(" %16s", cell);
  }
  std::printf("\n");
}

nlohmann::json number(double value) {
  return std::isnan(value) || std::isinf(value) ? nlohmann::json(nullptr) : nlohmann::json(value);
}

nlohmann::json to_json(const std::vector<RunReport>& runs) {
  nlohmann::json out = {{"runs", nlohmann::json::array()},
                        {"comparisons", nlohmann::json::array()}};
  for (const RunReport& run : runs) {
    nlohmann::json r = {{"file", run.file},
                        {"label", run.label},
                        {"preset", run.metadata.preset_name},
                        {"backend", run.metadata.backend},
                        {"world_size", run.metadata.world_size},
                        {"finished", run.finished()},
                        {"requests", run.rows.size()}};
    for (const TaskSummary& t : run.tasks) {
      r["tasks"].push_back({{"task", t.task},
                            {"category", t.category},
                            {"requests", t.requests},
                            {"scored", t.scored},
                            {"failed", t.failed},
                            {"skipped", t.skipped},
                            {"score", number(t.mean_score)},
                            {"stderr", number(t.score_stderr)},
                            {"score_normalised", number(t.mean_score_normalised)},
                            {"score_normalised_stderr", number(t.score_normalised_stderr)},
                            {"word_perplexity", number(t.word_perplexity)},
                            {"byte_perplexity", number(t.byte_perplexity)},
                            {"bits_per_byte", number(t.bits_per_byte)}});
    }
    for (const CategorySummary& c : run.categories) {
      r["categories"].push_back({{"category", c.category},
                                 {"requests", c.requests},
                                 {"score", number(c.mean_score)},
                                 {"stderr", number(c.score_stderr)}});
    }
    if (run.stats) {
      r["throughput"] = {{"requests_per_s", run.stats->requests_per_s},
                         {"generated_tokens_per_s", run.stats->generated_tokens_per_s},
                         {"wall_time_s", run.stats->wall_time_s}};
    }
    for (const RankTelemetry& k : run.ranks) {
      nlohmann::json rank = {{"rank", k.rank},
                             {"gpu", k.gpu},
                             {"note", k.note},
                             {"planned_bytes", k.planned_bytes},
                             {"peak_gpu_memory_bytes", number(k.peak_gpu_memory_bytes)},
                             {"mean_gpu_utilization_pct", number(k.mean_gpu_utilization_pct)},
                             {"peak_gpu_temperature_c", number(k.peak_gpu_temperature_c)},
                             {"peak_gpu_power_w", number(k.peak_gpu_power_w)},
                             {"peak_host_rss_bytes", k.peak_host_rss_bytes}};
      for (int p = 0; p < kPhases; ++p) {
        rank["seconds"][phase_name(static_cast<Phase>(p))] = k.phase_s[static_cast<std::size_t>(p)];
      }
      r["ranks"].push_back(rank);
    }
    r["straggler"] = run.straggler ? nlohmann::json(*run.straggler) : nlohmann::json(nullptr);
    out["runs"].push_back(r);
  }
  for (std::size_t i = 1; i < runs.size(); ++i) {
    nlohmann::json comparison = {{"run", runs[i].label}, {"against", runs[0].label}};
    for (const TaskSummary& t : runs[i].tasks) {
      const auto d = paired_difference(runs[0].rows, runs[i].rows,
                                       [&](const RequestResult& r) { return r.task == t.task; });
      comparison["tasks"].push_back({{"task", t.task},
                                     {"pairs", d.pairs},
                                     {"difference", number(d.mean)},
                                     {"ci_low", number(d.ci_low)},
                                     {"ci_high", number(d.ci_high)}});
    }
    out["comparisons"].push_back(comparison);
  }
  return out;
}

// One table for notebooks: a row per run and task or category, with the paired difference
// against the first run.
void print_csv(const std::vector<RunReport>& runs) {
  std::printf(
      "run,file,kind,name,category,requests,scored,score,stderr,difference,ci_low,"
      "ci_high,pairs\n");
  const auto value = [](double v) { return std::isnan(v) ? std::string() : std::to_string(v); };
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const RunReport& run = runs[i];
    const auto diff = [&](const std::function<bool(const RequestResult&)>& keep) {
      if (i == 0) return std::string(",,,");
      const PairedDifference d = paired_difference(runs[0].rows, run.rows, keep);
      return value(d.mean) + "," + value(d.ci_low) + "," + value(d.ci_high) + "," +
             std::to_string(d.pairs);
    };
    for (const TaskSummary& t : run.tasks) {
      std::printf("%s,%s,task,%s,%s,%lld,%lld,%s,%s,%s\n", run.label.c_str(), run.file.c_str(),
                  t.task.c_str(), t.category.c_str(), static_cast<long long>(t.requests),
                  static_cast<long long>(t.scored), value(t.mean_score).c_str(),
                  value(t.score_stderr).c_str(),
                  diff([&](const RequestResult& r) { return r.task == t.task; }).c_str());
    }
    for (const CategorySummary& c : run.categories) {
      std::printf("%s,%s,category,%s,%s,%lld,%lld,%s,%s,%s\n", run.label.c_str(), run.file.c_str(),
                  c.category.c_str(), c.category.c_str(), static_cast<long long>(c.requests),
                  static_cast<long long>(c.scored), value(c.mean_score).c_str(),
                  value(c.score_stderr).c_str(),
                  diff([&](const RequestResult& r) { return r.category == c.category; }).c_str());
    }
  }
}

// python3 scripts/plot_results.py FILE PNG, its arguments passed as they are (no shell).
void plot(const std::string& file, const std::string& png) {
  const std::string script = LLMPI_SCRIPTS_DIR "/plot_results.py";
  std::fflush(stdout);
  const pid_t child = ::fork();
  if (child < 0) throw Error("--plot: cannot start python3");
  if (child == 0) {
    ::execlp("python3", "python3", script.c_str(), file.c_str(), png.c_str(),
             static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw Error(
        "--plot: scripts/plot_results.py failed (it needs python3 with matplotlib and "
        "h5py)");
  }
  std::printf("plot: %s\n", png.c_str());
}

}  // namespace

int run_report(const ReportArgs& args) {
  std::vector<RunReport> runs;
  for (const std::string& file : args.results) runs.push_back(load_run(file));
  if (args.format == "json") {
    std::printf("%s\n", to_json(runs).dump(1).c_str());
  } else if (args.format == "csv") {
    print_csv(runs);
  } else if (runs.size() == 1) {
    print_one(runs.front());
  } else {
    print_side_by_side(runs);
  }
  if (!args.plot.empty()) plot(args.results.front(), args.plot);
  return 0;
}

}  // namespace llmpi
