/* Local APIC, after the Intel SDM vol. 3 chapter 10 (11 in newer editions).
 *
 * IRR, ISR and TMR are 256-bit arrays of eight 32-bit words, as the register
 * file shows them. A fixed interrupt is accepted into IRR; the CPU takes the
 * highest IRR vector whose priority class (vector >> 4) is above the
 * processor priority class (PPR: the higher of TPR and the highest ISR
 * vector's class), moving it to ISR; EOI clears the highest ISR bit and,
 * when that vector was level-triggered (TMR), tells the IOAPIC.
 *
 * The timer counts a `timer_hz` input clock divided by TDCR. Like the PIT
 * it stores the guest time it started at and computes the current count from
 * the clock, so reads are exact and deadlines never drift: the k-th expiry of
 * a periodic timer is at start + (first + (k-1) * TMICT) * divisor ticks. */
#include "dev/lapic.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/mutex.h"

/* Register offsets (xAPIC MMIO; the x2APIC MSR is 0x800 + offset / 16). */
#define REG_ID 0x020
#define REG_VERSION 0x030
#define REG_TPR 0x080
#define REG_APR 0x090
#define REG_PPR 0x0A0
#define REG_EOI 0x0B0
#define REG_RRD 0x0C0
#define REG_LDR 0x0D0
#define REG_DFR 0x0E0
#define REG_SVR 0x0F0
#define REG_ISR 0x100
#define REG_TMR 0x180
#define REG_IRR 0x200
#define REG_ESR 0x280
#define REG_CMCI 0x2F0
#define REG_ICR_LO 0x300
#define REG_ICR_HI 0x310
#define REG_LVT_TIMER 0x320
#define REG_LVT_ERROR 0x370
#define REG_TMICT 0x380
#define REG_TMCCT 0x390
#define REG_TDCR 0x3E0
#define REG_SELF_IPI 0x3F0

enum { LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR, LVT_COUNT };

#define LAPIC_VERSION (0x14u | (LVT_COUNT - 1u) << 16) /* max LVT entry 5 */

#define LVT_MASKED (1u << 16)
#define LVT_LEVEL (1u << 15)
#define LVT_REMOTE_IRR (1u << 14)
#define LVT_TIMER_MODE_SHIFT 17
#define LVT_TIMER_ONESHOT 0u
#define LVT_TIMER_PERIODIC 1u
#define LVT_TIMER_TSC_DEADLINE 2u

#define SVR_ENABLE (1u << 8)

#define ESR_SEND_ILLEGAL_VECTOR (1u << 5)
#define ESR_RECV_ILLEGAL_VECTOR (1u << 6)
#define ESR_ILLEGAL_REGISTER (1u << 7)

#define ICR_DELIVERY_STATUS (1u << 12)
#define ICR_LEVEL_ASSERT (1u << 14)
#define ICR_LEVEL_TRIGGER (1u << 15)

/* Writable bits of each LVT (delivery status and remote IRR are read-only;
 * the timer has no delivery mode field). */
/* clang-format off */
static const uint32_t lvt_writable[LVT_COUNT] = {
	[LVT_TIMER]   = 0x000700FF,
	[LVT_THERMAL] = 0x000107FF,
	[LVT_PERF]    = 0x000107FF,
	[LVT_LINT0]   = 0x0001A7FF,
	[LVT_LINT1]   = 0x0001A7FF,
	[LVT_ERROR]   = 0x000100FF,
};
/* clang-format on */

struct lapic {
	struct apic_bus *bus;
	int cpu;
	uint32_t initial_id; /* x2APIC ID; the xAPIC ID after reset */
	bool bsp;
	uint64_t apic_base;

	uint32_t id_reg; /* xAPIC ID register (ID in bits 31:24) */
	uint32_t tpr, ldr, dfr, svr;
	uint32_t esr, esr_pending; /* ESR shows esr_pending after a write */
	uint32_t icr_lo, icr_hi;
	uint32_t lvt[LVT_COUNT];
	uint32_t irr[8], isr[8], tmr[8];

	/* Timer. */
	uint32_t tmict, tdcr;
	unsigned divisor;
	bool timer_armed; /* one-shot/periodic counting */
	uint64_t timer_start_ns;
	uint64_t timer_first; /* counts in the first period (TMICT, or less after a TDCR change) */
	uint64_t timer_next_ns; /* next expiry, CLOCK_NEVER if none */
	uint64_t tsc_deadline;
	uint64_t timer_hz, tsc_hz;
	int64_t tsc_offset;

	/* Inputs and latched events. */
	bool lint_level[2];
	bool init_pending, sipi_pending, nmi_pending, extint_pending;
	uint8_t sipi_vector;
	atomic_uint events; /* LAPIC_EV_* summary for the lock-free check */

	struct guest_clock clock;
	uint64_t last_ns;
};

struct apic_bus {
	struct apic_bus_config cfg;
	pthread_mutex_t own_lock;
	pthread_mutex_t *lock;
	struct lapic *cpus[LAPIC_MAX_CPUS];
};

static void lock(struct lapic *l)
{
	pthread_mutex_lock(l->bus->lock);
}
static void unlock(struct lapic *l)
{
	pthread_mutex_unlock(l->bus->lock);
}

