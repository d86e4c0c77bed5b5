#!/usr/bin/env bash
# The command line as a user meets it: help, version, and every kind of bad
# argument or bad file gets one clear line on stderr and the documented status.
set -u
. "$(dirname "$0")/lib.sh"

expect() { # name, expected-status, stderr-regex, args...
	local name=$1 want=$2 re=$3
	shift 3
	local err rc
	err=$("$RINGFOLD" "$@" 2>&1 >/dev/null)
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		fail "$name: exit status $rc, expected $want" "$err"
	elif [ -n "$re" ] && ! grep -qE -- "$re" <<<"$err"; then
		fail "$name: stderr does not match /$re/" "$err"
	elif [ "$want" -eq 2 ] && [ "$(wc -l <<<"$err")" -ne 1 ]; then
		fail "$name: expected exactly one line on stderr" "$err"
	else
		pass "$name"
	fi
}

out=$("$RINGFOLD" --help) && grep -q 'ringfold run' <<<"$out" && pass "--help" || fail "--help" "$out"
out=$("$RINGFOLD" run --help) && grep -q -- '--kernel' <<<"$out" && grep -q -- '--engine' <<<"$out" &&
	pass "run --help" || fail "run --help" "$out"
out=$("$RINGFOLD" --version) && grep -qE '^ringfold [0-9]+\.[0-9]+' <<<"$out" && pass "--version" ||
	fail "--version" "$out"

expect "no command" 2 "" 
expect "unknown command" 2 "unknown command 'frob'" frob
expect "unknown option" 2 "unknown option '--frobnicate'" run --frobnicate
expect "missing value" 2 "needs a value" run --kernel
# Without --kernel, run boots the default Linux guest found beside the binary
# (make guest); a copy of the binary alone in a directory has none.
cp "$RINGFOLD" "$t_tmp/ringfold-alone"
RINGFOLD=$t_tmp/ringfold-alone expect "no kernel, no default guest" 1 \
	"default guest is not built .*guest-linux/vmlinuz.*run .make guest." run
expect "bad --mem" 2 "--mem: 'lots'" run --kernel x --mem lots
expect "too small --mem" 2 "outside 16M" run --kernel x --mem 1M
expect "bad --cpus" 2 "--cpus: '0'" run --kernel x --cpus 0
expect "too many --cpus" 2 "--cpus: '65'" run --kernel x --cpus 65
expect "bad --engine" 2 "--engine: 'vmware'" run --kernel x --engine vmware
expect "stray argument" 2 "unexpected argument 'extra'" run --kernel x extra

# Bad files: status 1 and a message naming the file and the problem. These
# run on any engine, since loading happens before the guest starts.
engine=kvm
[ -w /dev/kvm ] || engine=auto
expect "missing kernel file" 1 "$t_tmp/nope.*No such file" run --engine $engine --kernel "$t_tmp/nope"
head -c 5000 /dev/urandom >"$t_tmp/garbage"
expect "garbage kernel" 1 "garbage.*not a bzImage or Multiboot" run --engine $engine --kernel "$t_tmp/garbage"
: >"$t_tmp/empty"
expect "empty kernel" 1 "empty" run --engine $engine --kernel "$t_tmp/empty"
expect "directory as kernel" 1 "not a regular file" run --engine $engine --kernel "$t_tmp"
if [ -f "$TESTKERNEL" ]; then
	expect "missing initrd" 1 "$t_tmp/noinitrd.*No such file" run --engine $engine \
		--kernel "$TESTKERNEL" --initrd "$t_tmp/noinitrd"
	head -c 1000 "$TESTKERNEL" >"$t_tmp/truncated.elf"
	expect "truncated kernel" 1 "truncated.elf" run --engine $engine --kernel "$t_tmp/truncated.elf"
else
	fail "test kernel missing at $TESTKERNEL (run make guest)"
fi
# --engine auto says which engine it chose and why, and the guest runs on it.
if [ -f "$TESTKERNEL" ]; then
	err=$("$RINGFOLD" run -v --engine auto --kernel "$TESTKERNEL" --console "$t_tmp/auto.txt" 2>&1 >/dev/null)
	rc=$?
	if [ "$rc" -eq 33 ] || [ "$rc" -eq 35 ]; then
		if grep -qE "^ringfold: engine: (kvm|soft) \(.+\)$" <<<"$err"; then
			pass "--engine auto: $(grep -E '^ringfold: engine:' <<<"$err" | head -n1)"
		else
			fail "--engine auto does not say which engine and why" "$err"
		fi
	else
		fail "--engine auto: exit status $rc" "$err"
	fi
fi
finish
