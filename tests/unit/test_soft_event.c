/* Exception and interrupt delivery: the 64-bit IDT (stack switch to RSP0 and
 * IST, the frame, RF, IF for interrupt gates, error codes, CR2), software
 * interrupts and gate DPL, IRETQ back to CPL3, double and triple faults, and
 * the real-mode IVT with IRET. */
#include <stdlib.h>

#include "engine/soft/soft.h"
#include "test.h"

#define GDT 0x3000ULL
#define TSS 0x4000ULL
#define IDT 0x5000ULL
#define RSP0 0x9000ULL
#define IST1 0xa000ULL
#define USER_RSP 0x8000ULL
#define USER_CODE 0x10000ULL
#define H_DE 0x20000ULL
#define H_BP 0x21000ULL
#define H_UD 0x22000ULL
#define H_PF 0x23000ULL
#define H_GP 0x24000ULL
#define H_DF 0x25000ULL
#define H_81 0x26000ULL

static struct guest_mem mem;
static struct soft_cpu *cpu;

static void wr(uint64_t gpa, const void *p, size_t n)
{
	mem_write(&mem, gpa, p, n);
}
static void wr64(uint64_t gpa, uint64_t v)
{
	wr(gpa, &v, 8);
}
static uint64_t rd64(uint64_t gpa)
{
	uint64_t v = 0;
	mem_read(&mem, gpa, &v, 8);
	return v;
}

static void gate(unsigned vector, uint64_t target, unsigned type, unsigned dpl, unsigned ist)
{
	uint64_t lo = (target & 0xffff) | (0x08ULL << 16) | ((uint64_t)ist << 32) |
	              ((uint64_t)type << 40) | ((uint64_t)dpl << 45) | (1ULL << 47) |
	              ((target >> 16 & 0xffff) << 48);
	wr64(IDT + vector * 16, lo);
	wr64(IDT + vector * 16 + 8, target >> 32);
}

/* Long mode at CPL3 running user_code; kernel handlers that HLT (or IRETQ
 * for #BP); identity-mapped first GiB, user-accessible. */
static void setup_long(const uint8_t *code, size_t len)
{
	static const uint8_t zero[0x10000];
	wr(0, zero, sizeof zero);
	soft_cpu_init(cpu, &mem, NULL);
	wr64(0x1000, 0x2000 | 7);                /* PML4 -> PDPT */
	wr64(0x2000, 0x87);                      /* 1 GiB page, user, writable */
	wr64(GDT + 0x08, 0x00209a0000000000ULL); /* kernel code, 64-bit */
	wr64(GDT + 0x10, 0x0000920000000000ULL); /* kernel data */
	wr64(GDT + 0x18, 0x0020fa0000000000ULL); /* user code, 64-bit, DPL3 */
	wr64(GDT + 0x20, 0x0000f20000000000ULL); /* user data, DPL3 */
	wr64(TSS + 4, RSP0);
	wr64(TSS + 0x24, IST1);
	const uint8_t hlt = 0xf4, iretq[2] = {0x48, 0xcf};
	wr(H_DE, &hlt, 1);
	wr(H_BP, iretq, 2);
	wr(H_UD, &hlt, 1);
	wr(H_PF, &hlt, 1);
	wr(H_GP, &hlt, 1);
	wr(H_DF, &hlt, 1);
	wr(H_81, &hlt, 1);
	gate(0, H_DE, 0xe, 0, 0);
	gate(3, H_BP, 0xf, 3, 0);
	gate(6, H_UD, 0xe, 0, 0);
	gate(8, H_DF, 0xe, 0, 1);
	gate(13, H_GP, 0xe, 0, 0);
	gate(14, H_PF, 0xe, 0, 0);
	gate(0x80, H_81, 0xe, 0, 0); /* DPL0: INT 0x80 from CPL3 is #GP */
	gate(0x81, H_81, 0xf, 3, 0);
	wr(USER_CODE, code, len);

	struct cpu_state *s = &cpu->state;
	s->cr0 = 0x80010033;
	s->cr3 = 0x1000;
	s->cr4 = 0x20;
	s->efer = 0xd00;
	s->gdt = (struct cpu_dtable){GDT, 0x27};
	s->idt = (struct cpu_dtable){IDT, 0xfff};
	s->seg[SEG_TR] = (struct cpu_segment){
	    .base = TSS, .limit = 0x67, .selector = 0x28, .type = 11, .present = 1};
	s->seg[SEG_CS] = cpu_segment_flat(0x1b, true, true);
	s->seg[SEG_CS].dpl = 3;
	s->seg[SEG_SS] = cpu_segment_flat(0x23, false, true);
	s->seg[SEG_SS].dpl = 3;
	s->rip = USER_CODE;
	s->gpr[GPR_RSP] = USER_RSP;
	s->rflags = 0x202;
}

