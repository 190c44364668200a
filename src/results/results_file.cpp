#include "llmpi/results/results_file.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <system_error>
#include <tuple>
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

std::string file_kind(const std::filesystem::file_status& status) {
  switch (status.type()) {
    case std::filesystem::file_type::directory:
      return "a directory";
    case std::filesystem::file_type::fifo:
      return "a FIFO";
    case std::filesystem::file_type::character:
      return "a character device";
    case std::filesystem::file_type::block:
      return "a block device";
    case std::filesystem::file_type::socket:
      return "a socket";
    case std::filesystem::file_type::symlink:
      return "a symbolic link";
    case std::filesystem::file_type::regular:
      return "a regular file";
    default:
      return "not a regular file";
  }
}

bool held_by_another_process(const std::filesystem::path& path) {
  // HDF5 locks its files with flock (exclusive for writers, shared for readers): a lock we
  // cannot take means another process has the file open.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  const bool held = ::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  return held;
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

// Opens an existing results file and checks it is one this llmpi can read (or, for writing,
// append to). Returns the file and its layout version.
std::pair<h5::File, std::int64_t> open_existing(const h5::Checker& check,
                                                const std::filesystem::path& path, unsigned flags,
                                                const char* action) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (!std::filesystem::exists(status)) {
    throw Error(std::string("cannot ") + action + " results file " + check.file() +
                ": it does not exist" +
                (flags == H5F_ACC_RDWR ? "; run without --resume to start a new one" : ""));
  }
  if (!std::filesystem::is_regular_file(status)) {
    // A FIFO or device would block or mislead HDF5: only regular files are results files.
    throw Error(std::string("cannot ") + action + " results file " + check.file() + ": it is " +
                file_kind(status) + ", not a regular file");
  }
#if H5_VERSION_GE(1, 12, 0)
  const htri_t is_hdf5 = H5Fis_accessible(check.file().c_str(), H5P_DEFAULT);
#else
  const htri_t is_hdf5 = H5Fis_hdf5(check.file().c_str());
#endif
  if (is_hdf5 < 0) check.fail(std::string(action) + " the results file");
  if (is_hdf5 == 0) check.invalid("is not an HDF5 file, so not an llmpi results file");
  h5::File file(H5Fopen(check.file().c_str(), flags, H5P_DEFAULT));
  if (!file.valid()) {
    const std::string detail = h5::error_detail();
    throw Error(check.file() + ": cannot " + action + " the results file: " + detail +
                (held_by_another_process(path)
                     ? " (another process has it open: is another llmpi run writing it? "
                       "Readers of a live file set HDF5_USE_FILE_LOCKING=FALSE)"
                     : ""));
  }
  const std::int64_t version = schema::check_version(
      check, file.id(),
      flags == H5F_ACC_RDWR ? schema::VersionUse::write : schema::VersionUse::read);
  return {std::move(file), version};
}

// HDF5's end of allocation as the last flush wrote it into the superblock (what it allocates
// new space from), or 0 when the superblock is not one of the known versions.
std::uint64_t flushed_end_of_allocation(int fd) {
  unsigned char block[48] = {};
  if (::pread(fd, block, sizeof block, 0) != static_cast<ssize_t>(sizeof block)) return 0;
  static constexpr unsigned char kSignature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  if (std::memcmp(block, kSignature, sizeof kSignature) != 0) return 0;
  // Versions 0 and 1: fixed fields, then base, free-space, end-of-file addresses (v1 has 4
  // more bytes before them); versions 2 and 3: base, extension, end-of-file addresses.
  const unsigned version = block[8];
  std::size_t at = 0;
  if (version == 0 || version == 1) {
    if (block[13] != 8) return 0;  // addresses of 8 bytes
    at = (version == 0 ? 24 : 28) + 16;
  } else if (version == 2 || version == 3) {
    if (block[9] != 8) return 0;
    at = 12 + 16;
  } else {
    return 0;
  }
  std::uint64_t end = 0;
  for (int i = 7; i >= 0; --i) end = end << 8 | block[at + static_cast<std::size_t>(i)];
  return end;
}