/* --- 256-bit vector arrays --- */

static bool vec_test(const uint32_t *a, unsigned v)
{
	return a[v >> 5] & (1u << (v & 31));
}
static void vec_set(uint32_t *a, unsigned v)
{
	a[v >> 5] |= 1u << (v & 31);
}
static void vec_clear(uint32_t *a, unsigned v)
{
	a[v >> 5] &= ~(1u << (v & 31));
}

static int vec_highest(const uint32_t *a)
{
	for (int i = 7; i >= 0; i--)
		if (a[i])
			return i * 32 + 31 - __builtin_clz(a[i]);
	return -1;
}

/* --- modes --- */

static bool hw_enabled(const struct lapic *l)
{
	return l->apic_base & APIC_BASE_EN;
}
static bool x2apic_mode(const struct lapic *l)
{
	return (l->apic_base & (APIC_BASE_EN | APIC_BASE_EXTD)) == (APIC_BASE_EN | APIC_BASE_EXTD);
}
static bool sw_enabled(const struct lapic *l)
{
	return l->svr & SVR_ENABLE;
}

static uint32_t timer_mode(const struct lapic *l)
{
	return (l->lvt[LVT_TIMER] >> LVT_TIMER_MODE_SHIFT) & 3;
}

static uint32_t ppr(const struct lapic *l)
{
	int isrv = vec_highest(l->isr);
	uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;
	return (l->tpr & 0xf0) >= isr_class ? l->tpr & 0xff : isr_class;
}

/* Arbitration priority: as PPR, but the highest pending request counts too. */
static uint32_t apr(const struct lapic *l)
{
	int isrv = vec_highest(l->isr), irrv = vec_highest(l->irr);
	int top = isrv > irrv ? isrv : irrv;
	uint32_t cls = top < 0 ? 0 : (uint32_t)top & 0xf0;
	return (l->tpr & 0xf0) >= cls ? l->tpr & 0xff : cls;
}

static int deliverable_vector(const struct lapic *l)
{
	if (!hw_enabled(l))
		return -1;
	int v = vec_highest(l->irr);
	if (v < 0 || ((uint32_t)v & 0xf0) <= (ppr(l) & 0xf0))
		return -1;
	return v;
}

/* LINT0 as an ExtINT source: through the LVT, or straight to the CPU's INTR
 * pin when the APIC is globally disabled (as the SDM describes). */
static bool extint_active(const struct lapic *l)
{
	if (l->extint_pending)
		return true;
	if (!l->lint_level[0])
		return false;
	if (!hw_enabled(l))
		return true;
	uint32_t lvt = l->lvt[LVT_LINT0];
	return !(lvt & LVT_MASKED) && ((lvt >> 8) & 7) == APIC_DM_EXTINT;
}

/* Recompute the event summary; kick the vCPU if it gained something. */
static void update_events(struct lapic *l)
{
	unsigned ev = 0;
	if (l->init_pending)
		ev |= LAPIC_EV_INIT;
	if (l->sipi_pending)
		ev |= LAPIC_EV_SIPI;
	if (l->nmi_pending)
		ev |= LAPIC_EV_NMI;
	if (extint_active(l))
		ev |= LAPIC_EV_EXTINT;
	if (deliverable_vector(l) >= 0)
		ev |= LAPIC_EV_INTR;
	unsigned old = atomic_exchange(&l->events, ev);
	if ((ev & ~old) && l->bus->cfg.kick)
		l->bus->cfg.kick(l->bus->cfg.opaque, l->cpu);
}

/* --- accepting interrupts --- */

static void accept_fixed(struct lapic *l, uint8_t vector, bool level);

static void raise_error(struct lapic *l, uint32_t bit)
{
	l->esr_pending |= bit;
	uint32_t lvt = l->lvt[LVT_ERROR];
	/* An illegal error vector would report itself forever: only ESR. */
	if (!(lvt & LVT_MASKED) && (lvt & 0xff) >= 16)
		accept_fixed(l, lvt & 0xff, false);
}

static void accept_fixed(struct lapic *l, uint8_t vector, bool level)
{
	if (!sw_enabled(l))
		return; /* a software-disabled APIC does not accept fixed interrupts */
	if (vector < 16) {
		raise_error(l, ESR_RECV_ILLEGAL_VECTOR);
		return;
	}
	vec_set(l->irr, vector);
	if (level)
		vec_set(l->tmr, vector);
	else
		vec_clear(l->tmr, vector);
}

static void reset_registers(struct lapic *l, bool power_on);

static void accept_msg(struct lapic *l, const struct apic_msg *m)
{
	switch (m->delivery) {
	case APIC_DM_FIXED:
	case APIC_DM_LOWEST: accept_fixed(l, m->vector, m->level); break;
	case APIC_DM_NMI: l->nmi_pending = true; break;
	case APIC_DM_INIT:
		if (m->deassert)
			break; /* INIT level de-assert only synchronised arbitration IDs */
		reset_registers(l, false);
		l->init_pending = true;
		break;
	case APIC_DM_SIPI:
		l->sipi_pending = true;
		l->sipi_vector = m->vector;
		break;
	case APIC_DM_EXTINT: l->extint_pending = true; break;
	default: /* SMI and reserved modes: no SMM here */ break;
	}
	update_events(l);
}

