#include "llmpi/results/results_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "hdf5.hpp"
#include "llmpi/core/error.hpp"
#include "llmpi/results/summary.hpp"
#include "schema.hpp"
#include "utf8.hpp"

namespace llmpi {

namespace schema = results_schema;

std::string utc_now_iso() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

namespace {

std::string hdf5_library_version() {
  unsigned major = 0, minor = 0, release = 0;
  H5get_libversion(&major, &minor, &release);
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release);
}

// What the file will hold: the caller's metadata with every text storable and the defaults
// filled in.
RunMetadata storable_metadata(const RunMetadata& given, const std::string& file) {
  const auto refuse = [&](const std::string& why) {
    throw Error("cannot create results file " + file + ": " + why);
  };
  if (given.tp < 1 || given.pp < 1 || given.dp < 1 || given.nodes < 1) {
    refuse("tp, pp, dp and nodes must be at least 1 (got tp=" + std::to_string(given.tp) +
           ", pp=" + std::to_string(given.pp) + ", dp=" + std::to_string(given.dp) +
           ", nodes=" + std::to_string(given.nodes) + ")");
  }
  if (given.world_size != given.tp * given.pp * given.dp) {
    refuse("world size " + std::to_string(given.world_size) +
           " is not dp x pp x tp = " + std::to_string(given.dp) + " x " + std::to_string(given.pp) +
           " x " + std::to_string(given.tp));
  }
  if (!given.ranks.empty() && given.ranks.size() != static_cast<std::size_t>(given.world_size)) {
    refuse(std::to_string(given.ranks.size()) + " rank entries for a world of " +
           std::to_string(given.world_size) + " ranks");
  }
  RunMetadata stored = given;
  for (std::string* text : {&stored.preset_name, &stored.preset_yaml, &stored.model_config_json,
                            &stored.backend, &stored.command_line, &stored.start_time}) {
    *text = results_text::make_storable(*text);
  }
  for (RankInfo& rank : stored.ranks) rank.host = results_text::make_storable(rank.host);
  std::map<std::string, std::string> versions;
  for (const auto& [name, version] : given.versions) {
    versions[results_text::make_storable(name)] = results_text::make_storable(version);
  }
  versions["hdf5"] = hdf5_library_version();
  stored.versions = std::move(versions);
  if (stored.start_time.empty()) stored.start_time = utc_now_iso();
  stored.end_time.clear();
  return stored;
}

// Opens an existing results file and checks it is one this schema version wrote.
h5::File open_existing(const h5::Checker& check, const std::filesystem::path& path, unsigned flags,
                       const char* action) {
  std::error_code error;
  if (!std::filesystem::exists(path, error)) {
    throw Error(std::string("cannot ") + action + " results file " + check.file() +
                ": it does not exist" +
                (flags == H5F_ACC_RDWR ? "; run without --resume to start a new one" : ""));
  }
#if H5_VERSION_GE(1, 12, 0)
  const htri_t is_hdf5 = H5Fis_accessible(check.file().c_str(), H5P_DEFAULT);
#else
  const htri_t is_hdf5 = H5Fis_hdf5(check.file().c_str());
#endif
  if (!check.tri(is_hdf5, std::string(action) + " the results file")) {
    check.invalid("is not an HDF5 file, so not an llmpi results file");
  }
  h5::File file(H5Fopen(check.file().c_str(), flags, H5P_DEFAULT));
  if (!file.valid()) {
    const std::string detail = h5::error_detail();
    const bool locked = detail.find("lock") != std::string::npos;
    throw Error(check.file() + ": cannot " + action + " the results file: " + detail +
                (locked ? " (another process has it open: is another llmpi run writing it? "
                          "Readers of a live file set HDF5_USE_FILE_LOCKING=FALSE)"
                        : ""));
  }
  schema::check_version(check, file.id());
  return file;
}

}  // namespace