// Gives back what the last reservation left past HDF5's end of allocation, once HDF5 has closed
// the file (its driver does not know the file grew, so it does not trim it).
void trim_to_allocation(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return;
  struct stat info {};
  const std::uint64_t end = flushed_end_of_allocation(fd);
  if (end > 0 && ::fstat(fd, &info) == 0 && static_cast<std::uint64_t>(info.st_size) > end) {
    if (::ftruncate(fd, static_cast<off_t>(end)) != 0) {
      // the reserved tail stays: harmless, HDF5 ignores bytes past its end of allocation
    }
  }
  ::close(fd);
}

// Reserves disk space past HDF5's end of allocation for the next write, before HDF5 starts it:
// HDF5 places new data there, so with the blocks already the file's the write cannot fail for
// want of space (ENOSPC) or a size limit (EFBIG), and no flush can stop halfway for those
// reasons with HDF5's metadata out of step with the disk. When the space cannot be had, nothing
// is written and the file stays as last flushed. Asks for the bytes twice over (HDF5's heap and
// metadata) plus a margin; HDF5 trims what is left over when it closes the file.
void reserve_room(const h5::Checker& check, hid_t file, std::uint64_t bytes,
                  std::int64_t flushed_rows) {
  constexpr std::uint64_t kMargin = std::uint64_t{1} << 20;
  void* handle = nullptr;
  check.ok(H5Fget_vfd_handle(file, H5P_DEFAULT, &handle),
           "get the file descriptor of the results file");
  if (handle == nullptr) return;
  const int fd = *static_cast<int*>(handle);
  std::uint64_t from = flushed_end_of_allocation(fd);
  if (from == 0) {
    struct stat info {};
    if (::fstat(fd, &info) != 0) return;  // unknown: let the write say
    from = static_cast<std::uint64_t>(info.st_size);
  }
  const std::uint64_t needed = 2 * bytes + kMargin;
  const int error = ::posix_fallocate(fd, static_cast<off_t>(from), static_cast<off_t>(needed));
  if (error != 0) {
    check.invalid("cannot reserve " + std::to_string(needed >> 10) + " KiB on disk for the next " +
                  "rows (" + std::strerror(error) + "); stopped before writing them, so the " +
                  "file holds its " + std::to_string(flushed_rows) +
                  " flushed rows intact: make room, then --resume");
  }
}

// "<dir>/.<name>.llmpi-new-<pid>": where a new file is made before it takes its name.
std::filesystem::path staging_path(const std::filesystem::path& path) {
  return path.parent_path() /
         ("." + path.filename().string() + ".llmpi-new-" + std::to_string(::getpid()));
}

