#!/usr/bin/env bash
# `make bench`: ringfold side by side with QEMU, on the same guests.
#
# Every benchmark runs on every VMM in the table below (ringfold kvm and
# soft, QEMU pc and microvm with kvm and with TCG), interleaved (repeat 1 on
# every VMM, then repeat 2, ...; the idle guest on all VMMs in one common
# window) so drift on a shared host hits them all alike. The raw
# numbers go to results.tsv; bench/report.sh turns them into
# docs/benchmarks.md (min/median/max per VMM, the ratio ringfold/QEMU of the
# same engine kind) and the charts in docs/bench/.
#
# Environment:
#   BENCH_QUICK=1      one repeat, 2 s idle window (tests/integration/bench_quick.sh)
#   BENCH_REPEATS=N    repeats (default 5; 1 in quick mode)
#   BENCH_IDLE_SECONDS idle window (default 10; 2 in quick mode)
#   BENCH_OUT=DIR      where benchmarks.md and bench/*.png go (default docs)
#   BENCH_ONLY="g ..." run only these groups (nano start testkernel idle cpu ips
#                      linux virtio; linux and virtio are bench/linux.sh and
#                      bench/virtio.sh, the Linux guest on ringfold soft and
#                      QEMU TCG, not in quick mode)
#   BENCH_VMMS="v ..." run only these VMMs (names as in the table)
#   BUILD, RINGFOLD, QEMU as usual.
set -u
# The whole script is one brace group, read completely before it runs, so
# editing this file while a run is under way cannot derail that run.
{
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
RINGFOLD=${RINGFOLD:-$BUILD/ringfold}
QEMU=${QEMU:-qemu-system-x86_64}
BENCH_QUICK=${BENCH_QUICK:-0}
if [ "$BENCH_QUICK" = 1 ]; then
	REPEATS=${BENCH_REPEATS:-1}
	IDLE_SECONDS=${BENCH_IDLE_SECONDS:-2}
else
	REPEATS=${BENCH_REPEATS:-5}
	IDLE_SECONDS=${BENCH_IDLE_SECONDS:-10}
fi
OUT_DIR=${BENCH_OUT:-docs}
GROUPS_TO_RUN=${BENCH_ONLY:-nano start testkernel idle cpu ips}
GUEST_MEM_MB=128
RUN_TIMEOUT=120 # seconds; any single VMM run longer than this is a failure

# The VMMs: name, engine kind. Ratios compare ringfold and QEMU of the same
# kind. A VMM that cannot run here is probed, reported "not available" with
# the reason in the results, and left out of the runs. Adding a VMM is one
# line here plus its case in vmm_cmd.
VMM_TABLE=(
	"ringfold-kvm kvm"
	"qemu-kvm kvm"
	"qemu-microvm-kvm kvm"
	"qemu-tcg soft"
	"qemu-microvm-tcg soft"
	"ringfold-soft soft"
)

# vmm_cmd NAME KERNEL CMDLINE CONSOLE: sets CMD to the argv that boots
# KERNEL (Multiboot) with CMDLINE, its serial console to the file CONSOLE,
# GUEST_MEM_MB of RAM and one vCPU, ending with the guest's debug-exit
# status (QEMU: isa-debug-exit at 0xF4, the same convention as ringfold).
vmm_cmd() {
	local name=$1 kernel=$2 cmdline=$3 console=$4
	case $name in
	ringfold-*)
		CMD=("$RINGFOLD" run --engine "${name#ringfold-}" --cpus 1 --mem "${GUEST_MEM_MB}M"
			--kernel "$kernel" --console "$console")
		[ -n "$cmdline" ] && CMD+=(--cmdline "$cmdline")
		;;
	qemu-kvm | qemu-tcg | qemu-microvm-kvm | qemu-microvm-tcg)
		# -nodefaults: no VGA, NIC or default serial/parallel ports, the
		# smallest QEMU pc. microvm is QEMU's minimal machine for fast
		# start (qboot-style firmware instead of SeaBIOS, no PCI). QEMU
		# kvm uses its default CPU model because -cpu host/max fail on
		# kvm_pvm (MSR 0x10a); TCG uses -cpu max as the project's QEMU
		# cross-checks do.
		local accel=${name##*-} machine=pc
		[ "$name" != "${name#qemu-microvm-}" ] && machine=microvm
		CMD=("$QEMU" -machine "$machine" -accel "$accel")
		[ "$accel" = tcg ] && CMD+=(-cpu max)
		CMD+=(-smp 1 -m "$GUEST_MEM_MB" -display none -nodefaults -monitor none
			-serial "file:$console" -no-reboot
			-device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$kernel")
		[ -n "$cmdline" ] && CMD+=(-append "$cmdline")
		;;
	*)
		echo "bench: unknown VMM $name" >&2
		return 1
		;;
	esac
	return 0
}

