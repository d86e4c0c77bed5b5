/* The HPET (IA-PC HPET 1.0a), found the way an OS finds it:
 *
 *   - the ACPI "HPET" table (from the XSDT or RSDT) gives the block's
 *     address, and its Event Timer Block ID equals the low half of the
 *     block's capabilities register;
 *   - the capabilities are sane (a period of at most 100 ns, three timers
 *     or more), the counter holds still while halted, takes a write, and
 *     counts at the advertised period: checked against the TSC when CPUID
 *     gives its rate, else against the ACPI PM timer (3.579545 MHz);
 *   - timer 0, periodic, on the LegacyReplacement route, interrupts through
 *     IOAPIC pin 2 (ISA IRQ 0 after the MADT override) at its period, and
 *     its comparator is the accumulator (the next match, one period ahead);
 *   - a level-triggered one-shot sets its status bit at the match, which
 *     writing 0 leaves and writing 1 clears.
 *
 * Registers are accessed 32 bits at a time, as Linux does, and 64-bit
 * values kept to 32-bit mode, so the check runs on every HPET. The block
 * is left halted, every route masked, as firmware would leave it. */
#include "kernel.h"
#include "x86.h"

#define VEC_HPET 0x4a

#define REG_CAP 0x000
#define REG_PERIOD 0x004
#define REG_CONFIG 0x010
#define REG_STATUS 0x020
#define REG_COUNTER 0x0f0
#define REG_COUNTER_HI 0x0f4
#define REG_TN_CONFIG(n) (0x100 + 0x20 * (n))
#define REG_TN_ROUTE_CAP(n) (0x104 + 0x20 * (n))
#define REG_TN_CMP(n) (0x108 + 0x20 * (n))

#define CFG_ENABLE 0x1
#define CFG_LEG_RT 0x2
#define CAP_LEG_RT (1u << 15)
#define TN_LEVEL (1u << 1)
#define TN_INT_ENB (1u << 2)
#define TN_PERIODIC (1u << 3)
#define TN_PER_CAP (1u << 4)
#define TN_VAL_SET (1u << 6)
#define TN_32MODE (1u << 8)
#define TN_ROUTE_SHIFT 9

#define MAX_PERIOD_FS 100000000u /* 100 ns: the specification's limit */
#define TABLE_MAX (1u << 20)
#define PM_TIMER_HZ 3579545ul

static uint64_t base;

static uint32_t rd(unsigned off)
{
	return mmio_read32(base + off);
}
static void wr(unsigned off, uint32_t v)
{
	mmio_write32(base + off, v);
}

static void ioapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(IOAPIC_BASE, reg);
	mmio_write32(IOAPIC_BASE + 0x10, v);
}
static uint32_t ioapic_read(uint32_t reg)
{
	mmio_write32(IOAPIC_BASE, reg);
	return mmio_read32(IOAPIC_BASE + 0x10);
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static uint8_t sum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t s = 0;
	while (n--)
		s += *b++;
	return s;
}

/* The table with this signature listed in the XSDT/RSDT at sdt (the kind
 * from the RSDP's revision), validated; 0 if there is none. */
static uint64_t find_table(uint64_t sdt, bool xsdt, const char *sig)
{
	uint32_t len = *(const uint32_t *)(sdt + 4);
	size_t esz = xsdt ? 8 : 4;
	for (size_t off = 36; off + esz <= len; off += esz) {
		uint64_t t = xsdt ? *(const uint64_t *)(sdt + off) : *(const uint32_t *)(sdt + off);
		if (!t || t >= (4ul << 30) - TABLE_MAX || memcmp((const void *)t, sig, 4))
			continue;
		uint32_t tlen = *(const uint32_t *)(t + 4);
		if (tlen >= 36 && tlen <= TABLE_MAX && !sum((const void *)t, tlen))
			return t;
	}
	return 0;
}

