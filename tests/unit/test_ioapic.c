/* IOAPIC: register file, edge and level pins, remote IRR and EOI, as Linux's
 * io_apic.c programs them. */
#include "bus.h"
#include "dev/ioapic.h"
#include "test.h"

#define MAX_MSGS 64
static struct apic_msg msgs[MAX_MSGS];
static int nmsgs;

static void on_deliver(void *opaque, const struct apic_msg *m)
{
	(void)opaque;
	if (nmsgs < MAX_MSGS)
		msgs[nmsgs] = *m;
	nmsgs++;
}

static struct ioapic *new_ioapic(void)
{
	nmsgs = 0;
	return ioapic_create(&(struct ioapic_config){.id = 2, .deliver = on_deliver});
}

static uint32_t io_read(struct ioapic *io, uint32_t reg)
{
	ioapic_mmio_write(io, IOAPIC_REG_SELECT, 4, reg);
	return ioapic_mmio_read(io, IOAPIC_REG_WINDOW, 4);
}

static void io_write(struct ioapic *io, uint32_t reg, uint32_t v)
{
	ioapic_mmio_write(io, IOAPIC_REG_SELECT, 4, reg);
	ioapic_mmio_write(io, IOAPIC_REG_WINDOW, 4, v);
}

/* ioapic_write_entry(): high half first, then low. */
static void write_entry(struct ioapic *io, unsigned pin, uint64_t e)
{
	io_write(io, 0x11 + 2 * pin, (uint32_t)(e >> 32));
	io_write(io, 0x10 + 2 * pin, (uint32_t)e);
}

static uint64_t read_entry(struct ioapic *io, unsigned pin)
{
	return (uint64_t)io_read(io, 0x11 + 2 * pin) << 32 | io_read(io, 0x10 + 2 * pin);
}

static void test_identity(void)
{
	struct ioapic *io = new_ioapic();
	CHECK_EQ(io_read(io, 0x00), 2u << 24);
	CHECK_EQ(io_read(io, 0x01), 0x00170020);
	CHECK_EQ(io_read(io, 0x02), 2u << 24);
	io_write(io, 0x00, 0x05000000);
	CHECK_EQ(io_read(io, 0x00), 0x05000000);
	io_write(io, 0x01, 0);
	CHECK_EQ(io_read(io, 0x01), 0x00170020); /* read-only */
	/* Every entry comes up masked. */
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
		CHECK_EQ(read_entry(io, pin), IOAPIC_RTE_MASKED);
	CHECK_EQ(io_read(io, 0x10 + 2 * IOAPIC_PINS), 0xffffffff); /* past the table */
	/* IOREGSEL reads back; byte access works. */
	ioapic_mmio_write(io, IOAPIC_REG_SELECT, 1, 0x13);
	CHECK_EQ(ioapic_mmio_read(io, IOAPIC_REG_SELECT, 4), 0x13);
	CHECK_EQ(ioapic_mmio_read(io, IOAPIC_REG_WINDOW + 2, 1), 0x00);
	CHECK_EQ(ioapic_mmio_read(io, 0x800, 4), 0);
	ioapic_destroy(io);
}

static void test_edge_pin(void)
{
	struct ioapic *io = new_ioapic();
	/* The serial port: ISA IRQ 4, edge, high, fixed, physical dest 1. */
	write_entry(io, 4, 0x0100000000000031ULL);
	ioapic_set_irq(io, 4, 1);
	CHECK_EQ(nmsgs, 1);
	CHECK_EQ(msgs[0].vector, 0x31);
	CHECK_EQ(msgs[0].dest, 1);
	CHECK_EQ(msgs[0].delivery, APIC_DM_FIXED);
	CHECK(!msgs[0].logical);
	CHECK(!msgs[0].level);
	ioapic_set_irq(io, 4, 1); /* no new edge */
	CHECK_EQ(nmsgs, 1);
	ioapic_set_irq(io, 4, 0);
	ioapic_set_irq(io, 4, 1);
	CHECK_EQ(nmsgs, 2);
	/* Remote IRR never sets on an edge pin. */
	CHECK_EQ(read_entry(io, 4) & IOAPIC_RTE_REMOTE_IRR, 0);
	/* A masked edge is lost, not held: unmasking does not deliver it. */
	write_entry(io, 4, 0x0100000000000031ULL | IOAPIC_RTE_MASKED);
	ioapic_set_irq(io, 4, 0);
	ioapic_set_irq(io, 4, 1);
	write_entry(io, 4, 0x0100000000000031ULL);
	CHECK_EQ(nmsgs, 2);
	/* Logical lowest-priority with a destination set. */
	write_entry(io, 5, 0x0f00000000000941ULL);
	ioapic_set_irq(io, 5, 1);
	CHECK_EQ(nmsgs, 3);
	CHECK_EQ(msgs[2].delivery, APIC_DM_LOWEST);
	CHECK(msgs[2].logical);
	CHECK_EQ(msgs[2].dest, 0x0f);
	/* Pins out of range are ignored. */
	ioapic_set_irq(io, 24, 1);
	ioapic_set_irq(io, 1000, 1);
	CHECK_EQ(nmsgs, 3);
	ioapic_destroy(io);
}

