#!/usr/bin/env bash
# tools/check_layering.py on small planted trees: a clean one passes; an include or a
# cc_library dependency from a lower layer to a higher one fails, naming the file and line;
# mains and tests may reach any layer, and a visibility list is no dependency. (CI runs the check itself on the real tree: .ci/run.)
set -euo pipefail
check="$(dirname "$0")/check_layering.py"
root="${TEST_TMPDIR:-$(mktemp -d)}/tree"

plant() {  # plant PATH CONTENT
  mkdir -p "$(dirname "$root/$1")"
  printf '%s\n' "$2" >"$root/$1"
}

rm -rf "$root"
plant moco/common/files.h '#include "absl/status/status.h"'
plant moco/train/trainer.h '#include "moco/common/files.h"
#include "configs/experiment.pb.h"'
plant eval/knn_main.cc '#include "benchmarks/harness/plan.h"'    # a main may reach up
plant moco/train/trainer_test.cc '#include "eval/knn.h"'          # so may a test
plant moco/train/BUILD.bazel 'cc_library(
    name = "trainer",
    visibility = ["//tests:__pkg__"],
    deps = ["//moco/common:files", "//configs:config"],
)
cc_test(
    name = "trainer_test",
    deps = [":trainer", "//eval:knn"],
)'
python3 "$check" "$root" || { echo "FAIL: a clean tree was refused"; exit 1; }

# An include from a lower layer (train) to a higher one (eval).
plant moco/train/trainer.cc '#include "moco/train/trainer.h"
#include "eval/knn.h"'
status=0
out=$(python3 "$check" "$root") || status=$?
echo "$out"
[ "$status" -eq 1 ] || { echo "FAIL: exit $status for an upward include"; exit 1; }
grep -q 'moco/train/trainer.cc:2: train includes eval/knn.h (eval)' <<<"$out" \
  || { echo "FAIL: the violation is not named"; exit 1; }
rm "$root/moco/train/trainer.cc"

# A cc_library dependency from a lower layer (common) to a higher one (configs).
plant moco/common/BUILD.bazel 'cc_library(
    name = "record",
    deps = [
        ":files",
        "//configs:record_cc_proto",
    ],
)'
status=0
out=$(python3 "$check" "$root") || status=$?
echo "$out"
[ "$status" -eq 1 ] || { echo "FAIL: exit $status for an upward dependency"; exit 1; }
grep -q 'moco/common/BUILD.bazel:5: common depends on //configs (configs)' <<<"$out" \
  || { echo "FAIL: the dependency is not named"; exit 1; }
echo "PASS"
