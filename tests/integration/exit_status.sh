#!/usr/bin/env bash
# How the guest ends decides ringfold's exit status. Tiny Multiboot kernels
# (a.out kludge, built here byte by byte) power off through ACPI, reset
# through the i8042 and the 0xCF9 reset register, triple-fault, write to the
# debug-exit port, print on the serial console, and idle in HLT (which must
# not spin a host core). Every case runs on each
# engine of ENGINES: kvm when /dev/kvm is usable, and soft always.
set -u
. "$(dirname "$0")/lib.sh"

# mbkernel FILE HEXBYTES: a Multiboot a.out-kludge kernel loaded at 1 MiB with
# its entry right after the 32-byte header.
mbkernel() {
	local file=$1 code=$2
	local magic=0x1BADB002 flags=0x00010000
	local sum=$(((-(magic + flags)) & 0xffffffff))
	le32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $((($1 >> 8) & 255)) $((($1 >> 16) & 255)) $((($1 >> 24) & 255)); }
	{
		printf "$(le32 $magic)$(le32 $flags)$(le32 $sum)"
		printf "$(le32 0x100000)$(le32 0x100000)$(le32 0)$(le32 0)$(le32 0x100020)"
		printf "$(sed -E 's/([0-9a-f]{2}) ?/\\x\1/g' <<<"$code")"
		head -c 64 /dev/zero # zeros for a null IDT descriptor, and padding
	} >"$file"
}

# Code snippets (32-bit protected mode, flat segments).
POWEROFF="66 ba 04 06 66 b8 00 34 66 ef f4 eb fd"           # PM1a_CNT = SLP_TYP 5 | SLP_EN
RESET_CF9="66 ba f9 0c b0 06 ee f4 eb fd"                   # 0xCF9 = 6
RESET_8042="b0 fe e6 64 f4 eb fd"                           # i8042 pulse reset
TRIPLE="0f 01 1d 40 00 10 00 0f 0b f4"                      # lidt [0x100040] (limit 0); ud2
DEBUG42="b8 42 00 00 00 e7 f4 f4"                           # out 0x42 to port 0xf4
IDLE_PIT="b0 34 e6 43 b0 a9 e6 40 b0 04 e6 40 f4 eb fd"  # PIT channel 0 at 1 kHz; hlt (IF=0) forever
HELLO="66 ba f8 03 b0 68 ee b0 69 ee b0 0a ee $POWEROFF"    # "hi\n" on COM1, power off

run_case() { # name, expected status, code, extra args... (engine: $engine)
	local name="$engine: $1" want=$2 code=$3
	shift 3
	mbkernel "$t_tmp/k.bin" "$code"
	local out rc
	out=$(timeout 60 "$RINGFOLD" run --engine "$engine" --kernel "$t_tmp/k.bin" --console "$t_tmp/console" "$@" 2>&1)
	rc=$?
	if [ "$rc" -eq "$want" ]; then
		pass "$name → exit status $want"
	else
		fail "$name: exit status $rc, expected $want" "$out"
	fi
	last_out=$out
}

ENGINES="soft"
kvm_available "exit statuses on kvm" && ENGINES="kvm soft"

for engine in $ENGINES; do
	run_case "ACPI power-off" 0 "$POWEROFF"
	run_case "debug-exit 0x42" 133 "$DEBUG42"
	run_case "triple fault" 4 "$TRIPLE"
	grep -q "rip=" <<<"$last_out" && pass "$engine: triple fault dumps registers" ||
		fail "$engine: triple fault dumps registers" "$last_out"
	run_case "reset via 0xCF9 with --no-reboot" 8 "$RESET_CF9" --no-reboot
	run_case "reset via i8042 with --no-reboot" 8 "$RESET_8042" --no-reboot
	rm -f "$t_tmp/console"
	run_case "serial output to a file" 0 "$HELLO"
	if [ "$(cat "$t_tmp/console" 2>/dev/null)" = "hi" ]; then
		pass "$engine: console file holds what the guest wrote"
	else
		fail "$engine: console file holds what the guest wrote" "got: $(od -c "$t_tmp/console" 2>&1 | head -3)"
	fi
	# A reset without --no-reboot reboots: the rebooted guest resets again,
	# so stop it after a moment and check it was still running (killed by
	# the timeout rather than exiting).
	mbkernel "$t_tmp/k.bin" "$RESET_CF9"
	timeout 3 "$RINGFOLD" run --engine "$engine" --kernel "$t_tmp/k.bin" --console "$t_tmp/console" >/dev/null 2>&1
	rc=$?
	[ "$rc" -eq 124 ] && pass "$engine: reset reboots the guest (still running after 3 s)" ||
		fail "$engine: reset reboots the guest: exit status $rc"
	# Idle: a guest halted while the PIT ticks at 1 kHz (the engine wakes
	# for every deadline) must use under 10 % of a host core over 3 s.
	mbkernel "$t_tmp/k.bin" "$IDLE_PIT"
	"$RINGFOLD" run --engine "$engine" --kernel "$t_tmp/k.bin" --console "$t_tmp/console" >/dev/null 2>&1 &
	pid=$!
	sleep 1
	t0=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null)
	sleep 3
	t1=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null)
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	if [ -n "$t0" ] && [ -n "$t1" ]; then
		pct=$(((t1 - t0) * 100 / (3 * $(getconf CLK_TCK))))
		[ "$pct" -lt 10 ] && pass "$engine: idle guest in HLT uses $pct % of a host core" ||
			fail "$engine: idle guest in HLT uses $pct % of a host core (limit 10 %)"
	else
		fail "$engine: idle guest in HLT: the VMM was not running to measure"
	fi
done
finish
