// Model-written code is contained: each hostile program below runs, is stopped or fails, and
// leaves nothing behind, both where llmpi runs as root (the code then runs as nobody, limited
// by a cgroup where one can be made) and where it runs as an unprivileged user (a user
// namespace, and llmpi's own watch over memory). The unprivileged half runs the same table in a
// child process that has dropped to nobody; it is skipped, saying so, when the tests are not
// root.
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <thread>

#include "llmpi/core/stop_request.hpp"
#include "llmpi/eval/sandbox.hpp"

using namespace llmpi;
using Catch::Matchers::Contains;
using Status = SandboxResult::Status;

namespace {

SandboxLimits test_limits() {
  SandboxLimits limits;
  limits.wall_seconds = 10.0;
  limits.cpu_seconds = 5.0;
  limits.memory_bytes = std::int64_t{512} << 20;
  return limits;
}

// One hostile program: what it does, its limits, and what must hold of its result.
struct Hostile {
  std::string name;
  std::function<std::string()> program;  // made when run (some name paths or descriptors)
  SandboxLimits limits = test_limits();
  std::function<void(const SandboxResult&)> check;
};

std::string read_file(const std::filesystem::path& path) {
  std::ifstream file(path);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

// `pid` and its descendants whose command line mentions `text`.
std::vector<pid_t> descendants_running(pid_t pid, const std::string& text) {
  std::vector<pid_t> found, pending{pid};
  while (!pending.empty()) {
    const pid_t next = pending.back();
    pending.pop_back();
    const std::filesystem::path base = "/proc/" + std::to_string(next);
    std::string command = read_file(base / "cmdline");
    std::replace(command.begin(), command.end(), '\0', ' ');
    if (command.find(text) != std::string::npos) found.push_back(next);
    std::error_code error;
    for (const auto& task : std::filesystem::directory_iterator(base / "task", error)) {
      std::ifstream children(task.path() / "children");
      for (pid_t child; children >> child;) pending.push_back(child);
    }
  }
  return found;
}

// Whether `pid` is still a sandboxed program (and not a reused pid).
bool still_running(pid_t pid) {
  std::string command = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  return command.find("program.py") != std::string::npos;
}

// The table, against state the test process sets up (a file it holds open, a Unix socket it
// listens on); `dir` is a directory the unprivileged user can read.
std::vector<Hostile> hostile_programs(const std::filesystem::path& dir, int held_fd,
                                      const std::filesystem::path& socket_path) {
  std::vector<Hostile> table;
  table.push_back(
      {"passing and failing programs are told apart",
       [] { return "def add(a, b):\n    return a + b\nassert add(2, 3) == 5\nprint('fine')\n"; },
       test_limits(),
       [](const SandboxResult& r) {
         CHECK(r.status == Status::passed);
         CHECK(r.output == "fine\n");
       }});
  table.push_back({"a failing assertion fails", [] { return "assert 1 + 1 == 3, 'arithmetic'\n"; },
                   test_limits(),
                   [](const SandboxResult& r) {
                     CHECK(r.status == Status::failed);
                     CHECK_THAT(r.output, Contains("AssertionError: arithmetic"));
                   }});
  {
    SandboxLimits fast = test_limits();
    fast.wall_seconds = 2.0;
    table.push_back({"a program that never ends is killed at the wall-clock limit",
                     [] { return "while True:\n    pass\n"; }, fast,
                     [](const SandboxResult& r) {
                       CHECK((r.status == Status::timed_out || r.status == Status::killed));
                       CHECK(r.wall_seconds < 8.0);
                     }});
  }
  table.push_back({"allocating 10 GB fails inside the memory limit",
                   [] { return "x = bytearray(10 * 1024 ** 3)\n"; }, test_limits(),
                   [](const SandboxResult& r) {
                     CHECK(r.status == Status::failed);
                     CHECK_THAT(r.output, Contains("MemoryError"));
                   }});
  {
    SandboxLimits one_gib = test_limits();
    one_gib.memory_bytes = std::int64_t{1} << 30;
    table.push_back({"six processes of 700 MB each are held to the tree's 1 GiB",
                     [] {
                       return "import os, time\n"
                              "kids = []\n"
                              "for _ in range(6):\n"
                              "    pid = os.fork()\n"
                              "    if pid == 0:\n"
                              "        block = bytearray(700 * 1024 ** 2)\n"
                              "        for i in range(0, len(block), 4096):\n"
                              "            block[i] = 1\n"
                              "        time.sleep(3)\n"
                              "        os._exit(0)\n"
                              "    kids.append(pid)\n"
                              "done = sum(os.waitpid(pid, 0)[1] == 0 for pid in kids)\n"
                              "print('completed', done)\n"
                              "assert done == 6\n";
                     },
                     one_gib,
                     [](const SandboxResult& r) {
                       CHECK(r.status == Status::killed);
                       CHECK_THAT(r.detail, Contains("memory limit"));
                       CHECK(r.output.find("completed 6") == std::string::npos);
                     }});
  }
  table.push_back({"forking is limited and nothing outlives the run",
                   [] {
                     return "import os, time\n"
                            "children = 0\n"
                            "for _ in range(500):\n"
                            "    try:\n"
                            "        if os.fork() == 0:\n"
                            "            time.sleep(60)\n"
                            "            os._exit(0)\n"
                            "        children += 1\n"
                            "    except OSError:\n"
                            "        break\n"
                            "print('forked', children)\n"
                            "assert children < 500, 'no process limit'\n";
                   },
                   test_limits(),
                   [](const SandboxResult& r) {
                     CHECK(r.status == Status::passed);  // the limit stopped the fork loop
                     CHECK(r.wall_seconds < 5.0);  // the sleeping children did not keep it alive
                   }});
  table.push_back({"there is no network",
                   [] {
                     return "import socket\n"
                            "s = socket.socket()\n"
                            "s.settimeout(2)\n"
                            "s.connect(('1.1.1.1', 80))\n";
                   },
                   test_limits(),
                   [](const SandboxResult& r) {
                     CHECK(r.status == Status::failed);
                     CHECK_THAT(r.output, Contains("OSError"));
                   }});
  table.push_back({"a host Unix socket cannot be reached",
                   [socket_path] {
                     return "import socket\n"
                            "s = socket.socket(socket.AF_UNIX)\n"
                            "s.connect('" +
                            socket_path.string() +
                            "')\n"
                            "print('connected')\n";
                   },
                   test_limits(),
                   [](const SandboxResult& r) {
                     CHECK(r.status == Status::failed);
                     CHECK_THAT(r.output, Contains("PermissionError"));
                     CHECK(r.output.find("connected") == std::string::npos);
                   }});
  table.push_back({"inherited descriptors are not there to write or truncate",
                   [held_fd] {
                     return "import os\n"
                            "hits = []\n"
                            "for fd in range(3, 1024):\n"
                            "    try:\n"
                            "        os.ftruncate(fd, 0)\n"
                            "        hits.append(fd)\n"
                            "    except OSError:\n"
                            "        pass\n"
                            "    try:\n"
                            "        os.write(fd, b'x')\n"
                            "        hits.append(fd)\n"
                            "    except OSError:\n"
                            "        pass\n"
                            "print('open', sorted(os.listdir('/proc/self/fd')), 'held', " +
                            std::to_string(held_fd) +
                            ")\n"
                            "assert not hits, hits\n";
                   },
                   test_limits(),
                   [](const SandboxResult& r) { CHECK(r.status == Status::passed); }});
  table.push_back({"/proc shows only the sandbox's own processes",
                   [] {
                     return "import os\n"
                            "pids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
                            "commands = []\n"
                            "for p in pids:\n"
                            "    try:\n"
                            "        commands.append(open('/proc/%s/cmdline' % p).read())\n"
                            "    except OSError:\n"
                            "        pass\n"
                            "print(len(pids), commands)\n"
                            "assert len(pids) <= 2, pids\n"
                            "assert not any('eval_tests' in c for c in commands)\n"
                            "assert not os.listdir('/run') and not os.listdir('/sys')\n";
                   },
                   test_limits(),
                   [](const SandboxResult& r) { CHECK(r.status == Status::passed); }});
  table.push_back({"SysV shared memory dies with the sandbox",
                   [] {
                     return "import ctypes\n"
                            "libc = ctypes.CDLL(None, use_errno=True)\n"
                            "segment = libc.shmget(0x4c4d5049, 4096, 0o1000 | 0o600)\n"
                            "assert segment >= 0, ctypes.get_errno()\n"
                            "print('segment', segment)\n";
                   },
                   test_limits(),
                   [](const SandboxResult& r) {
                     CHECK(r.status == Status::passed);
                     // 0x4c4d5049 = 1280135241: not among the host's segments afterwards.
                     CHECK(read_file("/proc/sysvipc/shm").find(" 1280135241 ") ==
                           std::string::npos);
                   }});
  table.push_back({"filling the disk stops at its quota",
                   [] {
                     return "import os\n"
                            "written = 0\n"
                            "try:\n"
                            "    with open('big', 'wb') as f:\n"
                            "        for _ in range(4096):\n"
                            "            f.write(b'x' * 65536)\n"
                            "            written += 65536\n"
                            "except OSError as e:\n"
                            "    print('stopped', written >> 20, 'MiB', e)\n"
                            "files = 0\n"
                            "try:\n"
                            "    for i in range(100000):\n"
                            "        open('f%d' % i, 'w').close()\n"
                            "        files += 1\n"
                            "except OSError as e:\n"
                            "    print('stopped at', files, 'files', e)\n"
                            "assert written < 200 * 2 ** 20 and files < 100000\n";
                   },
                   [] {
                     SandboxLimits limits = test_limits();
                     limits.file_bytes = std::int64_t{1} << 30;  // the quota, not the file size
                     return limits;
                   }(),
                   [](const SandboxResult& r) {
                     CHECK(r.status == Status::passed);
                     CHECK_THAT(r.output, Contains("No space left"));
                   }});
  table.push_back(
      {"writes outside the private working directory fail and leave no trace",
       [dir] { return "open('" + (dir / "escaped.txt").string() + "', 'w').write('out')\n"; },
       test_limits(),
       [dir](const SandboxResult& r) {
         CHECK(r.status == Status::failed);
         CHECK_FALSE(std::filesystem::exists(dir / "escaped.txt"));
       }});
  table.push_back({"the working directory and /tmp are writable, and private",
                   [] {
                     return "import os\n"
                            "open('here.txt', 'w').write('ok')\n"
                            "open('/tmp/llmpi-scratch.txt', 'w').write('ok')\n"
                            "print(open('here.txt').read(), sorted(os.environ))\n";
                   },
                   test_limits(),
                   [](const SandboxResult& r) {
                     CHECK(r.status == Status::passed);
                     CHECK_FALSE(std::filesystem::exists("/tmp/llmpi-scratch.txt"));
                     // The environment is the allowlist only.
                     CHECK_THAT(r.output, Contains("['HOME', 'LANG', 'PATH', 'PYTHONHASHSEED']"));
                   }});
  return table;
}

// The results as bytes through a pipe (for the unprivileged half, run in a child process).
void send(int fd, const SandboxResult& r) {
  const auto put = [fd](const std::string& text) {
    const std::size_t size = text.size();
    if (write(fd, &size, sizeof size) != sizeof size ||
        write(fd, text.data(), size) != static_cast<ssize_t>(size)) {
      _exit(3);
    }
  };
  put(std::to_string(static_cast<int>(r.status)) + " " + std::to_string(r.wall_seconds));
  put(r.output);
  put(r.detail);
}

SandboxResult receive(int fd) {
  const auto get = [fd]() {
    std::size_t size = 0;
    REQUIRE(read(fd, &size, sizeof size) == sizeof size);
    std::string text(size, '\0');
    std::size_t done = 0;
    while (done < size) {
      const ssize_t n = read(fd, text.data() + done, size - done);
      REQUIRE(n > 0);
      done += static_cast<std::size_t>(n);
    }
    return text;
  };
  SandboxResult r;
  std::stringstream head(get());
  int status = 0;
  head >> status >> r.wall_seconds;
  r.status = static_cast<Status>(status);
  r.output = get();
  r.detail = get();
  return r;
}

void check_result(const Hostile& hostile, const SandboxResult& r, const std::string& as) {
  INFO(hostile.name << " (" << as << "): status " << status_name(r.status) << ", detail "
                    << r.detail << ", output " << r.output);
  REQUIRE(r.status != Status::sandbox_error);
  hostile.check(r);
}

// Sets up what the programs try to reach: a file held open, a listening Unix socket.
struct HostState {
  std::filesystem::path dir;
  int held_fd = -1;
  int listener = -1;
  std::filesystem::path socket_path;

  HostState() {
    dir =
        std::filesystem::temp_directory_path() / ("llmpi-sandbox-host-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    std::filesystem::permissions(dir, std::filesystem::perms::all);
    held_fd = ::open((dir / "results.h5").c_str(), O_RDWR | O_CREAT, 0666);  // no O_CLOEXEC
    REQUIRE(held_fd >= 0);
    REQUIRE(write(held_fd, "precious rows", 13) == 13);
    socket_path = dir / "daemon.sock";
    listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, socket_path.c_str(), sizeof address.sun_path - 1);
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(listener, 4) == 0);
    ::chmod(socket_path.c_str(), 0777);
  }
  ~HostState() {
    ::close(held_fd);
    ::close(listener);
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  void check_untouched() const {
    CHECK(read_file(dir / "results.h5") == "precious rows");
    CHECK(::accept(listener, nullptr, nullptr) < 0);  // nobody connected
  }
};

}  // namespace

TEST_CASE("hostile programs are contained when llmpi runs as root", "[eval][sandbox]") {
  if (geteuid() != 0) {
    WARN("not root: the root half of the sandbox tests is skipped");
    return;
  }
  HostState host;
  for (const Hostile& hostile : hostile_programs(host.dir, host.held_fd, host.socket_path)) {
    check_result(hostile, run_python_sandboxed(hostile.program(), hostile.limits), "root");
  }
  host.check_untouched();
}

TEST_CASE("hostile programs are contained when llmpi runs as an unprivileged user",
          "[eval][sandbox]") {
  HostState host;
  const auto table = hostile_programs(host.dir, host.held_fd, host.socket_path);
  int results[2];
  REQUIRE(pipe(results) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    close(results[0]);
    if (geteuid() == 0) {
      if (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(4);
      prctl(PR_SET_DUMPABLE, 1);  // as a process started by that user would be
    }
    for (const Hostile& hostile : table)
      send(results[1], run_python_sandboxed(hostile.program(), hostile.limits));
    _exit(0);
  }
  close(results[1]);
  for (const Hostile& hostile : table) check_result(hostile, receive(results[0]), "unprivileged");
  close(results[0]);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  host.check_untouched();
}

TEST_CASE("nothing the program started outlives llmpi, signalled or killed", "[eval][sandbox]") {
  // A stand-in for llmpi runs a program whose child ignores SIGTERM and would sleep a minute.
  for (const int signal : {SIGTERM, SIGKILL}) {
    INFO("llmpi gets " << signal);
    const pid_t llmpi = fork();
    REQUIRE(llmpi >= 0);
    if (llmpi == 0) {
      if (signal == SIGTERM) install_stop_handlers();
      SandboxLimits limits = test_limits();
      limits.wall_seconds = 60;
      limits.cpu_seconds = 60;
      const SandboxResult r = run_python_sandboxed(
          "import os, signal, time\n"
          "if os.fork() == 0:\n"
          "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
          "    os.setsid()\n"
          "    time.sleep(60)\n"
          "time.sleep(60)\n",
          limits);
      _exit(r.status == Status::interrupted ? 0 : 9);
    }
    // Wait for both sandboxed processes to be running, then signal the stand-in.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    std::vector<pid_t> sandboxed;
    while (sandboxed.size() < 2 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      sandboxed = descendants_running(llmpi, "program.py");
    }
    REQUIRE(sandboxed.size() == 2);
    kill(llmpi, signal);
    int status = 0;
    REQUIRE(waitpid(llmpi, &status, 0) == llmpi);
    if (signal == SIGTERM) CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    const auto gone_by = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    const auto any_left = [&] {
      return std::any_of(sandboxed.begin(), sandboxed.end(), still_running);
    };
    while (any_left() && std::chrono::steady_clock::now() < gone_by) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    CHECK_FALSE(any_left());
  }
}
