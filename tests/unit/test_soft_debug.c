/* Debug registers and #DB on the soft engine: instruction breakpoints (a
 * fault before the instruction, suppressed once by RF, RF cleared after),
 * data breakpoints (write, read/write, lengths 1/2/4/8, a trap after the
 * instruction), single-step (each instruction, POPF setting TF taking
 * effect one instruction later, REP iterations one by one), INT1, DR7.GD,
 * DR4/DR5 with CR4.DE, delivery through the IDT with the handler setting
 * RF, and the switch between the fast and the checking run loop. */
#include "soft_fixture.h"

#define DATA 0x6000

/* mov $1,%eax; mov $2,%ebx; mov %eax,0x6000; mov 0x6000,%ecx;
 * mov %dl,0x6007; ud2 */
static const uint8_t code_moves[] = {
    0xb8, 0x01, 0x00, 0x00, 0x00, 0xbb, 0x02, 0x00, 0x00, 0x00, 0x89,
    0x04, 0x25, 0x00, 0x60, 0x00, 0x00, 0x8b, 0x0c, 0x25, 0x00, 0x60,
    0x00, 0x00, 0x88, 0x14, 0x25, 0x07, 0x60, 0x00, 0x00, 0x0f, 0x0b,
};
#define AT_MOV_EBX (CODE + 0x05)
#define AT_STORE (CODE + 0x0a)
#define AT_LOAD (CODE + 0x11)
#define AT_BYTE (CODE + 0x18)
#define AT_UD2 (CODE + 0x1f)

/* DR7 for breakpoint n: enabled locally, R/W and LEN fields. */
static uint64_t dr7_bp(unsigned n, unsigned rw, unsigned len)
{
	return (1ULL << (2 * n)) | ((uint64_t)rw << (16 + 4 * n)) |
	       ((uint64_t)len << (18 + 4 * n)) | 0x400;
}

static void test_instruction_breakpoint_and_rf(void)
{
	setup_long(0);
	struct cpu_state *s = &cpu->state;
	put(CODE, code_moves, sizeof code_moves);
	s->dr[0] = AT_MOV_EBX;
	s->dr[7] = dr7_bp(0, 0, 0);
	/* a fault: before the instruction, which has not run */
	CHECK(run_to_exception(10, SOFT_DB, ~0u));
	CHECK_EQ(s->rip, AT_MOV_EBX);
	CHECK_EQ(s->gpr[GPR_RAX], 1);
	CHECK_EQ(s->gpr[GPR_RBX], 0);
	CHECK_EQ(s->dr[6] & 0xf, 1);
	CHECK(!cpu->exc.has_error);
	/* the same again without RF; with RF the instruction runs once, then
	 * RF is cleared */
	CHECK(run_to_exception(10, SOFT_DB, ~0u));
	CHECK_EQ(s->rip, AT_MOV_EBX);
	s->rflags |= 0x10000;
	CHECK_EQ(soft_cpu_run(cpu, 1), SOFT_EXIT_LIMIT);
	CHECK_EQ(s->gpr[GPR_RBX], 2);
	CHECK_EQ(s->rip, AT_STORE);
	CHECK(!(s->rflags & 0x10000));
	CHECK(run_to_exception(10, SOFT_UD, 0));
	/* disabled (L0 and G0 clear): no breakpoint */
	setup_long(0);
	put(CODE, code_moves, sizeof code_moves);
	s->dr[0] = AT_MOV_EBX;
	s->dr[7] = dr7_bp(0, 0, 0) & ~3ULL;
	CHECK(run_to_exception(10, SOFT_UD, 0));
	CHECK(!cpu->dbg_armed);
}

