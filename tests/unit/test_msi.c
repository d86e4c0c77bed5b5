/* Message-signalled interrupts on the soft machine: the address/data
 * decoding (apic_msi_to_msg) and delivery through the APIC bus
 * (irqchip_signal_msi) to the LAPIC the destination names, as physical,
 * logical and lowest-priority messages, NMI, and what is refused. */
#include "bus.h"
#include "dev/irqchip.h"
#include "test.h"

static struct manual_clock clk;
static struct guest_clock gclk;
static struct irqchip *chip;
static int kicks[2];

static void on_kick(void *opaque, int c)
{
	if (c >= 0 && c < 2)
		kicks[c]++;
}

static void setup(void)
{
	gclk = manual_clock_as_guest_clock(&clk);
	kicks[0] = kicks[1] = 0;
	chip = irqchip_create(&(struct irqchip_config){
	    .bus = NULL, .clock = &gclk, .ncpus = 2, .kick = on_kick, .tsc_hz = 1000000000});
	/* Software-enable both LAPICs, flat logical model, LDR bit per CPU. */
	for (int c = 0; c < 2; c++) {
		struct lapic *l = irqchip_lapic(chip, c);
		lapic_mmio_write(l, 0xF0, 4, 0x1FF);
		lapic_mmio_write(l, 0xE0, 4, 0xFFFFFFFF);
		lapic_mmio_write(l, 0xD0, 4, (1u << c) << 24);
	}
}

static int take(int c)
{
	struct lapic *l = irqchip_lapic(chip, c);
	uint8_t v;
	if (!(lapic_pending_events(l) & LAPIC_EV_ALL))
		return -1;
	enum lapic_event ev = lapic_poll_event(l, LAPIC_EV_ALL, &v);
	if (ev == LAPIC_EV_NMI)
		return 2;
	if (ev != LAPIC_EV_INTR)
		return -1;
	lapic_mmio_write(l, 0xB0, 4, 0); /* EOI */
	return v;
}

static void test_decode(void)
{
	struct apic_msg m;
	CHECK(apic_msi_to_msg(0xFEE01000, 0x4041, &m)); /* dest 1, vector 0x41, edge */
	CHECK_EQ(m.dest, 1);
	CHECK_EQ(m.vector, 0x41);
	CHECK_EQ(m.delivery, APIC_DM_FIXED);
	CHECK(!m.logical);
	CHECK(!m.level);
	CHECK(apic_msi_to_msg(0xFEE0300C, 0x0050, &m)); /* logical, redirection hint */
	CHECK(m.logical);
	CHECK_EQ(m.dest, 3);
	CHECK_EQ(m.delivery, APIC_DM_LOWEST);
	CHECK(apic_msi_to_msg(0xFEE00000, 0xC060, &m)); /* level, asserted */
	CHECK(m.level);
	CHECK(apic_msi_to_msg(0xFEE00000, 0x0400, &m)); /* NMI */
	CHECK_EQ(m.delivery, APIC_DM_NMI);
	/* Not interrupts. */
	CHECK(!apic_msi_to_msg(0xFED00000, 0x41, &m));
	CHECK(!apic_msi_to_msg(0x1FEE00000ULL, 0x41, &m));
	CHECK(!apic_msi_to_msg(0xFEE00000, 0x0641, &m)); /* SIPI */
	CHECK(!apic_msi_to_msg(0xFEE00000, 0x0341, &m)); /* reserved mode */
	CHECK(!apic_msi_to_msg(0xFEE00000, 0x8041, &m)); /* level de-assert */
}

static void test_delivery(void)
{
	setup();
	/* Physical destination 1: only CPU 1. */
	CHECK(irqchip_signal_msi(chip, 0xFEE01000, 0x41));
	CHECK_EQ(take(0), -1);
	CHECK_EQ(take(1), 0x41);
	CHECK(kicks[1] > 0);
	/* Physical broadcast. */
	CHECK(irqchip_signal_msi(chip, 0xFEEFF000, 0x42));
	CHECK_EQ(take(0), 0x42);
	CHECK_EQ(take(1), 0x42);
	/* Logical: bit 0 is CPU 0 in the flat model. */
	CHECK(irqchip_signal_msi(chip, 0xFEE01004, 0x43));
	CHECK_EQ(take(0), 0x43);
	CHECK_EQ(take(1), -1);
	/* Lowest priority among both: exactly one CPU gets it. */
	lapic_mmio_write(irqchip_lapic(chip, 0), 0x80, 4, 0x20); /* CPU 0 busier */
	CHECK(irqchip_signal_msi(chip, 0xFEE0300C, 0x44));
	CHECK_EQ(take(0), -1);
	CHECK_EQ(take(1), 0x44);
	lapic_mmio_write(irqchip_lapic(chip, 0), 0x80, 4, 0);
	/* NMI. */
	CHECK(irqchip_signal_msi(chip, 0xFEE00000, 0x0400));
	CHECK_EQ(take(0), 2);
	/* A destination nobody has: delivered nowhere, no harm. */
	CHECK(irqchip_signal_msi(chip, 0xFEE07000, 0x45));
	CHECK_EQ(take(0), -1);
	CHECK_EQ(take(1), -1);
	/* Refused pairs deliver nothing. */
	CHECK(!irqchip_signal_msi(chip, 0xFEC00000, 0x46));
	CHECK_EQ(take(0), -1);
	irqchip_destroy(chip);
}

int main(void)
{
	RUN(test_decode);
	RUN(test_delivery);
	TEST_DONE();
}
