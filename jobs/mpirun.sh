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
# SIGTERM or SIGUSR1 to mpirun reaches every rank, which stops at its next step and flushes
# what is finished (exit 75: rerun with --resume); sigkill_timeout gives them the time to.
exec mpirun -np "$ranks" "${hosts[@]}" --map-by "ppr:${per_node}:node" --rank-by slot \
  --bind-to core --mca odls_base_sigkill_timeout 30 \
  "$llmpi" "$command" --preset "$preset" --backend "${BACKEND:-cuda}" "$@"