static void test_data_breakpoints(void)
{
	struct cpu_state *s = &cpu->state;
	/* writes only, 4 bytes at DATA: the store traps after itself, the load
	 * and the byte at DATA+7 do not */
	setup_long(0);
	put(CODE, code_moves, sizeof code_moves);
	s->dr[1] = DATA;
	s->dr[7] = dr7_bp(1, 1, 3);
	CHECK(run_to_exception(10, SOFT_DB, ~0u));
	CHECK_EQ(s->rip, AT_LOAD); /* a trap: after the store */
	CHECK_EQ(s->dr[6] & 0xf, 2);
	CHECK_EQ(rd32(DATA), 1); /* which completed */
	CHECK(run_to_exception(10, SOFT_UD, 0));
	CHECK_EQ(s->gpr[GPR_RCX], 1);

	/* reads and writes, 8 bytes: the store, the load and the byte all trap */
	setup_long(0);
	put(CODE, code_moves, sizeof code_moves);
	s->dr[2] = DATA;
	s->dr[7] = dr7_bp(2, 3, 2);
	CHECK(run_to_exception(10, SOFT_DB, ~0u));
	CHECK_EQ(s->rip, AT_LOAD);
	CHECK(run_to_exception(10, SOFT_DB, ~0u));
	CHECK_EQ(s->rip, AT_BYTE);
	CHECK(run_to_exception(10, SOFT_DB, ~0u));
	CHECK_EQ(s->rip, AT_UD2);
	CHECK_EQ(s->dr[6] & 0xf, 4);
	CHECK(run_to_exception(10, SOFT_UD, 0));

	/* 2 bytes at DATA+6 (the address is aligned down to the length):
	 * only the byte at DATA+7 hits */
	setup_long(0);
	put(CODE, code_moves, sizeof code_moves);
	s->dr[3] = DATA + 7;
	s->dr[7] = dr7_bp(3, 3, 1);
	CHECK(run_to_exception(10, SOFT_DB, ~0u));
	CHECK_EQ(s->rip, AT_UD2);
	CHECK_EQ(s->dr[6] & 0xf, 8);

	/* a breakpoint on the stack: PUSH writes there */
	setup_long(0);
	static const uint8_t push[] = {0x50, 0x50, 0x0f, 0x0b};
	put(CODE, push, sizeof push);
	s->dr[0] = KSTACK - 16;
	s->dr[7] = dr7_bp(0, 1, 2);
	CHECK(run_to_exception(10, SOFT_DB, ~0u));
	CHECK_EQ(s->rip, CODE + 2);
	CHECK_EQ(s->gpr[GPR_RSP], KSTACK - 16);
}

static void test_single_step(void)
{
	setup_long(0);
	struct cpu_state *s = &cpu->state;
	put(CODE, code_moves, sizeof code_moves);
	s->rflags |= 0x100;
	static const uint64_t after[] = {AT_MOV_EBX, AT_STORE, AT_LOAD, AT_BYTE, AT_UD2};
	for (unsigned k = 0; k < 5; k++) {
		s->dr[6] = 0xffff0ff0;
		CHECK(run_to_exception(10, SOFT_DB, ~0u));
		CHECK_EQ(s->rip, after[k]);
		CHECK(s->dr[6] & (1u << 14)); /* BS */
	}
	/* POPF that sets TF: the trap comes after the next instruction */
	setup_long(0);
	static const uint8_t popf[] = {0x9c, 0x48, 0x81, 0x0c, 0x24, 0x00, 0x01,
	                               0x00, 0x00, 0x9d, 0x90, 0x90, 0x0f, 0x0b};
	put(CODE, popf, sizeof popf);
	CHECK(run_to_exception(10, SOFT_DB, ~0u));
	CHECK_EQ(s->rip, CODE + 11); /* after the first NOP */
	/* ...and POPF clearing TF still traps after itself */
	setup_long(0);
	static const uint8_t popf_clear[] = {0x6a, 0x02, 0x9d, 0x90, 0x0f, 0x0b};
	put(CODE, popf_clear, sizeof popf_clear);
	CHECK_EQ(soft_cpu_run(cpu, 1), SOFT_EXIT_LIMIT); /* push $2 */
	s->rflags |= 0x100;
	CHECK(run_to_exception(10, SOFT_DB, ~0u));
	CHECK_EQ(s->rip, CODE + 3);
	CHECK(!(s->rflags & 0x100));
	CHECK(run_to_exception(10, SOFT_UD, 0));

	/* REP MOVSB is stepped one iteration at a time */
	setup_long(0);
	static const uint8_t rep[] = {0xf3, 0xa4, 0x0f, 0x0b};
	put(CODE, rep, sizeof rep);
	s->gpr[GPR_RCX] = 3;
	s->gpr[GPR_RSI] = DATA;
	s->gpr[GPR_RDI] = DATA + 0x100;
	s->rflags |= 0x100;
	for (unsigned k = 0; k < 3; k++) {
		CHECK(run_to_exception(10, SOFT_DB, ~0u));
		CHECK_EQ(s->gpr[GPR_RCX], 2 - k);
		CHECK_EQ(s->rip, k < 2 ? CODE : CODE + 2);
	}
}

