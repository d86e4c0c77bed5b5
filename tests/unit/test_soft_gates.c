/* Far transfers on the soft engine: call gates with and without a privilege
 * change (a 64-bit gate from CPL3 to CPL0 and RETFQ back, a 32-bit gate
 * copying parameters and RETF imm16 releasing them), the error codes of
 * every way a gate transfer or an outer RETF can fail, conforming code,
 * segment limits for code fetch, branches and data, and real-mode far
 * CALL/RETF. */
#include "soft_fixture.h"

#define FL_NT_TEST 0x4000ULL

/* 64-bit CPL3 code: lcall *ptr(%rip); mov %ds,%r8d; mov %es,%r9d; ud2;
 * ptr: .long 0x12345678, .word 0x4b (the gate; offset ignored) */
static const uint8_t user64_lcall[] = {0xff, 0x1d, 0x08, 0x00, 0x00, 0x00, 0x41, 0x8c, 0xd8, 0x41,
                                       0x8c, 0xc1, 0x0f, 0x0b, 0x78, 0x56, 0x34, 0x12, 0x4b, 0x00};
#define USER64_SEL (CODE + 0x12) /* where the selector of ptr lives */
#define USER64_AFTER (CODE + 6)
#define USER64_UD2 (CODE + 12)

/* 64-bit CPL0 handler: mov %cs,%eax; mov %ss,%ebx; mov %rsp,%rcx;
 * mov $0x10,%edx; mov %edx,%ds; lretq */
static const uint8_t kern64_handler[] = {0x8c, 0xc8, 0x8c, 0xd3, 0x48, 0x89, 0xe1, 0xba,
                                         0x10, 0x00, 0x00, 0x00, 0x8e, 0xda, 0x48, 0xcb};

static void set_gate64(uint16_t sel, uint16_t target_sel, uint64_t target, unsigned dpl)
{
	wr64(GDT + sel, gate_desc(target_sel, target, 0xc, dpl, 0));
	wr64(GDT + sel + 8, target >> 32);
}

static void test_call_gate64_to_ring0_and_back(void)
{
	setup_long(3);
	struct cpu_state *s = &cpu->state;
	set_gate64(0x48, 0x08, HANDLER, 3);
	put(CODE, user64_lcall, sizeof user64_lcall);
	put(HANDLER, kern64_handler, sizeof kern64_handler);
	/* the call itself: CPL0 on the TSS's RSP0, null SS, frame of 8-byte slots */
	CHECK_EQ(soft_cpu_run(cpu, 1), SOFT_EXIT_LIMIT);
	CHECK_EQ(cpu->cpl, 0);
	CHECK_EQ(s->seg[SEG_CS].selector, 0x08);
	CHECK_EQ(s->seg[SEG_SS].selector, 0);
	CHECK(s->seg[SEG_SS].unusable);
	CHECK_EQ(s->rip, HANDLER);
	CHECK_EQ(s->gpr[GPR_RSP], KSTACK - 32);
	CHECK_EQ(rd64(KSTACK - 8), 0x23);    /* old SS */
	CHECK_EQ(rd64(KSTACK - 16), USTACK); /* old RSP */
	CHECK_EQ(rd64(KSTACK - 24), 0x2b);   /* old CS */
	CHECK_EQ(rd64(KSTACK - 32), USER64_AFTER);
	/* the handler loads DS with a DPL0 segment, and RETFQ goes back out:
	 * DS becomes null, ES (DPL3) stays */
	CHECK(run_to_exception(20, SOFT_UD, ~0u));
	CHECK_EQ(s->rip, USER64_UD2);
	CHECK_EQ(cpu->cpl, 3);
	CHECK_EQ(s->gpr[GPR_RAX], 0x08);
	CHECK_EQ(s->gpr[GPR_RBX], 0);
	CHECK_EQ(s->gpr[GPR_RCX], KSTACK - 32);
	CHECK_EQ(s->seg[SEG_CS].selector, 0x2b);
	CHECK_EQ(s->seg[SEG_SS].selector, 0x23);
	CHECK_EQ(s->gpr[GPR_RSP], USTACK);
	CHECK_EQ(s->gpr[GPR_R8], 0);    /* DS nulled */
	CHECK_EQ(s->gpr[GPR_R9], 0x23); /* ES kept */
}

/* 32-bit CPL3: push $0x1111; push $0x2222; lcall $0x4b,$0; ud2 */
static const uint8_t user32_lcall[] = {0x68, 0x11, 0x11, 0x00, 0x00, 0x68, 0x22, 0x22, 0x00, 0x00,
                                       0x9a, 0x00, 0x00, 0x00, 0x00, 0x4b, 0x00, 0x0f, 0x0b};
/* 32-bit CPL0: mov 8(%esp),%eax; mov 12(%esp),%ebx; mov %ss,%ecx;
 * mov %esp,%edx; lret $8 */
static const uint8_t kern32_handler[] = {0x8b, 0x44, 0x24, 0x08, 0x8b, 0x5c, 0x24, 0x0c,
                                         0x8c, 0xd1, 0x89, 0xe2, 0xca, 0x08, 0x00};

