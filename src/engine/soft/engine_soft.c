/* The soft engine: the x86-64 interpreter (soft_cpu) joined to the software
 * interrupt controllers and timers (dev/irqchip.h) to run a whole machine.
 *
 * Thread model: every vCPU runs on the thread that called run(), taking
 * turns in batches of SOFT_BATCH_INSNS instructions. Between batches the
 * loop brings the timers up to the guest clock, gives each vCPU the events
 * its LAPIC holds (INIT, SIPI, NMI, interrupts), and checks for an exit
 * request. When every vCPU is halted (or waits for SIPI) the thread sleeps
 * on a condition variable until the earliest timer deadline or a wake-up:
 * the irqchip's kick (a LAPIC gained an event), set_irq from an I/O thread,
 * or an exit request. Nothing else touches the soft CPUs, so they need no
 * lock; the irqchip has its own.
 *
 * Time: one guest clock drives the PIT, the LAPIC timers, the machine's
 * other timer devices (the RTC, vm_timers_*), the ACPI PM timer and (scaled
 * to SOFT_GUEST_TSC_HZ) RDTSC, exactly as the LAPIC's TSC-deadline mode
 * assumes: TSC = now_ns * tsc_hz / 1e9 + state.tsc. By default the clock is
 * host CLOCK_MONOTONIC minus the moment the machine started. With --clock
 * icount it is the number of instructions all vCPUs retired times
 * SOFT_ICOUNT_NS_PER_INSN, plus the time skipped while every vCPU was
 * halted: a batch then ends exactly at the next timer deadline, and an idle
 * machine jumps to that deadline instead of sleeping, so every interrupt
 * lands on the same instruction run after run (as long as nothing outside
 * the guest, such as console input, interrupts it). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dev/irqchip.h"
#include "engine/soft/engine_soft.h"
#include "util/log.h"
#include "vm.h"

#define MSR_IA32_TSC 0x10

struct soft_engine {
	struct vm *vm;
	struct irqchip *chip;
	uint64_t clock_base; /* host monotonic ns at which guest time is 0 */
	struct guest_clock clock;
	bool icount;      /* --clock icount */
	uint64_t warp_ns; /* icount: guest time skipped while all vCPUs were halted */
	int ncpus;
	struct soft_vcpu *vcpus[VM_MAX_CPUS];

	/* The idle sleep: `wake` is set (under lock) by anything that may have
	 * given a vCPU work; the loop clears it before it looks for work. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool wake;
};

/* --- the clock --- */

static uint64_t engine_clock_now(void *ctx)
{
	const struct soft_engine *e = ctx;
	return guest_clock_host_now(NULL) - e->clock_base;
}

static uint64_t engine_icount_now(void *ctx)
{
	const struct soft_engine *e = ctx;
	uint64_t insns = 0;
	for (int i = 0; i < e->ncpus; i++)
		if (e->vcpus[i])
			insns += e->vcpus[i]->cpu.icount;
	return insns * SOFT_ICOUNT_NS_PER_INSN + e->warp_ns;
}

/* The earliest deadline of every software timer of the machine. */
static uint64_t next_deadline(struct soft_engine *e)
{
	return clock_deadline_min(irqchip_next_deadline_ns(e->chip),
	                          vm_timers_next_deadline_ns(e->vm));
}

static uint64_t engine_tsc_now(void *ctx)
{
	const struct soft_engine *e = ctx;
	return clock_ticks_at(guest_clock_now(&e->clock), SOFT_GUEST_TSC_HZ);
}

/* --- the hooks that give each soft_cpu its own LAPIC --- */

static bool lapic_offset(struct lapic *l, uint64_t gpa, uint64_t *off)
{
	if (!lapic_mmio_active(l))
		return false;
	uint64_t base = lapic_mmio_base(l);
	if (gpa < base || gpa - base >= LAPIC_MMIO_SIZE)
		return false;
	*off = gpa - base;
	return true;
}

static bool hook_mmio_read(void *opaque, uint64_t gpa, unsigned size, uint64_t *value)
{
	struct soft_vcpu *v = opaque;
	uint64_t off;
	if (!lapic_offset(v->lapic, gpa, &off))
		return false;
	*value = lapic_mmio_read(v->lapic, off, size);
	return true;
}

