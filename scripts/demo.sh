#!/usr/bin/env bash
# The main job on a laptop or CI-sized machine: installs the packages, fetches
# SmolLM2-135M-Instruct and the evaluation data, builds llmpi, evaluates the model with two
# MPI ranks (two data-parallel replicas on the CPU backend) on a few problems of each kind of
# task (math: GSM8K, coding: HumanEval, reasoning: multiple choice), and prints the report.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

bash scripts/install_deps.sh
bash scripts/fetch_smollm2.sh
bash scripts/fetch_datasets.sh
bash scripts/build.sh build

# Open MPI refuses root unless told; more ranks than cores are fine for a demo.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
RESULTS="${RESULTS:-models/demo-run.h5}"
mpirun -np 2 ./build/src/llmpi eval --model models/SmolLM2-135M-Instruct \
  --tasks jobs/tasks/gsm8k.yaml,jobs/tasks/humaneval.yaml,jobs/tasks/everyday-science.yaml \
  --limit "${LIMIT:-6}" --out "$RESULTS" --overwrite
./build/src/llmpi report "$RESULTS"
