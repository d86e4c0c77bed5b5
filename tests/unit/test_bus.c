/* src/bus.c (range table, dispatch, unassigned accesses) and src/mem.c
 * (guest-physical layout, bounds checks, size parsing). */
#include "test.h"

#include <pthread.h>
#include <stdlib.h>

#include "bus.h"
#include "mem.h"

struct probe {
	int reads, writes;
	uint64_t offset, value;
	unsigned size;
	uint64_t reply;
};

static uint64_t probe_read(void *opaque, uint64_t offset, unsigned size)
{
	struct probe *p = opaque;
	p->reads++;
	p->offset = offset;
	p->size = size;
	return p->reply;
}

static void probe_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	struct probe *p = opaque;
	p->writes++;
	p->offset = offset;
	p->size = size;
	p->value = value;
}

static const struct bus_ops probe_ops = {.read = probe_read, .write = probe_write};

static void test_dispatch_offset_and_size(void)
{
	struct bus *bus = bus_create();
	struct probe p = {.reply = 0x1122334455667788ULL};
	CHECK_EQ(bus_register(bus, BUS_PIO, 0x100, 8, &probe_ops, &p, "probe"), 0);
	CHECK_EQ(bus_read(bus, BUS_PIO, 0x103, 1), 0x88); /* masked to the size */
	CHECK_EQ(p.offset, 3);
	CHECK_EQ(p.size, 1);
	CHECK_EQ(bus_read(bus, BUS_PIO, 0x100, 2), 0x7788);
	CHECK_EQ(bus_read(bus, BUS_PIO, 0x100, 4), 0x55667788);
	CHECK_EQ(bus_read(bus, BUS_PIO, 0x100, 8), 0x1122334455667788ULL);
	bus_write(bus, BUS_PIO, 0x107, 1, 0xABCD);
	CHECK_EQ(p.offset, 7);
	CHECK_EQ(p.value, 0xCD); /* masked to the size */
	/* The other space is separate. */
	CHECK_EQ(bus_read(bus, BUS_MMIO, 0x100, 1), 0xFF);
	CHECK_EQ(p.reads, 4);
	bus_destroy(bus);
}

static void test_overlaps_refused(void)
{
	struct bus *bus = bus_create();
	struct probe p = {0};
	CHECK_EQ(bus_register(bus, BUS_MMIO, 0x1000, 0x100, &probe_ops, &p, "a"), 0);
	CHECK_EQ(bus_register(bus, BUS_MMIO, 0x1000, 0x100, &probe_ops, &p, "same"), -1);
	CHECK_EQ(bus_register(bus, BUS_MMIO, 0x10FF, 1, &probe_ops, &p, "last byte"), -1);
	CHECK_EQ(bus_register(bus, BUS_MMIO, 0xFFF, 2, &probe_ops, &p, "first byte"), -1);
	CHECK_EQ(bus_register(bus, BUS_MMIO, 0x800, 0x1000, &probe_ops, &p, "covers"), -1);
	CHECK_EQ(bus_register(bus, BUS_MMIO, 0x1010, 0x10, &probe_ops, &p, "inside"), -1);
	/* Adjacent ranges are fine. */
	CHECK_EQ(bus_register(bus, BUS_MMIO, 0x1100, 1, &probe_ops, &p, "after"), 0);
	CHECK_EQ(bus_register(bus, BUS_MMIO, 0xFFF, 1, &probe_ops, &p, "before"), 0);
	/* Empty and wrapping ranges. */
	CHECK_EQ(bus_register(bus, BUS_MMIO, 0x5000, 0, &probe_ops, &p, "empty"), -1);
	CHECK_EQ(bus_register(bus, BUS_MMIO, ~0ULL - 0xF, 0x20, &probe_ops, &p, "wraps"), -1);
	CHECK_EQ(bus_register(bus, BUS_MMIO, ~0ULL - 0xF, 0x10, &probe_ops, &p, "top"), 0);
	CHECK_EQ(bus_read(bus, BUS_MMIO, ~0ULL, 1), 0);
	CHECK_EQ(p.offset, 0xF);
	bus_destroy(bus);
}

