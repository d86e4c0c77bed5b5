/* 8254 PIT with a hand-driven clock: Linux's TSC calibration loops
 * (arch/x86/kernel/tsc.c), its clockevent programming (i8253.c) and the
 * counter's exact timing. */
#include "bus.h"
#include "dev/pit.h"
#include "test.h"

static struct manual_clock clk;
static struct guest_clock gclk;
static int irq_level, irq_rises;

static void on_irq(void *opaque, int level)
{
	(void)opaque;
	if (level && !irq_level)
		irq_rises++;
	irq_level = level;
}

static struct pit *new_pit(void)
{
	clk.ns = 0;
	gclk = manual_clock_as_guest_clock(&clk);
	irq_level = irq_rises = 0;
	return pit_create(&(struct pit_config){.clock = &gclk, .set_irq = on_irq});
}

static uint16_t read_word(struct pit *p, uint16_t port)
{
	uint16_t lo = pit_port_read(p, port);
	return (uint16_t)(lo | pit_port_read(p, port) << 8);
}

/* pit_calibrate_tsc(CAL_LATCH, CAL_MS, loopmin) with one loop iteration per
 * `step` ns of guest time: returns the iterations until OUT2 went high. */
static unsigned long linux_pit_calibrate(struct pit *p, uint16_t latch, uint64_t step)
{
	pit_port_write(p, 0x61, (pit_port_read(p, 0x61) & ~0x02) | 0x01);
	pit_port_write(p, 0x43, 0xb0);
	pit_port_write(p, 0x42, latch & 0xff);
	pit_port_write(p, 0x42, latch >> 8);
	unsigned long pitcnt = 0;
	while ((pit_port_read(p, 0x61) & 0x20) == 0 && pitcnt < 10000000) {
		clk.ns += step;
		pitcnt++;
	}
	return pitcnt;
}

static void test_calibrate_tsc_loop(void)
{
	struct pit *p = new_pit();
	/* CAL_LATCH = PIT_TICK_RATE / (1000 / CAL_MS) with CAL_MS = 10. */
	uint16_t latch = (uint16_t)(1193182 / (1000 / 10));
	CHECK_EQ(latch, 11931);
	/* 11931 ticks end at 9999312.7 ns: the first 1 us step past that is
	 * the 10000th. */
	CHECK_EQ(linux_pit_calibrate(p, latch, 1000), 10000);
	CHECK_EQ(clk.ns, 10000000);
	/* Exactly at the boundary, measured from a programming at t0. */
	uint64_t t0 = clk.ns = 123456789;
	pit_port_write(p, 0x43, 0xb0);
	pit_port_write(p, 0x42, latch & 0xff);
	pit_port_write(p, 0x42, latch >> 8);
	clk.ns = t0 + 9999312;
	CHECK_EQ(pit_port_read(p, 0x61) & 0x20, 0);
	clk.ns = t0 + 9999313;
	CHECK_EQ(pit_port_read(p, 0x61) & 0x20, 0x20);
	/* OUT stays high; the counter wraps through 0xFFFF and goes on. */
	clk.ns = t0 + clock_ns_of_tick(11931 + 1, PIT_HZ);
	CHECK_EQ(pit_port_read(p, 0x61) & 0x21, 0x21);
	CHECK_EQ(read_word(p, 0x42), 0xffff);
	/* Speaker bit and gate read back as written. */
	pit_port_write(p, 0x61, 0x03);
	CHECK_EQ(pit_port_read(p, 0x61) & 0x0f, 0x03);
	/* Channel 2 never raised IRQ 0. */
	CHECK_EQ(irq_rises, 0);
	pit_destroy(p);
}

