#pragma once

#include <string>

namespace llmpi::testing {

// A shell command as the CLI tests run it: stdout and stderr together, and how it ended.
struct CommandResult {
  int exit_code = -1;
  bool crashed = false;  // a signal, or 124+ (timeout, shell-reported signals)
  std::string output;
};

CommandResult run_command(const std::string& command);

// "env <MPI-as-root, oversubscribed, one OpenMP thread> <environment> mpiexec -n RANKS ".
std::string mpiexec(int ranks, const std::string& environment = "");

}  // namespace llmpi::testing
