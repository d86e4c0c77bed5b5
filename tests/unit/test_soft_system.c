/* System instructions along the path a Multiboot kernel takes into long
 * mode (the project's test kernel does exactly this): from flat 32-bit
 * protected mode, MOV CR3/CR4, RDMSR/WRMSR EFER, MOV CR0 (paging on: long
 * mode active), LGDT, a far JMP to a 64-bit code segment, segment loads,
 * LIDT, LTR, the SYSCALL MSRs, IRETQ to CPL3, SYSCALL, SWAPGS, SYSRETQ, and
 * a second SYSCALL that stops in the kernel. Plus the #GP/#UD cases of
 * privileged instructions, MOV CR8/DR, INVLPG and far returns. */
#include <stdlib.h>

#include "engine/soft/soft.h"
#include "test.h"

static struct guest_mem mem;
static struct soft_cpu *cpu;

/* Assembled from the sequence above (GNU as, linked at 0x10000):
 *	.code32: mov $0x1000,%eax; mov %eax,%cr3; cr4 |= PAE; EFER |= LME|NXE|SCE;
 *	cr0 |= PG|WP|PE; lgdt gdtr; ljmp $0x08,$long_entry
 *	.code64 long_entry: ds=es=ss=0x10; fs=0; rsp=0x9000; lidt idtr; ltr $0x38;
 *	STAR=0x00180008:0; LSTAR=syscall_entry; SFMASK=0x200; KERNEL_GS_BASE=0x5555;
 *	iretq to 0x2b:user_code with ss:rsp 0x23:0x8000, rflags 0x202
 *	user_code (0x100a5): mov $7,%edi; syscall; mov %eax,%ebx; mov $8,%edi; syscall
 *	syscall_entry (0x100b5): swapgs; cmp $8,%edi; je done; mov $99,%eax; swapgs; sysretq
 *	done (0x100c8): rdmsr GS_BASE; hlt
 *	gdtr (0x100d0): 0x47, 0x3000; idtr: 0xfff, 0x5000 */
static const uint8_t boot[] = {
    0xb8, 0x00, 0x10, 0x00, 0x00, 0x0f, 0x22, 0xd8, 0x0f, 0x20, 0xe0, 0x83, 0xc8, 0x20, 0x0f, 0x22,
    0xe0, 0xb9, 0x80, 0x00, 0x00, 0xc0, 0x0f, 0x32, 0x0d, 0x01, 0x09, 0x00, 0x00, 0x0f, 0x30, 0x0f,
    0x20, 0xc0, 0x0d, 0x01, 0x00, 0x01, 0x80, 0x0f, 0x22, 0xc0, 0x0f, 0x01, 0x15, 0xd0, 0x00, 0x01,
    0x00, 0xea, 0x38, 0x00, 0x01, 0x00, 0x08, 0x00, 0x66, 0xb8, 0x10, 0x00, 0x8e, 0xd8, 0x8e, 0xc0,
    0x8e, 0xd0, 0x31, 0xc0, 0x8e, 0xe0, 0x48, 0xc7, 0xc4, 0x00, 0x90, 0x00, 0x00, 0x0f, 0x01, 0x1c,
    0x25, 0xda, 0x00, 0x01, 0x00, 0x66, 0xb8, 0x38, 0x00, 0x0f, 0x00, 0xd8, 0xb9, 0x81, 0x00, 0x00,
    0xc0, 0x31, 0xc0, 0xba, 0x08, 0x00, 0x18, 0x00, 0x0f, 0x30, 0xb9, 0x82, 0x00, 0x00, 0xc0, 0xb8,
    0xb5, 0x00, 0x01, 0x00, 0x31, 0xd2, 0x0f, 0x30, 0xb9, 0x84, 0x00, 0x00, 0xc0, 0xb8, 0x00, 0x02,
    0x00, 0x00, 0x0f, 0x30, 0xb9, 0x02, 0x01, 0x00, 0xc0, 0xb8, 0x55, 0x55, 0x00, 0x00, 0x0f, 0x30,
    0x6a, 0x23, 0x68, 0x00, 0x80, 0x00, 0x00, 0x68, 0x02, 0x02, 0x00, 0x00, 0x6a, 0x2b, 0x68, 0xa5,
    0x00, 0x01, 0x00, 0x48, 0xcf, 0xbf, 0x07, 0x00, 0x00, 0x00, 0x0f, 0x05, 0x89, 0xc3, 0xbf, 0x08,
    0x00, 0x00, 0x00, 0x0f, 0x05, 0x0f, 0x01, 0xf8, 0x83, 0xff, 0x08, 0x74, 0x0b, 0xb8, 0x63, 0x00,
    0x00, 0x00, 0x0f, 0x01, 0xf8, 0x48, 0x0f, 0x07, 0xb9, 0x01, 0x01, 0x00, 0xc0, 0x0f, 0x32, 0xf4,
    0x47, 0x00, 0x00, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x0f, 0x00, 0x50, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
};

