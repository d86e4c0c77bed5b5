/* Guest time for the software timers (PIT, LAPIC timer) and the helpers that
 * turn it into counter ticks and back.
 *
 * The timer devices never read a host clock or start a host timer: the engine
 * gives them a guest_clock, asks them for their next deadline and tells them
 * when time has passed (*_next_deadline_ns(), *_advance(now)). The clock may
 * be host monotonic time (guest_clock_host()) or something derived from the
 * instruction count, which makes a run reproducible; the devices cannot tell.
 *
 * Conversions are exact: a counter at `hz` that started at time 0 has made
 * clock_ticks_at(t, hz) ticks at time t, and clock_ns_of_tick(n, hz) is the
 * first time at which it has made n ticks, so a deadline computed with one is
 * always met by the other, with no drift over long runs. */
#ifndef RINGFOLD_DEV_CLOCK_H
#define RINGFOLD_DEV_CLOCK_H

#include <stdint.h>
#include <time.h>

#define CLOCK_NS_PER_SEC 1000000000ULL
/* "No deadline": what *_next_deadline_ns() returns when nothing is armed. */
#define CLOCK_NEVER UINT64_MAX

struct guest_clock {
	/* Nanoseconds of guest time; must never go backwards. */
	uint64_t (*now_ns)(void *ctx);
	void *ctx;
};

static inline uint64_t guest_clock_now(const struct guest_clock *c)
{
	return c->now_ns(c->ctx);
}

static inline uint64_t guest_clock_host_now(void *ctx)
{
	(void)ctx;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * CLOCK_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* Host monotonic time: the default clock. */
static inline struct guest_clock guest_clock_host(void)
{
	return (struct guest_clock){guest_clock_host_now, NULL};
}

/* A clock that moves only when its owner sets `ns`: unit tests, fuzzing, and
 * the engine's --clock icount mode (ns = instructions * ns_per_insn). */
struct manual_clock {
	uint64_t ns;
};

static inline uint64_t manual_clock_now(void *ctx)
{
	return ((const struct manual_clock *)ctx)->ns;
}

static inline struct guest_clock manual_clock_as_guest_clock(struct manual_clock *m)
{
	return (struct guest_clock){manual_clock_now, m};
}

/* Whole ticks of a `hz` counter in `ns` nanoseconds (rounded down). */
static inline uint64_t clock_ticks_at(uint64_t ns, uint64_t hz)
{
	return (uint64_t)((unsigned __int128)ns * hz / CLOCK_NS_PER_SEC);
}

/* The first nanosecond at which a `hz` counter has made `ticks` ticks
 * (rounded up); CLOCK_NEVER if that lies beyond 64 bits of nanoseconds. */
static inline uint64_t clock_ns_of_tick(uint64_t ticks, uint64_t hz)
{
	if (hz == 0)
		return CLOCK_NEVER;
	unsigned __int128 ns = ((unsigned __int128)ticks * CLOCK_NS_PER_SEC + hz - 1) / hz;
	return ns >= CLOCK_NEVER ? CLOCK_NEVER : (uint64_t)ns;
}

/* base + delta, saturating at CLOCK_NEVER. */
static inline uint64_t clock_deadline_add(uint64_t base, uint64_t delta)
{
	return delta >= CLOCK_NEVER - base ? CLOCK_NEVER : base + delta;
}

static inline uint64_t clock_deadline_min(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

#endif
