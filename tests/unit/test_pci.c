/* PCI configuration mechanism #1, the host bridge, and BAR handling. */
#include "test.h"

#include <stdlib.h>

#include "dev/pci.h"
#include "vm.h"

#include "fake_engine.h"

struct rig {
	struct vm vm;
	struct pci_bus *pci;
};

static struct rig *rig_new(void)
{
	struct rig *r = calloc(1, sizeof *r);
	r->vm.bus = bus_create();
	r->vm.engine = &fake_engine;
	r->pci = pci_create(&r->vm);
	return r;
}

static void rig_free(struct rig *r)
{
	pci_destroy(r->pci);
	bus_destroy(r->vm.bus);
	free(r);
}

static uint32_t cfg_addr(unsigned bus, unsigned slot, unsigned fn, unsigned reg)
{
	return 0x80000000u | bus << 16 | slot << 11 | fn << 8 | (reg & 0xFC);
}

static uint32_t cfg_read(struct rig *r, unsigned slot, unsigned reg, unsigned size)
{
	bus_write(r->vm.bus, BUS_PIO, 0xCF8, 4, cfg_addr(0, slot, 0, reg));
	return (uint32_t)bus_read(r->vm.bus, BUS_PIO, 0xCFC + (reg & 3), size);
}

static void cfg_write(struct rig *r, unsigned slot, unsigned reg, unsigned size, uint32_t v)
{
	bus_write(r->vm.bus, BUS_PIO, 0xCF8, 4, cfg_addr(0, slot, 0, reg));
	bus_write(r->vm.bus, BUS_PIO, 0xCFC + (reg & 3), size, v);
}

static void test_host_bridge(void)
{
	struct rig *r = rig_new();
	CHECK(r->pci != NULL);
	CHECK_EQ(cfg_read(r, 0, 0x00, 4), 0x12378086);
	CHECK_EQ(cfg_read(r, 0, 0x08, 4) >> 8, 0x060000);
	CHECK_EQ(cfg_read(r, 0, 0x0E, 1), 0x00);
	/* Any size at any offset of the data window. */
	CHECK_EQ(cfg_read(r, 0, 0x02, 2), 0x1237);
	CHECK_EQ(cfg_read(r, 0, 0x01, 1), 0x80);
	CHECK_EQ(cfg_read(r, 0, 0x03, 1), 0x12);
	/* Read-only identity. */
	cfg_write(r, 0, 0x00, 4, 0xDEADBEEF);
	cfg_write(r, 0, 0x08, 4, 0xFFFFFFFF);
	CHECK_EQ(cfg_read(r, 0, 0x00, 4), 0x12378086);
	CHECK_EQ(cfg_read(r, 0, 0x08, 4) >> 8, 0x060000);
	/* Writable: interrupt line, latency timer. */
	cfg_write(r, 0, 0x3C, 1, 0x0B);
	CHECK_EQ(cfg_read(r, 0, 0x3C, 1), 0x0B);
	rig_free(r);
}

static uint64_t cf9_read(void *opaque, uint64_t offset, unsigned size)
{
	return 0x42;
}

static void test_address_register(void)
{
	struct rig *r = rig_new();
	bus_write(r->vm.bus, BUS_PIO, 0xCF8, 4, 0x80001234);
	CHECK_EQ(bus_read(r->vm.bus, BUS_PIO, 0xCF8, 4), 0x80001234 & 0x80FFFFFC);
	/* Narrow accesses do not latch (they are other ports on a PC). */
	bus_write(r->vm.bus, BUS_PIO, 0xCF8, 1, 0x00);
	bus_write(r->vm.bus, BUS_PIO, 0xCF8, 2, 0x00);
	CHECK_EQ(bus_read(r->vm.bus, BUS_PIO, 0xCF8, 4), 0x80001234 & 0x80FFFFFC);
	CHECK_EQ(bus_read(r->vm.bus, BUS_PIO, 0xCF8, 1), 0xFF);
	/* 0xCF9 is free for the reset control register. */
	static const struct bus_ops cf9_ops = {.read = cf9_read};
	CHECK_EQ(bus_register(r->vm.bus, BUS_PIO, 0xCF9, 1, &cf9_ops, NULL, "cf9"), 0);
	CHECK_EQ(bus_read(r->vm.bus, BUS_PIO, 0xCF9, 1), 0x42);
	bus_write(r->vm.bus, BUS_PIO, 0xCF8, 4, 0x80000000);
	CHECK_EQ(bus_read(r->vm.bus, BUS_PIO, 0xCFC, 2), 0x8086);
	CHECK(!vm_exit_requested(&r->vm));
	rig_free(r);
}

