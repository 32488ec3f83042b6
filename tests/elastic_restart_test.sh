#!/usr/bin/env bash
# torchrun elastic: a 2-process run under `torchrun --max-restarts=3` with one worker SIGKILLed
# mid-epoch twice ends bit-identical to an uninterrupted 2-process run (tests/kill_anywhere_main.cc).
set -euo pipefail
tests/kill_anywhere --torchrun --kills=2 --seed=2026
