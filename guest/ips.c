/* `ips=N` on the command line: the instructions-per-second loop
 * (ipsloop.S) N times at CPL3, then "ips INSNS-PER-ITERATION N" on COM1.
 * No timing here: bench/run.sh boots the kernel with two values of N and
 * divides the difference in instructions by the difference in host wall
 * time, which cancels boot and exit. */
#include "ipsloop.h"
#include "kernel.h"

void run_ips(uint64_t iterations, int *passed, int *failed)
{
	if (iterations == 0) {
		kprintf("not ok ips: N must be at least 1\n");
		(*failed)++;
		return;
	}
	int rc = run_user((void *)user_ips_loop, iterations, 0, 0);
	if (!user_exited(rc)) {
		kprintf("not ok ips: the loop ended with %s\n", rc ? fault_str() : "a return");
		(*failed)++;
		return;
	}
	kprintf("ips %d %lu\n", IPS_LOOP_INSNS, iterations);
	(*passed)++;
}
