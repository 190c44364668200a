#include "llmpi/backend/cuda_backend.hpp"

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <string>
#include <thread>

#include "argmax.cuh"
#include "attention.cuh"
#include "cuda_check.hpp"
#include "elementwise.cuh"
#include "fp8.cuh"
#include "hyena.cuh"
#include "llmpi/backend/sampling_math.hpp"
#include "llmpi/core/error.hpp"
#include "log_softmax.cuh"
#include "norm.cuh"
#include "rotary.cuh"
#include "sampling.cuh"

namespace llmpi {

#define CHECK_CUDA(call) LLMPI_CUDA_CHECK(device_, call)
#define CHECK_CUBLAS(call) LLMPI_CUBLAS_CHECK(device_, call)

std::optional<std::string> cuda_unavailable_reason() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    return std::string("cudaGetDeviceCount: ") + cudaGetErrorString(status);
  }
  if (count == 0) return std::string("no CUDA device is visible");
  return std::nullopt;
}

namespace {

// Backend's public ops have checked every argument; what is checked here is this backend's own
// limits (the kernels' int extents, the head sizes they support), which the CPU does not have.
void require(bool condition, const char* op, const std::string& what) {
  if (!condition) throw Error(std::string("cuda backend ") + op + ": " + what);
}

std::string dims(const Tensor& t) {
  return "[" + std::to_string(t.rows) + ", " + std::to_string(t.cols) + "]";
}

// cuBLAS's and cuBLASLt's: they then allocate nothing while a decode step is captured.
constexpr std::size_t kCublasWorkspace = std::size_t{32} << 20;

// Kernels and cuBLAS take int extents.
int as_int(std::int64_t value, const char* what) {
  require(value >= 0 && value <= 0x7fffffff, "shape", std::string(what) + " out of int range");
  return static_cast<int>(value);
}

}  // namespace

// One FP8 GEMM shape for cuBLASLt: out^T [m, n] = weight [m, k] x^T [k, n] in column-major
// terms (row-major out = x weight^T), which is the "TN" form cuBLASLt's FP8 kernels require.
struct CudaBackend::Fp8Gemm {
  struct DescDeleter {
    void operator()(cublasLtMatmulDescOpaque_t* d) const { cublasLtMatmulDescDestroy(d); }
  };
  struct LayoutDeleter {
    void operator()(cublasLtMatrixLayoutOpaque_t* l) const { cublasLtMatrixLayoutDestroy(l); }
  };
  std::unique_ptr<cublasLtMatmulDescOpaque_t, DescDeleter> desc;
  std::unique_ptr<cublasLtMatrixLayoutOpaque_t, LayoutDeleter> weight, x, out;
  cublasLtMatmulAlgo_t algo{};
};

// The stream, the cuBLAS and cuBLASLt handles and the FP8 GEMMs made with the latter,
// destroyed in reverse order of creation.
struct CudaBackend::Handles {
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  void* cublas_workspace = nullptr;
  cublasLtHandle_t cublas_lt = nullptr;
  // By shape {m, n, k}; nullptr where cuBLASLt has no algorithm. About 1 KB each, and n (a
  // chunk's or a decode batch's rows) is at most a step's tokens, so they are all kept.
  std::map<std::array<int, 3>, std::unique_ptr<Fp8Gemm>> fp8_gemms;
  ~Handles() {
    fp8_gemms.clear();
    if (cublas_lt != nullptr) cublasLtDestroy(cublas_lt);
    if (cublas != nullptr) cublasDestroy(cublas);
    if (cublas_workspace != nullptr) cudaFree(cublas_workspace);
    if (stream != nullptr) cudaStreamDestroy(stream);
  }
};

// One captured decode step: the executable graph, the device buffer its index arrays are read
// from, and the buffer its result is written to.
struct CudaBackend::Recording {
  cudaGraphExec_t graph = nullptr;
  std::shared_ptr<void> indices;
  std::vector<std::size_t> sizes;  // ints per array, as captured
  Tensor output;
  Recording() = default;
  Recording(const Recording&) = delete;
  Recording& operator=(const Recording&) = delete;
  ~Recording() {
    // An executable graph still running is freed when it finishes.
    if (graph != nullptr) cudaGraphExecDestroy(graph);
  }
};

