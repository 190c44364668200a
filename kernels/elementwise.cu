#include "common.cuh"
#include "elementwise.cuh"

namespace llmpi::kernels {

namespace {

constexpr int kThreads = 256;

// activation: 0 silu, 1 exact GELU, 2 identity (GateActivation's order).
__global__ void gated_mul_kernel(const bf16* __restrict__ gate_up, bf16* __restrict__ out,
                                 long long count, int width, int activation) {
  const long long index = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= count) return;
  const long long token = index / width;
  const int i = static_cast<int>(index % width);
  const float gate = to_float(gate_up[token * 2 * width + i]);
  const float up = to_float(gate_up[token * 2 * width + width + i]);
  float activated = gate;
  if (activation == 0) {
    activated = gate / (1.0f + __expf(-gate));
  } else if (activation == 1) {
    activated = 0.5f * gate * (1.0f + erff(gate * 0.70710678118654752f));
  }
  // transformers rounds the activation to bf16 before the product
  out[index] = to_bf16(to_float(to_bf16(activated)) * up);
}

__global__ void gelu_kernel(bf16* __restrict__ x, long long count) {
  const long long index = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= count) return;
  const float v = to_float(x[index]);
  x[index] = to_bf16(0.5f * v * (1.0f + erff(v * 0.70710678118654752f)));
}

__global__ void gelu_tanh_kernel(bf16* __restrict__ x, long long count) {
  const long long index = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= count) return;
  const float v = to_float(x[index]);
  x[index] = to_bf16(0.5f * v * (1.0f + tanhf(0.79788456080286536f * (v + 0.044715f * v * v * v))));
}

__global__ void add_kernel(bf16* __restrict__ acc, const bf16* __restrict__ x, long long count) {
  const long long index = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index < count) acc[index] = to_bf16(to_float(acc[index]) + to_float(x[index]));
}

__global__ void add_bias_kernel(bf16* __restrict__ out, const bf16* __restrict__ bias,
                                long long count, int cols) {
  const long long index = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index < count) out[index] = to_bf16(to_float(out[index]) + to_float(bias[index % cols]));
}

__global__ void split_qkv_kernel(const bf16* __restrict__ fused, bf16* __restrict__ q,
                                 bf16* __restrict__ k, bf16* __restrict__ v, long long count,
                                 int q_cols, int kv_cols) {
  const long long index = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= count) return;
  const int width = q_cols + 2 * kv_cols;
  const long long token = index / width;
  const int column = static_cast<int>(index % width);
  const bf16 value = fused[index];
  if (column < q_cols) {
    q[token * q_cols + column] = value;
  } else if (column < q_cols + kv_cols) {
    k[token * kv_cols + column - q_cols] = value;
  } else {
    v[token * kv_cols + column - q_cols - kv_cols] = value;
  }
}

__global__ void scatter_rows_kernel(const bf16* __restrict__ src, bf16* __restrict__ dst,
                                    const int* __restrict__ rows, long long count, int cols) {
  const long long index = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= count) return;
  dst[static_cast<long long>(rows[index / cols]) * cols + index % cols] = src[index];
}

__global__ void gather_rows_kernel(const bf16* __restrict__ src, bf16* __restrict__ dst,
                                   const int* __restrict__ rows, long long count, int cols) {
  const long long index = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= count) return;
  dst[index] = src[static_cast<long long>(rows[index / cols]) * cols + index % cols];
}

__global__ void embedding_kernel(const int* __restrict__ ids, const bf16* __restrict__ table,
                                 long long first_id, long long table_rows, bf16* __restrict__ out,
                                 long long count, int cols) {
  const long long index = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= count) return;
  const long long row = static_cast<long long>(ids[index / cols]) - first_id;
  out[index] = row >= 0 && row < table_rows ? table[row * cols + index % cols] : to_bf16(0.0f);
}

__global__ void f32_to_bf16_kernel(const float* __restrict__ in, bf16* __restrict__ out,
                                   long long count) {
  const long long index = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index < count) out[index] = to_bf16(in[index]);
}