static void test_call_gate32_parameters_and_retf_imm(void)
{
	setup_pm32(3);
	struct cpu_state *s = &cpu->state;
	wr64(GDT + 0x48, gate_desc(0x30, HANDLER, 0xc, 3, 2)); /* two doublewords */
	put(CODE, user32_lcall, sizeof user32_lcall);
	put(HANDLER, kern32_handler, sizeof kern32_handler);
	CHECK_EQ(soft_cpu_run(cpu, 3), SOFT_EXIT_LIMIT);
	CHECK_EQ(cpu->cpl, 0);
	CHECK_EQ(s->seg[SEG_SS].selector, 0x10);
	CHECK_EQ(s->gpr[GPR_RSP], KSTACK - 24);
	CHECK_EQ(rd32(KSTACK - 4), 0x23);       /* old SS */
	CHECK_EQ(rd32(KSTACK - 8), USTACK - 8); /* old ESP, after the two pushes */
	CHECK_EQ(rd32(KSTACK - 12), 0x1111);    /* parameters in their order */
	CHECK_EQ(rd32(KSTACK - 16), 0x2222);
	CHECK_EQ(rd32(KSTACK - 20), 0x1b);        /* old CS */
	CHECK_EQ(rd32(KSTACK - 24), CODE + 0x11); /* return EIP */
	CHECK(run_to_exception(10, SOFT_UD, ~0u));
	CHECK_EQ(s->rip, CODE + 0x11);
	CHECK_EQ(cpu->cpl, 3);
	CHECK_EQ(s->gpr[GPR_RAX], 0x2222);
	CHECK_EQ(s->gpr[GPR_RBX], 0x1111);
	CHECK_EQ(s->gpr[GPR_RCX], 0x10);
	CHECK_EQ(s->gpr[GPR_RDX], KSTACK - 24);
	/* lret $8 released the parameters on both stacks */
	CHECK_EQ(s->gpr[GPR_RSP], USTACK);
	CHECK_EQ(s->seg[SEG_SS].selector, 0x23);
	CHECK_EQ(s->seg[SEG_DS].selector, 0x23);
}

/* A 32-bit gate to code at the same level: no stack switch, CS:EIP pushed. */
static void test_call_gate_same_level(void)
{
	setup_pm32(0);
	struct cpu_state *s = &cpu->state;
	wr64(GDT + 0x48, gate_desc(0x30, HANDLER, 0xc, 3, 2)); /* the selector has RPL 3 */
	put(CODE, user32_lcall, sizeof user32_lcall);
	put(HANDLER, kern32_handler, sizeof kern32_handler);
	CHECK_EQ(soft_cpu_run(cpu, 3), SOFT_EXIT_LIMIT);
	CHECK_EQ(s->gpr[GPR_RSP], KSTACK - 16);
	CHECK_EQ(rd32(KSTACK - 12), 0x30);
	CHECK_EQ(rd32(KSTACK - 16), CODE + 0x11);
	CHECK(run_to_exception(10, SOFT_UD, ~0u));
	CHECK_EQ(s->gpr[GPR_RAX], 0x2222);
	CHECK_EQ(s->gpr[GPR_RSP], KSTACK);
}

/* One failing long-mode gate transfer from CPL3: prepare() changes the
 * fixture, then the lcall must raise vector(error) with nothing changed. */
static void expect_lcall64_fault(const char *what, void (*prepare)(void), unsigned vector,
                                 uint32_t error)
{
	setup_long(3);
	set_gate64(0x48, 0x08, HANDLER, 3);
	put(CODE, user64_lcall, sizeof user64_lcall);
	prepare();
	struct cpu_state before = cpu->state;
	if (!run_to_exception(1, vector, error)) {
		printf("    case: %s\n", what);
		CHECK(0);
		return;
	}
	CHECK_EQ(cpu->state.rip, CODE);
	CHECK_EQ(cpu->state.gpr[GPR_RSP], before.gpr[GPR_RSP]);
	CHECK_EQ(cpu->state.seg[SEG_CS].selector, before.seg[SEG_CS].selector);
	CHECK_EQ(cpu->state.seg[SEG_SS].selector, before.seg[SEG_SS].selector);
}

static void gate_dpl0(void)
{
	set_gate64(0x48, 0x08, HANDLER, 0);
}
static void gate_absent(void)
{
	wr64(GDT + 0x48, rd64(GDT + 0x48) & ~(1ULL << 47));
}
static void gate_upper_type(void)
{
	wr64(GDT + 0x50, 0x0c0000000000ULL); /* a type in the upper half */
}
static void gate_to_data(void)
{
	set_gate64(0x48, 0x10, HANDLER, 3);
}
static void gate_to_code32(void)
{
	set_gate64(0x48, 0x30, HANDLER, 3);
}
static void gate_to_absent_code(void)
{
	wr64(GDT + 0x58, seg_desc(0, 0xfffff, 0xb, 0, SEG_L | SEG_G) & ~(1ULL << 47));
	set_gate64(0x48, 0x58, HANDLER, 3);
}
static void gate_to_null(void)
{
	set_gate64(0x48, 0, HANDLER, 3);
}
static void gate16_in_long_mode(void)
{
	wr64(GDT + 0x48, gate_desc(0x08, HANDLER, 0x4, 3, 0));
}
static void tss_too_short(void)
{
	cpu->state.seg[SEG_TR].limit = 8;
}
static void rsp0_noncanonical(void)
{
	wr64(TSS + 4, 0x0000800000000010ULL); /* the pushes go non-canonical */
}
static void selector_beyond_gdt(void)
{
	wr16(USER64_SEL, 0x1003);
}
static void call_to_tss(void)
{
	wr16(USER64_SEL, 0x3b);
}

