/* The soft engine's legacy integer instructions where the differential
 * tester cannot go (it runs 32-bit code at CPL3 under Linux): real mode
 * with its 16-bit stack and selector * 16 bases, the 16-bit forms, 64-bit
 * mode (#UD, and LSS/LFS/LGS with REX.W), and far-pointer loads against
 * descriptors a test controls (#NP, read-only stack segments); and MOVBE,
 * ADCX, ADOX where the tester does not generate them (register forms of
 * MOVBE, missing prefixes) and their CPUID bits. */
#include "soft_fixture.h"

/* Real mode: code at 1000:0000 (linear CODE), data segments 0, SS:SP
 * 0000:8000. */
static void setup_real(const uint8_t *code, size_t len)
{
	fixture_reset();
	struct cpu_state *s = &cpu->state;
	s->seg[SEG_CS].selector = CODE >> 4;
	s->seg[SEG_CS].base = CODE;
	for (int k = SEG_ES; k <= SEG_GS; k++) {
		if (k == SEG_CS)
			continue;
		s->seg[k].selector = 0;
		s->seg[k].base = 0;
	}
	s->rip = 0;
	s->gpr[GPR_RSP] = 0x8000;
	put(CODE, code, len);
}

static uint16_t rd16(uint64_t gpa)
{
	uint16_t v = 0;
	mem_read(&mem, gpa, &v, 2);
	return v;
}

static void test_real_pusha_popa(void)
{
	/* pusha; mov word [0x7ff0], 0x1111 (DI's slot); mov word [0x7ff6], 0xbeef
	 * (SP's slot: skipped); popa; hlt */
	static const uint8_t code[] = {0x60, 0xc7, 0x06, 0xf0, 0x7f, 0x11, 0x11, 0xc7,
	                               0x06, 0xf6, 0x7f, 0xef, 0xbe, 0x61, 0xf4};
	setup_real(code, sizeof code);
	uint64_t *g = cpu->state.gpr;
	for (int r = 0; r < 8; r++)
		if (r != GPR_RSP)
			g[r] = 0xabcd0000ULL | (uint64_t)(0x100 * r + r);
	g[GPR_RSP] = 0x55558000; /* a 16-bit stack uses and keeps only SP */
	CHECK_EQ(soft_cpu_run(cpu, 1), SOFT_EXIT_LIMIT);
	CHECK_EQ(g[GPR_RSP], 0x55557ff0);
	/* AX at the top, DI at the bottom, the original SP in between */
	CHECK_EQ(rd16(0x7ffe), 0x0000); /* AX = r0 */
	CHECK_EQ(rd16(0x7ffc), 0x0101); /* CX */
	CHECK_EQ(rd16(0x7ffa), 0x0202); /* DX */
	CHECK_EQ(rd16(0x7ff8), 0x0303); /* BX */
	CHECK_EQ(rd16(0x7ff6), 0x8000); /* SP before */
	CHECK_EQ(rd16(0x7ff4), 0x0505); /* BP */
	CHECK_EQ(rd16(0x7ff2), 0x0606); /* SI */
	CHECK_EQ(rd16(0x7ff0), 0x0707); /* DI */
	g[GPR_RAX] = g[GPR_RBX] = 0xffffffffffffffffULL;
	CHECK_EQ(soft_cpu_run(cpu, 10), SOFT_EXIT_HLT);
	CHECK_EQ(g[GPR_RDI], 0xabcd1111);            /* the slot as rewritten */
	CHECK_EQ(g[GPR_RAX], 0xffffffffffff0000ULL); /* 16-bit pops merge */
	CHECK_EQ(g[GPR_RBX], 0xffffffffffff0303ULL);
	CHECK_EQ(g[GPR_RSP], 0x55558000); /* SP's slot is not loaded */
}

