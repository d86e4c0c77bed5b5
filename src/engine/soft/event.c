/* Exception and interrupt delivery, and the return from it (IRET).
 *
 * Long mode: through the 64-bit IDT (interrupt and trap gates), with the
 * stack switch to RSP0-2 or an IST stack from the TSS and the 16-byte-aligned
 * frame SS, RSP, RFLAGS, CS, RIP [, error code]. 32-bit protected mode:
 * 8-byte gates, SS0:ESP0..SS2:ESP2 from a 32-bit TSS. Real mode: the IVT.
 * In every mode the double-fault rules: a contributory fault while
 * delivering a contributory one, or a contributory or page fault while
 * delivering a page fault, becomes #DF; a fault while delivering #DF is a
 * triple fault (shutdown). Outside long mode a task gate switches tasks
 * (task.c), and an interrupt from virtual-8086 mode saves its segment
 * registers too; IRET returns to a nested task, to and within
 * virtual-8086 mode.
 *
 * Every descriptor-table, TSS and stack access is an implicit supervisor
 * access through the MMU, so a broken guest table faults like on hardware
 * and can never reach outside guest RAM. */
#include "engine/soft/access.h"
#include "engine/soft/exec.h"
#include "util/log.h"

enum { CLASS_BENIGN, CLASS_CONTRIBUTORY, CLASS_PAGE_FAULT };

static int exception_class(unsigned v)
{
	if (v == SOFT_DE || (v >= SOFT_TS && v <= SOFT_GP))
		return CLASS_CONTRIBUTORY;
	return v == SOFT_PF ? CLASS_PAGE_FAULT : CLASS_BENIGN;
}

static int sys_read(struct soft_cpu *c, uint64_t la, unsigned size, uint64_t *v)
{
	struct memref m;
	if (soft_mem_prepare(c, la, size, SOFT_ACC_READ | SOFT_ACC_SUPER, &m))
		return -1;
	*v = soft_mem_read(c, &m);
	return 0;
}

static int sys_write(struct soft_cpu *c, uint64_t la, unsigned size, uint64_t v)
{
	struct memref m;
	if (soft_mem_prepare(c, la, size, SOFT_ACC_WRITE | SOFT_ACC_SUPER, &m))
		return -1;
	soft_mem_write(c, &m, v);
	return 0;
}

struct cpu_segment soft_unpack_descriptor(uint64_t d, uint16_t selector)
{
	struct cpu_segment s = {
	    .base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24),
	    .limit = (uint32_t)((d & 0xffff) | (((d >> 48) & 0xf) << 16)),
	    .selector = selector,
	    .type = (uint8_t)((d >> 40) & 0xf),
	    .s = (uint8_t)((d >> 44) & 1),
	    .dpl = (uint8_t)((d >> 45) & 3),
	    .present = (uint8_t)((d >> 47) & 1),
	    .avl = (uint8_t)((d >> 52) & 1),
	    .l = (uint8_t)((d >> 53) & 1),
	    .db = (uint8_t)((d >> 54) & 1),
	    .g = (uint8_t)((d >> 55) & 1),
	};
	if (s.g)
		s.limit = (s.limit << 12) | 0xfff;
	return s;
}

int soft_read_descriptor(struct soft_cpu *c, uint16_t sel, unsigned vector, uint32_t ext,
                         uint64_t *lo, uint64_t *hi)
{
	uint64_t base, limit;
	if (sel & 4) {
		const struct cpu_segment *ldt = &c->state.seg[SEG_LDTR];
		if (ldt->unusable || !ldt->present)
			return soft_raise(c, vector, true, (sel & 0xfffc) | ext);
		base = ldt->base;
		limit = ldt->limit;
	} else {
		base = c->state.gdt.base;
		limit = c->state.gdt.limit;
	}
	if ((uint64_t)(sel | 7) + (hi ? 8 : 0) > limit)
		return soft_raise(c, vector, true, (sel & 0xfffc) | ext);
	if (c->mode != SOFT_MODE_64 && !(c->state.efer & EFER_LMA))
		base &= 0xffffffffULL;
	if (sys_read(c, base + (sel & ~7u), 8, lo))
		return -1;
	if (hi && sys_read(c, base + (sel & ~7u) + 8, 8, hi))
		return -1;
	return 0;
}

