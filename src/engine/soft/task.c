/* Hardware task switches, as the SDM's task-management chapter describes
 * them for 32-bit TSSs: JMP or CALL to a TSS or a task gate, an interrupt
 * or exception through a task gate in the IDT (a 32-bit OS's #DF handler),
 * and IRET with NT set back to the previous task.
 *
 * The order matters for precise faults. Everything that can fail before the
 * switch does (the new TSS descriptor, both TSSs' limits, every byte of the
 * old TSS that will be written, the new TSS's contents, the busy bits in
 * the GDT) is checked first, and then nothing faults until the old task is
 * saved and TR, CR3, EFLAGS, the general registers, EIP and the segment
 * selectors are the new task's. Loading the segment descriptors comes last:
 * a fault there (#TS, #NP, #SS with the selector) is one of the new task,
 * as on hardware. An error code of the exception that caused the switch is
 * pushed on the new task's stack; the TSS's T bit raises #DB before the new
 * task's first instruction; the local breakpoint enables of DR7 are
 * cleared. 16-bit TSSs are not implemented (#TS with a log line). */
#include "engine/soft/access.h"
#include "engine/soft/exec.h"
#include "util/log.h"

enum {
	TSS_LINK = 0x00,
	TSS_CR3 = 0x1c,
	TSS_EIP = 0x20,
	TSS_EFLAGS = 0x24,
	TSS_GPR = 0x28, /* EAX ECX EDX EBX ESP EBP ESI EDI: our GPR_ order */
	TSS_SEG = 0x48, /* ES CS SS DS FS GS: our SEG_ order, 4 bytes each */
	TSS_LDT = 0x60,
	TSS_TRAP = 0x64,
	TSS32_MIN_LIMIT = 0x67,
};
#define CR0_TS (1ULL << 3)
#define DR6_BT (1ULL << 15)

static int tss_probe(struct soft_cpu *c, uint64_t la, unsigned len, unsigned access)
{
	struct memref m;
	return soft_mem_prepare(c, la & 0xffffffffULL, len, access | SOFT_ACC_SUPER, &m);
}

static int tss_read(struct soft_cpu *c, uint64_t la, unsigned size, uint64_t *v)
{
	struct memref m;
	if (soft_mem_prepare(c, la & 0xffffffffULL, size, SOFT_ACC_READ | SOFT_ACC_SUPER, &m))
		return -1;
	*v = soft_mem_read(c, &m);
	return 0;
}

/* A write whose page was probed before: it cannot fault. */
static void tss_write(struct soft_cpu *c, uint64_t la, unsigned size, uint64_t v)
{
	struct memref m;
	if (soft_mem_prepare(c, la & 0xffffffffULL, size, SOFT_ACC_WRITE | SOFT_ACC_SUPER, &m) == 0)
		soft_mem_write(c, &m, v);
	else
		c->exc.valid = false; /* probed: unreachable */
}

/* The type byte of the GDT descriptor of sel, where the busy bit lives. */
static uint64_t type_byte_la(const struct soft_cpu *c, uint16_t sel)
{
	return c->state.gdt.base + (sel & ~7u) + 5;
}

static void set_busy(struct soft_cpu *c, uint16_t sel, bool busy)
{
	uint64_t b;
	if (tss_read(c, type_byte_la(c, sel), 1, &b)) {
		c->exc.valid = false; /* probed: unreachable */
		return;
	}
	tss_write(c, type_byte_la(c, sel), 1, busy ? b | 2 : b & ~2ULL);
}

/* A descriptor for the new task: outside its table is #TS(selector). */
static int task_descriptor(struct soft_cpu *c, uint16_t sel, uint32_t ext, struct cpu_segment *d)
{
	uint64_t lo;
	if (soft_read_descriptor(c, sel, SOFT_TS, ext, &lo, NULL))
		return -1;
	*d = soft_unpack_descriptor(lo, sel);
	return 0;
}

/* The new task's LDT: null, or an LDT descriptor in the GDT. */
static int load_ldt(struct soft_cpu *c, uint16_t sel, uint32_t ext)
{
	struct cpu_state *s = &c->state;
	if ((sel & ~3u) == 0) {
		s->seg[SEG_LDTR] = (struct cpu_segment){.selector = sel, .unusable = 1};
		return 0;
	}
	struct cpu_segment d;
	if (sel & 4)
		return soft_raise(c, SOFT_TS, true, (sel & 0xfffc) | ext);
	if (task_descriptor(c, sel, ext, &d))
		return -1;
	if (d.s || d.type != 2)
		return soft_raise(c, SOFT_TS, true, (sel & 0xfffc) | ext);
	if (!d.present)
		return soft_raise(c, SOFT_NP, true, (sel & 0xfffc) | ext);
	s->seg[SEG_LDTR] = d;
	return 0;
}

