/* The soft engine's per-vCPU glue: what attach sets up (APIC base, APIC ID,
 * the LAPIC hooks for MMIO, MSRs, CR8 and the TSC), INIT/SIPI as Linux and
 * the test kernel send them, halt and wake-up by an interrupt, and the
 * early end of a batch. The irqchip runs without a bus on a manual clock. */
#include <stdlib.h>

#include "dev/irqchip.h"
#include "engine/soft/engine_soft.h"
#include "test.h"

static struct guest_mem mem;
static struct manual_clock clk;
static struct guest_clock gclk;
static struct irqchip *chip;
static struct soft_vcpu *vcpu[2];

static uint64_t test_tsc_now(void *ctx)
{
	(void)ctx;
	return clock_ticks_at(clk.ns, SOFT_GUEST_TSC_HZ);
}

static void setup(void)
{
	static const uint8_t zero[0x10000];
	mem_write(&mem, 0, zero, sizeof zero);
	clk.ns = 0;
	if (chip)
		irqchip_destroy(chip);
	chip = irqchip_create(
	    &(struct irqchip_config){.clock = &gclk, .ncpus = 2, .tsc_hz = SOFT_GUEST_TSC_HZ});
	for (int i = 0; i < 2; i++) {
		soft_cpu_init(&vcpu[i]->cpu, &mem, NULL);
		soft_vcpu_attach(vcpu[i], i, irqchip_lapic(chip, i), test_tsc_now, NULL);
	}
}

static void apic_write(int cpu, uint64_t reg, uint32_t v)
{
	lapic_mmio_write(irqchip_lapic(chip, cpu), reg, 4, v);
}

/* An IPI from the BSP's LAPIC to APIC ID dest. */
static void ipi(unsigned dest, uint32_t icr_low)
{
	apic_write(0, 0x310, dest << 24);
	apic_write(0, 0x300, icr_low);
}

static void test_attach(void)
{
	setup();
	CHECK_EQ(vcpu[0]->run_state, SOFT_VCPU_RUNNING);
	CHECK_EQ(vcpu[1]->run_state, SOFT_VCPU_WAIT_SIPI);
	CHECK_EQ(vcpu[0]->cpu.apic_id, 0);
	CHECK_EQ(vcpu[1]->cpu.apic_id, 1);
	CHECK_EQ(vcpu[0]->cpu.state.apic_base, 0xfee00000 | APIC_BASE_BSP | APIC_BASE_EN);
	CHECK_EQ(vcpu[1]->cpu.state.apic_base, 0xfee00000 | APIC_BASE_EN);
	/* RDMSR IA32_APIC_BASE reaches each vCPU's own LAPIC. */
	uint64_t v = 0;
	CHECK_EQ(vcpu[0]->cpu.hooks->msr_read(vcpu[0], MSR_IA32_APIC_BASE, &v), 0);
	CHECK(v & APIC_BASE_BSP);
	CHECK_EQ(vcpu[1]->cpu.hooks->msr_read(vcpu[1], MSR_IA32_APIC_BASE, &v), 0);
	CHECK(!(v & APIC_BASE_BSP));
	/* Other MSRs stay with the CPU. */
	CHECK_EQ(vcpu[0]->cpu.hooks->msr_read(vcpu[0], 0xc0000080, &v), SOFT_HOOK_PASS);
	/* x2APIC registers #GP in xAPIC mode. */
	CHECK_EQ(vcpu[0]->cpu.hooks->msr_read(vcpu[0], 0x802, &v), -1);
}

static void test_lapic_mmio_and_cr8(void)
{
	setup();
	const struct soft_cpu_hooks *h = vcpu[1]->cpu.hooks;
	uint64_t v = 0;
	CHECK(h->mmio_read(vcpu[1], 0xfee00030, 4, &v));
	CHECK_EQ(v, 0x00050014);
	CHECK(h->mmio_read(vcpu[1], 0xfee00020, 4, &v));
	CHECK_EQ(v >> 24, 1); /* its own ID, not the BSP's */
	CHECK(!h->mmio_read(vcpu[1], 0xfee01000, 4, &v));
	CHECK(!h->mmio_read(vcpu[1], 0xfec00000, 4, &v));
	CHECK(h->mmio_write(vcpu[1], 0xfee00080, 4, 0x30));
	CHECK_EQ(h->cr8_read(vcpu[1]), 3);
	h->cr8_write(vcpu[1], 5);
	CHECK_EQ(lapic_mmio_read(irqchip_lapic(chip, 1), 0x80, 4), 0x50);
	CHECK_EQ(lapic_mmio_read(irqchip_lapic(chip, 0), 0x80, 4), 0);
}