static void test_unregister(void)
{
	struct bus *bus = bus_create();
	struct probe p = {.reply = 1};
	CHECK_EQ(bus_register(bus, BUS_PIO, 0x60, 1, &probe_ops, &p, "x"), 0);
	CHECK_EQ(bus_unregister(bus, BUS_PIO, 0x61), -1);  /* not a range start */
	CHECK_EQ(bus_unregister(bus, BUS_MMIO, 0x60), -1); /* other space */
	CHECK_EQ(bus_unregister(bus, BUS_PIO, 0x60), 0);
	CHECK_EQ(bus_unregister(bus, BUS_PIO, 0x60), -1);
	CHECK_EQ(bus_read(bus, BUS_PIO, 0x60, 1), 0xFF);
	CHECK_EQ(p.reads, 0);
	/* The space is free again. */
	CHECK_EQ(bus_register(bus, BUS_PIO, 0x60, 4, &probe_ops, &p, "y"), 0);
	CHECK_EQ(bus_read(bus, BUS_PIO, 0x63, 1), 1);
	bus_destroy(bus);
}

static void test_unassigned_all_ones(void)
{
	struct bus *bus = bus_create();
	CHECK_EQ(bus_unassigned_count(bus), 0);
	CHECK_EQ(bus_read(bus, BUS_PIO, 0x1234, 1), 0xFF);
	CHECK_EQ(bus_read(bus, BUS_PIO, 0x1234, 2), 0xFFFF);
	CHECK_EQ(bus_read(bus, BUS_PIO, 0x1234, 4), 0xFFFFFFFF);
	CHECK_EQ(bus_read(bus, BUS_MMIO, 0xFEE00000, 8), ~0ULL);
	bus_write(bus, BUS_MMIO, 0xFEE00000, 4, 0);
	CHECK_EQ(bus_unassigned_count(bus), 5);
	/* Logging is bounded however many distinct addresses a guest hits. */
	for (uint64_t a = 0; a < 5000; a++)
		bus_read(bus, BUS_MMIO, a << 12, 4);
	CHECK_EQ(bus_unassigned_count(bus), 5005);
	bus_destroy(bus);
}

/* A range with a NULL callback: present, but that direction does nothing. */
static void test_missing_callbacks(void)
{
	struct bus *bus = bus_create();
	static const struct bus_ops write_only = {.write = probe_write};
	struct probe p = {0};
	CHECK_EQ(bus_register(bus, BUS_PIO, 0x80, 1, &write_only, &p, "w"), 0);
	CHECK_EQ(bus_read(bus, BUS_PIO, 0x80, 1), 0xFF);
	CHECK_EQ(bus_unassigned_count(bus), 0);
	bus_write(bus, BUS_PIO, 0x80, 1, 0x42);
	CHECK_EQ(p.value, 0x42);
	bus_destroy(bus);
}

static void test_many_ranges(void)
{
	struct bus *bus = bus_create();
	static struct probe probes[256];
	/* Insert out of order to exercise the sorted insert. */
	int ok = 0;
	for (int i = 0; i < 256; i++) {
		int slot = (i * 97) % 256;
		probes[slot].reply = (uint64_t)slot;
		ok += bus_register(bus, BUS_MMIO, 0x10000 + (uint64_t)slot * 0x100, 0x80,
		                   &probe_ops, &probes[slot], "many") == 0;
	}
	CHECK_EQ(ok, 256);
	struct probe extra = {0};
	CHECK_EQ(bus_register(bus, BUS_MMIO, 0x900000, 1, &probe_ops, &extra, "full"), -1);
	bool all = true;
	for (int slot = 0; slot < 256; slot++) {
		uint64_t base = 0x10000 + (uint64_t)slot * 0x100;
		if (bus_read(bus, BUS_MMIO, base + 0x7F, 1) != (uint64_t)slot)
			all = false;
		if (bus_read(bus, BUS_MMIO, base + 0x80, 1) != 0xFF) /* the gap */
			all = false;
	}
	CHECK(all);
	bus_destroy(bus);
}

