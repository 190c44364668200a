// llmpi: the command-line entry point. Every error of every component arrives here once, as
// an exception carrying its context, and leaves as one message and a non-zero exit code.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "llmpi/cli/generate_command.hpp"
#ifdef LLMPI_HAVE_TOKENIZER
#include "llmpi/cli/tokenize_command.hpp"
#endif
#include "llmpi/core/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"llmpi: large language model inference and evaluation over MPI"};
  app.require_subcommand(1);
  llmpi::GenerateArgs generate_args;
  CLI::App& generate = llmpi::add_generate_command(app, generate_args);
#ifdef LLMPI_HAVE_TOKENIZER
  llmpi::TokenizeArgs tokenize_args;
  CLI::App& tokenize = llmpi::add_tokenize_command(app, tokenize_args);
#endif
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (generate.parsed()) return llmpi::run_generate(generate_args);
#ifdef LLMPI_HAVE_TOKENIZER
    if (tokenize.parsed()) return llmpi::run_tokenize(tokenize_args);
#endif
  } catch (const std::exception& e) {
    std::fprintf(stderr, "llmpi: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