/* Deliver an LVT entry as a local interrupt. */
static void deliver_lvt(struct lapic *l, int which)
{
	uint32_t lvt = l->lvt[which];
	if (lvt & LVT_MASKED)
		return;
	unsigned dm = which == LVT_TIMER || which == LVT_ERROR ? APIC_DM_FIXED : (lvt >> 8) & 7;
	struct apic_msg m = {.vector = (uint8_t)lvt, .delivery = (uint8_t)dm};
	if (dm == APIC_DM_FIXED && (which == LVT_LINT0 || which == LVT_LINT1))
		m.level = lvt & LVT_LEVEL;
	if (dm == APIC_DM_EXTINT)
		return; /* ExtINT follows the LINT0 level: extint_active() */
	accept_msg(l, &m);
}

/* --- destinations --- */

static uint32_t xapic_id(const struct lapic *l)
{
	return l->id_reg >> 24;
}

static bool matches_dest(const struct lapic *l, const struct apic_msg *m)
{
	if (!hw_enabled(l))
		return false;
	if (!m->logical) {
		uint32_t broadcast = m->x2apic ? 0xffffffffu : 0xffu;
		uint32_t id = x2apic_mode(l) ? l->initial_id : xapic_id(l);
		return m->dest == broadcast || m->dest == id;
	}
	if (x2apic_mode(l)) {
		/* Cluster in bits 31:16, one bit per member in 15:0. An 8-bit
		 * destination from the IOAPIC is read the same way (cluster
		 * in bits 7:4) for want of interrupt remapping. */
		uint32_t cluster, bits;
		if (m->x2apic) {
			if (m->dest == 0xffffffffu)
				return true;
			cluster = m->dest >> 16;
			bits = m->dest & 0xffff;
		} else {
			if (m->dest == 0xff)
				return true;
			cluster = (m->dest >> 4) & 0xf;
			bits = m->dest & 0xf;
		}
		return cluster == l->ldr >> 16 && (bits & l->ldr & 0xffff);
	}
	uint32_t dest = m->dest & 0xff, ldr = l->ldr >> 24;
	if (dest == 0xff)
		return true;
	if ((l->dfr >> 28) == 0xf) /* flat model: 8-bit mask */
		return dest & ldr;
	/* cluster model: cluster in bits 7:4 (15 = all), members in 3:0 */
	return ((dest >> 4) == (ldr >> 4) || (dest >> 4) == 0xf) && (dest & ldr & 0xf);
}

static bool addressed(const struct lapic *l, const struct apic_msg *m, const struct lapic *sender)
{
	switch (m->shorthand) {
	case APIC_DEST_SELF: return l == sender;
	case APIC_DEST_ALL: return hw_enabled(l);
	case APIC_DEST_ALL_BUT_SELF: return l != sender && hw_enabled(l);
	default: return matches_dest(l, m);
	}
}

void apic_bus_deliver(struct apic_bus *bus, const struct apic_msg *msg, struct lapic *sender)
{
	pthread_mutex_lock(bus->lock);
	if (msg->delivery == APIC_DM_LOWEST) {
		struct lapic *best = NULL, *first = NULL;
		for (int i = 0; i < LAPIC_MAX_CPUS; i++) {
			struct lapic *l = bus->cpus[i];
			if (!l || !addressed(l, msg, sender))
				continue;
			if (!first)
				first = l;
			if (sw_enabled(l) && (!best || (l->tpr & 0xf0) < (best->tpr & 0xf0)))
				best = l;
		}
		if (best || first)
			accept_msg(best ? best : first, msg);
	} else {
		for (int i = 0; i < LAPIC_MAX_CPUS; i++) {
			struct lapic *l = bus->cpus[i];
			if (l && addressed(l, msg, sender))
				accept_msg(l, msg);
		}
	}
	pthread_mutex_unlock(bus->lock);
}

/* --- message-signalled interrupts --- */

#define MSI_ADDR_WINDOW 0xFEE00000u
#define MSI_ADDR_DEST_SHIFT 12
#define MSI_ADDR_REDIRECTION_HINT (1u << 3)
#define MSI_ADDR_DEST_LOGICAL (1u << 2)
#define MSI_DATA_ASSERT (1u << 14)
#define MSI_DATA_LEVEL (1u << 15)

bool apic_msi_to_msg(uint64_t address, uint32_t data, struct apic_msg *msg)
{
	if ((address >> 32) || (address & 0xFFF00000u) != MSI_ADDR_WINDOW)
		return false;
	unsigned dm = (data >> 8) & 7;
	if (dm == APIC_DM_SIPI || dm == 3)
		return false; /* not valid in an MSI */
	bool level = data & MSI_DATA_LEVEL;
	if (level && !(data & MSI_DATA_ASSERT))
		return false; /* a level de-assert message: nothing to deliver */
	if (dm == APIC_DM_FIXED && (address & MSI_ADDR_REDIRECTION_HINT))
		dm = APIC_DM_LOWEST;
	*msg = (struct apic_msg){
	    .dest = (uint32_t)(address >> MSI_ADDR_DEST_SHIFT) & 0xFF,
	    .vector = (uint8_t)data,
	    .delivery = (uint8_t)dm,
	    .logical = address & MSI_ADDR_DEST_LOGICAL,
	    .level = level,
	};
	return true;
}

