/* The HPET on a manual clock: the counter's rate, halting and writing it,
 * one-shot and periodic matches at the right nanosecond (64- and 32-bit),
 * Linux's programming sequences, level/edge interrupts and the status
 * register, LegacyReplacement (with the PIT and the RTC cut off, through
 * the soft engine's real interrupt wiring), and hostile accesses. */
#include <stdlib.h>

#include "dev/hpet.h"
#include "dev/irqchip.h"
#include "dev/rtc.h"
#include "test.h"
#include "vm.h"

#define GSIS 32
#define NS_PER_TICK 10 /* 100 MHz */

/* An engine that records every line: its level and its rising edges. */
static struct {
	int level[GSIS];
	int edges[GSIS];
	int calls;
	int timers_changed;
} eng;

static void rec_set_irq(struct vm *vm, unsigned gsi, int level)
{
	(void)vm;
	eng.calls++;
	if (gsi >= GSIS)
		return;
	if (level && !eng.level[gsi])
		eng.edges[gsi]++;
	eng.level[gsi] = level;
}

static const struct engine_ops rec_engine = {.name = "rec", .set_irq = rec_set_irq};

static void rec_timers_changed(struct vm *vm)
{
	(void)vm;
	eng.timers_changed++;
}

static struct manual_clock clk;

struct rig {
	struct vm vm;
	struct hpet *hpet;
	struct rtc *rtc;
};

static struct rig *rig_new(bool with_rtc)
{
	memset(&eng, 0, sizeof eng);
	struct rig *r = calloc(1, sizeof *r);
	r->vm.bus = bus_create();
	r->vm.engine = &rec_engine;
	vm_clock_init(&r->vm, true);
	clk.ns = 0;
	r->vm.clock = manual_clock_as_guest_clock(&clk);
	r->vm.timers_changed = rec_timers_changed;
	if (with_rtc)
		r->rtc = rtc_create(&r->vm);
	r->hpet = hpet_create(&r->vm);
	CHECK(r->hpet != NULL);
	return r;
}

static void rig_free(struct rig *r)
{
	hpet_destroy(r->hpet);
	rtc_destroy(r->rtc);
	bus_destroy(r->vm.bus);
	free(r);
}

static uint64_t rd(struct rig *r, unsigned off, unsigned size)
{
	return bus_read(r->vm.bus, BUS_MMIO, HPET_BASE + off, size);
}
static void wr(struct rig *r, unsigned off, unsigned size, uint64_t v)
{
	bus_write(r->vm.bus, BUS_MMIO, HPET_BASE + off, size, v);
}
static uint64_t rd64(struct rig *r, unsigned off)
{
	return rd(r, off, 8);
}
static void wr64(struct rig *r, unsigned off, uint64_t v)
{
	wr(r, off, 8, v);
}

/* The engine's part: time moves to ns and the device catches up. */
static void advance_to(struct rig *r, uint64_t ns)
{
	clk.ns = ns;
	vm_timers_advance(&r->vm, ns);
}

static uint64_t deadline(struct rig *r)
{
	return vm_timers_next_deadline_ns(&r->vm);
}

/* Run every deadline up to `until`; returns how many there were. */
static int run_until(struct rig *r, uint64_t until)
{
	int n = 0;
	for (uint64_t d; (d = deadline(r)) <= until; n++)
		advance_to(r, d);
	advance_to(r, until);
	return n;
}

static uint64_t ticks_ns(uint64_t ticks)
{
	return ticks * NS_PER_TICK;
}

static void enable(struct rig *r, uint64_t extra_cfg)
{
	wr64(r, HPET_REG_CONFIG, HPET_CFG_ENABLE | extra_cfg);
}

/* ---- identification ---- */

