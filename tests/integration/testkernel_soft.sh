#!/usr/bin/env bash
# The project's test kernel on the soft engine, with 1 and 2 vCPUs: every
# check must pass (exit status 33). The soft engine implements everything the
# checks use (SYSCALL included), so no check may fail here.
#
# Where /dev/kvm is usable, the list of check names with their status
# (ok / skip / not ok) must also equal the kvm engine's on this machine,
# except for checks the kvm run failed (host /dev/kvm defects, which
# testkernel_kvm.sh judges) and skips that depend on CPUID (the two engines
# describe different CPUs: e.g. paging-1g).
set -u
. "$(dirname "$0")/lib.sh"

# statuses OUTPUT → "STATUS NAME" lines, STATUS one of ok, skip, not-ok.
statuses() {
	sed -nE 's/^ok ([^: ]+).*/ok \1/p; s/^not ok ([^: ]+).*/not-ok \1/p; s/^skip ([^: ]+).*/skip \1/p' <<<"$1"
}

# Checks whose status may differ: failed under kvm, or skipped for a CPUID
# reason under either engine.
excused() {
	{
		sed -nE 's/^not ok ([^: ]+).*/\1/p' <<<"$1"
		grep -E '^skip [^:]+:.*CPUID' <<<"$1" | sed -E 's/^skip ([^: ]+).*/\1/'
		grep -E '^skip [^:]+:.*CPUID' <<<"$2" | sed -E 's/^skip ([^: ]+).*/\1/'
	} | sort -u
}

for cpus in 1 2; do
	name="testkernel soft --cpus $cpus"
	out=$(timeout 120 "$RINGFOLD" run --engine soft --cpus "$cpus" --mem 256M \
		--kernel "$TESTKERNEL" 2>&1)
	rc=$?
	summary=$(grep -E '^testkernel:' <<<"$out")
	if [ -z "$summary" ]; then
		fail "$name: no summary line (exit status $rc)" "$out"
		continue
	fi
	failed=$(sed -nE 's/^not ok ([^:]+):.*/\1/p' <<<"$out")
	for check in $failed; do
		fail "$name: check '$check' failed" "$(grep -E "^not ok $check:" <<<"$out")"
	done
	if [ "$rc" -eq 33 ] && [ -z "$failed" ]; then
		pass "$name: $summary (exit status $rc)"
	else
		fail "$name: exit status $rc" "$out"
	fi
	if [ "$cpus" = 2 ]; then
		grep -qE '^ok smp: 2 of 2' <<<"$out" && pass "$name: both CPUs came up" ||
			fail "$name: both CPUs came up" "$out"
	fi

	cmp="$name: same checks and statuses as the kvm engine"
	kvm_available "$cmp" || continue
	kout=$(timeout 120 "$RINGFOLD" run --engine kvm --cpus "$cpus" --mem 256M \
		--kernel "$TESTKERNEL" 2>&1)
	if ! grep -qE '^testkernel:' <<<"$kout"; then
		fail "$cmp: the kvm run printed no summary" "$kout"
		continue
	fi
	ex=$(excused "$kout" "$out")
	drop() { grep -vxFf <(sed 's/^/ok /; p; s/^ok /skip /; p; s/^skip /not-ok /' <<<"$ex") || true; }
	want=$(statuses "$kout" | { [ -n "$ex" ] && drop || cat; })
	got=$(statuses "$out" | { [ -n "$ex" ] && drop || cat; })
	if [ "$want" = "$got" ]; then
		pass "$cmp ($(wc -l <<<"$got") compared${ex:+, excused: $(tr '\n' ' ' <<<"$ex" | sed 's/ $//')})"
	else
		fail "$cmp" "$(diff <(echo "$want") <(echo "$got") | sed 's/^</kvm: /; s/^>/soft:/')"
	fi
done
finish
