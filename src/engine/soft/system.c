/* System instructions: control and debug registers, descriptor tables,
 * segment loads (far JMP/CALL/RET are in far.c), MSRs,
 * SYSCALL/SYSRET, SWAPGS, INVLPG and the cache/TS odds and ends.
 *
 * Everything here is rare and may change how the CPU translates or decodes,
 * so after such changes the mode, CPL and MMU context are recomputed and the
 * TLB is flushed where the architecture says it is. Privileged instructions
 * at CPL > 0 raise #GP(0). */
#include "engine/soft/access.h"
#include "engine/soft/exec.h"
#include "engine/soft/segcheck.h"
#include "util/log.h"

#define CR0_TS (1ULL << 3)
#define CR0_NW (1ULL << 29)
#define CR0_CD (1ULL << 30)
#define CR4_DE (1ULL << 3)

#define MSR_TSC 0x10
#define MSR_APIC_BASE 0x1b
#define MSR_SYSENTER_CS 0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176
#define MSR_MISC_ENABLE 0x1a0
#define MSR_ARCH_CAPABILITIES 0x10a
#define MSR_BIOS_SIGN_ID 0x8b
/* IA32_ARCH_CAPABILITIES: RDCL_NO, SSB_NO, MDS_NO, IF_PSCHANGE_MC_NO, TAA_NO,
 * SBDR_SSDP_NO, FBSDP_NO, PSDP_NO, BHI_NO, PBRSB_NO, GDS_NO, RFDS_NO. True of
 * an interpreter, which neither speculates nor keeps microarchitectural
 * buffers a guest could sample; it spares a Linux guest page-table isolation
 * and the buffer clearing on every kernel exit. */
#define ARCH_CAPABILITIES_SOFT                                                                     \
	((1ULL << 0) | (1ULL << 4) | (1ULL << 5) | (1ULL << 6) | (1ULL << 8) | (1ULL << 13) |      \
	 (1ULL << 14) | (1ULL << 15) | (1ULL << 20) | (1ULL << 24) | (1ULL << 26) | (1ULL << 27))
#define MSR_PAT 0x277
#define MSR_EFER 0xc0000080
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SFMASK 0xc0000084
#define MSR_FS_BASE 0xc0000100
#define MSR_GS_BASE 0xc0000101
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_TSC_AUX 0xc0000103

static int privileged(struct soft_cpu *c)
{
	return c->cpl ? soft_raise(c, SOFT_GP, true, 0) : 0;
}

/* --- control registers --- */

static int write_cr(struct soft_cpu *c, unsigned n, uint64_t v)
{
	struct cpu_state *s = &c->state;
	switch (n) {
	case 0: {
		if (c->mode != SOFT_MODE_64)
			v &= 0xffffffffULL;
		if ((v >> 32) || ((v & CR0_PG) && !(v & CR0_PE)) || ((v & CR0_NW) && !(v & CR0_CD)))
			return soft_raise(c, SOFT_GP, true, 0);
		bool pg_on = (v & CR0_PG) && !(s->cr0 & CR0_PG);
		bool pg_off = !(v & CR0_PG) && (s->cr0 & CR0_PG);
		if (pg_on && (s->efer & EFER_LME)) {
			if (!(s->cr4 & CR4_PAE))
				return soft_raise(c, SOFT_GP, true, 0);
			s->efer |= EFER_LMA;
		}
		if (pg_off && (s->efer & EFER_LMA)) {
			if (c->mode == SOFT_MODE_64)
				return soft_raise(c, SOFT_GP, true,
				                  0); /* only from compatibility mode */
			s->efer &= ~EFER_LMA;
		}
		s->cr0 = v | 0x10;     /* ET is hardwired */
		soft_tlb_flush_all(c); /* the decode cache checks bytes, not mappings */
		return 0;
	}
	case 2: s->cr2 = v; return 0;
	case 3:
		if (c->mode != SOFT_MODE_64)
			v &= 0xffffffffULL;
		if ((s->cr4 & CR4_PCIDE) && (v >> 63)) {
			s->cr3 = v & ~(1ULL << 63); /* no flush requested */
		} else {
			s->cr3 = v;
			soft_cpu_refresh_mode(c);
			soft_tlb_flush_pcid(c, c->cur_pcid);
		}
		return 0;
	case 4: {
		const uint64_t known = 0x3f7fffULL; /* through PKE; reserved above */
		if ((v & ~known) || ((s->efer & EFER_LMA) && !(v & CR4_PAE)) ||
		    /* PCIDE may go 0 -> 1 only in IA-32e mode and with PCID 0 in CR3 */
		    ((v & CR4_PCIDE) && !(s->cr4 & CR4_PCIDE) &&
		     (!(s->efer & EFER_LMA) || (s->cr3 & 0xfff))))
			return soft_raise(c, SOFT_GP, true, 0);
		s->cr4 = v;
		soft_tlb_flush_all(c); /* the decode cache checks bytes, not mappings */
		return 0;
	}
	case 8:
		if (v >> 4)
			return soft_raise(c, SOFT_GP, true, 0);
		s->cr8 = v;
		if (c->hooks && c->hooks->cr8_write)
			c->hooks->cr8_write(c->hooks_opaque, v);
		return 0;
	default: return soft_raise(c, SOFT_UD, false, 0);
	}
}