static void wr64(uint64_t gpa, uint64_t v)
{
	mem_write(&mem, gpa, &v, 8);
}
static uint64_t rd64(uint64_t gpa)
{
	uint64_t v = 0;
	mem_read(&mem, gpa, &v, 8);
	return v;
}

static void setup_protected(void)
{
	static const uint8_t zero[0x20000];
	mem_write(&mem, 0, zero, sizeof zero);
	soft_cpu_init(cpu, &mem, NULL);
	struct cpu_state *s = &cpu->state;
	s->cr0 = 0x11;
	s->seg[SEG_CS] = cpu_segment_flat(0x10, true, false);
	s->seg[SEG_SS] = cpu_segment_flat(0x18, false, false);
	s->seg[SEG_DS] = s->seg[SEG_ES] = s->seg[SEG_SS];
	s->rip = 0x10000;
	s->gpr[GPR_RSP] = 0x7000;
}

static void test_boot_to_long_mode_and_syscall(void)
{
	setup_protected();
	mem_write(&mem, 0x10000, boot, sizeof boot);
	wr64(0x1000, 0x2000 | 7);
	wr64(0x2000, 0x87);                         /* 1 GiB, user */
	wr64(0x3000 + 0x08, 0x00af9a000000ffffULL); /* kernel code, 64-bit */
	wr64(0x3000 + 0x10, 0x00cf92000000ffffULL); /* kernel data */
	wr64(0x3000 + 0x18, 0x00cffa000000ffffULL); /* user code, 32-bit */
	wr64(0x3000 + 0x20, 0x00cff2000000ffffULL); /* user data */
	wr64(0x3000 + 0x28, 0x00affa000000ffffULL); /* user code, 64-bit */
	wr64(0x3000 + 0x38, 0x0000890040000067ULL); /* TSS at 0x4000, available */
	wr64(0x3000 + 0x40, 0);
	CHECK_EQ(soft_cpu_run(cpu, 1000), SOFT_EXIT_HLT);
	const struct cpu_state *s = &cpu->state;
	CHECK(s->efer & (1ULL << 10)); /* LMA */
	CHECK_EQ(cpu->mode, SOFT_MODE_64);
	CHECK_EQ(cpu->cpl, 0);
	CHECK_EQ(s->seg[SEG_CS].selector, 0x08);
	CHECK_EQ(s->seg[SEG_SS].selector, 0x10);
	CHECK_EQ(s->gpr[GPR_RBX], 99);            /* the first SYSCALL's answer, after SYSRETQ */
	CHECK_EQ(s->gpr[GPR_RAX], 0x5555);        /* GS base after SWAPGS */
	CHECK_EQ(s->gpr[GPR_R11] & 0x200, 0x200); /* user RFLAGS saved by SYSCALL */
	CHECK(!(s->rflags & 0x200));              /* SFMASK cleared IF */
	CHECK_EQ(s->seg[SEG_TR].selector, 0x38);
	CHECK_EQ(s->seg[SEG_TR].base, 0x4000);
	CHECK_EQ((rd64(0x3038) >> 40) & 0xf, 0xb); /* the TSS is now busy */
	CHECK(rd64(0x3010) & (1ULL << 40));        /* accessed bit set on the data segment */
	CHECK_EQ(s->gdt.base, 0x3000);
	CHECK_EQ(s->idt.limit, 0xfff);
	CHECK(s->seg[SEG_FS].unusable);
}