static void test_quick_pit_calibrate(void)
{
	struct pit *p = new_pit();
	clk.ns = 5000;
	pit_port_write(p, 0x61, (pit_port_read(p, 0x61) & ~0x02) | 0x01);
	pit_port_write(p, 0x43, 0xb0);
	pit_port_write(p, 0x42, 0xff);
	pit_port_write(p, 0x42, 0xff);
	uint64_t t0 = clk.ns;
	/* pit_verify_msb(): LSB then MSB, unlatched. */
	pit_port_read(p, 0x42);
	CHECK_EQ(pit_port_read(p, 0x42), 0xff);
	/* The MSB turns 0xfe when 256 ticks have passed: 214552.5 ns. */
	clk.ns = t0 + 214552;
	CHECK_EQ(read_word(p, 0x42), 0xff00);
	clk.ns = t0 + 214553;
	CHECK_EQ(read_word(p, 0x42), 0xfeff);
	/* pit_expect_msb(0xfe - i) for a few more: each MSB step is 256
	 * ticks, with no drift after many. */
	for (unsigned i = 2; i < 200; i++) {
		clk.ns = t0 + clock_ns_of_tick(256 * i, PIT_HZ) - 1;
		CHECK_EQ(read_word(p, 0x42) >> 8, 0xff - (i - 1));
		clk.ns++;
		CHECK_EQ(read_word(p, 0x42) >> 8, 0xff - i);
		if (test_current_failed)
			break;
	}
	pit_destroy(p);
}

/* Count IRQ 0 rising edges delivered by advancing to each deadline. */
static void test_periodic_tick(void)
{
	struct pit *p = new_pit();
	clk.ns = 1000;
	/* init_pit_timer / pit_set_periodic: mode 2, LATCH for HZ = 250. */
	uint16_t latch = (uint16_t)((1193182 + 250 / 2) / 250);
	CHECK_EQ(latch, 4773);
	pit_port_write(p, 0x43, 0x34);
	pit_port_write(p, 0x40, latch & 0xff);
	pit_port_write(p, 0x40, latch >> 8);
	CHECK_EQ(irq_level, 1); /* mode 2: OUT high after the control word */
	irq_rises = 0;          /* (that first rise is real, but not a tick) */
	uint64_t t0 = clk.ns;
	for (unsigned k = 1; k <= 1000; k++) {
		uint64_t d = pit_next_deadline_ns(p);
		CHECK_EQ(d, t0 + clock_ns_of_tick((uint64_t)k * latch, PIT_HZ));
		pit_advance(p, d - 1);
		CHECK_EQ(irq_rises, k - 1);
		clk.ns = d;
		pit_advance(p, d);
		CHECK_EQ(irq_rises, k);
		CHECK_EQ(irq_level, 1);
		if (test_current_failed)
			break;
	}
	/* 1000 ticks of 4773 at 1193182 Hz: 4.000060 s, no drift. */
	CHECK_EQ(clk.ns - t0, clock_ns_of_tick(4773000, PIT_HZ));
	/* Late: ten periods pass unseen; they coalesce into one edge. */
	clk.ns += 10 * 4000000;
	pit_advance(p, clk.ns);
	CHECK_EQ(irq_rises, 1001);
	/* The counter counts down from the latch in each period. */
	uint64_t t1 = pit_next_deadline_ns(p);
	clk.ns = t1;
	pit_port_write(p, 0x43, 0x00); /* latch channel 0, as the clocksource does */
	clk.ns = t1 + 1000000;         /* the latched value does not move */
	CHECK_EQ(read_word(p, 0x40), 4773);
	CHECK_EQ(read_word(p, 0x40), 4773 - clock_ticks_at(1000000, PIT_HZ));
	pit_destroy(p);
}

