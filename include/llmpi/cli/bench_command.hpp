#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "llmpi/bench/layer_bench.hpp"
#include "llmpi/bench/throughput_bench.hpp"

namespace llmpi {

struct BenchArgs {
  std::string preset;  // a path, or NAME for presets/NAME.yaml
  std::string backend = "cpu";
  int device = 0;
  int tp = 0;  // the tensor-parallel slice to time; 0: the preset's tp
  LayerBenchSettings settings;
  int copy_mib = 0;  // 0: 1024 on a GPU, 256 on the CPU
  bool torch = false;
  std::string python = "python3";
  // --throughput: the whole model (this rank's share) on synthetic requests.
  bool throughput = false;
  std::string shapes = "128/128,128/2048,2048/128,2048/2048";
  ThroughputSettings throughput_settings;
  double bus_gbps = 0.0;
};

// `llmpi bench --preset P [--backend cuda] [--layers L] [--batches 1,8,32,128] ...`: one
// rank's share of the preset's layers on random weights: decode per layer per step at each
// batch size against the bandwidth roofline, prefill TFLOP/s against a plain GEMM of the same
// size, and with --torch the same shapes through PyTorch/transformers, all measured in one run.
// With --throughput: the whole model at the preset's shape (one TP rank's share; the
// all-reduces modelled at --bus-gbps) on synthetic requests of fixed input/output lengths with
// continuous batching: output tokens/s per GPU, time to first token, time per output token.
CLI::App& add_bench_command(CLI::App& app, BenchArgs& args);
int run_bench(const BenchArgs& args);

}  // namespace llmpi
