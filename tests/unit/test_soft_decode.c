/* The soft engine's decoder: lengths and operands of tricky encodings in
 * 64-, 32- and 16-bit modes, the 15-byte limit, truncated input, and
 * encodings that must raise #UD. Plus a few executions that the
 * differential tester cannot cover (CPUID, RDTSC, HLT, REP restart,
 * unimplemented opcodes). */
#include <stdlib.h>

#include "engine/soft/soft.h"
#include "test.h"

static int len_of(enum soft_mode mode, const char *hex, struct soft_insn *out)
{
	uint8_t b[32];
	unsigned n = 0;
	for (const char *p = hex; *p;) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		unsigned v;
		if (sscanf(p, "%2x", &v) != 1)
			return -99;
		b[n++] = (uint8_t)v;
		p += 2;
	}
	struct soft_insn tmp;
	return soft_decode(b, n, mode, out ? out : &tmp);
}

#define L64(hex, want) CHECK_EQ(len_of(SOFT_MODE_64, hex, NULL), want)

static void test_lengths_64(void)
{
	L64("90", 1);
	L64("48 b8 11 22 33 44 55 66 77 88", 10); /* mov rax, imm64 */
	L64("66 b8 11 22", 4);                    /* mov ax, imm16 */
	L64("b8 11 22 33 44", 5);
	L64("8b 04 25 00 00 00 20", 7);    /* [disp32] via SIB */
	L64("8b 05 00 00 00 00", 6);       /* RIP-relative */
	L64("8b 44 24 08", 4);             /* [rsp+8] */
	L64("8b 4c 8d 00", 4);             /* [rbp+rcx*4+0] */
	L64("41 8b 45 00", 4);             /* [r13+0]: r13 needs a displacement */
	L64("42 8b 04 25 00 10 00 00", 8); /* [r12*1+disp32]? no: index r12, no base */
	L64("8b 84 24 00 01 00 00", 7);    /* [rsp+disp32] */
	L64("f6 c0 12", 3);                /* test al, imm8 */
	L64("f7 c0 11 22 33 44", 6);       /* test eax, imm32 */
	L64("66 f7 c0 11 22", 5);          /* test ax, imm16 */
	L64("48 f7 c0 11 22 33 44", 7);    /* test rax, imm32 (sign-extended) */
	L64("f7 d0", 2);                   /* not eax: no immediate */
	L64("f6 44 24 08 01", 5);          /* test byte [rsp+8], 1 */
	L64("c8 10 00 01", 4);             /* enter */
	L64("c2 08 00", 3);
	L64("0f 1f 84 00 00 00 00 00", 8);        /* nopl 0(%rax,%rax,1) */
	L64("66 2e 0f 1f 84 00 00 00 00 00", 10); /* nopw %cs:... */
	L64("0f 38 00 c1", 4);                    /* pshufb */
	L64("66 0f 3a 0f c1 08", 6);              /* palignr */
	L64("a1 00 00 00 20 00 00 00 00", 9);     /* moffs64 */
	L64("67 a1 00 00 00 20", 6);              /* moffs32 */
	L64("e8 00 00 00 00", 5);
	L64("66 e8 00 00 00 00", 6); /* 66 ignored for near branches */
	L64("0f 84 00 00 00 00", 6);
	L64("74 00", 2);
	L64("f0 0f c7 0e", 4);    /* lock cmpxchg8b [rsi] */
	L64("f0 48 0f c7 0e", 5); /* lock cmpxchg16b [rsi] */
	L64("0f ba e0 05", 4);    /* bt eax, 5 */
	L64("69 c0 11 22 33 44", 6);
	L64("6b c0 11", 3);
	L64("48 66 90", 3);             /* REX then 66: REX ignored */
	L64("f3 48 0f b8 c1", 5);       /* popcnt rcx, rax */
	L64("c6 05 00 00 00 00 7f", 7); /* mov byte [rip+0], imm8 */
	L64("6a ff", 2);
	L64("68 00 00 00 80", 5);
	L64("0f 0b", 2);
	L64("cc", 1);
	L64("0f 20 82 3c fd", 3);       /* mov rdx, cr0: mod is ignored */
	L64("0f 23 15 00 00 00 00", 3); /* mov dr2, ... */
}