static void test_oneshot_and_shutdown(void)
{
	struct pit *p = new_pit();
	/* pit_set_oneshot: mode 4; pit_next_event writes the delta. */
	pit_port_write(p, 0x43, 0x38);
	CHECK_EQ(irq_level, 1);
	irq_rises = 0;
	pit_port_write(p, 0x40, 100);
	pit_port_write(p, 0x40, 0);
	/* OUT pulses low at count 0 (tick 100) and rises at tick 101. */
	uint64_t d = pit_next_deadline_ns(p);
	CHECK_EQ(d, clock_ns_of_tick(101, PIT_HZ));
	clk.ns = clock_ns_of_tick(100, PIT_HZ);
	pit_advance(p, clk.ns);
	CHECK_EQ(irq_level, 0);
	CHECK_EQ(irq_rises, 0);
	clk.ns = d;
	pit_advance(p, d);
	CHECK_EQ(irq_rises, 1);
	CHECK_EQ(pit_next_deadline_ns(p), CLOCK_NEVER);
	/* Re-arm and let it pass entirely between two advances: still one. */
	pit_port_write(p, 0x40, 50);
	pit_port_write(p, 0x40, 0);
	clk.ns += 1000000;
	pit_advance(p, clk.ns);
	CHECK_EQ(irq_rises, 2);
	CHECK_EQ(irq_level, 1);
	/* pit_shutdown: mode 0 and a zero count. OUT goes low and only
	 * rises after 65536 ticks. */
	pit_port_write(p, 0x43, 0x30);
	CHECK_EQ(irq_level, 0);
	pit_port_write(p, 0x40, 0);
	pit_port_write(p, 0x40, 0);
	CHECK_EQ(pit_next_deadline_ns(p), clk.ns + clock_ns_of_tick(65536, PIT_HZ));
	pit_destroy(p);
}

static void test_mode0_first_byte_stops(void)
{
	struct pit *p = new_pit();
	pit_port_write(p, 0x43, 0x30);
	pit_port_write(p, 0x40, 10);
	pit_port_write(p, 0x40, 0);
	clk.ns = clock_ns_of_tick(10, PIT_HZ);
	pit_advance(p, clk.ns);
	CHECK_EQ(irq_rises, 1);
	/* Writing the LSB of a new count drops OUT and stops counting. */
	pit_port_write(p, 0x40, 20);
	CHECK_EQ(irq_level, 0);
	CHECK_EQ(pit_next_deadline_ns(p), CLOCK_NEVER);
	uint64_t t = clk.ns += 5000;
	pit_port_write(p, 0x40, 0);
	CHECK_EQ(pit_next_deadline_ns(p), t + clock_ns_of_tick(20, PIT_HZ));
	pit_destroy(p);
}

static void test_readback_status(void)
{
	struct pit *p = new_pit();
	pit_port_write(p, 0x43, 0x34); /* ch0, word, mode 2, binary */
	/* Read-back status of ch0 before the count: null count set. */
	pit_port_write(p, 0x43, 0xe2);
	CHECK_EQ(pit_port_read(p, 0x40), 0x80 | 0x40 | 0x30 | 0x04);
	pit_port_write(p, 0x40, 0x00);
	pit_port_write(p, 0x40, 0x10); /* 4096 */
	clk.ns = clock_ns_of_tick(96, PIT_HZ);
	/* Latch count and status together: status first, then LSB, MSB. */
	pit_port_write(p, 0x43, 0xc2);
	CHECK_EQ(pit_port_read(p, 0x40), 0x80 | 0x30 | 0x04);
	clk.ns += 1000000;
	CHECK_EQ(read_word(p, 0x40), 4000);
	/* A second latch before reading is ignored (the first one holds). */
	pit_port_write(p, 0x43, 0x00);
	clk.ns += 1000000;
	pit_port_write(p, 0x43, 0x00);
	uint16_t v = read_word(p, 0x40);
	CHECK(v != 4000);
	/* LSB-only and MSB-only access. */
	pit_port_write(p, 0x43, 0x94); /* ch2, LSB only, mode 2 */
	pit_port_write(p, 0x42, 200);
	pit_port_write(p, 0x61, 0x01);
	clk.ns += clock_ns_of_tick(50, PIT_HZ);
	uint8_t lsb = pit_port_read(p, 0x42);
	CHECK(lsb <= 200 && lsb >= 149);
	pit_port_write(p, 0x43, 0xa4); /* ch2, MSB only */
	pit_port_write(p, 0x42, 0x02); /* 512 */
	CHECK_EQ(pit_port_read(p, 0x42), 0x02);
	/* The control port itself reads nothing. */
	CHECK_EQ(pit_port_read(p, 0x43), 0xff);
	pit_destroy(p);
}

