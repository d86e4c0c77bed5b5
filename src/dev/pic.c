/* 8259A pair, after the Intel 8259A datasheet.
 *
 * Each chip keeps IRR (requests), ISR (in service), IMR (masked) and the
 * level of each input. An edge-triggered input sets its IRR bit on a rising
 * edge and the bit stays until INTA; a level-triggered input (ELCR bit, or
 * LTIM in ICW1) makes IRR follow the line, so a request that goes away before
 * INTA leaves nothing to acknowledge and INTA returns the spurious IRQ 7/15
 * vector. The master's IR2 is set whenever the slave's INT output is high
 * and cleared only by the INTA that takes it (then set again at once if the
 * slave still has a request): a slave request that vanishes after the master
 * saw it gives the spurious IRQ 15, and one that stays is never lost.
 *
 * Priorities rotate: priority_add is the IRQ with the highest priority (0
 * after initialisation: IRQ 0 highest, 7 lowest). A request is passed on to
 * INT only when its priority is higher than every in-service one (special
 * mask mode: every unmasked in-service one; special fully nested mode lets
 * the slave interrupt again through an in-service IR2). */
#include "dev/pic.h"

#include <stdbool.h>
#include <stdlib.h>

#include "bus.h"
#include "util/log.h"
#include "util/mutex.h"

struct pic_chip {
	uint8_t irr, isr, imr;
	uint8_t line;      /* current input levels */
	uint8_t elcr;      /* level-triggered inputs (ELCR) */
	uint8_t elcr_mask; /* ELCR bits that exist */
	uint8_t vector_base;
	uint8_t priority_add; /* IRQ with the highest priority */
	uint8_t icw3;
	uint8_t init_step; /* 0: initialised; 2, 3, 4: expecting ICW2/3/4 */
	bool icw4_needed, single, ltim;
	bool x86_mode, auto_eoi, rotate_on_aeoi, sfnm;
	bool special_mask, poll, read_isr;
};

struct pic {
	struct pic_chip chip[2]; /* master, slave */
	int output;
	struct pic_config cfg;
	pthread_mutex_t own_lock;
	pthread_mutex_t *lock;
	int registered; /* port ranges claimed, in pic_ranges order */
};

/* Inputs whose IRR follows the line (the cascade input is handled apart). */
static uint8_t level_inputs(const struct pic_chip *c, bool master)
{
	return (c->ltim ? 0xff : c->elcr) & (master ? ~(1u << PIC_CASCADE_IRQ) : 0xff);
}

/* Priority (0 highest .. 7 lowest) of the highest-priority bit of mask, 8 if
 * mask is empty. */
static int priority_of(const struct pic_chip *c, uint8_t mask)
{
	for (int p = 0; p < 8; p++)
		if (mask & (1u << ((p + c->priority_add) & 7)))
			return p;
	return 8;
}

/* The IRQ this chip would present on INT now, or -1. */
static int chip_pending(const struct pic_chip *c, bool master)
{
	uint8_t req = c->irr & ~c->imr;
	int p = priority_of(c, req);
	if (p == 8)
		return -1;
	uint8_t blocking = c->isr;
	if (c->special_mask)
		blocking &= ~c->imr;
	if (master && c->sfnm)
		blocking &= ~(1u << PIC_CASCADE_IRQ);
	if (p >= priority_of(c, blocking))
		return -1;
	return (p + c->priority_add) & 7;
}

static void chip_set_line(struct pic_chip *c, bool master, unsigned irq, int level)
{
	uint8_t bit = 1u << irq;
	if (level_inputs(c, master) & bit) {
		if (level)
			c->irr |= bit;
		else
			c->irr &= ~bit;
	} else if (level && !(c->line & bit)) {
		c->irr |= bit;
	}
	if (level)
		c->line |= bit;
	else
		c->line &= ~bit;
}

