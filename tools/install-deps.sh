#!/usr/bin/env bash
# Installs what building and testing ringfold needs on Debian/Ubuntu, and only
# what is missing. Runtime needs libc plus liblzma, zlib and libzstd (host
# decompression of Linux kernels), liburing (the virtio I/O threads) and
# libslirp (--net user); e2fsprogs and python3 make the disks and the network
# peer of the Linux virtio test; the rest is for the
# test kernel (gcc, binutils), fuzzing (clang + libFuzzer), cross-checks and
# benchmarks (QEMU, gnuplot) and table validation (acpica-tools).
set -euo pipefail
packages=(make gcc binutils clang libclang-rt-dev qemu-system-x86 acpica-tools gnuplot-nox
	cpio zstd xz-utils liblzma-dev zlib1g-dev libzstd-dev liburing-dev libslirp-dev e2fsprogs python3)
# Debian 12 names libFuzzer's runtime after the clang version.
if ! apt-cache show libclang-rt-dev >/dev/null 2>&1; then
	v=$(clang --version 2>/dev/null | sed -nE 's/.*clang version ([0-9]+).*/\1/p' | head -n1)
	packages=("${packages[@]/libclang-rt-dev/libclang-rt-${v:-14}-dev}")
fi
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: everything is installed"
	exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
