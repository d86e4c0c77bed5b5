/* Local APIC: registers, priorities, IPIs, the timer (Linux's calibration
 * and clockevent programming), x2APIC rules, with a hand-driven clock. */
#include "dev/lapic.h"
#include "test.h"

#define NCPU 4

static struct manual_clock clk;
static struct guest_clock gclk;
static struct apic_bus *abus;
static struct lapic *cpu[NCPU];
static int kicks[NCPU];
static int eois[256];
static uint8_t extint_vector;
static int extint_acks;

static void on_eoi(void *opaque, uint8_t v)
{
	(void)opaque;
	eois[v]++;
}

static uint8_t on_extint(void *opaque)
{
	(void)opaque;
	extint_acks++;
	return extint_vector;
}

static void on_kick(void *opaque, int c)
{
	(void)opaque;
	if (c >= 0 && c < NCPU)
		kicks[c]++;
}

static void setup(void)
{
	clk.ns = 0;
	gclk = manual_clock_as_guest_clock(&clk);
	memset(kicks, 0, sizeof kicks);
	memset(eois, 0, sizeof eois);
	extint_acks = 0;
	abus = apic_bus_create(
	    &(struct apic_bus_config){.eoi = on_eoi, .extint_ack = on_extint, .kick = on_kick});
	for (int i = 0; i < NCPU; i++)
		cpu[i] = lapic_create(&(struct lapic_config){.bus = abus,
		                                             .clock = &gclk,
		                                             .cpu_index = i,
		                                             .apic_id = (uint32_t)i,
		                                             .bsp = i == 0,
		                                             .tsc_hz = 2000000000});
}

static void teardown(void)
{
	for (int i = 0; i < NCPU; i++)
		lapic_destroy(cpu[i]);
	apic_bus_destroy(abus);
}

static uint32_t rd(int c, uint32_t reg)
{
	return lapic_mmio_read(cpu[c], reg, 4);
}
static void wr(int c, uint32_t reg, uint32_t v)
{
	lapic_mmio_write(cpu[c], reg, 4, v);
}

/* setup_local_APIC's essentials: software enable, spurious vector 0xff. */
static void enable(int c)
{
	wr(c, 0xf0, 0x1ff);
}

static void fixed(uint32_t dest, uint8_t vector, bool level)
{
	struct apic_msg m = {.dest = dest, .vector = vector, .level = level};
	apic_bus_deliver(abus, &m, NULL);
}

static int take(int c)
{
	uint8_t v;
	enum lapic_event ev = lapic_poll_event(cpu[c], LAPIC_EV_ALL, &v);
	return ev == LAPIC_EV_INTR ? v : -(int)ev - 1;
}

static void test_reset_state(void)
{
	setup();
	uint64_t base;
	CHECK_EQ(lapic_msr_read(cpu[0], MSR_IA32_APIC_BASE, &base), 0);
	CHECK_EQ(base, 0xfee00900);
	CHECK_EQ(lapic_msr_read(cpu[1], MSR_IA32_APIC_BASE, &base), 0);
	CHECK_EQ(base, 0xfee00800);
	CHECK(lapic_mmio_active(cpu[1]));
	CHECK_EQ(lapic_mmio_base(cpu[1]), 0xfee00000);
	CHECK_EQ(rd(2, 0x20), 2u << 24);
	CHECK_EQ(rd(0, 0x30), 0x00050014);
	CHECK_EQ(rd(0, 0xf0), 0xff);
	CHECK_EQ(rd(0, 0xe0), 0xffffffff);
	CHECK_EQ(rd(1, 0x320), 0x10000);
	CHECK_EQ(rd(1, 0x350), 0x10000);
	/* The BSP comes up in virtual wire mode. */
	CHECK_EQ(rd(0, 0x350), 0x700);
	CHECK_EQ(rd(0, 0x360), 0x400);
	/* Unaligned and narrow reads see the covered bytes. */
	CHECK_EQ(lapic_mmio_read(cpu[0], 0x32, 1), 0x05);
	CHECK_EQ(lapic_mmio_read(cpu[0], 0x34, 4), 0);
	CHECK_EQ(lapic_pending_events(cpu[1]), 0);
	teardown();
}

