/* HPET.
 *
 * Time model. Nothing ticks: while the block is enabled the main counter is
 * `counter + ticks since epoch_ns` (HPET_HZ, from the guest clock), and
 * while it is halted it is just `counter`. A timer's next match is kept as
 * an index on that tick axis (fire_tick: the number of ticks since
 * epoch_ns at which the counter reaches the comparator), computed when the
 * guest programs it, so finding the next deadline costs a comparison and
 * the engine can sleep until it (the PIT's contract, dev/clock.h).
 *
 * A match is the counter *becoming* equal to the comparator, as in
 * hardware: a comparator written at or behind the counter matches only
 * after the counter wraps (2^32 ticks, 43 s, in 32-bit mode; never in
 * 64-bit mode). Linux's one-shot code reads the counter back after
 * programming for exactly this reason.
 *
 * Catching up: hpet_sync(now) processes every match up to now, whoever
 * calls it (the engine's advance, or any register access, so a guest that
 * polls the status register or reads a periodic comparator sees the
 * current state). Matches missed while the engine was busy are coalesced
 * into one interrupt, and a periodic comparator jumps over the periods it
 * missed, as a chipset's would if the guest masked the interrupt.
 *
 * Interrupt lines: `lines` is the set of GSIs this device holds high (level
 * mode: status bit set, interrupt enabled, block enabled); an edge-mode
 * match is a pulse (raise, lower) unless a level source already holds the
 * line. Taking the LegacyReplacement route first lowers GSIs 0 and 8, so a
 * level the PIT or RTC left there cannot swallow the first edge.
 *
 * Locking: one mutex; vm_set_irq() is called with it held (as the RTC
 * does), vm_timers_changed() after it is released. */
#include "dev/hpet.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "util/log.h"
#include "vm.h"

#define TICK_NEVER UINT64_MAX
#define WRAP32 (1ULL << 32)

/* Timer configuration bits the guest can change (TYPE only where the timer
 * can be periodic; the route separately, only to a capable pin). */
#define TN_WRITABLE (HPET_TN_INT_TYPE_LEVEL | HPET_TN_INT_ENB | HPET_TN_VAL_SET | HPET_TN_32MODE)
#define CFG_WRITABLE (HPET_CFG_ENABLE | HPET_CFG_LEG_RT)

struct hpet_timer {
	uint64_t config;      /* Tn_CONF: the writable bits (capabilities are added on read) */
	uint64_t cmp;         /* comparator; the accumulator in periodic mode */
	uint64_t period;      /* periodic mode: the increment, the value last written */
	uint64_t fire_tick;   /* next match, in ticks since epoch_ns; TICK_NEVER */
	uint64_t deadline_ns; /* when that match has an effect worth waking for */
};

struct hpet {
	struct vm *vm;
	pthread_mutex_t lock;
	uint64_t config;   /* ENABLE_CNF, LEG_RT_CNF */
	uint64_t status;   /* Tn_INT_STS bits (level mode) */
	uint64_t counter;  /* halted: the counter; enabled: its value at epoch_ns */
	uint64_t epoch_ns; /* guest time the counter last started counting */
	uint64_t last_ns;  /* latest time seen, so the counter never runs back */
	uint32_t lines;    /* GSIs (below 32) this device holds high */
	bool legacy_owned; /* GSIs 0 and 8 are ours (LegacyReplacement) */
	struct hpet_timer t[HPET_TIMERS];
};

static bool hpet_enabled(const struct hpet *h)
{
	return (h->config & HPET_CFG_ENABLE) != 0;
}

static uint64_t timer_caps(unsigned n)
{
	uint64_t caps = (uint64_t)HPET_ROUTE_CAP << HPET_TN_INT_ROUTE_CAP_SHIFT | HPET_TN_SIZE_CAP;
	if (n == 0)
		caps |= HPET_TN_PER_INT_CAP;
	return caps;
}

static bool timer_periodic(const struct hpet_timer *t)
{
	return (t->config & HPET_TN_TYPE_PERIODIC) != 0;
}

static bool timer_32bit(const struct hpet_timer *t)
{
	return (t->config & HPET_TN_32MODE) != 0;
}

