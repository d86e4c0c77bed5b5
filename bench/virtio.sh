#!/usr/bin/env bash
# bench/virtio.sh: virtio-blk and virtio-net under Linux, ringfold's soft
# engine side by side with QEMU TCG.
#
# Both boot the same default guest (`make guest`) with one virtio-blk disk
# (a raw image file, host page cache on both: ringfold's default
# cache=writeback, QEMU's default cache) and one virtio-net card on user
# networking (libslirp on both), modern virtio only (QEMU:
# disable-legacy=on). A second initrd's /test/run.sh runs, in order:
#   seq_write   dd of BENCH_VIRTIO_MB MiB of zeroes to /dev/vda, 1 MiB
#               blocks, O_DIRECT, then fsync
#   seq_read    the same MiB back, 1 MiB blocks, O_DIRECT
#   rand_read   BENCH_VIRTIO_IOS random 4 KiB reads, O_DIRECT, one at a time
#   rand_write  the same number of random 4 KiB writes, then fdatasync
#               (bench/tools/guest_rio.c, built here with gcc -static: busybox
#               has no random I/O that is not a process per request)
#   tcp_up      BENCH_VIRTIO_NET_MB MiB guest → host: busybox nc to 10.0.2.2,
#               a listener on 127.0.0.1 here
#   tcp_down    the same host → guest: this script connects to a hostfwd
#               port, `nc -l` in the guest
# Disk times are on the host clock, between the "bench: begin X" and
# "bench: end X" console lines as they arrive; tcp_up from the host peer's
# accept to the end of the data, tcp_down from its connect to the guest's
# "bench: end tcp_down" line (once nc has it all). A run counts only if every step
# reported success (rio's op counts, the byte counts each side saw) and the
# guest powered off. Repeats are interleaved across the VMMs. Prints a
# markdown fragment (median, min – max, and the ratio ringfold soft / QEMU
# TCG: above 1 means ringfold is faster) on stdout; progress on stderr.
#
# Environment:
#   BENCH_REPEATS=N            repeats (default 3)
#   BENCH_VIRTIO_MB=N          MiB written and read sequentially (default 32)
#   BENCH_VIRTIO_IOS=N         random requests each way (default 1000)
#   BENCH_VIRTIO_NET_MB=N      MiB each way over TCP (default 4)
#   BENCH_VIRTIO_TIMEOUT=S     time limit of one VMM run (default 900)
#   BENCH_VIRTIO_VMMS="..."    which VMMs (default "ringfold-soft qemu-tcg")
#   BENCH_VIRTIO_TSV=FILE      also write the raw results there, in
#                              bench/run.sh's results.tsv format (group
#                              "virtio": group metric vmm repeat value)
#   BUILD, RINGFOLD, QEMU, GUEST_LINUX as usual.
# Never boots Linux on the kvm engine. Every socket is on 127.0.0.1.
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
MB=${BENCH_VIRTIO_MB:-32}
IOS=${BENCH_VIRTIO_IOS:-1000}
NET_MB=${BENCH_VIRTIO_NET_MB:-4}
RUN_TIMEOUT=${BENCH_VIRTIO_TIMEOUT:-900}
VMMS=(${BENCH_VIRTIO_VMMS:-ringfold-soft qemu-tcg})
MEM_MB=256
CMDLINE="console=ttyS0 quiet panic=-1 rf.modules=virtio_pci,virtio_blk,virtio_net"
TIMEIT=$BUILD/bench/timeit

