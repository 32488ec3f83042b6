#!/usr/bin/env bash
# A few kills of the kill-anywhere check (the full 20: bazel run //tests:kill_anywhere).
set -euo pipefail
exec tests/kill_anywhere --kills=4 --seed=2026
