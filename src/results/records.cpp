#include "llmpi/results/records.hpp"

#include <cstring>
#include <type_traits>

#include "llmpi/core/error.hpp"

namespace llmpi {

std::string status_name(RequestStatus status) {
  switch (status) {
    case RequestStatus::ok:
      return "ok";
    case RequestStatus::truncated:
      return "truncated";
    case RequestStatus::skipped:
      return "skipped";
    case RequestStatus::failed:
      return "failed";
  }
  return "?";
}

std::optional<RequestStatus> parse_request_status(const std::string& name) {
  if (name.empty() || name == "ok") return RequestStatus::ok;
  for (const RequestStatus status :
       {RequestStatus::truncated, RequestStatus::skipped, RequestStatus::failed}) {
    if (name == status_name(status)) return status;
  }
  return std::nullopt;
}

namespace {

// Fixed-size values as their bytes (ranks of one job share one architecture); texts and lists
// as a 64-bit count, then their elements.
class Packer {
 public:
  template <typename T>
  requires std::is_arithmetic_v<T> || std::is_enum_v<T>
  void put(T value) { bytes_.append(reinterpret_cast<const char*>(&value), sizeof value); }
  void put(const std::string& text) {
    put(static_cast<std::uint64_t>(text.size()));
    bytes_ += text;
  }
  template <typename T>
  void put(const std::vector<T>& values) {
    put(static_cast<std::uint64_t>(values.size()));
    bytes_.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
  }
  std::string take() { return std::move(bytes_); }

 private:
  std::string bytes_;
};

class Unpacker {
 public:
  explicit Unpacker(std::string_view bytes) : bytes_(bytes) {}
  bool done() const { return at_ == bytes_.size(); }

  template <typename T>
  requires std::is_arithmetic_v<T> || std::is_enum_v<T>
  void get(T& value) { std::memcpy(&value, take(sizeof value), sizeof value); }
  void get(std::string& text) {
    const std::size_t size = count(1);
    text.assign(take(size), size);
  }
  template <typename T>
  void get(std::vector<T>& values) {
    const std::size_t size = count(sizeof(T));
    values.resize(size);
    if (size > 0) std::memcpy(values.data(), take(size * sizeof(T)), size * sizeof(T));
  }

 private:
  std::size_t count(std::size_t element_bytes) {
    std::uint64_t size = 0;
    get(size);
    if (size > (bytes_.size() - at_) / element_bytes) refuse();
    return static_cast<std::size_t>(size);
  }
  const char* take(std::size_t size) {
    if (size > bytes_.size() - at_) refuse();
    const char* begin = bytes_.data() + at_;
    at_ += size;
    return begin;
  }
  [[noreturn]] void refuse() const {
    throw Error("results from another rank are cut short at byte " + std::to_string(at_) + " of " +
                std::to_string(bytes_.size()) + " (a different llmpi build on that rank?)");
  }

  std::string_view bytes_;
  std::size_t at_ = 0;
};

// Every field, in one order for both directions.
template <typename Visitor, typename Row>
void visit_fields(Visitor& v, Row& r) {
  v(r.id), v(r.task), v(r.category), v(r.status), v(r.error), v(r.prompt_tokens),
      v(r.generated_tokens), v(r.latency_s), v(r.ttft_s), v(r.score), v(r.score_normalised),
      v(r.generated_text), v(r.generated_token_ids), v(r.choice_loglik),
      v(r.choice_loglik_normalised), v(r.chosen), v(r.detail), v(r.loglikelihood), v(r.words),
      v(r.bytes);
}

template <typename Visitor, typename Sample>
void visit_sample_fields(Visitor& v, Sample& s) {
  v(s.rank), v(s.session), v(s.time_s), v(s.gpu_memory_used_bytes), v(s.gpu_memory_total_bytes),
      v(s.gpu_utilization_pct), v(s.gpu_memory_utilization_pct), v(s.gpu_temperature_c),
      v(s.gpu_power_w), v(s.gpu_sm_clock_mhz), v(s.gpu_throttle_reasons), v(s.host_rss_bytes),
      v(s.host_cpu_s), v(s.phase_s);
}

template <typename Visitor, typename Source>
void visit_source_fields(Visitor& v, Source& s) {
  v(s.rank), v(s.session), v(s.gpu), v(s.note), v(s.planned_bytes), v(s.interval_s);
}

template <typename Row, typename Visit>
std::string pack_all(std::span<const Row> rows, Visit visit) {
  Packer packer;
  packer.put(static_cast<std::uint64_t>(rows.size()));
  auto put = [&](const auto& field) { packer.put(field); };
  for (const Row& row : rows) visit(put, row);
  return packer.take();
}

template <typename Row, typename Visit>
std::vector<Row> unpack_all(std::string_view bytes, Visit visit, const char* what) {
  if (bytes.empty()) return {};
  Unpacker unpacker(bytes);
  std::uint64_t count = 0;
  unpacker.get(count);
  std::vector<Row> rows;
  auto get = [&](auto& field) { unpacker.get(field); };
  for (std::uint64_t i = 0; i < count; ++i) visit(get, rows.emplace_back());
  if (!unpacker.done()) {
    throw Error(std::string(what) + " from another rank have " + std::to_string(bytes.size()) +
                " bytes, more than their " + std::to_string(count) + " rows");
  }
  return rows;
}

}  // namespace

std::string pack_samples(std::span<const TelemetrySample> samples) {
  return pack_all(samples,
                  [](auto& put, const TelemetrySample& s) { visit_sample_fields(put, s); });
}

std::vector<TelemetrySample> unpack_samples(std::string_view bytes) {
  return unpack_all<TelemetrySample>(
      bytes, [](auto& get, TelemetrySample& s) { visit_sample_fields(get, s); },
      "telemetry samples");
}

std::string pack_sources(std::span<const TelemetrySource> sources) {
  return pack_all(sources,
                  [](auto& put, const TelemetrySource& s) { visit_source_fields(put, s); });
}

std::vector<TelemetrySource> unpack_sources(std::string_view bytes) {
  return unpack_all<TelemetrySource>(
      bytes, [](auto& get, TelemetrySource& s) { visit_source_fields(get, s); },
      "telemetry sources");
}

std::string pack_results(std::span<const RequestResult> rows) {
  return pack_all(rows, [](auto& put, const RequestResult& row) { visit_fields(put, row); });
}

std::vector<RequestResult> unpack_results(std::string_view bytes) {
  std::vector<RequestResult> rows = unpack_all<RequestResult>(
      bytes, [](auto& get, RequestResult& row) { visit_fields(get, row); }, "request results");
  const auto valid = [](RequestStatus s) {
    return s == RequestStatus::ok || s == RequestStatus::truncated || s == RequestStatus::skipped ||
           s == RequestStatus::failed;
  };
  for (const RequestResult& row : rows) {
    if (!valid(row.status)) throw Error("request results from another rank: unknown status");
  }
  return rows;
}

}  // namespace llmpi