log() { echo "bench-virtio: $*" >&2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ringfold-bench-virtio.XXXXXX")
peer=""
trap '[ -n "$peer" ] && kill "$peer" 2>/dev/null; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM HUP

if ! make -s BUILD="$BUILD" "$TIMEIT" guest-linux >"$WORK/make.log" 2>&1; then
	cat "$WORK/make.log" >&2
	log "could not build $TIMEIT and the Linux guest"
	exit 1
fi
for f in "$TIMEIT" "$GUEST/vmlinuz" "$GUEST/initramfs.cpio.gz"; do
	[ -e "$f" ] || { log "missing $f"; exit 1; }
done
command -v python3 >/dev/null || { log "python3 is needed for the host's end of the network"; exit 1; }

# ---- the guest side: /test/run.sh, its parameters, rio, the DHCP script
mkdir -p "$WORK/cpio/test"
if ! gcc -static -O2 -o "$WORK/cpio/test/rio" bench/tools/guest_rio.c 2>"$WORK/gcc.log"; then
	cat "$WORK/gcc.log" >&2
	log "could not build bench/tools/guest_rio.c statically (libc6-dev has libc.a)"
	exit 1
fi
cp tests/integration/linux/dhcp.sh "$WORK/cpio/test/dhcp.sh"
chmod 755 "$WORK/cpio/test/dhcp.sh"
printf 'MB=%d\nIOS=%d\nNET_MB=%d\n' "$MB" "$IOS" "$NET_MB" >"$WORK/cpio/test/params"
cat >"$WORK/cpio/test/run.sh" <<'EOF'
. /test/params
param() {
	for a in $(cat /proc/cmdline); do
		case $a in
		"$1="*) echo "${a#*=}" ;;
		esac
	done
}
dev=/dev/vda
echo "bench: begin seq_write"
dd if=/dev/zero of=$dev bs=1048576 count=$MB oflag=direct conv=fsync 2>/dev/null && echo "bench: ok seq_write"
echo "bench: end seq_write"
echo "bench: begin seq_read"
dd if=$dev of=/dev/null bs=1048576 count=$MB iflag=direct 2>/dev/null && echo "bench: ok seq_read"
echo "bench: end seq_read"
echo "bench: begin rand_read"
/test/rio randread $dev 4096 $IOS 1
echo "bench: end rand_read"
echo "bench: begin rand_write"
/test/rio randwrite $dev 4096 $IOS 2
echo "bench: end rand_write"
ip link set lo up
ip link set eth0 up
timeout 60 udhcpc -i eth0 -s /test/dhcp.sh -n -q -t 10 -T 3 >/dev/null 2>&1
echo "bench: begin tcp_up"
dd if=/dev/zero bs=65536 count=$((NET_MB * 16)) 2>/dev/null | timeout 600 nc 10.0.2.2 $(param rf.up_port)
echo "bench: end tcp_up"
(timeout 600 nc -l -p $(param rf.fwd_port) </dev/null | wc -c >/tmp/down.count) &
pid=$!
sleep 1
echo "bench: listening"
wait $pid
echo "bench: end tcp_down"
echo "bench: down bytes $(cat /tmp/down.count)"
EOF
(cd "$WORK/cpio" && find . -mindepth 1 | sort | cpio -o -H newc -R 0:0 --quiet) >"$WORK/test.cpio"
size=$(stat -c %s "$GUEST/initramfs.cpio.gz")
{
	cat "$GUEST/initramfs.cpio.gz"
	head -c $(((4 - size % 4) % 4)) /dev/zero
	cat "$WORK/test.cpio"
} >"$WORK/initrd.img"

# The host's end of the network, one per run: takes the upload, then, once
# the guest listens, sends the download through the hostfwd port. Writes
# "up BYTES MS" and "down_start EPOCH_US" to its result file.
cat >"$WORK/peer.py" <<'EOF'
import os, socket, sys, time
ports_file, result_file, console, net_bytes, limit = sys.argv[1:6]
net_bytes = int(net_bytes)
end = time.time() + float(limit)
up = socket.socket()
up.bind(("127.0.0.1", 0))
up.listen(1)
probe = socket.socket()
probe.bind(("127.0.0.1", 0))
fwd_port = probe.getsockname()[1]
probe.close()
with open(ports_file + ".tmp", "w") as f:
    f.write("%d %d\n" % (up.getsockname()[1], fwd_port))
os.rename(ports_file + ".tmp", ports_file)
out = open(result_file, "w")
up.settimeout(max(1, end - time.time()))
try:
    conn, _ = up.accept()
    t0 = time.monotonic()
    conn.settimeout(max(1, end - time.time()))
    n = 0
    while True:
        b = conn.recv(1 << 16)
        if not b:
            break
        n += len(b)
    t1 = time.monotonic()
    conn.close()
    out.write("up %d %.3f\n" % (n, (t1 - t0) * 1000))
    out.flush()
except Exception as e:
    out.write("up-error %s\n" % e)
    out.flush()
chunk = bytes(1 << 16)
while time.time() < end:
    if b"bench: listening" in open(console, "rb").read():
        break
    time.sleep(0.1)
