#include "common.cuh"
#include "hyena.cuh"

namespace llmpi::kernels {

namespace {

constexpr int kThreads = 256;
constexpr int kMaxPoles = 64;

// One thread per output element. A lag that leaves the row's run (its slot changes) reads the
// slot's saved inputs instead: slots never come back once left, so the run is found by
// comparing slots alone, with no host-side run table (a recorded step stays valid).
__global__ void causal_conv_kernel(const bf16* __restrict__ x, const bf16* __restrict__ taps,
                                   int length, int group_width, const bf16* __restrict__ skip,
                                   const float* __restrict__ state, long long state_cols,
                                   const int* __restrict__ slots, bf16* __restrict__ out,
                                   long long rows, int channels) {
  const long long index = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= rows * channels) return;
  const long long t = index / channels;
  const int c = static_cast<int>(index % channels);
  const int slot = slots[t];
  const bf16* w = taps + static_cast<long long>(c / group_width) * length;
  const float* saved = state + slot * state_cols;  // [length - 1, channels], oldest first
  const int kept = length - 1;
  float sum = 0.0f;
  long long inside = -1;  // how many rows of the run precede t, once a lag has left it
  for (int k = 0; k < length; ++k) {
    float value;
    if (inside < 0 && t - k >= 0 && slots[t - k] == slot) {
      value = to_float(x[(t - k) * channels + c]);
    } else {
      if (inside < 0) inside = k - 1;
      value = saved[static_cast<long long>(kept - (k - inside)) * channels + c];
    }
    sum += to_float(w[k]) * value;
  }
  if (skip != nullptr) sum += to_float(skip[c]) * to_float(x[t * channels + c]);
  out[index] = to_bf16(sum);
}

// One thread per channel of each run's last row: the slot's state becomes its last `kept`
// inputs. In ascending order, each entry is read before any thread could overwrite it.
__global__ void causal_conv_state_kernel(const bf16* __restrict__ x, int kept,
                                         float* __restrict__ state, long long state_cols,
                                         const int* __restrict__ slots, long long rows,
                                         int channels) {
  const long long index = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= rows * channels) return;
  const long long t = index / channels;
  const int c = static_cast<int>(index % channels);
  const int slot = slots[t];
  if (t + 1 < rows && slots[t + 1] == slot) return;  // not the run's last row
  int run = 1;  // rows of the run up to t, counted as far as `kept`
  while (run < kept && t - run >= 0 && slots[t - run] == slot) ++run;
  float* saved = state + slot * state_cols;
  for (int j = 0; j < kept; ++j) {
    const int from_end = kept - 1 - j;  // 0: the newest input
    saved[static_cast<long long>(j) * channels + c] =
        from_end < run ? to_float(x[(t - from_end) * channels + c])
                       : saved[static_cast<long long>(j + run) * channels + c];
  }
}

// One thread per channel of each run's first row, stepping through the run.
__global__ void modal_scan_kernel(const bf16* __restrict__ u, const bf16* __restrict__ log_poles,
                                  const bf16* __restrict__ residues, const bf16* __restrict__ skip,
                                  float* __restrict__ state, long long state_cols,
                                  const int* __restrict__ slots, bf16* __restrict__ out,
                                  long long rows, int channels, int poles) {
  const long long index = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= rows * channels) return;
  const long long first = index / channels;
  const int c = static_cast<int>(index % channels);
  const int slot = slots[first];
  if (first > 0 && slots[first - 1] == slot) return;  // not the run's first row
  float* saved = state + slot * state_cols + static_cast<long long>(c) * poles;
  float h[kMaxPoles];
  float p[kMaxPoles];
  for (int s = 0; s < poles; ++s) {
    h[s] = saved[s];
    p[s] = expf(to_float(log_poles[static_cast<long long>(c) * poles + s]));
  }
  const float d = to_float(skip[c]);
  for (long long t = first; t < rows && slots[t] == slot; ++t) {
    const float input = to_float(u[t * channels + c]);
    float y = 0.0f;
    for (int s = 0; s < poles; ++s) {
      h[s] = p[s] * h[s] + input;
      y += to_float(residues[static_cast<long long>(c) * poles + s]) * h[s];
    }
    out[t * channels + c] = to_bf16(y + d * input);
  }
  for (int s = 0; s < poles; ++s) saved[s] = h[s];
}

__global__ void hyena_input_kernel(const bf16* __restrict__ zc, bf16* __restrict__ u,
                                   long long count, int channels) {
  const long long index = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= count) return;
  const long long t = index / channels;
  const long long at = t * 3LL * channels + 3LL * (index % channels);
  u[index] = to_bf16(to_float(zc[at + 1]) * to_float(zc[at + 2]));
}

__global__ void hyena_output_kernel(const bf16* __restrict__ zc, const bf16* __restrict__ y,
                                    bf16* __restrict__ out, long long count, int channels) {
  const long long index = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= count) return;
  const long long t = index / channels;
  out[index] =
      to_bf16(to_float(zc[t * 3LL * channels + 3LL * (index % channels)]) * to_float(y[index]));
}

}  // namespace

void causal_conv(const void* x, const void* taps, int length, int group_width, const void* skip,
                 void* state, long long state_cols, const int* slots, void* out, long long rows,
                 int channels, cudaStream_t stream) {
  const long long count = rows * channels;
  if (count == 0) return;
  causal_conv_kernel<<<blocks_for(count, kThreads), kThreads, 0, stream>>>(
      static_cast<const bf16*>(x), static_cast<const bf16*>(taps), length, group_width,
      static_cast<const bf16*>(skip), static_cast<const float*>(state), state_cols, slots,
      static_cast<bf16*>(out), rows, channels);
  if (length == 1) return;
  causal_conv_state_kernel<<<blocks_for(count, kThreads), kThreads, 0, stream>>>(
      static_cast<const bf16*>(x), length - 1, static_cast<float*>(state), state_cols, slots, rows,
      channels);
}

void modal_scan(const void* u, const void* log_poles, const void* residues, const void* skip,
                void* state, long long state_cols, const int* slots, void* out, long long rows,
                int channels, int poles, cudaStream_t stream) {
  const long long count = rows * channels;
  if (count == 0) return;
  modal_scan_kernel<<<blocks_for(count, kThreads), kThreads, 0, stream>>>(
      static_cast<const bf16*>(u), static_cast<const bf16*>(log_poles),
      static_cast<const bf16*>(residues), static_cast<const bf16*>(skip),
      static_cast<float*>(state), state_cols, slots, static_cast<bf16*>(out), rows, channels,
      poles);
}

void hyena_input(const void* zc, void* u, long long rows, int channels, cudaStream_t stream) {
  const long long count = rows * channels;
  if (count == 0) return;
  hyena_input_kernel<<<blocks_for(count, kThreads), kThreads, 0, stream>>>(
      static_cast<const bf16*>(zc), static_cast<bf16*>(u), count, channels);
}

void hyena_output(const void* zc, const void* y, void* out, long long rows, int channels,
                  cudaStream_t stream) {
  const long long count = rows * channels;
  if (count == 0) return;
  hyena_output_kernel<<<blocks_for(count, kThreads), kThreads, 0, stream>>>(
      static_cast<const bf16*>(zc), static_cast<const bf16*>(y), static_cast<bf16*>(out), count,
      channels);
}

}  // namespace llmpi::kernels
