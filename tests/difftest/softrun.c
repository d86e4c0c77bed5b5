/* The side under test: the same case on the soft CPU, at CPL3 in 64-bit mode,
 * with the code and data pages mapped at the same virtual addresses as on
 * the host through 4-level page tables built here in guest memory (at other
 * physical addresses, so a translation bug cannot pass unnoticed).
 *
 * The soft CPU runs one instruction at a time so that the flags each
 * instruction leaves undefined can be worked out from the registers before
 * it (shift counts in CL); exceptions are reported, not delivered. */
#include <stdio.h>
#include <string.h>

#include "difftest.h"
#include "engine/soft/soft.h"

#define PML4_GPA 0x1000ULL
#define PDPT_GPA 0x2000ULL
#define PD_GPA 0x3000ULL
#define PT_CODE_GPA 0x4000ULL
#define PT_DATA_GPA 0x5000ULL
#define CODE_GPA 0x100000ULL
#define DATA_GPA 0x234000ULL /* RW pages, then the RO page */

#define GDT_OFFSET 0x800 /* in the supervisor page, after the TSS */

#define P 0x1ULL
#define W 0x2ULL
#define U 0x4ULL
#define NX (1ULL << 63)

static struct guest_mem mem;
static struct bus *bus;
static struct soft_cpu *cpu;

int dt_soft_init(void)
{
	struct error err;
	if (mem_init(&mem, 16ULL << 20, false, &err) != 0) {
		fprintf(stderr, "difftest: %s\n", err.msg);
		return -1;
	}
	bus = bus_create();
	static struct soft_cpu the_cpu;
	cpu = &the_cpu;
	return bus ? 0 : -1;
}

static void put_pte(uint64_t table, unsigned idx, uint64_t val)
{
	mem_write(&mem, table + idx * 8, &val, 8);
}

static void build_tables(const struct dt_case *c)
{
	/* Fresh tables every case: the previous run set A and D bits. */
	static const uint8_t zero[4096];
	for (uint64_t t = PML4_GPA; t <= PT_DATA_GPA; t += 4096)
		mem_write(&mem, t, zero, 4096);
	put_pte(PML4_GPA, 0, PDPT_GPA | P | W | U);
	put_pte(PDPT_GPA, 0, PD_GPA | P | W | U);
	put_pte(PD_GPA, (unsigned)(DT_CODE_VA >> 21) & 511, PT_CODE_GPA | P | W | U);
	put_pte(PD_GPA, (unsigned)(DT_DATA_VA >> 21) & 511, PT_DATA_GPA | P | W | U);
	put_pte(PT_CODE_GPA, (unsigned)(DT_CODE_VA >> 12) & 511, CODE_GPA | P | U);
	unsigned d = (unsigned)(DT_DATA_VA >> 12) & 511;
	put_pte(PT_DATA_GPA, d, DATA_GPA | P | W | U | NX);
	put_pte(PT_DATA_GPA, d + 1, (DATA_GPA + 0x1000) | P | W | U | NX);
	put_pte(PT_DATA_GPA, d + 2, (DATA_GPA + 0x2000) | P | U | NX);
	/* d + 3: the guard page stays not present */
	/* d + 4: a supervisor page holding the TSS (no user access reaches it) */
	put_pte(PT_DATA_GPA, d + 4, (DATA_GPA + 0x4000) | P | W | NX);

	uint8_t page[4096];
	memset(page, 0xcc, sizeof page);
	memcpy(page, c->code, c->code_len);
	mem_write(&mem, CODE_GPA, page, 4096);
	mem_write(&mem, DATA_GPA, c->data, DT_DATA_SIZE);
	for (unsigned k = 0; k < 4096; k++)
		page[k] = (uint8_t)(k * 7 + 3);
	mem_write(&mem, DATA_GPA + DT_DATA_SIZE, page, 4096);
	/* A TSS as Linux has one: no I/O bitmap within its limit, so every
	 * port access at CPL3 is #GP. */
	memset(page, 0, sizeof page);
	uint16_t iomap = 0x68;
	memcpy(page + 0x66, &iomap, 2);
	/* And a GDT as Linux's: what the far-pointer loads find behind a
	 * selector (the other entries fault with #GP(selector) either way:
	 * kernel DPL 0, system descriptors, empty TLS slots; the per-CPU
	 * entry 15, whose limit is the host's CPU number, is not generated). */
	static const uint64_t gdt[16] = {
	    [1] = 0x00cf9b000000ffffULL, /* 0x08 kernel 32-bit code */
	    [2] = 0x00af9b000000ffffULL, /* 0x10 kernel code */
	    [3] = 0x00cf93000000ffffULL, /* 0x18 kernel data */
	    [4] = 0x00cffb000000ffffULL, /* 0x23 user 32-bit code */
	    [5] = 0x00cff3000000ffffULL, /* 0x2b user data */
	    [6] = 0x00affb000000ffffULL, /* 0x33 user 64-bit code */
	    [8] = 0x00008b0000000067ULL | ((DT_DATA_VA + 0x4000) & 0xffffff) << 16 |
	          ((DT_DATA_VA + 0x4000) >> 24 & 0xff) << 56, /* 0x40 TSS (busy) */
	};
	memcpy(page + GDT_OFFSET, gdt, sizeof gdt);
	mem_write(&mem, DATA_GPA + 0x4000, page, 4096);
}

