/* MMX, SSE and their successors in the soft engine: the entry point for the
 * vector rows of the 0F map and the 0F 38 / 0F 3A maps, the checks every
 * vector instruction makes first, operand access with the SSE alignment
 * rule, and the data movement, logic and shuffle instructions. Integer
 * arithmetic lives in sse_int.c, floating point in sse_fp.c.
 *
 * The order of checks is the architecture's: an encoding that does not exist
 * is #UD; then CR0.EM (#UD), CR4.OSFXSR for SSE (#UD), CR0.TS (#NM), a
 * pending x87 error for MMX (#MF); then the memory operand (#GP/#SS/#PF,
 * 16-byte alignment #GP(0)); then SIMD floating-point exceptions (#XM). Like
 * every instruction of the engine these are precise: nothing is written
 * before the last check passed. */
#include "engine/soft/sse.h"

#include "engine/soft/access.h"

int sse_check(struct soft_cpu *c, enum sse_kind kind)
{
	uint64_t cr0 = c->state.cr0;
	if (cr0 & SSE_CR0_EM)
		return sse_ud(c);
	if (kind != SK_MMX && !(c->state.cr4 & SSE_CR4_OSFXSR))
		return sse_ud(c);
	if (cr0 & SSE_CR0_TS)
		return soft_raise(c, SOFT_NM, false, 0);
	if (kind != SK_SSE) {
		if (c->state.fpu.fsw & 0x80)
			return soft_raise(c, SOFT_MF, false, 0);
	}
	return 0;
}

/* --- memory operands --- */

static int mem_ref(struct soft_cpu *c, const struct soft_insn *i, uint64_t ea, unsigned size,
                   unsigned access, bool align16, struct memref *m)
{
	uint64_t la;
	ea &= soft_size_mask(i->asize);
	/* Misalignment is #GP(0) before any segment or canonical check (a
	 * misaligned non-canonical stack reference is #GP, not #SS). */
	if (align16) {
		uint64_t base = c->state.seg[i->seg].base;
		if (c->mode == SOFT_MODE_64 && i->seg != SEG_FS && i->seg != SEG_GS)
			base = 0;
		if ((base + ea) & 15)
			return soft_raise(c, SOFT_GP, true, 0);
	}
	if (soft_linear(c, i->seg, ea, size, access, &la))
		return -1;
	return soft_mem_prepare(c, la, size, access, m);
}

/* Bytes [off, off + n) of a prepared reference that is not one host run. */
static struct memref ref_part(const struct memref *m, unsigned off, unsigned n)
{
	struct memref r = {.size = n};
	if (off >= m->len0) {
		r.gpa0 = m->gpa1 + (off - m->len0);
		r.len0 = n;
	} else {
		r.gpa0 = m->gpa0 + off;
		r.len0 = m->len0 - off < n ? m->len0 - off : n;
		r.gpa1 = m->gpa1;
	}
	return r;
}

int sse_mem_read(struct soft_cpu *c, const struct soft_insn *i, uint64_t ea, unsigned size,
                 bool align16, void *out)
{
	struct memref m;
	if (mem_ref(c, i, ea, size, SOFT_ACC_READ, align16, &m))
		return -1;
	if (m.host) {
		memcpy(out, m.host, size);
		return 0;
	}
	uint8_t *o = out;
	for (unsigned off = 0; off < size; off += 8) {
		unsigned n = size - off < 8 ? size - off : 8;
		struct memref p = ref_part(&m, off, n);
		uint64_t v = soft_mem_read_slow(c, &p);
		memcpy(o + off, &v, n);
	}
	return 0;
}

int sse_mem_write(struct soft_cpu *c, const struct soft_insn *i, uint64_t ea, unsigned size,
                  bool align16, const void *in)
{
	struct memref m;
	if (mem_ref(c, i, ea, size, SOFT_ACC_WRITE, align16, &m))
		return -1;
	if (m.host) {
		memcpy(m.host, in, size);
		return 0;
	}
	const uint8_t *p8 = in;
	for (unsigned off = 0; off < size; off += 8) {
		unsigned n = size - off < 8 ? size - off : 8;
		struct memref p = ref_part(&m, off, n);
		uint64_t v = 0;
		memcpy(&v, p8 + off, n);
		soft_mem_write_slow(c, &p, v);
	}
	return 0;
}

