#!/usr/bin/env bash
# bench/linux.sh: Linux on ringfold's soft engine side by side with QEMU TCG.
#
# Both boot the same default guest (`make guest`: Debian's stock kernel and
# the busybox initramfs in $BUILD/guest-linux) with a second initrd whose
# /test/run.sh times two CPU-bound workloads and powers off:
#   sha256   sha256sum of BENCH_LINUX_MB MiB read from /dev/zero
#   awk      a busybox awk loop of BENCH_LINUX_AWK_N iterations
# Measured per run, on the host, from the console stream as it arrives:
#   start → init     VMM process start to the guest's
#                    "ringfold-guest: init started" line (QEMU pc includes
#                    SeaBIOS)
#   sha256, awk      from the workload's "bench: begin" to its "bench: end"
#                    line; the guest's own /proc/uptime difference is shown
#                    too (10 ms resolution, and only as good as the guest
#                    clock)
#   exec → exit      the whole VMM process (bench/tools/timeit)
# A run counts only if the guest printed the right results (the sha256 of
# zeros and the awk sum, both computed on the host) and powered off.
# Repeats are interleaved across the VMMs. Prints a markdown fragment (the
# table in the style of docs/benchmarks.md, median with min – max, and the
# ratio ringfold soft / QEMU TCG) on stdout; progress goes to stderr.
#
# Environment:
#   BENCH_REPEATS=N          repeats (default 3)
#   BENCH_LINUX_MB=N         MiB hashed by sha256 (default 64)
#   BENCH_LINUX_AWK_N=N      awk loop iterations (default 200000)
#   BENCH_LINUX_TIMEOUT=S    time limit of one VMM run (default 900)
#   BENCH_LINUX_VMMS="..."   which VMMs (default "ringfold-soft qemu-tcg")
#   BENCH_LINUX_TSV=FILE     also write the raw results there, in
#                            bench/run.sh's results.tsv format
#                            (group metric vmm repeat value; group "linux")
#   BUILD, RINGFOLD, QEMU, GUEST_LINUX as usual.
# Never boots Linux on the kvm engine.
set -u
# One brace group, read completely before it runs: editing this file during
# a run cannot derail that run.
{
cd "$(dirname "$0")/.."
export LC_ALL=C # EPOCHREALTIME with a decimal point

BUILD=${BUILD:-build}
RINGFOLD=${RINGFOLD:-$BUILD/ringfold}
QEMU=${QEMU:-qemu-system-x86_64}
GUEST=${GUEST_LINUX:-$BUILD/guest-linux}
REPEATS=${BENCH_REPEATS:-3}
MB=${BENCH_LINUX_MB:-64}
AWK_N=${BENCH_LINUX_AWK_N:-200000}
RUN_TIMEOUT=${BENCH_LINUX_TIMEOUT:-900}
VMMS=(${BENCH_LINUX_VMMS:-ringfold-soft qemu-tcg})
MEM_MB=256
CMDLINE="console=ttyS0 quiet panic=-1"
TIMEIT=$BUILD/bench/timeit

log() { echo "bench-linux: $*" >&2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ringfold-bench-linux.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM HUP

if ! make -s BUILD="$BUILD" "$TIMEIT" guest-linux >"$WORK/make.log" 2>&1; then
	cat "$WORK/make.log" >&2
	log "could not build $TIMEIT and the Linux guest"
	exit 1
fi
for f in "$TIMEIT" "$GUEST/vmlinuz" "$GUEST/initramfs.cpio.gz" "$GUEST/busybox"; do
	[ -e "$f" ] || { log "missing $f"; exit 1; }
done

# ---- the guest side: /test/run.sh and its parameters
mkdir -p "$WORK/cpio/test"
printf 'MB=%d\nAWK_N=%d\n' "$MB" "$AWK_N" >"$WORK/cpio/test/params"
cat >"$WORK/cpio/test/run.sh" <<'EOF'
. /test/params
uptime_cs() { awk '{ printf "%d\n", $1 * 100 }' /proc/uptime; }
echo "bench: begin sha256"
a=$(uptime_cs)
dd if=/dev/zero bs=1048576 count=$MB 2>/dev/null | sha256sum
b=$(uptime_cs)
echo "bench: end sha256 guest_cs=$((b - a))"
echo "bench: begin awk"
a=$(uptime_cs)
awk -v n=$AWK_N 'BEGIN { s = 0; for (i = 0; i < n; i++) s = (s * 31 + i) % 1000003; print "awk", s }'
b=$(uptime_cs)
echo "bench: end awk guest_cs=$((b - a))"
EOF
(cd "$WORK/cpio" && find . -mindepth 1 | sort | cpio -o -H newc -R 0:0 --quiet) >"$WORK/test.cpio"
# QEMU takes one initrd: the two concatenated, the first padded to 4 bytes,
# as ringfold concatenates them.
size=$(stat -c %s "$GUEST/initramfs.cpio.gz")
{
	cat "$GUEST/initramfs.cpio.gz"
	head -c $(((4 - size % 4) % 4)) /dev/zero
	cat "$WORK/test.cpio"
} >"$WORK/initrd.img"

# The right answers, from the host (the same busybox for awk).
WANT_SHA=$(head -c $((MB * 1048576)) /dev/zero | sha256sum | cut -d' ' -f1)
WANT_AWK=$("$GUEST/busybox" awk -v n="$AWK_N" 'BEGIN { s = 0; for (i = 0; i < n; i++) s = (s * 31 + i) % 1000003; print "awk", s }')

vmm_cmd() { # name → CMD
	case $1 in
	ringfold-soft)
		CMD=("$RINGFOLD" run --engine soft --cpus 1 --mem "${MEM_MB}M" --no-reboot
			--kernel "$GUEST/vmlinuz" --initrd "$GUEST/initramfs.cpio.gz"
			--initrd "$WORK/test.cpio" --cmdline "$CMDLINE" --console stdio)
		;;
	qemu-tcg)
		CMD=("$QEMU" -machine pc -accel tcg -cpu max -smp 1 -m "$MEM_MB" -display none
			-nodefaults -monitor none -serial stdio -no-reboot
			-kernel "$GUEST/vmlinuz" -initrd "$WORK/initrd.img" -append "$CMDLINE")
		;;
	*) return 1 ;;
	esac
}
pretty() {
	case $1 in
	ringfold-soft) echo "ringfold soft" ;;
	qemu-tcg) echo "QEMU TCG" ;;
	*) echo "$1" ;;
	esac
}

