#!/usr/bin/env bash
# Runs one libFuzzer target for a few seconds over its seed corpus (plus a
# scratch copy it may grow) and reports "1 passed, 0 failed" or the crash.
set -u
fuzzer=$1 seeds=$2 seconds=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -d "$seeds" ] && cp -r "$seeds"/. "$work"/ 2>/dev/null
if "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$work/" "$work" >"$work/log" 2>&1; then
	grep -E 'stat::number_of_executed_units|Done [0-9]+ runs' "$work/log" | tail -n 2
	echo "1 passed, 0 failed"
else
	tail -n 40 "$work/log"
	for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-*; do
		[ -f "$a" ] && { mkdir -p build/fuzz-artifacts && cp "$a" build/fuzz-artifacts/ && echo "artifact saved: build/fuzz-artifacts/$(basename "$a")"; }
	done
	echo "0 passed, 1 failed"
fi