CudaBackend::CudaBackend(int device) : device_(device), handles_(std::make_unique<Handles>()) {
  if (auto reason = cuda_unavailable_reason()) throw Error("CUDA backend: " + *reason);
  CHECK_CUDA(cudaSetDevice(device_));
  CHECK_CUDA(cudaDeviceGetAttribute(&multiprocessors_, cudaDevAttrMultiProcessorCount, device_));
  CHECK_CUDA(cudaStreamCreateWithFlags(&handles_->stream, cudaStreamNonBlocking));
  CHECK_CUBLAS(cublasCreate(&handles_->cublas));
  CHECK_CUBLAS(cublasSetStream(handles_->cublas, handles_->stream));
  // A workspace of our own, which cuBLASLt's GEMMs share (they run on the same stream).
  CHECK_CUDA(cudaMalloc(&handles_->cublas_workspace, kCublasWorkspace));
  CHECK_CUBLAS(cublasSetWorkspace(handles_->cublas, handles_->cublas_workspace, kCublasWorkspace));
  CHECK_CUBLAS(cublasLtCreate(&handles_->cublas_lt));
  int major = 0;
  int minor = 0;
  CHECK_CUDA(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device_));
  CHECK_CUDA(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device_));
  fp8_capable_ = major * 10 + minor >= 89;  // Ada (8.9), Hopper (9.0) and later
  fp8_gemms_ = fp8_capable_;
  // Keep freed blocks in the stream-ordered pool: per-step temporaries then cost no syscalls.
  cudaMemPool_t pool = nullptr;
  CHECK_CUDA(cudaDeviceGetDefaultMemPool(&pool, device_));
  std::uint64_t threshold = UINT64_MAX;
  CHECK_CUDA(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold));
}

CudaBackend::~CudaBackend() {
  // Not while an error unwinds: a collective whose peer died would never let the sync return,
  // and the process is about to end (MPI_Abort) anyway.
  if (handles_->stream != nullptr && std::uncaught_exceptions() == 0) {
    cudaStreamSynchronize(handles_->stream);
  }
  // Their memory is freed on the stream, which handles_ is about to destroy.
  recordings_.clear();
  last_run_.clear();
  capture_.reset();
  uploads_ = {};
  wait_checks_.clear();
}

std::string CudaBackend::pci_bus_id() const {
  char id[32] = {};
  LLMPI_CUDA_CHECK(device_, cudaDeviceGetPCIBusId(id, sizeof id, device_));
  return id;
}

std::string CudaBackend::name() const {
  cudaDeviceProp properties{};
  if (cudaGetDeviceProperties(&properties, device_) != cudaSuccess) return "cuda";
  return "cuda:" + std::to_string(device_) + " (" + properties.name + ")";
}

std::int64_t CudaBackend::memory_bytes() const {
  std::size_t free_bytes = 0;
  std::size_t total_bytes = 0;
  LLMPI_CUDA_CHECK(device_, cudaMemGetInfo(&free_bytes, &total_bytes));
  return static_cast<std::int64_t>(total_bytes);
}

cudaStream_t CudaBackend::stream() const {
  return handles_->stream;
}

void CudaBackend::synchronize() {
  wait_for_stream("synchronize");
}

int CudaBackend::add_wait_check(std::function<void()> check) {
  wait_checks_.emplace(next_wait_check_, std::move(check));
  return next_wait_check_++;
}

void CudaBackend::remove_wait_check(int id) {
  wait_checks_.erase(id);
}

void CudaBackend::wait_for_stream(const char* why) {
  if (wait_checks_.empty() && wait_timeout_.count() == 0) {
    CHECK_CUDA(cudaStreamSynchronize(handles_->stream));
    return;
  }
  // Poll instead of blocking: a collective whose peer died never finishes, and only the
  // checks (NCCL's asynchronous error) or the timeout can end the wait.
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  Clock::time_point next_check = start;
  const Clock::time_point spin_until = start + std::chrono::microseconds(200);
  while (true) {
    const cudaError_t status = cudaStreamQuery(handles_->stream);
    if (status == cudaSuccess) return;
    if (status != cudaErrorNotReady) CHECK_CUDA(status);
    const Clock::time_point now = Clock::now();
    if (now >= next_check) {
      for (const auto& [id, check] : wait_checks_) check();
      next_check = now + std::chrono::milliseconds(1);
    }
    if (wait_timeout_.count() > 0 && now - start > wait_timeout_) {
      throw Error("CUDA device " + std::to_string(device_) + ": work did not finish within " +
                  std::to_string(wait_timeout_.count()) + " s (waiting to " + why +
                  "); a collective's peer has probably failed (LLMPI_COMM_TIMEOUT_S sets the "
                  "limit, NCCL_DEBUG=INFO tells more)");
    }
    // Short waits (a decode step's last kernels) spin; longer ones give the core back.
    if (now < spin_until) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }
}

void CudaBackend::check_last_launch(const char* kernel) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess) {
    throw Error(std::string("kernel ") + kernel + " failed to launch on CUDA device " +
                std::to_string(device_) + ": " + cudaGetErrorString(status));
  }
}

std::shared_ptr<void> CudaBackend::device_bytes(std::size_t bytes) {
  void* pointer = nullptr;
  CHECK_CUDA(cudaMallocAsync(&pointer, std::max<std::size_t>(bytes, 16), handles_->stream));
  cudaStream_t stream = handles_->stream;
  // Freed in stream order: later work on the same stream may still be using it until then.
  return std::shared_ptr<void>(pointer, [stream](void* p) { cudaFreeAsync(p, stream); });
}

std::shared_ptr<void> CudaBackend::device_copy(const void* host, std::size_t bytes) {
  auto memory = device_bytes(bytes);
  CHECK_CUDA(cudaMemcpyAsync(memory.get(), host, bytes, cudaMemcpyHostToDevice, handles_->stream));
  // Pageable source: the copy is staged before cudaMemcpyAsync returns, so `host` may go.
  return memory;
}