struct ResultsFile::Impl {
  std::filesystem::path path;
  h5::Checker check;
  h5::File file;  // declared before the dataset, so closed after it
  h5::Dataset requests;
  RunMetadata metadata;
  std::unordered_set<std::string> ids;
  std::int64_t rows = 0;
  std::int64_t trimmed = 0;
  std::int64_t session_index = 0;
  RunSession session;

  explicit Impl(const std::filesystem::path& file_path)
      : path(file_path), check(file_path.string()) {}

  void start_session(const std::string& start_time) {
    session = {start_time, "", rows};
    session_index = static_cast<std::int64_t>(schema::read_sessions(check, file.id()).size());
    schema::write_session(check, file.id(), session_index, session);
  }
};

ResultsFile::ResultsFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ResultsFile::~ResultsFile() = default;
ResultsFile::ResultsFile(ResultsFile&&) noexcept = default;
ResultsFile& ResultsFile::operator=(ResultsFile&&) noexcept = default;

ResultsFile ResultsFile::create(const std::filesystem::path& path, const RunMetadata& metadata,
                                OpenMode mode) {
  h5::silence_errors();
  auto impl = std::make_unique<Impl>(path);
  const std::string& name = impl->check.file();
  impl->metadata = storable_metadata(metadata, name);

  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    throw Error("cannot create results file " + name + ": it is a directory");
  }
  if (mode == OpenMode::fail_if_exists && std::filesystem::exists(path, error)) {
    throw Error("results file " + name +
                " already exists; pass --resume to continue that run or --overwrite to "
                "replace it");
  }
  const std::filesystem::path parent = path.parent_path();
  if (!parent.empty() && !std::filesystem::is_directory(parent, error)) {
    throw Error(
        "cannot create results file " + name + ": " + parent.string() +
        (std::filesystem::exists(parent, error) ? " is not a directory" : " does not exist"));
  }
  // EXCL as well as the check above: two runs started on one path must not both win. The
  // default (oldest) format on purpose: the latest one marks the file open in its superblock,
  // and a killed writer leaves it unopenable until h5clear -s.
  const unsigned flags = mode == OpenMode::overwrite ? H5F_ACC_TRUNC : H5F_ACC_EXCL;
  impl->file = h5::File(impl->check.id(H5Fcreate(name.c_str(), flags, H5P_DEFAULT, H5P_DEFAULT),
                                       "create the results file"));
  try {
    schema::create_layout(impl->check, impl->file.id(), impl->metadata);
    impl->requests = h5::open_dataset(impl->check, impl->file.id(), schema::kRequests);
    impl->start_session(impl->metadata.start_time);
    ResultsFile results(std::move(impl));
    results.flush();
    return results;
  } catch (...) {
    // A half-made file would block the next attempt ("already exists"): remove it.
    if (impl) {
      impl->requests.reset();
      impl->file.reset();
    }
    std::filesystem::remove(path, error);
    throw;
  }
}

ResultsFile ResultsFile::resume(const std::filesystem::path& path,
                                const std::string& session_start_time) {
  h5::silence_errors();
  auto impl = std::make_unique<Impl>(path);
  const h5::Checker& check = impl->check;
  impl->file = open_existing(check, path, H5F_ACC_RDWR, "resume");
  impl->metadata = schema::read_metadata(check, impl->file.id());
  impl->requests = h5::open_dataset(check, impl->file.id(), schema::kRequests);

  // Rows are appended in order, so a crash can only leave incomplete rows at the end: ones
  // whose extent reached the disk but whose values did not (they read as the fill value, no id).
  std::vector<std::string> ids = schema::read_request_ids(check, impl->requests.id());
  std::size_t complete = ids.size();
  while (complete > 0 && ids[complete - 1].empty()) --complete;
  if (complete < ids.size()) {
    schema::truncate_requests(check, impl->requests.id(), static_cast<std::int64_t>(complete));
    impl->trimmed = static_cast<std::int64_t>(ids.size() - complete);
  }
  std::unordered_map<std::string, std::size_t> row_of;
  for (std::size_t row = 0; row < complete; ++row) {
    if (ids[row].empty()) {
      check.invalid("row " + std::to_string(row) + " of /requests has no id; the file is damaged");
    }
    const auto [it, inserted] = row_of.emplace(ids[row], row);
    if (!inserted) {
      check.invalid("request id '" + ids[row] + "' appears twice in /requests (rows " +
                    std::to_string(it->second) + " and " + std::to_string(row) + ")");
    }
  }
  impl->ids.insert(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(complete));
  impl->rows = static_cast<std::int64_t>(complete);

  impl->metadata.end_time.clear();
  schema::set_end_time(check, impl->file.id(), "");
  impl->start_session(session_start_time);
  ResultsFile results(std::move(impl));
  results.flush();
  return results;
}