static void test_divide_error_switches_to_rsp0(void)
{
	static const uint8_t code[] = {0x31, 0xc9, 0xf7, 0xf1}; /* xor ecx,ecx; div ecx */
	setup_long(code, sizeof code);
	CHECK_EQ(soft_cpu_run(cpu, 100), SOFT_EXIT_HLT);
	const struct cpu_state *s = &cpu->state;
	CHECK_EQ(s->rip, H_DE + 1);
	CHECK_EQ(s->seg[SEG_CS].selector, 0x08);
	CHECK_EQ(s->seg[SEG_SS].selector, 0);
	CHECK_EQ(s->gpr[GPR_RSP], RSP0 - 40);
	CHECK_EQ(rd64(RSP0 - 40), USER_CODE + 2); /* RIP of the DIV */
	CHECK_EQ(rd64(RSP0 - 32), 0x1b);          /* CS */
	CHECK(rd64(RSP0 - 24) & 0x10000);         /* RFLAGS with RF */
	CHECK(rd64(RSP0 - 24) & 0x200);           /* IF as it was */
	CHECK_EQ(rd64(RSP0 - 16), USER_RSP);      /* RSP */
	CHECK_EQ(rd64(RSP0 - 8), 0x23);           /* SS */
	CHECK(!(s->rflags & 0x200));              /* interrupt gate: IF cleared */
}

static void test_int3_iretq_and_invalid_opcode(void)
{
	/* int3; mov eax, 42; ud2 */
	static const uint8_t code[] = {0xcc, 0xb8, 0x2a, 0x00, 0x00, 0x00, 0x0f, 0x0b};
	setup_long(code, sizeof code);
	CHECK_EQ(soft_cpu_run(cpu, 100), SOFT_EXIT_HLT);
	const struct cpu_state *s = &cpu->state;
	CHECK_EQ(s->gpr[GPR_RAX], 42); /* IRETQ came back to CPL3 past the INT3 */
	CHECK_EQ(s->rip, H_UD + 1);
	CHECK_EQ(rd64(RSP0 - 40), USER_CODE + 6); /* RIP of the UD2 */
	CHECK_EQ(rd64(RSP0 - 16), USER_RSP);      /* the user stack survived the round trip */
}

static void test_page_fault_error_code_and_cr2(void)
{
	/* mov eax, [0x80000000]: beyond the mapped GiB */
	static const uint8_t code[] = {0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x80};
	setup_long(code, sizeof code);
	CHECK_EQ(soft_cpu_run(cpu, 100), SOFT_EXIT_HLT);
	const struct cpu_state *s = &cpu->state;
	CHECK_EQ(s->rip, H_PF + 1);
	CHECK_EQ(s->cr2, 0xffffffff80000000ULL); /* disp32 is sign-extended */
	CHECK_EQ(s->gpr[GPR_RSP], RSP0 - 48);
	CHECK_EQ(rd64(RSP0 - 48), 4); /* error code: user read, not present */
	CHECK_EQ(rd64(RSP0 - 40), USER_CODE);
}

static void test_software_interrupt_gate_dpl(void)
{
	static const uint8_t code[] = {0xcd, 0x80}; /* int 0x80 through a DPL0 gate */
	setup_long(code, sizeof code);
	CHECK_EQ(soft_cpu_run(cpu, 100), SOFT_EXIT_HLT);
	CHECK_EQ(cpu->state.rip, H_GP + 1);
	CHECK_EQ(rd64(RSP0 - 48), 0x80 * 8 + 2); /* #GP(IDT entry, IDT bit) */
	CHECK_EQ(rd64(RSP0 - 40), USER_CODE);    /* a fault of the INT itself */

	static const uint8_t code2[] = {0xcd, 0x81}; /* a DPL3 trap gate */
	setup_long(code2, sizeof code2);
	CHECK_EQ(soft_cpu_run(cpu, 100), SOFT_EXIT_HLT);
	CHECK_EQ(cpu->state.rip, H_81 + 1);
	CHECK_EQ(cpu->state.gpr[GPR_RSP], RSP0 - 40); /* no error code */
	CHECK_EQ(rd64(RSP0 - 40), USER_CODE + 2);     /* returns past the INT */
	CHECK(cpu->state.rflags & 0x200);             /* trap gate: IF kept */
	CHECK(!(rd64(RSP0 - 24) & 0x10000));          /* a trap: no RF */
}

