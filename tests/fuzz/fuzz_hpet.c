/* libFuzzer target: the HPET (with the RTC it can take IRQ 8 from) driven
 * by a hostile guest on a clock the input moves.
 *
 * The input is a sequence of operations, each starting with a control byte:
 *   bits 0-1  0 read, 1 write, 2 advance time (the engine's part), 3 RTC
 *             port write (index, value)
 *   bits 2-3  access size: 1, 2, 4, 8 bytes
 * then for reads and writes a two-byte offset (taken modulo the block, so
 * misaligned accesses and ones that run off the end happen) and, for
 * writes, the value; for time, two bytes of nanoseconds shifted left by
 * bits 4-7 of the control byte. After every operation the device's next
 * deadline must not lie in the past once the engine has advanced to it. */
#include <stdint.h>
#include <stdlib.h>

#include "dev/hpet.h"
#include "dev/rtc.h"
#include "util/log.h"
#include "vm.h"

static void fuzz_set_irq(struct vm *vm, unsigned gsi, int level) {}
static const struct engine_ops fuzz_engine = {.name = "fuzz", .set_irq = fuzz_set_irq};

struct reader {
	const uint8_t *p;
	size_t left;
};

static uint64_t take(struct reader *r, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n && r->left; i++, r->left--)
		v |= (uint64_t)*r->p++ << (8 * i);
	return v;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_level(LOG_ERROR);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct manual_clock clk;
	struct vm *vm = calloc(1, sizeof *vm);
	vm->bus = bus_create();
	vm->engine = &fuzz_engine;
	clk.ns = 0;
	vm->clock = manual_clock_as_guest_clock(&clk);
	struct rtc *rtc = rtc_create(vm);
	struct hpet *hpet = hpet_create(vm);
	if (!rtc || !hpet)
		abort();

	struct reader r = {data, size};
	while (r.left) {
		uint8_t ctl = (uint8_t)take(&r, 1);
		unsigned sz = 1u << ((ctl >> 2) & 3);
		switch (ctl & 3) {
		case 0:
			bus_read(vm->bus, BUS_MMIO, HPET_BASE + take(&r, 2) % HPET_MMIO_SIZE, sz);
			break;
		case 1: {
			uint64_t off = take(&r, 2) % HPET_MMIO_SIZE;
			bus_write(vm->bus, BUS_MMIO, HPET_BASE + off, sz, take(&r, sz));
			break;
		}
		case 2: {
			uint64_t d = take(&r, 2) << (ctl >> 4);
			clk.ns += d;
			vm_timers_advance(vm, clk.ns);
			break;
		}
		default:
			bus_write(vm->bus, BUS_PIO, RTC_INDEX_PORT, 1, take(&r, 1));
			bus_write(vm->bus, BUS_PIO, RTC_DATA_PORT, 1, take(&r, 1));
			break;
		}
		/* The engine's loop: a deadline it reaches is consumed. */
		for (int k = 0; k < 4; k++) {
			uint64_t d = vm_timers_next_deadline_ns(vm);
			if (d > clk.ns)
				break;
			vm_timers_advance(vm, clk.ns);
			if (vm_timers_next_deadline_ns(vm) <= clk.ns)
				abort(); /* a deadline that advancing does not clear */
		}
	}
	hpet_destroy(hpet);
	rtc_destroy(rtc);
	bus_destroy(vm->bus);
	free(vm);
	return 0;
}
