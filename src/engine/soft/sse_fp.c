/* SSE floating point: arithmetic, compares, conversions, the SSE3
 * horizontal and alternating forms, SSE4.1 rounding and dot products.
 *
 * The host is an x86-64 CPU too, and its SSE unit is the exact reference
 * for IEEE results: rounding, NaN propagation (first source's QNaN, SNaN
 * quieted, the default NaN for invalid operations), DAZ, FTZ and every
 * exception flag including the denormal flag. So each guest operation runs
 * as the same (or an equivalent SSE2) host instruction inside one asm
 * statement that saves the host MXCSR, loads the guest's rounding, DAZ and
 * FTZ with every exception masked and the flags clear, executes, reads the
 * flags back and restores the host MXCSR. What masked execution cannot show
 * is then worked out here:
 *
 * - Unmasked exceptions: a pre-computation one (IE, DE, ZE) in any lane
 *   sets the flags of every pre-computation condition found and raises #XM
 *   (or #UD without CR4.OSXMMEXCPT) with the destination unchanged; else an
 *   unmasked post-computation one (OE, UE, PE) sets all the flags found and
 *   raises the same. A lane with an unmasked overflow or underflow does not
 *   report inexact.
 * - Underflow, when unmasked, is signalled for every tiny result, exact or
 *   not (masked, only for tiny and inexact ones): so with UM clear the host
 *   runs without FTZ and a denormal result in a computed lane counts too.
 *
 * RCP and RSQRT are approximations whose exact bits differ between CPU
 * vendors; they are computed here, deterministically, to 12 bits, within
 * the architectural 1.5 * 2^-12 relative error. */
#include "engine/soft/sse.h"

typedef long long v2di __attribute__((vector_size(16)));

/* The host MXCSR for running a guest operation: every exception masked,
 * flags clear, the guest's rounding, DAZ and (when underflow is masked)
 * FTZ. */
static inline uint32_t host_mxcsr(const struct soft_cpu *c)
{
	uint32_t g = c->state.fpu.mxcsr;
	uint32_t m = (g & (MX_RC | MX_DAZ | MX_FTZ)) | MX_MASKS;
	if (!(g & MX_UM))
		m &= ~MX_FTZ;
	return m;
}

#define HOST_ASM(insn)                                                                             \
	__asm__ volatile("stmxcsr %[sv]\n\t"                                                       \
	                 "ldmxcsr %[m]\n\t" insn " %[b], %[a]\n\t"                                 \
	                 "stmxcsr %[o]\n\t"                                                        \
	                 "ldmxcsr %[sv]"                                                           \
	                 : [a] "+x"(a), [sv] "=m"(saved), [o] "=m"(out)                            \
	                 : [b] "x"(b), [m] "m"(mx))

/* The host operations, by name: d = d op s (or d = op s for conversions and
 * square roots, scalar forms keeping d's upper lanes as the hardware does). */
/* clang-format off */
enum hop {
	H_ADDPS, H_ADDPD, H_ADDSS, H_ADDSD,
	H_SUBPS, H_SUBPD, H_SUBSS, H_SUBSD,
	H_MULPS, H_MULPD, H_MULSS, H_MULSD,
	H_DIVPS, H_DIVPD, H_DIVSS, H_DIVSD,
	H_MINPS, H_MINPD, H_MINSS, H_MINSD,
	H_MAXPS, H_MAXPD, H_MAXSS, H_MAXSD,
	H_SQRTPS, H_SQRTPD, H_SQRTSS, H_SQRTSD,
	H_CVTPS2PD, H_CVTPD2PS, H_CVTSS2SD, H_CVTSD2SS,
	H_CVTDQ2PS, H_CVTPS2DQ, H_CVTTPS2DQ,
	H_CVTDQ2PD, H_CVTPD2DQ, H_CVTTPD2DQ,
	H_CMP, /* + type * 8 + predicate */
};
/* clang-format on */