// Gives the finished staging file its name: replacing what is there (overwrite) or only if
// nothing is (fail_if_exists; atomically, so two runs started on one path cannot both win).
// Returns false when the name is taken and the mode does not allow replacing it.
bool take_name(const std::filesystem::path& staged, const std::filesystem::path& path,
               OpenMode mode) {
  if (mode == OpenMode::overwrite) {
    if (std::rename(staged.c_str(), path.c_str()) != 0) {
      throw Error("cannot move results file " + staged.string() + " to " + path.string() + ": " +
                  std::strerror(errno));
    }
    return true;
  }
  if (::renameat2(AT_FDCWD, staged.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) == 0) {
    return true;
  }
  if (errno == EEXIST) return false;
  if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) {
    throw Error("cannot move results file " + staged.string() + " to " + path.string() + ": " +
                std::strerror(errno));
  }
  // Filesystems without RENAME_NOREPLACE: a hard link is just as exclusive.
  if (::link(staged.c_str(), path.c_str()) != 0) {
    if (errno == EEXIST) return false;
    throw Error("cannot link results file " + staged.string() + " to " + path.string() + ": " +
                std::strerror(errno));
  }
  ::unlink(staged.c_str());
  return true;
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
  std::int64_t flushed_rows = 0;
  std::int64_t trimmed = 0;
  std::int64_t session_index = 0;
  RunSession session;
  // Set by a failed write: HDF5's view of the file no longer matches the disk, so nothing more
  // is written and the file is not even closed (closing flushes): it stays as last flushed.
  std::string abandoned;

  explicit Impl(const std::filesystem::path& file_path)
      : path(file_path), check(file_path.string()) {}

  ~Impl() {
    if (!abandoned.empty()) {
      // Leaked on purpose; the process's exit closes the descriptor without a write.
      (void)requests.release();
      (void)file.release();
    } else if (file.valid()) {
      requests.reset();
      if (file.close() >= 0) trim_to_allocation(path);
    }
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  void start_session(const std::string& start_time) {
    session = {start_time, "", rows, ""};
    session_index = static_cast<std::int64_t>(schema::read_sessions(check, file.id()).size());
    schema::write_session(check, file.id(), session_index, session);
  }

  // Runs a step that writes: if it fails, the file is abandoned as last flushed.
  template <typename Step>
  void writing(Step step) {
    if (!abandoned.empty()) {
      throw Error(check.file() + ": nothing more is written after an earlier failure (" +
                  abandoned + "); the file holds the " + std::to_string(flushed_rows) +
                  " rows flushed before it: --resume continues from there");
    }
    try {
      step();
    } catch (const Error& e) {
      abandoned = e.what();
      throw Error(std::string(e.what()) + "; the file keeps the " + std::to_string(flushed_rows) +
                  " rows flushed before this failure, and --resume continues from them once "
                  "the cause is fixed");
    }
  }
};

ResultsFile::ResultsFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ResultsFile::~ResultsFile() = default;
ResultsFile::ResultsFile(ResultsFile&&) noexcept = default;
ResultsFile& ResultsFile::operator=(ResultsFile&&) noexcept = default;

ResultsFile ResultsFile::create(const std::filesystem::path& path, const RunMetadata& metadata,
                                OpenMode mode) {
  h5::silence_errors();
  const std::string name = path.string();
  const RunMetadata stored = storable_metadata(metadata, name);

  // What is there already is never touched until the new file is complete.
  std::error_code error;
  const auto existing = std::filesystem::symlink_status(path, error);
  if (std::filesystem::exists(existing)) {
    if (!std::filesystem::is_regular_file(existing)) {
      throw Error("cannot create results file " + name + ": it is " + file_kind(existing) +
                  "; --out must name a regular file or a new one");
    }
    if (mode == OpenMode::fail_if_exists) {
      throw Error("results file " + name +
                  " already exists; pass --resume to continue that run or --overwrite to "
                  "replace it");
    }
    if (held_by_another_process(path)) {
      throw Error("cannot overwrite results file " + name +
                  ": another process has it open (is another llmpi run writing it?); it is "
                  "left as it is");
    }
  }
  const std::filesystem::path parent = path.parent_path();
  if (!parent.empty() && !std::filesystem::is_directory(parent, error)) {
    throw Error(
        "cannot create results file " + name + ": " + parent.string() +
        (std::filesystem::exists(parent, error) ? " is not a directory" : " does not exist"));
  }

  // Made complete under a staging name beside the target, then renamed into place. The default
  // (oldest) format on purpose: the latest one marks the file open in its superblock, and a
  // killed writer leaves it unopenable until h5clear -s.
  const std::filesystem::path staged = staging_path(path);
  auto impl = std::make_unique<Impl>(path);
  impl->metadata = stored;
  bool made = false;  // whether `staged` is ours to remove
  try {
    impl->file = h5::File(impl->check.id(
        H5Fcreate(staged.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT),
        "create the results file (as " + staged.filename().string() + " beside it)"));
    made = true;
    schema::create_layout(impl->check, impl->file.id(), impl->metadata);
    impl->requests = h5::open_dataset(impl->check, impl->file.id(), schema::kRequests);
    impl->start_session(impl->metadata.start_time);
    impl->check.ok(H5Fflush(impl->file.id(), H5F_SCOPE_GLOBAL), "flush the results file");
    if (!take_name(staged, path, mode)) {
      throw Error("results file " + name +
                  " already exists (another run created it just now); pass --resume to "
                  "continue that run or --overwrite to replace it");
    }
  } catch (...) {
    impl->requests.reset();
    impl->file.reset();
    if (made) std::filesystem::remove(staged, error);  // only ever our own staging file
    throw;
  }
  ResultsFile results(std::move(impl));
  results.flush();
  return results;
}

