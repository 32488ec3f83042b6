#!/usr/bin/env bash
# A few kills of the kill-anywhere check, of one run and of the harness mid-sweep (one run at a time, then two) (the full 20: bazel run //tests:kill_anywhere).
set -euo pipefail
tests/kill_anywhere --kills=4 --seed=2026
tests/kill_anywhere --harness --kills=2 --seed=2026
# Two runs at a time (reproduce --jobs=2), killed twice: the same results as one at a time.
tests/kill_anywhere --harness --jobs=2 --kills=2 --seed=2027
# Detection fine-tuning killed and resumed: the same detector, record and detections.
tests/kill_anywhere --detection --kills=3 --seed=2026
