#!/usr/bin/env bash
# Builds the libFuzzer targets of //fuzz with clang-14 (ASan + UBSan) and runs each on seeds
# made from the real datasets.
#
#   tools/fuzz.sh                          # every target, 10000 inputs each
#   tools/fuzz.sh png_fuzzer -runs=100000  # one target; extra flags go to libFuzzer
#   tools/fuzz.sh --build                  # build only
#
# encoder_io_fuzzer links LibTorch (the torch-file reader, //eval:torch_file): its first build
# with clang takes a few minutes on two cores.
# Each run stops after -runs inputs (default 10000) or -max_total_time seconds (default
# 900), with -timeout=10 s per input; any crash, hang, leak or sanitizer report fails it
# and leaves the input in $MOCO_CACHE/fuzz/<target>/crashes/. The corpus grows in
# $MOCO_CACHE/fuzz/<target>/corpus/ and is reused by the next run. Bazel uses its own output
# base ($MOCO_CACHE/bazel-fuzz), so the clang build never touches the g++ one.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${MOCO_CACHE:-$HOME/.cache/moco-cpp}"
DATA="${MOCO_DATA_DIR:-$CACHE/data}"
FASHION_MNIST="${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
PYTHON="$CACHE/torch-2.11.0/bin/python"  # has Pillow, for the re-encoded seeds
[ -x "$PYTHON" ] || PYTHON=python3
WORK="$CACHE/fuzz"

ALL=(jpeg_fuzzer png_fuzzer idx_fuzzer cifar_binary_fuzzer pennfudan_fuzzer coco_json_fuzzer
     voc_xml_fuzzer config_fuzzer encoder_io_fuzzer)
targets=()
flags=()
build_only=0
for arg in "$@"; do
  case "$arg" in
    --build) build_only=1 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) flags+=("$arg") ;;
    *) targets+=("$arg") ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${ALL[@]}")

# clang, lld and libFuzzer are not part of tools/setup.sh (only fuzzing needs them).
for tool in clang-14 ld.lld-14; do
  command -v "$tool" >/dev/null || {
    echo "fuzz.sh: $tool is missing; install it with: sudo apt-get install clang-14 lld-14 libclang-rt-14-dev" >&2
    exit 1
  }
done

bazel_fuzz() {
  bazel --output_base="$CACHE/bazel-fuzz" "$@"
}
bazel_fuzz build --config=fuzz --jobs="${FUZZ_JOBS:-1}" "${targets[@]/#///fuzz:}"
[ "$build_only" = 1 ] && exit 0
bin=$(bazel_fuzz info --config=fuzz bazel-bin)

echo "Seeds from $DATA and $FASHION_MNIST:"
"$PYTHON" fuzz/make_seeds.py "$DATA" "$FASHION_MNIST" "$WORK/seeds"

failed=()
for target in "${targets[@]}"; do
  dir="$WORK/$target"
  mkdir -p "$dir/corpus" "$dir/crashes"
  echo "== $target"
  # Leaks of a library the target calls, documented in the file (none of this project's).
  supp="$PWD/fuzz/$target.lsan.supp"
  lsan=""
  [ -f "$supp" ] && lsan="suppressions=$supp:print_suppressions=0"
  # The first folder receives the new inputs; the seeds are read only.
  if LSAN_OPTIONS="$lsan" "$bin/fuzz/$target" -runs=10000 -max_total_time=900 -timeout=10 \
      -print_final_stats=1 -artifact_prefix="$dir/crashes/" "${flags[@]}" \
      "$dir/corpus" "$WORK/seeds/$target" >"$dir/log.txt" 2>&1; then
    grep -E '^Done [0-9]+ runs|stat::number_of_executed_units' "$dir/log.txt" | head -2
  else
    tail -40 "$dir/log.txt"
    failed+=("$target")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]} (logs and inputs under $WORK)"
  exit 1
fi
echo "All ${#targets[@]} fuzz targets ran clean."
