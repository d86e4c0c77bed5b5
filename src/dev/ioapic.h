/* The I/O APIC at 0xFEC00000: 24 input pins, each with a redirection entry
 * that turns the pin into an APIC bus message (config.deliver).
 *
 * Registers, as on the 82093AA with the version of later chipsets (0x20):
 * IOREGSEL at offset 0x00, IOWIN at 0x10, and the EOI register at 0x40 that
 * version 0x20 adds (Linux uses it to clear a level-triggered pin's remote
 * IRR). Indirect registers: 0x00 ID, 0x01 version (0x00170020: 24 entries),
 * 0x02 arbitration ID, 0x10 + 2n / 0x11 + 2n redirection entry n.
 *
 * Pin levels are logical (1 = asserted), whatever the entry's polarity bit
 * says: the board's wiring is folded into the caller, as vm_set_irq's
 * callers assert a line by passing 1. The polarity bit is stored and read
 * back only.
 *
 * Locking: as pic.h; deliver is called with the lock held. */
#ifndef RINGFOLD_DEV_IOAPIC_H
#define RINGFOLD_DEV_IOAPIC_H

#include <pthread.h>
#include <stdint.h>

#include "dev/lapic.h"

struct bus;
struct ioapic;

#define IOAPIC_DEFAULT_BASE 0xFEC00000ULL
#define IOAPIC_MMIO_SIZE 0x1000
#define IOAPIC_PINS 24
#define IOAPIC_VERSION 0x20

#define IOAPIC_REG_SELECT 0x00
#define IOAPIC_REG_WINDOW 0x10
#define IOAPIC_REG_EOI 0x40

/* Redirection entry bits. */
#define IOAPIC_RTE_DELIVERY_STATUS (1ULL << 12)
#define IOAPIC_RTE_POLARITY_LOW (1ULL << 13)
#define IOAPIC_RTE_REMOTE_IRR (1ULL << 14)
#define IOAPIC_RTE_LEVEL (1ULL << 15)
#define IOAPIC_RTE_MASKED (1ULL << 16)

struct ioapic_config {
	/* Where to claim [base, base + 4 KiB) of MMIO; NULL claims nothing. */
	struct bus *bus;
	uint64_t base; /* 0: IOAPIC_DEFAULT_BASE */
	uint8_t id;
	/* An interrupt message for the APIC bus (apic_bus_deliver). */
	void (*deliver)(void *opaque, const struct apic_msg *msg);
	void *opaque;
	pthread_mutex_t *lock; /* shared recursive lock, or NULL for a private one */
};

/* NULL after logging on failure. */
struct ioapic *ioapic_create(const struct ioapic_config *cfg);
void ioapic_destroy(struct ioapic *io);
/* Power-on state: every entry masked, IOREGSEL 0. Pin levels are kept. */
void ioapic_reset(struct ioapic *io);

/* Drive input pin (0-23) to level (nonzero = asserted). */
void ioapic_set_irq(struct ioapic *io, unsigned pin, int level);
/* EOI of `vector` broadcast by a LAPIC: clears the remote IRR of the
 * level-triggered entries with that vector and re-delivers those whose pin
 * is still asserted. */
void ioapic_eoi(struct ioapic *io, uint8_t vector);

/* MMIO by offset from the base. 32-bit accesses are the architected ones;
 * narrower ones read/write the covered bytes of IOREGSEL and IOWIN. */
uint32_t ioapic_mmio_read(struct ioapic *io, uint64_t offset, unsigned size);
void ioapic_mmio_write(struct ioapic *io, uint64_t offset, unsigned size, uint32_t value);

#endif