static void test_privileged_at_cpl3(void)
{
	/* mov cr3, rax / wrmsr / lgdt / invlpg / swapgs / hlt: each #GP at CPL3 */
	static const uint8_t insns[][8] = {
	    {0x0f, 0x22, 0xd8}, {0x0f, 0x30}, {0x0f, 0x01, 0x10}, {0x0f, 0x01, 0x38},
	    {0x0f, 0x01, 0xf8}, {0xf4},       {0x0f, 0x20, 0xc0}, {0x0f, 0x23, 0xf8}};
	for (unsigned k = 0; k < sizeof insns / sizeof insns[0]; k++) {
		setup_protected();
		struct cpu_state *s = &cpu->state;
		/* 64-bit CPL3 with identity paging */
		wr64(0x1000, 0x2000 | 7);
		wr64(0x2000, 0x87);
		s->cr0 = 0x80010011;
		s->cr3 = 0x1000;
		s->cr4 = 0x20;
		s->efer = 0xd01;
		s->seg[SEG_CS] = cpu_segment_flat(0x2b, true, true);
		s->seg[SEG_CS].dpl = 3;
		s->seg[SEG_SS].dpl = 3;
		mem_write(&mem, 0x10000, insns[k], sizeof insns[k]);
		cpu->report_exceptions = true;
		CHECK_EQ(soft_cpu_run(cpu, 1), SOFT_EXIT_EXCEPTION);
		CHECK_EQ(cpu->exc.vector, SOFT_GP);
		CHECK_EQ(s->rip, 0x10000);
	}
}

static void test_control_and_debug_registers(void)
{
	setup_protected();
	struct cpu_state *s = &cpu->state;
	/* mov eax, 0x12345678; mov dr3, eax; mov ecx, dr3; mov dr7, eax... and
	 * mov cr2, eax; mov edx, cr2; hlt */
	static const uint8_t code[] = {0xb8, 0x78, 0x56, 0x34, 0x12, 0x0f, 0x23, 0xd8, 0x0f,
	                               0x21, 0xd9, 0x0f, 0x22, 0xd0, 0x0f, 0x20, 0xd2, 0xf4};
	mem_write(&mem, 0x10000, code, sizeof code);
	CHECK_EQ(soft_cpu_run(cpu, 10), SOFT_EXIT_HLT);
	CHECK_EQ(s->dr[3], 0x12345678);
	CHECK_EQ(s->gpr[GPR_RCX], 0x12345678);
	CHECK_EQ(s->cr2, 0x12345678);
	CHECK_EQ(s->gpr[GPR_RDX], 0x12345678);
	/* CR0.PG without PE is #GP; CR4 reserved bits are #GP */
	setup_protected();
	static const uint8_t bad[] = {0xb8, 0x00, 0x00, 0x00, 0x80, 0x0f, 0x22, 0xc0};
	mem_write(&mem, 0x10000, bad, sizeof bad);
	cpu->report_exceptions = true;
	CHECK_EQ(soft_cpu_run(cpu, 2), SOFT_EXIT_EXCEPTION);
	CHECK_EQ(cpu->exc.vector, SOFT_GP);
	CHECK_EQ(s->rip, 0x10005);
}

