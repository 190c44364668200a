// Causal attention over a KV cache (contiguous, or paged for a batched decode step), split
// along the keys (flash-decoding): each
// block keeps a running max, sum and weighted value for its key range, never the full score
// matrix; a second kernel merges the ranges.
#pragma once

#include <cuda_runtime_api.h>

namespace llmpi::kernels {

struct AttentionShape {
  long long tokens;  // new queries; query t sits at position start + t
  long long start;
  int num_heads;
  int num_kv_heads;
  int head_dim;         // at most 256
  long long kv_stride;  // elements between consecutive cache rows (kv_heads * head_dim)
  // Batched decode over a paged cache (device arrays, one entry per query row): row t attends
  // to key_count[t] keys instead of 0 .. start + t, key j in cache row
  // block_table[t * blocks_per_row + (j >> block_bits)] << block_bits | (j & block mask);
  // max_keys bounds every key_count. Null for one sequence's causal attention.
  const int* block_table = nullptr;
  const int* key_count = nullptr;
  int blocks_per_row = 0;
  int block_bits = 0;
  long long max_keys = 0;
};

// How many key ranges to split into, so that small batches still fill the GPU.
int attention_splits(const AttentionShape& shape, int multiprocessors);

// Bytes of fp32 workspace the kernels need for `splits` ranges.
long long attention_workspace_bytes(const AttentionShape& shape, int splits);

// q, out: [tokens, num_heads * head_dim] bf16; k_cache, v_cache: [capacity, kv_stride] bf16.
void attention(const void* q, const void* k_cache, const void* v_cache, void* out,
               const AttentionShape& shape, int splits, void* workspace, cudaStream_t stream);

// Prefill on tensor cores (attention_prefill.cu): one sequence, head_dim 64 or 128, at least
// 16 queries.
bool attention_prefill_supported(const AttentionShape& shape);
void attention_prefill(const void* q, const void* k_cache, const void* v_cache, void* out,
                       const AttentionShape& shape, cudaStream_t stream);

}  // namespace llmpi::kernels
