/* Platform devices: the PIT through the 8259 PIC, the local APIC timer,
 * the IOAPIC, the UART, and the ACPI tables. Waits are bounded by the TSC
 * and by an iteration count, so a missing device fails instead of hanging. */
#include "kernel.h"
#include "x86.h"

#define WAIT_MS 2000
#define WAIT_ITERS 50000000ul

static volatile uint64_t ticks;

static bool count_tick_pic(struct trap_frame *f, uint64_t cr2)
{
	ticks++;
	pic_eoi(0);
	return true;
}

static bool count_tick_lapic(struct trap_frame *f, uint64_t cr2)
{
	ticks++;
	lapic_write(0xb0, 0);
	return true;
}

/* Waits with interrupts on until `want` ticks arrived or the time is up. */
static uint64_t wait_ticks(uint64_t want, uint64_t *elapsed_tsc)
{
	uint64_t start = rdtsc(), end = deadline_ms(WAIT_MS);
	sti();
	for (uint64_t i = 0; ticks < want && i < WAIT_ITERS && !expired(end); i++)
		cpu_relax();
	cli();
	*elapsed_tsc = rdtsc() - start;
	return ticks;
}

void check_pit(void)
{
	const uint64_t want = 10;
	ticks = 0;
	trap_hooks[VEC_PIC_BASE + 0] = count_tick_pic;
	/* Channel 0, lobyte/hibyte, mode 2 (rate generator) at 1 kHz. */
	outb(0x43, 0x34);
	outb(0x40, 1193 & 0xff);
	outb(0x40, 1193 >> 8);
	pic_set_mask(0xfffe);
	uint64_t dt, got = wait_ticks(want, &dt);
	pic_set_mask(0xffff);
	outb(0x43, 0x30); /* mode 0, count 0: one last terminal count, then quiet */
	outb(0x40, 0);
	outb(0x40, 0);
	trap_hooks[VEC_PIC_BASE + 0] = 0;
	if (got < want)
		check_fail("%lu of %lu IRQ0 ticks within %u ms", got, want, WAIT_MS);
	else
		check_note("%lu ticks in %lu us", got, dt * 1000 / tsc_khz);
}

static bool count_tick_rtc(struct trap_frame *f, uint64_t cr2)
{
	outb(0x70, 0x0c); /* reading status C acknowledges the interrupt */
	if (inb(0x71) & 0x40)
		ticks++;
	pic_eoi(8);
	return true;
}

/* The CMOS RTC's periodic interrupt on IRQ 8 (slave PIC), at 1024 Hz. */
void check_rtc_irq(void)
{
	const uint64_t want = 10;
	ticks = 0;
	trap_hooks[VEC_PIC_BASE + 8] = count_tick_rtc;
	outb(0x70, 0x0a);
	uint8_t a = inb(0x71);
	outb(0x70, 0x0a);
	outb(0x71, (uint8_t)((a & 0xf0) | 0x06)); /* rate 6: 1024 Hz */
	outb(0x70, 0x0b);
	uint8_t b = inb(0x71);
	outb(0x70, 0x0b);
	outb(0x71, b | 0x40); /* PIE */
	outb(0x70, 0x0c);
	(void)inb(0x71); /* drop anything latched before */
	pic_set_mask(0xffff & ~(1u << 8) & ~(1u << 2));
	uint64_t dt, got = wait_ticks(want, &dt);
	pic_set_mask(0xffff);
	outb(0x70, 0x0b);
	outb(0x71, b & (uint8_t)~0x40);
	outb(0x70, 0x0c);
	(void)inb(0x71);
	trap_hooks[VEC_PIC_BASE + 8] = 0;
	if (got < want)
		check_fail("%lu of %lu periodic RTC interrupts within %u ms", got, want, WAIT_MS);
	else
		check_note("%lu interrupts in %lu us", got, dt * 1000 / tsc_khz);
}