static int mov_cr(struct soft_cpu *c, const struct soft_insn *i, bool to_cr)
{
	unsigned n = i->reg; /* REX.R reaches CR8 */
	unsigned size = c->mode == SOFT_MODE_64 ? 8 : 4;
	if (n != 0 && n != 2 && n != 3 && n != 4 && n != 8)
		return soft_raise(c, SOFT_UD, false, 0);
	if (privileged(c))
		return -1;
	if (to_cr)
		return write_cr(c, n, soft_reg_get(c, i, i->rm, size));
	const struct cpu_state *s = &c->state;
	uint64_t v = n == 0 ? s->cr0 : n == 2 ? s->cr2 : n == 3 ? s->cr3 : n == 4 ? s->cr4 : s->cr8;
	if (n == 8 && c->hooks && c->hooks->cr8_read)
		v = c->hooks->cr8_read(c->hooks_opaque);
	soft_reg_set(c, i, i->rm, size, v);
	return 0;
}

static int mov_dr(struct soft_cpu *c, const struct soft_insn *i, bool to_dr)
{
	unsigned n = i->reg;
	unsigned size = c->mode == SOFT_MODE_64 ? 8 : 4;
	if (n > 7 || ((n == 4 || n == 5) && (c->state.cr4 & CR4_DE)))
		return soft_raise(c, SOFT_UD, false, 0);
	if (privileged(c))
		return -1;
	if (c->state.dr[7] & DR7_GD) {
		/* General detect: a #DB fault before any debug-register access,
		 * GD cleared so that the handler itself may use them. */
		c->state.dr[6] |= DR6_BD;
		c->state.dr[7] &= ~DR7_GD;
		return soft_raise(c, SOFT_DB, false, 0);
	}
	if (n == 4 || n == 5)
		n += 2; /* aliases of DR6/DR7 without CR4.DE */
	if (to_dr) {
		uint64_t v = soft_reg_get(c, i, i->rm, size);
		if ((n == 6 || n == 7) && (v >> 32))
			return soft_raise(c, SOFT_GP, true, 0);
		c->state.dr[n] = n == 6 ? v | 0xffff0ff0ULL : n == 7 ? v | 0x400 : v;
	} else {
		soft_reg_set(c, i, i->rm, size, c->state.dr[n]);
	}
	return 0;
}

/* --- segments --- */

void soft_set_accessed(struct soft_cpu *c, uint16_t sel, struct cpu_segment *d)
{
	if (d->type & 1)
		return;
	d->type |= 1;
	uint64_t base = (sel & 4) ? c->state.seg[SEG_LDTR].base : c->state.gdt.base;
	struct memref m;
	/* the type byte of the descriptor; a failure here is not an error */
	if (soft_mem_prepare(c, base + (sel & ~7u) + 5, 1, SOFT_ACC_WRITE | SOFT_ACC_SUPER, &m) ==
	    0)
		soft_mem_write(c, &m, (uint64_t)(0x80 | d->dpl << 5 | 0x10 | d->type));
	else
		c->exc.valid = false;
}

/* Load a data or stack segment register (not CS) with the checks of MOV
 * Sreg / POP Sreg. */
