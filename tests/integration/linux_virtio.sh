#!/usr/bin/env bash
# The virtio devices under Linux's own drivers, on the soft engine: the
# default guest (`make guest`) boots with virtio-blk (an empty ext4 image,
# and a second one read-only), virtio-rng, virtio-console and virtio-net on
# user networking, and a second initrd holding /test/run.sh
# (tests/integration/linux/virtio_run.sh). One ringfold process, two boots:
#   boot 1  writes files to /dev/vda and prints their SHA-256; /dev/vdb is
#           read-only (sysfs says so, raw and file-system writes fail);
#           /dev/hwrng gives bytes from virtio_rng; text written to
#           /dev/hvc0 reaches the console; udhcpc leases 10.0.2.15 from
#           slirp; 512 KiB go guest → host (a listener on 127.0.0.1 here,
#           10.0.2.2 for the guest) and host → guest (hostfwd from
#           127.0.0.1 to `nc -l` in the guest), each compared by SHA-256;
#           then `reboot -f`, and ringfold rebuilds the machine;
#   boot 2  finds vda's files with the same checksums, and powers off.
# The host also reads the file back out of the image (debugfs).
#
# Environment (as tests/integration/linux_soft.sh):
#   RINGFOLD_LINUX_SOFT=0     skip the suite (loudly)
#   RINGFOLD_LINUX_VMM=qemu   the same guest and checks on QEMU TCG (the
#                             reference for the checks themselves)
#   RINGFOLD_LINUX_TIMEOUT=S  time limit of the run, both boots (default 780 s)
#   GUEST_LINUX=DIR           the guest (default $BUILD/guest-linux)
# Never runs Linux on the kvm engine. Nothing leaves the machine: every
# socket is on 127.0.0.1.
set -u
. "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)

VMM=${RINGFOLD_LINUX_VMM:-ringfold}
QEMU=${QEMU:-qemu-system-x86_64}
LIMIT=${RINGFOLD_LINUX_TIMEOUT:-780}
GUEST=${GUEST_LINUX:-$BUILD/guest-linux}
MODULES=virtio_pci,virtio_blk,ext4,virtio_rng,virtio_net,virtio_console
MEM_MB=256

if [ "$VMM" = ringfold ] && [ "${RINGFOLD_LINUX_SOFT:-1}" = 0 ]; then
	skip "linux virtio" "RINGFOLD_LINUX_SOFT=0"
	finish
	exit 0
fi
case $VMM in
ringfold) label="linux virtio soft" ;;
qemu) label="linux virtio qemu-tcg" ;;
*)
	fail "linux virtio: RINGFOLD_LINUX_VMM='$VMM' is not ringfold or qemu"
	finish
	exit 1
	;;
esac
for f in vmlinuz initramfs.cpio.gz; do
	if [ ! -f "$GUEST/$f" ]; then
		fail "$label: $GUEST/$f does not exist: run make guest"
		finish
		exit 1
	fi
done
mkfs=$(command -v mkfs.ext4 || echo /sbin/mkfs.ext4)
debugfs=$(command -v debugfs || echo /sbin/debugfs)
for tool in "$mkfs" "$debugfs" python3 cpio; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		fail "$label: $tool is not installed (tools/install-deps.sh)"
		finish
		exit 1
	fi
done
if [ "$VMM" = qemu ] && ! command -v "$QEMU" >/dev/null 2>&1; then
	fail "$label: $QEMU is not installed (install qemu-system-x86)"
	finish
	exit 1
fi

# ---- the disks: an empty ext4 image, and one with a file, read-only
"$mkfs" -q -F -L rfdata "$t_tmp/data.img" 64M >/dev/null 2>&1 ||
	{ fail "$label: mkfs.ext4 of the data image failed"; finish; exit 1; }
mkdir -p "$t_tmp/rofiles"
echo "a file on the read-only disk of the ringfold virtio test" >"$t_tmp/rofiles/hello.txt"
"$mkfs" -q -F -L rfro -d "$t_tmp/rofiles" "$t_tmp/ro.img" 16M >/dev/null 2>&1 ||
	{ fail "$label: mkfs.ext4 -d of the read-only image failed"; finish; exit 1; }
ro_sha=$(sha256sum <"$t_tmp/rofiles/hello.txt" | cut -d' ' -f1)
ro_img_sum=$(cksum <"$t_tmp/ro.img")

