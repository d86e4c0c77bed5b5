#!/usr/bin/env bash
# Linux on the soft engine: the default guest (`make guest`: Debian's stock
# kernel and the busybox initramfs in $BUILD/guest-linux) boots with a second
# initrd holding /test/run.sh (tests/integration/linux/), which prints the
# kernel release, the CPU count, whether the timer interrupts count, and the
# output of a deterministic workload (hashes, gzip, sort, awk, pipelines,
# signals). That workload also runs on the host under the very same busybox
# binary: the two outputs must be identical. The guest then powers off, which
# must end ringfold with status 0.
#
# Variants: --engine soft; --engine soft --cpus 2; --engine soft --clock
# icount twice, whose console outputs must be byte-identical.
#
# Environment:
#   RINGFOLD_LINUX_VMM=qemu   run the same guest and checks on QEMU TCG
#                             instead (the reference for the guest and the
#                             checks themselves; -icount for the icount pair)
#   RINGFOLD_LINUX_TIMEOUT=S  time limit of one boot (default 600 s)
#   GUEST_LINUX=DIR           the guest (default $BUILD/guest-linux)
#   RINGFOLD_LINUX_SOFT=0     skip the suite (loudly), e.g. on a machine too
#                             slow for Linux on an interpreter
# Never runs Linux on the kvm engine (where /dev/kvm emulates guest kernel
# code, as on kvm_pvm hosts, a boot would take hours).
set -u
. "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)

VMM=${RINGFOLD_LINUX_VMM:-ringfold}
QEMU=${QEMU:-qemu-system-x86_64}
LIMIT=${RINGFOLD_LINUX_TIMEOUT:-600}
GUEST=${GUEST_LINUX:-$BUILD/guest-linux}
CMDLINE="console=ttyS0 quiet panic=-1"
MEM_MB=256

if [ "$VMM" = ringfold ] && [ "${RINGFOLD_LINUX_SOFT:-1}" = 0 ]; then
	skip "linux soft" "RINGFOLD_LINUX_SOFT=0"
	finish
	exit 0
fi
case $VMM in
ringfold | qemu) ;;
*)
	fail "linux: RINGFOLD_LINUX_VMM='$VMM' is not ringfold or qemu"
	finish
	exit 1
	;;
esac
for f in vmlinuz initramfs.cpio.gz busybox kernel-version; do
	if [ ! -f "$GUEST/$f" ]; then
		fail "linux: $GUEST/$f does not exist: run make guest"
		finish
		exit 1
	fi
done
if [ "$VMM" = qemu ] && ! command -v "$QEMU" >/dev/null 2>&1; then
	fail "linux: $QEMU is not installed (install qemu-system-x86)"
	finish
	exit 1
fi
busybox=$(cd "$GUEST" && pwd)/busybox
kver=$(cat "$GUEST/kernel-version")

