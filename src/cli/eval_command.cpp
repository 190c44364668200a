#include "llmpi/cli/eval_command.hpp"

#include <mpi.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <unordered_set>

#include "llmpi/cli/progress_line.hpp"
#include "llmpi/core/error.hpp"
#include "llmpi/core/stop_request.hpp"
#include "llmpi/core/time_ledger.hpp"
#include "llmpi/core/wait_watch.hpp"
#include "llmpi/dist/mpi.hpp"
#include "llmpi/eval/evaluator.hpp"
#include "llmpi/monitor/telemetry_sampler.hpp"
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
  auto* overwrite = command->add_flag(
      "--overwrite", args.overwrite,
      "Replace an existing file (the new one takes its place once it is complete)");
  auto* auto_resume = command->add_flag(
      "--auto-resume", args.auto_resume,
      "Continue the results file if it exists, else start it (for requeued jobs)");
  resume->excludes(overwrite);
  auto_resume->excludes(resume)->excludes(overwrite);
  command->add_flag("--skip-bad", args.skip_bad, "Skip and count malformed dataset lines");
  command->add_option("--limit", args.limit, "Records per task (0: all)")
      ->check(CLI::Range(0, 1 << 30, "a count of records, 0 to 1073741824"));
  command
      ->add_option("--batches-per-round", args.batches_per_round,
                   "Sequences a replica runs per round, in batches of batch.max_sequences; "
                   "results are written after every round (default 4)")
      ->check(CLI::Range(1, 1 << 20, "a count of batches, 1 to 1048576"));
  command
      ->add_option("--long-prompt", args.long_prompt,
                   "For every task: a prompt longer than the context fails its request (fail), "
                   "is skipped (skip) or loses its first tokens (truncate-left); default: each "
                   "task's long_prompt")
      ->check(CLI::IsMember({"fail", "skip", "truncate-left"}));
  command
      ->add_option("--telemetry-interval", args.telemetry_interval_s,
                   "Seconds between readings of each rank's GPU and host (0: none; every round "
                   "still records the time breakdown; default 1)")
      ->check(CLI::Range(0.0, 3600.0));
  command
      ->add_option("--telemetry-device", args.telemetry_device,
                   "NVML index of the GPU a rank reads (default: the rank's CUDA device; "
                   "none on the CPU backend)")
      ->check(CLI::Range(0, 1023));
  command
      ->add_option("--prefix-reuse", args.prefix_reuse,
                   "Reuse the KV blocks of prompt prefixes computed before (few-shot examples, "
                   "a question before each choice): on or off (default on; results are the same)")
      ->check(CLI::IsMember({"on", "off"}));
  command
      ->add_option("--progress-interval", args.progress_interval_s,
                   "Seconds between progress lines when the output is not a terminal "
                   "(0: one per round; default 30)")
      ->check(CLI::Range(0, 86400));
  return *command;
}

