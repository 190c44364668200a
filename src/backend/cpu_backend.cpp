#include "llmpi/backend/cpu_backend.hpp"

#include <cblas.h>
#include <immintrin.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <vector>

#include "llmpi/backend/fp8_e4m3.hpp"
#include "llmpi/backend/sampling_math.hpp"

namespace llmpi {

namespace {

// Up to this many tokens, linear reads each weight row once (one GEMV per row).
constexpr blasint kFewRows = 8;
// Prefill attention through GEMMs from this many query rows, in blocks of kAttentionBlock.
constexpr std::int64_t kBlockedAttentionRows = 16;
constexpr std::int64_t kAttentionBlock = 64;
// A compact weight is widened to fp32 this many bytes of rows at a time (a block that stays in
// L2 while BLAS reads it); prefill blocks are larger so GEMM's packing of x pays less often.
constexpr std::int64_t kWidenBlockBytes = 128 << 10;
constexpr std::int64_t kWidenBlockRowsPrefill = 256;

// Rows [first, first + rows) of a compact (bf16 or fp16) matrix as fp32.
void widen_rows(const Tensor& t, std::int64_t first, std::int64_t rows, float* out) {
  const auto element = static_cast<std::int64_t>(dtype_size(t.dtype));
  convert_to_f32(t.dtype, static_cast<const std::byte*>(t.data) + first * t.cols * element,
                 static_cast<std::size_t>(rows * t.cols), out);
}

// Eight compact weights widened to fp32 in a register.
template <DType Stored>
__attribute__((target("avx2,fma,f16c"))) inline __m256 widen8(const std::uint16_t* in) {
  const __m128i bits = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in));
  if constexpr (Stored == DType::bf16) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(bits), 16));
  } else {
    return _mm256_cvtph_ps(bits);
  }
}

__attribute__((target("avx2,fma"))) inline float horizontal_sum(__m256 v) {
  const __m128 pair = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 two = _mm_add_ps(pair, _mm_movehl_ps(pair, pair));
  return _mm_cvtss_f32(_mm_add_ss(two, _mm_shuffle_ps(two, two, 1)));
}

// Decode with compact weights: each weight row read once from memory, widened in registers and
// multiplied into every token's row (n <= kFewRows, the tokens stay in L1). out[t, r] for rows
// [first, last).
template <DType Stored>
__attribute__((target("avx2,fma,f16c"))) void compact_gemv(const float* x, std::int64_t n,
                                                           std::int64_t k, const Tensor& weight,
                                                           std::int64_t first, std::int64_t last,
                                                           float* out, std::int64_t m) {
  const std::int64_t vector_end = k / 8 * 8;
  for (std::int64_t row = first; row < last; ++row) {
    const std::uint16_t* w = weight.as<const std::uint16_t>() + row * k;
    if (n == 1) {
      // Four accumulators: FMA latency hidden behind independent sums.
      __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                       _mm256_setzero_ps()};
      std::int64_t i = 0;
      for (; i + 32 <= vector_end; i += 32) {
        for (int u = 0; u < 4; ++u) {
          acc[u] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8 * u), widen8<Stored>(w + i + 8 * u),
                                   acc[u]);
        }
      }
      for (; i < vector_end; i += 8) {
        acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), widen8<Stored>(w + i), acc[0]);
      }
      float sum = horizontal_sum(
          _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
      for (; i < k; ++i) {
        sum += x[i] * (Stored == DType::bf16 ? bf16_to_f32(w[i]) : f16_to_f32(w[i]));
      }
      out[row] = sum;
      continue;
    }
    __m256 acc[kFewRows];
    for (std::int64_t t = 0; t < n; ++t) acc[t] = _mm256_setzero_ps();
    for (std::int64_t i = 0; i < vector_end; i += 8) {
      const __m256 wide = widen8<Stored>(w + i);
      for (std::int64_t t = 0; t < n; ++t) {
        acc[t] = _mm256_fmadd_ps(_mm256_loadu_ps(x + t * k + i), wide, acc[t]);
      }
    }
    for (std::int64_t t = 0; t < n; ++t) {
      float sum = horizontal_sum(acc[t]);
      for (std::int64_t i = vector_end; i < k; ++i) {
        sum += x[t * k + i] * (Stored == DType::bf16 ? bf16_to_f32(w[i]) : f16_to_f32(w[i]));
      }
      out[t * m + row] = sum;
    }
  }
}

bool has_avx2_fma_f16c() {
  static const bool supported = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                                __builtin_cpu_supports("f16c");
  return supported;
}

