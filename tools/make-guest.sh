#!/usr/bin/env bash
# Builds ringfold's default Linux guest from Debian packages, installing
# nothing on the host:
#   $BUILD/guest-linux/vmlinuz             Debian's stock kernel
#   $BUILD/guest-linux/initramfs.cpio.gz   busybox, /init (guest/linux/init),
#                                          the kernel's virtio and ext4 modules
#   $BUILD/guest-linux/busybox             the same busybox, for host-side
#                                          comparisons (tests/integration/linux_soft.sh)
# Downloads (apt-get download) are cached: the kernel package's files in
# $BUILD/debian (tools/fetch-debian-kernel.sh --modules), busybox-static's
# package in $BUILD/guest-linux/dl. Once cached it works offline, and it
# does nothing when the inputs have not changed. Needs apt-get, dpkg-deb,
# cpio and gzip (tools/install-deps.sh); no root, no stdin.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
out=$BUILD/guest-linux
dl=$out/dl

die() {
	echo "make-guest: $*" >&2
	exit 1
}
for tool in apt-get dpkg-deb cpio gzip; do
	command -v "$tool" >/dev/null 2>&1 || die "'$tool' is not installed (tools/install-deps.sh installs what is needed)"
done

# The modules the guest carries, by module name; modules.dep adds what they
# depend on (virtio, virtio_ring, virtio_pci_*_dev, net_failover, failover,
# jbd2, mbcache, crc16). crc32c_generic is a soft dependency of ext4 and
# jbd2 (the kernel asks modprobe for crypto-crc32c when it needs it), which
# modules.dep does not list.
MODULES="virtio_pci virtio_blk virtio_net virtio_console virtio_rng ext4 crc32c_generic"

mkdir -p "$out" "$dl"

# ---- the kernel and its modules
BUILD=$BUILD bash tools/fetch-debian-kernel.sh --modules >/dev/null ||
	die "could not get Debian's kernel package (see the message above; the first run needs apt and the network)"
kmods=$BUILD/debian/modules
versions=$(cd "$kmods" && ls -d -- */ 2>/dev/null | tr -d / || true)
[ "$(wc -w <<<"$versions")" = 1 ] || die "expected one kernel version in $kmods, found: ${versions:-none}"
kver=$versions

# ---- busybox (static: the initramfs has no libc)
if [ ! -x "$out/busybox" ]; then
	deb=$(ls "$dl"/busybox-static_*.deb 2>/dev/null | head -n 1 || true)
	if [ -z "$deb" ]; then
		(cd "$dl" && apt-get download -q busybox-static) </dev/null >/dev/null 2>"$dl/apt.log" ||
			die "apt-get download busybox-static failed: $(tail -n 1 "$dl/apt.log")"
		deb=$(ls "$dl"/busybox-static_*.deb | head -n 1)
	fi
	rm -rf "$dl/x"
	dpkg-deb -x "$deb" "$dl/x" || die "cannot unpack $deb"
	[ -x "$dl/x/bin/busybox" ] || die "$deb has no bin/busybox"
	cp "$dl/x/bin/busybox" "$out/busybox.tmp"
	mv "$out/busybox.tmp" "$out/busybox"
	rm -rf "$dl/x"
fi
busybox=$out/busybox

