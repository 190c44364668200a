// llmpi: the command-line entry point. Every error of every component arrives here once, as
// an exception carrying its context, and leaves as one message and a non-zero exit code; in a
// job of several ranks, MPI_Abort makes sure no other rank waits forever for the failed one.
// Builds without MPI (bare GPU machines) offer only the single-process commands.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <optional>

#include "llmpi/cli/bench_command.hpp"
#include "llmpi/cli/plan_command.hpp"
#include "llmpi/core/error.hpp"
#ifdef LLMPI_HAVE_MPI
#include <mpi.h>

#include "llmpi/cli/eval_command.hpp"
#include "llmpi/cli/generate_command.hpp"
#include "llmpi/cli/report_command.hpp"
#include "llmpi/cli/tokenize_command.hpp"
#include "llmpi/dist/mpi.hpp"
#endif

namespace {

#ifndef LLMPI_HAVE_MPI
int fail(const std::exception& e) {
  std::fprintf(stderr, "llmpi: error: %s\n", e.what());
  return 1;
}
#else
int fail(const std::exception& e) {
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  int size = 1;
  int rank = 0;
  if (initialized && !finalized) {
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  }
  if (size > 1) {
    std::fprintf(stderr, "llmpi: error (rank %d of %d): %s\n", rank, size, e.what());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  std::fprintf(stderr, "llmpi: error: %s\n", e.what());
  return 1;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"llmpi: large language model inference and evaluation over MPI"};
  app.require_subcommand(1);
  llmpi::BenchArgs bench_args;
  CLI::App& bench = llmpi::add_bench_command(app, bench_args);
  llmpi::PlanArgs plan_args;
  CLI::App& plan = llmpi::add_plan_command(app, plan_args);
#ifdef LLMPI_HAVE_MPI
  llmpi::GenerateArgs generate_args;
  CLI::App& generate = llmpi::add_generate_command(app, generate_args);
  llmpi::TokenizeArgs tokenize_args;
  CLI::App& tokenize = llmpi::add_tokenize_command(app, tokenize_args);
  llmpi::EvalArgs eval_args;
  CLI::App& eval = llmpi::add_eval_command(app, eval_args);
  llmpi::ReportArgs report_args;
  CLI::App& report = llmpi::add_report_command(app, report_args);
#endif
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
#ifdef LLMPI_HAVE_MPI
  // Outside the try: a failing rank still has MPI when `fail` calls MPI_Abort.
  std::optional<llmpi::MpiEnvironment> mpi;
#endif
  try {
    if (bench.parsed()) return llmpi::run_bench(bench_args);
    if (plan.parsed()) return llmpi::run_plan(plan_args);
#ifdef LLMPI_HAVE_MPI
    if (generate.parsed()) {
      mpi.emplace();  // the model runs on every rank of the job
      return llmpi::run_generate(generate_args);
    }
    if (eval.parsed()) {
      mpi.emplace();
      std::string command_line;
      for (int i = 0; i < argc; ++i) command_line += (i ? " " : "") + std::string(argv[i]);
      return llmpi::run_eval(eval_args, command_line);
    }
    if (report.parsed()) return llmpi::run_report(report_args);
    if (tokenize.parsed()) return llmpi::run_tokenize(tokenize_args);
#endif
  } catch (const std::exception& e) {
    return fail(e);
  }
  return 0;
}