// out[:, first + r] for r < count = x . w[r] with `w` fp32 rows of length k (row stride k),
// out's row stride m: one GEMV for one token, a GEMV per weight row for a few (each row read
// once while the tokens stay in cache), one GEMM for many.
void multiply_rows(const float* x, blasint n, blasint k, const float* w, blasint count, float* out,
                   blasint m) {
  if (count <= 0) return;
  if (n == 1) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, count, k, 1.0f, w, k, x, 1, 0.0f, out, 1);
  } else if (n <= kFewRows) {
    for (blasint row = 0; row < count; ++row) {
      cblas_sgemv(CblasRowMajor, CblasNoTrans, n, k, 1.0f, x, k,
                  w + static_cast<std::int64_t>(row) * k, 1, 0.0f, out + row, m);
    }
  } else {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, count, k, 1.0f, x, k, w, k, 0.0f, out,
                m);
  }
}

}  // namespace

CpuBackend::CpuBackend(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
  // Threads come from OpenMP around each BLAS call (see do_linear); BLAS itself stays serial.
  openblas_set_num_threads(1);
}

std::int64_t CpuBackend::memory_bytes() const {
  return static_cast<std::int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGE_SIZE);
}

Tensor CpuBackend::do_allocate(std::int64_t rows, std::int64_t cols) {
  const auto count = static_cast<std::size_t>(rows * cols);
  std::shared_ptr<float[]> memory(new float[std::max<std::size_t>(count, 1)]());
  Tensor tensor;
  tensor.data = memory.get();
  tensor.storage = std::shared_ptr<void>(memory, memory.get());
  tensor.dtype = DType::f32;
  tensor.location = MemoryLocation::host;
  tensor.rows = rows;
  tensor.cols = cols;
  return tensor;
}

void CpuBackend::do_zero_rows(Tensor& t, std::int64_t first, std::int64_t count) {
  std::memset(t.row_range(first, count).data, 0,
              static_cast<std::size_t>(count * t.cols) * dtype_size(t.dtype));
}

Tensor CpuBackend::do_upload(std::span<const float> host, std::int64_t rows, std::int64_t cols) {
  Tensor tensor = do_allocate(rows, cols);
  std::copy(host.begin(), host.end(), tensor.as<float>());
  return tensor;
}

Tensor CpuBackend::do_upload_weight(std::span<const float> host, std::int64_t rows,
                                    std::int64_t cols, DType stored) {
  if (stored == DType::f32) return do_upload(host, rows, cols);
  const auto count = static_cast<std::size_t>(rows * cols);
  std::shared_ptr<std::uint16_t[]> memory(new std::uint16_t[std::max<std::size_t>(count, 1)]());
  std::uint16_t* bits = memory.get();
  for (std::size_t i = 0; i < count; ++i) {
    bits[i] = stored == DType::bf16 ? f32_to_bf16(host[i]) : f32_to_f16(host[i]);
  }
  Tensor tensor;
  tensor.data = bits;
  tensor.storage = std::shared_ptr<void>(memory, bits);
  tensor.dtype = stored;
  tensor.location = MemoryLocation::host;
  tensor.rows = rows;
  tensor.cols = cols;
  return tensor;
}

std::vector<float> CpuBackend::do_download(const Tensor& tensor) {
  if (tensor.dtype != DType::f32) {
    std::vector<float> values(static_cast<std::size_t>(tensor.numel()));
    widen_rows(tensor, 0, tensor.rows, values.data());
    return values;
  }
  const float* data = tensor.as<const float>();
  return std::vector<float>(data, data + tensor.numel());
}

void CpuBackend::do_copy_rows(const Tensor& src, Tensor& dst, std::int64_t first_row) {
  std::memcpy(dst.as<float>() + first_row * dst.cols, src.as<const float>(),
              static_cast<std::size_t>(src.numel()) * sizeof(float));
}

void CpuBackend::do_scatter_rows(const Tensor& src, Tensor& dst,
                                 std::span<const std::int32_t> rows) {
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::memcpy(dst.as<float>() + static_cast<std::int64_t>(rows[i]) * dst.cols,
                src.as<const float>() + static_cast<std::int64_t>(i) * src.cols,
                static_cast<std::size_t>(src.cols) * sizeof(float));
  }
}

void CpuBackend::do_gather_rows(const Tensor& src, std::span<const std::int32_t> rows,
                                Tensor& dst) {
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::memcpy(dst.as<float>() + static_cast<std::int64_t>(i) * dst.cols,
                src.as<const float>() + static_cast<std::int64_t>(rows[i]) * src.cols,
                static_cast<std::size_t>(src.cols) * sizeof(float));
  }
}