static void test_tsc_follows_clock(void)
{
	setup();
	clk.ns = 1000;
	CHECK_EQ(soft_cpu_tsc(&vcpu[0]->cpu), 3000);
	CHECK_EQ(vcpu[0]->cpu.hooks->msr_write(vcpu[0], 0x10, 10000), 0);
	CHECK_EQ(soft_cpu_tsc(&vcpu[0]->cpu), 10000);
	clk.ns = 2000;
	CHECK_EQ(soft_cpu_tsc(&vcpu[0]->cpu), 13000);
	uint64_t v = 0;
	CHECK_EQ(vcpu[0]->cpu.hooks->msr_read(vcpu[0], 0x10, &v), SOFT_HOOK_PASS);
	/* TSC-deadline mode sees the same TSC: arm it 3000 ticks (1 us) ahead. */
	apic_write(0, 0xf0, 0x1ff);
	apic_write(0, 0x320, 0x40 | (2u << 17));
	CHECK_EQ(vcpu[0]->cpu.hooks->msr_write(vcpu[0], MSR_IA32_TSC_DEADLINE, 16000), 0);
	CHECK_EQ(lapic_next_deadline_ns(irqchip_lapic(chip, 0)), 3000);
}

static void test_init_sipi(void)
{
	setup();
	struct soft_vcpu *ap = vcpu[1];
	ap->cpu.state.tsc = 1234;
	/* Nothing pending: the AP keeps waiting. */
	CHECK_EQ(soft_vcpu_take_events(ap), 0);
	CHECK_EQ(ap->run_state, SOFT_VCPU_WAIT_SIPI);
	/* INIT assert, INIT de-assert, SIPI twice (vector 8: 0800:0000). */
	ipi(1, 0x4500);
	ipi(1, 0x8500);
	ipi(1, 0x4608);
	CHECK_EQ(soft_vcpu_take_events(ap), 0);
	CHECK_EQ(ap->run_state, SOFT_VCPU_RUNNING);
	CHECK_EQ(ap->cpu.state.seg[SEG_CS].selector, 0x800);
	CHECK_EQ(ap->cpu.state.seg[SEG_CS].base, 0x8000);
	CHECK_EQ(ap->cpu.state.rip, 0);
	CHECK_EQ(ap->cpu.state.cr0 & 1, 0); /* real mode */
	CHECK_EQ(ap->cpu.state.tsc, 1234);  /* INIT keeps the TSC */
	/* A second SIPI to a running CPU is ignored. */
	ap->cpu.state.rip = 5;
	ipi(1, 0x4609);
	CHECK_EQ(soft_vcpu_take_events(ap), 0);
	CHECK_EQ(ap->cpu.state.rip, 5);
	CHECK_EQ(ap->cpu.state.seg[SEG_CS].base, 0x8000);
	/* INIT to a running AP: INIT state, waiting for SIPI again. */
	ap->cpu.state.cr0 |= 1;
	ap->cpu.state.gpr[GPR_RAX] = 7;
	ipi(1, 0x4500);
	CHECK_EQ(soft_vcpu_take_events(ap), 0);
	CHECK_EQ(ap->run_state, SOFT_VCPU_WAIT_SIPI);
	CHECK_EQ(ap->cpu.state.cr0 & 1, 0);
	CHECK_EQ(ap->cpu.state.gpr[GPR_RAX], 0);
	CHECK_EQ(ap->cpu.state.rip, 0xfff0);
	CHECK_EQ(ap->cpu.state.apic_base, 0xfee00000 | APIC_BASE_EN);
	/* A fixed interrupt does not start a CPU that waits for SIPI. */
	apic_write(1, 0xf0, 0x1ff);
	ap->cpu.state.rflags |= 0x200;
	ipi(1, 0x0040);
	CHECK_EQ(soft_vcpu_take_events(ap), 0);
	CHECK_EQ(ap->run_state, SOFT_VCPU_WAIT_SIPI);
}