static int load_segment(struct soft_cpu *c, unsigned seg, uint16_t sel)
{
	struct cpu_state *s = &c->state;
	if (!(s->cr0 & CR0_PE) || (s->rflags & FL_VM)) {
		s->seg[seg].selector = sel;
		s->seg[seg].base = (uint64_t)sel << 4;
		s->seg[seg].unusable = 0;
		return 0;
	}
	if ((sel & ~3u) == 0) {
		if (seg == SEG_SS &&
		    (c->mode != SOFT_MODE_64 || c->cpl == 3 || (sel & 3) != c->cpl))
			return soft_raise(c, SOFT_GP, true, 0);
		/* The base becomes 0 too, FS and GS included: Intel does so, and
		 * Linux counts on it on such CPUs (no X86_BUG_NULL_SEG) to clear
		 * a task's FS/GS base by loading a null selector. */
		s->seg[seg] =
		    (struct cpu_segment){.selector = sel, .unusable = 1, .dpl = (uint8_t)(sel & 3)};
		return 0;
	}
	struct cpu_segment d;
	if (soft_load_descriptor(c, sel, 0, &d))
		return -1;
	unsigned rpl = sel & 3;
	if (seg == SEG_SS) {
		if (rpl != c->cpl || !d.s || (d.type & 8) || !(d.type & 2) || d.dpl != c->cpl)
			return soft_raise(c, SOFT_GP, true, sel & 0xfffc);
		if (!d.present)
			return soft_raise(c, SOFT_SS, true, sel & 0xfffc);
	} else {
		bool code = d.type & 8;
		if (!d.s || (code && !(d.type & 2)))
			return soft_raise(c, SOFT_GP, true, sel & 0xfffc);
		if ((!code || !(d.type & 4)) && (d.dpl < c->cpl || d.dpl < rpl))
			return soft_raise(c, SOFT_GP, true, sel & 0xfffc);
		if (!d.present)
			return soft_raise(c, SOFT_NP, true, sel & 0xfffc);
	}
	soft_set_accessed(c, sel, &d);
	s->seg[seg] = d;
	return 0;
}

int soft_load_segment(struct soft_cpu *c, unsigned seg, uint16_t sel)
{
	return load_segment(c, seg, sel);
}

static int load_tr_or_ldt(struct soft_cpu *c, bool tr, uint16_t sel)
{
	struct cpu_state *s = &c->state;
	if (!(s->cr0 & CR0_PE) || (s->rflags & FL_VM))
		return soft_raise(c, SOFT_UD, false, 0);
	if (privileged(c))
		return -1;
	if ((sel & ~3u) == 0) {
		if (tr)
			return soft_raise(c, SOFT_GP, true, 0);
		s->seg[SEG_LDTR] = (struct cpu_segment){.selector = sel, .unusable = 1};
		return 0;
	}
	if (sel & 4) /* must be in the GDT */
		return soft_raise(c, SOFT_GP, true, sel & 0xfffc);
	uint64_t base = s->gdt.base + (sel & ~7u);
	bool wide = s->efer & EFER_LMA; /* 16-byte system descriptors */
	if ((uint32_t)(sel | 7) + (wide ? 8 : 0) > s->gdt.limit)
		return soft_raise(c, SOFT_GP, true, sel & 0xfffc);
	struct memref m;
	uint64_t lo, hi = 0;
	if (soft_mem_prepare(c, base, 8, SOFT_ACC_READ | SOFT_ACC_SUPER, &m))
		return -1;
	lo = soft_mem_read(c, &m);
	if (wide) {
		if (soft_mem_prepare(c, base + 8, 8, SOFT_ACC_READ | SOFT_ACC_SUPER, &m))
			return -1;
		hi = soft_mem_read(c, &m);
	}
	struct cpu_segment d = {
	    .base =
	        ((lo >> 16) & 0xffffff) | (((lo >> 56) & 0xff) << 24) | ((hi & 0xffffffff) << 32),
	    .limit = (uint32_t)((lo & 0xffff) | (((lo >> 48) & 0xf) << 16)),
	    .selector = sel,
	    .type = (uint8_t)((lo >> 40) & 0xf),
	    .s = (uint8_t)((lo >> 44) & 1),
	    .dpl = (uint8_t)((lo >> 45) & 3),
	    .present = (uint8_t)((lo >> 47) & 1),
	    .g = (uint8_t)((lo >> 55) & 1),
	};
	if (d.g)
		d.limit = (d.limit << 12) | 0xfff;
	bool ok = tr ? !d.s && (d.type == 9 || (!wide && d.type == 1)) : !d.s && d.type == 2;
	if (!ok)
		return soft_raise(c, SOFT_GP, true, sel & 0xfffc);
	if (!d.present)
		return soft_raise(c, SOFT_NP, true, sel & 0xfffc);
	if (tr) { /* mark it busy in the GDT */
		d.type |= 2;
		if (soft_mem_prepare(c, base + 5, 1, SOFT_ACC_WRITE | SOFT_ACC_SUPER, &m))
			return -1;
		soft_mem_write(c, &m, (lo >> 40 & 0xff) | 2);
		s->seg[SEG_TR] = d;
	} else {
		s->seg[SEG_LDTR] = d;
	}
	return 0;
}

/* --- MSRs --- */