static void test_capabilities(void)
{
	struct rig *r = rig_new(false);
	uint64_t cap = rd64(r, HPET_REG_CAP);
	CHECK_EQ(cap & 0xFF, 1);                /* revision */
	CHECK_EQ((cap >> 8) & 0x1F, 2);         /* 3 timers */
	CHECK(cap & (1u << 13));                /* 64-bit counter */
	CHECK(cap & (1u << 15));                /* LegacyReplacement */
	CHECK_EQ((cap >> 16) & 0xFFFF, 0x8086); /* vendor */
	CHECK_EQ(cap >> 32, 10000000);          /* 10 ns in femtoseconds */
	CHECK_EQ(rd(r, 0, 4), (uint32_t)cap);   /* Linux reads HPET_ID ... */
	CHECK_EQ(rd(r, 4, 4), cap >> 32);       /* ... and HPET_PERIOD with readl */
	wr64(r, HPET_REG_CAP, 0);               /* read-only */
	CHECK_EQ(rd64(r, HPET_REG_CAP), cap);
	for (unsigned n = 0; n < 3; n++) {
		uint64_t c = rd64(r, HPET_REG_TN_CONFIG(n));
		CHECK_EQ(c >> 32, 0x00F00000); /* IOAPIC pins 20-23 */
		CHECK(c & HPET_TN_SIZE_CAP);
		CHECK_EQ(!!(c & HPET_TN_PER_INT_CAP), n == 0);
		CHECK_EQ(c & 0xFFFF & ~(uint64_t)(HPET_TN_SIZE_CAP | HPET_TN_PER_INT_CAP), 0);
		CHECK_EQ(rd64(r, HPET_REG_TN_CMP(n)), ~0ULL); /* reset value */
		CHECK_EQ(rd64(r, HPET_REG_TN_FSB(n)), 0);
	}
	CHECK_EQ(rd64(r, HPET_REG_CONFIG), 0);
	CHECK_EQ(rd64(r, HPET_REG_STATUS), 0);
	CHECK_EQ(rd64(r, HPET_REG_COUNTER), 0);
	CHECK_EQ(deadline(r), CLOCK_NEVER);
	rig_free(r);
}

/* ---- the main counter ---- */

static void test_counter_rate_and_halt(void)
{
	struct rig *r = rig_new(false);
	clk.ns = 5000;
	CHECK_EQ(rd64(r, HPET_REG_COUNTER), 0); /* halted at reset */
	enable(r, 0);
	clk.ns = 5000 + 1000000; /* 1 ms: 100000 ticks */
	CHECK_EQ(rd64(r, HPET_REG_COUNTER), 100000);
	clk.ns += 9; /* not a whole tick yet */
	CHECK_EQ(rd64(r, HPET_REG_COUNTER), 100000);
	clk.ns += 1;
	CHECK_EQ(rd64(r, HPET_REG_COUNTER), 100001);
	/* Writes while it counts are ignored. */
	wr64(r, HPET_REG_COUNTER, 7);
	CHECK_EQ(rd64(r, HPET_REG_COUNTER), 100001);
	/* Halted, it holds still and takes writes. */
	wr64(r, HPET_REG_CONFIG, 0);
	clk.ns += 1000000;
	CHECK_EQ(rd64(r, HPET_REG_COUNTER), 100001);
	wr64(r, HPET_REG_COUNTER, 0xFFFFFFF0ULL);
	CHECK_EQ(rd64(r, HPET_REG_COUNTER), 0xFFFFFFF0ULL);
	/* Linux's reset: two 32-bit writes of 0. */
	wr(r, HPET_REG_COUNTER, 4, 0);
	wr(r, HPET_REG_COUNTER + 4, 4, 0x12);
	CHECK_EQ(rd64(r, HPET_REG_COUNTER), 0x1200000000ULL);
	wr64(r, HPET_REG_COUNTER, 0xFFFFFFFFFFFFFFF0ULL);
	enable(r, 0);
	clk.ns += ticks_ns(0x20); /* wraps through zero */
	CHECK_EQ(rd64(r, HPET_REG_COUNTER), 0x10);
	CHECK_EQ(rd(r, HPET_REG_COUNTER, 4), 0x10);
	CHECK_EQ(rd(r, HPET_REG_COUNTER + 4, 4), 0);
	/* It never runs back, even if told an older time. */
	uint64_t c = rd64(r, HPET_REG_COUNTER);
	vm_timers_advance(&r->vm, 0);
	CHECK_EQ(rd64(r, HPET_REG_COUNTER), c);
	rig_free(r);
}

