# /test/run.sh of tests/integration/linux_virtio.sh: the virtio devices as
# Linux's own drivers use them. The machine has
#   /dev/vda  an empty ext4 image (read-write)
#   /dev/vdb  an ext4 image holding hello.txt, attached read-only
#   /dev/hwrng (virtio-rng), /dev/hvc0 (virtio-console)
#   eth0      virtio-net on user networking (libslirp)
# and its command line carries rf.up_port (a host listener at 10.0.2.2 that
# takes an upload) and rf.fwd_port (where the host's hostfwd connection
# arrives in the guest).
#
# Boot 1 writes files to vda, checks vdb refuses writes, reads the hwrng,
# writes to hvc0, takes a DHCP lease and moves data both ways over TCP, then
# reboots the machine (`reboot -f`: ringfold builds it anew from the same
# configuration). Boot 2 finds vda's files again and prints their checksums;
# /init then powers off. Results go between "=== name" and "=== end name"
# lines for the host to compare.
param() {
	for a in $(cat /proc/cmdline); do
		case $a in
		"$1="*) echo "${a#*=}" ;;
		esac
	done
}
mkdir -p /mnt/data /mnt/ro

if ! mount -t ext4 /dev/vda /mnt/data; then
	echo "=== ringfold-virtio: cannot mount /dev/vda"
	exit 1
fi
boot=1
[ -f /mnt/data/boot1.done ] && boot=2
echo "=== ringfold-virtio boot $boot"

if [ "$boot" = 2 ]; then
	echo "=== disk again"
	(cd /mnt/data && sha256sum a.bin b.txt)
	echo "=== end disk again"
	umount /mnt/data
	echo "=== ringfold-virtio done"
	exit 0
fi

echo "=== disk"
dd if=/dev/urandom of=/mnt/data/a.bin bs=4k count=256 2>/dev/null
echo "written on boot 1 of the ringfold virtio test" >/mnt/data/b.txt
(cd /mnt/data && sha256sum a.bin b.txt)
: >/mnt/data/boot1.done
sync
umount /mnt/data && echo "vda: unmounted"
echo "=== end disk"

echo "=== ro"
echo "vdb ro $(cat /sys/block/vdb/ro)"
if dd if=/dev/zero of=/dev/vdb bs=512 count=1 conv=fsync 2>/dev/null; then
	echo "vdb: raw write accepted"
else
	echo "vdb: raw write refused"
fi
# busybox's mount retries read-only when a read-write mount is refused.
mount -t ext4 -o rw /dev/vdb /mnt/ro 2>/dev/null
if grep -q '^/dev/vdb /mnt/ro ext4 rw' /proc/mounts; then
	echo "vdb: mounted read-write"
else
	echo "vdb: read-write mount refused"
fi
grep -q ' /mnt/ro ' /proc/mounts || mount -t ext4 -o ro /dev/vdb /mnt/ro
if touch /mnt/ro/new 2>/dev/null; then
	echo "vdb: file write accepted"
else
	echo "vdb: file write refused"
fi
echo "vdb hello.txt $(sha256sum </mnt/ro/hello.txt | cut -d' ' -f1)"
umount /mnt/ro
echo "=== end ro"

echo "=== rng"
echo "rng_current $(cat /sys/class/misc/hw_random/rng_current)"
echo "hwrng bytes $(dd if=/dev/hwrng bs=64 count=1 2>/dev/null | wc -c)"
a=$(dd if=/dev/hwrng bs=32 count=1 2>/dev/null | sha256sum)
b=$(dd if=/dev/hwrng bs=32 count=1 2>/dev/null | sha256sum)
[ "$a" != "$b" ] && echo "hwrng: two reads differ"
echo "=== end rng"

echo "=== hvc"
if echo "hvc0: hello from the guest's virtio console" >/dev/hvc0; then
	echo "hvc0: written"
fi
echo "=== end hvc"

echo "=== net"
up_port=$(param rf.up_port)
fwd_port=$(param rf.fwd_port)
ip link set lo up
ip link set eth0 up
echo "eth0 mac $(cat /sys/class/net/eth0/address)"
timeout 60 udhcpc -i eth0 -s /test/dhcp.sh -n -q -t 10 -T 3 >/tmp/udhcpc.log 2>&1 ||
	{ echo "udhcpc failed:"; cat /tmp/udhcpc.log; }
ip -4 -o addr show dev eth0 | awk '{ print "eth0 inet " $4 }'
# Guest → host: 512 KiB to the host's listener.
dd if=/dev/urandom of=/tmp/up.bin bs=4k count=128 2>/dev/null
echo "up sha256 $(sha256sum </tmp/up.bin | cut -d' ' -f1)"
if timeout 120 nc 10.0.2.2 "$up_port" </tmp/up.bin; then
	echo "up: sent"
else
	echo "up: nc failed"
fi
# Host → guest: the host connects to its hostfwd port once this line is out.
timeout 120 nc -l -p "$fwd_port" </dev/null >/tmp/down.bin &
nc_pid=$!
sleep 1
echo "=== net: listening on $fwd_port"
wait $nc_pid
echo "down: $(wc -c </tmp/down.bin) bytes, sha256 $(sha256sum </tmp/down.bin | cut -d' ' -f1)"
echo "=== end net"

echo "=== ringfold-virtio rebooting"
sync
reboot -f