static void test_real_pusha_wraps(void)
{
	/* SP = 4: the pushes wrap around the 64 KiB stack segment, slot by slot */
	static const uint8_t code[] = {0x60, 0x61, 0xf4};
	setup_real(code, sizeof code);
	uint64_t *g = cpu->state.gpr;
	cpu->state.seg[SEG_SS].selector = 0x2000;
	cpu->state.seg[SEG_SS].base = 0x20000;
	for (int r = 0; r < 8; r++)
		g[r] = 0x1110 * (uint64_t)(r + 1);
	g[GPR_RSP] = 4;
	CHECK_EQ(soft_cpu_run(cpu, 1), SOFT_EXIT_LIMIT);
	CHECK_EQ(g[GPR_RSP], 0xfff4);
	CHECK_EQ(rd16(0x20002), 0x1110); /* AX */
	CHECK_EQ(rd16(0x20000), 0x2220); /* CX */
	CHECK_EQ(rd16(0x2fffe), 0x3330); /* DX: wrapped */
	CHECK_EQ(rd16(0x2fffc), 0x4440); /* BX */
	CHECK_EQ(rd16(0x2fffa), 4);      /* SP */
	CHECK_EQ(rd16(0x2fff4), 0x8880); /* DI */
	g[GPR_RDX] = 0;
	CHECK_EQ(soft_cpu_run(cpu, 10), SOFT_EXIT_HLT);
	CHECK_EQ(g[GPR_RSP], 4);
	CHECK_EQ(g[GPR_RDX], 0x3330);

	/* 32-bit PUSHAD (66 60) in real mode: doublewords, ESP pushed whole */
	static const uint8_t code32[] = {0x66, 0x60, 0xf4};
	setup_real(code32, sizeof code32);
	g[GPR_RAX] = 0x12345678;
	g[GPR_RSP] = 0x8000;
	CHECK_EQ(soft_cpu_run(cpu, 10), SOFT_EXIT_HLT);
	CHECK_EQ(g[GPR_RSP], 0x8000 - 32);
	CHECK_EQ(rd32(0x8000 - 4), 0x12345678);
	CHECK_EQ(rd32(0x8000 - 20), 0x8000);
}

static void test_pusha_fault_part_way(void)
{
	/* 32-bit protected mode, an expand-down stack segment whose valid
	 * offsets start at 0x8008: PUSHAD at ESP 0x8010 pushes EAX and ECX,
	 * then #SS(0) with ESP unchanged (the difftest showed that hardware
	 * pushes one slot at a time) */
	static const uint8_t code[] = {0x60, 0xf4};
	setup_pm32(0);
	wr64(GDT + 0x48, seg_desc(0, 0x8007, 0x7, 0, SEG_DB));
	cpu->state.seg[SEG_SS] = seg_from_gdt(0x48);
	put(CODE, code, sizeof code);
	cpu->state.gpr[GPR_RAX] = 0xaaaaaaaa;
	cpu->state.gpr[GPR_RCX] = 0xcccccccc;
	cpu->state.gpr[GPR_RDX] = 0xdddddddd;
	cpu->state.gpr[GPR_RSP] = 0x8010;
	CHECK(run_to_exception(10, SOFT_SS, 0));
	CHECK_EQ(cpu->state.gpr[GPR_RSP], 0x8010);
	CHECK_EQ(cpu->state.rip, CODE);
	CHECK_EQ(rd32(0x800c), 0xaaaaaaaa); /* went out before the fault */
	CHECK_EQ(rd32(0x8008), 0xcccccccc);
	CHECK_EQ(rd32(0x8004), 0);
	/* and with room for all eight, the same instruction completes */
	cpu->state.gpr[GPR_RSP] = 0x8028;
	CHECK_EQ(soft_cpu_run(cpu, 10), SOFT_EXIT_HLT);
	CHECK_EQ(cpu->state.gpr[GPR_RSP], 0x8008);
	CHECK_EQ(rd32(0x8008), 0); /* EDI */
}

