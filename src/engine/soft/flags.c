/* Lazy arithmetic flags.
 *
 * Most instructions that write flags are followed by one that overwrites
 * them unread, so the ALU only records the operation, its operand size and
 * operands (struct soft_lazy_flags); the six arithmetic flags are computed
 * here when something reads them. Rarer flag writers (shifts, multiplies,
 * bit scans) fold the lazy state first and write rflags directly. */
#include "engine/soft/soft_internal.h"

static unsigned parity8(uint64_t v)
{
	return !__builtin_parity((unsigned)(v & 0xff));
}

static uint64_t lazy_compute(const struct soft_lazy_flags *lf)
{
	unsigned bits = lf->size * 8u;
	uint64_t mask = soft_size_mask(lf->size);
	uint64_t res = lf->res & mask, a = lf->a & mask, b = lf->b & mask;
	uint64_t sign = 1ULL << (bits - 1);
	uint64_t f = 0;
	bool cf = false, of = false, af = false;

	switch (lf->op) {
	case SOFT_LF_ADD:
	case SOFT_LF_ADC:
	case SOFT_LF_INC:
		if (lf->op == SOFT_LF_ADD)
			cf = res < a;
		else if (lf->op == SOFT_LF_ADC)
			cf = lf->cin ? res <= a : res < a;
		else
			cf = lf->cin;
		of = ((a ^ res) & (b ^ res) & sign) != 0;
		af = ((a ^ b ^ res) & 0x10) != 0;
		break;
	case SOFT_LF_SUB:
	case SOFT_LF_SBB:
	case SOFT_LF_DEC:
		if (lf->op == SOFT_LF_SUB)
			cf = a < b;
		else if (lf->op == SOFT_LF_SBB)
			cf = lf->cin ? a <= b : a < b;
		else
			cf = lf->cin;
		of = ((a ^ b) & (a ^ res) & sign) != 0;
		af = ((a ^ b ^ res) & 0x10) != 0;
		break;
	case SOFT_LF_LOGIC:
	default: break;
	}
	if (cf)
		f |= FL_CF;
	if (of)
		f |= FL_OF;
	if (af)
		f |= FL_AF;
	if (res == 0)
		f |= FL_ZF;
	if (res & sign)
		f |= FL_SF;
	if (parity8(res))
		f |= FL_PF;
	return f;
}

void soft_flags_materialize(struct soft_cpu *c)
{
	if (c->lf.op == SOFT_LF_NONE)
		return;
	c->state.rflags = (c->state.rflags & ~FL_ARITH) | lazy_compute(&c->lf);
	c->lf.op = SOFT_LF_NONE;
}

bool soft_cf(const struct soft_cpu *c)
{
	const struct soft_lazy_flags *lf = &c->lf;
	uint64_t mask = soft_size_mask(lf->size);
	uint64_t res = lf->res & mask, a = lf->a & mask, b = lf->b & mask;
	switch (lf->op) {
	case SOFT_LF_NONE: return c->state.rflags & FL_CF;
	case SOFT_LF_ADD: return res < a;
	case SOFT_LF_ADC: return lf->cin ? res <= a : res < a;
	case SOFT_LF_SUB: return a < b;
	case SOFT_LF_SBB: return lf->cin ? a <= b : a < b;
	case SOFT_LF_INC:
	case SOFT_LF_DEC: return lf->cin;
	default: return false;
	}
}

uint64_t soft_flags_get(struct soft_cpu *c)
{
	soft_flags_materialize(c);
	return c->state.rflags;
}

bool soft_cond(struct soft_cpu *c, unsigned cc)
{
	uint64_t f;
	/* The common compare-and-branch pair, without building every flag. */
	if (c->lf.op == SOFT_LF_SUB && (cc & 0xe) != 0 && (cc & 0xe) != 0xa) {
		uint64_t mask = soft_size_mask(c->lf.size);
		uint64_t a = c->lf.a & mask, b = c->lf.b & mask;
		uint64_t sign = 1ULL << (c->lf.size * 8 - 1);
		bool r;
		switch (cc >> 1) {
		case 1: r = a < b; break;                     /* B */
		case 2: r = a == b; break;                    /* E */
		case 3: r = a <= b; break;                    /* BE */
		case 4: r = ((a - b) & sign) != 0; break;     /* S */
		case 6: r = (a ^ sign) < (b ^ sign); break;   /* L */
		default: r = (a ^ sign) <= (b ^ sign); break; /* LE */
		}
		return r ^ (cc & 1);
	}
	/* E/NE and S/NS need only the result, whatever the operation. */
	if (c->lf.op != SOFT_LF_NONE && ((cc >> 1) == 2 || (cc >> 1) == 4)) {
		uint64_t res = c->lf.res & soft_size_mask(c->lf.size);
		bool r = (cc >> 1) == 2 ? res == 0 : (res >> (c->lf.size * 8 - 1)) & 1;
		return r ^ (cc & 1);
	}
	f = soft_flags_get(c);
	bool r;
	switch (cc >> 1) {
	case 0: r = f & FL_OF; break;
	case 1: r = f & FL_CF; break;
	case 2: r = f & FL_ZF; break;
	case 3: r = f & (FL_CF | FL_ZF); break;
	case 4: r = f & FL_SF; break;
	case 5: r = f & FL_PF; break;
	case 6: r = !(f & FL_SF) != !(f & FL_OF); break;
	default: r = (f & FL_ZF) || (!(f & FL_SF) != !(f & FL_OF)); break;
	}
	return r ^ (cc & 1);
}