void CpuBackend::do_linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& out) {
  const auto n = static_cast<blasint>(x.rows);
  const auto m = static_cast<blasint>(weight.rows);
  const auto k = static_cast<blasint>(x.cols);
  // Each OpenMP thread multiplies by its own block of weight rows with single-threaded BLAS:
  // one thread pool for every op (BLAS's own threads would spin against OpenMP's), and at
  // decode (n = 1) splitting the weight is what spreads the memory traffic over the cores.
#pragma omp parallel if (static_cast <std::int64_t>(m) * k > 65536)
  {
    const int threads = omp_get_num_threads();
    const int thread = omp_get_thread_num();
    const blasint first = static_cast<blasint>(static_cast<std::int64_t>(m) * thread / threads);
    const blasint last =
        static_cast<blasint>(static_cast<std::int64_t>(m) * (thread + 1) / threads);
    if (weight.dtype == DType::f32) {
      multiply_rows(x.as<const float>(), n, k,
                    weight.as<const float>() + static_cast<std::int64_t>(first) * k, last - first,
                    out.as<float>() + first, m);
    } else if (n <= kFewRows && has_avx2_fma_f16c()) {
      if (weight.dtype == DType::bf16) {
        compact_gemv<DType::bf16>(x.as<const float>(), n, k, weight, first, last, out.as<float>(),
                                  m);
      } else {
        compact_gemv<DType::f16>(x.as<const float>(), n, k, weight, first, last, out.as<float>(),
                                 m);
      }
    } else {
      // Compact weights: read once from memory at half the bytes, widened block by block into
      // a buffer that stays in cache.
      const std::int64_t block =
          n > kFewRows ? kWidenBlockRowsPrefill
                       : std::max<std::int64_t>(8, kWidenBlockBytes / (std::int64_t{k} * 4));
      std::vector<float> widened(static_cast<std::size_t>(block * k));
      for (blasint row = first; row < last; row += static_cast<blasint>(block)) {
        const auto rows = static_cast<blasint>(std::min<std::int64_t>(block, last - row));
        widen_rows(weight, row, rows, widened.data());
        multiply_rows(x.as<const float>(), n, k, widened.data(), rows, out.as<float>() + row, m);
      }
    }
  }
  if (!bias.empty()) {
    const float* b = bias.as<const float>();
    for (std::int64_t row = 0; row < out.rows; ++row) {
      float* y = out.as<float>() + row * out.cols;
      for (std::int64_t col = 0; col < out.cols; ++col) y[col] += b[col];
    }
  }
}

void CpuBackend::do_rms_norm(const Tensor& x, const Tensor& weight, float eps, RmsEpsilon where,
                             Tensor& out) {
  const float* w = weight.as<const float>();
#pragma omp parallel for if (x.rows > 4)
  for (std::int64_t row = 0; row < x.rows; ++row) {
    const float* in = x.as<const float>() + row * x.cols;
    float* y = out.as<float>() + row * x.cols;
    double sum_squares = 0.0;
    for (std::int64_t i = 0; i < x.cols; ++i) sum_squares += static_cast<double>(in[i]) * in[i];
    const double mean_square = sum_squares / static_cast<double>(x.cols);
    const auto scale = static_cast<float>(
        where == RmsEpsilon::in_mean ? 1.0 / std::sqrt(mean_square + static_cast<double>(eps))
                                     : 1.0 / (std::sqrt(mean_square) + static_cast<double>(eps)));
    for (std::int64_t i = 0; i < x.cols; ++i) y[i] = w[i] * (in[i] * scale);
  }
}

void CpuBackend::do_layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps,
                               Tensor& out) {
  const float* w = weight.as<const float>();
  const float* b = bias.as<const float>();
#pragma omp parallel for if (x.rows > 4)
  for (std::int64_t row = 0; row < x.rows; ++row) {
    const float* in = x.as<const float>() + row * x.cols;
    float* y = out.as<float>() + row * x.cols;
    double mean = 0.0;
    for (std::int64_t i = 0; i < x.cols; ++i) mean += in[i];
    mean /= static_cast<double>(x.cols);
    double variance = 0.0;
    for (std::int64_t i = 0; i < x.cols; ++i) {
      const double centered = in[i] - mean;
      variance += centered * centered;
    }
    variance /= static_cast<double>(x.cols);
    const double inv_std = 1.0 / std::sqrt(variance + static_cast<double>(eps));
    for (std::int64_t i = 0; i < x.cols; ++i) {
      y[i] = static_cast<float>((in[i] - mean) * inv_std) * w[i] + b[i];
    }
  }
}

