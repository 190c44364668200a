#!/usr/bin/env bash
# Run here (with apt): downloads the Debian packages a bare GPU machine lacks for building the
# kernels, backends, model, `llmpi bench` and the tests — Catch2, nlohmann-json, CLI11,
# yaml-cpp, OpenBLAS and its Fortran runtime — into .device/debs/ (git-ignored), to be carried
# by the device tool.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$REPO/.device/debs"
cd "$REPO/.device/debs"
apt-get download catch2 nlohmann-json3-dev libcli11-dev libyaml-cpp-dev libyaml-cpp0.7 libopenblas0-pthread \
  libopenblas-pthread-dev libgfortran5 libquadmath0
ls -la
