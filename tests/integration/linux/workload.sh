# The deterministic part of the Linux guest test, for busybox sh: run inside
# the guest (by run.sh) and on the host by the same busybox binary
# (linux_soft.sh), whose outputs must match byte for byte. Everything here
# depends only on the busybox binary, never on the machine: fixed seeds, no
# times, no PIDs, no /proc. Runs in the current directory, which it fills
# with scratch files.

section() { echo "--- $1"; }

# ---- data: a deterministic generator (awk's rand with a fixed seed)
section generate
awk 'BEGIN {
	srand(20240611)
	for (i = 0; i < 4000; i++) {
		w = ""
		n = 3 + int(rand() * 6)
		for (j = 0; j < n; j++)
			w = w substr("abcdefghijklmnopqrstuvwxyz", 1 + int(rand() * 26), 1)
		printf "%08d %s %d %.3f\n", int(rand() * 100000000), w, i, rand() * 1000
	}
}' >data.txt
wc -l <data.txt
wc -c <data.txt
head -n 3 data.txt

# ---- hashes
section hashes
sha256sum data.txt
md5sum data.txt
sha1sum data.txt
sha512sum data.txt | cut -c1-64
seq 1 40000 | sha256sum
dd if=/dev/zero bs=65536 count=16 2>/dev/null | sha256sum

# ---- gzip / gunzip round trip. The 10-byte gzip header holds a time stamp,
# so only the deflate stream, CRC and length after it are compared.
section gzip
gzip -9 <data.txt >data.gz
wc -c <data.gz
tail -c +11 data.gz | sha256sum
gunzip <data.gz | sha256sum
gzip -1 <data.txt | gunzip | cmp - data.txt && echo "gzip -1 round trip: same"
gzip -d <data.gz >back.txt && cmp data.txt back.txt && echo "gunzip: same bytes"

# ---- sort and awk over the data
section sort
sort data.txt | sha256sum
sort -k2,2 -k1,1n data.txt | sha256sum
sort -n -r data.txt | head -n 3
sort -t ' ' -k4,4g data.txt | tail -n 2
cut -d ' ' -f2 data.txt | sort | uniq -c | sort -k1,1nr -k2 | head -n 5
cut -d ' ' -f2 data.txt | sort -u | wc -l

section awk
awk '{ n[length($2)]++; s += $1; f += $4 } END {
	for (k = 3; k <= 8; k++) print "len", k, n[k]
	printf "sum %.0f mean %.4f fsum %.3f\n", s, s / NR, f
}' data.txt
awk '{ c[substr($2, 1, 1)] += $1 } END { for (k in c) print k, c[k] }' data.txt | sort
# Floating point without libm (this busybox's awk has no sin/exp/sqrt):
# a Lehmer generator, a harmonic sum and Newton's square root of 2.
awk 'BEGIN { x = 1; for (i = 1; i <= 60; i++) x = (x * 48271) % 2147483647; print "lcg", x
	h = 0; for (i = 1; i <= 5000; i++) h += 1 / i
	r = 1; for (i = 0; i < 8; i++) r = (r + 2 / r) / 2
	printf "float %.12f %.15f %.6e %d\n", h, r, 1 / 3 * 1e-300, -7 / 2 }'

# ---- a pipeline of several processes
section pipeline
seq 1 20000 | awk '{ print ($1 * 7919) % 1009 }' | sort -n | uniq -c |
	sort -k1,1nr -k2,2n | head -n 4 | tr ' ' '.' | sed 's/^\.*//'
seq 1 3000 | xargs -n 100 echo | awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; print s }' |
	tail -n 2
grep -c 'ab' data.txt
grep -E '^[0-9]{8} z' data.txt | wc -l
cat data.txt | tr 'a-z' 'A-Z' | rev | sha256sum

# ---- signals and exit statuses
section signals
# A trap in the current shell.
trap 'echo "main shell: got USR1"' USR1
kill -USR1 $$
echo "after USR1"
trap - USR1
# A child that traps TERM, killed by the parent once it is ready.
rm -f ready.flag
sh -c 'trap "echo child: got TERM; exit 7" TERM; echo >ready.flag; while :; do sleep 0.05; done' &
child=$!
while [ ! -e ready.flag ]; do sleep 0.05; done
kill -TERM "$child"
wait "$child"
echo "child exit status $?"
# A background job killed with SIGKILL: wait reports 128 + 9.
sleep 1000 &
job=$!
kill -9 "$job"
wait "$job"
echo "killed job status $?"
# A child that signals itself.
sh -c 'kill -TERM $$; sleep 5'
echo "self-TERM status $?"
sh -c 'exit 3'
echo "exit status $?"
false | true
echo "pipeline status $?"
if ! (exit 42); then echo "subshell status 42 seen"; fi
echo "workload done"
