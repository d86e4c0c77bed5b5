/* 8254 PIT, after the Intel 8254 datasheet.
 *
 * A channel does not store its counter: it stores when it started counting
 * (start_ns, in guest time) and how many ticks it had made before that
 * (base_ticks, for a gate that paused it), so the elapsed tick count d at any
 * time t is base_ticks + clock_ticks_at(t - start_ns). The counter value and
 * the output level are pure functions of d and the mode:
 *
 *   mode 0  interrupt on terminal count   out = d >= N       value N - d (wraps)
 *   mode 1  hardware one-shot             as 0, after a gate rising edge
 *   mode 2  rate generator                out low when d % N == N - 1
 *   mode 3  square wave                   out high for the first (N+1)/2 of N
 *   mode 4  software strobe               out low when d == N
 *   mode 5  hardware strobe               as 4, after a gate rising edge
 *
 * N is the programmed count (0 means 65536, or 10000 in BCD). The count is
 * taken to be loaded at the moment the guest writes it; the real part loads
 * it at the next CLK edge, a difference of under one tick that no guest can
 * measure against a clock it does not have. */
#include "dev/pit.h"

#include <stdbool.h>
#include <stdlib.h>

#include "bus.h"
#include "util/log.h"
#include "util/mutex.h"

#define RW_LATCH 0
#define RW_LSB 1
#define RW_MSB 2
#define RW_WORD 3

#define REFRESH_TICKS 18 /* channel 1's count on a PC: one refresh per ~15 us */

struct pit_channel {
	uint32_t n;     /* effective count in ticks, 1..65536 */
	uint16_t count; /* as written (binary or BCD) */
	uint8_t mode, rw;
	bool bcd;
	bool gate;
	bool loaded;   /* a complete count was written since the control word */
	bool armed;    /* modes 1 and 5: the gate has triggered */
	bool counting; /* ticks accumulate */
	uint64_t base_ticks, start_ns;

	/* Access state machines. */
	bool write_msb_next, read_msb_next;
	uint8_t write_lsb;
	bool count_latched, latch_msb_next;
	uint16_t latched_count;
	bool status_latched;
	uint8_t status;
};

struct pit {
	struct pit_channel ch[3];
	uint8_t port_b;   /* bits 0-3 as written */
	int irq_level;    /* last level given to set_irq */
	uint64_t last_ns; /* time of the last sync: edges up to here are delivered */
	struct guest_clock clock;
	struct pit_config cfg;
	pthread_mutex_t own_lock;
	pthread_mutex_t *lock;
	int registered;
};

static uint32_t bcd_to_bin(uint16_t v)
{
	/* Digits above 9 are not BCD; the part's behaviour is undefined, and
	 * clamping each digit keeps the count in range. */
	uint32_t r = 0;
	for (int shift = 12; shift >= 0; shift -= 4) {
		uint32_t digit = (v >> shift) & 0xf;
		r = r * 10 + (digit > 9 ? 9 : digit);
	}
	return r;
}

static uint16_t bin_to_bcd(uint32_t v)
{
	uint16_t r = 0;
	for (int shift = 0; shift < 16; shift += 4) {
		r |= (uint16_t)((v % 10) << shift);
		v /= 10;
	}
	return r;
}

static uint64_t elapsed_ticks(const struct pit_channel *c, uint64_t now)
{
	if (!c->counting || now <= c->start_ns)
		return c->base_ticks;
	return c->base_ticks + clock_ticks_at(now - c->start_ns, PIT_HZ);
}

/* Modes 1 and 5 count only once the gate has triggered them. */
static bool is_running(const struct pit_channel *c)
{
	if (!c->loaded)
		return false;
	return (c->mode != 1 && c->mode != 5) || c->armed;
}

static int channel_out(const struct pit_channel *c, uint64_t now)
{
	if (!c->loaded)
		return c->mode == 0 ? 0 : 1;
	if (!is_running(c))
		return 1;
	uint64_t d = elapsed_ticks(c, now), n = c->n;
	switch (c->mode) {
	case 0:
	case 1: return d >= n;
	case 2: return !c->gate || d % n != n - 1;
	case 3: return !c->gate || d % n < (n + 1) / 2;
	default: /* 4, 5 */ return d != n;
	}
}