void CudaBackend::read_back(void* host, const void* device, std::size_t bytes, const char* why) {
  CHECK_CUDA(cudaMemcpyAsync(host, device, bytes, cudaMemcpyDeviceToHost, handles_->stream));
  wait_for_stream(why);
}

std::shared_ptr<int> CudaBackend::device_ints(std::span<const std::int32_t> values) {
  if (capture_) {
    // The recording must read the buffer each replay refills: find the declared array.
    for (std::size_t i = 0; i < capture_->indices.size(); ++i) {
      const std::span<const std::int32_t> declared = capture_->indices[i];
      if (declared.data() == values.data() && declared.size() == values.size()) {
        return std::shared_ptr<int>(
            capture_->buffer, static_cast<int*>(capture_->buffer.get()) + capture_->offsets[i]);
      }
    }
    throw Error("CUDA device " + std::to_string(device_) +
                ": the step passed an op an index array it did not declare to run_repeated");
  }
  // A decode step passes the same few index arrays (positions, cache rows, key ranges) to every
  // layer: reuse an upload whose contents match instead of copying again. Uploaded arrays are
  // never written, so sharing one with work still in flight is safe.
  for (const UploadedInts& upload : uploads_) {
    if (std::ranges::equal(upload.host, values)) return upload.device;
  }
  auto memory = device_copy(values.data(), values.size_bytes());
  std::shared_ptr<int> device(memory, static_cast<int*>(memory.get()));
  UploadedInts& slot = uploads_[next_upload_];
  next_upload_ = (next_upload_ + 1) % uploads_.size();
  slot.host.assign(values.begin(), values.end());
  slot.device = device;
  return device;
}

std::unique_ptr<CudaBackend::Recording> CudaBackend::record(
    const RepeatedStep& shape, std::span<const std::span<const std::int32_t>> indices,
    const std::function<Tensor()>& step) {
  auto recording = std::make_unique<Recording>();
  std::size_t total = 0;
  std::vector<std::size_t> offsets;
  for (const auto& array : indices) {
    offsets.push_back(total);
    recording->sizes.push_back(array.size());
    total += array.size();
  }
  // Allocated before the capture: memory allocated inside it would belong to the graph.
  recording->indices = device_bytes(total * sizeof(std::int32_t));
  if (shape.output_cols > 0) recording->output = allocate(shape.rows, shape.output_cols);
  CHECK_CUDA(cudaStreamBeginCapture(handles_->stream, cudaStreamCaptureModeThreadLocal));
  capture_ = Capture{indices, recording->indices, std::move(offsets), shape.max_keys};
  cudaGraph_t graph = nullptr;
  try {
    const Tensor result = step();
    if (shape.output_cols > 0) {
      require(result.rows == recording->output.rows && result.cols == recording->output.cols,
              "run_repeated", dims(result) + " vs " + dims(recording->output));
      CHECK_CUDA(cudaMemcpyAsync(recording->output.data, result.data,
                                 static_cast<std::size_t>(result.numel()) * 2,
                                 cudaMemcpyDeviceToDevice, handles_->stream));
    }
  } catch (const std::exception& error) {
    capture_.reset();
    if (cudaStreamEndCapture(handles_->stream, &graph) == cudaSuccess && graph != nullptr) {
      cudaGraphDestroy(graph);
    }
    throw Error(std::string("recording a decode step as a CUDA graph: ") + error.what() +
                " (LLMPI_CUDA_GRAPHS=0 launches every op instead)");
  }
  capture_.reset();
  // The step's temporaries were freed inside the capture, so the graph owns no memory past
  // its own launch.
  CHECK_CUDA(cudaStreamEndCapture(handles_->stream, &graph));
  const cudaError_t instantiated = cudaGraphInstantiate(&recording->graph, graph, 0);
  cudaGraphDestroy(graph);
  CHECK_CUDA(instantiated);
  return recording;
}

Tensor CudaBackend::run_repeated(const RepeatedStep& shape,
                                 std::span<const std::span<const std::int32_t>> indices,
                                 const std::function<Tensor()>& step) {
  if (!graphs_ || capture_) return step();
  const bool seen_before = last_run_.contains(shape);
  last_run_[shape] = ++runs_;
  auto found = recordings_.find(shape);
  if (found == recordings_.end() && !seen_before) return step();
  const bool same_sizes =
      found != recordings_.end() &&
      std::ranges::equal(found->second->sizes, indices, {}, {},
                         [](std::span<const std::int32_t> array) { return array.size(); });
  if (!same_sizes) {
    if (found != recordings_.end()) recordings_.erase(found);
    if (recordings_.size() >= kMaxRecordings) {
      const auto oldest = std::ranges::min_element(
          recordings_, {}, [&](const auto& entry) { return last_run_.at(entry.first); });
      // Forgotten as a shape too: it must repeat again before it is recorded again.
      last_run_.erase(oldest->first);
      recordings_.erase(oldest);
    }
    found = recordings_.emplace(shape, record(shape, indices, step)).first;
  }
  Recording& recording = *found->second;
  std::vector<std::int32_t> packed;
  for (const auto& array : indices) packed.insert(packed.end(), array.begin(), array.end());
  // Stream-ordered after the previous replay, which may still be reading the buffer.
  CHECK_CUDA(cudaMemcpyAsync(recording.indices.get(), packed.data(),
                             packed.size() * sizeof(std::int32_t), cudaMemcpyHostToDevice,
                             handles_->stream));
  CHECK_CUDA(cudaGraphLaunch(recording.graph, handles_->stream));
  if (shape.output_cols == 0) return Tensor{};
  // The caller's own copy: the next replay overwrites the recording's output.
  Tensor result = allocate(shape.rows, shape.output_cols);
  copy_rows(recording.output, result, 0);
  return result;
}

