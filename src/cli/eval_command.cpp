#include "llmpi/cli/eval_command.hpp"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "llmpi/core/error.hpp"
#include "llmpi/dist/mpi.hpp"
#include "llmpi/eval/evaluator.hpp"
#include "llmpi/results/results_file.hpp"
#include "llmpi/results/summary.hpp"

namespace llmpi {

CLI::App& add_eval_command(CLI::App& app, EvalArgs& args) {
  CLI::App* command = app.add_subcommand("eval", "Evaluate a model on task files, into HDF5");
  add_model_options(*command, args.model);
  command->add_option("--tasks", args.tasks, "Task files (YAML), comma separated")->required();
  command->add_option("--out", args.out, "Results file (HDF5)")->required();
  auto* resume = command->add_flag("--resume", args.resume,
                                   "Continue an interrupted run: skip the finished requests");
  auto* overwrite = command->add_flag("--overwrite", args.overwrite, "Replace an existing file");
  resume->excludes(overwrite);
  command->add_flag("--skip-bad", args.skip_bad, "Skip and count malformed dataset lines");
  command->add_option("--limit", args.limit, "Records per task (0: all)")
      ->check(CLI::NonNegativeNumber);
  command
      ->add_option("--batches-per-round", args.batches_per_round,
                   "Sequences a replica runs per round, in batches of batch.max_sequences; "
                   "results are written after every round (default 4)")
      ->check(CLI::PositiveNumber);
  return *command;
}

namespace {

struct PendingRequest {
  std::size_t task;
  TaskRequest request;
};

std::string read_text(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

nlohmann::json to_json(const RequestOutcome& o) {
  return {{"id", o.id},
          {"task", o.task},
          {"category", o.category},
          {"prompt_tokens", o.prompt_tokens},
          {"generated_tokens", o.generated_tokens},
          {"latency_s", o.latency_s},
          {"ttft_s", o.ttft_s},
          {"score", o.score},
          {"text", o.generated_text},
          {"loglik", o.choice_loglik},
          {"loglik_normalised", o.choice_loglik_normalised},
          {"chosen", o.chosen}};
}

RequestResult to_result(const nlohmann::json& j) {
  RequestResult r;
  r.id = j.at("id").get<std::string>();
  r.task = j.at("task").get<std::string>();
  r.category = j.at("category").get<std::string>();
  r.prompt_tokens = j.at("prompt_tokens").get<std::int32_t>();
  r.generated_tokens = j.at("generated_tokens").get<std::int32_t>();
  r.latency_s = j.at("latency_s").get<double>();
  r.ttft_s = j.at("ttft_s").get<double>();
  r.score = j.at("score").get<double>();
  r.generated_text = j.at("text").get<std::string>();
  r.choice_loglik = j.at("loglik").get<std::vector<double>>();
  r.choice_loglik_normalised = j.at("loglik_normalised").get<std::vector<double>>();
  r.chosen = j.at("chosen").get<std::int32_t>();
  return r;
}

void print_summary(const std::vector<TaskSummary>& tasks, const RunStats& stats) {
  std::printf("%-16s %-10s %8s %8s %10s %10s\n", "task", "category", "requests", "score",
              "latency s", "ttft s");
  for (const TaskSummary& t : tasks) {
    std::printf("%-16s %-10s %8lld %8.3f %10.2f %10.2f\n", t.task.c_str(), t.category.c_str(),
                static_cast<long long>(t.requests), t.mean_score, t.mean_latency_s, t.mean_ttft_s);
  }
  std::printf("throughput: %.2f requests/s, %.1f generated tokens/s over %.1f s\n",
              stats.requests_per_s, stats.generated_tokens_per_s, stats.wall_time_s);
}

}  // namespace

int run_eval(const EvalArgs& args, const std::string& command_line) {
  const auto start = std::chrono::steady_clock::now();
  // Tasks and their requests: every rank builds the same list from the same files.
  std::vector<TaskSpec> tasks;
  std::vector<PendingRequest> all;
  std::stringstream names(args.tasks);
  for (std::string file; std::getline(names, file, ',');) {
    tasks.push_back(load_task(file));
    const TaskSpec& task = tasks.back();
    DatasetOptions options{
        task.required_fields(), args.skip_bad,
        static_cast<std::size_t>(args.limit) + (args.limit > 0 && task.few_shot.dataset.empty()
                                                    ? static_cast<std::size_t>(task.few_shot.count)
                                                    : 0)};
    const Dataset dataset = read_jsonl(task.dataset, options);
    for (const std::string& skipped : dataset.skipped)
      std::fprintf(stderr, "skipped %s\n", skipped.c_str());
    for (TaskRequest& request : prepare_requests(task, dataset)) {
      all.push_back({tasks.size() - 1, std::move(request)});
    }
  }
  int max_new_tokens = 0;
  for (const TaskSpec& task : tasks)
    max_new_tokens = std::max(max_new_tokens, task.generation.max_new_tokens);

  ModelSession session(args.model, 0);
  Topology& topology = session.topology();
  const auto tokenizer = load_tokenizer(session.model_dir());
  Evaluator evaluator(session.model(), *tokenizer,
                      {session.preset().batch.max_sequences, session.kv_token_budget()});

  // Where every rank runs, for the results file's topology table.
  const int device = args.model.backend == "cuda"
                         ? (args.model.device >= 0 ? args.model.device : topology.local_rank())
                         : -1;
  const std::vector<std::string> placements = gather_to_root(nlohmann::json{
      {"rank", topology.world_rank()},
      {"host", topology.host()},
      {"node", topology.node()},
      {"local_rank", topology.local_rank()},
      {"device", device}}.dump());

  // Rank 0 owns the results file; the finished ids of a resumed run reach every rank.
  std::optional<ResultsFile> results;
  std::string finished_text;
  if (session.leader()) {
    if (args.resume) {
      results.emplace(ResultsFile::resume(args.out));
      for (const std::string& id : results->finished_ids()) finished_text += id + "\n";
      std::printf("resuming %s: %zu requests already done\n", args.out.c_str(),
                  results->finished_ids().size());
    } else {
      RunMetadata metadata;
      metadata.preset_name = session.preset().name;
      metadata.preset_yaml = session.preset().yaml_text;
      metadata.model_config_json = read_text(session.model_dir() + "/config.json");
      metadata.backend = args.model.backend;
      metadata.command_line = command_line;
      metadata.versions = {{"llmpi", "0.1.0"}};
      const ParallelLayout& layout = topology.layout();
      metadata.world_size = layout.world();
      metadata.nodes = topology.nodes();
      metadata.tp = layout.tp;
      metadata.pp = layout.pp;
      metadata.dp = layout.dp;
      for (const std::string& placement : placements) {
        const auto p = nlohmann::json::parse(placement);
        metadata.ranks.push_back({p.at("rank").get<int>(), p.at("host").get<std::string>(),
                                  p.at("node").get<int>(), p.at("local_rank").get<int>(),
                                  p.at("device").get<int>()});
      }
      results.emplace(ResultsFile::create(
          args.out, metadata, args.overwrite ? OpenMode::overwrite : OpenMode::fail_if_exists));
    }
  }
  finished_text = broadcast_from_root(finished_text);
  std::vector<PendingRequest> pending;
  for (PendingRequest& p : all) {
    if (finished_text.find(p.request.id + "\n") == std::string::npos)
      pending.push_back(std::move(p));
  }

  // Requests run in rounds: replica d takes group r x dp + d in round r, and the outcomes are
  // written after each round (what a killed run loses). A group holds consecutive requests of
  // one task, up to --batches-per-round x batch.max_sequences sequences (every sample of every
  // request), which the replica decodes with continuous batching, batch.max_sequences at once.
  const auto batches_per_round = static_cast<std::size_t>(args.batches_per_round);
  const int max_sequences = session.preset().batch.max_sequences;
  std::vector<std::vector<const PendingRequest*>> groups;
  for (const PendingRequest& p : pending) {
    const auto samples = static_cast<std::size_t>(tasks[p.task].generation.samples);
    const std::size_t room = std::max<std::size_t>(
        1, batches_per_round * static_cast<std::size_t>(max_sequences) / samples);
    if (groups.empty() || groups.back().front()->task != p.task || groups.back().size() >= room) {
      groups.emplace_back();
    }
    groups.back().push_back(&p);
  }
  const ParallelLayout& layout = topology.layout();
  const auto& me = topology.coordinates();
  const bool replica_leader = me.tp_rank == 0 && me.pp_rank == 0;
  const std::size_t dp = static_cast<std::size_t>(layout.dp);
  const std::size_t rounds = (groups.size() + dp - 1) / dp;
  std::size_t done = 0;
  for (std::size_t round = 0; round < rounds; ++round) {
    const std::size_t index = round * dp + static_cast<std::size_t>(me.dp_rank);
    std::string mine;
    if (index < groups.size()) {
      const auto& group = groups[index];
      std::vector<const TaskRequest*> requests;
      for (const PendingRequest* p : group) requests.push_back(&p->request);
      const std::vector<RequestOutcome> outcomes =
          evaluator.run(tasks[group.front()->task], requests);
      if (replica_leader) {
        nlohmann::json list = nlohmann::json::array();
        for (const RequestOutcome& outcome : outcomes) list.push_back(to_json(outcome));
        mine = list.dump();
      }
    }
    const std::vector<std::string> parts = gather_to_root(mine);
    if (session.leader()) {
      std::vector<RequestResult> batch;
      for (const std::string& part : parts) {
        if (part.empty()) continue;
        for (const auto& row : nlohmann::json::parse(part)) batch.push_back(to_result(row));
      }
      results->append(batch);
      results->flush();
      done += batch.size();
      std::printf(
          "[%zu/%zu] %s\n", done, pending.size(),
          batch.empty()
              ? ""
              : (batch.front().id + " score " + std::to_string(batch.front().score)).c_str());
      std::fflush(stdout);
      // For the resume test: LLMPI_FAULT_KILL_AFTER_ROUNDS=n kills rank 0 (SIGKILL, no
      // clean-up) once n rounds are flushed.
      if (const char* rounds_limit = std::getenv("LLMPI_FAULT_KILL_AFTER_ROUNDS");
          rounds_limit != nullptr &&
          static_cast<std::size_t>(std::atoi(rounds_limit)) == round + 1) {
        std::raise(SIGKILL);
      }
    }
  }

  if (session.leader()) {
    const std::vector<RequestResult> rows = results->read_requests(false);
    const auto summaries = summarise_tasks(rows);
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const RunStats stats = run_stats(rows, wall);
    results->write_summaries(summaries, stats);
    results->set_end_time();
    results->close();
    print_summary(summaries, stats);
    std::printf("results: %s\n", args.out.c_str());
  }
  return 0;
}

}  // namespace llmpi
