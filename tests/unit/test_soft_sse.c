/* The soft engine's MMX/SSE paths that the differential tester cannot
 * reach from a Linux user process (tests/difftest covers the instructions
 * themselves against the host CPU): the device-not-available and state
 * checks of CR0.EM, CR0.TS and CR4.OSFXSR, #XM versus #UD by
 * CR4.OSXMMEXCPT, LDMXCSR's reserved bits, the MMX state switch and EMMS,
 * #MF for MMX with an x87 error pending, and precise faults (nothing
 * written when a 16-byte store faults or is misaligned). */
#include <stdlib.h>

#include "engine/soft/soft.h"
#include "test.h"

#define CODE 0x1000
#define DATA 0x3000

#define CR0_PE 0x01u
#define CR0_MP 0x02u
#define CR0_EM 0x04u
#define CR0_TS 0x08u
#define CR0_NE 0x20u
#define CR4_OSFXSR (1u << 9)
#define CR4_OSXMMEXCPT (1u << 10)

static struct guest_mem mem;
static struct soft_cpu *cpu;

/* A flat 32-bit CPL0 guest with the code at CODE, exceptions reported. */
static void setup(const uint8_t *code, size_t len)
{
	soft_cpu_init(cpu, &mem, NULL);
	struct cpu_state *s = &cpu->state;
	s->cr0 = CR0_PE | CR0_MP | CR0_NE;
	s->cr4 = CR4_OSFXSR | CR4_OSXMMEXCPT;
	s->seg[SEG_CS] = cpu_segment_flat(8, true, false);
	s->seg[SEG_SS] = cpu_segment_flat(16, false, false);
	s->seg[SEG_DS] = s->seg[SEG_ES] = s->seg[SEG_SS];
	s->rip = CODE;
	s->gpr[GPR_RSP] = 0x8000;
	cpu->report_exceptions = true;
	mem_write(&mem, CODE, code, len);
}

/* Run one instruction: -1 when it retired, else the vector it raised. */
static int step(void)
{
	enum soft_exit e = soft_cpu_run(cpu, 1);
	if (e == SOFT_EXIT_EXCEPTION)
		return cpu->exc.vector;
	return e == SOFT_EXIT_LIMIT ? -1 : -100;
}

static const uint8_t addps[] = {0x0f, 0x58, 0xc1};            /* addps xmm0, xmm1 */
static const uint8_t paddb[] = {0x0f, 0xfc, 0xc1};            /* paddb mm0, mm1 */
static const uint8_t emms[] = {0x0f, 0x77};                   /* emms */
static const uint8_t ldmxcsr[] = {0x0f, 0xae, 0x16};          /* ldmxcsr [esi] */
static const uint8_t stmxcsr[] = {0x0f, 0xae, 0x1e};          /* stmxcsr [esi] */
static const uint8_t movaps_st[] = {0x0f, 0x29, 0x06};        /* movaps [esi], xmm0 */
static const uint8_t divss[] = {0xf3, 0x0f, 0x5e, 0xc1};      /* divss xmm0, xmm1 */
static const uint8_t movnti[] = {0x0f, 0xc3, 0x06};           /* movnti [esi], eax */
static const uint8_t movlpd_reg[] = {0x66, 0x0f, 0x12, 0xc1}; /* no register form */

