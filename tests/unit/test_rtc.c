/* The CMOS RTC read the way Linux's mc146818 code reads it. */
#include "test.h"

#include <stdlib.h>
#include <time.h>

#include "dev/rtc.h"
#include "vm.h"

#include "fake_engine.h"

struct rig {
	struct vm vm;
	struct rtc *rtc;
};

static struct rig *rig_new(void)
{
	struct rig *r = calloc(1, sizeof *r);
	r->vm.bus = bus_create();
	r->vm.engine = &fake_engine;
	vm_clock_init(&r->vm, false);
	r->rtc = rtc_create(&r->vm);
	return r;
}

static void rig_free(struct rig *r)
{
	rtc_destroy(r->rtc);
	bus_destroy(r->vm.bus);
	free(r);
}

static uint8_t cmos_read(struct rig *r, uint8_t idx)
{
	bus_write(r->vm.bus, BUS_PIO, 0x70, 1, idx);
	return (uint8_t)bus_read(r->vm.bus, BUS_PIO, 0x71, 1);
}

static void cmos_write(struct rig *r, uint8_t idx, uint8_t v)
{
	bus_write(r->vm.bus, BUS_PIO, 0x70, 1, idx);
	bus_write(r->vm.bus, BUS_PIO, 0x71, 1, v);
}

static int bcd(uint8_t v)
{
	return (v >> 4) * 10 + (v & 0xF);
}

struct rtc_time {
	int sec, min, hour, wday, mday, mon, year;
};

/* mc146818_get_time(): wait for UIP to drop, read, retry if an update
 * slipped in (seconds changed). */
static struct rtc_time read_time(struct rig *r, bool binary)
{
	struct rtc_time t;
	for (;;) {
		while (cmos_read(r, 0x0A) & 0x80)
			;
		uint8_t s0 = cmos_read(r, 0x00);
		uint8_t v[10];
		for (int i = 0; i < 10; i++)
			v[i] = cmos_read(r, (uint8_t)i);
		uint8_t century = cmos_read(r, 0x32);
		if ((cmos_read(r, 0x0A) & 0x80) || cmos_read(r, 0x00) != s0)
			continue;
		int (*dec)(uint8_t) = binary ? NULL : bcd;
#define DEC(x) (dec ? dec(x) : (x))
		t.sec = DEC(v[0]);
		t.min = DEC(v[2]);
		t.hour = DEC(v[4]);
		t.wday = DEC(v[6]);
		t.mday = DEC(v[7]);
		t.mon = DEC(v[8]);
		t.year = DEC(century) * 100 + DEC(v[9]);
#undef DEC
		return t;
	}
}

static int64_t as_epoch(const struct rtc_time *t)
{
	struct tm tm = {0};
	tm.tm_sec = t->sec;
	tm.tm_min = t->min;
	tm.tm_hour = t->hour;
	tm.tm_mday = t->mday;
	tm.tm_mon = t->mon - 1;
	tm.tm_year = t->year - 1900;
	return (int64_t)timegm(&tm);
}

static void test_reads_host_utc_in_bcd(void)
{
	struct rig *r = rig_new();
	CHECK(r->rtc != NULL);
	CHECK_EQ(cmos_read(r, 0x0B) & 0x06, 0x02); /* BCD, 24 h */
	CHECK_EQ(cmos_read(r, 0x0D), 0x80);        /* VRT: battery good */
	struct rtc_time t = read_time(r, false);
	int64_t now = (int64_t)time(NULL);
	int64_t got = as_epoch(&t);
	CHECK(got >= now - 2 && got <= now + 2);
	time_t tt = (time_t)got;
	struct tm tm;
	gmtime_r(&tt, &tm);
	CHECK_EQ(t.wday, tm.tm_wday + 1);
	rig_free(r);
}

static void test_binary_and_12_hour_modes(void)
{
	struct rig *r = rig_new();
	cmos_write(r, 0x0B, 0x06); /* binary, 24 h */
	struct rtc_time t = read_time(r, true);
	int64_t now = (int64_t)time(NULL);
	int64_t got = as_epoch(&t);
	CHECK(got >= now - 2 && got <= now + 2);
	/* Set 15:30 in binary 24-hour mode, read it back in 12-hour BCD. */
	cmos_write(r, 0x0B, 0x86);
	cmos_write(r, 0x04, 15);
	cmos_write(r, 0x02, 30);
	cmos_write(r, 0x0B, 0x06);
	cmos_write(r, 0x0B, 0x00); /* BCD, 12 h */
	uint8_t hour = cmos_read(r, 0x04);
	CHECK_EQ(hour, 0x80 | 0x03);
	/* Midnight and noon in 12-hour mode: 12 AM and 12 PM. */
	cmos_write(r, 0x0B, 0x80);
	cmos_write(r, 0x04, 0x12); /* 12 AM */
	cmos_write(r, 0x0B, 0x02); /* back to 24 h */
	CHECK_EQ(cmos_read(r, 0x04), 0x00);
	cmos_write(r, 0x0B, 0x80);
	cmos_write(r, 0x04, 0x92); /* 12 PM */
	cmos_write(r, 0x0B, 0x02);
	CHECK_EQ(cmos_read(r, 0x04), 0x12);
	rig_free(r);
}

