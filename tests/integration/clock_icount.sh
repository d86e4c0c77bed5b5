#!/usr/bin/env bash
# --clock icount: guest time from the soft engine's instruction count. The
# test kernel's nanobenchmarks print TSC cycle counts and its timer checks
# wait on the PIT and the LAPIC timer, so two runs agree byte for byte only if
# every clock and every timer interrupt follows the instruction count. Also:
# the option's errors, and the ordinary host clock still passing everything.
set -u
. "$(dirname "$0")/lib.sh"

run_icount() { # $1: output file, rest: extra options
	local out=$1
	shift
	timeout 300 "$RINGFOLD" run --engine soft --clock icount --kernel "$TESTKERNEL" \
		--console "$out" "$@" 2>"$out.err"
}

for cpus in 1 2; do
	run_icount "$t_tmp/a$cpus" --cpus $cpus --cmdline bench
	rc1=$?
	run_icount "$t_tmp/b$cpus" --cpus $cpus --cmdline bench
	rc2=$?
	if [ $rc1 -ne 33 ] || [ $rc2 -ne 33 ]; then
		fail "icount bench --cpus $cpus: exit statuses $rc1 $rc2 (want 33)" \
			"$(cat "$t_tmp/a$cpus" "$t_tmp/a$cpus.err")"
	elif ! grep -q '^bench syscall [0-9]' "$t_tmp/a$cpus"; then
		fail "icount bench --cpus $cpus: no benchmark figures" "$(cat "$t_tmp/a$cpus")"
	elif cmp -s "$t_tmp/a$cpus" "$t_tmp/b$cpus"; then
		pass "icount --cpus $cpus: two runs print identical cycle counts"
	else
		fail "icount --cpus $cpus: the runs differ" "$(diff "$t_tmp/a$cpus" "$t_tmp/b$cpus")"
	fi
done

# Every check of the test kernel (timers, SMP, exceptions) passes on icount time.
run_icount "$t_tmp/full" --cpus 2
rc=$?
if [ $rc -eq 33 ] && grep -q 'testkernel: [0-9]* passed, 0 failed' "$t_tmp/full"; then
	pass "icount: the full test kernel passes with 2 vCPUs"
else
	fail "icount full test kernel: exit status $rc" "$(cat "$t_tmp/full" "$t_tmp/full.err")"
fi

# The host clock (the default) gives varying cycle counts but the same checks.
timeout 300 "$RINGFOLD" run --engine soft --clock host --kernel "$TESTKERNEL" \
	--console "$t_tmp/host" 2>/dev/null
rc=$?
if [ $rc -eq 33 ]; then
	pass "--clock host: the test kernel passes"
else
	fail "--clock host: exit status $rc" "$(cat "$t_tmp/host")"
fi

err=$("$RINGFOLD" run --engine kvm --clock icount --kernel "$TESTKERNEL" 2>&1)
rc=$?
if [ $rc -eq 2 ] && grep -q "soft engine" <<<"$err"; then
	pass "--clock icount with --engine kvm: usage error naming the soft engine"
else
	fail "--clock icount --engine kvm: exit status $rc" "$err"
fi
err=$("$RINGFOLD" run --clock sundial --kernel "$TESTKERNEL" 2>&1)
rc=$?
if [ $rc -eq 2 ] && grep -q "host or icount" <<<"$err"; then
	pass "--clock with a bad value: usage error"
else
	fail "--clock sundial: exit status $rc" "$err"
fi
finish