static uint16_t channel_value(const struct pit_channel *c, uint64_t now)
{
	uint32_t wrap = c->bcd ? 10000 : 65536;
	uint64_t n = c->n, v;
	if (!is_running(c)) {
		v = n % wrap;
	} else {
		uint64_t d = elapsed_ticks(c, now);
		switch (c->mode) {
		case 2: v = n - d % n; break;
		case 3: {
			uint64_t h = d % n, half = (n + 1) / 2;
			v = n - 2 * (h < half ? h : h - half);
			break;
		}
		default: /* 0, 1, 4, 5: count down through zero and wrap */
			v = (n + wrap - d % wrap) % wrap;
			break;
		}
		v %= wrap;
	}
	return c->bcd ? bin_to_bcd((uint32_t)v) : (uint16_t)v;
}

/* Guest time of the first rising output edge strictly after `now`. */
static uint64_t next_rising_edge(const struct pit_channel *c, uint64_t now)
{
	if (!is_running(c) || !c->counting)
		return CLOCK_NEVER;
	uint64_t d = elapsed_ticks(c, now), n = c->n, e;
	switch (c->mode) {
	case 0:
	case 1:
		if (d >= n)
			return CLOCK_NEVER;
		e = n;
		break;
	case 2:
	case 3:
		if (!c->gate)
			return CLOCK_NEVER;
		e = (d / n + 1) * n;
		break;
	default: /* 4, 5: low for the tick at N, high again at N + 1 */
		if (d >= n + 1)
			return CLOCK_NEVER;
		e = n + 1;
		break;
	}
	return clock_deadline_add(c->start_ns, clock_ns_of_tick(e - c->base_ticks, PIT_HZ));
}

static uint64_t pit_now(struct pit *pit)
{
	uint64_t now = guest_clock_now(&pit->clock);
	return now < pit->last_ns ? pit->last_ns : now;
}

static void raise_irq(struct pit *pit, int level)
{
	if (pit->cfg.set_irq)
		pit->cfg.set_irq(pit->cfg.opaque, level);
}

/* Bring IRQ 0 up to date with channel 0 at `now`: a rising edge since the
 * last sync becomes a pulse ending at the current level. */
static void pit_sync(struct pit *pit, uint64_t now)
{
	if (now < pit->last_ns)
		now = pit->last_ns;
	const struct pit_channel *c = &pit->ch[0];
	bool edge = next_rising_edge(c, pit->last_ns) <= now;
	int level = channel_out(c, now);
	if (edge) {
		raise_irq(pit, !level);
		raise_irq(pit, level);
	} else if (level != pit->irq_level) {
		raise_irq(pit, level);
	}
	pit->irq_level = level;
	pit->last_ns = now;
}

static void start_counting(struct pit_channel *c, uint64_t now)
{
	c->base_ticks = 0;
	c->start_ns = now;
	c->counting = true;
}

static void set_gate(struct pit_channel *c, bool gate, uint64_t now)
{
	if (gate == c->gate)
		return;
	switch (c->mode) {
	case 0:
	case 4: /* gate low pauses counting */
		if (!gate) {
			c->base_ticks = elapsed_ticks(c, now);
			c->counting = false;
		} else if (c->loaded) {
			c->start_ns = now;
			c->counting = true;
		}
		break;
	case 2:
	case 3: /* gate low stops and forces out high; rising edge reloads */
		if (!gate)
			c->counting = false;
		else if (c->loaded)
			start_counting(c, now);
		break;
	default: /* 1, 5: rising edge (re)triggers */
		if (gate && c->loaded) {
			c->armed = true;
			start_counting(c, now);
		}
		break;
	}
	c->gate = gate;
}

static void load_count(struct pit_channel *c, uint16_t count, uint64_t now)
{
	c->count = count;
	uint32_t n = c->bcd ? bcd_to_bin(count) : count;
	if (n == 0)
		n = c->bcd ? 10000 : 65536;
	/* A count of 1 is illegal in modes 2 and 3 (the output would never
	 * change); use 2 so the arithmetic stays defined. */
	if ((c->mode == 2 || c->mode == 3) && n < 2)
		n = 2;
	c->n = n;
	c->loaded = true;
	if (c->mode == 1 || c->mode == 5) {
		c->armed = false; /* waits for a gate trigger */
		c->counting = false;
		c->base_ticks = 0;
	} else if (c->gate) {
		start_counting(c, now);
	} else {
		c->base_ticks = 0;
		c->counting = false;
	}
}