static void user_state(struct cpu_state *s, const struct dt_regs *in, bool m32)
{
	s->seg[SEG_CS] =
	    m32 ? cpu_segment_flat(0x23, true, false) : cpu_segment_flat(0x33, true, true);
	s->seg[SEG_CS].dpl = 3;
	for (int k = SEG_ES; k <= SEG_GS; k++) {
		if (k == SEG_CS)
			continue;
		s->seg[k] = cpu_segment_flat(k == SEG_SS || k == SEG_DS || k == SEG_ES ? 0x2b : 0,
		                             false, true);
		s->seg[k].dpl = 3;
	}
	if (m32) { /* selector 0: unusable outside 64-bit mode */
		s->seg[SEG_FS].unusable = 1;
		s->seg[SEG_GS].unusable = 1;
	}
	s->seg[SEG_TR] = (struct cpu_segment){
	    .base = DT_DATA_VA + 0x4000, .limit = 0x67, .selector = 0x40, .type = 11, .present = 1};
	s->seg[SEG_LDTR] = (struct cpu_segment){.unusable = 1}; /* no LDT: TI=1 is #GP */
	s->gdt.base = DT_DATA_VA + 0x4000 + GDT_OFFSET;
	s->gdt.limit = 16 * 8 - 1;
	s->cr0 = 0x80050033; /* PG AM WP NE ET MP PE, as Linux runs */
	s->cr4 = 0x106a0;    /* FSGSBASE OSXMMEXCPT OSFXSR PGE PAE */
	s->efer = 0xd01;     /* NXE LMA LME SCE */
	s->cr3 = PML4_GPA;
	memcpy(s->gpr, in->gpr, sizeof s->gpr);
	s->rip = in->rip;
	s->rflags = in->rflags;
}

/* The FXSAVE image (64-bit format) to and from cpu_state.fpu. The image
 * lists the x87 registers in stack order, ST(0) first; cpu_fpu keeps the
 * physical registers R0..R7 (ST(i) = R((TOP + i) mod 8)). */
static void fx_to_fpu(const uint8_t *fx, struct cpu_fpu *f)
{
	memcpy(&f->fcw, fx + DT_FX_FCW, 2);
	memcpy(&f->fsw, fx + DT_FX_FSW, 2);
	f->ftw = fx[DT_FX_FTW];
	memcpy(&f->fop, fx + 6, 2);
	memcpy(&f->fip, fx + 8, 8);
	memcpy(&f->fdp, fx + 16, 8);
	memcpy(&f->mxcsr, fx + DT_FX_MXCSR, 4);
	unsigned top = (f->fsw >> 11) & 7;
	for (unsigned k = 0; k < 8; k++) {
		struct cpu_x87_reg *r = &f->st[(top + k) & 7];
		memcpy(&r->significand, fx + DT_FX_ST(k), 8);
		memcpy(&r->sign_exp, fx + DT_FX_ST(k) + 8, 2);
	}
	memcpy(f->xmm, fx + DT_FX_XMM(0), 256);
}