RESULTS=$WORK/results.tsv # metric vmm repeat value
NOTES=$WORK/notes.txt
: >"$RESULTS"
: >"$NOTES"
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RESULTS"; }
note() {
	grep -qxF -- "- $(pretty "$1"): $2" "$NOTES" || echo "- $(pretty "$1"): $2" >>"$NOTES"
	log "$1: $2"
}

# Reads the console stream, keeps it in $1 and notes in $2 the host time (µs)
# at which each marker line arrived.
read_console() {
	local line
	while IFS= read -r line; do
		local now=${EPOCHREALTIME/./}
		line=${line%$'\r'}
		printf '%s\n' "$line" >>"$1"
		case $line in
		*"ringfold-guest: init started"*) echo "init $now" >>"$2" ;;
		"bench: begin "*) echo "begin_${line#bench: begin } $now" >>"$2" ;;
		"bench: end "*)
			local rest=${line#bench: end }
			echo "end_${rest%% *} $now ${rest#* guest_cs=}" >>"$2"
			;;
		esac
	done
}

ms_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }

run_one() { # vmm repeat
	local vmm=$1 rep=$2
	vmm_cmd "$vmm" || { note "$vmm" "unknown VMM"; return; }
	local con=$WORK/console.$vmm times=$WORK/times.$vmm
	rm -f "$con" "$times" "$WORK/time.out"
	: >"$con"
	: >"$times"
	local t0=${EPOCHREALTIME/./}
	"$TIMEIT" -t "$RUN_TIMEOUT" -o "$WORK/time.out" -- "${CMD[@]}" </dev/null 2>"$WORK/stderr.$vmm" |
		read_console "$con" "$times"
	local line status wall_ns
	line=$(cat "$WORK/time.out" 2>/dev/null)
	status=$(sed -nE 's/.*status=([0-9]+).*/\1/p' <<<"$line")
	wall_ns=$(sed -nE 's/.*wall_ns=([0-9]+).*/\1/p' <<<"$line")
	local init b_sha e_sha b_awk e_awk g_sha g_awk
	init=$(awk '$1 == "init" { print $2 }' "$times")
	b_sha=$(awk '$1 == "begin_sha256" { print $2 }' "$times")
	read -r e_sha g_sha < <(awk '$1 == "end_sha256" { print $2, $3 }' "$times")
	b_awk=$(awk '$1 == "begin_awk" { print $2 }' "$times")
	read -r e_awk g_awk < <(awk '$1 == "end_awk" { print $2, $3 }' "$times")
	local why=""
	[ -n "$init" ] || why="the guest's init never started"
	[ -z "$why" ] && ! grep -q "^$WANT_SHA " "$con" && why="no or wrong sha256 (want $WANT_SHA)"
	[ -z "$why" ] && ! grep -qx "$WANT_AWK" "$con" && why="no or wrong awk result (want '$WANT_AWK')"
	[ -z "$why" ] && [ "${status:-x}" != 0 ] && why="exit status ${status:-none}, not 0 (powered off)"
	[ -z "$why" ] && ! grep -q 'reboot: Power down' "$con" && why="the guest did not power off"
	if [ -n "$why" ]; then
		local last
		last=$(grep -v '^$' "$con" | tail -n 1 | cut -c1-120)
		local err
		err=$(grep -v "^$" "$WORK/stderr.$vmm" | head -n 1 | cut -c1-160)
		note "$vmm" "$why (exit status ${status:-none}; last console line: ${last:-none}${err:+; stderr: $err})"
		[ -n "$init" ] && record start_to_init_ms "$vmm" "$rep" "$(ms_between "$t0" "$init")"
		return
	fi
	record start_to_init_ms "$vmm" "$rep" "$(ms_between "$t0" "$init")"
	record sha256_ms "$vmm" "$rep" "$(ms_between "$b_sha" "$e_sha")"
	record sha256_guest_ms "$vmm" "$rep" "$((g_sha * 10))"
	record awk_ms "$vmm" "$rep" "$(ms_between "$b_awk" "$e_awk")"
	record awk_guest_ms "$vmm" "$rep" "$((g_awk * 10))"
	record exec_to_exit_ms "$vmm" "$rep" "$(awk -v n="$wall_ns" 'BEGIN { printf "%.1f", n / 1e6 }')"
}

