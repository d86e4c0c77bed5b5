#include "bus.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

#define BUS_MAX_RANGES 256
#define BUS_LOGGED_SLOTS 64

struct bus_range {
	uint64_t base, len;
	const struct bus_ops *ops;
	void *opaque;
	const char *name;
};

struct bus_space_table {
	struct bus_range ranges[BUS_MAX_RANGES]; /* sorted by base */
	int n;
};

struct bus {
	pthread_rwlock_t lock;
	struct bus_space_table spaces[2];
	/* Unassigned accesses are logged once per page (MMIO) or port (PIO);
	 * a small table bounds the memory a guest can make us spend on it. */
	pthread_mutex_t logged_lock;
	uint64_t logged[BUS_LOGGED_SLOTS];
	int nlogged;
	atomic_uint_fast64_t unassigned;
};

struct bus *bus_create(void)
{
	struct bus *bus = calloc(1, sizeof *bus);
	if (!bus)
		return NULL;
	pthread_rwlock_init(&bus->lock, NULL);
	pthread_mutex_init(&bus->logged_lock, NULL);
	return bus;
}

void bus_destroy(struct bus *bus)
{
	if (!bus)
		return;
	pthread_rwlock_destroy(&bus->lock);
	pthread_mutex_destroy(&bus->logged_lock);
	free(bus);
}

int bus_register(struct bus *bus, enum bus_space space, uint64_t base, uint64_t len,
                 const struct bus_ops *ops, void *opaque, const char *name)
{
	if (len == 0 || base + len - 1 < base)
		return -1;
	pthread_rwlock_wrlock(&bus->lock);
	struct bus_space_table *t = &bus->spaces[space];
	int pos = 0;
	while (pos < t->n && t->ranges[pos].base < base)
		pos++;
	bool overlaps = (pos > 0 && t->ranges[pos - 1].base + t->ranges[pos - 1].len - 1 >= base) ||
	                (pos < t->n && base + len - 1 >= t->ranges[pos].base);
	if (overlaps || t->n == BUS_MAX_RANGES) {
		pthread_rwlock_unlock(&bus->lock);
		log_error("bus: cannot register %s at %#llx+%#llx: %s", name,
		          (unsigned long long)base, (unsigned long long)len,
		          overlaps ? "overlaps another device" : "too many ranges");
		return -1;
	}
	memmove(&t->ranges[pos + 1], &t->ranges[pos], (size_t)(t->n - pos) * sizeof t->ranges[0]);
	t->ranges[pos] = (struct bus_range){base, len, ops, opaque, name};
	t->n++;
	pthread_rwlock_unlock(&bus->lock);
	return 0;
}

int bus_unregister(struct bus *bus, enum bus_space space, uint64_t base)
{
	int rc = -1;
	pthread_rwlock_wrlock(&bus->lock);
	struct bus_space_table *t = &bus->spaces[space];
	for (int i = 0; i < t->n; i++) {
		if (t->ranges[i].base == base) {
			memmove(&t->ranges[i], &t->ranges[i + 1],
			        (size_t)(t->n - i - 1) * sizeof t->ranges[0]);
			t->n--;
			rc = 0;
			break;
		}
	}
	pthread_rwlock_unlock(&bus->lock);
	return rc;
}

/* Binary search; caller holds the read lock. */
static const struct bus_range *bus_find(const struct bus_space_table *t, uint64_t addr)
{
	int lo = 0, hi = t->n - 1;
	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		const struct bus_range *r = &t->ranges[mid];
		if (addr < r->base)
			hi = mid - 1;
		else if (addr - r->base >= r->len)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

static void bus_note_unassigned(struct bus *bus, enum bus_space space, uint64_t addr, bool is_write,
                                uint64_t value)
{
	atomic_fetch_add(&bus->unassigned, 1);
	uint64_t key = space == BUS_MMIO ? (addr & ~0xfffULL) | 1 : addr << 1;
	pthread_mutex_lock(&bus->logged_lock);
	bool seen = false;
	for (int i = 0; i < bus->nlogged; i++)
		seen |= bus->logged[i] == key;
	bool log_it = !seen && bus->nlogged < BUS_LOGGED_SLOTS;
	if (log_it)
		bus->logged[bus->nlogged++] = key;
	bool last = log_it && bus->nlogged == BUS_LOGGED_SLOTS;
	pthread_mutex_unlock(&bus->logged_lock);
	if (log_it) {
		if (is_write)
			log_info("unassigned %s write at %#llx (value %#llx) dropped%s",
			         space == BUS_MMIO ? "MMIO" : "port", (unsigned long long)addr,
			         (unsigned long long)value,
			         space == BUS_MMIO ? " (logged once per page)" : "");
		else
			log_info("unassigned %s read at %#llx returns all-ones%s",
			         space == BUS_MMIO ? "MMIO" : "port", (unsigned long long)addr,
			         space == BUS_MMIO ? " (logged once per page)" : "");
	}
	if (last)
		log_info("further unassigned accesses are not logged");
}

static uint64_t size_mask(unsigned size)
{
	return size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}

uint64_t bus_read(struct bus *bus, enum bus_space space, uint64_t addr, unsigned size)
{
	pthread_rwlock_rdlock(&bus->lock);
	const struct bus_range *r = bus_find(&bus->spaces[space], addr);
	if (r && r->ops->read) {
		const struct bus_ops *ops = r->ops;
		void *opaque = r->opaque;
		uint64_t off = addr - r->base;
		pthread_rwlock_unlock(&bus->lock);
		return ops->read(opaque, off, size) & size_mask(size);
	}
	pthread_rwlock_unlock(&bus->lock);
	if (!r)
		bus_note_unassigned(bus, space, addr, false, 0);
	return size_mask(size);
}

void bus_write(struct bus *bus, enum bus_space space, uint64_t addr, unsigned size, uint64_t value)
{
	pthread_rwlock_rdlock(&bus->lock);
	const struct bus_range *r = bus_find(&bus->spaces[space], addr);
	if (r && r->ops->write) {
		const struct bus_ops *ops = r->ops;
		void *opaque = r->opaque;
		uint64_t off = addr - r->base;
		pthread_rwlock_unlock(&bus->lock);
		ops->write(opaque, off, size, value & size_mask(size));
		return;
	}
	pthread_rwlock_unlock(&bus->lock);
	if (!r)
		bus_note_unassigned(bus, space, addr, true, value);
}

uint64_t bus_unassigned_count(struct bus *bus)
{
	return atomic_load(&bus->unassigned);
}