static void test_gate_error_codes_long_mode(void)
{
	expect_lcall64_fault("gate DPL < CPL", gate_dpl0, SOFT_GP, 0x48);
	expect_lcall64_fault("gate not present", gate_absent, SOFT_NP, 0x48);
	expect_lcall64_fault("upper half type", gate_upper_type, SOFT_GP, 0x48);
	expect_lcall64_fault("gate to data", gate_to_data, SOFT_GP, 0x10);
	expect_lcall64_fault("gate to 32-bit code", gate_to_code32, SOFT_GP, 0x30);
	expect_lcall64_fault("code not present", gate_to_absent_code, SOFT_NP, 0x58);
	expect_lcall64_fault("null code selector", gate_to_null, SOFT_GP, 0);
	expect_lcall64_fault("16-bit gate", gate16_in_long_mode, SOFT_GP, 0x48);
	expect_lcall64_fault("TSS too short", tss_too_short, SOFT_TS, 0x38);
	expect_lcall64_fault("RSP0 not canonical", rsp0_noncanonical, SOFT_SS, 0);
	expect_lcall64_fault("beyond the GDT", selector_beyond_gdt, SOFT_GP, 0x1000);
	expect_lcall64_fault("TSS in long mode", call_to_tss, SOFT_GP, 0x38);

	/* JMP through a gate cannot raise the privilege: #GP(code selector) */
	setup_long(3);
	set_gate64(0x48, 0x08, HANDLER, 3);
	static const uint8_t ljmp[] = {0xff, 0x2d, 0x00, 0x00, 0x00, 0x00,
	                               0x00, 0x00, 0x00, 0x00, 0x4b, 0x00};
	put(CODE, ljmp, sizeof ljmp);
	CHECK(run_to_exception(1, SOFT_GP, 0x08));
	/* ...but may go to the same level */
	set_gate64(0x48, 0x28, HANDLER, 3);
	CHECK_EQ(soft_cpu_run(cpu, 1), SOFT_EXIT_LIMIT);
	CHECK_EQ(cpu->state.rip, HANDLER);
	CHECK_EQ(cpu->state.seg[SEG_CS].selector, 0x2b);
	CHECK_EQ(cpu->state.gpr[GPR_RSP], USTACK);
}

/* Failing 32-bit gate calls from CPL3: the new stack from the TSS. */
static void expect_lcall32_fault(const char *what, uint16_t ss0, uint32_t esp0, unsigned vector,
                                 uint32_t error)
{
	setup_pm32(3);
	wr64(GDT + 0x48, gate_desc(0x30, HANDLER, 0xc, 3, 2));
	wr64(GDT + 0x58, seg_desc(0, 0xfffff, 0x3, 0, SEG_DB | SEG_G) & ~(1ULL << 47));
	wr64(GDT + 0x60, seg_desc(0, 0xfff, 0x3, 0, SEG_DB));
	wr32(TSS + 4, esp0);
	wr32(TSS + 8, ss0);
	put(CODE, user32_lcall, sizeof user32_lcall);
	CHECK_EQ(soft_cpu_run(cpu, 2), SOFT_EXIT_LIMIT); /* the two pushes */
	uint64_t esp = cpu->state.gpr[GPR_RSP];
	if (!run_to_exception(1, vector, error)) {
		printf("    case: %s\n", what);
		CHECK(0);
	}
	CHECK_EQ(cpu->state.gpr[GPR_RSP], esp);
	CHECK_EQ(cpu->cpl, 3);
}

static void test_gate_error_codes_protected_mode(void)
{
	expect_lcall32_fault("SS0 RPL != new CPL", 0x13, KSTACK, SOFT_TS, 0x10);
	expect_lcall32_fault("SS0 is code", 0x30, KSTACK, SOFT_TS, 0x30);
	expect_lcall32_fault("SS0 null", 0, KSTACK, SOFT_TS, 0);
	expect_lcall32_fault("SS0 beyond the GDT", 0x800, KSTACK, SOFT_TS, 0x800);
	expect_lcall32_fault("SS0 not present", 0x58, KSTACK, SOFT_SS, 0x58);
	expect_lcall32_fault("no room on the new stack", 0x60, 0x10, SOFT_SS, 0x60);
}

/* RETF to an outer level with a broken frame: each check, and its code. */
static void expect_retf_fault(const char *what, uint32_t cs, uint32_t ss, unsigned vector,
                              uint32_t error)
{
	setup_pm32(0);
	static const uint8_t lret = 0xcb;
	put(CODE, &lret, 1);
	cpu->state.gpr[GPR_RSP] = KSTACK - 16;
	wr32(KSTACK - 16, CODE + 0x100);
	wr32(KSTACK - 12, cs);
	wr32(KSTACK - 8, USTACK);
	wr32(KSTACK - 4, ss);
	wr64(GDT + 0x58, seg_desc(0, 0xfffff, 0xb, 3, SEG_DB | SEG_G) & ~(1ULL << 47));
	wr64(GDT + 0x60, seg_desc(0, 0xfffff, 0x3, 3, SEG_DB | SEG_G) & ~(1ULL << 47));
	if (!run_to_exception(1, vector, error)) {
		printf("    case: %s\n", what);
		CHECK(0);
	}
	CHECK_EQ(cpu->cpl, 0);
	CHECK_EQ(cpu->state.gpr[GPR_RSP], KSTACK - 16);
}

