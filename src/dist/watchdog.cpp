#include "llmpi/dist/watchdog.hpp"

#include <mpi.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "llmpi/core/wait_watch.hpp"

namespace llmpi {

Watchdog::Watchdog(std::chrono::seconds stall_limit, std::string rank)
    : limit_(stall_limit), rank_(std::move(rank)) {
  if (limit_.count() <= 0) return;
  // A tenth of the limit, at most a second.
  const auto period =
      std::chrono::milliseconds(std::clamp<long long>(limit_.count() * 100, 100, 1000));
  thread_ = std::make_unique<PeriodicThread>(period, [this] { check(); });
}

Watchdog::~Watchdog() = default;

void Watchdog::check() const {
  const CurrentWait wait = current_wait();
  if (wait.operation == nullptr) return;
  const double limit = static_cast<double>(limit_.count()) + wait.allowance_s;
  if (wait.seconds > limit) {
    std::fprintf(stderr,
                 "llmpi: error: %s: no progress for %.0f s: waiting in %s with %s, which has not "
                 "completed: a peer is stopped, dead or unreachable. Aborting the job (stall "
                 "limit %.0f s: --stall-limit, or the preset's stall_limit_s)\n",
                 rank_.c_str(), wait.seconds, wait.operation,
                 wait.peers != nullptr ? wait.peers->c_str() : "other ranks", limit);
    std::fflush(stderr);
    // MPI_Abort from this thread while the main one is blocked in MPI: Open MPI's abort goes
    // to the launcher and does not need the blocked thread. Should it hang, the alarm's default
    // action ends the process all the same.
    ::signal(SIGALRM, SIG_DFL);
    ::alarm(10);
    MPI_Abort(MPI_COMM_WORLD, kExitCode);
    ::_exit(kExitCode);
  }
}

}  // namespace llmpi
