/* Far transfers: JMP and CALL through a far pointer (ptr16:16/32 or
 * m16:16/32/64) and RETF [imm16], as the SDM's CALL, JMP and RET pseudocode
 * describe them for protected mode and IA-32e mode:
 *
 * - to a code segment: conforming (DPL <= CPL) or not (RPL <= CPL, DPL ==
 *   CPL); the CPL never changes;
 * - through a call gate (16- and 32-bit gates in protected mode, the
 *   16-byte 64-bit gate in long mode): gate DPL >= CPL and RPL; the target
 *   code segment's DPL <= CPL; a CALL to a more privileged non-conforming
 *   segment switches to the stack the TSS holds for the new level (SS:ESP,
 *   or RSP with a null SS in long mode), pushes the old SS:ESP, copies the
 *   gate's parameter count of words or doublewords (not for 64-bit gates),
 *   then the return CS:EIP; a JMP never changes privilege;
 * - to a TSS or a task gate: a task switch (task.c);
 * - RETF to the same level, or to an outer one: SS:ESP popped after the
 *   imm16 bytes of parameters, which are released on both stacks, and data
 *   segment registers the outer level may not use become null.
 *
 * Every check happens before any register changes, so a failed transfer
 * leaves the state as it was (pushes to the new stack are below its
 * pointer and harmless). Error codes carry the offending selector: the
 * gate's, the code segment's or the new stack's, as the SDM lists them. */
#include "engine/soft/access.h"
#include "engine/soft/exec.h"
#include "util/log.h"

static int fault_sel(struct soft_cpu *c, unsigned vector, uint16_t sel)
{
	return soft_raise(c, vector, true, sel & 0xfffc);
}

static bool is_code(const struct cpu_segment *d)
{
	return d->s && (d->type & 8);
}

static bool is_conforming(const struct cpu_segment *d)
{
	return (d->type & 0xc) == 0xc;
}

static bool is_writable_data(const struct cpu_segment *d)
{
	return d->s && !(d->type & 8) && (d->type & 2);
}

/* The new RIP of a transfer into code segment cs: canonical for 64-bit
 * code, within the limit (after truncation to size bytes) otherwise. */
static int check_target(struct soft_cpu *c, const struct cpu_segment *cs, uint64_t *off,
                        unsigned size)
{
	if ((c->state.efer & EFER_LMA) && cs->l) {
		if (!soft_canonical(*off))
			return soft_raise(c, SOFT_GP, true, 0);
		return 0;
	}
	*off &= size == 2 ? 0xffff : 0xffffffffULL;
	if (*off > cs->limit)
		return soft_raise(c, SOFT_GP, true, 0);
	return 0;
}

/* CS for a transfer into code segment d at privilege cpl: RPL = CPL, and
 * this engine keeps the CPL in CS.DPL (conforming segments included). */
static void load_cs(struct soft_cpu *c, uint16_t sel, struct cpu_segment d, unsigned cpl)
{
	soft_set_accessed(c, sel, &d);
	d.selector = (uint16_t)((sel & ~3u) | cpl);
	d.dpl = (uint8_t)cpl;
	c->state.seg[SEG_CS] = d;
}

/* Two pushes on the current stack that fail as one: RSP is restored when
 * the second faults. */
static int push_pair(struct soft_cpu *c, unsigned size, uint64_t first, uint64_t second)
{
	uint64_t sp = c->state.gpr[GPR_RSP];
	if (soft_x_push(c, size, first))
		return -1;
	if (soft_x_push(c, size, second)) {
		c->state.gpr[GPR_RSP] = sp;
		return -1;
	}
	return 0;
}

/* A stack being filled during a privilege change: the new SS (unused for a
 * 64-bit stack), the stack pointer, and the #SS error code. Its accesses
 * are made at the new, inner privilege (implicit supervisor accesses). */
struct new_stack {
	struct cpu_segment ss;
	uint64_t sp;
	bool flat64;
	uint32_t err;
};