static void test_retf_error_codes(void)
{
	expect_retf_fault("SS RPL != CS RPL", 0x1b, 0x20, SOFT_GP, 0x20);
	expect_retf_fault("SS is code", 0x1b, 0x1b, SOFT_GP, 0x18);
	expect_retf_fault("SS null", 0x1b, 0, SOFT_GP, 0);
	expect_retf_fault("SS DPL != RPL", 0x1b, 0x13, SOFT_GP, 0x10);
	expect_retf_fault("SS not present", 0x1b, 0x63, SOFT_SS, 0x60);
	expect_retf_fault("CS DPL != RPL", 0x33, 0x23, SOFT_GP, 0x30);
	expect_retf_fault("CS not present", 0x5b, 0x23, SOFT_NP, 0x58);
	expect_retf_fault("CS null", 0, 0x23, SOFT_GP, 0);
	expect_retf_fault("CS is data", 0x23, 0x23, SOFT_GP, 0x20);
	/* and RETF from CPL3 to an inner level */
	setup_pm32(3);
	static const uint8_t lret = 0xcb;
	put(CODE, &lret, 1);
	cpu->state.gpr[GPR_RSP] = USTACK - 8;
	wr32(USTACK - 8, CODE);
	wr32(USTACK - 4, 0x30);
	CHECK(run_to_exception(1, SOFT_GP, 0x30));
}

static void test_conforming_and_direct_far_jumps(void)
{
	/* CPL3 jumps into conforming DPL0 code: allowed, the CPL stays 3 */
	setup_pm32(3);
	struct cpu_state *s = &cpu->state;
	wr64(GDT + 0x50, seg_desc(0, 0xfffff, 0xf, 0, SEG_DB | SEG_G));
	static const uint8_t ljmp[] = {0xea, 0x00, 0x00, 0x00, 0x00, 0x53, 0x00, 0x0f, 0x0b};
	put(CODE, ljmp, sizeof ljmp);
	CHECK_EQ(soft_cpu_run(cpu, 1), SOFT_EXIT_LIMIT);
	CHECK_EQ(s->rip, 0);
	CHECK_EQ(s->seg[SEG_CS].selector, 0x53);
	CHECK_EQ(cpu->cpl, 3);
	/* a non-conforming DPL0 segment is #GP(selector) from CPL3 */
	setup_pm32(3);
	wr64(GDT + 0x50, seg_desc(0, 0xfffff, 0xb, 0, SEG_DB | SEG_G));
	put(CODE, ljmp, sizeof ljmp);
	CHECK(run_to_exception(1, SOFT_GP, 0x50));
	/* conforming but less privileged than the CPL (DPL3 from CPL0): #GP */
	setup_pm32(0);
	wr64(GDT + 0x50, seg_desc(0, 0xfffff, 0xf, 3, SEG_DB | SEG_G));
	put(CODE, ljmp, sizeof ljmp);
	CHECK(run_to_exception(1, SOFT_GP, 0x50));
	/* non-conforming with RPL 3 from CPL0 is #GP too */
	setup_pm32(0);
	static const uint8_t ljmp_rpl3[] = {0xea, 0x00, 0x00, 0x01, 0x00, 0x33, 0x00};
	put(CODE, ljmp_rpl3, sizeof ljmp_rpl3);
	CHECK(run_to_exception(1, SOFT_GP, 0x30));
}

/* Limits: CS for fetch and branch targets, DS for data, SS for the stack,
 * an expand-down data segment. */