# ---------------------------------------------------------------- plumbing

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ringfold-bench.XXXXXX")
BG_PIDS=()
cleanup() {
	local p
	for p in "${BG_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${BG_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

TIMEIT=$BUILD/bench/timeit
GUESTS=$BUILD/bench
TESTKERNEL=${TESTKERNEL:-$BUILD/guest/testkernel.elf}
RESULTS=$WORK/results.tsv  # group metric vmm repeat value
NOTES=$WORK/notes.tsv      # group vmm text (failures, caveats)
META=$WORK/meta.tsv        # key value
: >"$RESULTS"
: >"$NOTES"
: >"$META"

log() { echo "bench: $*" >&2; }
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; }
note() { # group vmm text; each distinct note once
	local line
	line=$(printf '%s\t%s\t%s' "$1" "$2" "$3")
	grep -qxF -- "$line" "$NOTES" || printf '%s\n' "$line" >>"$NOTES"
	log "$1 on $2: $3"
}
meta() { printf '%s\t%s\n' "$1" "$2" >>"$META"; }

# Build what the benchmarks boot (a no-op under `make bench`, which already
# did; needed when this script runs on its own, as the quick test does).
if ! make -s BUILD="$BUILD" bench-tools guest >"$WORK/make.log" 2>&1; then
	cat "$WORK/make.log" >&2
	log "could not build the benchmark guests"
	exit 1
fi
for f in "$TIMEIT" "$GUESTS/start.elf" "$GUESTS/idle.elf" "$GUESTS/cpu.elf" \
	"$GUESTS/ips.elf" "$TESTKERNEL"; do
	[ -e "$f" ] || { log "missing $f"; exit 1; }
done

# run_timed VMM KERNEL CMDLINE: one timed run. Sets STATUS, WALL_NS,
# CONSOLE (the console file, \r removed) and STDERR_TEXT.
run_timed() {
	local vmm=$1 kernel=$2 cmdline=$3
	local con=$WORK/console.$vmm
	rm -f "$con" "$WORK/time.out"
	vmm_cmd "$vmm" "$kernel" "$cmdline" "$con" || return 1
	"$TIMEIT" -t "$RUN_TIMEOUT" -o "$WORK/time.out" -- "${CMD[@]}" </dev/null >"$WORK/stdout.$vmm" 2>"$WORK/stderr.$vmm"
	local line
	line=$(cat "$WORK/time.out" 2>/dev/null)
	STATUS=$(sed -nE 's/.*status=([0-9]+).*/\1/p' <<<"$line")
	WALL_NS=$(sed -nE 's/.*wall_ns=([0-9]+).*/\1/p' <<<"$line")
	STATUS=${STATUS:-127}
	WALL_NS=${WALL_NS:-0}
	CONSOLE=$({ tr -d '\r' <"$con"; } 2>/dev/null)
	STDERR_TEXT=$(grep -v "^$" "$WORK/stderr.$vmm" | grep -v "warning: host doesn't support requested feature" | head -n 3)
}

ms() { awk -v ns="$1" 'BEGIN { printf "%.3f", ns / 1e6 }'; }

# ---------------------------------------------------------------- metadata

