#!/bin/bash
# What every jobs/*.slurm does once its #SBATCH lines have sized the job: launch llmpi with
# srun, one task per GPU (or CPU rank), so that a run survives what a cluster does to it.
#   source "${LLMPI_JOBS_DIR:-$SLURM_SUBMIT_DIR/jobs}/srun_llmpi.sh"
#   llmpi_srun [SRUN OPTIONS ...] -- COMMAND [LLMPI ARGS ...]
#
# - `--kill-on-bad-exit=1`: a rank that dies ends the step at once (Slurm's default leaves the
#   other ranks waiting until the time limit); llmpi's own watchdog (--stall-limit) ends a step
#   whose rank hangs or is stopped.
# - `eval` continues its results file: --auto-resume is added unless --resume is given, and a
#   requeued job (SLURM_RESTART_COUNT > 0) never passes --overwrite again.
# - llmpi stops cleanly on SIGTERM (preemption) and SIGUSR1 (the time-limit warning the
#   scripts ask for with --signal=USR1@N), flushing every finished row and exiting 75; the job
#   then requeues itself (--requeue) and its next run resumes.
# Environment: LLMPI (default $SLURM_SUBMIT_DIR/build/src/llmpi).

llmpi_srun() {
  local srun_options=()
  while [[ $# -gt 0 && "$1" != "--" ]]; do
    srun_options+=("$1")
    shift
  done
  [[ "${1:-}" == "--" ]] && shift
  local command="${1:?llmpi_srun: no llmpi command}"
  shift
  local args=()
  local resuming=0
  for arg in "$@"; do
    case "$arg" in
      --resume | --auto-resume) resuming=1 ;;
      --overwrite)
        if [[ "${SLURM_RESTART_COUNT:-0}" -gt 0 ]]; then
          continue  # the first run replaced the old file; this one continues it
        fi
        resuming=1
        ;;
    esac
    args+=("$arg")
  done
  if [[ "$command" == "eval" && $resuming -eq 0 ]]; then
    args+=(--auto-resume)
  fi
  local llmpi="${LLMPI:-${SLURM_SUBMIT_DIR}/build/src/llmpi}"
  local status=0
  srun --kill-on-bad-exit=1 "${srun_options[@]}" "$llmpi" "$command" "${args[@]}" || status=$?
  if [[ $status -eq 75 && -n "${SLURM_JOB_ID:-}" ]]; then
    echo "llmpi: run interrupted (preemption or time limit); requeueing job ${SLURM_JOB_ID}" \
         "to resume it" >&2
    scontrol requeue "${SLURM_JOB_ID}"
  fi
  return $status
}