static void test_double_and_triple_fault(void)
{
	/* RSP0 not mapped: #DE's frame faults (#PF), whose frame faults too:
	 * #DF, delivered on the IST1 stack. */
	static const uint8_t code[] = {0x31, 0xc9, 0xf7, 0xf1};
	setup_long(code, sizeof code);
	wr64(TSS + 4, 0x80001000ULL);
	CHECK_EQ(soft_cpu_run(cpu, 100), SOFT_EXIT_HLT);
	CHECK_EQ(cpu->state.rip, H_DF + 1);
	CHECK_EQ(cpu->state.gpr[GPR_RSP], IST1 - 48);
	CHECK_EQ(rd64(IST1 - 48), 0); /* #DF's error code */
	CHECK_EQ(rd64(IST1 - 40), USER_CODE + 2);
	CHECK_EQ(cpu->state.cr2, 0x80000ff8ULL);

	/* no IDT at all: #DE -> #GP -> #DF -> triple fault */
	setup_long(code, sizeof code);
	cpu->state.idt.limit = 0;
	CHECK_EQ(soft_cpu_run(cpu, 100), SOFT_EXIT_SHUTDOWN);
}

static void test_real_mode_ivt_and_iret(void)
{
	static const uint8_t zero[0x10000];
	wr(0, zero, sizeof zero);
	soft_cpu_init(cpu, &mem, NULL);
	struct cpu_state *s = &cpu->state;
	s->seg[SEG_CS].base = 0;
	s->seg[SEG_CS].selector = 0;
	s->rip = 0x7c00;
	s->gpr[GPR_RSP] = 0x7000;
	s->idt = (struct cpu_dtable){0, 0x3ff};
	uint32_t vec3 = 0x0600; /* 0000:0600 */
	wr(3 * 4, &vec3, 4);
	const uint8_t handler[] = {0xb3, 0x07, 0xcf};          /* mov bl, 7; iret */
	const uint8_t code[] = {0xcc, 0xb8, 0x2a, 0x00, 0xf4}; /* int3; mov ax, 42; hlt */
	wr(0x600, handler, sizeof handler);
	wr(0x7c00, code, sizeof code);
	CHECK_EQ(soft_cpu_run(cpu, 100), SOFT_EXIT_HLT);
	CHECK_EQ(s->gpr[GPR_RAX] & 0xffff, 42);
	CHECK_EQ(s->gpr[GPR_RBX] & 0xff, 7);
	CHECK_EQ(s->gpr[GPR_RSP], 0x7000);
	CHECK_EQ(s->rip, 0x7c05);
	uint16_t ip = 0;
	mem_read(&mem, 0x7000 - 6, &ip, 2);
	CHECK_EQ(ip, 0x7c01); /* the pushed return address, past the INT3 */
}

static void test_external_interrupt_and_sti_shadow(void)
{
	/* cli; sti; nop; jmp $ (IOPL 3 lets CPL3 use CLI/STI) */
	static const uint8_t code[] = {0xfa, 0xfb, 0x90, 0xeb, 0xfe};
	setup_long(code, sizeof code);
	cpu->state.rflags = 0x3202;
	CHECK_EQ(soft_cpu_run(cpu, 1), SOFT_EXIT_LIMIT);
	CHECK(!soft_cpu_interrupt_window(cpu)); /* after CLI */
	CHECK_EQ(soft_cpu_run(cpu, 1), SOFT_EXIT_LIMIT);
	CHECK(!soft_cpu_interrupt_window(cpu)); /* STI's shadow */
	CHECK_EQ(soft_cpu_run(cpu, 1), SOFT_EXIT_LIMIT);
	CHECK(soft_cpu_interrupt_window(cpu));
	CHECK_EQ(soft_cpu_run(cpu, 10), SOFT_EXIT_LIMIT); /* spinning on jmp $ */
	CHECK_EQ(cpu->state.rip, USER_CODE + 3);
	/* external: the gate's DPL does not apply; no RF; RIP of the next
	 * instruction to run */
	CHECK_EQ(soft_cpu_inject_interrupt(cpu, 0x80), 0);
	CHECK_EQ(soft_cpu_run(cpu, 10), SOFT_EXIT_HLT);
	CHECK_EQ(cpu->state.rip, H_81 + 1);
	CHECK_EQ(rd64(RSP0 - 40), USER_CODE + 3);
	CHECK(!(rd64(RSP0 - 24) & 0x10000));
	CHECK(!(cpu->state.rflags & 0x200)); /* interrupt gate */

	/* at IOPL 0, CLI from CPL3 is #GP */
	setup_long(code, sizeof code);
	CHECK_EQ(soft_cpu_run(cpu, 10), SOFT_EXIT_HLT);
	CHECK_EQ(cpu->state.rip, H_GP + 1);
	CHECK_EQ(rd64(RSP0 - 40), USER_CODE);
}

