#!/usr/bin/env bash
# Two harness invocations on one reports folder: while one holds reports/<tier>/.lock, the
# second stops at once with a clear message and writes nothing. Also: the
# workers' internal flags (--job_config, --job_record) are refused one without the other.
set -euo pipefail
reports="${TEST_TMPDIR:-/tmp}/reports"
rm -rf "$reports" && mkdir -p "$reports/cpu"
# Stand in for a running reproduce: hold the lock for up to 60 s.
( exec 9>"$reports/cpu/.lock"; flock 9; exec sleep 60 ) &
holder=$!
trap 'kill $holder 2>/dev/null || true' EXIT
for _ in $(seq 50); do flock -n "$reports/cpu/.lock" true 2>/dev/null || break; sleep 0.1; done

status=0
out=$(benchmarks/reproduce --table=queue_size --tier=cpu --report_only --reports_dir="$reports" 2>&1) || status=$?
echo "$out"
[ "$status" -ne 0 ] || { echo "FAIL: the second invocation did not stop"; exit 1; }
grep -q "is writing $reports/cpu; wait for it to finish, or use another --reports_dir" <<<"$out" \
  || { echo "FAIL: no clear message"; exit 1; }
[ ! -e "$reports/cpu/queue_size.md" ] || { echo "FAIL: it wrote a report"; exit 1; }

# Once the first is done, the second goes ahead.
kill $holder; wait $holder 2>/dev/null || true
benchmarks/reproduce --table=queue_size --tier=cpu --report_only --reports_dir="$reports" >/dev/null
[ -e "$reports/cpu/queue_size.md" ] || { echo "FAIL: no report after the lock was released"; exit 1; }
# The workers' internal flags come as a pair.
status=0
out=$(benchmarks/reproduce --job_config="$reports/x.pbtxt" 2>&1) || status=$?
[ "$status" -ne 0 ] && grep -q -- "--job_config and --job_record go together" <<<"$out" \
  || { echo "FAIL: --job_config without --job_record was not refused: $out"; exit 1; }
echo PASS