ResultsFile ResultsFile::resume(const std::filesystem::path& path,
                                const std::string& session_start_time) {
  h5::silence_errors();
  auto impl = std::make_unique<Impl>(path);
  const h5::Checker& check = impl->check;
  impl->file = open_existing(check, path, H5F_ACC_RDWR, "resume").first;
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
  impl->flushed_rows = impl->rows;

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
  std::uint64_t bytes = 0;
  for (RequestResult& row : stored) {
    for (std::string* text : {&row.generated_text, &row.error, &row.detail}) {
      *text = results_text::make_storable(*text);
    }
    bytes += row.generated_text.size() + row.error.size() + row.detail.size() + row.id.size() +
             (row.choice_loglik.size() * 2 + row.generated_token_ids.size()) * 8 + 256;
  }
  reserve_room(impl.check, impl.file.id(), bytes, impl.flushed_rows);  // refused: file intact
  impl.writing([&] { schema::write_requests(impl.check, impl.requests.id(), impl.rows, stored); });
  impl.rows += static_cast<std::int64_t>(stored.size());
  for (RequestResult& row : stored) impl.ids.insert(std::move(row.id));
}

void ResultsFile::append_sources(std::span<const TelemetrySource> sources) {
  Impl& impl = live(impl_);
  std::vector<TelemetrySource> stored(sources.begin(), sources.end());
  for (TelemetrySource& source : stored) {
    source.session = static_cast<std::int32_t>(impl.session_index);
    source.gpu = results_text::make_storable(source.gpu);
    source.note = results_text::make_storable(source.note);
  }
  reserve_room(impl.check, impl.file.id(), 512 * (stored.size() + 8), impl.flushed_rows);
  impl.writing([&] { schema::append_sources(impl.check, impl.file.id(), stored); });
}

void ResultsFile::append_samples(std::span<const TelemetrySample> samples) {
  Impl& impl = live(impl_);
  std::vector<TelemetrySample> stored(samples.begin(), samples.end());
  for (TelemetrySample& sample : stored) {
    sample.session = static_cast<std::int32_t>(impl.session_index);
  }
  reserve_room(impl.check, impl.file.id(), 192 * (stored.size() + 8), impl.flushed_rows);
  impl.writing([&] { schema::append_samples(impl.check, impl.file.id(), stored); });
}

void ResultsFile::flush() {
  Impl& impl = live(impl_);
  impl.writing([&] {
    impl.check.ok(H5Fflush(impl.file.id(), H5F_SCOPE_GLOBAL), "flush the results file");
    // H5Fflush hands the bytes to the kernel; fsync puts them on the disk, so a node that
    // crashes (not only a killed process) keeps every flushed batch.
    void* handle = nullptr;
    impl.check.ok(H5Fget_vfd_handle(impl.file.id(), H5P_DEFAULT, &handle),
                  "get the file descriptor of the results file");
    if (handle != nullptr && ::fsync(*static_cast<int*>(handle)) != 0) {
      throw Error(impl.check.file() + ": cannot fsync the results file: " + std::strerror(errno));
    }
  });
  impl.flushed_rows = impl.rows;
}

