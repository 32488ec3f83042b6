#!/usr/bin/env bash
# Real ImageNet JPEGs of every size, as a user runs the suite on them (the 1,000-image sample
# tools/setup.sh installs, one class folder per wnid): pretraining streamed at 224 px with the
# V2 recipe, the kNN and both linear evaluations of its checkpoint, ImageNet-100 through the
# class list, the paper tier's config on the CPU, and a folder of photos without class folders
# (pretrains; the evaluators refuse it, saying why), and a config that does not describe the
# checkpoint's encoder (refused).
set -euo pipefail
data="${MOCO_DATA_DIR:-${MOCO_CACHE:-$HOME/.cache/moco-cpp}/data}/imagenet-sample/train"
[ -d "$data" ] || { echo "missing $data: run tools/setup.sh" >&2; exit 1; }
out="$TEST_TMPDIR"
fail() { echo "FAILED: $*" >&2; exit 1; }

moco/pretrain --config=configs/smoke/imagenet_sample.pbtxt --output_dir="$out/smoke" --max_steps=2 --threads=2 \
  | tee "$out/smoke.log"
grep -q "1000 train / 1000 test images of every size, streamed, 1000 classes" "$out/smoke.log" || fail "streamed listing"
grep -q '"data_cache": "stream"' "$out/smoke/record.json" || fail "record's data_cache"

eval/knn --config=configs/smoke/imagenet_sample.pbtxt --checkpoint="$out/smoke/checkpoint.pt" --threads=2 \
  --max_test_images=200 --output="$out/knn.json" | tee "$out/knn.log"
grep -q '"knn_top1"' "$out/knn.json" || fail "kNN record"
# A --config whose model {} is not the checkpoint's encoder is refused: the record would name a
# model that was not evaluated.
if eval/knn --config=configs/smoke/imagenet_sample.pbtxt --checkpoint="$out/smoke/checkpoint.pt" \
     --set='model { width_multiplier: 0.5 }' 2> "$out/knn_mismatch.log"; then
  fail "kNN of a checkpoint under another model's config ran"
fi
grep -q "model {} describes a ResNet-18, width 0.5, ImageNet stem, but the encoder of --checkpoint=" \
  "$out/knn_mismatch.log" || fail "model mismatch message: $(cat "$out/knn_mismatch.log")"
eval/linear --mode=paper --epochs=1 --config=configs/smoke/imagenet_sample.pbtxt --threads=2 \
  --checkpoint="$out/smoke/checkpoint.pt" --max_train_images=256 --max_test_images=200 --output="$out/lin.json"
grep -q '"linear_top1"\|"top1"' "$out/lin.json" || fail "linear (paper mode) record"
eval/linear --mode=fast --epochs=2 --config=configs/smoke/imagenet_sample.pbtxt --threads=2 \
  --checkpoint="$out/smoke/checkpoint.pt" --max_train_images=256 --max_test_images=200 --output="$out/fast.json"

# ImageNet-100 (CMC's classes) from the same tree: 100 of the 1,000 folders.
moco/pretrain --config=configs/smoke/imagenet_sample.pbtxt --output_dir="$out/in100" --max_steps=1 --threads=2 \
  --set='data { class_list: "configs/imagenet100_classes.txt" } optim { batch_size: 16 } moco { queue_size: 64 }' \
  | tee "$out/in100.log"
grep -q "100 train / 100 test images of every size, streamed, 100 classes" "$out/in100.log" || fail "class list"

# The paper tier's MoCo v2 config (ResNet-50, 224 px) on the CPU, with a batch that fits.
moco/pretrain --config=configs/paper/moco_v2_r50_imagenet.pbtxt --output_dir="$out/paper" --max_steps=1 \
  --threads=2 --set="data { root: \"$data/..\" test_split: \"train\" max_train_images: 64 max_test_images: 8 }
    optim { batch_size: 8 } moco { queue_size: 64 } run { device: CPU_ONLY }" | tee "$out/paper.log"