/* Virtual-8086 segments: base selector * 16, 64 KiB, DPL 3. */
static struct cpu_segment v86_segment(uint16_t sel, bool code)
{
	return (struct cpu_segment){.base = (uint64_t)sel << 4,
	                            .limit = 0xffff,
	                            .selector = sel,
	                            .type = code ? 0xb : 0x3,
	                            .s = 1,
	                            .dpl = 3,
	                            .present = 1};
}

/* The new task's segment registers, from the selectors already in place:
 * CS sets the CPL, SS must match it, the data registers may be null. */
static int load_segments(struct soft_cpu *c, uint32_t ext)
{
	struct cpu_state *s = &c->state;
	if (s->rflags & FL_VM) {
		for (unsigned r = SEG_ES; r <= SEG_GS; r++)
			s->seg[r] = v86_segment(s->seg[r].selector, r == SEG_CS);
		return 0;
	}
	uint16_t sel = s->seg[SEG_CS].selector;
	unsigned cpl = sel & 3;
	struct cpu_segment d;
	if ((sel & ~3u) == 0)
		return soft_raise(c, SOFT_TS, true, ext);
	if (task_descriptor(c, sel, ext, &d))
		return -1;
	if (!d.s || !(d.type & 8) || ((d.type & 4) ? d.dpl > cpl : d.dpl != cpl))
		return soft_raise(c, SOFT_TS, true, (sel & 0xfffc) | ext);
	if (!d.present)
		return soft_raise(c, SOFT_NP, true, (sel & 0xfffc) | ext);
	soft_set_accessed(c, sel, &d);
	d.dpl = (uint8_t)cpl; /* the CPL, conforming or not */
	s->seg[SEG_CS] = d;

	sel = s->seg[SEG_SS].selector;
	if ((sel & ~3u) == 0 || (sel & 3) != cpl)
		return soft_raise(c, SOFT_TS, true, (sel & 0xfffc) | ext);
	if (task_descriptor(c, sel, ext, &d))
		return -1;
	if (!d.s || (d.type & 8) || !(d.type & 2) || d.dpl != cpl)
		return soft_raise(c, SOFT_TS, true, (sel & 0xfffc) | ext);
	if (!d.present)
		return soft_raise(c, SOFT_SS, true, (sel & 0xfffc) | ext);
	soft_set_accessed(c, sel, &d);
	s->seg[SEG_SS] = d;

	static const unsigned data[] = {SEG_ES, SEG_DS, SEG_FS, SEG_GS};
	for (unsigned k = 0; k < 4; k++) {
		sel = s->seg[data[k]].selector;
		if ((sel & ~3u) == 0) {
			s->seg[data[k]] = (struct cpu_segment){.selector = sel, .unusable = 1};
			continue;
		}
		if (task_descriptor(c, sel, ext, &d))
			return -1;
		bool code = d.type & 8;
		if (!d.s || (code && !(d.type & 2)) ||
		    ((!code || !(d.type & 4)) && (d.dpl < cpl || d.dpl < (sel & 3u))))
			return soft_raise(c, SOFT_TS, true, (sel & 0xfffc) | ext);
		if (!d.present)
			return soft_raise(c, SOFT_NP, true, (sel & 0xfffc) | ext);
		soft_set_accessed(c, sel, &d);
		s->seg[data[k]] = d;
	}
	return 0;
}