/* The GSI timer n interrupts on, or -1 when it has none (a route the
 * timer cannot use, such as the reset value 0). */
static int timer_gsi(const struct hpet *h, unsigned n)
{
	if (h->config & HPET_CFG_LEG_RT) {
		if (n == 0)
			return HPET_LEGACY_TIMER0_GSI;
		if (n == 1)
			return HPET_LEGACY_TIMER1_GSI;
	}
	unsigned route =
	    (unsigned)(h->t[n].config & HPET_TN_INT_ROUTE_MASK) >> HPET_TN_INT_ROUTE_SHIFT;
	return (HPET_ROUTE_CAP >> route) & 1 ? (int)route : -1;
}

/* Ticks since epoch_ns at guest time now (the block must be enabled). */
static uint64_t elapsed_ticks(const struct hpet *h, uint64_t now)
{
	return now > h->epoch_ns ? clock_ticks_at(now - h->epoch_ns, HPET_HZ) : 0;
}

/* The next match of timer n strictly after tick e (the counter then reads
 * counter + e). */
static void timer_arm(struct hpet *h, unsigned n, uint64_t e)
{
	struct hpet_timer *t = &h->t[n];
	t->fire_tick = TICK_NEVER;
	if (!hpet_enabled(h))
		return;
	uint64_t c = h->counter + e, d;
	if (timer_32bit(t)) {
		d = (uint32_t)((uint32_t)t->cmp - (uint32_t)c);
		if (d == 0)
			d = WRAP32;
	} else {
		d = t->cmp - c;
		if (d == 0)
			return; /* the next match is 2^64 ticks away */
	}
	if (d < TICK_NEVER - e)
		t->fire_tick = e + d;
}

/* Is the line of timer n held high (level mode)? */
static bool timer_level_asserted(const struct hpet *h, unsigned n)
{
	const struct hpet_timer *t = &h->t[n];
	return hpet_enabled(h) && (t->config & HPET_TN_INT_TYPE_LEVEL) &&
	       (t->config & HPET_TN_INT_ENB) && (h->status >> n & 1) && timer_gsi(h, n) >= 0;
}

/* Drive every line to what the timers want now. */
static void update_lines(struct hpet *h)
{
	uint32_t want = 0;
	for (unsigned n = 0; n < HPET_TIMERS; n++)
		if (timer_level_asserted(h, n))
			want |= 1u << timer_gsi(h, n);
	uint32_t changed = want ^ h->lines;
	h->lines = want;
	for (unsigned gsi = 0; changed; gsi++, changed >>= 1)
		if (changed & 1)
			vm_set_irq(h->vm, gsi, (want >> gsi) & 1);
}

/* Timer n matched (once or more, coalesced) by tick e. */
static void timer_fire(struct hpet *h, unsigned n, uint64_t e)
{
	struct hpet_timer *t = &h->t[n];
	if (timer_periodic(t) && t->period) {
		/* The accumulator gains one period per match, past ones too. */
		uint64_t missed = (e - t->fire_tick) / t->period + 1;
		t->cmp += (uint64_t)((unsigned __int128)missed * t->period);
		if (timer_32bit(t))
			t->cmp = (uint32_t)t->cmp;
	}
	timer_arm(h, n, e);
	if (t->config & HPET_TN_INT_TYPE_LEVEL) {
		/* The status bit is set whether or not the interrupt is enabled. */
		h->status |= 1ULL << n;
		return; /* update_lines() raises the line */
	}
	int gsi = timer_gsi(h, n);
	if ((t->config & HPET_TN_INT_ENB) && gsi >= 0 && !(h->lines >> gsi & 1)) {
		vm_set_irq(h->vm, (unsigned)gsi, 1);
		vm_set_irq(h->vm, (unsigned)gsi, 0);
	}
}

/* When timer n's next match has an effect the engine must deliver: an
 * interrupt (level: only if it is not already asserted). Matches without
 * one (interrupt disabled) are worked out lazily by hpet_sync(). */