static int rdmsr(struct soft_cpu *c, uint32_t msr, uint64_t *v)
{
	const struct cpu_state *s = &c->state;
	if (c->hooks && c->hooks->msr_read) {
		int rc = c->hooks->msr_read(c->hooks_opaque, msr, v);
		if (rc != SOFT_HOOK_PASS)
			return rc ? soft_raise(c, SOFT_GP, true, 0) : 0;
	}
	switch (msr) {
	case MSR_TSC: *v = soft_cpu_tsc(c); return 0;
	case MSR_APIC_BASE: *v = s->apic_base; return 0;
	case MSR_SYSENTER_CS: *v = s->sysenter_cs; return 0;
	case MSR_SYSENTER_ESP: *v = s->sysenter_esp; return 0;
	case MSR_SYSENTER_EIP: *v = s->sysenter_eip; return 0;
	case MSR_MISC_ENABLE: *v = 1; return 0;                            /* fast strings */
	case MSR_ARCH_CAPABILITIES: *v = ARCH_CAPABILITIES_SOFT; return 0; /* read-only */
	case MSR_BIOS_SIGN_ID: *v = 0; return 0; /* no microcode: revision 0 */
	case MSR_PAT: *v = s->pat; return 0;
	case MSR_EFER: *v = s->efer; return 0;
	case MSR_STAR: *v = s->star; return 0;
	case MSR_LSTAR: *v = s->lstar; return 0;
	case MSR_CSTAR: *v = s->cstar; return 0;
	case MSR_SFMASK: *v = s->sfmask; return 0;
	case MSR_FS_BASE: *v = s->seg[SEG_FS].base; return 0;
	case MSR_GS_BASE: *v = s->seg[SEG_GS].base; return 0;
	case MSR_KERNEL_GS_BASE: *v = s->kernel_gs_base; return 0;
	case MSR_TSC_AUX: *v = s->tsc_aux; return 0;
	default:
		/* MTRRs: accepted and ignored (no caching model) */
		if (msr == 0xfe || msr == 0x2ff || (msr >= 0x200 && msr <= 0x21f) || msr == 0x250 ||
		    msr == 0x258 || msr == 0x259 || (msr >= 0x268 && msr <= 0x26f)) {
			*v = msr == 0xfe ? 0x508 : 0; /* MTRRcap: fixed ranges, WC, 8 variable */
			return 0;
		}
		return soft_raise(c, SOFT_GP, true, 0);
	}
}

static int wrmsr(struct soft_cpu *c, uint32_t msr, uint64_t v)
{
	struct cpu_state *s = &c->state;
	if (c->hooks && c->hooks->msr_write) {
		int rc = c->hooks->msr_write(c->hooks_opaque, msr, v);
		if (rc != SOFT_HOOK_PASS)
			return rc ? soft_raise(c, SOFT_GP, true, 0) : 0;
	}
	switch (msr) {
	case MSR_TSC: s->tsc = v - (soft_cpu_tsc(c) - s->tsc); return 0;
	case MSR_APIC_BASE: s->apic_base = v; return 0;
	case MSR_SYSENTER_CS: s->sysenter_cs = v & 0xffff; return 0;
	case MSR_TSC_AUX:
		if (v >> 32) /* the upper half is reserved */
			return soft_raise(c, SOFT_GP, true, 0);
		s->tsc_aux = v;
		return 0;
	case MSR_SYSENTER_ESP:
	case MSR_SYSENTER_EIP:
	case MSR_LSTAR:
	case MSR_CSTAR:
	case MSR_FS_BASE:
	case MSR_GS_BASE:
	case MSR_KERNEL_GS_BASE:
		if (!soft_canonical(v))
			return soft_raise(c, SOFT_GP, true, 0);
		if (msr == MSR_SYSENTER_ESP)
			s->sysenter_esp = v;
		else if (msr == MSR_SYSENTER_EIP)
			s->sysenter_eip = v;
		else if (msr == MSR_LSTAR)
			s->lstar = v;
		else if (msr == MSR_CSTAR)
			s->cstar = v;
		else if (msr == MSR_FS_BASE)
			s->seg[SEG_FS].base = v;
		else if (msr == MSR_GS_BASE)
			s->seg[SEG_GS].base = v;
		else
			s->kernel_gs_base = v;
		return 0;
	case MSR_MISC_ENABLE: return 0;
	case MSR_BIOS_SIGN_ID: return 0; /* the write that asks for the revision */
	case MSR_PAT: s->pat = v; return 0;
	case MSR_STAR: s->star = v; return 0;
	case MSR_SFMASK: s->sfmask = v & 0xffffffffULL; return 0;
	case MSR_EFER: {
		uint64_t writable = EFER_LME | EFER_NXE | 1; /* SCE */
		if (v & ~(writable | EFER_LMA))
			return soft_raise(c, SOFT_GP, true, 0);
		if ((s->cr0 & CR0_PG) && ((v ^ s->efer) & EFER_LME))
			return soft_raise(c, SOFT_GP, true,
			                  0); /* LME changes only with paging off */
		s->efer = (s->efer & EFER_LMA) | (v & writable);
		soft_tlb_flush_all(c); /* the decode cache checks bytes, not mappings */
		return 0;
	}
	default:
		if (msr == 0x2ff || (msr >= 0x200 && msr <= 0x21f) || msr == 0x250 ||
		    msr == 0x258 || msr == 0x259 || (msr >= 0x268 && msr <= 0x26f))
			return 0;
		return soft_raise(c, SOFT_GP, true, 0);
	}
}

