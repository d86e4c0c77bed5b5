# Shared by the integration test scripts (sourced, not run): counters, a
# closing line, and the /dev/kvm policy (skip loudly, or fail under
# RINGFOLD_REQUIRE_KVM=1 as CI sets it).
BUILD=${BUILD:-build}
RINGFOLD=${RINGFOLD:-$BUILD/ringfold}
TESTKERNEL=${TESTKERNEL:-$BUILD/guest/testkernel.elf}
t_pass=0 t_fail=0 t_skip=0
t_tmp=$(mktemp -d)
trap 'rm -rf "$t_tmp"' EXIT

pass() { echo "PASS $1"; t_pass=$((t_pass + 1)); }
fail() {
	echo "FAIL $1"
	shift
	[ $# -gt 0 ] && printf '%s\n' "$@" | tail -n 30 | sed 's/^/     | /'
	t_fail=$((t_fail + 1))
}
skip() { echo "SKIP $1 *** NOT RUN: $2 ***"; t_skip=$((t_skip + 1)); }
finish() {
	if [ "$t_skip" -gt 0 ]; then
		echo "$t_pass passed, $t_fail failed, $t_skip skipped"
	else
		echo "$t_pass passed, $t_fail failed"
	fi
	[ "$t_fail" -eq 0 ]
}

# Returns 0 if kvm tests should run; otherwise records a skip (or, with
# RINGFOLD_REQUIRE_KVM=1, a failure) for the named test and returns 1.
kvm_available() {
	local name=$1
	if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
		return 0
	fi
	if [ "${RINGFOLD_REQUIRE_KVM:-0}" = 1 ]; then
		fail "$name" "/dev/kvm is not usable and RINGFOLD_REQUIRE_KVM=1"
	else
		skip "$name" "/dev/kvm is not usable on this host"
	fi
	return 1
}
