#!/usr/bin/env bash
# Configures and builds llmpi in build/ (or $1) with warnings as errors; extra arguments go to
# CMake. Two parallel jobs: CI and the reference laptop have two cores.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$REPO/build}"
shift || true
cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DLLMPI_WERROR=ON "$@"
# LLMPI_BUILD_TARGETS: only these targets (space separated); default: everything.
cmake --build "$BUILD" -j2 ${LLMPI_BUILD_TARGETS:+--target $LLMPI_BUILD_TARGETS}