static void gate32(unsigned vector, uint32_t target, unsigned type, unsigned dpl)
{
	uint64_t g = (target & 0xffff) | (0x08ULL << 16) | ((uint64_t)type << 40) |
	             ((uint64_t)dpl << 45) | (1ULL << 47) | ((uint64_t)(target >> 16) << 48);
	wr64(IDT + vector * 8, g);
}

/* 32-bit protected mode, paging off: CPL3 code faults into CPL0 handlers
 * through 32-bit gates, with SS0:ESP0 from a 32-bit TSS; INT3 returns with
 * IRETD to CPL3. */
static void test_protected_mode_delivery(void)
{
	static const uint8_t zero[0x30000];
	wr(0, zero, sizeof zero);
	soft_cpu_init(cpu, &mem, NULL);
	wr64(GDT + 0x08, 0x00cf9a000000ffffULL); /* code, DPL0, 4G */
	wr64(GDT + 0x10, 0x00cf92000000ffffULL); /* data, DPL0 */
	wr64(GDT + 0x18, 0x00cffa000000ffffULL); /* code, DPL3 */
	wr64(GDT + 0x20, 0x00cff2000000ffffULL); /* data, DPL3 */
	uint32_t esp0 = (uint32_t)RSP0, ss0 = 0x10;
	wr(TSS + 4, &esp0, 4);
	wr(TSS + 8, &ss0, 4);
	const uint8_t hlt = 0xf4, iretd = 0xcf;
	wr(H_UD, &hlt, 1);
	wr(H_BP, &iretd, 1);
	gate32(3, (uint32_t)H_BP, 0xf, 3);
	gate32(6, (uint32_t)H_UD, 0xe, 0);
	/* int3; mov eax, 42; ud2 */
	static const uint8_t code[] = {0xcc, 0xb8, 0x2a, 0x00, 0x00, 0x00, 0x0f, 0x0b};
	wr(USER_CODE, code, sizeof code);
	struct cpu_state *s = &cpu->state;
	s->cr0 = 0x11;
	s->gdt = (struct cpu_dtable){GDT, 0x27};
	s->idt = (struct cpu_dtable){IDT, 0x7ff};
	s->seg[SEG_TR] = (struct cpu_segment){
	    .base = TSS, .limit = 0x67, .selector = 0x28, .type = 11, .present = 1};
	s->seg[SEG_CS] = cpu_segment_flat(0x1b, true, false);
	s->seg[SEG_CS].dpl = 3;
	s->seg[SEG_SS] = cpu_segment_flat(0x23, false, false);
	s->seg[SEG_SS].dpl = 3;
	s->seg[SEG_DS] = s->seg[SEG_ES] = s->seg[SEG_SS];
	s->rip = USER_CODE;
	s->gpr[GPR_RSP] = USER_RSP;
	s->rflags = 0x202;
	CHECK_EQ(soft_cpu_run(cpu, 100), SOFT_EXIT_HLT);
	CHECK_EQ(s->gpr[GPR_RAX], 42);
	CHECK_EQ(s->rip, H_UD + 1);
	CHECK_EQ(s->seg[SEG_CS].selector, 0x08);
	CHECK_EQ(s->seg[SEG_SS].selector, 0x10);
	CHECK_EQ(s->gpr[GPR_RSP], RSP0 - 20);
	uint32_t frame[5];
	mem_read(&mem, RSP0 - 20, frame, sizeof frame);
	CHECK_EQ(frame[0], USER_CODE + 6); /* EIP of the UD2 */
	CHECK_EQ(frame[1], 0x1b);
	CHECK(frame[2] & 0x10000);    /* RF: a fault */
	CHECK_EQ(frame[3], USER_RSP); /* back on the user stack after IRETD */
	CHECK_EQ(frame[4], 0x23);
}

int main(void)
{
	struct error err;
	if (mem_init(&mem, 16ULL << 20, false, &err) != 0) {
		printf("mem_init: %s\n", err.msg);
		return 1;
	}
	cpu = calloc(1, sizeof *cpu);
	RUN(test_divide_error_switches_to_rsp0);
	RUN(test_int3_iretq_and_invalid_opcode);
	RUN(test_page_fault_error_code_and_cr2);
	RUN(test_software_interrupt_gate_dpl);
	RUN(test_double_and_triple_fault);
	RUN(test_real_mode_ivt_and_iret);
	RUN(test_external_interrupt_and_sti_shadow);
	RUN(test_protected_mode_delivery);
	free(cpu);
	mem_destroy(&mem);
	TEST_DONE();
}
