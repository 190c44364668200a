#include "sandbox_cgroup.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace llmpi {

namespace {

// A cgroup filesystem mounted here: its mount point and, for v1, its controllers.
struct CgroupMount {
  std::string point;
  std::string options;  // v1 super options ("rw,memory"); empty for v2
};

std::vector<std::pair<std::string, CgroupMount>> cgroup_mounts() {
  std::vector<std::pair<std::string, CgroupMount>> mounts;  // type -> mount
  std::ifstream mountinfo("/proc/self/mountinfo");
  for (std::string line; std::getline(mountinfo, line);) {
    std::stringstream fields(line);
    std::string id, parent, device, root, point, options, word, type, source, super;
    fields >> id >> parent >> device >> root >> point >> options;
    while (fields >> word && word != "-") {
    }
    fields >> type >> source >> super;
    if (type == "cgroup2") mounts.push_back({type, {point, ""}});
    if (type == "cgroup") mounts.push_back({type, {point, super}});
  }
  return mounts;
}

std::string listed_path(const std::string& controller);

// This process's cgroup path in the v2 hierarchy ("0::/path") or a v1 controller's, without
// a trailing slash ("" for the root).
std::string own_path(const std::string& controller) {
  std::string path = listed_path(controller);
  while (!path.empty() && path.back() == '/') path.pop_back();
  return path;
}

std::string listed_path(const std::string& controller) {
  std::ifstream cgroups("/proc/self/cgroup");
  for (std::string line; std::getline(cgroups, line);) {
    const std::size_t first = line.find(':');
    const std::size_t second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    std::stringstream names(controllers);
    bool match = controller.empty() && controllers.empty();
    for (std::string name; !match && std::getline(names, name, ',');) match = name == controller;
    if (match) return line.substr(second + 1);
  }
  return "";
}

bool write_value(const std::string& path, const std::string& value) {
  std::ofstream file(path);
  file << value;
  file.flush();
  return static_cast<bool>(file);
}

bool has_word(const std::string& text, const std::string& word) {
  std::stringstream words(text);
  for (std::string w; words >> w;) {
    if (w == word) return true;
  }
  return false;
}

std::string unique_name() {
  static std::atomic<int> counter{0};
  return "llmpi-sandbox-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

}  // namespace

std::unique_ptr<SandboxCgroup> SandboxCgroup::create(std::int64_t memory_bytes, int processes,
                                                     std::string& why_not) {
  std::unique_ptr<SandboxCgroup> group(new SandboxCgroup());
  const std::string name = unique_name();
  const auto mounts = cgroup_mounts();
  // cgroup v2, where this process's cgroup hands memory and pids to its children.
  for (const auto& [type, mount] : mounts) {
    if (type != "cgroup2") continue;
    const std::string parent = mount.point + own_path("");
    std::ifstream subtree(parent + "/cgroup.subtree_control");
    std::string enabled((std::istreambuf_iterator<char>(subtree)),
                        std::istreambuf_iterator<char>());
    if (!has_word(enabled, "memory") || !has_word(enabled, "pids")) continue;
    const std::string dir = parent + "/" + name;
    if (::mkdir(dir.c_str(), 0755) != 0) continue;
    group->dirs_.push_back(dir);
    if (!write_value(dir + "/memory.max", std::to_string(memory_bytes)) ||
        !write_value(dir + "/pids.max", std::to_string(processes))) {
      group.reset();
      why_not = "cannot set limits in " + dir;
      return nullptr;
    }
    write_value(dir + "/memory.swap.max", "0");  // absent without swap accounting: fine
    group->join_files_ = {dir + "/cgroup.procs"};
    group->oom_file_ = dir + "/memory.events";
    group->description_ = "cgroup v2 at " + dir;
    return group;
  }
  // cgroup v1: one directory in the memory hierarchy and one in the pids hierarchy.
  std::string memory_dir, pids_dir;
  for (const auto& [type, mount] : mounts) {
    if (type != "cgroup") continue;
    std::stringstream options(mount.options);
    for (std::string option; std::getline(options, option, ',');) {
      if (option == "memory") memory_dir = mount.point + own_path("memory") + "/" + name;
      if (option == "pids") pids_dir = mount.point + own_path("pids") + "/" + name;
    }
  }
  if (memory_dir.empty() || pids_dir.empty()) {
    why_not =
        "no cgroup v2 with memory and pids delegated, and no cgroup v1 memory and pids "
        "hierarchies";
    return nullptr;
  }
  for (const std::string& dir : {memory_dir, pids_dir}) {
    if (::mkdir(dir.c_str(), 0755) != 0) {
      why_not = "cannot create " + dir + ": " + std::strerror(errno);
      return nullptr;  // the destructor removes what was made
    }
    group->dirs_.push_back(dir);
  }
  const std::string limit = std::to_string(memory_bytes);
  if (!write_value(memory_dir + "/memory.limit_in_bytes", limit) ||
      !write_value(pids_dir + "/pids.max", std::to_string(processes))) {
    why_not = "cannot set limits in " + memory_dir + " and " + pids_dir;
    return nullptr;
  }
  // Memory and swap together, where swap is accounted.
  if (std::filesystem::exists(memory_dir + "/memory.memsw.limit_in_bytes")) {
    write_value(memory_dir + "/memory.memsw.limit_in_bytes", limit);
  }
  group->join_files_ = {memory_dir + "/cgroup.procs", pids_dir + "/cgroup.procs"};
  group->oom_file_ = memory_dir + "/memory.oom_control";
  group->description_ = "cgroup v1 (" + memory_dir + ", " + pids_dir + ")";
  return group;
}

SandboxCgroup::~SandboxCgroup() {
  // Its processes died with the sandbox's PID namespace; their exit may take a moment to be
  // accounted, so removal is retried briefly.
  for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
    for (int attempt = 0; attempt < 100 && ::rmdir(it->c_str()) != 0 && errno == EBUSY; ++attempt) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
}

bool SandboxCgroup::admit(int pid) const {
  for (const std::string& file : join_files_) {
    if (!write_value(file, std::to_string(pid))) return false;
  }
  return true;
}

bool SandboxCgroup::out_of_memory() const {
  std::ifstream file(oom_file_);
  for (std::string key, value; file >> key >> value;) {
    if (key == "oom_kill" && value != "0") return true;
  }
  return false;
}

}  // namespace llmpi
