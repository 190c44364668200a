#include "llmpi/cli/progress_line.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdlib>

namespace llmpi {

namespace {

std::string duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<long long>(seconds + 0.5);
  char text[32];
  if (s >= 3600) {
    std::snprintf(text, sizeof text, "%lldh%02lldm", s / 3600, s / 60 % 60);
  } else if (s >= 60) {
    std::snprintf(text, sizeof text, "%lldm%02llds", s / 60, s % 60);
  } else {
    std::snprintf(text, sizeof text, "%llds", s);
  }
  return text;
}

// A line redrawn in place only on a terminal llmpi writes to itself: under mpirun (which hands
// ranks a pseudo-terminal even when its own output goes to a file) and srun, plain lines.
bool redraws(std::FILE* out) {
  return ::isatty(::fileno(out)) != 0 && std::getenv("OMPI_COMM_WORLD_SIZE") == nullptr &&
         std::getenv("PMIX_RANK") == nullptr && std::getenv("SLURM_STEP_ID") == nullptr;
}

}  // namespace

ProgressLine::ProgressLine(std::FILE* out, std::chrono::seconds log_interval)
    : out_(out),
      terminal_(redraws(out)),
      log_interval_(log_interval),
      start_(std::chrono::steady_clock::now()),
      last_shown_(start_) {}

void ProgressLine::add_task(const std::string& task, std::size_t total, std::size_t done) {
  if (!tasks_.contains(task)) order_.push_back(task);
  Counts& counts = tasks_[task];
  counts.total += total;
  counts.done += done;
}

void ProgressLine::record(std::span<const RequestResult> rows) {
  for (const RequestResult& row : rows) {
    ++tasks_[row.task].done;
    ++session_done_;
    session_tokens_ += row.generated_tokens;
  }
  const auto now = std::chrono::steady_clock::now();
  if (terminal_) {
    std::fprintf(out_, "\r\033[K%s", text().c_str());
    drawn_ = true;
  } else if (now - last_shown_ >= log_interval_) {
    std::fprintf(out_, "%s\n", text().c_str());
    last_shown_ = now;
  } else {
    return;
  }
  std::fflush(out_);
}

std::string ProgressLine::text() const {
  std::string line;
  std::size_t left = 0;
  for (const std::string& task : order_) {
    const Counts& c = tasks_.at(task);
    line += (line.empty() ? "" : "  ") + task + " " + std::to_string(c.done) + "/" +
            std::to_string(c.total);
    left += c.total > c.done ? c.total - c.done : 0;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = seconds > 0 ? static_cast<double>(session_done_) / seconds : 0;
  char tail[160];
  std::snprintf(tail, sizeof tail, " | %.2f req/s, %.1f tok/s | %s left", rate,
                seconds > 0 ? session_tokens_ / seconds : 0.0,
                rate > 0 ? duration(static_cast<double>(left) / rate).c_str() : "?");
  return line + tail;
}

void ProgressLine::finish() {
  if (drawn_) {
    std::fprintf(out_, "\n");
    std::fflush(out_);
    drawn_ = false;
  }
}

}  // namespace llmpi
