/* A stand-in engine for device unit tests: devices reach the machine only
 * through vm_set_irq() and vm_request_exit(), which forward to the engine's
 * set_irq and kick; this one records those calls so tests can check them.
 * Build a machine with `struct vm vm = {0}; vm.bus = bus_create();
 * vm.engine = &fake_engine;` and call fake_engine_reset() per test. */
#ifndef RINGFOLD_TEST_FAKE_ENGINE_H
#define RINGFOLD_TEST_FAKE_ENGINE_H

#include <string.h>

#include "vm.h"

#define FAKE_ENGINE_GSIS 32

static struct {
	int kicks;
	int irq_calls;
	unsigned last_gsi;
	int last_level;
	int level[FAKE_ENGINE_GSIS]; /* current level of each line; all start low */
} fake;

static void fake_kick(struct vm *vm)
{
	(void)vm;
	fake.kicks++;
}

static void fake_set_irq(struct vm *vm, unsigned gsi, int level)
{
	(void)vm;
	fake.irq_calls++;
	fake.last_gsi = gsi;
	fake.last_level = level;
	if (gsi < FAKE_ENGINE_GSIS)
		fake.level[gsi] = level;
}

static const struct engine_ops fake_engine = {
    .name = "fake", .kick = fake_kick, .set_irq = fake_set_irq};

static inline void fake_engine_reset(void)
{
	memset(&fake, 0, sizeof fake);
}

#endif
