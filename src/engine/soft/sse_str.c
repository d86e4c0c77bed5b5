/* SSE4.2: the packed string compares (PCMPESTRI, PCMPESTRM, PCMPISTRI,
 * PCMPISTRM, 66 0F 3A 60-63) and CRC32 (F2 0F 38 F0/F1).
 *
 * A string compare looks at two vectors of 16 bytes or 8 words, each with a
 * length: explicit (EAX for the first, EDX for the second, absolute value,
 * at most the element count) or implicit (up to the first zero element).
 * imm8 chooses the element type (bits 1:0), how the pairs of elements are
 * aggregated into one bit per element of the second operand (bits 3:2:
 * equal any, ranges, equal each, equal ordered), its polarity (bits 5:4)
 * and the output (bit 6): the index of the lowest or highest set bit in ECX,
 * or the bits, or a byte/word mask of them, in XMM0. The flags say: CF the
 * result is not zero, ZF/SF the second/first operand is shorter than a
 * full vector, OF the result's bit 0; AF and PF are cleared. */
#include "engine/soft/sse.h"

static int elem(const sse_vec *v, unsigned k, unsigned fmt)
{
	switch (fmt) {
	case 0: return v->u8[k];
	case 1: return v->u16[k];
	case 2: return v->i8[k];
	default: return v->i16[k];
	}
}

static unsigned implicit_len(const sse_vec *v, unsigned n, unsigned fmt)
{
	for (unsigned k = 0; k < n; k++)
		if (!elem(v, k, fmt))
			return k;
	return n;
}

static unsigned explicit_len(uint64_t reg, bool w, unsigned n)
{
	int64_t v = w ? (int64_t)reg : (int64_t)(int32_t)reg;
	uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	return a > n ? n : (unsigned)a;
}

/* IntRes2 of the compare: bit i for element i of the second operand. */
static unsigned pcmpstr(const sse_vec *a, unsigned la, const sse_vec *b, unsigned lb, unsigned imm)
{
	unsigned fmt = imm & 3, n = (imm & 1) ? 8 : 16;
	unsigned agg = (imm >> 2) & 3, res = 0;
	for (unsigned i = 0; i < n; i++) {
		bool bit = false, bv = i < lb;
		int y = elem(b, i, fmt);
		switch (agg) {
		case 0: /* equal any: y is one of a's valid elements */
			for (unsigned j = 0; j < la && bv && !bit; j++)
				bit = elem(a, j, fmt) == y;
			break;
		case 1: /* ranges: a holds valid [lo, hi] pairs */
			for (unsigned j = 0; j + 1 < n && bv && !bit; j += 2) {
				bool ge = j < la && y >= elem(a, j, fmt);
				bool le = j + 1 < la && y <= elem(a, j + 1, fmt);
				bit = ge && le;
			}
			break;
		case 2: { /* equal each: both invalid counts as equal */
			bool av = i < la;
			bit = av && bv ? elem(a, i, fmt) == y : !av && !bv;
			break;
		}
		default: /* equal ordered: a (as far as valid) occurs at i */
			bit = true;
			for (unsigned j = 0; i + j < n && bit; j++) {
				if (j >= la)
					break; /* the rest of a is invalid: matches */
				if (i + j >= lb)
					bit = false;
				else
					bit = elem(a, j, fmt) == elem(b, i + j, fmt);
			}
			break;
		}
		res |= (unsigned)bit << i;
	}
	unsigned all = (1u << n) - 1;
	switch ((imm >> 4) & 3) {
	case 1: res ^= all; break;
	case 3: res ^= (1u << lb) - 1; break; /* negate where b is valid */
	default: break;
	}
	return res & all;
}

static int string_compare(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned op = i->op & 0xff, imm = (unsigned)i->imm & 0xff;
	unsigned n = (imm & 1) ? 8 : 16, fmt = imm & 3;
	bool explicit = op < 0x62, index = op & 1, w = i->rex & 8;
	sse_vec a, b;
	if (sse_check(c, SK_SSE) || sse_src(c, i, 16, false, &b))
		return -1;
	a = xmm_get(c, i->reg);
	unsigned la, lb;
	if (explicit) {
		la = explicit_len(c->state.gpr[GPR_RAX], w, n);
		lb = explicit_len(c->state.gpr[GPR_RDX], w, n);
	} else {
		la = implicit_len(&a, n, fmt);
		lb = implicit_len(&b, n, fmt);
	}
	unsigned res = pcmpstr(&a, la, &b, lb, imm);
	if (index) {
		unsigned idx = n;
		if (res)
			idx = (imm & 0x40) ? 31u - (unsigned)__builtin_clz(res)
			                   : (unsigned)__builtin_ctz(res);
		c->state.gpr[GPR_RCX] = idx;
	} else {
		sse_vec m = {{0}};
		if (!(imm & 0x40))
			m.u16[0] = (uint16_t)res;
		else
			for (unsigned k = 0; k < n; k++)
				if ((res >> k) & 1)
					memset(&m.u8[k * (16 / n)], 0xff, 16 / n);
		xmm_set(c, 0, &m);
	}
	uint64_t f = soft_flags_get(c) & ~FL_ARITH;
	f |= (res ? FL_CF : 0) | (lb < n ? FL_ZF : 0) | (la < n ? FL_SF : 0) |
	     ((res & 1) ? FL_OF : 0);
	c->state.rflags = f;
	return sse_done(c, i);
}

/* CRC-32C (Castagnoli), bit-reflected, as CRC32 computes it. */
static uint32_t crc32c(uint32_t crc, uint64_t data, unsigned bytes)
{
	for (unsigned k = 0; k < bytes * 8; k++) {
		uint32_t bit = (crc ^ (uint32_t)(data >> k)) & 1;
		crc = (crc >> 1) ^ (bit ? 0x82f63b78u : 0);
	}
	return crc;
}

static int crc32_insn(struct soft_cpu *c, const struct soft_insn *i)
{
	bool w = i->rex & 8;
	unsigned size = (i->op & 1) ? (w ? 8 : (i->pfx & SOFT_PFX_OPSIZE) ? 2 : 4) : 1;
	uint64_t v;
	if (soft_x_rm_read(c, i, size, &v))
		return -1;
	uint32_t crc = crc32c((uint32_t)c->state.gpr[i->reg], v, size);
	c->state.gpr[i->reg] = crc; /* 32- and 64-bit destinations: zero-extended */
	return sse_done(c, i);
}

int sse_str_exec(struct soft_cpu *c, const struct soft_insn *i, enum sse_pfx pf)
{
	if (i->op >= 0x360 && i->op <= 0x363) {
		if (pf != PF_66)
			return sse_ud(c);
		return string_compare(c, i);
	}
	if ((i->op == 0x2f0 || i->op == 0x2f1) && pf == PF_F2)
		return crc32_insn(c, i);
	return -2;
}
