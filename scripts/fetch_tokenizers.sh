#!/usr/bin/env bash
# Produce the Hugging Face tokenizers the tokenizer tests need under
# models/tokenizers/ (git-ignored):
#
#   models/tokenizers/llama2/{tokenizer.json,tokenizer_config.json}
#       converted from ../shared/data/tokenizers/llama2/tokenizer.model
#       (relative to the repository root; the repo lives at X/main, the shared
#       data at X/shared) by scripts/convert_llama2_tokenizer.py.
#
# The Llama-2 tokenizer is under the Llama 2 Community License: neither
# tokenizer.model nor anything converted from it may be committed. That is why
# it is generated here, into git-ignored models/, rather than checked in.
#
# Idempotent: does nothing if the outputs exist and are newer than the source
# model and the converter. Deterministic: the same tokenizer.model always gives
# the same bytes; the sha256 of tokenizer.json is printed at the end. Exits
# non-zero on any failure. Uses the project venv .venv/ (created if missing);
# needs no torch.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
PY="${PYTHON:-python3}"
SRC="$REPO/../shared/data/tokenizers/llama2/tokenizer.model"
OUT="$REPO/models/tokenizers/llama2"
CONVERTER="$REPO/scripts/convert_llama2_tokenizer.py"

step=""
trap 'echo "fetch_tokenizers: FAILED during: ${step}" >&2' ERR

if [[ ! -f "$SRC" ]]; then
    echo "fetch_tokenizers: missing $SRC" >&2
    echo "fetch_tokenizers: the Llama-2 tokenizer.model must be provided at ../shared/data/tokenizers/llama2/" >&2
    echo "fetch_tokenizers: (relative to the repository root $REPO); it cannot be downloaded here." >&2
    exit 1
fi

print_sha() {
    echo "sha256(tokenizer.json) = $(sha256sum "$OUT/tokenizer.json" | cut -d' ' -f1)"
}

up_to_date() {
    local f
    for f in tokenizer.json tokenizer_config.json; do
        [[ -s "$OUT/$f" && "$OUT/$f" -nt "$SRC" && "$OUT/$f" -nt "$CONVERTER" ]] || return 1
    done
}

if up_to_date; then
    echo "fetch_tokenizers: $OUT is up to date; nothing to do"
    print_sha
    exit 0
fi

step="creating virtualenv $VENV"
if [[ ! -x "$VENV/bin/python" ]]; then
    "$PY" -m venv "$VENV"
fi

step="installing converter dependencies"
# Pinned: versions known to work together (and to produce the checked-in
# tokenizer fixtures). No torch: the converter does not need it.
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "transformers==5.24.0" "tokenizers==0.23.3" "sentencepiece==0.2.3" "protobuf==7.36.2"

step="converting $SRC"
# Convert into a temporary directory first, so an interrupted run never leaves
# a half-written tokenizer that up_to_date() would accept.
mkdir -p "$REPO/models"
TMP="$(mktemp -d "$REPO/models/.tokenizers-tmp.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
"$VENV/bin/python" "$CONVERTER" "$SRC" "$TMP"

step="moving the result into $OUT"
mkdir -p "$OUT"
mv -f "$TMP/tokenizer.json" "$TMP/tokenizer_config.json" "$OUT/"

step="checking the output"
up_to_date || { echo "fetch_tokenizers: $OUT is incomplete after conversion" >&2; exit 1; }
echo "fetch_tokenizers: wrote $OUT"
print_sha
