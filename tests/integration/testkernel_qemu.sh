#!/usr/bin/env bash
# The test kernel under QEMU TCG, the reference that checks the kernel
# itself: with 1 and 2 CPUs every check passes (exit status 33 from the
# debug-exit port, no "not ok" line), `bench` reports every benchmark, and
# the failure path works (selftest=unexpected exits 35 with the report).
# QEMU is required: without it this suite fails, it does not skip.
set -u
. "$(dirname "$0")/lib.sh"

QEMU=${QEMU:-qemu-system-x86_64}

run_qemu() { # smp, append; sets out and rc
	timeout --kill-after=5 120 "$QEMU" -machine pc -accel tcg -cpu max -smp "$1" -m 256 \
		-display none -serial stdio -monitor none -no-reboot \
		-device isa-debug-exit,iobase=0xf4,iosize=4 \
		-kernel "$TESTKERNEL" -append "$2" </dev/null >"$t_tmp/out" 2>"$t_tmp/err"
	rc=$?
	out=$(tr -d '\r' <"$t_tmp/out") # the serial port only
	err=$(cat "$t_tmp/err")      # QEMU's own messages, shown on failure
}

fail_with_output() { # name
	fail "$1" "$out" ${err:+"--- qemu stderr:" "$err"}
}

if ! command -v "$QEMU" >/dev/null 2>&1; then
	fail "testkernel qemu" "*** $QEMU is not installed: install qemu-system-x86 ***"
	finish
	exit 1
fi
if [ ! -f "$TESTKERNEL" ]; then
	fail "testkernel qemu" "*** $TESTKERNEL does not exist: run make guest ***"
	finish
	exit 1
fi

for cpus in 1 2; do
	name="testkernel qemu -smp $cpus"
	run_qemu "$cpus" ""
	summary=$(grep -E '^testkernel: [0-9]+ passed, 0 failed(, [0-9]+ skipped)?$' <<<"$out")
	if [ "$rc" -eq 33 ] && [ -n "$summary" ] && ! grep -q '^not ok' <<<"$out" &&
		! grep -qvE '^(ok|skip) |^testkernel: ' <<<"$out"; then
		pass "$name ($summary)"
	else
		fail_with_output "$name (exit status $rc)"
	fi
	if grep -qE "^ok smp: $cpus of $cpus CPUs|^ok smp: 1 CPU listed" <<<"$out"; then
		pass "$name: smp reports $cpus CPU(s)"
	else
		fail "$name: smp did not report $cpus CPU(s)" "$(grep smp <<<"$out")"
	fi
done

name="testkernel qemu bench"
run_qemu 1 "bench"
want="syscall in out mmio cr8wr callret pgfault divzero ptemod"
missing=""
for b in $want; do
	grep -qE "^bench $b [0-9]+$" <<<"$out" || missing="$missing $b"
done
if [ "$rc" -eq 33 ] && [ -z "$missing" ] && grep -qE '^testkernel: 9 passed, 0 failed$' <<<"$out"; then
	pass "$name"
else
	fail_with_output "$name (exit status $rc, missing:${missing:- none})"
fi

name="testkernel qemu only=, quiet"
run_qemu 1 "quiet only=exc-ud,tsc"
if [ "$rc" -eq 33 ] && [ "$out" = "testkernel: 2 passed, 0 failed" ]; then
	pass "$name"
else
	fail_with_output "$name (exit status $rc)"
fi

name="testkernel qemu failure path"
run_qemu 1 "selftest=unexpected"
if [ "$rc" -eq 35 ] && grep -qE '^not ok unexpected-exception: vector 6 error 0x0 rip 0x[0-9a-f]+ cr2 0x[0-9a-f]+$' <<<"$out" &&
	grep -qE '^testkernel: 0 passed, 1 failed$' <<<"$out"; then
	pass "$name"
else
	fail_with_output "$name (exit status $rc)"
fi

finish
