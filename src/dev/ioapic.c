/* I/O APIC, after the 82093AA datasheet.
 *
 * Edge-triggered pins send a message on each rising edge while unmasked; an
 * edge on a masked pin is lost (the datasheet: "not delivered or held
 * pending"). Level-triggered pins send a message when the pin is asserted,
 * unmasked and the remote IRR is clear, then set the remote IRR until a LAPIC
 * broadcasts the EOI of that vector; if the pin is still asserted then, the
 * message is sent again. Unmasking an asserted level pin sends at once. */
#include "dev/ioapic.h"

#include <stdbool.h>
#include <stdlib.h>

#include "bus.h"
#include "util/log.h"
#include "util/mutex.h"

#define REG_ID 0x00
#define REG_VERSION 0x01
#define REG_ARB 0x02
#define REG_REDTBL 0x10

/* Bits of a redirection entry the guest may write: vector, delivery mode,
 * destination mode, polarity, trigger mode, mask, destination. */
#define RTE_WRITABLE                                                                               \
	(0xff000000000000ffULL | 0x700 | 0x800 | IOAPIC_RTE_POLARITY_LOW | IOAPIC_RTE_LEVEL |      \
	 IOAPIC_RTE_MASKED)

struct ioapic {
	uint32_t ioregsel;
	uint32_t id;
	uint64_t rte[IOAPIC_PINS];
	uint32_t line; /* asserted pins */
	struct ioapic_config cfg;
	pthread_mutex_t own_lock;
	pthread_mutex_t *lock;
	bool registered;
};

static void send(struct ioapic *io, unsigned pin)
{
	uint64_t e = io->rte[pin];
	struct apic_msg m = {
	    .dest = (uint32_t)(e >> 56),
	    .vector = (uint8_t)e,
	    .delivery = (e >> 8) & 7,
	    .logical = e & (1ULL << 11),
	    .level = e & IOAPIC_RTE_LEVEL,
	};
	if (io->cfg.deliver)
		io->cfg.deliver(io->cfg.opaque, &m);
}

/* For a level-triggered pin: deliver if asserted, unmasked and not waiting
 * for an EOI. Remote IRR is kept only for fixed and lowest-priority
 * deliveries, the ones a LAPIC acknowledges with an EOI. */
static void service_level(struct ioapic *io, unsigned pin)
{
	uint64_t e = io->rte[pin];
	if (!(io->line & (1u << pin)) || (e & (IOAPIC_RTE_MASKED | IOAPIC_RTE_REMOTE_IRR)))
		return;
	unsigned dm = (e >> 8) & 7;
	if (dm == APIC_DM_FIXED || dm == APIC_DM_LOWEST)
		io->rte[pin] |= IOAPIC_RTE_REMOTE_IRR;
	send(io, pin);
}

void ioapic_set_irq(struct ioapic *io, unsigned pin, int level)
{
	if (pin >= IOAPIC_PINS)
		return;
	pthread_mutex_lock(io->lock);
	uint32_t bit = 1u << pin;
	bool rising = level && !(io->line & bit);
	if (level)
		io->line |= bit;
	else
		io->line &= ~bit;
	uint64_t e = io->rte[pin];
	if (e & IOAPIC_RTE_LEVEL)
		service_level(io, pin);
	else if (rising && !(e & IOAPIC_RTE_MASKED))
		send(io, pin);
	pthread_mutex_unlock(io->lock);
}

void ioapic_eoi(struct ioapic *io, uint8_t vector)
{
	pthread_mutex_lock(io->lock);
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
		uint64_t e = io->rte[pin];
		if ((uint8_t)e != vector || !(e & IOAPIC_RTE_REMOTE_IRR))
			continue;
		io->rte[pin] &= ~IOAPIC_RTE_REMOTE_IRR;
		if (e & IOAPIC_RTE_LEVEL)
			service_level(io, pin);
	}
	pthread_mutex_unlock(io->lock);
}

static uint32_t read_register(struct ioapic *io)
{
	uint32_t sel = io->ioregsel & 0xff;
	switch (sel) {
	case REG_ID: return io->id;
	case REG_VERSION: return IOAPIC_VERSION | (IOAPIC_PINS - 1) << 16;
	case REG_ARB: return io->id; /* the arbitration ID is the APIC ID */
	default:
		if (sel >= REG_REDTBL && sel < REG_REDTBL + 2 * IOAPIC_PINS) {
			uint64_t e = io->rte[(sel - REG_REDTBL) >> 1];
			return (sel & 1) ? (uint32_t)(e >> 32) : (uint32_t)e;
		}
		return 0xffffffff; /* unimplemented registers */
	}
}