static uint32_t host_op(unsigned op, sse_vec *d, const sse_vec *s, uint32_t mx)
{
	v2di a, b;
	uint32_t saved, out = 0;
	memcpy(&a, d, 16);
	memcpy(&b, s, 16);
	switch (op) {
#define H4(base, name)                                                                             \
	case base: HOST_ASM(name "ps"); break;                                                     \
	case base + 1: HOST_ASM(name "pd"); break;                                                 \
	case base + 2: HOST_ASM(name "ss"); break;                                                 \
	case base + 3: HOST_ASM(name "sd"); break;
		H4(H_ADDPS, "add")
		H4(H_SUBPS, "sub")
		H4(H_MULPS, "mul")
		H4(H_DIVPS, "div")
		H4(H_MINPS, "min")
		H4(H_MAXPS, "max")
		H4(H_SQRTPS, "sqrt")
	case H_CVTPS2PD: HOST_ASM("cvtps2pd"); break;
	case H_CVTPD2PS: HOST_ASM("cvtpd2ps"); break;
	case H_CVTSS2SD: HOST_ASM("cvtss2sd"); break;
	case H_CVTSD2SS: HOST_ASM("cvtsd2ss"); break;
	case H_CVTDQ2PS: HOST_ASM("cvtdq2ps"); break;
	case H_CVTPS2DQ: HOST_ASM("cvtps2dq"); break;
	case H_CVTTPS2DQ: HOST_ASM("cvttps2dq"); break;
	case H_CVTDQ2PD: HOST_ASM("cvtdq2pd"); break;
	case H_CVTPD2DQ: HOST_ASM("cvtpd2dq"); break;
	case H_CVTTPD2DQ: HOST_ASM("cvttpd2dq"); break;
#define HCMP(t, name)                                                                              \
	case H_CMP + t * 8 + 0: HOST_ASM(name " $0,"); break;                                      \
	case H_CMP + t * 8 + 1: HOST_ASM(name " $1,"); break;                                      \
	case H_CMP + t * 8 + 2: HOST_ASM(name " $2,"); break;                                      \
	case H_CMP + t * 8 + 3: HOST_ASM(name " $3,"); break;                                      \
	case H_CMP + t * 8 + 4: HOST_ASM(name " $4,"); break;                                      \
	case H_CMP + t * 8 + 5: HOST_ASM(name " $5,"); break;                                      \
	case H_CMP + t * 8 + 6: HOST_ASM(name " $6,"); break;                                      \
	case H_CMP + t * 8 + 7: HOST_ASM(name " $7,"); break;
		HCMP(0, "cmpps")
		HCMP(1, "cmppd")
		HCMP(2, "cmpss")
		HCMP(3, "cmpsd")
	default: break;
	}
	memcpy(d, &a, 16);
	return out & MX_FLAGS;
}

/* EFLAGS (ZF PF CF) of a scalar compare; ordered: COMIS, else UCOMIS. */
static uint32_t host_comis(bool dbl, bool ordered, const sse_vec *d, const sse_vec *s, uint32_t mx,
                           uint64_t *fl)
{
	v2di a, b;
	uint32_t saved, out;
	uint8_t z, p, cy;
	memcpy(&a, d, 16);
	memcpy(&b, s, 16);
#define COMIS_ASM(insn)                                                                            \
	__asm__ volatile(                                                                          \
	    "stmxcsr %[sv]\n\t"                                                                    \
	    "ldmxcsr %[m]\n\t" insn " %[b], %[a]\n\t"                                              \
	    "setz %[z]\n\t"                                                                        \
	    "setp %[p]\n\t"                                                                        \
	    "setc %[cy]\n\t"                                                                       \
	    "stmxcsr %[o]\n\t"                                                                     \
	    "ldmxcsr %[sv]"                                                                        \
	    : [sv] "=m"(saved), [o] "=m"(out), [z] "=q"(z), [p] "=q"(p), [cy] "=q"(cy)             \
	    : [a] "x"(a), [b] "x"(b), [m] "m"(mx)                                                  \
	    : "cc")
	if (dbl && ordered)
		COMIS_ASM("comisd");
	else if (dbl)
		COMIS_ASM("ucomisd");
	else if (ordered)
		COMIS_ASM("comiss");
	else
		COMIS_ASM("ucomiss");
	*fl = (z ? FL_ZF : 0) | (p ? FL_PF : 0) | (cy ? FL_CF : 0);
	return out & MX_FLAGS;
}

/* Conversions between a GPR and a scalar: CVTSI2SS/SD (r is the integer
 * source, 32 or 64 bits by w) and CVT(T)SS2SI/SD2SI (r receives it). */
enum { GC_SI2SS, GC_SI2SD, GC_SS2SI, GC_TSS2SI, GC_SD2SI, GC_TSD2SI };
static uint32_t host_gpr_cvt(unsigned kind, bool w, sse_vec *d, uint64_t *r, uint32_t mx)
{
	v2di a;
	uint32_t saved, out = 0;
	uint64_t g = *r;
	memcpy(&a, d, 16);
#define GPR_ASM(insn, cons)                                                                        \
	__asm__ volatile("stmxcsr %[sv]\n\t"                                                       \
	                 "ldmxcsr %[m]\n\t" insn "\n\t"                                            \
	                 "stmxcsr %[o]\n\t"                                                        \
	                 "ldmxcsr %[sv]"                                                           \
	                 : [a] "+x"(a), [g] cons(g), [sv] "=m"(saved), [o] "=m"(out)               \
	                 : [m] "m"(mx))
	switch (kind * 2 + w) {
	case GC_SI2SS * 2: GPR_ASM("cvtsi2ssl %k[g], %[a]", "+r"); break;
	case GC_SI2SS * 2 + 1: GPR_ASM("cvtsi2ssq %q[g], %[a]", "+r"); break;
	case GC_SI2SD * 2: GPR_ASM("cvtsi2sdl %k[g], %[a]", "+r"); break;
	case GC_SI2SD * 2 + 1: GPR_ASM("cvtsi2sdq %q[g], %[a]", "+r"); break;
	case GC_SS2SI * 2: GPR_ASM("cvtss2si %[a], %k[g]", "=r"); break;
	case GC_SS2SI * 2 + 1: GPR_ASM("cvtss2si %[a], %q[g]", "=r"); break;
	case GC_TSS2SI * 2: GPR_ASM("cvttss2si %[a], %k[g]", "=r"); break;
	case GC_TSS2SI * 2 + 1: GPR_ASM("cvttss2si %[a], %q[g]", "=r"); break;
	case GC_SD2SI * 2: GPR_ASM("cvtsd2si %[a], %k[g]", "=r"); break;
	case GC_SD2SI * 2 + 1: GPR_ASM("cvtsd2si %[a], %q[g]", "=r"); break;
	case GC_TSD2SI * 2: GPR_ASM("cvttsd2si %[a], %k[g]", "=r"); break;
	case GC_TSD2SI * 2 + 1: GPR_ASM("cvttsd2si %[a], %q[g]", "=r"); break;
	default: break;
	}
	memcpy(d, &a, 16);
	*r = w ? g : (g & 0xffffffffULL);
	return out & MX_FLAGS;
}