void CpuBackend::do_embedding(std::span<const std::int32_t> ids, const Tensor& table,
                              std::int64_t first_id, Tensor& out) {
  for (std::size_t t = 0; t < ids.size(); ++t) {
    float* row = out.as<float>() + static_cast<std::int64_t>(t) * out.cols;
    const std::int64_t local = ids[t] - first_id;
    if (local < 0 || local >= table.rows) {
      std::fill(row, row + out.cols, 0.0f);
      continue;
    }
    if (table.dtype == DType::f32) {
      std::memcpy(row, table.as<const float>() + local * table.cols,
                  static_cast<std::size_t>(table.cols) * sizeof(float));
    } else {
      widen_rows(table, local, 1, row);
    }
  }
}

void CpuBackend::do_rotary(Tensor& x, int head_dim, std::span<const std::int32_t> positions,
                           float theta, float position_divisor) {
  if (theta == 0.0f) return;  // learned positions: nothing to rotate
  const int half = head_dim / 2;
  // Frequencies in fp32 as transformers computes them, so angles agree to the last bit or two.
  std::vector<float> inv_freq(static_cast<std::size_t>(half));
  for (int i = 0; i < half; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    inv_freq[static_cast<std::size_t>(i)] = static_cast<float>(
        1.0 / std::pow(static_cast<double>(theta), static_cast<double>(exponent)));
  }
  const std::int64_t heads = x.cols / head_dim;
  std::vector<float> cos_table(static_cast<std::size_t>(half));
  std::vector<float> sin_table(static_cast<std::size_t>(half));
  for (std::int64_t t = 0; t < x.rows; ++t) {
    // Interpolated positions divided in fp32, as vtx's LinearlyScaledRotaryEmbedding does.
    const float position =
        static_cast<float>(positions[static_cast<std::size_t>(t)]) / position_divisor;
    for (int i = 0; i < half; ++i) {
      const double angle = static_cast<double>(position * inv_freq[static_cast<std::size_t>(i)]);
      cos_table[static_cast<std::size_t>(i)] = static_cast<float>(std::cos(angle));
      sin_table[static_cast<std::size_t>(i)] = static_cast<float>(std::sin(angle));
    }
    for (std::int64_t h = 0; h < heads; ++h) {
      float* v = x.as<float>() + t * x.cols + h * head_dim;
      for (int i = 0; i < half; ++i) {
        const float c = cos_table[static_cast<std::size_t>(i)];
        const float s = sin_table[static_cast<std::size_t>(i)];
        const float first = v[i];
        const float second = v[i + half];
        v[i] = first * c - second * s;
        v[i + half] = second * c + first * s;
      }
    }
  }
}

void CpuBackend::do_split_qkv(const Tensor& fused, Tensor& q, Tensor& k, Tensor& v) {
  for (std::int64_t t = 0; t < fused.rows; ++t) {
    const float* row = fused.as<const float>() + t * fused.cols;
    std::copy(row, row + q.cols, q.as<float>() + t * q.cols);
    std::copy(row + q.cols, row + q.cols + k.cols, k.as<float>() + t * k.cols);
    std::copy(row + q.cols + k.cols, row + fused.cols, v.as<float>() + t * v.cols);
  }
}

