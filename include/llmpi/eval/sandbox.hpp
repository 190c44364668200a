#pragma once

#include <cstdint>
#include <string>

namespace llmpi {

// Limits for one run of untrusted, model-written code; memory, processes and disk hold for the
// program's whole process tree.
struct SandboxLimits {
  double wall_seconds = 10.0;
  double cpu_seconds = 10.0;                           // per process
  std::int64_t memory_bytes = std::int64_t{1} << 30;   // all its processes together
  std::int64_t disk_bytes = std::int64_t{64} << 20;    // everything it writes, /tmp included
  int files = 1024;                                    // files and directories it may create
  std::int64_t file_bytes = std::int64_t{16} << 20;    // largest file it may write
  std::int64_t output_bytes = std::int64_t{64} << 10;  // stdout + stderr kept
  int processes = 64;                                  // at once, all its processes together
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

// How the sandbox contains a program on this machine: which fences are up (a cgroup for
// memory and processes, or the fallback), for logs and docs/sandbox.md's checks.
std::string sandbox_description();

// Runs `program` with python3 in a child that:
// - inherits no descriptor but its stdin (/dev/null), stdout and stderr (a pipe to llmpi),
// - has its own user (when llmpi is not root), PID, IPC, UTS, network (a down loopback only)
//   and mount namespaces: every filesystem read-only except a fresh private /tmp (its working
//   directory is /tmp/work) of disk_bytes and `files` inodes, small private /var/tmp and
//   /dev/shm, a private /proc showing only its own processes, an empty /sys and /run,
// - runs as an unprivileged user where llmpi runs as root, with an environment of a fixed
//   allowlist (PATH, HOME, LANG, PYTHONHASHSEED) and a seccomp filter refusing Unix sockets,
//   the keyring, BPF, namespaces, mounts and tracing (src/eval/syscall_filter.hpp),
// - is limited over its whole process tree: memory and processes by a cgroup of its own where
//   one can be made, else memory by llmpi summing its processes' resident memory every 20 ms
//   and processes by RLIMIT_NPROC; CPU time, address space and file size per process too,
// - is killed with everything it started at the wall-clock limit, at a stop request, and when
//   llmpi exits or dies (the kernel's parent-death signal).
// Everything that cannot be set up is an error (status sandbox_error), never a silent run
// without the fences. docs/sandbox.md says what is contained where.
SandboxResult run_python_sandboxed(const std::string& program, const SandboxLimits& limits);

}  // namespace llmpi