static int new_stack_push(struct soft_cpu *c, struct new_stack *st, unsigned size, uint64_t v)
{
	struct memref m;
	uint64_t la;
	if (st->flat64) {
		uint64_t sp = st->sp - size;
		if (!soft_canonical(sp) || !soft_canonical(sp + size - 1))
			return soft_raise(c, SOFT_SS, true, st->err);
		la = sp;
		st->sp = sp;
	} else {
		uint64_t mask = st->ss.db ? 0xffffffffULL : 0xffff;
		uint64_t sp = (st->sp - size) & mask, last = sp + size - 1;
		bool ok =
		    (st->ss.type & 4) ? sp > st->ss.limit && last <= mask : last <= st->ss.limit;
		if (!ok)
			return soft_raise(c, SOFT_SS, true, st->err);
		la = (st->ss.base + sp) & 0xffffffffULL;
		st->sp = (st->sp & ~mask) | sp;
	}
	if (soft_mem_prepare(c, la, size, SOFT_ACC_WRITE | SOFT_ACC_SUPER, &m))
		return -1;
	soft_mem_write(c, &m, v);
	return 0;
}

/* The inner stack for privilege level cpl from the current TSS: RSPn of a
 * 64-bit TSS (SS becomes null), or SSn:ESPn of a 32-bit TSS (SPn of a
 * 16-bit one) with the new SS checked: #TS(selector), #SS(selector) when
 * not present. */
static int inner_stack(struct soft_cpu *c, unsigned cpl, struct new_stack *st)
{
	const struct cpu_state *s = &c->state;
	const struct cpu_segment *tr = &s->seg[SEG_TR];
	uint64_t sp, ss_sel;
	struct memref m;
	if (s->efer & EFER_LMA) {
		if (4 + 8 * cpl + 7 > tr->limit)
			return fault_sel(c, SOFT_TS, tr->selector);
		if (soft_mem_prepare(c, tr->base + 4 + 8 * cpl, 8, SOFT_ACC_READ | SOFT_ACC_SUPER,
		                     &m))
			return -1;
		*st = (struct new_stack){.sp = soft_mem_read(c, &m), .flat64 = true};
		return 0;
	}
	bool tss32 = tr->type & 8;
	unsigned sp_off = tss32 ? 4 + 8 * cpl : 2 + 4 * cpl, w = tss32 ? 4 : 2;
	if (sp_off + 2 * w - 1 > tr->limit)
		return fault_sel(c, SOFT_TS, tr->selector);
	if (soft_mem_prepare(c, (tr->base + sp_off) & 0xffffffffULL, w,
	                     SOFT_ACC_READ | SOFT_ACC_SUPER, &m))
		return -1;
	sp = soft_mem_read(c, &m);
	if (soft_mem_prepare(c, (tr->base + sp_off + w) & 0xffffffffULL, 2,
	                     SOFT_ACC_READ | SOFT_ACC_SUPER, &m))
		return -1;
	ss_sel = soft_mem_read(c, &m);
	uint16_t sel = (uint16_t)ss_sel;
	if ((sel & ~3u) == 0 || (sel & 3) != cpl)
		return fault_sel(c, SOFT_TS, sel);
	uint64_t lo;
	if (soft_read_descriptor(c, sel, SOFT_TS, 0, &lo, NULL))
		return -1;
	struct cpu_segment ss = soft_unpack_descriptor(lo, sel);
	if (!is_writable_data(&ss) || ss.dpl != cpl)
		return fault_sel(c, SOFT_TS, sel);
	if (!ss.present)
		return fault_sel(c, SOFT_SS, sel);
	*st = (struct new_stack){.ss = ss, .sp = sp, .err = sel & 0xfffc};
	return 0;
}