static void test_far_call_and_return(void)
{
	/* 32-bit: call far 0x10:0x10100; at 0x10100: mov eax, 5; retf. Then hlt */
	setup_protected();
	struct cpu_state *s = &cpu->state;
	wr64(0x3000 + 0x10, 0x00cf9a000000ffffULL); /* code, DPL0, 32-bit */
	wr64(0x3000 + 0x18, 0x00cf92000000ffffULL);
	s->gdt = (struct cpu_dtable){0x3000, 0x1f};
	static const uint8_t code[] = {0x9a, 0x00, 0x01, 0x01, 0x00, 0x10, 0x00, 0xf4};
	static const uint8_t far[] = {0xb8, 0x05, 0x00, 0x00, 0x00, 0xcb};
	mem_write(&mem, 0x10000, code, sizeof code);
	mem_write(&mem, 0x10100, far, sizeof far);
	CHECK_EQ(soft_cpu_run(cpu, 10), SOFT_EXIT_HLT);
	CHECK_EQ(s->gpr[GPR_RAX], 5);
	CHECK_EQ(s->rip, 0x10008);
	CHECK_EQ(s->gpr[GPR_RSP], 0x7000);
	/* a far jump to a data segment is #GP(selector) */
	setup_protected();
	wr64(0x3000 + 0x18, 0x00cf92000000ffffULL);
	s->gdt = (struct cpu_dtable){0x3000, 0x1f};
	static const uint8_t badjmp[] = {0xea, 0x00, 0x01, 0x01, 0x00, 0x18, 0x00};
	mem_write(&mem, 0x10000, badjmp, sizeof badjmp);
	cpu->report_exceptions = true;
	CHECK_EQ(soft_cpu_run(cpu, 1), SOFT_EXIT_EXCEPTION);
	CHECK_EQ(cpu->exc.vector, SOFT_GP);
	CHECK_EQ(cpu->exc.error, 0x18);
}

static void test_invlpg_and_mov_ss_shadow(void)
{
	setup_protected();
	struct cpu_state *s = &cpu->state;
	wr64(0x1000, 0x2000 | 7);
	wr64(0x2000, 0x3000 | 7);
	wr64(0x3000, 0x4000 | 7); /* PD[0] -> PT at 0x4000 */
	for (uint64_t k = 0; k < 512; k++)
		wr64(0x4000 + k * 8, (k << 12) | 7);
	wr64(0x4000 + 0x50 * 8, 0x60000 | 7); /* page 0x50000 -> frame 0x60000 */
	wr64(0x5000 + 0x10, 0x00cf92000000ffffULL);
	s->gdt = (struct cpu_dtable){0x5000, 0x17};
	s->cr0 = 0x80010011;
	s->cr3 = 0x1000;
	s->cr4 = 0x20;
	s->efer = 0x500; /* LME LMA */
	s->seg[SEG_CS] = cpu_segment_flat(0x08, true, true);
	/* mov eax, [0x50000]; invlpg [0x50000]; mov eax, [0x50000]; mov ss, cx; hlt */
	static const uint8_t code[] = {0x8b, 0x04, 0x25, 0x00, 0x00, 0x05, 0x00, 0x0f, 0x01,
	                               0x3c, 0x25, 0x00, 0x00, 0x05, 0x00, 0x8b, 0x1c, 0x25,
	                               0x00, 0x00, 0x05, 0x00, 0x8e, 0xd1, 0xf4};
	mem_write(&mem, 0x10000, code, sizeof code);
	uint32_t a = 0xaaaa, b = 0xbbbb;
	mem_write(&mem, 0x60000, &a, 4);
	mem_write(&mem, 0x70000, &b, 4);
	s->gpr[GPR_RCX] = 0x10;
	CHECK_EQ(soft_cpu_run(cpu, 1), SOFT_EXIT_LIMIT);
	CHECK_EQ(s->gpr[GPR_RAX], 0xaaaa);
	wr64(0x4000 + 0x50 * 8, 0x70000 | 7); /* remap; stale until INVLPG */
	CHECK_EQ(soft_cpu_run(cpu, 2), SOFT_EXIT_LIMIT);
	CHECK_EQ(s->gpr[GPR_RBX], 0xbbbb);
	CHECK_EQ(soft_cpu_run(cpu, 1), SOFT_EXIT_LIMIT); /* mov ss */
	CHECK_EQ(s->seg[SEG_SS].selector, 0x10);
	CHECK(!soft_cpu_interrupt_window(cpu) || !(s->rflags & 0x200));
}

/* INVPCID: each type drops what it should (the page mapped at 0x50000 is
 * remapped behind the TLB's back, so a stale entry reads the old frame),
 * and the #GP/#UD cases. */
