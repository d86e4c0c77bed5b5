#include "dev/debugexit.h"

#include <stdlib.h>

#include "util/log.h"
#include "vm.h"

struct debugexit {
	struct vm *vm;
	uint16_t port;
};

static uint64_t debugexit_read(void *opaque, uint64_t offset, unsigned size)
{
	return 0;
}

/* No state to protect: vm_request_exit() is thread-safe and the first
 * request wins, so no lock is needed here. */
static void debugexit_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	struct debugexit *dev = opaque;
	/* QEMU's device takes the value at the written width; the exit status
	 * is (v << 1) | 1, so only the low bits ever reach the process. */
	vm_request_exit(dev->vm, VM_EXIT_DEBUG, (int)(uint32_t)value);
}

static const struct bus_ops debugexit_ops = {
    .read = debugexit_read,
    .write = debugexit_write,
};

struct debugexit *debugexit_create(struct vm *vm, uint16_t port)
{
	struct debugexit *dev = calloc(1, sizeof *dev);
	if (!dev) {
		log_error("debug-exit: out of memory");
		return NULL;
	}
	dev->vm = vm;
	dev->port = port;
	if (bus_register(vm->bus, BUS_PIO, port, DEBUGEXIT_PORT_LEN, &debugexit_ops, dev,
	                 "debug-exit") < 0) {
		log_error("debug-exit: cannot claim ports %#x-%#x", port,
		          port + DEBUGEXIT_PORT_LEN - 1);
		free(dev);
		return NULL;
	}
	return dev;
}

void debugexit_destroy(struct debugexit *dev)
{
	if (!dev)
		return;
	bus_unregister(dev->vm->bus, BUS_PIO, dev->port);
	free(dev);
}