/* A GDT or LDT descriptor: #GP(selector) when outside the table. */
int soft_load_descriptor(struct soft_cpu *c, uint16_t sel, uint32_t ext, struct cpu_segment *out)
{
	uint64_t d;
	if (soft_read_descriptor(c, sel, SOFT_GP, ext, &d, NULL))
		return -1;
	*out = soft_unpack_descriptor(d, sel);
	return 0;
}

static void after_privilege_change(struct soft_cpu *c)
{
	soft_cpu_refresh_mode(c);
}

static int deliver_long(struct soft_cpu *c, unsigned vector, bool has_error, uint32_t error,
                        bool software, uint64_t ret_rip)
{
	struct cpu_state *s = &c->state;
	uint32_t ext = software ? 0 : 1;
	uint32_t gate_err = vector * 8 + 2 + ext;
	uint64_t lo, hi;
	if (vector * 16 + 15 > s->idt.limit)
		return soft_raise(c, SOFT_GP, true, gate_err);
	if (sys_read(c, s->idt.base + vector * 16, 8, &lo) ||
	    sys_read(c, s->idt.base + vector * 16 + 8, 8, &hi))
		return -1;
	unsigned type = (lo >> 40) & 0xf, dpl = (lo >> 45) & 3;
	if (type != 0xe && type != 0xf)
		return soft_raise(c, SOFT_GP, true, gate_err);
	if (software && c->cpl > dpl)
		return soft_raise(c, SOFT_GP, true, vector * 8 + 2);
	if (!((lo >> 47) & 1))
		return soft_raise(c, SOFT_NP, true, gate_err);
	uint16_t sel = (uint16_t)(lo >> 16);
	uint64_t target = (lo & 0xffff) | ((lo >> 32) & 0xffff0000ULL) | (hi << 32);
	unsigned ist = (lo >> 32) & 7;

	struct cpu_segment cs;
	if ((sel & ~3u) == 0)
		return soft_raise(c, SOFT_GP, true, ext);
	if (soft_load_descriptor(c, sel, ext, &cs))
		return -1;
	if (!cs.s || !(cs.type & 8) || !cs.l || cs.db || cs.dpl > c->cpl)
		return soft_raise(c, SOFT_GP, true, (sel & 0xfffc) | ext);
	if (!cs.present)
		return soft_raise(c, SOFT_NP, true, (sel & 0xfffc) | ext);
	unsigned new_cpl = (cs.type & 4) ? c->cpl : cs.dpl; /* conforming keeps CPL */
	if (!soft_canonical(target))
		return soft_raise(c, SOFT_GP, true, ext);

	uint64_t rsp = s->gpr[GPR_RSP];
	unsigned tss_off = ist ? 0x24 + 8 * (ist - 1) : new_cpl < c->cpl ? 4 + 8 * new_cpl : 0;
	if (tss_off) {
		if (tss_off + 7 > s->seg[SEG_TR].limit)
			return soft_raise(c, SOFT_TS, true,
			                  (s->seg[SEG_TR].selector & 0xfffc) | ext);
		if (sys_read(c, s->seg[SEG_TR].base + tss_off, 8, &rsp))
			return -1;
	}
	if (!soft_canonical(rsp))
		return soft_raise(c, SOFT_SS, true, ext);
	rsp &= ~15ULL;

	uint64_t flags = soft_flags_get(c);
	/* The RFLAGS image of a fault has RF set, so the faulting instruction
	 * can be restarted past an instruction breakpoint. */
	if (!software && !c->exc_external && vector != SOFT_DB)
		flags |= FL_RF;
	uint64_t frame[6] = {s->seg[SEG_SS].selector, s->gpr[GPR_RSP], flags,
	                     s->seg[SEG_CS].selector, ret_rip,         error};
	unsigned n = has_error ? 6 : 5;
	for (unsigned k = 0; k < n; k++) {
		rsp -= 8;
		if (!soft_canonical(rsp) || sys_write(c, rsp, 8, frame[k]))
			return c->exc.valid ? -1 : soft_raise(c, SOFT_SS, true, ext);
	}

	if (new_cpl != c->cpl)
		s->seg[SEG_SS] = (struct cpu_segment){
		    .selector = (uint16_t)new_cpl, .dpl = (uint8_t)new_cpl, .unusable = 1};
	s->gpr[GPR_RSP] = rsp;
	cs.selector = (uint16_t)((sel & ~3u) | new_cpl);
	cs.dpl = (uint8_t)new_cpl;
	s->seg[SEG_CS] = cs;
	s->rflags = flags & ~(FL_TF | FL_NT | FL_RF | FL_VM | (type == 0xe ? FL_IF : 0));
	s->rip = target;
	after_privilege_change(c);
	return 0;
}