int soft_task_switch(struct soft_cpu *c, uint16_t sel, enum soft_task_reason why, uint64_t ret_rip,
                     bool has_error, uint32_t error, uint32_t ext)
{
	struct cpu_state *s = &c->state;
	bool iret = why == SOFT_TASK_IRET, nest = why == SOFT_TASK_CALL || why == SOFT_TASK_INT;
	unsigned vec = iret ? SOFT_TS : SOFT_GP;
	uint32_t err = (sel & 0xfffc) | ext;
	if ((s->efer & EFER_LMA) || (sel & 4))
		return soft_raise(c, vec, true, err);
	uint64_t lo;
	if (soft_read_descriptor(c, sel, vec, ext, &lo, NULL))
		return -1;
	struct cpu_segment nt = soft_unpack_descriptor(lo, sel);
	bool busy = nt.type & 2;
	if (nt.s || (nt.type & ~0xaU) != 1 || busy != iret)
		return soft_raise(c, vec, true, err);
	if (!nt.present)
		return soft_raise(c, SOFT_NP, true, err);
	const struct cpu_segment old = s->seg[SEG_TR];
	if (!(nt.type & 8) || !(old.type & 8)) {
		log_warn("soft: task switch with a 16-bit TSS (%#x to %#x) is not implemented",
		         old.selector, sel);
		return soft_raise(c, SOFT_TS, true, err);
	}
	if (nt.limit < TSS32_MIN_LIMIT)
		return soft_raise(c, SOFT_TS, true, err);
	if (old.limit < TSS32_MIN_LIMIT)
		return soft_raise(c, SOFT_TS, true, (old.selector & 0xfffc) | ext);

	/* Everything that can fault, before anything changes. */
	uint64_t cr3, eip, eflags, gpr[8], segsel[6], ldt, trap;
	if (tss_read(c, nt.base + TSS_CR3, 4, &cr3) || tss_read(c, nt.base + TSS_EIP, 4, &eip) ||
	    tss_read(c, nt.base + TSS_EFLAGS, 4, &eflags) ||
	    tss_read(c, nt.base + TSS_LDT, 2, &ldt) || tss_read(c, nt.base + TSS_TRAP, 2, &trap))
		return -1;
	for (unsigned k = 0; k < 8; k++)
		if (tss_read(c, nt.base + TSS_GPR + 4 * k, 4, &gpr[k]))
			return -1;
	for (unsigned k = 0; k < 6; k++)
		if (tss_read(c, nt.base + TSS_SEG + 4 * k, 2, &segsel[k]))
			return -1;
	if (tss_probe(c, old.base + TSS_EIP, TSS_LDT - TSS_EIP, SOFT_ACC_WRITE) ||
	    (nest && tss_probe(c, nt.base + TSS_LINK, 2, SOFT_ACC_WRITE)) ||
	    tss_probe(c, type_byte_la(c, sel), 1, SOFT_ACC_WRITE) ||
	    tss_probe(c, type_byte_la(c, old.selector), 1, SOFT_ACC_WRITE))
		return -1;

	/* Save the old task; the busy bits and the back link. */
	uint64_t flags = soft_flags_get(c);
	if (iret)
		flags &= ~FL_NT; /* the task we leave is no longer nested */
	tss_write(c, old.base + TSS_EIP, 4, ret_rip);
	tss_write(c, old.base + TSS_EFLAGS, 4, flags);
	for (unsigned k = 0; k < 8; k++)
		tss_write(c, old.base + TSS_GPR + 4 * k, 4, s->gpr[k]);
	for (unsigned k = 0; k < 6; k++)
		tss_write(c, old.base + TSS_SEG + 4 * k, 2, s->seg[k].selector);
	if (!nest)
		set_busy(c, old.selector, false);
	if (!iret)
		set_busy(c, sel, true);
	if (nest) {
		tss_write(c, nt.base + TSS_LINK, 2, old.selector);
		eflags |= FL_NT;
	}

	/* The new task: TR, CR3, registers, selectors. From here on a fault is
	 * the new task's. */
	nt.type |= 2;
	s->seg[SEG_TR] = nt;
	s->cr0 |= CR0_TS;
	s->dr[7] &= ~0x55ULL; /* local breakpoints belong to the old task */
	if (s->cr0 & CR0_PG) {
		s->cr3 = cr3 & 0xffffffffULL;
		soft_tlb_flush_pcid(c, c->cur_pcid);
	}
	s->rflags = (eflags & 0x3f7fd5ULL) | 2;
	s->rip = eip & 0xffffffffULL;
	for (unsigned k = 0; k < 8; k++)
		s->gpr[k] = gpr[k] & 0xffffffffULL;
	for (unsigned k = 0; k < 6; k++)
		s->seg[k].selector = (uint16_t)segsel[k];
	soft_cpu_refresh_mode(c);
	if (load_ldt(c, (uint16_t)ldt, ext) || load_segments(c, ext)) {
		soft_cpu_refresh_mode(c);
		return -1;
	}
	soft_cpu_refresh_mode(c);
	if (has_error && soft_x_push(c, 4, error))
		return -1;
	if (s->rip > s->seg[SEG_CS].limit)
		return soft_raise(c, SOFT_GP, true, ext);
	if (trap & 1) { /* the T bit: #DB before the new task's first instruction */
		s->dr[6] |= DR6_BT;
		return soft_raise(c, SOFT_DB, false, 0);
	}
	return 0;
}

int soft_task_return(struct soft_cpu *c, uint64_t ret_rip)
{
	uint64_t link;
	if (tss_read(c, c->state.seg[SEG_TR].base + TSS_LINK, 2, &link))
		return -1;
	return soft_task_switch(c, (uint16_t)link, SOFT_TASK_IRET, ret_rip, false, 0, 0);
}