static void test_square_wave_and_bcd(void)
{
	struct pit *p = new_pit();
	pit_port_write(p, 0x61, 0x01);
	pit_port_write(p, 0x43, 0xb6); /* ch2, word, mode 3, binary: the PC speaker */
	pit_port_write(p, 0x42, 100);
	pit_port_write(p, 0x42, 0);
	/* High for the first 50 ticks of each 100, low for the rest. */
	for (unsigned t = 0; t < 300; t++) {
		clk.ns = clock_ns_of_tick(t, PIT_HZ);
		int out = (pit_port_read(p, 0x61) & 0x20) != 0;
		CHECK_EQ(out, (t % 100) < 50);
		if (test_current_failed)
			break;
	}
	/* Gate low forces OUT high and stops; rising gate restarts. */
	clk.ns = clock_ns_of_tick(370, PIT_HZ);
	CHECK_EQ(pit_port_read(p, 0x61) & 0x20, 0);
	pit_port_write(p, 0x61, 0x00);
	CHECK_EQ(pit_port_read(p, 0x61) & 0x20, 0x20);
	pit_port_write(p, 0x61, 0x01);
	uint64_t t0 = clk.ns;
	clk.ns = t0 + clock_ns_of_tick(49, PIT_HZ);
	CHECK_EQ(pit_port_read(p, 0x61) & 0x20, 0x20);
	clk.ns = t0 + clock_ns_of_tick(50, PIT_HZ);
	CHECK_EQ(pit_port_read(p, 0x61) & 0x20, 0);

	/* BCD: a count of 0x1000 is 1000 ticks; values read back in BCD. */
	pit_port_write(p, 0x43, 0xb1); /* ch2, word, mode 0, BCD */
	t0 = clk.ns;
	pit_port_write(p, 0x42, 0x00);
	pit_port_write(p, 0x42, 0x10);
	clk.ns = t0 + clock_ns_of_tick(1, PIT_HZ);
	CHECK_EQ(read_word(p, 0x42), 0x0999);
	clk.ns = t0 + clock_ns_of_tick(999, PIT_HZ);
	CHECK_EQ(read_word(p, 0x42), 0x0001);
	CHECK_EQ(pit_port_read(p, 0x61) & 0x20, 0);
	clk.ns = t0 + clock_ns_of_tick(1001, PIT_HZ);
	CHECK_EQ(read_word(p, 0x42), 0x9999);
	CHECK_EQ(pit_port_read(p, 0x61) & 0x20, 0x20);
	pit_destroy(p);
}