/* --- exception handling --- */

static inline bool denormal32(uint32_t v)
{
	return (v & 0x7f800000u) == 0 && (v & 0x007fffffu) != 0;
}
static inline bool denormal64(uint64_t v)
{
	return (v & 0x7ff0000000000000ULL) == 0 && (v & 0x000fffffffffffffULL) != 0;
}

/* With underflow unmasked, a tiny result is an underflow even when exact:
 * MX_UE if a lane selected by lanes (bit k: lane k of width dbl ? 64 : 32)
 * of r holds a denormal. */
static uint32_t tiny_lanes(const struct soft_cpu *c, const sse_vec *r, bool dbl, unsigned lanes)
{
	if (c->state.fpu.mxcsr & MX_UM)
		return 0;
	for (unsigned k = 0; k < (dbl ? 2u : 4u); k++)
		if (((lanes >> k) & 1) && (dbl ? denormal64(r->u64[k]) : denormal32(r->u32[k])))
			return MX_UE;
	return 0;
}

static inline uint32_t unmasked_flags(const struct soft_cpu *c)
{
	return ~(c->state.fpu.mxcsr >> 7) & MX_FLAGS;
}

/* A finite value as m * 2^e, m an integer (the significand with its
 * hidden bit). */
static void decompose(uint64_t v, bool dbl, uint64_t *m, int *e)
{
	unsigned mant = dbl ? 52 : 23;
	int bias = dbl ? 1023 : 127;
	uint64_t frac = v & ((1ULL << mant) - 1);
	int exp = (int)((v >> mant) & (dbl ? 0x7ff : 0xff));
	if (exp) {
		*m = frac | 1ULL << mant;
		*e = exp - bias - (int)mant;
	} else {
		*m = frac;
		*e = 1 - bias - (int)mant;
	}
}

/* Significant bits of x: from its highest set bit to its lowest. */
static unsigned sig_bits(unsigned __int128 x)
{
	if (!x)
		return 0;
	unsigned hi = 0, lo = 0;
	while (!((x >> lo) & 1))
		lo++;
	for (unsigned k = 0; k < 128; k++)
		if ((x >> k) & 1)
			hi = k;
	return hi - lo + 1;
}

/* Whether a op b (lane values; for a narrowing conversion b alone) needs
 * rounding at the destination's precision when the exponent range is
 * unbounded: the inexact flag that goes with an unmasked overflow or
 * underflow, computed exactly on the significands. */
static bool inexact_unbounded(unsigned hop, uint64_t a, uint64_t b, bool in_dbl, bool out_dbl)
{
	unsigned prec = out_dbl ? 53 : 24;
	uint64_t ma, mb;
	int ea, eb;
	decompose(a, in_dbl, &ma, &ea);
	decompose(b, in_dbl, &mb, &eb);
	if (hop == H_CVTPD2PS || hop == H_CVTSD2SS)
		return sig_bits(mb) > prec;
	if (hop >= H_MINPS)
		return false;
	switch ((hop - H_ADDPS) / 4) {
	case 0:   /* add */
	case 1: { /* sub */
		bool neg_a = a >> (in_dbl ? 63 : 31), neg_b = b >> (in_dbl ? 63 : 31);
		if ((hop - H_ADDPS) / 4 == 1)
			neg_b = !neg_b;
		if (!ma || !mb)
			return sig_bits(ma | mb) > prec;
		int lo = ea < eb ? ea : eb;
		if (ea - lo > 60 || eb - lo > 60)
			return true; /* far apart: the smaller one is lost in rounding */
		__int128 x = (__int128)ma << (ea - lo), y = (__int128)mb << (eb - lo);
		__int128 sum = (neg_a ? -x : x) + (neg_b ? -y : y);
		return sig_bits((unsigned __int128)(sum < 0 ? -sum : sum)) > prec;
	}
	case 2: /* mul */ return sig_bits((unsigned __int128)ma * mb) > prec;
	default: /* div: exact only when the odd parts divide */
		if (!ma || !mb)
			return false;
		while (!(ma & 1))
			ma >>= 1;
		while (!(mb & 1))
			mb >>= 1;
		return ma % mb || sig_bits(ma / mb) > prec;
	}
}