static void test_absent_devices_read_all_ones(void)
{
	struct rig *r = rig_new();
	CHECK_EQ(cfg_read(r, 5, 0x00, 4), 0xFFFFFFFF);
	CHECK_EQ(cfg_read(r, 31, 0x00, 2), 0xFFFF);
	bus_write(r->vm.bus, BUS_PIO, 0xCF8, 4, cfg_addr(0, 0, 1, 0));
	CHECK_EQ(bus_read(r->vm.bus, BUS_PIO, 0xCFC, 4), 0xFFFFFFFF);
	bus_write(r->vm.bus, BUS_PIO, 0xCF8, 4, cfg_addr(1, 0, 0, 0));
	CHECK_EQ(bus_read(r->vm.bus, BUS_PIO, 0xCFC, 4), 0xFFFFFFFF);
	bus_write(r->vm.bus, BUS_PIO, 0xCF8, 4, 0x00000000); /* enable bit clear */
	CHECK_EQ(bus_read(r->vm.bus, BUS_PIO, 0xCFC, 4), 0xFFFFFFFF);
	cfg_write(r, 5, 0x04, 2, 0x7); /* dropped */
	rig_free(r);
}

/* A test device: every BAR access is recorded. */
struct test_dev {
	struct pci_device pci;
	int reads, writes;
	uint64_t last_offset;
};

static uint64_t td_read(void *opaque, uint64_t offset, unsigned size)
{
	struct test_dev *d = opaque;
	d->reads++;
	d->last_offset = offset;
	return 0x5A;
}

static void td_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	struct test_dev *d = opaque;
	d->writes++;
	d->last_offset = offset;
}

static const struct bus_ops td_ops = {.read = td_read, .write = td_write};

static void td_init(struct test_dev *d)
{
	pci_device_init(&d->pci, "test", 0x1AF4, 0x1041, 0x020000, 1);
	d->pci.bars[0] =
	    (struct pci_bar){.type = PCI_BAR_IO, .size = 0x20, .ops = &td_ops, .opaque = d};
	d->pci.bars[1] =
	    (struct pci_bar){.type = PCI_BAR_MEM32, .size = 0x1000, .ops = &td_ops, .opaque = d};
	d->pci.bars[2] =
	    (struct pci_bar){.type = PCI_BAR_MEM64, .size = 0x4000, .ops = &td_ops, .opaque = d};
	d->pci.bars[4] = (struct pci_bar){.type = PCI_BAR_MEM64,
	                                  .size = 8ULL << 30,
	                                  .prefetchable = true,
	                                  .ops = &td_ops,
	                                  .opaque = d};
}

static void test_bar_sizing(void)
{
	struct rig *r = rig_new();
	struct test_dev d;
	td_init(&d);
	int slot = pci_register_device(r->pci, &d.pci);
	CHECK_EQ(slot, 1);
	unsigned s = (unsigned)slot;
	CHECK_EQ(cfg_read(r, s, 0x00, 4), 0x10411AF4);
	/* Initial values carry the type bits. */
	CHECK_EQ(cfg_read(r, s, 0x10, 4), 0x1);
	CHECK_EQ(cfg_read(r, s, 0x18, 4), 0x4);
	CHECK_EQ(cfg_read(r, s, 0x20, 4), 0xC);
	/* Linux's __pci_read_base: write ones, read the size back. */
	for (unsigned reg = 0x10; reg <= 0x24; reg += 4)
		cfg_write(r, s, reg, 4, 0xFFFFFFFF);
	CHECK_EQ(cfg_read(r, s, 0x10, 4), 0xFFFFFFE1);
	CHECK_EQ(cfg_read(r, s, 0x14, 4), 0xFFFFF000);
	CHECK_EQ(cfg_read(r, s, 0x18, 4), 0xFFFFC004);
	CHECK_EQ(cfg_read(r, s, 0x1C, 4), 0xFFFFFFFF);
	CHECK_EQ(cfg_read(r, s, 0x20, 4), 0x0000000C);
	CHECK_EQ(cfg_read(r, s, 0x24, 4), 0xFFFFFFFE);
	/* Expansion ROM: none. */
	cfg_write(r, s, 0x30, 4, 0xFFFFF800);
	CHECK_EQ(cfg_read(r, s, 0x30, 4), 0);
	/* Sizing with decoding enabled maps nothing at an impossible place. */
	cfg_write(r, s, 0x04, 2, 0x3);
	CHECK(!d.pci.bars[0].mapped);
	CHECK(!d.pci.bars[1].mapped);
	CHECK(!d.pci.bars[4].mapped);
	pci_unregister_device(r->pci, &d.pci);
	rig_free(r);
}