static uint64_t timer_deadline(const struct hpet *h, unsigned n)
{
	const struct hpet_timer *t = &h->t[n];
	if (!hpet_enabled(h) || t->fire_tick == TICK_NEVER || !(t->config & HPET_TN_INT_ENB) ||
	    timer_gsi(h, n) < 0)
		return CLOCK_NEVER;
	if ((t->config & HPET_TN_INT_TYPE_LEVEL) && (h->status >> n & 1))
		return CLOCK_NEVER;
	return clock_deadline_add(h->epoch_ns, clock_ns_of_tick(t->fire_tick, HPET_HZ));
}

static void update_deadlines(struct hpet *h)
{
	for (unsigned n = 0; n < HPET_TIMERS; n++)
		h->t[n].deadline_ns = timer_deadline(h, n);
}

static uint64_t next_deadline_locked(const struct hpet *h)
{
	uint64_t d = CLOCK_NEVER;
	for (unsigned n = 0; n < HPET_TIMERS; n++)
		d = clock_deadline_min(d, h->t[n].deadline_ns);
	return d;
}

/* Process every match up to now; returns the tick count now (0 halted). */
static uint64_t hpet_sync(struct hpet *h, uint64_t now)
{
	if (now < h->last_ns)
		now = h->last_ns;
	h->last_ns = now;
	if (!hpet_enabled(h))
		return 0;
	uint64_t e = elapsed_ticks(h, now);
	for (unsigned n = 0; n < HPET_TIMERS; n++)
		if (h->t[n].fire_tick <= e)
			timer_fire(h, n, e);
	update_lines(h);
	update_deadlines(h);
	return e;
}

static uint64_t hpet_counter_at(const struct hpet *h, uint64_t e)
{
	return hpet_enabled(h) ? h->counter + e : h->counter;
}

/* ---- the vm_timer ---- */

static uint64_t hpet_next_deadline_ns(void *opaque)
{
	struct hpet *h = opaque;
	pthread_mutex_lock(&h->lock);
	uint64_t d = next_deadline_locked(h);
	pthread_mutex_unlock(&h->lock);
	return d;
}

static void hpet_advance(void *opaque, uint64_t now_ns)
{
	struct hpet *h = opaque;
	pthread_mutex_lock(&h->lock);
	hpet_sync(h, now_ns);
	pthread_mutex_unlock(&h->lock);
}

/* ---- registers ---- */

static uint64_t reg_read(struct hpet *h, unsigned reg, uint64_t e)
{
	switch (reg) {
	case HPET_REG_CAP: return HPET_PERIOD_FS << 32 | HPET_CAP_ID;
	case HPET_REG_CONFIG: return h->config;
	case HPET_REG_STATUS: return h->status;
	case HPET_REG_COUNTER: return hpet_counter_at(h, e);
	}
	if (reg < HPET_REG_TN_CONFIG(0) || reg >= HPET_REG_TN_CONFIG(HPET_TIMERS))
		return 0; /* reserved */
	unsigned n = (reg - HPET_REG_TN_CONFIG(0)) / 0x20;
	switch ((reg - HPET_REG_TN_CONFIG(0)) % 0x20) {
	case 0x00: return h->t[n].config | timer_caps(n);
	case 0x08: return h->t[n].cmp;
	default: return 0; /* FSB route: not supported */
	}
}

static uint64_t merge(uint64_t old, uint64_t value, uint64_t mask)
{
	return (old & ~mask) | (value & mask);
}

