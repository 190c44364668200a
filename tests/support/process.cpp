#include "process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace llmpi::testing {

Spawned::Spawned(const std::string& command) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::setpgid(0, 0);
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::dup2(pipe_fds[1], STDERR_FILENO);
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::setpgid(pid_, pid_);
  ::close(pipe_fds[1]);
  out_ = pipe_fds[0];
}

Spawned::~Spawned() {
  if (!ended_) {
    ::kill(-pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  if (out_ >= 0) ::close(out_);
}

bool Spawned::read_some(std::chrono::milliseconds timeout) {
  pollfd fd{out_, POLLIN, 0};
  if (::poll(&fd, 1, static_cast<int>(timeout.count())) <= 0) return true;
  char buffer[4096];
  const ssize_t got = ::read(out_, buffer, sizeof buffer);
  if (got <= 0) return false;  // every writer gone
  output_.append(buffer, static_cast<std::size_t>(got));
  return true;
}

bool Spawned::wait_for(const std::string& text, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (output_.find(text) == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    if (!read_some(std::min(left, std::chrono::milliseconds(200)))) {
      return output_.find(text) != std::string::npos;
    }
  }
  return true;
}

CommandResult Spawned::finish(std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool open = true;
  while (open && std::chrono::steady_clock::now() < deadline) {
    open = read_some(std::chrono::milliseconds(200));
  }
  if (open) ::kill(-pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  ended_ = true;
  CommandResult result;
  result.output = output_;
  result.crashed = open || !WIFEXITED(status) || WEXITSTATUS(status) >= 124;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

void Spawned::signal_all(int signal) const {
  ::kill(-pid_, signal);
}

pid_t find_rank_pid(const std::string& marker, int rank) {
  const std::string wanted_ompi = "OMPI_COMM_WORLD_RANK=" + std::to_string(rank);
  const std::string wanted_pmix = "PMIX_RANK=" + std::to_string(rank);
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", error)) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream cmdline(entry.path() / "cmdline", std::ios::binary);
    const std::string command((std::istreambuf_iterator<char>(cmdline)),
                              std::istreambuf_iterator<char>());
    if (command.find(marker) == std::string::npos || command.find("llmpi") == std::string::npos) {
      continue;
    }
    std::ifstream environ(entry.path() / "environ", std::ios::binary);
    const std::string variables((std::istreambuf_iterator<char>(environ)),
                                std::istreambuf_iterator<char>());
    std::size_t start = 0;
    while (start < variables.size()) {
      const std::size_t end = variables.find('\0', start);
      const std::string variable = variables.substr(start, end - start);
      if (variable == wanted_ompi || variable == wanted_pmix) return std::stoi(name);
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
  return -1;
}

}  // namespace llmpi::testing