static void test_cr0_em_ts_and_osfxsr(void)
{
	setup(addps, sizeof addps);
	cpu->state.cr0 |= CR0_EM;
	CHECK_EQ(step(), SOFT_UD);
	setup(addps, sizeof addps);
	cpu->state.cr0 |= CR0_TS;
	CHECK_EQ(step(), SOFT_NM);
	CHECK_EQ(cpu->state.rip, CODE);
	setup(addps, sizeof addps);
	cpu->state.cr4 &= ~CR4_OSFXSR;
	CHECK_EQ(step(), SOFT_UD);
	/* MMX needs no OSFXSR, but EM and TS apply */
	setup(paddb, sizeof paddb);
	cpu->state.cr4 &= ~CR4_OSFXSR;
	CHECK_EQ(step(), -1);
	setup(paddb, sizeof paddb);
	cpu->state.cr0 |= CR0_EM;
	CHECK_EQ(step(), SOFT_UD);
	setup(paddb, sizeof paddb);
	cpu->state.cr0 |= CR0_TS;
	CHECK_EQ(step(), SOFT_NM);
	/* an encoding without a form: #UD before #NM */
	setup(movlpd_reg, sizeof movlpd_reg);
	cpu->state.cr0 |= CR0_TS;
	CHECK_EQ(step(), SOFT_UD);
	/* MOVNTI is a GPR store: no FPU checks at all */
	setup(movnti, sizeof movnti);
	cpu->state.cr0 |= CR0_EM | CR0_TS;
	cpu->state.gpr[GPR_RSI] = DATA;
	cpu->state.gpr[GPR_RAX] = 0x12345678;
	CHECK_EQ(step(), -1);
	uint32_t v = 0;
	mem_read(&mem, DATA, &v, 4);
	CHECK_EQ(v, 0x12345678);
}

static void test_xm_or_ud(void)
{
	static const uint32_t one = 0x3f800000, zero = 0;
	setup(divss, sizeof divss);
	cpu->state.fpu.mxcsr = 0x1f80 & ~0x200u; /* divide-by-zero unmasked */
	memcpy(&cpu->state.fpu.xmm[0][0], &one, 4);
	memcpy(&cpu->state.fpu.xmm[1][0], &zero, 4);
	CHECK_EQ(step(), SOFT_XM);
	CHECK_EQ(cpu->state.fpu.mxcsr & 0x3f, 0x04); /* ZE */
	CHECK_EQ(cpu->state.fpu.xmm[0][0], one);     /* destination unchanged */
	CHECK_EQ(cpu->state.rip, CODE);

	setup(divss, sizeof divss);
	cpu->state.cr4 &= ~CR4_OSXMMEXCPT;
	cpu->state.fpu.mxcsr = 0x1f80 & ~0x200u;
	memcpy(&cpu->state.fpu.xmm[0][0], &one, 4);
	memcpy(&cpu->state.fpu.xmm[1][0], &zero, 4);
	CHECK_EQ(step(), SOFT_UD);

	setup(divss, sizeof divss); /* masked: infinity, ZE set */
	memcpy(&cpu->state.fpu.xmm[0][0], &one, 4);
	memcpy(&cpu->state.fpu.xmm[1][0], &zero, 4);
	CHECK_EQ(step(), -1);
	CHECK_EQ(cpu->state.fpu.xmm[0][0] & 0xffffffff, 0x7f800000);
	CHECK_EQ(cpu->state.fpu.mxcsr, 0x1f84);
}

static void test_ldmxcsr_stmxcsr(void)
{
	uint32_t v = 0x00009fc0; /* FTZ, DAZ, RC down, masks */
	mem_write(&mem, DATA, &v, 4);
	setup(ldmxcsr, sizeof ldmxcsr);
	cpu->state.gpr[GPR_RSI] = DATA;
	CHECK_EQ(step(), -1);
	CHECK_EQ(cpu->state.fpu.mxcsr, 0x9fc0);

	v = 0x00011f80; /* a reserved bit */
	mem_write(&mem, DATA, &v, 4);
	setup(ldmxcsr, sizeof ldmxcsr);
	cpu->state.gpr[GPR_RSI] = DATA;
	CHECK_EQ(step(), SOFT_GP);
	CHECK_EQ(cpu->state.fpu.mxcsr, 0x1f80);

	setup(stmxcsr, sizeof stmxcsr);
	cpu->state.gpr[GPR_RSI] = DATA;
	cpu->state.fpu.mxcsr = 0x7f9f;
	CHECK_EQ(step(), -1);
	mem_read(&mem, DATA, &v, 4);
	CHECK_EQ(v, 0x7f9f);
}