/* CALL or JMP through the call gate at gate_sel (descriptor low half lo). */
static int call_gate(struct soft_cpu *c, const struct soft_insn *i, uint16_t gate_sel, uint64_t lo,
                     bool call)
{
	struct cpu_state *s = &c->state;
	bool lma = s->efer & EFER_LMA;
	unsigned gdpl = (lo >> 45) & 3, type = (lo >> 40) & 0xf;
	if (gdpl < c->cpl || gdpl < (gate_sel & 3u))
		return fault_sel(c, SOFT_GP, gate_sel);
	if (!((lo >> 47) & 1))
		return fault_sel(c, SOFT_NP, gate_sel);
	uint64_t target = lo & 0xffff;
	if (type == 0xc)
		target |= (lo >> 32) & 0xffff0000ULL;
	if (lma) { /* the upper half: offset 63:32, and a type field of 0 */
		uint64_t hi;
		if (soft_read_descriptor(c, gate_sel, SOFT_GP, 0, &lo, &hi))
			return -1;
		if ((hi >> 40) & 0x1f)
			return fault_sel(c, SOFT_GP, gate_sel);
		target |= hi << 32;
	}
	unsigned gsize = lma ? 8 : type == 0xc ? 4 : 2;
	unsigned params = lma ? 0 : (lo >> 32) & 0x1f;
	uint16_t cs_sel = (uint16_t)(lo >> 16);
	struct cpu_segment cs;
	if ((cs_sel & ~3u) == 0)
		return soft_raise(c, SOFT_GP, true, 0);
	if (soft_load_descriptor(c, cs_sel, 0, &cs))
		return -1;
	if (!is_code(&cs) || cs.dpl > c->cpl || (lma && (!cs.l || cs.db)))
		return fault_sel(c, SOFT_GP, cs_sel);
	/* JMP cannot change privilege: only conforming code or the same level. */
	if (!call && !is_conforming(&cs) && cs.dpl != c->cpl)
		return fault_sel(c, SOFT_GP, cs_sel);
	if (!cs.present)
		return fault_sel(c, SOFT_NP, cs_sel);
	if (check_target(c, &cs, &target, gsize))
		return -1;
	uint64_t ret = soft_x_next_rip(c, i);

	if (call && !is_conforming(&cs) && cs.dpl < c->cpl) {
		/* To an inner level: the new stack from the TSS. */
		unsigned new_cpl = cs.dpl;
		struct new_stack st;
		if (inner_stack(c, new_cpl, &st))
			return -1;
		uint64_t old_sp = s->gpr[GPR_RSP];
		if (new_stack_push(c, &st, gsize, s->seg[SEG_SS].selector) ||
		    new_stack_push(c, &st, gsize, old_sp))
			return -1;
		/* Parameters, from the old stack at the old privilege. */
		uint64_t old_mask = s->seg[SEG_SS].db ? 0xffffffffULL : 0xffff;
		for (unsigned k = params; k-- > 0;) {
			uint64_t la, v;
			struct memref m;
			if (soft_linear(c, SEG_SS, (old_sp + k * gsize) & old_mask, gsize,
			                SOFT_ACC_READ, &la) ||
			    soft_mem_prepare(c, la, gsize, SOFT_ACC_READ, &m))
				return -1;
			v = soft_mem_read(c, &m);
			if (new_stack_push(c, &st, gsize, v))
				return -1;
		}
		if (new_stack_push(c, &st, gsize, s->seg[SEG_CS].selector) ||
		    new_stack_push(c, &st, gsize, ret))
			return -1;
		if (st.flat64) {
			s->seg[SEG_SS] = (struct cpu_segment){
			    .selector = (uint16_t)new_cpl, .dpl = (uint8_t)new_cpl, .unusable = 1};
			s->gpr[GPR_RSP] = st.sp;
		} else {
			soft_set_accessed(c, st.ss.selector, &st.ss);
			s->seg[SEG_SS] = st.ss;
			s->gpr[GPR_RSP] = st.ss.db ? st.sp & 0xffffffffULL : st.sp;
		}
		load_cs(c, cs_sel, cs, new_cpl);
		s->rip = target;
		return 0;
	}
	if (call && push_pair(c, gsize, s->seg[SEG_CS].selector, ret))
		return -1;
	load_cs(c, cs_sel, cs, c->cpl);
	s->rip = target;
	return 0;
}

