/* The 8042 keyboard controller as Linux's i8042 driver probes it, and the
 * two ways a PC resets through it. */
#include "test.h"

#include <stdlib.h>

#include "dev/i8042.h"
#include "vm.h"

#include "fake_engine.h"

struct rig {
	struct vm vm;
	struct i8042 *k;
};

static struct rig *rig_new(void)
{
	struct rig *r = calloc(1, sizeof *r);
	r->vm.bus = bus_create();
	r->vm.engine = &fake_engine;
	fake_engine_reset();
	r->k = i8042_create(&r->vm);
	return r;
}

static void rig_free(struct rig *r)
{
	i8042_destroy(r->k);
	bus_destroy(r->vm.bus);
	free(r);
}

static uint8_t status(struct rig *r)
{
	return (uint8_t)bus_read(r->vm.bus, BUS_PIO, 0x64, 1);
}
static uint8_t data(struct rig *r)
{
	return (uint8_t)bus_read(r->vm.bus, BUS_PIO, 0x60, 1);
}
static void command(struct rig *r, uint8_t c)
{
	bus_write(r->vm.bus, BUS_PIO, 0x64, 1, c);
}
static void put(struct rig *r, uint8_t v)
{
	bus_write(r->vm.bus, BUS_PIO, 0x60, 1, v);
}

/* i8042_command(): wait for IBF clear, write, wait for OBF, read. */
static int cmd_read(struct rig *r, uint8_t c)
{
	command(r, c);
	if (status(r) & 0x02)
		return -1;
	if (!(status(r) & 0x01))
		return -1;
	return data(r);
}

static void test_linux_probe(void)
{
	struct rig *r = rig_new();
	CHECK(r->k != NULL);
	/* i8042_controller_check / i8042_flush: nothing pending. */
	CHECK_EQ(status(r) & 0x01, 0);
	CHECK(status(r) != 0xFF);
	/* Self-test. */
	CHECK_EQ(cmd_read(r, 0xAA), 0x55);
	CHECK(status(r) & 0x04); /* system flag */
	/* i8042_controller_init: read and write back the command byte with
	 * interrupts off. */
	int ctr = cmd_read(r, 0x20);
	CHECK(ctr >= 0);
	CHECK(ctr & 0x01);
	command(r, 0x60);
	put(r, (uint8_t)(ctr & ~0x03));
	CHECK_EQ(cmd_read(r, 0x20), ctr & ~0x03);
	/* Keyboard interface test. */
	CHECK_EQ(cmd_read(r, 0xAB), 0x00);
	/* i8042_check_aux: aux loop-back returns the byte as aux data. */
	command(r, 0xD3);
	put(r, 0x5A);
	CHECK_EQ(status(r) & 0x21, 0x21);
	CHECK_EQ(data(r), 0x5A);
	/* Aux disable/enable shows in the command byte. */
	command(r, 0xA7);
	CHECK(cmd_read(r, 0x20) & 0x20);
	command(r, 0xA8);
	CHECK(!(cmd_read(r, 0x20) & 0x20));
	command(r, 0xAD);
	CHECK(cmd_read(r, 0x20) & 0x10);
	command(r, 0xAE);
	CHECK(!(cmd_read(r, 0x20) & 0x10));
	/* A keyboard command with no keyboard is answered at once with a
	 * resend, so atkbd gives up instead of timing out. */
	put(r, 0xF2);
	CHECK(status(r) & 0x01);
	CHECK_EQ(status(r) & 0x20, 0);
	CHECK_EQ(data(r), 0xFE);
	command(r, 0xD4);
	put(r, 0xF2);
	CHECK_EQ(status(r) & 0x21, 0x21);
	CHECK_EQ(data(r), 0xFE);
	/* Nothing queued: reads return the last value, OBF stays clear. */
	CHECK_EQ(data(r), 0xFE);
	CHECK_EQ(status(r) & 0x01, 0);
	CHECK(!vm_exit_requested(&r->vm));
	rig_free(r);
}