/* --- SYSCALL / SYSRET --- */

static int syscall_insn(struct soft_cpu *c, const struct soft_insn *i)
{
	struct cpu_state *s = &c->state;
	if (!(s->efer & EFER_LMA) || !(s->efer & 1))
		return soft_raise(c, SOFT_UD, false, 0); /* legacy-mode SYSCALL: later */
	uint64_t flags = soft_flags_get(c);
	uint16_t sel = (uint16_t)(s->star >> 32) & 0xfffc;
	s->gpr[GPR_RCX] = soft_x_next_rip(c, i);
	s->gpr[GPR_R11] = flags & ~FL_RF;
	s->rflags = (flags & ~(s->sfmask | FL_RF)) | 2;
	s->seg[SEG_CS] = cpu_segment_flat(sel, true, true);
	s->seg[SEG_SS] = cpu_segment_flat((uint16_t)(sel + 8), false, true);
	s->rip = c->mode == SOFT_MODE_64 ? s->lstar : s->cstar;
	soft_cpu_refresh_mode(c);
	return 0;
}

static int sysret_insn(struct soft_cpu *c, const struct soft_insn *i)
{
	struct cpu_state *s = &c->state;
	if (!(s->efer & EFER_LMA) || !(s->efer & 1))
		return soft_raise(c, SOFT_UD, false, 0);
	if (c->cpl != 0 || c->mode != SOFT_MODE_64)
		return soft_raise(c, SOFT_GP, true, 0);
	bool to64 = i->rex & 8;
	uint64_t rip = to64 ? s->gpr[GPR_RCX] : s->gpr[GPR_RCX] & 0xffffffffULL;
	if (!soft_canonical(rip))
		return soft_raise(c, SOFT_GP, true, 0);
	uint16_t base = (uint16_t)(s->star >> 48);
	s->seg[SEG_CS] = cpu_segment_flat((uint16_t)((to64 ? base + 16 : base) | 3), true, to64);
	s->seg[SEG_CS].dpl = 3;
	s->seg[SEG_SS].selector = (uint16_t)((base + 8) | 3);
	s->seg[SEG_SS].dpl = 3;
	s->rflags = (s->gpr[GPR_R11] & 0x3c7fd7ULL) | 2;
	s->rip = rip;
	soft_cpu_refresh_mode(c);
	return 0;
}

/* SYSENTER/SYSEXIT (Intel semantics, also in long mode): flat segments
 * derived from IA32_SYSENTER_CS. */
static int sysenter_insn(struct soft_cpu *c)
{
	struct cpu_state *s = &c->state;
	uint16_t sel = (uint16_t)s->sysenter_cs & 0xfffc;
	if (!(s->cr0 & CR0_PE) || sel == 0)
		return soft_raise(c, SOFT_GP, true, 0);
	bool lma = s->efer & EFER_LMA;
	s->rflags = soft_flags_get(c) & ~(FL_VM | FL_IF | FL_RF);
	s->seg[SEG_CS] = cpu_segment_flat(sel, true, lma);
	s->seg[SEG_SS] = cpu_segment_flat((uint16_t)(sel + 8), false, lma);
	s->gpr[GPR_RSP] = lma ? s->sysenter_esp : s->sysenter_esp & 0xffffffffULL;
	s->rip = lma ? s->sysenter_eip : s->sysenter_eip & 0xffffffffULL;
	return 0;
}