/* Ranges move while other threads dispatch (PCI BARs do this). */
struct race {
	struct bus *bus;
	volatile int stop;
};

static void *race_reader(void *arg)
{
	struct race *r = arg;
	while (!r->stop) {
		uint64_t v = bus_read(r->bus, BUS_MMIO, 0x2000, 4);
		if (v != 7 && v != 0xFFFFFFFF)
			return (void *)1;
	}
	return NULL;
}

static void test_concurrent_moves(void)
{
	struct race r = {.bus = bus_create()};
	struct probe p = {.reply = 7};
	pthread_t t;
	pthread_create(&t, NULL, race_reader, &r);
	for (int i = 0; i < 20000; i++) {
		bus_register(r.bus, BUS_MMIO, 0x2000, 0x1000, &probe_ops, &p, "moving");
		bus_unregister(r.bus, BUS_MMIO, 0x2000);
	}
	r.stop = 1;
	void *res;
	pthread_join(t, &res);
	CHECK(res == NULL);
	bus_destroy(r.bus);
}

static void test_mem_init_limits(void)
{
	struct guest_mem m;
	struct error err = {{0}};
	CHECK_EQ(mem_init(&m, MEM_MIN_SIZE - 4096, false, &err), -1);
	CHECK(err.msg[0] != 0);
	CHECK_EQ(mem_init(&m, MEM_MAX_SIZE + 4096, false, &err), -1);
	CHECK_EQ(mem_init(&m, (64ULL << 20) + 1, false, &err), -1);
	CHECK_EQ(mem_init(&m, 64ULL << 20, false, &err), 0);
	CHECK_EQ(m.nregions, 1);
	CHECK_EQ(mem_low_end(&m), 64ULL << 20);
	mem_destroy(&m);
}

static void test_mem_ptr_bounds(void)
{
	struct guest_mem m;
	struct error err;
	const uint64_t size = 64ULL << 20;
	CHECK_EQ(mem_init(&m, size, false, &err), 0);
	uint8_t *base = mem_ptr(&m, 0, 1);
	CHECK(base != NULL);
	CHECK(mem_ptr(&m, 0, size) == base);
	CHECK(mem_ptr(&m, size - 1, 1) == base + size - 1);
	CHECK(mem_ptr(&m, 0, size + 1) == NULL);
	CHECK(mem_ptr(&m, size, 1) == NULL);
	CHECK(mem_ptr(&m, size - 4, 8) == NULL);
	/* Sums that wrap must not pass. */
	CHECK(mem_ptr(&m, ~0ULL, 2) == NULL);
	CHECK(mem_ptr(&m, 0x1000, ~0ULL) == NULL);
	CHECK(mem_ptr(&m, ~0ULL - 0xFFF, 0x2000) == NULL);
	CHECK(mem_ptr(&m, 0x1000, ~0ULL - 0x800) == NULL);
	CHECK(!mem_is_ram(&m, MEM_PCI_HOLE_START, 1));
	CHECK(mem_is_ram(&m, 0x1000, 0x1000));
	/* Fresh memory is zero. */
	uint8_t buf[16] = {1};
	CHECK_EQ(mem_read(&m, 0x5000, buf, sizeof buf), 0);
	CHECK_EQ(buf[0], 0);
	CHECK_EQ(mem_write(&m, size - 8, "0123456789", 10), -1);
	CHECK_EQ(mem_read(&m, ~0ULL - 3, buf, 8), -1);
	CHECK_EQ(mem_write(&m, size - 10, "0123456789", 10), 0);
	CHECK_EQ(mem_read(&m, size - 10, buf, 10), 0);
	CHECK(memcmp(buf, "0123456789", 10) == 0);
	mem_destroy(&m);
}