static void test_interrupts_follow_obf(void)
{
	struct rig *r = rig_new();
	command(r, 0x60);
	put(r, 0x47); /* keyboard and aux interrupts on */
	CHECK_EQ(fake.level[I8042_KBD_GSI], 0);
	command(r, 0xD2); /* keyboard loop-back */
	put(r, 0x11);
	CHECK_EQ(fake.level[I8042_KBD_GSI], 1);
	CHECK_EQ(fake.level[I8042_AUX_GSI], 0);
	CHECK_EQ(data(r), 0x11);
	CHECK_EQ(fake.level[I8042_KBD_GSI], 0);
	command(r, 0xD3);
	put(r, 0x22);
	CHECK_EQ(fake.level[I8042_AUX_GSI], 1);
	CHECK_EQ(fake.level[I8042_KBD_GSI], 0);
	int calls = fake.irq_calls;
	status(r);
	status(r);
	CHECK_EQ(fake.irq_calls, calls);
	CHECK_EQ(data(r), 0x22);
	CHECK_EQ(fake.level[I8042_AUX_GSI], 0);
	/* With the interrupt bits clear the lines stay low. */
	command(r, 0x60);
	put(r, 0x44);
	command(r, 0xD2);
	put(r, 0x33);
	CHECK_EQ(fake.level[I8042_KBD_GSI], 0);
	CHECK(status(r) & 0x01);
	rig_free(r);
}

static void test_replies_queue_in_order(void)
{
	struct rig *r = rig_new();
	command(r, 0xAA);
	command(r, 0xAB);
	command(r, 0xD0);
	CHECK_EQ(data(r), 0x55);
	CHECK_EQ(data(r), 0x00);
	CHECK_EQ(data(r) & 0x03, 0x03); /* output port: not in reset, A20 on */
	CHECK_EQ(status(r) & 0x01, 0);
	/* A guest that never reads cannot grow the queue without bound. */
	for (int i = 0; i < 1000; i++)
		command(r, 0xAA);
	int n = 0;
	while ((status(r) & 0x01) && n < 2000) {
		data(r);
		n++;
	}
	CHECK(n > 0 && n <= 64);
	rig_free(r);
}

static void test_reset_by_pulse(void)
{
	struct rig *r = rig_new();
	command(r, 0xFF); /* pulse nothing */
	CHECK(!vm_exit_requested(&r->vm));
	command(r, 0xFE);
	CHECK_EQ(atomic_load(&r->vm.exit_kind), VM_EXIT_RESET);
	CHECK_EQ(r->vm.exit_code, 0);
	CHECK_EQ(fake.kicks, 1);
	rig_free(r);
}

static void test_reset_by_output_port(void)
{
	struct rig *r = rig_new();
	command(r, 0xD1);
	put(r, 0xDF); /* A20 on, reset line high: no reset */
	CHECK(!vm_exit_requested(&r->vm));
	command(r, 0xD1);
	put(r, 0xDE);
	CHECK_EQ(atomic_load(&r->vm.exit_kind), VM_EXIT_RESET);
	rig_free(r);
}

static void test_other_ports_untouched(void)
{
	struct rig *r = rig_new();
	CHECK_EQ(bus_read(r->vm.bus, BUS_PIO, 0x61, 1), 0xFF);
	CHECK_EQ(bus_read(r->vm.bus, BUS_PIO, 0x63, 1), 0xFF);
	/* Commands that need a data byte do not swallow the next command. */
	command(r, 0x60);
	command(r, 0xAA);
	CHECK_EQ(data(r), 0x55);
	rig_free(r);
}

int main(void)
{
	RUN(test_linux_probe);
	RUN(test_interrupts_follow_obf);
	RUN(test_replies_queue_in_order);
	RUN(test_reset_by_pulse);
	RUN(test_reset_by_output_port);
	RUN(test_other_ports_untouched);
	TEST_DONE();
}