static void test_real_far_pointers(void)
{
	/* les di, [0x104]; lss sp, [0x108]; lfs ax, [0x10c]; lgs bx, [0x110];
	 * lds si, [0x100]; mov cl, [si] (through the new DS); o32 lds edx,
	 * [0x120]; hlt */
	static const uint8_t code[] = {0xc4, 0x3e, 0x04, 0x01, 0x0f, 0xb2, 0x26, 0x08,
	                               0x01, 0x0f, 0xb4, 0x06, 0x0c, 0x01, 0x0f, 0xb5,
	                               0x1e, 0x10, 0x01, 0xc5, 0x36, 0x00, 0x01, 0x8a,
	                               0x0c, 0x66, 0xc5, 0x16, 0x20, 0x01, 0xf4};
	setup_real(code, sizeof code);
	wr32(0x100, 0x56781234); /* 5678:1234 */
	wr32(0x104, 0x2000abcd);
	wr32(0x108, 0x30000100);
	wr32(0x10c, 0x4000fffe);
	wr32(0x110, 0x5000eeee);
	mem_write(&mem, 0x56780 + 0x1234, "\x5a", 1);
	const struct cpu_state *s = &cpu->state;
	uint64_t *g = cpu->state.gpr;
	g[GPR_RSI] = ~0ULL; /* a 16-bit load writes the low word only */
	CHECK_EQ(soft_cpu_run(cpu, 6), SOFT_EXIT_LIMIT);
	CHECK_EQ(s->seg[SEG_DS].selector, 0x5678);
	CHECK_EQ(s->seg[SEG_DS].base, 0x56780);
	CHECK_EQ(g[GPR_RSI], 0xffffffffffff1234ULL);
	CHECK_EQ(s->seg[SEG_ES].base, 0x20000);
	CHECK_EQ(g[GPR_RDI] & 0xffff, 0xabcd);
	CHECK_EQ(s->seg[SEG_SS].base, 0x30000);
	CHECK_EQ(g[GPR_RSP] & 0xffff, 0x0100);
	CHECK_EQ(s->seg[SEG_FS].base, 0x40000);
	CHECK_EQ(g[GPR_RAX] & 0xffff, 0xfffe);
	CHECK_EQ(s->seg[SEG_GS].base, 0x50000);
	CHECK_EQ(g[GPR_RBX] & 0xffff, 0xeeee);
	CHECK_EQ(g[GPR_RCX] & 0xff, 0x5a); /* read at DS.base + SI */
	/* the operand-size prefix: a 32-bit offset, the selector after it;
	 * DS:[0x120] is now 5678:0120 */
	wr32(0x56780 + 0x120, 0x89abcdef);
	wr16(0x56780 + 0x124, 0x0700);
	CHECK_EQ(soft_cpu_run(cpu, 10), SOFT_EXIT_HLT);
	CHECK_EQ(g[GPR_RDX] & 0xffffffff, 0x89abcdef);
	CHECK_EQ(s->seg[SEG_DS].base, 0x7000);

	/* a register operand is #UD (C5 C0 would be VEX in protected mode) */
	static const uint8_t reg_form[] = {0x0f, 0xb2, 0xc0};
	setup_real(reg_form, sizeof reg_form);
	CHECK(run_to_exception(10, SOFT_UD, ~0u));
}