/* ---- one-shot ---- */

static void test_oneshot_64(void)
{
	struct rig *r = rig_new(false);
	/* Timer 2 to IOAPIC pin 20, edge, 64-bit, match at tick 1000. */
	wr64(r, HPET_REG_TN_CONFIG(2), HPET_TN_INT_ENB | 20u << HPET_TN_INT_ROUTE_SHIFT);
	wr64(r, HPET_REG_TN_CMP(2), 1000);
	CHECK_EQ(deadline(r), CLOCK_NEVER); /* halted: no match can come */
	clk.ns = 300;
	enable(r, 0);
	CHECK_EQ(deadline(r), 300 + ticks_ns(1000));
	CHECK(eng.timers_changed > 0);
	advance_to(r, 300 + ticks_ns(1000) - 1);
	CHECK_EQ(eng.edges[20], 0);
	advance_to(r, 300 + ticks_ns(1000));
	CHECK_EQ(eng.edges[20], 1);
	CHECK_EQ(eng.level[20], 0); /* edge: a pulse */
	CHECK_EQ(rd64(r, HPET_REG_STATUS), 0);
	CHECK_EQ(rd64(r, HPET_REG_TN_CMP(2)), 1000); /* one-shot: unchanged */
	CHECK_EQ(deadline(r), CLOCK_NEVER);          /* next match 2^64 ticks away */
	/* A comparator behind the counter matches only after a wrap. */
	wr64(r, HPET_REG_TN_CMP(2), 500);
	CHECK_EQ(deadline(r), CLOCK_NEVER);
	/* One ahead of it does. */
	uint64_t now_tick = rd64(r, HPET_REG_COUNTER);
	wr64(r, HPET_REG_TN_CMP(2), now_tick + 10);
	CHECK_EQ(deadline(r), 300 + ticks_ns(now_tick + 10));
	run_until(r, 300 + ticks_ns(now_tick + 100));
	CHECK_EQ(eng.edges[20], 2);
	/* Interrupt disabled: no deadline, no edge. */
	wr64(r, HPET_REG_TN_CONFIG(2), 20u << HPET_TN_INT_ROUTE_SHIFT);
	wr64(r, HPET_REG_TN_CMP(2), rd64(r, HPET_REG_COUNTER) + 5);
	CHECK_EQ(deadline(r), CLOCK_NEVER);
	advance_to(r, clk.ns + 1000);
	CHECK_EQ(eng.edges[20], 2);
	rig_free(r);
}

static void test_oneshot_32bit_wraps(void)
{
	struct rig *r = rig_new(false);
	wr64(r, HPET_REG_COUNTER, 0x1FFFFFFF0ULL);
	/* Linux's one-shot: TN_ENABLE | TN_32BIT, then the comparator. */
	wr(r, HPET_REG_TN_CONFIG(1), 4,
	   HPET_TN_INT_ENB | HPET_TN_32MODE | 21u << HPET_TN_INT_ROUTE_SHIFT);
	wr(r, HPET_REG_TN_CMP(1), 4, 0x20); /* low half 0x20: 0x30 ticks ahead */
	enable(r, 0);
	CHECK_EQ(deadline(r), ticks_ns(0x30));
	run_until(r, ticks_ns(0x30));
	CHECK_EQ(eng.edges[21], 1);
	/* The low 32 bits match again one wrap later (2^32 ticks, 42.9 s). */
	CHECK_EQ(deadline(r), ticks_ns(0x30 + (1ULL << 32)));
	/* The upper half of a 32-bit comparator reads 0 and ignores writes. */
	wr(r, HPET_REG_TN_CMP(1) + 4, 4, 0xFFFF);
	CHECK_EQ(rd64(r, HPET_REG_TN_CMP(1)), 0x20);
	/* Switching a 64-bit comparator to 32-bit truncates it. */
	wr64(r, HPET_REG_TN_CONFIG(2), 0);
	wr64(r, HPET_REG_TN_CMP(2), 0x123456789ULL);
	CHECK_EQ(rd64(r, HPET_REG_TN_CMP(2)), 0x123456789ULL);
	wr64(r, HPET_REG_TN_CONFIG(2), HPET_TN_32MODE);
	CHECK_EQ(rd64(r, HPET_REG_TN_CMP(2)), 0x23456789ULL);
	rig_free(r);
}