namespace {
template <typename Impl>
Impl& live(const std::unique_ptr<Impl>& impl) {
  if (!impl) throw Error("results file used after it was moved from");
  if (!impl->file.valid()) throw Error("results file " + impl->check.file() + " is closed");
  return *impl;
}
}  // namespace

const std::filesystem::path& ResultsFile::path() const {
  return live(impl_).path;
}
const RunMetadata& ResultsFile::metadata() const {
  return live(impl_).metadata;
}
const std::unordered_set<std::string>& ResultsFile::finished_ids() const {
  return live(impl_).ids;
}
std::int64_t ResultsFile::rows() const {
  return live(impl_).rows;
}
std::int64_t ResultsFile::trimmed_rows() const {
  return live(impl_).trimmed;
}

void ResultsFile::append(std::span<const RequestResult> batch) {
  Impl& impl = live(impl_);
  const auto refuse = [&](const RequestResult& row, std::size_t index, const std::string& why) {
    impl.check.invalid("refused a batch of " + std::to_string(batch.size()) +
                       " requests, nothing written: request " + std::to_string(index) + " ('" +
                       results_text::make_storable(row.id) + "') " + why);
  };
  std::unordered_set<std::string> in_batch;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const RequestResult& row = batch[i];
    if (row.id.empty()) refuse(row, i, "has an empty id");
    for (const auto& [field, text] : {std::pair<const char*, const std::string*>{"id", &row.id},
                                      {"task", &row.task},
                                      {"category", &row.category}}) {
      if (!results_text::storable(*text)) {
        refuse(row, i, std::string("has a ") + field + " that is not UTF-8 or contains NUL");
      }
    }
    if (impl.ids.contains(row.id)) refuse(row, i, "is already in the file");
    if (!in_batch.insert(row.id).second) refuse(row, i, "appears twice in the batch");
    if (row.prompt_tokens < 0 || row.generated_tokens < 0) {
      refuse(row, i, "has a negative token count");
    }
    const std::size_t choices = row.choice_loglik.size();
    if (row.choice_loglik_normalised.size() != choices) {
      refuse(row, i,
             "has " + std::to_string(choices) + " choice log-likelihoods but " +
                 std::to_string(row.choice_loglik_normalised.size()) + " normalised ones");
    }
    if (row.chosen < -1 || (row.chosen >= 0 && static_cast<std::size_t>(row.chosen) >= choices)) {
      refuse(row, i,
             "has chosen = " + std::to_string(row.chosen) + " for " + std::to_string(choices) +
                 " choices (valid: -1 or 0 to choices - 1)");
    }
  }
  std::vector<RequestResult> stored(batch.begin(), batch.end());
  for (RequestResult& row : stored) {
    row.generated_text = results_text::make_storable(row.generated_text);
  }
  schema::write_requests(impl.check, impl.requests.id(), impl.rows, stored);
  impl.rows += static_cast<std::int64_t>(stored.size());
  for (RequestResult& row : stored) impl.ids.insert(std::move(row.id));
}

