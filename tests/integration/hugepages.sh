#!/usr/bin/env bash
# --hugepages: guest RAM on 2 MiB huge pages. Without reserved huge pages the
# VMM must refuse with a clear message (status 1); with enough reserved (we
# reserve them for the test when we may, and give them back) the test kernel
# runs on them.
set -u
. "$(dirname "$0")/lib.sh"

engine=soft
[ -w /dev/kvm ] && engine=kvm
knob=/proc/sys/vm/nr_hugepages
old=$(cat "$knob" 2>/dev/null || echo 0)
restore() { [ -w "$knob" ] && echo "$old" >"$knob"; }

if [ -w "$knob" ]; then
	echo 0 >"$knob"
	if [ "$(awk '/HugePages_Total/ {print $2}' /proc/meminfo)" = 0 ]; then
		err=$("$RINGFOLD" run --engine $engine --hugepages --mem 64M --kernel "$TESTKERNEL" \
			--console "$t_tmp/c0" 2>&1)
		rc=$?
		if [ "$rc" -eq 1 ] && grep -q "huge pages" <<<"$err"; then
			pass "no huge pages reserved → clear error, exit status 1"
		else
			fail "no huge pages reserved: exit status $rc" "$err"
		fi
	fi
	echo 40 >"$knob" # 80 MiB
	if [ "$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)" -ge 32 ]; then
		out=$(timeout 120 "$RINGFOLD" run --engine $engine --hugepages --mem 64M \
			--kernel "$TESTKERNEL" --cmdline "only=paging-4k,paging-2m,tsc" 2>&1)
		rc=$?
		if [ "$rc" -eq 33 ]; then
			pass "test kernel runs with guest RAM on huge pages ($engine)"
		else
			fail "test kernel on huge pages: exit status $rc" "$out"
		fi
	else
		skip "guest RAM on huge pages" "the kernel could not reserve 32 huge pages"
	fi
	restore
else
	skip "huge pages" "$knob is not writable (not root?)"
fi
finish