# ---- the test initrd: /test/run.sh and /test/workload.sh
mkdir -p "$t_tmp/cpio/test"
cp "$here/linux/run.sh" "$here/linux/workload.sh" "$t_tmp/cpio/test/"
(cd "$t_tmp/cpio" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$t_tmp/test.cpio" ||
	{ fail "linux: cannot build the test cpio"; finish; exit 1; }
if [ "$VMM" = qemu ]; then
	# QEMU takes one initrd: concatenate as ringfold does, each padded to
	# 4 bytes (the kernel's initramfs unpacker wants aligned headers).
	{
		cat "$GUEST/initramfs.cpio.gz"
		size=$(stat -c %s "$GUEST/initramfs.cpio.gz")
		head -c $(((4 - size % 4) % 4)) /dev/zero
		cat "$t_tmp/test.cpio"
	} >"$t_tmp/initrd.img"
fi

# ---- the reference: the workload under the host's copy of the same busybox,
# with nothing but its applets on the PATH.
mkdir -p "$t_tmp/applets" "$t_tmp/hostwork"
for a in $("$busybox" --list); do
	ln -s "$busybox" "$t_tmp/applets/$a"
done
(cd "$t_tmp/hostwork" && env -i PATH="$t_tmp/applets" "$busybox" sh "$here/linux/workload.sh") \
	>"$t_tmp/host.out" 2>&1
rc=$?
if [ "$rc" -ne 0 ] || ! grep -qx "workload done" "$t_tmp/host.out"; then
	fail "linux: the workload fails on the host (exit status $rc): it cannot be a reference" \
		"$(cat "$t_tmp/host.out")"
	finish
	exit 1
fi

# boot TAG CPUS ICOUNT(0|1): boots the guest; sets rc, secs, console (the
# console text, \r removed) and console_file.
boot() {
	local tag=$1 cpus=$2 icount=$3
	console_file=$t_tmp/console.$tag
	rm -f "$console_file"
	local cmd
	if [ "$VMM" = ringfold ]; then
		cmd=("$RINGFOLD" run --engine soft --cpus "$cpus" --mem "${MEM_MB}M" --no-reboot
			--kernel "$GUEST/vmlinuz" --initrd "$GUEST/initramfs.cpio.gz"
			--initrd "$t_tmp/test.cpio" --console "$console_file")
		# nokaslr: a fixed kernel address matters for a repeatable run
		# (ringfold's host decompression has no KASLR anyway).
		if [ "$icount" = 1 ]; then
			cmd+=(--clock icount --cmdline "$CMDLINE nokaslr")
		else
			cmd+=(--cmdline "$CMDLINE")
		fi
	else
		# For the icount pair: virtual time from the instruction count,
		# an RTC that follows it from a fixed date, no RDRAND/RDSEED
		# (host entropy) and no KASLR, so that a run repeats exactly.
		local cpu=max append=$CMDLINE extra=()
		if [ "$icount" = 1 ]; then
			cpu=max,rdrand=off,rdseed=off
			append="$CMDLINE nokaslr"
			extra=(-icount shift=0,sleep=off -rtc base=2024-01-01T00:00:00,clock=vm)
		fi
		cmd=("$QEMU" -machine pc -accel tcg -cpu "$cpu" -smp "$cpus" -m "$MEM_MB"
			-display none -nodefaults -monitor none -serial "file:$console_file"
			-no-reboot -kernel "$GUEST/vmlinuz" -initrd "$t_tmp/initrd.img"
			-append "$append" "${extra[@]}")
	fi
	local start end
	start=$(date +%s%N)
	timeout --kill-after=10 "$LIMIT" "${cmd[@]}" </dev/null >"$t_tmp/stdout.$tag" 2>"$t_tmp/stderr.$tag"
	rc=$?
	end=$(date +%s%N)
	secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
	echo "$rc $secs" >"$t_tmp/result.$tag"
}

# Boots run two at a time (the machines have two cores and each VMM is one
# thread): boot_bg starts one in the background, collect TAG waits for the
# results of all and loads one's rc, secs, console and console_file.
boot_bg() {
	boot "$@" &
}
collect() {
	wait
	local tag=$1
	console_file=$t_tmp/console.$tag
	read -r rc secs <"$t_tmp/result.$tag" 2>/dev/null || { rc=255 secs=0; }
	console=$(tr -d '\r' <"$console_file" 2>/dev/null)
}

# section NAME: the lines between "=== NAME" and "=== end NAME..." of $console.
section() {
	awk -v b="=== $1" -v e="=== end $1" '
		$0 == b { on = 1; next }
		on && index($0, e) == 1 { exit }
		on { print }' <<<"$console"
}

# fail_run NAME: a failed boot, with the last 30 console lines and the
# first lines the VMM wrote on stderr (its reason comes first, before any
# register dump).
fail_run() {
	fail "$1" "${console:-(no console output)}"
	if [ -s "$t_tmp/stderr.$tag" ]; then
		head -n 6 "$t_tmp/stderr.$tag" | sed 's/^/     | stderr: /'
	fi
}

# check_run NAME TAG CPUS: every check of one boot's output.
check_run() {
	local name=$1 cpus=$3
	tag=$2
	# How the machine ended. QEMU exits 0 on a reset too (-no-reboot), so
	# there the kernel's own "Power down" line tells poweroff from a panic.
	local how=""
	case $rc in
	0) ;;
	124 | 137) how="timed out after ${LIMIT} s" ;;
	*) how="exit status $rc" ;;
	esac
	if [ -z "$how" ] && [ "$VMM" = qemu ] && ! grep -q 'reboot: Power down' <<<"$console"; then
		how="QEMU exited without the guest powering off"
	fi
	if grep -qE 'Kernel panic|BUG: |Oops|general protection fault' <<<"$console"; then
		how="${how:+$how, }the kernel reported: $(grep -m1 -E 'Kernel panic|BUG: |Oops|general protection fault' <<<"$console")"
	fi
	if [ -n "$how" ] || ! grep -qx '=== ringfold-linux-test done' <<<"$console"; then
		fail_run "$name: ${how:-the test script did not finish} ($secs s)"
		return 1
	fi
	pass "$name: booted, ran the test and powered off ($secs s)"

	local u
	u=$(section uname)
	if grep -qx "release $kver" <<<"$u" && grep -q '^Linux ringfold ' <<<"$u"; then
		pass "$name: uname ($(head -n 1 <<<"$u" | cut -d' ' -f1-3))"
	else
		fail "$name: uname: expected Linux ringfold $kver" "$u"
	fi
	local c
	c=$(section cpus)
	if grep -qx "processors $cpus" <<<"$c"; then
		pass "$name: /proc/cpuinfo lists $cpus processor(s)"
	else
		fail "$name: /proc/cpuinfo: expected $cpus processor(s)" "$c"
	fi
	local t
	t=$(section timer)
	if [ "$t" = "timer interrupts: counting" ]; then
		pass "$name: timer interrupts count up in /proc/interrupts"
	else
		fail "$name: timer interrupts" "${t:-no output}"
	fi
	section workload >"$t_tmp/guest.out.$tag"
	if ! grep -qx '=== end workload (status 0)' <<<"$console"; then
		fail "$name: the workload failed in the guest" "$(grep -E '^=== end workload' <<<"$console")" \
			"$(tail -n 25 "$t_tmp/guest.out.$tag")"
	elif cmp -s "$t_tmp/host.out" "$t_tmp/guest.out.$tag"; then
		pass "$name: workload output identical to the host's busybox ($(grep -c '^--- ' "$t_tmp/host.out") sections, $(wc -l <"$t_tmp/host.out") lines)"
	else
		fail "$name: workload output differs from the host's busybox (< host, > guest)" \
			"$(diff "$t_tmp/host.out" "$t_tmp/guest.out.$tag" | head -n 30)"
	fi
	return 0
}

if [ "$VMM" = ringfold ]; then
	label="linux soft"
	smp_flag="--cpus"
	icount_flag="--clock icount"
else
	label="linux qemu-tcg"
	smp_flag="-smp"
	icount_flag="-icount"
fi

boot_bg one 1 0
boot_bg two 2 0
collect one
check_run "$label" one 1
collect two
check_run "$label $smp_flag 2" two 2

boot_bg icount1 1 1
boot_bg icount2 1 1
collect icount1
ok1=0
check_run "$label $icount_flag (run 1)" icount1 1 && ok1=1
collect icount2
if check_run "$label $icount_flag (run 2)" icount2 1 && [ $ok1 = 1 ]; then
	if cmp -s "$t_tmp/console.icount1" "$t_tmp/console.icount2"; then
		pass "$label $icount_flag: two runs, byte-identical console output ($(wc -c <"$t_tmp/console.icount1") bytes)"
	else
		fail "$label $icount_flag: the two runs' console outputs differ (< run 1, > run 2)" \
			"$(diff <(tr -d '\r' <"$t_tmp/console.icount1") <(tr -d '\r' <"$t_tmp/console.icount2") | head -n 30)"
	fi
else
	fail "$label $icount_flag: no comparison (a run failed)"
fi
finish