static void test_pm_far_pointer_checks(void)
{
	/* lds eax, [0x200]: each selector at 0x204 in turn */
	static const uint8_t lds[] = {0xc5, 0x05, 0x00, 0x02, 0x00, 0x00, 0xf4};
	/* lss esp, [0x200] */
	static const uint8_t lss[] = {0x0f, 0xb2, 0x25, 0x00, 0x02, 0x00, 0x00, 0xf4};
	struct {
		const uint8_t *code;
		size_t len;
		uint16_t sel;
		unsigned vector; /* ~0u: loads */
		uint32_t error;
	} cases[] = {
	    {lds, sizeof lds, 0x10, ~0u, 0},        {lds, sizeof lds, 0x0, ~0u, 0},
	    {lds, sizeof lds, 0x3, ~0u, 0},         {lds, sizeof lds, 0x100, SOFT_GP, 0x100},
	    {lds, sizeof lds, 0x50, SOFT_NP, 0x50}, /* not present */
	    {lds, sizeof lds, 0x58, SOFT_GP, 0x58}, /* execute-only code */
	    {lds, sizeof lds, 0x38, SOFT_GP, 0x38}, /* the TSS */
	    {lds, sizeof lds, 0x07, SOFT_GP, 0x04}, /* LDT: there is none */
	    {lss, sizeof lss, 0x10, ~0u, 0},        {lss, sizeof lss, 0x0, SOFT_GP, 0},
	    {lss, sizeof lss, 0x60, SOFT_GP, 0x60}, /* read-only data */
	    {lss, sizeof lss, 0x13, SOFT_GP, 0x10}, /* RPL != CPL */
	    {lss, sizeof lss, 0x20, SOFT_GP, 0x20}, /* DPL 3 != CPL */
	    {lss, sizeof lss, 0x68, SOFT_SS, 0x68}, /* not present */
	};
	for (unsigned k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		setup_pm32(0);
		wr64(GDT + 0x50, seg_desc(0, 0xfffff, 0x3, 0, SEG_DB | SEG_G) & ~(1ULL << 47));
		wr64(GDT + 0x58, seg_desc(0, 0xfffff, 0x9, 0, SEG_DB | SEG_G));
		wr64(GDT + 0x60, seg_desc(0, 0xfffff, 0x1, 0, SEG_DB | SEG_G));
		wr64(GDT + 0x68, seg_desc(0, 0xfffff, 0x3, 0, SEG_DB | SEG_G) & ~(1ULL << 47));
		put(CODE, cases[k].code, cases[k].len);
		wr32(0x200, 0x00123456);
		wr16(0x204, cases[k].sel);
		struct cpu_state before = cpu->state;
		if (cases[k].vector == ~0u) {
			CHECK_EQ(soft_cpu_run(cpu, 10), SOFT_EXIT_HLT);
			unsigned seg = cases[k].code == lss ? SEG_SS : SEG_DS;
			unsigned reg = cases[k].code == lss ? GPR_RSP : GPR_RAX;
			CHECK_EQ(cpu->state.seg[seg].selector, cases[k].sel);
			CHECK_EQ(cpu->state.gpr[reg], 0x00123456);
			CHECK_EQ(cpu->state.seg[seg].unusable, (cases[k].sel & ~3) == 0);
		} else {
			if (!run_to_exception(10, cases[k].vector, cases[k].error))
				printf("    case %u (selector %#x)\n", k, cases[k].sel);
			/* nothing changed: not the register, not the segment */
			CHECK(!memcmp(cpu->state.gpr, before.gpr, sizeof before.gpr));
			CHECK(!memcmp(cpu->state.seg, before.seg, sizeof before.seg));
			CHECK_EQ(cpu->state.rip, CODE);
		}
	}
}

static void test_long_mode(void)
{
	/* Outside 64-bit mode only: #UD in it (C4/C5 are VEX, not supported) */
	static const uint8_t ud[][2] = {{0x27},       {0x2f}, {0x37},       {0x3f},
	                                {0x60},       {0x61}, {0x62, 0x00}, {0xd4, 0x0a},
	                                {0xd5, 0x0a}, {0xd6}, {0xc4, 0x00}, {0xc5, 0x00}};
	for (unsigned k = 0; k < sizeof ud / sizeof ud[0]; k++) {
		setup_long(0);
		put(CODE, ud[k], 2);
		if (!run_to_exception(10, SOFT_UD, ~0u))
			printf("    opcode %02x\n", ud[k][0]);
	}

	/* LFS/LGS/LSS are valid; REX.W reads m16:64 (Intel); a null SS at CPL0
	 * with RPL 0 is allowed; a null FS clears its base */
	/* rex.w lfs rax, [0x200]; lgs ebx, [0x210]; lss rsp, [0x220] (48);
	 * mov ecx, 0; mov fs, ecx; hlt */
	static const uint8_t code[] = {0x48, 0x0f, 0xb4, 0x04, 0x25, 0x00, 0x02, 0x00, 0x00,
	                               0x0f, 0xb5, 0x1c, 0x25, 0x10, 0x02, 0x00, 0x00, 0x48,
	                               0x0f, 0xb2, 0x24, 0x25, 0x20, 0x02, 0x00, 0x00, 0xb9,
	                               0x00, 0x00, 0x00, 0x00, 0x8e, 0xe1, 0xf4};
	setup_long(0);
	put(CODE, code, sizeof code);
	wr64(0x200, 0x1122334455667788ULL);
	wr16(0x208, 0x10);
	wr32(0x210, 0x99aabbcc);
	wr16(0x214, 0x10);
	wr64(0x220, 0x6000);
	wr16(0x228, 0x0);
	struct cpu_state *s = &cpu->state;
	s->gpr[GPR_RBX] = ~0ULL;
	CHECK_EQ(soft_cpu_run(cpu, 3), SOFT_EXIT_LIMIT);
	CHECK_EQ(s->gpr[GPR_RAX], 0x1122334455667788ULL);
	CHECK_EQ(s->seg[SEG_FS].selector, 0x10);
	CHECK_EQ(s->gpr[GPR_RBX], 0x99aabbcc); /* a 32-bit load zero-extends */
	CHECK_EQ(s->seg[SEG_GS].selector, 0x10);
	CHECK_EQ(s->gpr[GPR_RSP], 0x6000);
	CHECK_EQ(s->seg[SEG_SS].selector, 0);
	s->seg[SEG_FS].base = 0x12345000;
	CHECK_EQ(soft_cpu_run(cpu, 10), SOFT_EXIT_HLT);
	CHECK_EQ(s->seg[SEG_FS].selector, 0);
	CHECK_EQ(s->seg[SEG_FS].base, 0);

	/* 63 stays MOVSXD */
	static const uint8_t movsxd[] = {0x48, 0x63, 0xc1, 0xf4};
	setup_long(0);
	put(CODE, movsxd, sizeof movsxd);
	s->gpr[GPR_RCX] = 0x80000000;
	CHECK_EQ(soft_cpu_run(cpu, 10), SOFT_EXIT_HLT);
	CHECK_EQ(s->gpr[GPR_RAX], 0xffffffff80000000ULL);
}