static void test_priorities_and_eoi(void)
{
	setup();
	/* A software-disabled APIC does not accept fixed interrupts. */
	fixed(1, 0x40, false);
	CHECK_EQ(lapic_pending_vector(cpu[1]), -1);
	enable(1);
	fixed(1, 0x40, false);
	CHECK(lapic_pending_events(cpu[1]) & LAPIC_EV_INTR);
	CHECK(kicks[1] > 0);
	CHECK_EQ(rd(1, 0x200 + 0x20), 1u << 0); /* IRR bit 0x40 */
	CHECK_EQ(take(1), 0x40);
	CHECK_EQ(rd(1, 0x100 + 0x20), 1u << 0); /* ISR */
	CHECK_EQ(rd(1, 0xa0), 0x40);            /* PPR = ISR class */
	/* Same class: blocked. Higher class: taken, nested. */
	fixed(1, 0x45, false);
	CHECK_EQ(lapic_pending_vector(cpu[1]), -1);
	CHECK_EQ(take(1), -1);
	fixed(1, 0x61, false);
	CHECK_EQ(take(1), 0x61);
	wr(1, 0xb0, 0); /* EOI: 0x61 */
	CHECK_EQ(rd(1, 0xa0), 0x40);
	wr(1, 0xb0, 0); /* EOI: 0x40 */
	CHECK_EQ(take(1), 0x45);
	wr(1, 0xb0, 0);
	CHECK_EQ(rd(1, 0xa0), 0);
	/* No broadcast for edge-triggered vectors. */
	CHECK_EQ(eois[0x40] + eois[0x45] + eois[0x61], 0);
	/* TPR: class 5 masks 0x45..0x5f but not 0x61. */
	wr(1, 0x80, 0x50);
	fixed(1, 0x55, false);
	CHECK_EQ(take(1), -1);
	CHECK_EQ(rd(1, 0xa0), 0x50);
	CHECK_EQ(rd(1, 0x90), 0x50); /* APR */
	CHECK_EQ(lapic_get_cr8(cpu[1]), 5);
	lapic_set_cr8(cpu[1], 4);
	CHECK_EQ(rd(1, 0x80), 0x40);
	CHECK_EQ(take(1), 0x55);
	wr(1, 0xb0, 0);
	/* Level-triggered: TMR set, EOI broadcast with the vector. */
	fixed(1, 0x71, true);
	CHECK_EQ(rd(1, 0x180 + 0x30), 1u << 17);
	CHECK_EQ(take(1), 0x71);
	wr(1, 0xb0, 0);
	CHECK_EQ(eois[0x71], 1);
	/* EOI with nothing in service does nothing. */
	wr(1, 0xb0, 0);
	CHECK_EQ(eois[0x71], 1);
	/* Interrupts are only taken when the engine allows them. */
	fixed(1, 0x81, false);
	uint8_t v;
	CHECK_EQ(lapic_poll_event(cpu[1], LAPIC_EV_INIT | LAPIC_EV_SIPI | LAPIC_EV_NMI, &v),
	         LAPIC_EV_NONE);
	CHECK_EQ(lapic_accept_interrupt(cpu[1]), 0x81);
	teardown();
}

static void test_errors(void)
{
	setup();
	enable(1);
	wr(1, 0x370, 0xfe);    /* LVT error unmasked, vector 0xfe */
	fixed(1, 0x05, false); /* illegal vector */
	wr(1, 0x280, 0);
	CHECK_EQ(rd(1, 0x280), 0x40); /* receive illegal vector */
	CHECK_EQ(take(1), 0xfe);
	wr(1, 0xb0, 0);
	wr(1, 0x310, 2u << 24);
	wr(1, 0x300, 0x0003); /* send vector 3 */
	wr(1, 0x280, 0);
	CHECK_EQ(rd(1, 0x280), 0x20); /* send illegal vector */
	wr(1, 0x280, 0);
	CHECK_EQ(rd(1, 0x280), 0);
	/* A write to a register that does not exist: illegal register address. */
	wr(1, 0x3f0, 0x41);
	wr(1, 0x280, 0);
	CHECK_EQ(rd(1, 0x280), 0x80);
	/* Software disable masks every LVT and they stay masked. */
	wr(1, 0xf0, 0xff);
	CHECK_EQ(rd(1, 0x370) & 0x10000, 0x10000);
	wr(1, 0x370, 0xfe);
	CHECK_EQ(rd(1, 0x370), 0x100fe);
	teardown();
}