std::vector<RequestResult> ResultsFile::read_requests(bool with_text) const {
  const Impl& impl = live(impl_);
  return schema::read_requests(impl.check, impl.requests.id(), with_text, kResultsSchemaVersion);
}

void ResultsFile::write_summaries(const std::vector<TaskSummary>& tasks, const RunStats& stats) {
  Impl& impl = live(impl_);
  std::vector<TaskSummary> stored = tasks;
  for (TaskSummary& task : stored) {
    task.task = results_text::make_storable(task.task);
    task.category = results_text::make_storable(task.category);
  }
  reserve_room(impl.check, impl.file.id(), 512 * (stored.size() + 16), impl.flushed_rows);
  impl.writing([&] {
    schema::write_summaries(impl.check, impl.file.id(), stored, summarise_categories(stored), stats,
                            impl.rows);
  });
  flush();
}

void ResultsFile::set_end_time(const std::string& end_time) {
  end_session("finished", end_time);
}

void ResultsFile::end_session(const std::string& ending, const std::string& end_time) {
  Impl& impl = live(impl_);
  const std::string stored = results_text::make_storable(end_time);
  reserve_room(impl.check, impl.file.id(), ending.size() + 4096, impl.flushed_rows);
  impl.writing([&] {
    if (ending == "finished") {
      schema::set_end_time(impl.check, impl.file.id(), stored);
      impl.metadata.end_time = stored;
    }
    impl.session.end_time = stored;
    impl.session.ending = results_text::make_storable(ending);
    schema::write_session(impl.check, impl.file.id(), impl.session_index, impl.session);
  });
  flush();
}

bool ResultsFile::abandoned() const {
  return impl_ && !impl_->abandoned.empty();
}

void ResultsFile::close() {
  Impl& impl = live(impl_);
  flush();
  impl.requests.reset();
  impl.writing([&] { impl.check.ok(impl.file.close(), "close the results file"); });
  trim_to_allocation(impl.path);
}

struct ResultsReader::Impl {
  h5::Checker check;
  h5::File file;
  std::int64_t version = 0;
  RunMetadata metadata;

  explicit Impl(const std::filesystem::path& path) : check(path.string()) {}
};

ResultsReader::ResultsReader(const std::filesystem::path& path)
    : impl_(std::make_unique<Impl>(path)) {
  h5::silence_errors();
  std::tie(impl_->file, impl_->version) = open_existing(impl_->check, path, H5F_ACC_RDONLY, "read");
  impl_->metadata = schema::read_metadata(impl_->check, impl_->file.id());
}

std::int64_t ResultsReader::schema_version() const {
  return live(impl_).version;
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
  return schema::read_requests(impl.check, requests.id(), with_text, impl.version);
}

std::vector<TaskSummary> ResultsReader::task_summaries() const {
  const Impl& impl = live(impl_);
  return schema::read_task_summaries(impl.check, impl.file.id(), impl.version);
}

std::vector<CategorySummary> ResultsReader::category_summaries() const {
  const Impl& impl = live(impl_);
  return schema::read_category_summaries(impl.check, impl.file.id());
}

std::vector<TelemetrySource> ResultsReader::telemetry_sources() const {
  const Impl& impl = live(impl_);
  if (impl.version < 3) return {};
  return schema::read_sources(impl.check, impl.file.id());
}

std::vector<TelemetrySample> ResultsReader::telemetry_samples() const {
  const Impl& impl = live(impl_);
  if (impl.version < 3) return {};
  return schema::read_samples(impl.check, impl.file.id());
}

std::optional<RunStats> ResultsReader::run_stats() const {
  const Impl& impl = live(impl_);
  if (!schema::has_run_stats(impl.check, impl.file.id())) return std::nullopt;
  return schema::read_run_stats(impl.check, impl.file.id());
}

}  // namespace llmpi
