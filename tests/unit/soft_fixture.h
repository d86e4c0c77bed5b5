/* A small machine for the soft engine's system-architecture tests
 * (test_soft_gates.c, test_soft_debug.c): 16 MiB of RAM, descriptor
 * builders, and ready-made states for long mode (identity-mapped by one
 * user-accessible 1 GiB page) and flat 32-bit protected mode.
 *
 * Layout: 0x1000 PML4, 0x2000 PDPT, 0x3000 GDT, 0x4000 TSS, 0x5000 IDT,
 * kernel stack below 0x7000, user stack below 0x9000, code at 0x10000
 * (and handlers at 0x11000). The GDT:
 *   0x08 code64 DPL0   0x10 data DPL0    0x18 code32 DPL3   0x20 data DPL3
 *   0x28 code64 DPL3   0x30 code32 DPL0  0x38 TSS (16 bytes in long mode)
 *   0x48.. free for each test (gates, odd segments). */
#ifndef RINGFOLD_TEST_SOFT_FIXTURE_H
#define RINGFOLD_TEST_SOFT_FIXTURE_H

#include <stdlib.h>

#include "engine/soft/soft.h"
#include "test.h"

static struct guest_mem mem;
static struct soft_cpu *cpu;

#define GDT 0x3000
#define TSS 0x4000
#define IDT 0x5000
#define KSTACK 0x7000
#define USTACK 0x9000
#define CODE 0x10000
#define HANDLER 0x11000

enum { SEG_L = 0x2, SEG_DB = 0x4, SEG_G = 0x8 }; /* descriptor flag nibble */

static inline void wr64(uint64_t gpa, uint64_t v)
{
	mem_write(&mem, gpa, &v, 8);
}
static inline uint64_t rd64(uint64_t gpa)
{
	uint64_t v = 0;
	mem_read(&mem, gpa, &v, 8);
	return v;
}
static inline void wr32(uint64_t gpa, uint32_t v)
{
	mem_write(&mem, gpa, &v, 4);
}
static inline uint32_t rd32(uint64_t gpa)
{
	uint32_t v = 0;
	mem_read(&mem, gpa, &v, 4);
	return v;
}
static inline void wr16(uint64_t gpa, uint16_t v)
{
	mem_write(&mem, gpa, &v, 2);
}
static inline void put(uint64_t gpa, const uint8_t *code, size_t len)
{
	mem_write(&mem, gpa, code, len);
}

/* A code or data segment descriptor (type: the 4-bit type field). */
static inline uint64_t seg_desc(uint32_t base, uint32_t limit, unsigned type, unsigned dpl,
                                unsigned flags)
{
	return (limit & 0xffff) | ((uint64_t)(base & 0xffffff) << 16) | ((uint64_t)type << 40) |
	       (1ULL << 44) | ((uint64_t)dpl << 45) | (1ULL << 47) |
	       ((uint64_t)((limit >> 16) & 0xf) << 48) | ((uint64_t)flags << 52) |
	       ((uint64_t)(base >> 24) << 56);
}

/* A system descriptor (TSS, LDT): the low 8 bytes. */
static inline uint64_t sys_desc(uint32_t base, uint32_t limit, unsigned type, unsigned dpl)
{
	return (limit & 0xffff) | ((uint64_t)(base & 0xffffff) << 16) | ((uint64_t)type << 40) |
	       ((uint64_t)dpl << 45) | (1ULL << 47) | ((uint64_t)((limit >> 16) & 0xf) << 48) |
	       ((uint64_t)(base >> 24) << 56);
}

/* A gate (call 4/0xc, task 5, interrupt 0xe, trap 0xf): the low 8 bytes. */
static inline uint64_t gate_desc(uint16_t sel, uint64_t off, unsigned type, unsigned dpl,
                                 unsigned params)
{
	return (off & 0xffff) | ((uint64_t)sel << 16) | ((uint64_t)params << 32) |
	       ((uint64_t)type << 40) | ((uint64_t)dpl << 45) | (1ULL << 47) |
	       (((off >> 16) & 0xffff) << 48);
}

/* The descriptor cache of selector sel as the GDT holds it. */
static inline struct cpu_segment seg_from_gdt(uint16_t sel)
{
	uint64_t d = rd64(GDT + (sel & ~7u));
	struct cpu_segment s = {
	    .base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24),
	    .limit = (uint32_t)((d & 0xffff) | (((d >> 48) & 0xf) << 16)),
	    .selector = sel,
	    .type = (uint8_t)((d >> 40) & 0xf),
	    .s = (uint8_t)((d >> 44) & 1),
	    .dpl = (uint8_t)((d >> 45) & 3),
	    .present = (uint8_t)((d >> 47) & 1),
	    .l = (uint8_t)((d >> 53) & 1),
	    .db = (uint8_t)((d >> 54) & 1),
	    .g = (uint8_t)((d >> 55) & 1),
	};
	if (s.g)
		s.limit = (s.limit << 12) | 0xfff;
	return s;
}

