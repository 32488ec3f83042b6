#!/usr/bin/env bash
# The notebook table's GPU run (configs/tables/gpu/notebook.pbtxt): the official CIFAR-10
# notebook's recipe on its 200-epoch schedule, stopped after 70 epochs, kNN every 5, on one GPU,
# in one device call of under 10 minutes. Its record and metrics land under OUT to be committed
# (OUT/reports/gpu/runs/*.json, OUT/runs/notebook-s0/metrics.jsonl).
#
#   tools/gpu_notebook.sh --dry_run                 # here, on the CPU: the plan and its estimate
#   tools/gpu_notebook.sh REPRODUCE_BINARY OUT       # on the GPU machine (CUDA build of
#                                                   # //benchmarks:reproduce, datasets in $MOCO_DATA_DIR,
#                                                   # $MOCO_GIT_COMMIT its build's commit, as gpu_check's
#                                                   # run.sh sets it: a copy cannot tell)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--dry_run" ]; then
  bazel build //benchmarks:reproduce
  exec bazel-bin/benchmarks/reproduce --table=notebook --tier=gpu --dry_run
fi
[ $# -eq 2 ] || { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
reproduce="$1" out="$2"
mkdir -p "$out/reports/gpu/runs"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$out/device.txt" 2>&1 || true
"$reproduce" --table=notebook --tier=gpu --reports_dir="$out/reports" --runs_dir="$out/runs" 2>&1 \
  | tee "$out/notebook_gpu.log"