int sse_src(struct soft_cpu *c, const struct soft_insn *i, unsigned size, bool align16, sse_vec *v)
{
	if (!i->mem) {
		*v = xmm_get(c, i->rm);
		return 0;
	}
	memset(v, 0, sizeof *v);
	return sse_mem_read(c, i, soft_x_ea(c, i), size, align16, v);
}

int mmx_src(struct soft_cpu *c, const struct soft_insn *i, unsigned size, uint64_t *v)
{
	if (!i->mem) {
		*v = mmx_get(c, i->rm);
		return 0;
	}
	*v = 0;
	return sse_mem_read(c, i, soft_x_ea(c, i), size, false, v);
}

/* Store to the r/m operand of an XMM form: size bytes to memory, or into
 * the register (the caller builds the whole register value). */
static int xmm_store_rm(struct soft_cpu *c, const struct soft_insn *i, unsigned size, bool align16,
                        const sse_vec *v)
{
	if (i->mem)
		return sse_mem_write(c, i, soft_x_ea(c, i), size, align16, v);
	xmm_set(c, i->rm, v);
	return 0;
}

/* --- moves --- */

/* 0F 10-17, 28, 29, 2B: the floating-point moves. */
static int fp_moves(struct soft_cpu *c, const struct soft_insn *i, enum sse_pfx pf)
{
	unsigned op = i->op & 0xff;
	sse_vec s, d;
	/* the encodings without a form: #UD comes before #NM */
	bool f3f2 = pf >= PF_F3;
	if (((op == 0x28 || op == 0x29 || op == 0x13 || op == 0x17 || op == 0x2b) && f3f2) ||
	    ((op == 0x13 || op == 0x17 || op == 0x2b) && !i->mem) ||
	    ((op == 0x12 || op == 0x16) && pf == PF_66 && !i->mem) || (op == 0x16 && pf == PF_F2))
		return sse_ud(c);
	if (sse_check(c, SK_SSE))
		return -1;
	switch (op) {
	case 0x10: /* MOVUPS MOVUPD MOVSS MOVSD: load */
	case 0x28: /* MOVAPS MOVAPD */
		if (pf >= PF_F3) {
			unsigned n = pf == PF_F3 ? 4 : 8;
			if (sse_src(c, i, n, false, &s))
				return -1;
			if (i->mem) {
				d = s;
			} else {
				d = xmm_get(c, i->reg);
				memcpy(&d, &s, n);
			}
		} else if (sse_src(c, i, 16, op == 0x28, &d)) {
			return -1;
		}
		xmm_set(c, i->reg, &d);
		break;
	case 0x11: /* store forms */
	case 0x29:
	case 0x2b: /* MOVNTPS MOVNTPD */
		s = xmm_get(c, i->reg);
		if (pf >= PF_F3) {
			unsigned n = pf == PF_F3 ? 4 : 8;
			if (i->mem) {
				if (sse_mem_write(c, i, soft_x_ea(c, i), n, false, &s))
					return -1;
			} else {
				d = xmm_get(c, i->rm);
				memcpy(&d, &s, n);
				xmm_set(c, i->rm, &d);
			}
		} else if (xmm_store_rm(c, i, 16, op != 0x11, &s)) {
			return -1;
		}
		break;
	case 0x12:
	case 0x16: {
		bool hi = op == 0x16;
		if (pf == PF_F3) { /* MOVSLDUP MOVSHDUP */
			if (sse_src(c, i, 16, true, &s))
				return -1;
			unsigned k = hi ? 1 : 0;
			d.u32[0] = d.u32[1] = s.u32[k];
			d.u32[2] = d.u32[3] = s.u32[k + 2];
		} else if (pf == PF_F2) { /* MOVDDUP */
			if (sse_src(c, i, 8, false, &s))
				return -1;
			d.u64[0] = d.u64[1] = s.u64[0];
		} else { /* MOVLPS MOVHPS MOVLPD MOVHPD; MOVHLPS MOVLHPS */
			if (sse_src(c, i, 8, false, &s))
				return -1;
			d = xmm_get(c, i->reg);
			if (!i->mem)
				d.u64[hi] = s.u64[!hi];
			else
				d.u64[hi] = s.u64[0];
		}
		xmm_set(c, i->reg, &d);
		break;
	}
	case 0x13: /* MOVLPS MOVLPD m64, xmm */
	case 0x17: /* MOVHPS MOVHPD m64, xmm */
		s = xmm_get(c, i->reg);
		if (sse_mem_write(c, i, soft_x_ea(c, i), 8, false, &s.u64[op == 0x17]))
			return -1;
		break;
	default: return -2;
	}
	return sse_done(c, i);
}

