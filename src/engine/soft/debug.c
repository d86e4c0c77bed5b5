/* Debug registers: which breakpoints DR7 enables, and matching them.
 *
 * Instruction breakpoints (R/W = 00) are faults checked before an
 * instruction starts at their linear address, unless RFLAGS.RF is set.
 * Data breakpoints (R/W = 01 writes, 11 reads and writes; length 1, 2, 4
 * or 8 bytes, the address aligned down to it) are traps reported after the
 * instruction that touched the range. I/O breakpoints (R/W = 10 with
 * CR4.DE) are not implemented: they never match.
 *
 * The cost when nothing is armed is nil: the run loop (cpu.c) steps with
 * checks only while dbg_armed says TF, RF or an enabled breakpoint, and a
 * page that holds a watched data range never takes the TLB's fast path
 * (mmu.c), so only accesses to such pages are compared here. */
#include "engine/soft/soft_internal.h"

static unsigned bp_rw(uint64_t dr7, unsigned n)
{
	return (dr7 >> (16 + 4 * n)) & 3;
}

/* LEN: 00 one byte, 01 two, 11 four, 10 eight. */
static unsigned bp_len(uint64_t dr7, unsigned n)
{
	static const unsigned len[4] = {1, 2, 8, 4};
	return len[(dr7 >> (18 + 4 * n)) & 3];
}

/* The linear range a data breakpoint watches (the address is aligned down
 * to the length, as hardware ignores its low bits). */
static uint64_t bp_start(const struct soft_cpu *c, unsigned n)
{
	return c->state.dr[n] & ~(uint64_t)(bp_len(c->state.dr[7], n) - 1);
}

void soft_debug_refresh(struct soft_cpu *c)
{
	const struct cpu_state *s = &c->state;
	uint64_t dr7 = s->dr[7];
	uint8_t exec = 0, data = 0;
	for (unsigned n = 0; n < 4; n++) {
		if (!((dr7 >> (2 * n)) & 3))
			continue;
		unsigned rw = bp_rw(dr7, n);
		if (rw == 0)
			exec |= (uint8_t)(1u << n);
		else if (rw != 2)
			data |= (uint8_t)(1u << n);
	}
	/* The TLB's fast rights depend on which pages hold watched ranges:
	 * recompute them all when those changed. */
	if (data || c->dbg_data) {
		bool same = data == c->dbg_data && c->dbg_seen[4] == dr7;
		for (unsigned n = 0; n < 4 && same; n++)
			same = c->dbg_seen[n] == s->dr[n];
		if (!same) {
			for (unsigned n = 0; n < 4; n++)
				c->dbg_seen[n] = s->dr[n];
			c->dbg_seen[4] = dr7;
			c->dbg_data = data;
			soft_tlb_flush_all(c);
		}
	}
	c->dbg_exec = exec;
	c->dbg_data = data;
	c->dbg_armed = exec || data || (s->rflags & (FL_TF | FL_RF));
}

unsigned soft_debug_exec_hits(const struct soft_cpu *c)
{
	const struct cpu_state *s = &c->state;
	uint64_t la = s->rip;
	if (c->mode != SOFT_MODE_64)
		la = (s->seg[SEG_CS].base + la) & 0xffffffffULL;
	unsigned hits = 0;
	for (unsigned n = 0; n < 4; n++)
		if (((c->dbg_exec >> n) & 1) && s->dr[n] == la)
			hits |= 1u << n;
	return hits;
}

bool soft_debug_page_watched(const struct soft_cpu *c, uint64_t vpn)
{
	for (unsigned n = 0; n < 4; n++) {
		if (!((c->dbg_data >> n) & 1))
			continue;
		uint64_t a = bp_start(c, n), last = a + bp_len(c->state.dr[7], n) - 1;
		if (a >> 12 == vpn || last >> 12 == vpn)
			return true;
	}
	return false;
}

void soft_debug_data_access(struct soft_cpu *c, uint64_t la, unsigned size, unsigned access)
{
	unsigned kind = access & 3;
	if (kind == SOFT_ACC_EXEC || size == 0)
		return;
	uint64_t last = la + size - 1;
	for (unsigned n = 0; n < 4; n++) {
		if (!((c->dbg_data >> n) & 1))
			continue;
		if (bp_rw(c->state.dr[7], n) == 1 && kind != SOFT_ACC_WRITE)
			continue;
		uint64_t a = bp_start(c, n), a_last = a + bp_len(c->state.dr[7], n) - 1;
		if (la <= a_last && a <= last)
			c->dbg_hits |= (uint8_t)(1u << n);
	}
}