/* The TSC rate when the CPU or hypervisor states it (kHz), else 0. */
static uint64_t tsc_khz_known(void)
{
	struct cpuid_regs r = cpuid(0, 0);
	uint32_t max = r.eax;
	if (max >= 0x15) {
		r = cpuid(0x15, 0);
		if (r.eax && r.ebx && r.ecx)
			return (uint64_t)r.ecx * r.ebx / r.eax / 1000;
	}
	if (cpuid(1, 0).ecx & (1u << 31)) {
		r = cpuid(0x40000000, 0);
		if (r.eax >= 0x40000010 && r.eax < 0x40000100) {
			r = cpuid(0x40000010, 0);
			if (r.eax)
				return r.eax;
		}
	}
	return 0;
}

/* The main counter's low half while it runs (a 64-bit read would need
 * the high half twice; 32 bits cover 42 s at 100 MHz). */
static uint32_t counter(void)
{
	return rd(REG_COUNTER);
}

static void halt_block(void)
{
	wr(REG_CONFIG, rd(REG_CONFIG) & ~(uint32_t)(CFG_ENABLE | CFG_LEG_RT));
}

/* Counts HPET ticks against a reference over about 20 ms; returns the
 * measured period in femtoseconds, 0 if no reference could be read. */
static uint64_t measure_period_fs(uint64_t fadt, const char **ref)
{
	uint64_t khz = tsc_khz_known();
	if (khz) {
		*ref = "TSC";
		uint64_t t0 = rdtsc(), c0 = counter();
		uint64_t end = t0 + 20 * khz;
		while (rdtsc() < end)
			cpu_relax();
		uint64_t c1 = counter(), t1 = rdtsc();
		uint32_t ticks = (uint32_t)(c1 - c0);
		uint64_t ns = (t1 - t0) * 1000000 / khz;
		return ticks ? ns * 1000000 / ticks : 0;
	}
	/* The PM timer of the FADT: 24 or 32 bits at 3.579545 MHz. */
	if (!fadt || *(const uint32_t *)(fadt + 4) < 80)
		return 0;
	uint32_t port = *(const uint32_t *)(fadt + 76);
	if (!port || port > 0xfffc)
		return 0;
	*ref = "PM timer";
	bool ext =
	    *(const uint32_t *)(fadt + 4) >= 116 && (*(const uint32_t *)(fadt + 112) & 0x100);
	uint32_t mask = ext ? 0xffffffffu : 0xffffffu;
	uint32_t p0 = inl((uint16_t)port) & mask, c0 = counter(), p1 = p0;
	uint32_t want = (uint32_t)(PM_TIMER_HZ / 50); /* 20 ms */
	uint64_t guard = deadline_ms(2000);
	while (((p1 - p0) & mask) < want && !expired(guard))
		p1 = inl((uint16_t)port) & mask;
	uint32_t c1 = counter();
	uint32_t pm = (p1 - p0) & mask, ticks = c1 - c0;
	if (!ticks || pm < want)
		return 0;
	/* pm ticks of 1/3579545 s in femtoseconds, over the HPET's ticks. */
	return (uint64_t)pm * (1000000000000000ul / PM_TIMER_HZ) / ticks;
}

static volatile uint32_t irq_count, last_counter;

static bool on_hpet_irq(struct trap_frame *f, uint64_t cr2)
{
	last_counter = counter();
	irq_count++;
	lapic_write(0xb0, 0);
	return true;
}