/* ---- periodic ---- */

static void test_periodic_linux_sequence(void)
{
	struct rig *r = rig_new(false);
	clk.ns = 1234;
	enable(r, HPET_CFG_LEG_RT);
	clk.ns = 777777;
	/* hpet_clkevt_set_state_periodic(), HZ = 250: 4 ms = 400000 ticks. */
	const uint32_t delta = 400000;
	wr(r, HPET_REG_CONFIG, 4, (uint32_t)rd(r, HPET_REG_CONFIG, 4) & ~HPET_CFG_ENABLE);
	uint32_t now = (uint32_t)rd(r, HPET_REG_COUNTER, 4);
	uint32_t cfg = (uint32_t)rd(r, HPET_REG_TN_CONFIG(0), 4);
	cfg |= HPET_TN_INT_ENB | HPET_TN_TYPE_PERIODIC | HPET_TN_VAL_SET | HPET_TN_32MODE;
	wr(r, HPET_REG_TN_CONFIG(0), 4, cfg);
	wr(r, HPET_REG_TN_CMP(0), 4, now + delta);
	clk.ns += 1000; /* udelay(1), counter halted */
	wr(r, HPET_REG_TN_CMP(0), 4, delta);
	CHECK_EQ(rd(r, HPET_REG_TN_CONFIG(0), 4) & HPET_TN_VAL_SET, 0); /* cleared itself */
	uint64_t start = clk.ns;
	wr(r, HPET_REG_CONFIG, 4, (uint32_t)rd(r, HPET_REG_CONFIG, 4) | HPET_CFG_ENABLE);
	CHECK_EQ(rd(r, HPET_REG_COUNTER, 4), now);
	/* A tick every 4 ms exactly, on IRQ 0 (LegacyReplacement). */
	for (int k = 1; k <= 250; k++) {
		uint64_t d = deadline(r);
		CHECK_EQ(d, start + ticks_ns((uint64_t)k * delta));
		advance_to(r, d);
	}
	CHECK_EQ(eng.edges[0], 250);
	CHECK_EQ(rd(r, HPET_REG_TN_CMP(0), 4), now + 251 * delta); /* the accumulator */
	/* The guest masked everything for 10.5 periods: one interrupt, and the
	 * accumulator skips the periods that went by. */
	advance_to(r, start + ticks_ns(261 * delta) + ticks_ns(delta / 2));
	CHECK_EQ(eng.edges[0], 251);
	CHECK_EQ(rd(r, HPET_REG_TN_CMP(0), 4), now + 262 * delta);
	CHECK_EQ(deadline(r), start + ticks_ns(262ULL * delta));
	rig_free(r);
}

static void test_periodic_64bit_and_valset(void)
{
	struct rig *r = rig_new(false);
	/* Periodic without VAL_SET: a write sets only the period. */
	wr64(r, HPET_REG_TN_CONFIG(0),
	     HPET_TN_INT_ENB | HPET_TN_TYPE_PERIODIC | 22u << HPET_TN_INT_ROUTE_SHIFT);
	wr64(r, HPET_REG_TN_CMP(0), 100);
	CHECK_EQ(rd64(r, HPET_REG_TN_CMP(0)), ~0ULL);
	/* With VAL_SET, the accumulator and the period. */
	wr64(r, HPET_REG_TN_CONFIG(0),
	     HPET_TN_INT_ENB | HPET_TN_TYPE_PERIODIC | HPET_TN_VAL_SET |
	         22u << HPET_TN_INT_ROUTE_SHIFT);
	wr64(r, HPET_REG_TN_CMP(0), 0x100000000ULL + 50);
	CHECK_EQ(rd64(r, HPET_REG_TN_CMP(0)), 0x100000000ULL + 50);
	wr64(r, HPET_REG_COUNTER, 0x100000000ULL);
	enable(r, 0);
	CHECK_EQ(deadline(r), ticks_ns(50));
	run_until(r, ticks_ns(50 + 3 * (0x100000000ULL + 50)) - 1);
	CHECK_EQ(eng.edges[22], 3);
	/* Only timer 0 can be periodic. */
	wr64(r, HPET_REG_TN_CONFIG(1), HPET_TN_TYPE_PERIODIC);
	CHECK_EQ(rd64(r, HPET_REG_TN_CONFIG(1)) & HPET_TN_TYPE_PERIODIC, 0);
	rig_free(r);
}