/* A stack push outside long mode through an explicit SS (the new one, on a
 * privilege change): limit checked (expand-up or expand-down), #SS(0) or
 * #SS(selector) on failure. */
static int push32(struct soft_cpu *c, const struct cpu_segment *ss, uint64_t *sp, unsigned size,
                  uint64_t v, uint32_t ss_err)
{
	uint64_t mask = ss->db ? 0xffffffffULL : 0xffff;
	uint64_t new_sp = (*sp - size) & mask;
	uint64_t last = new_sp + size - 1;
	bool ok = (ss->type & 4) ? new_sp > ss->limit && last <= mask : last <= ss->limit;
	if (!ok)
		return soft_raise(c, SOFT_SS, true, ss_err);
	if (sys_write(c, (ss->base + new_sp) & 0xffffffffULL, size, v))
		return -1;
	*sp = (*sp & ~mask) | new_sp;
	return 0;
}

/* 32-bit protected mode: 8-byte interrupt and trap gates (32- and 16-bit),
 * the stack switch to SS0:ESP0..SS2:ESP2 from a 32-bit TSS; task gates
 * (task.c). From virtual-8086 mode the handler must be non-conforming CPL0
 * code: GS, FS, DS and ES are pushed before the usual frame and become
 * null. */
static int deliver_protected(struct soft_cpu *c, unsigned vector, bool has_error, uint32_t error,
                             bool software, uint64_t ret_rip)
{
	struct cpu_state *s = &c->state;
	uint32_t ext = software ? 0 : 1;
	uint32_t gate_err = vector * 8 + 2 + ext;
	uint64_t g;
	bool v86 = s->rflags & FL_VM;
	if (vector * 8 + 7 > s->idt.limit)
		return soft_raise(c, SOFT_GP, true, gate_err);
	if (sys_read(c, (s->idt.base + vector * 8) & 0xffffffffULL, 8, &g))
		return -1;
	unsigned type = (g >> 40) & 0x1f, dpl = (g >> 45) & 3;
	if (type == 0x05) { /* task gate: a task switch to the TSS it names */
		if (software && c->cpl > dpl)
			return soft_raise(c, SOFT_GP, true, vector * 8 + 2);
		if (!((g >> 47) & 1))
			return soft_raise(c, SOFT_NP, true, gate_err);
		uint16_t tss = (uint16_t)(g >> 16);
		if (tss & 4)
			return soft_raise(c, SOFT_GP, true, (tss & 0xfffc) | ext);
		return soft_task_switch(c, tss, SOFT_TASK_INT, ret_rip, has_error, error, ext);
	}
	if (type != 0x0e && type != 0x0f && type != 0x06 && type != 0x07)
		return soft_raise(c, SOFT_GP, true, gate_err);
	if (software && c->cpl > dpl)
		return soft_raise(c, SOFT_GP, true, vector * 8 + 2);
	if (!((g >> 47) & 1))
		return soft_raise(c, SOFT_NP, true, gate_err);
	bool gate32 = type & 8;
	uint16_t sel = (uint16_t)(g >> 16);
	uint64_t target = (g & 0xffff) | ((g >> 32) & 0xffff0000ULL);
	struct cpu_segment cs;
	if ((sel & ~3u) == 0)
		return soft_raise(c, SOFT_GP, true, ext);
	if (soft_load_descriptor(c, sel, ext, &cs))
		return -1;
	if (!cs.s || !(cs.type & 8) || cs.dpl > c->cpl)
		return soft_raise(c, SOFT_GP, true, (sel & 0xfffc) | ext);
	if (!cs.present)
		return soft_raise(c, SOFT_NP, true, (sel & 0xfffc) | ext);
	if (target > cs.limit)
		return soft_raise(c, SOFT_GP, true, 0);
	unsigned new_cpl = (cs.type & 4) ? c->cpl : cs.dpl;
	if (v86 && new_cpl != 0)
		return soft_raise(c, SOFT_GP, true, (sel & 0xfffc) | ext);

	struct cpu_segment ss = s->seg[SEG_SS];
	uint64_t sp = s->gpr[GPR_RSP];
	bool outer = new_cpl < c->cpl;
	if (outer) {
		/* 32-bit TSS: ESPn at 4 + 8n, SSn at 8 + 8n */
		const struct cpu_segment *tr = &s->seg[SEG_TR];
		uint32_t ts_err = (tr->selector & 0xfffc) | ext;
		uint64_t esp, ss_sel;
		if (8u * new_cpl + 9 > tr->limit)
			return soft_raise(c, SOFT_TS, true, ts_err);
		if (sys_read(c, tr->base + 4 + 8 * new_cpl, 4, &esp) ||
		    sys_read(c, tr->base + 8 + 8 * new_cpl, 2, &ss_sel))
			return -1;
		if ((ss_sel & ~3u) == 0 || (ss_sel & 3) != new_cpl)
			return soft_raise(c, SOFT_TS, true, ((uint32_t)ss_sel & 0xfffc) | ext);
		if (soft_load_descriptor(c, (uint16_t)ss_sel, ext, &ss))
			return -1;
		if (!ss.s || (ss.type & 8) || !(ss.type & 2) || ss.dpl != new_cpl)
			return soft_raise(c, SOFT_TS, true, ((uint32_t)ss_sel & 0xfffc) | ext);
		if (!ss.present)
			return soft_raise(c, SOFT_SS, true, ((uint32_t)ss_sel & 0xfffc) | ext);
		sp = esp;
	}
	unsigned w = gate32 ? 4 : 2;
	uint32_t ss_err = outer ? (ss.selector & 0xfffc) | ext : ext;
	uint64_t flags = soft_flags_get(c);
	if (!software && !c->exc_external && vector != SOFT_DB)
		flags |= FL_RF;
	if (v86 && (push32(c, &ss, &sp, w, s->seg[SEG_GS].selector, ss_err) ||
	            push32(c, &ss, &sp, w, s->seg[SEG_FS].selector, ss_err) ||
	            push32(c, &ss, &sp, w, s->seg[SEG_DS].selector, ss_err) ||
	            push32(c, &ss, &sp, w, s->seg[SEG_ES].selector, ss_err)))
		return -1;
	if (outer && (push32(c, &ss, &sp, w, s->seg[SEG_SS].selector, ss_err) ||
	              push32(c, &ss, &sp, w, s->gpr[GPR_RSP], ss_err)))
		return -1;
	if (push32(c, &ss, &sp, w, flags, ss_err) ||
	    push32(c, &ss, &sp, w, s->seg[SEG_CS].selector, ss_err) ||
	    push32(c, &ss, &sp, w, ret_rip, ss_err) ||
	    (has_error && push32(c, &ss, &sp, w, error, ss_err)))
		return -1;

	if (outer)
		s->seg[SEG_SS] = ss;
	if (v86) {
		static const unsigned data[] = {SEG_ES, SEG_DS, SEG_FS, SEG_GS};
		for (unsigned k = 0; k < 4; k++)
			s->seg[data[k]] = (struct cpu_segment){.unusable = 1};
	}
	s->gpr[GPR_RSP] = sp;
	cs.selector = (uint16_t)((sel & ~3u) | new_cpl);
	cs.dpl = (uint8_t)new_cpl; /* the CPL, conforming or not */
	s->seg[SEG_CS] = cs;
	s->rflags = flags & ~(FL_TF | FL_NT | FL_RF | FL_VM | ((type & 7) == 6 ? FL_IF : 0));
	s->rip = gate32 ? target : target & 0xffff;
	after_privilege_change(c);
	return 0;
}

