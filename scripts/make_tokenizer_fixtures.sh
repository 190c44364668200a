#!/usr/bin/env bash
# Regenerate tests/fixtures/tokenizers/ (see make_tokenizer_fixtures.py): the
# falcon_style tokenizer trained on generated text, corpus.jsonl, and the
# Hugging Face `tokenizers` reference outputs <name>.expected.jsonl for
# llama2, smollm2 and falcon_style.
#
# Re-runnable: seeds are fixed and tokenizers runs single-threaded, so every
# run overwrites the fixtures with the same bytes (given the same library
# versions). The checked-in fixtures were produced with tokenizers 0.23.3,
# transformers 5.24.0, sentencepiece 0.2.3, protobuf 7.36.2, Python 3.11.
#
# First makes sure the input tokenizers exist (scripts/fetch_tokenizers.sh for
# llama2, scripts/fetch_smollm2.sh for smollm2; both idempotent). A developer
# tool, not part of CI. It uses the .venv-ref/ virtualenv (git-ignored) shared
# with make_reference_fixtures.sh; torch is not needed here.
# Extra arguments are passed to the Python script (e.g. --only falcon_style).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv-ref"
PY="${PYTHON:-python3}"

bash "$REPO/scripts/fetch_tokenizers.sh"
bash "$REPO/scripts/fetch_smollm2.sh"

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "creating $VENV" >&2
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "transformers==5.24.0" "tokenizers==0.23.3" "sentencepiece==0.2.3" "protobuf==7.36.2"

exec "$VENV/bin/python" "$REPO/scripts/make_tokenizer_fixtures.py" "$@"