/* Run host operation hop on d and s in place and return the exception
 * flags: lanes (bit k) are the result lanes computed, of width out_dbl,
 * from input lanes of width in_dbl; tiny: whether the result may underflow.
 *
 * With an unmasked overflow or underflow the result is not delivered, and
 * the inexact flag reports whether it would have needed rounding with an
 * unbounded exponent. Lanes differ in this, so when it matters each lane is
 * run again alone, the others holding 1.0, which raises nothing in any of
 * these operations. */
static uint32_t fp_compute(struct soft_cpu *c, unsigned hop, sse_vec *d, const sse_vec *s,
                           bool in_dbl, bool out_dbl, unsigned lanes, bool tiny)
{
	uint32_t mx = host_mxcsr(c);
	sse_vec d0 = *d;
	uint32_t fl = host_op(hop, d, s, mx);
	if (tiny)
		fl |= tiny_lanes(c, d, out_dbl, lanes);
	uint32_t unmasked = unmasked_flags(c);
	if (!(fl & unmasked & (MX_OE | MX_UE)))
		return fl;
	uint32_t total = 0;
	for (unsigned k = 0; k < 4; k++) {
		if (!((lanes >> k) & 1))
			continue;
		sse_vec a, b;
		for (unsigned l = 0; l < 2; l++)
			a.u64[l] = b.u64[l] =
			    in_dbl ? 0x3ff0000000000000ULL : 0x3f8000003f800000ULL;
		if (in_dbl) {
			a.u64[k] = d0.u64[k];
			b.u64[k] = s->u64[k];
		} else {
			a.u32[k] = d0.u32[k];
			b.u32[k] = s->u32[k];
		}
		uint32_t f = host_op(hop, &a, &b, mx);
		if (tiny)
			f |= tiny_lanes(c, &a, out_dbl, 1u << k);
		if (f & unmasked & (MX_OE | MX_UE)) {
			uint64_t la = in_dbl ? d0.u64[k] : d0.u32[k];
			uint64_t lb = in_dbl ? s->u64[k] : s->u32[k];
			f &= ~MX_PE;
			if (inexact_unbounded(hop, la, lb, in_dbl, out_dbl))
				f |= MX_PE;
		}
		total |= f;
	}
	return total;
}

/* Merge flags into MXCSR; 0 when the result may be written, -1 after
 * raising #XM (#UD without CR4.OSXMMEXCPT) for an unmasked exception. */
static int fp_finish(struct soft_cpu *c, uint32_t flags)
{
	uint32_t mx = c->state.fpu.mxcsr;
	uint32_t unmasked = unmasked_flags(c);
	if (!(flags & unmasked)) {
		c->state.fpu.mxcsr = mx | flags;
		return 0;
	}
	uint32_t pre = flags & (MX_IE | MX_DE | MX_ZE);
	c->state.fpu.mxcsr = mx | ((pre & unmasked) ? pre : flags);
	if (!(c->state.cr4 & SSE_CR4_OSXMMEXCPT))
		return sse_ud(c);
	return soft_raise(c, SOFT_XM, false, 0);
}

/* Types of the four forms, indexed by the mandatory prefix. */
enum { T_PS, T_PD, T_SS, T_SD };
static const uint8_t ty_size[4] = {16, 16, 4, 8};
static const uint8_t ty_lanes[4] = {0xf, 0x3, 0x1, 0x1};
static const bool ty_dbl[4] = {false, true, false, true};

/* d = d op s over one of the four forms, the common shape of arithmetic. */
static int fp_binary(struct soft_cpu *c, const struct soft_insn *i, unsigned ty, unsigned hop,
                     bool can_underflow)
{
	sse_vec d, s;
	if (sse_check(c, SK_SSE) || sse_src(c, i, ty_size[ty], ty < T_SS, &s))
		return -1;
	d = xmm_get(c, i->reg);
	uint32_t fl =
	    fp_compute(c, hop, &d, &s, ty_dbl[ty], ty_dbl[ty], ty_lanes[ty], can_underflow);
	if (fp_finish(c, fl))
		return -1;
	xmm_set(c, i->reg, &d);
	return sse_done(c, i);
}

/* --- RCP and RSQRT --- */

static double host_sqrt(double x)
{
	__asm__("sqrtsd %1, %0" : "=x"(x) : "x"(x));
	return x;
}

/* Round a positive double to 12 significant bits, as single precision. */
static uint32_t approx12(double r)
{
	uint64_t b;
	memcpy(&b, &r, 8);
	b = (b + (1ULL << 40)) & ~((1ULL << 41) - 1); /* 11 fraction bits, nearest */
	memcpy(&r, &b, 8);
	if (r < 0x1p-126) /* tiny results are flushed to zero */
		return 0;
	float f = (float)r;
	uint32_t v;
	memcpy(&v, &f, 4);
	return v;
}