static void test_halt_and_wake(void)
{
	setup();
	struct soft_vcpu *bsp = vcpu[0];
	/* Real mode at 0:0x7c00: STI; HLT; then what vector 0x40's handler
	 * at 0200:1234 (IVT entry at 0x100) would run. */
	static const uint8_t code[] = {0xfb, 0xf4};
	mem_write(&mem, 0x7c00, code, sizeof code);
	uint16_t ivt[2] = {0x1234, 0x0200};
	mem_write(&mem, 0x40 * 4, ivt, sizeof ivt);
	bsp->cpu.state.seg[SEG_CS].selector = 0;
	bsp->cpu.state.seg[SEG_CS].base = 0;
	bsp->cpu.state.rip = 0x7c00;
	bsp->cpu.state.gpr[GPR_RSP] = 0x7000;
	CHECK_EQ(soft_cpu_run(&bsp->cpu, 100), SOFT_EXIT_HLT);
	bsp->run_state = SOFT_VCPU_HALTED;
	/* Nothing pending: still halted. */
	CHECK_EQ(soft_vcpu_take_events(bsp), 0);
	CHECK_EQ(bsp->run_state, SOFT_VCPU_HALTED);
	/* A self-IPI wakes it into the handler. */
	apic_write(0, 0xf0, 0x1ff);
	ipi(0, 0x0040);
	CHECK(lapic_pending_events(bsp->lapic) & LAPIC_EV_INTR);
	CHECK_EQ(soft_vcpu_take_events(bsp), 0);
	CHECK_EQ(bsp->run_state, SOFT_VCPU_RUNNING);
	CHECK_EQ(bsp->cpu.state.seg[SEG_CS].selector, 0x200);
	CHECK_EQ(bsp->cpu.state.rip, 0x1234);
	CHECK_EQ(bsp->cpu.state.rflags & 0x200, 0); /* IF cleared by delivery */

	/* HLT with IF=0: a fixed interrupt stays pending, the CPU halted. */
	apic_write(0, 0xb0, 0); /* EOI */
	bsp->run_state = SOFT_VCPU_HALTED;
	ipi(0, 0x0041);
	CHECK_EQ(soft_vcpu_take_events(bsp), 0);
	CHECK_EQ(bsp->run_state, SOFT_VCPU_HALTED);
	CHECK(lapic_pending_events(bsp->lapic) & LAPIC_EV_INTR);
	/* ...but an NMI wakes it (vector 2's IVT entry: 0300:0042). */
	uint16_t nmi[2] = {0x0042, 0x0300};
	mem_write(&mem, 2 * 4, nmi, sizeof nmi);
	ipi(0, 0x0400);
	CHECK_EQ(soft_vcpu_take_events(bsp), 0);
	CHECK_EQ(bsp->run_state, SOFT_VCPU_RUNNING);
	CHECK_EQ(bsp->cpu.state.seg[SEG_CS].selector, 0x300);
	CHECK_EQ(bsp->cpu.state.rip, 0x42);
}

static void test_stop_request(void)
{
	setup();
	struct soft_cpu *c = &vcpu[0]->cpu;
	static const uint8_t loop[] = {0xeb, 0xfe}; /* jmp $ */
	mem_write(&mem, 0x7c00, loop, sizeof loop);
	c->state.seg[SEG_CS].selector = 0;
	c->state.seg[SEG_CS].base = 0;
	c->state.rip = 0x7c00;
	uint64_t before = c->icount;
	CHECK_EQ(soft_cpu_run(c, 1000), SOFT_EXIT_LIMIT);
	CHECK_EQ(c->icount - before, 1000);
	soft_cpu_request_stop(c);
	before = c->icount;
	CHECK_EQ(soft_cpu_run(c, 1000), SOFT_EXIT_LIMIT);
	CHECK_EQ(c->icount, before);
	soft_cpu_clear_stop(c);
	CHECK_EQ(soft_cpu_run(c, 10), SOFT_EXIT_LIMIT);
	CHECK_EQ(c->icount - before, 10);
}

int main(void)
{
	struct error err;
	if (mem_init(&mem, 16ULL << 20, false, &err) != 0) {
		printf("mem_init: %s\n", err.msg);
		return 1;
	}
	gclk = manual_clock_as_guest_clock(&clk);
	for (int i = 0; i < 2; i++)
		vcpu[i] = calloc(1, sizeof *vcpu[i]);
	RUN(test_attach);
	RUN(test_lapic_mmio_and_cr8);
	RUN(test_tsc_follows_clock);
	RUN(test_init_sipi);
	RUN(test_halt_and_wake);
	RUN(test_stop_request);
	irqchip_destroy(chip);
	for (int i = 0; i < 2; i++)
		free(vcpu[i]);
	mem_destroy(&mem);
	TEST_DONE();
}