static void test_logical_destinations(void)
{
	setup();
	for (int i = 0; i < NCPU; i++)
		enable(i);
	/* Flat model: one bit per CPU, as Linux's default flat driver. */
	for (int i = 0; i < NCPU; i++)
		wr(i, 0xd0, (1u << i) << 24);
	struct apic_msg m = {.dest = 0x05, .vector = 0x50, .logical = true};
	apic_bus_deliver(abus, &m, NULL);
	CHECK_EQ(take(0), 0x50);
	CHECK_EQ(take(1), -1);
	CHECK_EQ(take(2), 0x50);
	CHECK_EQ(take(3), -1);
	/* Cluster model: cluster 1 members 0 and 1, cluster 2 member 0. */
	for (int i = 0; i < NCPU; i++)
		wr(i, 0xe0, 0x0fffffff);
	CHECK_EQ(rd(0, 0xe0), 0x0fffffff);
	wr(0, 0xd0, 0x11000000);
	wr(1, 0xd0, 0x12000000);
	wr(2, 0xd0, 0x21000000);
	wr(3, 0xd0, 0x00000000);
	m.dest = 0x13;
	m.vector = 0x60;
	apic_bus_deliver(abus, &m, NULL);
	CHECK_EQ(take(0), 0x60);
	CHECK_EQ(take(1), 0x60);
	CHECK_EQ(take(2), -1);
	m.dest = 0xf1; /* member 0 of every cluster */
	m.vector = 0x70;
	apic_bus_deliver(abus, &m, NULL);
	CHECK_EQ(take(0), 0x70);
	CHECK_EQ(take(1), -1);
	CHECK_EQ(take(2), 0x70);
	CHECK_EQ(take(3), -1);
	/* Physical broadcast. */
	m = (struct apic_msg){.dest = 0xff, .vector = 0x80};
	apic_bus_deliver(abus, &m, NULL);
	for (int i = 0; i < NCPU; i++)
		CHECK_EQ(take(i), 0x80);
	/* Lowest priority: the lowest TPR class wins, ties to the lowest
	 * index, every time. */
	for (int i = 0; i < NCPU; i++)
		wr(i, 0x80, 0x30);
	wr(2, 0x80, 0x10);
	wr(3, 0x80, 0x10);
	m = (struct apic_msg){.dest = 0xff, .vector = 0x90, .delivery = APIC_DM_LOWEST};
	apic_bus_deliver(abus, &m, NULL);
	CHECK_EQ(take(2), 0x90);
	for (int i = 0; i < NCPU; i++)
		CHECK_EQ(lapic_pending_vector(cpu[i]), -1);
	teardown();
}

static void test_ipis(void)
{
	setup();
	for (int i = 0; i < NCPU; i++)
		enable(i);
	/* Fixed IPI to APIC ID 3. */
	int k = kicks[3];
	wr(0, 0x310, 3u << 24);
	wr(0, 0x300, 0x00f3);
	CHECK(kicks[3] > k);
	CHECK_EQ(rd(0, 0x300) & (1u << 12), 0); /* delivery status: idle */
	CHECK_EQ(take(3), 0xf3);
	/* Shorthands. */
	wr(1, 0x300, 0x000c00e1); /* all but self */
	CHECK_EQ(take(0), 0xe1);
	CHECK_EQ(take(1), -1);
	CHECK_EQ(take(2), 0xe1);
	CHECK_EQ(take(3), -1); /* 0xf3 in service blocks 0xe1 */
	wr(3, 0xb0, 0);
	CHECK_EQ(take(3), 0xe1);
	wr(2, 0x300, 0x000400d1); /* self */
	CHECK_EQ(take(2), -1);    /* blocked by 0xe1 */
	wr(2, 0xb0, 0);
	CHECK_EQ(take(2), 0xd1);
	wr(2, 0x300, 0x000800c1); /* all including self */
	for (int i = 0; i < NCPU; i++)
		CHECK_EQ(rd(i, 0x260), 1u << 1); /* IRR bit 0xc1 everywhere */
	/* NMI IPI. */
	wr(0, 0x310, 1u << 24);
	wr(0, 0x300, 0x0400);
	uint8_t v;
	CHECK_EQ(lapic_poll_event(cpu[1], LAPIC_EV_ALL, &v), LAPIC_EV_NMI);
	CHECK_EQ(v, 2);
	teardown();
}