/* The MOVD/MOVQ family and the other moves of the integer rows. */
static int int_moves(struct soft_cpu *c, const struct soft_insn *i, enum sse_pfx pf)
{
	unsigned op = i->op & 0xff;
	bool w = i->rex & 8;
	uint64_t v;
	sse_vec s, d;
	switch (op) {
	case 0x6e: /* MOVD/MOVQ mm|xmm, r/m32|64 */
		if (pf >= PF_F3)
			return sse_ud(c);
		if (sse_check(c, pf == PF_66 ? SK_SSE : SK_MMX) ||
		    soft_x_rm_read(c, i, w ? 8 : 4, &v))
			return -1;
		if (!w)
			v &= 0xffffffffULL;
		if (pf == PF_66) {
			d = (sse_vec){.u64 = {v, 0}};
			xmm_set(c, i->reg, &d);
		} else {
			mmx_set(c, i->reg, v);
			mmx_enter(c);
		}
		break;
	case 0x7e:
		if (pf == PF_F2)
			return sse_ud(c);
		if (pf == PF_F3) { /* MOVQ xmm, xmm/m64 */
			if (sse_check(c, SK_SSE) || sse_src(c, i, 8, false, &s))
				return -1;
			d = (sse_vec){.u64 = {s.u64[0], 0}};
			xmm_set(c, i->reg, &d);
			break;
		}
		/* MOVD/MOVQ r/m32|64, mm|xmm */
		if (sse_check(c, pf == PF_66 ? SK_SSE : SK_MMX))
			return -1;
		v = pf == PF_66 ? c->state.fpu.xmm[i->reg][0] : mmx_get(c, i->reg);
		if (soft_x_rm_write(c, i, w ? 8 : 4, v))
			return -1;
		if (pf != PF_66)
			mmx_enter(c);
		break;
	case 0x6f:
	case 0x7f:
		if (pf == PF_F2)
			return sse_ud(c);
		if (pf == PF_NONE) { /* MOVQ mm, mm/m64 and back */
			if (sse_check(c, SK_MMX))
				return -1;
			if (op == 0x6f) {
				if (mmx_src(c, i, 8, &v))
					return -1;
				mmx_set(c, i->reg, v);
			} else {
				v = mmx_get(c, i->reg);
				if (i->mem) {
					if (sse_mem_write(c, i, soft_x_ea(c, i), 8, false, &v))
						return -1;
				} else {
					mmx_set(c, i->rm, v);
				}
			}
			mmx_enter(c);
			break;
		}
		/* MOVDQA (66), MOVDQU (F3) */
		if (sse_check(c, SK_SSE))
			return -1;
		if (op == 0x6f) {
			if (sse_src(c, i, 16, pf == PF_66, &d))
				return -1;
			xmm_set(c, i->reg, &d);
		} else {
			s = xmm_get(c, i->reg);
			if (xmm_store_rm(c, i, 16, pf == PF_66, &s))
				return -1;
		}
		break;
	case 0xd6:
		if (pf == PF_NONE)
			return sse_ud(c);
		if (pf == PF_66) { /* MOVQ xmm/m64, xmm */
			if (sse_check(c, SK_SSE))
				return -1;
			s = xmm_get(c, i->reg);
			s.u64[1] = 0;
			if (xmm_store_rm(c, i, 8, false, &s))
				return -1;
			break;
		}
		if (i->mem)
			return sse_ud(c);
		if (sse_check(c, SK_BOTH))
			return -1;
		if (pf == PF_F3) { /* MOVQ2DQ xmm, mm */
			d = (sse_vec){.u64 = {mmx_get(c, i->rm), 0}};
			xmm_set(c, i->reg, &d);
		} else { /* MOVDQ2Q mm, xmm */
			mmx_set(c, i->reg, c->state.fpu.xmm[i->rm][0]);
		}
		mmx_enter(c);
		break;
	case 0xe7: /* MOVNTQ, MOVNTDQ */
		if (pf >= PF_F3 || !i->mem)
			return sse_ud(c);
		if (sse_check(c, pf == PF_66 ? SK_SSE : SK_MMX))
			return -1;
		if (pf == PF_66) {
			s = xmm_get(c, i->reg);
			if (sse_mem_write(c, i, soft_x_ea(c, i), 16, true, &s))
				return -1;
		} else {
			v = mmx_get(c, i->reg);
			if (sse_mem_write(c, i, soft_x_ea(c, i), 8, false, &v))
				return -1;
			mmx_enter(c);
		}
		break;
	case 0xf0: /* LDDQU */
		if (pf != PF_F2 || !i->mem)
			return sse_ud(c);
		if (sse_check(c, SK_SSE) || sse_src(c, i, 16, false, &d))
			return -1;
		xmm_set(c, i->reg, &d);
		break;
	case 0xf7: { /* MASKMOVQ, MASKMOVDQU: byte-masked store to DS:rDI */
		if (pf >= PF_F3 || i->mem)
			return sse_ud(c);
		if (sse_check(c, pf == PF_66 ? SK_SSE : SK_MMX))
			return -1;
		unsigned n = pf == PF_66 ? 16 : 8;
		sse_vec data, mask;
		if (pf == PF_66) {
			data = xmm_get(c, i->reg);
			mask = xmm_get(c, i->rm);
		} else {
			data.u64[0] = mmx_get(c, i->reg);
			mask.u64[0] = mmx_get(c, i->rm);
			mmx_enter(c); /* even if the store then faults, unlike MOVQ */
		}
		/* Every byte of the operand is checked for writing first (an
		 * all-zero mask touches nothing: whether it faults is the
		 * implementation's choice); then only the selected bytes are
		 * stored, so the others stay what any other agent makes them. */
		bool any = false;
		for (unsigned k = 0; k < n; k++)
			any |= mask.u8[k] >> 7;
		if (any) {
			struct memref m;
			if (mem_ref(c, i, c->state.gpr[GPR_RDI], n, SOFT_ACC_WRITE, false, &m))
				return -1;
			for (unsigned k = 0; k < n; k++) {
				if (!(mask.u8[k] & 0x80))
					continue;
				if (m.host) {
					m.host[k] = data.u8[k];
				} else {
					struct memref p = ref_part(&m, k, 1);
					soft_mem_write_slow(c, &p, data.u8[k]);
				}
			}
		}
		break;
	}
	case 0xc3: /* MOVNTI m32|64, r32|64: a plain GPR store */
		if (pf != PF_NONE || !i->mem)
			return sse_ud(c);
		v = c->state.gpr[i->reg];
		if (sse_mem_write(c, i, soft_x_ea(c, i), w ? 8 : 4, false, &v))
			return -1;
		break;
	default: return -2;
	}
	return sse_done(c, i);
}

