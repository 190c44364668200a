// GPU benchmark at real layer shapes, every number against a ceiling measured in the same run:
//  - decode (batch 1, one new token over a 1024-token cache): time per layer against the
//    bandwidth roofline = (weight + KV bytes read) / device-to-device copy bandwidth;
//  - prefill (2048 tokens): model TFLOP/s against a plain cuBLAS GEMM of the MLP's shape.
// Weights are random (tiled from one random block: timing does not depend on the values).
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <chrono>
#include <cstdio>
#include <random>

#include "llmpi/backend/cuda_backend.hpp"
#include "llmpi/core/error.hpp"
#include "llmpi/engine/generator.hpp"
#include "llmpi/model/transformer.hpp"

using namespace llmpi;

namespace {

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) throw Error(std::string(what) + ": " + cudaGetErrorString(status));
}

class RandomFill {
 public:
  explicit RandomFill(CudaBackend& backend) : backend_(backend) {
    std::mt19937 generator(1);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    std::vector<float> host(kBlock);
    for (float& v : host) v = normal(generator);
    block_ = backend.upload(host, 1, kBlock);
  }
  Tensor make(std::int64_t rows, std::int64_t cols, float offset = 0.0f) {
    Tensor t = backend_.allocate(rows, cols);
    const std::int64_t total = rows * cols;
    for (std::int64_t done = 0; done < total; done += kBlock) {
      const std::int64_t count = std::min<std::int64_t>(kBlock, total - done);
      check(cudaMemcpy(static_cast<char*>(t.data) + done * 2, block_.data,
                       static_cast<std::size_t>(count) * 2, cudaMemcpyDeviceToDevice),
            "fill");
    }
    if (offset != 0.0f) {  // norm weights near 1
      std::vector<float> ones(static_cast<std::size_t>(total), offset);
      t = backend_.upload(ones, rows, cols);
    }
    return t;
  }

 private:
  static constexpr std::int64_t kBlock = 1 << 24;
  CudaBackend& backend_;
  Tensor block_;
};

ModelConfig llama_70b_config(int layers) {
  ModelConfig c;
  c.source = "bench";
  c.architecture = Architecture::llama;
  c.vocab_size = 32000;
  c.hidden_size = 8192;
  c.intermediate_size = 28672;
  c.num_layers = layers;
  c.num_heads = 64;
  c.num_kv_heads = 8;
  c.head_dim = 128;
  c.max_position_embeddings = 8192;
  c.norm = NormKind::rms_norm;
  c.mlp = MlpKind::swiglu;
  c.separate_mlp_norm = true;
  return c;
}

ModelWeights random_weights(const ModelConfig& c, RandomFill& fill) {
  ModelWeights w;
  w.embedding = fill.make(c.vocab_size, c.hidden_size);
  for (int i = 0; i < c.num_layers; ++i) {
    LayerWeights l;
    l.attention_norm_weight = fill.make(1, c.hidden_size, 1.0f);
    l.mlp_norm_weight = fill.make(1, c.hidden_size, 1.0f);
    l.qkv_weight = fill.make(c.q_size() + 2 * c.kv_size(), c.hidden_size);
    l.output_weight = fill.make(c.hidden_size, c.q_size());
    l.up_weight = fill.make(2 * c.intermediate_size, c.hidden_size);
    l.down_weight = fill.make(c.hidden_size, c.intermediate_size);
    w.layers.push_back(l);
  }
  w.final_norm_weight = fill.make(1, c.hidden_size, 1.0f);
  w.lm_head = fill.make(c.vocab_size, c.hidden_size);
  return w;
}

double layer_weight_bytes(const ModelConfig& c) {
  const double h = c.hidden_size;
  return 2.0 *
         (h * (c.q_size() + 2.0 * c.kv_size()) + h * c.q_size() + 3.0 * h * c.intermediate_size);
}

template <typename F>
double time_ms(CudaBackend& backend, int repeats, F&& body) {
  body();  // warm-up
  backend.synchronize();
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");  // the copies run on other streams
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < repeats; ++i) body();
  backend.synchronize();
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
             .count() /
         repeats;
}

}  // namespace