/* mc146818_set_time(): SET, write the fields, clear SET. */
static void test_guest_sets_time(void)
{
	struct rig *r = rig_new();
	uint8_t b = cmos_read(r, 0x0B);
	cmos_write(r, 0x0B, b | 0x80);
	cmos_write(r, 0x00, 0x06);
	cmos_write(r, 0x02, 0x05);
	cmos_write(r, 0x04, 0x04);
	cmos_write(r, 0x07, 0x03);
	cmos_write(r, 0x08, 0x02);
	cmos_write(r, 0x09, 0x01);
	cmos_write(r, 0x32, 0x20);
	/* Stopped while SET is on. */
	CHECK_EQ(cmos_read(r, 0x00), 0x06);
	CHECK_EQ(cmos_read(r, 0x0A) & 0x80, 0);
	cmos_write(r, 0x0B, b);
	struct rtc_time t = read_time(r, false);
	CHECK_EQ(t.year, 2001);
	CHECK_EQ(t.mon, 2);
	CHECK_EQ(t.mday, 3);
	CHECK_EQ(t.hour, 4);
	CHECK_EQ(t.min, 5);
	CHECK(t.sec >= 6 && t.sec <= 8);
	CHECK_EQ(t.wday, 7); /* 2001-02-03 was a Saturday */
	/* A second RTC (a reset machine) starts from host time again. */
	struct rig *r2 = rig_new();
	CHECK(read_time(r2, false).year >= 2024);
	rig_free(r2);
	rig_free(r);
}