/* ---- level mode and the status register ---- */

static void test_level_and_status(void)
{
	struct rig *r = rig_new(false);
	wr64(r, HPET_REG_TN_CONFIG(2),
	     HPET_TN_INT_TYPE_LEVEL | HPET_TN_INT_ENB | 23u << HPET_TN_INT_ROUTE_SHIFT);
	wr64(r, HPET_REG_TN_CMP(2), 10);
	enable(r, 0);
	run_until(r, ticks_ns(10));
	CHECK_EQ(rd64(r, HPET_REG_STATUS), 1u << 2);
	CHECK_EQ(eng.level[23], 1);
	CHECK_EQ(deadline(r), CLOCK_NEVER); /* asserted: nothing more to deliver */
	wr64(r, HPET_REG_STATUS, 0);        /* writing 0 changes nothing */
	CHECK_EQ(rd64(r, HPET_REG_STATUS), 1u << 2);
	CHECK_EQ(eng.level[23], 1);
	wr(r, HPET_REG_STATUS, 1, 1u << 2); /* write 1 to clear */
	CHECK_EQ(rd64(r, HPET_REG_STATUS), 0);
	CHECK_EQ(eng.level[23], 0);
	/* Interrupt disabled: the status bit still comes, the line stays low,
	 * and a polling guest sees it without the engine's help. */
	wr64(r, HPET_REG_TN_CONFIG(2), HPET_TN_INT_TYPE_LEVEL | 23u << HPET_TN_INT_ROUTE_SHIFT);
	wr64(r, HPET_REG_TN_CMP(2), 100);
	CHECK_EQ(deadline(r), CLOCK_NEVER);
	clk.ns = ticks_ns(100);
	CHECK_EQ(rd64(r, HPET_REG_STATUS), 1u << 2);
	CHECK_EQ(eng.level[23], 0);
	/* Enabling the interrupt with the status set raises the line. */
	wr64(r, HPET_REG_TN_CONFIG(2),
	     HPET_TN_INT_TYPE_LEVEL | HPET_TN_INT_ENB | 23u << HPET_TN_INT_ROUTE_SHIFT);
	CHECK_EQ(eng.level[23], 1);
	/* Halting the block drops it; the status stays. */
	wr64(r, HPET_REG_CONFIG, 0);
	CHECK_EQ(eng.level[23], 0);
	CHECK_EQ(rd64(r, HPET_REG_STATUS), 1u << 2);
	enable(r, 0);
	CHECK_EQ(eng.level[23], 1);
	/* Edge mode has no status bit. */
	wr64(r, HPET_REG_TN_CONFIG(2), HPET_TN_INT_ENB | 23u << HPET_TN_INT_ROUTE_SHIFT);
	CHECK_EQ(rd64(r, HPET_REG_STATUS), 0);
	CHECK_EQ(eng.level[23], 0);
	rig_free(r);
}