host_cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
host_mhz=$(sed -n 's/^cpu MHz[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
kvm_modules=$(cd /sys/module 2>/dev/null && ls -d kvm* 2>/dev/null | tr '\n' ' ')
meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta host_cpu "$host_cpu ($(nproc) CPUs online, ${host_mhz%.*} MHz)"
meta host_kernel "$(uname -sr)"
meta kvm_modules "${kvm_modules:-none}"
meta dev_kvm "$([ -r /dev/kvm ] && [ -w /dev/kvm ] && echo usable || echo 'not usable')"
rf_version=$("$RINGFOLD" --version 2>/dev/null | head -n 1)
rf_git=$(git describe --always --dirty 2>/dev/null)
meta ringfold "${rf_version:-unknown}${rf_git:+ (git $rf_git)}"
meta qemu "$("$QEMU" --version 2>/dev/null | head -n 1)"
# The command that reproduces this run: make bench with the BENCH_* settings.
bench_env=""
for v in BENCH_QUICK BENCH_REPEATS BENCH_IDLE_SECONDS BENCH_ONLY BENCH_VMMS; do
	[ -n "${!v:-}" ] && [ "${!v}" != 0 ] || continue
	case ${!v} in
	*" "*) bench_env+="$v='${!v}' " ;;
	*) bench_env+="$v=${!v} " ;;
	esac
done
meta command "${BENCH_COMMAND:-${bench_env}make bench BUILD=$BUILD}"
meta load_start "$(cut -d' ' -f1-3 /proc/loadavg)"
meta repeats "$REPEATS"
meta idle_seconds "$IDLE_SECONDS"
meta guest_mem "${GUEST_MEM_MB} MiB, 1 vCPU"
meta quick "$BENCH_QUICK"
for v in "${VMM_TABLE[@]}"; do
	set -- $v
	vmm_cmd "$1" KERNEL CMDLINE CONSOLE
	meta "cmd_$1" "${CMD[*]}"
done

# ---------------------------------------------------------------- probing

# Each VMM boots the start guest once; one that cannot is "not available".
VMMS=()
for v in "${VMM_TABLE[@]}"; do
	set -- $v
	name=$1 kind=$2
	if [ -n "${BENCH_VMMS:-}" ] && ! grep -qw -- "$name" <<<"$BENCH_VMMS"; then
		continue
	fi
	meta "kind_$name" "$kind"
	run_timed "$name" "$GUESTS/start.elf" ""
	if [ "$STATUS" = 5 ]; then
		VMMS+=("$name")
		meta "available_$name" yes
		log "$name: available"
	else
		why=$(head -n 1 <<<"$STDERR_TEXT")
		why=${why:-exit status $STATUS}
		meta "available_$name" "not available: ${why//$'\t'/ }"
		log "$name: NOT AVAILABLE: $why"
	fi
