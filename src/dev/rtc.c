/* CMOS RTC.
 *
 * The clock is not a counter that ticks: every read of a time register
 * computes the guest's wall-clock time from the machine's guest clock
 * (vm_wall_clock_ns(): host UTC at machine start plus guest time, or a fixed
 * date under --clock icount) plus an offset, so the RTC costs nothing while
 * the guest does not look at it and cannot drift. A guest write of the time
 * only changes the offset.
 *
 * IRQ 8 has three sources: periodic (rate from status A's RS bits), alarm
 * (the alarm registers match the time, 0xC0-0xFF meaning "any") and
 * update-ended (every second boundary). All three are pure functions of the
 * time, so the device follows the contract of the PIT (dev/clock.h): the
 * engine asks for the next deadline of the enabled sources and calls
 * advance(now), which latches PF/AF/UF in register C and holds IRQ 8 high
 * while (C & B & 0x70) is non-zero; reading C clears the flags and lowers
 * the line. A polling guest (interrupts disabled) still sees UF, latched
 * lazily when it reads C. */
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
#define C_PF 0x40
#define C_AF 0x20
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
	int64_t offset;              /* RTC time = the machine's wall clock + offset, in seconds */
	int64_t last_second;         /* RTC second when UF was last latched (or C read) */
	int64_t last_alarm_second;   /* RTC second the alarm last fired in */
	uint64_t last_periodic_tick; /* periodic ticks latched so far */
	uint64_t periodic_hz;        /* the rate PF counts at; 0 when off */
	bool irq_level;
};

static bool is_time_reg(unsigned reg)
{
	return reg == REG_SECONDS || reg == REG_MINUTES || reg == REG_HOURS || reg == REG_WEEKDAY ||
	       reg == REG_DAY || reg == REG_MONTH || reg == REG_YEAR || reg == REG_CENTURY;
}

/* The RTC's time at guest time now_ns. */
static void rtc_time_at(const struct rtc *rtc, uint64_t now_ns, int64_t *sec, long *nsec)
{
	int64_t wall = rtc->vm->wall_base_ns + (int64_t)now_ns;
	int64_t s = wall / (int64_t)CLOCK_NS_PER_SEC, ns = wall % (int64_t)CLOCK_NS_PER_SEC;
	if (ns < 0) {
		ns += (int64_t)CLOCK_NS_PER_SEC;
		s--;
	}
	*sec = s + rtc->offset;
	*nsec = (long)ns;
}

static void rtc_now(const struct rtc *rtc, int64_t *sec, long *nsec)
{
	rtc_time_at(rtc, vm_clock_now(rtc->vm), sec, nsec);
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
	int64_t sec;
	long nsec;
	rtc->offset = 0;
	rtc_now(rtc, &sec, &nsec);
	rtc->offset = (int64_t)t - sec;
	rtc->last_second = rtc->last_alarm_second = t;
}

/* Periodic interrupt rate from status A's rate-select bits (32.768 kHz time
 * base): 0 is off, 1 and 2 are the datasheet's 256 and 128 Hz. */
static uint64_t rtc_periodic_hz(const struct rtc *rtc)
{
	unsigned rs = rtc->cmos[REG_A] & 0x0F;
	if (rs == 0)
		return 0;
	if (rs < 3)
		rs += 7;
	return 32768u >> (rs - 1);
}

static void rtc_update_irq(struct rtc *rtc)
{
	bool level = (rtc->cmos[REG_C] & rtc->cmos[REG_B] & (B_PIE | B_AIE | B_UIE)) != 0;
	if (level)
		rtc->cmos[REG_C] |= C_IRQF;
	if (atomic_load(&rtc->vm->hpet_legacy_route)) {
		/* IRQ 8 is HPET timer 1's (LegacyReplacement), which lowered it
		 * when it took it: the RTC's output goes nowhere until the route
		 * is off and the next update drives the line again. */
		rtc->irq_level = false;
		return;
	}
	if (level != rtc->irq_level) {
		rtc->irq_level = level;
		vm_set_irq(rtc->vm, RTC_GSI, level);
	}
}

static bool alarm_field_matches(uint8_t alarm, uint8_t now)
{
	return alarm >= 0xC0 || alarm == now; /* 0xC0-0xFF: don't care */
}

