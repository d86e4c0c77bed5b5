#!/usr/bin/env bash
# Turns the raw results of bench/run.sh into OUT/benchmarks.md (one table per
# benchmark group: min, median and max per VMM and the ratio ringfold/QEMU
# of the same engine kind) and bar charts OUT/bench/<group>.png (gnuplot).
#
#   bash bench/report.sh OUT      reads OUT/bench/{results,notes,meta}.tsv
#
# The hand-written Methods section (between the methods:begin/end markers)
# is carried over from OUT/benchmarks.md, or from docs/benchmarks.md when
# OUT has none yet, so regenerating never loses it.
set -u
# The whole script is one brace group, read completely before it runs, so
# editing this file while a run is under way cannot derail that run.
{
cd "$(dirname "$0")/.."
OUT=${1:-docs}
DATA=$OUT/bench
RESULTS=$DATA/results.tsv
NOTES=$DATA/notes.tsv
META=$DATA/meta.tsv
MD=$OUT/benchmarks.md
for f in "$RESULTS" "$NOTES" "$META"; do
	[ -f "$f" ] || { echo "report: missing $f" >&2; exit 1; }
done

# Groups in report order: id|title|what it measures.
GROUPS_SPEC=(
	"nano|1. Nanobenchmarks (test kernel \`bench\`)|TSC cycles per operation, measured inside the guest by the project's test kernel (guest/bench.c) booted with the command line \`bench\`: Adams & Agesen's set (system call, page fault, divide fault, page-table update, call/ret, CR8 write) plus port-I/O and MMIO exit round trips. The table shows each guest's own TSC cycles; the ratios compare time (cycles divided by the VMM's guest TSC rate from group 5, which is the host's on kvm and QEMU and a fixed rate on ringfold soft)."
	"start|2. Start to the guest's first instruction|Wall time of the whole VMM process, exec to exit, booting a Multiboot kernel (bench/guests/start.S) whose first instruction writes to the debug-exit port. For QEMU \`pc\` this includes SeaBIOS, which runs before any Multiboot kernel (emulated instruction by instruction under kvm_pvm, see Methods); QEMU \`microvm\` starts through qboot, a minimal firmware."
	"testkernel|3. Test kernel, full run|Wall time of the whole VMM process booting the test kernel without \`bench\`: all its CPU and platform checks, then the debug exit."
	"memory|4. VMM memory overhead (1 vCPU, 128 MiB guest)|Resident memory of the VMM process while the idle guest runs, from /proc/PID/smaps: the whole RSS, the RSS of the guest-RAM mapping, and their difference, the VMM's own overhead. Firecracker promises at most 5 MiB of overhead."
	"idle|5. Idle guest: host CPU time|Host CPU time the VMM process (all its threads) uses while the guest idles: 100 Hz PIT interrupts through the 8259 PIC, each acknowledged with an EOI, HLT in between (bench/guests/idle.S). Normalised to a 10 s window; measured from the scheduler's sum_exec_runtime (/proc/PID/task/*/sched, ns precision) and from utime + stime in /proc/PID/stat (10 ms ticks, too coarse for short windows). The guest's own count of timer ticks per second is shown as a check that the guest really was taking interrupts, and the rate of its TSC, measured against the PIT, converts the other groups' cycle counts into time."
	"cpu|6. CPU-bound guest workload|A fixed compute workload at CPL3 (bench/guests/cpu.S): xorshift64 fills 4 MiB, then the table-driven CRC-32 (zlib's) runs over it 32 times. Wall time of the whole VMM process (boot included) and the TSC cycles the guest measured around the CPL3 work alone (ratios in time, as for the nanobenchmarks). Every VMM must print zlib's CRC; one that does not gets no time."
	"ips|7. Guest instructions per second|Millions of guest instructions retired per second of host wall time (higher is better here), with no guest clock involved: each workload is booted with a short and a long iteration count and the difference in instructions (iterations times the loop's instruction count, both printed by the guest) is divided by the difference in wall time, which cancels boot and exit. Both loops run at CPL3, so a hardware-assisted VMM runs them natively and an emulator interprets them like any other code. The integer loop is bench/guests/ips.S (8 ALU instructions: add, xor, rotate, lea, imul, sub, dec, jnz); the test kernel loop is the test kernel booted with \`ips=N\` (guest/ipsloop.S: 12 instructions of the kind its C code is made of: loads and stores, call and return, push and pop, multiply, compare and branch). The ratio columns compare time per instruction (QEMU's rate over ringfold's), so below 1 still means ringfold is faster."
)
# metric|unit|shown in the chart (1/0)|ratio meaningful (1/0)
metric_spec() {
	case $1/$2 in
	nano/*) echo "cycles/op|1|1" ;;
	start/exec_to_exit_ms) echo "ms|1|1" ;;
	testkernel/full_run_ms) echo "ms|1|1" ;;
	memory/vmm_overhead_mib) echo "MiB|1|1" ;;
	memory/rss_total_mib) echo "MiB|1|1" ;;
	memory/guest_ram_rss_mib) echo "MiB|0|0" ;;
	idle/cpu_ms_per_10s) echo "ms per 10 s|1|1" ;;
	idle/stat_cpu_ms_per_10s) echo "ms per 10 s|0|1" ;;
	idle/guest_ticks_per_s) echo "ticks/s|0|0" ;;
	idle/guest_tsc_mhz) echo "MHz|0|0" ;;
	cpu/wall_ms) echo "ms|1|1" ;;
	cpu/guest_mcycles) echo "Mcycles|1|1" ;;
	ips/int_loop_mips) echo "M insns/s|1|1" ;;
	ips/testkernel_loop_mips) echo "M insns/s|1|1" ;;
	*) echo "?|0|0" ;;
	esac
}
metric_label() {
	case $1 in
	exec_to_exit_ms) echo "exec → exit" ;;
	full_run_ms) echo "exec → exit" ;;
	vmm_overhead_mib) echo "VMM overhead (RSS − guest RAM)" ;;
	rss_total_mib) echo "RSS, whole process" ;;
	guest_ram_rss_mib) echo "RSS of guest RAM" ;;
	cpu_ms_per_10s) echo "host CPU time (sum_exec_runtime)" ;;
	stat_cpu_ms_per_10s) echo "utime + stime (/proc/PID/stat, 10 ms ticks)" ;;
	guest_ticks_per_s) echo "guest timer ticks seen" ;;
	guest_tsc_mhz) echo "guest TSC rate (against the PIT)" ;;
	wall_ms) echo "exec → exit" ;;
	guest_mcycles) echo "CPL3 work, in-guest TSC" ;;
	int_loop_mips) echo "integer loop" ;;
	testkernel_loop_mips) echo "test kernel loop" ;;
	*) echo "$1" ;;
	esac
}

declare -A META_V
while IFS=$'\t' read -r k v; do META_V[$k]=$v; done <"$META"
m() { echo "${META_V[$1]:-}"; }

# VMMs in table order and pretty names; ratio pairs by engine kind.
ALL_VMMS=(ringfold-kvm qemu-kvm qemu-microvm-kvm qemu-tcg qemu-microvm-tcg ringfold-soft)
pretty() {
	case $1 in
	ringfold-kvm) echo "ringfold kvm" ;;
	ringfold-soft) echo "ringfold soft" ;;
	qemu-kvm) echo "QEMU kvm" ;;
	qemu-tcg) echo "QEMU TCG" ;;
	qemu-microvm-kvm) echo "QEMU microvm kvm" ;;
	qemu-microvm-tcg) echo "QEMU microvm TCG" ;;
	*) echo "$1" ;;
	esac
}
color() { # one colour per VMM, the same in every chart; QEMU's variants in shades
	case $1 in
	ringfold-kvm) echo "#1f77b4" ;;
	ringfold-soft) echo "#9467bd" ;;
	qemu-kvm) echo "#ff7f0e" ;;
	qemu-microvm-kvm) echo "#ffbb78" ;;
	qemu-tcg) echo "#2ca02c" ;;
	qemu-microvm-tcg) echo "#98df8a" ;;
	*) echo "#7f7f7f" ;;
	esac
}
PAIRS=("ringfold-kvm qemu-kvm" "ringfold-kvm qemu-microvm-kvm" "ringfold-soft qemu-tcg" "ringfold-soft qemu-microvm-tcg")
SHOWN=()
for v in "${ALL_VMMS[@]}"; do
	[ -n "$(m "kind_$v")" ] && SHOWN+=("$v")
done

# Statistics: group metric vmm -> "n min median max".
declare -A STAT
while IFS=$'\t' read -r g met v n lo med hi; do
	STAT["$g/$met/$v"]="$n $lo $med $hi"
done < <(sort -t$'\t' -k1,1 -k2,2 -k3,3 -k5,5g "$RESULTS" | awk -F'\t' '
	function flush() {
		if (n == 0) return
		med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
		printf "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", g, met, vm, n, v[1], med, v[n]
	}
	{
		key = $1 SUBSEP $2 SUBSEP $3
		if (key != last) { flush(); n = 0; last = key; g = $1; met = $2; vm = $3 }
		v[++n] = $5
	}
	END { flush() }')

# Metrics of a group, in first-seen order.
group_metrics() { awk -F'\t' -v g="$1" '$1 == g && !seen[$2]++ { print $2 }' "$RESULTS"; }

fmt() { # number -> short human form
	awk -v x="$1" 'BEGIN {
		a = x < 0 ? -x : x
		if (x == int(x) || a >= 1000) printf "%.0f", x
		else if (a >= 100) printf "%.1f", x
		else if (a >= 10) printf "%.2f", x
		else printf "%.3g", x }'
}
ratio() { # a b -> a/b formatted, or empty
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) { r = a / b; printf (r >= 10 ? "%.0f×" : r >= 0.1 ? "%.2f×" : "%.3f×"), r } }'
}
median_of() { set -- ${STAT["$1"]:-}; [ $# -eq 4 ] && echo "$3"; }
# pair_ratio GROUP METRIC VMM_A VMM_B: ratio of the medians. Guest cycle
# counts (nanobenchmarks, the cpu guest's TSC) are turned into time first,
# with each VMM's guest TSC rate as the idle guest measured it, because the
# rates differ (ringfold soft's guest TSC runs at a fixed rate).
pair_ratio() {
	local g=$1 met=$2 a=$3 b=$4 ra rb fa fb
	ra=$(median_of "$g/$met/$a")
	rb=$(median_of "$g/$met/$b")
	[ -n "$ra" ] && [ -n "$rb" ] || return 0
	# A rate (instructions per second) compares as time: invert it.
	case $met in *_mips) ratio "$rb" "$ra"; return ;; esac
	if [ "$g" = nano ] || [ "$met" = guest_mcycles ]; then
		fa=$(median_of "idle/guest_tsc_mhz/$a")
		fb=$(median_of "idle/guest_tsc_mhz/$b")
		if [ -n "$fa" ] && [ -n "$fb" ]; then
			ratio "$(awk -v r="$ra" -v f="$fa" 'BEGIN { print r / f }')" \
				"$(awk -v r="$rb" -v f="$fb" 'BEGIN { print r / f }')"
			return
		fi
	fi
	ratio "$ra" "$rb"
}
# overlap KEY_A KEY_B: true when both have several repeats and their
# min–max ranges overlap, i.e. the difference is within run-to-run noise.
overlap() {
	local a b
	a=${STAT["$1"]:-}
	b=${STAT["$2"]:-}
	[ -n "$a" ] && [ -n "$b" ] || return 1
	set -- $a $b
	[ "$1" -gt 1 ] && [ "$5" -gt 1 ] || return 1
	awk -v alo="$2" -v ahi="$4" -v blo="$6" -v bhi="$8" 'BEGIN { exit !(alo <= bhi && blo <= ahi) }'
}

# ---------------------------------------------------------------- charts

chart() { # group title
	local g=$1 title=$2 dat=$DATA/$g.dat png=$DATA/$g.png
	rm -f "$png"
	local metrics=() met
	for met in $(group_metrics "$g"); do
		IFS='|' read -r _ show _ <<<"$(metric_spec "$g" "$met")"
		[ "$show" = 1 ] && metrics+=("$met")
	done
	[ ${#metrics[@]} -gt 0 ] || return 0
	local vmms=() v
	for v in "${SHOWN[@]}"; do
		for met in "${metrics[@]}"; do
			[ -n "${STAT["$g/$met/$v"]:-}" ] && { vmms+=("$v"); break; }
		done
	done
	[ ${#vmms[@]} -gt 0 ] || return 0
	{
		for met in "${metrics[@]}"; do
			local unit label
			IFS='|' read -r unit _ _ <<<"$(metric_spec "$g" "$met")"
			label=$([ "$g" = nano ] && echo "$met" || echo "$(metric_label "$met") ($unit)")
			# The cpu guest's cycles are charted as time: guest TSC rates differ.
			local to_ms=0
			[ "$met" = guest_mcycles ] && to_ms=1 && label="CPL3 work, from the guest's TSC (ms)"
			printf '%s' "$label"
			for v in "${vmms[@]}"; do
				set -- ${STAT["$g/$met/$v"]:-}
				local mhz
				mhz=$(median_of "idle/guest_tsc_mhz/$v")
				if [ $# -eq 4 ] && [ "$to_ms" = 1 ] && [ -n "$mhz" ]; then
					awk -v a="$3" -v b="$2" -v c="$4" -v f="$mhz" \
						'BEGIN { printf "\t%.1f\t%.1f\t%.1f", a / f * 1000, b / f * 1000, c / f * 1000 }'
				elif [ $# -eq 4 ] && [ "$to_ms" = 0 ]; then
					printf '\t%s\t%s\t%s' "$3" "$2" "$4"
				else
					printf '\t?\t?\t?'
				fi
			done
			printf '\n'
		done
	} >"$dat"
	# Log scale when the values span more than a factor of 30.
	local logscale
	logscale=$(awk -F'\t' '{ for (i = 2; i <= NF; i++) if ($i != "?" && $i > 0) { if (!lo || $i < lo) lo = $i; if ($i > hi) hi = $i } }
		END { print (lo > 0 && hi / lo > 30) ? 1 : 0 }' "$dat")
	local ylabel better="lower is better"
	if [ "$g" = nano ]; then ylabel="TSC cycles per operation"; else ylabel="median, bars: min–max"; fi
	[ "$g" = ips ] && better="higher is better"
	{
		echo "set terminal pngcairo size 1100,540 font 'DejaVu Sans,11' noenhanced"
		echo "set output '$png'"
		echo "set title \"$title\\n$(m host_cpu), $(m kvm_modules | sed 's/ *$//'), $(m date)\\n$(m ringfold), $(m qemu | sed 's/ emulator version//'); $(m command)\" font ',10'"
		echo "set datafile separator tab"
		echo "set datafile missing '?'"
		echo "set style data histograms"
		echo "set style histogram errorbars gap 2 lw 1.5"
		echo "set style fill solid 0.85 border -1"
		echo "set boxwidth 0.9"
		echo "set key outside right top vertical Left reverse"
		echo "set grid ytics"
		echo "set ylabel '$ylabel ($better)'"
		echo "set xtics nomirror"
		if [ "$g" = memory ]; then
			echo "set arrow from graph 0, first 5 to graph 1, first 5 nohead dt 2 lw 1.5 lc rgb '#d62728'"
			echo "set label \"Firecracker's promise: 5 MiB\" at graph 0.01, first 5 left offset 0,0.7 tc rgb '#d62728' front"
		fi
		if [ "$logscale" = 1 ]; then
			echo "set logscale y"
			echo "set format y '%.0s%c'"
		else
			echo "set yrange [0:*]"
		fi
		local i=0 col plot="plot "
		for v in "${vmms[@]}"; do
			col=$((2 + 3 * i))
			[ $i -gt 0 ] && plot+=", "
			plot+="'$dat' using $col:$((col + 1)):$((col + 2))"
			[ $i -eq 0 ] && plot+=":xtic(1)"
			plot+=" title '$(pretty "$v")' lc rgb '$(color "$v")'"
			i=$((i + 1))
		done
		echo "$plot"
	} >"$DATA/$g.gp"
	if ! gnuplot "$DATA/$g.gp" 2>"$DATA/$g.gp.err"; then
		echo "report: gnuplot failed for $g:" >&2
		cat "$DATA/$g.gp.err" >&2
		rm -f "$png"
	fi
	rm -f "$DATA/$g.gp.err"
}

# ---------------------------------------------------------------- markdown

availability() { # vmm -> "yes" or "not available: ..."
	m "available_$1"
}

headline() {
	local pair a b
	declare -A told=()
	for pair in "${PAIRS[@]}"; do
		set -- $pair
		a=$1 b=$2
		[ -n "$(m "kind_$a")" ] || [ -n "$(m "kind_$b")" ] || continue
		if [ -n "$(m "kind_$a")" ] && [ "$(availability "$a")" != yes ]; then
			# ringfold's side cannot run: say so once, not once per QEMU.
			[ -n "${told[$a]:-}" ] && continue
			told[$a]=1
			echo "- **$(pretty "$a")**: $(availability "$a") — no comparison yet."
			continue
		fi
		if [ "$(availability "$a")" != yes ] || [ "$(availability "$b")" != yes ]; then
			local why=""
			[ "$(availability "$a")" != yes ] && why="$(pretty "$a") $(availability "$a")"
			[ "$(availability "$b")" != yes ] && why="${why:+$why; }$(pretty "$b") $(availability "$b")"
			echo "- **$(pretty "$a") / $(pretty "$b")**: no comparison — $why"
			continue
		fi
		local parts=() g met ra rb r
		for spec in "start/exec_to_exit_ms/start" "testkernel/full_run_ms/test kernel run" \
			"cpu/wall_ms/CPU workload (wall)" "cpu/guest_mcycles/CPU workload (in-guest)" \
			"memory/vmm_overhead_mib/memory overhead" "idle/cpu_ms_per_10s/idle host CPU" \
			"ips/int_loop_mips/integer loop (time per instruction)" \
			"ips/testkernel_loop_mips/test kernel loop (time per instruction)"; do
			IFS=/ read -r g met label <<<"$spec"
			r=$(pair_ratio "$g" "$met" "$a" "$b")
			if [ -n "$r" ]; then
				overlap "$g/$met/$a" "$g/$met/$b" && r+="†"
				parts+=("$label $r")
			fi
		done
		# Geometric mean of the nanobenchmark ratios.
		local gm
		gm=$(for met in $(group_metrics nano); do
			pair_ratio nano "$met" "$a" "$b" | tr -d '×'
			echo
		done | awk '$1 > 0 { s += log($1); n++ } END { if (n) printf "%.2f× (geometric mean of %d)", exp(s / n), n }')
		if [ -n "$gm" ]; then
			local nover=0 ntot=0
			for met in $(group_metrics nano); do
				[ -n "$(median_of "nano/$met/$a")" ] && [ -n "$(median_of "nano/$met/$b")" ] || continue
				ntot=$((ntot + 1))
				overlap "nano/$met/$a" "nano/$met/$b" && nover=$((nover + 1))
			done
			[ "$nover" -gt 0 ] && gm+=", $nover of $ntot within noise†"
			parts+=("nanobenchmarks $gm")
		fi
		local joined
		joined=$(printf '%s; ' "${parts[@]}")
		echo "- **$(pretty "$a") / $(pretty "$b")** (median ratios, below 1 means ringfold is faster or smaller): ${joined%; }."
	done
	local ov
	ov=$(median_of "memory/vmm_overhead_mib/ringfold-kvm")
	if [ -n "$ov" ]; then
		if awk -v x="$ov" 'BEGIN { exit !(x <= 5) }'; then
			echo "- ringfold's own memory overhead is $(fmt "$ov") MiB (median): within Firecracker's promise of at most 5 MiB."
		else
			echo "- ringfold's own memory overhead is $(fmt "$ov") MiB (median): above Firecracker's promise of at most 5 MiB."
		fi
	fi
}

group_table() { # group
	local g=$1 met v pair
	local head="| benchmark | unit |" sep="|---|---|"
	for v in "${SHOWN[@]}"; do
		head+=" $(pretty "$v") |"
		sep+="---|"
	done
	for pair in "${PAIRS[@]}"; do
		set -- $pair
		if [ -n "$(m "kind_$1")" ] || [ -n "$(m "kind_$2")" ]; then
			head+=" $(pretty "$1") / $(pretty "$2") |"
			sep+="---|"
		fi
	done
	echo "$head"
	echo "$sep"
	for met in $(group_metrics "$g"); do
		local unit rat row
		IFS='|' read -r unit _ rat <<<"$(metric_spec "$g" "$met")"
		row="| $(metric_label "$met") | $unit |"
		for v in "${SHOWN[@]}"; do
			if [ "$(availability "$v")" != yes ]; then
				row+=" not available |"
			elif [ -n "${STAT["$g/$met/$v"]:-}" ]; then
				set -- ${STAT["$g/$met/$v"]}
				if [ "$1" -gt 1 ]; then
					row+=" **$(fmt "$3")** ($(fmt "$2") – $(fmt "$4")) |"
				else
					row+=" **$(fmt "$3")** |"
				fi
			else
				row+=" failed |"
			fi
		done
		for pair in "${PAIRS[@]}"; do
			set -- $pair
			[ -n "$(m "kind_$1")" ] || [ -n "$(m "kind_$2")" ] || continue
			local r=""
			if [ "$rat" = 1 ]; then
				r=$(pair_ratio "$g" "$met" "$1" "$2")
				[ -n "$r" ] && overlap "$g/$met/$1" "$g/$met/$2" && r+="†"
			fi
			row+=" ${r:-–} |"
		done
		echo "$row"
	done
}

methods_section() {
	local src
	for src in "$MD" docs/benchmarks.md; do
		if [ -f "$src" ] && grep -q '<!-- methods:begin -->' "$src"; then
			sed -n '/<!-- methods:begin -->/,/<!-- methods:end -->/p' "$src"
			return
		fi
	done
	printf '<!-- methods:begin -->\n## Methods\n\n(The hand-written methods section is missing: write it between these markers.)\n<!-- methods:end -->\n'
}

{
	methods=$(methods_section)
	echo "# Benchmarks: ringfold and QEMU side by side"
	echo
	echo "Generated by \`make bench\` (bench/run.sh, bench/report.sh) on $(m date); everything outside the"
	echo "Methods section is rewritten on every run. Raw numbers: [bench/results.tsv](bench/results.tsv)."
	echo "Each cell is the **median** (min – max) of $(m repeats) interleaved repeat(s); lower is better everywhere"
	echo "except the instructions-per-second group (7), whose ratios are still in time (below 1: ringfold faster);"
	echo "† marks a ratio whose two min–max ranges overlap (within run-to-run noise)."
	[ "$(m quick)" = 1 ] && echo && echo "**Quick mode (BENCH_QUICK=1): one repeat, short idle window — a smoke test, not a measurement.**"
	echo
	echo "## Headline"
	echo
	headline
	echo
	echo "## Run"
	echo
	echo "| | |"
	echo "|---|---|"
	echo "| date | $(m date) |"
	echo "| host CPU | $(m host_cpu) |"
	echo "| host kernel | $(m host_kernel) |"
	echo "| /dev/kvm | $(m dev_kvm); kvm modules loaded: $(m kvm_modules | sed 's/ *$//') |"
	echo "| ringfold | $(m ringfold) |"
	echo "| QEMU | $(m qemu) |"
	echo "| command | \`$(m command)\` |"
	echo "| repeats | $(m repeats), interleaved across VMMs; idle window $(m idle_seconds) s |"
	echo "| host load average (1, 5, 15 min) | $(m load_start) at the start, $(m load_end) at the end |"
	echo "| guest | $(m guest_mem) |"
	echo
	echo "| VMM | engine kind | status | command (KERNEL, CMDLINE, CONSOLE filled in per benchmark) |"
	echo "|---|---|---|---|"
	for v in "${SHOWN[@]}"; do
		echo "| $(pretty "$v") | $(m "kind_$v") | $(availability "$v") | \`$(m "cmd_$v")\` |"
	done
	for spec in "${GROUPS_SPEC[@]}"; do
		IFS='|' read -r g title what <<<"$spec"
		[ -n "$(group_metrics "$g")" ] || grep -q "^$g"$'\t' "$NOTES" || continue
		echo
		echo "## $title"
		echo
		echo "$what"
		echo
		if [ -n "$(group_metrics "$g")" ]; then
			group_table "$g" >"$DATA/.table"
			cat "$DATA/.table"
			grep -q '†' "$DATA/.table" &&
				echo && echo "† the two VMMs' min–max ranges overlap: the difference is within this host's run-to-run noise."
			rm -f "$DATA/.table"
			chart "$g" "$(tr -d '`' <<<"${title#*. }")" # gnuplot runs `...` as commands
			if [ -f "$DATA/$g.png" ]; then
				echo
				echo "![$title](bench/$g.png)"
			fi
		fi
		if grep -q "^$g"$'\t' "$NOTES"; then
			echo
			echo "Notes:"
			echo
			awk -F'\t' -v g="$g" '$1 == g { printf "- %s: %s\n", $2, $3 }' "$NOTES" |
				while IFS= read -r line; do
					for v in "${ALL_VMMS[@]}"; do line=${line/"- $v:"/"- $(pretty "$v"):"}; done
					echo "$line"
				done
		fi
		if [ "$g" = cpu ] && [ -n "$(m cpu_crc)" ]; then
			echo
			echo "Expected CRC (zlib's crc32, computed outside any VMM): \`$(m cpu_crc)\`; every VMM with a time above printed it."
		fi
	done
	echo
	if [ -s "$DATA/linux.md" ]; then
		echo "## Linux: start to init and CPU-bound work (bench/linux.sh)"
		echo
		cat "$DATA/linux.md"
		echo
	fi
	if [ -s "$DATA/virtio.md" ]; then
		echo "## virtio-blk and virtio-net in the Linux guest (bench/virtio.sh)"
		echo
		cat "$DATA/virtio.md"
		echo
	fi
	echo "$methods"
} >"$MD.tmp" && mv "$MD.tmp" "$MD"
echo "report: wrote $MD and $(ls "$DATA"/*.png 2>/dev/null | wc -l) charts in $DATA/" >&2
exit
}