/* Run one instruction with AX and the flags given; AX and flags after. */
static uint64_t run_bcd(const uint8_t *insn, size_t len, uint16_t ax, uint64_t flags,
                        uint64_t *flags_out)
{
	uint8_t code[8];
	memcpy(code, insn, len);
	code[len] = 0xf4;
	setup_real(code, len + 1);
	cpu->state.gpr[GPR_RAX] = 0x5555000000000000ULL | ax;
	cpu->state.rflags = 0x2 | flags;
	if (soft_cpu_run(cpu, 10) != SOFT_EXIT_HLT)
		return ~0ULL;
	*flags_out = cpu->state.rflags;
	return cpu->state.gpr[GPR_RAX];
}

#define CF 0x1
#define PF 0x4
#define AF 0x10
#define ZF 0x40
#define SF 0x80

static void test_bcd(void)
{
	static const uint8_t daa[] = {0x27}, das[] = {0x2f}, aaa[] = {0x37}, aas[] = {0x3f};
	static const uint8_t aam[] = {0xd4, 0x0a}, aad[] = {0xd5, 0x0a}, aam0[] = {0xd4, 0x00};
	static const uint8_t aam16[] = {0xd4, 0x10};
	uint64_t f;
	/* the SDM's examples: 79 + 35 = AE, DAA: 14 and a carry */
	CHECK_EQ(run_bcd(daa, 1, 0x00ae, 0, &f), 0x5555000000000014ULL);
	CHECK_EQ(f & (CF | AF | ZF | SF), CF | AF);
	/* 2E (a low digit beyond 9): 34, no carry */
	CHECK_EQ(run_bcd(daa, 1, 0x002e, 0, &f) & 0xffff, 0x0034);
	CHECK_EQ(f & (CF | AF), AF);
	/* 35 - 47 = EE, DAS: 88 with a borrow */
	CHECK_EQ(run_bcd(das, 1, 0x00ee, CF, &f) & 0xffff, 0x0088);
	CHECK_EQ(f & (CF | AF | SF), CF | AF | SF);
	/* DAS keeps the borrow of the low digit: 03 with AF: FD, CF */
	CHECK_EQ(run_bcd(das, 1, 0x0003, AF, &f) & 0xffff, 0x00fd);
	CHECK_EQ(f & (CF | AF), CF | AF);
	/* nothing to adjust: DAA 42 stays, CF AF cleared, PF/ZF/SF from AL */
	CHECK_EQ(run_bcd(daa, 1, 0x0000, 0, &f) & 0xffff, 0);
	CHECK_EQ(f & (CF | AF | ZF | PF), ZF | PF);
	/* AAA: 08 + 09 = 11 with AF set: AX 0111 -> 0207 */
	CHECK_EQ(run_bcd(aaa, 1, 0x0111, AF, &f) & 0xffff, 0x0207);
	CHECK_EQ(f & (CF | AF), CF | AF);
	/* AAA at AL FA: AX + 106 carries into AH twice */
	CHECK_EQ(run_bcd(aaa, 1, 0x01fa, 0, &f) & 0xffff, 0x0300);
	/* AAS: AX 0209 with AF: AX - 6, AH - 1 -> 0103 */
	CHECK_EQ(run_bcd(aas, 1, 0x0209, AF, &f) & 0xffff, 0x0103);
	CHECK_EQ(f & (CF | AF), CF | AF);
	CHECK_EQ(run_bcd(aas, 1, 0x0205, 0, &f) & 0xffff, 0x0205);
	CHECK_EQ(f & (CF | AF), 0);
	/* AAM: 63 = 0x3f -> 06 03; any base; AAD undoes it */
	CHECK_EQ(run_bcd(aam, 2, 0x123f, 0, &f) & 0xffff, 0x0603);
	CHECK_EQ(run_bcd(aam16, 2, 0x00ab, 0, &f) & 0xffff, 0x0a0b);
	CHECK_EQ(run_bcd(aad, 2, 0x0603, 0, &f), 0x555500000000003fULL);
	CHECK_EQ(run_bcd(aad, 2, 0x0000, 0, &f) & 0xffff, 0);
	CHECK_EQ(f & (ZF | PF | SF), ZF | PF);

	/* AAM 0: #DE, nothing changed */
	setup_real(aam0, sizeof aam0);
	cpu->state.gpr[GPR_RAX] = 0x1234;
	CHECK(run_to_exception(10, SOFT_DE, ~0u));
	CHECK_EQ(cpu->state.gpr[GPR_RAX], 0x1234);
	CHECK_EQ(cpu->state.rip, 0);

	/* SALC: AL from CF, flags unchanged */
	static const uint8_t salc[] = {0xd6};
	CHECK_EQ(run_bcd(salc, 1, 0x1234, CF | ZF, &f) & 0xffff, 0x12ff);
	CHECK_EQ(f & 0xfff, 0x2 | CF | ZF);
	CHECK_EQ(run_bcd(salc, 1, 0x1234, ZF, &f) & 0xffff, 0x1200);
}