static void test_routes(void)
{
	struct rig *r = rig_new(false);
	/* A pin outside the capability is not taken. */
	wr64(r, HPET_REG_TN_CONFIG(1), 21u << HPET_TN_INT_ROUTE_SHIFT);
	wr64(r, HPET_REG_TN_CONFIG(1), 5u << HPET_TN_INT_ROUTE_SHIFT);
	CHECK_EQ((rd64(r, HPET_REG_TN_CONFIG(1)) & HPET_TN_INT_ROUTE_MASK) >> 9, 21);
	/* The reset route (0) is no pin of the HPET's: no interrupt at all. */
	wr64(r, HPET_REG_TN_CONFIG(2), HPET_TN_INT_ENB);
	wr64(r, HPET_REG_TN_CMP(2), 10);
	enable(r, 0);
	CHECK_EQ(deadline(r), CLOCK_NEVER);
	advance_to(r, ticks_ns(20));
	for (int g = 0; g < GSIS; g++)
		CHECK_EQ(eng.edges[g], 0);
	/* FSB delivery cannot be switched on. */
	wr64(r, HPET_REG_TN_CONFIG(2), HPET_TN_FSB_EN | HPET_TN_FSB_INT_DEL_CAP);
	CHECK_EQ(rd64(r, HPET_REG_TN_CONFIG(2)) & (HPET_TN_FSB_EN | HPET_TN_FSB_INT_DEL_CAP), 0);
	wr64(r, HPET_REG_TN_FSB(2), ~0ULL);
	CHECK_EQ(rd64(r, HPET_REG_TN_FSB(2)), 0);
	rig_free(r);
}

/* ---- LegacyReplacement ---- */

static void test_legacy_replacement(void)
{
	struct rig *r = rig_new(true);
	/* The RTC's periodic interrupt owns IRQ 8 to begin with. */
	bus_write(r->vm.bus, BUS_PIO, 0x70, 1, 0x0B);
	bus_write(r->vm.bus, BUS_PIO, 0x71, 1, 0x02 | 0x40); /* 24h, PIE (1024 Hz) */
	const uint64_t base = 3000000;
	run_until(r, base);
	CHECK_EQ(eng.level[8], 1); /* nobody read register C */
	wr64(r, HPET_REG_TN_CONFIG(0), HPET_TN_INT_ENB | 20u << HPET_TN_INT_ROUTE_SHIFT);
	wr64(r, HPET_REG_TN_CONFIG(1), HPET_TN_INT_ENB | 21u << HPET_TN_INT_ROUTE_SHIFT);
	wr64(r, HPET_REG_TN_CMP(0), 1000);
	wr64(r, HPET_REG_TN_CMP(1), 2000);
	CHECK(!atomic_load(&r->vm.hpet_legacy_route));
	enable(r, HPET_CFG_LEG_RT);
	CHECK(atomic_load(&r->vm.hpet_legacy_route));
	CHECK_EQ(eng.level[8], 0); /* taken over: lowered */
	CHECK_EQ(eng.level[0], 0);
	int rtc_edges = eng.edges[8];
	/* Timer 0 on IRQ 0, timer 1 on IRQ 8, their own routes unused. */
	uint64_t t0 = base + ticks_ns(1000), t1 = base + ticks_ns(2000);
	run_until(r, t0);
	CHECK_EQ(eng.edges[0], 1);
	CHECK_EQ(eng.edges[20], 0);
	/* The RTC keeps latching its flags but IRQ 8 is not its any more. */
	bus_write(r->vm.bus, BUS_PIO, 0x70, 1, 0x0C);
	CHECK(bus_read(r->vm.bus, BUS_PIO, 0x71, 1) & 0x40);
	run_until(r, t1 - 1);
	CHECK_EQ(eng.edges[8], rtc_edges);
	CHECK_EQ(eng.level[8], 0);
	run_until(r, t1);
	CHECK_EQ(eng.edges[8], rtc_edges + 1);
	CHECK_EQ(eng.edges[21], 0);
	/* Five more ms of RTC periods: flags latch, IRQ 8 stays quiet. */
	run_until(r, t1 + 5000000);
	CHECK_EQ(eng.edges[8], rtc_edges + 1);
	CHECK_EQ(eng.level[8], 0);
	/* Off again: the RTC drives IRQ 8 from its next interrupt. */
	wr64(r, HPET_REG_CONFIG, HPET_CFG_ENABLE);
	CHECK(!atomic_load(&r->vm.hpet_legacy_route));
	run_until(r, t1 + 2000000);
	CHECK_EQ(eng.level[8], 1);
	rig_free(r);
}