/* The acknowledge half of INTA (or of a poll read) for one chip. */
static void chip_ack(struct pic_chip *c, bool master, int irq)
{
	uint8_t bit = 1u << irq;
	if (!(level_inputs(c, master) & bit))
		c->irr &= ~bit;
	if (c->auto_eoi) {
		if (c->rotate_on_aeoi)
			c->priority_add = (irq + 1) & 7;
	} else {
		c->isr |= bit;
	}
}

/* Propagate the slave's INT to the master's IR2 and the master's INT to the
 * output; called after every state change. */
static void pic_update(struct pic *pic)
{
	struct pic_chip *m = &pic->chip[0], *s = &pic->chip[1];
	if (chip_pending(s, false) >= 0)
		m->irr |= 1u << PIC_CASCADE_IRQ;
	int out = chip_pending(m, true) >= 0;
	if (out != pic->output) {
		pic->output = out;
		if (pic->cfg.set_output)
			pic->cfg.set_output(pic->cfg.opaque, out);
	}
}

static void chip_reset(struct pic_chip *c, bool master)
{
	uint8_t mask = c->elcr_mask, elcr = c->elcr, line = c->line;
	*c = (struct pic_chip){0};
	c->elcr_mask = mask;
	c->elcr = elcr;
	c->line = line;
	c->irr = line & level_inputs(c, master);
}

/* ICW1: start the initialisation sequence. The datasheet's effects: edge
 * sense reset (an asserted edge input needs a new rising edge), IMR cleared,
 * IRQ 7 lowest priority, special mask mode off, status read set to IRR. */
static void chip_icw1(struct pic_chip *c, bool master, uint8_t v)
{
	uint8_t base = c->vector_base;
	chip_reset(c, master);
	c->vector_base = base;
	c->icw4_needed = v & 0x01;
	c->single = v & 0x02;
	c->ltim = v & 0x08;
	c->irr = c->line & level_inputs(c, master);
	c->init_step = 2;
}

static void chip_ocw2(struct pic_chip *c, uint8_t v)
{
	unsigned op = v >> 5, level = v & 7;
	int irq;
	switch (op) {
	case 0: /* clear rotate in auto-EOI mode */ c->rotate_on_aeoi = false; break;
	case 4: /* set rotate in auto-EOI mode */ c->rotate_on_aeoi = true; break;
	case 1: /* non-specific EOI */
	case 5: /* rotate on non-specific EOI */
		irq = priority_of(c, c->isr);
		if (irq == 8)
			break;
		irq = (irq + c->priority_add) & 7;
		c->isr &= ~(1u << irq);
		if (op == 5)
			c->priority_add = (irq + 1) & 7;
		break;
	case 3: /* specific EOI */
	case 7: /* rotate on specific EOI */
		c->isr &= ~(1u << level);
		if (op == 7)
			c->priority_add = (level + 1) & 7;
		break;
	case 6: /* set priority: `level` becomes the lowest */
		c->priority_add = (level + 1) & 7;
		break;
	default: /* 2: no operation */ break;
	}
}

static void chip_ocw3(struct pic_chip *c, uint8_t v)
{
	if (v & 0x04)
		c->poll = true;
	if (v & 0x02)
		c->read_isr = v & 0x01;
	if (v & 0x40)
		c->special_mask = v & 0x20;
}

/* A read in poll mode: acknowledge the highest request as INTA would and
 * return 0x80 | irq, or 0 if there is none. Each chip is polled on its own
 * (software polls the slave after seeing IR2 on the master). */
static uint8_t chip_poll_read(struct pic_chip *c, bool master)
{
	c->poll = false;
	int irq = chip_pending(c, master);
	if (irq < 0)
		return 0;
	chip_ack(c, master, irq);
	return 0x80 | (uint8_t)irq;
}

