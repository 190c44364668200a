#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

#include "command.hpp"

namespace llmpi::testing {

// A shell command running in the background (its own process group), its stdout and stderr
// read as they come, for tests that act on a run part-way: signal it, kill one of its ranks.
class Spawned {
 public:
  explicit Spawned(const std::string& command);
  ~Spawned();  // kills what is left of the process group
  Spawned(const Spawned&) = delete;
  Spawned& operator=(const Spawned&) = delete;

  // Reads output until it contains `text` (counting from the start), the command ends, or the
  // timeout passes; returns whether `text` appeared.
  bool wait_for(const std::string& text, std::chrono::milliseconds timeout);
  // Reads to the end and waits for the command; kills it after the timeout.
  CommandResult finish(std::chrono::seconds timeout);
  // Signals the whole process group (the launcher and every rank).
  void signal_all(int signal) const;
  pid_t pid() const { return pid_; }
  const std::string& output() const { return output_; }

 private:
  bool read_some(std::chrono::milliseconds timeout);
  pid_t pid_ = -1;
  int out_ = -1;
  bool ended_ = false;
  std::string output_;
};

// The pid of the MPI rank `rank` of a running job whose command line contains `marker`
// (found in /proc: the rank from OMPI_COMM_WORLD_RANK or PMIX_RANK), or -1.
pid_t find_rank_pid(const std::string& marker, int rank);

}  // namespace llmpi::testing
