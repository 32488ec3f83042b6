#!/usr/bin/env bash
# --fresh starts over with several processes too: two workers (the built-in launcher, which sets
# RANK for each) over the folder of a finished run begin again at step 0, where they used to
# resume its checkpoint without a word.
set -euo pipefail
out="$TEST_TMPDIR/fresh"
set_small='data { max_train_images: 512 max_test_images: 128 } optim { batch_size: 64 epochs: 1 } moco { queue_size: 128 }'
run() {
  moco/pretrain --config=configs/smoke/moco_fashion_mnist.pbtxt --output_dir="$out" --nproc_per_node=2 \
    --threads=1 --set="$set_small" "$@"
}
run --max_steps=4 > "$TEST_TMPDIR/first.log"
grep -q '"steps": 4' "$out/record.json" || { echo "FAILED: the first run did not end at step 4"; exit 1; }
run --fresh --max_steps=2 > "$TEST_TMPDIR/fresh.log"
if grep -q "resumed from" "$TEST_TMPDIR/fresh.log"; then
  echo "FAILED: --fresh with two processes resumed:"; grep "resumed from" "$TEST_TMPDIR/fresh.log"; exit 1
fi
grep -q '"steps": 2' "$out/record.json" || { echo "FAILED: the fresh run did not start again at step 0"; exit 1; }
echo "fresh_test: passed"