static uint32_t rcp32(uint32_t x)
{
	uint32_t sign = x & 0x80000000u, mag = x & 0x7fffffffu;
	if (mag > 0x7f800000u) /* NaN: quieted */
		return x | 0x00400000u;
	if (mag == 0x7f800000u)
		return sign;
	if (mag < 0x00800000u) /* zero or denormal: treated as zero */
		return sign | 0x7f800000u;
	float f;
	memcpy(&f, &mag, 4);
	return sign | approx12(1.0 / (double)f);
}

static uint32_t rsqrt32(uint32_t x)
{
	uint32_t sign = x & 0x80000000u, mag = x & 0x7fffffffu;
	if (mag > 0x7f800000u)
		return x | 0x00400000u;
	if (mag < 0x00800000u)
		return sign | 0x7f800000u;
	if (sign)
		return 0xffc00000u; /* the default NaN */
	if (mag == 0x7f800000u)
		return 0;
	float f;
	memcpy(&f, &mag, 4);
	return approx12(1.0 / host_sqrt((double)f));
}

static int approx(struct soft_cpu *c, const struct soft_insn *i, enum sse_pfx pf)
{
	bool rsq = (i->op & 0xff) == 0x52;
	sse_vec d, s;
	if (pf == PF_66 || pf == PF_F2)
		return sse_ud(c);
	bool scalar = pf == PF_F3;
	if (sse_check(c, SK_SSE) || sse_src(c, i, scalar ? 4 : 16, !scalar, &s))
		return -1;
	d = scalar ? xmm_get(c, i->reg) : s;
	for (unsigned k = 0; k < (scalar ? 1u : 4u); k++)
		d.u32[k] = rsq ? rsqrt32(s.u32[k]) : rcp32(s.u32[k]);
	xmm_set(c, i->reg, &d);
	return sse_done(c, i);
}

/* --- conversions --- */

/* 0F 5A, 5B, E6: conversions between XMM forms. */
static int cvt_vec(struct soft_cpu *c, const struct soft_insn *i, enum sse_pfx pf)
{
	unsigned op = i->op & 0xff;
	unsigned hop, size, lanes = 0;
	bool align = true, tiny = false, in_dbl = false;
	switch (op << 2 | pf) {
	case 0x5a << 2 | PF_NONE: hop = H_CVTPS2PD, size = 8, align = false; break;
	case 0x5a << 2 | PF_66: hop = H_CVTPD2PS, size = 16, tiny = in_dbl = true, lanes = 3; break;
	case 0x5a << 2 | PF_F3: hop = H_CVTSS2SD, size = 4, align = false; break;
	case 0x5a << 2 | PF_F2:
		hop = H_CVTSD2SS, size = 8, align = false, tiny = in_dbl = true, lanes = 1;
		break;
	case 0x5b << 2 | PF_NONE: hop = H_CVTDQ2PS, size = 16; break;
	case 0x5b << 2 | PF_66: hop = H_CVTPS2DQ, size = 16; break;
	case 0x5b << 2 | PF_F3: hop = H_CVTTPS2DQ, size = 16; break;
	case 0xe6 << 2 | PF_66: hop = H_CVTTPD2DQ, size = 16; break;
	case 0xe6 << 2 | PF_F2: hop = H_CVTPD2DQ, size = 16; break;
	case 0xe6 << 2 | PF_F3: hop = H_CVTDQ2PD, size = 8, align = false; break;
	default: return sse_ud(c);
	}
	sse_vec d, s;
	if (sse_check(c, SK_SSE) || sse_src(c, i, size, align, &s))
		return -1;
	d = xmm_get(c, i->reg);
	/* Only the narrowing conversions can overflow or underflow (lanes). */
	uint32_t fl = fp_compute(c, hop, &d, &s, in_dbl, false, lanes, tiny);
	if (fp_finish(c, fl))
		return -1;
	xmm_set(c, i->reg, &d);
	return sse_done(c, i);
}

