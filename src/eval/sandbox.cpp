#include "llmpi/eval/sandbox.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <vector>

#include "llmpi/core/error.hpp"
#include "llmpi/core/stop_request.hpp"
#include "sandbox_cgroup.hpp"
#include "syscall_filter.hpp"

namespace llmpi {

namespace {

constexpr int kSetupFailed = 125;
constexpr uid_t kNobody = 65534;
constexpr int kReportFd = 3;  // in the child: where set-up failures are written
constexpr auto kTick = std::chrono::milliseconds(20);

// Between fork and exec only async-signal-safe calls: everything the child needs (paths,
// option strings, the program text) is prepared by the parent beforehand.
[[noreturn]] void fail_setup(const char* what) {
  const int error = errno;
  const char* reason = strerror(error);
  if (write(kReportFd, what, strlen(what)) < 0 || write(kReportFd, ": ", 2) < 0 ||
      write(kReportFd, reason, strlen(reason)) < 0) {
    // nothing more can be said
  }
  _exit(kSetupFailed);
}

void write_file(const char* path, const char* text, const char* what) {
  const int fd = open(path, O_WRONLY | O_CLOEXEC);
  const auto size = static_cast<ssize_t>(strlen(text));
  if (fd < 0 || write(fd, text, static_cast<std::size_t>(size)) != size) fail_setup(what);
  close(fd);
}

unsigned long mount_flags(const std::string& options) {
  unsigned long flags = 0;
  std::stringstream stream(options);
  for (std::string option; std::getline(stream, option, ',');) {
    if (option == "nosuid") flags |= MS_NOSUID;
    if (option == "nodev") flags |= MS_NODEV;
    if (option == "noexec") flags |= MS_NOEXEC;
    if (option == "noatime") flags |= MS_NOATIME;
    if (option == "nodiratime") flags |= MS_NODIRATIME;
    if (option == "relatime") flags |= MS_RELATIME;
  }
  return flags;
}

bool is_pseudo_filesystem(const std::string& type) {
  for (const char* pseudo :
       {"proc", "sysfs", "devpts", "mqueue", "bpf", "tracefs", "debugfs", "securityfs", "pstore",
        "configfs", "fusectl", "binfmt_misc", "autofs", "hugetlbfs", "nsfs", "efivarfs"}) {
    if (type == pseudo) return true;
  }
  return type.rfind("cgroup", 0) == 0;
}

// A mount of this machine, to be made read-only in the sandbox's copy of the mount table.
struct Mount {
  std::string point;
  unsigned long flags;
  bool pseudo;  // kernel filesystems that may refuse: inside the new namespaces they expose
                // nothing the code could change for anyone else, and /proc and /sys are hidden
};

std::vector<Mount> current_mounts() {
  std::vector<Mount> mounts;
  std::ifstream mountinfo("/proc/self/mountinfo");
  for (std::string line; std::getline(mountinfo, line);) {
    // id parent major:minor root mount-point options [optional fields...] - type source ...
    std::stringstream fields(line);
    std::string id, parent, device, root, point, options, word, type;
    fields >> id >> parent >> device >> root >> point >> options;
    while (fields >> word && word != "-") {
    }
    fields >> type;
    mounts.push_back({point, MS_REMOUNT | MS_BIND | MS_RDONLY | mount_flags(options),
                      is_pseudo_filesystem(type)});
  }
  return mounts;
}

std::string find_python(const std::string& configured) {
  if (!configured.empty()) return configured;
  if (access("/usr/bin/python3", X_OK) == 0) return "/usr/bin/python3";
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const std::string candidate = dir + "/python3";
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  throw Error("sandbox: no python3 found (install python3 or set the interpreter)");
}

// Everything the child needs, made before fork.
struct ChildPlan {
  pid_t parent = 0;
  bool root = false;
  std::string uid_map, gid_map;
  std::vector<Mount> mounts;
  std::string tmp_options, small_options;
  std::string program;
  std::string python;
  SandboxLimits limits;
};

// Puts the descriptors where the child wants them and closes every other one: the results
// file, MPI's sockets and anything else llmpi has open stay out of the sandbox.
void arrange_descriptors(int output, int report) {
  const int out = fcntl(output, F_DUPFD_CLOEXEC, 10);
  const int rep = fcntl(report, F_DUPFD_CLOEXEC, 10);
  const int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (out < 0 || rep < 0 || devnull < 0) _exit(kSetupFailed);
  if (dup2(devnull, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
      dup2(out, STDERR_FILENO) < 0 || dup2(rep, kReportFd) < 0) {
    _exit(kSetupFailed);
  }
  if (close_range(kReportFd + 1, ~0U, 0) != 0) {
    for (int fd = kReportFd + 1; fd < 65536; ++fd) close(fd);
  }
}

// The sandbox's PID 1: a private /proc, limits, an unprivileged user, the syscall filter, then
// the program.
[[noreturn]] void run_init(const ChildPlan& plan) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0 &&
      mount("tmpfs", "/proc", "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
            "size=4k,mode=555") != 0) {
    fail_setup("private /proc");
  }
  const SandboxLimits& limits = plan.limits;
  auto limit = [](int resource, rlim_t value, const char* what) {
    const struct rlimit bound { value, value };
    if (setrlimit(resource, &bound) != 0) fail_setup(what);
  };
  limit(RLIMIT_CPU, static_cast<rlim_t>(limits.cpu_seconds + 0.999), "setrlimit cpu");
  limit(RLIMIT_AS, static_cast<rlim_t>(limits.memory_bytes), "setrlimit address space");
  limit(RLIMIT_FSIZE, static_cast<rlim_t>(limits.file_bytes), "setrlimit file size");
  limit(RLIMIT_NOFILE, 256, "setrlimit open files");
  limit(RLIMIT_CORE, 0, "setrlimit core");
  limit(RLIMIT_MEMLOCK, 0, "setrlimit locked memory");
  if (plan.root) {
    // An unprivileged user: the process limit applies, and nothing of root's is writable.
    if (setgroups(0, nullptr) != 0 || setgid(kNobody) != 0 || setuid(kNobody) != 0) {
      fail_setup("drop privileges to nobody");
    }
  }
  limit(RLIMIT_NPROC, static_cast<rlim_t>(limits.processes), "setrlimit processes");
  // Again: changing the user cleared it, and the program must die with the sandbox.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (!install_syscall_filter()) fail_setup("install the seccomp syscall filter");
  if (fcntl(kReportFd, F_SETFD, FD_CLOEXEC) != 0) fail_setup("mark the report pipe");
  const char* argv[] = {plan.python.c_str(), "-I", "-B", "program.py", nullptr};
  const char* envp[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp/work", "LANG=C.UTF-8",
                        "PYTHONHASHSEED=0", nullptr};
  execve(plan.python.c_str(), const_cast<char* const*>(argv), const_cast<char* const*>(envp));
  fail_setup("exec the interpreter");
}

// The child: its cgroup, namespaces, read-only filesystems with private scratch space, the
// program written there, then PID 1 of the new PID namespace.
[[noreturn]] void run_child(const ChildPlan& plan, int output, int report, int go) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != plan.parent) _exit(kSetupFailed);  // llmpi died before the line above
  setpgid(0, 0);
  // Wait until llmpi has put this process in the sandbox's cgroup (or decided to go without).
  char byte = 0;
  if (read(go, &byte, 1) != 1) _exit(kSetupFailed);
  arrange_descriptors(output, report);
  int flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;
  if (!plan.root) flags |= CLONE_NEWUSER;
  if (unshare(flags) != 0) fail_setup("unshare (namespaces for the sandbox)");
  if (!plan.root) {
    // Its own /proc/self files must be its own to write the maps (a process that changed its
    // user is marked not dumpable, which hands them to root).
    prctl(PR_SET_DUMPABLE, 1);
    write_file("/proc/self/setgroups", "deny", "write /proc/self/setgroups");
    write_file("/proc/self/uid_map", plan.uid_map.c_str(), "write /proc/self/uid_map");
    write_file("/proc/self/gid_map", plan.gid_map.c_str(), "write /proc/self/gid_map");
  }
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    fail_setup("make mounts private");
  }
  for (const Mount& m : plan.mounts) {
    if (mount(nullptr, m.point.c_str(), nullptr, m.flags, nullptr) != 0 && !m.pseudo) {
      fail_setup("remount a filesystem read-only");
    }
  }
  // Private scratch space: /tmp holds the working directory and bounds everything written.
  if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, plan.tmp_options.c_str()) != 0) {
    fail_setup("private /tmp");
  }
  for (const char* scratch : {"/var/tmp", "/dev/shm"}) {
    if (access(scratch, F_OK) == 0 &&
        mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV, plan.small_options.c_str()) != 0) {
      fail_setup("private /var/tmp or /dev/shm");
    }
  }
  // Nothing of the host's runtime state: its daemons' sockets, its devices' details.
  for (const char* hidden : {"/run", "/sys"}) {
    struct stat info {};
    if (lstat(hidden, &info) == 0 && S_ISDIR(info.st_mode) &&
        mount("tmpfs", hidden, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "size=4k,mode=755") != 0) {
      fail_setup("hide /run and /sys");
    }
  }
  if (mkdir("/tmp/work", 0755) != 0) fail_setup("create /tmp/work");
  const int program = open("/tmp/work/program.py", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (program < 0) fail_setup("create program.py");
  std::size_t written = 0;
  while (written < plan.program.size()) {
    const ssize_t n = write(program, plan.program.data() + written, plan.program.size() - written);
    if (n <= 0) fail_setup("write program.py");
    written += static_cast<std::size_t>(n);
  }
  close(program);
  if (plan.root && (chown("/tmp/work", kNobody, kNobody) != 0 ||
                    chown("/tmp/work/program.py", kNobody, kNobody) != 0)) {
    fail_setup("hand /tmp/work to nobody");
  }
  if (chdir("/tmp/work") != 0) fail_setup("chdir to /tmp/work");

  const pid_t init = fork();
  if (init < 0) fail_setup("fork the sandbox's init");
  if (init == 0) run_init(plan);
  close(kReportFd);
  int status = 0;
  while (waitpid(init, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
  _exit(128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0));
}

std::int64_t page_bytes() {
  static const std::int64_t bytes = sysconf(_SC_PAGESIZE);
  return bytes;
}

// Resident memory of `pid` and all its descendants (every process of the sandbox: orphans
// are adopted by its PID 1, which descends from `pid`).
std::int64_t tree_resident_bytes(pid_t pid) {
  std::int64_t total = 0;
  std::vector<pid_t> pending{pid};
  while (!pending.empty()) {
    const pid_t next = pending.back();
    pending.pop_back();
    const std::string base = "/proc/" + std::to_string(next);
    std::ifstream statm(base + "/statm");
    std::int64_t size = 0, resident = 0;
    if (statm >> size >> resident) total += resident * page_bytes();
    if (DIR* tasks = opendir((base + "/task").c_str())) {
      while (const dirent* task = readdir(tasks)) {
        if (task->d_name[0] == '.') continue;
        std::ifstream children(base + "/task/" + task->d_name + "/children");
        for (pid_t child; children >> child;) pending.push_back(child);
      }
      closedir(tasks);
    }
  }
  return total;
}

// The cgroup for the next run, or why there is none (reported once per process).
std::unique_ptr<SandboxCgroup> make_cgroup(const SandboxLimits& limits, std::string& fallback) {
  std::string why_not;
  auto group = geteuid() == 0
                   ? SandboxCgroup::create(limits.memory_bytes, limits.processes, why_not)
                   : nullptr;
  if (!group) {
    fallback = geteuid() == 0 ? why_not : "llmpi does not run as root, so it makes no cgroup";
  }
  return group;
}

}  // namespace