static void test_uip_rises_before_each_update(void)
{
	struct rig *r = rig_new();
	/* Poll for up to ~3 s: UIP must be seen, and the seconds register
	 * must have moved on when it falls. */
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	bool seen = false, changed = false;
	do {
		/* Seconds read just before UIP is seen belong to the second
		 * that is ending; once UIP falls the next one has begun. */
		uint8_t before = cmos_read(r, 0x00);
		if (cmos_read(r, 0x0A) & 0x80) {
			seen = true;
			while (cmos_read(r, 0x0A) & 0x80)
				;
			changed = cmos_read(r, 0x00) != before;
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec - start.tv_sec < 3);
	CHECK(seen);
	CHECK(changed);
	/* Most of the time UIP is clear. */
	int set = 0;
	for (int i = 0; i < 1000; i++)
		set += (cmos_read(r, 0x0A) & 0x80) != 0;
	CHECK(set < 900);
	rig_free(r);
}

static void test_status_registers_and_ram(void)
{
	struct rig *r = rig_new();
	CHECK_EQ(cmos_read(r, 0x0A) & 0x7F, 0x26);
	cmos_write(r, 0x0A, 0xA6); /* UIP is read-only */
	CHECK_EQ(cmos_read(r, 0x0A) & 0x7F, 0x26);
	cmos_write(r, 0x0D, 0x00); /* read-only */
	CHECK_EQ(cmos_read(r, 0x0D), 0x80);
	cmos_write(r, 0x0C, 0xFF);
	cmos_read(r, 0x0C);
	CHECK_EQ(cmos_read(r, 0x0C) & 0x60, 0); /* no periodic/alarm flags */
	/* RAM, with the NMI-mask bit in the index. */
	cmos_write(r, 0x80 | 0x40, 0x5A);
	CHECK_EQ(cmos_read(r, 0x40), 0x5A);
	for (int i = 0x0E; i < 0x80; i++)
		if (i != 0x32)
			cmos_write(r, (uint8_t)i, (uint8_t)(i ^ 0xA5));
	bool ok = true;
	for (int i = 0x0E; i < 0x80; i++)
		if (i != 0x32 && cmos_read(r, (uint8_t)i) != (uint8_t)(i ^ 0xA5))
			ok = false;
	CHECK(ok);
	rtc_cmos_set(r->rtc, 0x34, 0x77);
	CHECK_EQ(cmos_read(r, 0x34), 0x77);
	rtc_cmos_set(r->rtc, 0x00, 0x77); /* clock registers are not RAM */
	CHECK(cmos_read(r, 0x0B) != 0x77);
	/* The index port reads as all-ones; other ports are not ours. */
	CHECK_EQ(bus_read(r->vm.bus, BUS_PIO, 0x70, 1), 0xFF);
	CHECK_EQ(bus_read(r->vm.bus, BUS_PIO, 0x72, 1), 0xFF);
	rig_free(r);
}

static void test_hostile_values(void)
{
	struct rig *r = rig_new();
	/* Invalid BCD everywhere, then run the clock: no crash, sane reads. */
	cmos_write(r, 0x0B, 0x82);
	for (uint8_t i = 0; i < 10; i++)
		cmos_write(r, i, 0xFF);
	cmos_write(r, 0x32, 0xFF);
	cmos_write(r, 0x0B, 0x02);
	for (uint8_t i = 0; i < 10; i++)
		cmos_read(r, i);
	cmos_write(r, 0x0B, 0x06);
	cmos_write(r, 0x09, 0xFF);
	cmos_read(r, 0x09);
	rig_free(r);
}

/* A rig on a clock the test moves, starting 2025-01-01 00:00:00 UTC. */
static struct manual_clock test_clock;
static struct rig *rig_new_manual(void)
{
	fake_engine_reset();
	struct rig *r = calloc(1, sizeof *r);
	r->vm.bus = bus_create();
	r->vm.engine = &fake_engine;
	vm_clock_init(&r->vm, true);
	test_clock.ns = 0;
	r->vm.clock = manual_clock_as_guest_clock(&test_clock);
	r->rtc = rtc_create(&r->vm);
	return r;
}

static void advance_to(struct rig *r, uint64_t ns)
{
	test_clock.ns = ns;
	vm_timers_advance(&r->vm, ns);
}

static void test_periodic_interrupt(void)
{
	struct rig *r = rig_new_manual();
	CHECK_EQ(vm_timers_next_deadline_ns(&r->vm), CLOCK_NEVER); /* nothing enabled */
	cmos_write(r, 0x0A, 0x26);                                 /* 1024 Hz */
	cmos_write(r, 0x0B, 0x02 | 0x40);                          /* 24h, PIE */
	uint64_t d = vm_timers_next_deadline_ns(&r->vm);
	CHECK_EQ(d, clock_ns_of_tick(1, 1024));
	advance_to(r, d - 1);
	CHECK_EQ(fake.level[8], 0);
	advance_to(r, d);
	CHECK_EQ(fake.level[8], 1);
	CHECK_EQ(cmos_read(r, 0x0C), 0xC0); /* IRQF | PF; the read lowers IRQ 8 */
	CHECK_EQ(fake.level[8], 0);
	CHECK_EQ(cmos_read(r, 0x0C), 0x00);
	/* 1024 periods in one second, each one an edge on IRQ 8. */
	int edges = 0;
	for (int k = 2; k <= 1025; k++) {
		d = vm_timers_next_deadline_ns(&r->vm);
		CHECK_EQ(d, clock_ns_of_tick((uint64_t)k, 1024));
		advance_to(r, d);
		edges += fake.level[8];
		cmos_read(r, 0x0C);
	}
	CHECK_EQ(edges, 1024);
	/* Disabling PIE stops the deadlines. */
	cmos_write(r, 0x0B, 0x02);
	CHECK_EQ(vm_timers_next_deadline_ns(&r->vm), CLOCK_NEVER);
	rig_free(r);
}

static void test_update_and_alarm_interrupts(void)
{
	struct rig *r = rig_new_manual();
	cmos_write(r, 0x0B, 0x02 | 0x10); /* 24h, UIE */
	uint64_t d = vm_timers_next_deadline_ns(&r->vm);
	CHECK_EQ(d, CLOCK_NS_PER_SEC); /* the next second boundary */
	advance_to(r, d);
	CHECK_EQ(fake.level[8], 1);
	CHECK_EQ(cmos_read(r, 0x0C), 0x90); /* IRQF | UF */
	CHECK_EQ(fake.level[8], 0);
	/* Alarm at 00:00:05 (BCD), "any" hour. */
	cmos_write(r, 0x0B, 0x02 | 0x20);
	cmos_write(r, 0x01, 0x05);
	cmos_write(r, 0x03, 0x00);
	cmos_write(r, 0x05, 0xC0);
	int fired_at = -1;
	for (int s = 2; s <= 8; s++) {
		advance_to(r, (uint64_t)s * CLOCK_NS_PER_SEC);
		if (fake.level[8] && fired_at < 0)
			fired_at = s;
		uint8_t c = cmos_read(r, 0x0C);
		/* IRQF | AF only at 00:00:05 (PF and UF latch without their enables) */
		CHECK_EQ(c & 0xA0, (s == 5 ? 0xA0 : 0x00));
	}
	CHECK_EQ(fired_at, 5);
	rig_free(r);
}

static void test_icount_wall_clock_is_fixed(void)
{
	struct rig *r = rig_new_manual();
	struct rtc_time t = read_time(r, false);
	CHECK_EQ(t.year, 2025);
	CHECK_EQ(t.mon, 1);
	CHECK_EQ(t.mday, 1);
	CHECK_EQ(t.hour, 0);
	CHECK_EQ(t.min, 0);
	CHECK_EQ(t.sec, 0);
	rig_free(r);
}

int main(void)
{
	RUN(test_reads_host_utc_in_bcd);
	RUN(test_binary_and_12_hour_modes);
	RUN(test_guest_sets_time);
	RUN(test_uip_rises_before_each_update);
	RUN(test_status_registers_and_ram);
	RUN(test_hostile_values);
	RUN(test_periodic_interrupt);
	RUN(test_update_and_alarm_interrupts);
	RUN(test_icount_wall_clock_is_fixed);
	TEST_DONE();
}