namespace {

// a . b over n floats in eight partial sums, so the compiler vectorises it (a single running
// sum is a dependency chain it may not reorder), with an AVX2 build chosen at run time.
__attribute__((target_clones("avx2", "default"))) float dot(const float* a, const float* b, int n) {
  float partial[8] = {};
  int d = 0;
  for (; d + 8 <= n; d += 8) {
    for (int lane = 0; lane < 8; ++lane) partial[lane] += a[d + lane] * b[d + lane];
  }
  float sum = ((partial[0] + partial[1]) + (partial[2] + partial[3])) +
              ((partial[4] + partial[5]) + (partial[6] + partial[7]));
  for (; d < n; ++d) sum += a[d] * b[d];
  return sum;
}

// Softmax-weighted sum of `count` cache rows for one query head, key j in cache row
// row_of(j); `scores` has room for count.
template <typename RowOf>
void attend(const float* query, const float* keys, const float* values, std::int64_t stride,
            RowOf row_of, std::int64_t count, int head_dim, float scale, float* scores,
            float* result) {
  float max_score = -INFINITY;
  for (std::int64_t j = 0; j < count; ++j) {
    const float score = dot(query, keys + row_of(j) * stride, head_dim) * scale;
    scores[j] = score;
    max_score = std::max(max_score, score);
  }
  float total = 0.0f;
  for (std::int64_t j = 0; j < count; ++j) {
    scores[j] = std::exp(scores[j] - max_score);
    total += scores[j];
  }
  std::fill(result, result + head_dim, 0.0f);
  const float inverse_total = 1.0f / total;
  for (std::int64_t j = 0; j < count; ++j) {
    const float weight = scores[j] * inverse_total;
    const float* value = values + row_of(j) * stride;
    for (int d = 0; d < head_dim; ++d) result[d] += weight * value[d];
  }
}

// Prefill: for each head and block of query rows, scores = Q K^T and out = softmax(scores) V
// as two GEMMs over the keys the block can see (the scores of one block at a time, never the
// whole matrix), with the causal mask applied between them.
void blocked_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, int num_heads,
                       int group, int head_dim, std::int64_t start, float scale, Tensor& out) {
  const std::int64_t tokens = q.rows;
  const std::int64_t blocks = (tokens + kAttentionBlock - 1) / kAttentionBlock;
#pragma omp parallel
  {
    std::vector<float> scores(static_cast<std::size_t>(kAttentionBlock * (start + tokens)));
#pragma omp for collapse(2) schedule(dynamic)
    for (int h = 0; h < num_heads; ++h) {
      for (std::int64_t block = 0; block < blocks; ++block) {
        const std::int64_t first = block * kAttentionBlock;
        const std::int64_t rows = std::min(kAttentionBlock, tokens - first);
        const std::int64_t keys = start + first + rows;  // the block's last row sees these
        const std::int64_t kv_offset = static_cast<std::int64_t>(h / group) * head_dim;
        const std::int64_t head_offset = static_cast<std::int64_t>(h) * head_dim;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(rows),
                    static_cast<blasint>(keys), head_dim, scale,
                    q.as<const float>() + first * q.cols + head_offset,
                    static_cast<blasint>(q.cols), k_cache.as<const float>() + kv_offset,
                    static_cast<blasint>(k_cache.cols), 0.0f, scores.data(),
                    static_cast<blasint>(keys));
        for (std::int64_t r = 0; r < rows; ++r) {
          float* row = scores.data() + r * keys;
          const std::int64_t visible = start + first + r + 1;  // causal
          const float max = *std::max_element(row, row + visible);
          float total = 0.0f;
          for (std::int64_t j = 0; j < visible; ++j) {
            row[j] = std::exp(row[j] - max);
            total += row[j];
          }
          for (std::int64_t j = 0; j < visible; ++j) row[j] /= total;
          std::fill(row + visible, row + keys, 0.0f);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(rows), head_dim,
                    static_cast<blasint>(keys), 1.0f, scores.data(), static_cast<blasint>(keys),
                    v_cache.as<const float>() + kv_offset, static_cast<blasint>(v_cache.cols), 0.0f,
                    out.as<float>() + first * out.cols + head_offset,
                    static_cast<blasint>(out.cols));
      }
    }
  }
}

}  // namespace

void CpuBackend::do_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                              int num_heads, int num_kv_heads, int head_dim, std::int64_t start,
                              Tensor& out) {
  const int group = num_heads / num_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  const std::int64_t tokens = q.rows;
  if (tokens >= kBlockedAttentionRows) {
    blocked_attention(q, k_cache, v_cache, num_heads, group, head_dim, start, scale, out);
    return;
  }
#pragma omp parallel
  {
    std::vector<float> scores(static_cast<std::size_t>(start + tokens));
#pragma omp for collapse(2) schedule(static)
    for (int h = 0; h < num_heads; ++h) {
      for (std::int64_t t = 0; t < tokens; ++t) {
        const std::int64_t kv_offset = static_cast<std::int64_t>(h / group) * head_dim;
        const std::int64_t head_offset = static_cast<std::int64_t>(h) * head_dim;
        // Causal: query t sees keys 0 .. start + t.
        attend(
            q.as<const float>() + t * q.cols + head_offset, k_cache.as<const float>() + kv_offset,
            v_cache.as<const float>() + kv_offset, k_cache.cols, [](std::int64_t j) { return j; },
            start + t + 1, head_dim, scale, scores.data(),
            out.as<float>() + t * out.cols + head_offset);
      }
    }
  }
}