namespace {

// Every task and its requests in the order they run: the same list on every rank.
struct EvalWork {
  struct Item {
    std::size_t task;
    TaskRequest request;
  };
  std::vector<TaskSpec> tasks;
  std::vector<Item> items;
};

// One task's requests: the dataset read, few-shot examples taken out, ids checked unique.
void add_task(EvalWork& work, TaskSpec task, const EvalArgs& args,
              std::optional<ChatTemplate>& chat) {
  if (!args.long_prompt.empty()) task.long_prompt = *parse_long_prompt_policy(args.long_prompt);
  const auto shots = static_cast<std::size_t>(task.few_shot.count);
  const DatasetOptions options{task.required_fields(), args.skip_bad,
                               static_cast<std::size_t>(args.limit) +
                                   (args.limit > 0 && task.few_shot.dataset.empty() ? shots : 0)};
  const Dataset dataset = read_jsonl(task.dataset, options);
  for (const std::string& skipped : dataset.skipped)
    std::fprintf(stderr, "skipped %s\n", skipped.c_str());
  std::map<std::string, std::size_t> line_of;
  // The checkpoint's chat template, read once for the tasks that ask for it.
  if (task.chat && !chat) chat.emplace(load_chat_template(checkpoint_dir(args.model)));
  for (TaskRequest& request : prepare_requests(task, dataset, chat ? &*chat : nullptr)) {
    const auto [it, inserted] = line_of.emplace(request.id, request.line);
    if (!inserted) {
      throw Error(dataset.source + ":" + std::to_string(request.line) + ": request id '" +
                  request.id + "' is already the id of line " + std::to_string(it->second) +
                  "; ids (the \"id\" or \"task_id\" field) must be unique within a task");
    }
    work.items.push_back({work.tasks.size(), std::move(request)});
  }
  work.tasks.push_back(std::move(task));
}

EvalWork load_work(const EvalArgs& args) {
  EvalWork work;
  std::optional<ChatTemplate> chat;
  std::stringstream names(args.tasks);
  for (std::string file; std::getline(names, file, ',');) {
    add_task(work, load_task(file), args, chat);
  }
  return work;
}

std::string read_text(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// The run as rank 0 records it: the preset, the checkpoint's config, where every rank runs.
RunMetadata run_metadata(const EvalArgs& args, ModelSession& session,
                         const std::string& command_line) {
  Topology& topology = session.topology();
  const int device = args.model.backend == "cuda"
                         ? (args.model.device >= 0 ? args.model.device : topology.local_rank())
                         : -1;
  const std::vector<std::string> placements = gather_to_root(nlohmann::json{
      {"rank", topology.world_rank()},
      {"host", topology.host()},
      {"node", topology.node()},
      {"local_rank", topology.local_rank()},
      {"device", device}}.dump());
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
  return metadata;
}

// Rank 0's results file, and on every rank the ids of the requests it already holds.
struct ResultsTarget {
  std::optional<ResultsFile> file;
  std::unordered_set<std::string> finished;
};

ResultsTarget open_results(const EvalArgs& args, ModelSession& session,
                           const std::string& command_line) {
  ResultsTarget target;
  const RunMetadata metadata = run_metadata(args, session, command_line);  // collective
  std::vector<RequestResult> done;
  if (session.leader()) {
    std::error_code error;
    const bool resume =
        args.resume || (args.auto_resume && std::filesystem::exists(args.out, error));
    if (resume) {
      target.file.emplace(ResultsFile::resume(args.out));
      std::printf("resuming %s: %zu requests already done\n", args.out.c_str(),
                  target.file->finished_ids().size());
      for (const std::string& id : target.file->finished_ids()) done.emplace_back().id = id;
    } else {
      target.file.emplace(ResultsFile::create(
          args.out, metadata, args.overwrite ? OpenMode::overwrite : OpenMode::fail_if_exists));
    }
  }
  // Ids travel as whole records' bytes: matched exactly, whatever characters they hold.
  for (RequestResult& row : unpack_results(broadcast_from_root(pack_results(done)))) {
    target.finished.insert(std::move(row.id));
  }
  return target;
}

// Per task, in the order of the task files: its requests, and how many are already done.
std::vector<std::pair<std::string, std::pair<std::size_t, std::size_t>>> task_counts(
    const EvalWork& work, const std::unordered_set<std::string>& finished) {
  std::vector<std::pair<std::string, std::pair<std::size_t, std::size_t>>> counts;
  for (const TaskSpec& task : work.tasks) counts.push_back({task.name, {0, 0}});
  for (const EvalWork::Item& item : work.items) {
    auto& [total, done] = counts[item.task].second;
    ++total;
    done += finished.contains(item.request.id) ? 1 : 0;
  }
  return counts;
}

// Round r runs group r x dp + d on replica d. A group holds consecutive requests of one task,
// up to --batches-per-round x batch.max_sequences sequences (every sample of every request),
// which the replica decodes with continuous batching, batch.max_sequences at once.
using Group = std::vector<const EvalWork::Item*>;

std::vector<Group> group_requests(const EvalWork& work,
                                  const std::unordered_set<std::string>& finished,
                                  std::size_t batches_per_round, int max_sequences,
                                  std::size_t replicas) {
  // A task's requests are shared out among the replicas even when one group could hold them.
  std::vector<std::size_t> pending(work.tasks.size(), 0);
  for (const EvalWork::Item& item : work.items) {
    pending[item.task] += finished.contains(item.request.id) ? 0 : 1;
  }
  std::vector<Group> groups;
  for (const EvalWork::Item& item : work.items) {
    if (finished.contains(item.request.id)) continue;
    const auto samples = static_cast<std::size_t>(work.tasks[item.task].generation.samples);
    const std::size_t share = (pending[item.task] + replicas - 1) / replicas;
    const std::size_t room = std::max<std::size_t>(
        1, std::min(share, batches_per_round * static_cast<std::size_t>(max_sequences) / samples));
    if (groups.empty() || groups.back().front()->task != item.task ||
        groups.back().size() >= room) {
      groups.emplace_back();
    }
    groups.back().push_back(&item);
  }
  return groups;
}

// The longest that running the model's code for one group of this round may take on a
// replica's first rank, while the replica's other ranks wait for it: every sample of every
// request of the group timing out in the sandbox.
double scoring_allowance(const EvalWork& work, const std::vector<Group>& groups, std::size_t round,
                         std::size_t dp) {
  double longest = 0;
  for (std::size_t g = round * dp; g < std::min(groups.size(), (round + 1) * dp); ++g) {
    const TaskSpec& task = work.tasks[groups[g].front()->task];
    if (task.scorer.kind != ScorerKind::code) continue;
    longest = std::max(longest, static_cast<double>(groups[g].size()) * task.generation.samples *
                                    task.scorer.timeout_s);
  }
  return longest;
}

// Every rank's telemetry, to rank 0: where it comes from once, then its samples with every
// round's results.
class RunTelemetry {
 public:
  RunTelemetry(const EvalArgs& args, ModelSession& session, ResultsTarget& target)
      : target_(target) {
    GpuChoice gpu = session.gpu();
    if (args.telemetry_device >= 0) gpu = {"", args.telemetry_device};
    sampler_ = std::make_unique<TelemetrySampler>(
        session.topology().world_rank(),
        std::chrono::milliseconds(static_cast<long long>(args.telemetry_interval_s * 1000)), gpu);
    TelemetrySource source = sampler_->source();
    source.planned_bytes = static_cast<double>(session.planned_bytes());
    std::vector<TelemetrySource> sources;
    for (const std::string& part : gather_to_root(pack_sources(std::span(&source, 1)))) {
      for (TelemetrySource& s : unpack_sources(part)) sources.push_back(std::move(s));
    }
    if (!target_.file) return;
    target_.file->append_sources(sources);
    // Said once, in the file and here: which ranks have no GPU readings, and why.
    std::map<std::string, std::vector<int>> without;
    for (const TelemetrySource& s : sources) {
      if (s.gpu.empty() && s.interval_s > 0) without[s.note].push_back(s.rank);
    }
    for (const auto& [note, ranks] : without) {
      std::printf("telemetry: %zu rank(s): %s\n", ranks.size(), note.c_str());
    }
  }

  // Every rank: its samples since the last exchange reach rank 0's file (flushed with the
  // round's rows).
  void exchange() {
    const std::vector<TelemetrySample> mine = sampler_->take();
    std::vector<TelemetrySample> all;
    for (const std::string& part : gather_to_root(pack_samples(mine))) {
      for (TelemetrySample& s : unpack_samples(part)) all.push_back(std::move(s));
    }
    if (target_.file) target_.file->append_samples(all);
  }

 private:
  ResultsTarget& target_;
  std::unique_ptr<TelemetrySampler> sampler_;
};

struct RoundsEnd {
  bool interrupted = false;
  int signal = 0;  // the stop request's signal; -1: unknown (a replica stopped by its peers)
  std::size_t written = 0;
};

// The rounds: each replica runs its group, rank 0 writes and flushes every finished row, then
// every rank learns whether any was asked to stop. A stopped round keeps the groups that
// finished and drops the ones abandoned mid-way (they run again on --resume).
RoundsEnd run_rounds(const EvalWork& work, const std::vector<Group>& groups, Evaluator& evaluator,
                     ResultsTarget& target, Topology& topology, RunTelemetry& telemetry,
                     ProgressLine& progress) {
  const auto& me = topology.coordinates();
  const bool replica_leader = me.tp_rank == 0 && me.pp_rank == 0;
  const auto dp = static_cast<std::size_t>(topology.layout().dp);
  const std::size_t rounds = (groups.size() + dp - 1) / dp;
  RoundsEnd end;
  for (std::size_t round = 0; round < rounds; ++round) {
    const std::size_t index = round * dp + static_cast<std::size_t>(me.dp_rank);
    std::vector<RequestResult> rows;
    bool interrupted = false;
    const auto round_start = std::chrono::steady_clock::now();
    if (index < groups.size()) {
      const Group& group = groups[index];
      std::vector<const TaskRequest*> requests;
      for (const EvalWork::Item* item : group) requests.push_back(&item->request);
      try {
        rows = evaluator.run(work.tasks[group.front()->task], requests);
      } catch (const Interrupted&) {
        interrupted = true;
      }
    }
    // The other replicas' groups take about as long as this one's: the watchdog allows twice
    // that (plus the sandbox's worst case for code) on top of its stall limit.
    const double own_round =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - round_start).count();
    const std::vector<std::string> parts =
        gather_to_root(replica_leader && !interrupted ? pack_results(rows) : std::string(),
                       2 * own_round + scoring_allowance(work, groups, round, dp));
    telemetry.exchange();
    if (target.file) {
      const PhaseScope writing(Phase::writing);
      std::vector<RequestResult> batch;
      for (const std::string& part : parts) {
        for (RequestResult& row : unpack_results(part)) batch.push_back(std::move(row));
      }
      target.file->append(batch);
      target.file->flush();
      end.written += batch.size();
      progress.record(batch);
    }
    // The signal any rank got (or SIGTERM's number for a replica that stopped on its peers'
    // word): how the session ended, on every rank alike.
    const int asked = stop_signal() != 0 ? stop_signal() : (interrupted ? -1 : 0);
    if (const int signal = largest_on_any_rank(asked); signal != 0) {
      end.interrupted = true;
      end.signal = signal;
      break;
    }
  }
  return end;
}

void print_summary(const std::vector<TaskSummary>& tasks, const RunStats& stats) {
  std::printf("%-16s %-10s %8s %8s %8s %10s %10s\n", "task", "category", "requests", "failed",
              "score", "latency s", "ttft s");
  for (const TaskSummary& t : tasks) {
    std::printf("%-16s %-10s %8lld %8lld %8.3f %10.2f %10.2f\n", t.task.c_str(), t.category.c_str(),
                static_cast<long long>(t.requests), static_cast<long long>(t.failed + t.skipped),
                t.mean_score, t.mean_latency_s, t.mean_ttft_s);
  }
  std::printf("throughput: %.2f requests/s, %.1f generated tokens/s over %.1f s\n",
              stats.requests_per_s, stats.generated_tokens_per_s, stats.wall_time_s);
}

// The end of the run on rank 0: summaries and the end time when every request is done; when
// stopped early, the session's end and how to continue.
// The prompt tokens every replica prefilled, and those a shared prefix spared, on every rank
// (each replica counted once, by its first rank).
PrefillCounts run_prefill_counts(const Evaluator& evaluator, bool counts_replica) {
  std::array<std::int64_t, 2> counts{};
  if (counts_replica) {
    counts = {evaluator.prefill_counts().prompt_tokens, evaluator.prefill_counts().reused_tokens};
  }
  const WaitScope wait("MPI_Allreduce (prefill counts, after the rounds)", world_description());
  mpi_check(MPI_Allreduce(MPI_IN_PLACE, counts.data(), 2, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD),
            "MPI_Allreduce");
  return {counts[0], counts[1]};
}

void print_prefill(const PrefillCounts& counts, const char* reuse) {
  const double computed = static_cast<double>(counts.prompt_tokens - counts.reused_tokens);
  std::printf(
      "prefill: %lld prompt tokens, %lld computed, %lld (%.1f%%) reused from shared "
      "prefixes (--prefix-reuse %s)\n",
      static_cast<long long>(counts.prompt_tokens), static_cast<long long>(computed),
      static_cast<long long>(counts.reused_tokens),
      counts.prompt_tokens > 0 ? 100.0 * static_cast<double>(counts.reused_tokens) /
                                     static_cast<double>(counts.prompt_tokens)
                               : 0.0,
      reuse);
}

int finish_run(ResultsFile& file, const RoundsEnd& end, const EvalArgs& args,
               std::chrono::steady_clock::time_point start) {
  if (end.interrupted) {
    file.end_session(end.signal > 0 ? "interrupted by " + signal_name(end.signal)
                                    : "interrupted: a rank was asked to stop");
    file.close();
    std::printf(
        "interrupted: %zu requests written this session; %s holds every finished "
        "request: run again with --resume (or --auto-resume) to finish\n",
        end.written, args.out.c_str());
    return kInterruptedExitCode;
  }
  const std::vector<RequestResult> rows = file.read_requests(false);
  const auto summaries = summarise_tasks(rows);
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const RunStats stats = run_stats(rows, wall);
  file.write_summaries(summaries, stats);
  file.set_end_time();
  file.close();
  print_summary(summaries, stats);
  std::printf("results: %s\n", args.out.c_str());
  return 0;
}

}  // namespace