/* wakeup_secondary_cpu_via_init(): INIT assert, INIT de-assert, then two
 * STARTUP IPIs with the trampoline page. */
static void test_init_sipi(void)
{
	setup();
	enable(0);
	enable(2);
	wr(2, 0x80, 0x20);
	fixed(2, 0x99, false); /* state that INIT must clear */
	wr(0, 0x310, 2u << 24);
	wr(0, 0x300, 0xc500);
	wr(0, 0x310, 2u << 24);
	wr(0, 0x300, 0x8500);
	CHECK_EQ(lapic_pending_events(cpu[2]), LAPIC_EV_INIT);
	for (int i = 0; i < 2; i++) {
		wr(0, 0x310, 2u << 24);
		wr(0, 0x300, 0x0600 | 0x9a);
	}
	/* The AP waits for SIPI: it polls INIT and SIPI only. */
	uint8_t v;
	unsigned wait_sipi = LAPIC_EV_INIT | LAPIC_EV_SIPI;
	CHECK_EQ(lapic_poll_event(cpu[2], wait_sipi, &v), LAPIC_EV_INIT);
	CHECK_EQ(lapic_poll_event(cpu[2], wait_sipi, &v), LAPIC_EV_SIPI);
	CHECK_EQ(v, 0x9a);
	CHECK_EQ(lapic_poll_event(cpu[2], wait_sipi, &v), LAPIC_EV_NONE);
	/* INIT reset the APIC but kept its ID. */
	CHECK_EQ(rd(2, 0x20), 2u << 24);
	CHECK_EQ(rd(2, 0x80), 0);
	CHECK_EQ(rd(2, 0xf0), 0xff);
	CHECK_EQ(lapic_pending_vector(cpu[2]), -1);
	/* Fixed-only self shorthand: an INIT to self is dropped. */
	wr(0, 0x300, 0x00044500);
	CHECK_EQ(lapic_pending_events(cpu[0]) & LAPIC_EV_INIT, 0);
	teardown();
}

static void test_lint_and_extint(void)
{
	setup();
	/* The BSP's LINT0 in ExtINT mode passes the 8259's INT. */
	extint_vector = 0x30;
	lapic_set_lint(cpu[0], 0, 1);
	CHECK(lapic_pending_events(cpu[0]) & LAPIC_EV_EXTINT);
	uint8_t v;
	CHECK_EQ(lapic_poll_event(cpu[0], LAPIC_EV_ALL & ~(LAPIC_EV_EXTINT | LAPIC_EV_INTR), &v),
	         LAPIC_EV_NONE); /* IF = 0 */
	CHECK_EQ(lapic_poll_event(cpu[0], LAPIC_EV_ALL, &v), LAPIC_EV_EXTINT);
	CHECK_EQ(v, 0x30);
	CHECK_EQ(extint_acks, 1);
	lapic_set_lint(cpu[0], 0, 0);
	CHECK_EQ(lapic_pending_events(cpu[0]), 0);
	/* On an AP LINT0 is masked. */
	lapic_set_lint(cpu[1], 0, 1);
	CHECK_EQ(lapic_pending_events(cpu[1]), 0);
	/* LINT1 = NMI on the BSP: a rising edge. */
	lapic_set_lint(cpu[0], 1, 1);
	CHECK_EQ(lapic_poll_event(cpu[0], LAPIC_EV_ALL, &v), LAPIC_EV_NMI);
	lapic_set_lint(cpu[0], 1, 1);
	CHECK_EQ(lapic_pending_events(cpu[0]) & LAPIC_EV_NMI, 0);
	/* Linux masks LINT0 once the IOAPIC routes interrupts. */
	enable(0);
	wr(0, 0x350, 0x10700);
	lapic_set_lint(cpu[0], 0, 1);
	CHECK_EQ(lapic_pending_events(cpu[0]) & LAPIC_EV_EXTINT, 0);
	/* A globally disabled APIC passes INTR straight through. */
	CHECK_EQ(lapic_msr_write(cpu[0], MSR_IA32_APIC_BASE, 0xfee00000), 0);
	CHECK(!lapic_mmio_active(cpu[0]));
	CHECK(lapic_pending_events(cpu[0]) & LAPIC_EV_EXTINT);
	/* LINT0 as a fixed edge input. */
	enable(1);
	wr(1, 0x350, 0x0000a5);
	lapic_set_lint(cpu[1], 0, 0);
	lapic_set_lint(cpu[1], 0, 1);
	CHECK_EQ(take(1), 0xa5);
	teardown();
}