static void test_segment_limits(void)
{
	struct cpu_state *s = &cpu->state;
	/* code segment 0x50: base CODE, limit 0xf; 14 NOPs then a 5-byte mov
	 * that crosses the limit: #GP(0) at the mov */
	setup_pm32(0);
	wr64(GDT + 0x50, seg_desc(CODE, 0xf, 0xb, 0, SEG_DB));
	s->seg[SEG_CS] = seg_from_gdt(0x50);
	s->rip = 0;
	static const uint8_t nops[] = {0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90,
	                               0x90, 0x90, 0x90, 0x90, 0xb8, 0x01, 0x00, 0x00, 0x00};
	put(CODE, nops, sizeof nops);
	CHECK(run_to_exception(100, SOFT_GP, 0));
	CHECK_EQ(s->rip, 14);
	/* a jump beyond the limit faults at the jump */
	setup_pm32(0);
	wr64(GDT + 0x50, seg_desc(CODE, 0xf, 0xb, 0, SEG_DB));
	s->seg[SEG_CS] = seg_from_gdt(0x50);
	s->rip = 0;
	static const uint8_t jmp[] = {0xeb, 0x1e};
	put(CODE, jmp, sizeof jmp);
	CHECK(run_to_exception(1, SOFT_GP, 0));
	CHECK_EQ(s->rip, 0);
	/* a far jump to an offset beyond the target's limit faults there too */
	setup_pm32(0);
	wr64(GDT + 0x50, seg_desc(CODE, 0xf, 0xb, 0, SEG_DB));
	static const uint8_t far[] = {0xea, 0x10, 0x00, 0x00, 0x00, 0x50, 0x00};
	put(CODE, far, sizeof far);
	CHECK(run_to_exception(1, SOFT_GP, 0));
	CHECK_EQ(s->rip, CODE);
	/* DS limit 0xfff: a dword at 0xffc reads, at 0xffd faults #GP(0) */
	setup_pm32(0);
	wr64(GDT + 0x58, seg_desc(0, 0xfff, 0x3, 0, SEG_DB));
	s->seg[SEG_DS] = seg_from_gdt(0x58);
	static const uint8_t rd[] = {0xa1, 0xfc, 0x0f, 0x00, 0x00, 0xa1, 0xfd, 0x0f, 0x00, 0x00};
	put(CODE, rd, sizeof rd);
	CHECK(run_to_exception(5, SOFT_GP, 0));
	CHECK_EQ(s->rip, CODE + 5);
	/* SS limit: a push that would cross it is #SS(0) */
	setup_pm32(0);
	wr64(GDT + 0x58, seg_desc(0, 0xfff, 0x3, 0, SEG_DB));
	s->seg[SEG_SS] = seg_from_gdt(0x58);
	s->gpr[GPR_RSP] = 0x1002;
	static const uint8_t push = 0x50;
	put(CODE, &push, 1);
	CHECK(run_to_exception(1, SOFT_SS, 0));
	CHECK_EQ(s->gpr[GPR_RSP], 0x1002);
	/* expand-down DS, limit 0xfff: 0x1000 and up is inside, 0xfff is not */
	setup_pm32(0);
	wr64(GDT + 0x58, seg_desc(0, 0xfff, 0x7, 0, SEG_DB));
	s->seg[SEG_DS] = seg_from_gdt(0x58);
	static const uint8_t rd2[] = {0xa1, 0x00, 0x10, 0x00, 0x00, 0xa1, 0xff, 0x0f, 0x00, 0x00};
	put(CODE, rd2, sizeof rd2);
	CHECK(run_to_exception(5, SOFT_GP, 0));
	CHECK_EQ(s->rip, CODE + 5);
	/* 64-bit mode ignores limits: a tiny DS limit does not matter */
	setup_long(0);
	s->seg[SEG_DS].limit = 0;
	static const uint8_t rd64b[] = {0x8b, 0x04, 0x25, 0x00, 0x80, 0x00, 0x00, 0x0f, 0x0b};
	put(CODE, rd64b, sizeof rd64b);
	CHECK(run_to_exception(5, SOFT_UD, 0));
}

static void test_real_mode_far_call(void)
{
	/* CS 0x100 (base 0x1000): lcall $0x200,$0x10; hlt — at 0x2010:
	 * mov $0x1234,%ax; lret */
	fixture_reset();
	struct cpu_state *s = &cpu->state;
	s->cr0 = 0x10;
	s->seg[SEG_CS] = (struct cpu_segment){
	    .selector = 0x100, .base = 0x1000, .limit = 0xffff, .type = 0xb, .s = 1, .present = 1};
	s->seg[SEG_SS] = (struct cpu_segment){
	    .selector = 0, .base = 0, .limit = 0xffff, .type = 0x3, .s = 1, .present = 1};
	s->rip = 0;
	s->gpr[GPR_RSP] = 0x8000;
	static const uint8_t call[] = {0x9a, 0x10, 0x00, 0x00, 0x02, 0xf4};
	static const uint8_t callee[] = {0xb8, 0x34, 0x12, 0xcb};
	put(0x1000, call, sizeof call);
	put(0x2010, callee, sizeof callee);
	CHECK_EQ(soft_cpu_run(cpu, 1), SOFT_EXIT_LIMIT);
	CHECK_EQ(s->seg[SEG_CS].selector, 0x200);
	CHECK_EQ(s->seg[SEG_CS].base, 0x2000);
	CHECK_EQ(s->rip, 0x10);
	CHECK_EQ(rd32(0x7ffc), 0x01000005); /* CS:IP of the return */
	CHECK_EQ(soft_cpu_run(cpu, 5), SOFT_EXIT_HLT);
	CHECK_EQ(s->gpr[GPR_RAX] & 0xffff, 0x1234);
	CHECK_EQ(s->seg[SEG_CS].selector, 0x100);
	CHECK_EQ(s->gpr[GPR_RSP], 0x8000);
	/* the target offset beyond the (real-mode) CS limit is #GP(0) */
	s->rip = 0;
	s->seg[SEG_CS].limit = 0xf;
	CHECK(run_to_exception(1, SOFT_GP, 0));
}

/* --- hardware task switches (32-bit protected mode) --- */

#define TSS_B 0x4100
#define TSS_B_STACK 0x7800

/* Task A is the fixture's (TSS at TSS, selector 0x38, busy); task B's TSS
 * at TSS_B (selector 0x40, available) starts at HANDLER with CS 0x30, the
 * flat kernel data segment and its own stack; 0x48 is a task gate to B. */
