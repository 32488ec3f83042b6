#!/usr/bin/env bash
# Runs `report --quick` (every program for a step or two: ours and the PyTorch-Python reference)
# and checks that benchmarks.md and benchmarks.json hold every section and every target figure.
# Fails, naming what is missing, when a program fails (for example without the set-up's Python).
set -uo pipefail
runfiles="${RUNFILES_DIR:-$0.runfiles}/moco_cpp"
out="${TEST_TMPDIR:-$(mktemp -d)}/report"
mkdir -p "$out"

"$runfiles/benchmarks/report" --quick --out_dir="$out"
status=$?
md="$out/benchmarks.md"
[ -f "$md" ] || { echo "FAIL: no $md"; exit 1; }
[ -f "$out/benchmarks.json" ] || { echo "FAIL: no benchmarks.json"; exit 1; }
# Kept for a look after the test: bazel-testlogs/benchmarks/report_quick_test/test.outputs/.
[ -n "${TEST_UNDECLARED_OUTPUTS_DIR:-}" ] && cp "$md" "$out/benchmarks.json" "$TEST_UNDECLARED_OUTPUTS_DIR/"
failed=0
expect() {  # expect PATTERN WHAT
  grep -qE -- "$1" "$md" || { echo "FAIL: benchmarks.md lacks $2 (/$1/)"; failed=1; }
}
expect '^## Machine' 'the machine section'
expect '^\| CPU \| .+' 'the CPU model'
expect '^\| LibTorch \(ours\) \| 2\.' 'the LibTorch version'
expect '^\| PyTorch \(reference\) \| 2\.' 'the Python torch version'
expect '^\| intra-op threads, ours and Python \| [0-9]+' 'the threads'
# Every target, measured (a number, not "not measured").
expect 'ours / the best PyTorch-Python configuration \| >= 2\.00x \| [0-9.]+x' 'end-to-end ours / best Python'
expect 'one core: ours / PIL \+ torchvision \| >= 10\.00x \| [0-9.]+x' 'decode + augmentation ours / torchvision'
expect 'spent waiting for data \| <= 5% \| [0-9.]+%' 'the data-wait share'
expect 'MoCo step time / supervised step time \| <= 1\.45x \| [0-9.]+x' 'MoCo step / supervised step'
expect 'tensors in memory: ours / PyTorch-Python \| - \| [0-9.]+x' 'ours / Python in memory'
expect 'one core: ours, image pairs per CPU second \| >= 300 /s \| [0-9]+ /s' 'ImageNet decode + views, ours'
expect '224 px, one core: ours / PIL \+ torchvision \| >= 4\.00x \| [0-9.]+x' 'ImageNet decode + views / PIL'
expect 'decoded up front \| >= 0\.90x \| [0-9.]+x' 'streamed / in-memory end to end'
expect 'streamed end-to-end MoCo step spent waiting for data \| <= 5% \| [0-9.]+%' 'streamed data wait'
expect 'over 10,000 files / over 1,000 \| <= 1\.10x \| (not measured|[0-9.]+x)' 'streamed RSS ratio row'
expect '^\| (100|1000) \| [0-9]+ \| [0-9.]+ \| [0-9]+ \|' 'a streamed-memory run'
expect '^\| augment \(ImageNet\) \| - \| - \| - \| [0-9.]+ \|' 'Python augment on ImageNet'
# Ours: every mechanism, both sources, both models; images/s and peak RSS present.
cases="moco/memory/r18 moco/memory/r18/nchw end_to_end/memory/r18 memory_bank/memory/r18 supervised/memory/r18
       moco/dataset/r18 moco/dataset/r18/stream supervised/dataset/r18 moco/memory/r50 supervised/memory/r50"
# bf16: ours and Python's, where the CPU has native bf16 (as the report decides).
bf16=no
grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo && bf16=yes
if [ "$bf16" = yes ]; then
  cases="$cases moco/memory/r18/bf16 moco/dataset/r18/bf16"
  expect 'ours in bf16 / ours in fp32 \| >= 1\.60x \| [0-9.]+x' 'ours bf16 / ours fp32'
  expect 'both in bf16: ours / the best PyTorch-Python configuration \| >= 2\.00x \| [0-9.]+x' 'bf16 ours / Python'
  expect '^\| memory \| 0 \| yes \| bf16 \| [0-9.]+ \|' 'Python memory, bf16'
  for w in 0 1 2; do
    expect "^\| dataloader \| $w \| yes \| bf16 \| [0-9.]+ \|" "Python dataloader workers=$w bf16"
  done
fi
for c in $cases; do
  # images/s, then the median-step rate (memory cases only) and data wait (dataset cases only)
  expect "^\| $c \| [0-9]+ \| [0-9]+ \| (yes|no) \| (fp32|bf16) \| [0-9.]+ \| ([0-9.]+|-) \| [^|]+ \| [0-9]+ \|" \
    "throughput case $c"
done
# The Python reference: memory and DataLoader with 0, 1, 2 workers, channels_last off and on; augment.
for w in 0 1 2; do
  for cl in no yes; do
    expect "^\| dataloader \| $w \| $cl \| fp32 \| [0-9.]+ \|" "Python dataloader workers=$w channels_last=$cl"
  done
done
expect '^\| memory \| 0 \| no \| fp32 \| [0-9.]+ \|' 'Python memory, NCHW'
expect '^\| memory \| 0 \| yes \| fp32 \| [0-9.]+ \|' 'Python memory, channels_last'
expect '^\| augment \| - \| - \| - \| [0-9.]+ \|' 'Python augment'
# Micro-benchmarks, each with a rate.
for b in BM_DecodeJpeg BM_DecodePng 'BM_AugmentPair/size:224/recipe:1' BM_DecodeAugmentPair/cifar \
         'BM_BatchAssembly/size:32/threads:2' 'BM_QueueEnqueue/K:65536' 'BM_MomentumUpdate/depth:50' \
         'BM_InfoNceLogitsLoss/K:4096' BM_ShuffleBn 'BM_ShuffleBnGloo/processes:2' \
         'BM_MemoryBankSampleLogits/K:4096' BM_MemoryBankUpdate; do
  expect "^\| $b[^|]* \| [0-9.e+]+ [mun]?s \| [0-9]" "micro-benchmark $b"
done
expect '^## Step profile' 'the step profile'
expect '^\| conv forward \| [0-9]+ ms' 'the profile'"'"'s conv forward time'
expect '^\| step FLOP/s / GEMM peak \| [0-9.]+ / [0-9.]+ GFLOP/s' 'the FLOP/s against the GEMM peak'
[ -s "$out/profile/moco_memory_r18.trace.json" ] || { echo "FAIL: no Chrome trace in $out/profile"; failed=1; }
expect '^## How to reproduce' 'the commands'
expect 'moco_reference.py --mode=dataloader --workers=2 --channels_last' 'the Python command'
[ "$status" -eq 0 ] || { echo "FAIL: report exited with $status"; failed=1; }
[ "$failed" -eq 0 ] && echo "PASS: benchmarks.md has every section and figure"
exit "$failed"