static void latch_count(struct pit_channel *c, uint64_t now)
{
	if (c->count_latched)
		return; /* a second latch before the read is ignored */
	c->latched_count = channel_value(c, now);
	c->count_latched = true;
	c->latch_msb_next = false;
}

static void latch_status(struct pit_channel *c, uint64_t now)
{
	if (c->status_latched)
		return;
	c->status = (uint8_t)(channel_out(c, now) << 7 | (!c->loaded) << 6 | c->rw << 4 |
	                      c->mode << 1 | c->bcd);
	c->status_latched = true;
}

static void control_write(struct pit *pit, uint8_t v, uint64_t now)
{
	unsigned sel = v >> 6;
	if (sel == 3) { /* read-back: bit 5 = 0 latches counts, bit 4 = 0 status */
		for (int i = 0; i < 3; i++) {
			if (!(v & (2u << i)))
				continue;
			if (!(v & 0x10))
				latch_status(&pit->ch[i], now);
			if (!(v & 0x20))
				latch_count(&pit->ch[i], now);
		}
		return;
	}
	struct pit_channel *c = &pit->ch[sel];
	unsigned rw = (v >> 4) & 3;
	if (rw == RW_LATCH) {
		latch_count(c, now);
		return;
	}
	unsigned mode = (v >> 1) & 7;
	c->mode = (uint8_t)(mode > 5 ? mode - 4 : mode); /* 6, 7 alias 2, 3 */
	c->rw = (uint8_t)rw;
	c->bcd = v & 1;
	c->loaded = false;
	c->armed = false;
	c->counting = false;
	c->base_ticks = 0;
	c->write_msb_next = c->read_msb_next = false;
	c->count_latched = c->status_latched = false;
}

static void data_write(struct pit_channel *c, uint8_t v, uint64_t now)
{
	switch (c->rw) {
	case RW_LSB: load_count(c, v, now); break;
	case RW_MSB: load_count(c, (uint16_t)(v << 8), now); break;
	case RW_WORD:
		if (!c->write_msb_next) {
			c->write_lsb = v;
			c->write_msb_next = true;
			/* Mode 0: the first byte stops the count (out low). */
			if (c->mode == 0)
				c->loaded = false;
		} else {
			c->write_msb_next = false;
			load_count(c, (uint16_t)(c->write_lsb | v << 8), now);
		}
		break;
	default: /* not programmed since reset: ignore */ break;
	}
}

static uint8_t data_read(struct pit_channel *c, uint64_t now)
{
	if (c->status_latched) {
		c->status_latched = false;
		return c->status;
	}
	uint16_t v;
	bool msb;
	if (c->count_latched) {
		v = c->latched_count;
		if (c->rw == RW_WORD && !c->latch_msb_next) {
			c->latch_msb_next = true;
			return (uint8_t)v;
		}
		c->count_latched = false;
		msb = c->rw == RW_MSB || c->rw == RW_WORD;
		return msb ? (uint8_t)(v >> 8) : (uint8_t)v;
	}
	v = channel_value(c, now);
	switch (c->rw) {
	case RW_MSB: return (uint8_t)(v >> 8);
	case RW_WORD:
		msb = c->read_msb_next;
		c->read_msb_next = !msb;
		return msb ? (uint8_t)(v >> 8) : (uint8_t)v;
	default: return (uint8_t)v;
	}
}

uint8_t pit_port_read(struct pit *pit, uint16_t port)
{
	uint8_t v = 0xff;
	pthread_mutex_lock(pit->lock);
	uint64_t now = pit_now(pit);
	pit_sync(pit, now);
	if (port >= PIT_PORT_BASE && port < PIT_PORT_CONTROL) {
		v = data_read(&pit->ch[port - PIT_PORT_BASE], now);
	} else if (port == PIT_PORT_CONTROL) {
		v = 0xff; /* the control register cannot be read */
	} else if (port == PIT_PORT_B) {
		v = pit->port_b & 0x0f;
		if ((clock_ticks_at(now, PIT_HZ) / REFRESH_TICKS) & 1)
			v |= PORT_B_REFRESH;
		if (channel_out(&pit->ch[2], now))
			v |= PORT_B_OUT2;
	}
	pthread_mutex_unlock(pit->lock);
	return v;
}

