/* Port I/O from the soft engine: IN/OUT (imm8 and DX ports, every size),
 * REP INS/OUTS, all through bus_read/bus_write(BUS_PIO); MMIO for operands
 * outside RAM; and the I/O permission checks (IOPL, the TSS bitmap). */
#include <stdlib.h>

#include "bus.h"
#include "engine/soft/soft.h"
#include "test.h"

static struct guest_mem mem;
static struct bus *bus;
static struct soft_cpu *cpu;

/* A device that logs writes and answers reads with a counter. */
static uint8_t written[64];
static unsigned nwritten, last_size;
static uint64_t next_read = 0x40;

static uint64_t dev_read(void *opaque, uint64_t off, unsigned size)
{
	(void)opaque;
	(void)off;
	last_size = size;
	return next_read++;
}

static void dev_write(void *opaque, uint64_t off, unsigned size, uint64_t v)
{
	(void)opaque;
	(void)off;
	last_size = size;
	if (nwritten < sizeof written)
		written[nwritten++] = (uint8_t)v;
}

static const struct bus_ops dev_ops = {dev_read, dev_write};

static void load_real(const uint8_t *code, size_t len)
{
	soft_cpu_init(cpu, &mem, bus);
	cpu->state.seg[SEG_CS].base = 0;
	cpu->state.seg[SEG_CS].selector = 0;
	cpu->state.rip = 0x7c00;
	cpu->state.gpr[GPR_RSP] = 0x7000;
	mem_write(&mem, 0x7c00, code, len);
	nwritten = 0;
}

static void test_in_out_real_mode(void)
{
	/* mov dx, 0x3f8; mov al, 'A'; out dx, al; out 0x80, al; in al, dx;
	 * in ax, dx; mov si, 0x500; mov cx, 3; rep outsb; mov di, 0x600;
	 * mov cx, 2; rep insb; hlt */
	static const uint8_t code[] = {0xba, 0xf8, 0x03, 0xb0, 0x41, 0xee, 0xe6, 0x80, 0xec,
	                               0xed, 0xbe, 0x00, 0x05, 0xb9, 0x03, 0x00, 0xf3, 0x6e,
	                               0xbf, 0x00, 0x06, 0xb9, 0x02, 0x00, 0xf3, 0x6c, 0xf4};
	load_real(code, sizeof code);
	mem_write(&mem, 0x500, "xyz", 3);
	next_read = 0x40;
	CHECK_EQ(soft_cpu_run(cpu, 100), SOFT_EXIT_HLT);
	CHECK_EQ(nwritten, 4);
	CHECK_EQ(written[0], 'A');
	CHECK_EQ(written[1], 'x');
	CHECK_EQ(written[3], 'z');
	CHECK_EQ(cpu->state.gpr[GPR_RAX] & 0xffff, 0x41); /* in ax, dx: the second read */
	uint8_t got[2];
	mem_read(&mem, 0x600, got, 2);
	CHECK_EQ(got[0], 0x42);
	CHECK_EQ(got[1], 0x43);
	CHECK_EQ(cpu->state.gpr[GPR_RCX] & 0xffff, 0);
	CHECK_EQ(cpu->state.gpr[GPR_RDI] & 0xffff, 0x602);
	/* port 0x80 has no device: the write is dropped and counted */
	CHECK(bus_unassigned_count(bus) >= 1);
}

