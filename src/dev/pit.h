/* The 8254 programmable interval timer (ports 0x40-0x43) and the timer bits of
 * the PC's system control port B (0x61).
 *
 * Channel 0's output drives ISA IRQ 0 (config.set_irq). Channel 1 is the old
 * DRAM refresh timer: it is programmable, and port 0x61 bit 4 toggles every
 * 18 PIT ticks (about 15 us) as the refresh request did. Channel 2's gate is
 * port 0x61 bit 0 and its output reads back at bit 5, which is how Linux
 * calibrates the TSC.
 *
 * Time comes only from config.clock: counters and outputs are computed from
 * it when read, so channel 2 is exact to the tick whenever the guest looks.
 * IRQ 0 needs the engine: it calls pit_next_deadline_ns() to learn when
 * channel 0's output next rises and pit_advance(now) once that time has
 * passed (calling it early or late is harmless; a late call coalesces the
 * missed periods into one interrupt, as a guest that masked IRQ 0 would see).
 * A rising edge is passed on as a pulse, so the PIC's and IOAPIC's
 * edge-triggered inputs see it even when the output is low for one tick only.
 *
 * Locking: as pic.h; set_irq is called with the lock held. */
#ifndef RINGFOLD_DEV_PIT_H
#define RINGFOLD_DEV_PIT_H

#include <pthread.h>
#include <stdint.h>

#include "dev/clock.h"

struct bus;
struct pit;

#define PIT_HZ 1193182ULL
#define PIT_PORT_BASE 0x40
#define PIT_PORT_COUNT 4
#define PIT_PORT_CONTROL 0x43
#define PIT_PORT_B 0x61 /* system control port B */

#define PORT_B_GATE2 0x01
#define PORT_B_SPEAKER 0x02
#define PORT_B_REFRESH 0x10
#define PORT_B_OUT2 0x20

struct pit_config {
	/* Where to claim ports 0x40-0x43 and 0x61; NULL claims nothing. */
	struct bus *bus;
	const struct guest_clock *clock; /* copied; required */
	/* Channel 0 output, i.e. ISA IRQ 0. May be NULL. */
	void (*set_irq)(void *opaque, int level);
	void *opaque;
	pthread_mutex_t *lock; /* shared recursive lock, or NULL for a private one */
};

/* NULL after logging on failure. */
struct pit *pit_create(const struct pit_config *cfg);
void pit_destroy(struct pit *pit);
/* Power-on state: no channel programmed (outputs low), gate 2 off. */
void pit_reset(struct pit *pit);

/* Port access by absolute port number (0x40-0x43, 0x61). Reads of other
 * ports return 0xFF. */
uint8_t pit_port_read(struct pit *pit, uint16_t port);
void pit_port_write(struct pit *pit, uint16_t port, uint8_t value);

/* Guest time of channel 0's next rising output edge, CLOCK_NEVER if none. */
uint64_t pit_next_deadline_ns(struct pit *pit);
/* Deliver what is due at `now` (IRQ 0 edges). */
void pit_advance(struct pit *pit, uint64_t now_ns);

#endif