static void test_operands(void)
{
	struct soft_insn i;
	CHECK_EQ(len_of(SOFT_MODE_64, "4a 8b 44 a5 f0", &i), 5); /* mov rax, [rbp+r12*4-16] */
	CHECK_EQ(i.osize, 8);
	CHECK_EQ(i.base, GPR_RBP);
	CHECK_EQ(i.index, GPR_R12);
	CHECK_EQ(i.scale, 2);
	CHECK_EQ(i.disp, -16);
	CHECK_EQ(i.seg, SEG_SS);
	CHECK(i.mem);

	CHECK_EQ(len_of(SOFT_MODE_64, "8b 05 10 00 00 00", &i), 6);
	CHECK_EQ(i.base, SOFT_RIPREL);
	CHECK_EQ(i.disp, 16);

	CHECK_EQ(len_of(SOFT_MODE_64, "41 8b 04 24", &i), 4); /* [r12]: SIB, base r12 */
	CHECK_EQ(i.base, GPR_R12);
	CHECK_EQ(i.index, SOFT_NOREG);
	CHECK_EQ(i.seg, SEG_DS); /* r12 is not rsp: DS */

	CHECK_EQ(len_of(SOFT_MODE_64, "43 8b 04 25 00 10 00 00", &i), 8); /* index r12 */
	CHECK_EQ(i.base, SOFT_NOREG);
	CHECK_EQ(i.index, GPR_R12);

	CHECK_EQ(len_of(SOFT_MODE_64, "64 67 8b 03", &i), 4); /* mov eax, fs:[ebx] */
	CHECK_EQ(i.seg, SEG_FS);
	CHECK_EQ(i.asize, 4);

	CHECK_EQ(len_of(SOFT_MODE_64, "26 8b 03", &i), 3); /* es: ignored in 64-bit mode */
	CHECK_EQ(i.seg, SEG_DS);

	CHECK_EQ(len_of(SOFT_MODE_64, "41 5c", &i), 2); /* pop r12 */
	CHECK_EQ(i.reg, GPR_R12);
	CHECK_EQ(i.osize, 8);
	CHECK_EQ(len_of(SOFT_MODE_64, "66 41 5c", &i), 3); /* pop r12w */
	CHECK_EQ(i.osize, 2);
	CHECK_EQ(len_of(SOFT_MODE_64, "ff 14 24", &i), 3); /* call [rsp] */
	CHECK_EQ(i.osize, 8);

	CHECK_EQ(len_of(SOFT_MODE_64, "f3 f2 a4", &i), 3); /* the last of F2/F3 wins */
	CHECK_EQ(i.pfx & (SOFT_PFX_REP | SOFT_PFX_REPNE), SOFT_PFX_REPNE);
	CHECK_EQ(len_of(SOFT_MODE_64, "c8 10 20 03", &i), 4);
	CHECK_EQ(i.imm, 0x2010);
	CHECK_EQ(i.imm2, 3);
	CHECK_EQ(len_of(SOFT_MODE_64, "83 c0 ff", &i), 3);
	CHECK_EQ(i.imm, ~0ULL); /* sign-extended */
}

static void test_legacy_modes(void)
{
	struct soft_insn i;
	CHECK_EQ(len_of(SOFT_MODE_32, "40", &i), 1); /* inc eax, not REX */
	CHECK_EQ(len_of(SOFT_MODE_32, "8b 04 25 00 00 00 00", &i), 7);
	CHECK_EQ(len_of(SOFT_MODE_32, "8b 05 00 00 00 00", &i), 6); /* [disp32], not RIP */
	CHECK_EQ(i.base, SOFT_NOREG);
	CHECK_EQ(len_of(SOFT_MODE_32, "66 b8 11 22", &i), 4);
	CHECK_EQ(len_of(SOFT_MODE_32, "67 8b 46 02", &i), 4); /* [bp+2] */
	CHECK_EQ(i.seg, SEG_SS);
	CHECK_EQ(len_of(SOFT_MODE_32, "06", &i), 1);          /* push es is valid here */
	CHECK_EQ(len_of(SOFT_MODE_16, "8b 06 34 12", &i), 4); /* mov ax, [0x1234] */
	CHECK_EQ(i.base, SOFT_NOREG);
	CHECK_EQ(i.disp, 0x1234);
	CHECK_EQ(i.osize, 2);
	CHECK_EQ(len_of(SOFT_MODE_16, "8b 00", &i), 2); /* [bx+si] */
	CHECK_EQ(i.base, GPR_RBX);
	CHECK_EQ(i.index, GPR_RSI);
	CHECK_EQ(len_of(SOFT_MODE_16, "66 b8 11 22 33 44", &i), 6);
	CHECK_EQ(len_of(SOFT_MODE_16, "e8 00 00", &i), 3);
	CHECK_EQ(len_of(SOFT_MODE_16, "a1 00 10", &i), 3);
	CHECK_EQ(len_of(SOFT_MODE_32, "9a 44 33 22 11 08 00", &i), 7); /* call far ptr16:32 */
	CHECK_EQ(i.imm2, 8);
	CHECK_EQ(len_of(SOFT_MODE_16, "ea 00 7c 00 00", &i), 5); /* jmp far 0:7c00 */
}