static int deliver_real(struct soft_cpu *c, unsigned vector, uint64_t ret_rip)
{
	struct cpu_state *s = &c->state;
	uint64_t v;
	if (vector * 4 + 3 > s->idt.limit)
		return soft_raise(c, SOFT_GP, true, 0);
	if (sys_read(c, s->idt.base + vector * 4, 4, &v))
		return -1;
	uint16_t frame[3] = {(uint16_t)soft_flags_get(c), s->seg[SEG_CS].selector,
	                     (uint16_t)ret_rip};
	uint64_t sp = s->gpr[GPR_RSP];
	for (int k = 0; k < 3; k++) {
		sp = (sp & ~0xffffULL) | ((sp - 2) & 0xffff);
		if (sys_write(c, (s->seg[SEG_SS].base + (sp & 0xffff)) & 0xfffff, 2, frame[k]))
			return -1;
	}
	s->gpr[GPR_RSP] = sp;
	s->rflags &= ~(FL_IF | FL_TF | FL_AC);
	s->seg[SEG_CS].selector = (uint16_t)(v >> 16);
	s->seg[SEG_CS].base = (v >> 16) << 4;
	s->rip = v & 0xffff;
	return 0;
}

static int deliver_once(struct soft_cpu *c, unsigned vector, bool has_error, uint32_t error,
                        bool software, uint64_t ret_rip)
{
	c->exc.valid = false;
	if (c->state.efer & EFER_LMA)
		return deliver_long(c, vector, has_error, error, software, ret_rip);
	if (!(c->state.cr0 & CR0_PE))
		return deliver_real(c, vector, ret_rip);
	return deliver_protected(c, vector, has_error, error, software, ret_rip);
}