void check_lapic_timer(void)
{
	if (!(cpuid(1, 0).edx & (1u << 9))) {
		check_fail("CPUID says there is no local APIC");
		return;
	}
	const uint64_t want = 5;
	uint32_t ver = lapic_read(0x30);
	if (ver == 0 || ver == 0xffffffff) {
		check_fail("LAPIC version register reads %#x", ver);
		return;
	}
	ticks = 0;
	trap_hooks[VEC_LAPIC_TIMER] = count_tick_lapic;
	lapic_write(0x3e0, 0x3);                          /* divide by 16 */
	lapic_write(0x320, VEC_LAPIC_TIMER | (1u << 17)); /* periodic */
	lapic_write(0x380, 50000);
	uint32_t cur = lapic_read(0x390);
	uint64_t dt, got = wait_ticks(want, &dt);
	lapic_write(0x320, 1u << 16);
	lapic_write(0x380, 0);
	trap_hooks[VEC_LAPIC_TIMER] = 0;
	if (cur > 50000)
		check_fail("current count %u above the initial count", cur);
	if (got < want)
		check_fail("%lu of %lu timer interrupts within %u ms", got, want, WAIT_MS);
	else
		check_note("%lu interrupts in %lu us", got, dt * 1000 / tsc_khz);
}

void check_ioapic(void)
{
	mmio_write32(IOAPIC_BASE, 1); /* IOAPICVER */
	uint32_t ver = mmio_read32(IOAPIC_BASE + 0x10);
	if (ver == 0xffffffff || ver == 0) {
		check_fail("version register reads %#x", ver);
		return;
	}
	uint32_t entries = ((ver >> 16) & 0xff) + 1;
	if (entries < 16)
		check_fail("only %u redirection entries (version %#x)", entries, ver);
	/* Redirection entry 0 reads back what we write (masked, vector 0x50). */
	mmio_write32(IOAPIC_BASE, 0x10);
	uint32_t old = mmio_read32(IOAPIC_BASE + 0x10);
	mmio_write32(IOAPIC_BASE + 0x10, 0x10050);
	uint32_t got = mmio_read32(IOAPIC_BASE + 0x10);
	mmio_write32(IOAPIC_BASE + 0x10, old | 0x10000);
	if ((got & 0x100ff) != 0x10050)
		check_fail("redirection entry 0 wrote 0x10050 read %#x", got);
	check_note("version %#x, %u pins", ver & 0xff, entries);
}

void check_uart(void)
{
	const uint8_t pats[] = {0x5a, 0xa5, 0x00, 0xff};
	for (unsigned i = 0; i < sizeof(pats); i++) {
		outb(0x3ff, pats[i]);
		uint8_t v = inb(0x3ff);
		if (v != pats[i])
			check_fail("scratch register wrote %#x read %#x", pats[i], v);
	}
	/* Everything printed so far drains: THRE and TEMT. */
	uint8_t lsr = 0;
	for (int i = 0; i < 1000000; i++) {
		lsr = inb(0x3fd);
		if ((lsr & 0x60) == 0x60)
			break;
		cpu_relax();
	}
	if ((lsr & 0x60) != 0x60)
		check_fail("LSR %#x: transmitter not empty", lsr);
	/* LCR reads back the 8N1 we programmed. */
	uint8_t lcr = inb(0x3fb);
	if (lcr != 0x03)
		check_fail("LCR %#x, expected 0x03", lcr);
}

void check_acpi(void)
{
	static struct acpi_info a;
	char msg[120];
	if (!acpi_scan(&a, msg, sizeof(msg))) {
		check_fail("%s", msg);
		return;
	}
	check_note("RSDP at %#lx rev %d, %s, %d processor%s", a.rsdp, a.revision,
	           a.revision >= 2 && *(const uint64_t *)(a.rsdp + 24) ? "XSDT" : "RSDT", a.listed,
	           a.listed == 1 ? "" : "s");
}
