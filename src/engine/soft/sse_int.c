/* Packed integer instructions: the MMX/SSE2 rows of the 0F map (each
 * opcode is an MMX instruction without prefix and its 128-bit twin with 66),
 * the shifts by immediate (0F 71-73), and the integer parts of SSSE3 and
 * SSE4.1/4.2 in the 0F 38 and 0F 3A maps.
 *
 * Every operation is written once for n bytes of operand (8 for MMX, 16 for
 * XMM) on an sse_vec: d is the destination and first source, s the second. */
#include "engine/soft/sse.h"

typedef void (*vec_fn)(sse_vec *d, const sse_vec *s, unsigned n);

static inline int16_t sat16(int32_t v)
{
	return (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
}
static inline int8_t sat8(int32_t v)
{
	return (int8_t)(v > 127 ? 127 : v < -128 ? -128 : v);
}
static inline uint8_t usat8(int32_t v)
{
	return (uint8_t)(v > 255 ? 255 : v < 0 ? 0 : v);
}
static inline uint16_t usat16(int64_t v)
{
	return (uint16_t)(v > 65535 ? 65535 : v < 0 ? 0 : v);
}

/* Lane-wise d = f(a, b) over the lanes of one width. */
#define LANEWISE(name, field, T, expr)                                                             \
	static void name(sse_vec *d, const sse_vec *s, unsigned n)                                 \
	{                                                                                          \
		for (unsigned k = 0; k < n / sizeof(T); k++) {                                     \
			T a = d->field[k], b = s->field[k];                                        \
			(void)a;                                                                   \
			d->field[k] = (T)(expr);                                                   \
		}                                                                                  \
	}

LANEWISE(paddb, u8, uint8_t, a + b)
LANEWISE(paddw, u16, uint16_t, a + b)
LANEWISE(paddd, u32, uint32_t, a + b)
LANEWISE(paddq, u64, uint64_t, a + b)
LANEWISE(psubb, u8, uint8_t, a - b)
LANEWISE(psubw, u16, uint16_t, a - b)
LANEWISE(psubd, u32, uint32_t, a - b)
LANEWISE(psubq, u64, uint64_t, a - b)
LANEWISE(paddsb, i8, int8_t, sat8(a + b))
LANEWISE(paddsw, i16, int16_t, sat16(a + b))
LANEWISE(psubsb, i8, int8_t, sat8(a - b))
LANEWISE(psubsw, i16, int16_t, sat16(a - b))
LANEWISE(paddusb, u8, uint8_t, usat8(a + b))
LANEWISE(paddusw, u16, uint16_t, usat16((int64_t)a + b))
LANEWISE(psubusb, u8, uint8_t, usat8(a - b))
LANEWISE(psubusw, u16, uint16_t, usat16((int64_t)a - b))
LANEWISE(pcmpeqb, u8, uint8_t, a == b ? 0xff : 0)
LANEWISE(pcmpeqw, u16, uint16_t, a == b ? 0xffff : 0)
LANEWISE(pcmpeqd, u32, uint32_t, a == b ? 0xffffffffu : 0)
LANEWISE(pcmpeqq, u64, uint64_t, a == b ? ~0ULL : 0)
LANEWISE(pcmpgtb, i8, int8_t, a > b ? -1 : 0)
LANEWISE(pcmpgtw, i16, int16_t, a > b ? -1 : 0)
LANEWISE(pcmpgtd, i32, int32_t, a > b ? -1 : 0)
LANEWISE(pcmpgtq, i64, int64_t, a > b ? -1 : 0)
LANEWISE(pmullw, u16, uint16_t, (uint32_t)a *b)
LANEWISE(pmulhw, i16, int16_t, ((int32_t)a * b) >> 16)
LANEWISE(pmulhuw, u16, uint16_t, ((uint32_t)a * b) >> 16)
LANEWISE(pmulld, u32, uint32_t, (uint64_t)a *b)
LANEWISE(pavgb, u8, uint8_t, (a + b + 1) >> 1)
LANEWISE(pavgw, u16, uint16_t, ((uint32_t)a + b + 1) >> 1)
LANEWISE(pminub, u8, uint8_t, a < b ? a : b)
LANEWISE(pmaxub, u8, uint8_t, a > b ? a : b)
LANEWISE(pminsw, i16, int16_t, a < b ? a : b)
LANEWISE(pmaxsw, i16, int16_t, a > b ? a : b)
LANEWISE(pminsb, i8, int8_t, a < b ? a : b)
LANEWISE(pmaxsb, i8, int8_t, a > b ? a : b)
LANEWISE(pminsd, i32, int32_t, a < b ? a : b)
LANEWISE(pmaxsd, i32, int32_t, a > b ? a : b)
LANEWISE(pminuw, u16, uint16_t, a < b ? a : b)
LANEWISE(pmaxuw, u16, uint16_t, a > b ? a : b)
LANEWISE(pminud, u32, uint32_t, a < b ? a : b)
LANEWISE(pmaxud, u32, uint32_t, a > b ? a : b)
LANEWISE(pand, u64, uint64_t, a &b)
LANEWISE(pandn, u64, uint64_t, ~a &b)
LANEWISE(por, u64, uint64_t, a | b)
LANEWISE(pxor, u64, uint64_t, a ^ b)
LANEWISE(psignb, i8, int8_t, b < 0 ? -a : b == 0 ? 0 : a)
LANEWISE(psignw, i16, int16_t, b < 0 ? -a : b == 0 ? 0 : a)
LANEWISE(psignd, i32, int32_t, b < 0 ? -(uint32_t)a : b == 0 ? 0 : (uint32_t)a)
LANEWISE(pmulhrsw, i16, int16_t, ((((int32_t)a * b) >> 14) + 1) >> 1)
/* Unary: d = f(s). */
LANEWISE(pabsb, i8, int8_t, b < 0 ? -b : b)
LANEWISE(pabsw, i16, int16_t, b < 0 ? -b : b)
LANEWISE(pabsd, u32, uint32_t, (int32_t)b < 0 ? -b : b)

/* Shifts by the count in the low 64 bits of s; counts past the width give
 * zero (arithmetic: the sign). */
#define SHIFT_BY(name, field, T, bits, expr_ok, expr_over)                                         \
	static void name(sse_vec *d, const sse_vec *s, unsigned n)                                 \
	{                                                                                          \
		uint64_t cnt = s->u64[0];                                                          \
		for (unsigned k = 0; k < n / sizeof(T); k++) {                                     \
			T a = d->field[k];                                                         \
			d->field[k] = (T)(cnt < (bits) ? (expr_ok) : (expr_over));                 \
		}                                                                                  \
	}
SHIFT_BY(psrlw, u16, uint16_t, 16, a >> cnt, 0)
SHIFT_BY(psrld, u32, uint32_t, 32, a >> cnt, 0)
SHIFT_BY(psrlq, u64, uint64_t, 64, a >> cnt, 0)
SHIFT_BY(psllw, u16, uint16_t, 16, (uint32_t)a << cnt, 0)
SHIFT_BY(pslld, u32, uint32_t, 32, a << cnt, 0)
SHIFT_BY(psllq, u64, uint64_t, 64, a << cnt, 0)
SHIFT_BY(psraw, i16, int16_t, 16, a >> cnt, a >> 15)
SHIFT_BY(psrad, i32, int32_t, 32, a >> cnt, a >> 31)

/* Byte shifts of the whole 128-bit register (count in s->u64[0]). */
static void psrldq(sse_vec *d, const sse_vec *s, unsigned n)
{
	uint64_t cnt = s->u64[0] > 16 ? 16 : s->u64[0];
	sse_vec r = {{0}};
	for (unsigned k = 0; k + cnt < n; k++)
		r.u8[k] = d->u8[k + cnt];
	*d = r;
}
static void pslldq(sse_vec *d, const sse_vec *s, unsigned n)
{
	uint64_t cnt = s->u64[0] > 16 ? 16 : s->u64[0];
	sse_vec r = {{0}};
	for (unsigned k = (unsigned)cnt; k < n; k++)
		r.u8[k] = d->u8[k - cnt];
	*d = r;
}

/* Interleave the low (or high) halves of d and s, element size e. */
static void unpack(sse_vec *d, const sse_vec *s, unsigned n, unsigned e, bool high)
{
	sse_vec r;
	unsigned half = n / 2;
	unsigned from = high ? half : 0;
	for (unsigned k = 0; k < half / e; k++) {
		memcpy(&r.u8[2 * k * e], &d->u8[from + k * e], e);
		memcpy(&r.u8[(2 * k + 1) * e], &s->u8[from + k * e], e);
	}
	memcpy(d, &r, n);
}
static void punpcklbw(sse_vec *d, const sse_vec *s, unsigned n)
{
	unpack(d, s, n, 1, false);
}
static void punpcklwd(sse_vec *d, const sse_vec *s, unsigned n)
{
	unpack(d, s, n, 2, false);
}
static void punpckldq(sse_vec *d, const sse_vec *s, unsigned n)
{
	unpack(d, s, n, 4, false);
}
static void punpcklqdq(sse_vec *d, const sse_vec *s, unsigned n)
{
	unpack(d, s, n, 8, false);
}
static void punpckhbw(sse_vec *d, const sse_vec *s, unsigned n)
{
	unpack(d, s, n, 1, true);
}
static void punpckhwd(sse_vec *d, const sse_vec *s, unsigned n)
{
	unpack(d, s, n, 2, true);
}
static void punpckhdq(sse_vec *d, const sse_vec *s, unsigned n)
{
	unpack(d, s, n, 4, true);
}
static void punpckhqdq(sse_vec *d, const sse_vec *s, unsigned n)
{
	unpack(d, s, n, 8, true);
}

static void packsswb(sse_vec *d, const sse_vec *s, unsigned n)
{
	sse_vec r;
	unsigned m = n / 2;
	for (unsigned k = 0; k < m; k++) {
		r.i8[k] = sat8(d->i16[k]);
		r.i8[m + k] = sat8(s->i16[k]);
	}
	memcpy(d, &r, n);
}
static void packuswb(sse_vec *d, const sse_vec *s, unsigned n)
{
	sse_vec r;
	unsigned m = n / 2;
	for (unsigned k = 0; k < m; k++) {
		r.u8[k] = usat8(d->i16[k]);
		r.u8[m + k] = usat8(s->i16[k]);
	}
	memcpy(d, &r, n);
}
static void packssdw(sse_vec *d, const sse_vec *s, unsigned n)
{
	sse_vec r;
	unsigned m = n / 4;
	for (unsigned k = 0; k < m; k++) {
		r.i16[k] = sat16(d->i32[k]);
		r.i16[m + k] = sat16(s->i32[k]);
	}
	memcpy(d, &r, n);
}
static void packusdw(sse_vec *d, const sse_vec *s, unsigned n)
{
	sse_vec r;
	unsigned m = n / 4;
	for (unsigned k = 0; k < m; k++) {
		r.u16[k] = usat16(d->i32[k]);
		r.u16[m + k] = usat16(s->i32[k]);
	}
	memcpy(d, &r, n);
}

static void pmuludq(sse_vec *d, const sse_vec *s, unsigned n)
{
	for (unsigned k = 0; k < n / 8; k++)
		d->u64[k] = (uint64_t)(uint32_t)d->u64[k] * (uint32_t)s->u64[k];
}
static void pmuldq(sse_vec *d, const sse_vec *s, unsigned n)
{
	for (unsigned k = 0; k < n / 8; k++)
		d->i64[k] = (int64_t)d->i32[2 * k] * s->i32[2 * k];
}
static void pmaddwd(sse_vec *d, const sse_vec *s, unsigned n)
{
	for (unsigned k = 0; k < n / 4; k++) {
		/* 0x8000 * 0x8000 twice wraps to 0x80000000, as on hardware */
		uint32_t v = (uint32_t)((int32_t)d->i16[2 * k] * s->i16[2 * k]) +
		             (uint32_t)((int32_t)d->i16[2 * k + 1] * s->i16[2 * k + 1]);
		d->u32[k] = v;
	}
}
static void psadbw(sse_vec *d, const sse_vec *s, unsigned n)
{
	for (unsigned q = 0; q < n / 8; q++) {
		unsigned sum = 0;
		for (unsigned k = 0; k < 8; k++) {
			int diff = d->u8[8 * q + k] - s->u8[8 * q + k];
			sum += (unsigned)(diff < 0 ? -diff : diff);
		}
		d->u64[q] = sum;
	}
}

/* SSSE3 */
static void pshufb(sse_vec *d, const sse_vec *s, unsigned n)
{
	sse_vec r;
	for (unsigned k = 0; k < n; k++)
		r.u8[k] = (s->u8[k] & 0x80) ? 0 : d->u8[s->u8[k] & (n - 1)];
	memcpy(d, &r, n);
}
/* Horizontal pairs: the low half of the result from d, the high from s. */
#define HORIZONTAL(name, field, T, expr)                                                           \
	static void name(sse_vec *d, const sse_vec *s, unsigned n)                                 \
	{                                                                                          \
		sse_vec r;                                                                         \
		unsigned m = n / sizeof(T) / 2;                                                    \
		for (unsigned k = 0; k < m; k++) {                                                 \
			T a = d->field[2 * k], b = d->field[2 * k + 1];                            \
			r.field[k] = (T)(expr);                                                    \
			a = s->field[2 * k];                                                       \
			b = s->field[2 * k + 1];                                                   \
			r.field[m + k] = (T)(expr);                                                \
		}                                                                                  \
		memcpy(d, &r, n);                                                                  \
	}
HORIZONTAL(phaddw, u16, uint16_t, a + b)
HORIZONTAL(phaddd, u32, uint32_t, a + b)
HORIZONTAL(phaddsw, i16, int16_t, sat16(a + b))
HORIZONTAL(phsubw, u16, uint16_t, a - b)
HORIZONTAL(phsubd, u32, uint32_t, a - b)
HORIZONTAL(phsubsw, i16, int16_t, sat16(a - b))

static void pmaddubsw(sse_vec *d, const sse_vec *s, unsigned n)
{
	sse_vec r;
	for (unsigned k = 0; k < n / 2; k++)
		r.i16[k] = sat16(d->u8[2 * k] * s->i8[2 * k] + d->u8[2 * k + 1] * s->i8[2 * k + 1]);
	memcpy(d, &r, n);
}

/* The binary rows of the 0F map: 60-76 and D1-FE. */
#define F_66ONLY 0x01 /* no MMX form */
#define F_M32 0x02    /* the MMX form reads 32 bits of memory */
#define F_UNARY 0x04  /* d = f(s): the destination is not a source */
struct int_op {
	vec_fn fn;
	uint8_t flags;
};
static const struct int_op row6[0x17] = {
    [0x00] = {punpcklbw, F_M32},     [0x01] = {punpcklwd, F_M32},     [0x02] = {punpckldq, F_M32},
    [0x03] = {packsswb, 0},          [0x04] = {pcmpgtb, 0},           [0x05] = {pcmpgtw, 0},
    [0x06] = {pcmpgtd, 0},           [0x07] = {packuswb, 0},          [0x08] = {punpckhbw, 0},
    [0x09] = {punpckhwd, 0},         [0x0a] = {punpckhdq, 0},         [0x0b] = {packssdw, 0},
    [0x0c] = {punpcklqdq, F_66ONLY}, [0x0d] = {punpckhqdq, F_66ONLY}, [0x14] = {pcmpeqb, 0},
    [0x15] = {pcmpeqw, 0},           [0x16] = {pcmpeqd, 0},
};
static const struct int_op rowd[0x30] = {
    [0x01] = {psrlw, 0},  [0x02] = {psrld, 0},   [0x03] = {psrlq, 0},   [0x04] = {paddq, 0},
    [0x05] = {pmullw, 0}, [0x08] = {psubusb, 0}, [0x09] = {psubusw, 0}, [0x0a] = {pminub, 0},
    [0x0b] = {pand, 0},   [0x0c] = {paddusb, 0}, [0x0d] = {paddusw, 0}, [0x0e] = {pmaxub, 0},
    [0x0f] = {pandn, 0},  [0x10] = {pavgb, 0},   [0x11] = {psraw, 0},   [0x12] = {psrad, 0},
    [0x13] = {pavgw, 0},  [0x14] = {pmulhuw, 0}, [0x15] = {pmulhw, 0},  [0x18] = {psubsb, 0},
    [0x19] = {psubsw, 0}, [0x1a] = {pminsw, 0},  [0x1b] = {por, 0},     [0x1c] = {paddsb, 0},
    [0x1d] = {paddsw, 0}, [0x1e] = {pmaxsw, 0},  [0x1f] = {pxor, 0},    [0x21] = {psllw, 0},
    [0x22] = {pslld, 0},  [0x23] = {psllq, 0},   [0x24] = {pmuludq, 0}, [0x25] = {pmaddwd, 0},
    [0x26] = {psadbw, 0}, [0x28] = {psubb, 0},   [0x29] = {psubw, 0},   [0x2a] = {psubd, 0},
    [0x2b] = {psubq, 0},  [0x2c] = {paddb, 0},   [0x2d] = {paddw, 0},   [0x2e] = {paddd, 0},
};
/* 0F 38 00-41: SSSE3 (MMX and 66 forms) and SSE4.1/4.2 (66 only). */
static const struct int_op row38[0x42] = {
    [0x00] = {pshufb, 0},         [0x01] = {phaddw, 0},         [0x02] = {phaddd, 0},
    [0x03] = {phaddsw, 0},        [0x04] = {pmaddubsw, 0},      [0x05] = {phsubw, 0},
    [0x06] = {phsubd, 0},         [0x07] = {phsubsw, 0},        [0x08] = {psignb, 0},
    [0x09] = {psignw, 0},         [0x0a] = {psignd, 0},         [0x0b] = {pmulhrsw, 0},
    [0x1c] = {pabsb, F_UNARY},    [0x1d] = {pabsw, F_UNARY},    [0x1e] = {pabsd, F_UNARY},
    [0x28] = {pmuldq, F_66ONLY},  [0x29] = {pcmpeqq, F_66ONLY}, [0x2b] = {packusdw, F_66ONLY},
    [0x37] = {pcmpgtq, F_66ONLY}, [0x38] = {pminsb, F_66ONLY},  [0x39] = {pminsd, F_66ONLY},
    [0x3a] = {pminuw, F_66ONLY},  [0x3b] = {pminud, F_66ONLY},  [0x3c] = {pmaxsb, F_66ONLY},
    [0x3d] = {pmaxsd, F_66ONLY},  [0x3e] = {pmaxuw, F_66ONLY},  [0x3f] = {pmaxud, F_66ONLY},
    [0x40] = {pmulld, F_66ONLY},
};

/* dst = fn(dst, src) for an MMX (no prefix) or XMM (66) form. */
static int binop(struct soft_cpu *c, const struct soft_insn *i, enum sse_pfx pf,
                 const struct int_op *o)
{
	sse_vec d = {{0}}, s = {{0}};
	if (pf >= PF_F3 || (pf == PF_NONE && (o->flags & F_66ONLY)))
		return sse_ud(c);
	if (pf == PF_66) {
		if (sse_check(c, SK_SSE) || sse_src(c, i, 16, true, &s))
			return -1;
		if (!(o->flags & F_UNARY))
			d = xmm_get(c, i->reg);
		o->fn(&d, &s, 16);
		xmm_set(c, i->reg, &d);
	} else {
		if (sse_check(c, SK_MMX) || mmx_src(c, i, (o->flags & F_M32) ? 4 : 8, &s.u64[0]))
			return -1;
		if (!(o->flags & F_UNARY))
			d.u64[0] = mmx_get(c, i->reg);
		o->fn(&d, &s, 8);
		mmx_set(c, i->reg, d.u64[0]);
		mmx_enter(c);
	}
	return sse_done(c, i);
}

/* 0F 71-73: shifts of mm/xmm (register form only) by imm8. */
static int shift_imm(struct soft_cpu *c, const struct soft_insn *i, enum sse_pfx pf)
{
	static const vec_fn fns[3][8] = {
	    {NULL, NULL, psrlw, NULL, psraw, NULL, psllw, NULL},
	    {NULL, NULL, psrld, NULL, psrad, NULL, pslld, NULL},
	    {NULL, NULL, psrlq, psrldq, NULL, NULL, psllq, pslldq},
	};
	unsigned r = (i->modrm >> 3) & 7;
	vec_fn fn = fns[(i->op & 0xff) - 0x71][r];
	if (pf >= PF_F3 || i->mem || !fn || ((r == 3 || r == 7) && pf != PF_66))
		return sse_ud(c);
	sse_vec d = {{0}}, cnt = {.u64 = {i->imm & 0xff, 0}};
	if (pf == PF_66) {
		if (sse_check(c, SK_SSE))
			return -1;
		d = xmm_get(c, i->rm);
		fn(&d, &cnt, 16);
		xmm_set(c, i->rm, &d);
	} else {
		if (sse_check(c, SK_MMX))
			return -1;
		d.u64[0] = mmx_get(c, i->rm);
		fn(&d, &cnt, 8);
		mmx_set(c, i->rm, d.u64[0]);
		mmx_enter(c);
	}
	return sse_done(c, i);
}

/* PALIGNR (0F 3A 0F): the concatenation d:s shifted right by imm8 bytes. */
static int palignr(struct soft_cpu *c, const struct soft_insn *i, enum sse_pfx pf)
{
	unsigned imm = (unsigned)i->imm & 0xff;
	uint8_t cat[32];
	sse_vec d = {{0}}, s = {{0}}, r = {{0}};
	unsigned n = pf == PF_66 ? 16 : 8;
	if (pf >= PF_F3)
		return sse_ud(c);
	if (pf == PF_66) {
		if (sse_check(c, SK_SSE) || sse_src(c, i, 16, true, &s))
			return -1;
		d = xmm_get(c, i->reg);
	} else {
		if (sse_check(c, SK_MMX) || mmx_src(c, i, 8, &s.u64[0]))
			return -1;
		d.u64[0] = mmx_get(c, i->reg);
	}
	memcpy(cat, s.u8, n);
	memcpy(cat + n, d.u8, n);
	for (unsigned k = 0; k < n; k++)
		r.u8[k] = k + imm < 2 * n ? cat[k + imm] : 0;
	if (pf == PF_66) {
		xmm_set(c, i->reg, &r);
	} else {
		mmx_set(c, i->reg, r.u64[0]);
		mmx_enter(c);
	}
	return sse_done(c, i);
}

/* --- SSE4.1 integer instructions (66 prefix only) --- */

/* PMOVSX/PMOVZX: widen the low lanes of xmm/m(16..64). */
static int pmov_extend(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned op = i->op & 0x0f;
	bool zx = (i->op & 0xf0) == 0x30;
	static const uint8_t from[6] = {1, 1, 1, 2, 2, 4}, to[6] = {2, 4, 8, 4, 8, 8};
	if (op > 5)
		return -2;
	unsigned fe = from[op], te = to[op], lanes = 16 / te;
	sse_vec s, r;
	if (sse_check(c, SK_SSE) || sse_src(c, i, lanes * fe, false, &s))
		return -1;
	for (unsigned k = 0; k < lanes; k++) {
		uint64_t v = 0;
		memcpy(&v, &s.u8[k * fe], fe);
		if (!zx && (v >> (fe * 8 - 1)) & 1)
			v |= ~0ULL << (fe * 8);
		memcpy(&r.u8[k * te], &v, te);
	}
	xmm_set(c, i->reg, &r);
	return sse_done(c, i);
}

static int sse41_38(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned op = i->op & 0xff;
	sse_vec d, s, m;
	switch (op) {
	case 0x10: /* PBLENDVB */
	case 0x14: /* BLENDVPS */
	case 0x15: /* BLENDVPD */
		if (sse_check(c, SK_SSE) || sse_src(c, i, 16, true, &s))
			return -1;
		d = xmm_get(c, i->reg);
		m = xmm_get(c, 0);
		for (unsigned k = 0; k < 16; k++) {
			unsigned e = op == 0x10 ? 1 : op == 0x14 ? 4 : 8;
			unsigned top = (k / e) * e + e - 1;
			if (m.u8[top] & 0x80)
				d.u8[k] = s.u8[k];
		}
		xmm_set(c, i->reg, &d);
		return sse_done(c, i);
	case 0x17: { /* PTEST */
		if (sse_check(c, SK_SSE) || sse_src(c, i, 16, true, &s))
			return -1;
		d = xmm_get(c, i->reg);
		bool zf = !((d.u64[0] & s.u64[0]) | (d.u64[1] & s.u64[1]));
		bool cf = !((~d.u64[0] & s.u64[0]) | (~d.u64[1] & s.u64[1]));
		uint64_t f = soft_flags_get(c) & ~FL_ARITH;
		c->state.rflags = f | (zf ? FL_ZF : 0) | (cf ? FL_CF : 0);
		return sse_done(c, i);
	}
	case 0x2a: /* MOVNTDQA */
		if (!i->mem)
			return sse_ud(c);
		if (sse_check(c, SK_SSE) || sse_src(c, i, 16, true, &d))
			return -1;
		xmm_set(c, i->reg, &d);
		return sse_done(c, i);
	case 0x41: { /* PHMINPOSUW */
		if (sse_check(c, SK_SSE) || sse_src(c, i, 16, true, &s))
			return -1;
		unsigned best = 0;
		for (unsigned k = 1; k < 8; k++)
			if (s.u16[k] < s.u16[best])
				best = k;
		d = (sse_vec){.u16 = {s.u16[best], (uint16_t)best}};
		xmm_set(c, i->reg, &d);
		return sse_done(c, i);
	}
	default:
		if ((op >= 0x20 && op <= 0x25) || (op >= 0x30 && op <= 0x35))
			return pmov_extend(c, i);
		return -2;
	}
}

static int sse41_3a(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned op = i->op & 0xff;
	unsigned imm = (unsigned)i->imm & 0xff;
	bool w = i->rex & 8;
	sse_vec d, s;
	uint64_t v;
	switch (op) {
	case 0x0c: /* BLENDPS */
	case 0x0d: /* BLENDPD */
	case 0x0e: /* PBLENDW */
	case 0x42: /* MPSADBW */
		if (sse_check(c, SK_SSE) || sse_src(c, i, 16, true, &s))
			return -1;
		d = xmm_get(c, i->reg);
		if (op == 0x42) {
			sse_vec r;
			unsigned so = (imm & 3) * 4, doff = ((imm >> 2) & 1) * 4;
			for (unsigned k = 0; k < 8; k++) {
				unsigned sum = 0;
				for (unsigned j = 0; j < 4; j++) {
					int diff = d.u8[doff + k + j] - s.u8[so + j];
					sum += (unsigned)(diff < 0 ? -diff : diff);
				}
				r.u16[k] = (uint16_t)sum;
			}
			d = r;
		} else {
			unsigned e = op == 0x0c ? 4 : op == 0x0d ? 8 : 2;
			for (unsigned k = 0; k < 16 / e; k++)
				if ((imm >> k) & 1)
					memcpy(&d.u8[k * e], &s.u8[k * e], e);
		}
		xmm_set(c, i->reg, &d);
		return sse_done(c, i);
	case 0x14:   /* PEXTRB r/m8 */
	case 0x15:   /* PEXTRW r/m16 */
	case 0x16:   /* PEXTRD/PEXTRQ r/m32|64 */
	case 0x17: { /* EXTRACTPS r/m32 */
		unsigned size = op == 0x14 ? 1 : op == 0x15 ? 2 : (op == 0x16 && w) ? 8 : 4;
		if (sse_check(c, SK_SSE))
			return -1;
		s = xmm_get(c, i->reg);
		v = 0;
		memcpy(&v, &s.u8[(imm & (16 / size - 1)) * size], size);
		if (i->mem) {
			if (sse_mem_write(c, i, soft_x_ea(c, i), size, false, &v))
				return -1;
		} else {
			/* a register destination is written whole (zero-extended) */
			soft_reg_set(c, i, i->rm, size == 8 ? 8 : 4, v);
		}
		return sse_done(c, i);
	}
	case 0x20:   /* PINSRB xmm, r32/m8 */
	case 0x22: { /* PINSRD/PINSRQ xmm, r/m32|64 */
		unsigned size = op == 0x20 ? 1 : w ? 8 : 4;
		/* PINSRB from a register takes the low byte of r32 (never AH) */
		if (sse_check(c, SK_SSE) || soft_x_rm_read(c, i,
		                                           i->mem     ? size
		                                           : size < 4 ? 4
		                                                      : size,
		                                           &v))
			return -1;
		d = xmm_get(c, i->reg);
		memcpy(&d.u8[(imm & (16 / size - 1)) * size], &v, size);
		xmm_set(c, i->reg, &d);
		return sse_done(c, i);
	}
	case 0x21: { /* INSERTPS */
		if (sse_check(c, SK_SSE) || sse_src(c, i, 4, false, &s))
			return -1;
		uint32_t e = i->mem ? s.u32[0] : s.u32[imm >> 6];
		d = xmm_get(c, i->reg);
		d.u32[(imm >> 4) & 3] = e;
		for (unsigned k = 0; k < 4; k++)
			if ((imm >> k) & 1)
				d.u32[k] = 0;
		xmm_set(c, i->reg, &d);
		return sse_done(c, i);
	}
	default: return -2;
	}
}

int sse_int_exec(struct soft_cpu *c, const struct soft_insn *i, enum sse_pfx pf)
{
	unsigned op = i->op;
	if (op >= 0x160 && op <= 0x176 && row6[op - 0x160].fn)
		return binop(c, i, pf, &row6[op - 0x160]);
	if (op >= 0x1d0 && op <= 0x1ff && rowd[op - 0x1d0].fn)
		return binop(c, i, pf, &rowd[op - 0x1d0]);
	if (op >= 0x171 && op <= 0x173)
		return shift_imm(c, i, pf);
	if (op >= 0x200 && op < 0x242 && row38[op - 0x200].fn)
		return binop(c, i, pf, &row38[op - 0x200]);
	if (op == 0x30f)
		return palignr(c, i, pf);
	if (op >= 0x200 && op < 0x300) {
		if (op >= 0x2f0)
			return -2;
		if (pf != PF_66)
			return sse_ud(c);
		return sse41_38(c, i);
	}
	if (op >= 0x300) {
		if (pf != PF_66) /* nothing here without 66 but PALIGNR and SHA */
			return sse_ud(c);
		if (op <= 0x342)
			return sse41_3a(c, i);
	}
	return -2;
}