static void write_config(struct hpet *h, uint64_t value, uint64_t mask, uint64_t e)
{
	uint64_t old = h->config;
	h->config = merge(old, value, mask) & CFG_WRITABLE;
	uint64_t now = h->last_ns;
	if ((old ^ h->config) & HPET_CFG_ENABLE) {
		if (h->config & HPET_CFG_ENABLE) {
			h->epoch_ns = now; /* count on from the halted value */
			for (unsigned n = 0; n < HPET_TIMERS; n++)
				timer_arm(h, n, 0);
		} else {
			h->counter += e; /* halt where it is */
			for (unsigned n = 0; n < HPET_TIMERS; n++)
				h->t[n].fire_tick = TICK_NEVER;
		}
	}
	bool legacy = (h->config & HPET_CFG_LEG_RT) != 0;
	if (legacy && !h->legacy_owned) {
		/* Take ISA IRQ 0 and 8 over: first cut the PIT and the RTC off,
		 * then lower what they may have left high. */
		atomic_store(&h->vm->hpet_legacy_route, true);
		h->legacy_owned = true;
		vm_set_irq(h->vm, HPET_LEGACY_TIMER0_GSI, 0);
		vm_set_irq(h->vm, HPET_LEGACY_TIMER1_GSI, 0);
		h->lines &= ~(1u << HPET_LEGACY_TIMER0_GSI | 1u << HPET_LEGACY_TIMER1_GSI);
	}
	update_lines(h);
	if (!legacy && h->legacy_owned) {
		/* Lines 0 and 8 are low again (update_lines); hand them back. */
		h->legacy_owned = false;
		atomic_store(&h->vm->hpet_legacy_route, false);
	}
}

static void write_timer_config(struct hpet *h, unsigned n, uint64_t value, uint64_t mask,
                               uint64_t e)
{
	struct hpet_timer *t = &h->t[n];
	uint64_t v = merge(t->config | timer_caps(n), value, mask);
	uint64_t writable = TN_WRITABLE | (n == 0 ? HPET_TN_TYPE_PERIODIC : 0);
	uint64_t cfg = (t->config & ~writable) | (v & writable);
	/* A route the timer cannot use is not taken: the old one reads back. */
	unsigned route = (unsigned)(v & HPET_TN_INT_ROUTE_MASK) >> HPET_TN_INT_ROUTE_SHIFT;
	if ((HPET_ROUTE_CAP >> route) & 1)
		cfg = (cfg & ~(uint64_t)HPET_TN_INT_ROUTE_MASK) | (v & HPET_TN_INT_ROUTE_MASK);
	if (!(cfg & HPET_TN_INT_TYPE_LEVEL))
		h->status &= ~(1ULL << n); /* edge mode has no status */
	t->config = cfg;
	if (timer_32bit(t)) {
		t->cmp = (uint32_t)t->cmp;
		t->period = (uint32_t)t->period;
	}
	timer_arm(h, n, e);
}

static void write_timer_cmp(struct hpet *h, unsigned n, uint64_t value, uint64_t mask, uint64_t e)
{
	struct hpet_timer *t = &h->t[n];
	/* Periodic: a write sets the period, and with VAL_SET the
	 * accumulator too (what Linux's two writes rely on). One-shot: the
	 * comparator. VAL_SET clears itself after one write. */
	if (!timer_periodic(t) || (t->config & HPET_TN_VAL_SET))
		t->cmp = merge(t->cmp, value, mask);
	if (timer_periodic(t))
		t->period = merge(t->period, value, mask);
	t->config &= ~(uint64_t)HPET_TN_VAL_SET;
	if (timer_32bit(t)) {
		t->cmp = (uint32_t)t->cmp;
		t->period = (uint32_t)t->period;
	}
	timer_arm(h, n, e);
}

/* A write of the bytes `mask` selects of the 64-bit register at reg. */
static void reg_write(struct hpet *h, unsigned reg, uint64_t value, uint64_t mask, uint64_t e)
{
	switch (reg) {
	case HPET_REG_CONFIG: write_config(h, value, mask, e); return;
	case HPET_REG_STATUS:
		h->status &= ~(value & mask);
		update_lines(h);
		return;
	case HPET_REG_COUNTER:
		/* Writable only while halted, as the specification asks. */
		if (!hpet_enabled(h))
			h->counter = merge(h->counter, value, mask);
		return;
	}
	if (reg < HPET_REG_TN_CONFIG(0) || reg >= HPET_REG_TN_CONFIG(HPET_TIMERS))
		return; /* capabilities and reserved registers */
	unsigned n = (reg - HPET_REG_TN_CONFIG(0)) / 0x20;
	switch ((reg - HPET_REG_TN_CONFIG(0)) % 0x20) {
	case 0x00: write_timer_config(h, n, value, mask, e); break;
	case 0x08: write_timer_cmp(h, n, value, mask, e); break;
	default: break; /* FSB route: not supported */
	}
	update_lines(h);
}