done
meta vmms "${VMMS[*]}"
if [ ${#VMMS[@]} -eq 0 ]; then
	log "no VMM can run here"
	exit 1
fi

# ---------------------------------------------------------------- benchmarks

NANO_NAMES="syscall in out mmio cr8wr callret pgfault divzero ptemod"

bench_nano() { # vmm repeat
	run_timed "$1" "$TESTKERNEL" "bench"
	local n got=0
	for n in $NANO_NAMES; do
		local v
		v=$(sed -nE "s/^bench $n ([0-9]+)$/\1/p" <<<"$CONSOLE" | head -n 1)
		if [ -n "$v" ]; then
			record nano "$n" "$1" "$2" "$v"
			got=$((got + 1))
		else
			local why
			why=$(grep -E "^not ok bench-$n:" <<<"$CONSOLE" | head -n 1)
			note nano "$1" "$n: no result${why:+ ($why)}"
		fi
	done
	[ "$got" -gt 0 ] || note nano "$1" "no benchmark ran (exit status $STATUS; ${STDERR_TEXT:-no message})"
}

bench_start() {
	run_timed "$1" "$GUESTS/start.elf" ""
	if [ "$STATUS" = 5 ]; then
		record start exec_to_exit_ms "$1" "$2" "$(ms "$WALL_NS")"
	else
		note start "$1" "exit status $STATUS, expected 5; ${STDERR_TEXT:-no message}"
	fi
}

bench_testkernel() {
	run_timed "$1" "$TESTKERNEL" ""
	local summary
	summary=$(grep -E '^testkernel: [0-9]+ passed' <<<"$CONSOLE" | tail -n 1)
	if [ -z "$summary" ]; then
		note testkernel "$1" "did not finish (exit status $STATUS; ${STDERR_TEXT:-no message})"
		return
	fi
	record testkernel full_run_ms "$1" "$2" "$(ms "$WALL_NS")"
	if [ "$STATUS" != 33 ]; then
		note testkernel "$1" "exit status $STATUS, not every check passed (${summary#testkernel: }: $(grep '^not ok' <<<"$CONSOLE" | cut -d: -f1 | sed 's/^not ok //' | tr '\n' ' ' | sed 's/ $//'))"
	fi
}

# Sum of utime+stime (clock ticks) over the process, from /proc/PID/stat.
cpu_ticks() {
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null
}

# CPU time in ns of all the process's threads, from the scheduler's
# sum_exec_runtime (/proc/PID/task/*/sched, ms with ns precision): finer
# than the 10 ms ticks of /proc/PID/stat. Empty when the kernel lacks it.
cpu_ns() {
	cat /proc/"$1"/task/*/sched 2>/dev/null |
		awk '/^se.sum_exec_runtime/ { s += $3; n++ } END { if (n) printf "%.0f\n", s * 1e6 }'
}

# RSS (kB) of the whole process, and of the guest-RAM mapping: anonymous,
# non-executable mappings of the guest's RAM size (up to 4 MiB of slack for
# guard pages or alignment). Both VMMs map guest RAM in one piece; the size
# bound keeps out QEMU TCG's translation buffer (1 GiB, rwx).
smaps_rss() { # pid -> "total_kb guestram_kb"
	awk -v want=$((GUEST_MEM_MB * 1024)) '
		/^[0-9a-f]+-[0-9a-f]+ / { perms = $2; path = $6; next }
		/^Size:/ { size = $2; next }
		/^Rss:/ {
			total += $2
			if (size >= want && size <= want + 4096 && perms !~ /x/ &&
			    (path == "" || path ~ /^\[anon/ || path ~ /memfd|dev\/zero/))
				guest += $2
		}
		END { printf "%d %d\n", total, guest }' "/proc/$1/smaps" 2>/dev/null
}

# The idle guest on every VMM at once: they all boot, and once each says it
# idles (QEMU pc runs SeaBIOS first) and a settling second has passed, one
# common window measures the CPU time and memory of each. Idle VMMs use a
# fraction of a percent of a CPU, so they do not disturb each other, and a
# common window means they all see the same host conditions; it also keeps
# `make bench` short (one window per repeat instead of one per VMM).
bench_idle() { # repeat (for every VMM in VMMS)
	local rep=$1 vmm pid con
	declare -A pids=() t0=() n0=() d0=() s0=()
	for vmm in "${VMMS[@]}"; do
		con=$WORK/console.$vmm
		rm -f "$con"
		vmm_cmd "$vmm" "$GUESTS/idle.elf" "" "$con"
		"${CMD[@]}" </dev/null >"$WORK/stdout.$vmm" 2>"$WORK/stderr.$vmm" &
		pids[$vmm]=$!
		BG_PIDS+=("$!")
	done
	# Wait until every guest idles or its VMM died (or the time limit).
	local waited=0 pending
	while :; do
		pending=0
		for vmm in "${VMMS[@]}"; do
			grep -q idle "$WORK/console.$vmm" 2>/dev/null && continue
			kill -0 "${pids[$vmm]}" 2>/dev/null && pending=1
		done
		[ "$pending" = 0 ] || [ "$waited" -ge $((RUN_TIMEOUT * 10)) ] && break
		sleep 0.1
		waited=$((waited + 1))
	done
	# Let start-up work settle while each guest samples its TSC at three
	# PIT seconds (the window starts after those few extra exits).
	waited=0
	while :; do
		pending=0
		for vmm in "${VMMS[@]}"; do
			[ "$(grep -o 'tsc [0-9a-f]*' "$WORK/console.$vmm" 2>/dev/null | wc -l)" -ge 3 ] && continue
			kill -0 "${pids[$vmm]}" 2>/dev/null && grep -q idle "$WORK/console.$vmm" && pending=1
		done
		[ "$pending" = 0 ] || [ "$waited" -ge 100 ] && break
		sleep 0.1
		waited=$((waited + 1))
	done
	sleep 0.2
	local ready=()
	for vmm in "${VMMS[@]}"; do
		pid=${pids[$vmm]}
		if grep -q idle "$WORK/console.$vmm" 2>/dev/null && kill -0 "$pid" 2>/dev/null; then
			ready+=("$vmm")
			t0[$vmm]=$(cpu_ticks "$pid")
			n0[$vmm]=$(cpu_ns "$pid")
			d0[$vmm]=$(tr -cd . <"$WORK/console.$vmm" | wc -c)
			s0[$vmm]=$(date +%s%N)
		else
			note idle "$vmm" "the idle guest did not start ($(head -n 2 "$WORK/stderr.$vmm" | tr '\n' ' '))"
		fi
	done
	sleep "$IDLE_SECONDS"
	local hz
	hz=$(getconf CLK_TCK)
	for vmm in "${ready[@]}"; do
		pid=${pids[$vmm]}
		local t1 n1 d1 end mem secs ticks
		t1=$(cpu_ticks "$pid")
		n1=$(cpu_ns "$pid")
		end=$(date +%s%N)
		d1=$(tr -cd . <"$WORK/console.$vmm" | wc -c)
		mem=$(smaps_rss "$pid")
		if [ -z "$t1" ] || [ -z "${t0[$vmm]}" ] || [ -z "$mem" ]; then
			note idle "$vmm" "the VMM exited during the idle window"
			continue
		fi
		secs=$(awk -v a="${s0[$vmm]}" -v b="$end" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
		local before_d=${d0[$vmm]} before_n=${n0[$vmm]} before_t=${t0[$vmm]}
		ticks=$((d1 - before_d))
		# The guest's TSC rate: TSC difference across the first and third
		# samples, 200 PIT ticks of 11932 / 1193182 s each.
		local tscs
		tscs=$(grep -oE 'tsc [0-9a-f]{16}' "$WORK/console.$vmm" | head -n 3 | cut -d' ' -f2 | tr '\n' ' ')
		set -- $tscs
		if [ $# -eq 3 ]; then
			record idle guest_tsc_mhz "$vmm" "$rep" \
				"$(awk -v a=$((16#$1)) -v b=$((16#$3)) 'BEGIN { printf "%.1f", (b - a) / (200 * 11932 / 1193182) / 1e6 }')"
		else
			note idle "$vmm" "the guest did not report its TSC three times: its cycles are not converted to time"
		fi
		record idle guest_ticks_per_s "$vmm" "$rep" "$(awk -v d="$ticks" -v s="$secs" 'BEGIN { printf "%.1f", d * 100 / s }')"
		# Host CPU time per 10 s of idling, in ms; not for a guest that got
		# no timer interrupt (it is not the idle guest we mean).
		if [ "$ticks" -eq 0 ]; then
			note idle "$vmm" "the guest saw no timer tick during the idle window: no CPU time recorded"
		else
			if [ -n "$before_n" ] && [ -n "$n1" ]; then
				record idle cpu_ms_per_10s "$vmm" "$rep" \
					"$(awk -v t=$((n1 - before_n)) -v s="$secs" 'BEGIN { printf "%.2f", t / 1e6 * 10 / s }')"
			fi
			record idle stat_cpu_ms_per_10s "$vmm" "$rep" \
				"$(awk -v t=$((t1 - before_t)) -v hz="$hz" -v s="$secs" 'BEGIN { printf "%.1f", t * 1000 / hz * 10 / s }')"
		fi
		set -- $mem
		record memory vmm_overhead_mib "$vmm" "$rep" "$(awk -v t="$1" -v g="$2" 'BEGIN { printf "%.2f", (t - g) / 1024 }')"
		record memory rss_total_mib "$vmm" "$rep" "$(awk -v t="$1" 'BEGIN { printf "%.2f", t / 1024 }')"
		record memory guest_ram_rss_mib "$vmm" "$rep" "$(awk -v g="$2" 'BEGIN { printf "%.2f", g / 1024 }')"
		[ "$2" -gt 0 ] || note memory "$vmm" "no mapping of the guest's RAM size found in smaps: overhead = whole RSS"
	done
	for vmm in "${VMMS[@]}"; do
		kill -TERM "${pids[$vmm]}" 2>/dev/null
	done
	local i=0
	for vmm in "${VMMS[@]}"; do
		while kill -0 "${pids[$vmm]}" 2>/dev/null && [ $i -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -KILL "${pids[$vmm]}" 2>/dev/null
		wait "${pids[$vmm]}" 2>/dev/null
	done
	BG_PIDS=()
}

# The CRC the cpu guest must print: zlib's crc32 of its 4 MiB xorshift64
# buffer repeated 32 times, computed outside any VMM (Python's zlib). Change
# it together with bench/guests/cpu.S.
CPU_CRC=00000000c16020bf
meta cpu_crc "$CPU_CRC"
bench_cpu() {
	run_timed "$1" "$GUESTS/cpu.elf" ""
	local crc cycles
	crc=$(sed -nE 's/^crc ([0-9a-f]+)$/\1/p' <<<"$CONSOLE")
	cycles=$(sed -nE 's/^cycles ([0-9a-f]+)$/\1/p' <<<"$CONSOLE")
	if [ "$STATUS" != 33 ] || [ -z "$crc" ]; then
		note cpu "$1" "exit status $STATUS, expected 33; console: $(head -n 2 <<<"$CONSOLE" | tr '\n' ' ')${STDERR_TEXT:+; $STDERR_TEXT}"
		return
	fi
	if [ "$crc" != "$CPU_CRC" ]; then
		note cpu "$1" "WRONG RESULT: crc $crc, expected $CPU_CRC"
		return
	fi
	record cpu wall_ms "$1" "$2" "$(ms "$WALL_NS")"
	record cpu guest_mcycles "$1" "$2" "$(awk -v c=$((16#$cycles)) 'BEGIN { printf "%.1f", c / 1e6 }')"
}

# Guest instructions per second, from host wall time alone (no guest TSC):
# each workload is booted with a short and a long iteration count, and the
# difference in instructions (iterations times the loop's instruction
# count, both printed by the guest) over the difference in wall time
# cancels boot and exit. Two workloads, both at CPL3 (so a kvm VMM runs
# them natively): the integer loop of bench/guests/ips.S (8 ALU
# instructions, `n=N` on its command line) and the test kernel's `ips=N`
# loop (12 instructions: loads, stores, call/ret, push/pop, multiply,
# branches). The long count is sized per VMM so that the difference takes
# a second or two: an interpreter, a translator and hardware differ by
# orders of magnitude.
ips_counts() { # vmm -> "INT_SHORT INT_LONG TK_SHORT TK_LONG"
	case $1 in
	ringfold-soft) echo "1000000 26000000 100000 5000000" ;;
	qemu-tcg | qemu-microvm-tcg) echo "1000000 300000000 100000 60000000" ;;
	*) echo "1000000 600000000 100000 200000000" ;;
	esac
}
for v in "${VMM_TABLE[@]}"; do
	set -- $v
	meta "ips_counts_$1" "$(ips_counts "$1")"
done
# ips_pass VMM KERNEL CMDLINE WHAT: one run; sets IPS_INSNS (instructions
# the loop retired) and IPS_NS (wall time), or returns 1 after a note.
ips_pass() {
	local vmm=$1 kernel=$2 cmdline=$3 what=$4 line k n
	run_timed "$vmm" "$kernel" "$cmdline"
	line=$(grep -E '^ips [0-9a-f]+ [0-9a-f]+$' <<<"$CONSOLE" | head -n 1)
	if [ "$STATUS" != 33 ] || [ -z "$line" ]; then
		note ips "$vmm" "$what: exit status $STATUS, no ips line; console: $(head -n 2 <<<"$CONSOLE" | tr '\n' ' ')${STDERR_TEXT:+; $STDERR_TEXT}"
		return 1
	fi
	set -- $line
	k=$2 n=$3
	if [ "$kernel" = "$TESTKERNEL" ]; then # the test kernel prints decimal
		IPS_INSNS=$((k * n))
	else # the tiny guest, hex
		IPS_INSNS=$((16#$k * 16#$n))
	fi
	IPS_NS=$WALL_NS
}
# ips_measure VMM REPEAT METRIC WHAT KERNEL CMDLINE_SHORT CMDLINE_LONG:
# records METRIC in millions of guest instructions per second.
ips_measure() {
	local i1 t1
	ips_pass "$1" "$5" "$6" "$4 (short)" || return
	i1=$IPS_INSNS t1=$IPS_NS
	ips_pass "$1" "$5" "$7" "$4 (long)" || return
	if [ "$IPS_INSNS" -le "$i1" ] || [ "$IPS_NS" -le "$t1" ]; then
		note ips "$1" "$4: the long run was not longer than the short one (wall ${t1} ns vs ${IPS_NS} ns): no figure"
		return
	fi
	record ips "$3" "$1" "$2" "$(awk -v i=$((IPS_INSNS - i1)) -v t=$((IPS_NS - t1)) 'BEGIN { printf "%.1f", i * 1000 / t }')"
}
bench_ips() { # vmm repeat
	local counts
	counts=($(ips_counts "$1"))
	ips_measure "$1" "$2" int_loop_mips "integer loop" "$GUESTS/ips.elf" \
		"n=${counts[0]}" "n=${counts[1]}"
	ips_measure "$1" "$2" testkernel_loop_mips "test kernel loop" "$TESTKERNEL" \
		"ips=${counts[2]}" "ips=${counts[3]}"
}

for rep in $(seq 1 "$REPEATS"); do
	for group in $GROUPS_TO_RUN; do
		if [ "$group" = idle ]; then
			log "repeat $rep/$REPEATS: idle on every VMM at once (${IDLE_SECONDS} s window)"
			bench_idle "$rep"
			continue
		fi
		for vmm in "${VMMS[@]}"; do
			log "repeat $rep/$REPEATS: $group on $vmm"
			"bench_$group" "$vmm" "$rep"
		done
	done
done

if [ "$BENCH_QUICK" != 1 ] && [[ " ${BENCH_ONLY:-linux} " == *" linux "* ]]; then
	log "linux: the default Linux guest on ringfold soft and QEMU TCG (bench/linux.sh)"
	mkdir -p "$OUT_DIR/bench"
	BUILD=$BUILD RINGFOLD=$RINGFOLD bash bench/linux.sh >"$WORK/linux.md" ||
		echo "bench/linux.sh failed: see the log above" >"$WORK/linux.md"
	cp "$WORK/linux.md" "$OUT_DIR/bench/linux.md"
fi
if [ "$BENCH_QUICK" != 1 ] && [[ " ${BENCH_ONLY:-virtio} " == *" virtio "* ]]; then
	log "virtio: virtio-blk and virtio-net in the Linux guest on ringfold soft and QEMU TCG (bench/virtio.sh)"
	mkdir -p "$OUT_DIR/bench"
	BUILD=$BUILD RINGFOLD=$RINGFOLD bash bench/virtio.sh >"$WORK/virtio.md" ||
		echo "bench/virtio.sh failed: see the log above" >"$WORK/virtio.md"
	cp "$WORK/virtio.md" "$OUT_DIR/bench/virtio.md"
fi
meta load_end "$(cut -d' ' -f1-3 /proc/loadavg)"
cp "$RESULTS" "$NOTES" "$META" "$OUT_DIR/bench/" 2>/dev/null ||
	{ mkdir -p "$OUT_DIR/bench" && cp "$RESULTS" "$NOTES" "$META" "$OUT_DIR/bench/"; }
bash bench/report.sh "$OUT_DIR"
exit
}
