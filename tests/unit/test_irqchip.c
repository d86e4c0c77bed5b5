/* The soft machine's interrupt wiring: PIT -> PIC -> LINT0 (virtual wire),
 * PIT -> IOAPIC pin 2 -> LAPIC as Linux runs it, level GSIs with EOI, PCI
 * GSIs, the bus claims, deadlines, and an I/O thread racing a vCPU. */
#include <pthread.h>
#include <stdatomic.h>

#include "bus.h"
#include "dev/irqchip.h"
#include "test.h"

static struct manual_clock clk;
static struct guest_clock gclk;
static struct bus *bus;
static struct irqchip *chip;
static atomic_int kicks[2];

static void on_kick(void *opaque, int c)
{
	(void)opaque;
	if (c >= 0 && c < 2)
		atomic_fetch_add(&kicks[c], 1);
}

static void setup(void)
{
	clk.ns = 0;
	gclk = manual_clock_as_guest_clock(&clk);
	atomic_store(&kicks[0], 0);
	atomic_store(&kicks[1], 0);
	bus = bus_create();
	chip = irqchip_create(&(struct irqchip_config){
	    .bus = bus, .clock = &gclk, .ncpus = 2, .kick = on_kick, .tsc_hz = 1000000000});
}

static void teardown(void)
{
	irqchip_destroy(chip);
	bus_destroy(bus);
}

static void outb(uint16_t port, uint8_t v)
{
	bus_write(bus, BUS_PIO, port, 1, v);
}
static uint8_t inb(uint16_t port)
{
	return (uint8_t)bus_read(bus, BUS_PIO, port, 1);
}
static void apic_write(int c, uint32_t reg, uint32_t v)
{
	lapic_mmio_write(irqchip_lapic(chip, c), reg, 4, v);
}
static void io_write(uint32_t reg, uint32_t v)
{
	bus_write(bus, BUS_MMIO, 0xfec00000, 4, reg);
	bus_write(bus, BUS_MMIO, 0xfec00010, 4, v);
}
static uint32_t io_read(uint32_t reg)
{
	bus_write(bus, BUS_MMIO, 0xfec00000, 4, reg);
	return (uint32_t)bus_read(bus, BUS_MMIO, 0xfec00010, 4);
}

/* What the engine does at an instruction boundary with IF = 1: returns
 * the vector delivered, or -1. */
static int boundary(int c)
{
	struct lapic *l = irqchip_lapic(chip, c);
	if (!(lapic_pending_events(l) & LAPIC_EV_ALL))
		return -1;
	uint8_t v;
	enum lapic_event ev = lapic_poll_event(l, LAPIC_EV_ALL, &v);
	return ev == LAPIC_EV_INTR || ev == LAPIC_EV_EXTINT ? v : -1;
}

static void linux_pic_init(uint8_t master_mask)
{
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	outb(0x20, 0x11);
	outb(0x21, 0x30);
	outb(0x21, 0x04);
	outb(0x21, 0x01);
	outb(0xa0, 0x11);
	outb(0xa1, 0x38);
	outb(0xa1, 0x02);
	outb(0xa1, 0x01);
	outb(0x21, master_mask);
	outb(0xa1, 0xff);
}

static void linux_pit_periodic(uint16_t latch)
{
	outb(0x43, 0x34);
	outb(0x40, latch & 0xff);
	outb(0x40, latch >> 8);
}

/* Advance guest time to each deadline in turn, running the boundary check
 * after each, until `until`; returns the vectors seen on cpu 0 (of want). */
static int run_until(uint64_t until, int want_vector, int eoi_pic)
{
	int seen = 0;
	for (;;) {
		uint64_t d = irqchip_next_deadline_ns(chip);
		if (d > until)
			break;
		clk.ns = d;
		irqchip_advance(chip, d);
		int v = boundary(0);
		if (v == want_vector) {
			seen++;
			if (eoi_pic)
				outb(0x20, 0x20);
			else
				apic_write(0, 0xb0, 0);
		}
	}
	clk.ns = until;
	return seen;
}

static void test_virtual_wire_timer(void)
{
	setup();
	/* Early boot: the BSP's LINT0 is ExtINT, the PIC has IRQ 0 open. */
	linux_pic_init(0xfe);
	atomic_store(&kicks[0], 0);
	linux_pit_periodic(11932); /* 100 Hz */
	/* 11932 ticks are 10.000149 ms: 99 in one second, the 100th just
	 * after it. */
	int seen = run_until(1000000000, 0x30, 1);
	CHECK_EQ(seen, 99);
	CHECK(atomic_load(&kicks[0]) >= 99);
	seen = run_until(clock_ns_of_tick(100 * 11932, PIT_HZ), 0x30, 1);
	CHECK_EQ(seen, 1);
	/* The AP's LINT0 is masked: it never saw the timer. */
	CHECK_EQ(boundary(1), -1);
	teardown();
}

