#!/usr/bin/env bash
# The evaluation categories on every model, then the models side by side: submits one job per
# preset, each sized from that preset's plan (`llmpi plan --format json`: the nodes and ranks
# per node of one replica, the host memory a node needs), each writing OUT_DIR/PRESET.h5, and a
# job that waits for them all and writes OUT_DIR/report.txt, report.csv and report.json with
# `llmpi report` of every file. (One job per preset rather than one job array: an array's tasks
# share one size.)
#
#   jobs/sweep.sh --tasks jobs/tasks/gsm8k.yaml,... --out-dir sweep/ \
#       [--presets falcon-40b,llama-2-70b,...] [--gpus-per-node 8] [--gpu-mem-gib 80] \
#       [--time 24:00:00] [--cpu] [-- EXTRA LLMPI EVAL ARGS]
#
# Environment: SBATCH_PARTITION (the partition; sbatch reads it), LLMPI (the binary; default
# build/src/llmpi), SBATCH_ACCOUNT and the like as sbatch reads them. --cpu runs the CPU backend
# (no GPUs requested; --gpu-mem-gib is then the memory one rank may use). Prints the job ids.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
llmpi="${LLMPI:-$here/build/src/llmpi}"
presets="falcon-40b,llama-2-70b,codellama-70b,falcon-180b,alia-40b"
tasks="" out_dir="" gpus_per_node=8 gpu_mem_gib=80 time_limit="24:00:00" cpu=0
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tasks) tasks="$2"; shift 2 ;;
    --out-dir) out_dir="$2"; shift 2 ;;
    --presets) presets="$2"; shift 2 ;;
    --gpus-per-node) gpus_per_node="$2"; shift 2 ;;
    --gpu-mem-gib) gpu_mem_gib="$2"; shift 2 ;;
    --time) time_limit="$2"; shift 2 ;;
    --cpu) cpu=1; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "sweep: unknown argument $1 (see the comment at the top of $0)" >&2; exit 2 ;;
  esac
done
[[ -n "$tasks" && -n "$out_dir" ]] || { echo "sweep: --tasks and --out-dir are required" >&2; exit 2; }
mkdir -p "$out_dir"
out_dir="$(cd "$out_dir" && pwd)"

field() {  # field JSON PATH: one number from the plan
  python3 -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v[k]
print(v)' "$2" <<< "$1"
}

ids=()
files=()
IFS=',' read -r -a preset_list <<< "$presets"
for preset in "${preset_list[@]}"; do
  name="$(basename "$preset" .yaml)"
  plan="$("$llmpi" plan --preset "$preset" --gpus-per-node "$gpus_per_node" \
            --gpu-mem-gib "$gpu_mem_gib" --format json)"
  tp="$(field "$plan" layout.tp)"
  pp="$(field "$plan" layout.pp)"
  nodes="$(field "$plan" replica.nodes)"
  per_node="$(field "$plan" replica.ranks_per_node)"
  memory="$(field "$plan" replica.host_memory_gib_per_node)"
  size=(--nodes="$nodes" --ntasks-per-node="$per_node" --mem="${memory}G" --time="$time_limit")
  backend=cuda
  if [[ $cpu -eq 1 ]]; then
    backend=cpu
  else
    size+=(--gpus-per-node="$per_node")
  fi
  id="$(LLMPI_BACKEND=$backend sbatch --parsable --job-name="llmpi-sweep-$name" "${size[@]}" \
          --output="$out_dir/$name-%j.out" --export=ALL,LLMPI_BACKEND=$backend \
          "$here/jobs/sweep-task.slurm" "$preset" eval --tp "$tp" --pp "$pp" --tasks "$tasks" \
          --out "$out_dir/$name.h5" "${extra[@]}")"
  id="${id%%;*}"
  echo "sweep: $name: job $id (tp $tp pp $pp: ${nodes} node(s) x ${per_node} rank(s)," \
       "${memory} GiB a node)"
  ids+=("$id")
  files+=("$out_dir/$name.h5")
done

dependency="afterany:$(IFS=:; echo "${ids[*]}")"
report="$llmpi report ${files[*]}"
id="$(sbatch --parsable --job-name=llmpi-sweep-report --dependency="$dependency" --ntasks=1 \
        --mem=4G --time=00:30:00 --output="$out_dir/report-%j.out" \
        --wrap "$report > $out_dir/report.txt; $report --format csv > $out_dir/report.csv; $report --format json > $out_dir/report.json")"
echo "sweep: report: job ${id%%;*} (after ${ids[*]}) writes $out_dir/report.txt, .csv, .json"