void CudaBackend::set_records_repeated(bool on) {
  graphs_ = on;
  if (!on) {
    recordings_.clear();
    last_run_.clear();
  }
}

void CudaBackend::forget_repeated(std::uint64_t cache_id) {
  std::erase_if(recordings_, [&](const auto& entry) { return entry.first.cache_id == cache_id; });
  std::erase_if(last_run_, [&](const auto& entry) { return entry.first.cache_id == cache_id; });
}

Tensor CudaBackend::device_tensor(std::int64_t rows, std::int64_t cols, DType dtype) {
  Tensor tensor;
  tensor.storage = device_bytes(static_cast<std::size_t>(rows * cols) * dtype_size(dtype));
  tensor.data = tensor.storage.get();
  tensor.dtype = dtype;
  tensor.location = MemoryLocation::device;
  tensor.rows = rows;
  tensor.cols = cols;
  return tensor;
}

Tensor CudaBackend::do_allocate(std::int64_t rows, std::int64_t cols) {
  return device_tensor(rows, cols, DType::bf16);
}

Tensor CudaBackend::do_allocate_e4m3(std::int64_t rows, std::int64_t cols) {
  return device_tensor(rows, cols, DType::e4m3);
}

Tensor CudaBackend::do_allocate_state(std::int64_t rows, std::int64_t cols) {
  return device_tensor(rows, cols, DType::f32);
}

void CudaBackend::do_zero_rows(Tensor& t, std::int64_t first, std::int64_t count) {
  const std::size_t row_bytes = static_cast<std::size_t>(t.cols) * dtype_size(t.dtype);
  CHECK_CUDA(
      cudaMemsetAsync(static_cast<char*>(t.data) + static_cast<std::size_t>(first) * row_bytes, 0,
                      static_cast<std::size_t>(count) * row_bytes, handles_->stream));
}

Tensor CudaBackend::do_upload(std::span<const float> host, std::int64_t rows, std::int64_t cols) {
  std::vector<std::uint16_t> bits(host.size());
  std::transform(host.begin(), host.end(), bits.begin(), f32_to_bf16);
  Tensor tensor = do_allocate(rows, cols);
  CHECK_CUDA(cudaMemcpyAsync(tensor.data, bits.data(), bits.size() * 2, cudaMemcpyHostToDevice,
                             handles_->stream));
  wait_for_stream("upload");
  return tensor;
}

Tensor CudaBackend::do_upload_e4m3(std::span<const std::uint8_t> bits, std::int64_t rows,
                                   std::int64_t cols) {
  Tensor tensor = do_allocate_e4m3(rows, cols);
  CHECK_CUDA(cudaMemcpyAsync(tensor.data, bits.data(), bits.size(), cudaMemcpyHostToDevice,
                             handles_->stream));
  wait_for_stream("upload");
  return tensor;
}

std::vector<float> CudaBackend::do_download(const Tensor& tensor) {
  // bf16 activations, fp32 recurrent states or E4M3 FP8 operands: widened as core widens them.
  const auto count = static_cast<std::size_t>(tensor.numel());
  std::vector<std::byte> bytes(count * dtype_size(tensor.dtype));
  read_back(bytes.data(), tensor.data, bytes.size(), "download");
  std::vector<float> values(count);
  convert_to_f32(tensor.dtype, bytes.data(), count, values.data());
  return values;
}

void CudaBackend::do_copy_rows(const Tensor& src, Tensor& dst, std::int64_t first_row) {
  Tensor target = dst.row_range(first_row, src.rows);
  CHECK_CUDA(cudaMemcpyAsync(target.data, src.data, static_cast<std::size_t>(src.numel()) * 2,
                             cudaMemcpyDeviceToDevice, handles_->stream));
}

void CudaBackend::do_scatter_rows(const Tensor& src, Tensor& dst,
                                  std::span<const std::int32_t> rows) {
  const auto device_rows = device_ints(rows);
  kernels::scatter_rows(src.data, dst.data, device_rows.get(), src.rows, as_int(src.cols, "cols"),
                        handles_->stream);
  check_last_launch("scatter_rows");
}

void CudaBackend::do_gather_rows(const Tensor& src, std::span<const std::int32_t> rows,
                                 Tensor& dst) {
  const auto device_rows = device_ints(rows);
  kernels::gather_rows(src.data, dst.data, device_rows.get(), dst.rows, as_int(dst.cols, "cols"),
                       handles_->stream);
  check_last_launch("gather_rows");
}