static bool hook_mmio_write(void *opaque, uint64_t gpa, unsigned size, uint64_t value)
{
	struct soft_vcpu *v = opaque;
	uint64_t off;
	if (!lapic_offset(v->lapic, gpa, &off))
		return false;
	lapic_mmio_write(v->lapic, off, size, (uint32_t)value);
	return true;
}

static uint64_t vcpu_tsc_base(struct soft_vcpu *v)
{
	return v->tsc_now ? v->tsc_now(v->tsc_ctx) : v->cpu.icount;
}

static int hook_msr_read(void *opaque, uint32_t msr, uint64_t *value)
{
	struct soft_vcpu *v = opaque;
	if (lapic_handles_msr(msr))
		return lapic_msr_read(v->lapic, msr, value) == LAPIC_MSR_GP ? -1 : 0;
	return SOFT_HOOK_PASS;
}

static int hook_msr_write(void *opaque, uint32_t msr, uint64_t value)
{
	struct soft_vcpu *v = opaque;
	if (msr == MSR_IA32_TSC) {
		/* The LAPIC's TSC-deadline comparisons must see the same TSC. */
		v->cpu.state.tsc = value - vcpu_tsc_base(v);
		lapic_set_tsc_offset(v->lapic, (int64_t)v->cpu.state.tsc);
		return 0;
	}
	if (lapic_handles_msr(msr)) {
		if (lapic_msr_write(v->lapic, msr, value) == LAPIC_MSR_GP)
			return -1;
		if (msr == MSR_IA32_APIC_BASE)
			v->cpu.state.apic_base = value;
		return 0;
	}
	return SOFT_HOOK_PASS;
}

static uint64_t hook_cr8_read(void *opaque)
{
	struct soft_vcpu *v = opaque;
	return lapic_get_cr8(v->lapic);
}

static void hook_cr8_write(void *opaque, uint64_t value)
{
	struct soft_vcpu *v = opaque;
	lapic_set_cr8(v->lapic, value);
}

static uint64_t hook_tsc_now(void *opaque)
{
	return vcpu_tsc_base(opaque);
}

static const struct soft_cpu_hooks vcpu_hooks = {
    .mmio_read = hook_mmio_read,
    .mmio_write = hook_mmio_write,
    .msr_read = hook_msr_read,
    .msr_write = hook_msr_write,
    .cr8_read = hook_cr8_read,
    .cr8_write = hook_cr8_write,
    .tsc_now = hook_tsc_now,
};

void soft_vcpu_attach(struct soft_vcpu *v, int index, struct lapic *lapic,
                      uint64_t (*tsc_now)(void *), void *tsc_ctx)
{
	v->index = index;
	v->lapic = lapic;
	v->tsc_now = tsc_now;
	v->tsc_ctx = tsc_ctx;
	v->cpu.hooks = &vcpu_hooks;
	v->cpu.hooks_opaque = v;
	v->cpu.apic_id = (uint32_t)index;
	v->cpu.state.apic_base =
	    LAPIC_DEFAULT_BASE | APIC_BASE_EN | (index == 0 ? APIC_BASE_BSP : 0);
	v->run_state = index == 0 ? SOFT_VCPU_RUNNING : SOFT_VCPU_WAIT_SIPI;
	lapic_set_tsc_offset(lapic, (int64_t)v->cpu.state.tsc);
}

/* --- events at instruction boundaries --- */

void soft_vcpu_sipi_state(struct cpu_state *s, uint8_t vector)
{
	s->seg[SEG_CS].selector = (uint16_t)(vector << 8);
	s->seg[SEG_CS].base = (uint64_t)vector << 12;
	s->rip = 0;
}

/* INIT: the architectural INIT state. The TSC and IA32_APIC_BASE survive
 * INIT; the LAPIC did its own INIT reset when the IPI arrived. */
static void vcpu_init(struct soft_vcpu *v)
{
	uint64_t tsc = v->cpu.state.tsc, apic_base = v->cpu.state.apic_base;
	cpu_state_reset(&v->cpu.state);
	v->cpu.state.tsc = tsc;
	v->cpu.state.apic_base = apic_base;
	v->cpu.int_shadow = 0;
	soft_cpu_flush_tlb(&v->cpu);
	/* An AP waits for SIPI; the BSP runs from the reset vector. */
	v->run_state = (apic_base & APIC_BASE_BSP) ? SOFT_VCPU_RUNNING : SOFT_VCPU_WAIT_SIPI;
}

