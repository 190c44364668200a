#pragma once

namespace llmpi {

// Installs, in the calling process and everything it starts, a seccomp filter that refuses
// what a contained program has no business doing: creating Unix-domain sockets (a host
// daemon's socket is reachable through a read-only filesystem), the kernel keyring (not
// namespaced), BPF, perf events, userfaultfd, io_uring, new namespaces, mounts, tracing other
// processes and module or kexec loading. They fail with EPERM (EACCES for sockets); nothing
// else changes. Sets no_new_privs. Returns false where seccomp is unavailable or the
// architecture is not known to it. Async-signal-safe: for a child between fork and exec.
bool install_syscall_filter() noexcept;

}  // namespace llmpi