static void test_bound_and_arpl(void)
{
	/* bound ax, [0x300] (16-bit bounds -2..5 in real mode) */
	static const uint8_t bound[] = {0x62, 0x06, 0x00, 0x03, 0xf4};
	static const int16_t idx[] = {-3, -2, 0, 5, 6};
	for (unsigned k = 0; k < 5; k++) {
		setup_real(bound, sizeof bound);
		wr16(0x300, (uint16_t)-2);
		wr16(0x302, 5);
		cpu->state.gpr[GPR_RAX] = 0xffff0000u | (uint16_t)idx[k];
		if (idx[k] < -2 || idx[k] > 5) {
			CHECK(run_to_exception(10, SOFT_BR, ~0u));
			CHECK_EQ(cpu->state.rip, 0); /* a fault */
		} else {
			CHECK_EQ(soft_cpu_run(cpu, 10), SOFT_EXIT_HLT);
		}
	}
	/* register form: #UD */
	static const uint8_t bound_reg[] = {0x62, 0xc0};
	setup_real(bound_reg, sizeof bound_reg);
	CHECK(run_to_exception(10, SOFT_UD, ~0u));

	/* ARPL is #UD in real mode */
	static const uint8_t arpl[] = {0x63, 0xc8, 0xf4}; /* arpl ax, cx */
	setup_real(arpl, sizeof arpl);
	CHECK(run_to_exception(10, SOFT_UD, ~0u));
	/* in protected mode: RPL raised to CX's, ZF set; upper bits kept */
	setup_pm32(0);
	put(CODE, arpl, sizeof arpl);
	cpu->state.gpr[GPR_RAX] = 0xdead0028;
	cpu->state.gpr[GPR_RCX] = 0x3;
	CHECK_EQ(soft_cpu_run(cpu, 10), SOFT_EXIT_HLT);
	CHECK_EQ(cpu->state.gpr[GPR_RAX], 0xdead002b);
	CHECK(cpu->state.rflags & ZF);
	setup_pm32(0);
	put(CODE, arpl, sizeof arpl);
	cpu->state.gpr[GPR_RAX] = 0x2b;
	cpu->state.gpr[GPR_RCX] = 0x1;
	cpu->state.rflags |= ZF;
	CHECK_EQ(soft_cpu_run(cpu, 10), SOFT_EXIT_HLT);
	CHECK_EQ(cpu->state.gpr[GPR_RAX], 0x2b);
	CHECK(!(cpu->state.rflags & ZF));
}

