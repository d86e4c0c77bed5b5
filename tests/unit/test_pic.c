/* 8259A pair: programmed exactly as Linux's arch/x86/kernel/i8259.c does. */
#include "bus.h"
#include "dev/pic.h"
#include "test.h"

static int out_level, out_changes;

static void on_output(void *opaque, int level)
{
	(void)opaque;
	out_level = level;
	out_changes++;
}

static struct pic *new_pic(void)
{
	out_level = 0;
	out_changes = 0;
	return pic_create(&(struct pic_config){.set_output = on_output});
}

/* init_8259A(auto_eoi): vectors 0x30 (ISA_IRQ_VECTOR(0)) and 0x38, then
 * the cached masks. */
static void linux_init(struct pic *p, int auto_eoi, uint8_t master_mask, uint8_t slave_mask)
{
	pic_port_write(p, 0x21, 0xff);
	pic_port_write(p, 0xa1, 0xff);
	pic_port_write(p, 0x20, 0x11);                   /* ICW1: edge, cascade, ICW4 */
	pic_port_write(p, 0x21, 0x30);                   /* ICW2 */
	pic_port_write(p, 0x21, 1u << 2);                /* ICW3: slave on IR2 */
	pic_port_write(p, 0x21, auto_eoi ? 0x03 : 0x01); /* ICW4: 8086 (+AEOI) */
	pic_port_write(p, 0xa0, 0x11);
	pic_port_write(p, 0xa1, 0x38);
	pic_port_write(p, 0xa1, 2); /* slave ID */
	pic_port_write(p, 0xa1, 0x01);
	pic_port_write(p, 0x21, master_mask);
	pic_port_write(p, 0xa1, slave_mask);
}

/* mask_and_ack_8259A() for irq, without the mask (cached mask unchanged). */
static void linux_ack(struct pic *p, unsigned irq)
{
	if (irq & 8) {
		pic_port_write(p, 0xa0, 0x60 + (irq & 7)); /* specific EOI to slave */
		pic_port_write(p, 0x20, 0x60 + 2);         /* specific EOI to master IR2 */
	} else {
		pic_port_write(p, 0x20, 0x60 + irq);
	}
}

/* i8259A_irq_real(): is irq really in service? */
static int linux_irq_real(struct pic *p, unsigned irq)
{
	int value;
	if (irq < 8) {
		pic_port_write(p, 0x20, 0x0b);
		value = pic_port_read(p, 0x20) & (1u << irq);
		pic_port_write(p, 0x20, 0x0a);
	} else {
		pic_port_write(p, 0xa0, 0x0b);
		value = pic_port_read(p, 0xa0) & (1u << (irq - 8));
		pic_port_write(p, 0xa0, 0x0a);
	}
	return value != 0;
}

static void test_probe_readback(void)
{
	struct pic *p = new_pic();
	/* probe_8259A(): write 0xa5 to the master IMR, read it back. */
	pic_port_write(p, 0x21, 0xff);
	pic_port_write(p, 0xa1, 0xff);
	pic_port_write(p, 0x21, 0xa5);
	CHECK_EQ(pic_port_read(p, 0x21), 0xa5);
	CHECK_EQ(pic_port_read(p, 0xa1), 0xff);
	CHECK_EQ(pic_port_read(p, 0x22), 0xff);
	pic_destroy(p);
}

static void test_timer_irq0(void)
{
	struct pic *p = new_pic();
	linux_init(p, 0, 0xfa, 0xff); /* IRQ 0 and cascade unmasked */
	CHECK_EQ(out_level, 0);
	pic_set_irq(p, 0, 1);
	pic_set_irq(p, 0, 0); /* a PIT pulse */
	CHECK_EQ(out_level, 1);
	CHECK_EQ(pic_intack(p), 0x30);
	CHECK_EQ(out_level, 0);
	CHECK(linux_irq_real(p, 0));
	/* Another pulse while in service is held in IRR, not delivered. */
	pic_set_irq(p, 0, 1);
	pic_set_irq(p, 0, 0);
	CHECK_EQ(out_level, 0);
	pic_port_write(p, 0x20, 0x0a); /* read IRR */
	CHECK_EQ(pic_port_read(p, 0x20), 0x01);
	linux_ack(p, 0);
	CHECK(!linux_irq_real(p, 0));
	CHECK_EQ(out_level, 1);
	CHECK_EQ(pic_intack(p), 0x30);
	linux_ack(p, 0);
	CHECK_EQ(out_level, 0);
	pic_destroy(p);
}

