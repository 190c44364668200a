#!/usr/bin/env bash
# Shared prefixes, measured: GSM8K 4-shot (jobs/tasks/gsm8k.yaml; TASK= another task file, e.g.
# jobs/tasks/everyday-science.yaml) on SmolLM2-135M-Instruct, the same requests evaluated with
# --prefix-reuse on and off one after the other, then every row compared (generated text and
# token ids, score, each choice's log-likelihood to 1e-5 relative: a remainder prefilled alone
# sums in another order) and the prompt tokens computed and the wall times printed side by side.
# Usage: [TASK=FILE] bash scripts/bench_prefix_reuse.sh [REQUESTS (default 100)] [RANKS (default 1)]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
PROBLEMS="${1:-100}"
RANKS="${2:-1}"
TASK="${TASK:-jobs/tasks/gsm8k.yaml}"
LLMPI="${LLMPI:-$REPO/build/src/llmpi}"
MODEL="$REPO/models/SmolLM2-135M-Instruct"
[[ -f "$MODEL/config.json" ]] || { echo "run scripts/fetch_smollm2.sh first" >&2; exit 1; }
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1

for mode in on off; do
  start=$(date +%s%N)
  mpirun -np "$RANKS" "$LLMPI" eval --model "$MODEL" --tasks "$TASK" \
    --limit "$PROBLEMS" --prefix-reuse "$mode" --telemetry-interval 0 \
    --out "$OUT/$mode.h5" --overwrite > "$OUT/$mode.log" 2>&1
  end=$(date +%s%N)
  wall_ms=$(((end - start) / 1000000))
  echo "$mode $(grep '^prefill:' "$OUT/$mode.log" | head -1) wall $((wall_ms / 1000)).$(printf %03d $((wall_ms % 1000)))" \
    >> "$OUT/summary.txt"
done

PYTHON="$(bash scripts/python_with_h5py.sh)"
"$PYTHON" - "$OUT" "$TASK" <<'PY'
import math, re, sys
from pathlib import Path
import h5py
out = Path(sys.argv[1])
rows = {m: {r["id"]: r for r in h5py.File(out / f"{m}.h5", "r")["requests"][:]} for m in ("on", "off")}
differ = [i for i in rows["on"] if rows["on"][i]["generated_text"] != rows["off"][i]["generated_text"]
          or list(rows["on"][i]["generated_token_ids"]) != list(rows["off"][i]["generated_token_ids"])
          or rows["on"][i]["score"] != rows["off"][i]["score"]
          or not all(math.isclose(a, b, rel_tol=1e-5)
                     for a, b in zip(rows["on"][i]["choice_loglik"], rows["off"][i]["choice_loglik"]))]
runs = {}
for line in (out / "summary.txt").read_text().splitlines():
    mode = line.split()[0]
    prompt, computed = map(int, re.search(r"(\d+) prompt tokens, (\d+) computed", line).groups())
    runs[mode] = (prompt, computed, float(line.rsplit("wall ", 1)[1]))
on, off = runs["on"], runs["off"]
print(f"{sys.argv[2]}, {len(rows['on'])} requests, SmolLM2-135M-Instruct")
print(f"{'':>14} {'prompt tokens':>14} {'computed':>10} {'wall s':>8}")
for mode in ("off", "on"):
    p, c, w = runs[mode]
    print(f"{'reuse ' + mode:>14} {p:>14} {c:>10} {w:>8.1f}")
print(f"prefill tokens computed: {1 - on[1] / off[1]:.1%} fewer; wall time: {off[2] / on[2]:.2f}x "
      f"faster with reuse")
print(f"rows identical (text, token ids, score, choices): {len(rows['on']) - len(differ)} of {len(rows['on'])}"
      + (f"; differ: {', '.join(i.decode() for i in differ[:10])}" if differ else ""))
sys.exit(1 if differ or len(rows["on"]) != len(rows["off"]) else 0)
PY