int soft_far_transfer(struct soft_cpu *c, const struct soft_insn *i, uint16_t sel, uint64_t off,
                      bool call)
{
	struct cpu_state *s = &c->state;
	unsigned size = i->osize;
	uint64_t ret = soft_x_next_rip(c, i);
	if (!(s->cr0 & CR0_PE) || (s->rflags & FL_VM)) {
		/* Real and virtual-8086 mode: CS is a paragraph; the limit stays. */
		off &= soft_size_mask(size);
		if (off > s->seg[SEG_CS].limit)
			return soft_raise(c, SOFT_GP, true, 0);
		if (call && push_pair(c, size, s->seg[SEG_CS].selector, ret))
			return -1;
		s->seg[SEG_CS].selector = sel;
		s->seg[SEG_CS].base = (uint64_t)sel << 4;
		s->rip = off;
		return 0;
	}
	if ((sel & ~3u) == 0)
		return soft_raise(c, SOFT_GP, true, 0);
	uint64_t lo;
	if (soft_read_descriptor(c, sel, SOFT_GP, 0, &lo, NULL))
		return -1;
	struct cpu_segment d = soft_unpack_descriptor(lo, sel);
	bool lma = s->efer & EFER_LMA;
	if (d.s) {
		if (!(d.type & 8) ||
		    (is_conforming(&d) ? d.dpl > c->cpl : ((sel & 3u) > c->cpl || d.dpl != c->cpl)))
			return fault_sel(c, SOFT_GP, sel);
		if (!d.present)
			return fault_sel(c, SOFT_NP, sel);
		if (lma && d.l && d.db)
			return fault_sel(c, SOFT_GP, sel);
		if (check_target(c, &d, &off, size))
			return -1;
		if (call && push_pair(c, size, s->seg[SEG_CS].selector, ret))
			return -1;
		load_cs(c, sel, d, c->cpl);
		s->rip = off;
		return 0;
	}
	/* System descriptors: call gates, and (outside long mode) tasks. */
	switch (d.type) {
	case 0xc: return call_gate(c, i, sel, lo, call);
	case 0x4:
		if (lma)
			break;
		return call_gate(c, i, sel, lo, call);
	case 0x1: /* available 16-bit TSS */
	case 0x9: /* available 32-bit TSS */
	case 0x5: /* task gate */
		if (lma)
			break;
		if (d.dpl < c->cpl || d.dpl < (sel & 3u))
			return fault_sel(c, SOFT_GP, sel);
		if (!d.present)
			return fault_sel(c, SOFT_NP, sel);
		if (d.type == 0x5) {
			/* the gate names a TSS, which must be in the GDT */
			uint16_t tss = (uint16_t)(lo >> 16);
			if (tss & 4)
				return fault_sel(c, SOFT_GP, tss);
			sel = tss;
		}
		return soft_task_switch(c, sel, call ? SOFT_TASK_CALL : SOFT_TASK_JMP, ret, false,
		                        0, 0);
	default: break;
	}
	return fault_sel(c, SOFT_GP, sel);
}

void soft_null_outer_segments(struct soft_cpu *c, unsigned new_cpl)
{
	static const unsigned regs[] = {SEG_ES, SEG_DS, SEG_FS, SEG_GS};
	for (unsigned k = 0; k < 4; k++) {
		struct cpu_segment *d = &c->state.seg[regs[k]];
		if (d->unusable || (d->selector & ~3u) == 0)
			continue;
		if ((!(d->type & 8) || !(d->type & 4)) && d->dpl < new_cpl) {
			uint64_t base = d->base;
			*d = (struct cpu_segment){.unusable = 1};
			if (c->state.efer & EFER_LMA)
				d->base = base; /* 64-bit code uses FS/GS bases from the MSRs */
		}
	}
}