static void setup_tasks(void)
{
	setup_pm32(0);
	wr64(GDT + 0x40, sys_desc(TSS_B, 0x67, 0x9, 0));
	wr64(GDT + 0x48, gate_desc(0x40, 0, 0x5, 0, 0));
	wr32(TSS_B + 0x20, HANDLER);     /* EIP */
	wr32(TSS_B + 0x24, 0x2);         /* EFLAGS */
	wr32(TSS_B + 0x28, 0xbbbb);      /* EAX */
	wr32(TSS_B + 0x38, TSS_B_STACK); /* ESP */
	for (unsigned k = 0; k < 6; k++) /* ES CS SS DS FS GS */
		wr32(TSS_B + 0x48 + 4 * k, k == 1 ? 0x30 : 0x10);
}

static unsigned tss_type(uint16_t sel)
{
	return (rd64(GDT + sel) >> 40) & 0xf;
}

static void test_task_jmp_there_and_back(void)
{
	setup_tasks();
	struct cpu_state *s = &cpu->state;
	/* A: mov $0x1111,%eax; ljmp $0x40,$0; mov $3,%ecx; ud2
	 * B: mov %eax,%ebx; ljmp $0x38,$0; ud2 */
	static const uint8_t a[] = {0xb8, 0x11, 0x11, 0x00, 0x00, 0xea, 0x00, 0x00, 0x00, 0x00,
	                            0x40, 0x00, 0xb9, 0x03, 0x00, 0x00, 0x00, 0x0f, 0x0b};
	static const uint8_t b[] = {0x89, 0xc3, 0xea, 0x00, 0x00, 0x00,
	                            0x00, 0x38, 0x00, 0x0f, 0x0b};
	put(CODE, a, sizeof a);
	put(HANDLER, b, sizeof b);
	CHECK_EQ(soft_cpu_run(cpu, 2), SOFT_EXIT_LIMIT);
	CHECK_EQ(s->seg[SEG_TR].selector, 0x40);
	CHECK_EQ(s->rip, HANDLER);
	CHECK_EQ(s->gpr[GPR_RAX], 0xbbbb);
	CHECK_EQ(s->gpr[GPR_RSP], TSS_B_STACK);
	CHECK(s->cr0 & 8);             /* TS */
	CHECK_EQ(tss_type(0x38), 0x9); /* JMP: the old task is no longer busy */
	CHECK_EQ(tss_type(0x40), 0xb);
	CHECK_EQ(rd32(TSS + 0x20), CODE + 12); /* A's EIP and EAX, saved */
	CHECK_EQ(rd32(TSS + 0x28), 0x1111);
	CHECK_EQ(rd32(TSS + 0x4c), 0x30); /* A's CS */
	CHECK(!(s->rflags & FL_NT_TEST));
	CHECK(run_to_exception(10, SOFT_UD, 0));
	CHECK_EQ(s->seg[SEG_TR].selector, 0x38);
	CHECK_EQ(s->rip, CODE + 17);
	CHECK_EQ(s->gpr[GPR_RAX], 0x1111);
	CHECK_EQ(s->gpr[GPR_RCX], 3);
	CHECK_EQ(s->gpr[GPR_RSP], KSTACK);
	CHECK_EQ(rd32(TSS_B + 0x2c + 8), 0xbbbb); /* B's EBX, saved */
	CHECK_EQ(tss_type(0x38), 0xb);
	CHECK_EQ(tss_type(0x40), 0x9);
	/* a JMP to the busy current task is #GP(selector) */
	setup_tasks();
	static const uint8_t self[] = {0xea, 0x00, 0x00, 0x00, 0x00, 0x38, 0x00};
	put(CODE, self, sizeof self);
	CHECK(run_to_exception(1, SOFT_GP, 0x38));
}

