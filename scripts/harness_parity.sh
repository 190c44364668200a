#!/usr/bin/env bash
# The lm-evaluation-harness side of the llmpi parity check: runs lm-eval's HFLM (transformers,
# fp32, CPU, batch size 1) on local copies of llmpi's tasks (GSM8K 4-shot, everyday-science
# multiple choice, loglikelihood_rolling perplexity) through lm_eval.simple_evaluate and writes
# per-request details and the task metrics to harness-out/<task>.json; `compare` puts an llmpi
# results file beside them (scripts/harness_parity.py --help).
#
# Usage:
#   bash scripts/harness_parity.sh run [--tasks everyday-science,perplexity-sample,gsm8k]
#        [--gsm8k N (default 50)] [--max-length L (default 8192)]
#        [--window-max-length L (default 128)] [--out DIR (default harness-out)]
#   bash scripts/harness_parity.sh compare RUN.h5 [--harness-dir harness-out] [--only STEMS]
#        [--task-map HARNESS=LLMPI] [--tol 1e-4] [--rtol R] [--require-all]
#   (the CI's reduced check, scripts/harness_parity_check.sh, runs llmpi and compare against
#   the committed outputs in tests/fixtures/harness/ with only h5py and numpy)
#
# Keeps its Python in .venv-harness/ (git-ignored), or uses PYTHON when set. Versions are pinned
# so that the harness's semantics are the ones described in the parity notes: lm-eval 0.4.13,
# torch 2.15.0 (CPU; PyPI's wheel, set TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# where that index is reachable to skip the CUDA libraries), transformers 5.24.0 (as
# scripts/make_smollm2_reference.sh), datasets 5.2.0, h5py 3.16.0, accelerate 1.15.0 (lm-eval's
# [hf] extra).
# Nothing is fetched from the Hugging Face hub: the model is models/SmolLM2-135M-Instruct
# (scripts/fetch_smollm2.sh) and the data are the JSONL files under jobs/tasks/data/.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LM_EVAL_VERSION=0.4.13
TORCH_VERSION=2.15.0
TRANSFORMERS_VERSION=5.24.0
DATASETS_VERSION=5.2.0
H5PY_VERSION=3.16.0
ACCELERATE_VERSION=1.15.0

if [[ -z "${PYTHON:-}" ]]; then
  VENV="$REPO/.venv-harness"
  if [[ ! -x "$VENV/bin/python" ]]; then
    echo "creating $VENV" >&2
    python3 -m venv "$VENV"
  fi
  PYTHON="$VENV/bin/python"
  if ! "$PYTHON" - <<PYEOF 2>/dev/null
import importlib.metadata as m
want = {"lm_eval": "$LM_EVAL_VERSION", "torch": "$TORCH_VERSION",
        "transformers": "$TRANSFORMERS_VERSION", "datasets": "$DATASETS_VERSION",
        "h5py": "$H5PY_VERSION", "accelerate": "$ACCELERATE_VERSION"}
raise SystemExit(any(m.version(k).split("+")[0] != v for k, v in want.items()))
PYEOF
  then
    echo "installing lm-eval $LM_EVAL_VERSION, torch $TORCH_VERSION (CPU) ... into $VENV" >&2
    TORCH_ARGS=()
    [[ -n "${TORCH_INDEX_URL:-}" ]] && TORCH_ARGS=(--index-url "$TORCH_INDEX_URL")
    "$PYTHON" -m pip install --quiet --disable-pip-version-check "${TORCH_ARGS[@]}" \
      "torch==$TORCH_VERSION"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check \
      "lm-eval[hf]==$LM_EVAL_VERSION" "torch==$TORCH_VERSION" "accelerate==$ACCELERATE_VERSION" \
      "transformers==$TRANSFORMERS_VERSION" "datasets==$DATASETS_VERSION" "h5py==$H5PY_VERSION"
  fi
fi

# Two cores, and a C++ build may be running beside us: one thread, niced.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"
export TOKENIZERS_PARALLELISM=false
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export HF_DATASETS_CACHE="${HF_DATASETS_CACHE:-${TMPDIR:-/tmp}/llmpi-harness-datasets-cache}"
cd "$REPO"
exec nice -n "${NICE:-10}" "$PYTHON" "$REPO/scripts/harness_parity.py" "$@"
