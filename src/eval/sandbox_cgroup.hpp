#pragma once

// A control group of its own for one sandboxed run, so memory (swap included) and the number
// of processes are limited over the program's whole process tree, not per process.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace llmpi {

class SandboxCgroup {
 public:
  // Made under this process's own cgroup: cgroup v2 where its memory and pids controllers are
  // delegated to us, else cgroup v1's memory and pids hierarchies. Null, with `why_not` said,
  // where neither can be made (not root, no delegation, a read-only cgroup filesystem).
  static std::unique_ptr<SandboxCgroup> create(std::int64_t memory_bytes, int processes,
                                               std::string& why_not);
  ~SandboxCgroup();  // removes its directories (its processes are gone by then)
  SandboxCgroup(const SandboxCgroup&) = delete;
  SandboxCgroup& operator=(const SandboxCgroup&) = delete;

  // Moves process `pid` into it (every v1 hierarchy, or the v2 group); false when the kernel
  // refuses (the caller then goes without the cgroup).
  bool admit(int pid) const;
  // Whether the kernel's OOM killer acted inside it.
  bool out_of_memory() const;
  // "cgroup v2 at /sys/fs/cgroup/..." or "cgroup v1 (memory, pids)".
  const std::string& description() const { return description_; }

 private:
  SandboxCgroup() = default;
  std::vector<std::string> dirs_;
  std::vector<std::string> join_files_;
  std::string oom_file_;  // memory.events (v2) or memory.oom_control (v1)
  std::string description_;
};

}  // namespace llmpi
