/* The machine's memory map as firmware would report it (INT 15h E820): the
 * one description of RAM that both the Linux zero page and the Multiboot
 * memory map are built from, so the two loaders cannot disagree. */
#include "boot/boot.h"

#include "boot/acpi.h"

#define E820_EBDA_START BOOT_RESERVED_LOW /* 0x9FC00: the last KiB below 640K */
#define E820_LEGACY_HOLE 0xA0000          /* VGA window and option ROMs: no entry */
#define E820_BIOS_START ACPI_TABLES_ADDR  /* 0xE0000: ACPI tables, BIOS area */
#define E820_1M 0x100000ULL

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static int e820_add(struct e820_entry *out, int n, int max, uint64_t addr, uint64_t end,
                    uint32_t type)
{
	if (n < 0 || end <= addr)
		return n; /* an empty range (tiny hand-made memory) adds nothing */
	if (n >= max)
		return -1;
	out[n] = (struct e820_entry){.addr = addr, .size = end - addr, .type = type};
	return n + 1;
}

int e820_build(const struct guest_mem *mem, struct e820_entry *out, int max)
{
	uint64_t low_end = mem_low_end(mem);
	int n = 0;

	/* Conventional memory, minus the EBDA KiB that guests expect to be
	 * reserved. The reserved entries below 1 MiB are listed whatever the RAM
	 * size: the guest must not treat them as RAM even if it is backed. */
	n = e820_add(out, n, max, 0, min_u64(low_end, E820_EBDA_START), E820_RAM);
	n = e820_add(out, n, max, E820_EBDA_START, E820_LEGACY_HOLE, E820_RESERVED);
	n = e820_add(out, n, max, E820_BIOS_START, E820_1M, E820_RESERVED);
	n = e820_add(out, n, max, E820_1M, low_end, E820_RAM);
	for (int i = 1; i < mem->nregions; i++) {
		const struct mem_region *r = &mem->regions[i];
		if (r->size > UINT64_MAX - r->gpa)
			return -1;
		n = e820_add(out, n, max, r->gpa, r->gpa + r->size, E820_RAM);
	}
	return n;
}

bool e820_range_is_ram(const struct e820_entry *map, int n, uint64_t addr, uint64_t len)
{
	for (int i = 0; i < n; i++) {
		const struct e820_entry *e = &map[i];
		/* Written without addr + len so that no sum can wrap. */
		if (e->type == E820_RAM && addr >= e->addr && addr - e->addr <= e->size &&
		    len <= e->size - (addr - e->addr))
			return true;
	}
	return false;
}