static void chip_write(struct pic_chip *c, bool master, bool data, uint8_t v)
{
	if (!data) {
		if (v & 0x10)
			chip_icw1(c, master, v);
		else if (v & 0x08)
			chip_ocw3(c, v);
		else
			chip_ocw2(c, v);
		return;
	}
	switch (c->init_step) {
	case 2:
		c->vector_base = v & 0xf8;
		c->init_step = !c->single ? 3 : c->icw4_needed ? 4 : 0;
		break;
	case 3:
		c->icw3 = v;
		c->init_step = c->icw4_needed ? 4 : 0;
		break;
	case 4:
		c->x86_mode = v & 0x01;
		c->auto_eoi = v & 0x02;
		c->sfnm = v & 0x10;
		c->init_step = 0;
		break;
	default: c->imr = v; break;
	}
}

static uint8_t chip_read(struct pic_chip *c, bool master, bool data)
{
	if (c->poll)
		return chip_poll_read(c, master);
	if (data)
		return c->imr;
	return c->read_isr ? c->isr : c->irr;
}

uint8_t pic_port_read(struct pic *pic, uint16_t port)
{
	uint8_t v = 0xff;
	pthread_mutex_lock(pic->lock);
	switch (port) {
	case PIC_MASTER_CMD:
	case PIC_MASTER_DATA:
	case PIC_SLAVE_CMD:
	case PIC_SLAVE_DATA: {
		bool master = port < PIC_SLAVE_CMD;
		v = chip_read(&pic->chip[master ? 0 : 1], master, port & 1);
		pic_update(pic);
		break;
	}
	case PIC_ELCR_MASTER: v = pic->chip[0].elcr; break;
	case PIC_ELCR_SLAVE: v = pic->chip[1].elcr; break;
	}
	pthread_mutex_unlock(pic->lock);
	return v;
}

static void elcr_write(struct pic_chip *c, bool master, uint8_t v)
{
	c->elcr = v & c->elcr_mask;
	/* Inputs that became level-triggered now report their line. */
	uint8_t lvl = level_inputs(c, master);
	c->irr = (c->irr & ~lvl) | (c->line & lvl);
}

void pic_port_write(struct pic *pic, uint16_t port, uint8_t value)
{
	pthread_mutex_lock(pic->lock);
	switch (port) {
	case PIC_MASTER_CMD:
	case PIC_MASTER_DATA:
	case PIC_SLAVE_CMD:
	case PIC_SLAVE_DATA: {
		bool master = port < PIC_SLAVE_CMD;
		chip_write(&pic->chip[master ? 0 : 1], master, port & 1, value);
		break;
	}
	case PIC_ELCR_MASTER: elcr_write(&pic->chip[0], true, value); break;
	case PIC_ELCR_SLAVE: elcr_write(&pic->chip[1], false, value); break;
	}
	pic_update(pic);
	pthread_mutex_unlock(pic->lock);
}

void pic_set_irq(struct pic *pic, unsigned irq, int level)
{
	if (irq >= 16 || irq == PIC_CASCADE_IRQ)
		return;
	pthread_mutex_lock(pic->lock);
	bool master = irq < 8;
	chip_set_line(&pic->chip[master ? 0 : 1], master, irq & 7, level != 0);
	pic_update(pic);
	pthread_mutex_unlock(pic->lock);
}

int pic_output(struct pic *pic)
{
	pthread_mutex_lock(pic->lock);
	int out = pic->output;
	pthread_mutex_unlock(pic->lock);
	return out;
}

uint8_t pic_intack(struct pic *pic)
{
	struct pic_chip *m = &pic->chip[0], *s = &pic->chip[1];
	uint8_t vector;
	pthread_mutex_lock(pic->lock);
	int irq = chip_pending(m, true);
	if (irq < 0) {
		vector = m->vector_base | 7; /* spurious IRQ 7: ISR untouched */
	} else {
		chip_ack(m, true, irq);
		if (irq == PIC_CASCADE_IRQ) {
			int sirq = chip_pending(s, false);
			if (sirq < 0) {
				vector = s->vector_base | 7; /* spurious IRQ 15 */
			} else {
				chip_ack(s, false, sirq);
				vector = s->vector_base | (uint8_t)sirq;
			}
		} else {
			vector = m->vector_base | (uint8_t)irq;
		}
	}
	pic_update(pic);
	pthread_mutex_unlock(pic->lock);
	return vector;
}

