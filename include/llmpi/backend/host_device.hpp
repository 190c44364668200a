// Marks functions compiled for both the host and, in CUDA sources, the device: the arithmetic
// the CPU backend and the kernels must do identically.
#pragma once

#if defined(__CUDACC__)
#define LLMPI_HOST_DEVICE __host__ __device__
#else
#define LLMPI_HOST_DEVICE
#endif