/* Timer 0, periodic at 1 ms, LegacyReplacement: IRQ 0, IOAPIC pin 2. */
static void check_periodic_legacy(uint32_t period_fs)
{
	const uint32_t want = 10;
	uint32_t p = (uint32_t)(1000000000000ul / period_fs); /* 1 ms in ticks */
	uint32_t lo = ioapic_read(0x10 + 2 * 2), hi = ioapic_read(0x10 + 2 * 2 + 1);
	pic_set_mask(0xffff);
	ioapic_write(0x10 + 2 * 2 + 1, lapic_id() << 24);
	ioapic_write(0x10 + 2 * 2, VEC_HPET); /* edge, active high, fixed, unmasked */
	irq_count = 0;
	trap_hooks[VEC_HPET] = on_hpet_irq;

	/* Linux's sequence: halt, accumulator then period, start. */
	halt_block();
	wr(REG_COUNTER, 0);
	wr(REG_COUNTER_HI, 0);
	uint32_t cfg = rd(REG_TN_CONFIG(0)) & ~(uint32_t)(TN_LEVEL | (0x1fu << TN_ROUTE_SHIFT));
	wr(REG_TN_CONFIG(0), cfg | TN_INT_ENB | TN_PERIODIC | TN_VAL_SET | TN_32MODE);
	wr(REG_TN_CMP(0), p);
	wr(REG_TN_CMP(0), p);
	wr(REG_CONFIG, rd(REG_CONFIG) | CFG_LEG_RT | CFG_ENABLE);

	uint64_t start = rdtsc(), end = deadline_ms(2000);
	sti();
	for (uint64_t i = 0; irq_count < want && i < 100000000ul && !expired(end); i++)
		cpu_relax();
	cli();
	uint64_t waited_us = (rdtsc() - start) * 1000 / tsc_khz;
	uint32_t now = counter(), next = rd(REG_TN_CMP(0));
	halt_block();
	wr(REG_TN_CONFIG(0), rd(REG_TN_CONFIG(0)) & ~(uint32_t)(TN_INT_ENB | TN_PERIODIC));
	ioapic_write(0x10 + 2 * 2, lo | (1u << 16));
	ioapic_write(0x10 + 2 * 2 + 1, hi);
	trap_hooks[VEC_HPET] = 0;

	uint32_t got = irq_count, matches = last_counter / p;
	if (got < want) {
		check_fail("%u of %u periodic timer-0 interrupts (IOAPIC pin 2) within %lu us", got,
		           want, waited_us);
		return;
	}
	/* Not more interrupts than matches: the counter started at 0 and
	 * matches every p ticks. One more is let pass, for an edge the PIT
	 * may still make where LegacyReplacement does not silence it (KVM's
	 * in-kernel PIT under the kvm engine, after the pit check). */
	if (got > matches + 1)
		check_fail("%u interrupts by counter %u: only %u periods of %u ticks", got,
		           last_counter, matches, p);
	/* The accumulator holds the next match, at most one period ahead. */
	if ((uint32_t)(next - now) == 0 || (uint32_t)(next - now) > p)
		check_fail("comparator %#x not within one period (%u) after the counter %#x", next,
		           p, now);
}

/* Timer 2 one-shot, level-triggered, to a pin of its route capability
 * (masked at the IOAPIC): the status bit comes at the match. */
static void check_level_status(uint32_t period_fs)
{
	uint32_t cap = rd(REG_TN_ROUTE_CAP(2)), pin = 0;
	while (pin < 24 && !(cap >> pin & 1))
		pin++;
	if (pin >= 24) {
		check_fail("timer 2 can route to no IOAPIC pin (capability %#x)", cap);
		return;
	}
	uint32_t rte = ioapic_read(0x10 + 2 * pin);
	ioapic_write(0x10 + 2 * pin, rte | (1u << 16));
	/* The comparator first, then the status cleared of whatever an old
	 * comparator left (some HPETs fire at once for one in the past), then
	 * the interrupt enabled. */
	wr(REG_TN_CONFIG(2), TN_LEVEL | TN_32MODE | pin << TN_ROUTE_SHIFT);
	uint32_t got_route = (rd(REG_TN_CONFIG(2)) >> TN_ROUTE_SHIFT) & 0x1f;
	uint32_t ahead = (uint32_t)(100000000000ul / period_fs); /* 100 us */
	wr(REG_CONFIG, rd(REG_CONFIG) | CFG_ENABLE);
	uint32_t cmp = counter() + ahead;
	wr(REG_TN_CMP(2), cmp);
	wr(REG_STATUS, 1u << 2);
	wr(REG_TN_CONFIG(2), TN_LEVEL | TN_INT_ENB | TN_32MODE | pin << TN_ROUTE_SHIFT);
	uint32_t before = rd(REG_STATUS) & 4, status = 0;
	uint64_t end = deadline_ms(500);
	while (!expired(end) && !((status = rd(REG_STATUS)) & 4))
		cpu_relax();
	int32_t late = (int32_t)(counter() - cmp);
	wr(REG_STATUS, 0);
	uint32_t after0 = rd(REG_STATUS) & 4;
	wr(REG_STATUS, 1u << 2);
	uint32_t after1 = rd(REG_STATUS) & 4;
	wr(REG_TN_CONFIG(2), 0);
	halt_block();
	ioapic_write(0x10 + 2 * pin, rte | (1u << 16));

	if (got_route != pin)
		check_fail("timer 2 route %u reads back as %u", pin, got_route);
	else if (before)
		check_fail("status bit 2 set before the match");
	else if (!(status & 4))
		check_fail("no status bit 2 within 500 ms of a match 100 us ahead (status %#x)",
		           status);
	else if (late < 0)
		check_fail("status bit 2 set %d ticks before the match", -late);
	else if (!after0 || after1)
		check_fail("status bit 2: after writing 0 %s, after writing 1 %s",
		           after0 ? "set" : "clear", after1 ? "set" : "clear");
}

