# /test/run.sh of the Linux guest test (tests/integration/linux_soft.sh puts
# it, with workload.sh, into a cpio given as a second initrd; the guest's
# /init runs it and powers off). Results go to the console between
# "=== name" and "=== end name" lines for the host to pick out. Everything
# printed is the same on every run of a deterministic machine (no times, no
# counts that depend on timing), so --clock icount runs can be compared
# byte for byte.
echo "=== ringfold-linux-test"

echo "=== uname"
uname -a
echo "release $(uname -r)"
echo "=== end uname"

echo "=== cpus"
echo "processors $(grep -c '^processor' /proc/cpuinfo)"
echo "online $(cat /sys/devices/system/cpu/online)"
echo "=== end cpus"

# The timer: the sum of the timer interrupt lines (IRQ 0 and the local APIC
# timers) must grow over a second of sleep.
timer_irqs() {
	awk '$1 == "0:" || $1 == "LOC:" {
		for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) s += $i
	} END { print s + 0 }' /proc/interrupts
}
echo "=== timer"
before=$(timer_irqs)
sleep 1
after=$(timer_irqs)
if [ "$after" -gt "$before" ]; then
	echo "timer interrupts: counting"
else
	echo "timer interrupts: NOT counting ($before then $after)"
fi
echo "=== end timer"

echo "=== workload"
mkdir -p /tmp/work
cd /tmp/work
sh /test/workload.sh 2>&1
echo "=== end workload (status $?)"

echo "=== ringfold-linux-test done"
