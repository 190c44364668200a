#!/usr/bin/env bash
# Produce the Hugging Face tokenizers the tokenizer tests need under
# models/tokenizers/ (git-ignored):
#
#   models/tokenizers/llama2/{tokenizer.json,tokenizer_config.json}
#       converted by scripts/convert_llama2_tokenizer.py from the Llama-2
#       tokenizer.model named by the environment variable LLMPI_LLAMA2_TOKENIZER.
#
# When LLMPI_LLAMA2_TOKENIZER is unset there is nothing to convert: the script says
# so and exits 0, and the Llama-2 tokenizer tests skip, naming the variable.
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
SRC="${LLMPI_LLAMA2_TOKENIZER:-}"
OUT="$REPO/models/tokenizers/llama2"
CONVERTER="$REPO/scripts/convert_llama2_tokenizer.py"

step=""
trap 'echo "fetch_tokenizers: FAILED during: ${step}" >&2' ERR

if [[ -z "$SRC" ]]; then
    echo "fetch_tokenizers: LLMPI_LLAMA2_TOKENIZER is not set; the Llama-2 tokenizer is not" \
         "converted and its tests will skip (set it to the path of Llama-2's tokenizer.model)"
    exit 0
fi
if [[ ! -f "$SRC" ]]; then
    echo "fetch_tokenizers: LLMPI_LLAMA2_TOKENIZER=$SRC is not a file;" \
         "set it to the path of Llama-2's tokenizer.model (md5 eeec4125e9c7560836b4873b6f8e3025)" >&2
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