static void test_movbe_adx(void)
{
	/* advertised: CPUID.1:ECX.MOVBE[22], CPUID.7.0:EBX.ADX[19] */
	uint32_t r[4];
	setup_long(0);
	soft_cpuid(cpu, 1, 0, r);
	CHECK(r[2] & (1u << 22));
	soft_cpuid(cpu, 7, 0, r);
	CHECK(r[1] & (1u << 19));

	/* movbe rax, [0x200]; movbe [0x208], cx (16-bit); hlt */
	static const uint8_t code[] = {0x48, 0x0f, 0x38, 0xf0, 0x04, 0x25, 0x00,
	                               0x02, 0x00, 0x00, 0x66, 0x0f, 0x38, 0xf1,
	                               0x0c, 0x25, 0x08, 0x02, 0x00, 0x00, 0xf4};
	setup_long(0);
	put(CODE, code, sizeof code);
	wr64(0x200, 0x0102030405060708ULL);
	cpu->state.gpr[GPR_RCX] = 0xaabb;
	CHECK_EQ(soft_cpu_run(cpu, 10), SOFT_EXIT_HLT);
	CHECK_EQ(cpu->state.gpr[GPR_RAX], 0x0807060504030201ULL);
	CHECK_EQ(rd64(0x208) & 0xffff, 0xbbaa);

	/* adcx eax, ecx with CF; adox rbx, rdx with OF; neither touches the
	 * other's flag or ZF */
	static const uint8_t add[] = {0x66, 0x0f, 0x38, 0xf6, 0xc1, 0xf3,
	                              0x48, 0x0f, 0x38, 0xf6, 0xda, 0xf4};
	setup_long(0);
	put(CODE, add, sizeof add);
	cpu->state.gpr[GPR_RAX] = 0xffffffff;
	cpu->state.gpr[GPR_RCX] = 0;
	cpu->state.gpr[GPR_RBX] = 5;
	cpu->state.gpr[GPR_RDX] = 7;
	cpu->state.rflags = 0x2 | 0x1 | 0x800 | 0x40; /* CF OF ZF */
	CHECK_EQ(soft_cpu_run(cpu, 10), SOFT_EXIT_HLT);
	CHECK_EQ(cpu->state.gpr[GPR_RAX], 0);  /* ffffffff + 0 + 1, carry out */
	CHECK_EQ(cpu->state.gpr[GPR_RBX], 13); /* 5 + 7 + OF, no carry out */
	CHECK_EQ(cpu->state.rflags & 0x8c5, 0x1 | 0x40);

	/* #UD: MOVBE with a register operand, 0F 38 F6 without 66/F3, F2 0F 38 F6 */
	static const uint8_t ud[][6] = {
	    {0x0f, 0x38, 0xf0, 0xc1}, {0x0f, 0x38, 0xf6, 0xc1}, {0xf2, 0x0f, 0x38, 0xf6, 0xc1}};
	for (unsigned k = 0; k < 3; k++) {
		setup_long(0);
		put(CODE, ud[k], sizeof ud[k]);
		CHECK(run_to_exception(10, SOFT_UD, ~0u));
	}
}

int main(void)
{
	if (fixture_init() != 0)
		return 1;
	RUN(test_real_pusha_popa);
	RUN(test_real_pusha_wraps);
	RUN(test_pusha_fault_part_way);
	RUN(test_real_far_pointers);
	RUN(test_pm_far_pointer_checks);
	RUN(test_long_mode);
	RUN(test_bcd);
	RUN(test_bound_and_arpl);
	RUN(test_movbe_adx);
	TEST_DONE();
}
