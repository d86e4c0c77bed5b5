/* The PC's pair of 8259A programmable interrupt controllers: the master at
 * ports 0x20/0x21 (IRQ 0-7), the slave at 0xA0/0xA1 (IRQ 8-15) cascaded on the
 * master's IR2, and the edge/level control registers (ELCR) at 0x4D0/0x4D1.
 *
 * Inputs are the ISA IRQ lines (pic_set_irq). The output is the master's INT
 * pin (config.set_output), which the irqchip wires to every LAPIC's LINT0;
 * whoever sees INT high and decides to take the interrupt runs the INTA cycle
 * with pic_intack(), which returns the vector (or the spurious IRQ 7/15
 * vector when the request went away in between, as the real part does).
 *
 * Locking: every entry point takes config.lock (a recursive mutex shared with
 * the rest of the interrupt system, see irqchip.h) or the PIC's own lock;
 * set_output is called with that lock held and must not block on anything
 * that could call back into the interrupt system from another thread. */
#ifndef RINGFOLD_DEV_PIC_H
#define RINGFOLD_DEV_PIC_H

#include <pthread.h>
#include <stdint.h>

struct bus;
struct pic;

#define PIC_MASTER_CMD 0x20
#define PIC_MASTER_DATA 0x21
#define PIC_SLAVE_CMD 0xA0
#define PIC_SLAVE_DATA 0xA1
#define PIC_ELCR_MASTER 0x4D0
#define PIC_ELCR_SLAVE 0x4D1
#define PIC_CASCADE_IRQ 2

struct pic_config {
	/* Where to claim ports 0x20-0x21, 0xA0-0xA1 and 0x4D0-0x4D1; NULL
	 * claims nothing (unit tests call pic_port_read/write directly). */
	struct bus *bus;
	/* The master's INT output changed level. May be NULL. */
	void (*set_output)(void *opaque, int level);
	void *opaque;
	/* A recursive mutex shared with the other interrupt devices, or NULL
	 * for a private one. */
	pthread_mutex_t *lock;
};

/* NULL after logging on failure (out of memory, ports taken). */
struct pic *pic_create(const struct pic_config *cfg);
void pic_destroy(struct pic *pic);

/* Power-on state. The chips come up as a PC BIOS leaves them (x86 mode,
 * vector bases 0x08 and 0x70, IR2 cascade) but with every IRQ masked, so
 * nothing reaches the CPU before the guest programs them. */
void pic_reset(struct pic *pic);

/* Drive ISA IRQ line irq (0-15) to level (nonzero = asserted). IRQ 2 is the
 * cascade input and cannot be driven from outside; out-of-range lines are
 * ignored. */
void pic_set_irq(struct pic *pic, unsigned irq, int level);

/* Current level of the master's INT pin. */
int pic_output(struct pic *pic);

/* The INTA cycle: the vector of the highest-priority request, moved from IRR
 * to ISR (unless in auto-EOI mode). A request that vanished before INTA gives
 * the spurious vector of IRQ 7 (master) or IRQ 15 (slave). */
uint8_t pic_intack(struct pic *pic);

/* Port access by absolute port number (0x20, 0x21, 0xA0, 0xA1, 0x4D0,
 * 0x4D1); other ports read 0xFF and ignore writes. */
uint8_t pic_port_read(struct pic *pic, uint16_t port);
void pic_port_write(struct pic *pic, uint16_t port, uint8_t value);

#endif