static void fpu_to_fx(const struct cpu_fpu *f, uint8_t *fx)
{
	memset(fx, 0, DT_FX_SIZE);
	memcpy(fx + DT_FX_FCW, &f->fcw, 2);
	memcpy(fx + DT_FX_FSW, &f->fsw, 2);
	fx[DT_FX_FTW] = f->ftw;
	memcpy(fx + 6, &f->fop, 2);
	memcpy(fx + 8, &f->fip, 8);
	memcpy(fx + 16, &f->fdp, 8);
	memcpy(fx + DT_FX_MXCSR, &f->mxcsr, 4);
	uint32_t mask = 0xffff;
	memcpy(fx + 28, &mask, 4);
	unsigned top = (f->fsw >> 11) & 7;
	for (unsigned k = 0; k < 8; k++) {
		const struct cpu_x87_reg *r = &f->st[(top + k) & 7];
		memcpy(fx + DT_FX_ST(k), &r->significand, 8);
		memcpy(fx + DT_FX_ST(k) + 8, &r->sign_exp, 2);
	}
	memcpy(fx + DT_FX_XMM(0), f->xmm, 256);
}

static const struct dt_insn *insn_at(const struct dt_case *c, uint64_t rip)
{
	for (unsigned k = 0; k < c->ninsns; k++)
		if (DT_CODE_VA + c->insns[k].offset == rip)
			return &c->insns[k];
	return NULL;
}

void dt_soft_run(const struct dt_case *c, struct dt_result *r)
{
	build_tables(c);
	soft_cpu_init(cpu, &mem, bus);
	user_state(&cpu->state, &c->in, c->m32);
	cpu->state.seg[SEG_FS].base = c->fs_base;
	cpu->state.seg[SEG_GS].base = c->gs_base;
	fx_to_fpu(c->fx, &cpu->state.fpu);
	cpu->report_exceptions = true;
	memset(r, 0, sizeof *r);
	r->vector = -1;
	uint16_t undef = 0;
	for (int steps = 0; steps < 64; steps++) {
		uint64_t before[16];
		memcpy(before, cpu->state.gpr, sizeof before);
		const struct dt_insn *in = insn_at(c, cpu->state.rip);
		enum soft_exit e = soft_cpu_run(cpu, 1);
		if (e == SOFT_EXIT_LIMIT && in) {
			uint16_t def, und;
			dt_flag_effect(in, before, &def, &und);
			undef = (uint16_t)((undef & ~def) | und);
		}
		if (e == SOFT_EXIT_EXCEPTION) {
			r->vector = cpu->exc.vector;
			r->error = cpu->exc.error;
			r->cr2 = cpu->exc.cr2;
			break;
		}
		if (e != SOFT_EXIT_LIMIT) {
			r->vector = -3;
			break;
		}
	}
	if (r->vector == -1)
		r->timeout = true;
	memcpy(r->out.gpr, cpu->state.gpr, sizeof r->out.gpr);
	r->out.rip = cpu->state.rip;
	r->out.rflags = cpu->state.rflags;
	for (int k = 0; k < DT_NSEG; k++)
		r->sel[k] = cpu->state.seg[k].selector; /* DT_* order is SEG_* order */
	r->fs_base = cpu->state.seg[SEG_FS].base;
	r->gs_base = cpu->state.seg[SEG_GS].base;
	r->undef = undef;
	fpu_to_fx(&cpu->state.fpu, r->fx);
	mem_read(&mem, DATA_GPA, r->data, DT_DATA_SIZE);
}
