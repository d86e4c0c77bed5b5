/* Shared by the boot loader unit tests: a guest memory, a boot request and
 * the entry state a loader produces, with helpers to run a loader on an
 * in-memory image and to look at guest memory. */
#ifndef RINGFOLD_TEST_BOOT_FIXTURE_H
#define RINGFOLD_TEST_BOOT_FIXTURE_H

#include <stdio.h>
#include <string.h>

#include "boot/boot.h"

struct fixture {
	struct guest_mem mem;
	struct boot_request req;
	struct cpu_state cpu;
	struct error err;
};

typedef int (*boot_loader_fn)(const struct guest_mem *, const struct boot_request *,
                              struct cpu_state *, struct error *);

/* ram bytes of guest memory; kernel_name is what error messages will name. */
static int fx_setup(struct fixture *f, uint64_t ram, const char *kernel_name)
{
	memset(f, 0, sizeof *f);
	struct error err;
	if (mem_init(&f->mem, ram, false, &err) < 0) {
		printf("  mem_init: %s\n", err.msg);
		return -1;
	}
	f->req.kernel.name = kernel_name;
	return 0;
}

static int fx_run(struct fixture *f, boot_loader_fn loader, const uint8_t *img, size_t size)
{
	f->req.kernel.data = img;
	f->req.kernel.size = size;
	f->err.msg[0] = '\0';
	return loader(&f->mem, &f->req, &f->cpu, &f->err);
}

static inline uint8_t *gp(struct fixture *f, uint64_t gpa, uint64_t len)
{
	return mem_ptr(&f->mem, gpa, len);
}

#endif
