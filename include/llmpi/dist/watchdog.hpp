#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "llmpi/core/periodic_thread.hpp"

namespace llmpi {

// Ends a job that has stopped moving, under mpirun and srun alike. A thread of its own checks
// once a second how long this rank has been blocked in one wait on other ranks (a WaitScope:
// core/wait_watch.hpp); past the stall limit (plus the wait's own allowance) it says what it
// was waiting for and on which ranks, then aborts the whole job (MPI_Abort; if that does not
// return within seconds, SIGALRM ends the process, which the launcher treats as a failure).
// A stopped (SIGSTOP), dead or unreachable peer thus ends the job instead of leaving the
// others spinning until the allocation's time limit.
class Watchdog {
 public:
  // `rank` describes this rank in the message ("rank 3 (host gpu-7)"). A limit of zero
  // watches nothing.
  Watchdog(std::chrono::seconds stall_limit, std::string rank);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  static constexpr int kExitCode = 3;

 private:
  void check() const;

  std::chrono::seconds limit_;
  std::string rank_;
  std::unique_ptr<PeriodicThread> thread_;  // last: it calls check() until it goes
};

}  // namespace llmpi
