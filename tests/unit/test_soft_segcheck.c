/* VERR, VERW, LAR and LSL: the answer in ZF (and the destination), never a
 * fault for a selector that names nothing usable. */
#include "soft_fixture.h"

#define FL_ZF 0x40

/* Runs one instruction at CODE with AX = selector and EAX's old value
 * 0xdeadbeef above it; returns ZF, *rax the result. */
static bool run_one(const uint8_t *code, size_t len, uint16_t sel, uint64_t *rax)
{
	put(CODE, code, len);
	cpu->state.rip = CODE;
	cpu->state.gpr[GPR_RAX] = 0xdeadbeef0000ULL | sel;
	cpu->state.rflags = 0x2 | (1u << 9);
	enum soft_exit e = soft_cpu_run(cpu, 1);
	CHECK_EQ(e, SOFT_EXIT_LIMIT);
	CHECK_EQ(cpu->state.rip, CODE + len);
	if (rax)
		*rax = cpu->state.gpr[GPR_RAX];
	return (cpu->state.rflags & FL_ZF) != 0;
}

static const uint8_t VERR_AX[] = {0x0f, 0x00, 0xe0};
static const uint8_t VERW_AX[] = {0x0f, 0x00, 0xe8};
static const uint8_t LAR_EAX_AX[] = {0x0f, 0x02, 0xc0};
static const uint8_t LSL_EAX_AX[] = {0x0f, 0x03, 0xc0};

static void extra_descriptors(void)
{
	wr64(GDT + 0x48, seg_desc(0, 0xfffff, 0xf, 0, SEG_L | SEG_G)); /* conforming code, DPL0 */
	wr64(GDT + 0x50, seg_desc(0, 0x1234, 0x1, 3, SEG_DB)); /* read-only data, byte limit */
	wr64(GDT + 0x58, seg_desc(0, 0xfffff, 0x9, 3, SEG_L | SEG_G)); /* execute-only code, DPL3 */
}

static void test_verr_verw(void)
{
	setup_long(3);
	extra_descriptors();
	CHECK(run_one(VERR_AX, 3, 0x23, NULL));   /* user data: readable */
	CHECK(run_one(VERW_AX, 3, 0x23, NULL));   /* and writable */
	CHECK(!run_one(VERR_AX, 3, 0x10, NULL));  /* kernel data from CPL3 */
	CHECK(run_one(VERR_AX, 3, 0x21, NULL));   /* RPL 1 <= DPL 3: fine */
	CHECK(run_one(VERR_AX, 3, 0x2b, NULL));   /* readable code */
	CHECK(!run_one(VERW_AX, 3, 0x2b, NULL));  /* code is never writable */
	CHECK(!run_one(VERR_AX, 3, 0x5b, NULL));  /* execute-only code */
	CHECK(run_one(VERR_AX, 3, 0x48, NULL));   /* conforming: no privilege check */
	CHECK(run_one(VERR_AX, 3, 0x53, NULL));   /* read-only data... */
	CHECK(!run_one(VERW_AX, 3, 0x53, NULL));  /* ...not writable */
	CHECK(!run_one(VERR_AX, 3, 0x00, NULL));  /* null */
	CHECK(!run_one(VERR_AX, 3, 0x3b, NULL));  /* a system descriptor (the TSS) */
	CHECK(!run_one(VERR_AX, 3, 0x1f8, NULL)); /* beyond the GDT limit: no fault */
	CHECK(!run_one(VERR_AX, 3, 0x04, NULL));  /* an LDT selector with no LDT */
}

static void test_lar_lsl(void)
{
	setup_long(3);
	extra_descriptors();
	uint64_t rax;
	CHECK(run_one(LAR_EAX_AX, 3, 0x23, &rax));
	/* type 3, S, DPL 3, P, D/B, G; bits 16-19 are undefined (we give 0);
	 * a 32-bit destination is zero-extended */
	CHECK_EQ(rax & ~0xf0000ULL, 0x00c0f300ULL);
	CHECK(run_one(LSL_EAX_AX, 3, 0x53, &rax));
	CHECK_EQ(rax, 0x1234ULL); /* byte granular */
	CHECK(run_one(LSL_EAX_AX, 3, 0x23, &rax));
	CHECK_EQ(rax, 0xffffffffULL); /* 4 KiB granular: scaled */
	/* ZF clear leaves the destination alone */
	CHECK(!run_one(LAR_EAX_AX, 3, 0x10, &rax));
	CHECK_EQ(rax, 0xdeadbeef0010ULL);
	CHECK(!run_one(LSL_EAX_AX, 3, 0x3b, &rax)); /* the TSS is DPL 0 */
	/* From CPL0 the TSS answers: LAR gives its type, LSL its limit. */
	setup_long(0);
	extra_descriptors();
	CHECK(run_one(LSL_EAX_AX, 3, 0x38, &rax));
	CHECK_EQ(rax, 0x67ULL);
	CHECK(run_one(LAR_EAX_AX, 3, 0x38, &rax));
	CHECK_EQ((rax >> 8) & 0xf, 0xbULL); /* busy 64-bit TSS after LTR, or 9 before */
}

static void test_real_mode_lar_is_ud(void)
{
	fixture_reset();
	cpu->state.cr0 = 0x10; /* real mode */
	cpu->state.seg[SEG_CS] = (struct cpu_segment){.limit = 0xffff,
	                                              .type = 0xb,
	                                              .s = 1,
	                                              .present = 1,
	                                              .selector = 0x1000,
	                                              .base = 0x10000};
	cpu->state.rip = 0;
	put(0x10000, LAR_EAX_AX, 3);
	CHECK(run_to_exception(1, SOFT_UD, ~0u));
}

int main(void)
{
	if (fixture_init())
		return 1;
	RUN(test_verr_verw);
	RUN(test_lar_lsl);
	RUN(test_real_mode_lar_is_ud);
	free(cpu);
	mem_destroy(&mem);
	TEST_DONE();
}