void CudaBackend::poison(Tensor& tensor) {
  CHECK_CUDA(cudaMemsetAsync(tensor.data, 0xff,
                             static_cast<std::size_t>(tensor.numel()) * dtype_size(tensor.dtype),
                             handles_->stream));
}

bool CudaBackend::holds_weights_as(DType stored) const {
  return stored == DType::bf16 || (stored == DType::e4m3 && fp8_gemms_);
}

void CudaBackend::set_fp8_gemms(bool on) {
  fp8_gemms_ = on && fp8_capable_;
}

bool CudaBackend::runs_e4m3_linear(std::int64_t out_features, std::int64_t in_features) const {
  if (!fp8_gemms_ || out_features <= 0 || in_features <= 0 || out_features % 16 != 0 ||
      in_features % 16 != 0 || out_features > 0x7fffffff || in_features > 0x7fffffff) {
    return false;
  }
  // A decode step's one row and a prefill chunk's many: asked now, so that a model falls back
  // to emulation at load rather than failing in its first step.
  const int m = static_cast<int>(out_features);
  const int k = static_cast<int>(in_features);
  return fp8_gemm(m, 1, k) != nullptr && fp8_gemm(m, 512, k) != nullptr;
}

const CudaBackend::Fp8Gemm* CudaBackend::fp8_gemm(int m, int n, int k) const {
  auto& gemms = handles_->fp8_gemms;
  const std::array<int, 3> shape{m, n, k};
  if (const auto found = gemms.find(shape); found != gemms.end()) return found->second.get();
  // A step is recorded only on its second run, when its shapes are known.
  require(!capture_, "linear",
          "FP8 GEMM of a shape first seen while a step is captured as a CUDA graph");
  auto gemm = std::make_unique<Fp8Gemm>();
  cublasLtMatmulDesc_t desc = nullptr;
  CHECK_CUBLAS(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  gemm->desc.reset(desc);
  const cublasOperation_t transposed = CUBLAS_OP_T;
  const cublasOperation_t as_is = CUBLAS_OP_N;
  // Transformer Engine's forward GEMMs (use_split_accumulator off) accumulate this way.
  const std::int8_t fast_accumulation = 1;
  CHECK_CUBLAS(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &transposed,
                                              sizeof transposed));
  CHECK_CUBLAS(
      cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &as_is, sizeof as_is));
  CHECK_CUBLAS(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_FAST_ACCUM,
                                              &fast_accumulation, sizeof fast_accumulation));
  const auto layout = [&](cudaDataType_t type, int rows, int cols, int ld) {
    cublasLtMatrixLayout_t made = nullptr;
    CHECK_CUBLAS(cublasLtMatrixLayoutCreate(&made, type, rows, cols, ld));
    return std::unique_ptr<cublasLtMatrixLayoutOpaque_t, Fp8Gemm::LayoutDeleter>(made);
  };
  gemm->weight = layout(CUDA_R_8F_E4M3, k, m, k);  // [m, k] row-major, used transposed
  gemm->x = layout(CUDA_R_8F_E4M3, k, n, k);
  gemm->out = layout(CUDA_R_16BF, m, n, m);
  cublasLtMatmulPreference_t preference = nullptr;
  CHECK_CUBLAS(cublasLtMatmulPreferenceCreate(&preference));
  const std::unique_ptr<cublasLtMatmulPreferenceOpaque_t,
                        decltype(&cublasLtMatmulPreferenceDestroy)>
      owned_preference(preference, &cublasLtMatmulPreferenceDestroy);
  const std::uint64_t workspace = kCublasWorkspace;
  CHECK_CUBLAS(cublasLtMatmulPreferenceSetAttribute(
      preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof workspace));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(
      handles_->cublas_lt, desc, gemm->weight.get(), gemm->x.get(), gemm->out.get(),
      gemm->out.get(), preference, 1, &result, &found);
  // Only "none for this shape" is remembered; any other failure is an error.
  if (status == CUBLAS_STATUS_NOT_SUPPORTED || (status == CUBLAS_STATUS_SUCCESS && found == 0)) {
    gemms[shape] = nullptr;
    return nullptr;
  }
  CHECK_CUBLAS(status);
  gemm->algo = result.algo;
  return (gemms[shape] = std::move(gemm)).get();
}

