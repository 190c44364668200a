#include "llmpi/bench/throughput_bench.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <numeric>
#include <random>
#include <string>

#include "llmpi/bench/random_weights.hpp"
#include "llmpi/core/error.hpp"
#include "llmpi/dist/comm.hpp"
#include "llmpi/engine/generator.hpp"
#include "llmpi/model/transformer.hpp"

namespace llmpi {

namespace {

// The tensor-parallel group of a rank benchmarked alone: nothing moves, and each all-reduce is
// charged what a ring all-reduce of its bytes takes at the given bus bandwidth (nccl-tests'
// busbw = algbw x 2(n-1)/n, so time = bytes x 2(n-1)/n / busbw). Per-call latency is not
// modelled, which flatters small decode steps.
class ModelledTensorParallelComm final : public Comm {
 public:
  ModelledTensorParallelComm(int size, double bus_bytes_per_s)
      : size_(size), bus_bytes_per_s_(bus_bytes_per_s) {}

  int rank() const override { return 0; }
  int size() const override { return size_; }

  void all_reduce_sum(Tensor& tensor) override {
    charge(static_cast<double>(tensor.numel()) * static_cast<double>(dtype_size(tensor.dtype)));
  }
  void all_gather(const Tensor& part, Tensor& out) override {
    (void)part;
    (void)out;
    throw Error("throughput bench: a tensor all-gather was not expected with pp = 1");
  }
  void send(const Tensor&, int) override {
    throw Error("throughput bench: no pipeline stages to send to");
  }
  void receive(Tensor&, int) override {
    throw Error("throughput bench: no pipeline stages to receive from");
  }
  // Host-side summaries (a few numbers per row): this rank's own, repeated for the others.
  void all_gather(std::span<const float> part, std::span<float> out) override {
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = part[i % part.size()];
  }
  void all_reduce_sum(std::span<std::uint64_t>) override {}
  void broadcast(std::span<std::int32_t>, int) override {}
  void broadcast(std::span<double>, int) override {}
  void arg_max(std::span<float>, std::span<std::int64_t>) override {}

  double seconds() const { return seconds_; }
  std::int64_t calls() const { return calls_; }
  double bytes() const { return bytes_; }
  void reset() {
    seconds_ = 0.0;
    calls_ = 0;
    bytes_ = 0.0;
  }

 private:
  void charge(double bytes) {
    ++calls_;
    bytes_ += bytes;
    seconds_ += bytes * 2.0 * (size_ - 1) / size_ / bus_bytes_per_s_;
  }

  int size_;
  double bus_bytes_per_s_;
  double seconds_ = 0.0;
  std::int64_t calls_ = 0;
  double bytes_ = 0.0;
};

std::int64_t parse_length(std::string_view text, const std::string& entry) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < 1 ||
      value > (std::int64_t{1} << 24)) {
    throw Error("bench --shapes: '" + entry +
                "' is not INPUT/OUTPUT with two token counts from 1 to 16777216 (e.g. 128/128)");
  }
  return value;
}

double mean(const std::vector<double>& values) {
  return values.empty() ? 0.0
                        : std::accumulate(values.begin(), values.end(), 0.0) /
                              static_cast<double>(values.size());
}

double median(std::vector<double> values) {
  if (values.empty()) return 0.0;
  std::ranges::sort(values);
  return values[values.size() / 2];
}

// Distinct prompts of one length, seeded: nothing is shared between requests.
std::vector<std::vector<std::int32_t>> synthetic_prompts(int count, std::int64_t length,
                                                         int vocab_size) {
  std::mt19937 generator(12345);
  std::uniform_int_distribution<std::int32_t> token(0, vocab_size - 1);
  std::vector<std::vector<std::int32_t>> prompts(static_cast<std::size_t>(count));
  for (auto& prompt : prompts) {
    prompt.resize(static_cast<std::size_t>(length));
    for (auto& id : prompt) id = token(generator);
  }
  return prompts;
}

void check_settings(const ModelConfig& config, const ModelShard& shard,
                    const ThroughputSettings& s) {
  if (s.shapes.empty()) throw Error("bench --throughput: no --shapes to run");
  if (shard.pp_size != 1) throw Error("bench --throughput: runs one rank's share with pp = 1");
  if (shard.tp_size > 1 && s.bus_bytes_per_s <= 0.0) {
    throw Error("bench --throughput: tp " + std::to_string(shard.tp_size) +
                " needs --bus-gbps, the bus bandwidth its all-reduces are modelled at");
  }
  for (const ThroughputShape& shape : s.shapes) {
    if (shape.input_tokens + shape.output_tokens > config.max_position_embeddings) {
      throw Error("bench --throughput: shape " + std::to_string(shape.input_tokens) + "/" +
                  std::to_string(shape.output_tokens) + " is longer than the model's " +
                  std::to_string(config.max_position_embeddings) + " positions");
    }
  }
}

}  // namespace

