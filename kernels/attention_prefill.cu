// Prefill attention on tensor cores, tiled in the flash-attention manner: a block takes 64
// query rows of one head (16 per warp) and walks the visible keys in tiles of 64, keeping a
// running max and sum per row, so the score matrix never exists in global memory. Q K^T and
// P V run as bf16 WMMA products with fp32 accumulation; the softmax is fp32.
#include <mma.h>

#include "attention.cuh"
#include "common.cuh"

namespace llmpi::kernels {

namespace {

namespace wmma = nvcuda::wmma;

constexpr int kWarps = 4;
constexpr int kRowsPerWarp = 16;
constexpr int kQueryTile = kWarps * kRowsPerWarp;  // 64
constexpr int kKeyTile = 64;

template <int HD>
struct PrefillSmem {
  bf16 q[kQueryTile * HD];
  bf16 k[kKeyTile * HD];
  bf16 v[kKeyTile * HD];
  bf16 p[kWarps][kRowsPerWarp * kKeyTile];
  float scratch[kWarps][kRowsPerWarp * (HD > kKeyTile ? HD : kKeyTile)];
  float o[kWarps][kRowsPerWarp * HD];
  float correction[kWarps][kRowsPerWarp];
};

// Copies `rows` rows of HD bf16 values (16-byte vectors), zero-filling rows at or past `valid`.
template <int HD>
__device__ void load_rows(bf16* dst, const bf16* src, long long src_stride, long long first,
                          long long valid, int rows) {
  constexpr int kVectors = HD / 8;  // 8 bf16 per 16 bytes
  for (int i = threadIdx.x; i < rows * kVectors; i += blockDim.x) {
    const int row = i / kVectors;
    const int vec = i % kVectors;
    uint4 value = make_uint4(0, 0, 0, 0);
    if (first + row < valid) {
      value = *reinterpret_cast<const uint4*>(src + (first + row) * src_stride + vec * 8);
    }
    *reinterpret_cast<uint4*>(dst + row * HD + vec * 8) = value;
  }
}

template <int HD>
__global__ void __launch_bounds__(kWarps * 32)
    attention_prefill_kernel(const bf16* __restrict__ q, const bf16* __restrict__ k_cache,
                             const bf16* __restrict__ v_cache, bf16* __restrict__ out,
                             AttentionShape shape, float scale) {
  extern __shared__ __align__(16) unsigned char smem_bytes[];
  auto& smem = *reinterpret_cast<PrefillSmem<HD>*>(smem_bytes);
  const int head = blockIdx.y;
  const long long tile_first = static_cast<long long>(blockIdx.x) * kQueryTile;
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int group = shape.num_heads / shape.num_kv_heads;
  const long long kv_offset = static_cast<long long>(head / group) * HD;
  const long long q_stride = static_cast<long long>(shape.num_heads) * HD;
  const long long keys_valid = shape.start + shape.tokens;

  load_rows<HD>(smem.q, q + static_cast<long long>(head) * HD, q_stride, tile_first, shape.tokens,
                kQueryTile);
  for (int i = lane; i < kRowsPerWarp * HD; i += 32) smem.o[warp][i] = 0.0f;

  // Two lanes per query row: lane / 2 is the row, lane % 2 the half of the key tile.
  const int row = lane / 2;
  const int half = lane % 2;
  const long long position = shape.start + tile_first + warp * kRowsPerWarp + row;
  float running_max = -INFINITY;
  float running_sum = 0.0f;

  const long long last_position =
      shape.start + min(tile_first + kQueryTile, shape.tokens) - 1;  // causal limit of the tile
  for (long long key_first = 0; key_first <= last_position; key_first += kKeyTile) {
    __syncthreads();  // previous tile's K/V fully used
    load_rows<HD>(smem.k, k_cache + kv_offset, shape.kv_stride, key_first, keys_valid, kKeyTile);
    load_rows<HD>(smem.v, v_cache + kv_offset, shape.kv_stride, key_first, keys_valid, kKeyTile);
    __syncthreads();

    // S = Q K^T for this warp's 16 rows: 16 x 64 in four 16 x 16 tiles.
    float* scores = smem.scratch[warp];
    for (int n = 0; n < kKeyTile / 16; ++n) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.0f);
      for (int d = 0; d < HD / 16; ++d) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> b;
        wmma::load_matrix_sync(a, smem.q + warp * kRowsPerWarp * HD + d * 16, HD);
        wmma::load_matrix_sync(b, smem.k + n * 16 * HD + d * 16, HD);
        wmma::mma_sync(acc, a, b, acc);
      }
      wmma::store_matrix_sync(scores + n * 16, acc, kKeyTile, wmma::mem_row_major);
    }
    __syncwarp();