# ---- nothing to do when no input changed
stamp=$( {
	echo "$kver $MODULES"
	cat "$BUILD/debian/package"
	cksum "$BUILD/debian/vmlinuz" "$busybox" guest/linux/init tools/make-guest.sh
} | cksum)
if [ -f "$out/vmlinuz" ] && [ -f "$out/initramfs.cpio.gz" ] && [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then
	echo "make-guest: $out is up to date (kernel $kver)"
	exit 0
fi

# ---- module dependencies: busybox's depmod over the whole package once
# (Debian's package has no modules.dep: its postinst runs depmod), then the
# closure of $MODULES.
if [ ! -f "$kmods/$kver/modules.dep" ]; then
	mkdir -p "$out/depmod/lib/modules"
	ln -sfn "$(cd "$kmods/$kver" && pwd)" "$out/depmod/lib/modules/$kver"
	"$busybox" depmod -b "$out/depmod" "$kver" || die "depmod over $kmods/$kver failed"
	rm -rf "$out/depmod"
fi
declare -A path_of deps_of
while IFS=: read -r path deps; do
	name=$(basename "$path" .ko)
	name=${name//-/_}
	path_of[$name]=$path
	deps_of[$name]=$deps
done <"$kmods/$kver/modules.dep"
declare -A wanted
add_module() { # name or path of a module, and everything it depends on
	local name=${1##*/}
	name=${name%.ko}
	name=${name//-/_}
	[ -n "${path_of[$name]:-}" ] || die "module $name is not in $(cat "$BUILD/debian/package")"
	[ -n "${wanted[$name]:-}" ] && return 0
	wanted[$name]=${path_of[$name]}
	local d
	for d in ${deps_of[$name]}; do
		add_module "$d"
	done
}
for m in $MODULES; do
	add_module "$m"
done

# ---- the root file system
stage=$out/root
rm -rf "$stage"
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,lib/modules/"$kver"}
chmod 1777 "$stage/tmp"
chmod 700 "$stage/root"
cp "$busybox" "$stage/bin/busybox"
"$busybox" --list-full | while read -r applet; do
	[ "$applet" = bin/busybox ] && continue
	mkdir -p "$stage/$(dirname "$applet")"
	ln -s /bin/busybox "$stage/$applet"
done
install -m 755 guest/linux/init "$stage/init"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$stage/etc/passwd"
printf 'root:x:0:\n' >"$stage/etc/group"
echo ringfold >"$stage/etc/hostname"
mdir=$stage/lib/modules/$kver
for name in "${!wanted[@]}"; do
	mkdir -p "$mdir/$(dirname "${wanted[$name]}")"
	cp "$kmods/$kver/${wanted[$name]}" "$mdir/${wanted[$name]}"
done
cp "$kmods/$kver/modules.builtin" "$mdir/"
# modules.dep, modules.alias (crypto-crc32c → crc32c_generic), modules.symbols
# for busybox's modprobe, which is also the kernel's /sbin/modprobe.
"$busybox" depmod -b "$stage" "$kver" || die "depmod over the guest's modules failed"
# Fixed times and owners: the same inputs give the same image.
find "$stage" -exec touch -h -d @0 {} +

# newc archive entry without data (a directory or a device node), for what
# an unprivileged build cannot create on disk: /dev/console must exist
# before /init runs, since the kernel opens it for init's stdin and stdout.
newc_entry() { # name mode rdevmajor rdevminor ino
	local name=$1 namesize=$((${#1} + 1))
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%s\0' \
		"$5" "$2" 0 0 1 0 0 0 0 "$3" "$4" "$namesize" 0 "$name"
	local pad=$(((4 - (110 + namesize) % 4) % 4))
	[ "$pad" = 0 ] || head -c "$pad" /dev/zero
}
nodes() {
	newc_entry dev $((0040755)) 0 0 1
	newc_entry dev/console $((0020600)) 5 1 2
	newc_entry dev/null $((0020666)) 1 3 3
	newc_entry TRAILER!!! 0 0 0 0
}
tmp=$out/initramfs.cpio.gz.tmp
{
	nodes
	(cd "$stage" && find . -mindepth 1 ! -path ./dev | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --reproducible --quiet)
} | gzip -9 -n >"$tmp" || die "cannot write $tmp"
mv "$tmp" "$out/initramfs.cpio.gz"
cp "$BUILD/debian/vmlinuz" "$out/vmlinuz.tmp"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
echo "$kver" >"$out/kernel-version"
echo "$stamp" >"$out/.stamp"
echo "make-guest: built $out/vmlinuz (Linux $kver) and $out/initramfs.cpio.gz ($(wc -c <"$out/initramfs.cpio.gz") bytes, ${#wanted[@]} modules)"