/* --- timer --- */

static uint64_t lapic_now(struct lapic *l)
{
	uint64_t now = guest_clock_now(&l->clock);
	return now < l->last_ns ? l->last_ns : now;
}

static uint64_t timer_counts(const struct lapic *l, uint64_t now)
{
	if (now <= l->timer_start_ns)
		return 0;
	return clock_ticks_at(now - l->timer_start_ns, l->timer_hz) / l->divisor;
}

static uint64_t timer_time_of_count(const struct lapic *l, uint64_t count)
{
	return clock_deadline_add(l->timer_start_ns,
	                          clock_ns_of_tick(count * l->divisor, l->timer_hz));
}

static uint64_t tsc_deadline_ns(const struct lapic *l)
{
	if (!l->tsc_deadline || !l->tsc_hz)
		return CLOCK_NEVER;
	/* TSC(t) = ticks(t) + offset reaches the deadline D at ticks = D - offset. */
	__int128 ticks = (__int128)l->tsc_deadline - l->tsc_offset;
	if (ticks <= 0)
		return 0;
	if (ticks > (__int128)UINT64_MAX)
		return CLOCK_NEVER;
	return clock_ns_of_tick((uint64_t)ticks, l->tsc_hz);
}

/* Recompute timer_next_ns from the state, for expiries after `now`. */
static void timer_schedule(struct lapic *l, uint64_t now)
{
	l->timer_next_ns = CLOCK_NEVER;
	if (timer_mode(l) == LVT_TIMER_TSC_DEADLINE) {
		l->timer_next_ns = tsc_deadline_ns(l);
		return;
	}
	if (!l->timer_armed)
		return;
	uint64_t c = timer_counts(l, now);
	if (c < l->timer_first) {
		l->timer_next_ns = timer_time_of_count(l, l->timer_first);
	} else if (timer_mode(l) == LVT_TIMER_PERIODIC && l->tmict) {
		uint64_t k = (c - l->timer_first) / l->tmict + 1;
		l->timer_next_ns = timer_time_of_count(l, l->timer_first + k * l->tmict);
	}
}

/* Fire whatever expired by `now` (several missed periods fire once). */
static void timer_sync(struct lapic *l, uint64_t now)
{
	if (now < l->last_ns)
		now = l->last_ns;
	l->last_ns = now;
	if (l->timer_next_ns > now)
		return;
	if (timer_mode(l) == LVT_TIMER_TSC_DEADLINE) {
		l->tsc_deadline = 0; /* the MSR reads 0 once it has fired */
	} else if (timer_mode(l) != LVT_TIMER_PERIODIC) {
		l->timer_armed = false;
	}
	deliver_lvt(l, LVT_TIMER);
	timer_schedule(l, now);
}

static uint32_t timer_current_count(const struct lapic *l, uint64_t now)
{
	if (!l->timer_armed || timer_mode(l) == LVT_TIMER_TSC_DEADLINE)
		return 0;
	uint64_t c = timer_counts(l, now);
	if (c < l->timer_first)
		return (uint32_t)(l->timer_first - c);
	if (timer_mode(l) == LVT_TIMER_PERIODIC && l->tmict)
		return (uint32_t)(l->tmict - (c - l->timer_first) % l->tmict);
	return 0;
}

static void timer_start(struct lapic *l, uint64_t first, uint64_t now)
{
	l->timer_armed = first != 0;
	l->timer_first = first;
	l->timer_start_ns = now;
	timer_schedule(l, now);
}

static void write_tdcr(struct lapic *l, uint32_t v, uint64_t now)
{
	uint32_t remaining = timer_current_count(l, now);
	l->tdcr = v & 0xb;
	unsigned code = ((l->tdcr >> 1) & 4) | (l->tdcr & 3);
	l->divisor = 1u << ((code + 1) & 7);
	/* A running count goes on from where it is at the new rate. */
	if (l->timer_armed && remaining)
		timer_start(l, remaining, now);
}

static void write_lvt(struct lapic *l, int which, uint32_t v, uint64_t now)
{
	uint32_t old = l->lvt[which];
	v &= lvt_writable[which];
	if (which == LVT_TIMER && ((v >> LVT_TIMER_MODE_SHIFT) & 3) == 3)
		v &= ~(2u << LVT_TIMER_MODE_SHIFT); /* reserved mode: keep it defined */
	if (!sw_enabled(l))
		v |= LVT_MASKED;
	l->lvt[which] = v;
	if (which == LVT_TIMER) {
		uint32_t old_mode = (old >> LVT_TIMER_MODE_SHIFT) & 3, mode = timer_mode(l);
		bool was_deadline = old_mode == LVT_TIMER_TSC_DEADLINE;
		if (was_deadline != (mode == LVT_TIMER_TSC_DEADLINE)) {
			/* Switching to or from TSC-deadline mode disarms the timer. */
			l->timer_armed = false;
			l->tmict = 0;
			l->tsc_deadline = 0;
		}
		timer_schedule(l, now);
	}
}

