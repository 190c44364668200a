#!/usr/bin/env bash
# One call on a bare GPU machine (CUDA toolkit, CMake, no MPI/HDF5/yaml-cpp, no package
# registry): unpacks the carried .device/debs/ (from scripts/gpu_fetch_debs.sh), builds for
# sm_90 without the MPI stack, runs the gpu tests and the CPU tests, then the GPU benchmark.
# Usage: bash scripts/gpu_build_and_test.sh [OUT_DIR]   (logs are copied to OUT_DIR)
set -uo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$REPO/.device/out}"
ROOT="$REPO/.device/root"
mkdir -p "$OUT" "$ROOT"
cd "$REPO"

# dpkg -x where dpkg exists; otherwise the same unpacking with Python's standard library.
for deb in .device/debs/*.deb; do
  if command -v dpkg > /dev/null; then
    dpkg -x "$deb" "$ROOT"
  else
    python3 - "$deb" "$ROOT" <<'PY'
import io, lzma, sys, tarfile
data = open(sys.argv[1], "rb").read()
offset = 8  # "!<arch>\n", then 60-byte member headers
while offset < len(data):
    name = data[offset:offset + 16].decode().strip().rstrip("/")
    size = int(data[offset + 48:offset + 58].decode().strip())
    body = data[offset + 60:offset + 60 + size]
    if name.startswith("data.tar"):
        tarfile.open(fileobj=io.BytesIO(body)).extractall(sys.argv[2])
    offset += 60 + size + (size % 2)
PY
  fi
done
LIBDIR="$ROOT/usr/lib/x86_64-linux-gnu"
export LD_LIBRARY_PATH="$LIBDIR:$LIBDIR/openblas-pthread:${LD_LIBRARY_PATH:-}"

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem \
  --format=csv | tee "$OUT/gpu.txt"
nvcc --version | tail -2 | tee -a "$OUT/gpu.txt"

cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DLLMPI_WERROR=OFF -DLLMPI_MINIMAL_DEPS=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_PREFIX_PATH="$ROOT/usr" \
  -DBLAS_LIBRARIES="$LIBDIR/openblas-pthread/libopenblas.so" \
  -DLLMPI_CBLAS_INCLUDE_DIR="$ROOT/usr/include/x86_64-linux-gnu/openblas-pthread" \
  > "$OUT/configure.log" 2>&1 || { tail -40 "$OUT/configure.log"; exit 1; }
cmake --build build-gpu -j16 > "$OUT/build.log" 2>&1 || { grep -B2 -A8 error "$OUT/build.log" | head -80; exit 1; }

status=0
./build-gpu/tests/gpu_tests 2>&1 | tee "$OUT/gpu_tests.log" | grep -vE "^\s*$" | tail -80
[[ ${PIPESTATUS[0]} -eq 0 ]] || status=1
# Telemetry: the sampler's NVML readings against nvidia-smi's during GEMMs (issue: telemetry).
./build-gpu/tests/telemetry_probe 2>&1 | tee "$OUT/telemetry_probe.log"
[[ ${PIPESTATUS[0]} -eq 0 ]] || status=1
./build-gpu/tests/bench_sampler 2000 2>&1 | tee -a "$OUT/telemetry_probe.log"  # with real NVML
# LLMPI_GPU_CPU_TESTS=0 skips the CPU tests (already run where the lease's time is short).
if [[ "${LLMPI_GPU_CPU_TESTS:-1}" != 0 ]]; then
  ctest --test-dir build-gpu -LE gpu -j8 --output-on-failure > "$OUT/ctest_cpu.log" 2>&1 || status=1
  tail -3 "$OUT/ctest_cpu.log"
fi
# The benchmark: whole layers (tp 1) of Llama-2-70B and Falcon-40B at batch 1, 8, 32, 128,
# with PyTorch/transformers on the same GPU for the ratio (LLMPI_BENCH_PRESETS to change).
for preset in ${LLMPI_BENCH_PRESETS:-llama-2-70b falcon-40b}; do
  ./build-gpu/src/llmpi bench --backend cuda --preset "$preset" --tp 1 --torch 2>&1 |
    grep -v Warning | tee "$OUT/bench-$preset.log" || status=1
done
# Evo 2 (issue: Evo2-40B): one tp=8 rank's share of its layers (Hyena blocks and attention, the
# first 4 kinds of the pattern) at a 32k context, cut off after 90 s. Correctness is in
# gpu_tests above (the evo2_* fixtures and the Hyena op table).
timeout 90 ./build-gpu/src/llmpi bench --backend cuda --preset evo2-40b --tp 8 --layers 4 \
  --context 32768 --prefill-tokens 8192 --batches 1,8 2>&1 | grep -v Warning |
  tee "$OUT/bench-evo2-40b.log" || status=1
# End-to-end throughput (issue: GPU engine speed), sized for a few minutes: Falcon-40B whole on
# one GPU (a tp=2 rank's share where the GPU has under 100 GiB) with PyTorch generating the same
# requests, and one tp=4 rank's share of Llama-2-70B with its all-reduces modelled at
# LLMPI_BUS_GBPS (default 360 GB/s, the NVLink all-reduce bus bandwidth assumed in docs/bench.md).
if [[ "${LLMPI_GPU_THROUGHPUT:-1}" != 0 ]]; then
  gpu_mib=$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits | head -1)
  falcon_tp=1
  [[ "${gpu_mib:-0}" -lt 102400 ]] && falcon_tp=2
  bus=${LLMPI_BUS_GBPS:-360}
  # Each run is cut off after 150 s so that one slow step cannot spend the lease.
  timeout 150 ./build-gpu/src/llmpi bench --throughput --backend cuda --preset falcon-40b \
    --tp "$falcon_tp" \
    --bus-gbps "$bus" --shapes 128/128,2048/128 --requests 64 --max-in-flight 64 \
    $([[ $falcon_tp == 1 ]] && echo --torch) 2>&1 | grep -v Warning |
    tee "$OUT/throughput-falcon-40b.log" || status=1
  timeout 150 ./build-gpu/src/llmpi bench --throughput --backend cuda --preset llama-2-70b --tp 4 \
    --bus-gbps "$bus" --shapes 128/128,128/2048,2048/128 --requests 128 --max-in-flight 128 \
    2>&1 | grep -v Warning | tee "$OUT/throughput-llama-2-70b-tp4.log" || status=1
fi
exit $status