void CudaBackend::linear_e4m3(const Tensor& x, const Tensor& weight, Tensor& out) {
  const int n = as_int(x.rows, "rows");
  const int m = as_int(weight.rows, "out features");
  const int k = as_int(x.cols, "in features");
  if (n == 0) return;
  // The heuristic assumed cuBLASLt's default alignment (256 bytes), which every allocation
  // has; a view into the middle of one may not.
  for (const void* pointer : std::initializer_list<const void*>{x.data, weight.data, out.data}) {
    require(reinterpret_cast<std::uintptr_t>(pointer) % 256 == 0, "linear",
            "FP8 GEMM operands must start on 256-byte boundaries (a whole allocation, not a "
            "view into one)");
  }
  const Fp8Gemm* gemm = fp8_gemm(m, n, k);
  require(gemm != nullptr, "linear",
          "cuBLASLt has no FP8 GEMM for x " + dims(x) + " by weight " + dims(weight) +
              " on this device (LLMPI_CUDA_FP8_GEMM=0 emulates FP8 instead)");
  const float alpha = 1.0f;
  const float beta = 0.0f;
  CHECK_CUBLAS(cublasLtMatmul(handles_->cublas_lt, gemm->desc.get(), &alpha, weight.data,
                              gemm->weight.get(), x.data, gemm->x.get(), &beta, out.data,
                              gemm->out.get(), out.data, gemm->out.get(), &gemm->algo,
                              handles_->cublas_workspace, kCublasWorkspace, handles_->stream));
}

void CudaBackend::do_linear(const Tensor& x, const Tensor& weight, const Tensor& bias,
                            Tensor& out) {
  if (weight.dtype == DType::e4m3) {
    linear_e4m3(x, weight, out);
    return;
  }
  const int n = as_int(x.rows, "rows");
  const int m = as_int(weight.rows, "out features");
  const int k = as_int(x.cols, "in features");
  const float alpha = 1.0f;
  const float beta = 0.0f;
  // Row-major out[n, m] = x[n, k] weight[m, k]^T is column-major out^T = weight * x^T.
  CHECK_CUBLAS(cublasGemmEx(handles_->cublas, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha,
                            weight.data, CUDA_R_16BF, k, x.data, CUDA_R_16BF, k, &beta, out.data,
                            CUDA_R_16BF, m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  if (!bias.empty()) {
    kernels::add_bias(out.data, bias.data, out.rows, m, handles_->stream);
    check_last_launch("add_bias");
  }
}

void CudaBackend::do_rms_norm(const Tensor& x, const Tensor& weight, float eps, RmsEpsilon where,
                              Tensor& out) {
  // Read only: without a delta the kernel writes nothing back.
  kernels::rms_norm(x.data, nullptr, weight.data, out.data, x.rows, as_int(x.cols, "cols"), eps,
                    where == RmsEpsilon::on_root, handles_->stream);
  check_last_launch("rms_norm");
}

void CudaBackend::do_add_rms_norm(Tensor& x, const Tensor& delta, const Tensor& weight, float eps,
                                  RmsEpsilon where, Tensor& out) {
  kernels::rms_norm(x.data, delta.data, weight.data, out.data, x.rows, as_int(x.cols, "cols"), eps,
                    where == RmsEpsilon::on_root, handles_->stream);
  check_last_launch("add_rms_norm");
}

void CudaBackend::do_layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                float eps, Tensor& out) {
  kernels::layer_norm(x.data, nullptr, weight.data, bias.data, out.data, x.rows,
                      as_int(x.cols, "cols"), eps, handles_->stream);
  check_last_launch("layer_norm");
}

void CudaBackend::do_add_layer_norm(Tensor& x, const Tensor& delta, const Tensor& weight,
                                    const Tensor& bias, float eps, Tensor& out) {
  kernels::layer_norm(x.data, delta.data, weight.data, bias.data, out.data, x.rows,
                      as_int(x.cols, "cols"), eps, handles_->stream);
  check_last_launch("add_layer_norm");
}

void CudaBackend::do_embedding(std::span<const std::int32_t> ids, const Tensor& table,
                               std::int64_t first_id, Tensor& out) {
  const auto device_ids = device_ints(ids);
  kernels::embedding(device_ids.get(), table.data, first_id, table.rows, out.data, out.rows,
                     as_int(out.cols, "cols"), handles_->stream);
  check_last_launch("embedding");
}

void CudaBackend::do_rotary(Tensor& x, int head_dim, std::span<const std::int32_t> positions,
                            float theta, float position_divisor) {
  const auto device_positions = device_ints(positions);
  kernels::rotary(x.data, device_positions.get(), x.rows, as_int(x.cols / head_dim, "heads"),
                  head_dim, theta, position_divisor, handles_->stream);
  check_last_launch("rotary");
}

void CudaBackend::do_split_qkv(const Tensor& fused, Tensor& q, Tensor& k, Tensor& v) {
  kernels::split_qkv(fused.data, q.data, k.data, v.data, fused.rows, as_int(q.cols, "q"),
                     as_int(k.cols, "kv"), handles_->stream);
  check_last_launch("split_qkv");
}

void CudaBackend::do_qkv_into_cache(const Tensor& fused, int head_dim,
                                    std::span<const std::int32_t> positions, float theta,
                                    float position_divisor,
                                    std::span<const std::int32_t> cache_rows, Tensor& q,
                                    Tensor& k_cache, Tensor& v_cache) {
  const auto device_positions = device_ints(positions);
  const auto device_rows = device_ints(cache_rows);
  kernels::qkv_into_cache(fused.data, q.data, k_cache.data, v_cache.data, device_positions.get(),
                          device_rows.get(), fused.rows, as_int(q.cols, "q"),
                          as_int(k_cache.cols, "kv"), head_dim, theta, position_divisor,
                          handles_->stream);
  check_last_launch("qkv_into_cache");
}

// The split-K kernels (flash-decoding) with their workspace, for one sequence or a batch.
void CudaBackend::split_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                                  const kernels::AttentionShape& shape, Tensor& out) {
  const int splits = kernels::attention_splits(shape, multiprocessors_);
  const auto workspace =
      device_bytes(static_cast<std::size_t>(kernels::attention_workspace_bytes(shape, splits)));
  kernels::attention(q.data, k_cache.data, v_cache.data, out.data, shape, splits, workspace.get(),
                     handles_->stream);
  check_last_launch("attention");
}

