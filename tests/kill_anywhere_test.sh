#!/usr/bin/env bash
# A few kills of the kill-anywhere check, of one run and of the harness mid-sweep (the full 20: bazel run //tests:kill_anywhere).
set -euo pipefail
tests/kill_anywhere --kills=4 --seed=2026
tests/kill_anywhere --harness --kills=2 --seed=2026