/* calibrate_APIC_clock(): periodic, masked, divide by 16, count from
 * 0xffffffff / 16; after 100 ms of PIT ticks the count fell by delta and
 * lapic_timer_period = delta * 16 / LAPIC_CAL_LOOPS. */
static void test_timer_calibration(void)
{
	setup();
	enable(0);
	clk.ns = 777;
	wr(0, 0x320, 0xec | 0x20000 | 0x10000);
	uint32_t tdcr = rd(0, 0x3e0);
	wr(0, 0x3e0, (tdcr & ~0xbu) | 0x3);
	wr(0, 0x380, 0xffffffffu / 16);
	uint32_t t1 = rd(0, 0x390);
	CHECK_EQ(t1, 0xffffffffu / 16);
	clk.ns += 100000000; /* LAPIC_CAL_LOOPS = HZ / 10 jiffies at HZ = 250 */
	uint32_t t2 = rd(0, 0x390);
	uint64_t delta = t1 - t2;
	CHECK_EQ(delta, 6250000);
	CHECK_EQ(delta * 16 / 25, 4000000); /* lapic_timer_period: 1 GHz / HZ */
	/* Masked: nothing was delivered. */
	lapic_advance(cpu[0], clk.ns);
	CHECK_EQ(lapic_pending_vector(cpu[0]), -1);
	teardown();
}

static void test_timer_periodic_oneshot(void)
{
	setup();
	enable(0);
	/* Periodic, unmasked, divide by 1, 1000 counts = 1 us at 1 GHz. */
	wr(0, 0x3e0, 0xb);
	wr(0, 0x320, 0x20000 | 0xec);
	clk.ns = 500;
	wr(0, 0x380, 1000);
	for (unsigned k = 1; k <= 100; k++) {
		uint64_t d = lapic_next_deadline_ns(cpu[0]);
		CHECK_EQ(d, 500 + k * 1000);
		clk.ns = d - 1;
		lapic_advance(cpu[0], clk.ns);
		CHECK_EQ(lapic_pending_vector(cpu[0]), -1);
		CHECK_EQ(rd(0, 0x390), 1);
		clk.ns = d;
		lapic_advance(cpu[0], clk.ns);
		CHECK_EQ(take(0), 0xec);
		wr(0, 0xb0, 0);
		CHECK_EQ(rd(0, 0x390), 1000);
		if (test_current_failed)
			break;
	}
	/* Each divide value: the one-shot expires after count * divisor. */
	static const struct {
		uint32_t tdcr, div;
	} divs[] = {{0x0, 2},  {0x1, 4},  {0x2, 8},   {0x3, 16},
	            {0x8, 32}, {0x9, 64}, {0xa, 128}, {0xb, 1}};
	wr(0, 0x320, 0xed); /* one-shot */
	for (unsigned i = 0; i < sizeof divs / sizeof divs[0]; i++) {
		wr(0, 0x3e0, divs[i].tdcr);
		uint64_t t0 = clk.ns;
		wr(0, 0x380, 50);
		CHECK_EQ(lapic_next_deadline_ns(cpu[0]), t0 + 50 * divs[i].div);
		clk.ns = t0 + 50 * divs[i].div;
		CHECK_EQ(rd(0, 0x390), 0);
		lapic_advance(cpu[0], clk.ns);
		CHECK_EQ(take(0), 0xed);
		wr(0, 0xb0, 0);
		CHECK_EQ(lapic_next_deadline_ns(cpu[0]), CLOCK_NEVER);
	}
	/* Changing the divider mid-count goes on at the new rate. */
	wr(0, 0x3e0, 0xb);
	uint64_t t0 = clk.ns;
	wr(0, 0x380, 100);
	clk.ns = t0 + 40;
	wr(0, 0x3e0, 0x0); /* divide by 2: the remaining 60 take 120 ns */
	CHECK_EQ(rd(0, 0x390), 60);
	CHECK_EQ(lapic_next_deadline_ns(cpu[0]), t0 + 40 + 120);
	/* TMICT = 0 stops it. */
	wr(0, 0x380, 0);
	CHECK_EQ(lapic_next_deadline_ns(cpu[0]), CLOCK_NEVER);
	/* A late advance fires a periodic timer once, not per period. */
	wr(0, 0x320, 0x20000 | 0xee);
	wr(0, 0x3e0, 0xb);
	t0 = clk.ns;
	wr(0, 0x380, 10);
	clk.ns = t0 + 1000;
	lapic_advance(cpu[0], clk.ns);
	CHECK_EQ(take(0), 0xee);
	CHECK_EQ(lapic_next_deadline_ns(cpu[0]), t0 + 1010);
	teardown();
}