static int sysexit_insn(struct soft_cpu *c, const struct soft_insn *i)
{
	struct cpu_state *s = &c->state;
	uint16_t base = (uint16_t)s->sysenter_cs & 0xfffc;
	if (!(s->cr0 & CR0_PE) || base == 0 || c->cpl != 0)
		return soft_raise(c, SOFT_GP, true, 0);
	bool to64 = (i->rex & 8) && c->mode == SOFT_MODE_64;
	uint64_t rip = to64 ? s->gpr[GPR_RDX] : s->gpr[GPR_RDX] & 0xffffffffULL;
	uint64_t rsp = to64 ? s->gpr[GPR_RCX] : s->gpr[GPR_RCX] & 0xffffffffULL;
	if (to64 && (!soft_canonical(rip) || !soft_canonical(rsp)))
		return soft_raise(c, SOFT_GP, true, 0);
	uint16_t cs = (uint16_t)((base + (to64 ? 32 : 16)) | 3);
	s->seg[SEG_CS] = cpu_segment_flat(cs, true, to64);
	s->seg[SEG_CS].dpl = 3;
	s->seg[SEG_SS] = cpu_segment_flat((uint16_t)(cs + 8), false, to64);
	s->seg[SEG_SS].dpl = 3;
	s->gpr[GPR_RSP] = rsp;
	s->rip = rip;
	return 0;
}

/* --- the 0F 00 and 0F 01 groups --- */

static int group6(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned r = (i->modrm >> 3) & 7;
	uint64_t v;
	if (!(c->state.cr0 & CR0_PE) || (c->state.rflags & FL_VM))
		return soft_raise(c, SOFT_UD, false, 0);
	switch (r) {
	case 0:                                              /* SLDT */
	case 1:                                              /* STR */
		if ((c->state.cr4 & (1ULL << 11)) && c->cpl) /* UMIP */
			return soft_raise(c, SOFT_GP, true, 0);
		return soft_x_rm_write(c, i, i->mem ? 2 : i->osize,
		                       c->state.seg[r ? SEG_TR : SEG_LDTR].selector);
	case 2:                                                   /* LLDT */
	case 3:                                                   /* LTR */
		if (privileged(c) || soft_x_rm_read(c, i, 2, &v)) /* privilege before the operand */
			return -1;
		return load_tr_or_ldt(c, r == 3, (uint16_t)v);
	case 4:
	case 5: return soft_exec_verr_verw(c, i, r == 5);
	default: return soft_raise(c, SOFT_UD, false, 0);
	}
}

static int group7(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned r = (i->modrm >> 3) & 7;
	struct cpu_state *s = &c->state;
	if (!i->mem) {
		if (i->modrm == 0xf8 && c->mode == SOFT_MODE_64) { /* SWAPGS */
			if (privileged(c))
				return -1;
			uint64_t t = s->seg[SEG_GS].base;
			s->seg[SEG_GS].base = s->kernel_gs_base;
			s->kernel_gs_base = t;
			return 0;
		}
		if (i->modrm == 0xca || i->modrm == 0xcb) { /* CLAC, STAC */
			if (c->cpl)
				return soft_raise(c, SOFT_UD, false, 0);
			if (i->modrm == 0xca)
				s->rflags &= ~FL_AC;
			else
				s->rflags |= FL_AC;
			return 0;
		}
		if (i->modrm == 0xf9) { /* RDTSCP */
			if ((s->cr4 & CR4_TSD) && c->cpl)
				return soft_raise(c, SOFT_GP, true, 0);
			uint64_t t = soft_cpu_tsc(c);
			s->gpr[GPR_RAX] = t & 0xffffffffULL;
			s->gpr[GPR_RDX] = t >> 32;
			s->gpr[GPR_RCX] = s->tsc_aux & 0xffffffffULL;
			return 0;
		}
		if (r == 4) /* SMSW r */
			return soft_x_rm_write(c, i, i->osize, s->cr0);
		if (r == 6) /* LMSW r */
			goto lmsw;
		return soft_raise(c, SOFT_UD, false, 0);
	}
	uint64_t ea = soft_x_ea(c, i), v;
	unsigned base_size = c->mode == SOFT_MODE_64 ? 8 : 4;
	switch (r) {
	case 0:   /* SGDT */
	case 1: { /* SIDT */
		if ((s->cr4 & (1ULL << 11)) && c->cpl)
			return soft_raise(c, SOFT_GP, true, 0);
		const struct cpu_dtable *t = r ? &s->idt : &s->gdt;
		if (soft_x_mem_write_at(c, i, ea, 2, t->limit) ||
		    soft_x_mem_write_at(c, i, ea + 2, base_size, t->base))
			return -1;
		return 0;
	}
	case 2:   /* LGDT */
	case 3: { /* LIDT */
		uint64_t limit, base;
		if (privileged(c))
			return -1;
		if (soft_x_mem_read_at(c, i, ea, 2, &limit) ||
		    soft_x_mem_read_at(c, i, ea + 2, base_size, &base))
			return -1;
		if (c->mode != SOFT_MODE_64 && i->osize == 2)
			base &= 0xffffff;
		if (c->mode == SOFT_MODE_64 && !soft_canonical(base))
			return soft_raise(c, SOFT_GP, true, 0);
		struct cpu_dtable *t = r == 3 ? &s->idt : &s->gdt;
		t->base = base;
		t->limit = (uint16_t)limit;
		return 0;
	}
	case 4: /* SMSW m16 */ return soft_x_rm_write(c, i, 2, s->cr0);
	case 6: /* LMSW */
	lmsw:
		if (privileged(c) || soft_x_rm_read(c, i, 2, &v))
			return -1;
		/* LMSW sets PE but cannot clear it, and touches only MP EM TS */
		return write_cr(c, 0, (s->cr0 & ~0xeULL) | (v & 0xf) | (s->cr0 & 1));
	case 7: /* INVLPG: no memory access, and no fault */
		if (privileged(c))
			return -1;
		{
			uint64_t la = ea;
			if (i->seg == SEG_FS || i->seg == SEG_GS || c->mode != SOFT_MODE_64)
				la += s->seg[i->seg].base;
			if (c->mode != SOFT_MODE_64)
				la &= 0xffffffffULL;
			soft_tlb_flush_page(c, la);
		}
		return 0;
	default: return soft_raise(c, SOFT_UD, false, 0);
	}
}