int main() {
  if (const auto reason = cuda_unavailable_reason()) {
    std::printf("SKIP: no usable GPU (%s)\n", reason->c_str());
    return 77;
  }
  try {
    CudaBackend backend(0);
    std::printf("device: %s\n", backend.name().c_str());

    // Ceiling 1: device-to-device copy bandwidth, bytes read + written per second.
    const std::size_t copy_bytes = std::size_t{2} << 30;
    void* source = nullptr;
    void* target = nullptr;
    check(cudaMalloc(&source, copy_bytes), "cudaMalloc");
    check(cudaMalloc(&target, copy_bytes), "cudaMalloc");
    const double copy_ms = time_ms(backend, 10, [&] {
      check(cudaMemcpy(target, source, copy_bytes, cudaMemcpyDeviceToDevice), "copy");
    });
    cudaFree(source);
    cudaFree(target);
    const double bandwidth = 2.0 * static_cast<double>(copy_bytes) / (copy_ms * 1e-3);
    std::printf("copy bandwidth: 2 x %.1f GiB / %.3f ms = %.0f GB/s (read + write)\n",
                static_cast<double>(copy_bytes) / (1 << 30), copy_ms, bandwidth / 1e9);

    const int layers = 4;
    const ModelConfig config = llama_70b_config(layers);
    RandomFill fill(backend);
    Transformer model(config, random_weights(config, fill), backend);

    // Decode, batch 1, context 1024.
    const std::int64_t context = 1024;
    KvCache cache(backend, config, context + 64);
    std::vector<std::int32_t> prompt(static_cast<std::size_t>(context), 5);
    model.forward(prompt, cache, LogitsFor::last_token);
    const std::int32_t token[] = {7};
    const double decode_ms = time_ms(backend, 20, [&] {
      model.forward(token, cache, LogitsFor::last_token);
      cache.truncate(context);  // the same context length for every repeat
    });
    const double kv_bytes = 2.0 * 2.0 * static_cast<double>(context) * config.kv_size() * layers;
    const double head_bytes = 2.0 * config.vocab_size * config.hidden_size;
    const double bytes = layer_weight_bytes(config) * layers + kv_bytes + head_bytes;
    const double roofline_ms = bytes / bandwidth * 1e3;
    std::printf("decode llama-2-70b layer shape, batch 1, context %lld, %d layers + head:\n",
                static_cast<long long>(context), layers);
    std::printf(
        "  measured %.3f ms/step (%.3f ms/layer incl. head share); roofline %.3f ms "
        "(%.2f GB / %.0f GB/s); ratio %.2fx\n",
        decode_ms, decode_ms / layers, roofline_ms, bytes / 1e9, bandwidth / 1e9,
        decode_ms / roofline_ms);

    // Prefill 2048 tokens against a plain cuBLAS GEMM of the gate/up projection's shape.
    const std::int64_t tokens = 2048;
    KvCache prefill_cache(backend, config, tokens);
    std::vector<std::int32_t> long_prompt(static_cast<std::size_t>(tokens), 9);
    const double prefill_ms = time_ms(backend, 3, [&] {
      prefill_cache.clear();
      model.forward(long_prompt, prefill_cache, LogitsFor::last_token);
    });
    const double attention_flops = 4.0 * tokens * tokens / 2.0 * config.head_dim * config.num_heads;
    const double flops =
        (2.0 * static_cast<double>(tokens) * layer_weight_bytes(config) / 2.0 + attention_flops) *
        layers;
    Tensor x = fill.make(tokens, config.hidden_size);
    Tensor w = fill.make(2 * config.intermediate_size, config.hidden_size);
    Tensor y = backend.allocate(tokens, 2 * config.intermediate_size);
    const double gemm_ms = time_ms(backend, 10, [&] { backend.linear(x, w, Tensor{}, y); });
    const double gemm_flops = 2.0 * tokens * config.hidden_size * 2.0 * config.intermediate_size;
    const double model_rate = flops / (prefill_ms * 1e-3) / 1e12;
    const double gemm_rate = gemm_flops / (gemm_ms * 1e-3) / 1e12;
    std::printf(
        "prefill %lld tokens, %d layers: %.2f ms, %.0f TFLOP/s; cuBLAS GEMM [%lld x %d] x "
        "[%d x %d]^T: %.0f TFLOP/s; ratio %.2f\n",
        static_cast<long long>(tokens), layers, prefill_ms, model_rate,
        static_cast<long long>(tokens), config.hidden_size, 2 * config.intermediate_size,
        config.hidden_size, gemm_rate, model_rate / gemm_rate);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench error: %s\n", e.what());
    return 1;
  }
}