grep -q "1 steps" "$out/paper.log" || fail "paper tier step"

# A folder of photos without class folders: one unlabeled set. Pretraining runs, without the
# kNN monitor; the kNN evaluation refuses it, naming why.
mkdir -p "$out/photos"
for f in "$data"/n015*/*.JPEG; do cp "$f" "$out/photos/"; done
moco/pretrain --config=configs/smoke/imagenet_sample.pbtxt --output_dir="$out/photos_run" --max_steps=1 \
  --threads=2 --set="data { root: \"$out/photos\" train_split: \"\" } optim { batch_size: 8 } moco { queue_size: 64 }" \
  | tee "$out/photos.log"
grep -q "unlabeled (no class folders): no kNN monitor" "$out/photos.log" || fail "unlabeled pretraining"
if eval/knn --config=configs/smoke/imagenet_sample.pbtxt --checkpoint="$out/photos_run/checkpoint.pt" \
     --set="data { root: \"$out/photos\" train_split: \"\" }" 2> "$out/knn_refused.log"; then
  fail "kNN on an unlabeled folder should be refused"
fi
grep -q "no class folders" "$out/knn_refused.log" || fail "kNN refusal message: $(cat "$out/knn_refused.log")"

# A truncated JPEG among the training images: the run stops naming it; with on_bad_image SKIP it
# trains, the next image of its class taking its place, and the record lists the file.
mkdir -p "$out/bad"
ls "$data"/n015*/*.JPEG | head -7 | while read -r f; do cp "$f" "$out/bad/"; done
head -c 5000 "$(ls "$data"/n016*/*.JPEG | head -1)" > "$out/bad/truncated.JPEG"
rest="optim { batch_size: 8 } moco { queue_size: 64 }"
bad_set="data { root: \"$out/bad\" train_split: \"\" } $rest"
if moco/pretrain --config=configs/smoke/imagenet_sample.pbtxt --output_dir="$out/bad_run" --max_steps=1 \
     --threads=2 --set="$bad_set" 2> "$out/bad.log"; then
  fail "a truncated image should stop the run"
fi
grep -q "$out/bad/truncated.JPEG" "$out/bad.log" || fail "the error names the truncated file: $(cat "$out/bad.log")"
moco/pretrain --config=configs/smoke/imagenet_sample.pbtxt --output_dir="$out/skip_run" --max_steps=1 \
  --threads=2 --set="data { root: \"$out/bad\" train_split: \"\" on_bad_image: SKIP } $rest" > "$out/skip.log"
grep -q "\"skipped_images\": \[" "$out/skip_run/record.json" && grep -q "$out/bad/truncated.JPEG" "$out/skip_run/record.json" \
  || fail "the record lists the skipped file"

# The scan before a long run: every sample image decodes; a truncated and an empty file are listed.
moco/data/scan --config=configs/smoke/imagenet_sample.pbtxt | tail -1 | grep -q "0 of 1000 files cannot be decoded" \
  || fail "scan of the sample"
mkdir -p "$out/scan/a"
cp "$data"/n01440764/*.JPEG "$out/scan/a/"
head -c 3000 "$out/scan/a/$(ls "$out/scan/a" | head -1)" > "$out/scan/a/truncated.JPEG"
: > "$out/scan/a/empty.jpg"
if moco/data/scan --root="$out/scan" > "$out/scan.log"; then fail "scan should exit 1 on bad files"; fi
grep -q "bad: $out/scan/a/empty.jpg: file is empty" "$out/scan.log" || fail "scan lists the empty file"
grep -q "bad: $out/scan/a/truncated.JPEG: corrupt JPEG" "$out/scan.log" || fail "scan lists the truncated file"

# The paper tier's tables plan against these configs.
benchmarks/reproduce --table=all --tier=paper --dry_run > "$out/plan.log" || fail "paper tier dry run"
echo "imagenet_sample_test: all passed"