# ---- the runs, interleaved
AVAILABLE=()
for vmm in "${VMMS[@]}"; do
	case $vmm in
	ringfold-soft) [ -x "$RINGFOLD" ] || { note "$vmm" "$RINGFOLD not built (make)"; continue; } ;;
	qemu-tcg) command -v "$QEMU" >/dev/null || { note "$vmm" "$QEMU not installed"; continue; } ;;
	*) note "$vmm" "unknown VMM (ringfold-soft or qemu-tcg)"; continue ;;
	esac
	AVAILABLE+=("$vmm")
done
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for rep in $(seq 1 "$REPEATS"); do
	for vmm in "${AVAILABLE[@]}"; do
		log "repeat $rep/$REPEATS: $vmm"
		run_one "$vmm" "$rep"
	done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
if [ -n "${BENCH_LINUX_TSV:-}" ]; then
	awk -F'\t' -v OFS='\t' '{ print "linux", $1, $2, $3, $4 }' "$RESULTS" >"$BENCH_LINUX_TSV"
fi

# ---- the markdown fragment
stat() { # metric vmm → "median min max" or nothing
	awk -F'\t' -v m="$1" -v v="$2" '$1 == m && $2 == v { print $4 }' "$RESULTS" | sort -g |
		awk '{ x[++n] = $1 } END {
			if (!n) exit
			med = (n % 2) ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
			print med, x[1], x[n] }'
}
fmt() {
	awk -v x="$1" 'BEGIN {
		a = x < 0 ? -x : x
		if (x == int(x) || a >= 1000) printf "%.0f", x
		else if (a >= 100) printf "%.1f", x
		else if (a >= 10) printf "%.2f", x
		else printf "%.3g", x }'
}
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) { r = a / b; printf (r >= 10 ? "%.0f×" : r >= 0.1 ? "%.2f×" : "%.3f×"), r } }'
}
label() {
	case $1 in
	start_to_init_ms) echo "start → init (host clock)" ;;
	sha256_ms) echo "sha256sum of $MB MiB (host clock)" ;;
	sha256_guest_ms) echo "sha256sum of $MB MiB (guest /proc/uptime)" ;;
	awk_ms) echo "awk loop, $AWK_N iterations (host clock)" ;;
	awk_guest_ms) echo "awk loop, $AWK_N iterations (guest /proc/uptime)" ;;
	exec_to_exit_ms) echo "exec → exit, whole run" ;;
	esac
}