while time.time() < end:
    try:
        s = socket.create_connection(("127.0.0.1", fwd_port), timeout=10)
        s.settimeout(max(1, end - time.time()))
        # The end is the guest's "bench: end tcp_down" line: this side is
        # done as soon as slirp has buffered the data.
        out.write("down_start %d\n" % int(time.time() * 1e6))
        out.flush()
        left = net_bytes
        while left:
            left -= s.send(chunk[: min(left, len(chunk))])
        s.shutdown(socket.SHUT_WR)
        while s.recv(1 << 16):
            pass
        s.close()
        break
    except Exception as e:
        time.sleep(0.5)
out.close()
EOF

vmm_cmd() { # name → CMD (uses $disk, $up_port, $fwd_port)
	local cmdline="$CMDLINE rf.up_port=$up_port rf.fwd_port=$fwd_port"
	case $1 in
	ringfold-soft)
		CMD=("$RINGFOLD" run --engine soft --cpus 1 --mem "${MEM_MB}M" --no-reboot
			--kernel "$GUEST/vmlinuz" --initrd "$GUEST/initramfs.cpio.gz"
			--initrd "$WORK/test.cpio" --cmdline "$cmdline" --console stdio
			--disk "$disk" --net "user,hostfwd=tcp::$fwd_port-:$fwd_port")
		;;
	qemu-tcg)
		CMD=("$QEMU" -machine pc -accel tcg -cpu max -smp 1 -m "$MEM_MB" -display none
			-nodefaults -monitor none -serial stdio -no-reboot
			-kernel "$GUEST/vmlinuz" -initrd "$WORK/initrd.img" -append "$cmdline"
			-drive "file=$disk,if=none,id=d0,format=raw"
			-device virtio-blk-pci,drive=d0,disable-legacy=on
			-netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$fwd_port-:$fwd_port"
			-device virtio-net-pci,netdev=n0,disable-legacy=on)
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

# Reads the console stream into $1, noting in $2 when (µs) each marker came.
read_console() {
	local line
	while IFS= read -r line; do
		local now=${EPOCHREALTIME/./}
		line=${line%$'\r'}
		printf '%s\n' "$line" >>"$1"
		case $line in
		"bench: begin "*) echo "begin_${line#bench: begin } $now" >>"$2" ;;
		"bench: end "*) echo "end_${line#bench: end } $now" >>"$2" ;;
		esac
	done
}

# rate UNITS TIME_MS → UNITS per second
rate() { awk -v u="$1" -v ms="$2" 'BEGIN { if (ms > 0) printf "%.2f", u * 1000 / ms }'; }