static void test_task_call_through_gate_and_iret(void)
{
	setup_tasks();
	struct cpu_state *s = &cpu->state;
	/* A: lcall $0x48,$0 (the task gate); mov $4,%ecx; ud2
	 * B: mov $0x55,%edx; iret */
	static const uint8_t a[] = {0x9a, 0x00, 0x00, 0x00, 0x00, 0x48, 0x00,
	                            0xb9, 0x04, 0x00, 0x00, 0x00, 0x0f, 0x0b};
	static const uint8_t b[] = {0xba, 0x55, 0x00, 0x00, 0x00, 0xcf};
	put(CODE, a, sizeof a);
	put(HANDLER, b, sizeof b);
	CHECK_EQ(soft_cpu_run(cpu, 2), SOFT_EXIT_LIMIT);
	CHECK_EQ(s->seg[SEG_TR].selector, 0x40);
	CHECK(s->rflags & FL_NT_TEST);        /* nested */
	CHECK_EQ(rd32(TSS_B) & 0xffff, 0x38); /* the back link */
	CHECK_EQ(tss_type(0x38), 0xb);        /* both busy */
	CHECK_EQ(tss_type(0x40), 0xb);
	CHECK(run_to_exception(10, SOFT_UD, 0)); /* IRET goes back */
	CHECK_EQ(s->seg[SEG_TR].selector, 0x38);
	CHECK_EQ(s->rip, CODE + 12);
	CHECK_EQ(s->gpr[GPR_RCX], 4);
	CHECK(!(s->rflags & FL_NT_TEST));
	CHECK_EQ(tss_type(0x40), 0x9);             /* IRET freed B */
	CHECK_EQ(rd32(TSS_B + 0x30), 0x55);        /* B's EDX, saved */
	CHECK_EQ(rd32(TSS_B + 0x20), HANDLER + 6); /* after its IRET */
	CHECK(!(rd32(TSS_B + 0x24) & FL_NT_TEST)); /* saved without NT */

	/* IRET with NT to a task that is not busy: #TS(link) */
	setup_tasks();
	static const uint8_t iret = 0xcf;
	put(CODE, &iret, 1);
	wr32(TSS, 0x40); /* A's link names B, which is available */
	s->rflags |= FL_NT_TEST;
	CHECK(run_to_exception(1, SOFT_TS, 0x40));
	/* a gate to a TSS that is not present: #NP(TSS selector) */
	setup_tasks();
	put(CODE, a, sizeof a);
	wr64(GDT + 0x40, rd64(GDT + 0x40) & ~(1ULL << 47));
	CHECK(run_to_exception(1, SOFT_NP, 0x40));
	/* a TSS too short for a 32-bit task: #TS(selector) */
	setup_tasks();
	put(CODE, a, sizeof a);
	wr64(GDT + 0x40, sys_desc(TSS_B, 0x60, 0x9, 0));
	CHECK(run_to_exception(1, SOFT_TS, 0x40));
	CHECK_EQ(s->seg[SEG_TR].selector, 0x38);
	CHECK_EQ(s->rip, CODE);
	/* a bad CS in the new TSS faults in the new task: #TS(CS) */
	setup_tasks();
	put(CODE, a, sizeof a);
	wr32(TSS_B + 0x4c, 0x10);
	CHECK(run_to_exception(1, SOFT_TS, 0x10));
	CHECK_EQ(s->seg[SEG_TR].selector, 0x40);
	CHECK_EQ(s->rip, HANDLER);
	/* the T bit: #DB before B's first instruction */
	setup_tasks();
	put(CODE, a, sizeof a);
	wr32(TSS_B + 0x64, 1);
	CHECK(run_to_exception(1, SOFT_DB, ~0u));
	CHECK_EQ(s->rip, HANDLER);
	CHECK(s->dr[6] & (1u << 15));
}

/* A 32-bit OS's #DF handler is a task: #GP with its gate not present gives
 * #NP, the two make #DF, whose task gate switches to B with the error code
 * on B's stack. */
static void test_double_fault_task_gate(void)
{
	setup_tasks();
	struct cpu_state *s = &cpu->state;
	cpu->report_exceptions = false;
	static const uint8_t a[] = {0xb8, 0x03, 0x10, 0x00, 0x00, 0x8e, 0xd8, 0x0f, 0x0b};
	static const uint8_t hlt = 0xf4;
	put(CODE, a, sizeof a);
	put(HANDLER, &hlt, 1);
	wr64(IDT + 8 * 8, gate_desc(0x40, 0, 0x5, 0, 0)); /* #DF: task gate to B */
	wr64(IDT + 13 * 8, gate_desc(0x30, 0x12345, 0xe, 0, 0) & ~(1ULL << 47));
	CHECK_EQ(soft_cpu_run(cpu, 10), SOFT_EXIT_HLT);
	CHECK_EQ(s->seg[SEG_TR].selector, 0x40);
	CHECK_EQ(s->rip, HANDLER + 1);
	CHECK(s->rflags & FL_NT_TEST);
	CHECK_EQ(rd32(TSS_B) & 0xffff, 0x38);
	CHECK_EQ(s->gpr[GPR_RSP], TSS_B_STACK - 4);
	CHECK_EQ(rd32(TSS_B_STACK - 4), 0);   /* #DF's error code */
	CHECK_EQ(rd32(TSS + 0x20), CODE + 5); /* A stopped at the faulting MOV DS */
}

/* --- virtual-8086 mode --- */

/* IRET at CPL0 into virtual-8086 mode at 2000:0100 with IOPL iopl: the
 * frame EIP CS EFLAGS ESP SS ES DS FS GS on the kernel stack. */
static void setup_v86(unsigned iopl)
{
	setup_pm32(0);
	static const uint8_t iret = 0xcf;
	put(CODE, &iret, 1);
	static const uint32_t frame[9] = {0x100,  0x2000, 0,      0x800, 0x3000,
	                                  0x4000, 0x5000, 0x6000, 0x7000};
	for (unsigned k = 0; k < 9; k++)
		wr32(KSTACK - 36 + 4 * k, k == 2 ? 0x20002u | iopl << 12 : frame[k]);
	cpu->state.gpr[GPR_RSP] = KSTACK - 36;
}