void CpuBackend::do_decode_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                                     int num_heads, int num_kv_heads, int head_dim,
                                     const PagedKeys& keys, Tensor& out) {
  const int group = num_heads / num_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  const std::int64_t rows = q.rows;
  if (rows == 0) return;
  const std::int32_t longest = *std::max_element(keys.key_count.begin(), keys.key_count.end());
  const std::int64_t block = keys.block_tokens;
  const int shift = std::countr_zero(static_cast<std::uint64_t>(block));
#pragma omp parallel
  {
    std::vector<float> scores(static_cast<std::size_t>(longest));
#pragma omp for collapse(2) schedule(static)
    for (std::int64_t r = 0; r < rows; ++r) {
      for (int h = 0; h < num_heads; ++h) {
        const std::int32_t* table =
            keys.block_table.data() + r * static_cast<std::int64_t>(keys.blocks_per_row);
        // Blocks are a power of two tokens: shifts and masks, not divisions, per key.
        const auto row_of = [table, shift, block](std::int64_t j) {
          return (static_cast<std::int64_t>(table[j >> shift]) << shift) + (j & (block - 1));
        };
        const std::int64_t kv_offset = static_cast<std::int64_t>(h / group) * head_dim;
        const std::int64_t head_offset = static_cast<std::int64_t>(h) * head_dim;
        attend(q.as<const float>() + r * q.cols + head_offset,
               k_cache.as<const float>() + kv_offset, v_cache.as<const float>() + kv_offset,
               k_cache.cols, row_of, keys.key_count[static_cast<std::size_t>(r)], head_dim, scale,
               scores.data(), out.as<float>() + r * out.cols + head_offset);
      }
    }
  }
}