std::string status_name(SandboxResult::Status status) {
  switch (status) {
    case SandboxResult::Status::passed:
      return "passed";
    case SandboxResult::Status::failed:
      return "failed";
    case SandboxResult::Status::timed_out:
      return "timed_out";
    case SandboxResult::Status::killed:
      return "killed";
    case SandboxResult::Status::sandbox_error:
      return "sandbox_error";
    case SandboxResult::Status::interrupted:
      return "interrupted";
  }
  return "?";
}

std::string sandbox_description() {
  std::string fallback;
  const SandboxLimits limits;
  const auto group = make_cgroup(limits, fallback);
  const std::string who = geteuid() == 0 ? "as root: code runs as nobody in new PID, IPC, UTS, "
                                           "network and mount namespaces"
                                         : "unprivileged: code runs in a new user namespace with "
                                           "PID, IPC, UTS, network and mount namespaces";
  return who + "; memory and processes of the whole tree limited by " +
         (group ? group->description()
                : "llmpi's watch over its processes' resident memory and RLIMIT_NPROC (" +
                      fallback + ")");
}

SandboxResult run_python_sandboxed(const std::string& program, const SandboxLimits& limits) {
  ChildPlan plan;
  plan.parent = getpid();
  plan.root = geteuid() == 0;
  plan.uid_map = "0 " + std::to_string(getuid()) + " 1";
  plan.gid_map = "0 " + std::to_string(getgid()) + " 1";
  plan.mounts = current_mounts();
  plan.tmp_options = "size=" + std::to_string(limits.disk_bytes) +
                     ",nr_inodes=" + std::to_string(limits.files) + ",mode=1777";
  plan.small_options = "size=1m,nr_inodes=64,mode=1777";
  plan.program = program;
  plan.python = find_python(limits.python);
  plan.limits = limits;
  std::string fallback;
  std::unique_ptr<SandboxCgroup> cgroup = make_cgroup(limits, fallback);
  static std::once_flag told;
  std::call_once(
      told, [] { std::fprintf(stderr, "llmpi: sandbox: %s\n", sandbox_description().c_str()); });

  int output[2];
  int report[2];
  int go[2];
  if (pipe2(output, O_CLOEXEC) != 0 || pipe2(report, O_CLOEXEC) != 0 || pipe2(go, O_CLOEXEC) != 0) {
    throw Error("sandbox: pipe failed: " + std::string(std::strerror(errno)));
  }
  const auto start = std::chrono::steady_clock::now();
  const pid_t child = fork();
  if (child < 0) throw Error("sandbox: fork failed: " + std::string(std::strerror(errno)));
  if (child == 0) run_child(plan, output[1], report[1], go[0]);
  setpgid(child, child);  // also done in the child: whichever runs first
  close(output[1]);
  close(report[1]);
  close(go[0]);
  // Into the cgroup before the child makes its namespaces; where the kernel refuses, the run
  // goes without it, its memory held by the watch below.
  if (cgroup && !cgroup->admit(child)) cgroup.reset();
  const char byte = 1;
  if (write(go[1], &byte, 1) != 1) kill(child, SIGKILL);
  close(go[1]);

  SandboxResult result;
  enum class Ended { normally, timed_out, memory, stopped } ended = Ended::normally;
  std::int64_t peak = 0;
  const auto deadline = start + std::chrono::duration<double>(limits.wall_seconds);
  char buffer[4096];
  for (;;) {
    if (std::chrono::steady_clock::now() >= deadline) {
      ended = Ended::timed_out;
      break;
    }
    if (stop_signal() != 0) {
      ended = Ended::stopped;
      break;
    }
    if (!cgroup) {
      peak = std::max(peak, tree_resident_bytes(child));
      if (peak > limits.memory_bytes) {
        ended = Ended::memory;
        break;
      }
    }
    pollfd fd{output[0], POLLIN, 0};
    const int ready = poll(&fd, 1, static_cast<int>(kTick.count()));
    if (ready <= 0) continue;  // a tick (or EINTR): check the limits again
    const ssize_t got = read(output[0], buffer, sizeof buffer);
    if (got <= 0) break;  // every writer closed: the program ended
    const auto room = static_cast<std::size_t>(limits.output_bytes) -
                      std::min(result.output.size(), static_cast<std::size_t>(limits.output_bytes));
    result.output.append(buffer, std::min(room, static_cast<std::size_t>(got)));
  }
  if (ended != Ended::normally) {
    // The child; its PID 1 follows (parent-death signal), and with it the whole namespace.
    kill(child, SIGKILL);
    kill(-child, SIGKILL);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  close(output[0]);
  result.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::string setup_error;
  for (ssize_t got; (got = read(report[0], buffer, sizeof buffer)) > 0;)
    setup_error.append(buffer, static_cast<std::size_t>(got));
  close(report[0]);

  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.exit_code = code;
  const auto mib = [](std::int64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; };
  if (!setup_error.empty()) {
    result.status = SandboxResult::Status::sandbox_error;
    result.detail = setup_error;
  } else if (ended == Ended::stopped) {
    result.status = SandboxResult::Status::interrupted;
    result.detail = "stopped by " + signal_name(stop_signal());
  } else if (ended == Ended::timed_out) {
    result.status = SandboxResult::Status::timed_out;
    result.detail = "killed after " + std::to_string(limits.wall_seconds) + " s";
  } else if (ended == Ended::memory || (cgroup && cgroup->out_of_memory())) {
    result.status = SandboxResult::Status::killed;
    result.signal = SIGKILL;
    result.detail =
        "memory limit: " + (ended == Ended::memory
                                ? "its processes together held " + mib(peak) + ", more than the " +
                                      mib(limits.memory_bytes) + " allowed"
                                : "its processes together reached the " + mib(limits.memory_bytes) +
                                      " allowed (the kernel's OOM killer acted in its cgroup)");
  } else if (code == 0) {
    result.status = SandboxResult::Status::passed;
  } else if (code > 128) {
    result.status = SandboxResult::Status::killed;
    result.signal = code - 128;
    result.detail = std::string("signal ") + strsignal(result.signal) +
                    (result.signal == SIGXCPU || result.signal == SIGKILL ? " (CPU limit?)" : "");
  } else {
    result.status = SandboxResult::Status::failed;
  }
  return result;
}

}  // namespace llmpi