void check_hpet(void)
{
	static struct acpi_info a;
	char msg[120];
	if (!acpi_scan(&a, msg, sizeof(msg))) {
		check_fail("%s", msg);
		return;
	}
	bool xsdt = a.revision >= 2 && *(const uint64_t *)(a.rsdp + 24) == a.sdt;
	uint64_t t = find_table(a.sdt, xsdt, "HPET");
	if (!t) {
		check_skip("no HPET table in the ACPI tables");
		return;
	}
	if (*(const uint32_t *)(t + 4) < 56) {
		check_fail("HPET table is %u bytes", *(const uint32_t *)(t + 4));
		return;
	}
	uint32_t block_id = *(const uint32_t *)(t + 36);
	uint8_t space = *(const uint8_t *)(t + 40);
	base = *(const uint64_t *)(t + 44);
	if (space != 0 || !base || base >= (4ul << 30) || (base & 0x3ff)) {
		check_fail("HPET table: address space %u, base %#lx", space, base);
		return;
	}
	uint32_t id = rd(REG_CAP), period = rd(REG_PERIOD);
	unsigned timers = ((id >> 8) & 0x1f) + 1;
	if (id != block_id)
		check_fail("capabilities %#x, table's block ID %#x", id, block_id);
	if ((id & 0xff) == 0 || period == 0 || period > MAX_PERIOD_FS || timers < 3) {
		check_fail("capabilities %#x, period %u fs", id, period);
		return;
	}
	if (!(rd(REG_TN_CONFIG(0)) & TN_PER_CAP))
		check_fail("timer 0 cannot be periodic");

	/* Halted, the counter holds still and takes a write. */
	halt_block();
	wr(REG_COUNTER, 0x1234);
	wr(REG_COUNTER_HI, 0);
	delay_us(1000);
	uint32_t held = counter();
	wr(REG_CONFIG, rd(REG_CONFIG) | CFG_ENABLE);
	if (held != 0x1234)
		check_fail("halted counter written 0x1234 reads %#x", held);

	/* Running, it counts at the advertised period. */
	const char *ref = "?";
	uint64_t fadt = find_table(a.sdt, xsdt, "FACP");
	uint64_t measured = measure_period_fs(fadt, &ref);
	halt_block();
	if (!measured)
		check_fail("counter did not count against the %s", ref);
	else if (measured * 100 < (uint64_t)period * 95 || measured * 100 > (uint64_t)period * 105)
		check_fail("period %lu fs measured against the %s, %u fs advertised", measured, ref,
		           period);
	if (check_failed())
		return;

	if (id & CAP_LEG_RT)
		check_periodic_legacy(period);
	if (check_failed())
		return;
	check_level_status(period);
	check_note("at %#lx, %u timers, %u fs (%lu measured against the %s)%s", base, timers,
	           period, measured, ref, id & CAP_LEG_RT ? ", legacy timer 0 ticks" : "");
}