static void test_ioapic_timer(void)
{
	setup();
	/* Linux with the IOAPIC: the 8259s masked, LINT0 masked ExtINT,
	 * IOAPIC pin 2 (ISA IRQ 0 after the MADT override) edge to CPU 0. */
	linux_pic_init(0xff);
	apic_write(0, 0xf0, 0x1ff);
	apic_write(0, 0x350, 0x10700);
	io_write(0x10 + 2 * 2 + 1, 0x00000000);
	io_write(0x10 + 2 * 2, 0x00000030);
	linux_pit_periodic(4773); /* HZ = 250 */
	/* timer_irq_works(): several ticks in 10 jiffies' worth of time. */
	int seen = run_until(40000000, 0x30, 0);
	CHECK_EQ(seen, 9); /* 40 ms / 4.000 06 ms: ticks 1..9 (the 10th at 40.0006 ms) */
	seen = run_until(clock_ns_of_tick(10 * 4773, PIT_HZ), 0x30, 0);
	CHECK_EQ(seen, 1);
	/* Pin 0 carries the 8259's INT, masked here: nothing on CPU 0. */
	CHECK_EQ(io_read(0x10) & 0x10000, 0x10000);
	teardown();
}

static void test_level_gsi_and_pci(void)
{
	setup();
	apic_write(0, 0xf0, 0x1ff);
	apic_write(1, 0xf0, 0x1ff);
	/* SCI: ISA IRQ 9, level, to CPU 1. */
	io_write(0x10 + 2 * 9 + 1, 0x01000000);
	io_write(0x10 + 2 * 9, 0x00008049);
	irqchip_set_irq(chip, 9, 1);
	CHECK(atomic_load(&kicks[1]) > 0);
	CHECK_EQ(boundary(1), 0x49);
	CHECK_EQ(io_read(0x10 + 2 * 9) & (1u << 14), 1u << 14); /* remote IRR */
	/* EOI while still asserted: delivered again. */
	apic_write(1, 0xb0, 0);
	CHECK_EQ(boundary(1), 0x49);
	irqchip_set_irq(chip, 9, 0);
	apic_write(1, 0xb0, 0);
	CHECK_EQ(boundary(1), -1);
	CHECK_EQ(io_read(0x10 + 2 * 9) & (1u << 14), 0);
	/* A PCI line: GSI 19 goes to IOAPIC pin 19 only. */
	io_write(0x10 + 2 * 19, 0x0000a061); /* level, active low, fixed, to ID 0 */
	irqchip_set_irq(chip, 19, 1);
	CHECK_EQ(boundary(0), 0x61);
	irqchip_set_irq(chip, 19, 0);
	apic_write(0, 0xb0, 0);
	CHECK_EQ(boundary(0), -1);
	/* Lines that do not exist, and the cascade. */
	irqchip_set_irq(chip, 2, 1);
	irqchip_set_irq(chip, 24, 1);
	irqchip_set_irq(chip, 1u << 31, 1);
	CHECK_EQ(boundary(0), -1);
	CHECK_EQ(boundary(1), -1);
	teardown();
}

static void test_isa_irq_through_pic(void)
{
	setup();
	linux_pic_init(0xfb); /* cascade open */
	outb(0xa1, 0xef);     /* IRQ 12 open */
	irqchip_set_irq(chip, 12, 1);
	CHECK_EQ(boundary(0), 0x3c);
	irqchip_set_irq(chip, 12, 0);
	outb(0xa0, 0x64);
	outb(0x20, 0x62);
	/* Serial IRQ 4 reaches both the PIC and IOAPIC pin 4. */
	outb(0x21, 0xeb);
	apic_write(0, 0xf0, 0x1ff);
	io_write(0x10 + 2 * 4, 0x00000034);
	irqchip_set_irq(chip, 4, 1);
	/* ExtINT first (the 8259), then the IOAPIC's fixed vector. */
	CHECK_EQ(boundary(0), 0x34);
	CHECK_EQ(boundary(0), 0x34);
	teardown();
}