static void test_int1_gd_and_dr4(void)
{
	setup_long(0);
	struct cpu_state *s = &cpu->state;
	/* INT1 (ICEBP): a #DB trap past it, no DR6 status bit */
	static const uint8_t icebp[] = {0xf1, 0x0f, 0x0b};
	put(CODE, icebp, sizeof icebp);
	s->dr[6] = 0xffff0ff0;
	CHECK(run_to_exception(10, SOFT_DB, ~0u));
	CHECK_EQ(s->rip, CODE + 1);
	CHECK_EQ(s->dr[6], 0xffff0ff0);

	/* DR7.GD: MOV DR faults with BD, GD cleared for the handler */
	setup_long(0);
	static const uint8_t movdr[] = {0x0f, 0x21, 0xc0, 0x0f, 0x0b};
	put(CODE, movdr, sizeof movdr);
	s->dr[0] = 0x1234;
	s->dr[7] = 0x2400;
	CHECK(run_to_exception(10, SOFT_DB, ~0u));
	CHECK_EQ(s->rip, CODE);
	CHECK(s->dr[6] & (1u << 13));
	CHECK(!(s->dr[7] & 0x2000));
	CHECK(run_to_exception(10, SOFT_UD, 0));
	CHECK_EQ(s->gpr[GPR_RAX], 0x1234);

	/* DR4 is DR6 without CR4.DE and #UD with it */
	setup_long(0);
	static const uint8_t movdr4[] = {0x0f, 0x21, 0xe0, 0x0f, 0x0b};
	put(CODE, movdr4, sizeof movdr4);
	s->dr[6] = 0xffff4ff0;
	CHECK(run_to_exception(10, SOFT_UD, 0));
	CHECK_EQ(s->rip, CODE + 3);
	CHECK_EQ(s->gpr[GPR_RAX], 0xffff4ff0);
	setup_long(0);
	put(CODE, movdr4, sizeof movdr4);
	s->cr4 |= 1u << 3;
	CHECK(run_to_exception(10, SOFT_UD, 0));
	CHECK_EQ(s->rip, CODE);
}

/* #DB through the IDT: the handler counts, sets RF in the frame and
 * returns; the instruction then runs once. */
static void test_delivery_and_rf_from_handler(void)
{
	setup_long(0);
	struct cpu_state *s = &cpu->state;
	cpu->report_exceptions = false;
	static const uint8_t code[] = {0xb8, 0x01, 0x00, 0x00, 0x00, 0xbb,
	                               0x02, 0x00, 0x00, 0x00, 0xf4};
	/* incl 0x6200; orq $0x10000,16(%rsp); iretq */
	static const uint8_t handler[] = {0xff, 0x04, 0x25, 0x00, 0x62, 0x00, 0x00, 0x48, 0x81,
	                                  0x4c, 0x24, 0x10, 0x00, 0x00, 0x01, 0x00, 0x48, 0xcf};
	put(CODE, code, sizeof code);
	put(HANDLER, handler, sizeof handler);
	wr64(IDT + 16, gate_desc(0x08, HANDLER, 0xe, 0, 0));
	wr64(IDT + 24, 0);
	s->dr[0] = AT_MOV_EBX;
	s->dr[7] = dr7_bp(0, 0, 0);
	CHECK_EQ(soft_cpu_run(cpu, 100), SOFT_EXIT_HLT);
	CHECK_EQ(rd32(0x6200), 1);
	CHECK_EQ(s->gpr[GPR_RBX], 2);
	/* the frame the CPU pushed held the RIP of the breakpoint, no RF */
	CHECK_EQ(rd64(KSTACK - 40), AT_MOV_EBX);
	CHECK(!(s->rflags & 0x10000));
}

/* MOV DR7 in the fast loop arms the checks for the very next instruction;
 * clearing DR7 disarms them (and the TLB's fast path comes back). */
static void test_arming_from_the_fast_loop(void)
{
	setup_long(0);
	struct cpu_state *s = &cpu->state;
	static const uint8_t code[] = {0x0f, 0x23, 0xf8, 0x90, 0x90, 0x0f, 0x0b};
	put(CODE, code, sizeof code);
	s->dr[0] = CODE + 3;
	s->gpr[GPR_RAX] = dr7_bp(0, 0, 0);
	CHECK(!cpu->dbg_armed);
	CHECK(run_to_exception(10, SOFT_DB, ~0u));
	CHECK_EQ(s->rip, CODE + 3);
	s->dr[7] = 0x400;
	s->rflags |= 0x10000;
	CHECK(run_to_exception(10, SOFT_UD, 0));
	CHECK(!cpu->dbg_armed);
	/* a data breakpoint's page leaves the fast path while armed only */
	setup_long(0);
	put(CODE, code_moves, sizeof code_moves);
	s->dr[1] = DATA;
	s->dr[7] = dr7_bp(1, 1, 3);
	CHECK(run_to_exception(10, SOFT_DB, ~0u));
	const struct soft_tlb_entry *e = &cpu->tlb[(DATA >> 12) & (SOFT_TLB_SIZE - 1)];
	CHECK_EQ(e->ok & 3, 0);
	s->dr[7] = 0x400;
	CHECK(run_to_exception(10, SOFT_UD, 0));
	CHECK(e->vpn != DATA >> 12 || (e->ok & 1));
}

int main(void)
{
	if (fixture_init())
		return 1;
	RUN(test_instruction_breakpoint_and_rf);
	RUN(test_data_breakpoints);
	RUN(test_single_step);
	RUN(test_int1_gd_and_dr4);
	RUN(test_delivery_and_rf_from_handler);
	RUN(test_arming_from_the_fast_loop);
	free(cpu);
	mem_destroy(&mem);
	TEST_DONE();
}
