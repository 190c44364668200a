#!/usr/bin/env bash
# What the telemetry sampler costs: the README demo's evaluation (SmolLM2-135M-Instruct, two
# ranks on the CPU backend) run with the sampler at 1 s and with it off, alternating, REPEATS
# times each (default 3), in the same session; prints each run's requests/s (from `llmpi report
# --format json`) and the ratio of the medians. Needs the demo's model and data
# (bash scripts/demo.sh fetches them) and a built build/src/llmpi.
#   bash scripts/bench_telemetry_cost.sh [REPEATS]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
repeats="${1:-3}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
rate() {
  ./build/src/llmpi report --format json "$1" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["runs"][0]["throughput"]["requests_per_s"])'
}
declare -A rates=([1]="" [0]="")
for ((i = 1; i <= repeats; i++)); do
  for interval in 1 0; do
    file="$out/run-$interval-$i.h5"
    mpirun -np 2 ./build/src/llmpi eval --model models/SmolLM2-135M-Instruct \
      --tasks jobs/tasks/gsm8k.yaml,jobs/tasks/humaneval.yaml,jobs/tasks/everyday-science.yaml \
      --limit "${LIMIT:-6}" --out "$file" --telemetry-interval "$interval" > /dev/null 2>&1
    r="$(rate "$file")"
    echo "telemetry interval ${interval}s, run $i: $r requests/s"
    rates[$interval]+="$r "
  done
done
python3 - "${rates[1]}" "${rates[0]}" <<'PY'
import statistics, sys
on = [float(x) for x in sys.argv[1].split()]
off = [float(x) for x in sys.argv[2].split()]
m_on, m_off = statistics.median(on), statistics.median(off)
print(f"median requests/s: sampler at 1 s {m_on:.3f}, off {m_off:.3f}; "
      f"on/off = {m_on / m_off:.4f} ({100 * (m_on / m_off - 1):+.2f}%)")
print(f"spread of the runs: on {min(on):.3f}-{max(on):.3f}, off {min(off):.3f}-{max(off):.3f}")
PY