/* The whole path on the soft engine's interrupt system: the PIT runs at
 * 1 kHz into IOAPIC pin 2, Linux switches to the HPET's legacy timer at
 * 250 Hz, and from then on vector 0x30 comes at 250 Hz only. */
static struct irqchip *chip;

static void chip_set_irq(struct vm *vm, unsigned gsi, int level)
{
	(void)vm;
	irqchip_set_irq(chip, gsi, level);
}

static const struct engine_ops chip_engine = {.name = "irqchip", .set_irq = chip_set_irq};

static int chip_run_until(struct rig *r, uint64_t until)
{
	int seen = 0;
	for (;;) {
		uint64_t d = clock_deadline_min(irqchip_next_deadline_ns(chip), deadline(r));
		if (d > until)
			break;
		clk.ns = d;
		irqchip_advance(chip, d);
		vm_timers_advance(&r->vm, d);
		struct lapic *l = irqchip_lapic(chip, 0);
		uint8_t v;
		if ((lapic_pending_events(l) & LAPIC_EV_ALL) &&
		    lapic_poll_event(l, LAPIC_EV_ALL, &v) == LAPIC_EV_INTR && v == 0x30) {
			seen++;
			lapic_mmio_write(l, 0xb0, 4, 0);
		}
	}
	clk.ns = until;
	return seen;
}

static void test_legacy_cuts_off_the_pit(void)
{
	struct rig *r = rig_new(false);
	r->vm.engine = &chip_engine;
	struct guest_clock gclk = manual_clock_as_guest_clock(&clk);
	chip =
	    irqchip_create(&(struct irqchip_config){.bus = r->vm.bus,
	                                            .clock = &gclk,
	                                            .ncpus = 1,
	                                            .tsc_hz = 1000000000,
	                                            .pit_disconnected = &r->vm.hpet_legacy_route});
	CHECK(chip != NULL);
	struct bus *b = r->vm.bus;
	/* 8259s masked, LAPIC on, IOAPIC pin 2 edge -> vector 0x30 on CPU 0. */
	bus_write(b, BUS_PIO, 0x21, 1, 0xff);
	bus_write(b, BUS_PIO, 0xa1, 1, 0xff);
	lapic_mmio_write(irqchip_lapic(chip, 0), 0xf0, 4, 0x1ff);
	bus_write(b, BUS_MMIO, 0xfec00000, 4, 0x10 + 2 * 2 + 1);
	bus_write(b, BUS_MMIO, 0xfec00010, 4, 0);
	bus_write(b, BUS_MMIO, 0xfec00000, 4, 0x10 + 2 * 2);
	bus_write(b, BUS_MMIO, 0xfec00010, 4, 0x30);
	/* PIT channel 0, mode 2, 1 kHz. */
	bus_write(b, BUS_PIO, 0x43, 1, 0x34);
	bus_write(b, BUS_PIO, 0x40, 1, 1193 & 0xff);
	bus_write(b, BUS_PIO, 0x40, 1, 1193 >> 8);
	int pit = chip_run_until(r, 100000000);
	CHECK(pit >= 99 && pit <= 101);
	/* HPET timer 0, legacy, periodic 4 ms. */
	wr64(r, HPET_REG_TN_CONFIG(0),
	     HPET_TN_INT_ENB | HPET_TN_TYPE_PERIODIC | HPET_TN_VAL_SET | HPET_TN_32MODE);
	wr64(r, HPET_REG_TN_CMP(0), 400000);
	wr64(r, HPET_REG_TN_CMP(0), 400000);
	enable(r, HPET_CFG_LEG_RT);
	int hpet = chip_run_until(r, 200000000);
	CHECK_EQ(hpet, 25); /* 100 ms at 250 Hz, the PIT's 100 ticks gone */
	/* LegacyReplacement off: the PIT's ticks come back. */
	wr64(r, HPET_REG_CONFIG, 0);
	pit = chip_run_until(r, 300000000);
	CHECK(pit >= 99 && pit <= 101);
	irqchip_destroy(chip);
	rig_free(r);
}