bool soft_cpu_interrupt_window(const struct soft_cpu *c)
{
	return (c->state.rflags & FL_IF) && !c->int_shadow;
}

int soft_cpu_inject_interrupt(struct soft_cpu *c, unsigned vector)
{
	soft_cpu_refresh_mode(c);
	soft_flags_materialize(c);
	c->exc = (struct soft_exception){
	    .valid = true, .vector = (uint8_t)(vector & 0xff), .external = true};
	return soft_deliver(c);
}

int soft_deliver(struct soft_cpu *c)
{
	struct soft_exception e = c->exc;
	c->exc_external = e.external;
	unsigned vector = e.vector;
	bool has_error = e.has_error, software = e.software;
	uint32_t error = e.error;
	if (vector == SOFT_PF)
		c->state.cr2 = e.cr2;
	if (vector == SOFT_DB)
		c->state.dr[7] &= ~DR7_GD; /* the handler may use the debug registers */
	for (;;) {
		/* A software interrupt returns past itself; a fault while
		 * delivering it (say, the gate's DPL) is a fault of the INT. */
		uint64_t ret_rip = c->state.rip + (software ? e.insn_len : 0);
		if (c->mode != SOFT_MODE_64)
			ret_rip &= 0xffffffffULL;
		/* INT1 returns past itself too, but is not subject to the DPL
		 * check: delivered like a hardware exception otherwise. */
		int rc = deliver_once(c, vector, has_error, error, software && !e.int1, ret_rip);
		if (rc == 0)
			return 0;
		unsigned second = c->exc.vector;
		if (vector == SOFT_DF) {
			log_error(
			    "soft: triple fault (exception %u while delivering #DF) at rip %#llx",
			    second, (unsigned long long)c->state.rip);
			return -1;
		}
		int c1 = exception_class(vector), c2 = exception_class(second);
		if ((c1 == CLASS_CONTRIBUTORY && c2 == CLASS_CONTRIBUTORY) ||
		    (c1 == CLASS_PAGE_FAULT && c2 != CLASS_BENIGN)) {
			vector = SOFT_DF;
			has_error = true;
			error = 0;
		} else {
			vector = second;
			has_error = c->exc.has_error;
			error = c->exc.error;
		}
		software = false;
		c->exc_external = false; /* now a fault of the delivery */
		if (vector == SOFT_PF)
			c->state.cr2 = c->exc.cr2;
	}
}

/* The code segment an IRET returns to, checked as the SDM's IRET pseudocode
 * says for protected and long mode: a non-null selector whose RPL is not
 * more privileged than the CPL, naming a present code segment of the right
 * DPL (conforming: DPL <= RPL; otherwise DPL == RPL). */