/* 0F 2A, 2C, 2D: conversions with an MMX register or a GPR on one side. */
static int cvt_mixed(struct soft_cpu *c, const struct soft_insn *i, enum sse_pfx pf)
{
	unsigned op = i->op & 0xff;
	bool w = i->rex & 8;
	sse_vec d, s = {{0}};
	uint64_t v = 0;
	uint32_t fl;
	if (op == 0x2a) {
		if (pf == PF_F3 || pf == PF_F2) { /* CVTSI2SS, CVTSI2SD */
			if (sse_check(c, SK_SSE) || soft_x_rm_read(c, i, w ? 8 : 4, &v))
				return -1;
			d = xmm_get(c, i->reg);
			fl = host_gpr_cvt(pf == PF_F3 ? GC_SI2SS : GC_SI2SD, w, &d, &v,
			                  host_mxcsr(c));
			if (fp_finish(c, fl))
				return -1;
			xmm_set(c, i->reg, &d);
			return sse_done(c, i);
		}
		/* CVTPI2PS, CVTPI2PD xmm, mm/m64: only the register form is an
		 * MMX instruction (x87 error check, switch to MMX state) */
		if (sse_check(c, i->mem ? SK_SSE : SK_BOTH) || mmx_src(c, i, 8, &s.u64[0]))
			return -1;
		if (!i->mem)
			mmx_enter(c);
		d = xmm_get(c, i->reg);
		sse_vec r = d;
		fl = host_op(pf == PF_66 ? H_CVTDQ2PD : H_CVTDQ2PS, &r, &s, host_mxcsr(c));
		if (fp_finish(c, fl))
			return -1;
		if (pf == PF_66)
			d = r;
		else
			d.u64[0] = r.u64[0];
		xmm_set(c, i->reg, &d);
		return sse_done(c, i);
	}
	bool trunc = op == 0x2c;
	if (pf == PF_F3 || pf == PF_F2) { /* CVT(T)SS2SI, CVT(T)SD2SI */
		bool sd = pf == PF_F2;
		if (sse_check(c, SK_SSE) || sse_src(c, i, sd ? 8 : 4, false, &s))
			return -1;
		unsigned kind =
		    sd ? (trunc ? GC_TSD2SI : GC_SD2SI) : (trunc ? GC_TSS2SI : GC_SS2SI);
		fl = host_gpr_cvt(kind, w, &s, &v, host_mxcsr(c));
		if (fp_finish(c, fl))
			return -1;
		soft_reg_set(c, i, i->reg, w ? 8 : 4, v);
		return sse_done(c, i);
	}
	/* CVT(T)PS2PI mm, xmm/m64; CVT(T)PD2PI mm, xmm/m128 */
	bool pd = pf == PF_66;
	if (sse_check(c, SK_BOTH) || sse_src(c, i, pd ? 16 : 8, pd, &s))
		return -1;
	mmx_enter(c); /* before an #XM: the switch to MMX state happens first */
	if (!pd)
		s.u64[1] = 0; /* only two lanes convert: no flags from the others */
	d = (sse_vec){{0}};
	fl = host_op(pd ? (trunc ? H_CVTTPD2DQ : H_CVTPD2DQ) : (trunc ? H_CVTTPS2DQ : H_CVTPS2DQ),
	             &d, &s, host_mxcsr(c));
	if (fp_finish(c, fl))
		return -1;
	mmx_set(c, i->reg, d.u64[0]);
	return sse_done(c, i);
}

/* --- compares --- */

static int comis(struct soft_cpu *c, const struct soft_insn *i, enum sse_pfx pf)
{
	if (pf >= PF_F3)
		return sse_ud(c);
	bool dbl = pf == PF_66;
	sse_vec d, s;
	uint64_t fl;
	if (sse_check(c, SK_SSE) || sse_src(c, i, dbl ? 8 : 4, false, &s))
		return -1;
	d = xmm_get(c, i->reg);
	uint32_t ex = host_comis(dbl, (i->op & 0xff) == 0x2f, &d, &s, host_mxcsr(c), &fl);
	if (fp_finish(c, ex))
		return -1;
	c->state.rflags = (soft_flags_get(c) & ~FL_ARITH) | fl;
	return sse_done(c, i);
}

static int cmp(struct soft_cpu *c, const struct soft_insn *i, enum sse_pfx pf)
{
	unsigned ty = pf;
	sse_vec d, s;
	if (sse_check(c, SK_SSE) || sse_src(c, i, ty_size[ty], ty < T_SS, &s))
		return -1;
	d = xmm_get(c, i->reg);
	uint32_t fl = host_op(H_CMP + ty * 8 + (i->imm & 7), &d, &s, host_mxcsr(c));
	if (fp_finish(c, fl))
		return -1;
	xmm_set(c, i->reg, &d);
	return sse_done(c, i);
}

/* --- SSE3: ADDSUB, HADD, HSUB --- */