run_one() { # vmm repeat
	local vmm=$1 rep=$2
	disk=$WORK/disk.img
	rm -f "$disk" "$WORK/ports" "$WORK/peer.out"
	truncate -s $((MB + 16))M "$disk"
	local con=$WORK/console.$vmm times=$WORK/times.$vmm
	rm -f "$con" "$times" "$WORK/time.out"
	: >"$con"
	: >"$times"
	python3 "$WORK/peer.py" "$WORK/ports" "$WORK/peer.out" "$con" $((NET_MB * 1048576)) \
		"$RUN_TIMEOUT" 2>"$WORK/peer.err" &
	peer=$!
	for _ in $(seq 50); do
		[ -f "$WORK/ports" ] && break
		sleep 0.1
	done
	read -r up_port fwd_port <"$WORK/ports" 2>/dev/null || {
		note "$vmm" "the host's network peer did not start: $(head -n 1 "$WORK/peer.err")"
		kill "$peer" 2>/dev/null
		return
	}
	vmm_cmd "$vmm" || { note "$vmm" "unknown VMM"; return; }
	"$TIMEIT" -t "$RUN_TIMEOUT" -o "$WORK/time.out" -- "${CMD[@]}" </dev/null 2>"$WORK/stderr.$vmm" |
		read_console "$con" "$times"
	kill "$peer" 2>/dev/null
	wait "$peer" 2>/dev/null
	peer=""
	local status
	status=$(sed -nE 's/.*status=([0-9]+).*/\1/p' "$WORK/time.out" 2>/dev/null)
	local why=""
	grep -qx "bench: begin seq_write" "$con" || why="the guest never reached the benchmark"
	[ -z "$why" ] && ! grep -qx "bench: ok seq_write" "$con" && why="seq_write failed"
	[ -z "$why" ] && ! grep -qx "bench: ok seq_read" "$con" && why="seq_read failed"
	[ -z "$why" ] && ! grep -qx "rio: randread $IOS ops" "$con" && why="rand_read failed"
	[ -z "$why" ] && ! grep -qx "rio: randwrite $IOS ops" "$con" && why="rand_write failed"
	local up_n up_ms down_start down_end down_ms
	read -r _ up_n up_ms < <(grep '^up ' "$WORK/peer.out" 2>/dev/null)
	down_start=$(awk '$1 == "down_start" { print $2 }' "$WORK/peer.out" 2>/dev/null)
	down_end=$(awk '$1 == "end_tcp_down" { print $2 }' "$times")
	[ -z "$why" ] && [ "${up_n:-0}" != $((NET_MB * 1048576)) ] &&
		why="tcp_up: the host got ${up_n:-no} bytes ($(head -n 1 "$WORK/peer.out" 2>/dev/null))"
	[ -z "$why" ] && [ -z "$down_start" ] && why="tcp_down: the host could not connect"
	[ -z "$why" ] && ! grep -qx "bench: down bytes $((NET_MB * 1048576))" "$con" &&
		why="tcp_down: the guest did not get $((NET_MB * 1048576)) bytes"
	[ -z "$why" ] && [ -z "$down_end" ] && why="tcp_down did not end in the guest"
	[ -z "$why" ] && [ "${status:-x}" != 0 ] && why="exit status ${status:-none}, not 0 (powered off)"
	if [ -n "$why" ]; then
		local last err
		last=$(grep -v '^$' "$con" | tail -n 1 | cut -c1-120)
		err=$(grep -v "^$" "$WORK/stderr.$vmm" | head -n 1 | cut -c1-160)
		note "$vmm" "$why (last console line: ${last:-none}${err:+; stderr: $err})"
		return
	fi
	local step b e
	for step in seq_write seq_read rand_read rand_write; do
		b=$(awk -v k="begin_$step" '$1 == k { print $2 }' "$times")
		e=$(awk -v k="end_$step" '$1 == k { print $2 }' "$times")
		local ms
		ms=$(awk -v a="$b" -v b="$e" 'BEGIN { printf "%.3f", (b - a) / 1000 }')
		case $step in
		seq_*) record "$step" "$vmm" "$rep" "$(rate "$MB" "$ms")" ;;
		rand_*) record "$step" "$vmm" "$rep" "$(rate "$IOS" "$ms")" ;;
		esac
	done
	record tcp_up "$vmm" "$rep" "$(rate "$NET_MB" "$up_ms")"
	down_ms=$(awk -v a="$down_start" -v b="$down_end" 'BEGIN { printf "%.3f", (b - a) / 1000 }')
	record tcp_down "$vmm" "$rep" "$(rate "$NET_MB" "$down_ms")"
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
if [ -n "${BENCH_VIRTIO_TSV:-}" ]; then
	awk -F'\t' -v OFS='\t' '{ print "virtio", $1, $2, $3, $4 }' "$RESULTS" >"$BENCH_VIRTIO_TSV"
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
	seq_write) echo "virtio-blk sequential write, $MB MiB, 1 MiB O_DIRECT + fsync" ;;
	seq_read) echo "virtio-blk sequential read, $MB MiB, 1 MiB O_DIRECT" ;;
	rand_read) echo "virtio-blk random 4 KiB reads, $IOS, O_DIRECT, queue depth 1" ;;
	rand_write) echo "virtio-blk random 4 KiB writes, $IOS, O_DIRECT, queue depth 1" ;;
	tcp_up) echo "virtio-net TCP guest → host, $NET_MB MiB (slirp)" ;;
	tcp_down) echo "virtio-net TCP host → guest, $NET_MB MiB (slirp hostfwd)" ;;
	esac
}
unit() {
	case $1 in
	seq_* | tcp_*) echo "MiB/s" ;;
	rand_*) echo "IOPS" ;;
	esac
}

kernel=$(cat "$GUEST/kernel-version" 2>/dev/null || echo unknown)
echo "## Virtio I/O under Linux: ringfold soft and QEMU TCG"
echo
echo "Debian's kernel $kernel with the busybox initramfs of \`make guest\`, ${MEM_MB} MiB, 1 vCPU; one virtio-blk disk on a raw image file (host page cache), one virtio-net card on user networking (libslirp); modern virtio on both."
echo "Repeats: $REPEATS, interleaved; median (min – max), higher is better; host load $load_start at the start, $load_end at the end."
echo
shown_cmd() { # name → its command line, WORK left out, ports generic
	up_port=UP fwd_port=FWD disk=disk.img
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
for metric in seq_write seq_read rand_read rand_write tcp_up tcp_down; do
	row="| $(label "$metric") | $(unit "$metric")"
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