int soft_far_return(struct soft_cpu *c, const struct soft_insn *i, uint64_t pop_extra)
{
	struct cpu_state *s = &c->state;
	unsigned size = i->osize;
	uint64_t off, sel;
	if (soft_x_stack_peek(c, 0, size, &off) || soft_x_stack_peek(c, size, size, &sel))
		return -1;
	if (!(s->cr0 & CR0_PE) || (s->rflags & FL_VM)) {
		off &= soft_size_mask(size);
		if (off > s->seg[SEG_CS].limit)
			return soft_raise(c, SOFT_GP, true, 0);
		s->seg[SEG_CS].selector = (uint16_t)sel;
		s->seg[SEG_CS].base = (sel & 0xffff) << 4;
		s->rip = off;
		soft_x_rsp_set(c, s->gpr[GPR_RSP] + 2 * size + pop_extra);
		return 0;
	}
	uint16_t cs_sel = (uint16_t)sel;
	unsigned rpl = cs_sel & 3;
	struct cpu_segment cs;
	if ((cs_sel & ~3u) == 0)
		return soft_raise(c, SOFT_GP, true, 0);
	if (rpl < c->cpl)
		return fault_sel(c, SOFT_GP, cs_sel);
	if (soft_load_descriptor(c, cs_sel, 0, &cs))
		return -1;
	if (!is_code(&cs) || (is_conforming(&cs) ? cs.dpl > rpl : cs.dpl != rpl))
		return fault_sel(c, SOFT_GP, cs_sel);
	if (!cs.present)
		return fault_sel(c, SOFT_NP, cs_sel);
	bool lma = s->efer & EFER_LMA;
	if (lma && cs.l && cs.db)
		return fault_sel(c, SOFT_GP, cs_sel);
	if (rpl == c->cpl) {
		if (check_target(c, &cs, &off, size))
			return -1;
		load_cs(c, cs_sel, cs, rpl);
		s->rip = off;
		soft_x_rsp_set(c, s->gpr[GPR_RSP] + 2 * size + pop_extra);
		return 0;
	}

	/* To an outer level: SS:ESP follow the parameters. */
	uint64_t new_sp, ss_raw;
	if (soft_x_stack_peek(c, 2 * size + pop_extra, size, &new_sp) ||
	    soft_x_stack_peek(c, 3 * size + pop_extra, size, &ss_raw))
		return -1;
	uint16_t ss_sel = (uint16_t)ss_raw;
	bool to64 = lma && cs.l;
	struct cpu_segment ss;
	if ((ss_sel & ~3u) == 0) {
		/* a null SS is allowed only for 64-bit code below CPL3 */
		if (!to64 || rpl == 3)
			return soft_raise(c, SOFT_GP, true, 0);
		ss = (struct cpu_segment){.selector = ss_sel, .dpl = (uint8_t)rpl, .unusable = 1};
	} else {
		if ((ss_sel & 3) != rpl)
			return fault_sel(c, SOFT_GP, ss_sel);
		if (soft_load_descriptor(c, ss_sel, 0, &ss))
			return -1;
		if (!is_writable_data(&ss) || ss.dpl != rpl)
			return fault_sel(c, SOFT_GP, ss_sel);
		if (!ss.present)
			return fault_sel(c, SOFT_SS, ss_sel);
	}
	if (check_target(c, &cs, &off, size))
		return -1;
	if (!ss.unusable)
		soft_set_accessed(c, ss_sel, &ss);
	load_cs(c, cs_sel, cs, rpl);
	s->seg[SEG_SS] = ss;
	s->rip = off;
	/* The new stack pointer, then the parameters released there too. */
	if (to64)
		s->gpr[GPR_RSP] = new_sp + pop_extra;
	else if (ss.db)
		s->gpr[GPR_RSP] = (new_sp + pop_extra) & 0xffffffffULL;
	else
		s->gpr[GPR_RSP] = (s->gpr[GPR_RSP] & ~0xffffULL) | ((new_sp + pop_extra) & 0xffff);
	soft_null_outer_segments(c, rpl);
	return 0;
}