static inline void fixture_reset(void)
{
	static const uint8_t zero[0x20000];
	mem_write(&mem, 0, zero, sizeof zero);
	soft_cpu_init(cpu, &mem, NULL);
	cpu->report_exceptions = true;
	wr64(GDT + 0x08, seg_desc(0, 0xfffff, 0xb, 0, SEG_L | SEG_G));
	wr64(GDT + 0x10, seg_desc(0, 0xfffff, 0x3, 0, SEG_DB | SEG_G));
	wr64(GDT + 0x18, seg_desc(0, 0xfffff, 0xb, 3, SEG_DB | SEG_G));
	wr64(GDT + 0x20, seg_desc(0, 0xfffff, 0x3, 3, SEG_DB | SEG_G));
	wr64(GDT + 0x28, seg_desc(0, 0xfffff, 0xb, 3, SEG_L | SEG_G));
	wr64(GDT + 0x30, seg_desc(0, 0xfffff, 0xb, 0, SEG_DB | SEG_G));
	cpu->state.gdt = (struct cpu_dtable){GDT, 0xff};
}

/* Long mode, 64-bit code at CODE, CPL 0 or 3, TSS.RSP0 = KSTACK. */
static inline void setup_long(unsigned cpl)
{
	fixture_reset();
	struct cpu_state *s = &cpu->state;
	wr64(0x1000, 0x2000 | 7);
	wr64(0x2000, 0x87); /* 1 GiB, user, writable */
	wr64(GDT + 0x38, sys_desc(TSS, 0x67, 0xb, 0));
	wr64(GDT + 0x40, 0);
	wr64(TSS + 4, KSTACK);
	s->cr0 = 0x80010011;
	s->cr3 = 0x1000;
	s->cr4 = 0x20;
	s->efer = 0xd01;
	s->seg[SEG_TR] = (struct cpu_segment){
	    .base = TSS, .limit = 0x67, .selector = 0x38, .type = 0xb, .present = 1};
	s->seg[SEG_CS] = seg_from_gdt(cpl ? 0x2b : 0x08);
	s->seg[SEG_SS] = seg_from_gdt(cpl ? 0x23 : 0x10);
	s->seg[SEG_DS] = s->seg[SEG_ES] = s->seg[SEG_SS];
	s->idt = (struct cpu_dtable){IDT, 0xfff};
	s->rip = CODE;
	s->gpr[GPR_RSP] = cpl ? USTACK : KSTACK;
}

/* Flat 32-bit protected mode without paging, CPL 0 or 3; a 32-bit TSS with
 * SS0:ESP0 = 0x10:KSTACK. */
static inline void setup_pm32(unsigned cpl)
{
	fixture_reset();
	struct cpu_state *s = &cpu->state;
	wr64(GDT + 0x38, sys_desc(TSS, 0x67, 0xb, 0));
	wr32(TSS + 4, KSTACK);
	wr32(TSS + 8, 0x10);
	s->cr0 = 0x11;
	s->seg[SEG_TR] = (struct cpu_segment){
	    .base = TSS, .limit = 0x67, .selector = 0x38, .type = 0xb, .present = 1};
	s->seg[SEG_CS] = seg_from_gdt(cpl ? 0x1b : 0x30);
	s->seg[SEG_SS] = seg_from_gdt(cpl ? 0x23 : 0x10);
	s->seg[SEG_DS] = s->seg[SEG_ES] = s->seg[SEG_SS];
	s->idt = (struct cpu_dtable){IDT, 0x7ff};
	s->rip = CODE;
	s->gpr[GPR_RSP] = cpl ? USTACK : KSTACK;
}

static inline int fixture_init(void)
{
	struct error err;
	if (mem_init(&mem, 16ULL << 20, false, &err) != 0) {
		printf("mem_init: %s\n", err.msg);
		return -1;
	}
	cpu = calloc(1, sizeof *cpu);
	return cpu ? 0 : -1;
}

/* Run until the CPU reports an exception; true when it is vector with
 * error code error (pass ~0u to ignore the code). */
static inline bool run_to_exception(uint64_t max, unsigned vector, uint32_t error)
{
	enum soft_exit e = soft_cpu_run(cpu, max);
	if (e != SOFT_EXIT_EXCEPTION) {
		printf("    exit %d, rip %#llx\n", (int)e, (unsigned long long)cpu->state.rip);
		return false;
	}
	if (cpu->exc.vector != vector || (error != ~0u && cpu->exc.error != error)) {
		printf("    exception %u error %#x at rip %#llx (wanted %u error %#x)\n",
		       cpu->exc.vector, cpu->exc.error, (unsigned long long)cpu->state.rip, vector,
		       error);
		return false;
	}
	return true;
}

#endif
