/* CMOS RTC.
 *
 * The clock is not a counter that ticks: every read of a time register
 * computes the guest's time as host UTC (CLOCK_REALTIME) + offset, so the RTC
 * costs nothing while the guest does not look at it and cannot drift. A guest
 * write of the time only changes the offset.
 *
 * Adding IRQ 8 later: the three sources are periodic (rate from status A's RS
 * bits), alarm (the alarm registers match the time) and update-ended (every
 * second boundary). All three are pure functions of the time, so the device
 * can follow the contract the PIT already uses (pit.h): an
 * rtc_next_deadline_ns() that says when the next enabled event is due, and an
 * rtc_advance(now) that latches PF/AF/UF in register C and raises IRQ 8 while
 * (C & B & 0x70) is non-zero; reading C (rtc_read_reg) clears the flags and
 * lowers the line. Register C's lazy update-ended flag below is the first
 * piece of that. */
#include "dev/rtc.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "util/log.h"
#include "vm.h"

#define REG_SECONDS 0x00
#define REG_SECONDS_ALARM 0x01
#define REG_MINUTES 0x02
#define REG_MINUTES_ALARM 0x03
#define REG_HOURS 0x04
#define REG_HOURS_ALARM 0x05
#define REG_WEEKDAY 0x06
#define REG_DAY 0x07
#define REG_MONTH 0x08
#define REG_YEAR 0x09
#define REG_A 0x0A
#define REG_B 0x0B
#define REG_C 0x0C
#define REG_D 0x0D
#define REG_CENTURY 0x32

#define A_UIP 0x80
#define B_SET 0x80
#define B_PIE 0x40
#define B_AIE 0x20
#define B_UIE 0x10
#define B_DM_BINARY 0x04
#define B_24H 0x02
#define C_IRQF 0x80
#define C_UF 0x10
#define D_VRT 0x80

#define HOUR_PM 0x80
/* UIP rises this long before each update (datasheet: 244 µs). */
#define UIP_WINDOW_NS 244000

struct rtc {
	struct vm *vm;
	pthread_mutex_t lock;
	uint8_t cmos[RTC_CMOS_SIZE];
	uint8_t index;
	bool nmi_masked;
	int64_t offset;      /* guest time = host UTC + offset, in seconds */
	int64_t last_second; /* guest second when register C was last read */
};

static bool is_time_reg(unsigned reg)
{
	return reg == REG_SECONDS || reg == REG_MINUTES || reg == REG_HOURS || reg == REG_WEEKDAY ||
	       reg == REG_DAY || reg == REG_MONTH || reg == REG_YEAR || reg == REG_CENTURY;
}

static void rtc_now(const struct rtc *rtc, int64_t *sec, long *nsec)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	*sec = (int64_t)ts.tv_sec + rtc->offset;
	*nsec = ts.tv_nsec;
}

static uint8_t rtc_encode(const struct rtc *rtc, int v)
{
	if (rtc->cmos[REG_B] & B_DM_BINARY)
		return (uint8_t)v;
	return (uint8_t)(((v / 10) % 10) << 4 | (v % 10));
}

/* Hostile values (0xFF in BCD mode) decode to large numbers, which timegm()
 * normalizes; nothing here can overflow. */
static int rtc_decode(const struct rtc *rtc, uint8_t v)
{
	if (rtc->cmos[REG_B] & B_DM_BINARY)
		return v;
	return (v >> 4) * 10 + (v & 0xF);
}

static uint8_t rtc_encode_hour(const struct rtc *rtc, int hour)
{
	if (rtc->cmos[REG_B] & B_24H)
		return rtc_encode(rtc, hour);
	int h12 = hour % 12 == 0 ? 12 : hour % 12;
	return rtc_encode(rtc, h12) | (hour >= 12 ? HOUR_PM : 0);
}