static int load_return_cs(struct soft_cpu *c, uint16_t cs_sel, struct cpu_segment *cs)
{
	unsigned rpl = cs_sel & 3;
	if ((cs_sel & ~3u) == 0 || rpl < c->cpl)
		return soft_raise(c, SOFT_GP, true, cs_sel & 0xfffc);
	if (soft_load_descriptor(c, cs_sel, 0, cs))
		return -1;
	if (!cs->s || !(cs->type & 8) || ((cs->type & 4) ? cs->dpl > rpl : cs->dpl != rpl))
		return soft_raise(c, SOFT_GP, true, cs_sel & 0xfffc);
	if (!cs->present)
		return soft_raise(c, SOFT_NP, true, cs_sel & 0xfffc);
	cs->dpl = (uint8_t)rpl; /* the new CPL, conforming or not */
	return 0;
}

/* A segment register as virtual-8086 mode has it: base selector * 16,
 * 64 KiB, DPL 3. */
static struct cpu_segment v86_segment(uint64_t sel, bool code)
{
	return (struct cpu_segment){.base = (sel & 0xffff) << 4,
	                            .limit = 0xffff,
	                            .selector = (uint16_t)sel,
	                            .type = code ? 0xb : 0x3,
	                            .s = 1,
	                            .dpl = 3,
	                            .present = 1};
}

/* A stack slot k (of sz bytes) at SS:ESP for IRET, through the normal
 * segment and paging checks. */
static int iret_pop(struct soft_cpu *c, unsigned k, unsigned sz, uint64_t mask, uint64_t *v)
{
	struct memref m;
	uint64_t la;
	if (soft_linear(c, SEG_SS, (c->state.gpr[GPR_RSP] + k * sz) & mask, sz, SOFT_ACC_READ,
	                &la) ||
	    soft_mem_prepare(c, la, sz, SOFT_ACC_READ, &m))
		return -1;
	*v = soft_mem_read(c, &m);
	return 0;
}

/* IRET at CPL0 to a frame with EFLAGS.VM: EIP, CS, EFLAGS, then ESP, SS,
 * ES, DS, FS, GS, every segment loaded as virtual-8086 mode has it; the
 * whole EFLAGS image (IOPL, IF, VM) is taken. */
static int iret_to_v86(struct soft_cpu *c, const uint64_t *v3, uint64_t smask)
{
	struct cpu_state *s = &c->state;
	uint64_t v[6];
	for (unsigned k = 0; k < 6; k++)
		if (iret_pop(c, 3 + k, 4, smask, &v[k]))
			return -1;
	s->rflags = (v3[2] & 0x3f7fd5ULL) | 2;
	s->seg[SEG_CS] = v86_segment(v3[1], true);
	s->rip = v3[0] & 0xffff;
	s->gpr[GPR_RSP] = v[0] & 0xffffffffULL;
	s->seg[SEG_SS] = v86_segment(v[1], false);
	s->seg[SEG_ES] = v86_segment(v[2], false);
	s->seg[SEG_DS] = v86_segment(v[3], false);
	s->seg[SEG_FS] = v86_segment(v[4], false);
	s->seg[SEG_GS] = v86_segment(v[5], false);
	after_privilege_change(c);
	return 0;
}

/* IRET inside virtual-8086 mode: #GP(0) unless IOPL is 3; then as in real
 * mode, except that IOPL (and VM) stay. */
static int iret_v86(struct soft_cpu *c, const struct soft_insn *i)
{
	struct cpu_state *s = &c->state;
	uint64_t f = soft_flags_get(c);
	if (((f & FL_IOPL) >> 12) < 3)
		return soft_raise(c, SOFT_GP, true, 0);
	unsigned sz = i->osize;
	uint64_t v[3];
	for (unsigned k = 0; k < 3; k++)
		if (iret_pop(c, k, sz, 0xffff, &v[k]))
			return -1;
	if ((v[0] & soft_size_mask(sz)) > 0xffff)
		return soft_raise(c, SOFT_GP, true, 0);
	uint64_t can = FL_ARITH | FL_TF | FL_IF | FL_DF | FL_NT;
	if (sz == 4)
		can |= FL_RF | FL_AC | FL_ID;
	s->rflags = (f & ~can) | (v[2] & can) | 2;
	s->seg[SEG_CS] = v86_segment(v[1], true);
	s->rip = v[0] & 0xffff;
	s->gpr[GPR_RSP] = (s->gpr[GPR_RSP] & ~0xffffULL) | ((s->gpr[GPR_RSP] + 3 * sz) & 0xffff);
	return 0;
}