int run_eval(const EvalArgs& args, const std::string& command_line) {
  const auto start = std::chrono::steady_clock::now();
  install_stop_handlers();
  const EvalWork work = load_work(args);  // before the model: bad task input fails fast
  ModelSession session(args.model, 0);
  const auto tokenizer = load_tokenizer(session.model_dir());
  const auto& me = session.topology().coordinates();
  Evaluator evaluator(session.model(), *tokenizer,
                      {.max_sequences = session.preset().batch.max_sequences,
                       .kv_tokens = session.kv_token_budget(),
                       .context_tokens = session.preset().context_length,
                       .keeps_results = me.tp_rank == 0 && me.pp_rank == 0,
                       .prefix_reuse = args.prefix_reuse == "on"});
  ResultsTarget target = open_results(args, session, command_line);
  RunTelemetry telemetry(args, session, target);
  ProgressLine progress(stdout, std::chrono::seconds(args.progress_interval_s));
  for (const auto& [task, counts] : task_counts(work, target.finished)) {
    progress.add_task(task, counts.first, counts.second);
  }
  const std::vector<Group> groups =
      group_requests(work, target.finished, static_cast<std::size_t>(args.batches_per_round),
                     session.preset().batch.max_sequences,
                     static_cast<std::size_t>(session.topology().layout().dp));
  try {
    const RoundsEnd end =
        run_rounds(work, groups, evaluator, target, session.topology(), telemetry, progress);
    progress.finish();
    const PrefillCounts prefill = run_prefill_counts(evaluator, me.tp_rank == 0 && me.pp_rank == 0);
    if (session.topology().world_rank() == 0) {
      // A Hyena layer's state cannot be restored from shared blocks: such a model shares none.
      print_prefill(prefill, args.prefix_reuse != "on" ? "off"
                             : session.preset().model.has_recurrent_layers()
                                 ? "on, but nothing is shared: the model's Hyena layers keep a "
                                   "recurrent state"
                                 : "on");
    }
    telemetry.exchange();  // the last readings, and the whole time breakdown
    const int code = target.file ? finish_run(*target.file, end, args, start) : 0;
    return end.interrupted ? kInterruptedExitCode : code;
  } catch (const std::exception& e) {
    // Rank 0 says in the file how this session ended, where the file still takes writes.
    if (target.file && !target.file->abandoned()) {
      try {
        target.file->end_session(std::string("failed: ") + e.what());
      } catch (const std::exception&) {
        // the original error is the one to report
      }
    }
    throw;
  }
}

}  // namespace llmpi