static void test_invalid_and_truncated(void)
{
	CHECK_EQ(len_of(SOFT_MODE_64, "06", NULL), -1);             /* push es */
	CHECK_EQ(len_of(SOFT_MODE_64, "d6", NULL), -1);             /* salc */
	CHECK_EQ(len_of(SOFT_MODE_64, "c4 e2 79 00 c1", NULL), -1); /* VEX: not yet */
	CHECK_EQ(len_of(SOFT_MODE_64, "0f ff", NULL), -1);
	/* 15 bytes is the limit */
	CHECK_EQ(len_of(SOFT_MODE_64, "66 66 66 66 66 66 66 66 66 66 66 b8 11 22", NULL), 14);
	CHECK_EQ(len_of(SOFT_MODE_64, "66 66 66 66 66 66 66 66 66 66 66 66 66 b8 11 22", NULL), -2);
	CHECK_EQ(len_of(SOFT_MODE_64, "66 66 66 66 66 66 66 66 66 66 66 66 66 66 66 90", NULL), -2);
	/* truncated: more bytes needed */
	CHECK_EQ(len_of(SOFT_MODE_64, "48 b8 11 22", NULL), 0);
	CHECK_EQ(len_of(SOFT_MODE_64, "8b", NULL), 0);
	CHECK_EQ(len_of(SOFT_MODE_64, "8b 04", NULL), 0);
	CHECK_EQ(len_of(SOFT_MODE_64, "", NULL), 0);
}

/* --- executions outside the differential tester's reach --- */

static struct guest_mem mem;
static struct soft_cpu *cpu;

static void load_flat(const char *hex)
{
	uint8_t b[64];
	unsigned n = 0;
	for (const char *p = hex; *p;) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		unsigned v;
		sscanf(p, "%2x", &v);
		b[n++] = (uint8_t)v;
		p += 2;
	}
	soft_cpu_init(cpu, &mem, NULL);
	/* 32-bit protected mode, flat, paging off, CPL0 */
	cpu->state.cr0 = 1;
	cpu->state.seg[SEG_CS] = cpu_segment_flat(8, true, false);
	cpu->state.seg[SEG_SS] = cpu_segment_flat(16, false, false);
	cpu->state.seg[SEG_DS] = cpu->state.seg[SEG_ES] = cpu->state.seg[SEG_SS];
	cpu->state.rip = 0x1000;
	cpu->state.gpr[GPR_RSP] = 0x8000;
	mem_write(&mem, 0x1000, b, n);
}

static void test_exec_cpuid_rdtsc_hlt(void)
{
	load_flat("31 c0 0f a2 0f 31 f4"); /* xor eax,eax; cpuid; rdtsc; hlt */
	CHECK_EQ(soft_cpu_run(cpu, 2), SOFT_EXIT_LIMIT);
	CHECK_EQ(cpu->state.gpr[GPR_RBX], 0x756e6547); /* "Genu" */
	CHECK_EQ(cpu->state.gpr[GPR_RAX], 0x16);       /* up to the TSC frequency leaf */
	CHECK_EQ(soft_cpu_run(cpu, 10), SOFT_EXIT_HLT);
	CHECK_EQ(cpu->state.rip, 0x1007);
	CHECK_EQ(cpu->state.gpr[GPR_RAX], 2);      /* the TSC counts retired instructions */
	CHECK_EQ(cpu->state.rflags & 0x8d5, 0x44); /* xor: ZF PF */
}

/* Linux takes the TSC rate from leaf 0x15 (crystal * EBX / EAX) and the
 * nominal frequency from 0x16, and keeps the TSC as clocksource only if it
 * is invariant (0x80000007 EDX bit 8). */
