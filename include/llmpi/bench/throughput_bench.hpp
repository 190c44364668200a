#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "llmpi/backend/backend.hpp"
#include "llmpi/config/model_config.hpp"
#include "llmpi/model/model_shard.hpp"

namespace llmpi {

// Fixed prompt and output lengths, as TensorRT-LLM's published throughput tables use them.
struct ThroughputShape {
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
};

// "128/128,2048/128" -> shapes; the message names the bad entry.
std::vector<ThroughputShape> parse_throughput_shapes(const std::string& text);

struct ThroughputSettings {
  std::vector<ThroughputShape> shapes = {{128, 128}, {128, 2048}, {2048, 128}, {2048, 2048}};
  int requests = 0;              // per shape; 0: twice as many as fit in flight at once
  int max_in_flight = 0;         // 0: what the KV pool holds at the shape's length
  std::int64_t kv_tokens = 0;    // the rank's KV pool in tokens (the planner's figure)
  std::int64_t step_tokens = 0;  // tokens one forward pass may run (batch.max_tokens; 0: any)
  // tp > 1: the bus bandwidth (nccl-tests' busbw) at which the all-reduces are modelled.
  double bus_bytes_per_s = 0.0;
};

struct ThroughputResult {
  ThroughputShape shape;
  int requests = 0;
  int in_flight = 0;
  double compute_seconds = 0.0;        // measured: the whole batch, first prefill to last token
  double modelled_comm_seconds = 0.0;  // tp > 1: what the all-reduces would take; 0 otherwise
  std::int64_t all_reduces = 0;
  double all_reduce_bytes = 0.0;
  double ttft_ms_mean = 0.0;  // from the batch's start: waiting for a slot, then prefill
  double ttft_ms_p50 = 0.0;
  double prefill_ms_mean = 0.0;  // a request's own prefill
  double tpot_ms_mean = 0.0;     // per output token after the first

  double seconds() const { return compute_seconds + modelled_comm_seconds; }
  // Output tokens per second of the replica (tp ranks); per GPU is this over tp.
  double output_tokens_per_s() const {
    return static_cast<double>(requests) * static_cast<double>(shape.output_tokens) / seconds();
  }
};

// Runs one rank's share of a model (its tensor-parallel slice of every layer, pp = 1) on random
// weights with continuous batching over synthetic requests of each shape, as many in flight as
// the KV pool allows. With tp > 1 the other ranks are not there: the all-reduces move nothing
// and are charged the time the given bus bandwidth would take for their bytes (a model of the
// communication, not a measurement).
std::vector<ThroughputResult> run_throughput_bench(Backend& backend, const ModelConfig& config,
                                                   const ModelShard& shard,
                                                   const ThroughputSettings& settings);

}  // namespace llmpi
