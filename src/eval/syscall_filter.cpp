#include "syscall_filter.hpp"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstdint>

namespace llmpi {

namespace {

#if defined(__x86_64__)
constexpr std::uint32_t kArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr std::uint32_t kArch = AUDIT_ARCH_AARCH64;
#else
constexpr std::uint32_t kArch = 0;
#endif

constexpr std::uint32_t errno_of(int error) {
  return SECCOMP_RET_ERRNO | (static_cast<std::uint32_t>(error) & SECCOMP_RET_DATA);
}

// if (nr == syscall) return EPERM
#define LLMPI_DENY(name) \
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_##name, 0, 1), BPF_STMT(BPF_RET | BPF_K, errno_of(EPERM))

const sock_filter kFilter[] = {
    // Only the architecture the numbers below belong to.
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kArch, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
#if defined(__x86_64__)
    // The x32 ABI's numbers would pass the checks below under other names.
    BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, errno_of(EPERM)),
#endif
    // socket(AF_UNIX, ...): refused; socketpair (what pipes between processes use) is not.
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 3),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[0])),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_UNIX, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, errno_of(EACCES)),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
    LLMPI_DENY(keyctl),
    LLMPI_DENY(add_key),
    LLMPI_DENY(request_key),
    LLMPI_DENY(bpf),
    LLMPI_DENY(perf_event_open),
    LLMPI_DENY(userfaultfd),
    LLMPI_DENY(io_uring_setup),
    LLMPI_DENY(unshare),
    LLMPI_DENY(setns),
    LLMPI_DENY(mount),
    LLMPI_DENY(umount2),
    LLMPI_DENY(pivot_root),
    LLMPI_DENY(ptrace),
    LLMPI_DENY(process_vm_readv),
    LLMPI_DENY(process_vm_writev),
    LLMPI_DENY(kexec_load),
    LLMPI_DENY(init_module),
    LLMPI_DENY(finit_module),
    LLMPI_DENY(delete_module),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};

#undef LLMPI_DENY

}  // namespace

bool install_syscall_filter() noexcept {
  if (kArch == 0) return false;
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
  const sock_fprog program{static_cast<unsigned short>(sizeof kFilter / sizeof kFilter[0]),
                           const_cast<sock_filter*>(kFilter)};
  return ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}

}  // namespace llmpi