static void test_gate_modes(void)
{
	struct pit *p = new_pit();
	/* Mode 0 on channel 2 with the gate low: loaded but not counting. */
	pit_port_write(p, 0x61, 0x00);
	pit_port_write(p, 0x43, 0xb0);
	pit_port_write(p, 0x42, 100);
	pit_port_write(p, 0x42, 0);
	clk.ns = 1000000;
	CHECK_EQ(read_word(p, 0x42), 100);
	pit_port_write(p, 0x61, 0x01);
	uint64_t t0 = clk.ns;
	clk.ns = t0 + clock_ns_of_tick(40, PIT_HZ);
	CHECK_EQ(read_word(p, 0x42), 60);
	pit_port_write(p, 0x61, 0x00); /* pause at 60 */
	clk.ns += 5000000;
	CHECK_EQ(read_word(p, 0x42), 60);
	pit_port_write(p, 0x61, 0x01);
	t0 = clk.ns;
	clk.ns = t0 + clock_ns_of_tick(59, PIT_HZ);
	CHECK_EQ(pit_port_read(p, 0x61) & 0x20, 0);
	clk.ns = t0 + clock_ns_of_tick(60, PIT_HZ);
	CHECK_EQ(pit_port_read(p, 0x61) & 0x20, 0x20);

	/* Mode 1: OUT high until a gate rising edge, then low for N ticks. */
	pit_port_write(p, 0x61, 0x00);
	pit_port_write(p, 0x43, 0xb2);
	pit_port_write(p, 0x42, 10);
	pit_port_write(p, 0x42, 0);
	clk.ns += 1000000;
	CHECK_EQ(pit_port_read(p, 0x61) & 0x20, 0x20);
	pit_port_write(p, 0x61, 0x01);
	t0 = clk.ns;
	CHECK_EQ(pit_port_read(p, 0x61) & 0x20, 0);
	clk.ns = t0 + clock_ns_of_tick(10, PIT_HZ);
	CHECK_EQ(pit_port_read(p, 0x61) & 0x20, 0x20);
	/* Retrigger. */
	pit_port_write(p, 0x61, 0x00);
	pit_port_write(p, 0x61, 0x01);
	CHECK_EQ(pit_port_read(p, 0x61) & 0x20, 0);

	/* Mode 5: strobe N ticks after the trigger. */
	pit_port_write(p, 0x43, 0xba);
	pit_port_write(p, 0x42, 5);
	pit_port_write(p, 0x42, 0);
	pit_port_write(p, 0x61, 0x00);
	pit_port_write(p, 0x61, 0x01);
	t0 = clk.ns;
	clk.ns = t0 + clock_ns_of_tick(5, PIT_HZ);
	CHECK_EQ(pit_port_read(p, 0x61) & 0x20, 0);
	clk.ns = t0 + clock_ns_of_tick(6, PIT_HZ);
	CHECK_EQ(pit_port_read(p, 0x61) & 0x20, 0x20);
	pit_destroy(p);
}

static void test_refresh_toggle(void)
{
	struct pit *p = new_pit();
	/* Bit 4 toggles every 18 ticks (~15 us), whatever the channels do. */
	int toggles = 0, last = pit_port_read(p, 0x61) & 0x10;
	for (clk.ns = 0; clk.ns < 1000000; clk.ns += 1000) {
		int bit = pit_port_read(p, 0x61) & 0x10;
		toggles += bit != last;
		last = bit;
	}
	/* 1 ms = 1193 ticks = 66 half-periods of 18 ticks. */
	CHECK_EQ(toggles, 66);
	pit_destroy(p);
}

static void test_bus_ports(void)
{
	struct bus *bus = bus_create();
	clk.ns = 0;
	gclk = manual_clock_as_guest_clock(&clk);
	struct pit *p = pit_create(&(struct pit_config){.bus = bus, .clock = &gclk});
	CHECK(p != NULL);
	bus_write(bus, BUS_PIO, 0x43, 1, 0xb0);
	bus_write(bus, BUS_PIO, 0x42, 1, 0x34);
	bus_write(bus, BUS_PIO, 0x42, 1, 0x12);
	bus_write(bus, BUS_PIO, 0x61, 1, 0x00); /* gate off: count holds */
	CHECK_EQ(bus_read(bus, BUS_PIO, 0x42, 1), 0x34);
	CHECK_EQ(bus_read(bus, BUS_PIO, 0x42, 1), 0x12);
	CHECK_EQ(bus_read(bus, BUS_PIO, 0x61, 1) & 0x21, 0);
	pit_destroy(p);
	CHECK_EQ(bus_read(bus, BUS_PIO, 0x61, 1), 0xff);
	bus_destroy(bus);
}

int main(void)
{
	RUN(test_calibrate_tsc_loop);
	RUN(test_quick_pit_calibrate);
	RUN(test_periodic_tick);
	RUN(test_oneshot_and_shutdown);
	RUN(test_mode0_first_byte_stops);
	RUN(test_readback_status);
	RUN(test_square_wave_and_bcd);
	RUN(test_gate_modes);
	RUN(test_refresh_toggle);
	RUN(test_bus_ports);
	TEST_DONE();
}