static void test_priority_and_nesting(void)
{
	struct pic *p = new_pic();
	linux_init(p, 0, 0x00, 0x00);
	pic_set_irq(p, 4, 1);
	CHECK_EQ(pic_intack(p), 0x34);
	/* IRQ 1 has higher priority: interrupts the IRQ 4 handler. */
	pic_set_irq(p, 1, 1);
	CHECK_EQ(out_level, 1);
	CHECK_EQ(pic_intack(p), 0x31);
	/* IRQ 6 is lower than both in service: held. */
	pic_set_irq(p, 6, 1);
	CHECK_EQ(out_level, 0);
	pic_port_write(p, 0x20, 0x0b);
	CHECK_EQ(pic_port_read(p, 0x20), 0x12); /* ISR: 1 and 4 */
	pic_port_write(p, 0x20, 0x20);          /* non-specific EOI: clears IRQ 1 */
	CHECK_EQ(pic_port_read(p, 0x20), 0x10);
	CHECK_EQ(out_level, 0);
	pic_port_write(p, 0x20, 0x20); /* clears IRQ 4 */
	CHECK_EQ(out_level, 1);
	CHECK_EQ(pic_intack(p), 0x36);
	pic_destroy(p);
}

static void test_cascade(void)
{
	struct pic *p = new_pic();
	linux_init(p, 0, 0xfb, 0xef); /* cascade and IRQ 12 unmasked */
	pic_set_irq(p, 12, 1);
	CHECK_EQ(out_level, 1);
	CHECK_EQ(pic_intack(p), 0x3c);
	pic_set_irq(p, 12, 0);
	CHECK(linux_irq_real(p, 12));
	pic_port_write(p, 0x20, 0x0b);
	CHECK_EQ(pic_port_read(p, 0x20), 0x04); /* master IR2 in service */
	pic_port_write(p, 0x20, 0x0a);
	linux_ack(p, 12);
	CHECK(!linux_irq_real(p, 12));
	pic_port_write(p, 0x20, 0x0b);
	CHECK_EQ(pic_port_read(p, 0x20), 0x00);
	CHECK_EQ(out_level, 0);
	/* Masking the slave's line on the slave keeps the master quiet. */
	pic_port_write(p, 0xa1, 0xff);
	pic_set_irq(p, 12, 1);
	CHECK_EQ(out_level, 0);
	pic_port_write(p, 0xa1, 0xef);
	CHECK_EQ(out_level, 1);
	pic_destroy(p);
}

static void test_spurious(void)
{
	struct pic *p = new_pic();
	linux_init(p, 0, 0x00, 0x00);
	/* A level-triggered request (ELCR) that goes away before INTA. */
	pic_port_write(p, 0x4d0, 0x20); /* IRQ 5 level */
	CHECK_EQ(pic_port_read(p, 0x4d0), 0x20);
	pic_set_irq(p, 5, 1);
	CHECK_EQ(out_level, 1);
	pic_set_irq(p, 5, 0);
	CHECK_EQ(out_level, 0);
	CHECK_EQ(pic_intack(p), 0x37); /* spurious IRQ 7 */
	CHECK(!linux_irq_real(p, 7));  /* ISR untouched: Linux sees it as spurious */
	/* The same on the slave: the master has latched IR2 when the request
	 * goes away, so the slave answers with spurious IRQ 15, and the master's
	 * IR2 is in service until Linux's EOI to the master. */
	pic_port_write(p, 0x4d1, 0x02); /* IRQ 9 level (the SCI) */
	pic_set_irq(p, 9, 1);
	CHECK_EQ(out_level, 1);
	pic_set_irq(p, 9, 0);
	CHECK_EQ(pic_intack(p), 0x3f);
	CHECK(!linux_irq_real(p, 15));
	CHECK(linux_irq_real(p, 2));
	linux_ack(p, 15);
	CHECK(!linux_irq_real(p, 2));
	CHECK_EQ(out_level, 0);
	/* A level request that stays is taken again after its EOI. */
	pic_set_irq(p, 9, 1);
	CHECK_EQ(pic_intack(p), 0x39);
	CHECK_EQ(out_level, 0);
	linux_ack(p, 9);
	CHECK_EQ(out_level, 1);
	CHECK_EQ(pic_intack(p), 0x39);
	pic_set_irq(p, 9, 0);
	linux_ack(p, 9);
	CHECK_EQ(out_level, 0);
	/* Out-of-range lines and the cascade input are ignored. */
	pic_set_irq(p, 2, 1);
	pic_set_irq(p, 16, 1);
	CHECK_EQ(out_level, 0);
	/* ELCR bits that do not exist stay clear. */
	pic_port_write(p, 0x4d0, 0xff);
	pic_port_write(p, 0x4d1, 0xff);
	CHECK_EQ(pic_port_read(p, 0x4d0), 0xf8);
	CHECK_EQ(pic_port_read(p, 0x4d1), 0xde);
	pic_destroy(p);
}

