#include <hdf5.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "llmpi/core/error.hpp"
#include "llmpi/results/results_file.hpp"
#include "llmpi/results/summary.hpp"

using namespace llmpi;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

// A fresh directory per test, removed afterwards.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "llmpi-results-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() {
    std::error_code error;
    fs::remove_all(path, error);
  }
};

RunMetadata sample_metadata() {
  RunMetadata m;
  m.preset_name = "llama2-70b-tp4";
  m.preset_yaml = "name: llama2-70b-tp4\nmodel: meta-llama/Llama-2-70b-hf\ntp: 4\npp: 1\n";
  m.model_config_json = R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 8192})";
  m.backend = "cuda";
  m.command_line = "llmpi eval --preset llama2-70b-tp4 --results run.h5";
  m.versions = {{"llmpi", "0.1.0"}, {"mpi", "Open MPI 4.1.4"}};
  m.start_time = "2024-05-01T12:00:00Z";
  m.world_size = 8;
  m.nodes = 2;
  m.tp = 4;
  m.pp = 1;
  m.dp = 2;
  for (int rank = 0; rank < 8; ++rank) {
    m.ranks.push_back({rank, rank < 4 ? "gpu-a" : "gpu-b", rank / 4, rank % 4, rank % 4});
  }
  return m;
}