void pic_reset(struct pic *pic)
{
	pthread_mutex_lock(pic->lock);
	for (int i = 0; i < 2; i++) {
		struct pic_chip *c = &pic->chip[i];
		c->elcr = 0;
		chip_reset(c, i == 0);
		c->vector_base = i == 0 ? 0x08 : 0x70;
		c->icw3 = i == 0 ? 1u << PIC_CASCADE_IRQ : PIC_CASCADE_IRQ;
		c->x86_mode = true;
		c->imr = 0xff;
	}
	pic_update(pic);
	pthread_mutex_unlock(pic->lock);
}

/* Bus glue: a wider access touches consecutive ports, as on the ISA bus. */
static uint64_t pic_bus_read(uint16_t base, void *opaque, uint64_t offset, unsigned size)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < size && i < 8; i++)
		v |=
		    (uint64_t)(offset + i < 2 ? pic_port_read(opaque, (uint16_t)(base + offset + i))
		                              : 0xff)
		    << (8 * i);
	return v;
}

static void pic_bus_write(uint16_t base, void *opaque, uint64_t offset, unsigned size,
                          uint64_t value)
{
	for (unsigned i = 0; i < size && i < 8; i++)
		if (offset + i < 2)
			pic_port_write(opaque, (uint16_t)(base + offset + i),
			               (uint8_t)(value >> (8 * i)));
}

#define PIC_BUS_OPS(name, base)                                                                    \
	static uint64_t name##_read(void *o, uint64_t off, unsigned size)                          \
	{                                                                                          \
		return pic_bus_read(base, o, off, size);                                           \
	}                                                                                          \
	static void name##_write(void *o, uint64_t off, unsigned size, uint64_t v)                 \
	{                                                                                          \
		pic_bus_write(base, o, off, size, v);                                              \
	}                                                                                          \
	static const struct bus_ops name##_ops = {.read = name##_read, .write = name##_write};

PIC_BUS_OPS(pic_master, PIC_MASTER_CMD)
PIC_BUS_OPS(pic_slave, PIC_SLAVE_CMD)
PIC_BUS_OPS(pic_elcr, PIC_ELCR_MASTER)

static const struct {
	uint16_t port;
	const struct bus_ops *ops;
	const char *name;
} pic_ranges[] = {
    {PIC_MASTER_CMD, &pic_master_ops, "pic master"},
    {PIC_SLAVE_CMD, &pic_slave_ops, "pic slave"},
    {PIC_ELCR_MASTER, &pic_elcr_ops, "pic elcr"},
};

struct pic *pic_create(const struct pic_config *cfg)
{
	struct pic *pic = calloc(1, sizeof *pic);
	if (!pic) {
		log_error("pic: out of memory");
		return NULL;
	}
	pic->cfg = *cfg;
	init_recursive_mutex(&pic->own_lock);
	pic->lock = cfg->lock ? cfg->lock : &pic->own_lock;
	/* IRQ 0, 1, 2 (master) and 8, 13 (slave) are always edge-triggered. */
	pic->chip[0].elcr_mask = 0xf8;
	pic->chip[1].elcr_mask = 0xde;
	pic_reset(pic);
	for (int i = 0; cfg->bus && i < 3; i++) {
		if (bus_register(cfg->bus, BUS_PIO, pic_ranges[i].port, 2, pic_ranges[i].ops, pic,
		                 pic_ranges[i].name) < 0) {
			log_error("pic: cannot claim ports %#x-%#x", pic_ranges[i].port,
			          pic_ranges[i].port + 1);
			pic_destroy(pic);
			return NULL;
		}
		pic->registered++;
	}
	return pic;
}

void pic_destroy(struct pic *pic)
{
	if (!pic)
		return;
	for (int i = 0; i < pic->registered; i++)
		bus_unregister(pic->cfg.bus, BUS_PIO, pic_ranges[i].port);
	pthread_mutex_destroy(&pic->own_lock);
	free(pic);
}