void CudaBackend::do_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                               int num_heads, int num_kv_heads, int head_dim, std::int64_t start,
                               Tensor& out) {
  // The kernels hold a head in a warp's registers, at most 8 elements per lane: 32 * 8 = 256.
  require(head_dim <= 256, "attention", "head_dim " + std::to_string(head_dim));
  const kernels::AttentionShape shape{q.rows,       start,    num_heads,
                                      num_kv_heads, head_dim, k_cache.cols};
  if (kernels::attention_prefill_supported(shape)) {
    kernels::attention_prefill(q.data, k_cache.data, v_cache.data, out.data, shape,
                               handles_->stream);
    check_last_launch("attention_prefill");
    return;
  }
  split_attention(q, k_cache, v_cache, shape, out);
}

void CudaBackend::do_decode_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                                      int num_heads, int num_kv_heads, int head_dim,
                                      const PagedKeys& keys, Tensor& out) {
  // The split-K kernels' limit, as in do_attention.
  require(head_dim <= 256, "decode_attention", "head_dim " + std::to_string(head_dim));
  if (q.rows == 0) return;
  const auto device_table = device_ints(keys.block_table);
  const auto device_count = device_ints(keys.key_count);
  kernels::AttentionShape shape{q.rows, 0, num_heads, num_kv_heads, head_dim, k_cache.cols};
  shape.block_table = device_table.get();
  shape.key_count = device_count.get();
  shape.blocks_per_row = keys.blocks_per_row;
  shape.block_bits = std::countr_zero(static_cast<unsigned int>(keys.block_tokens));
  // A recording is replayed with other key counts: split for the most any row may have.
  shape.max_keys = capture_ ? capture_->max_keys : *std::ranges::max_element(keys.key_count);
  split_attention(q, k_cache, v_cache, shape, out);
}

void CudaBackend::do_gated_mul(const Tensor& gate_up, GateActivation activation, Tensor& out) {
  const int code = activation == GateActivation::silu   ? 0
                   : activation == GateActivation::gelu ? 1
                                                        : 2;
  kernels::gated_mul(gate_up.data, out.data, out.rows, as_int(out.cols, "cols"), code,
                     handles_->stream);
  check_last_launch("gated_mul");
}

void CudaBackend::do_causal_conv(const Tensor& x, const Tensor& taps, int group_width,
                                 const Tensor& skip, Tensor& state,
                                 std::span<const std::int32_t> slots, Tensor& out) {
  const auto device_slots = device_ints(slots);
  kernels::causal_conv(x.data, taps.data, as_int(taps.cols, "taps"), group_width,
                       skip.empty() ? nullptr : skip.data, state.data, state.cols,
                       device_slots.get(), out.data, x.rows, as_int(x.cols, "channels"),
                       handles_->stream);
  check_last_launch("causal_conv");
}

void CudaBackend::do_modal_scan(const Tensor& u, const Tensor& log_poles, const Tensor& residues,
                                const Tensor& skip, Tensor& state,
                                std::span<const std::int32_t> slots, Tensor& out) {
  constexpr std::int64_t kMaxPoles = 64;  // the kernel keeps a channel's state in registers
  if (log_poles.cols > kMaxPoles) {
    throw Error("CUDA backend modal_scan: " + std::to_string(log_poles.cols) +
                " poles per channel; the kernel holds at most " + std::to_string(kMaxPoles));
  }
  const auto device_slots = device_ints(slots);
  kernels::modal_scan(u.data, log_poles.data, residues.data, skip.data, state.data, state.cols,
                      device_slots.get(), out.data, u.rows, as_int(u.cols, "channels"),
                      as_int(log_poles.cols, "poles"), handles_->stream);
  check_last_launch("modal_scan");
}

void CudaBackend::do_hyena_input(const Tensor& zc, Tensor& u) {
  kernels::hyena_input(zc.data, u.data, u.rows, as_int(u.cols, "channels"), handles_->stream);
  check_last_launch("hyena_input");
}

void CudaBackend::do_hyena_output(const Tensor& zc, const Tensor& y, Tensor& out) {
  kernels::hyena_output(zc.data, y.data, out.data, y.rows, as_int(y.cols, "channels"),
                        handles_->stream);
  check_last_launch("hyena_output");
}