void CpuBackend::do_gated_mul(const Tensor& gate_up, GateActivation activation, Tensor& out) {
  const std::int64_t width = out.cols;
#pragma omp parallel for if (out.numel() > 65536)
  for (std::int64_t t = 0; t < out.rows; ++t) {
    const float* gate = gate_up.as<const float>() + t * gate_up.cols;
    const float* up = gate + width;
    float* y = out.as<float>() + t * width;
    switch (activation) {
      case GateActivation::silu:
        for (std::int64_t i = 0; i < width; ++i)
          y[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
        break;
      case GateActivation::gelu:
        for (std::int64_t i = 0; i < width; ++i)
          y[i] = 0.5f * gate[i] * (1.0f + std::erf(gate[i] * 0.70710678118654752f)) * up[i];
        break;
      case GateActivation::identity:
        for (std::int64_t i = 0; i < width; ++i) y[i] = gate[i] * up[i];
        break;
    }
  }
}

namespace {
// Calls run(first_row, rows, slot) for each run of consecutive rows with one slot.
template <class Run>
void for_each_slot_run(std::span<const std::int32_t> slots, Run run) {
  std::size_t first = 0;
  while (first < slots.size()) {
    std::size_t end = first + 1;
    while (end < slots.size() && slots[end] == slots[first]) ++end;
    run(static_cast<std::int64_t>(first), static_cast<std::int64_t>(end - first), slots[first]);
    first = end;
  }
}
}  // namespace

void CpuBackend::do_causal_conv(const Tensor& x, const Tensor& taps, int group_width,
                                const Tensor& skip, Tensor& state,
                                std::span<const std::int32_t> slots, Tensor& out) {
  const std::int64_t channels = x.cols;
  const std::int64_t length = taps.cols;
  const std::int64_t kept = length - 1;
  for_each_slot_run(slots, [&](std::int64_t first, std::int64_t rows, std::int32_t slot) {
    float* saved = state.as<float>() + slot * state.cols;  // [kept, channels], oldest first
#pragma omp parallel if (channels * rows * length > 65536)
    {
      // One channel's earlier inputs, then the run's: one buffer per thread, not per channel.
      std::vector<float> history(static_cast<std::size_t>(kept + rows));
#pragma omp for
      for (std::int64_t c = 0; c < channels; ++c) {
        for (std::int64_t j = 0; j < kept; ++j)
          history[static_cast<std::size_t>(j)] = saved[j * channels + c];
        for (std::int64_t t = 0; t < rows; ++t)
          history[static_cast<std::size_t>(kept + t)] =
              x.as<const float>()[(first + t) * channels + c];
        const float* w = taps.as<const float>() + (c / group_width) * length;
        const float d = skip.empty() ? 0.0f : skip.as<const float>()[c];
        for (std::int64_t t = 0; t < rows; ++t) {
          const float* now = history.data() + kept + t;
          float sum = 0.0f;
          for (std::int64_t k = 0; k < length; ++k) sum += w[k] * now[-k];
          out.as<float>()[(first + t) * channels + c] = sum + d * now[0];
        }
        for (std::int64_t j = 0; j < kept; ++j)
          saved[j * channels + c] = history[static_cast<std::size_t>(rows + j)];
      }
    }
  });
}

void CpuBackend::do_modal_scan(const Tensor& u, const Tensor& log_poles, const Tensor& residues,
                               const Tensor& skip, Tensor& state,
                               std::span<const std::int32_t> slots, Tensor& out) {
  const std::int64_t channels = u.cols;
  const std::int64_t poles = log_poles.cols;
  for_each_slot_run(slots, [&](std::int64_t first, std::int64_t rows, std::int32_t slot) {
#pragma omp parallel if (channels * rows * poles > 65536)
    {
      // The poles are kept as logs (a bf16 backend keeps 1 - p far better so) and exponentiated
      // per call, into one buffer per thread.
      std::vector<float> p(static_cast<std::size_t>(poles));
#pragma omp for
      for (std::int64_t c = 0; c < channels; ++c) {
        float* h = state.as<float>() + slot * state.cols + c * poles;
        const float* log_p = log_poles.as<const float>() + c * poles;
        const float* r = residues.as<const float>() + c * poles;
        for (std::int64_t k = 0; k < poles; ++k)
          p[static_cast<std::size_t>(k)] = std::exp(log_p[k]);
        const float d = skip.as<const float>()[c];
        for (std::int64_t t = 0; t < rows; ++t) {
          const float input = u.as<const float>()[(first + t) * channels + c];
          float y = 0.0f;
          for (std::int64_t k = 0; k < poles; ++k) {
            h[k] = p[static_cast<std::size_t>(k)] * h[k] + input;
            y += r[k] * h[k];
          }
          out.as<float>()[(first + t) * channels + c] = y + d * input;
        }
      }
    }
  });
}

void CpuBackend::do_hyena_input(const Tensor& zc, Tensor& u) {
  for (std::int64_t t = 0; t < u.rows; ++t) {
    const float* z = zc.as<const float>() + t * zc.cols;
    float* y = u.as<float>() + t * u.cols;
    for (std::int64_t c = 0; c < u.cols; ++c) y[c] = z[3 * c + 1] * z[3 * c + 2];
  }
}

void CpuBackend::do_hyena_output(const Tensor& zc, const Tensor& y, Tensor& out) {
  for (std::int64_t t = 0; t < y.rows; ++t) {
    const float* z = zc.as<const float>() + t * zc.cols;
    const float* in = y.as<const float>() + t * y.cols;
    float* o = out.as<float>() + t * out.cols;
    for (std::int64_t c = 0; c < y.cols; ++c) o[c] = z[3 * c] * in[c];
  }
}

void CpuBackend::do_quantize_e4m3(const Tensor& x, Fp8Scaling scaling, Tensor& quantized,
                                  Tensor& inverse_scales) {
  const float* in = x.as<const float>();
  std::vector<float> amax(static_cast<std::size_t>(x.rows), 0.0f);
  for (std::int64_t r = 0; r < x.rows; ++r) {
    // fmax skips NaN, as TE's amax does.
    for (std::int64_t c = 0; c < x.cols; ++c) {
      amax[static_cast<std::size_t>(r)] =
          std::fmax(amax[static_cast<std::size_t>(r)], std::fabs(in[r * x.cols + c]));
    }
  }
  if (scaling == Fp8Scaling::per_tensor && !amax.empty()) {
    std::fill(amax.begin(), amax.end(), *std::max_element(amax.begin(), amax.end()));
  }
  float* out = quantized.as<float>();
  float* inverse = inverse_scales.as<float>();
  for (std::int64_t r = 0; r < x.rows; ++r) {
    const float scale = e4m3_scale(amax[static_cast<std::size_t>(r)]);
    for (std::int64_t c = 0; c < x.cols; ++c) {
      out[r * x.cols + c] = round_to_e4m3(in[r * x.cols + c] * scale);
    }
    inverse[r] = 1.0f / scale;
  }
}

void CpuBackend::do_scale_rows(Tensor& x, const Tensor& factors, float common) {
  float* data = x.as<float>();
  const float* f = factors.as<const float>();
  for (std::int64_t r = 0; r < x.rows; ++r) {
    const float factor = f[r] * common;
    for (std::int64_t c = 0; c < x.cols; ++c) data[r * x.cols + c] *= factor;
  }
}

void CpuBackend::do_gelu(Tensor& x) {
  float* data = x.as<float>();
  const std::int64_t count = x.numel();
#pragma omp parallel for if (count > 65536)
  for (std::int64_t i = 0; i < count; ++i) {
    data[i] = 0.5f * data[i] * (1.0f + std::erf(data[i] * 0.70710678118654752f));
  }
}

void CpuBackend::do_gelu_tanh(Tensor& x) {
  float* data = x.as<float>();
  const std::int64_t count = x.numel();
#pragma omp parallel for if (count > 65536)
  for (std::int64_t i = 0; i < count; ++i) {
    const float v = data[i];
    data[i] = 0.5f * v * (1.0f + std::tanh(0.79788456080286536f * (v + 0.044715f * v * v * v)));
  }
}

void CpuBackend::do_add(Tensor& acc, const Tensor& x) {
  float* a = acc.as<float>();
  const float* b = x.as<const float>();
  const std::int64_t count = acc.numel();
  for (std::int64_t i = 0; i < count; ++i) a[i] += b[i];
}

std::vector<RowMax> CpuBackend::do_max_rows(const Tensor& x) {
  std::vector<RowMax> result(static_cast<std::size_t>(x.rows));
  for (std::int64_t row = 0; row < x.rows; ++row) {
    const float* v = x.as<const float>() + row * x.cols;
    const float* best = std::max_element(v, v + x.cols);
    result[static_cast<std::size_t>(row)] = {*best, static_cast<std::int32_t>(best - v)};
  }
  return result;
}

}  // namespace llmpi