/* Protected-mode IRET: EIP, CS, EFLAGS, and ESP, SS to an outer level; to
 * virtual-8086 mode (from CPL0); with NT, back to the previous task. */
static int iret_protected(struct soft_cpu *c, const struct soft_insn *i)
{
	struct cpu_state *s = &c->state;
	uint64_t f = soft_flags_get(c);
	if (f & FL_NT) /* back to the task that called or interrupted this one */
		return soft_task_return(c, soft_x_next_rip(c, i));
	unsigned sz = i->osize == 2 ? 2 : 4;
	uint64_t smask = s->seg[SEG_SS].db ? 0xffffffffULL : 0xffff;
	uint64_t v[5];
	for (unsigned k = 0; k < 3; k++)
		if (iret_pop(c, k, sz, smask, &v[k]))
			return -1;
	if (sz == 4 && (v[2] & FL_VM) && c->cpl == 0)
		return iret_to_v86(c, v, smask);
	uint16_t cs_sel = (uint16_t)v[1];
	unsigned rpl = cs_sel & 3;
	struct cpu_segment cs, ss = s->seg[SEG_SS];
	if (load_return_cs(c, cs_sel, &cs))
		return -1;
	uint64_t eip = v[0] & (sz == 2 ? 0xffff : 0xffffffff);
	if (eip > cs.limit)
		return soft_raise(c, SOFT_GP, true, 0);
	bool outer = rpl > c->cpl;
	uint64_t new_sp = (s->gpr[GPR_RSP] & ~smask) | ((s->gpr[GPR_RSP] + 3 * sz) & smask);
	if (outer) {
		for (unsigned k = 3; k < 5; k++)
			if (iret_pop(c, k, sz, smask, &v[k]))
				return -1;
		uint16_t ss_sel = (uint16_t)v[4];
		if ((ss_sel & ~3u) == 0 || (ss_sel & 3) != rpl)
			return soft_raise(c, SOFT_GP, true, ss_sel & 0xfffc);
		if (soft_load_descriptor(c, ss_sel, 0, &ss))
			return -1;
		if (!ss.s || (ss.type & 8) || !(ss.type & 2) || ss.dpl != rpl)
			return soft_raise(c, SOFT_GP, true, ss_sel & 0xfffc);
		if (!ss.present)
			return soft_raise(c, SOFT_SS, true, ss_sel & 0xfffc);
		uint64_t m2 = ss.db ? 0xffffffffULL : 0xffff;
		new_sp = (s->gpr[GPR_RSP] & ~m2) | (v[3] & m2);
		if (ss.db)
			new_sp = v[3] & 0xffffffffULL;
	}
	uint64_t can =
	    FL_ARITH | FL_TF | FL_DF | FL_NT | FL_RF | FL_AC | FL_ID | (1ULL << 19) | (1ULL << 20);
	if (c->cpl == 0)
		can |= FL_IOPL;
	if (c->cpl <= ((f & FL_IOPL) >> 12))
		can |= FL_IF;
	if (sz == 2)
		can &= 0xffff;
	s->rflags = (f & ~can) | (v[2] & can) | 2;
	s->seg[SEG_CS] = cs;
	s->seg[SEG_SS] = ss;
	s->gpr[GPR_RSP] = new_sp;
	s->rip = eip;
	if (outer)
		soft_null_outer_segments(c, rpl);
	after_privilege_change(c);
	return 0;
}

/* IRET. 64-bit mode: IRETQ (and IRETD) pop RIP, CS, RFLAGS, RSP, SS always;
 * real mode: IP, CS, FLAGS. Everything is read and checked before anything
 * changes. */
