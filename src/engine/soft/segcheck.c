/* The segment-checking instructions: VERR, VERW (0F 00 /4 /5), LAR (0F 02)
 * and LSL (0F 03). They ask "could this selector be used?" and answer in ZF
 * instead of faulting: a null selector, one outside its table, a descriptor
 * of the wrong kind or one the current privilege cannot reach all clear ZF.
 * Only the operand itself and reading the descriptor table can fault (#PF,
 * or #GP/#SS of a memory operand). Linux runs VERW on every return to user
 * space and before idling, to flush CPU buffers (the MDS mitigation). */
#include "engine/soft/segcheck.h"
#include "engine/soft/access.h"
#include "engine/soft/exec.h"

/* The raw 8-byte descriptor, or false (ZF=0) when the selector names none.
 * -1 in *fault when reading the table faulted. */
static bool fetch_descriptor(struct soft_cpu *c, uint16_t sel, uint64_t *d, int *fault)
{
	*fault = 0;
	if ((sel & 0xfffc) == 0)
		return false;
	uint64_t limit;
	if (sel & 4) {
		const struct cpu_segment *ldt = &c->state.seg[SEG_LDTR];
		if (ldt->unusable || !ldt->present || (ldt->selector & 0xfffc) == 0)
			return false;
		limit = ldt->limit;
	} else {
		limit = c->state.gdt.limit;
	}
	if ((uint64_t)(sel | 7) > limit)
		return false;
	if (soft_read_descriptor(c, sel, SOFT_GP, 0, d, NULL)) {
		*fault = -1;
		return false;
	}
	return true;
}

/* The selector in the r/m16 operand and its descriptor (*ok false when it
 * names none). -1 when reading the operand or the table faulted. */
static int operand_descriptor(struct soft_cpu *c, const struct soft_insn *i, uint16_t *sel,
                              uint64_t *d, bool *ok)
{
	uint64_t v;
	int fault;
	if (soft_x_rm_read(c, i, 2, &v))
		return -1;
	*sel = (uint16_t)v;
	*ok = fetch_descriptor(c, *sel, d, &fault);
	return fault;
}

static void set_zf(struct soft_cpu *c, bool zf)
{
	uint64_t f = soft_flags_get(c) & ~FL_ZF;
	c->state.rflags = f | (zf ? FL_ZF : 0);
	c->lf.op = SOFT_LF_NONE;
}

/* Non-conforming code and data need DPL >= max(CPL, RPL). */
static bool reachable(const struct soft_cpu *c, uint64_t d, uint16_t sel)
{
	unsigned type = (d >> 40) & 0xf, dpl = (d >> 45) & 3;
	bool s = (d >> 44) & 1;
	bool conforming_code = s && (type & 0xc) == 0xc;
	if (conforming_code)
		return true;
	return dpl >= c->cpl && dpl >= (sel & 3u);
}

int soft_exec_verr_verw(struct soft_cpu *c, const struct soft_insn *i, bool write)
{
	uint16_t sel;
	uint64_t d;
	bool ok;
	if (operand_descriptor(c, i, &sel, &d, &ok))
		return -1;
	if (ok) {
		unsigned type = (d >> 40) & 0xf;
		bool s = (d >> 44) & 1, code = type & 8;
		if (!s || !reachable(c, d, sel))
			ok = false;
		else if (write)
			ok = !code && (type & 2); /* writable data */
		else
			ok = !code || (type & 2); /* data, or readable code */
	}
	set_zf(c, ok);
	return 0;
}

/* System descriptor types LAR (and, without gates, LSL) accept. */
static bool system_type_ok(const struct soft_cpu *c, unsigned type, bool lsl)
{
	if (c->state.efer & EFER_LMA) { /* LDT, 64-bit TSS (available, busy), call gate */
		return type == 2 || type == 9 || type == 0xb || (!lsl && type == 0xc);
	}
	switch (type) {
	case 1:
	case 2:
	case 3:
	case 9:
	case 0xb: return true; /* TSS16, LDT, busy TSS16, TSS32, busy TSS32 */
	case 4:
	case 5:
	case 0xc: return !lsl; /* call gates, task gate */
	default: return false;
	}
}

int soft_exec_lar_lsl(struct soft_cpu *c, const struct soft_insn *i, bool lsl)
{
	if (!(c->state.cr0 & CR0_PE) || (c->state.rflags & FL_VM))
		return soft_raise(c, SOFT_UD, false, 0);
	uint16_t sel;
	uint64_t d;
	bool ok;
	if (operand_descriptor(c, i, &sel, &d, &ok))
		return -1;
	if (ok) {
		unsigned type = (d >> 40) & 0xf;
		bool s = (d >> 44) & 1;
		ok = (s || system_type_ok(c, type, lsl)) && reachable(c, d, sel);
	}
	if (ok) {
		uint64_t result;
		if (lsl) {
			uint64_t limit = (d & 0xffff) | ((d >> 32) & 0xf0000);
			if ((d >> 55) & 1) /* G: 4 KiB granularity */
				limit = (limit << 12) | 0xfff;
			result = limit;
		} else {
			result = (d >> 32) & 0x00f0ff00;
		}
		/* A 16-bit destination gets the low 16 bits; 32 and 64 zero-extend. */
		soft_reg_set(c, i, i->reg, i->osize, result);
	}
	set_zf(c, ok);
	return 0;
}