/* --- register file --- */

static void reset_registers(struct lapic *l, bool power_on)
{
	if (power_on)
		l->apic_base = LAPIC_DEFAULT_BASE | APIC_BASE_EN | (l->bsp ? APIC_BASE_BSP : 0);
	if (power_on)
		l->id_reg = l->initial_id << 24; /* INIT keeps the APIC ID */
	l->tpr = 0;
	l->ldr = x2apic_mode(l) ? ((l->initial_id >> 4) << 16) | (1u << (l->initial_id & 0xf)) : 0;
	l->dfr = 0xffffffff;
	l->svr = 0xff;
	l->esr = l->esr_pending = 0;
	l->icr_lo = l->icr_hi = 0;
	for (int i = 0; i < LVT_COUNT; i++)
		l->lvt[i] = LVT_MASKED;
	memset(l->irr, 0, sizeof l->irr);
	memset(l->isr, 0, sizeof l->isr);
	memset(l->tmr, 0, sizeof l->tmr);
	l->tmict = 0;
	l->tdcr = 0;
	l->divisor = 2;
	l->timer_armed = false;
	l->tsc_deadline = 0;
	l->timer_next_ns = CLOCK_NEVER;
	l->init_pending = l->sipi_pending = l->nmi_pending = l->extint_pending = false;
	if (power_on && l->bsp) {
		l->lvt[LVT_LINT0] = APIC_DM_EXTINT << 8;
		l->lvt[LVT_LINT1] = APIC_DM_NMI << 8;
	}
}

static void do_eoi(struct lapic *l)
{
	int v = vec_highest(l->isr);
	if (v < 0)
		return;
	vec_clear(l->isr, (unsigned)v);
	if (vec_test(l->tmr, (unsigned)v) && l->bus->cfg.eoi)
		l->bus->cfg.eoi(l->bus->cfg.opaque, (uint8_t)v);
}

static void send_ipi(struct lapic *l, uint32_t lo, uint32_t dest, bool x2)
{
	struct apic_msg m = {
	    .dest = dest,
	    .vector = (uint8_t)lo,
	    .delivery = (lo >> 8) & 7,
	    .logical = lo & (1u << 11),
	    .level = lo & ICR_LEVEL_TRIGGER,
	    .deassert = !(lo & ICR_LEVEL_ASSERT),
	    .shorthand = (lo >> 18) & 3,
	    .x2apic = x2,
	};
	/* Only INIT uses the level bit; an edge INIT always asserts. */
	if (m.delivery != APIC_DM_INIT || !m.level)
		m.deassert = false;
	if ((m.delivery == APIC_DM_FIXED || m.delivery == APIC_DM_LOWEST) && m.vector < 16) {
		raise_error(l, ESR_SEND_ILLEGAL_VECTOR);
		update_events(l);
		return;
	}
	/* The self shorthand carries fixed interrupts only. */
	if (m.shorthand == APIC_DEST_SELF && m.delivery != APIC_DM_FIXED)
		return;
	apic_bus_deliver(l->bus, &m, l);
}

/* Reads of the register at a 16-byte aligned offset; false if none. */
static bool reg_read(struct lapic *l, unsigned reg, uint64_t now, uint32_t *out)
{
	uint32_t v;
	switch (reg) {
	case REG_ID: v = x2apic_mode(l) ? l->initial_id : l->id_reg; break;
	case REG_VERSION: v = LAPIC_VERSION; break;
	case REG_TPR: v = l->tpr; break;
	case REG_APR: v = apr(l); break;
	case REG_PPR: v = ppr(l); break;
	case REG_LDR: v = l->ldr; break;
	case REG_DFR: v = l->dfr; break;
	case REG_SVR: v = l->svr; break;
	case REG_ESR: v = l->esr; break;
	case REG_ICR_LO: v = l->icr_lo & ~ICR_DELIVERY_STATUS; break;
	case REG_ICR_HI: v = l->icr_hi; break;
	case REG_TMICT: v = l->tmict; break;
	case REG_TMCCT: v = timer_current_count(l, now); break;
	case REG_TDCR: v = l->tdcr; break;
	case REG_EOI:
	case REG_RRD: v = 0; break;
	default:
		if (reg >= REG_ISR && reg < REG_ISR + 0x80)
			v = l->isr[(reg - REG_ISR) >> 4];
		else if (reg >= REG_TMR && reg < REG_TMR + 0x80)
			v = l->tmr[(reg - REG_TMR) >> 4];
		else if (reg >= REG_IRR && reg < REG_IRR + 0x80)
			v = l->irr[(reg - REG_IRR) >> 4];
		else if (reg >= REG_LVT_TIMER && reg <= REG_LVT_ERROR)
			v = l->lvt[(reg - REG_LVT_TIMER) >> 4];
		else
			return false;
	}
	*out = v;
	return true;
}

static void write_svr(struct lapic *l, uint32_t v)
{
	/* Bit 12 (EOI-broadcast suppression) is not offered (version bit 24 = 0). */
	l->svr = v & 0x3ff;
	if (!sw_enabled(l))
		for (int i = 0; i < LVT_COUNT; i++)
			l->lvt[i] |= LVT_MASKED;
}