    // Online softmax over the row's 64 keys (32 per lane), causal mask, fp32.
    float values[kKeyTile / 2];
    float tile_max = -INFINITY;
#pragma unroll
    for (int c = 0; c < kKeyTile / 2; ++c) {
      const long long key = key_first + half * (kKeyTile / 2) + c;
      const float s =
          key <= position ? scores[row * kKeyTile + half * (kKeyTile / 2) + c] * scale : -INFINITY;
      values[c] = s;
      tile_max = fmaxf(tile_max, s);
    }
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
    const float new_max = fmaxf(running_max, tile_max);
    const float correction = new_max == -INFINITY ? 1.0f : __expf(running_max - new_max);
    float sum = 0.0f;
#pragma unroll
    for (int c = 0; c < kKeyTile / 2; ++c) {
      const float p = values[c] == -INFINITY ? 0.0f : __expf(values[c] - new_max);
      sum += p;
      smem.p[warp][row * kKeyTile + half * (kKeyTile / 2) + c] = to_bf16(p);
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    running_sum = running_sum * correction + sum;
    running_max = new_max;
    if (half == 0) smem.correction[warp][row] = correction;
    __syncwarp();

    // O = O * correction + P V.
    float* pv = smem.scratch[warp];
    for (int n = 0; n < HD / 16; ++n) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.0f);
      for (int kk = 0; kk < kKeyTile / 16; ++kk) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> b;
        wmma::load_matrix_sync(a, smem.p[warp] + kk * 16, kKeyTile);
        wmma::load_matrix_sync(b, smem.v + kk * 16 * HD + n * 16, HD);
        wmma::mma_sync(acc, a, b, acc);
      }
      wmma::store_matrix_sync(pv + n * 16, acc, HD, wmma::mem_row_major);
    }
    __syncwarp();
    for (int i = lane; i < kRowsPerWarp * HD; i += 32) {
      smem.o[warp][i] = smem.o[warp][i] * smem.correction[warp][i / HD] + pv[i];
    }
    __syncwarp();
  }

  // Normalise and write this warp's rows.
  if (half == 0) smem.correction[warp][row] = running_sum;
  __syncwarp();
  for (int i = lane; i < kRowsPerWarp * HD; i += 32) {
    const int r = i / HD;
    const long long token = tile_first + warp * kRowsPerWarp + r;
    if (token < shape.tokens) {
      out[token * q_stride + static_cast<long long>(head) * HD + i % HD] =
          to_bf16(smem.o[warp][i] / smem.correction[warp][r]);
    }
  }
}

template <int HD>
void launch_prefill(const void* q, const void* k_cache, const void* v_cache, void* out,
                    const AttentionShape& shape, cudaStream_t stream) {
  const int bytes = static_cast<int>(sizeof(PrefillSmem<HD>));
  cudaFuncSetAttribute(attention_prefill_kernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                       bytes);
  const dim3 grid(static_cast<unsigned int>((shape.tokens + kQueryTile - 1) / kQueryTile),
                  static_cast<unsigned int>(shape.num_heads));
  attention_prefill_kernel<HD><<<grid, kWarps * 32, bytes, stream>>>(
      static_cast<const bf16*>(q), static_cast<const bf16*>(k_cache),
      static_cast<const bf16*>(v_cache), static_cast<bf16*>(out), shape,
      1.0f / sqrtf(static_cast<float>(HD)));
}

}  // namespace

bool attention_prefill_supported(const AttentionShape& shape) {
  return shape.key_count == nullptr && (shape.head_dim == 64 || shape.head_dim == 128) &&
         shape.tokens >= 16 && shape.kv_stride % 8 == 0;
}

void attention_prefill(const void* q, const void* k_cache, const void* v_cache, void* out,
                       const AttentionShape& shape, cudaStream_t stream) {
  if (shape.tokens == 0) return;
  if (shape.head_dim == 64) {
    launch_prefill<64>(q, k_cache, v_cache, out, shape, stream);
  } else {
    launch_prefill<128>(q, k_cache, v_cache, out, shape, stream);
  }
}

}  // namespace llmpi::kernels
