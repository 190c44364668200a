#pragma once

#include <cstdint>
#include <string>

namespace llmpi {

// Limits for one run of untrusted, model-written code.
struct SandboxLimits {
  double wall_seconds = 10.0;
  double cpu_seconds = 10.0;
  std::int64_t memory_bytes = std::int64_t{1} << 30;   // address space
  std::int64_t file_bytes = std::int64_t{16} << 20;    // largest file it may write
  std::int64_t output_bytes = std::int64_t{64} << 10;  // stdout + stderr kept
  int processes = 64;                                  // for the unprivileged user the code runs as
  // The interpreter: an absolute path readable by an unprivileged user. Empty: /usr/bin/python3
  // when it exists, else the first python3 on PATH.
  std::string python;
};

struct SandboxResult {
  // interrupted: a stop request (core/stop_request.hpp) ended it early; no verdict.
  enum class Status { passed, failed, timed_out, killed, sandbox_error, interrupted };
  Status status = Status::sandbox_error;
  int exit_code = -1;
  int signal = 0;
  double wall_seconds = 0.0;
  std::string output;  // stdout and stderr, truncated to output_bytes
  std::string detail;  // why, for timed_out / killed / sandbox_error
};

std::string status_name(SandboxResult::Status status);

// Runs `program` with `python3` in a child that:
// - has its own network namespace (no interface but a down loopback: no network),
// - has its own mount namespace in which every filesystem is read-only except a private,
//   fresh working directory (removed afterwards) and empty private /tmp, /var/tmp, /dev/shm,
// - has its own PID namespace (nothing it starts outlives it),
// - runs as an unprivileged user where llmpi runs as root, under CPU, memory, file-size,
//   process and open-file limits, and is killed (with everything it started) after
//   wall_seconds.
// Everything that cannot be set up is an error (status sandbox_error), never a silent run
// without the fences.
SandboxResult run_python_sandboxed(const std::string& program, const SandboxLimits& limits);

}  // namespace llmpi