static void invpcid_setup(uint64_t pte_flags)
{
	setup_protected();
	struct cpu_state *s = &cpu->state;
	wr64(0x1000, 0x2000 | 7);
	wr64(0x2000, 0x3000 | 7);
	wr64(0x3000, 0x4000 | 7);
	for (uint64_t k = 0; k < 512; k++)
		wr64(0x4000 + k * 8, (k << 12) | 7);
	wr64(0x4000 + 0x50 * 8, 0x60000 | pte_flags);
	s->cr0 = 0x80010011;
	s->cr3 = 0x1000;
	s->cr4 = 0x20 | 0x80 | 0x20000; /* PAE PGE PCIDE */
	s->efer = 0x500;
	s->seg[SEG_CS] = cpu_segment_flat(0x08, true, true);
	/* mov 0x50000,%eax; invpcid (%rdi),%rsi; mov 0x50000,%ebx; hlt */
	static const uint8_t code[] = {0x8b, 0x04, 0x25, 0x00, 0x00, 0x05, 0x00, 0x66, 0x0f, 0x38,
	                               0x82, 0x37, 0x8b, 0x1c, 0x25, 0x00, 0x00, 0x05, 0x00, 0xf4};
	mem_write(&mem, 0x10000, code, sizeof code);
	uint32_t a = 0xaaaa, b = 0xbbbb;
	mem_write(&mem, 0x60000, &a, 4);
	mem_write(&mem, 0x70000, &b, 4);
	s->gpr[GPR_RDI] = 0x8000; /* the descriptor */
	cpu->report_exceptions = true;
}

/* Run to the INVPCID, remap the page, run the rest: what did EBX read? */
static uint64_t invpcid_run(uint64_t type, uint64_t pcid, uint64_t la, uint64_t pte_flags)
{
	struct cpu_state *s = &cpu->state;
	wr64(0x8000, pcid);
	wr64(0x8008, la);
	s->gpr[GPR_RSI] = type;
	if (soft_cpu_run(cpu, 1) != SOFT_EXIT_LIMIT || s->gpr[GPR_RAX] != 0xaaaa)
		return 0;
	wr64(0x4000 + 0x50 * 8, 0x70000 | pte_flags);
	enum soft_exit e = soft_cpu_run(cpu, 5);
	if (e != SOFT_EXIT_HLT)
		return e == SOFT_EXIT_EXCEPTION ? 0x1000u | cpu->exc.vector : 0;
	return s->gpr[GPR_RBX];
}

static void test_invpcid(void)
{
	uint32_t r[4];
	soft_cpuid(cpu, 7, 0, r);
	CHECK(r[1] & (1u << 10)); /* advertised */
	/* type 0: this address, this PCID */
	invpcid_setup(7);
	CHECK_EQ(invpcid_run(0, 0, 0x50000, 7), 0xbbbb);
	invpcid_setup(7);
	CHECK_EQ(invpcid_run(0, 0, 0x51000, 7), 0xaaaa); /* another page: stale */
	/* type 1: the current PCID (0) */
	invpcid_setup(7);
	CHECK_EQ(invpcid_run(1, 0, 0, 7), 0xbbbb);
	/* types 3 and 2 with a global page: only 2 drops it */
	invpcid_setup(7 | 0x100);
	CHECK_EQ(invpcid_run(3, 0, 0, 7 | 0x100), 0xaaaa);
	invpcid_setup(7 | 0x100);
	CHECK_EQ(invpcid_run(2, 0, 0, 7 | 0x100), 0xbbbb);
	invpcid_setup(7);
	CHECK_EQ(invpcid_run(3, 0, 0, 7), 0xbbbb);
	/* #GP(0): type 4, reserved descriptor bits, a non-canonical address,
	 * a PCID without CR4.PCIDE, CPL3 */
	invpcid_setup(7);
	CHECK_EQ(invpcid_run(4, 0, 0, 7), 0x1000u | SOFT_GP);
	invpcid_setup(7);
	CHECK_EQ(invpcid_run(1, 0x1000, 0, 7), 0x1000u | SOFT_GP);
	invpcid_setup(7);
	CHECK_EQ(invpcid_run(0, 0, 0x0000800000000000ULL, 7), 0x1000u | SOFT_GP);
	invpcid_setup(7);
	cpu->state.cr4 &= ~0x20000ULL;
	CHECK_EQ(invpcid_run(1, 5, 0, 7), 0x1000u | SOFT_GP);
	invpcid_setup(7);
	cpu->state.seg[SEG_CS].dpl = 3;
	cpu->state.seg[SEG_CS].selector = 0x0b;
	CHECK_EQ(invpcid_run(2, 0, 0, 7), 0x1000u | SOFT_GP);
	/* a register operand is #UD */
	invpcid_setup(7);
	static const uint8_t reg[] = {0x66, 0x0f, 0x38, 0x82, 0xf7};
	mem_write(&mem, 0x10007, reg, sizeof reg);
	CHECK_EQ(invpcid_run(2, 0, 0, 7), 0x1000u | SOFT_UD);
}