std::vector<ThroughputShape> parse_throughput_shapes(const std::string& text) {
  std::vector<ThroughputShape> shapes;
  std::size_t begin = 0;
  while (begin <= text.size()) {
    const std::size_t end = std::min(text.find(',', begin), text.size());
    const std::string entry = text.substr(begin, end - begin);
    const std::size_t slash = entry.find('/');
    if (slash == std::string::npos) {
      throw Error("bench --shapes: '" + entry +
                  "' is not INPUT/OUTPUT with two token counts from 1 to 16777216 (e.g. 128/128)");
    }
    shapes.push_back({parse_length(std::string_view(entry).substr(0, slash), entry),
                      parse_length(std::string_view(entry).substr(slash + 1), entry)});
    begin = end + 1;
  }
  return shapes;
}

std::vector<ThroughputResult> run_throughput_bench(Backend& backend, const ModelConfig& config,
                                                   const ModelShard& shard,
                                                   const ThroughputSettings& s) {
  check_settings(config, shard, s);
  ModelledTensorParallelComm comm(shard.tp_size, s.bus_bytes_per_s);
  Transformer model(config, random_model_weights(config, shard, backend, 1), backend, shard,
                    ModelComms{shard.tp_size > 1 ? &comm : nullptr, nullptr});
  model.set_step_tokens(s.step_tokens);

  std::vector<ThroughputResult> results;
  for (const ThroughputShape& shape : s.shapes) {
    const std::int64_t length = shape.input_tokens + shape.output_tokens;
    // The pool is paged: a request holds whole blocks.
    const std::int64_t block = KvCache::kDefaultBlockTokens;
    std::int64_t fit = s.kv_tokens > 0 ? (s.kv_tokens / block) / ((length + block - 1) / block) : 1;
    // A decode step runs one token per sequence: no more than a step may hold.
    if (s.step_tokens > 0) fit = std::min(fit, s.step_tokens);
    if (s.max_in_flight > 0) fit = std::min<std::int64_t>(fit, s.max_in_flight);
    if (fit < 1) {
      throw Error("bench --throughput: one " + std::to_string(length) +
                  "-token request does not fit the KV pool of " + std::to_string(s.kv_tokens) +
                  " tokens (in blocks of " + std::to_string(block) + ")");
    }
    ThroughputResult result;
    result.shape = shape;
    result.in_flight = static_cast<int>(std::min<std::int64_t>(fit, 1 << 24));
    result.requests = s.requests > 0 ? s.requests : 2 * result.in_flight;
    result.in_flight = std::min(result.in_flight, result.requests);

    const auto prompts = synthetic_prompts(result.requests, shape.input_tokens, config.vocab_size);
    std::vector<GenerationRequest> requests;
    for (const auto& prompt : prompts) {
      GenerationOptions options;
      options.max_new_tokens = static_cast<int>(shape.output_tokens);
      options.stop_at_eos = false;  // every request produces exactly its output length
      requests.push_back({prompt, options});
    }
    BatchSettings batch;
    batch.max_active = result.in_flight;
    batch.kv_tokens = std::max<std::int64_t>(s.kv_tokens, length);

    // Warm-up: thread pools started, memory pools grown, kernels chosen.
    GenerationOptions warm;
    warm.max_new_tokens = 2;
    warm.stop_at_eos = false;
    generate(model, prompts.front(), warm);

    comm.reset();
    backend.synchronize();
    const auto start = std::chrono::steady_clock::now();
    const std::vector<GenerationResult> generated = generate_batch(model, requests, batch);
    backend.synchronize();
    result.compute_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    result.modelled_comm_seconds = comm.seconds();
    result.all_reduces = comm.calls();
    result.all_reduce_bytes = comm.bytes();

    std::vector<double> ttft;
    std::vector<double> prefill;
    std::vector<double> tpot;
    for (const GenerationResult& g : generated) {
      ttft.push_back(g.first_token_seconds * 1e3);
      prefill.push_back(g.prefill_seconds * 1e3);
      if (g.tokens.size() > 1) {
        tpot.push_back(g.decode_seconds * 1e3 / static_cast<double>(g.tokens.size() - 1));
      }
    }
    result.ttft_ms_mean = mean(ttft);
    result.ttft_ms_p50 = median(ttft);
    result.prefill_ms_mean = mean(prefill);
    result.tpot_ms_mean = mean(tpot);
    results.push_back(result);
  }
  return results;
}

}  // namespace llmpi
