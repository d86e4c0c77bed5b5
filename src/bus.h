/* Port I/O and MMIO dispatch: the one path from an engine's exit to a device.
 *
 * An engine never knows which device it talks to; it calls bus_read/bus_write
 * with an address and a size (1, 2, 4 or 8 bytes). A device registers ranges
 * with callbacks that see the offset into their range. Devices do their own
 * locking (they may also be touched by I/O threads); the bus only protects its
 * range table, so ranges may be added or moved (PCI BARs) while vCPUs run.
 *
 * An access that hits no device behaves as on a PC: reads return all-ones,
 * writes are dropped, and the address is logged once. */
#ifndef RINGFOLD_BUS_H
#define RINGFOLD_BUS_H

#include <stdint.h>

enum bus_space { BUS_PIO, BUS_MMIO };

struct bus_ops {
	uint64_t (*read)(void *opaque, uint64_t offset, unsigned size);
	void (*write)(void *opaque, uint64_t offset, unsigned size, uint64_t value);
};

struct bus;

struct bus *bus_create(void);
void bus_destroy(struct bus *bus);

/* -1 if the range is empty, wraps, or overlaps a registered one. */
int bus_register(struct bus *bus, enum bus_space space, uint64_t base, uint64_t len,
                 const struct bus_ops *ops, void *opaque, const char *name);
/* Removes the range that starts at base; -1 if there is none. */
int bus_unregister(struct bus *bus, enum bus_space space, uint64_t base);

uint64_t bus_read(struct bus *bus, enum bus_space space, uint64_t addr, unsigned size);
void bus_write(struct bus *bus, enum bus_space space, uint64_t addr, unsigned size, uint64_t value);

/* Count of accesses that hit nothing (for tests and statistics). */
uint64_t bus_unassigned_count(struct bus *bus);

#endif