static void test_slave_nested(void)
{
	struct pic *p = new_pic();
	/* Special fully nested mode on the master: a higher-priority slave
	 * request passes the in-service IR2; two slave requests pending at
	 * once are both delivered (the cascade never loses one). */
	pic_port_write(p, 0x20, 0x11);
	pic_port_write(p, 0x21, 0x30);
	pic_port_write(p, 0x21, 0x04);
	pic_port_write(p, 0x21, 0x11); /* 8086, SFNM */
	pic_port_write(p, 0xa0, 0x11);
	pic_port_write(p, 0xa1, 0x38);
	pic_port_write(p, 0xa1, 0x02);
	pic_port_write(p, 0xa1, 0x01);
	pic_set_irq(p, 11, 1);
	CHECK_EQ(pic_intack(p), 0x3b);
	CHECK_EQ(out_level, 0);
	pic_set_irq(p, 8, 1);
	CHECK_EQ(out_level, 1); /* SFNM: passes the in-service IR2 */
	CHECK_EQ(pic_intack(p), 0x38);
	pic_port_write(p, 0xa0, 0x20);
	pic_port_write(p, 0xa0, 0x20);
	pic_port_write(p, 0x20, 0x20);
	CHECK_EQ(out_level, 0);
	/* Without SFNM, and both pending before the first INTA. */
	linux_init(p, 0, 0x00, 0x00);
	pic_set_irq(p, 12, 0);
	pic_set_irq(p, 14, 0);
	pic_set_irq(p, 12, 1);
	pic_set_irq(p, 14, 1);
	CHECK_EQ(pic_intack(p), 0x3c);
	linux_ack(p, 12);
	CHECK_EQ(out_level, 1);
	CHECK_EQ(pic_intack(p), 0x3e);
	linux_ack(p, 14);
	CHECK_EQ(out_level, 0);
	/* Slave in auto-EOI: its INT stays high across INTA; still both. */
	pic_port_write(p, 0xa0, 0x11);
	pic_port_write(p, 0xa1, 0x38);
	pic_port_write(p, 0xa1, 0x02);
	pic_port_write(p, 0xa1, 0x03);
	pic_set_irq(p, 12, 0);
	pic_set_irq(p, 14, 0);
	pic_set_irq(p, 12, 1);
	pic_set_irq(p, 14, 1);
	CHECK_EQ(pic_intack(p), 0x3c);
	pic_port_write(p, 0x20, 0x62);
	CHECK_EQ(out_level, 1);
	CHECK_EQ(pic_intack(p), 0x3e);
	pic_port_write(p, 0x20, 0x62);
	CHECK_EQ(out_level, 0);
	pic_destroy(p);
}

static void test_auto_eoi_and_rotation(void)
{
	struct pic *p = new_pic();
	linux_init(p, 1, 0x00, 0xff);
	pic_set_irq(p, 3, 1);
	CHECK_EQ(pic_intack(p), 0x33);
	pic_port_write(p, 0x20, 0x0b);
	CHECK_EQ(pic_port_read(p, 0x20), 0x00); /* AEOI: nothing in service */
	/* Rotate on auto-EOI: the serviced IRQ becomes lowest priority. */
	pic_port_write(p, 0x20, 0x80);
	pic_set_irq(p, 3, 0);
	pic_set_irq(p, 3, 1);
	CHECK_EQ(pic_intack(p), 0x33);
	pic_set_irq(p, 3, 0);
	pic_set_irq(p, 3, 1);
	pic_set_irq(p, 5, 1);
	CHECK_EQ(pic_intack(p), 0x35); /* 4..7 now outrank 3 */
	CHECK_EQ(pic_intack(p), 0x33);
	pic_destroy(p);

	p = new_pic();
	linux_init(p, 0, 0x00, 0xff);
	/* Set priority: IRQ 5 lowest, so 6 is highest. */
	pic_port_write(p, 0x20, 0xc5);
	pic_set_irq(p, 1, 1);
	pic_set_irq(p, 6, 1);
	CHECK_EQ(pic_intack(p), 0x36);
	/* Rotate on specific EOI of 6: 7 becomes highest, then 0, 1. */
	pic_port_write(p, 0x20, 0xe6);
	CHECK_EQ(pic_intack(p), 0x31);
	pic_port_write(p, 0x20, 0xa0); /* rotate on non-specific EOI: clears 1 */
	pic_port_write(p, 0x20, 0x0b);
	CHECK_EQ(pic_port_read(p, 0x20), 0x00);
	pic_destroy(p);
}