static void test_sysenter_sysexit(void)
{
	/* 64-bit CPL3: sysenter -> kernel at 0x10100: mov edx, 0x10010;
	 * mov ecx, 0x8800; rex.w sysexit -> back at CPL3 at 0x10010: hlt (#GP at
	 * CPL3, reported) */
	setup_protected();
	struct cpu_state *s = &cpu->state;
	wr64(0x1000, 0x2000 | 7);
	wr64(0x2000, 0x87);
	s->cr0 = 0x80010011;
	s->cr3 = 0x1000;
	s->cr4 = 0x20;
	s->efer = 0xd01;
	s->seg[SEG_CS] = cpu_segment_flat(0x2b, true, true);
	s->seg[SEG_CS].dpl = 3;
	s->seg[SEG_SS].dpl = 3;
	s->sysenter_cs = 0x08;
	s->sysenter_esp = 0x9000;
	s->sysenter_eip = 0x10100;
	static const uint8_t user[] = {0x0f, 0x34};
	static const uint8_t kernel[] = {0xba, 0x10, 0x00, 0x01, 0x00, 0xb9, 0x00,
	                                 0x88, 0x00, 0x00, 0x48, 0x0f, 0x35};
	const uint8_t hlt = 0xf4;
	mem_write(&mem, 0x10000, user, sizeof user);
	mem_write(&mem, 0x10100, kernel, sizeof kernel);
	mem_write(&mem, 0x10010, &hlt, 1);
	cpu->report_exceptions = true;
	CHECK_EQ(soft_cpu_run(cpu, 1), SOFT_EXIT_LIMIT);
	CHECK_EQ(cpu->cpl, 0);
	CHECK_EQ(s->seg[SEG_CS].selector, 0x08);
	CHECK_EQ(s->seg[SEG_SS].selector, 0x10);
	CHECK_EQ(s->gpr[GPR_RSP], 0x9000);
	CHECK_EQ(s->rip, 0x10100);
	CHECK_EQ(soft_cpu_run(cpu, 3), SOFT_EXIT_LIMIT);
	CHECK_EQ(cpu->cpl, 3);
	CHECK_EQ(s->seg[SEG_CS].selector, 0x08 + 32 + 3);
	CHECK_EQ(s->gpr[GPR_RSP], 0x8800);
	CHECK_EQ(soft_cpu_run(cpu, 1), SOFT_EXIT_EXCEPTION); /* HLT at CPL3 */
	CHECK_EQ(cpu->exc.vector, SOFT_GP);
	CHECK_EQ(s->rip, 0x10010);
}

int main(void)
{
	struct error err;
	if (mem_init(&mem, 16ULL << 20, false, &err) != 0) {
		printf("mem_init: %s\n", err.msg);
		return 1;
	}
	cpu = calloc(1, sizeof *cpu);
	RUN(test_boot_to_long_mode_and_syscall);
	RUN(test_privileged_at_cpl3);
	RUN(test_control_and_debug_registers);
	RUN(test_far_call_and_return);
	RUN(test_invlpg_and_mov_ss_shadow);
	RUN(test_sysenter_sysexit);
	RUN(test_invpcid);
	free(cpu);
	mem_destroy(&mem);
	TEST_DONE();
}