static int rtc_decode_hour(const struct rtc *rtc, uint8_t v)
{
	if (rtc->cmos[REG_B] & B_24H)
		return rtc_decode(rtc, v);
	int h = rtc_decode(rtc, v & (uint8_t)~HOUR_PM) % 12;
	return (v & HOUR_PM) ? h + 12 : h;
}

/* Fills the time registers from the guest's current time. */
static void rtc_latch_time(struct rtc *rtc)
{
	int64_t sec;
	long nsec;
	rtc_now(rtc, &sec, &nsec);
	time_t t = (time_t)sec;
	struct tm tm;
	if (!gmtime_r(&t, &tm))
		return;
	int year = tm.tm_year + 1900;
	rtc->cmos[REG_SECONDS] = rtc_encode(rtc, tm.tm_sec);
	rtc->cmos[REG_MINUTES] = rtc_encode(rtc, tm.tm_min);
	rtc->cmos[REG_HOURS] = rtc_encode_hour(rtc, tm.tm_hour);
	rtc->cmos[REG_WEEKDAY] = rtc_encode(rtc, tm.tm_wday + 1);
	rtc->cmos[REG_DAY] = rtc_encode(rtc, tm.tm_mday);
	rtc->cmos[REG_MONTH] = rtc_encode(rtc, tm.tm_mon + 1);
	rtc->cmos[REG_YEAR] = rtc_encode(rtc, year % 100);
	rtc->cmos[REG_CENTURY] = rtc_encode(rtc, year / 100);
}

/* The time registers (as the guest wrote them) become the new offset. */
static void rtc_commit_time(struct rtc *rtc)
{
	struct tm tm = {0};
	tm.tm_sec = rtc_decode(rtc, rtc->cmos[REG_SECONDS]);
	tm.tm_min = rtc_decode(rtc, rtc->cmos[REG_MINUTES]);
	tm.tm_hour = rtc_decode_hour(rtc, rtc->cmos[REG_HOURS]);
	tm.tm_mday = rtc_decode(rtc, rtc->cmos[REG_DAY]);
	tm.tm_mon = rtc_decode(rtc, rtc->cmos[REG_MONTH]) - 1;
	tm.tm_year = rtc_decode(rtc, rtc->cmos[REG_CENTURY]) * 100 +
	             rtc_decode(rtc, rtc->cmos[REG_YEAR]) - 1900;
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	rtc->offset = (int64_t)t - (int64_t)ts.tv_sec;
}

static uint8_t rtc_read_reg(struct rtc *rtc, unsigned reg)
{
	if (is_time_reg(reg)) {
		/* While SET is on the clock is stopped: the registers hold
		 * what the guest wrote. */
		if (!(rtc->cmos[REG_B] & B_SET))
			rtc_latch_time(rtc);
		return rtc->cmos[reg];
	}
	switch (reg) {
	case REG_A: {
		int64_t sec;
		long nsec;
		rtc_now(rtc, &sec, &nsec);
		bool uip = !(rtc->cmos[REG_B] & B_SET) && nsec >= 1000000000L - UIP_WINDOW_NS;
		return (rtc->cmos[REG_A] & (uint8_t)~A_UIP) | (uip ? A_UIP : 0);
	}
	case REG_C: {
		/* Update-ended is latched lazily: a second boundary passed
		 * since the last read. Reading clears every flag. */
		int64_t sec;
		long nsec;
		rtc_now(rtc, &sec, &nsec);
		uint8_t v = rtc->cmos[REG_C];
		if (!(rtc->cmos[REG_B] & B_SET) && sec != rtc->last_second)
			v |= C_UF;
		if (v & rtc->cmos[REG_B] & (B_PIE | B_AIE | B_UIE))
			v |= C_IRQF;
		rtc->last_second = sec;
		rtc->cmos[REG_C] = 0;
		return v;
	}
	case REG_D: return D_VRT;
	default: return rtc->cmos[reg];
	}
}