void pit_port_write(struct pit *pit, uint16_t port, uint8_t value)
{
	pthread_mutex_lock(pit->lock);
	uint64_t now = pit_now(pit);
	pit_sync(pit, now);
	if (port >= PIT_PORT_BASE && port < PIT_PORT_CONTROL) {
		data_write(&pit->ch[port - PIT_PORT_BASE], value, now);
	} else if (port == PIT_PORT_CONTROL) {
		control_write(pit, value, now);
	} else if (port == PIT_PORT_B) {
		pit->port_b = value & 0x0f;
		set_gate(&pit->ch[2], value & PORT_B_GATE2, now);
	}
	/* Channel 0's output may have changed level (not edge) at once. */
	pit_sync(pit, now);
	pthread_mutex_unlock(pit->lock);
}

uint64_t pit_next_deadline_ns(struct pit *pit)
{
	pthread_mutex_lock(pit->lock);
	uint64_t d = next_rising_edge(&pit->ch[0], pit->last_ns);
	pthread_mutex_unlock(pit->lock);
	return d;
}

void pit_advance(struct pit *pit, uint64_t now_ns)
{
	pthread_mutex_lock(pit->lock);
	pit_sync(pit, now_ns);
	pthread_mutex_unlock(pit->lock);
}

void pit_reset(struct pit *pit)
{
	pthread_mutex_lock(pit->lock);
	uint64_t now = pit_now(pit);
	for (int i = 0; i < 3; i++) {
		pit->ch[i] = (struct pit_channel){.n = 65536, .gate = i != 2};
	}
	pit->port_b = 0;
	pit->last_ns = now;
	pit_sync(pit, now);
	pthread_mutex_unlock(pit->lock);
}

static uint64_t pit_bus_read(void *opaque, uint64_t offset, unsigned size)
{
	return pit_port_read(opaque, (uint16_t)(PIT_PORT_BASE + offset));
}

static void pit_bus_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	pit_port_write(opaque, (uint16_t)(PIT_PORT_BASE + offset), (uint8_t)value);
}

static uint64_t port_b_bus_read(void *opaque, uint64_t offset, unsigned size)
{
	return pit_port_read(opaque, PIT_PORT_B);
}

static void port_b_bus_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	pit_port_write(opaque, PIT_PORT_B, (uint8_t)value);
}

static const struct bus_ops pit_ops = {.read = pit_bus_read, .write = pit_bus_write};
static const struct bus_ops port_b_ops = {.read = port_b_bus_read, .write = port_b_bus_write};

struct pit *pit_create(const struct pit_config *cfg)
{
	struct pit *pit = calloc(1, sizeof *pit);
	if (!pit) {
		log_error("pit: out of memory");
		return NULL;
	}
	pit->cfg = *cfg;
	pit->clock = *cfg->clock;
	init_recursive_mutex(&pit->own_lock);
	pit->lock = cfg->lock ? cfg->lock : &pit->own_lock;
	pit->last_ns = guest_clock_now(&pit->clock);
	pit_reset(pit);
	if (cfg->bus) {
		if (bus_register(cfg->bus, BUS_PIO, PIT_PORT_BASE, PIT_PORT_COUNT, &pit_ops, pit,
		                 "pit") < 0) {
			log_error("pit: cannot claim ports 0x40-0x43");
			pit_destroy(pit);
			return NULL;
		}
		pit->registered = 1;
		if (bus_register(cfg->bus, BUS_PIO, PIT_PORT_B, 1, &port_b_ops, pit, "port 0x61") <
		    0) {
			log_error("pit: cannot claim port 0x61");
			pit_destroy(pit);
			return NULL;
		}
		pit->registered = 2;
	}
	return pit;
}

void pit_destroy(struct pit *pit)
{
	if (!pit)
		return;
	if (pit->registered >= 1)
		bus_unregister(pit->cfg.bus, BUS_PIO, PIT_PORT_BASE);
	if (pit->registered >= 2)
		bus_unregister(pit->cfg.bus, BUS_PIO, PIT_PORT_B);
	pthread_mutex_destroy(&pit->own_lock);
	free(pit);
}