static void test_cpuid_tsc_frequency(void)
{
	uint32_t r[4];
	soft_cpuid(cpu, 0x15, 0, r);
	CHECK(r[0] != 0 && r[1] != 0 && r[2] != 0);
	CHECK_EQ((uint64_t)r[2] * r[1] / r[0], SOFT_GUEST_TSC_HZ);
	soft_cpuid(cpu, 0x16, 0, r);
	CHECK_EQ((uint64_t)r[0] * 1000000, SOFT_GUEST_TSC_HZ);
	soft_cpuid(cpu, 0x80000007, 0, r);
	CHECK(r[3] & (1u << 8));
}

static void test_exec_rep_restarts(void)
{
	/* rep stosb of 10000 bytes: yields after its budget with RIP on it */
	load_flat("f3 aa f4");
	cpu->state.gpr[GPR_RCX] = 10000;
	cpu->state.gpr[GPR_RDI] = 0x10000;
	cpu->state.gpr[GPR_RAX] = 0x5a;
	CHECK_EQ(soft_cpu_run(cpu, 1), SOFT_EXIT_LIMIT);
	CHECK_EQ(cpu->state.rip, 0x1000);
	CHECK(cpu->state.gpr[GPR_RCX] > 0 && cpu->state.gpr[GPR_RCX] < 10000);
	CHECK_EQ(soft_cpu_run(cpu, 100), SOFT_EXIT_HLT);
	CHECK_EQ(cpu->state.gpr[GPR_RCX], 0);
	CHECK_EQ(cpu->state.gpr[GPR_RDI], 0x10000 + 10000);
	uint8_t b[2];
	mem_read(&mem, 0x10000 + 9999, b, 2);
	CHECK_EQ(b[0], 0x5a);
	CHECK_EQ(b[1], 0);
}

static void test_exec_unimplemented_is_ud(void)
{
	load_flat("0f aa"); /* RSM: no SMM, so not implemented */
	cpu->report_exceptions = true;
	CHECK_EQ(soft_cpu_run(cpu, 1), SOFT_EXIT_EXCEPTION);
	CHECK_EQ(cpu->exc.vector, SOFT_UD);
	CHECK_EQ(cpu->state.rip, 0x1000);
	CHECK_EQ(cpu->unimpl_count[0x1aa], 1);
	CHECK_EQ(soft_cpu_run(cpu, 1), SOFT_EXIT_EXCEPTION);
	CHECK_EQ(cpu->unimpl_count[0x1aa], 2);
	/* delivered through an empty IDT: #UD -> #GP -> #DF -> triple fault */
	cpu->report_exceptions = false;
	CHECK_EQ(soft_cpu_run(cpu, 1), SOFT_EXIT_SHUTDOWN);
	/* LOCK on a register operand is #UD */
	load_flat("f0 01 c0");
	cpu->report_exceptions = true;
	CHECK_EQ(soft_cpu_run(cpu, 1), SOFT_EXIT_EXCEPTION);
	CHECK_EQ(cpu->exc.vector, SOFT_UD);
}

static void test_exec_self_modifying(void)
{
	/* mov byte [0x1008], 0x41 (inc ecx -> 0x41 is "inc ecx" in 32-bit);
	 * the decode cache must see the new byte */
	load_flat("40 c6 05 08 10 00 00 41 40 f4");
	CHECK_EQ(soft_cpu_run(cpu, 1), SOFT_EXIT_LIMIT);
	/* run the code at 0x1008 once, as "inc eax" */
	cpu->state.rip = 0x1008;
	CHECK_EQ(soft_cpu_run(cpu, 1), SOFT_EXIT_LIMIT);
	CHECK_EQ(cpu->state.gpr[GPR_RAX], 2);
	cpu->state.rip = 0x1001;
	CHECK_EQ(soft_cpu_run(cpu, 10), SOFT_EXIT_HLT);
	CHECK_EQ(cpu->state.gpr[GPR_RCX], 1);
	CHECK_EQ(cpu->state.gpr[GPR_RAX], 2);
}

int main(void)
{
	RUN(test_lengths_64);
	RUN(test_operands);
	RUN(test_legacy_modes);
	RUN(test_invalid_and_truncated);
	struct error err;
	if (mem_init(&mem, 16ULL << 20, false, &err) != 0) {
		printf("mem_init: %s\n", err.msg);
		return 1;
	}
	cpu = calloc(1, sizeof *cpu);
	RUN(test_exec_cpuid_rdtsc_hlt);
	RUN(test_cpuid_tsc_frequency);
	RUN(test_exec_rep_restarts);
	RUN(test_exec_unimplemented_is_ud);
	RUN(test_exec_self_modifying);
	free(cpu);
	mem_destroy(&mem);
	TEST_DONE();
}