static void test_tsc_deadline(void)
{
	setup();
	enable(0);
	uint64_t v;
	/* Outside TSC-deadline mode the MSR reads 0 and ignores writes. */
	CHECK_EQ(lapic_msr_write(cpu[0], MSR_IA32_TSC_DEADLINE, 1234), 0);
	CHECK_EQ(lapic_msr_read(cpu[0], MSR_IA32_TSC_DEADLINE, &v), 0);
	CHECK_EQ(v, 0);
	wr(0, 0x320, 0x40000 | 0xef); /* lapic_timer_set_oneshot(tsc_deadline) */
	CHECK_EQ(rd(0, 0x320), 0x400ef);
	clk.ns = 1000;
	/* lapic_next_deadline: tsc + delta; TSC = 2 per ns here. */
	uint64_t tsc = clock_ticks_at(clk.ns, 2000000000);
	CHECK_EQ(lapic_msr_write(cpu[0], MSR_IA32_TSC_DEADLINE, tsc + 5000), 0);
	CHECK_EQ(lapic_next_deadline_ns(cpu[0]), 3500);
	CHECK_EQ(lapic_msr_read(cpu[0], MSR_IA32_TSC_DEADLINE, &v), 0);
	CHECK_EQ(v, tsc + 5000);
	/* TMICT is ignored and TMCCT reads 0 in this mode. */
	wr(0, 0x380, 100);
	CHECK_EQ(rd(0, 0x380), 0);
	CHECK_EQ(rd(0, 0x390), 0);
	lapic_advance(cpu[0], 3499);
	CHECK_EQ(lapic_pending_vector(cpu[0]), -1);
	lapic_advance(cpu[0], 3500);
	CHECK_EQ(take(0), 0xef);
	CHECK_EQ(lapic_msr_read(cpu[0], MSR_IA32_TSC_DEADLINE, &v), 0);
	CHECK_EQ(v, 0);
	CHECK_EQ(lapic_next_deadline_ns(cpu[0]), CLOCK_NEVER);
	/* A deadline in the past fires at the next advance. */
	clk.ns = 5000;
	wr(0, 0xb0, 0);
	lapic_msr_write(cpu[0], MSR_IA32_TSC_DEADLINE, 10);
	CHECK_EQ(take(0), 0xef);
	wr(0, 0xb0, 0);
	CHECK_EQ(lapic_next_deadline_ns(cpu[0]), CLOCK_NEVER);
	/* A TSC offset moves the deadline. */
	lapic_set_tsc_offset(cpu[0], 1000000);
	lapic_msr_write(cpu[0], MSR_IA32_TSC_DEADLINE, 1000000 + 20000);
	CHECK_EQ(lapic_next_deadline_ns(cpu[0]), 10000);
	/* A far-future deadline is far, not past. */
	lapic_msr_write(cpu[0], MSR_IA32_TSC_DEADLINE, ~0ULL);
	CHECK(lapic_next_deadline_ns(cpu[0]) > 1000000000000ULL);
	/* Leaving TSC-deadline mode disarms. */
	wr(0, 0x320, 0xef);
	CHECK_EQ(lapic_next_deadline_ns(cpu[0]), CLOCK_NEVER);
	teardown();
}

