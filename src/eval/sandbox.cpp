#include "llmpi/eval/sandbox.hpp"

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
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "llmpi/core/error.hpp"

namespace llmpi {

namespace {

constexpr int kSetupFailed = 125;
constexpr uid_t kNobody = 65534;

// In the child after fork only async-signal-safe-ish steps; a failure is reported through
// `report` (a pipe) and ends the child.
[[noreturn]] void fail_setup(int report, const std::string& what) {
  const std::string message = what + ": " + std::strerror(errno);
  if (write(report, message.data(), message.size()) < 0) {
    // nothing more can be said
  }
  _exit(kSetupFailed);
}

void write_file(int report, const char* path, const std::string& text) {
  const int fd = open(path, O_WRONLY);
  if (fd < 0 || write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    fail_setup(report, std::string("write ") + path);
  }
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

// Every mount read-only except `keep`. Kernel pseudo-filesystems that refuse are left alone:
// inside the new namespaces they expose nothing the code could change for anyone else.
void remount_read_only(int report, const std::string& keep) {
  std::ifstream mountinfo("/proc/self/mountinfo");
  for (std::string line; std::getline(mountinfo, line);) {
    // id parent major:minor root mount-point options [optional fields...] - type source ...
    std::stringstream fields(line);
    std::string id, parent, device, root, point, options, word, type;
    fields >> id >> parent >> device >> root >> point >> options;
    while (fields >> word && word != "-") {
    }
    fields >> type;
    if (point == keep) continue;
    const unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY | mount_flags(options);
    if (mount(nullptr, point.c_str(), nullptr, flags, nullptr) != 0 &&
        !is_pseudo_filesystem(type)) {
      fail_setup(report, "remount " + point + " read-only");
    }
  }
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

// The child: namespaces, read-only filesystems, private temporary directories, then a grand
// child that becomes PID 1 of the new PID namespace, drops privileges and runs the program.
[[noreturn]] void run_child(const std::string& workdir, const std::string& python,
                            const SandboxLimits& limits, int output, int report) {
  setpgid(0, 0);
  dup2(output, STDOUT_FILENO);
  dup2(output, STDERR_FILENO);
  const int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) dup2(devnull, STDIN_FILENO);

  const bool root = geteuid() == 0;
  const uid_t uid = getuid();
  const gid_t gid = getgid();
  int flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID;
  if (!root) flags |= CLONE_NEWUSER;
  if (unshare(flags) != 0) fail_setup(report, "unshare (namespaces for the sandbox)");
  if (!root) {
    write_file(report, "/proc/self/setgroups", "deny");
    write_file(report, "/proc/self/uid_map", "0 " + std::to_string(uid) + " 1");
    write_file(report, "/proc/self/gid_map", "0 " + std::to_string(gid) + " 1");
  }
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    fail_setup(report, "make mounts private");
  }
  if (mount(workdir.c_str(), workdir.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    fail_setup(report, "bind the working directory");
  }
  remount_read_only(report, workdir);
  // Empty, private scratch space where programs expect it; the working directory reappears
  // inside it as /tmp/work (reached through a descriptor, since the tmpfs hides its path).
  const int work = open(workdir.c_str(), O_PATH | O_DIRECTORY);
  if (work < 0) fail_setup(report, "open the working directory");
  for (const char* scratch : {"/tmp", "/var/tmp", "/dev/shm"}) {
    if (access(scratch, F_OK) == 0 &&
        mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=1777") != 0) {
      fail_setup(report, std::string("private ") + scratch);
    }
  }
  const std::string work_source = "/proc/self/fd/" + std::to_string(work);
  if (mkdir("/tmp/work", 0755) != 0 ||
      mount(work_source.c_str(), "/tmp/work", nullptr, MS_BIND, nullptr) != 0) {
    fail_setup(report, "mount the working directory at /tmp/work");
  }
  close(work);
  if (chdir("/tmp/work") != 0) fail_setup(report, "chdir to /tmp/work");

  const pid_t init = fork();
  if (init < 0) fail_setup(report, "fork the sandbox's init");
  if (init == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    auto limit = [&](int resource, rlim_t value, const char* name) {
      const struct rlimit bound { value, value };
      if (setrlimit(resource, &bound) != 0) fail_setup(report, std::string("setrlimit ") + name);
    };
    limit(RLIMIT_CPU, static_cast<rlim_t>(limits.cpu_seconds + 0.999), "cpu");
    limit(RLIMIT_AS, static_cast<rlim_t>(limits.memory_bytes), "address space");
    limit(RLIMIT_FSIZE, static_cast<rlim_t>(limits.file_bytes), "file size");
    limit(RLIMIT_NOFILE, 256, "open files");
    limit(RLIMIT_CORE, 0, "core");
    if (root) {
      // An unprivileged user: the process limit applies, and nothing of root's is writable.
      if (setgroups(0, nullptr) != 0 || setgid(kNobody) != 0 || setuid(kNobody) != 0) {
        fail_setup(report, "drop privileges to nobody");
      }
    }
    limit(RLIMIT_NPROC, static_cast<rlim_t>(limits.processes), "processes");
    close(report);
    const char* argv[] = {python.c_str(), "-I", "-B", "program.py", nullptr};
    const char* envp[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", "LANG=C.UTF-8",
                          "PYTHONHASHSEED=0", nullptr};
    execve(python.c_str(), const_cast<char* const*>(argv), const_cast<char* const*>(envp));
    fail_setup(report, "exec " + python);
  }
  close(report);
  int status = 0;
  while (waitpid(init, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
  _exit(128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0));
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

SandboxResult run_python_sandboxed(const std::string& program, const SandboxLimits& limits) {
  const std::string python = find_python(limits.python);
  std::string pattern = (std::filesystem::temp_directory_path() / "llmpi-sandbox-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw Error("sandbox: cannot create a working directory");
  const std::string workdir = pattern;
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
    }
  } cleanup{workdir};
  {
    std::ofstream file(workdir + "/program.py");
    file << program;
  }
  if (geteuid() == 0) {
    // The unprivileged user the code runs as owns its working directory and nothing else.
    if (chown(workdir.c_str(), kNobody, kNobody) != 0 ||
        chown((workdir + "/program.py").c_str(), kNobody, kNobody) != 0) {
      throw Error("sandbox: cannot hand the working directory to nobody");
    }
  }

  int output[2];
  int report[2];
  if (pipe2(output, O_CLOEXEC) != 0 || pipe2(report, O_CLOEXEC) != 0) {
    throw Error("sandbox: pipe failed");
  }
  const auto start = std::chrono::steady_clock::now();
  const pid_t child = fork();
  if (child < 0) throw Error("sandbox: fork failed");
  if (child == 0) {
    close(output[0]);
    close(report[0]);
    run_child(workdir, python, limits, output[1], report[1]);
  }
  setpgid(child, child);  // also done in the child: whichever runs first
  close(output[1]);
  close(report[1]);

  SandboxResult result;
  bool timed_out = false;
  const auto deadline = start + std::chrono::duration<double>(limits.wall_seconds);
  char buffer[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd fd{output[0], POLLIN, 0};
    const int ready = poll(&fd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) continue;
    const ssize_t got = read(output[0], buffer, sizeof buffer);
    if (got <= 0) break;  // every writer closed: the program ended
    const auto room = static_cast<std::size_t>(limits.output_bytes) -
                      std::min(result.output.size(), static_cast<std::size_t>(limits.output_bytes));
    result.output.append(buffer, std::min(room, static_cast<std::size_t>(got)));
  }
  if (timed_out) kill(-child, SIGKILL);  // the child, its PID namespace and all in it
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
  if (!setup_error.empty()) {
    result.status = SandboxResult::Status::sandbox_error;
    result.detail = setup_error;
  } else if (timed_out) {
    result.status = SandboxResult::Status::timed_out;
    result.detail = "killed after " + std::to_string(limits.wall_seconds) + " s";
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