/* Writes common to xAPIC and x2APIC (after the x2APIC checks). */
static void reg_write(struct lapic *l, unsigned reg, uint32_t v, uint64_t now)
{
	switch (reg) {
	case REG_ID: l->id_reg = v & 0xff000000u; break;
	case REG_TPR: l->tpr = v & 0xff; break;
	case REG_EOI: do_eoi(l); break;
	case REG_LDR: l->ldr = v & 0xff000000u; break;
	case REG_DFR: l->dfr = (v & 0xf0000000u) | 0x0fffffffu; break;
	case REG_SVR: write_svr(l, v); break;
	case REG_ESR:
		l->esr = l->esr_pending;
		l->esr_pending = 0;
		break;
	case REG_ICR_LO:
		l->icr_lo = v & 0x000ccfff;
		send_ipi(l, l->icr_lo, l->icr_hi >> 24, false);
		break;
	case REG_ICR_HI: l->icr_hi = v & 0xff000000u; break;
	case REG_TMICT:
		if (timer_mode(l) == LVT_TIMER_TSC_DEADLINE)
			break; /* ignored in TSC-deadline mode */
		l->tmict = v;
		timer_start(l, v, now);
		break;
	case REG_TDCR: write_tdcr(l, v, now); break;
	default:
		if (reg >= REG_LVT_TIMER && reg <= REG_LVT_ERROR)
			write_lvt(l, (int)(reg - REG_LVT_TIMER) >> 4, v, now);
		break; /* read-only and reserved registers ignore writes */
	}
}

bool lapic_mmio_active(struct lapic *l)
{
	lock(l);
	bool active = hw_enabled(l) && !x2apic_mode(l);
	unlock(l);
	return active;
}

uint64_t lapic_mmio_base(struct lapic *l)
{
	lock(l);
	uint64_t base = l->apic_base & ~0xfffULL & ((1ULL << 52) - 1);
	unlock(l);
	return base;
}

uint32_t lapic_mmio_read(struct lapic *l, uint64_t offset, unsigned size)
{
	uint32_t v = 0;
	lock(l);
	uint64_t now = lapic_now(l);
	timer_sync(l, now);
	unsigned byte = (unsigned)(offset & 0xf);
	if (offset < LAPIC_MMIO_SIZE && hw_enabled(l) && !x2apic_mode(l) && byte < 4 &&
	    reg_read(l, (unsigned)(offset & 0xff0), now, &v))
		v >>= 8 * byte;
	else
		v = 0;
	if (size < 4)
		v &= (1u << (8 * size)) - 1;
	unlock(l);
	return v;
}

void lapic_mmio_write(struct lapic *l, uint64_t offset, unsigned size, uint32_t value)
{
	lock(l);
	uint64_t now = lapic_now(l);
	timer_sync(l, now);
	if (offset < LAPIC_MMIO_SIZE && (offset & 0xf) == 0 && size >= 4 && hw_enabled(l) &&
	    !x2apic_mode(l)) {
		unsigned reg = (unsigned)offset;
		uint32_t dummy;
		if (reg == REG_SELF_IPI || (!reg_read(l, reg, now, &dummy) && reg != REG_EOI))
			raise_error(l, ESR_ILLEGAL_REGISTER);
		else
			reg_write(l, reg, value, now);
	}
	timer_sync(l, now);
	update_events(l);
	unlock(l);
}

/* --- MSRs --- */

bool lapic_handles_msr(uint32_t msr)
{
	return msr == MSR_IA32_APIC_BASE || msr == MSR_IA32_TSC_DEADLINE ||
	       (msr >= MSR_X2APIC_FIRST && msr <= MSR_X2APIC_LAST);
}

static int write_apic_base(struct lapic *l, uint64_t v)
{
	/* Reserved: bits 0-7, 9 and above MAXPHYADDR (52 here). */
	if (v & (0xffULL | 1ULL << 9 | ~((1ULL << 52) - 1)))
		return LAPIC_MSR_GP;
	bool en = v & APIC_BASE_EN, extd = v & APIC_BASE_EXTD;
	bool was_en = hw_enabled(l), was_x2 = x2apic_mode(l);
	if (extd && !en)
		return LAPIC_MSR_GP; /* invalid state */
	if (was_x2 && en && !extd)
		return LAPIC_MSR_GP; /* x2APIC -> xAPIC needs a trip through disabled */
	if (!was_en && extd)
		return LAPIC_MSR_GP; /* disabled -> x2APIC needs xAPIC first */
	l->apic_base = (v & ~APIC_BASE_BSP) | (l->apic_base & APIC_BASE_BSP);
	if (was_en && !en) {
		/* Globally disabling loses the APIC's state (SDM 10.4.3). */
		reset_registers(l, false);
		l->id_reg = l->initial_id << 24;
	} else if (!was_x2 && extd) {
		/* x2APIC: ID is the initial ID, LDR derives from it. */
		l->ldr = ((l->initial_id >> 4) << 16) | (1u << (l->initial_id & 0xf));
	}
	return 0;
}

