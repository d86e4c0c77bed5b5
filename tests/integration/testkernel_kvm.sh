#!/usr/bin/env bash
# The project's test kernel on the kvm engine, with 1 and 2 vCPUs: every check
# must pass (exit status 33 from the debug-exit port).
#
# One exception, decided by measurement rather than a list: a check that also
# fails under QEMU -accel kvm on this same host is a defect of the host's
# /dev/kvm (kvm_pvm, for one, does not deliver SYSCALL from CPL3 to the
# guest's LSTAR). Such a check is reported as a loud SKIP naming QEMU's
# identical failure; any other failure fails the test.
set -u
. "$(dirname "$0")/lib.sh"

qemu_kvm_failures() { # cpus → the "not ok" check names under QEMU -accel kvm, or "unusable"
	local out
	command -v qemu-system-x86_64 >/dev/null || { echo unusable; return; }
	out=$(timeout 120 qemu-system-x86_64 -machine pc -accel kvm -cpu qemu64 -smp "$1" -m 256 \
		-display none -serial stdio -monitor none -no-reboot \
		-device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$TESTKERNEL" 2>/dev/null)
	grep -qE '^testkernel: ' <<<"$out" || { echo unusable; return; }
	sed -nE 's/^not ok ([^:]+):.*/\1/p' <<<"$out"
}

for cpus in 1 2; do
	name="testkernel kvm --cpus $cpus"
	kvm_available "$name" || continue
	out=$(timeout 120 "$RINGFOLD" run --engine kvm --cpus "$cpus" --mem 256M \
		--kernel "$TESTKERNEL" 2>&1)
	rc=$?
	summary=$(grep -E '^testkernel:' <<<"$out")
	if [ -z "$summary" ]; then
		fail "$name: no summary line (exit status $rc)" "$out"
		continue
	fi
	failed=$(sed -nE 's/^not ok ([^:]+):.*/\1/p' <<<"$out")
	host_defects=""
	if [ -n "$failed" ]; then
		qemu_failed=$(qemu_kvm_failures "$cpus")
		for check in $failed; do
			if grep -qx -- "$check" <<<"$qemu_failed"; then
				host_defects+=" $check"
			else
				fail "$name: check '$check' failed" "$out"
			fi
		done
	fi
	for check in $host_defects; do
		skip "$name: $check" "fails identically under QEMU -accel kvm on this host: a /dev/kvm defect ($(grep -E "^not ok $check:" <<<"$out" | head -n1))"
	done
	if [ "$rc" -eq 33 ] || { [ "$rc" -eq 35 ] && [ -n "$failed" ]; }; then
		pass "$name: $summary (exit status $rc)"
	else
		fail "$name: exit status $rc" "$out"
	fi
	if [ "$cpus" = 2 ]; then
		grep -qE '^ok smp: 2 of 2' <<<"$out" && pass "$name: both CPUs came up" ||
			fail "$name: both CPUs came up" "$out"
	fi
done
finish
