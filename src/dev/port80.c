#include "dev/port80.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "util/log.h"
#include "vm.h"

struct port80 {
	struct vm *vm;
	/* One byte of state: an atomic is all the locking it needs, and Linux
	 * hits this port often enough (I/O delays) that it should stay cheap. */
	atomic_uchar last;
};

static uint64_t port80_read(void *opaque, uint64_t offset, unsigned size)
{
	struct port80 *p = opaque;
	uint8_t v = atomic_load_explicit(&p->last, memory_order_relaxed);
	return size > 1 ? (~0ULL << 8) | v : v;
}

static void port80_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	struct port80 *p = opaque;
	atomic_store_explicit(&p->last, (uint8_t)value, memory_order_relaxed);
}

static const struct bus_ops port80_ops = {.read = port80_read, .write = port80_write};

struct port80 *port80_create(struct vm *vm)
{
	struct port80 *p = calloc(1, sizeof *p);
	if (!p) {
		log_error("port 0x80: out of memory");
		return NULL;
	}
	p->vm = vm;
	atomic_init(&p->last, 0);
	if (bus_register(vm->bus, BUS_PIO, PORT80_PORT, 1, &port80_ops, p, "port80") < 0) {
		log_error("port 0x80: cannot claim the port");
		free(p);
		return NULL;
	}
	return p;
}

void port80_destroy(struct port80 *p)
{
	if (!p)
		return;
	bus_unregister(p->vm->bus, BUS_PIO, PORT80_PORT);
	free(p);
}

uint8_t port80_last(struct port80 *p)
{
	return atomic_load(&p->last);
}