# ---- the test initrd
mkdir -p "$t_tmp/cpio/test"
cp "$here/linux/virtio_run.sh" "$t_tmp/cpio/test/run.sh"
cp "$here/linux/dhcp.sh" "$t_tmp/cpio/test/dhcp.sh"
chmod 755 "$t_tmp/cpio/test/dhcp.sh"
(cd "$t_tmp/cpio" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$t_tmp/test.cpio" ||
	{ fail "$label: cannot build the test cpio"; finish; exit 1; }

# ---- the host's side of the network: a listener for the guest's upload,
# then (once the guest says it listens) a connection to the hostfwd port
# that sends the download. All on 127.0.0.1, bounded by the run's limit.
head -c 524288 /dev/urandom >"$t_tmp/down.bin"
down_sha=$(sha256sum <"$t_tmp/down.bin" | cut -d' ' -f1)
console_file=$t_tmp/console.txt
: >"$console_file"
python3 - "$t_tmp/ports" "$t_tmp/up.recv" "$t_tmp/down.bin" "$console_file" "$LIMIT" \
	>"$t_tmp/peer.log" 2>&1 <<'EOF' &
import socket, sys, time
ports_file, up_file, down_file, console, limit = sys.argv[1:6]
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
import os
os.rename(ports_file + ".tmp", ports_file)

# The guest's upload: everything until it closes.
up.settimeout(max(1, end - time.time()))
try:
    conn, _ = up.accept()
    conn.settimeout(max(1, end - time.time()))
    with open(up_file, "wb") as f:
        while True:
            b = conn.recv(65536)
            if not b:
                break
            f.write(b)
    conn.close()
    print("upload received")
except Exception as e:
    print("upload failed:", e)

# The download, once the guest listens.
data = open(down_file, "rb").read()
while time.time() < end:
    if b"=== net: listening" in open(console, "rb").read():
        break
    time.sleep(0.2)
while time.time() < end:
    try:
        s = socket.create_connection(("127.0.0.1", fwd_port), timeout=10)
        s.settimeout(max(1, end - time.time()))
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
        s.close()
        print("download sent")
        break
    except Exception as e:
        print("download attempt failed:", e)
        time.sleep(1)
EOF
peer=$!
for _ in $(seq 50); do
	[ -f "$t_tmp/ports" ] && break
	sleep 0.1
done
read -r up_port fwd_port <"$t_tmp/ports" 2>/dev/null || {
	fail "$label: the host's network peer did not start" "$(cat "$t_tmp/peer.log")"
	kill "$peer" 2>/dev/null
	finish
	exit 1
}
cmdline="console=ttyS0 quiet panic=-1 rf.modules=$MODULES rf.up_port=$up_port rf.fwd_port=$fwd_port"

# ---- the run: both boots in one VMM process
if [ "$VMM" = ringfold ]; then
	cmd=("$RINGFOLD" run --engine soft --mem "${MEM_MB}M"
		--kernel "$GUEST/vmlinuz" --initrd "$GUEST/initramfs.cpio.gz" --initrd "$t_tmp/test.cpio"
		--console "$console_file" --cmdline "$cmdline"
		--disk "$t_tmp/data.img" --disk "$t_tmp/ro.img,ro" --virtio-rng --virtio-console
		--net "user,hostfwd=tcp::$fwd_port-:$fwd_port")
else
	# One initrd for QEMU: the two concatenated, each padded to 4 bytes.
	{
		cat "$GUEST/initramfs.cpio.gz"
		size=$(stat -c %s "$GUEST/initramfs.cpio.gz")
		head -c $(((4 - size % 4) % 4)) /dev/zero
		cat "$t_tmp/test.cpio"
	} >"$t_tmp/initrd.img"
	cmd=("$QEMU" -machine pc -accel tcg -cpu max -m "$MEM_MB" -display none -nodefaults
		-monitor none -serial "file:$console_file" -kernel "$GUEST/vmlinuz"
		-initrd "$t_tmp/initrd.img" -append "$cmdline"
		-drive "file=$t_tmp/data.img,if=none,id=d0,format=raw"
		-device virtio-blk-pci,drive=d0,disable-legacy=on
		-drive "file=$t_tmp/ro.img,if=none,id=d1,format=raw,readonly=on"
		-device virtio-blk-pci,drive=d1,disable-legacy=on
		-device virtio-rng-pci,disable-legacy=on
		-chardev "file,id=hvc,path=$t_tmp/hvc.txt" -device virtio-serial-pci,disable-legacy=on
		-device virtconsole,chardev=hvc
		-netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$fwd_port-:$fwd_port"
		-device virtio-net-pci,netdev=n0,disable-legacy=on)
fi
start=$(date +%s%N)
timeout --kill-after=10 "$LIMIT" "${cmd[@]}" </dev/null >"$t_tmp/stdout" 2>"$t_tmp/stderr"
rc=$?
end=$(date +%s%N)
secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
kill "$peer" 2>/dev/null
wait "$peer" 2>/dev/null
console=$(tr -d '\r' <"$console_file" 2>/dev/null)
[ -f "$t_tmp/hvc.txt" ] && console+=$'\n'$(tr -d '\r' <"$t_tmp/hvc.txt")

# section NAME: the lines between "=== NAME" and "=== end NAME".
section() {
	awk -v b="=== $1" -v e="=== end $1" '
		$0 == b { on = 1; next }
		on && index($0, e) == 1 { exit }
		on { print }' <<<"$console"
}
has() { grep -qxF -- "$1" <<<"$2"; }

# ---- how the run ended
how=""
case $rc in
0) ;;
124 | 137) how="timed out after ${LIMIT} s" ;;
*) how="exit status $rc" ;;
esac
if grep -qE 'Kernel panic|BUG: |Oops|general protection fault' <<<"$console"; then
	how="${how:+$how, }the kernel reported: $(grep -m1 -E 'Kernel panic|BUG: |Oops|general protection fault' <<<"$console")"