static int sse3_arith(struct soft_cpu *c, const struct soft_insn *i, enum sse_pfx pf)
{
	unsigned op = i->op & 0xff;
	if (pf != PF_66 && pf != PF_F2)
		return sse_ud(c);
	bool dbl = pf == PF_66;
	unsigned all = dbl ? 0x3 : 0xf;
	sse_vec d, s, a, b;
	if (sse_check(c, SK_SSE) || sse_src(c, i, 16, true, &s))
		return -1;
	d = xmm_get(c, i->reg);
	uint32_t fl;
	if (op == 0xd0) {
		/* Subtract in the even lanes and add in the odd ones, each
		 * computed alone: the other lanes hold +0 and raise nothing. */
		sse_vec ev = {{0}}, od = {{0}}, se = {{0}}, so = {{0}};
		if (dbl) {
			ev.u64[0] = d.u64[0], se.u64[0] = s.u64[0];
			od.u64[1] = d.u64[1], so.u64[1] = s.u64[1];
		} else {
			for (unsigned k = 0; k < 4; k += 2) {
				ev.u32[k] = d.u32[k], se.u32[k] = s.u32[k];
				od.u32[k + 1] = d.u32[k + 1], so.u32[k + 1] = s.u32[k + 1];
			}
		}
		unsigned even = dbl ? 0x1 : 0x5;
		fl = fp_compute(c, dbl ? H_SUBPD : H_SUBPS, &ev, &se, dbl, dbl, even, true);
		fl |= fp_compute(c, dbl ? H_ADDPD : H_ADDPS, &od, &so, dbl, dbl, all & ~even, true);
		if (dbl)
			a = (sse_vec){.u64 = {ev.u64[0], od.u64[1]}};
		else
			a = (sse_vec){.u32 = {ev.u32[0], od.u32[1], ev.u32[2], od.u32[3]}};
	} else {
		/* HADD/HSUB: one packed operation on the rearranged pairs. */
		if (dbl) {
			a = (sse_vec){.u64 = {d.u64[0], s.u64[0]}};
			b = (sse_vec){.u64 = {d.u64[1], s.u64[1]}};
		} else {
			a = (sse_vec){.u32 = {d.u32[0], d.u32[2], s.u32[0], s.u32[2]}};
			b = (sse_vec){.u32 = {d.u32[1], d.u32[3], s.u32[1], s.u32[3]}};
		}
		unsigned h = op == 0x7c ? (dbl ? H_ADDPD : H_ADDPS) : (dbl ? H_SUBPD : H_SUBPS);
		fl = fp_compute(c, h, &a, &b, dbl, dbl, all, true);
	}
	if (fp_finish(c, fl))
		return -1;
	xmm_set(c, i->reg, &a);
	return sse_done(c, i);
}

/* --- SSE4.1: ROUNDPS/PD/SS/SD, DPPS/DPPD --- */

/* Round the float with mant fraction and ebits exponent bits in v to an
 * integral value in mode rc (0 nearest-even, 1 down, 2 up, 3 toward zero),
 * on the raw bits. *inexact is set if the value changed. */
static uint64_t round_bits(uint64_t v, unsigned mant, unsigned ebits, unsigned rc, bool *inexact)
{
	uint64_t sign = v & (1ULL << (mant + ebits));
	uint64_t mag = v & ~sign;
	int bias = (1 << (ebits - 1)) - 1;
	int e = (int)(mag >> mant) - bias;
	*inexact = false;
	if (mag == 0 || e >= (int)mant) /* zero, integral already, infinity */
		return v;
	bool neg = sign != 0;
	if (e < 0) { /* 0 < |v| < 1 */
		bool one;
		uint64_t half = ((uint64_t)bias - 1) << mant; /* 0.5 */
		switch (rc) {
		case 0: one = mag > half; break;
		case 1: one = neg; break;
		case 2: one = !neg; break;
		default: one = false; break;
		}
		*inexact = true;
		return sign | (one ? (uint64_t)bias << mant : 0);
	}
	unsigned fb = mant - (unsigned)e; /* fraction bits below the binary point */
	uint64_t fmask = (1ULL << fb) - 1;
	uint64_t frac = mag & fmask, trunc = mag & ~fmask;
	if (!frac)
		return v;
	*inexact = true;
	bool up;
	uint64_t half = 1ULL << (fb - 1);
	switch (rc) {
	case 0: up = frac > half || (frac == half && ((trunc >> fb) & 1)); break;
	case 1: up = neg; break;
	case 2: up = !neg; break;
	default: up = false; break;
	}
	return sign | (up ? trunc + (1ULL << fb) : trunc);
}

static int round_insn(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned op = i->op & 0xff, imm = (unsigned)i->imm & 0xff;
	unsigned ty = op == 0x08 ? T_PS : op == 0x09 ? T_PD : op == 0x0a ? T_SS : T_SD;
	uint32_t mx = c->state.fpu.mxcsr;
	unsigned rc = (imm & 4) ? (mx >> 13) & 3 : imm & 3;
	sse_vec d, s;
	if (sse_check(c, SK_SSE) || sse_src(c, i, ty_size[ty], ty < T_SS, &s))
		return -1;
	d = ty >= T_SS ? xmm_get(c, i->reg) : s;
	bool dbl = ty_dbl[ty];
	uint32_t fl = 0;
	for (unsigned k = 0; k < (dbl ? 2u : 4u); k++) {
		if (!((ty_lanes[ty] >> k) & 1))
			continue;
		uint64_t v = dbl ? s.u64[k] : s.u32[k];
		unsigned mant = dbl ? 52 : 23, eb = dbl ? 11 : 8;
		uint64_t expmask = ((1ULL << eb) - 1) << mant, fmask = (1ULL << mant) - 1;
		bool inexact = false;
		if ((v & expmask) == expmask && (v & fmask)) { /* NaN */
			if (!(v & (1ULL << (mant - 1))))
				fl |= MX_IE;
			v |= 1ULL << (mant - 1);
		} else if ((v & expmask) == 0 && (v & fmask) && (mx & MX_DAZ)) {
			v &= 1ULL << (mant + eb); /* denormal as zero */
		} else {
			v = round_bits(v, mant, eb, rc, &inexact);
			if (inexact && !(imm & 8))
				fl |= MX_PE;
		}
		if (dbl)
			d.u64[k] = v;
		else
			d.u32[k] = (uint32_t)v;
	}
	if (fp_finish(c, fl))
		return -1;
	xmm_set(c, i->reg, &d);
	return sse_done(c, i);
}