/* Latch the flags of every event due at now_ns and update IRQ 8. */
static void rtc_latch_events(struct rtc *rtc, uint64_t now_ns)
{
	if (rtc->cmos[REG_B] & B_SET)
		return; /* the clock is stopped */
	int64_t sec;
	long nsec;
	rtc_time_at(rtc, now_ns, &sec, &nsec);
	if ((rtc->cmos[REG_B] & B_UIE) && sec != rtc->last_second) {
		rtc->cmos[REG_C] |= C_UF;
		rtc->last_second = sec;
	}
	if ((rtc->cmos[REG_B] & B_AIE) && sec != rtc->last_alarm_second) {
		rtc_latch_time(rtc);
		uint8_t h = rtc->cmos[REG_HOURS_ALARM], hn = rtc->cmos[REG_HOURS];
		if (alarm_field_matches(rtc->cmos[REG_SECONDS_ALARM], rtc->cmos[REG_SECONDS]) &&
		    alarm_field_matches(rtc->cmos[REG_MINUTES_ALARM], rtc->cmos[REG_MINUTES]) &&
		    alarm_field_matches(h, hn)) {
			rtc->cmos[REG_C] |= C_AF;
			rtc->last_alarm_second = sec;
		}
	}
	uint64_t hz = rtc_periodic_hz(rtc);
	if (hz != rtc->periodic_hz) {
		/* A new rate starts counting from now. */
		rtc->periodic_hz = hz;
		rtc->last_periodic_tick = hz ? clock_ticks_at(now_ns, hz) : 0;
	} else if (hz) {
		uint64_t ticks = clock_ticks_at(now_ns, hz);
		if (ticks != rtc->last_periodic_tick) {
			rtc->cmos[REG_C] |= C_PF;
			rtc->last_periodic_tick = ticks;
		}
	}
	rtc_update_irq(rtc);
}

static uint64_t rtc_next_deadline_ns(void *opaque)
{
	struct rtc *rtc = opaque;
	pthread_mutex_lock(&rtc->lock);
	uint64_t d = CLOCK_NEVER;
	uint8_t b = rtc->cmos[REG_B];
	if (!(b & B_SET)) {
		uint64_t now = vm_clock_now(rtc->vm);
		if (b & (B_UIE | B_AIE)) {
			int64_t sec;
			long nsec;
			rtc_time_at(rtc, now, &sec, &nsec);
			d = clock_deadline_add(now, CLOCK_NS_PER_SEC - (uint64_t)nsec);
		}
		uint64_t hz = rtc_periodic_hz(rtc);
		if ((b & B_PIE) && hz) {
			uint64_t next = hz == rtc->periodic_hz ? rtc->last_periodic_tick + 1
			                                       : clock_ticks_at(now, hz) + 1;
			d = clock_deadline_min(d, clock_ns_of_tick(next, hz));
		}
	}
	pthread_mutex_unlock(&rtc->lock);
	return d;
}

static void rtc_advance(void *opaque, uint64_t now_ns)
{
	struct rtc *rtc = opaque;
	pthread_mutex_lock(&rtc->lock);
	rtc_latch_events(rtc, now_ns);
	pthread_mutex_unlock(&rtc->lock);
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
		rtc_latch_events(rtc, vm_clock_now(rtc->vm));
		uint8_t v = rtc->cmos[REG_C];
		if (!(rtc->cmos[REG_B] & B_SET) && sec != rtc->last_second)
			v |= C_UF;
		if (v & rtc->cmos[REG_B] & (B_PIE | B_AIE | B_UIE))
			v |= C_IRQF;
		rtc->last_second = sec;
		rtc->cmos[REG_C] = 0;
		rtc_update_irq(rtc);
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
	case REG_A:
		rtc->cmos[REG_A] = v & (uint8_t)~A_UIP;
		rtc_latch_events(rtc, vm_clock_now(rtc->vm)); /* a new periodic rate */
		break;
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
		rtc_update_irq(rtc); /* enabling a flag already set raises IRQ 8 */
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
	bool timing = rtc->index == REG_A || rtc->index == REG_B;
	pthread_mutex_unlock(&rtc->lock);
	if (timing)
		vm_timers_changed(rtc->vm); /* an interrupt source may have started */
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
	int64_t sec;
	long nsec;
	rtc_now(rtc, &sec, &nsec);
	rtc->last_second = rtc->last_alarm_second = sec;
	if (vm_add_timer(vm, &(struct vm_timer){rtc_next_deadline_ns, rtc_advance, rtc}) < 0 ||
	    bus_register(vm->bus, BUS_PIO, RTC_INDEX_PORT, 2, &rtc_ops, rtc, "rtc") < 0) {
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