/* --- INVPCID --- */

/* INVPCID reg, m128 (66 0F 38 82): the type in the register, a descriptor
 * (PCID in bits 11:0, the rest of the first quadword reserved; a linear
 * address in the second) in memory. 0: one address in one PCID; 1: one
 * PCID; 2: everything, global entries included; 3: everything else. The
 * soft TLB may drop more than asked (type 0 drops the page in every PCID),
 * never less. */
static int invpcid(struct soft_cpu *c, const struct soft_insn *i)
{
	struct cpu_state *s = &c->state;
	if (!i->mem || (i->pfx & (SOFT_PFX_REP | SOFT_PFX_REPNE)))
		return soft_raise(c, SOFT_UD, false, 0);
	if ((s->cr0 & CR0_PE) && ((s->rflags & FL_VM) || c->cpl))
		return soft_raise(c, SOFT_GP, true, 0);
	uint64_t type = soft_reg_get(c, i, i->reg, c->mode == SOFT_MODE_64 ? 8 : 4);
	uint64_t ea = soft_x_ea(c, i), desc, la;
	if (soft_x_mem_read_at(c, i, ea, 8, &desc) || soft_x_mem_read_at(c, i, ea + 8, 8, &la))
		return -1;
	if (type > 3)
		return soft_raise(c, SOFT_GP, true, 0);
	uint16_t pcid = desc & 0xfff;
	if (type <= 1 && ((desc >> 12) || (!(s->cr4 & CR4_PCIDE) && pcid)))
		return soft_raise(c, SOFT_GP, true, 0);
	switch (type) {
	case 0:
		if (!soft_canonical(la))
			return soft_raise(c, SOFT_GP, true, 0);
		soft_tlb_flush_page(c, la);
		break;
	case 1: soft_tlb_flush_pcid(c, pcid); break;
	case 2: soft_tlb_flush_all(c); break;
	default: soft_tlb_flush_nonglobal(c); break;
	}
	return 0;
}

/* --- the dispatcher for everything above --- */

static int exec_system(struct soft_cpu *c, const struct soft_insn *i);

/* Everything here may change the mode, CPL or what the TLB's fast path
 * assumes: recompute after every system instruction. */
int soft_exec_system(struct soft_cpu *c, const struct soft_insn *i)
{
	int rc = exec_system(c, i);
	soft_cpu_refresh_mode(c);
	if (rc == SOFT_X_RETIRED && c->dbg_armed)
		rc = SOFT_X_RECHECK; /* MOV DR7, SYSRET with TF, ...: look again */
	return rc;
}