/* DPPS/DPPD: the products of the lanes selected by imm[7:4] (the others
 * +0), summed pairwise, the sum written to the lanes imm[3:0] selects. The
 * hardware runs this in steps, each an operation of its own for exceptions:
 * an unmasked one in the products raises #XM before any sum is formed, and
 * the sums check their operands (the products) for denormals like any
 * addition. */
static int dp_insn(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned imm = (unsigned)i->imm & 0xff;
	bool dbl = (i->op & 0xff) == 0x41;
	sse_vec d, s, p, q, r = {{0}};
	if (sse_check(c, SK_SSE) || sse_src(c, i, 16, true, &s))
		return -1;
	d = xmm_get(c, i->reg);
	unsigned n = dbl ? 2 : 4, sel = (imm >> 4) & (dbl ? 3 : 15);
	sse_vec a = {{0}}, b = {{0}};
	for (unsigned k = 0; k < n; k++) {
		if (!((sel >> k) & 1))
			continue;
		if (dbl)
			a.u64[k] = d.u64[k], b.u64[k] = s.u64[k];
		else
			a.u32[k] = d.u32[k], b.u32[k] = s.u32[k];
	}
	/* MXCSR keeps the flags of the steps done when a later one faults. */
	if (fp_finish(c, fp_compute(c, dbl ? H_MULPD : H_MULPS, &a, &b, dbl, dbl, sel, true)))
		return -1;
	if (dbl) {
		p = (sse_vec){.u64 = {a.u64[0], 0}};
		q = (sse_vec){.u64 = {a.u64[1], 0}};
		if (fp_finish(c, fp_compute(c, H_ADDSD, &p, &q, true, true, 1, true)))
			return -1;
	} else {
		/* (t0 + t1) and (t2 + t3) together, then their sum */
		p = (sse_vec){.u32 = {a.u32[0], a.u32[2], 0, 0}};
		q = (sse_vec){.u32 = {a.u32[1], a.u32[3], 0, 0}};
		if (fp_finish(c, fp_compute(c, H_ADDPS, &p, &q, false, false, 3, true)))
			return -1;
		q = (sse_vec){.u32 = {p.u32[1], 0, 0, 0}};
		p.u32[1] = 0;
		if (fp_finish(c, fp_compute(c, H_ADDSS, &p, &q, false, false, 1, true)))
			return -1;
	}
	for (unsigned k = 0; k < n; k++) {
		if (!((imm >> k) & 1))
			continue;
		if (dbl)
			r.u64[k] = p.u64[0];
		else
			r.u32[k] = p.u32[0];
	}
	xmm_set(c, i->reg, &r);
	return sse_done(c, i);
}

int sse_fp_exec(struct soft_cpu *c, const struct soft_insn *i, enum sse_pfx pf)
{
	switch (i->op) {
	case 0x151: return fp_binary(c, i, pf, H_SQRTPS + pf, false);
	case 0x158: return fp_binary(c, i, pf, H_ADDPS + pf, true);
	case 0x159: return fp_binary(c, i, pf, H_MULPS + pf, true);
	case 0x15c: return fp_binary(c, i, pf, H_SUBPS + pf, true);
	case 0x15d: return fp_binary(c, i, pf, H_MINPS + pf, false);
	case 0x15e: return fp_binary(c, i, pf, H_DIVPS + pf, true);
	case 0x15f: return fp_binary(c, i, pf, H_MAXPS + pf, false);
	case 0x152:
	case 0x153: return approx(c, i, pf);
	case 0x15a:
	case 0x15b:
	case 0x1e6: return cvt_vec(c, i, pf);
	case 0x12a:
	case 0x12c:
	case 0x12d: return cvt_mixed(c, i, pf);
	case 0x12e:
	case 0x12f: return comis(c, i, pf);
	case 0x1c2: return cmp(c, i, pf);
	case 0x17c:
	case 0x17d:
	case 0x1d0: return sse3_arith(c, i, pf);
	case 0x308:
	case 0x309:
	case 0x30a:
	case 0x30b:
		if (pf != PF_66)
			return sse_ud(c);
		return round_insn(c, i);
	case 0x340:
	case 0x341:
		if (pf != PF_66)
			return sse_ud(c);
		return dp_insn(c, i);
	default: return -2;
	}
}