static unsigned allowed_events(const struct soft_vcpu *v)
{
	unsigned allowed = LAPIC_EV_INIT | LAPIC_EV_SIPI;
	if (v->run_state == SOFT_VCPU_WAIT_SIPI)
		return allowed;
	/* NMI blocking until IRET is not tracked by the soft CPU yet. */
	allowed |= LAPIC_EV_NMI;
	if (soft_cpu_interrupt_window(&v->cpu))
		allowed |= LAPIC_EV_EXTINT | LAPIC_EV_INTR;
	return allowed;
}

int soft_vcpu_take_events(struct soft_vcpu *v)
{
	/* INIT and SIPI may come in any number; one interrupt ends the loop. */
	for (int guard = 0; guard < 64; guard++) {
		unsigned allowed = allowed_events(v);
		if (!(lapic_pending_events(v->lapic) & allowed))
			return 0;
		uint8_t vector = 0;
		switch (lapic_poll_event(v->lapic, allowed, &vector)) {
		case LAPIC_EV_INIT: vcpu_init(v); break;
		case LAPIC_EV_SIPI:
			if (v->run_state == SOFT_VCPU_WAIT_SIPI) {
				soft_vcpu_sipi_state(&v->cpu.state, vector);
				v->run_state = SOFT_VCPU_RUNNING;
			}
			break;
		case LAPIC_EV_NMI:
			v->run_state = SOFT_VCPU_RUNNING;
			return soft_cpu_inject_interrupt(&v->cpu, 2);
		case LAPIC_EV_EXTINT:
		case LAPIC_EV_INTR:
			v->run_state = SOFT_VCPU_RUNNING;
			return soft_cpu_inject_interrupt(&v->cpu, vector);
		case LAPIC_EV_NONE:
		default: return 0;
		}
	}
	return 0;
}

/* --- the loop --- */

