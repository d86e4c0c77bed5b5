/* The machine's memory map for every shape of guest memory: small, exactly
 * at the PCI hole, split across 4 GiB; and the RAM-range check the Multiboot
 * loader relies on, at its edges and with values that would overflow. */
#include "boot/boot.h"
#include "test.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

/* The invariants every map must keep: sorted, non-overlapping, non-empty,
 * and RAM entries exactly the guest's RAM outside the reserved areas. */
static void check_map(const struct guest_mem *mem, const struct e820_entry *m, int n)
{
	for (int i = 0; i < n; i++) {
		CHECK(m[i].size > 0);
		if (i > 0)
			CHECK(m[i].addr >= m[i - 1].addr + m[i - 1].size);
		if (m[i].type == E820_RAM)
			CHECK(mem_is_ram(mem, m[i].addr, m[i].size));
		else
			CHECK_EQ(m[i].type, E820_RESERVED);
	}
}

static int build(uint64_t ram, struct guest_mem *mem, struct e820_entry *m)
{
	struct error err;
	if (mem_init(mem, ram, false, &err) < 0) {
		printf("  mem_init: %s\n", err.msg);
		return -1;
	}
	return e820_build(mem, m, E820_MAX_ENTRIES);
}

static void expect(const struct e820_entry *e, uint64_t addr, uint64_t size, uint32_t type)
{
	CHECK_EQ(e->addr, addr);
	CHECK_EQ(e->size, size);
	CHECK_EQ(e->type, type);
}

static void test_small_machine(void)
{
	struct guest_mem mem;
	struct e820_entry m[E820_MAX_ENTRIES];
	int n = build(16 * MiB, &mem, m);
	CHECK_EQ(n, 4);
	if (n == 4) {
		expect(&m[0], 0, 0x9fc00, E820_RAM);
		expect(&m[1], 0x9fc00, 0x400, E820_RESERVED);
		expect(&m[2], 0xe0000, 0x20000, E820_RESERVED);
		expect(&m[3], 1 * MiB, 15 * MiB, E820_RAM);
		check_map(&mem, m, n);
	}
	mem_destroy(&mem);
}

static void test_at_and_above_the_hole(void)
{
	struct guest_mem mem;
	struct e820_entry m[E820_MAX_ENTRIES];
	int n = build(3 * GiB, &mem, m); /* exactly fills low RAM: no high entry */
	CHECK_EQ(n, 4);
	if (n == 4)
		expect(&m[3], 1 * MiB, 3 * GiB - 1 * MiB, E820_RAM);
	check_map(&mem, m, n);
	mem_destroy(&mem);

	n = build(3 * GiB + 4096, &mem, m); /* one page above 4 GiB */
	CHECK_EQ(n, 5);
	if (n == 5) {
		expect(&m[3], 1 * MiB, 3 * GiB - 1 * MiB, E820_RAM);
		expect(&m[4], 4 * GiB, 4096, E820_RAM);
	}
	check_map(&mem, m, n);
	mem_destroy(&mem);

	n = build(8 * GiB, &mem, m);
	CHECK_EQ(n, 5);
	if (n == 5)
		expect(&m[4], 4 * GiB, 5 * GiB, E820_RAM);
	check_map(&mem, m, n);
	/* Nothing between the low RAM and 4 GiB. */
	CHECK(!e820_range_is_ram(m, n, 3 * GiB, 1));
	CHECK(!e820_range_is_ram(m, n, 3 * GiB - 4096, 8192));
	mem_destroy(&mem);
}

static void test_too_few_slots(void)
{
	struct guest_mem mem;
	struct e820_entry m[E820_MAX_ENTRIES];
	struct error err;
	if (mem_init(&mem, 5 * GiB, false, &err) < 0) {
		CHECK(0);
		return;
	}
	CHECK_EQ(e820_build(&mem, m, 4), -1);
	CHECK_EQ(e820_build(&mem, m, 5), 5);
	CHECK_EQ(e820_build(&mem, m, 0), -1);
	mem_destroy(&mem);
}

static void test_range_is_ram(void)
{
	struct guest_mem mem;
	struct e820_entry m[E820_MAX_ENTRIES];
	int n = build(32 * MiB, &mem, m);
	CHECK(e820_range_is_ram(m, n, 0, 0x9fc00));
	CHECK(!e820_range_is_ram(m, n, 0, 0x9fc01));
	CHECK(!e820_range_is_ram(m, n, 0x9fc00, 1));
	CHECK(!e820_range_is_ram(m, n, 0xa0000, 1)); /* legacy hole: no entry at all */
	CHECK(!e820_range_is_ram(m, n, 0xf0000, 16));
	CHECK(e820_range_is_ram(m, n, 1 * MiB, 31 * MiB));
	CHECK(!e820_range_is_ram(m, n, 1 * MiB, 31 * MiB + 1));
	CHECK(!e820_range_is_ram(m, n, 1 * MiB - 1, 2)); /* spans reserved and RAM */
	CHECK(e820_range_is_ram(m, n, 32 * MiB, 0));     /* empty, at the very end */
	CHECK(!e820_range_is_ram(m, n, 32 * MiB, 1));
	CHECK(!e820_range_is_ram(m, n, 2 * MiB, UINT64_MAX));
	CHECK(!e820_range_is_ram(m, n, UINT64_MAX, 2));
	CHECK(!e820_range_is_ram(m, n, UINT64_MAX - 4095, 4096));
	CHECK(!e820_range_is_ram(m, 0, 1 * MiB, 1));
	mem_destroy(&mem);
}

int main(void)
{
	RUN(test_small_machine);
	RUN(test_at_and_above_the_hole);
	RUN(test_too_few_slots);
	RUN(test_range_is_ram);
	TEST_DONE();
}