int lapic_msr_read(struct lapic *l, uint32_t msr, uint64_t *value)
{
	int rc = 0;
	*value = 0;
	lock(l);
	uint64_t now = lapic_now(l);
	timer_sync(l, now);
	if (msr == MSR_IA32_APIC_BASE) {
		*value = l->apic_base;
	} else if (msr == MSR_IA32_TSC_DEADLINE) {
		*value = timer_mode(l) == LVT_TIMER_TSC_DEADLINE ? l->tsc_deadline : 0;
	} else if (msr >= MSR_X2APIC_FIRST && msr <= MSR_X2APIC_LAST && x2apic_mode(l)) {
		unsigned reg = (msr - MSR_X2APIC_FIRST) << 4;
		uint32_t v;
		if (reg == REG_ICR_LO) {
			*value = (uint64_t)l->icr_hi << 32 | (l->icr_lo & ~ICR_DELIVERY_STATUS);
		} else if (reg == REG_APR || reg == REG_RRD || reg == REG_DFR || reg == REG_EOI ||
		           reg == REG_ICR_HI || reg == REG_SELF_IPI || !reg_read(l, reg, now, &v)) {
			rc = LAPIC_MSR_GP; /* absent in x2APIC mode, or write-only */
		} else {
			*value = v;
		}
	} else {
		rc = LAPIC_MSR_GP;
	}
	unlock(l);
	return rc;
}

static int x2apic_write(struct lapic *l, unsigned reg, uint64_t v, uint64_t now)
{
	if (reg == REG_ICR_LO) {
		if (v & 0xfff33000ULL) /* reserved bits of the low half (incl. delivery status) */
			return LAPIC_MSR_GP;
		l->icr_lo = (uint32_t)v;
		l->icr_hi = (uint32_t)(v >> 32);
		send_ipi(l, l->icr_lo, l->icr_hi, true);
		return 0;
	}
	if (v >> 32)
		return LAPIC_MSR_GP;
	switch (reg) {
	case REG_TPR:
		if (v & ~0xffULL)
			return LAPIC_MSR_GP;
		break;
	case REG_EOI:
	case REG_ESR:
		if (v)
			return LAPIC_MSR_GP;
		break;
	case REG_SVR:
		if (v & ~0x3ffULL)
			return LAPIC_MSR_GP;
		break;
	case REG_TDCR:
		if (v & ~0xbULL)
			return LAPIC_MSR_GP;
		break;
	case REG_SELF_IPI: {
		if (v & ~0xffULL)
			return LAPIC_MSR_GP;
		struct apic_msg m = {.vector = (uint8_t)v, .shorthand = APIC_DEST_SELF};
		if (m.vector < 16)
			raise_error(l, ESR_SEND_ILLEGAL_VECTOR);
		else
			apic_bus_deliver(l->bus, &m, l);
		return 0;
	}
	case REG_TMICT: break;
	default:
		if (reg >= REG_LVT_TIMER && reg <= REG_LVT_ERROR) {
			if (v & ~(uint64_t)lvt_writable[(reg - REG_LVT_TIMER) >> 4] &
			    ~(uint64_t)(LVT_REMOTE_IRR | 1u << 12))
				return LAPIC_MSR_GP;
			break;
		}
		return LAPIC_MSR_GP; /* read-only (ID, LDR, PPR, ...) or absent */
	}
	reg_write(l, reg, (uint32_t)v, now);
	return 0;
}

int lapic_msr_write(struct lapic *l, uint32_t msr, uint64_t value)
{
	int rc = 0;
	lock(l);
	uint64_t now = lapic_now(l);
	timer_sync(l, now);
	if (msr == MSR_IA32_APIC_BASE) {
		rc = write_apic_base(l, value);
	} else if (msr == MSR_IA32_TSC_DEADLINE) {
		if (timer_mode(l) == LVT_TIMER_TSC_DEADLINE) {
			l->tsc_deadline = value;
			timer_schedule(l, now);
		}
	} else if (msr >= MSR_X2APIC_FIRST && msr <= MSR_X2APIC_LAST && x2apic_mode(l)) {
		rc = x2apic_write(l, (msr - MSR_X2APIC_FIRST) << 4, value, now);
	} else {
		rc = LAPIC_MSR_GP;
	}
	timer_sync(l, now);
	update_events(l);
	unlock(l);
	return rc;
}

void lapic_set_tsc_offset(struct lapic *l, int64_t offset)
{
	lock(l);
	l->tsc_offset = offset;
	timer_schedule(l, lapic_now(l));
	unlock(l);
}

uint64_t lapic_get_cr8(struct lapic *l)
{
	lock(l);
	uint64_t v = (l->tpr >> 4) & 0xf;
	unlock(l);
	return v;
}

void lapic_set_cr8(struct lapic *l, uint64_t value)
{
	lock(l);
	l->tpr = (uint32_t)(value & 0xf) << 4;
	update_events(l);
	unlock(l);
}

/* --- inputs and events --- */

void lapic_set_lint(struct lapic *l, unsigned pin, int level)
{
	if (pin > 1)
		return;
	lock(l);
	bool rising = level && !l->lint_level[pin];
	l->lint_level[pin] = level != 0;
	if (rising) {
		if (!hw_enabled(l)) {
			if (pin == 1)
				l->nmi_pending = true; /* LINT1 is the NMI pin */
		} else {
			deliver_lvt(l, pin == 0 ? LVT_LINT0 : LVT_LINT1);
		}
	}
	update_events(l);
	unlock(l);
}

