#!/usr/bin/env bash
# Regenerate the GPT-SW3 tokenizer fixtures under tests/fixtures/tokenizers/ (gpt_sw3/,
# gpt_sw3.expected.jsonl, gpt_sw3_decode.expected.jsonl, gpt_sw3_variants.expected.json; see
# make_gpt_sw3_tokenizer_fixture.py): a tiny SentencePiece model set up like GPT-SW3's, trained
# here, and Hugging Face GPTSw3Tokenizer's ids and decodings for a generated corpus.
#
# Re-runnable: seeds are fixed and training is single-threaded, so every run writes the same
# bytes given the same library versions. The checked-in fixtures were produced with
# transformers 5.24.0, sentencepiece 0.2.3, protobuf 7.36.2, Python 3.11.7 (Unicode 14.0.0).
# The script stops if src/tokenizer/unicode_nfc_table.inc is for another Unicode version than
# this Python's; scripts/make_unicode_nfc_table.py (same virtualenv) regenerates it.
#
# A developer tool, not part of CI. It uses the .venv-ref/ virtualenv (git-ignored) shared
# with make_reference_fixtures.sh and make_tokenizer_fixtures.sh; torch is not needed here.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv-ref"
PY="${PYTHON:-python3}"

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "creating $VENV" >&2
    "$PY" -m venv "$VENV"
fi
# Pinned to the versions that produced the checked-in files; pip is a no-op when they are
# already installed.
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "transformers==5.24.0" "sentencepiece==0.2.3" "protobuf==7.36.2"

exec "$VENV/bin/python" "$REPO/scripts/make_gpt_sw3_tokenizer_fixture.py" "$@"
