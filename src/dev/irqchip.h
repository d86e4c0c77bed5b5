/* The soft machine's interrupt system: the 8259 pair, the 8254 PIT, the
 * IOAPIC and one LAPIC per vCPU, wired as on a PC:
 *
 *   GSI 0-15 (ISA IRQs)  -> 8259 input n and IOAPIC pin n, except that ISA
 *                           IRQ 0 (the PIT) goes to IOAPIC pin 2, as the
 *                           MADT's interrupt source override says; GSI 2 is
 *                           the 8259 cascade and has no line of its own
 *   GSI 16-23 (PCI)      -> IOAPIC pins 16-23
 *   8259 INT             -> LINT0 of every LAPIC (ExtINT in virtual wire mode)
 *                           and IOAPIC pin 0 (virtual wire through the IOAPIC)
 *   IOAPIC messages, IPIs -> the APIC bus -> LAPICs; level EOIs -> IOAPIC
 *
 * Everything shares one recursive mutex: one lock for the whole interrupt
 * system makes a PIT tick that reaches a LAPIC through the IOAPIC, or an
 * EOI that re-delivers from the IOAPIC, take no second lock, so no lock
 * order can deadlock. Every entry point here and in the device headers is
 * safe to call from any thread (vCPU threads, I/O threads raising IRQs).
 *
 * What the engine calls (see lapic.h for the per-vCPU contract):
 *   irqchip_create()               once, with the bus, the clock and a kick
 *   irqchip_set_irq(gsi, level)    as engine_ops.set_irq (vm_set_irq)
 *   irqchip_lapic(cpu)             each vCPU's LAPIC (MMIO, MSRs, events)
 *   irqchip_next_deadline_ns()     earliest timer deadline (PIT, all LAPICs)
 *   irqchip_advance(now)           between instruction batches, and before
 *                                  sleeping in HLT past a deadline
 * The PIC, PIT and IOAPIC claim their ports and MMIO on the bus themselves. */
#ifndef RINGFOLD_DEV_IRQCHIP_H
#define RINGFOLD_DEV_IRQCHIP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "dev/clock.h"
#include "dev/ioapic.h"
#include "dev/lapic.h"
#include "dev/pic.h"
#include "dev/pit.h"

struct bus;
struct irqchip;

#define IRQCHIP_GSIS IOAPIC_PINS
#define IRQCHIP_PIT_IOAPIC_PIN 2
#define IRQCHIP_PIC_IOAPIC_PIN 0

struct irqchip_config {
	struct bus *bus;                 /* NULL: no ports or MMIO claimed (tests) */
	const struct guest_clock *clock; /* required */
	int ncpus;                       /* 1..LAPIC_MAX_CPUS; APIC ID = index */
	/* A vCPU gained an interrupt event (lapic.h). May be NULL. */
	void (*kick)(void *opaque, int cpu);
	void *kick_opaque;
	uint64_t lapic_timer_hz; /* 0: LAPIC_DEFAULT_TIMER_HZ */
	uint64_t tsc_hz;         /* guest TSC rate for TSC-deadline mode */
	/* May be NULL. While it reads true the PIT's output is cut off from
	 * ISA IRQ 0: the HPET's LegacyReplacement route (vm->hpet_legacy_route)
	 * drives that line instead. */
	const atomic_bool *pit_disconnected;
};

/* NULL after logging on failure. */
struct irqchip *irqchip_create(const struct irqchip_config *cfg);
void irqchip_destroy(struct irqchip *chip);

void irqchip_set_irq(struct irqchip *chip, unsigned gsi, int level);
/* A PCI device's MSI write (address, data): decoded by apic_msi_to_msg()
 * and sent on the APIC bus as an IOAPIC message would be. Any thread.
 * Returns false when the pair does not describe an interrupt (ignored). */
bool irqchip_signal_msi(struct irqchip *chip, uint64_t address, uint32_t data);

struct lapic *irqchip_lapic(struct irqchip *chip, int cpu);
struct pic *irqchip_pic(struct irqchip *chip);
struct pit *irqchip_pit(struct irqchip *chip);
struct ioapic *irqchip_ioapic(struct irqchip *chip);

uint64_t irqchip_next_deadline_ns(struct irqchip *chip);
void irqchip_advance(struct irqchip *chip, uint64_t now_ns);

#endif
