#pragma once

#include <chrono>
#include <cstdio>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "llmpi/results/records.hpp"

namespace llmpi {

// What rank 0 shows while a long run goes: per task done/total, requests and generated tokens
// per second, and the time left at the recent rate. On a terminal it is one line redrawn in
// place; in a batch log (Slurm's output file) a plain line every `log_interval`.
class ProgressLine {
 public:
  ProgressLine(std::FILE* out, std::chrono::seconds log_interval);

  // A task's requests: all of them, and how many an earlier session finished.
  void add_task(const std::string& task, std::size_t total, std::size_t done);
  // Rows just written.
  void record(std::span<const RequestResult> rows);
  // The line as it stands ("gsm8k 120/1319 humaneval 0/164 | 2.31 req/s ...").
  std::string text() const;
  // Ends a redrawn line so later output starts on a line of its own.
  void finish();

 private:
  struct Counts {
    std::size_t total = 0;
    std::size_t done = 0;
  };
  std::FILE* out_;
  bool terminal_;
  std::chrono::seconds log_interval_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_shown_;
  std::vector<std::string> order_;
  std::map<std::string, Counts> tasks_;
  std::size_t session_done_ = 0;
  double session_tokens_ = 0;
  bool drawn_ = false;
};

}  // namespace llmpi