namespace llmpi {

std::vector<RowLogSoftmax> CpuBackend::do_log_softmax_rows(const Tensor& logits,
                                                           std::span<const std::int32_t> targets) {
  std::vector<RowLogSoftmax> result(targets.size());
  for (std::int64_t r = 0; r < logits.rows; ++r) {
    const float* row = logits.as<const float>() + r * logits.cols;
    const float max = *std::max_element(row, row + logits.cols);
    double sum = 0.0;
    for (std::int64_t c = 0; c < logits.cols; ++c)
      sum += std::exp(static_cast<double>(row[c]) - max);
    const std::int32_t target = targets[static_cast<std::size_t>(r)];
    result[static_cast<std::size_t>(r)] = {
        max, static_cast<float>(sum), target >= 0 && target < logits.cols ? row[target] : 0.0f};
  }
  return result;
}

void CpuBackend::do_mass_histogram(const Tensor& logits, std::span<const float> row_max,
                                   float inv_temperature, std::span<const std::uint32_t> prefix,
                                   int prefix_bits, std::span<std::uint64_t> histogram) {
  std::fill(histogram.begin(), histogram.end(), 0);
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < logits.rows; ++r) {
    const float* row = logits.as<const float>() + r * logits.cols;
    const auto at = static_cast<std::size_t>(r);
    std::uint64_t* bins = histogram.data() + at * sampling::kBins;
    for (std::int64_t c = 0; c < logits.cols; ++c) {
      const std::uint32_t key = sampling::sortable_key(row[c]);
      if (!sampling::has_prefix(key, prefix[at], prefix_bits)) continue;
      bins[sampling::bin_of(key, prefix_bits)] +=
          sampling::fixed_mass(row[c], row_max[at], inv_temperature);
    }
  }
}

std::vector<RowMax> CpuBackend::do_gumbel_max_rows(const Tensor& logits,
                                                   std::span<const float> row_max,
                                                   float inv_temperature,
                                                   std::span<const std::uint32_t> threshold,
                                                   std::span<const std::uint64_t> seeds,
                                                   std::int64_t first_column) {
  std::vector<RowMax> result(seeds.size(), RowMax{-INFINITY, 0});
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < logits.rows; ++r) {
    const float* row = logits.as<const float>() + r * logits.cols;
    const auto at = static_cast<std::size_t>(r);
    RowMax& best = result[at];
    for (std::int64_t c = 0; c < logits.cols; ++c) {
      if (sampling::sortable_key(row[c]) < threshold[at]) continue;
      const float key = sampling::gumbel_key(
          row[c], row_max[at], inv_temperature,
          sampling::uniform_noise(seeds[at], static_cast<long long>(first_column + c)));
      if (key > best.value) best = RowMax{key, static_cast<std::int32_t>(c)};
    }
  }
  return result;
}

}  // namespace llmpi