static void test_level_pin_eoi(void)
{
	struct ioapic *io = new_ioapic();
	/* A PCI INTx line: pin 16, level, active low (polarity is only
	 * stored: the input is the logical assertion), vector 0x41. */
	uint64_t e = 0x0000000000000041ULL | IOAPIC_RTE_LEVEL | IOAPIC_RTE_POLARITY_LOW;
	write_entry(io, 16, e);
	CHECK_EQ(read_entry(io, 16), e);
	ioapic_set_irq(io, 16, 1);
	CHECK_EQ(nmsgs, 1);
	CHECK(msgs[0].level);
	CHECK(read_entry(io, 16) & IOAPIC_RTE_REMOTE_IRR);
	/* Still asserted, remote IRR set: nothing more. */
	ioapic_set_irq(io, 16, 1);
	CHECK_EQ(nmsgs, 1);
	/* EOI of another vector changes nothing. */
	ioapic_eoi(io, 0x42);
	CHECK(read_entry(io, 16) & IOAPIC_RTE_REMOTE_IRR);
	CHECK_EQ(nmsgs, 1);
	/* The guest's handler has not quieted the device: the EOI re-delivers. */
	ioapic_eoi(io, 0x41);
	CHECK_EQ(nmsgs, 2);
	CHECK(read_entry(io, 16) & IOAPIC_RTE_REMOTE_IRR);
	/* Now it has: EOI clears remote IRR and nothing is sent. */
	ioapic_set_irq(io, 16, 0);
	ioapic_eoi(io, 0x41);
	CHECK_EQ(nmsgs, 2);
	CHECK_EQ(read_entry(io, 16) & IOAPIC_RTE_REMOTE_IRR, 0);
	/* The version-0x20 EOI register does the same as the broadcast. */
	ioapic_set_irq(io, 16, 1);
	CHECK_EQ(nmsgs, 3);
	ioapic_set_irq(io, 16, 0);
	ioapic_mmio_write(io, IOAPIC_REG_EOI, 4, 0x41);
	CHECK_EQ(read_entry(io, 16) & IOAPIC_RTE_REMOTE_IRR, 0);
	/* Guest writes cannot set remote IRR or delivery status. */
	write_entry(io, 16, e | IOAPIC_RTE_REMOTE_IRR | IOAPIC_RTE_DELIVERY_STATUS);
	CHECK_EQ(read_entry(io, 16), e);
	ioapic_destroy(io);
}

static void test_level_mask_unmask(void)
{
	struct ioapic *io = new_ioapic();
	uint64_t e = 0x0000000000000051ULL | IOAPIC_RTE_LEVEL;
	write_entry(io, 9, e | IOAPIC_RTE_MASKED);
	ioapic_set_irq(io, 9, 1);
	CHECK_EQ(nmsgs, 0);
	CHECK_EQ(read_entry(io, 9) & IOAPIC_RTE_REMOTE_IRR, 0);
	/* Unmasking an asserted level pin delivers at once. */
	write_entry(io, 9, e);
	CHECK_EQ(nmsgs, 1);
	/* Linux's clear_IO_APIC_pin trick for old IOAPICs: switching the
	 * pin to edge clears a stuck remote IRR. */
	write_entry(io, 9, (e & ~IOAPIC_RTE_LEVEL) | IOAPIC_RTE_MASKED);
	CHECK_EQ(read_entry(io, 9) & IOAPIC_RTE_REMOTE_IRR, 0);
	/* Back to level while still asserted and unmasked: delivered again. */
	write_entry(io, 9, e);
	CHECK_EQ(nmsgs, 2);
	CHECK(read_entry(io, 9) & IOAPIC_RTE_REMOTE_IRR);
	/* A level NMI entry keeps no remote IRR (no EOI will come). */
	write_entry(io, 10, 0x0000000000000400ULL | IOAPIC_RTE_LEVEL);
	ioapic_set_irq(io, 10, 1);
	CHECK_EQ(nmsgs, 3);
	CHECK_EQ(msgs[2].delivery, APIC_DM_NMI);
	CHECK_EQ(read_entry(io, 10) & IOAPIC_RTE_REMOTE_IRR, 0);
	ioapic_destroy(io);
}

static void test_partial_window_write(void)
{
	struct ioapic *io = new_ioapic();
	write_entry(io, 3, 0x0200000000000033ULL);
	/* A byte write to IOWIN changes only that byte of the entry. */
	ioapic_mmio_write(io, IOAPIC_REG_SELECT, 4, 0x10 + 6);
	ioapic_mmio_write(io, IOAPIC_REG_WINDOW, 1, 0x44);
	CHECK_EQ(read_entry(io, 3), 0x0200000000000044ULL);
	ioapic_destroy(io);
}

static void test_bus_mmio(void)
{
	struct bus *bus = bus_create();
	struct ioapic *io =
	    ioapic_create(&(struct ioapic_config){.bus = bus, .deliver = on_deliver});
	CHECK(io != NULL);
	bus_write(bus, BUS_MMIO, 0xfec00000, 4, 1);
	CHECK_EQ(bus_read(bus, BUS_MMIO, 0xfec00010, 4), 0x00170020);
	ioapic_destroy(io);
	CHECK_EQ(bus_read(bus, BUS_MMIO, 0xfec00010, 4), 0xffffffff);
	bus_destroy(bus);
}

int main(void)
{
	RUN(test_identity);
	RUN(test_edge_pin);
	RUN(test_level_pin_eoi);
	RUN(test_level_mask_unmask);
	RUN(test_partial_window_write);
	RUN(test_bus_mmio);
	TEST_DONE();
}