void ResultsFile::flush() {
  Impl& impl = live(impl_);
  impl.check.ok(H5Fflush(impl.file.id(), H5F_SCOPE_GLOBAL), "flush the results file");
  // H5Fflush hands the bytes to the kernel; fsync puts them on the disk, so a node that
  // crashes (not only a killed process) keeps every flushed batch.
  void* handle = nullptr;
  impl.check.ok(H5Fget_vfd_handle(impl.file.id(), H5P_DEFAULT, &handle),
                "get the file descriptor of the results file");
  if (handle != nullptr && ::fsync(*static_cast<int*>(handle)) != 0) {
    throw Error(impl.check.file() + ": cannot fsync the results file: " + std::strerror(errno));
  }
}

std::vector<RequestResult> ResultsFile::read_requests(bool with_text) const {
  const Impl& impl = live(impl_);
  return schema::read_requests(impl.check, impl.requests.id(), with_text);
}

void ResultsFile::write_summaries(const std::vector<TaskSummary>& tasks, const RunStats& stats) {
  Impl& impl = live(impl_);
  std::vector<TaskSummary> stored = tasks;
  for (TaskSummary& task : stored) {
    task.task = results_text::make_storable(task.task);
    task.category = results_text::make_storable(task.category);
  }
  schema::write_summaries(impl.check, impl.file.id(), stored, summarise_categories(stored), stats,
                          impl.rows);
  flush();
}

void ResultsFile::set_end_time(const std::string& end_time) {
  Impl& impl = live(impl_);
  const std::string stored = results_text::make_storable(end_time);
  schema::set_end_time(impl.check, impl.file.id(), stored);
  impl.session.end_time = stored;
  schema::write_session(impl.check, impl.file.id(), impl.session_index, impl.session);
  impl.metadata.end_time = stored;
  flush();
}

void ResultsFile::close() {
  Impl& impl = live(impl_);
  flush();
  impl.requests.reset();
  impl.check.ok(impl.file.close(), "close the results file");
}

struct ResultsReader::Impl {
  h5::Checker check;
  h5::File file;
  RunMetadata metadata;

  explicit Impl(const std::filesystem::path& path) : check(path.string()) {}
};

ResultsReader::ResultsReader(const std::filesystem::path& path)
    : impl_(std::make_unique<Impl>(path)) {
  h5::silence_errors();
  impl_->file = open_existing(impl_->check, path, H5F_ACC_RDONLY, "read");
  impl_->metadata = schema::read_metadata(impl_->check, impl_->file.id());
}

ResultsReader::~ResultsReader() = default;
ResultsReader::ResultsReader(ResultsReader&&) noexcept = default;
ResultsReader& ResultsReader::operator=(ResultsReader&&) noexcept = default;

const RunMetadata& ResultsReader::metadata() const {
  return live(impl_).metadata;
}

std::vector<RunSession> ResultsReader::sessions() const {
  const Impl& impl = live(impl_);
  return schema::read_sessions(impl.check, impl.file.id());
}

std::int64_t ResultsReader::rows() const {
  const Impl& impl = live(impl_);
  const h5::Dataset requests = h5::open_dataset(impl.check, impl.file.id(), schema::kRequests);
  return h5::row_count(impl.check, requests.id(), schema::kRequests);
}

std::vector<RequestResult> ResultsReader::requests(bool with_text) const {
  const Impl& impl = live(impl_);
  const h5::Dataset requests = h5::open_dataset(impl.check, impl.file.id(), schema::kRequests);
  return schema::read_requests(impl.check, requests.id(), with_text);
}

std::vector<TaskSummary> ResultsReader::task_summaries() const {
  const Impl& impl = live(impl_);
  return schema::read_task_summaries(impl.check, impl.file.id());
}

std::vector<CategorySummary> ResultsReader::category_summaries() const {
  const Impl& impl = live(impl_);
  return schema::read_category_summaries(impl.check, impl.file.id());
}

std::optional<RunStats> ResultsReader::run_stats() const {
  const Impl& impl = live(impl_);
  if (!schema::has_run_stats(impl.check, impl.file.id())) return std::nullopt;
  return schema::read_run_stats(impl.check, impl.file.id());
}

}  // namespace llmpi
