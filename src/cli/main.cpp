// llmpi: the command-line entry point. Every error of every component arrives here once, as
// an exception carrying its context, and leaves as one message and a non-zero exit code.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "llmpi/cli/generate_command.hpp"
#include "llmpi/core/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"llmpi: large language model inference and evaluation over MPI"};
  app.require_subcommand(1);
  llmpi::GenerateArgs generate_args;
  CLI::App& generate = llmpi::add_generate_command(app, generate_args);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (generate.parsed()) return llmpi::run_generate(generate_args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "llmpi: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
