/* Guest-physical memory: host anonymous memory laid out as on a PC.
 *
 *   [0, low_end)                RAM (low_end = min(ram, MEM_PCI_HOLE_START))
 *   [MEM_PCI_HOLE_START, 4 GiB) no RAM: PCI MMIO window, IOAPIC, LAPIC
 *   [4 GiB, 4 GiB + rest)       the RAM that did not fit below the hole
 *
 * Every guest-supplied address goes through mem_ptr(), which checks the whole
 * range against one region, so no guest value can reach host memory outside
 * guest RAM. */
#ifndef RINGFOLD_MEM_H
#define RINGFOLD_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define MEM_PCI_HOLE_START 0xC0000000ULL /* 3 GiB: RAM below, PCI/APIC above */
#define MEM_4G 0x100000000ULL
#define MEM_MIN_SIZE (16ULL << 20)
#define MEM_MAX_SIZE (1ULL << 40)

struct mem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;
};

struct guest_mem {
	uint64_t ram_size;
	int nregions;
	struct mem_region regions[2];
	uint8_t *mapping; /* one host mapping backs every region, in order */
	size_t mapping_size;
	bool hugepages;
};

int mem_init(struct guest_mem *m, uint64_t ram_size, bool hugepages, struct error *err);
void mem_destroy(struct guest_mem *m);

/* Host pointer for [gpa, gpa + len) if it lies entirely inside one RAM
 * region, else NULL. Overflow-safe for any 64-bit inputs. */
void *mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len);
bool mem_is_ram(const struct guest_mem *m, uint64_t gpa, uint64_t len);

/* Copy helpers that may cross region boundaries; -1 if any byte is not RAM. */
int mem_read(const struct guest_mem *m, uint64_t gpa, void *buf, size_t len);
int mem_write(const struct guest_mem *m, uint64_t gpa, const void *buf, size_t len);

/* End of RAM below the PCI hole (exclusive). */
uint64_t mem_low_end(const struct guest_mem *m);

/* Parse "256M", "4G", "1048576", "512K"; 0 on success. */
int mem_parse_size(const char *s, uint64_t *out);

#endif
