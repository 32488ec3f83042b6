#!/usr/bin/env bash
# Lag diagnostic on the GPU: the cpu tier's K = 256 runs with m = 0.99 (calibration against the
# CPU records) and m = 0.9, and end-to-end K = 255, four processes at once.
set -uo pipefail
cd "$(dirname "$0")/.."
[ -d gpu_check ] || tar xzf gpu_check.tar.gz
mkdir -p /tmp/c && { [ -d /tmp/c/train ] || tar xzf cifar10-jpeg.tar.gz -C /tmp/c; }
d=$(python3 -c 'import os,torch;print(os.path.dirname(torch.__file__))')
export LD_LIBRARY_PATH=$d/lib:$(ls -d $d/../nvidia/*/lib | tr '\n' ':')$PWD/gpu_check/lib
go() {  # name config seed extra-set
  timeout 210 gpu_check/bin/moco_pretrain --config="$2" --output_dir="/tmp/diag/$1" --fresh \
    --set="data { root: \"/tmp/c\" } run { device: CUDA threads: 4 seed: $3 } $4" > "$OUT/$1.log" 2>&1
  echo "$1: exit $?"; grep -E "kNN top-1:|images/s" "$OUT/$1.log" | tail -2
}
go moco-256-m0.99-s0 diag/moco-256-s0.pbtxt 0 "" &
go moco-256-m0.9-s0 diag/moco-256-s0.pbtxt 0 "moco { momentum: 0.9 }" &
go moco-256-m0.9-s1 diag/moco-256-s0.pbtxt 1 "moco { momentum: 0.9 }" &
go end_to_end-255-s0 diag/end_to_end-256-s0.pbtxt 0 "" &
wait
for f in /tmp/diag/*/metrics.jsonl; do cp "$f" "$OUT/$(basename $(dirname $f)).metrics.jsonl"; done
