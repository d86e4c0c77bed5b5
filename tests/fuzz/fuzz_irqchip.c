/* Random register writes and reads, IRQ line changes, time steps and
 * interrupt acknowledgements across the whole soft interrupt system (PIC,
 * PIT, IOAPIC, four LAPICs): nothing may crash or hit undefined behaviour,
 * and after advancing to `now` no timer may claim a deadline at or before
 * `now` (that would make an engine spin). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bus.h"
#include "dev/irqchip.h"

#define NCPUS 4

struct input {
	const uint8_t *p;
	size_t n;
};

static uint64_t take(struct input *in, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++) {
		v |= (uint64_t)(in->n ? *in->p : 0) << (8 * i);
		if (in->n) {
			in->p++;
			in->n--;
		}
	}
	return v;
}

static const uint16_t ports[] = {0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1,
                                 0x40, 0x41, 0x42, 0x43, 0x61};
static const unsigned sizes[] = {1, 2, 4, 8};

static void kick(void *opaque, int cpu)
{
	(void)opaque;
	(void)cpu;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = {data, size};
	struct manual_clock clk = {0};
	struct guest_clock gclk = manual_clock_as_guest_clock(&clk);
	struct bus *bus = bus_create();
	struct irqchip *chip = irqchip_create(&(struct irqchip_config){
	    .bus = bus, .clock = &gclk, .ncpus = NCPUS, .kick = kick, .tsc_hz = 3000000000ULL});
	if (!chip) {
		bus_destroy(bus);
		return 0;
	}
	while (in.n) {
		unsigned op = (unsigned)take(&in, 1);
		struct lapic *l = irqchip_lapic(chip, (int)(take(&in, 1) % NCPUS));
		uint64_t v;
		uint8_t vec;
		switch (op % 16) {
		case 0: {
			uint16_t port = ports[take(&in, 1) % (sizeof ports / sizeof ports[0])];
			unsigned sz = sizes[take(&in, 1) % 3];
			bus_write(bus, BUS_PIO, port, sz, take(&in, 4));
			break;
		}
		case 1:
			bus_read(bus, BUS_PIO,
			         ports[take(&in, 1) % (sizeof ports / sizeof ports[0])],
			         sizes[take(&in, 1) % 3]);
			break;
		case 2: {
			uint64_t off = take(&in, 2) & 0xfff;
			if ((off & 0xff0) > 0x40)
				off &= 0x4f; /* mostly the live registers */
			bus_write(bus, BUS_MMIO, IOAPIC_DEFAULT_BASE + off, sizes[take(&in, 1) % 4],
			          take(&in, 4));
			break;
		}
		case 3:
			bus_read(bus, BUS_MMIO, IOAPIC_DEFAULT_BASE + (take(&in, 2) & 0xfff),
			         sizes[take(&in, 1) % 4]);
			break;
		case 4: {
			uint64_t off = take(&in, 2) & 0xfff;
			lapic_mmio_write(l, off, sizes[take(&in, 1) % 4], (uint32_t)take(&in, 4));
			break;
		}
		case 5: lapic_mmio_read(l, take(&in, 2) & 0xfff, sizes[take(&in, 1) % 4]); break;
		case 6: {
			unsigned sel = (unsigned)take(&in, 1);
			uint32_t msr = sel < 16   ? MSR_IA32_APIC_BASE
			               : sel < 32 ? MSR_IA32_TSC_DEADLINE
			                          : MSR_X2APIC_FIRST + (sel & 0xff);
			v = take(&in, 8);
			if (msr == MSR_IA32_APIC_BASE)
				v = (v & 0xc00) | 0xfee00000; /* mostly valid mode changes */
			lapic_msr_write(l, msr, v);
			break;
		}
		case 7:
			lapic_msr_read(l, MSR_X2APIC_FIRST + (uint32_t)take(&in, 1), &v);
			lapic_msr_read(l, MSR_IA32_TSC_DEADLINE, &v);
			break;
		case 8: {
			unsigned gsi = (unsigned)take(&in, 1);
			irqchip_set_irq(chip, gsi % 32, gsi >> 7);
			break;
		}
		case 9: {
			unsigned shift = (unsigned)take(&in, 1) % 40;
			clk.ns += take(&in, 2) << shift;
			irqchip_advance(chip, clk.ns);
			break;
		}
		case 10: lapic_poll_event(l, (unsigned)take(&in, 1) & LAPIC_EV_ALL, &vec); break;
		case 11:
			lapic_set_cr8(l, take(&in, 1));
			lapic_get_cr8(l);
			break;
		case 12: {
			unsigned x = (unsigned)take(&in, 1);
			lapic_set_lint(l, x & 3, (x >> 2) & 1);
			break;
		}
		case 13: {
			uint64_t d = irqchip_next_deadline_ns(chip);
			if (d != CLOCK_NEVER && d < (1ULL << 62)) {
				if (d > clk.ns)
					clk.ns = d;
				irqchip_advance(chip, clk.ns);
			}
			break;
		}
		case 14: pic_intack(irqchip_pic(chip)); break;
		default:
			lapic_pending_vector(l);
			lapic_accept_interrupt(l);
			lapic_set_tsc_offset(l, (int64_t)take(&in, 8));
			break;
		}
		if (clk.ns > (1ULL << 62))
			clk.ns = 1ULL << 62;
		/* Deadlines are strictly in the future once time has been
		 * advanced to now. */
		irqchip_advance(chip, clk.ns);
		if (irqchip_next_deadline_ns(chip) <= clk.ns)
			__builtin_trap();
	}
	irqchip_destroy(chip);
	bus_destroy(bus);
	return 0;
}