fi
if [ -n "$how" ] || ! has "=== ringfold-virtio done" "$console"; then
	fail "$label: ${how:-the test did not finish} ($secs s)" "${console:-(no console output)}"
	[ -s "$t_tmp/stderr" ] && head -n 6 "$t_tmp/stderr" | sed 's/^/     | stderr: /'
	sed 's/^/     | peer: /' "$t_tmp/peer.log"
else
	pass "$label: two boots, the tests ran and the guest powered off ($secs s)"
fi
if has "=== ringfold-virtio boot 1" "$console" && has "=== ringfold-virtio boot 2" "$console"; then
	pass "$label: reboot -f rebuilt the machine and booted again"
else
	fail "$label: expected boot 1, a reboot and boot 2" "$(grep '^=== ringfold-virtio' <<<"$console")"
fi

# ---- virtio-blk
d1=$(section disk | grep -E '^[0-9a-f]{64}  ')
d2=$(section "disk again" | grep -E '^[0-9a-f]{64}  ')
if [ "$(wc -l <<<"$d1")" = 2 ] && [ "$d1" = "$d2" ]; then
	pass "$label: virtio-blk: files written on boot 1 read back on boot 2 with the same SHA-256"
else
	fail "$label: virtio-blk: boot 2 did not find boot 1's files intact" "boot 1:" "$d1" "boot 2:" "$d2"
fi
a_guest=$(awk '$2 == "a.bin" { print $1 }' <<<"$d1")
a_host=$("$debugfs" -R "cat /a.bin" "$t_tmp/data.img" 2>/dev/null | sha256sum | cut -d' ' -f1)
if [ -n "$a_guest" ] && [ "$a_guest" = "$a_host" ]; then
	pass "$label: virtio-blk: the host reads the same a.bin out of the image"
else
	fail "$label: virtio-blk: a.bin in the host image differs (guest ${a_guest:-none}, host $a_host)"
fi
ro=$(section ro)
if has "vdb ro 1" "$ro" && has "vdb: raw write refused" "$ro" && has "vdb: read-write mount refused" "$ro" &&
	has "vdb: file write refused" "$ro" && [ "$(cksum <"$t_tmp/ro.img")" = "$ro_img_sum" ]; then
	pass "$label: virtio-blk ,ro: read-only in sysfs, raw and file writes refused, image unchanged"
else
	fail "$label: virtio-blk ,ro: writes not refused" "$ro"
fi
if has "vdb hello.txt $ro_sha" "$ro"; then
	pass "$label: virtio-blk ,ro: the file on it reads back"
else
	fail "$label: virtio-blk ,ro: hello.txt (expected sha256 $ro_sha)" "$ro"
fi

# ---- virtio-rng
rng=$(section rng)
if grep -q '^rng_current virtio_rng' <<<"$rng" && has "hwrng bytes 64" "$rng" && has "hwrng: two reads differ" "$rng"; then
	pass "$label: virtio-rng: /dev/hwrng is virtio_rng and gives 64 bytes"
else
	fail "$label: virtio-rng" "$rng"
fi

# ---- virtio-console
if has "hvc0: written" "$(section hvc)" && grep -qF "hvc0: hello from the guest's virtio console" <<<"$console"; then
	pass "$label: virtio-console: what the guest writes to /dev/hvc0 reaches the console"
else
	fail "$label: virtio-console: /dev/hvc0 output missing" "$(section hvc)"
fi

# ---- virtio-net
net=$(section net)
if has "eth0 inet 10.0.2.15/24" "$net" && has "eth0 mac 52:54:00:12:34:56" "$net"; then
	pass "$label: virtio-net: DHCP from slirp gave 10.0.2.15/24 (MAC 52:54:00:12:34:56)"
else
	fail "$label: virtio-net: no 10.0.2.15/24 lease" "$net"
fi
up_guest=$(sed -n 's/^up sha256 //p' <<<"$net")
up_host=$(sha256sum <"$t_tmp/up.recv" 2>/dev/null | cut -d' ' -f1)
if [ -n "$up_guest" ] && [ "$up_guest" = "$up_host" ] && [ "$(stat -c %s "$t_tmp/up.recv")" = 524288 ]; then
	pass "$label: virtio-net: 512 KiB guest → host over TCP, SHA-256 matches"
else
	fail "$label: virtio-net: guest → host transfer (guest ${up_guest:-none}, host ${up_host:-none})" \
		"$net" "$(cat "$t_tmp/peer.log")"
fi
if has "down: 524288 bytes, sha256 $down_sha" "$net"; then
	pass "$label: virtio-net: 512 KiB host → guest through hostfwd, SHA-256 matches"
else
	fail "$label: virtio-net: host → guest transfer (expected sha256 $down_sha)" \
		"$(grep '^down' <<<"$net")" "$(cat "$t_tmp/peer.log")"
fi
finish
