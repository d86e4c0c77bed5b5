/* The soft engine's machine glue (engine_soft.c): what a vCPU is besides its
 * soft_cpu, exposed only so unit tests can drive the per-vCPU event logic
 * (INIT/SIPI, halt and wake-up) without running a whole machine. */
#ifndef RINGFOLD_ENGINE_SOFT_ENGINE_SOFT_H
#define RINGFOLD_ENGINE_SOFT_ENGINE_SOFT_H

#include <stdbool.h>
#include <stdint.h>

#include "dev/lapic.h"
#include "engine/soft/soft.h"

/* Instructions a vCPU runs before the loop looks at time, interrupts and the
 * other vCPUs again. An interrupt for the running vCPU ends a batch early
 * (soft_cpu_request_stop()), so this bounds only timer latency (about
 * 0.1-0.5 ms at interpreter speed) and the round-robin quantum. */
#define SOFT_BATCH_INSNS 10000

/* --clock icount: guest nanoseconds per retired instruction (a 100 MIPS
 * machine; the interpreter runs at about that speed, so guest and host time
 * stay within a small factor of each other). */
#define SOFT_ICOUNT_NS_PER_INSN 10

enum soft_vcpu_state {
	SOFT_VCPU_RUNNING,   /* executes instructions */
	SOFT_VCPU_HALTED,    /* HLT: waits for an event it may take */
	SOFT_VCPU_WAIT_SIPI, /* after INIT (every AP at power-on): waits for SIPI */
};

struct soft_vcpu {
	struct soft_cpu cpu;
	struct lapic *lapic;
	int index;
	enum soft_vcpu_state run_state;
	uint64_t (*tsc_now)(void *ctx); /* guest TSC ticks of the machine's clock */
	void *tsc_ctx;
};

/* Attach a vCPU to its LAPIC (hooks for the LAPIC's MMIO page, its MSRs,
 * CR8, and RDTSC from tsc_now, which must be the LAPIC's clock in TSC ticks).
 * The BSP (index 0) is left RUNNING with IA32_APIC_BASE's BSP and enable
 * bits; an AP waits for SIPI. */
void soft_vcpu_attach(struct soft_vcpu *v, int index, struct lapic *lapic,
                      uint64_t (*tsc_now)(void *), void *tsc_ctx);

/* Take the events the vCPU can take now, at an instruction boundary: INIT
 * and SIPI, then at most one NMI or external interrupt (the next one waits
 * for the next boundary, as on hardware). Wakes a halted vCPU. Returns 0, or
 * -1 when delivering an interrupt shut the CPU down (triple fault). */
int soft_vcpu_take_events(struct soft_vcpu *v);

/* The state SIPI starts an AP in: real mode at vector << 8 : 0. */
void soft_vcpu_sipi_state(struct cpu_state *s, uint8_t vector);

#endif