static void test_v86_enter_interrupt_and_return(void)
{
	setup_v86(3);
	struct cpu_state *s = &cpu->state;
	/* at 2000:0100: mov $0x1234,%ax; mov %ax,0x10; int $0x21;
	 * mov %ax,0x12; cli; hlt */
	static const uint8_t v86[] = {0xb8, 0x34, 0x12, 0xa3, 0x10, 0x00, 0xcd,
	                              0x21, 0xa3, 0x12, 0x00, 0xfa, 0xf4};
	/* the handler (CPL0): mov %ds,%ebx; mov %esp,%ecx; mov $0x77,%eax; iret */
	static const uint8_t handler[] = {0x8c, 0xdb, 0x89, 0xe1, 0xb8,
	                                  0x77, 0x00, 0x00, 0x00, 0xcf};
	put(0x20100, v86, sizeof v86);
	put(HANDLER, handler, sizeof handler);
	wr64(IDT + 0x21 * 8, gate_desc(0x30, HANDLER, 0xe, 3, 0));
	CHECK_EQ(soft_cpu_run(cpu, 1), SOFT_EXIT_LIMIT); /* the IRET */
	CHECK_EQ(cpu->cpl, 3);
	CHECK_EQ(cpu->mode, SOFT_MODE_16);
	CHECK(s->rflags & 0x20000);
	CHECK_EQ(s->seg[SEG_CS].base, 0x20000);
	CHECK_EQ(s->rip, 0x100);
	CHECK_EQ(s->seg[SEG_DS].base, 0x50000);
	CHECK_EQ(s->seg[SEG_GS].selector, 0x7000);
	CHECK_EQ(s->gpr[GPR_RSP], 0x800);
	/* INT 0x21 to CPL0 with the v86 frame, the data segments null */
	cpu->report_exceptions = false;
	CHECK_EQ(soft_cpu_run(cpu, 5), SOFT_EXIT_LIMIT);
	cpu->report_exceptions = true;
	CHECK_EQ(cpu->cpl, 0);
	CHECK(!(s->rflags & 0x20000));
	CHECK_EQ(s->gpr[GPR_RBX], 0);
	CHECK_EQ(s->gpr[GPR_RCX], KSTACK - 36);
	static const uint32_t want[9] = {0x108,  0x2000, 0x23002, 0x800, 0x3000,
	                                 0x4000, 0x5000, 0x6000,  0x7000};
	for (unsigned k = 0; k < 9; k++)
		CHECK_EQ(rd32(KSTACK - 36 + 4 * k), want[k]);
	/* its IRET goes back into virtual-8086 mode; CLI works with IOPL 3,
	 * HLT is #GP(0) at CPL3 */
	CHECK(run_to_exception(10, SOFT_GP, 0));
	CHECK_EQ(s->rip, 0x10c);
	CHECK_EQ(cpu->cpl, 3);
	CHECK_EQ(rd32(0x50010) & 0xffff, 0x1234);
	CHECK_EQ(rd32(0x50012) & 0xffff, 0x77);
	CHECK(!(s->rflags & 0x200));
}

static void test_v86_iopl_and_io(void)
{
	struct cpu_state *s = &cpu->state;
	/* IOPL 0: INT n, PUSHF, POPF, CLI, IRET are #GP(0) */
	static const uint8_t sensitive[][2] = {
	    {0xcd, 0x21}, {0x9c, 0x90}, {0x9d, 0x90}, {0xfa, 0x90}, {0xcf, 0x90}};
	for (unsigned k = 0; k < sizeof sensitive / sizeof sensitive[0]; k++) {
		setup_v86(0);
		put(0x20100, sensitive[k], 2);
		CHECK_EQ(soft_cpu_run(cpu, 1), SOFT_EXIT_LIMIT);
		if (!run_to_exception(1, SOFT_GP, 0))
			printf("    opcode %#x\n", sensitive[k][0]);
		CHECK_EQ(s->rip, 0x100);
	}
	/* INT3 is not IOPL-sensitive: through a DPL3 gate */
	setup_v86(0);
	static const uint8_t int3 = 0xcc;
	put(0x20100, &int3, 1);
	wr64(IDT + 3 * 8, gate_desc(0x30, HANDLER, 0xe, 3, 0));
	cpu->report_exceptions = false;
	static const uint8_t hlt = 0xf4;
	put(HANDLER, &hlt, 1);
	CHECK_EQ(soft_cpu_run(cpu, 5), SOFT_EXIT_HLT);
	CHECK_EQ(rd32(KSTACK - 36), 0x101);
	/* I/O goes by the TSS bitmap, whatever IOPL says: port 0x60 allowed,
	 * 0x61 not */
	setup_v86(3);
	static const uint8_t io[] = {0xe4, 0x60, 0xe6, 0x61};
	put(0x20100, io, sizeof io);
	s->seg[SEG_TR].limit = 0x68 + 0x2000;
	wr16(TSS + 0x66, 0x68);
	for (unsigned k = 0; k < 0x2000; k += 4)
		wr32(TSS + 0x68 + k, 0);
	wr32(TSS + 0x68 + 0x60 / 8, 1u << (0x61 & 7));
	CHECK_EQ(soft_cpu_run(cpu, 1), SOFT_EXIT_LIMIT);
	CHECK(run_to_exception(3, SOFT_GP, 0));
	CHECK_EQ(s->rip, 0x102);
}

int main(void)
{
	if (fixture_init())
		return 1;
	RUN(test_call_gate64_to_ring0_and_back);
	RUN(test_call_gate32_parameters_and_retf_imm);
	RUN(test_call_gate_same_level);
	RUN(test_gate_error_codes_long_mode);
	RUN(test_gate_error_codes_protected_mode);
	RUN(test_retf_error_codes);
	RUN(test_conforming_and_direct_far_jumps);
	RUN(test_segment_limits);
	RUN(test_real_mode_far_call);
	RUN(test_task_jmp_there_and_back);
	RUN(test_task_call_through_gate_and_iret);
	RUN(test_double_fault_task_gate);
	RUN(test_v86_enter_interrupt_and_return);
	RUN(test_v86_iopl_and_io);
	free(cpu);
	mem_destroy(&mem);
	TEST_DONE();
}
