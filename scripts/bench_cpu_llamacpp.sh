#!/usr/bin/env bash
# llmpi's CPU backend against llama.cpp on the same weights, side by side in one run:
# SmolLM2-135M-Instruct, 2 threads, the same prompt ids, 128 new tokens, prefill and decode
# tokens/s, llama.cpp on the checkpoint converted to a bf16 GGUF and to an f32 GGUF by
# llama.cpp's own converter (convert_hf_to_gguf.py from the llama-cpp-python source package).
#
# Usage: bash scripts/bench_cpu_llamacpp.sh [MODEL_DIR] [ROUNDS]
#   MODEL_DIR defaults to models/SmolLM2-135M-Instruct (scripts/fetch_smollm2.sh), ROUNDS to 3.
# Needs a built llmpi (build/src/llmpi, or LLMPI=path). Keeps its Python in .venv-bench/
# (git-ignored: llama-cpp-python compiled from PyPI's source package, torch and transformers
# for the converter), or uses PYTHON when set. Work files go to ${TMPDIR:-/tmp}/llmpi-llamacpp.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODEL="${1:-$REPO/models/SmolLM2-135M-Instruct}"
ROUNDS="${2:-3}"
LLMPI="${LLMPI:-$REPO/build/src/llmpi}"
WORK="${TMPDIR:-/tmp}/llmpi-llamacpp"
LLAMA_CPP_PYTHON_VERSION=0.3.36
mkdir -p "$WORK"

[[ -x "$LLMPI" ]] || { echo "no llmpi at $LLMPI (bash scripts/build.sh build, or set LLMPI)" >&2; exit 1; }
[[ -f "$MODEL/config.json" ]] || { echo "no checkpoint at $MODEL (bash scripts/fetch_smollm2.sh)" >&2; exit 1; }

if [[ -z "${PYTHON:-}" ]]; then
  VENV="$REPO/.venv-bench"
  [[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
  PYTHON="$VENV/bin/python"
fi
# One build thread: llama.cpp's compile is long, and the machine may be busy.
CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" "$PYTHON" -m pip install \
  --quiet --disable-pip-version-check "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" gguf numpy \
  torch transformers safetensors sentencepiece

# llama.cpp's converter, from the same source package the library was built from.
SRC="$WORK/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION"
if [[ ! -f "$SRC/vendor/llama.cpp/convert_hf_to_gguf.py" ]]; then
  "$PYTHON" -m pip download --quiet --no-deps --no-binary :all: \
    "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" -d "$WORK"
  tar xzf "$WORK/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz" -C "$WORK" \
    "llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp"
fi
for type in bf16 f32; do
  gguf="$WORK/$(basename "$MODEL")-$type.gguf"
  [[ -f "$gguf" ]] || "$PYTHON" "$SRC/vendor/llama.cpp/convert_hf_to_gguf.py" "$MODEL" \
    --outtype "$type" --outfile "$gguf" > "$WORK/convert-$type.log" 2>&1
done

exec "$PYTHON" "$REPO/scripts/bench_cpu_llamacpp.py" --llmpi "$LLMPI" --model "$MODEL" \
  --gguf-bf16 "$WORK/$(basename "$MODEL")-bf16.gguf" --gguf-f32 "$WORK/$(basename "$MODEL")-f32.gguf" \
  --rounds "$ROUNDS"
