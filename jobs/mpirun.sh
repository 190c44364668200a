#!/bin/bash
# The mpirun equivalent of jobs/*.slurm: RANKS_PER_NODE consecutive ranks per node from a
# hostfile (or this machine), one per GPU.
#   jobs/mpirun.sh PRESET RANKS COMMAND [ARGS...]      e.g. jobs/mpirun.sh falcon-180b 8 generate --prompt "..."
# Environment: HOSTFILE (optional), RANKS_PER_NODE (default 8), BACKEND (default cuda),
# LLMPI (default build/src/llmpi).
set -euo pipefail
preset="${1:?usage: jobs/mpirun.sh PRESET RANKS COMMAND [ARGS...]}"
ranks="${2:?ranks}"
command="${3:?command}"
shift 3
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
llmpi="${LLMPI:-$here/build/src/llmpi}"
per_node="${RANKS_PER_NODE:-8}"
hosts=()
[[ -n "${HOSTFILE:-}" ]] && hosts=(--hostfile "$HOSTFILE")
# ppr:N:node + rank-by slot: ranks 0..N-1 on the first node, N..2N-1 on the next, ...
exec mpirun -np "$ranks" "${hosts[@]}" --map-by "ppr:${per_node}:node" --rank-by slot \
  --bind-to core "$llmpi" "$command" --preset "$preset" --backend "${BACKEND:-cuda}" "$@"