static void test_mem_above_the_hole(void)
{
	struct guest_mem m;
	struct error err;
	const uint64_t size = MEM_PCI_HOLE_START + (16ULL << 20);
	if (mem_init(&m, size, false, &err) < 0) {
		printf("  (cannot map %llu MiB here: %s)\n", (unsigned long long)(size >> 20),
		       err.msg);
		return;
	}
	CHECK_EQ(m.nregions, 2);
	CHECK_EQ(mem_low_end(&m), MEM_PCI_HOLE_START);
	CHECK(mem_ptr(&m, MEM_PCI_HOLE_START - 1, 1) != NULL);
	CHECK(mem_ptr(&m, MEM_PCI_HOLE_START - 1, 2) == NULL);
	CHECK(mem_ptr(&m, MEM_PCI_HOLE_START, 1) == NULL);
	CHECK(mem_ptr(&m, MEM_4G - 1, 1) == NULL);
	CHECK(mem_ptr(&m, MEM_4G, 16ULL << 20) != NULL);
	CHECK(mem_ptr(&m, MEM_4G, (16ULL << 20) + 1) == NULL);
	CHECK(mem_ptr(&m, MEM_4G + (16ULL << 20), 1) == NULL);
	/* The two regions are backed by distinct host memory. */
	CHECK(mem_ptr(&m, MEM_4G, 1) != mem_ptr(&m, 0, 1));
	CHECK_EQ(mem_write(&m, MEM_4G, "abc", 3), 0);
	uint8_t b[3];
	CHECK_EQ(mem_read(&m, 0, b, 3), 0);
	CHECK(memcmp(b, "abc", 3) != 0);
	/* Copies cannot run from RAM into the hole. */
	CHECK_EQ(mem_write(&m, MEM_PCI_HOLE_START - 2, "abcd", 4), -1);
	mem_destroy(&m);
}

static void test_mem_parse_size(void)
{
	uint64_t v = 0;
	CHECK_EQ(mem_parse_size("256M", &v), 0);
	CHECK_EQ(v, 256ULL << 20);
	CHECK_EQ(mem_parse_size("4G", &v), 0);
	CHECK_EQ(v, 4ULL << 30);
	CHECK_EQ(mem_parse_size("512K", &v), 0);
	CHECK_EQ(v, 512ULL << 10);
	CHECK_EQ(mem_parse_size("1t", &v), 0);
	CHECK_EQ(v, 1ULL << 40);
	CHECK_EQ(mem_parse_size("2GiB", &v), 0);
	CHECK_EQ(v, 2ULL << 30);
	CHECK_EQ(mem_parse_size("2GB", &v), 0);
	CHECK_EQ(v, 2ULL << 30);
	CHECK_EQ(mem_parse_size("512", &v), 0); /* a bare number is MiB, as QEMU's -m */
	CHECK_EQ(v, 512ULL << 20);
	v = 12345;
	CHECK_EQ(mem_parse_size("", &v), -1);
	CHECK_EQ(mem_parse_size(NULL, &v), -1);
	CHECK_EQ(mem_parse_size("-1G", &v), -1);
	CHECK_EQ(mem_parse_size("G", &v), -1);
	CHECK_EQ(mem_parse_size("12X", &v), -1);
	CHECK_EQ(mem_parse_size("1G junk", &v), -1);
	CHECK_EQ(mem_parse_size("99999999999999999999", &v), -1);
	CHECK_EQ(mem_parse_size("17179869184G", &v), -1); /* 2^34 GiB overflows */
	CHECK_EQ(v, 12345);                               /* untouched on failure */
}

int main(void)
{
	RUN(test_dispatch_offset_and_size);
	RUN(test_overlaps_refused);
	RUN(test_unregister);
	RUN(test_unassigned_all_ones);
	RUN(test_missing_callbacks);
	RUN(test_many_ranges);
	RUN(test_concurrent_moves);
	RUN(test_mem_init_limits);
	RUN(test_mem_ptr_bounds);
	RUN(test_mem_above_the_hole);
	RUN(test_mem_parse_size);
	TEST_DONE();
}