/* MOVMSKPS/PD, PMOVMSKB, PINSRW, PEXTRW: between vector and GPR. */
static int gpr_transfers(struct soft_cpu *c, const struct soft_insn *i, enum sse_pfx pf)
{
	unsigned op = i->op & 0xff;
	unsigned imm = (unsigned)i->imm & 0xff;
	uint64_t v = 0;
	sse_vec s;
	bool x = pf == PF_66;
	switch (op) {
	case 0x50: /* MOVMSKPS MOVMSKPD */
		if (pf >= PF_F3 || i->mem)
			return sse_ud(c);
		if (sse_check(c, SK_SSE))
			return -1;
		s = xmm_get(c, i->rm);
		if (x)
			v = (s.u64[0] >> 63) | (s.u64[1] >> 63) << 1;
		else
			for (unsigned k = 0; k < 4; k++)
				v |= (uint64_t)(s.u32[k] >> 31) << k;
		soft_reg_set(c, i, i->reg, 4, v);
		break;
	case 0xd7: /* PMOVMSKB */
		if (pf >= PF_F3 || i->mem)
			return sse_ud(c);
		if (sse_check(c, x ? SK_SSE : SK_MMX))
			return -1;
		if (x)
			s = xmm_get(c, i->rm);
		else
			s.u64[0] = mmx_get(c, i->rm);
		for (unsigned k = 0; k < (x ? 16u : 8u); k++)
			v |= (uint64_t)(s.u8[k] >> 7) << k;
		soft_reg_set(c, i, i->reg, 4, v);
		if (!x)
			mmx_enter(c);
		break;
	case 0xc4: /* PINSRW mm|xmm, r32/m16, imm8 */
		if (pf >= PF_F3)
			return sse_ud(c);
		if (sse_check(c, x ? SK_SSE : SK_MMX) || soft_x_rm_read(c, i, 2, &v))
			return -1;
		if (x) {
			s = xmm_get(c, i->reg);
			s.u16[imm & 7] = (uint16_t)v;
			xmm_set(c, i->reg, &s);
		} else {
			s.u64[0] = mmx_get(c, i->reg);
			s.u16[imm & 3] = (uint16_t)v;
			mmx_set(c, i->reg, s.u64[0]);
			mmx_enter(c);
		}
		break;
	case 0xc5: /* PEXTRW r32, mm|xmm, imm8 */
		if (pf >= PF_F3 || i->mem)
			return sse_ud(c);
		if (sse_check(c, x ? SK_SSE : SK_MMX))
			return -1;
		if (x) {
			s = xmm_get(c, i->rm);
			v = s.u16[imm & 7];
		} else {
			s.u64[0] = mmx_get(c, i->rm);
			v = s.u16[imm & 3];
			mmx_enter(c);
		}
		soft_reg_set(c, i, i->reg, 4, v);
		break;
	default: return -2;
	}
	return sse_done(c, i);
}