/* The bus hands over offsets inside the block; an access may still be
 * misaligned or run past a register (or the block), so it is taken byte
 * lane by byte lane over the 64-bit registers it covers. */
static uint64_t hpet_read(void *opaque, uint64_t offset, unsigned size)
{
	struct hpet *h = opaque;
	if (size > 8)
		size = 8;
	uint64_t v = 0;
	pthread_mutex_lock(&h->lock);
	uint64_t e = hpet_sync(h, vm_clock_now(h->vm));
	for (unsigned i = 0; i < size;) {
		uint64_t off = offset + i;
		if (off >= HPET_MMIO_SIZE)
			break;
		unsigned reg = (unsigned)off & ~7u, lane = (unsigned)off & 7u;
		unsigned n = 8 - lane < size - i ? 8 - lane : size - i;
		uint64_t r = reg_read(h, reg, e) >> (8 * lane);
		uint64_t bytes = n == 8 ? r : r & ((1ULL << (8 * n)) - 1);
		v |= bytes << (8 * i);
		i += n;
	}
	pthread_mutex_unlock(&h->lock);
	return v;
}

static void hpet_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	struct hpet *h = opaque;
	if (size > 8)
		size = 8;
	pthread_mutex_lock(&h->lock);
	uint64_t before = next_deadline_locked(h);
	uint64_t e = hpet_sync(h, vm_clock_now(h->vm));
	for (unsigned i = 0; i < size;) {
		uint64_t off = offset + i;
		if (off >= HPET_MMIO_SIZE)
			break;
		unsigned reg = (unsigned)off & ~7u, lane = (unsigned)off & 7u;
		unsigned n = 8 - lane < size - i ? 8 - lane : size - i;
		uint64_t lanes = n == 8 ? ~0ULL : ((1ULL << (8 * n)) - 1);
		uint64_t part = (value >> (8 * i)) & lanes;
		reg_write(h, reg, part << (8 * lane), lanes << (8 * lane), e);
		/* A write may have started or halted the counter. */
		e = hpet_enabled(h) ? elapsed_ticks(h, h->last_ns) : 0;
		i += n;
	}
	update_deadlines(h);
	bool moved = next_deadline_locked(h) != before;
	pthread_mutex_unlock(&h->lock);
	if (moved)
		vm_timers_changed(h->vm);
}

static const struct bus_ops hpet_ops = {.read = hpet_read, .write = hpet_write};

struct hpet *hpet_create(struct vm *vm)
{
	struct hpet *h = calloc(1, sizeof *h);
	if (!h) {
		log_error("hpet: out of memory");
		return NULL;
	}
	h->vm = vm;
	pthread_mutex_init(&h->lock, NULL);
	for (unsigned n = 0; n < HPET_TIMERS; n++) {
		h->t[n].cmp = ~0ULL; /* the specification's reset value */
		h->t[n].fire_tick = TICK_NEVER;
		h->t[n].deadline_ns = CLOCK_NEVER;
	}
	if (bus_register(vm->bus, BUS_MMIO, HPET_BASE, HPET_MMIO_SIZE, &hpet_ops, h, "hpet") < 0) {
		log_error("hpet: cannot claim MMIO %#llx-%#llx", HPET_BASE,
		          HPET_BASE + HPET_MMIO_SIZE - 1);
		goto fail;
	}
	/* Last: a registered vm_timer cannot be taken back. */
	if (vm_add_timer(vm, &(struct vm_timer){hpet_next_deadline_ns, hpet_advance, h}) < 0) {
		log_error("hpet: no room for another machine timer (VM_MAX_TIMERS)");
		bus_unregister(vm->bus, BUS_MMIO, HPET_BASE);
		goto fail;
	}
	return h;
fail:
	pthread_mutex_destroy(&h->lock);
	free(h);
	return NULL;
}

void hpet_destroy(struct hpet *h)
{
	if (!h)
		return;
	bus_unregister(h->vm->bus, BUS_MMIO, HPET_BASE);
	if (h->legacy_owned)
		atomic_store(&h->vm->hpet_legacy_route, false);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