__global__ void bf16_to_f32_kernel(const bf16* __restrict__ in, float* __restrict__ out,
                                   long long count) {
  const long long index = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index < count) out[index] = to_float(in[index]);
}

}  // namespace

void gated_mul(const void* gate_up, void* out, long long tokens, int width, int activation,
               cudaStream_t stream) {
  const long long count = tokens * width;
  if (count == 0) return;
  gated_mul_kernel<<<blocks_for(count, kThreads), kThreads, 0, stream>>>(
      static_cast<const bf16*>(gate_up), static_cast<bf16*>(out), count, width, activation);
}

void gelu(void* x, long long count, cudaStream_t stream) {
  if (count == 0) return;
  gelu_kernel<<<blocks_for(count, kThreads), kThreads, 0, stream>>>(static_cast<bf16*>(x), count);
}

void gelu_tanh(void* x, long long count, cudaStream_t stream) {
  if (count == 0) return;
  gelu_tanh_kernel<<<blocks_for(count, kThreads), kThreads, 0, stream>>>(static_cast<bf16*>(x),
                                                                         count);
}

void add(void* acc, const void* x, long long count, cudaStream_t stream) {
  if (count == 0) return;
  add_kernel<<<blocks_for(count, kThreads), kThreads, 0, stream>>>(
      static_cast<bf16*>(acc), static_cast<const bf16*>(x), count);
}

void add_bias(void* out, const void* bias, long long rows, int cols, cudaStream_t stream) {
  const long long count = rows * cols;
  if (count == 0) return;
  add_bias_kernel<<<blocks_for(count, kThreads), kThreads, 0, stream>>>(
      static_cast<bf16*>(out), static_cast<const bf16*>(bias), count, cols);
}

void split_qkv(const void* fused, void* q, void* k, void* v, long long tokens, int q_cols,
               int kv_cols, cudaStream_t stream) {
  const long long count = tokens * (q_cols + 2LL * kv_cols);
  if (count == 0) return;
  split_qkv_kernel<<<blocks_for(count, kThreads), kThreads, 0, stream>>>(
      static_cast<const bf16*>(fused), static_cast<bf16*>(q), static_cast<bf16*>(k),
      static_cast<bf16*>(v), count, q_cols, kv_cols);
}

void gather_rows(const void* src, void* dst, const int* rows, long long count_rows, int cols,
                 cudaStream_t stream) {
  const long long count = count_rows * cols;
  if (count == 0) return;
  gather_rows_kernel<<<blocks_for(count, kThreads), kThreads, 0, stream>>>(
      static_cast<const bf16*>(src), static_cast<bf16*>(dst), rows, count, cols);
}

void scatter_rows(const void* src, void* dst, const int* rows, long long count_rows, int cols,
                  cudaStream_t stream) {
  const long long count = count_rows * cols;
  if (count == 0) return;
  scatter_rows_kernel<<<blocks_for(count, kThreads), kThreads, 0, stream>>>(
      static_cast<const bf16*>(src), static_cast<bf16*>(dst), rows, count, cols);
}

void embedding(const int* ids, const void* table, long long first_id, long long table_rows,
               void* out, long long tokens, int cols, cudaStream_t stream) {
  const long long count = tokens * cols;
  if (count == 0) return;
  embedding_kernel<<<blocks_for(count, kThreads), kThreads, 0, stream>>>(
      ids, static_cast<const bf16*>(table), first_id, table_rows, static_cast<bf16*>(out), count,
      cols);
}

void f32_to_bf16(const float* in, void* out, long long count, cudaStream_t stream) {
  if (count == 0) return;
  f32_to_bf16_kernel<<<blocks_for(count, kThreads), kThreads, 0, stream>>>(
      in, static_cast<bf16*>(out), count);
}

void bf16_to_f32(const void* in, float* out, long long count, cudaStream_t stream) {
  if (count == 0) return;
  bf16_to_f32_kernel<<<blocks_for(count, kThreads), kThreads, 0, stream>>>(
      static_cast<const bf16*>(in), out, count);
}

}  // namespace llmpi::kernels
