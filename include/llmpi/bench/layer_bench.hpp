#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "llmpi/backend/backend.hpp"
#include "llmpi/config/model_config.hpp"
#include "llmpi/model/model_shard.hpp"

namespace llmpi {

struct LayerBenchSettings {
  int layers =
      2;  // per-layer times are (T(2 x layers) - T(layers)) / layers: no head, no embedding
  std::vector<int> batches = {1, 8, 32, 128};
  std::int64_t context = 1024;  // tokens already in every sequence's cache at each decode step
  std::int64_t prefill_tokens = 2048;
  int repeats = 10;
  std::int64_t copy_bytes = std::int64_t{1} << 30;  // the bandwidth probe's buffer
};

// One decode step of `batch` sequences, per layer.
struct DecodeTiming {
  int batch = 0;
  double ms_per_layer = 0.0;
  double graph_ms_per_layer = 0.0;  // the step replayed as a recording (CUDA graph); 0: none
  // Per layer, the mean over the timed layers (Evo 2's are of four kinds):
  double weight_bytes = 0.0;  // weights, read once per step, in the dtype each is held in
  double kv_bytes = 0.0;      // keys and values the step reads, and Hyena states read and written
  double roofline_ms = 0.0;   // (weight + KV bytes) / copy bandwidth

  double best_ms_per_layer() const {
    return graph_ms_per_layer > 0.0 ? std::min(ms_per_layer, graph_ms_per_layer) : ms_per_layer;
  }
};

// One prompt of `tokens` tokens, per layer, against one plain GEMM of the layer's largest shape.
struct PrefillTiming {
  std::int64_t tokens = 0;
  double ms_per_layer = 0.0;
  double flops_per_layer = 0.0;  // projections plus causal attention (QK^T and PV)
  std::int64_t gemm_m = 0, gemm_n = 0, gemm_k = 0;  // out[m, n] = x[m, k] w[n, k]^T
  double gemm_ms = 0.0;
};

struct LayerBenchReport {
  double copy_bytes_per_s = 0.0;  // bytes read plus written by a device-to-device copy
  double attention_share = 1.0;   // of the timed layers, those with a KV cache
  bool fp8_gemms = false;         // FP8 input projections ran as FP8 GEMMs (not emulated)
  std::vector<DecodeTiming> decode;
  PrefillTiming prefill;
};

// Times one rank's share of a model's layers (the shard's heads, MLP columns and vocabulary
// rows; no communication) on random weights, with every ceiling measured in the same run on
// the same backend.
LayerBenchReport run_layer_bench(Backend& backend, const ModelConfig& config,
                                 const ModelShard& shard, const LayerBenchSettings& settings);

}  // namespace llmpi