int soft_iret(struct soft_cpu *c, const struct soft_insn *i)
{
	struct cpu_state *s = &c->state;
	if (!(s->cr0 & CR0_PE)) {
		uint64_t v[3];
		unsigned sz = i->osize;
		for (unsigned k = 0; k < 3; k++) {
			uint64_t off = (s->gpr[GPR_RSP] + k * sz) & 0xffff;
			if (sys_read(c, (s->seg[SEG_SS].base + off) & 0xfffff, sz, &v[k]))
				return -1;
		}
		uint64_t f = soft_flags_get(c);
		uint64_t mask = sz == 2 ? 0xffffULL : 0x3f7fd5ULL;
		s->rflags = (f & ~mask) | (v[2] & mask) | 2;
		s->seg[SEG_CS].selector = (uint16_t)v[1];
		s->seg[SEG_CS].base = (v[1] & 0xffff) << 4;
		s->rip = v[0] & (sz == 2 ? 0xffff : 0xffffffff);
		s->gpr[GPR_RSP] =
		    (s->gpr[GPR_RSP] & ~0xffffULL) | ((s->gpr[GPR_RSP] + 3 * sz) & 0xffff);
		return 0;
	}
	if (s->rflags & FL_VM)
		return iret_v86(c, i);
	if (c->mode != SOFT_MODE_64)
		return iret_protected(c, i);
	if (i->osize == 2)
		return soft_raise(c, SOFT_UD, false, 0); /* 16-bit IRET in 64-bit mode: later */
	unsigned sz = i->osize;
	uint64_t v[5];
	for (unsigned k = 0; k < 5; k++) {
		struct memref m;
		uint64_t la;
		if (soft_linear(c, SEG_SS, s->gpr[GPR_RSP] + k * sz, sz, SOFT_ACC_READ, &la) ||
		    soft_mem_prepare(c, la, sz, SOFT_ACC_READ, &m))
			return -1;
		v[k] = soft_mem_read(c, &m);
	}
	uint64_t f = soft_flags_get(c);
	if (f & FL_NT)
		return soft_raise(c, SOFT_GP, true, 0); /* no task return in long mode */
	uint16_t cs_sel = (uint16_t)v[1], ss_sel = (uint16_t)v[4];
	unsigned rpl = cs_sel & 3;
	struct cpu_segment cs, ss = {0};
	if (load_return_cs(c, cs_sel, &cs))
		return -1;
	bool to64 = cs.l && !cs.db;
	uint64_t rip = to64 ? v[0] : v[0] & 0xffffffffULL;
	if (to64 && !soft_canonical(rip))
		return soft_raise(c, SOFT_GP, true, 0);
	if ((ss_sel & ~3u) == 0) {
		/* a null SS is allowed for a 64-bit return below CPL3 */
		if (!to64 || rpl == 3)
			return soft_raise(c, SOFT_GP, true, 0);
		ss = (struct cpu_segment){.selector = ss_sel, .dpl = (uint8_t)rpl, .unusable = 1};
	} else {
		if ((ss_sel & 3) != rpl)
			return soft_raise(c, SOFT_GP, true, ss_sel & 0xfffc);
		if (soft_load_descriptor(c, ss_sel, 0, &ss))
			return -1;
		if (!ss.s || (ss.type & 8) || !(ss.type & 2) || ss.dpl != rpl)
			return soft_raise(c, SOFT_GP, true, ss_sel & 0xfffc);
		if (!ss.present)
			return soft_raise(c, SOFT_SS, true, ss_sel & 0xfffc);
	}
	/* RFLAGS: IOPL only at CPL0, IF only where CPL <= IOPL, VM never in long mode. */
	uint64_t can =
	    FL_ARITH | FL_TF | FL_DF | FL_NT | FL_RF | FL_AC | FL_ID | (1ULL << 19) | (1ULL << 20);
	if (c->cpl == 0)
		can |= FL_IOPL;
	if (c->cpl <= ((f & FL_IOPL) >> 12))
		can |= FL_IF;
	if (sz == 4)
		can &= 0xffffffffULL;
	s->rflags = (f & ~can) | (v[2] & can) | 2;
	bool outer = rpl > c->cpl;
	s->seg[SEG_CS] = cs;
	s->seg[SEG_SS] = ss;
	s->gpr[GPR_RSP] = v[3];
	s->rip = rip;
	if (outer) /* DS/ES/FS/GS the outer level may not use become null */
		soft_null_outer_segments(c, rpl);
	after_privilege_change(c);
	return 0;
}
