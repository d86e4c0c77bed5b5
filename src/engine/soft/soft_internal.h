/* Helpers shared by the soft engine's files; not part of its API. */
#ifndef RINGFOLD_ENGINE_SOFT_INTERNAL_H
#define RINGFOLD_ENGINE_SOFT_INTERNAL_H

#include "engine/soft/soft.h"

/* RFLAGS bits. */
#define FL_CF 0x0001ULL
#define FL_PF 0x0004ULL
#define FL_AF 0x0010ULL
#define FL_ZF 0x0040ULL
#define FL_SF 0x0080ULL
#define FL_TF 0x0100ULL
#define FL_IF 0x0200ULL
#define FL_DF 0x0400ULL
#define FL_OF 0x0800ULL
#define FL_IOPL 0x3000ULL
#define FL_NT 0x4000ULL
#define FL_RF 0x10000ULL
#define FL_VM 0x20000ULL
#define FL_AC 0x40000ULL
#define FL_ID 0x200000ULL
#define FL_ARITH (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF)

/* Control register bits the interpreter looks at. */
#define CR0_PE (1ULL << 0)
#define CR0_WP (1ULL << 16)
#define CR0_AM (1ULL << 18)
#define CR0_PG (1ULL << 31)
#define CR4_PSE (1ULL << 4)
#define CR4_PAE (1ULL << 5)
#define CR4_PGE (1ULL << 7)
#define CR4_TSD (1ULL << 2)
#define CR4_PCIDE (1ULL << 17)
#define CR4_SMEP (1ULL << 20)
#define CR4_SMAP (1ULL << 21)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)
#define EFER_NXE (1ULL << 11)

/* Lazy flag operations. */
enum {
	SOFT_LF_NONE,
	SOFT_LF_ADD,
	SOFT_LF_ADC,
	SOFT_LF_SUB,
	SOFT_LF_SBB,
	SOFT_LF_LOGIC,
	SOFT_LF_INC,
	SOFT_LF_DEC,
};

/* Record an exception for the current instruction; always returns -1 so an
 * execution path can `return soft_raise(...)`. */
static inline int soft_raise(struct soft_cpu *c, unsigned vector, bool has_error, uint32_t error)
{
	c->exc = (struct soft_exception){
	    .valid = true, .vector = (uint8_t)vector, .has_error = has_error, .error = error};
	return -1;
}

static inline uint64_t soft_size_mask(unsigned size)
{
	return size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}

static inline bool soft_canonical(uint64_t la)
{
	return (uint64_t)((int64_t)(la << 16) >> 16) == la;
}

/* The TLB hit path, inline: the entry when it allows the access without a
 * walk, else NULL. */
static inline const struct soft_tlb_entry *soft_tlb_hit(struct soft_cpu *c, uint64_t la,
                                                        unsigned access)
{
	const struct soft_tlb_entry *e = &c->tlb[(la >> 12) & (SOFT_TLB_SIZE - 1)];
	if (__builtin_expect(e->vpn == la >> 12 && e->ctx == c->tlb_ctx &&
	                         ((e->ok >> access) & 1) &&
	                         (e->pcid == c->cur_pcid || (e->perm & SOFT_TLB_G)),
	                     1))
		return e;
	return NULL;
}

/* A hit, or everything else through soft_mmu_translate(). */
static inline const struct soft_tlb_entry *soft_tlb_lookup(struct soft_cpu *c, uint64_t la,
                                                           unsigned access)
{
	const struct soft_tlb_entry *e = soft_tlb_hit(c, la, access);
	return e ? e : soft_mmu_translate(c, la, access);
}

/* Debug registers (debug.c). */
#define DR6_BD (1ULL << 13) /* debug-register access detected (DR7.GD) */
#define DR6_BS (1ULL << 14) /* single step */
#define DR7_GD (1ULL << 13)
/* Recompute dbg_armed/dbg_exec/dbg_data from DR7 and RFLAGS; flushes the
 * TLB when the watched data ranges changed (their pages bypass its fast
 * path). */
void soft_debug_refresh(struct soft_cpu *c);
/* dbg_armed after RFLAGS.TF or RF changed (DR7 unchanged). */
static inline void soft_debug_rearm(struct soft_cpu *c)
{
	c->dbg_armed = c->dbg_exec || c->dbg_data || (c->state.rflags & (FL_TF | FL_RF));
}
/* Enabled instruction breakpoints at CS:RIP (DR6 B0-B3 bits). */
unsigned soft_debug_exec_hits(const struct soft_cpu *c);
/* Does the linear page vpn hold a watched data range? */
bool soft_debug_page_watched(const struct soft_cpu *c, uint64_t vpn);
/* A data access of size bytes at la: record the breakpoints it hits. */
void soft_debug_data_access(struct soft_cpu *c, uint64_t la, unsigned size, unsigned access);

/* Flags (flags.c). */
uint64_t soft_flags_get(struct soft_cpu *c);     /* materialized RFLAGS */
bool soft_cf(const struct soft_cpu *c);          /* CF alone, without materializing */
void soft_flags_materialize(struct soft_cpu *c); /* fold lazy state into state.rflags */
bool soft_cond(struct soft_cpu *c, unsigned cc); /* condition code 0..15 */

static inline void soft_lf_set(struct soft_cpu *c, unsigned op, unsigned size, uint64_t res,
                               uint64_t a, uint64_t b)
{
	c->lf.op = (uint8_t)op;
	c->lf.size = (uint8_t)size;
	c->lf.res = res;
	c->lf.a = a;
	c->lf.b = b;
}

#endif