static void test_x2apic(void)
{
	setup();
	uint64_t v;
	/* x2APIC MSRs #GP in xAPIC mode. */
	CHECK_EQ(lapic_msr_read(cpu[1], 0x802, &v), LAPIC_MSR_GP);
	/* Disabled -> x2APIC directly, and EXTD without EN, are invalid. */
	CHECK_EQ(lapic_msr_write(cpu[1], MSR_IA32_APIC_BASE, 0xfee00400), LAPIC_MSR_GP);
	CHECK_EQ(lapic_msr_write(cpu[1], MSR_IA32_APIC_BASE, 0xfee00801), LAPIC_MSR_GP);
	CHECK_EQ(lapic_msr_write(cpu[1], MSR_IA32_APIC_BASE, 0xfee00c00), 0);
	CHECK(!lapic_mmio_active(cpu[1]));
	CHECK_EQ(lapic_mmio_read(cpu[1], 0x20, 4), 0);
	CHECK_EQ(lapic_msr_read(cpu[1], 0x802, &v), 0);
	CHECK_EQ(v, 1);
	CHECK_EQ(lapic_msr_read(cpu[1], 0x80d, &v), 0);
	CHECK_EQ(v, 0x00000002); /* cluster 0, bit 1 */
	CHECK_EQ(lapic_msr_read(cpu[1], 0x803, &v), 0);
	CHECK_EQ(v, 0x00050014);
	/* Read-only, absent and write-only registers. */
	CHECK_EQ(lapic_msr_write(cpu[1], 0x802, 5), LAPIC_MSR_GP);
	CHECK_EQ(lapic_msr_write(cpu[1], 0x80d, 5), LAPIC_MSR_GP);
	CHECK_EQ(lapic_msr_read(cpu[1], 0x80e, &v), LAPIC_MSR_GP); /* no DFR */
	CHECK_EQ(lapic_msr_read(cpu[1], 0x80b, &v), LAPIC_MSR_GP); /* EOI is write-only */
	CHECK_EQ(lapic_msr_read(cpu[1], 0x831, &v), LAPIC_MSR_GP); /* no ICR high */
	CHECK_EQ(lapic_msr_read(cpu[1], 0x83f, &v), LAPIC_MSR_GP);
	CHECK_EQ(lapic_msr_read(cpu[1], 0x82f, &v), LAPIC_MSR_GP); /* no CMCI LVT */
	CHECK_EQ(lapic_msr_write(cpu[1], 0x80b, 1), LAPIC_MSR_GP);
	CHECK_EQ(lapic_msr_write(cpu[1], 0x828, 1), LAPIC_MSR_GP);
	CHECK_EQ(lapic_msr_write(cpu[1], 0x808, 0x100), LAPIC_MSR_GP);
	CHECK_EQ(lapic_msr_write(cpu[1], 0x80f, 1ULL << 32), LAPIC_MSR_GP);
	CHECK_EQ(lapic_msr_write(cpu[1], 0x80f, 0x1ff), 0);
	/* SELF IPI. */
	CHECK_EQ(lapic_msr_write(cpu[1], 0x83f, 0x1234), LAPIC_MSR_GP);
	CHECK_EQ(lapic_msr_write(cpu[1], 0x83f, 0x34), 0);
	CHECK_EQ(lapic_pending_vector(cpu[1]), 0x34);
	CHECK_EQ(lapic_msr_write(cpu[1], 0x80b, 0), 0); /* EOI with nothing in service */
	CHECK_EQ(take(1), 0x34);
	CHECK_EQ(lapic_msr_write(cpu[1], 0x80b, 0), 0);
	/* 64-bit ICR: physical destination in bits 63:32. Receivers in xAPIC
	 * mode match on their 8-bit ID. */
	enable(2);
	CHECK_EQ(lapic_msr_write(cpu[1], 0x830, 2ULL << 32 | 0x00b1), 0);
	CHECK_EQ(take(2), 0xb1);
	CHECK_EQ(lapic_msr_read(cpu[1], 0x830, &v), 0);
	CHECK_EQ(v, 2ULL << 32 | 0x00b1);
	CHECK_EQ(lapic_msr_write(cpu[1], 0x830, 0x1000), LAPIC_MSR_GP); /* reserved bit */
	/* Cluster logical destination in x2APIC format. */
	CHECK_EQ(lapic_msr_write(cpu[3], MSR_IA32_APIC_BASE, 0xfee00c00), 0);
	CHECK_EQ(lapic_msr_write(cpu[3], 0x80f, 0x1ff), 0);
	CHECK_EQ(lapic_msr_write(cpu[1], 0x830, 0x0000000aULL << 32 | 0x08c2), 0);
	CHECK_EQ(take(1), 0xc2);
	CHECK_EQ(take(3), 0xc2);
	/* An 8-bit physical destination from the IOAPIC reaches an x2APIC
	 * by its ID (Linux's x2apic_phys without interrupt remapping). */
	CHECK_EQ(lapic_msr_write(cpu[3], 0x80b, 0), 0);
	fixed(3, 0x77, true);
	CHECK_EQ(take(3), 0x77);
	CHECK_EQ(lapic_msr_write(cpu[3], 0x80b, 0), 0);
	CHECK_EQ(eois[0x77], 1);
	/* TSC-deadline LVT bits pass the reserved-bit check. */
	CHECK_EQ(lapic_msr_write(cpu[1], 0x832, 0x400ef), 0);
	CHECK_EQ(lapic_msr_write(cpu[1], 0x832, 0x800ef), LAPIC_MSR_GP);
	/* x2APIC -> xAPIC is invalid; through disabled it works and the
	 * state is reset. */
	CHECK_EQ(lapic_msr_write(cpu[1], MSR_IA32_APIC_BASE, 0xfee00800), LAPIC_MSR_GP);
	CHECK_EQ(lapic_msr_write(cpu[1], MSR_IA32_APIC_BASE, 0xfee00000), 0);
	CHECK_EQ(lapic_msr_write(cpu[1], MSR_IA32_APIC_BASE, 0xfee00800), 0);
	CHECK(lapic_mmio_active(cpu[1]));
	CHECK_EQ(rd(1, 0xf0), 0xff);
	CHECK_EQ(rd(1, 0x20), 1u << 24);
	/* The BSP bit is not the guest's to change; reserved bits #GP. */
	CHECK_EQ(lapic_msr_write(cpu[0], MSR_IA32_APIC_BASE, 0xfee00800), 0);
	CHECK_EQ(lapic_msr_read(cpu[0], MSR_IA32_APIC_BASE, &v), 0);
	CHECK_EQ(v, 0xfee00900);
	CHECK_EQ(lapic_msr_write(cpu[0], MSR_IA32_APIC_BASE, 0xfee00a00), LAPIC_MSR_GP);
	CHECK_EQ(lapic_msr_write(cpu[0], MSR_IA32_APIC_BASE, 1ULL << 60 | 0xfee00800),
	         LAPIC_MSR_GP);
	/* Relocation. */
	CHECK_EQ(lapic_msr_write(cpu[0], MSR_IA32_APIC_BASE, 0xfed00800), 0);
	CHECK_EQ(lapic_mmio_base(cpu[0]), 0xfed00000);
	CHECK(lapic_handles_msr(0x1b) && lapic_handles_msr(0x6e0) && lapic_handles_msr(0x8ff));
	CHECK(!lapic_handles_msr(0x900) && !lapic_handles_msr(0x10));
	CHECK_EQ(lapic_msr_read(cpu[0], 0x10, &v), LAPIC_MSR_GP);
	teardown();
}

static void test_duplicate_index(void)
{
	setup();
	CHECK(lapic_create(&(struct lapic_config){.bus = abus, .clock = &gclk, .cpu_index = 1}) ==
	      NULL);
	CHECK(lapic_create(&(struct lapic_config){.bus = abus, .clock = &gclk, .cpu_index = -1}) ==
	      NULL);
	CHECK_EQ(lapic_cpu_index(cpu[3]), 3);
	teardown();
}

int main(void)
{
	RUN(test_reset_state);
	RUN(test_priorities_and_eoi);
	RUN(test_errors);
	RUN(test_logical_destinations);
	RUN(test_ipis);
	RUN(test_init_sipi);
	RUN(test_lint_and_extint);
	RUN(test_timer_calibration);
	RUN(test_timer_periodic_oneshot);
	RUN(test_tsc_deadline);
	RUN(test_x2apic);
	RUN(test_duplicate_index);
	TEST_DONE();
}
