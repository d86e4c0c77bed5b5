/* Shared by the soft engine's vector files (sse.c, sse_int.c, sse_fp.c):
 * the register image type, operand access with the SSE alignment and
 * exception rules, and the entry points of each group. Not part of the
 * engine's API. */
#ifndef RINGFOLD_ENGINE_SOFT_SSE_H
#define RINGFOLD_ENGINE_SOFT_SSE_H

#include <string.h>

#include "engine/soft/access.h"
#include "engine/soft/exec.h"

/* One XMM register (or an MMX register in its low 8 bytes) seen as lanes of
 * any width. The host is little-endian x86-64, like the guest, so lane k of
 * every view is where the architecture puts it. */
typedef union {
	uint8_t u8[16];
	int8_t i8[16];
	uint16_t u16[8];
	int16_t i16[8];
	uint32_t u32[4];
	int32_t i32[4];
	uint64_t u64[2];
	int64_t i64[2];
	float f32[4];
	double f64[2];
} sse_vec;

/* MXCSR */
#define MX_IE 0x0001u
#define MX_DE 0x0002u
#define MX_ZE 0x0004u
#define MX_OE 0x0008u
#define MX_UE 0x0010u
#define MX_PE 0x0020u
#define MX_FLAGS 0x003fu
#define MX_DAZ 0x0040u
#define MX_MASKS 0x1f80u
#define MX_UM 0x0800u
#define MX_RC 0x6000u
#define MX_FTZ 0x8000u
#define MX_VALID 0xffffu /* MXCSR_MASK of the model: anything above is #GP */

/* Control register bits only the vector code needs. */
#define SSE_CR0_MP (1ULL << 1)
#define SSE_CR0_EM (1ULL << 2)
#define SSE_CR0_TS (1ULL << 3)
#define SSE_CR0_NE (1ULL << 5)
#define SSE_CR4_OSFXSR (1ULL << 9)
#define SSE_CR4_OSXMMEXCPT (1ULL << 10)

/* The mandatory prefix that selects among an opcode's forms: F3 and F2
 * win over 66 (which is then ignored), as on hardware. */
enum sse_pfx { PF_NONE, PF_66, PF_F3, PF_F2 };
static inline enum sse_pfx sse_prefix(const struct soft_insn *i)
{
	if (i->pfx & SOFT_PFX_REP)
		return PF_F3;
	if (i->pfx & SOFT_PFX_REPNE)
		return PF_F2;
	return (i->pfx & SOFT_PFX_OPSIZE) ? PF_66 : PF_NONE;
}

/* Which device-not-available and state checks an instruction needs. */
enum sse_kind {
	SK_SSE,  /* XMM only: CR0.EM and !CR4.OSFXSR #UD, CR0.TS #NM */
	SK_MMX,  /* MMX registers: CR0.EM #UD, CR0.TS #NM, pending x87 error #MF */
	SK_BOTH, /* SSE instructions with an MMX operand: all of the above */
};
int sse_check(struct soft_cpu *c, enum sse_kind kind);

static inline sse_vec xmm_get(const struct soft_cpu *c, unsigned n)
{
	sse_vec v;
	memcpy(&v, c->state.fpu.xmm[n & 15], 16);
	return v;
}
static inline void xmm_set(struct soft_cpu *c, unsigned n, const sse_vec *v)
{
	memcpy(c->state.fpu.xmm[n & 15], v, 16);
}
static inline uint64_t mmx_get(const struct soft_cpu *c, unsigned n)
{
	return c->state.fpu.st[n & 7].significand;
}
/* Writing an MMX register sets its exponent field to all ones, so that as
 * an x87 value it reads as a NaN or infinity. */
static inline void mmx_set(struct soft_cpu *c, unsigned n, uint64_t v)
{
	c->state.fpu.st[n & 7].significand = v;
	c->state.fpu.st[n & 7].sign_exp = 0xffff;
}
/* Every MMX instruction but EMMS: TOP = 0 and every register valid. The
 * hardware does it once the memory operands were accessed (a #PF or #GP
 * leaves the x87 state alone) but before SIMD floating-point exceptions
 * (CVTPS2PI's #XM finds it done). */
static inline void mmx_enter(struct soft_cpu *c)
{
	c->state.fpu.fsw &= (uint16_t) ~(7u << 11);
	c->state.fpu.ftw = 0xff;
}

/* Memory operands. size is 1..16 bytes; align16 demands 16-byte alignment
 * of the linear address (#GP(0) otherwise). The reads and the write check
 * every byte (segment, canonical form, paging) before anything changes. */
int sse_mem_read(struct soft_cpu *c, const struct soft_insn *i, uint64_t ea, unsigned size,
                 bool align16, void *out);
int sse_mem_write(struct soft_cpu *c, const struct soft_insn *i, uint64_t ea, unsigned size,
                  bool align16, const void *in);

/* The r/m source of an XMM form: the whole register, or size bytes of
 * memory zero-extended to 16. */
int sse_src(struct soft_cpu *c, const struct soft_insn *i, unsigned size, bool align16, sse_vec *v);
/* The r/m source of an MMX form: the register, or size (4 or 8) bytes of
 * memory zero-extended. */
int mmx_src(struct soft_cpu *c, const struct soft_insn *i, unsigned size, uint64_t *v);

/* Retire: RIP past the instruction. */
static inline int sse_done(struct soft_cpu *c, const struct soft_insn *i)
{
	c->state.rip = soft_x_next_rip(c, i);
	return SOFT_X_RETIRED;
}
static inline int sse_ud(struct soft_cpu *c)
{
	return soft_raise(c, SOFT_UD, false, 0);
}

/* sse_int.c: the integer rows shared by MMX and SSE2 (0F 60-76, D1-FE)
 * and the SSSE3/SSE4 integer instructions of 0F 38 and 0F 3A. -2: not an
 * opcode handled there. */
int sse_int_exec(struct soft_cpu *c, const struct soft_insn *i, enum sse_pfx pf);
/* sse_fp.c: floating-point arithmetic, compares and conversions. -2: not
 * an opcode handled there. */
int sse_fp_exec(struct soft_cpu *c, const struct soft_insn *i, enum sse_pfx pf);
/* sse_str.c: SSE4.2 string compares and CRC32. -2: not handled there. */
int sse_str_exec(struct soft_cpu *c, const struct soft_insn *i, enum sse_pfx pf);

#endif
