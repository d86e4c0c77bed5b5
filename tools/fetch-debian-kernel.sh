#!/usr/bin/env bash
# Fetches Debian's stock kernel (the package linux-image-amd64 points at) with
# `apt-get download` and unpacks it under $BUILD/debian without installing
# anything on the host. Prints the path of the vmlinuz on success.
# Used by `make check` (a real-world input for the bzImage loader's tests).
set -euo pipefail
BUILD=${BUILD:-build}
dest=$BUILD/debian
mkdir -p "$dest"
if [ -f "$dest/vmlinuz" ]; then
	echo "$dest/vmlinuz"
	exit 0
fi
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -nE 's/^ *Depends: (linux-image-[^ ]+)$/\1/p' | head -n1)
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
cp "$work"/x/boot/vmlinuz-* "$dest/vmlinuz"
cp "$work"/x/boot/config-* "$dest/config" 2>/dev/null || true
echo "$pkg" >"$dest/package"
echo "$dest/vmlinuz"