static void test_poll_mode(void)
{
	struct pic *p = new_pic();
	linux_init(p, 0, 0x00, 0xff);
	pic_port_write(p, 0x20, 0x0c);          /* OCW3: poll */
	CHECK_EQ(pic_port_read(p, 0x20), 0x00); /* nothing pending */
	pic_set_irq(p, 6, 1);
	pic_port_write(p, 0x20, 0x0c);
	CHECK_EQ(pic_port_read(p, 0x20), 0x86);
	/* The poll acknowledged it like INTA. */
	pic_port_write(p, 0x20, 0x0b);
	CHECK_EQ(pic_port_read(p, 0x20), 0x40);
	CHECK_EQ(pic_port_read(p, 0x21), 0x00); /* poll ends after one read */
	pic_destroy(p);
}

static void test_special_mask_mode(void)
{
	struct pic *p = new_pic();
	linux_init(p, 0, 0x00, 0xff);
	pic_set_irq(p, 2 + 1, 1);
	CHECK_EQ(pic_intack(p), 0x33);
	pic_set_irq(p, 5, 1);
	CHECK_EQ(out_level, 0); /* IRQ 3 in service blocks 5 */
	/* Special mask mode + masking IRQ 3 lets lower priorities through. */
	pic_port_write(p, 0x20, 0x68);
	pic_port_write(p, 0x21, 0x08);
	CHECK_EQ(out_level, 1);
	CHECK_EQ(pic_intack(p), 0x35);
	pic_port_write(p, 0x20, 0x48); /* reset special mask */
	pic_port_write(p, 0x20, 0x65);
	pic_port_write(p, 0x20, 0x63);
	pic_destroy(p);
}

static void test_reinit_edge_sense(void)
{
	struct pic *p = new_pic();
	linux_init(p, 0, 0x00, 0xff);
	pic_set_irq(p, 4, 1);
	/* ICW1 resets the edge sense: a line already high needs a new edge. */
	linux_init(p, 0, 0x00, 0xff);
	CHECK_EQ(out_level, 0);
	pic_set_irq(p, 4, 1);
	CHECK_EQ(out_level, 0);
	pic_set_irq(p, 4, 0);
	pic_set_irq(p, 4, 1);
	CHECK_EQ(out_level, 1);
	pic_destroy(p);
}

static void test_bus_ports(void)
{
	struct bus *bus = bus_create();
	struct pic *p = pic_create(&(struct pic_config){.bus = bus, .set_output = on_output});
	CHECK(p != NULL);
	bus_write(bus, BUS_PIO, 0x21, 1, 0x5a);
	CHECK_EQ(bus_read(bus, BUS_PIO, 0x21, 1), 0x5a);
	bus_write(bus, BUS_PIO, 0x4d0, 2, 0x0220); /* both ELCRs at once */
	CHECK_EQ(bus_read(bus, BUS_PIO, 0x4d1, 1), 0x02);
	CHECK_EQ(bus_read(bus, BUS_PIO, 0x4d0, 2), 0x0220);
	/* A second PIC cannot claim the same ports. */
	CHECK(pic_create(&(struct pic_config){.bus = bus}) == NULL);
	CHECK_EQ(bus_read(bus, BUS_PIO, 0xa1, 1), 0xff); /* still ours */
	pic_destroy(p);
	CHECK_EQ(bus_read(bus, BUS_PIO, 0x21, 1), 0xff);
	bus_destroy(bus);
}

int main(void)
{
	RUN(test_probe_readback);
	RUN(test_timer_irq0);
	RUN(test_priority_and_nesting);
	RUN(test_cascade);
	RUN(test_spurious);
	RUN(test_slave_nested);
	RUN(test_auto_eoi_and_rotation);
	RUN(test_poll_mode);
	RUN(test_special_mask_mode);
	RUN(test_reinit_edge_sense);
	RUN(test_bus_ports);
	TEST_DONE();
}
