// StripedHyena 2's Hyena operators (docs/evo2.md) on bf16 activations and fp32 recurrent
// states (Backend::allocate_state), fp32 arithmetic. Rows continue sequences: row r's state is row
// slots[r] of `state`, one slot's rows consecutive and in token order (Backend::causal_conv and
// modal_scan).
#pragma once

#include <cuda_runtime_api.h>

namespace llmpi::kernels {

// out[t, c] = sum_k taps[c / group_width, k] x[t - k, c] (+ skip[c] x[t, c] if skip), the
// inputs before a run from state [slots, (taps - 1) * channels]; then each slot's state holds
// its last taps - 1 inputs.
void causal_conv(const void* x, const void* taps, int length, int group_width, const void* skip,
                 void* state, long long state_cols, const int* slots, void* out, long long rows,
                 int channels, cudaStream_t stream);

// Per channel c and pole s: h = exp(log_poles[c, s]) h + u[t, c]; out[t, c] = sum_s
// residues[c, s] h_s + skip[c] u[t, c]; h in state [slots, channels * poles]. poles <= 64.
void modal_scan(const void* u, const void* log_poles, const void* residues, const void* skip,
                void* state, long long state_cols, const int* slots, void* out, long long rows,
                int channels, int poles, cudaStream_t stream);

// u[t, c] = zc[t, 3c + 1] zc[t, 3c + 2]; and out[t, c] = zc[t, 3c] y[t, c].
void hyena_input(const void* zc, void* u, long long rows, int channels, cudaStream_t stream);
void hyena_output(const void* zc, const void* y, void* out, long long rows, int channels,
                  cudaStream_t stream);

}  // namespace llmpi::kernels
