#!/usr/bin/env bash
# Shuffle-BN diagnostic on the GPU: the cpu tier's K = 4096 config with and without shuffle BN,
# 2 seeds, with the kNN monitor every 2 epochs (the cpu tier scores only the last epoch).
set -uo pipefail
cd "$(dirname "$0")/.."
[ -d gpu_check ] || tar xzf gpu_check.tar.gz
mkdir -p /tmp/c && { [ -d /tmp/c/train ] || tar xzf cifar10-jpeg.tar.gz -C /tmp/c; }
d=$(python3 -c 'import os,torch;print(os.path.dirname(torch.__file__))')
export LD_LIBRARY_PATH=$d/lib:$(ls -d $d/../nvidia/*/lib | tr '\n' ':')$PWD/gpu_check/lib
go() {  # name seed shuffle
  timeout 150 gpu_check/bin/moco_pretrain --config=diag/moco-4096-s0.pbtxt --output_dir="/tmp/diag/$1" --fresh \
    --set="data { root: \"/tmp/c\" } run { device: CUDA threads: 4 seed: $2 } moco { shuffle_bn: $3 } eval { knn_every_epochs: 2 }" \
    > "$OUT/$1.log" 2>&1
  echo "$1: exit $?"; grep -E "kNN top-1" "$OUT/$1.log" | tr '\n' ' '; echo
}
go shuffle_on-s0 0 true &
go shuffle_on-s1 1 true &
go shuffle_off-s0 0 false &
go shuffle_off-s1 1 false &
wait
for f in /tmp/diag/*/metrics.jsonl; do cp "$f" "$OUT/$(basename $(dirname $f)).metrics.jsonl"; done
