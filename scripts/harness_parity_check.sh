#!/usr/bin/env bash
# The CI's parity check against lm-evaluation-harness, without the harness: runs llmpi on the
# four tasks that the harness scored (jobs/tasks/everyday-science.yaml, gsm8k-harness.yaml,
# perplexity-sample.yaml, perplexity-sample-w128.yaml) with SmolLM2-135M-Instruct and compares
# its results file with the harness's committed outputs in tests/fixtures/harness/ (made by
# `scripts/harness_parity.sh run --gsm8k 50`, lm-eval 0.4.13, fp32 CPU) through
# `scripts/harness_parity.py compare`. Builds nothing.
#
# Usage:
#   bash scripts/harness_parity_check.sh [--llmpi PATH] [--full | --limit L] [--out FILE]
#        [--harness-dir DIR] [-- COMPARE-OPTIONS...]
#
#   --llmpi PATH        the llmpi binary (default build/src/llmpi)
#   --limit L           records per task (default 5: the reduced check; GSM8K's 4 shots are
#                       read on top, so every task has L scored documents). A reduced run's
#                       rows are compared one by one, and each task summary against the
#                       harness's per-document values of the same documents
#   --full              every document the harness scored: --limit the largest document count
#                       of the harness outputs (50, GSM8K's; the other tasks have fewer records
#                       and are read whole), so the harness's task metrics are compared too
#   --out FILE          keep llmpi's results file there (default: a temporary file, removed)
#   --harness-dir DIR   the harness outputs (default tests/fixtures/harness)
#   -- ...              passed on to compare (--tol, --rtol, --require-all, --only)
#
# Python: PYTHON when set, else scripts/python_with_h5py.sh's (python3 when it has h5py and
# numpy, else .venv-h5/ with only those). compare imports nothing else (no torch, lm_eval).
#
# Exit status: 0 every check passed; 1 a mismatch; 77 skipped (models/SmolLM2-135M-Instruct not
# fetched: scripts/fetch_smollm2.sh); 2 could not run (no llmpi binary, no Python with h5py,
# llmpi failed).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODEL="$REPO/models/SmolLM2-135M-Instruct"

LLMPI="$REPO/build/src/llmpi"
LIMIT=5
FULL=0
OUT=""
HARNESS_DIR="$REPO/tests/fixtures/harness"
COMPARE_ARGS=()
usage() { sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --llmpi) LLMPI="$2"; shift 2 ;;
    --limit) LIMIT="$2"; shift 2 ;;
    --full) FULL=1; shift ;;
    --out) OUT="$2"; shift 2 ;;
    --harness-dir) HARNESS_DIR="$2"; shift 2 ;;
    --) shift; COMPARE_ARGS=("$@"); break ;;
    -h|--help) usage; exit 0 ;;
    *) echo "harness_parity_check: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

if [[ ! -f "$MODEL/config.json" ]]; then
  echo "SKIP: $MODEL not fetched (scripts/fetch_smollm2.sh)"
  exit 77
fi
if [[ ! -x "$LLMPI" ]]; then
  echo "harness_parity_check: no llmpi binary at $LLMPI (build it, or pass --llmpi PATH)" >&2
  exit 2
fi
if ! ls "$HARNESS_DIR"/*.json >/dev/null 2>&1; then
  echo "harness_parity_check: no harness outputs (*.json) in $HARNESS_DIR" >&2
  exit 2
fi

if ! PYTHON="${PYTHON:-$(bash "$REPO/scripts/python_with_h5py.sh")}" ||
   ! "$PYTHON" -c 'import h5py, numpy' > /dev/null 2>&1; then
  echo "harness_parity_check: no Python with h5py and numpy (scripts/python_with_h5py.sh)" >&2
  exit 2
fi

if [[ $FULL -eq 1 ]]; then
  # The largest document count of the harness outputs: GSM8K's N (records 5..4+N); llmpi reads
  # N + 4 GSM8K records, and the smaller tasks whole.
  LIMIT="$("$PYTHON" - "$HARNESS_DIR" <<'PYEOF'
import json, pathlib, sys
print(max(len(json.load(open(p, encoding="utf-8"))["docs"])
          for p in pathlib.Path(sys.argv[1]).glob("*.json")))
PYEOF
)"
fi

TMP="$(mktemp -d "${TMPDIR:-/tmp}/llmpi-harness-check.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
RESULTS="${OUT:-$TMP/results.h5}"

TASKS="$REPO/jobs/tasks/everyday-science.yaml,$REPO/jobs/tasks/gsm8k-harness.yaml"
TASKS+=",$REPO/jobs/tasks/perplexity-sample.yaml,$REPO/jobs/tasks/perplexity-sample-w128.yaml"
echo "== llmpi eval --limit $LIMIT ($([[ $FULL -eq 1 ]] && echo full || echo reduced) check) -> $RESULTS"
start=$SECONDS
if ! "$LLMPI" eval --model "$MODEL" --tasks "$TASKS" --limit "$LIMIT" --out "$RESULTS" \
     --overwrite --telemetry-interval 0; then
  echo "harness_parity_check: llmpi eval failed" >&2
  exit 2
fi
echo "== llmpi took $((SECONDS - start)) s; comparing with $HARNESS_DIR"

set +e
"$PYTHON" "$REPO/scripts/harness_parity.py" compare "$RESULTS" --harness-dir "$HARNESS_DIR" \
  "${COMPARE_ARGS[@]}"
rc=$?
set -e
case $rc in
  0) echo "PASS" ;;
  1) echo "FAIL: llmpi differs from the harness" ;;
  *) echo "harness_parity_check: compare could not run (exit $rc)" >&2; rc=2 ;;
esac
exit $rc