/* Virtual wire through the IOAPIC: pin 0 in ExtINT mode carries the 8259. */
static void test_extint_through_ioapic(void)
{
	setup();
	linux_pic_init(0xfd); /* IRQ 1 open */
	apic_write(0, 0xf0, 0x1ff);
	apic_write(0, 0x350, 0x10700); /* LINT0 masked */
	io_write(0x10, 0x00000700);    /* pin 0: ExtINT, edge, to ID 0 */
	irqchip_set_irq(chip, 1, 1);
	uint8_t v;
	CHECK_EQ(lapic_poll_event(irqchip_lapic(chip, 0), LAPIC_EV_ALL, &v), LAPIC_EV_EXTINT);
	CHECK_EQ(v, 0x31);
	CHECK_EQ(boundary(0), -1);
	irqchip_set_irq(chip, 1, 0);
	outb(0x20, 0x61);
	/* A globally disabled APIC: LINT1 is the CPU's NMI pin. */
	CHECK_EQ(lapic_msr_write(irqchip_lapic(chip, 1), MSR_IA32_APIC_BASE, 0xfee00000), 0);
	lapic_set_lint(irqchip_lapic(chip, 1), 1, 1);
	CHECK_EQ(lapic_poll_event(irqchip_lapic(chip, 1), LAPIC_EV_ALL, &v), LAPIC_EV_NMI);
	teardown();
}

static void test_bus_claims_and_deadlines(void)
{
	setup();
	CHECK_EQ(inb(0x21), 0xff); /* PIC reset: all masked */
	outb(0x21, 0x12);
	CHECK_EQ(inb(0x21), 0x12);
	CHECK_EQ(inb(0x61) & 0x20, 0);
	CHECK_EQ(inb(0x4d0), 0);
	CHECK_EQ(io_read(1), 0x00170020);
	CHECK_EQ(io_read(0), 2u << 24); /* IOAPIC ID = ncpus, as the MADT says */
	CHECK_EQ(irqchip_next_deadline_ns(chip), CLOCK_NEVER);
	/* LAPIC timer on CPU 1 and the PIT: the earliest wins. */
	apic_write(1, 0xf0, 0x1ff);
	apic_write(1, 0x3e0, 0xb);
	apic_write(1, 0x320, 0xec);
	apic_write(1, 0x380, 5000);
	CHECK_EQ(irqchip_next_deadline_ns(chip), 5000);
	linux_pit_periodic(2); /* 2 ticks: 1676.2 ns */
	CHECK_EQ(irqchip_next_deadline_ns(chip), clock_ns_of_tick(2, PIT_HZ));
	clk.ns = 5000;
	irqchip_advance(chip, 5000);
	CHECK_EQ(boundary(1), 0xec);
	CHECK(irqchip_pic(chip) && irqchip_pit(chip) && irqchip_ioapic(chip));
	CHECK(irqchip_lapic(chip, 2) == NULL && irqchip_lapic(chip, -1) == NULL);
	/* A second irqchip cannot claim the same ports. */
	CHECK(irqchip_create(&(struct irqchip_config){.bus = bus, .clock = &gclk, .ncpus = 1}) ==
	      NULL);
	CHECK(irqchip_create(&(struct irqchip_config){.clock = &gclk, .ncpus = 0}) == NULL);
	teardown();
}

/* An I/O thread raises an edge GSI while the vCPU thread takes and EOIs it:
 * every interrupt arrives once, nothing deadlocks. */
static atomic_int taken;
#define RACE_ROUNDS 20000

static void *io_thread(void *arg)
{
	(void)arg;
	for (int i = 0; i < RACE_ROUNDS; i++) {
		irqchip_set_irq(chip, 4, 1);
		irqchip_set_irq(chip, 4, 0);
		while (atomic_load(&taken) <= i)
			;
	}
	return NULL;
}

static void test_threads(void)
{
	setup();
	apic_write(0, 0xf0, 0x1ff);
	io_write(0x10 + 2 * 4, 0x00000034);
	atomic_store(&taken, 0);
	pthread_t t;
	pthread_create(&t, NULL, io_thread, NULL);
	int n = 0;
	while (n < RACE_ROUNDS) {
		int v = boundary(0);
		if (v == 0x34) {
			apic_write(0, 0xb0, 0);
			atomic_store(&taken, ++n);
		} else {
			CHECK_EQ(v, -1);
		}
		if (test_current_failed)
			break;
	}
	pthread_join(t, NULL);
	CHECK_EQ(n, RACE_ROUNDS);
	teardown();
}

int main(void)
{
	RUN(test_virtual_wire_timer);
	RUN(test_ioapic_timer);
	RUN(test_level_gsi_and_pci);
	RUN(test_isa_irq_through_pic);
	RUN(test_extint_through_ioapic);
	RUN(test_bus_claims_and_deadlines);
	RUN(test_threads);
	TEST_DONE();
}