/* --- logic and shuffles --- */

static int fp_logic_shuffle(struct soft_cpu *c, const struct soft_insn *i, enum sse_pfx pf)
{
	unsigned op = i->op & 0xff;
	unsigned imm = (unsigned)i->imm & 0xff;
	sse_vec d, s, r;
	if (pf >= PF_F3)
		return sse_ud(c);
	if (sse_check(c, SK_SSE) || sse_src(c, i, 16, true, &s))
		return -1;
	d = xmm_get(c, i->reg);
	bool pd = pf == PF_66;
	switch (op) {
	case 0x14: /* UNPCKLPS UNPCKLPD */
		if (pd)
			r = (sse_vec){.u64 = {d.u64[0], s.u64[0]}};
		else
			r = (sse_vec){.u32 = {d.u32[0], s.u32[0], d.u32[1], s.u32[1]}};
		break;
	case 0x15: /* UNPCKHPS UNPCKHPD */
		if (pd)
			r = (sse_vec){.u64 = {d.u64[1], s.u64[1]}};
		else
			r = (sse_vec){.u32 = {d.u32[2], s.u32[2], d.u32[3], s.u32[3]}};
		break;
	case 0x54: r = (sse_vec){.u64 = {d.u64[0] & s.u64[0], d.u64[1] & s.u64[1]}}; break;
	case 0x55: r = (sse_vec){.u64 = {~d.u64[0] & s.u64[0], ~d.u64[1] & s.u64[1]}}; break;
	case 0x56: r = (sse_vec){.u64 = {d.u64[0] | s.u64[0], d.u64[1] | s.u64[1]}}; break;
	case 0x57: r = (sse_vec){.u64 = {d.u64[0] ^ s.u64[0], d.u64[1] ^ s.u64[1]}}; break;
	case 0xc6: /* SHUFPS SHUFPD */
		if (pd)
			r = (sse_vec){.u64 = {d.u64[imm & 1], s.u64[(imm >> 1) & 1]}};
		else
			r = (sse_vec){.u32 = {d.u32[imm & 3], d.u32[(imm >> 2) & 3],
			                      s.u32[(imm >> 4) & 3], s.u32[(imm >> 6) & 3]}};
		break;
	default: return -2;
	}
	xmm_set(c, i->reg, &r);
	return sse_done(c, i);
}

