#include "attention.cuh"
#include "common.cuh"

namespace llmpi::kernels {

namespace {

constexpr int kWarps = 4;
constexpr int kMaxPerLane = 8;  // head_dim <= 32 * 8

// Grid (heads, tokens, splits). Each warp walks every kWarps-th key of the block's range with
// an online softmax; lane l holds elements l, l + 32, ... of the query and the accumulator.
__global__ void attention_partial_kernel(
    const bf16* __restrict__ q, const bf16* __restrict__ k_cache, const bf16* __restrict__ v_cache,
    float* __restrict__ partial_max, float* __restrict__ partial_sum,
    float* __restrict__ partial_acc, AttentionShape shape, long long keys_per_split, float scale) {
  const int head = blockIdx.x;
  const long long token = blockIdx.y;
  const int split = blockIdx.z;
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  const int head_dim = shape.head_dim;
  const int group = shape.num_heads / shape.num_kv_heads;
  const long long kv_offset = static_cast<long long>(head / group) * head_dim;
  long long visible = shape.start + token + 1;  // causal within one sequence
  const int* table = nullptr;
  if (shape.key_count != nullptr) {  // batched decode: the row's own sequence, in its blocks
    visible = shape.key_count[token];
    table = shape.block_table + token * shape.blocks_per_row;
    // Spread each row's own keys over every split: a short sequence beside a long one (or
    // under a recorded step's bound) still fills the splits.
    keys_per_split = (visible + gridDim.z - 1) / gridDim.z;
  }
  const long long in_block = (1LL << shape.block_bits) - 1;
  const long long begin = split * keys_per_split;
  const long long end = min(visible, begin + keys_per_split);

  float query[kMaxPerLane];
  float acc[kMaxPerLane];
  const bf16* q_row =
      q + token * shape.num_heads * head_dim + static_cast<long long>(head) * head_dim;
#pragma unroll
  for (int r = 0; r < kMaxPerLane; ++r) {
    const int d = lane + 32 * r;
    query[r] = d < head_dim ? to_float(q_row[d]) * scale : 0.0f;
    acc[r] = 0.0f;
  }
  float running_max = -INFINITY;
  float running_sum = 0.0f;
  for (long long j = begin + warp; j < end; j += kWarps) {
    const long long row = table == nullptr ? j
                                           : (static_cast<long long>(table[j >> shape.block_bits])
                                              << shape.block_bits) +
                                                 (j & in_block);
    const bf16* key = k_cache + row * shape.kv_stride + kv_offset;
    float dot = 0.0f;
#pragma unroll
    for (int r = 0; r < kMaxPerLane; ++r) {
      const int d = lane + 32 * r;
      if (d < head_dim) dot += query[r] * to_float(key[d]);
    }
    const float score = warp_sum(dot);
    const float new_max = fmaxf(running_max, score);
    const float correction = __expf(running_max - new_max);
    const float weight = __expf(score - new_max);
    running_sum = running_sum * correction + weight;
    const bf16* value = v_cache + row * shape.kv_stride + kv_offset;
#pragma unroll
    for (int r = 0; r < kMaxPerLane; ++r) {
      const int d = lane + 32 * r;
      if (d < head_dim) acc[r] = acc[r] * correction + weight * to_float(value[d]);
    }
    running_max = new_max;
  }

  // Merge the warps of the block.
  __shared__ float warp_max_s[kWarps];
  __shared__ float warp_sum_s[kWarps];
  __shared__ float warp_acc_s[kWarps][32 * kMaxPerLane];
  if (lane == 0) {
    warp_max_s[warp] = running_max;
    warp_sum_s[warp] = running_sum;
  }
#pragma unroll
  for (int r = 0; r < kMaxPerLane; ++r) warp_acc_s[warp][lane + 32 * r] = acc[r];
  __syncthreads();
  if (warp != 0) return;
  float block_max = -INFINITY;
  for (int w = 0; w < kWarps; ++w) block_max = fmaxf(block_max, warp_max_s[w]);
  float block_sum = 0.0f;
  float factors[kWarps];
  for (int w = 0; w < kWarps; ++w) {
    factors[w] = warp_max_s[w] == -INFINITY ? 0.0f : __expf(warp_max_s[w] - block_max);
    block_sum += warp_sum_s[w] * factors[w];
  }
  const long long slot = (token * shape.num_heads + head) * gridDim.z + split;
  if (lane == 0) {
    partial_max[slot] = block_max;
    partial_sum[slot] = block_sum;
  }
  for (int d = lane; d < head_dim; d += 32) {
    float merged = 0.0f;
    for (int w = 0; w < kWarps; ++w) merged += warp_acc_s[w][d] * factors[w];
    partial_acc[slot * head_dim + d] = merged;
  }
}

// Grid (heads, tokens): merges the splits of one query head.
__global__ void attention_combine_kernel(const float* __restrict__ partial_max,
                                         const float* __restrict__ partial_sum,
                                         const float* __restrict__ partial_acc,
                                         bf16* __restrict__ out, AttentionShape shape, int splits) {
  const int head = blockIdx.x;
  const long long token = blockIdx.y;
  const long long first = (token * shape.num_heads + head) * splits;
  float global_max = -INFINITY;
  for (int s = 0; s < splits; ++s) global_max = fmaxf(global_max, partial_max[first + s]);
  float total = 0.0f;
  for (int s = 0; s < splits; ++s) {
    const float m = partial_max[first + s];
    if (m != -INFINITY) total += partial_sum[first + s] * __expf(m - global_max);
  }
  bf16* result = out + token * shape.num_heads * shape.head_dim +
                 static_cast<long long>(head) * shape.head_dim;
  for (int d = threadIdx.x; d < shape.head_dim; d += blockDim.x) {
    float value = 0.0f;
    for (int s = 0; s < splits; ++s) {
      const float m = partial_max[first + s];
      if (m != -INFINITY)
        value += partial_acc[(first + s) * shape.head_dim + d] * __expf(m - global_max);
    }
    result[d] = to_bf16(value / total);
  }
}

// Batched decode with grouped queries: grid (kv heads, tokens, splits). The block reads each
// tile of its KV head's keys and values into shared memory once, and every query head of the
// group attends over it (warp w takes heads w, w + kWarps, ...), so the cache is read once per
// KV head instead of once per query head. Each head's running max, sum and accumulator live in
// shared memory between tiles. Same partial-slot layout as attention_partial_kernel.
constexpr int kGroupTile = 32;  // keys per shared-memory tile

// Dynamic shared memory: the group's queries and per-head (max, sum, accumulator) in fp32,
// then one tile of keys and one of values in bf16.
inline long long grouped_shared_bytes(int group, int head_dim) {
  const long long floats =
      static_cast<long long>(group) * head_dim + static_cast<long long>(group) * (2 + head_dim);
  return floats * 4 + 2LL * kGroupTile * head_dim * 2;
}

__global__ void grouped_decode_partial_kernel(
    const bf16* __restrict__ q, const bf16* __restrict__ k_cache, const bf16* __restrict__ v_cache,
    float* __restrict__ partial_max, float* __restrict__ partial_sum,
    float* __restrict__ partial_acc, AttentionShape shape, float scale) {
  extern __shared__ float shared[];
  const int kv_head = blockIdx.x;
  const long long token = blockIdx.y;
  const int split = blockIdx.z;
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  const int head_dim = shape.head_dim;
  const int group = shape.num_heads / shape.num_kv_heads;
  const int first_head = kv_head * group;
  float* queries = shared;                                            // [group][head_dim]
  float* state = queries + static_cast<long long>(group) * head_dim;  // [group][2 + head_dim]
  bf16* tile_k = reinterpret_cast<bf16*>(state + static_cast<long long>(group) * (2 + head_dim));
  bf16* tile_v = tile_k + kGroupTile * head_dim;  // [kGroupTile][head_dim]

  const long long visible = shape.key_count[token];
  const int* table = shape.block_table + token * shape.blocks_per_row;
  const long long per_split = (visible + gridDim.z - 1) / gridDim.z;
  const long long begin = split * per_split;
  const long long end = min(visible, begin + per_split);
  const long long in_block = (1LL << shape.block_bits) - 1;
  const long long kv_offset = static_cast<long long>(kv_head) * head_dim;

  const bf16* q_row = q + token * shape.num_heads * head_dim;
  for (int i = threadIdx.x; i < group * head_dim; i += blockDim.x) {
    queries[i] = to_float(q_row[static_cast<long long>(first_head) * head_dim + i]) * scale;
  }
  for (int h = threadIdx.x; h < group; h += blockDim.x) {
    float* head_state = state + static_cast<long long>(h) * (2 + head_dim);
    head_state[0] = -INFINITY;
    head_state[1] = 0.0f;
  }
  for (int i = threadIdx.x; i < group * (2 + head_dim); i += blockDim.x) {
    if (i % (2 + head_dim) >= 2) state[i] = 0.0f;
  }
  __syncthreads();

  for (long long tile = begin; tile < end; tile += kGroupTile) {
    const int count = static_cast<int>(min(static_cast<long long>(kGroupTile), end - tile));
    for (int i = threadIdx.x; i < count * head_dim; i += blockDim.x) {
      const long long j = tile + i / head_dim;
      const long long row =
          (static_cast<long long>(table[j >> shape.block_bits]) << shape.block_bits) +
          (j & in_block);
      const long long at = row * shape.kv_stride + kv_offset + i % head_dim;
      tile_k[i] = k_cache[at];
      tile_v[i] = v_cache[at];
    }
    __syncthreads();
    for (int h = warp; h < group; h += blockDim.x / 32) {
      const float* query = queries + static_cast<long long>(h) * head_dim;
      float* head_state = state + static_cast<long long>(h) * (2 + head_dim);
      float running_max = head_state[0];
      float running_sum = head_state[1];
      float acc[8];
#pragma unroll
      for (int r = 0; r < 8; ++r) {
        const int d = lane + 32 * r;
        acc[r] = d < head_dim ? head_state[2 + d] : 0.0f;
      }
      for (int j = 0; j < count; ++j) {
        float dot = 0.0f;
#pragma unroll
        for (int r = 0; r < 8; ++r) {
          const int d = lane + 32 * r;
          if (d < head_dim) dot += query[d] * to_float(tile_k[j * head_dim + d]);
        }
        const float score = warp_sum(dot);
        const float new_max = fmaxf(running_max, score);
        const float correction = __expf(running_max - new_max);
        const float weight = __expf(score - new_max);
        running_sum = running_sum * correction + weight;
#pragma unroll
        for (int r = 0; r < 8; ++r) {
          const int d = lane + 32 * r;
          if (d < head_dim)
            acc[r] = acc[r] * correction + weight * to_float(tile_v[j * head_dim + d]);
        }
        running_max = new_max;
      }
#pragma unroll
      for (int r = 0; r < 8; ++r) {
        const int d = lane + 32 * r;
        if (d < head_dim) head_state[2 + d] = acc[r];
      }
      __syncwarp();
      if (lane == 0) {
        head_state[0] = running_max;
        head_state[1] = running_sum;
      }
    }
    __syncthreads();  // the tile is reused; the states are complete
  }

  for (int i = threadIdx.x; i < group * (2 + head_dim); i += blockDim.x) {
    const int h = i / (2 + head_dim);
    const int part = i % (2 + head_dim);
    const long long slot = (token * shape.num_heads + first_head + h) * gridDim.z + split;
    const float value = state[i];
    if (part == 0) {
      partial_max[slot] = value;
    } else if (part == 1) {
      partial_sum[slot] = value;
    } else {
      partial_acc[slot * head_dim + part - 2] = value;
    }
  }
}

// The most keys any query row sees.
long long longest_keys(const AttentionShape& shape) {
  return shape.key_count != nullptr ? shape.max_keys : shape.start + shape.tokens;
}

long long keys_per_split(const AttentionShape& shape, int splits) {
  return (longest_keys(shape) + splits - 1) / splits;
}

}  // namespace

// Batched decode of grouped heads takes the grouped kernel when its shared memory fits.
static bool grouped_decode(const AttentionShape& shape) {
  const int group = shape.num_heads / shape.num_kv_heads;
  return shape.key_count != nullptr && group > 1 && shape.head_dim <= 256 &&
         grouped_shared_bytes(group, shape.head_dim) <= 48 * 1024;
}

int attention_splits(const AttentionShape& shape, int multiprocessors) {
  const long long keys = longest_keys(shape);
  const long long blocks =
      shape.tokens * (grouped_decode(shape) ? shape.num_kv_heads : shape.num_heads);
  // Aim for two waves of blocks, but give each range at least 64 keys.
  long long splits = (2LL * multiprocessors + blocks - 1) / blocks;
  const long long most = (keys + 63) / 64;
  if (splits > most) splits = most;
  if (splits < 1) splits = 1;
  return static_cast<int>(splits);
}

long long attention_workspace_bytes(const AttentionShape& shape, int splits) {
  const long long slots = shape.tokens * shape.num_heads * splits;
  return slots * (2 + shape.head_dim) * static_cast<long long>(sizeof(float));
}

void attention(const void* q, const void* k_cache, const void* v_cache, void* out,
               const AttentionShape& shape, int splits, void* workspace, cudaStream_t stream) {
  if (shape.tokens == 0) return;
  const long long slots = shape.tokens * shape.num_heads * splits;
  float* partial_max = static_cast<float*>(workspace);
  float* partial_sum = partial_max + slots;
  float* partial_acc = partial_sum + slots;
  const dim3 grid(static_cast<unsigned int>(shape.num_heads),
                  static_cast<unsigned int>(shape.tokens), static_cast<unsigned int>(splits));
  const float scale = 1.0f / sqrtf(static_cast<float>(shape.head_dim));
  if (grouped_decode(shape)) {
    const int group = shape.num_heads / shape.num_kv_heads;
    const dim3 grouped_grid(static_cast<unsigned int>(shape.num_kv_heads),
                            static_cast<unsigned int>(shape.tokens),
                            static_cast<unsigned int>(splits));
    const auto bytes = static_cast<size_t>(grouped_shared_bytes(group, shape.head_dim));
    grouped_decode_partial_kernel<<<grouped_grid, 32 * kWarps, bytes, stream>>>(
        static_cast<const bf16*>(q), static_cast<const bf16*>(k_cache),
        static_cast<const bf16*>(v_cache), partial_max, partial_sum, partial_acc, shape, scale);
  } else {
    attention_partial_kernel<<<grid, 32 * kWarps, 0, stream>>>(
        static_cast<const bf16*>(q), static_cast<const bf16*>(k_cache),
        static_cast<const bf16*>(v_cache), partial_max, partial_sum, partial_acc, shape,
        keys_per_split(shape, splits), scale);
  }
  const dim3 combine_grid(static_cast<unsigned int>(shape.num_heads),
                          static_cast<unsigned int>(shape.tokens));
  attention_combine_kernel<<<combine_grid, 128, 0, stream>>>(
      partial_max, partial_sum, partial_acc, static_cast<bf16*>(out), shape, splits);
}

}  // namespace llmpi::kernels
