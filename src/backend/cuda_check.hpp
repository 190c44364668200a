#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <string>

#include "llmpi/core/error.hpp"

namespace llmpi {

// Every CUDA and cuBLAS call goes through these: a failure becomes an Error naming the call,
// the device and the source line.
inline void cuda_check(cudaError_t status, const char* call, int device, const char* file,
                       int line) {
  if (status != cudaSuccess) {
    throw Error(std::string(call) + " failed on CUDA device " + std::to_string(device) + ": " +
                cudaGetErrorName(status) + " (" + cudaGetErrorString(status) + ") at " + file +
                ":" + std::to_string(line));
  }
}

inline void cublas_check(cublasStatus_t status, const char* call, int device, const char* file,
                         int line) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    throw Error(std::string(call) + " failed on CUDA device " + std::to_string(device) + ": " +
                cublasGetStatusName(status) + " (" + cublasGetStatusString(status) + ") at " +
                file + ":" + std::to_string(line));
  }
}

}  // namespace llmpi

#define LLMPI_CUDA_CHECK(device, call) \
  ::llmpi::cuda_check((call), #call, (device), __FILE__, __LINE__)
#define LLMPI_CUBLAS_CHECK(device, call) \
  ::llmpi::cublas_check((call), #call, (device), __FILE__, __LINE__)
