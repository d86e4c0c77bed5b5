#!/usr/bin/env bash
# Runs every test suite and adds up their closing lines into one:
#   N passed, N failed[, N skipped]
# A suite that crashes, times out, or ends without a closing line counts as
# one failure, so nothing can pass by saying nothing.
set -u
BUILD=${BUILD:-build}
RINGFOLD=${RINGFOLD:-$BUILD/ringfold}
export BUILD RINGFOLD
FUZZ_SECONDS=${FUZZ_SECONDS:-8}

total_pass=0 total_fail=0 total_skip=0
failed_suites=()

run_suite() { # name, timeout-seconds, command...
	local name=$1 limit=$2
	shift 2
	local out rc
	echo "== $name"
	out=$(timeout --kill-after=10 "$limit" "$@" 2>&1)
	rc=$?
	printf '%s\n' "$out" | sed 's/^/   /'
	local line
	line=$(printf '%s\n' "$out" | grep -E '^([A-Za-z]+: )?[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' | tail -n 1)
	if [ -z "$line" ]; then
		echo "   FAIL $name: no closing line (exit status $rc${rc:+$([ "$rc" = 124 ] && echo ', timed out')})"
		total_fail=$((total_fail + 1))
		failed_suites+=("$name")
		return
	fi
	local p f s
	p=$(sed -E 's/^([A-Za-z]+: )?([0-9]+) passed.*/\2/' <<<"$line")
	f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
	s=0
	grep -q skipped <<<"$line" && s=$(sed -E 's/.* ([0-9]+) skipped.*/\1/' <<<"$line")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "   FAIL $name: exit status $rc despite no failed check"
		f=1
	fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	total_skip=$((total_skip + s))
	[ "$f" -gt 0 ] && failed_suites+=("$name")
}

# Style: every C file as .clang-format says (make format fixes it).
run_suite "clang-format" 120 bash -c 'if make -s format-check; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed (run make format)"; fi'

for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] && run_suite "unit $(basename "$t")" 120 "$t"
done
for t in "$BUILD"/tests-asan/test_*; do
	[ -x "$t" ] && run_suite "unit+asan+ubsan $(basename "$t")" 300 "$t"
done
for f in "$BUILD"/fuzz/fuzz_*; do
	[ -x "$f" ] || continue
	name=$(basename "$f")
	corpus=tests/fuzz/corpus/${name#fuzz_}
	run_suite "fuzz $name (${FUZZ_SECONDS}s)" $((FUZZ_SECONDS + 120)) bash tests/fuzz/run-one.sh "$f" "$corpus" "$FUZZ_SECONDS"
done
for s in tests/integration/*.sh; do
	[ "$(basename "$s")" = lib.sh ] && continue # sourced by the others
	[ -f "$s" ] && run_suite "integration $(basename "$s" .sh)" 900 bash "$s"
done

echo
if [ ${#failed_suites[@]} -gt 0 ]; then
	echo "failed suites: ${failed_suites[*]}"
fi
if [ "$total_skip" -gt 0 ]; then
	echo "$total_pass passed, $total_fail failed, $total_skip skipped"
else
	echo "$total_pass passed, $total_fail failed"
fi
[ "$total_fail" -eq 0 ]