static void write_register(struct ioapic *io, uint32_t v)
{
	uint32_t sel = io->ioregsel & 0xff;
	if (sel == REG_ID) {
		io->id = v & 0xff000000;
		return;
	}
	if (sel < REG_REDTBL || sel >= REG_REDTBL + 2 * IOAPIC_PINS)
		return; /* version, arbitration and unimplemented: read-only */
	unsigned pin = (sel - REG_REDTBL) >> 1;
	uint64_t e = io->rte[pin];
	uint64_t nv =
	    (sel & 1) ? (e & 0xffffffffULL) | (uint64_t)v << 32 : (e & 0xffffffff00000000ULL) | v;
	nv = (nv & RTE_WRITABLE) | (e & IOAPIC_RTE_REMOTE_IRR);
	/* An edge-triggered entry has no remote IRR: switching a pin to edge
	 * clears it (older Linux relies on this to unstick a level pin). */
	if (!(nv & IOAPIC_RTE_LEVEL))
		nv &= ~IOAPIC_RTE_REMOTE_IRR;
	io->rte[pin] = nv;
	if (nv & IOAPIC_RTE_LEVEL)
		service_level(io, pin);
}

/* Value of the 32-bit register at `reg` (0x00, 0x10, 0x40) as read. */
static uint32_t mmio_reg_read(struct ioapic *io, uint64_t reg)
{
	switch (reg) {
	case IOAPIC_REG_SELECT: return io->ioregsel;
	case IOAPIC_REG_WINDOW: return read_register(io);
	default: return 0;
	}
}

uint32_t ioapic_mmio_read(struct ioapic *io, uint64_t offset, unsigned size)
{
	if (offset >= IOAPIC_MMIO_SIZE)
		return 0;
	pthread_mutex_lock(io->lock);
	uint32_t v = mmio_reg_read(io, offset & ~3ULL) >> (8 * (offset & 3));
	pthread_mutex_unlock(io->lock);
	if (size < 4)
		v &= (1u << (8 * size)) - 1;
	return v;
}

void ioapic_mmio_write(struct ioapic *io, uint64_t offset, unsigned size, uint32_t value)
{
	if (offset >= IOAPIC_MMIO_SIZE || size == 0)
		return;
	pthread_mutex_lock(io->lock);
	uint64_t reg = offset & ~3ULL;
	unsigned shift = 8 * (unsigned)(offset & 3);
	uint32_t mask = size >= 4 ? 0xffffffffu : ((1u << (8 * size)) - 1);
	mask = (uint32_t)((uint64_t)mask << shift);
	switch (reg) {
	case IOAPIC_REG_SELECT:
		io->ioregsel = (io->ioregsel & ~mask) | ((value << shift) & mask);
		io->ioregsel &= 0xff;
		break;
	case IOAPIC_REG_WINDOW: {
		uint32_t old = read_register(io);
		write_register(io, (old & ~mask) | ((value << shift) & mask));
		break;
	}
	case IOAPIC_REG_EOI:
		pthread_mutex_unlock(io->lock);
		ioapic_eoi(io, (uint8_t)value);
		return;
	default: break;
	}
	pthread_mutex_unlock(io->lock);
}

void ioapic_reset(struct ioapic *io)
{
	pthread_mutex_lock(io->lock);
	io->ioregsel = 0;
	io->id = (uint32_t)io->cfg.id << 24;
	for (unsigned i = 0; i < IOAPIC_PINS; i++)
		io->rte[i] = IOAPIC_RTE_MASKED;
	pthread_mutex_unlock(io->lock);
}

static uint64_t ioapic_bus_read(void *opaque, uint64_t offset, unsigned size)
{
	return ioapic_mmio_read(opaque, offset, size);
}

static void ioapic_bus_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	ioapic_mmio_write(opaque, offset, size, (uint32_t)value);
}

static const struct bus_ops ioapic_ops = {.read = ioapic_bus_read, .write = ioapic_bus_write};

struct ioapic *ioapic_create(const struct ioapic_config *cfg)
{
	struct ioapic *io = calloc(1, sizeof *io);
	if (!io) {
		log_error("ioapic: out of memory");
		return NULL;
	}
	io->cfg = *cfg;
	if (!io->cfg.base)
		io->cfg.base = IOAPIC_DEFAULT_BASE;
	init_recursive_mutex(&io->own_lock);
	io->lock = cfg->lock ? cfg->lock : &io->own_lock;
	ioapic_reset(io);
	if (cfg->bus) {
		if (bus_register(cfg->bus, BUS_MMIO, io->cfg.base, IOAPIC_MMIO_SIZE, &ioapic_ops,
		                 io, "ioapic") < 0) {
			log_error("ioapic: cannot claim MMIO at %#llx",
			          (unsigned long long)io->cfg.base);
			ioapic_destroy(io);
			return NULL;
		}
		io->registered = true;
	}
	return io;
}

void ioapic_destroy(struct ioapic *io)
{
	if (!io)
		return;
	if (io->registered)
		bus_unregister(io->cfg.bus, BUS_MMIO, io->cfg.base);
	pthread_mutex_destroy(&io->own_lock);
	free(io);
}
