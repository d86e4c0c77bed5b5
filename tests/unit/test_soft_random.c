/* The guest is hostile: random instruction bytes, random register values and
 * random page tables, in every CPU mode, must never crash the soft engine or
 * reach outside guest RAM (this suite also runs under ASan+UBSan). Each run
 * must end in a defined way, with an exception reported at the faulting
 * instruction. */
#include <stdlib.h>

#include "engine/soft/soft.h"
#include "test.h"
#include "util/log.h"

#define RAM (16ULL << 20)

static struct guest_mem mem;
static struct soft_cpu *cpu;
static uint64_t rng = 0x243f6a8885a308d3ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void fill_random(uint64_t gpa, size_t len)
{
	uint8_t *p = mem_ptr(&mem, gpa, len);
	for (size_t k = 0; k < len; k++)
		p[k] = (uint8_t)rnd();
}

/* Identity-mapped 64-bit paging over the first 1 GiB (2M pages), with some
 * of the page directory entries randomised. */
static void paging_64(bool random_tables)
{
	uint64_t pml4 = 0x1000, pdpt = 0x2000, pd = 0x3000;
	uint64_t v = pdpt | 7;
	mem_write(&mem, pml4, &v, 8);
	v = pd | 7;
	mem_write(&mem, pdpt, &v, 8);
	for (uint64_t k = 0; k < 512; k++) {
		v = (k << 21) | 0x87;
		if (random_tables && (rnd() & 3) == 0)
			v = rnd();
		mem_write(&mem, pd + k * 8, &v, 8);
	}
	cpu->state.cr3 = pml4;
}

static void random_state(int mode)
{
	soft_cpu_init(cpu, &mem, NULL);
	cpu->report_exceptions = true;
	struct cpu_state *s = &cpu->state;
	for (int k = 0; k < 16; k++)
		s->gpr[k] = (rnd() & 1) ? rnd() : rnd() & 0xfffff;
	s->rflags = 0x2 | (rnd() & 0xcd5);
	s->rip = 0x100000 + (rnd() & 0xfff);
	if (mode == 64) {
		s->cr0 = 0x80010033;
		s->cr4 = 0x20 | ((rnd() & 1) ? (1u << 20) | (1u << 21) : 0);
		s->efer = 0xd00;
		s->seg[SEG_CS] = cpu_segment_flat(0x33, true, true);
		s->seg[SEG_CS].dpl = (rnd() & 1) ? 3 : 0;
		s->seg[SEG_SS] = cpu_segment_flat(0x2b, false, true);
		s->seg[SEG_FS].base = rnd();
		paging_64(rnd() & 1);
	} else if (mode == 32) {
		s->cr0 = 0x11;
		s->seg[SEG_CS] = cpu_segment_flat(8, true, false);
		s->seg[SEG_SS] = cpu_segment_flat(16, false, false);
		s->seg[SEG_DS] = s->seg[SEG_ES] = s->seg[SEG_SS];
		s->seg[SEG_DS].limit = (uint32_t)rnd(); /* limits are checked */
	}
	/* mode 16: the reset state's real mode, CS base 0xffff0000 is outside
	 * RAM: move it into RAM. */
	if (mode == 16) {
		s->seg[SEG_CS].base = 0x100000;
		s->rip &= 0xfff;
	}
}

static void run_random(int mode, int cases)
{
	for (int n = 0; n < cases; n++) {
		random_state(mode);
		fill_random(0x100000, 0x2000);
		enum soft_exit e = soft_cpu_run(cpu, 1 + (rnd() & 7));
		CHECK(e == SOFT_EXIT_LIMIT || e == SOFT_EXIT_EXCEPTION || e == SOFT_EXIT_HLT);
		if (e == SOFT_EXIT_EXCEPTION) {
			CHECK(cpu->exc.valid);
			CHECK(cpu->exc.software || cpu->exc.vector < 32); /* INT n: any */
		}
		CHECK(cpu->state.rflags & 2);
	}
}

/* Exceptions delivered (not reported) through random IDT, GDT and TSS
 * contents: any outcome but a crash. */
static void test_random_delivery(void)
{
	for (int n = 0; n < 5000; n++) {
		int mode = (n & 3) == 0 ? 16 : 64;
		random_state(mode);
		cpu->report_exceptions = false;
		fill_random(0x100000, 0x2000);
		fill_random(0x200000, 0x3000);
		struct cpu_state *s = &cpu->state;
		s->idt = (struct cpu_dtable){(rnd() & 1) ? 0x200000 : rnd(), (uint16_t)rnd()};
		s->gdt = (struct cpu_dtable){0x201000, (uint16_t)rnd()};
		s->seg[SEG_TR].base = (rnd() & 1) ? 0x202000 : rnd();
		s->seg[SEG_TR].limit = (uint32_t)rnd() & 0xffff;
		enum soft_exit e = soft_cpu_run(cpu, 1 + (rnd() & 31));
		CHECK(e == SOFT_EXIT_LIMIT || e == SOFT_EXIT_HLT || e == SOFT_EXIT_SHUTDOWN);
	}
}

static void test_random_64(void)
{
	run_random(64, 20000);
}
static void test_random_32(void)
{
	run_random(32, 10000);
}
static void test_random_16(void)
{
	run_random(16, 5000);
}

/* A fault leaves everything as before the instruction. */
static void test_fault_is_precise(void)
{
	for (int n = 0; n < 5000; n++) {
		random_state(64);
		fill_random(0x100000, 0x2000);
		struct cpu_state before = cpu->state;
		enum soft_exit e = soft_cpu_run(cpu, 1);
		if (e != SOFT_EXIT_EXCEPTION || cpu->exc.software) /* INT n: a trap */
			continue;
		/* string instructions may have completed iterations: skip them */
		const uint8_t *p = mem_ptr(&mem, before.rip, 16);
		bool string = false;
		for (int k = 0; k < 15 && p; k++) {
			uint8_t b = p[k];
			if ((b >= 0xa4 && b <= 0xa7) || (b >= 0xaa && b <= 0xaf)) {
				string = true;
				break;
			}
			if (!(b == 0x66 || b == 0x67 || b == 0xf2 || b == 0xf3 || b == 0xf0 ||
			      (b & 0xf0) == 0x40 || b == 0x2e || b == 0x3e || b == 0x26 ||
			      b == 0x36 || b == 0x64 || b == 0x65))
				break;
		}
		if (string)
			continue;
		CHECK(memcmp(before.gpr, cpu->state.gpr, sizeof before.gpr) == 0);
		CHECK_EQ(before.rip, cpu->state.rip);
		CHECK_EQ(before.rflags, cpu->state.rflags);
	}
}

int main(void)
{
	struct error err;
	if (mem_init(&mem, RAM, false, &err) != 0) {
		printf("mem_init: %s\n", err.msg);
		return 1;
	}
	cpu = calloc(1, sizeof *cpu);
	log_set_level(
	    LOG_OFF); /* random code triple-faults and hits unimplemented opcodes by the thousand */
	RUN(test_random_64);
	RUN(test_random_32);
	RUN(test_random_16);
	RUN(test_fault_is_precise);
	RUN(test_random_delivery);
	free(cpu);
	mem_destroy(&mem);
	TEST_DONE();
}