static void test_mmx_state_switch(void)
{
	setup(paddb, sizeof paddb);
	cpu->state.fpu.fsw = 5u << 11; /* TOP = 5 */
	cpu->state.fpu.ftw = 0x0f;
	cpu->state.fpu.st[0].significand = 0x0102030405060708ULL;
	cpu->state.fpu.st[1].significand = 0x1010101010101010ULL;
	CHECK_EQ(step(), -1);
	CHECK_EQ(cpu->state.fpu.st[0].significand, 0x1112131415161718ULL);
	CHECK_EQ(cpu->state.fpu.st[0].sign_exp, 0xffff);
	CHECK_EQ((cpu->state.fpu.fsw >> 11) & 7, 0);
	CHECK_EQ(cpu->state.fpu.ftw, 0xff);

	setup(emms, sizeof emms);
	cpu->state.fpu.fsw = 3u << 11;
	cpu->state.fpu.ftw = 0xff;
	CHECK_EQ(step(), -1);
	CHECK_EQ(cpu->state.fpu.ftw, 0);
	CHECK_EQ((cpu->state.fpu.fsw >> 11) & 7, 0);

	/* an unmasked x87 exception pending: #MF, nothing changes */
	setup(paddb, sizeof paddb);
	cpu->state.fpu.fcw = 0x037e; /* IM clear */
	cpu->state.fpu.fsw = 0x8081 | 2u << 11;
	cpu->state.fpu.ftw = 0x0f;
	CHECK_EQ(step(), SOFT_MF);
	CHECK_EQ(cpu->state.fpu.ftw, 0x0f);
	CHECK_EQ((cpu->state.fpu.fsw >> 11) & 7, 2);
	/* ...which SSE instructions do not care about */
	setup(addps, sizeof addps);
	cpu->state.fpu.fcw = 0x037e;
	cpu->state.fpu.fsw = 0x8081;
	CHECK_EQ(step(), -1);
}

static void test_precise_store_faults(void)
{
	static const uint8_t pattern[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
	uint8_t got[16];
	/* misaligned: #GP(0), memory untouched */
	mem_write(&mem, DATA, pattern, 16);
	setup(movaps_st, sizeof movaps_st);
	cpu->state.gpr[GPR_RSI] = DATA + 8;
	CHECK_EQ(step(), SOFT_GP);
	mem_read(&mem, DATA, got, 16);
	CHECK(!memcmp(got, pattern, 16));
	/* past the segment limit: #GP, nothing written */
	setup(movaps_st, sizeof movaps_st);
	cpu->state.seg[SEG_DS].limit = DATA + 0x1007;
	cpu->state.gpr[GPR_RSI] = DATA + 0x1000;
	mem_write(&mem, DATA + 0x1000, pattern, 16);
	CHECK_EQ(step(), SOFT_GP);
	mem_read(&mem, DATA + 0x1000, got, 16);
	CHECK(!memcmp(got, pattern, 16));
	/* aligned and inside: written */
	setup(movaps_st, sizeof movaps_st);
	cpu->state.gpr[GPR_RSI] = DATA;
	memset(cpu->state.fpu.xmm[0], 0xab, 16);
	CHECK_EQ(step(), -1);
	mem_read(&mem, DATA, got, 16);
	CHECK_EQ(got[0], 0xab);
	CHECK_EQ(got[15], 0xab);
}

int main(void)
{
	struct error err;
	if (mem_init(&mem, 16ULL << 20, false, &err) != 0) {
		printf("mem_init: %s\n", err.msg);
		return 1;
	}
	cpu = calloc(1, sizeof *cpu);
	if (!cpu)
		return 1;
	RUN(test_cr0_em_ts_and_osfxsr);
	RUN(test_xm_or_ud);
	RUN(test_ldmxcsr_stmxcsr);
	RUN(test_mmx_state_switch);
	RUN(test_precise_store_faults);
	free(cpu);
	mem_destroy(&mem);
	TEST_DONE();
}