unsigned lapic_pending_events(struct lapic *l)
{
	return atomic_load(&l->events);
}

static int accept_interrupt(struct lapic *l)
{
	int v = deliverable_vector(l);
	if (v < 0)
		return -1;
	vec_clear(l->irr, (unsigned)v);
	vec_set(l->isr, (unsigned)v);
	return v;
}

enum lapic_event lapic_poll_event(struct lapic *l, unsigned allowed, uint8_t *vector)
{
	enum lapic_event ev = LAPIC_EV_NONE;
	*vector = 0;
	lock(l);
	if ((allowed & LAPIC_EV_INIT) && l->init_pending) {
		l->init_pending = false;
		ev = LAPIC_EV_INIT;
	} else if ((allowed & LAPIC_EV_SIPI) && l->sipi_pending) {
		l->sipi_pending = false;
		*vector = l->sipi_vector;
		ev = LAPIC_EV_SIPI;
	} else if ((allowed & LAPIC_EV_NMI) && l->nmi_pending) {
		l->nmi_pending = false;
		*vector = 2;
		ev = LAPIC_EV_NMI;
	} else if ((allowed & LAPIC_EV_EXTINT) && extint_active(l)) {
		l->extint_pending = false;
		ev = LAPIC_EV_EXTINT;
		*vector = l->bus->cfg.extint_ack ? l->bus->cfg.extint_ack(l->bus->cfg.opaque) : 0;
	} else if (allowed & LAPIC_EV_INTR) {
		int v = accept_interrupt(l);
		if (v >= 0) {
			*vector = (uint8_t)v;
			ev = LAPIC_EV_INTR;
		}
	}
	update_events(l);
	unlock(l);
	return ev;
}

int lapic_pending_vector(struct lapic *l)
{
	lock(l);
	int v = deliverable_vector(l);
	unlock(l);
	return v;
}

int lapic_accept_interrupt(struct lapic *l)
{
	lock(l);
	int v = accept_interrupt(l);
	update_events(l);
	unlock(l);
	return v;
}

uint64_t lapic_next_deadline_ns(struct lapic *l)
{
	lock(l);
	uint64_t d = l->timer_next_ns;
	unlock(l);
	return d;
}

void lapic_advance(struct lapic *l, uint64_t now_ns)
{
	lock(l);
	timer_sync(l, now_ns);
	update_events(l);
	unlock(l);
}

int lapic_cpu_index(struct lapic *l)
{
	return l->cpu;
}

void lapic_reset(struct lapic *l)
{
	lock(l);
	reset_registers(l, true);
	l->last_ns = lapic_now(l);
	update_events(l);
	unlock(l);
}

struct lapic *lapic_create(const struct lapic_config *cfg)
{
	if (cfg->cpu_index < 0 || cfg->cpu_index >= LAPIC_MAX_CPUS) {
		log_error("lapic: cpu index %d out of range", cfg->cpu_index);
		return NULL;
	}
	struct lapic *l = calloc(1, sizeof *l);
	if (!l) {
		log_error("lapic: out of memory");
		return NULL;
	}
	l->bus = cfg->bus;
	l->cpu = cfg->cpu_index;
	l->initial_id = cfg->apic_id;
	l->bsp = cfg->bsp;
	l->clock = *cfg->clock;
	l->timer_hz = cfg->timer_hz ? cfg->timer_hz : LAPIC_DEFAULT_TIMER_HZ;
	l->tsc_hz = cfg->tsc_hz;
	atomic_init(&l->events, 0);
	l->last_ns = guest_clock_now(&l->clock);
	pthread_mutex_lock(cfg->bus->lock);
	if (cfg->bus->cpus[cfg->cpu_index]) {
		pthread_mutex_unlock(cfg->bus->lock);
		log_error("lapic: cpu index %d already has a LAPIC", cfg->cpu_index);
		free(l);
		return NULL;
	}
	cfg->bus->cpus[cfg->cpu_index] = l;
	reset_registers(l, true);
	update_events(l);
	pthread_mutex_unlock(cfg->bus->lock);
	return l;
}

void lapic_destroy(struct lapic *l)
{
	if (!l)
		return;
	pthread_mutex_lock(l->bus->lock);
	l->bus->cpus[l->cpu] = NULL;
	pthread_mutex_unlock(l->bus->lock);
	free(l);
}

struct apic_bus *apic_bus_create(const struct apic_bus_config *cfg)
{
	struct apic_bus *bus = calloc(1, sizeof *bus);
	if (!bus) {
		log_error("apic bus: out of memory");
		return NULL;
	}
	bus->cfg = *cfg;
	init_recursive_mutex(&bus->own_lock);
	bus->lock = cfg->lock ? cfg->lock : &bus->own_lock;
	return bus;
}

void apic_bus_destroy(struct apic_bus *bus)
{
	if (!bus)
		return;
	pthread_mutex_destroy(&bus->own_lock);
	free(bus);
}