kernel=$(cat "$GUEST/kernel-version" 2>/dev/null || echo unknown)
echo "## Linux guest: ringfold soft and QEMU TCG"
echo
echo "Debian's kernel $kernel with the busybox initramfs of \`make guest\`, ${MEM_MB} MiB, 1 vCPU, command line \`$CMDLINE\`;"
echo "Repeats: $REPEATS, interleaved; median (min – max); host load $load_start at the start, $load_end at the end."
shown_cmd() { # name → its command line, WORK left out, spaced arguments quoted
	vmm_cmd "$1" || return
	local a out=""
	for a in "${CMD[@]}"; do
		a=${a//$WORK\//}
		[[ $a == *" "* ]] && a="'$a'"
		out+="$a "
	done
	echo "${out% }"
}
for vmm in "${VMMS[@]}"; do
	echo "$(pretty "$vmm"): \`$(shown_cmd "$vmm")\`"
	echo
done
header="| benchmark | unit"
sep="|---|---"
for vmm in "${VMMS[@]}"; do
	header+=" | $(pretty "$vmm")"
	sep+="|---"
done
have_ratio=0
if [[ " ${VMMS[*]} " == *" ringfold-soft "* && " ${VMMS[*]} " == *" qemu-tcg "* ]]; then
	have_ratio=1
	header+=" | ringfold soft / QEMU TCG"
	sep+="|---"
fi
echo "$header |"
echo "$sep|"
for metric in start_to_init_ms sha256_ms sha256_guest_ms awk_ms awk_guest_ms exec_to_exit_ms; do
	row="| $(label "$metric") | ms"
	declare -A med=()
	for vmm in "${VMMS[@]}"; do
		s=$(stat "$metric" "$vmm")
		if [ -z "$s" ]; then
			row+=" | failed"
			continue
		fi
		set -- $s
		med[$vmm]=$1
		row+=" | **$(fmt "$1")** ($(fmt "$2") – $(fmt "$3"))"
	done
	if [ "$have_ratio" = 1 ]; then
		r=""
		[ -n "${med[ringfold-soft]:-}" ] && [ -n "${med[qemu-tcg]:-}" ] &&
			r=$(ratio "${med[ringfold-soft]}" "${med[qemu-tcg]}")
		row+=" | ${r:-–}"
	fi
	echo "$row |"
	unset med
done
if [ -s "$NOTES" ]; then
	echo
	echo "Notes:"
	echo
	cat "$NOTES"
fi
exit 0
}