static int exec_system(struct soft_cpu *c, const struct soft_insn *i)
{
	struct cpu_state *s = &c->state;
	unsigned op = i->op, r = (i->modrm >> 3) & 7;
	uint64_t v, off;
	switch (op) {
	case 0x8c: /* MOV r/m, Sreg */
		if (r > 5)
			return soft_raise(c, SOFT_UD, false, 0);
		if (soft_x_rm_write(c, i, i->mem ? 2 : i->osize, s->seg[r].selector))
			return -1;
		break;
	case 0x8e: /* MOV Sreg, r/m */
		if (r == SEG_CS || r > 5)
			return soft_raise(c, SOFT_UD, false, 0);
		if (soft_x_rm_read(c, i, 2, &v) || load_segment(c, r, (uint16_t)v))
			return -1;
		if (r == SEG_SS)
			c->int_shadow = 2;
		break;
	case 0x06:
	case 0x0e:
	case 0x16:
	case 0x1e: /* PUSH ES/CS/SS/DS (not 64-bit) */
	case 0x1a0:
	case 0x1a8: /* PUSH FS/GS */
		if (soft_x_push(c, i->osize,
		                s->seg[op < 0x100    ? op >> 3
		                       : op == 0x1a0 ? SEG_FS
		                                     : SEG_GS]
		                    .selector))
			return -1;
		break;
	case 0x07:
	case 0x17:
	case 0x1f:
	case 0x1a1:
	case 0x1a9: { /* POP Sreg */
		unsigned seg = op < 0x100 ? op >> 3 : op == 0x1a1 ? SEG_FS : SEG_GS;
		uint64_t old_sp = s->gpr[GPR_RSP];
		if (soft_x_stack_peek(c, 0, i->osize, &v))
			return -1;
		soft_x_rsp_set(c, old_sp + i->osize);
		if (load_segment(c, seg, (uint16_t)v)) {
			s->gpr[GPR_RSP] = old_sp;
			return -1;
		}
		if (seg == SEG_SS)
			c->int_shadow = 2;
		break;
	}
	case 0x9a:
	case 0xea: /* CALL/JMP ptr16:16/32 (not in 64-bit mode) */
		return soft_far_transfer(c, i, (uint16_t)i->imm2, i->imm, op == 0x9a);
	case 0xca:
	case 0xcb: /* RETF [imm16] */
		return soft_far_return(c, i, op == 0xca ? i->imm & 0xffff : 0);
	case 0xff: /* CALL/JMP m16:16/32/64 */
		if (!i->mem)
			return soft_raise(c, SOFT_UD, false, 0);
		{
			uint64_t ea = soft_x_ea(c, i), sel;
			if (soft_x_mem_read_at(c, i, ea, i->osize, &off) ||
			    soft_x_mem_read_at(c, i, ea + i->osize, 2, &sel))
				return -1;
			return soft_far_transfer(c, i, (uint16_t)sel, off, r == 3);
		}
	case 0x100: return group6(c, i) ? -1 : (s->rip = soft_x_next_rip(c, i), SOFT_X_RETIRED);
	case 0x101: return group7(c, i) ? -1 : (s->rip = soft_x_next_rip(c, i), SOFT_X_RETIRED);
	case 0x105: return syscall_insn(c, i) ? -1 : SOFT_X_RETIRED;
	case 0x134: return sysenter_insn(c) ? -1 : SOFT_X_RETIRED;
	case 0x135: return sysexit_insn(c, i) ? -1 : SOFT_X_RETIRED;
	case 0x107: return sysret_insn(c, i) ? -1 : SOFT_X_RETIRED;
	case 0x106: /* CLTS */
		if (privileged(c))
			return -1;
		s->cr0 &= ~CR0_TS;
		break;
	case 0x108:
	case 0x109: /* INVD, WBINVD: no caches to write back */
		if (privileged(c))
			return -1;
		break;
	case 0x120:
	case 0x122:
		if (mov_cr(c, i, op == 0x122))
			return -1;
		break;
	case 0x121:
	case 0x123:
		if (mov_dr(c, i, op == 0x123))
			return -1;
		break;
	case 0x282: /* INVPCID */
		if (invpcid(c, i))
			return -1;
		break;
	case 0x130: /* WRMSR */
		if (privileged(c) ||
		    wrmsr(c, (uint32_t)s->gpr[GPR_RCX],
		          (s->gpr[GPR_RDX] << 32) | (s->gpr[GPR_RAX] & 0xffffffffULL)))
			return -1;
		break;
	case 0x132: /* RDMSR */
		if (privileged(c) || rdmsr(c, (uint32_t)s->gpr[GPR_RCX], &v))
			return -1;
		s->gpr[GPR_RAX] = v & 0xffffffffULL;
		s->gpr[GPR_RDX] = v >> 32;
		break;
	default: return soft_raise(c, SOFT_UD, false, 0);
	}
	s->rip = soft_x_next_rip(c, i);
	return SOFT_X_RETIRED;
}
