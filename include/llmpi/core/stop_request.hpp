#pragma once

#include <string>

#include "llmpi/core/error.hpp"

namespace llmpi {

// A request to stop the run early: Slurm's preemption (SIGTERM) or time-limit warning
// (SIGUSR1, from `--signal`), mpirun forwarding either, or Ctrl-C (SIGINT). The handlers only
// record the signal; the run notices at its next step, finishes nothing new, keeps what is
// complete, and exits with kInterruptedExitCode. A second SIGINT or SIGTERM ends the process
// at once (the default action).
inline constexpr int kInterruptedExitCode = 75;  // EX_TEMPFAIL: "try again", i.e. --resume

void install_stop_handlers();
// The signal that asked to stop, or 0.
int stop_signal() noexcept;
// For tests and for a rank told by its peers: records a stop request as if `signal` arrived.
void request_stop(int signal) noexcept;
// "SIGTERM", "SIGUSR1", ...
std::string signal_name(int signal);

// Thrown where work is abandoned because of a stop request (every rank of a replica at the
// same step); caught by the run loop, which then ends the run cleanly.
class Interrupted : public Error {
 public:
  // signal 0: another rank was asked to stop.
  explicit Interrupted(int signal)
      : Error(signal != 0 ? "interrupted by " + signal_name(signal)
                          : "interrupted: another rank was asked to stop"),
        signal_(signal) {}
  int signal() const { return signal_; }

 private:
  int signal_;
};

}  // namespace llmpi