/* ---- hostile accesses ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void test_byte_lanes(void)
{
	struct rig *r = rig_new(false);
	wr64(r, HPET_REG_TN_CMP(2), 0x1122334455667788ULL);
	CHECK_EQ(rd(r, HPET_REG_TN_CMP(2) + 1, 1), 0x77);
	CHECK_EQ(rd(r, HPET_REG_TN_CMP(2) + 3, 2), 0x4455);
	CHECK_EQ(rd(r, HPET_REG_TN_CMP(2) + 6, 4), 0x1122); /* runs into the FSB register */
	wr(r, HPET_REG_TN_CMP(2) + 1, 1, 0xAB);
	CHECK_EQ(rd64(r, HPET_REG_TN_CMP(2)), 0x112233445566AB88ULL);
	wr(r, HPET_REG_TN_CMP(2) + 5, 2, 0xCDEF);
	CHECK_EQ(rd64(r, HPET_REG_TN_CMP(2)), 0x11CDEF445566AB88ULL);
	/* A write across two registers touches both, lane by lane: the
	 * counter's top bytes and reserved 0xF8. */
	wr(r, HPET_REG_COUNTER + 6, 4, 0xAAAABBBB);
	CHECK_EQ(rd64(r, HPET_REG_COUNTER), 0xBBBB000000000000ULL);
	CHECK_EQ(rd64(r, 0xF8), 0);
	rig_free(r);
}

static void test_hostile_values(void)
{
	struct rig *r = rig_new(true);
	static const unsigned sizes[] = {1, 2, 4, 8};
	uint64_t cap = rd64(r, HPET_REG_CAP);
	for (int round = 0; round < 4; round++) {
		for (unsigned off = 0; off < HPET_MMIO_SIZE; off++) {
			for (int s = 0; s < 4; s++) {
				uint64_t v = round == 0 ? ~0ULL : round == 1 ? 0 : rnd();
				wr(r, off, sizes[s], v);
				(void)rd(r, off, sizes[s]);
				clk.ns += rnd() % 1000;
				if ((rnd() & 7) == 0)
					advance_to(r, clk.ns);
			}
		}
		/* The engine's view stays sane: a deadline is never in the
		 * past once advanced to. */
		for (int k = 0; k < 100; k++) {
			uint64_t d = deadline(r);
			if (d == CLOCK_NEVER || d > clk.ns + 100000000000ULL)
				break;
			advance_to(r, d > clk.ns ? d : clk.ns);
			CHECK(deadline(r) > d || deadline(r) == CLOCK_NEVER);
		}
	}
	CHECK_EQ(rd64(r, HPET_REG_CAP), cap);
	/* Far beyond the block (the bus would not send these, but the device
	 * must not trust it): nothing happens. */
	CHECK_EQ(bus_read(r->vm.bus, BUS_MMIO, HPET_BASE + HPET_MMIO_SIZE, 4), 0xFFFFFFFF);
	rig_free(r);
}

/* Without it, the machine has no HPET: nothing answers at 0xFED00000. */
static void test_destroy_releases(void)
{
	struct rig *r = rig_new(false);
	enable(r, HPET_CFG_LEG_RT);
	CHECK(atomic_load(&r->vm.hpet_legacy_route));
	hpet_destroy(r->hpet);
	r->hpet = NULL;
	CHECK(!atomic_load(&r->vm.hpet_legacy_route));
	CHECK_EQ(bus_read(r->vm.bus, BUS_MMIO, HPET_BASE, 4), 0xFFFFFFFF);
	bus_destroy(r->vm.bus);
	free(r);
}

int main(void)
{
	RUN(test_capabilities);
	RUN(test_counter_rate_and_halt);
	RUN(test_oneshot_64);
	RUN(test_oneshot_32bit_wraps);
	RUN(test_periodic_linux_sequence);
	RUN(test_periodic_64bit_and_valset);
	RUN(test_level_and_status);
	RUN(test_routes);
	RUN(test_legacy_replacement);
	RUN(test_legacy_cuts_off_the_pit);
	RUN(test_byte_lanes);
	RUN(test_hostile_values);
	RUN(test_destroy_releases);
	TEST_DONE();
}
