#!/usr/bin/env bash
# Virtio devices end to end: the test kernel's virtio-blk and virtio-rng
# checks (guest/checks_virtio.c: a small virtio 1.x PCI driver) against
# ringfold's devices on the kvm engine (ioeventfd notifications, irqfd
# MSI-X) and on the soft engine (notifications through the bus, MSI through
# its own APIC), and against QEMU's devices as the reference.
#
# The disk is a 1 MiB image whose sector 0 holds the test pattern; the guest
# reads it, writes sector 1, flushes, reads it back. After the VM is gone
# sector 1 must hold what the guest wrote (and, read-only, the image must be
# unchanged). Without --disk/--virtio-rng both checks are skips.
set -u
. "$(dirname "$0")/lib.sh"

QEMU=${QEMU:-qemu-system-x86_64}
CHECKS="only=virtio-blk,virtio-rng"

# The test disk: "RINGFOLD VIRTIO TEST DISK\n", then byte i = i * 7 + 3 up
# to 512, then zeroes to 1 MiB.
make_disk() { # path
	{
		printf 'RINGFOLD VIRTIO TEST DISK\n'
		for ((i = 26; i < 512; i++)); do
			printf "\\$(printf '%03o' $(((i * 7 + 3) & 255)))"
		done
	} >"$1"
	truncate -s 1M "$1"
}

# What the guest writes to sector 1: byte i = i * 13 + 0x5A.
make_sector1() { # path
	for ((i = 0; i < 512; i++)); do
		printf "\\$(printf '%03o' $(((i * 13 + 0x5a) & 255)))"
	done >"$1"
}

make_sector1 "$t_tmp/sector1.want"
make_disk "$t_tmp/pristine.img"

sector1_written() { # image
	dd if="$1" bs=512 skip=1 count=1 status=none | cmp -s - "$t_tmp/sector1.want"
}

run_ringfold() { # name, engine, extra options...; sets out and rc
	local engine=$2
	shift 2
	out=$(timeout 120 "$RINGFOLD" run --engine "$engine" --mem 256M --kernel "$TESTKERNEL" \
		--cmdline "$CHECKS" "$@" 2>&1 </dev/null)
	rc=$?
}

for engine in kvm soft; do
	name="virtio $engine"
	if [ "$engine" = kvm ] && ! kvm_available "$name"; then
		continue
	fi
	img="$t_tmp/vtest.img"
	cp "$t_tmp/pristine.img" "$img"
	run_ringfold "$name" "$engine" --disk "$img" --virtio-rng
	if [ "$rc" -eq 33 ] && grep -qE '^ok virtio-blk: 2048 sectors, serial vtest.img, read\+write\+flush over MSI-X' <<<"$out" &&
		grep -qE '^ok virtio-rng: 64 \+ 64 random bytes over INTx' <<<"$out"; then
		pass "$name: virtio-blk (MSI-X) and virtio-rng (INTx) checks ($(grep -E '^testkernel:' <<<"$out"))"
	else
		fail "$name: exit status $rc" "$out"
	fi
	if sector1_written "$img"; then
		pass "$name: the guest's flushed write is in the image"
	else
		fail "$name: sector 1 of the image is not what the guest wrote" "$(od -An -tx1 -j512 -N32 "$img")"
	fi

	# Read-only: the write is refused and the image stays as it was.
	cp "$t_tmp/pristine.img" "$img"
	run_ringfold "$name ro" "$engine" --disk "$img,ro"
	if [ "$rc" -eq 33 ] && grep -qE '^ok virtio-blk: .*read-only: sector 0 read, a write refused' <<<"$out" &&
		cmp -s "$img" "$t_tmp/pristine.img"; then
		pass "$name: --disk ...,ro refuses the write, image unchanged"
	else
		fail "$name: --disk ...,ro (exit status $rc)" "$out"
	fi

	# No virtio devices: both checks skip.
	run_ringfold "$name none" "$engine"
	if [ "$rc" -eq 33 ] && grep -q '^skip virtio-blk' <<<"$out" && grep -q '^skip virtio-rng' <<<"$out"; then
		pass "$name: without devices both checks are skips"
	else
		fail "$name: without devices (exit status $rc)" "$out"
	fi
done

# cache=none (O_DIRECT; the guest's 512-byte write at sector 1 goes through
# the page cache, its page-aligned reads straight to the file).
img="$t_tmp/vtest.img"
cp "$t_tmp/pristine.img" "$img"
run_ringfold "virtio soft cache=none" soft --disk "$img,cache=none"
if grep -q 'does not support O_DIRECT' <<<"$out"; then
	skip "virtio soft cache=none" "the file system of $t_tmp has no O_DIRECT"
elif [ "$rc" -eq 33 ] && grep -q '^ok virtio-blk: .*read+write+flush' <<<"$out" && sector1_written "$img"; then
	pass "virtio soft: --disk ...,cache=none"
else
	fail "virtio soft: --disk ...,cache=none (exit status $rc)" "$out"
fi

# Bad --disk arguments: a usage error (2), or a load error (1) for a file
# that cannot be opened; never a crash.
"$RINGFOLD" run --kernel "$TESTKERNEL" --disk "$img,cache=sometimes" >/dev/null 2>&1
r1=$?
"$RINGFOLD" run --engine soft --kernel "$TESTKERNEL" --disk "$t_tmp/missing.img" >"$t_tmp/err" 2>&1
r2=$?
if [ "$r1" -eq 2 ] && [ "$r2" -eq 1 ] && grep -q 'missing.img' "$t_tmp/err"; then
	pass "virtio: bad --disk options are refused (status 2), a missing image too (status 1)"
else
	fail "virtio: bad --disk handling (status $r1 and $r2)" "$(cat "$t_tmp/err")"
fi

# The same checks against QEMU's virtio devices (modern only): the
# reference that the guest driver itself is right.
name="virtio qemu (reference)"
if ! command -v "$QEMU" >/dev/null 2>&1; then
	skip "$name" "$QEMU is not installed"
else
	img="$t_tmp/qemu.img"
	cp "$t_tmp/pristine.img" "$img"
	out=$(timeout --kill-after=5 120 "$QEMU" -machine pc -accel tcg -cpu max -m 256 \
		-display none -serial stdio -monitor none -no-reboot \
		-device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$TESTKERNEL" -append "$CHECKS" \
		-drive "file=$img,format=raw,if=none,id=d0" \
		-device virtio-blk-pci,drive=d0,disable-legacy=on,serial=vtest.img \
		-device virtio-rng-pci,disable-legacy=on </dev/null 2>&1 | tr -d '\r')
	rc=${PIPESTATUS[0]}
	if grep -qE '^ok virtio-blk: 2048 sectors, serial vtest.img, read\+write\+flush' <<<"$out" &&
		grep -q '^ok virtio-rng' <<<"$out" && sector1_written "$img"; then
		pass "$name: the guest driver passes against QEMU's devices"
	else
		fail "$name" "$out"
	fi
fi
finish