void CudaBackend::do_quantize_e4m3(const Tensor& x, Fp8Scaling scaling, Tensor& quantized,
                                   Tensor& inverse_scales) {
  kernels::quantize_e4m3(x.data, quantized.data, inverse_scales.as<float>(), x.rows, x.cols,
                         scaling == Fp8Scaling::per_row, quantized.dtype == DType::e4m3,
                         handles_->stream);
  check_last_launch("quantize_e4m3");
}

void CudaBackend::do_scale_rows(Tensor& x, const Tensor& factors, float common) {
  kernels::scale_rows(x.data, factors.as<const float>(), common, x.rows, x.cols, handles_->stream);
  check_last_launch("scale_rows");
}

void CudaBackend::do_gelu(Tensor& x) {
  kernels::gelu(x.data, x.numel(), handles_->stream);
  check_last_launch("gelu");
}

void CudaBackend::do_gelu_tanh(Tensor& x) {
  kernels::gelu_tanh(x.data, x.numel(), handles_->stream);
  check_last_launch("gelu_tanh");
}

void CudaBackend::do_add(Tensor& acc, const Tensor& x) {
  kernels::add(acc.data, x.data, acc.numel(), handles_->stream);
  check_last_launch("add");
}

std::vector<RowMax> CudaBackend::do_max_rows(const Tensor& x) {
  static_assert(sizeof(RowMax) == sizeof(kernels::RowMax));
  auto maxima = device_bytes(static_cast<std::size_t>(x.rows) * sizeof(RowMax));
  kernels::max_rows(x.data, static_cast<kernels::RowMax*>(maxima.get()), x.rows,
                    as_int(x.cols, "cols"), handles_->stream);
  check_last_launch("max_rows");
  std::vector<RowMax> result(static_cast<std::size_t>(x.rows));
  read_back(result.data(), maxima.get(), result.size() * sizeof(RowMax), "read the row maxima");
  return result;
}

std::vector<RowLogSoftmax> CudaBackend::do_log_softmax_rows(const Tensor& logits,
                                                            std::span<const std::int32_t> targets) {
  static_assert(sizeof(RowLogSoftmax) == sizeof(kernels::RowLogSoftmax));
  std::vector<RowLogSoftmax> result(targets.size());
  if (result.empty()) return result;
  const auto device_targets = device_ints(targets);
  auto rows = device_bytes(result.size() * sizeof(RowLogSoftmax));
  kernels::log_softmax_rows(logits.data, device_targets.get(),
                            static_cast<kernels::RowLogSoftmax*>(rows.get()), logits.rows,
                            as_int(logits.cols, "cols"), handles_->stream);
  check_last_launch("log_softmax_rows");
  read_back(result.data(), rows.get(), result.size() * sizeof(RowLogSoftmax),
            "read the log-softmax rows");
  return result;
}

void CudaBackend::do_mass_histogram(const Tensor& logits, std::span<const float> row_max,
                                    float inv_temperature, std::span<const std::uint32_t> prefix,
                                    int prefix_bits, std::span<std::uint64_t> histogram) {
  if (histogram.empty()) return;
  const auto maxima = device_copy(row_max.data(), row_max.size_bytes());
  const auto prefixes = device_copy(prefix.data(), prefix.size_bytes());
  const auto bins = device_bytes(histogram.size_bytes());
  CHECK_CUDA(cudaMemsetAsync(bins.get(), 0, histogram.size_bytes(), handles_->stream));
  kernels::mass_histogram(logits.data, static_cast<const float*>(maxima.get()), inv_temperature,
                          static_cast<const unsigned int*>(prefixes.get()), prefix_bits,
                          static_cast<unsigned long long*>(bins.get()), logits.rows,
                          as_int(logits.cols, "cols"), handles_->stream);
  check_last_launch("mass_histogram");
  read_back(histogram.data(), bins.get(), histogram.size_bytes(), "read the sampling histogram");
}

std::vector<RowMax> CudaBackend::do_gumbel_max_rows(const Tensor& logits,
                                                    std::span<const float> row_max,
                                                    float inv_temperature,
                                                    std::span<const std::uint32_t> threshold,
                                                    std::span<const std::uint64_t> seeds,
                                                    std::int64_t first_column) {
  std::vector<RowMax> result(seeds.size());
  if (result.empty()) return result;
  const auto maxima = device_copy(row_max.data(), row_max.size_bytes());
  const auto thresholds = device_copy(threshold.data(), threshold.size_bytes());
  const auto seed_values = device_copy(seeds.data(), seeds.size_bytes());
  const auto best = device_bytes(result.size() * sizeof(RowMax));
  kernels::gumbel_max_rows(logits.data, static_cast<const float*>(maxima.get()), inv_temperature,
                           static_cast<const unsigned int*>(thresholds.get()),
                           static_cast<const unsigned long long*>(seed_values.get()), first_column,
                           static_cast<kernels::RowMax*>(best.get()), logits.rows,
                           as_int(logits.cols, "cols"), handles_->stream);
  check_last_launch("gumbel_max_rows");
  read_back(result.data(), best.get(), result.size() * sizeof(RowMax), "read the sampled columns");
  return result;
}

}  // namespace llmpi
