#include "llmpi/core/input_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "llmpi/core/error.hpp"

namespace llmpi {

namespace {

std::string kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

}  // namespace

void require_regular_file(const std::filesystem::path& path, const std::string& what) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    const int error = errno;
    if (error == ENOENT) throw Error(what + " " + path.string() + " does not exist");
    if (error == ELOOP) {
      throw Error(what + " " + path.string() + " cannot be read: its symbolic links loop");
    }
    throw Error(what + " " + path.string() + " cannot be read: " + std::strerror(error));
  }
  if (!S_ISREG(info.st_mode)) {
    throw Error(what + " " + path.string() + " is " + kind_of(info.st_mode) +
                ", not a regular file");
  }
}

std::string read_input_file(const std::filesystem::path& path, const std::string& what,
                            std::uint64_t max_bytes) {
  require_regular_file(path, what);
  // O_NONBLOCK: should the path become a FIFO after the check, the open still returns.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    throw Error(what + " " + path.string() + " cannot be read: " + std::strerror(errno));
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    throw Error(what + " " + path.string() + " is not a regular file");
  }
  if (static_cast<std::uint64_t>(info.st_size) > max_bytes) {
    ::close(fd);
    throw Error(what + " " + path.string() + " is " + std::to_string(info.st_size) +
                " bytes, more than the " + std::to_string(max_bytes) + " llmpi reads for it");
  }
  std::string text(static_cast<std::size_t>(info.st_size), '\0');
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t got = ::read(fd, text.data() + done, text.size() - done);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      const int error = got < 0 ? errno : 0;
      ::close(fd);
      throw Error(what + " " + path.string() + " cannot be read" +
                  (error ? std::string(": ") + std::strerror(error) : ": it got shorter"));
    }
    done += static_cast<std::size_t>(got);
  }
  ::close(fd);
  return text;
}

nlohmann::json parse_json(std::string_view text, const std::string& where, int max_depth) {
  // Nesting first, in one pass outside strings: nothing below recurses on an input this deep.
  int depth = 0;
  bool in_string = false;
  std::size_t line = 1;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') ++line;
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) {
        throw Error(where + ": JSON nested more than " + std::to_string(max_depth) +
                    " levels deep (at line " + std::to_string(line) + " of it)");
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(where + ": not valid JSON: " + e.what());
  }
}

}  // namespace llmpi