static void test_mmio_operand(void)
{
	/* 32-bit flat, paging off: mov dword [0xd0000000], 0x12345678; mov eax, [0xd0000000]; hlt
	 */
	static const uint8_t code[] = {0xc7, 0x05, 0x00, 0x00, 0x00, 0xd0, 0x78, 0x56,
	                               0x34, 0x12, 0xa1, 0x00, 0x00, 0x00, 0xd0, 0xf4};
	soft_cpu_init(cpu, &mem, bus);
	struct cpu_state *s = &cpu->state;
	s->cr0 = 1;
	s->seg[SEG_CS] = cpu_segment_flat(8, true, false);
	s->seg[SEG_SS] = cpu_segment_flat(16, false, false);
	s->seg[SEG_DS] = s->seg[SEG_ES] = s->seg[SEG_SS];
	s->rip = 0x1000;
	mem_write(&mem, 0x1000, code, sizeof code);
	nwritten = 0;
	next_read = 0x99;
	CHECK_EQ(soft_cpu_run(cpu, 10), SOFT_EXIT_HLT);
	CHECK_EQ(nwritten, 1);
	CHECK_EQ(written[0], 0x78);
	CHECK_EQ(last_size, 4);
	CHECK_EQ(s->gpr[GPR_RAX], 0x99);
}

static void test_io_permission_bitmap(void)
{
	/* 32-bit protected mode at CPL3 with IOPL 0: in al, 0x80 is allowed by
	 * the bitmap, in ax, 0x80 also needs port 0x81, which is not */
	static const uint8_t code[] = {0xe4, 0x80, 0x66, 0xe5, 0x80};
	soft_cpu_init(cpu, &mem, bus);
	cpu->report_exceptions = true;
	struct cpu_state *s = &cpu->state;
	s->cr0 = 1;
	s->seg[SEG_CS] = cpu_segment_flat(0x1b, true, false);
	s->seg[SEG_CS].dpl = 3;
	s->seg[SEG_SS] = cpu_segment_flat(0x23, false, false);
	s->seg[SEG_SS].dpl = 3;
	s->rip = 0x1000;
	mem_write(&mem, 0x1000, code, sizeof code);
	uint8_t tss[0x68 + 32 + 1];
	memset(tss, 0xff, sizeof tss);
	uint16_t iomap = 0x68;
	memcpy(tss + 0x66, &iomap, 2);
	tss[0x68 + 0x80 / 8] = 0xfe; /* port 0x80 allowed, 0x81..0x87 not */
	mem_write(&mem, 0x3000, tss, sizeof tss);
	s->seg[SEG_TR] =
	    (struct cpu_segment){.base = 0x3000, .limit = sizeof tss - 1, .type = 11, .present = 1};
	CHECK_EQ(soft_cpu_run(cpu, 1), SOFT_EXIT_LIMIT);
	CHECK_EQ(soft_cpu_run(cpu, 1), SOFT_EXIT_EXCEPTION);
	CHECK_EQ(cpu->exc.vector, SOFT_GP);
	CHECK_EQ(s->rip, 0x1002);
	/* IOPL 3: everything allowed without looking at the bitmap */
	s->rflags |= 0x3000;
	CHECK_EQ(soft_cpu_run(cpu, 1), SOFT_EXIT_LIMIT);
	/* a limit too small for the bitmap byte: #GP */
	s->rflags &= ~0x3000ULL;
	s->rip = 0x1000;
	s->seg[SEG_TR].limit = 0x68 + 0x80 / 8 - 1;
	CHECK_EQ(soft_cpu_run(cpu, 1), SOFT_EXIT_EXCEPTION);
	CHECK_EQ(cpu->exc.vector, SOFT_GP);
}

int main(void)
{
	struct error err;
	if (mem_init(&mem, 16ULL << 20, false, &err) != 0) {
		printf("mem_init: %s\n", err.msg);
		return 1;
	}
	bus = bus_create();
	bus_register(bus, BUS_PIO, 0x3f8, 8, &dev_ops, NULL, "test-uart");
	bus_register(bus, BUS_MMIO, 0xd0000000, 0x1000, &dev_ops, NULL, "test-mmio");
	cpu = calloc(1, sizeof *cpu);
	RUN(test_in_out_real_mode);
	RUN(test_mmio_operand);
	RUN(test_io_permission_bitmap);
	free(cpu);
	bus_destroy(bus);
	mem_destroy(&mem);
	TEST_DONE();
}
