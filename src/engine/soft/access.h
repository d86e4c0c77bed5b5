/* Guest memory access for the executor: linear address formation, operand
 * references that are translated (and so fault) before anything is written,
 * and register operands of every size. Static inline: these are the hot path. */
#ifndef RINGFOLD_ENGINE_SOFT_ACCESS_H
#define RINGFOLD_ENGINE_SOFT_ACCESS_H

#include <string.h>

#include "engine/soft/soft_internal.h"

/* A translated memory operand of up to 8 bytes (or a probe of up to 4 KiB).
 * When it lies in one RAM page, host points at it; otherwise the two
 * physical pieces are kept and each access goes piece by piece (MMIO goes to
 * the bus). Once prepared, reading and writing it cannot fault: this is what
 * makes every instruction's faults precise. */
struct memref {
	uint8_t *host;
	uint64_t gpa0, gpa1;
	unsigned len0, size;
};

int soft_segment_check(struct soft_cpu *c, unsigned seg, uint64_t off, unsigned size,
                       unsigned access);

/* Linear address of seg:off for an access of size bytes (access: read or
 * write). In 64-bit mode: #GP(0) (#SS(0) for the stack segment) on a
 * non-canonical address; elsewhere the segment's usability, type and limit
 * are checked. */
static inline int soft_linear(struct soft_cpu *c, unsigned seg, uint64_t off, unsigned size,
                              unsigned access, uint64_t *la)
{
	if (c->mode == SOFT_MODE_64) {
		uint64_t a = off;
		if (seg == SEG_FS || seg == SEG_GS)
			a += c->state.seg[seg].base;
		if (!soft_canonical(a) || !soft_canonical(a + size - 1))
			return soft_raise(c, seg == SEG_SS ? SOFT_SS : SOFT_GP, true, 0);
		*la = a;
		return 0;
	}
	if (soft_segment_check(c, seg, off, size, access))
		return -1;
	*la = (c->state.seg[seg].base + off) & 0xffffffffULL;
	return 0;
}

int soft_mem_prepare_slow(struct soft_cpu *c, uint64_t la, unsigned size, unsigned access,
                          struct memref *m);
uint64_t soft_mem_read_slow(struct soft_cpu *c, const struct memref *m);
void soft_mem_write_slow(struct soft_cpu *c, const struct memref *m, uint64_t v);

static inline int soft_mem_prepare(struct soft_cpu *c, uint64_t la, unsigned size, unsigned access,
                                   struct memref *m)
{
	unsigned off = la & 0xfff;
	if (off + size <= 4096) {
		const struct soft_tlb_entry *e = soft_tlb_hit(c, la, access);
		if (__builtin_expect(!e, 0)) {
			/* A miss; pages holding a data breakpoint always miss. */
			e = soft_mmu_translate(c, la, access);
			if (!e)
				return -1;
			if (c->dbg_data)
				soft_debug_data_access(c, la, size, access);
		}
		m->size = size;
		m->len0 = size;
		m->gpa0 = e->gpa + off;
		m->host = e->host ? e->host + off : NULL;
		return 0;
	}
	return soft_mem_prepare_slow(c, la, size, access, m);
}

static inline uint64_t soft_mem_read(struct soft_cpu *c, const struct memref *m)
{
	if (m->host) {
		switch (m->size) {
		case 1: return m->host[0];
		case 2: {
			uint16_t v;
			memcpy(&v, m->host, 2);
			return v;
		}
		case 4: {
			uint32_t v;
			memcpy(&v, m->host, 4);
			return v;
		}
		default: {
			uint64_t v;
			memcpy(&v, m->host, 8);
			return v;
		}
		}
	}
	return soft_mem_read_slow(c, m);
}

static inline void soft_mem_write(struct soft_cpu *c, const struct memref *m, uint64_t v)
{
	if (m->host) {
		switch (m->size) {
		case 1: m->host[0] = (uint8_t)v; return;
		case 2: {
			uint16_t x = (uint16_t)v;
			memcpy(m->host, &x, 2);
			return;
		}
		case 4: {
			uint32_t x = (uint32_t)v;
			memcpy(m->host, &x, 4);
			return;
		}
		default: memcpy(m->host, &v, 8); return;
		}
	}
	soft_mem_write_slow(c, m, v);
}

/* Store new where *old was read. With lock set and the operand naturally
 * aligned in RAM this is an atomic compare-and-swap: false (and *old
 * refreshed) when another agent changed the value meanwhile, and the caller
 * recomputes. Without lock, or for an operand split across pages or in MMIO
 * (which real buses cannot lock either), it is a plain store. */
static inline bool soft_mem_commit(struct soft_cpu *c, const struct memref *m, uint64_t *old,
                                   uint64_t new, bool lock)
{
	if (lock && m->host && ((uintptr_t)m->host & (m->size - 1)) == 0) {
		switch (m->size) {
		case 1: {
			uint8_t o = (uint8_t)*old;
			bool ok = __atomic_compare_exchange_n(m->host, &o, (uint8_t) new, false,
			                                      __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
			*old = o;
			return ok;
		}
		case 2: {
			uint16_t o = (uint16_t)*old;
			bool ok =
			    __atomic_compare_exchange_n((uint16_t *)m->host, &o, (uint16_t) new,
			                                false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
			*old = o;
			return ok;
		}
		case 4: {
			uint32_t o = (uint32_t)*old;
			bool ok =
			    __atomic_compare_exchange_n((uint32_t *)m->host, &o, (uint32_t) new,
			                                false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
			*old = o;
			return ok;
		}
		default:
			return __atomic_compare_exchange_n((uint64_t *)m->host, old, new, false,
			                                   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		}
	}
	soft_mem_write(c, m, new);
	return true;
}

/* General registers by operand size; without REX, byte registers 4-7 are
 * AH, CH, DH, BH. A 32-bit write zero-extends, 8- and 16-bit writes merge. */
static inline uint64_t soft_reg_get(const struct soft_cpu *c, const struct soft_insn *i, unsigned r,
                                    unsigned size)
{
	switch (size) {
	case 1:
		if (!i->rex && r >= 4 && r < 8)
			return (c->state.gpr[r - 4] >> 8) & 0xff;
		return c->state.gpr[r] & 0xff;
	case 2: return c->state.gpr[r] & 0xffff;
	case 4: return c->state.gpr[r] & 0xffffffffULL;
	default: return c->state.gpr[r];
	}
}

static inline void soft_reg_set(struct soft_cpu *c, const struct soft_insn *i, unsigned r,
                                unsigned size, uint64_t v)
{
	uint64_t *g = &c->state.gpr[r];
	switch (size) {
	case 1:
		if (!i->rex && r >= 4 && r < 8) {
			g = &c->state.gpr[r - 4];
			*g = (*g & ~0xff00ULL) | ((v & 0xff) << 8);
		} else {
			*g = (*g & ~0xffULL) | (v & 0xff);
		}
		break;
	case 2: *g = (*g & ~0xffffULL) | (v & 0xffff); break;
	case 4: *g = v & 0xffffffffULL; break;
	default: *g = v; break;
	}
}

#endif
