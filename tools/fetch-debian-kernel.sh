#!/usr/bin/env bash
# Fetches Debian's stock kernel (the package linux-image-amd64 points at) with
# `apt-get download` and unpacks it under $BUILD/debian without installing
# anything on the host. Prints the path of the vmlinuz on success.
# Used by `make check` (a real-world input for the bzImage loader's tests).
#
# With --modules it also keeps the package's modules, unpacked, in
# $BUILD/debian/modules/<version>/ (tools/make-guest.sh picks the guest's
# modules from there). Modules and vmlinuz then always come from one package:
# if the cached vmlinuz differs from the one in the package the modules were
# taken from, it is replaced, since a kernel only loads its own modules.
set -euo pipefail
BUILD=${BUILD:-build}
want_modules=0
case ${1:-} in
--modules) want_modules=1 ;;
"") ;;
*) echo "fetch-debian-kernel: unknown option '$1' (only --modules)" >&2; exit 2 ;;
esac
dest=$BUILD/debian
mkdir -p "$dest"
modules_ready() { [ -f "$dest/modules/.complete" ]; }
if [ -f "$dest/vmlinuz" ] && { [ "$want_modules" = 0 ] || modules_ready; }; then
	echo "$dest/vmlinuz"
	exit 0
fi
pkg=
# The modules must match the cached kernel: fetch the same package again.
[ -f "$dest/vmlinuz" ] && [ -s "$dest/package" ] && pkg=$(cat "$dest/package")
[ -n "$pkg" ] || pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -nE 's/^ *Depends: (linux-image-[^ ]+)$/\1/p' | head -n1)
if [ -z "$pkg" ]; then
	apt-get update -q >/dev/null 2>&1 || true
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -nE 's/^ *Depends: (linux-image-[^ ]+)$/\1/p' | head -n1)
fi
[ -n "$pkg" ] || { echo "fetch-debian-kernel: cannot resolve linux-image-amd64 (apt lists?)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download -q "$pkg" >/dev/null 2>&1) ||
	{ echo "fetch-debian-kernel: apt-get download $pkg failed" >&2; exit 1; }
dpkg-deb -x "$work"/*.deb "$work/x"
if [ -f "$dest/vmlinuz" ] && ! cmp -s "$work"/x/boot/vmlinuz-* "$dest/vmlinuz"; then
	echo "fetch-debian-kernel: $pkg is a different build from the cached $dest/vmlinuz: replacing it so that kernel and modules match" >&2
fi
cp "$work"/x/boot/vmlinuz-* "$dest/vmlinuz"
cp "$work"/x/boot/config-* "$dest/config" 2>/dev/null || true
echo "$pkg" >"$dest/package"
if [ "$want_modules" = 1 ]; then
	# Copied next to the final place, then renamed: an interrupted run
	# leaves no half-filled modules directory behind.
	rm -rf "$dest/modules" "$dest/modules.tmp"
	mkdir -p "$dest/modules.tmp"
	cp -a "$work"/x/lib/modules/. "$dest/modules.tmp/"
	touch "$dest/modules.tmp/.complete"
	mv "$dest/modules.tmp" "$dest/modules"
fi
echo "$dest/vmlinuz"