static void test_bar_decoding_follows_command(void)
{
	struct rig *r = rig_new();
	struct test_dev d = {0};
	td_init(&d);
	unsigned s = (unsigned)pci_register_device(r->pci, &d.pci);
	cfg_write(r, s, 0x10, 4, 0xC000);
	cfg_write(r, s, 0x14, 4, 0xFEB00000);
	cfg_write(r, s, 0x18, 4, 0x00000000);
	cfg_write(r, s, 0x1C, 4, 0x00000008); /* 0x8_0000_0000 */
	CHECK_EQ(pci_bar_address(&d.pci, 2), 0x800000000ULL);
	/* Not decoded yet. */
	CHECK_EQ(bus_read(r->vm.bus, BUS_PIO, 0xC004, 1), 0xFF);
	CHECK_EQ(bus_read(r->vm.bus, BUS_MMIO, 0xFEB00010, 4), 0xFFFFFFFF);
	CHECK_EQ(d.reads, 0);
	/* I/O only. */
	cfg_write(r, s, 0x04, 2, PCI_COMMAND_IO);
	CHECK_EQ(bus_read(r->vm.bus, BUS_PIO, 0xC004, 1), 0x5A);
	CHECK_EQ(d.last_offset, 4);
	CHECK_EQ(bus_read(r->vm.bus, BUS_MMIO, 0xFEB00010, 4), 0xFFFFFFFF);
	/* And memory. */
	cfg_write(r, s, 0x04, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	CHECK_EQ(bus_read(r->vm.bus, BUS_MMIO, 0xFEB00010, 4), 0x5A);
	CHECK_EQ(d.last_offset, 0x10);
	bus_write(r->vm.bus, BUS_MMIO, 0x800003FF8ULL, 8, 1);
	CHECK_EQ(d.writes, 1);
	CHECK_EQ(d.last_offset, 0x3FF8);
	/* Move BAR1 while decoding: the old place goes away. */
	cfg_write(r, s, 0x14, 4, 0xFEB10000);
	CHECK_EQ(bus_read(r->vm.bus, BUS_MMIO, 0xFEB00010, 4), 0xFFFFFFFF);
	CHECK_EQ(bus_read(r->vm.bus, BUS_MMIO, 0xFEB10000, 4), 0x5A);
	/* Byte-wise programming of a BAR works too. */
	cfg_write(r, s, 0x12, 1, 0xC1);
	CHECK_EQ(pci_bar_address(&d.pci, 0), 0xC1C000);
	CHECK(!d.pci.bars[0].mapped); /* beyond the 64 KiB port space */
	cfg_write(r, s, 0x12, 1, 0x00);
	CHECK(d.pci.bars[0].mapped);
	/* Disable: everything unmapped. */
	cfg_write(r, s, 0x04, 2, 0);
	CHECK_EQ(bus_read(r->vm.bus, BUS_PIO, 0xC004, 1), 0xFF);
	CHECK_EQ(bus_read(r->vm.bus, BUS_MMIO, 0xFEB10000, 4), 0xFFFFFFFF);
	CHECK_EQ(bus_read(r->vm.bus, BUS_MMIO, 0x800000000ULL, 4), 0xFFFFFFFF);
	/* COMMAND keeps its writable bits only. */
	cfg_write(r, s, 0x04, 2, 0xFFFF);
	CHECK_EQ(cfg_read(r, s, 0x04, 2), 0x0547);
	CHECK_EQ(cfg_read(r, s, 0x06, 2), 0);
	pci_unregister_device(r->pci, &d.pci);
	CHECK_EQ(bus_read(r->vm.bus, BUS_PIO, 0xC004, 1), 0xFF);
	rig_free(r);
}

static uint64_t other_read(void *opaque, uint64_t offset, unsigned size)
{
	return 0x77;
}
static const struct bus_ops other_ops = {.read = other_read};

static void test_bar_cannot_cover_another_device(void)
{
	struct rig *r = rig_new();
	CHECK_EQ(bus_register(r->vm.bus, BUS_PIO, 0xD010, 8, &other_ops, NULL, "other"), 0);
	struct test_dev d = {0};
	td_init(&d);
	unsigned s = (unsigned)pci_register_device(r->pci, &d.pci);
	cfg_write(r, s, 0x04, 2, PCI_COMMAND_IO);
	cfg_write(r, s, 0x10, 4, 0xD000); /* 0xD000-0xD01F covers "other" */
	CHECK(!d.pci.bars[0].mapped);
	CHECK_EQ(bus_read(r->vm.bus, BUS_PIO, 0xD010, 1), 0x77);
	CHECK_EQ(bus_read(r->vm.bus, BUS_PIO, 0xD000, 1), 0xFF);
	/* Over the PCI config ports themselves. */
	cfg_write(r, s, 0x10, 4, 0xCE0);
	CHECK(!d.pci.bars[0].mapped);
	CHECK_EQ(cfg_read(r, 0, 0, 2), 0x8086);
	/* Moved somewhere free, it works. */
	cfg_write(r, s, 0x10, 4, 0xE000);
	CHECK(d.pci.bars[0].mapped);
	CHECK_EQ(bus_read(r->vm.bus, BUS_PIO, 0xE000, 1), 0x5A);
	/* Two devices' BARs at the same address: the second stays off. */
	struct test_dev d2 = {0};
	td_init(&d2);
	unsigned s2 = (unsigned)pci_register_device(r->pci, &d2.pci);
	CHECK_EQ(s2, s + 1);
	cfg_write(r, s2, 0x10, 4, 0xE000);
	cfg_write(r, s2, 0x04, 2, PCI_COMMAND_IO);
	CHECK(!d2.pci.bars[0].mapped);
	bus_read(r->vm.bus, BUS_PIO, 0xE000, 1);
	CHECK_EQ(d2.reads, 0);
	pci_unregister_device(r->pci, &d2.pci);
	pci_unregister_device(r->pci, &d.pci);
	rig_free(r);
}

/* Memory BARs never cover guest RAM. */
static void test_bar_cannot_cover_ram(void)
{
	struct rig *r = rig_new();
	struct error err;
	CHECK_EQ(mem_init(&r->vm.mem, 64ULL << 20, false, &err), 0);
	struct test_dev d = {0};
	td_init(&d);
	unsigned s = (unsigned)pci_register_device(r->pci, &d.pci);
	cfg_write(r, s, 0x04, 2, PCI_COMMAND_MEMORY);
	cfg_write(r, s, 0x14, 4, 0x00100000); /* 1 MiB: RAM */
	CHECK(!d.pci.bars[1].mapped);
	cfg_write(r, s, 0x14, 4, (64U << 20) - 0x800); /* straddles the end of RAM */
	CHECK(!d.pci.bars[1].mapped);
	cfg_write(r, s, 0x14, 4, 64U << 20); /* just above RAM */
	CHECK(d.pci.bars[1].mapped);
	pci_unregister_device(r->pci, &d.pci);
	mem_destroy(&r->vm.mem);
	rig_free(r);
}

static void test_capability_list(void)
{
	struct rig *r = rig_new();
	struct test_dev d = {0};
	td_init(&d);
	uint8_t vendor_cap[8] = {0, 0, 8, 1, 2, 3, 4, 5};
	uint8_t msix_cap[12] = {0};
	CHECK_EQ(pci_add_capability(&d.pci, 0x09, vendor_cap, sizeof vendor_cap), 0x40);
	CHECK_EQ(pci_add_capability(&d.pci, 0x11, msix_cap, sizeof msix_cap), 0x48);
	uint8_t odd[3] = {0};
	CHECK_EQ(pci_add_capability(&d.pci, 0x05, odd, sizeof odd), 0x54);
	CHECK_EQ(pci_add_capability(&d.pci, 0x05, odd, 200), -1); /* does not fit */
	CHECK_EQ(pci_add_capability(&d.pci, 0x05, odd, 1), -1);
	unsigned s = (unsigned)pci_register_device(r->pci, &d.pci);
	CHECK(cfg_read(r, s, 0x06, 2) & PCI_STATUS_CAP_LIST);
	CHECK_EQ(cfg_read(r, s, 0x34, 1), 0x40);
	CHECK_EQ(cfg_read(r, s, 0x40, 2), 0x4809);
	CHECK_EQ(cfg_read(r, s, 0x44, 4), 0x05040302);
	CHECK_EQ(cfg_read(r, s, 0x48, 2), 0x5411);
	CHECK_EQ(cfg_read(r, s, 0x54, 2), 0x0005);
	/* Capabilities are read-only unless the device says otherwise. */
	cfg_write(r, s, 0x44, 4, 0);
	CHECK_EQ(cfg_read(r, s, 0x44, 4), 0x05040302);
	pci_unregister_device(r->pci, &d.pci);
	rig_free(r);
}

static unsigned hook_writes;
static void hook_write(struct pci_device *dev, unsigned offset, unsigned size, uint32_t value)
{
	hook_writes++;
}
static void hook_read(struct pci_device *dev, unsigned offset, unsigned size, uint32_t *value)
{
	if (offset == 0x40)
		*value = 0xABCD;
}

static void test_hooks_and_invalid_bars(void)
{
	struct rig *r = rig_new();
	struct test_dev d = {0};
	td_init(&d);
	d.pci.config_read = hook_read;
	d.pci.config_write = hook_write;
	unsigned s = (unsigned)pci_register_device(r->pci, &d.pci);
	CHECK_EQ(cfg_read(r, s, 0x40, 2), 0xABCD);
	cfg_write(r, s, 0x3C, 1, 5);
	CHECK_EQ(hook_writes, 1);
	pci_unregister_device(r->pci, &d.pci);
	CHECK_EQ(cfg_read(r, s, 0, 4), 0xFFFFFFFF);

	struct test_dev bad;
	td_init(&bad);
	bad.pci.bars[0].size = 0x30; /* not a power of two */
	CHECK_EQ(pci_register_device(r->pci, &bad.pci), -1);
	td_init(&bad);
	bad.pci.bars[5] = bad.pci.bars[2]; /* 64-bit BAR in the last slot */
	CHECK_EQ(pci_register_device(r->pci, &bad.pci), -1);
	td_init(&bad);
	bad.pci.bars[3] = bad.pci.bars[0]; /* the upper half of BAR2 */
	CHECK_EQ(pci_register_device(r->pci, &bad.pci), -1);
	rig_free(r);
}

static void test_bus_full(void)
{
	struct rig *r = rig_new();
	static struct test_dev devs[PCI_MAX_DEVICES];
	int ok = 0;
	for (int i = 0; i < PCI_MAX_DEVICES; i++) {
		pci_device_init(&devs[i].pci, "filler", 0x1234, (uint16_t)i, 0xFF0000, 0);
		if (pci_register_device(r->pci, &devs[i].pci) > 0)
			ok++;
	}
	CHECK_EQ(ok, PCI_MAX_DEVICES - 1); /* slot 0 is the host bridge */
	CHECK_EQ(cfg_read(r, 31, 0x02, 2), PCI_MAX_DEVICES - 2);
	rig_free(r);
}

int main(void)
{
	RUN(test_host_bridge);
	RUN(test_address_register);
	RUN(test_absent_devices_read_all_ones);
	RUN(test_bar_sizing);
	RUN(test_bar_decoding_follows_command);
	RUN(test_bar_cannot_cover_another_device);
	RUN(test_bar_cannot_cover_ram);
	RUN(test_capability_list);
	RUN(test_hooks_and_invalid_bars);
	RUN(test_bus_full);
	TEST_DONE();
}