// Rows `first` .. `first + count - 1`: even ones multiple choice (arc), odd ones generation
// (gsm8k). `text_bytes` pads the generated text.
std::vector<RequestResult> batch(int first, int count, std::size_t text_bytes = 0) {
  std::vector<RequestResult> rows;
  for (int i = first; i < first + count; ++i) {
    RequestResult r;
    const bool choice = i % 2 == 0;
    r.id = (choice ? "arc/" : "gsm8k/") + std::to_string(i);
    r.task = choice ? "arc" : "gsm8k";
    r.category = choice ? "reasoning" : "math";
    r.prompt_tokens = 100 + i;
    r.generated_tokens = choice ? 0 : 20 + i;
    r.latency_s = 0.5 + 0.01 * i;
    r.ttft_s = 0.1 + 0.001 * i;
    r.score = i % 3 == 0 ? 1.0 : 0.0;
    r.score_normalised = i % 5 == 0 ? 1.0 : r.score;
    r.detail = "predicted " + std::to_string(i);
    if (i % 7 == 3) {
      r.status = i % 2 == 0 ? RequestStatus::skipped : RequestStatus::failed;
      r.error = "scorer: no \"####\" in line " + std::to_string(i);
      r.score = r.score_normalised = r.status == RequestStatus::failed ? 0.0 : kNotScored;
    }
    if (choice) {
      r.choice_loglik = {-1.5 - i, -2.25, -0.75, -3.0};
      r.choice_loglik_normalised = {-0.5, -0.75, -0.25, -1.0};
      r.chosen = 2;
    } else {
      r.generated_text = "π ≈ 3.14 — #### " + std::to_string(i) + std::string(text_bytes, 'x');
      r.generated_token_ids = {1, 2, 3, i};
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

std::set<std::string> ids_of(const std::vector<RequestResult>& rows) {
  std::set<std::string> ids;
  for (const auto& r : rows) ids.insert(r.id);
  return ids;
}

std::set<std::string> ids_of(const std::unordered_set<std::string>& ids) {
  return {ids.begin(), ids.end()};
}

void check_same_row(const RequestResult& got, const RequestResult& want) {
  INFO("request " << want.id);
  CHECK(got.id == want.id);
  CHECK(got.task == want.task);
  CHECK(got.category == want.category);
  CHECK(got.prompt_tokens == want.prompt_tokens);
  CHECK(got.generated_tokens == want.generated_tokens);
  CHECK(got.latency_s == want.latency_s);
  CHECK(got.ttft_s == want.ttft_s);
  CHECK((got.score == want.score || (std::isnan(got.score) && std::isnan(want.score))));
  CHECK(got.generated_text == want.generated_text);
  CHECK(got.generated_token_ids == want.generated_token_ids);
  CHECK(got.choice_loglik == want.choice_loglik);
  CHECK(got.choice_loglik_normalised == want.choice_loglik_normalised);
  CHECK(got.chosen == want.chosen);
  CHECK(got.status == want.status);
  CHECK(got.error == want.error);
  CHECK(got.detail == want.detail);
  CHECK((got.score_normalised == want.score_normalised ||
         (std::isnan(got.score_normalised) && std::isnan(want.score_normalised))));
}

// Output and exit status of a shell command (stderr included).
std::pair<int, std::string> run(const std::string& command) {
  std::string output;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  while (const std::size_t n = fread(buffer, 1, sizeof(buffer), pipe)) output.append(buffer, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

bool have_h5dump() {
  return std::string(LLMPI_H5DUMP).size() > 0 && fs::exists(LLMPI_H5DUMP);
}

// Rewrites the schema version attribute with the raw HDF5 API, as another program might.
void set_schema_version(const fs::path& path, long long version) {
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  REQUIRE(file >= 0);
  const hid_t attribute = H5Aopen(file, "llmpi_results_schema_version", H5P_DEFAULT);
  REQUIRE(attribute >= 0);
  CHECK(H5Awrite(attribute, H5T_NATIVE_LLONG, &version) >= 0);
  H5Aclose(attribute);
  H5Fclose(file);
}

// Another process writing `path`: it creates the file with `rows` rows and holds it open until
// release(), then appends `more_rows` more and closes it.
class OtherWriter {
 public:
  OtherWriter(const fs::path& path, int rows, int more_rows = 0) {
    REQUIRE(pipe(ready_) == 0);
    REQUIRE(pipe(done_) == 0);
    child_ = fork();
    REQUIRE(child_ >= 0);
    if (child_ == 0) {
      try {
        ResultsFile file = ResultsFile::create(path, sample_metadata());
        file.append(batch(0, rows));
        file.flush();
        char byte = 1;
        if (write(ready_[1], &byte, 1) != 1) _exit(3);
        if (read(done_[0], &byte, 1) != 1) _exit(3);  // hold the file open until told
        if (more_rows > 0) file.append(batch(rows, more_rows));
        file.close();
      } catch (...) {
        _exit(3);
      }
      _exit(0);
    }
    char byte = 0;
    REQUIRE(read(ready_[0], &byte, 1) == 1);
  }
  ~OtherWriter() {
    for (const int fd : {ready_[0], ready_[1], done_[0], done_[1]}) close(fd);
  }
  // Lets it finish; checks that it did.
  void release() {
    char byte = 1;
    REQUIRE(write(done_[1], &byte, 1) == 1);
    int status = 0;
    REQUIRE(waitpid(child_, &status, 0) == child_);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  }

 private:
  int ready_[2] = {-1, -1};
  int done_[2] = {-1, -1};
  pid_t child_ = -1;
};

}  // namespace

TEST_CASE("a run written in three batches reads back field by field", "[results]") {
  TempDir dir;
  const fs::path path = dir.path / "run.h5";
  std::vector<RequestResult> all;
  {
    ResultsFile file = ResultsFile::create(path, sample_metadata());
    for (int b = 0; b < 3; ++b) {
      const auto rows = batch(b * 5, 5);
      file.append(rows);
      file.flush();
      all.insert(all.end(), rows.begin(), rows.end());
    }
    // Invalid UTF-8 (a character cut off by max_new_tokens) and a NUL become U+FFFD.
    RequestResult cut = batch(15, 1)[0];
    cut.generated_text = std::string("ok \xE2\x82", 5) + std::string(1, '\0') + "!";
    file.append(std::span(&cut, 1));
    cut.generated_text = "ok \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD!";
    all.push_back(cut);
    CHECK(file.rows() == 16);

    const auto stored = file.read_requests();
    REQUIRE(stored.size() == all.size());
    file.write_summaries(summarise_tasks(stored), run_stats(stored, 8.0));
    file.set_end_time("2024-05-01T13:00:00Z");
    file.close();
    CHECK_THROWS_WITH(file.flush(), Contains(path.string()) && Contains("is closed"));
  }

  const ResultsReader reader(path);
  const RunMetadata& m = reader.metadata();
  const RunMetadata given = sample_metadata();
  CHECK(m.preset_name == given.preset_name);
  CHECK(m.preset_yaml == given.preset_yaml);
  CHECK(m.model_config_json == given.model_config_json);
  CHECK(m.backend == "cuda");
  CHECK(m.command_line == given.command_line);
  CHECK(m.start_time == "2024-05-01T12:00:00Z");
  CHECK(m.end_time == "2024-05-01T13:00:00Z");
  CHECK(m.world_size == 8);
  CHECK(m.nodes == 2);
  CHECK(m.tp == 4);
  CHECK(m.pp == 1);
  CHECK(m.dp == 2);
  REQUIRE(m.ranks.size() == 8);
  CHECK(m.ranks[5].rank == 5);
  CHECK(m.ranks[5].host == "gpu-b");
  CHECK(m.ranks[5].node == 1);
  CHECK(m.ranks[5].local_rank == 1);
  CHECK(m.ranks[5].device == 1);
  CHECK(m.versions.at("llmpi") == "0.1.0");
  CHECK(m.versions.at("mpi") == "Open MPI 4.1.4");
  CHECK(m.versions.at("hdf5").starts_with("1."));

  const auto sessions = reader.sessions();
  REQUIRE(sessions.size() == 1);
  CHECK(sessions[0].start_time == "2024-05-01T12:00:00Z");
  CHECK(sessions[0].end_time == "2024-05-01T13:00:00Z");
  CHECK(sessions[0].first_row == 0);

  CHECK(reader.rows() == 16);
  const auto rows = reader.requests();
  REQUIRE(rows.size() == all.size());
  for (std::size_t i = 0; i < rows.size(); ++i) check_same_row(rows[i], all[i]);
  const auto slim = reader.requests(false);
  CHECK(slim[1].id == all[1].id);
  CHECK(slim[1].latency_s == all[1].latency_s);
  CHECK(slim[1].generated_text.empty());
  CHECK(slim[0].choice_loglik.empty());

  const auto tasks = reader.task_summaries();
  REQUIRE(tasks.size() == 2);
  CHECK(tasks[0].task == "arc");
  CHECK(tasks[0].category == "reasoning");
  CHECK(tasks[0].requests == 8);
  CHECK(tasks[1].task == "gsm8k");
  CHECK(tasks[1].generated_tokens == summarise_tasks(all)[1].generated_tokens);
  const auto categories = reader.category_summaries();
  REQUIRE(categories.size() == 2);
  CHECK(categories[0].category == "math");
  CHECK(categories[0].tasks == 1);
  CHECK(categories[1].requests == 8);
  const auto stats = reader.run_stats();
  REQUIRE(stats.has_value());
  CHECK(stats->requests == 16);
  CHECK(stats->wall_time_s == 8.0);
  CHECK(stats->requests_per_s == Approx(2.0));

  if (have_h5dump()) {
    const auto [status, dump] = run(std::string(LLMPI_H5DUMP) + " -d /requests " + path.string());
    CHECK(status == 0);
    CHECK_THAT(dump, Contains("\"arc/0\"") && Contains("\"gsm8k/15\"") &&
                         Contains("choice_loglik_normalised"));
    const auto [header_status, header] = run(std::string(LLMPI_H5DUMP) + " -H " + path.string());
    CHECK(header_status == 0);
    CHECK_THAT(header, Contains("ATTRIBUTE \"llmpi_results_schema_version\"") &&
                           Contains("GROUP \"telemetry\"") && Contains("DATASET \"preset_yaml\""));
  } else {
    WARN("h5dump not found: the h5dump check is skipped");
  }
}

TEST_CASE("an existing file is refused unless overwriting", "[results][bad-input]") {
  TempDir dir;
  const fs::path path = dir.path / "run.h5";
  ResultsFile::create(path, sample_metadata()).close();
  CHECK_THROWS_WITH(ResultsFile::create(path, sample_metadata()),
                    Contains("results file " + path.string() + " already exists") &&
                        Contains("--resume") && Contains("--overwrite"));
  // Something that is not a results file is not replaced either.
  const fs::path notes = dir.path / "notes.txt";
  std::ofstream(notes) << "mine\n";
  CHECK_THROWS_WITH(ResultsFile::create(notes, sample_metadata()), Contains("already exists"));
  CHECK(fs::file_size(notes) == 5);

  ResultsFile replaced = ResultsFile::create(path, sample_metadata(), OpenMode::overwrite);
  replaced.append(batch(0, 2));
  replaced.close();
  CHECK(ResultsReader(path).rows() == 2);
}

TEST_CASE("resume reports exactly the finished ids and appends after them", "[results]") {
  TempDir dir;
  const fs::path path = dir.path / "run.h5";
  {
    ResultsFile file = ResultsFile::create(path, sample_metadata());
    file.append(batch(0, 4));
    file.flush();
    file.append(batch(4, 4));
    file.flush();
  }  // no close(), no end time: as a run stopped between batches
  ResultsFile file = ResultsFile::resume(path, "2024-05-02T08:00:00Z");
  auto first_two = batch(0, 8);
  CHECK(ids_of(file.finished_ids()) == ids_of(first_two));
  CHECK(file.rows() == 8);
  CHECK(file.trimmed_rows() == 0);
  CHECK(file.metadata().preset_yaml == sample_metadata().preset_yaml);

  CHECK_THROWS_WITH(file.append(batch(6, 4)), Contains(path.string()) &&
                                                  Contains("request 0 ('arc/6') is already in") &&
                                                  Contains("nothing written"));
  file.append(batch(8, 4));
  file.write_summaries(summarise_tasks(file.read_requests(false)), RunStats{});
  file.set_end_time("2024-05-02T09:00:00Z");
  file.close();

  {
    const ResultsReader reader(path);  // closed before the next resume: HDF5 refuses to reopen
                                       // for writing a file this process has open read-only
    const auto rows = reader.requests();
    CHECK(rows.size() == 12);
    CHECK(ids_of(rows).size() == 12);
    const auto sessions = reader.sessions();
    REQUIRE(sessions.size() == 2);
    CHECK(sessions[0].end_time.empty());
    CHECK(sessions[1].start_time == "2024-05-02T08:00:00Z");
    CHECK(sessions[1].end_time == "2024-05-02T09:00:00Z");
    CHECK(sessions[1].first_row == 8);
    CHECK(reader.metadata().start_time == "2024-05-01T12:00:00Z");
    CHECK(reader.task_summaries()[0].requests == 6);
  }

  // Resuming a finished run again: every id is finished, the summary is rewritten in place.
  ResultsFile again = ResultsFile::resume(path);
  CHECK(again.finished_ids().size() == 12);
  CHECK(again.metadata().end_time.empty());
  again.write_summaries(summarise_tasks(again.read_requests(false)), RunStats{});
  again.close();
  CHECK(ResultsReader(path).task_summaries().size() == 2);
  CHECK(ResultsReader(path).sessions().size() == 3);
}

TEST_CASE("a killed writer loses only the batch it had not flushed", "[results][crash]") {
  // A small third batch, and one large enough (about 8 MiB of text) that HDF5 writes parts of
  // it to the file before the kill.
  const std::size_t text_bytes = GENERATE(std::size_t{0}, std::size_t{4096});
  const bool sigkill = GENERATE(true, false);
  TempDir dir;
  const fs::path path = dir.path / "run.h5";
  const int third_rows = text_bytes > 0 ? 2000 : 5;

  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    try {
      ResultsFile file = ResultsFile::create(path, sample_metadata());
      file.append(batch(0, 5));
      file.flush();
      file.append(batch(5, 5));
      file.flush();
      file.append(batch(10, third_rows, text_bytes));  // in flight: never flushed
      // Die with the file open: no destructor, no HDF5 atexit closes it.
      if (sigkill) raise(SIGKILL);
      _exit(0);
    } catch (...) {
      _exit(3);
    }
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  if (sigkill) {
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
  } else {
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
  }

  ResultsFile file = ResultsFile::resume(path);
  CHECK(ids_of(file.finished_ids()) == ids_of(batch(0, 10)));
  CHECK(file.rows() == 10);
  const auto third = batch(10, third_rows, text_bytes);
  file.append(third);
  file.close();

  const ResultsReader reader(path);
  const auto rows = reader.requests();
  REQUIRE(rows.size() == static_cast<std::size_t>(10 + third_rows));
  CHECK(ids_of(rows).size() == rows.size());
  check_same_row(rows[3], batch(3, 1)[0]);
  check_same_row(rows.back(), third.back());
  CHECK(reader.sessions().size() == 2);
}

TEST_CASE("a file another process is writing is refused, and readable without locking",
          "[results][crash]") {
  TempDir dir;
  const fs::path path = dir.path / "run.h5";
  OtherWriter writer(path, 3);
  CHECK_THROWS_WITH(ResultsFile::resume(path), Contains(path.string()) &&
                                                   Contains("unable to lock file") &&
                                                   Contains("is another llmpi run writing it?"));
  CHECK_THROWS_WITH(ResultsReader{path}, Contains("HDF5_USE_FILE_LOCKING=FALSE"));
  if (have_h5dump()) {
    const auto [status, dump] = run("HDF5_USE_FILE_LOCKING=FALSE " + std::string(LLMPI_H5DUMP) +
                                    " -d /requests " + path.string());
    CHECK(status == 0);
    CHECK_THAT(dump, Contains("\"gsm8k/1\""));
  }
  writer.release();
  CHECK(ResultsFile::resume(path).finished_ids().size() == 3);
}

TEST_CASE("files that are not llmpi results files are refused clearly", "[results][bad-input]") {
  TempDir dir;
  const fs::path missing = dir.path / "missing.h5";
  CHECK_THROWS_WITH(ResultsFile::resume(missing), Contains(missing.string()) &&
                                                      Contains("does not exist") &&
                                                      Contains("without --resume"));
  CHECK_THROWS_WITH(ResultsReader{missing}, Contains(missing.string()));

  const fs::path text = dir.path / "notes.h5";
  std::ofstream(text) << "not hdf5\n";
  CHECK_THROWS_WITH(ResultsFile::resume(text),
                    Contains(text.string()) && Contains("is not an HDF5 file"));

  const fs::path other = dir.path / "other.h5";
  const hid_t file = H5Fcreate(other.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
  REQUIRE(file >= 0);
  H5Fclose(file);
  CHECK_THROWS_WITH(ResultsFile::resume(other),
                    Contains(other.string()) && Contains("not an llmpi results file"));
  CHECK_THROWS_WITH(ResultsReader{other}, Contains("not an llmpi results file"));

  const fs::path future = dir.path / "future.h5";
  ResultsFile::create(future, sample_metadata()).close();
  set_schema_version(future, 99);
  CHECK_THROWS_WITH(ResultsFile::resume(future), Contains(future.string()) &&
                                                     Contains("results schema version 99") &&
                                                     Contains("reads versions 1 to 4"));
}

TEST_CASE("a truncated file is reported as damaged, not as held by another process",
          "[results][bad-input]") {
  TempDir dir;
  const fs::path path = dir.path / "run.h5";
  {
    ResultsFile file = ResultsFile::create(path, sample_metadata());
    file.append(batch(0, 50, 256));
    file.close();
  }
  fs::resize_file(path, fs::file_size(path) / 2);
  for (const auto& attempt : std::vector<std::function<void()>>{
           [&] { ResultsFile::resume(path); }, [&] { ResultsReader{path}.requests(); }}) {
    try {
      attempt();
      FAIL("a truncated file was read");
    } catch (const Error& e) {
      CHECK_THAT(e.what(), Contains(path.string()) && !Contains("another process"));
    }
  }
}

TEST_CASE("unwritable paths are refused with the path", "[results][bad-input]") {
  TempDir dir;
  const fs::path no_dir = dir.path / "nowhere" / "run.h5";
  CHECK_THROWS_WITH(ResultsFile::create(no_dir, sample_metadata()),
                    Contains(no_dir.string()) && Contains("does not exist"));
  const fs::path file_parent = dir.path / "plain";
  std::ofstream(file_parent) << "x";
  CHECK_THROWS_WITH(ResultsFile::create(file_parent / "run.h5", sample_metadata()),
                    Contains((file_parent / "run.h5").string()) &&
                        Contains(file_parent.string() + " is not a directory"));
  CHECK_THROWS_WITH(ResultsFile::create(dir.path, sample_metadata()),
                    Contains(dir.path.string()) && Contains("is a directory"));
  // Nobody, root included, creates files in /proc: HDF5's own refusal, with its reason.
  CHECK_THROWS_WITH(ResultsFile::create("/proc/llmpi-run.h5", sample_metadata()),
                    Contains("/proc/llmpi-run.h5: cannot create the results file") &&
                        Contains("unable to open file: No such file or directory"));
  CHECK_FALSE(fs::exists(dir.path / "nowhere"));
}

TEST_CASE("bad batches and metadata are refused before anything is written",
          "[results][bad-input]") {
  TempDir dir;
  const fs::path path = dir.path / "run.h5";
  RunMetadata wrong = sample_metadata();
  wrong.dp = 1;
  CHECK_THROWS_WITH(ResultsFile::create(path, wrong),
                    Contains(path.string()) && Contains("world size 8 is not dp x pp x tp"));
  CHECK_FALSE(fs::exists(path));

  ResultsFile file = ResultsFile::create(path, sample_metadata());
  const auto refused = [&](auto change, const std::string& message) {
    auto rows = batch(0, 3);
    change(rows[1]);
    CHECK_THROWS_WITH(file.append(rows),
                      Contains(path.string()) && Contains(message) && Contains("nothing written"));
    CHECK(file.rows() == 0);
  };
  refused([](RequestResult& r) { r.id.clear(); }, "request 1 ('') has an empty id");
  refused([](RequestResult& r) { r.id = "arc/0"; }, "appears twice in the batch");
  refused([](RequestResult& r) { r.task = "bad\xFF"; }, "has a task that is not UTF-8");
  refused([](RequestResult& r) { r.generated_tokens = -1; }, "negative token count");
  refused([](RequestResult& r) { r.choice_loglik = {-1.0}; },
          "has 1 choice log-likelihoods but 0 normalised ones");
  refused([](RequestResult& r) { r.chosen = 0; }, "chosen = 0 for 0 choices");
  file.append(batch(0, 3));
  CHECK(file.rows() == 3);

  ResultsFile moved = std::move(file);
  CHECK(moved.rows() == 3);
  CHECK_THROWS_WITH(file.rows(), Contains("moved from"));  // NOLINT(bugprone-use-after-move)
}

TEST_CASE("overwriting a file another process is writing leaves it whole", "[results][bad-input]") {
  TempDir dir;
  const fs::path path = dir.path / "run.h5";
  OtherWriter writer(path, 30, 30);  // goes on writing after the refusal
  CHECK_THROWS_WITH(ResultsFile::create(path, sample_metadata(), OpenMode::overwrite),
                    Contains(path.string()) && Contains("another process has it open") &&
                        Contains("left as it is"));
  writer.release();
  CHECK(ResultsReader(path).rows() == 60);
  // No staging file is left behind.
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
}

TEST_CASE("a path that is not a regular file is refused and left alone", "[results][bad-input]") {
  TempDir dir;
  for (const bool overwrite : {false, true}) {
    const OpenMode mode = overwrite ? OpenMode::overwrite : OpenMode::fail_if_exists;
    INFO("overwrite " << overwrite);
    CHECK_THROWS_WITH(ResultsFile::create("/dev/null", sample_metadata(), mode),
                      Contains("/dev/null") && Contains("a character device"));
    CHECK(fs::is_character_file("/dev/null"));
  }
  const fs::path fifo = dir.path / "fifo.h5";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  // Nothing opens the FIFO (which would wait for a writer forever).
  CHECK_THROWS_WITH(ResultsFile::create(fifo, sample_metadata(), OpenMode::overwrite),
                    Contains(fifo.string()) && Contains("a FIFO"));
  CHECK_THROWS_WITH(ResultsFile::resume(fifo), Contains(fifo.string()) && Contains("a FIFO"));
  CHECK_THROWS_WITH(ResultsReader{fifo}, Contains("a FIFO, not a regular file"));
  CHECK(fs::is_fifo(fifo));

  const fs::path real = dir.path / "real.h5";
  ResultsFile::create(real, sample_metadata()).close();
  const fs::path link = dir.path / "link.h5";
  fs::create_symlink(real, link);
  CHECK_THROWS_WITH(ResultsFile::create(link, sample_metadata(), OpenMode::overwrite),
                    Contains("a symbolic link"));
  CHECK(fs::is_symlink(link));
}

TEST_CASE("a failed create never removes what was there", "[results][bad-input]") {
  TempDir dir;
  const fs::path path = dir.path / "run.h5";
  {
    ResultsFile file = ResultsFile::create(path, sample_metadata());
    file.append(batch(0, 12));
    file.close();
  }
  RunMetadata wrong = sample_metadata();
  wrong.tp = 0;
  CHECK_THROWS(ResultsFile::create(path, wrong, OpenMode::overwrite));
  // The staging name taken by something else: creation fails, and neither is touched.
  const fs::path squatter = dir.path / (".run.h5.llmpi-new-" + std::to_string(getpid()));
  fs::create_directory(squatter);
  CHECK_THROWS_WITH(ResultsFile::create(path, sample_metadata(), OpenMode::overwrite),
                    Contains(path.string()) && Contains("cannot create the results file"));
  CHECK(fs::is_directory(squatter));
  fs::remove(squatter);
  CHECK(ResultsReader(path).rows() == 12);
  // A successful overwrite replaces it only once the new file is complete.
  ResultsFile::create(path, sample_metadata(), OpenMode::overwrite).close();
  CHECK(ResultsReader(path).rows() == 0);
}

TEST_CASE("a full disk stops the writes with the file as last flushed; --resume continues it",
          "[results][crash]") {
  TempDir dir;
  const fs::path path = dir.path / "run.h5";
  int report[2];
  REQUIRE(pipe(report) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // A file-size limit stands in for a full disk: writes past it fail with EFBIG.
    signal(SIGXFSZ, SIG_IGN);
    long long flushed = -1;
    try {
      ResultsFile file = ResultsFile::create(path, sample_metadata());
      const struct rlimit limit {
        static_cast<rlim_t>(fs::file_size(path)) + (4 << 20), RLIM_INFINITY
      };
      if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(4);
      for (int first = 0; first < 100000; first += 40) {
        file.append(batch(first, 40, 2048));
        file.flush();
        flushed = first + 40;
      }
      _exit(5);  // the limit never hit
    } catch (const Error& e) {
      const std::string message = e.what();
      // Refused before HDF5 wrote anything (the reservation failed), naming what the file keeps.
      const bool explained =
          message.find(std::to_string(flushed) + " flushed rows intact") != std::string::npos &&
          message.find("--resume") != std::string::npos;
      if (write(report[1], &flushed, sizeof flushed) != sizeof flushed) _exit(3);
      _exit(explained ? 0 : 6);  // destructors run: the abandoned file must not be closed
    }
  }
  close(report[1]);
  long long flushed = -1;
  REQUIRE(read(report[0], &flushed, sizeof flushed) == sizeof flushed);
  close(report[0]);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  REQUIRE(flushed > 0);

  {
    const ResultsReader reader(path);
    const auto rows = reader.requests();
    CHECK(static_cast<long long>(rows.size()) == flushed);
    check_same_row(rows[static_cast<std::size_t>(flushed - 1)],
                   batch(static_cast<int>(flushed) - 1, 1, 2048)[0]);
  }
  ResultsFile file = ResultsFile::resume(path);
  CHECK(static_cast<long long>(file.rows()) == flushed);
  const int next = static_cast<int>(file.rows());
  file.append(batch(next, 40, 2048));
  file.close();
  const auto rows = ResultsReader(path).requests();
  CHECK(rows.size() == static_cast<std::size_t>(next + 40));
  CHECK(ids_of(rows).size() == rows.size());
}

TEST_CASE("version 1 files are read and reported, but not appended to", "[results]") {
  const fs::path fixture = LLMPI_FIXTURES_DIR "/results/schema1.h5";
  const ResultsReader reader(fixture);
  CHECK(reader.schema_version() == 1);
  CHECK(reader.metadata().preset_name == "tiny-llama-gqa");
  const auto rows = reader.requests();
  REQUIRE(rows.size() == 4);
  CHECK(rows[1].id == "math/q1");
  CHECK(rows[1].status == RequestStatus::ok);
  CHECK(rows[1].error.empty());
  CHECK(rows[1].score == 1.0);
  CHECK(rows[1].score_normalised == 1.0);
  CHECK(rows[3].choice_loglik == std::vector<double>{-1.5, -0.5});
  CHECK(rows[3].chosen == 1);
  CHECK(reader.task_summaries().size() == 2);
  CHECK(reader.task_summaries()[0].failed == 0);
  CHECK(reader.sessions().size() == 1);
  CHECK(reader.sessions()[0].ending.empty());

  TempDir dir;
  const fs::path copy = dir.path / "old.h5";
  fs::copy_file(fixture, copy);
  CHECK_THROWS_WITH(ResultsFile::resume(copy), Contains(copy.string()) &&
                                                   Contains("schema version 1") &&
                                                   Contains("start a new file"));
}

TEST_CASE("rows travel between ranks with every field", "[results]") {
  std::vector<RequestResult> rows = batch(0, 9, 10);
  rows[1].score = std::numeric_limits<double>::quiet_NaN();
  rows[2].choice_loglik = {-std::numeric_limits<double>::infinity(),
                           std::numeric_limits<double>::quiet_NaN()};
  rows[2].choice_loglik_normalised = rows[2].choice_loglik;
  rows[4].generated_text = std::string("bytes \0\xff inside", 15);
  rows[5].id = "mmlu/q0\n";  // any bytes in an id
  const std::string bytes = pack_results(rows);
  const std::vector<RequestResult> back = unpack_results(bytes);
  REQUIRE(back.size() == rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i == 2) continue;  // NaN != NaN: compared below
    check_same_row(back[i], rows[i]);
  }
  CHECK(std::isinf(back[2].choice_loglik[0]));
  CHECK(std::isnan(back[2].choice_loglik[1]));
  CHECK(unpack_results("").empty());
  CHECK_THROWS_WITH(unpack_results(std::string_view(bytes).substr(0, bytes.size() - 3)),
                    Contains("cut short"));
  CHECK_THROWS_WITH(unpack_results(bytes + "x"), Contains("more than their 9 rows"));
}

TEST_CASE("telemetry sources and samples read back with their session", "[results]") {
  TempDir dir;
  const fs::path path = dir.path / "run.h5";
  {
    ResultsFile file = ResultsFile::create(path, sample_metadata());
    std::vector<TelemetrySource> sources = {
        {0, 9, "NVIDIA H200 (00000000:3B:00.0)", "", 7.5e10, 1.0},
        {1, 9, "", "NVML not loaded", 7.5e10, 1.0}};
    file.append_sources(sources);
    std::vector<TelemetrySample> samples(3);
    for (int i = 0; i < 3; ++i) {
      samples[static_cast<std::size_t>(i)].rank = i % 2;
      samples[static_cast<std::size_t>(i)].time_s = 0.5 * i;
      samples[static_cast<std::size_t>(i)].gpu_memory_used_bytes = 1e9 * (i + 1);
      samples[static_cast<std::size_t>(i)].host_rss_bytes = 2e8;
      samples[static_cast<std::size_t>(i)].phase_s[3] = 1.25 * i;  // decode
    }
    file.append_samples(samples);
    file.close();
  }
  const ResultsReader reader(path);
  const auto sources = reader.telemetry_sources();
  REQUIRE(sources.size() == 2);
  CHECK(sources[0].session == 0);  // stamped by the writer
  CHECK(sources[0].gpu == "NVIDIA H200 (00000000:3B:00.0)");
  CHECK(sources[1].note == "NVML not loaded");
  const auto samples = reader.telemetry_samples();
  REQUIRE(samples.size() == 3);
  CHECK(samples[2].gpu_memory_used_bytes == 3e9);
  CHECK(samples[2].phase_s[3] == 2.5);
  CHECK(std::isnan(samples[0].gpu_power_w));
  if (have_h5dump()) {
    const auto [status, dump] = run(std::string(LLMPI_H5DUMP) + " -H " + path.string());
    CHECK_THAT(dump, Contains("\"waiting_s\"") && Contains("\"gpu_utilization_pct\"") &&
                         Contains("DATASET \"sources\""));
  }
}