static void engine_wake(struct soft_engine *e)
{
	pthread_mutex_lock(&e->lock);
	e->wake = true;
	pthread_cond_signal(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

/* irqchip kick: called with the interrupt lock held, from any thread. It
 * only ends the vCPU's batch and wakes the sleeper. */
static void irqchip_kick(void *opaque, int cpu)
{
	struct soft_engine *e = opaque;
	if (cpu >= 0 && cpu < e->ncpus && e->vcpus[cpu])
		soft_cpu_request_stop(&e->vcpus[cpu]->cpu);
	engine_wake(e);
}

static void advance_time(struct soft_engine *e)
{
	uint64_t now = guest_clock_now(&e->clock);
	if (irqchip_next_deadline_ns(e->chip) <= now)
		irqchip_advance(e->chip, now);
	if (vm_timers_next_deadline_ns(e->vm) <= now)
		vm_timers_advance(e->vm, now);
}

/* icount: instructions until the next deadline, so that the batch ends on
 * it; host clock: the usual batch. */
static uint64_t batch_limit(struct soft_engine *e)
{
	if (!e->icount)
		return SOFT_BATCH_INSNS;
	uint64_t deadline = next_deadline(e), now = guest_clock_now(&e->clock);
	if (deadline == CLOCK_NEVER || deadline - now >= SOFT_BATCH_INSNS * SOFT_ICOUNT_NS_PER_INSN)
		return SOFT_BATCH_INSNS;
	if (deadline <= now)
		return 1;
	return (deadline - now + SOFT_ICOUNT_NS_PER_INSN - 1) / SOFT_ICOUNT_NS_PER_INSN;
}

/* Sleep until the earliest timer deadline or a wake-up, unless one came
 * since the loop last looked for work. */
static void idle_wait(struct soft_engine *e)
{
	uint64_t deadline = next_deadline(e);
	if (e->icount && deadline != CLOCK_NEVER) {
		/* Nothing runs until the deadline: jump there. */
		uint64_t now = guest_clock_now(&e->clock);
		if (deadline > now)
			e->warp_ns += deadline - now;
		return;
	}
	pthread_mutex_lock(&e->lock);
	while (!e->wake && !vm_exit_requested(e->vm)) {
		if (deadline == CLOCK_NEVER) {
			pthread_cond_wait(&e->cond, &e->lock);
			continue;
		}
		if (deadline <= guest_clock_now(&e->clock))
			break;
		uint64_t host = clock_deadline_add(deadline, e->clock_base);
		struct timespec ts = {.tv_sec = (time_t)(host / CLOCK_NS_PER_SEC),
		                      .tv_nsec = (long)(host % CLOCK_NS_PER_SEC)};
		if (pthread_cond_timedwait(&e->cond, &e->lock, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&e->lock);
}

/* Runs one batch of vCPU v; false when the machine must stop. */
static bool run_batch(struct soft_engine *e, struct soft_vcpu *v)
{
	soft_cpu_clear_stop(&v->cpu);
	if (soft_vcpu_take_events(v) < 0) {
		log_error("soft: vCPU %d could not take an interrupt: triple fault", v->index);
		cpu_state_dump(&v->cpu.state, v->index);
		vm_request_exit(e->vm, VM_EXIT_TRIPLE_FAULT, 0);
		return false;
	}
	if (v->run_state != SOFT_VCPU_RUNNING)
		return true;
	switch (soft_cpu_run(&v->cpu, batch_limit(e))) {
	case SOFT_EXIT_LIMIT: return true;
	case SOFT_EXIT_HLT: v->run_state = SOFT_VCPU_HALTED; return true;
	case SOFT_EXIT_SHUTDOWN:
		log_error("soft: vCPU %d triple fault (shutdown)", v->index);
		cpu_state_dump(&v->cpu.state, v->index);
		vm_request_exit(e->vm, VM_EXIT_TRIPLE_FAULT, 0);
		return false;
	case SOFT_EXIT_EXCEPTION:
	default:
		log_error("soft: vCPU %d stopped on an exception it should have delivered",
		          v->index);
		cpu_state_dump(&v->cpu.state, v->index);
		vm_request_exit(e->vm, VM_EXIT_INTERNAL_ERROR, 0);
		return false;
	}
}

static void run_loop(struct soft_engine *e)
{
	while (!vm_exit_requested(e->vm)) {
		pthread_mutex_lock(&e->lock);
		e->wake = false;
		pthread_mutex_unlock(&e->lock);
		bool any_running = false;
		for (int i = 0; i < e->ncpus && !vm_exit_requested(e->vm); i++) {
			advance_time(e);
			if (!run_batch(e, e->vcpus[i]))
				return;
			any_running |= e->vcpus[i]->run_state == SOFT_VCPU_RUNNING;
		}
		if (!any_running && !vm_exit_requested(e->vm)) {
			/* A vCPU that halted with an event already pending must not sleep. */
			bool ready = false;
			for (int i = 0; i < e->ncpus; i++)
				ready |= (lapic_pending_events(e->vcpus[i]->lapic) &
				          allowed_events(e->vcpus[i])) != 0;
			if (!ready)
				idle_wait(e);
		}
	}
}

static void engine_free(struct soft_engine *e)
{
	for (int i = 0; i < e->ncpus; i++)
		free(e->vcpus[i]);
	if (e->chip)
		irqchip_destroy(e->chip);
	pthread_mutex_destroy(&e->lock);
	pthread_cond_destroy(&e->cond);
	free(e);
}

static int soft_run(struct vm *vm)
{
	if (vm->ncpus < 1 || vm->ncpus > VM_MAX_CPUS || vm->ncpus > LAPIC_MAX_CPUS) {
		log_error("soft: %d vCPUs requested, 1 to %d supported", vm->ncpus, VM_MAX_CPUS);
		return -1;
	}
	struct soft_engine *e = calloc(1, sizeof *e);
	if (!e) {
		log_error("soft: out of memory");
		return -1;
	}
	e->vm = vm;
	e->ncpus = vm->ncpus;
	pthread_mutex_init(&e->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->cond, &ca);
	pthread_condattr_destroy(&ca);
	e->icount = vm->config && vm->config->clock_icount;
	struct guest_clock vm_clock = vm->clock;
	if (e->icount) {
		e->clock = (struct guest_clock){engine_icount_now, e};
	} else if (vm->clock.now_ns) {
		e->clock = vm->clock; /* the machine's host-time clock */
		e->clock_base = vm->clock_host_base;
	} else {
		e->clock_base = guest_clock_host_now(NULL);
		e->clock = (struct guest_clock){engine_clock_now, e};
	}

	for (int i = 0; i < e->ncpus; i++) {
		e->vcpus[i] = calloc(1, sizeof *e->vcpus[i]);
		if (!e->vcpus[i] || soft_cpu_init(&e->vcpus[i]->cpu, &vm->mem, vm->bus) < 0) {
			log_error("soft: cannot create vCPU %d", i);
			engine_free(e);
			return -1;
		}
	}
	e->chip = irqchip_create(&(struct irqchip_config){
	    .bus = vm->bus,
	    .clock = &e->clock,
	    .ncpus = e->ncpus,
	    .kick = irqchip_kick,
	    .kick_opaque = e,
	    .tsc_hz = SOFT_GUEST_TSC_HZ,
	    /* CPUID 0x15 names the core crystal, and Linux takes it for the
	     * LAPIC timer's input clock (it skips calibrating the timer then). */
	    .lapic_timer_hz = SOFT_CRYSTAL_HZ,
	    .pit_disconnected = &vm->hpet_legacy_route, /* HPET LegacyReplacement */
	});
	if (!e->chip) {
		engine_free(e);
		return -1;
	}
	for (int i = 0; i < e->ncpus; i++) {
		struct soft_vcpu *v = e->vcpus[i];
		if (i == 0)
			v->cpu.state = vm->boot_cpu;
		soft_vcpu_attach(v, i, irqchip_lapic(e->chip, i), engine_tsc_now, e);
	}

	/* Every device of the machine keeps time by the engine's clock while
	 * it runs (the same one unless --clock icount). */
	vm->clock = e->clock;
	/* set_irq and kick may come from other threads from now on. */
	pthread_mutex_lock(&vm->exit_lock);
	vm->engine_data = e;
	pthread_mutex_unlock(&vm->exit_lock);
	run_loop(e);
	pthread_mutex_lock(&vm->exit_lock);
	vm->engine_data = NULL;
	pthread_mutex_unlock(&vm->exit_lock);
	vm->clock = vm_clock; /* e is going away */
	engine_free(e);
	return 0;
}

static bool soft_usable(char *why, size_t why_len)
{
	(void)why;
	(void)why_len;
	return true;
}

/* vm_request_exit() from any thread: end the running batch and wake the
 * sleeper; the loop then sees the request. */
static void soft_kick(struct vm *vm)
{
	/* exit_lock keeps the engine from being torn down meanwhile. */
	pthread_mutex_lock(&vm->exit_lock);
	struct soft_engine *e = vm->engine_data;
	if (e) {
		for (int i = 0; i < e->ncpus; i++)
			soft_cpu_request_stop(&e->vcpus[i]->cpu);
		engine_wake(e);
	}
	pthread_mutex_unlock(&vm->exit_lock);
}

static void soft_set_irq(struct vm *vm, unsigned gsi, int level)
{
	pthread_mutex_lock(&vm->exit_lock);
	struct soft_engine *e = vm->engine_data;
	if (e) {
		irqchip_set_irq(e->chip, gsi, level);
		engine_wake(e);
	}
	pthread_mutex_unlock(&vm->exit_lock);
}

/* An MSI from a device (any thread): the irqchip decodes it and sends it
 * on the APIC bus; its kick ends the target's batch or wakes the sleeper. */
static void soft_signal_msi(struct vm *vm, uint64_t address, uint32_t data)
{
	pthread_mutex_lock(&vm->exit_lock);
	struct soft_engine *e = vm->engine_data;
	if (e && irqchip_signal_msi(e->chip, address, data))
		engine_wake(e);
	pthread_mutex_unlock(&vm->exit_lock);
}

const struct engine_ops soft_engine_ops = {
    .name = "soft",
    .usable = soft_usable,
    .run = soft_run,
    .kick = soft_kick,
    .set_irq = soft_set_irq,
    .signal_msi = soft_signal_msi,
};