static void rtc_write_reg(struct rtc *rtc, unsigned reg, uint8_t v)
{
	if (is_time_reg(reg)) {
		bool running = !(rtc->cmos[REG_B] & B_SET);
		if (running)
			rtc_latch_time(rtc);
		rtc->cmos[reg] = v;
		if (running)
			rtc_commit_time(rtc);
		return;
	}
	switch (reg) {
	case REG_A: rtc->cmos[REG_A] = v & (uint8_t)~A_UIP; break;
	case REG_B: {
		uint8_t old = rtc->cmos[REG_B];
		if ((v & B_SET) && !(old & B_SET))
			rtc_latch_time(rtc); /* freeze what the guest will edit */
		/* The fields were written in the format in force while SET
		 * was on, even if this same write changes the format. */
		if (!(v & B_SET) && (old & B_SET))
			rtc_commit_time(rtc);
		if (v & B_SET)
			v &= (uint8_t)~B_UIE; /* as the datasheet says SET does */
		rtc->cmos[REG_B] = v;
		break;
	}
	case REG_C:
	case REG_D: break; /* read-only */
	default: rtc->cmos[reg] = v; break;
	}
}

static uint64_t rtc_read(void *opaque, uint64_t offset, unsigned size)
{
	struct rtc *rtc = opaque;
	uint8_t v = 0xFF; /* the index register is write-only */
	if (offset == 1) {
		pthread_mutex_lock(&rtc->lock);
		v = rtc_read_reg(rtc, rtc->index);
		pthread_mutex_unlock(&rtc->lock);
	}
	return size > 1 ? (~0ULL << 8) | v : v;
}

static void rtc_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	struct rtc *rtc = opaque;
	pthread_mutex_lock(&rtc->lock);
	if (offset == 0) {
		rtc->index = value & 0x7F;
		rtc->nmi_masked = (value & 0x80) != 0;
		/* A word write to 0x70 also writes 0x71, as two byte writes. */
		if (size > 1)
			rtc_write_reg(rtc, rtc->index, (uint8_t)(value >> 8));
	} else if (offset == 1) {
		rtc_write_reg(rtc, rtc->index, (uint8_t)value);
	}
	pthread_mutex_unlock(&rtc->lock);
}

static const struct bus_ops rtc_ops = {.read = rtc_read, .write = rtc_write};

void rtc_cmos_set(struct rtc *rtc, uint8_t index, uint8_t value)
{
	if (index >= RTC_CMOS_SIZE || index <= REG_D || index == REG_CENTURY)
		return;
	pthread_mutex_lock(&rtc->lock);
	rtc->cmos[index] = value;
	pthread_mutex_unlock(&rtc->lock);
}

struct rtc *rtc_create(struct vm *vm)
{
	struct rtc *rtc = calloc(1, sizeof *rtc);
	if (!rtc) {
		log_error("rtc: out of memory");
		return NULL;
	}
	rtc->vm = vm;
	pthread_mutex_init(&rtc->lock, NULL);
	rtc->cmos[REG_A] = 0x26;  /* 32.768 kHz time base, 1024 Hz rate */
	rtc->cmos[REG_B] = B_24H; /* BCD, 24-hour: what PC firmware sets */
	rtc->cmos[REG_D] = D_VRT;
	if (bus_register(vm->bus, BUS_PIO, RTC_INDEX_PORT, 2, &rtc_ops, rtc, "rtc") < 0) {
		log_error("rtc: cannot claim ports %#x-%#x", RTC_INDEX_PORT, RTC_DATA_PORT);
		pthread_mutex_destroy(&rtc->lock);
		free(rtc);
		return NULL;
	}
	return rtc;
}

void rtc_destroy(struct rtc *rtc)
{
	if (!rtc)
		return;
	bus_unregister(rtc->vm->bus, BUS_PIO, RTC_INDEX_PORT);
	pthread_mutex_destroy(&rtc->lock);
	free(rtc);
}
