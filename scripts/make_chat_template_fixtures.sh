#!/usr/bin/env bash
# Regenerate tests/fixtures/chat_templates/ (see make_chat_template_fixtures.py): chat
# templates rendered by transformers' apply_chat_template, for llmpi's ChatTemplate to match
# byte for byte.
#
# Needs models/SmolLM2-135M-Instruct/ (scripts/fetch_smollm2.sh, idempotent) for its
# tokenizer.json and template. A developer tool, not part of CI. It uses the .venv-chat/
# virtualenv (git-ignored); torch is not needed. The checked-in fixtures were produced with
# transformers 5.24.0, jinja2 3.1.6, tokenizers 0.23.3 on Python 3.11.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv-chat"
PY="${PYTHON:-python3}"

bash "$REPO/scripts/fetch_smollm2.sh"

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "creating $VENV" >&2
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "transformers==5.24.0" "tokenizers==0.23.3" "jinja2==3.1.6"

exec "$VENV/bin/python" "$REPO/scripts/make_chat_template_fixtures.py" "$@"
