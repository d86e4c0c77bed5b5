#!/usr/bin/env bash
# The soft engine against the host CPU: a few thousand generated instruction
# sequences (fixed seed, so a failure reproduces with the command printed
# below). `make soak` runs millions with fresh seeds.
set -u
BUILD=${BUILD:-build}
bin=$BUILD/difftest
if [ ! -x "$bin" ]; then
	echo "difftest: $bin not built (make BUILD=$BUILD $bin)"
	echo "0 passed, 1 failed"
	exit 1
fi
seed=${DIFFTEST_SEED:-20261124}
cases=${DIFFTEST_CASES:-10000}
echo "difftest: reproduce with $bin --seed $seed --cases $cases"
exec "$bin" --seed "$seed" --cases "$cases"
