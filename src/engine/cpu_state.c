#include <inttypes.h>
#include <string.h>

#include "engine/engine.h"
#include "util/log.h"

void cpu_state_reset(struct cpu_state *s)
{
	memset(s, 0, sizeof *s);
	s->rip = 0xfff0;
	s->rflags = 0x2;
	s->gpr[GPR_RDX] = 0x600; /* family/model/stepping after reset */
	for (int i = 0; i < SEG_COUNT; i++) {
		s->seg[i] = (struct cpu_segment){.limit = 0xffff, .type = 3, .s = 1, .present = 1};
	}
	s->seg[SEG_CS].selector = 0xf000;
	s->seg[SEG_CS].base = 0xffff0000;
	s->seg[SEG_CS].type = 11;
	s->seg[SEG_LDTR] = (struct cpu_segment){.limit = 0xffff, .type = 2, .present = 1};
	s->seg[SEG_TR] = (struct cpu_segment){.limit = 0xffff, .type = 11, .present = 1};
	s->gdt.limit = 0xffff;
	s->idt.limit = 0xffff;
	s->cr0 = 0x60000010; /* CD, NW, ET */
	s->dr[6] = 0xffff0ff0;
	/* x87 and SSE power-up state (SDM vol. 3, table 9-1) */
	s->fpu.fcw = 0x0040;
	s->fpu.mxcsr = 0x1f80;
	s->fpu.xcr0 = 1;
	s->dr[7] = 0x400;
	s->pat = 0x0007040600070406ULL;
	s->apic_base = 0xfee00000;
}

struct cpu_segment cpu_segment_flat(uint16_t selector, bool code, bool long_mode)
{
	return (struct cpu_segment){
	    .base = 0,
	    .limit = 0xffffffff,
	    .selector = selector,
	    .type = code ? 11 : 3, /* execute/read accessed, read/write accessed */
	    .s = 1,
	    .present = 1,
	    .l = code && long_mode,
	    .db = !(code && long_mode),
	    .g = 1,
	};
}

void cpu_state_dump(const struct cpu_state *s, int cpu_index)
{
	static const char *const names[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp",
	                                      "rsi", "rdi", "r8",  "r9",  "r10", "r11",
	                                      "r12", "r13", "r14", "r15"};
	static const char *const segs[SEG_COUNT] = {"es", "cs", "ss",  "ds",
	                                            "fs", "gs", "ldt", "tr"};
	log_error("vCPU %d registers:", cpu_index);
	for (int i = 0; i < 16; i += 4)
		log_error("  %-3s=%016" PRIx64 " %-3s=%016" PRIx64 " %-3s=%016" PRIx64
		          " %-3s=%016" PRIx64,
		          names[i], s->gpr[i], names[i + 1], s->gpr[i + 1], names[i + 2],
		          s->gpr[i + 2], names[i + 3], s->gpr[i + 3]);
	log_error("  rip=%016" PRIx64 " rflags=%08" PRIx64, s->rip, s->rflags);
	for (int i = 0; i < SEG_COUNT; i++) {
		const struct cpu_segment *g = &s->seg[i];
		log_error("  %-3s sel=%04x base=%016" PRIx64
		          " limit=%08x type=%x s=%d dpl=%d p=%d l=%d db=%d g=%d",
		          segs[i], g->selector, g->base, g->limit, g->type, g->s, g->dpl,
		          g->present, g->l, g->db, g->g);
	}
	log_error("  gdt=%016" PRIx64 "/%04x idt=%016" PRIx64 "/%04x", s->gdt.base, s->gdt.limit,
	          s->idt.base, s->idt.limit);
	log_error("  cr0=%016" PRIx64 " cr2=%016" PRIx64 " cr3=%016" PRIx64 " cr4=%016" PRIx64
	          " cr8=%" PRIx64,
	          s->cr0, s->cr2, s->cr3, s->cr4, s->cr8);
	log_error("  efer=%016" PRIx64 " dr6=%016" PRIx64 " dr7=%016" PRIx64, s->efer, s->dr[6],
	          s->dr[7]);
}