/* 0F 70: PSHUFW (MMX), PSHUFD, PSHUFHW, PSHUFLW. */
static int pshuf(struct soft_cpu *c, const struct soft_insn *i, enum sse_pfx pf)
{
	unsigned imm = (unsigned)i->imm & 0xff;
	sse_vec s, r;
	if (pf == PF_NONE) {
		uint64_t v;
		if (sse_check(c, SK_MMX) || mmx_src(c, i, 8, &v))
			return -1;
		s.u64[0] = v;
		for (unsigned k = 0; k < 4; k++)
			r.u16[k] = s.u16[(imm >> (2 * k)) & 3];
		mmx_set(c, i->reg, r.u64[0]);
		mmx_enter(c);
		return sse_done(c, i);
	}
	if (sse_check(c, SK_SSE) || sse_src(c, i, 16, true, &s))
		return -1;
	r = s;
	for (unsigned k = 0; k < 4; k++) {
		unsigned sel = (imm >> (2 * k)) & 3;
		if (pf == PF_66)
			r.u32[k] = s.u32[sel];
		else if (pf == PF_F3)
			r.u16[4 + k] = s.u16[4 + sel];
		else
			r.u16[k] = s.u16[sel];
	}
	xmm_set(c, i->reg, &r);
	return sse_done(c, i);
}

/* --- MXCSR and EMMS --- */

static int mxcsr_access(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned r = (i->modrm >> 3) & 7;
	if (i->pfx & SOFT_PFX_OPSIZE)
		return sse_ud(c);
	if (sse_check(c, SK_SSE))
		return -1;
	if (r == 2) { /* LDMXCSR */
		uint32_t v;
		if (sse_mem_read(c, i, soft_x_ea(c, i), 4, false, &v))
			return -1;
		if (v & ~MX_VALID)
			return soft_raise(c, SOFT_GP, true, 0);
		c->state.fpu.mxcsr = v;
	} else { /* STMXCSR */
		uint32_t v = c->state.fpu.mxcsr;
		if (sse_mem_write(c, i, soft_x_ea(c, i), 4, false, &v))
			return -1;
	}
	return sse_done(c, i);
}

int soft_exec_sse(struct soft_cpu *c, const struct soft_insn *i)
{
	enum sse_pfx pf = sse_prefix(i);
	int rc;
	switch (i->op) {
	case 0x110:
	case 0x111:
	case 0x112:
	case 0x113:
	case 0x116:
	case 0x117:
	case 0x128:
	case 0x129:
	case 0x12b: return fp_moves(c, i, pf);
	case 0x114:
	case 0x115:
	case 0x154:
	case 0x155:
	case 0x156:
	case 0x157:
	case 0x1c6: return fp_logic_shuffle(c, i, pf);
	case 0x150:
	case 0x1c4:
	case 0x1c5:
	case 0x1d7: return gpr_transfers(c, i, pf);
	case 0x16e:
	case 0x16f:
	case 0x17e:
	case 0x17f:
	case 0x1c3:
	case 0x1d6:
	case 0x1e7:
	case 0x1f0:
	case 0x1f7: return int_moves(c, i, pf);
	case 0x170: return pshuf(c, i, pf);
	case 0x177: /* EMMS: TOP = 0 like every MMX instruction, every register empty */
		if (pf != PF_NONE)
			return sse_ud(c);
		if (sse_check(c, SK_MMX))
			return -1;
		c->state.fpu.fsw &= (uint16_t) ~(7u << 11);
		c->state.fpu.ftw = 0;
		return sse_done(c, i);
	case 0x178: /* VMREAD (no VMX here), EXTRQ/INSERTQ (AMD only) */
	case 0x179: return sse_ud(c);
	case 0x1ae: return mxcsr_access(c, i);
	default: break;
	}
	rc = sse_int_exec(c, i, pf);
	if (rc != -2)
		return rc;
	rc = sse_fp_exec(c, i, pf);
	if (rc != -2)
		return rc;
	rc = sse_str_exec(c, i, pf);
	if (rc != -2)
		return rc;
	return soft_x_unimplemented(c, i);
}
