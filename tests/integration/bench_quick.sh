#!/usr/bin/env bash
# The whole benchmark suite once, in quick mode (BENCH_QUICK=1: one repeat,
# 2 s idle window), so no benchmark can rot: every benchmark must produce a
# number on every VMM that can run here, and the report (markdown + charts)
# must be generated, into a temporary directory (never docs/). It checks
# that numbers exist, never what they are: no time or ratio is asserted.
set -u
. "$(dirname "$0")/lib.sh"

out=$t_tmp/out
mkdir -p "$out/bench"
log=$t_tmp/bench.log
BENCH_QUICK=1 BENCH_OUT=$out BENCH_COMMAND="tests/integration/bench_quick.sh" \
	timeout --kill-after=10 170 bash bench/run.sh >"$log" 2>&1
rc=$?
if [ "$rc" -eq 0 ]; then
	pass "bench/run.sh in quick mode finished"
else
	fail "bench/run.sh in quick mode finished (exit status $rc)" "$(tail -n 20 "$log")"
fi

results=$out/bench/results.tsv
meta=$out/bench/meta.tsv
touch "$results" "$meta"
available() { grep -qxF "$(printf 'available_%s\tyes' "$1")" "$meta"; }
is_number() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]]; }

# Which VMMs ran. QEMU TCG runs anywhere QEMU is installed; ringfold kvm
# wherever /dev/kvm is usable (else skipped, or failed under
# RINGFOLD_REQUIRE_KVM=1, as lib.sh decides).
vmms=()
if available qemu-tcg; then
	pass "QEMU TCG is available to compare against"
	vmms+=(qemu-tcg)
else
	fail "QEMU TCG is available to compare against" "$(grep available_qemu-tcg "$meta")"
fi
if kvm_available "bench on ringfold kvm"; then
	if available ringfold-kvm; then
		pass "ringfold kvm boots the start guest"
		vmms+=(ringfold-kvm)
	else
		fail "ringfold kvm boots the start guest" "$(grep available_ringfold-kvm "$meta")"
	fi
	available qemu-kvm && vmms+=(qemu-kvm)
	available qemu-microvm-kvm && vmms+=(qemu-microvm-kvm)
fi
available qemu-microvm-tcg && vmms+=(qemu-microvm-tcg)
available ringfold-soft && vmms+=(ringfold-soft)
# A VMM that cannot run must be reported as such, not silently dropped.
for v in ringfold-kvm qemu-kvm qemu-microvm-kvm qemu-tcg qemu-microvm-tcg ringfold-soft; do
	if grep -qE "^available_$v	(yes|not available: .+)$" "$meta"; then
		pass "$v is reported (available or not available, with the reason)"
	else
		fail "$v is reported (available or not available, with the reason)" "$(cat "$meta")"
	fi
done

# Every benchmark gave a number on every VMM that ran. The test kernel's
# nanobenchmarks: each must have a number on at least one VMM (a VMM that
# fails one, e.g. SYSRET under kvm_pvm, is noted in the report instead).
check_metric() { # group metric vmm
	local v
	v=$(awk -F'\t' -v g="$1" -v m="$2" -v vm="$3" '$1 == g && $2 == m && $3 == vm { print $5; exit }' "$results")
	if [ -n "$v" ] && is_number "$v"; then
		pass "$1 $2 on $3 produced a number ($v)"
	else
		fail "$1 $2 on $3 produced a number" "$(grep -F "$3" "$out/bench/notes.tsv" 2>/dev/null | grep "^$1" | head -n 3)"
	fi
}
for v in "${vmms[@]}"; do
	check_metric start exec_to_exit_ms "$v"
	check_metric testkernel full_run_ms "$v"
	check_metric memory vmm_overhead_mib "$v"
	check_metric memory rss_total_mib "$v"
	# A guest that got no timer tick gets no idle CPU number, but a note
	# saying so (reported, not silently missing).
	if grep -qE "^idle	$v	.*no timer tick" "$out/bench/notes.tsv" 2>/dev/null; then
		pass "idle on $v: no timer tick, reported as such"
	else
		check_metric idle cpu_ms_per_10s "$v"
		check_metric idle stat_cpu_ms_per_10s "$v"
		check_metric idle guest_tsc_mhz "$v"
	fi
	check_metric cpu wall_ms "$v"
	check_metric cpu guest_mcycles "$v"
	check_metric ips int_loop_mips "$v"
	check_metric ips testkernel_loop_mips "$v"
	n=$(awk -F'\t' -v vm="$v" '$1 == "nano" && $3 == vm' "$results" | wc -l)
	if [ "$n" -gt 0 ]; then
		pass "nanobenchmarks on $v produced $n numbers"
	else
		fail "nanobenchmarks on $v produced numbers" "$(grep "^nano" "$out/bench/notes.tsv" 2>/dev/null | head -n 3)"
	fi
done
for b in syscall in out mmio cr8wr callret pgfault divzero ptemod; do
	if awk -F'\t' -v b="$b" '$1 == "nano" && $2 == b && $5 ~ /^[0-9]+$/ { f = 1 } END { exit !f }' "$results"; then
		pass "nanobenchmark $b produced a number"
	else
		fail "nanobenchmark $b produced a number on some VMM"
	fi
done

# The report: markdown with a table per group and the kept methods section,
# charts that are real PNG files, all inside the temporary directory.
md=$out/benchmarks.md
if [ -s "$md" ] && grep -q '^## Headline' "$md" && grep -q '<!-- methods:begin -->' "$md"; then
	pass "benchmarks.md generated (headline, methods section kept)"
else
	fail "benchmarks.md generated (headline, methods section kept)" "$(head -n 20 "$md" 2>/dev/null)"
fi
for g in nano start testkernel memory idle cpu ips; do
	png=$out/bench/$g.png
	if [ -s "$png" ] && [ "$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] &&
		grep -qF "(bench/$g.png)" "$md"; then
		pass "chart $g.png generated and linked"
	else
		fail "chart $g.png generated and linked" "$(ls -la "$out/bench" 2>&1)"
	fi
done
finish
