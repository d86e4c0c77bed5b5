/* Case generator: instruction templates, a small x86-64 encoder, and the
 * operand setups that make each instruction do something worth comparing.
 *
 * A case is one main instruction (any template, any operand form: register
 * or memory through every addressing form, every operand size, LOCK where
 * allowed) followed by up to two register-only "followers" that consume its
 * flags (Jcc, SETcc, CMOVcc, ADC, LAHF, ...), then INT3. Register values are
 * random or edge values (0, 1, -1, sign boundaries); memory operands are
 * aimed at the data pages, sometimes across the page boundary, at the
 * read-only page or at the guard page, so faults are compared too.
 *
 * The flags an instruction leaves undefined are not compared. Which ones
 * those are is the SDM's rule per instruction, written down here in the
 * template table (def/undef) and in dt_flag_effect() for the count-dependent
 * shifts and rotates. A follower never reads a flag that may be undefined. */
#include <asm/prctl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gen.h"

#define A6 DT_FL_ARITH
#define LOGIC_DEF (DT_FL_CF | DT_FL_PF | DT_FL_ZF | DT_FL_SF | DT_FL_OF)

static struct tmpl T[DT_MAX_TMPL];
static unsigned nT;
static unsigned followers[DT_MAX_TMPL], nfollowers;

struct tmpl *add(struct tmpl t)
{
	T[nT] = t;
	if (t.flags & T_FOLLOW)
		followers[nfollowers++] = nT;
	return &T[nT++];
}

/* Opcode byte sequences. */
#define O1(a) .nopc = 1, .opc = {a}
#define O2(a, b) .nopc = 2, .opc = {a, b}

static const uint16_t cc_reads[16] = {DT_FL_OF,
                                      DT_FL_OF,
                                      DT_FL_CF,
                                      DT_FL_CF,
                                      DT_FL_ZF,
                                      DT_FL_ZF,
                                      DT_FL_CF | DT_FL_ZF,
                                      DT_FL_CF | DT_FL_ZF,
                                      DT_FL_SF,
                                      DT_FL_SF,
                                      DT_FL_PF,
                                      DT_FL_PF,
                                      DT_FL_SF | DT_FL_OF,
                                      DT_FL_SF | DT_FL_OF,
                                      DT_FL_ZF | DT_FL_SF | DT_FL_OF,
                                      DT_FL_ZF | DT_FL_SF | DT_FL_OF};
static const char *const cc_names[16] = {"o", "no", "b", "ae", "e", "ne", "be", "a",
                                         "s", "ns", "p", "np", "l", "ge", "le", "g"};

/* The host's FS and GS bases: the native side runs with them, so the soft
 * side gets the same and FS:/GS: operands land in the same place. */
static uint64_t host_fs_base, host_gs_base;

void dt_gen_init(void)
{
	syscall(SYS_arch_prctl, ARCH_GET_FS, &host_fs_base);
	syscall(SYS_arch_prctl, ARCH_GET_GS, &host_gs_base);
	static char names[64][16];
	unsigned nn = 0;
	if (nT)
		return;
	static const char *const alu[8] = {"add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"};
	for (int k = 0; k < 8; k++) {
		bool logic = k == 1 || k == 4 || k == 6;
		uint16_t def = logic ? LOGIC_DEF : A6, und = logic ? DT_FL_AF : 0;
		uint16_t rd = (k == 2 || k == 3) ? DT_FL_CF : 0;
		uint8_t lk = k == 7 ? 0 : T_LOCK;
		uint8_t b = (uint8_t)(k * 8);
		add((struct tmpl){alu[k], K_MODRM, O1(b), .ext = -1, .sizes = S1, .def = def,
		                  .undef = und, .reads = rd, .flags = lk | T_FOLLOW});
		add((struct tmpl){alu[k], K_MODRM, O1(b + 1), .ext = -1, .sizes = S2 | S4 | S8,
		                  .def = def, .undef = und, .reads = rd, .flags = lk | T_FOLLOW});
		add((struct tmpl){alu[k], K_MODRM, O1(b + 2), .ext = -1, .sizes = S1, .def = def,
		                  .undef = und, .reads = rd, .flags = T_FOLLOW});
		add((struct tmpl){alu[k], K_MODRM, O1(b + 3), .ext = -1, .sizes = S2 | S4 | S8,
		                  .def = def, .undef = und, .reads = rd, .flags = T_FOLLOW});
		add((struct tmpl){alu[k], K_PLAIN, O1(b + 4), .imm = I_8, .sizes = S1, .def = def,
		                  .undef = und, .reads = rd, .flags = T_FOLLOW});
		add((struct tmpl){alu[k], K_PLAIN, O1(b + 5), .imm = I_Z, .sizes = S2 | S4 | S8,
		                  .def = def, .undef = und, .reads = rd, .flags = T_FOLLOW});
		add((struct tmpl){alu[k], K_MODRM, O1(0x80), .ext = (int8_t)k, .imm = I_8,
		                  .sizes = S1, .def = def, .undef = und, .reads = rd,
		                  .flags = lk | T_FOLLOW});
		add((struct tmpl){alu[k], K_MODRM, O1(0x81), .ext = (int8_t)k, .imm = I_Z,
		                  .sizes = S2 | S4 | S8, .def = def, .undef = und, .reads = rd,
		                  .flags = lk | T_FOLLOW});
		add((struct tmpl){alu[k], K_MODRM, O1(0x83), .ext = (int8_t)k, .imm = I_8,
		                  .sizes = S2 | S4 | S8, .def = def, .undef = und, .reads = rd,
		                  .flags = lk | T_FOLLOW});
	}
	add((struct tmpl){"test", K_MODRM, O1(0x84), .ext = -1, .sizes = S1, .def = LOGIC_DEF,
	                  .undef = DT_FL_AF, .flags = T_FOLLOW});
	add((struct tmpl){"test", K_MODRM, O1(0x85), .ext = -1, .sizes = S2 | S4 | S8,
	                  .def = LOGIC_DEF, .undef = DT_FL_AF, .flags = T_FOLLOW});
	add((struct tmpl){"test", K_PLAIN, O1(0xa8), .imm = I_8, .sizes = S1, .def = LOGIC_DEF,
	                  .undef = DT_FL_AF, .flags = T_FOLLOW});
	add((struct tmpl){"test", K_PLAIN, O1(0xa9), .imm = I_Z, .sizes = S2 | S4 | S8,
	                  .def = LOGIC_DEF, .undef = DT_FL_AF, .flags = T_FOLLOW});
	add((struct tmpl){"test", K_MODRM, O1(0xf6), .ext = 0, .imm = I_8, .sizes = S1,
	                  .def = LOGIC_DEF, .undef = DT_FL_AF, .flags = T_FOLLOW});
	add((struct tmpl){"test", K_MODRM, O1(0xf7), .ext = 0, .imm = I_Z, .sizes = S2 | S4 | S8,
	                  .def = LOGIC_DEF, .undef = DT_FL_AF, .flags = T_FOLLOW});
	static const char *const un[8] = {NULL, NULL, "not", "neg", "mul", "imul", "div", "idiv"};
	for (int k = 2; k < 8; k++) {
		uint16_t def = k == 2 ? 0 : k == 3 ? A6 : k < 6 ? (DT_FL_CF | DT_FL_OF) : 0;
		uint16_t und = k < 4 ? 0 : k < 6 ? (DT_FL_SF | DT_FL_ZF | DT_FL_AF | DT_FL_PF) : A6;
		uint8_t lk = k < 4 ? T_LOCK : 0;
		uint8_t su = k >= 6 ? SU_DIV : SU_NONE;
		add((struct tmpl){un[k], K_MODRM, O1(0xf6), .ext = (int8_t)k, .sizes = S1,
		                  .def = def, .undef = und, .flags = lk | T_FOLLOW, .setup = su});
		add((struct tmpl){un[k], K_MODRM, O1(0xf7), .ext = (int8_t)k, .sizes = S2 | S4 | S8,
		                  .def = def, .undef = und, .flags = lk | T_FOLLOW, .setup = su});
	}
	uint16_t incdef = DT_FL_PF | DT_FL_AF | DT_FL_ZF | DT_FL_SF | DT_FL_OF;
	add((struct tmpl){"inc", K_MODRM, O1(0xfe), .ext = 0, .sizes = S1, .def = incdef,
	                  .flags = T_LOCK | T_FOLLOW});
	add((struct tmpl){"inc", K_MODRM, O1(0xff), .ext = 0, .sizes = S2 | S4 | S8, .def = incdef,
	                  .flags = T_LOCK | T_FOLLOW});
	add((struct tmpl){"dec", K_MODRM, O1(0xfe), .ext = 1, .sizes = S1, .def = incdef,
	                  .flags = T_LOCK | T_FOLLOW});
	add((struct tmpl){"dec", K_MODRM, O1(0xff), .ext = 1, .sizes = S2 | S4 | S8, .def = incdef,
	                  .flags = T_LOCK | T_FOLLOW});
	uint16_t imuldef = DT_FL_CF | DT_FL_OF, imulund = DT_FL_SF | DT_FL_ZF | DT_FL_AF | DT_FL_PF;
	add((struct tmpl){"imul", K_MODRM, O2(0x0f, 0xaf), .ext = -1, .sizes = S2 | S4 | S8,
	                  .def = imuldef, .undef = imulund, .flags = T_FOLLOW});
	add((struct tmpl){"imul", K_MODRM, O1(0x69), .ext = -1, .imm = I_Z, .sizes = S2 | S4 | S8,
	                  .def = imuldef, .undef = imulund, .flags = T_FOLLOW});
	add((struct tmpl){"imul", K_MODRM, O1(0x6b), .ext = -1, .imm = I_8, .sizes = S2 | S4 | S8,
	                  .def = imuldef, .undef = imulund, .flags = T_FOLLOW});

	static const char *const sh[8] = {"rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar"};
	for (int k = 0; k < 8; k++) {
		uint8_t dyn = k < 4 ? D_ROT : D_SHIFT;
		uint16_t rd = (k == 2 || k == 3) ? DT_FL_CF : 0;
		uint16_t und = k < 4 ? DT_FL_OF : DT_FL_OF | DT_FL_AF | DT_FL_CF;
		add((struct tmpl){sh[k], K_MODRM, O1(0xc0), .ext = (int8_t)k, .imm = I_COUNT,
		                  .sizes = S1, .dyn = dyn, .undef = und, .reads = rd,
		                  .flags = T_FOLLOW});
		add((struct tmpl){sh[k], K_MODRM, O1(0xc1), .ext = (int8_t)k, .imm = I_COUNT,
		                  .sizes = S2 | S4 | S8, .dyn = dyn, .undef = und, .reads = rd,
		                  .flags = T_FOLLOW});
		add((struct tmpl){sh[k], K_MODRM, O1(0xd0), .ext = (int8_t)k, .sizes = S1,
		                  .dyn = dyn, .undef = und, .reads = rd, .flags = T_FOLLOW});
		add((struct tmpl){sh[k], K_MODRM, O1(0xd1), .ext = (int8_t)k, .sizes = S2 | S4 | S8,
		                  .dyn = dyn, .undef = und, .reads = rd, .flags = T_FOLLOW});
		add((struct tmpl){sh[k], K_MODRM, O1(0xd2), .ext = (int8_t)k, .sizes = S1,
		                  .dyn = dyn, .undef = und, .reads = rd, .setup = SU_CL});
		add((struct tmpl){sh[k], K_MODRM, O1(0xd3), .ext = (int8_t)k, .sizes = S2 | S4 | S8,
		                  .dyn = dyn, .undef = und, .reads = rd, .setup = SU_CL});
	}
	uint16_t shxund = A6;
	add((struct tmpl){"shld", K_MODRM, O2(0x0f, 0xa4), .ext = -1, .imm = I_COUNT,
	                  .sizes = S2 | S4 | S8, .dyn = D_SHXD, .undef = shxund,
	                  .flags = T_FOLLOW});
	add((struct tmpl){"shld", K_MODRM, O2(0x0f, 0xa5), .ext = -1, .sizes = S2 | S4 | S8,
	                  .dyn = D_SHXD, .undef = shxund, .setup = SU_CLSHXD});
	add((struct tmpl){"shrd", K_MODRM, O2(0x0f, 0xac), .ext = -1, .imm = I_COUNT,
	                  .sizes = S2 | S4 | S8, .dyn = D_SHXD, .undef = shxund,
	                  .flags = T_FOLLOW});
	add((struct tmpl){"shrd", K_MODRM, O2(0x0f, 0xad), .ext = -1, .sizes = S2 | S4 | S8,
	                  .dyn = D_SHXD, .undef = shxund, .setup = SU_CLSHXD});

	uint16_t btund = DT_FL_OF | DT_FL_SF | DT_FL_AF | DT_FL_PF;
	static const char *const bt[4] = {"bt", "bts", "btr", "btc"};
	for (int k = 0; k < 4; k++) {
		uint8_t lk = k ? T_LOCK : 0;
		add((struct tmpl){bt[k], K_MODRM, O2(0x0f, (uint8_t)(0xa3 + 8 * k)), .ext = -1,
		                  .sizes = S2 | S4 | S8, .def = DT_FL_CF, .undef = btund,
		                  .flags = lk | T_FOLLOW, .setup = SU_BTMEM});
		add((struct tmpl){bt[k], K_MODRM, O2(0x0f, 0xba), .ext = (int8_t)(4 + k),
		                  .imm = I_8, .sizes = S2 | S4 | S8, .def = DT_FL_CF,
		                  .undef = btund, .flags = lk | T_FOLLOW});
	}
	uint16_t bsund = DT_FL_CF | DT_FL_OF | DT_FL_SF | DT_FL_AF | DT_FL_PF;
	add((struct tmpl){"bsf", K_MODRM, O2(0x0f, 0xbc), .ext = -1, .sizes = S2 | S4 | S8,
	                  .def = DT_FL_ZF, .undef = bsund, .flags = T_FOLLOW});
	add((struct tmpl){"bsr", K_MODRM, O2(0x0f, 0xbd), .ext = -1, .sizes = S2 | S4 | S8,
	                  .def = DT_FL_ZF, .undef = bsund, .flags = T_FOLLOW});
	uint16_t lzund = DT_FL_OF | DT_FL_SF | DT_FL_AF | DT_FL_PF;
	add((struct tmpl){"tzcnt", K_MODRM, O2(0x0f, 0xbc), .mand = 0xf3, .ext = -1,
	                  .sizes = S2 | S4 | S8, .def = DT_FL_CF | DT_FL_ZF, .undef = lzund,
	                  .flags = T_FOLLOW});
	add((struct tmpl){"lzcnt", K_MODRM, O2(0x0f, 0xbd), .mand = 0xf3, .ext = -1,
	                  .sizes = S2 | S4 | S8, .def = DT_FL_CF | DT_FL_ZF, .undef = lzund,
	                  .flags = T_FOLLOW});
	add((struct tmpl){"popcnt", K_MODRM, O2(0x0f, 0xb8), .mand = 0xf3, .ext = -1,
	                  .sizes = S2 | S4 | S8, .def = A6, .flags = T_FOLLOW});
	add((struct tmpl){"bswap", K_PLUSR, O2(0x0f, 0xc8), .sizes = S4 | S8, .flags = T_FOLLOW});

	add((struct tmpl){"cmpxchg", K_MODRM, O2(0x0f, 0xb0), .ext = -1, .sizes = S1, .def = A6,
	                  .flags = T_LOCK | T_FOLLOW, .setup = SU_CMPXCHG});
	add((struct tmpl){"cmpxchg", K_MODRM, O2(0x0f, 0xb1), .ext = -1, .sizes = S2 | S4 | S8,
	                  .def = A6, .flags = T_LOCK | T_FOLLOW, .setup = SU_CMPXCHG});
	add((struct tmpl){"cmpxchg8b", K_MODRM, O2(0x0f, 0xc7), .ext = 1, .rm = RM_MEM, .sizes = S4,
	                  .def = DT_FL_ZF, .flags = T_LOCK, .setup = SU_CX8});
	add((struct tmpl){"cmpxchg16b", K_MODRM, O2(0x0f, 0xc7), .ext = 1, .rm = RM_MEM,
	                  .sizes = S8, .def = DT_FL_ZF, .flags = T_LOCK, .setup = SU_CX8});
	add((struct tmpl){"xadd", K_MODRM, O2(0x0f, 0xc0), .ext = -1, .sizes = S1, .def = A6,
	                  .flags = T_LOCK | T_FOLLOW});
	add((struct tmpl){"xadd", K_MODRM, O2(0x0f, 0xc1), .ext = -1, .sizes = S2 | S4 | S8,
	                  .def = A6, .flags = T_LOCK | T_FOLLOW});
	add((struct tmpl){"xchg", K_MODRM, O1(0x86), .ext = -1, .sizes = S1,
	                  .flags = T_LOCK | T_FOLLOW});
	add((struct tmpl){"xchg", K_MODRM, O1(0x87), .ext = -1, .sizes = S2 | S4 | S8,
	                  .flags = T_LOCK | T_FOLLOW});
	add((struct tmpl){"xchg", K_PLUSR, O1(0x90), .sizes = S2 | S4 | S8, .flags = T_FOLLOW});

	add((struct tmpl){"mov", K_MODRM, O1(0x88), .ext = -1, .sizes = S1, .flags = T_FOLLOW});
	add((struct tmpl){"mov", K_MODRM, O1(0x89), .ext = -1, .sizes = S2 | S4 | S8,
	                  .flags = T_FOLLOW});
	add((struct tmpl){"mov", K_MODRM, O1(0x8a), .ext = -1, .sizes = S1, .flags = T_FOLLOW});
	add((struct tmpl){"mov", K_MODRM, O1(0x8b), .ext = -1, .sizes = S2 | S4 | S8,
	                  .flags = T_FOLLOW});
	add((struct tmpl){"mov", K_MODRM, O1(0xc6), .ext = 0, .imm = I_8, .sizes = S1,
	                  .flags = T_FOLLOW});
	add((struct tmpl){"mov", K_MODRM, O1(0xc7), .ext = 0, .imm = I_Z, .sizes = S2 | S4 | S8,
	                  .flags = T_FOLLOW});
	add((struct tmpl){"mov", K_PLUSR, O1(0xb0), .imm = I_8, .sizes = S1, .flags = T_FOLLOW});
	add((struct tmpl){"mov", K_PLUSR, O1(0xb8), .imm = I_V, .sizes = S2 | S4 | S8,
	                  .flags = T_FOLLOW});
	add((struct tmpl){"mov", K_MOFFS, O1(0xa0), .sizes = S1});
	add((struct tmpl){"mov", K_MOFFS, O1(0xa1), .sizes = S2 | S4 | S8});
	add((struct tmpl){"mov", K_MOFFS, O1(0xa2), .sizes = S1});
	add((struct tmpl){"mov", K_MOFFS, O1(0xa3), .sizes = S2 | S4 | S8});
	add((struct tmpl){"movzx", K_MODRM, O2(0x0f, 0xb6), .ext = -1, .sizes = S2 | S4 | S8,
	                  .flags = T_FOLLOW});
	add((struct tmpl){"movzx", K_MODRM, O2(0x0f, 0xb7), .ext = -1, .sizes = S4 | S8,
	                  .flags = T_FOLLOW});
	add((struct tmpl){"movsx", K_MODRM, O2(0x0f, 0xbe), .ext = -1, .sizes = S2 | S4 | S8,
	                  .flags = T_FOLLOW});
	add((struct tmpl){"movsx", K_MODRM, O2(0x0f, 0xbf), .ext = -1, .sizes = S4 | S8,
	                  .flags = T_FOLLOW});
	/* 16-bit MOVSXD is left out: AMD reads a 32-bit source (faulting where
	 * Intel's 16-bit read does not), so the host would decide the answer. */
	add((struct tmpl){"movsxd", K_MODRM, O1(0x63), .ext = -1, .sizes = S4 | S8,
	                  .flags = T_FOLLOW | T_ONLY64});
	add((struct tmpl){"inc", K_PLUSR, O1(0x40), .sizes = S2 | S4, .def = incdef,
	                  .flags = T_FOLLOW | T_ONLY32});
	add((struct tmpl){"dec", K_PLUSR, O1(0x48), .sizes = S2 | S4, .def = incdef,
	                  .flags = T_FOLLOW | T_ONLY32});
	add((struct tmpl){"lea", K_MODRM, O1(0x8d), .ext = -1, .rm = RM_MEM,
	                  .sizes = S2 | S4 | S8});
	add((struct tmpl){"cbw", K_PLAIN, O1(0x98), .sizes = S2 | S4 | S8, .flags = T_FOLLOW});
	add((struct tmpl){"cwd", K_PLAIN, O1(0x99), .sizes = S2 | S4 | S8, .flags = T_FOLLOW});
	add((struct tmpl){"xlat", K_PLAIN, O1(0xd7), .sizes = S1, .setup = SU_XLAT});

	for (int cc = 0; cc < 16; cc++) {
		char *n = names[nn++];
		snprintf(n, 16, "set%s", cc_names[cc]);
		add((struct tmpl){n, K_MODRM, O2(0x0f, (uint8_t)(0x90 + cc)), .ext = 0, .sizes = S1,
		                  .reads = cc_reads[cc], .flags = T_FOLLOW | T_CC});
		n = names[nn++];
		snprintf(n, 16, "cmov%s", cc_names[cc]);
		add((struct tmpl){n, K_MODRM, O2(0x0f, (uint8_t)(0x40 + cc)), .ext = -1,
		                  .sizes = S2 | S4 | S8, .reads = cc_reads[cc],
		                  .flags = T_FOLLOW | T_CC});
		n = names[nn++];
		snprintf(n, 16, "j%s", cc_names[cc]);
		add((struct tmpl){n, K_JCC, O1((uint8_t)(0x70 + cc)), .imm = I_8, .sizes = S8,
		                  .reads = cc_reads[cc], .flags = T_FOLLOW | T_CC});
		add((struct tmpl){n, K_JCC, O2(0x0f, (uint8_t)(0x80 + cc)), .imm = I_Z, .sizes = S8,
		                  .reads = cc_reads[cc], .flags = T_FOLLOW | T_CC});
	}
	add((struct tmpl){"jmp", K_JCC, O1(0xeb), .imm = I_8, .sizes = S8, .flags = T_FOLLOW});
	add((struct tmpl){"jmp", K_JCC, O1(0xe9), .imm = I_Z, .sizes = S8, .flags = T_FOLLOW});
	add((struct tmpl){"jmp", K_JMPIND, O1(0xff), .ext = 4, .sizes = S8, .flags = T_D64});
	add((struct tmpl){"call", K_CALL, O1(0xe8), .imm = I_Z, .sizes = S8, .flags = T_STACK});
	add((struct tmpl){"call", K_JMPIND, O1(0xff), .ext = 2, .sizes = S8,
	                  .flags = T_STACK | T_D64});
	add((struct tmpl){"ret", K_RET, O1(0xc3), .sizes = S8, .flags = T_STACK});
	add((struct tmpl){"ret", K_RET, O1(0xc2), .imm = I_16, .sizes = S8, .flags = T_STACK});
	add((struct tmpl){"loopne", K_LOOP, O1(0xe0), .sizes = S8, .reads = DT_FL_ZF,
	                  .flags = T_FOLLOW});
	add((struct tmpl){"loope", K_LOOP, O1(0xe1), .sizes = S8, .reads = DT_FL_ZF,
	                  .flags = T_FOLLOW});
	add((struct tmpl){"loop", K_LOOP, O1(0xe2), .sizes = S8, .flags = T_FOLLOW});
	add((struct tmpl){"jrcxz", K_LOOP, O1(0xe3), .sizes = S8, .flags = T_FOLLOW});

	add((struct tmpl){"push", K_PLUSR, O1(0x50), .sizes = S2 | S8, .flags = T_STACK | T_D64});
	add((struct tmpl){"pop", K_PLUSR, O1(0x58), .sizes = S2 | S8, .flags = T_STACK | T_D64});
	add((struct tmpl){"push", K_PLAIN, O1(0x6a), .imm = I_8, .sizes = S2 | S8,
	                  .flags = T_STACK | T_D64});
	add((struct tmpl){"push", K_PLAIN, O1(0x68), .imm = I_Z, .sizes = S2 | S8,
	                  .flags = T_STACK | T_D64});
	add((struct tmpl){"push", K_MODRM, O1(0xff), .ext = 6, .sizes = S2 | S8,
	                  .flags = T_STACK | T_D64});
	add((struct tmpl){"pop", K_MODRM, O1(0x8f), .ext = 0, .sizes = S2 | S8,
	                  .flags = T_STACK | T_D64});
	add((struct tmpl){"pushf", K_PLAIN, O1(0x9c), .sizes = S2 | S8, .reads = A6,
	                  .flags = T_STACK | T_D64});
	add((struct tmpl){"popf", K_PLAIN, O1(0x9d), .sizes = S2 | S8, .def = A6,
	                  .flags = T_STACK | T_D64, .setup = SU_POPF});
	add((struct tmpl){"enter", K_ENTER, O1(0xc8), .sizes = S2 | S8, .flags = T_STACK | T_D64,
	                  .setup = SU_ENTER});
	add((struct tmpl){"leave", K_PLAIN, O1(0xc9), .sizes = S2 | S8, .flags = T_STACK | T_D64,
	                  .setup = SU_LEAVE});

	static const char *const str[5] = {"movs", "cmps", "stos", "lods", "scas"};
	static const uint8_t stropc[5] = {0xa4, 0xa6, 0xaa, 0xac, 0xae};
	for (int k = 0; k < 5; k++) {
		bool cmp = k == 1 || k == 4;
		add((struct tmpl){str[k], K_STRING, O1(stropc[k]), .sizes = S1,
		                  .dyn = cmp ? D_REPCMP : D_NONE, .def = cmp ? A6 : 0});
		add((struct tmpl){str[k], K_STRING, O1((uint8_t)(stropc[k] + 1)),
		                  .sizes = S2 | S4 | S8, .dyn = cmp ? D_REPCMP : D_NONE,
		                  .def = cmp ? A6 : 0});
	}
	uint16_t ahf = DT_FL_SF | DT_FL_ZF | DT_FL_AF | DT_FL_PF | DT_FL_CF;
	add((struct tmpl){"lahf", K_PLAIN, O1(0x9f), .sizes = S4, .reads = ahf, .flags = T_FOLLOW});
	add((struct tmpl){"sahf", K_PLAIN, O1(0x9e), .sizes = S4, .def = ahf, .flags = T_FOLLOW});
	add((struct tmpl){"clc", K_PLAIN, O1(0xf8), .sizes = S4, .def = DT_FL_CF,
	                  .flags = T_FOLLOW});
	add((struct tmpl){"stc", K_PLAIN, O1(0xf9), .sizes = S4, .def = DT_FL_CF,
	                  .flags = T_FOLLOW});
	add((struct tmpl){"cmc", K_PLAIN, O1(0xf5), .sizes = S4, .def = DT_FL_CF, .reads = DT_FL_CF,
	                  .flags = T_FOLLOW});
	add((struct tmpl){"cld", K_PLAIN, O1(0xfc), .sizes = S4, .def = DT_FL_DF,
	                  .flags = T_FOLLOW});
	/* at CPL3 with IOPL 0: #GP(0) on both sides */
	add((struct tmpl){"cli", K_PLAIN, O1(0xfa), .sizes = S4});
	add((struct tmpl){"sti", K_PLAIN, O1(0xfb), .sizes = S4});
	add((struct tmpl){"hlt", K_PLAIN, O1(0xf4), .sizes = S4});
	/* port I/O at CPL3 with IOPL 0 and no I/O bitmap: #GP(0) (the soft side
	 * gets a TSS like Linux's, with the bitmap beyond its limit) */
	add((struct tmpl){"in", K_PLAIN, O1(0xe4), .imm = I_8, .sizes = S1});
	add((struct tmpl){"in", K_PLAIN, O1(0xed), .sizes = S2 | S4});
	add((struct tmpl){"out", K_PLAIN, O1(0xe6), .imm = I_8, .sizes = S1});
	add((struct tmpl){"out", K_PLAIN, O1(0xef), .sizes = S2 | S4});
	/* privileged instructions at CPL3: #GP(0) (the soft side checks
	 * privilege where the host does) */
	add((struct tmpl){"movcr", K_MODRM, O2(0x0f, 0x22), .ext = -1, .rm = RM_REG, .sizes = S8,
	                  .flags = T_D64});
	add((struct tmpl){"movcr", K_MODRM, O2(0x0f, 0x20), .ext = -1, .rm = RM_REG, .sizes = S8,
	                  .flags = T_D64});
	add((struct tmpl){"movdr", K_MODRM, O2(0x0f, 0x23), .ext = -1, .rm = RM_REG, .sizes = S8,
	                  .flags = T_D64});
	add((struct tmpl){"movdr", K_MODRM, O2(0x0f, 0x21), .ext = -1, .rm = RM_REG, .sizes = S8,
	                  .flags = T_D64});
	add((struct tmpl){"wrmsr", K_PLAIN, O2(0x0f, 0x30), .sizes = S4});
	add((struct tmpl){"rdmsr", K_PLAIN, O2(0x0f, 0x32), .sizes = S4});
	add((struct tmpl){"lgdt", K_MODRM, O2(0x0f, 0x01), .ext = 2, .rm = RM_MEM, .sizes = S4});
	add((struct tmpl){"lidt", K_MODRM, O2(0x0f, 0x01), .ext = 3, .rm = RM_MEM, .sizes = S4});
	add((struct tmpl){"invlpg", K_MODRM, O2(0x0f, 0x01), .ext = 7, .rm = RM_MEM, .sizes = S4});
	add((struct tmpl){"lldt", K_MODRM, O2(0x0f, 0x00), .ext = 2, .sizes = S2});
	add((struct tmpl){"ltr", K_MODRM, O2(0x0f, 0x00), .ext = 3, .sizes = S2});
	add((struct tmpl){"swapgs", K_PLAIN, .nopc = 3, .opc = {0x0f, 0x01, 0xf8}, .sizes = S4,
	                  .flags = T_ONLY64});
	add((struct tmpl){"clts", K_PLAIN, O2(0x0f, 0x06), .sizes = S4});
	add((struct tmpl){"invd", K_PLAIN, O2(0x0f, 0x08), .sizes = S4});
	add((struct tmpl){"wbinvd", K_PLAIN, O2(0x0f, 0x09), .sizes = S4});
	add((struct tmpl){"sysret", K_PLAIN, O2(0x0f, 0x07), .sizes = S4 | S8, .flags = T_ONLY64});
	add((struct tmpl){"lfence", K_PLAIN, .nopc = 3, .opc = {0x0f, 0xae, 0xe8}, .sizes = S4,
	                  .flags = T_NOREX});
	add((struct tmpl){"mfence", K_PLAIN, .nopc = 3, .opc = {0x0f, 0xae, 0xf0}, .sizes = S4,
	                  .flags = T_NOREX});
	add((struct tmpl){"sfence", K_PLAIN, .nopc = 3, .opc = {0x0f, 0xae, 0xf8}, .sizes = S4,
	                  .flags = T_NOREX});
	add((struct tmpl){"clflush", K_MODRM, O2(0x0f, 0xae), .ext = 7, .rm = RM_MEM, .sizes = S4});
	/* reading the host's FS/GS base (Linux enables FSGSBASE); writing it
	 * would pull the TLS from under the native child */
	add((struct tmpl){"rdfsbase", K_MODRM, O2(0x0f, 0xae), .mand = 0xf3, .ext = 0, .rm = RM_REG,
	                  .sizes = S4 | S8, .flags = T_ONLY64 | T_FOLLOW});
	add((struct tmpl){"rdgsbase", K_MODRM, O2(0x0f, 0xae), .mand = 0xf3, .ext = 1, .rm = RM_REG,
	                  .sizes = S4 | S8, .flags = T_ONLY64 | T_FOLLOW});
	add((struct tmpl){"ins", K_PLAIN, O1(0x6c), .sizes = S1});
	add((struct tmpl){"outs", K_PLAIN, O1(0x6f), .sizes = S2 | S4});
	add((struct tmpl){"std", K_PLAIN, O1(0xfd), .sizes = S4, .def = DT_FL_DF,
	                  .flags = T_FOLLOW});
	add((struct tmpl){"nop", K_PLAIN, O1(0x90), .sizes = S2 | S4, .flags = T_FOLLOW | T_NOREX});
	add((struct tmpl){"pause", K_PLAIN, O1(0x90), .mand = 0xf3, .sizes = S4, .flags = T_NOREX});
	add((struct tmpl){"nop", K_MODRM, O2(0x0f, 0x1f), .ext = 0, .sizes = S2 | S4,
	                  .flags = T_FOLLOW});
	add((struct tmpl){"ud2", K_PLAIN, O2(0x0f, 0x0b), .sizes = S4});

	/* Legacy integer instructions: compatibility mode only (in 64-bit mode
	 * they are #UD, C4/C5 are VEX and 63 is MOVSXD), except LSS/LFS/LGS. */
	uint16_t daadef = DT_FL_CF | DT_FL_AF | DT_FL_SF | DT_FL_ZF | DT_FL_PF;
	uint16_t aaadef = DT_FL_CF | DT_FL_AF, aaaund = DT_FL_OF | DT_FL_SF | DT_FL_ZF | DT_FL_PF;
	uint16_t aamdef = DT_FL_SF | DT_FL_ZF | DT_FL_PF, aamund = DT_FL_OF | DT_FL_AF | DT_FL_CF;
	add((struct tmpl){"daa", K_PLAIN, O1(0x27), .sizes = S4, .def = daadef, .undef = DT_FL_OF,
	                  .reads = DT_FL_AF | DT_FL_CF, .flags = T_ONLY32 | T_FOLLOW,
	                  .setup = SU_BCD});
	add((struct tmpl){"das", K_PLAIN, O1(0x2f), .sizes = S4, .def = daadef, .undef = DT_FL_OF,
	                  .reads = DT_FL_AF | DT_FL_CF, .flags = T_ONLY32 | T_FOLLOW,
	                  .setup = SU_BCD});
	add((struct tmpl){"aaa", K_PLAIN, O1(0x37), .sizes = S4, .def = aaadef, .undef = aaaund,
	                  .reads = DT_FL_AF, .flags = T_ONLY32 | T_FOLLOW, .setup = SU_BCD});
	add((struct tmpl){"aas", K_PLAIN, O1(0x3f), .sizes = S4, .def = aaadef, .undef = aaaund,
	                  .reads = DT_FL_AF, .flags = T_ONLY32 | T_FOLLOW, .setup = SU_BCD});
	add((struct tmpl){"aam", K_PLAIN, O1(0xd4), .imm = I_8, .sizes = S4, .def = aamdef,
	                  .undef = aamund, .flags = T_ONLY32, .setup = SU_AAM});
	add((struct tmpl){"aad", K_PLAIN, O1(0xd5), .imm = I_8, .sizes = S4, .def = aamdef,
	                  .undef = aamund, .flags = T_ONLY32, .setup = SU_AAM});
	add((struct tmpl){"salc", K_PLAIN, O1(0xd6), .sizes = S4, .reads = DT_FL_CF,
	                  .flags = T_ONLY32 | T_FOLLOW});
	add((struct tmpl){"pusha", K_PLAIN, O1(0x60), .sizes = S2 | S4, .flags = T_ONLY32 | T_STACK,
	                  .setup = SU_PUSHA});
	add((struct tmpl){"popa", K_PLAIN, O1(0x61), .sizes = S2 | S4, .flags = T_ONLY32 | T_STACK,
	                  .setup = SU_POPA});
	/* register forms of 62 and C4/C5 are EVEX and VEX prefixes there */
	add((struct tmpl){"bound", K_MODRM, O1(0x62), .ext = -1, .rm = RM_MEM, .sizes = S2 | S4,
	                  .flags = T_ONLY32, .setup = SU_BOUND});
	add((struct tmpl){"arpl", K_MODRM, O1(0x63), .ext = -1, .sizes = S2 | S4, .def = DT_FL_ZF,
	                  .flags = T_ONLY32 | T_FOLLOW});
	add((struct tmpl){"les", K_MODRM, O1(0xc4), .ext = -1, .rm = RM_MEM, .sizes = S2 | S4,
	                  .flags = T_ONLY32, .setup = SU_FARPTR});
	add((struct tmpl){"lds", K_MODRM, O1(0xc5), .ext = -1, .rm = RM_MEM, .sizes = S2 | S4,
	                  .flags = T_ONLY32, .setup = SU_FARPTR});
	/* Without REX.W: with it Intel reads m16:64, AMD m16:32. */
	add((struct tmpl){"lss", K_MODRM, O2(0x0f, 0xb2), .ext = -1, .rm = RM_MEM, .sizes = S2 | S4,
	                  .setup = SU_FARPTR});
	add((struct tmpl){"lfs", K_MODRM, O2(0x0f, 0xb4), .ext = -1, .rm = RM_MEM, .sizes = S2 | S4,
	                  .setup = SU_FARPTR});
	add((struct tmpl){"lgs", K_MODRM, O2(0x0f, 0xb5), .ext = -1, .rm = RM_MEM, .sizes = S2 | S4,
	                  .setup = SU_FARPTR});
	/* MOVBE and ADX: the 0F 38 map's integer instructions */
	add((struct tmpl){"movbe", K_MODRM, .nopc = 3, .opc = {0x0f, 0x38, 0xf0}, .ext = -1,
	                  .rm = RM_MEM, .sizes = S2 | S4 | S8});
	add((struct tmpl){"movbe", K_MODRM, .nopc = 3, .opc = {0x0f, 0x38, 0xf1}, .ext = -1,
	                  .rm = RM_MEM, .sizes = S2 | S4 | S8});
	add((struct tmpl){"adcx", K_MODRM, .nopc = 3, .opc = {0x0f, 0x38, 0xf6}, .mand = 0x66,
	                  .ext = -1, .sizes = S4 | S8, .def = DT_FL_CF, .reads = DT_FL_CF,
	                  .flags = T_FOLLOW});
	add((struct tmpl){"adox", K_MODRM, .nopc = 3, .opc = {0x0f, 0x38, 0xf6}, .mand = 0xf3,
	                  .ext = -1, .sizes = S4 | S8, .def = DT_FL_OF, .reads = DT_FL_OF,
	                  .flags = T_FOLLOW});
	dt_gen_vec_init();
}

unsigned dt_tmpl_count(void)
{
	return nT;
}
unsigned dt_tmpl_index(const struct tmpl *t)
{
	return (unsigned)(t - T);
}
const char *dt_tmpl_name(const struct tmpl *t)
{
	return t ? t->name : "?";
}

void dt_flag_effect(const struct dt_insn *in, const uint64_t *g, uint16_t *def, uint16_t *undef)
{
	const struct tmpl *t = in->t;
	*def = t->def;
	*undef = 0;
	if (t->dyn == D_NONE) {
		*undef = t->undef;
		return;
	}
	if (t->dyn == D_REPCMP) {
		uint64_t am = (in->flags & DT_I_A32) ? 0xffffffffULL : ~0ULL;
		if ((in->flags & DT_I_REP) && (g[1] & am) == 0)
			*def = 0;
		return;
	}
	unsigned bits = in->size * 8u;
	unsigned cnt = (unsigned)(in->count >= 0 ? in->count : (int)(g[1] & 0xff));
	cnt &= in->size == 8 ? 63 : 31;
	if (cnt == 0) {
		*def = 0;
		return;
	}
	uint16_t of = DT_FL_OF;
	switch (t->dyn) {
	case D_ROT: *def = DT_FL_CF; break;
	case D_SHIFT:
		*def = DT_FL_SF | DT_FL_ZF | DT_FL_PF;
		*undef = DT_FL_AF;
		if (cnt < bits)
			*def |= DT_FL_CF;
		else
			*undef |= DT_FL_CF;
		break;
	default: /* SHLD/SHRD */
		*def = DT_FL_SF | DT_FL_ZF | DT_FL_PF | DT_FL_CF;
		*undef = DT_FL_AF;
		if (cnt > bits) {
			*def = 0;
			*undef = A6;
			return;
		}
		break;
	}
	if (cnt == 1)
		*def |= of;
	else
		*undef |= of;
}

uint64_t interesting(struct rng *r)
{
	static const uint64_t v[] = {0,
	                             1,
	                             2,
	                             3,
	                             0x7f,
	                             0x80,
	                             0xff,
	                             0x100,
	                             0x7fff,
	                             0x8000,
	                             0xffff,
	                             0x10000,
	                             0x7fffffff,
	                             0x80000000,
	                             0xffffffff,
	                             0x100000000ULL,
	                             0x7fffffffffffffffULL,
	                             0x8000000000000000ULL,
	                             ~0ULL,
	                             ~0ULL - 1,
	                             0x8000000000000001ULL,
	                             0xffffffff80000000ULL,
	                             0xffffffffffff8000ULL,
	                             0xffffffffffffff80ULL,
	                             0x00000000ffff0000ULL,
	                             0x5555555555555555ULL,
	                             0xaaaaaaaaaaaaaaaaULL};
	switch (rn(r, 5)) {
	case 0: return v[rn(r, sizeof v / sizeof v[0])];
	case 1: return v[rn(r, sizeof v / sizeof v[0])] + (uint64_t)(int64_t)(int)(rn(r, 5) - 2);
	case 2: return (uint64_t)(int64_t)(int8_t)rnd(r);
	default: return rnd(r);
	}
}

void pin_set(struct gen *g, unsigned reg, uint64_t v)
{
	g->c->in.gpr[reg] = v;
	g->pinned |= 1u << reg;
}

unsigned pick_free(struct gen *g, uint32_t also_avoid)
{
	for (int tries = 0; tries < 64; tries++) {
		unsigned r = rn(&g->r, g->m32 ? 8 : 16);
		if (!((g->pinned | also_avoid) >> r & 1))
			return r;
	}
	for (unsigned r = 0; r < 16; r++)
		if (!((g->pinned | also_avoid) >> r & 1))
			return r;
	return 16;
}

/* Where a memory operand of size bytes lands, as an offset from DT_DATA_VA:
 * mostly inside the read/write pages, sometimes across their page boundary,
 * in the read-only page or into the guard page. */
uint64_t pick_target(struct gen *g, unsigned size, unsigned align)
{
	unsigned k = rn(&g->r, 100);
	uint64_t off;
	if (k < 75)
		off = rn(&g->r, DT_DATA_SIZE - size + 1);
	else if (k < 87)
		off = 0x1000 - rn(&g->r, size + 1);
	else if (k < 94)
		off = DT_DATA_SIZE + rn(&g->r, 0x1000 - size + 1);
	else
		off = 0x3000 - rn(&g->r, size + 1) + rn(&g->r, 8);
	if (align > 1 && chance(&g->r, 80))
		off &= ~(uint64_t)(align - 1);
	return off;
}

/* Encode a memory operand whose effective address is ea (absolute). */
void enc_mem(struct gen *g, struct enc *e, uint64_t ea, bool a32, bool reg_only)
{
	struct rng *r = &g->r;
	uint64_t am = a32 ? 0xffffffffULL : ~0ULL;
	unsigned form = reg_only ? rn(r, 5) : g->abs_only ? 5 + rn(r, 2) : rn(r, 7);
	int64_t disp = 0;
	unsigned mod;
	/* Random upper halves prove that 32-bit addressing ignores them. */
	uint64_t garbage = a32 ? rnd(r) & 0xffffffff00000000ULL : 0;
	if (form == 5 && g->m32) { /* mod 00 rm 101 is plain disp32 outside 64-bit mode */
		e->has_modrm = true;
		e->modrm = 0x05;
		e->disp_size = 4;
		e->disp = (int32_t)(uint32_t)ea;
		return;
	}
	if (form == 5) { /* RIP-relative, fixed up when the length is known */
		e->has_modrm = true;
		e->modrm = 0x05;
		e->disp_size = 4;
		e->riprel = true;
		e->rip_target = ea;
		return;
	}
	if (form == 6) { /* [disp32] through a SIB without base or index */
		e->has_modrm = e->has_sib = true;
		e->modrm = 0x04;
		e->sib = 0x25;
		e->disp_size = 4;
		e->disp = (int32_t)(uint32_t)ea;
		return;
	}
	unsigned base = 16, index = 16, scale = rn(r, 4);
	uint64_t idxval = 0;
	if (form == 3 || form == 4) {
		index = pick_free(g, 1u << 4); /* RSP cannot be an index */
		if (index == 16)
			form = 0;
	}
	if (form != 4) {
		base = pick_free(g, index < 16 ? 1u << index : 0);
	}
	if (form == 4) {
		/* [index*scale + disp32]: keep the displacement small */
		idxval = ((ea >> scale) + rn(r, 64) - 32) & am;
		disp = (int64_t)(ea - (idxval << scale));
		if (a32)
			disp = (int32_t)(uint32_t)disp;
		pin_set(g, index, idxval | garbage);
		e->has_modrm = e->has_sib = true;
		e->modrm = 0x04;
		e->sib = (uint8_t)(scale << 6 | (index & 7) << 3 | 5);
		if (index & 8)
			e->rex |= 0x02;
		e->disp_size = 4;
		e->disp = disp;
		return;
	}
	if (base == 16 && reg_only) { /* nothing free: use the index alone */
		e->has_modrm = e->has_sib = true;
		e->modrm = 0x04;
		e->sib = 0x25;
		e->disp_size = 4;
		e->disp = 0;
		return;
	}
	if (base == 16) { /* nothing free: absolute */
		e->has_modrm = e->has_sib = true;
		e->modrm = 0x04;
		e->sib = 0x25;
		e->disp_size = 4;
		e->disp = (int32_t)(uint32_t)ea;
		return;
	}
	switch (form) {
	case 0: disp = 0; break;
	case 1: disp = (int8_t)rnd(r); break;
	default: disp = (int32_t)rnd(r); break;
	}
	if (form == 3) {
		idxval = interesting(r);
		if (a32)
			idxval &= 0xffffffff;
		pin_set(g, index, idxval | garbage);
	}
	uint64_t baseval = (ea - (uint64_t)disp - (idxval << scale)) & am;
	pin_set(g, base, baseval | (a32 ? rnd(r) & 0xffffffff00000000ULL : 0));
	if (disp == 0 && (base & 7) != 5)
		mod = 0;
	else if (disp >= -128 && disp <= 127)
		mod = 1;
	else
		mod = 2;
	e->has_modrm = true;
	if (index < 16 || (base & 7) == 4) {
		e->has_sib = true;
		e->modrm = (uint8_t)(mod << 6 | 4);
		unsigned ix = index < 16 ? index : 4;
		e->sib = (uint8_t)(scale << 6 | (ix & 7) << 3 | (base & 7));
		if (index < 16 && (index & 8))
			e->rex |= 0x02;
	} else {
		e->modrm = (uint8_t)(mod << 6 | (base & 7));
	}
	if (base & 8)
		e->rex |= 0x01;
	e->disp_size = mod == 0 ? 0 : mod == 1 ? 1 : 4;
	e->disp = disp;
}

static unsigned emit(struct gen *g, const struct enc *e)
{
	struct dt_case *c = g->c;
	unsigned start = c->code_len, n = start;
	uint8_t *p = c->code;
	for (unsigned k = 0; k < e->npfx; k++)
		p[n++] = e->pfx[k];
	if (e->rex || e->force_rex)
		p[n++] = (uint8_t)(0x40 | e->rex);
	for (unsigned k = 0; k < e->nopc; k++)
		p[n++] = (uint8_t)(e->opc[k] + (k == e->nopc - 1 ? e->opc_last_add : 0));
	if (e->has_modrm)
		p[n++] = e->modrm;
	if (e->has_sib)
		p[n++] = e->sib;
	unsigned disp_at = n;
	for (unsigned k = 0; k < e->disp_size; k++)
		p[n++] = (uint8_t)((uint64_t)e->disp >> (8 * k));
	for (unsigned k = 0; k < e->imm_size; k++)
		p[n++] = (uint8_t)(e->imm >> (8 * k));
	if (e->riprel) {
		int64_t d = (int64_t)(e->rip_target - (DT_CODE_VA + n));
		for (unsigned k = 0; k < 4; k++)
			p[disp_at + k] = (uint8_t)((uint64_t)d >> (8 * k));
	}
	c->code_len = n;
	return n - start;
}

/* LEA r, [r+1]: what a taken branch skips, so taken and not taken differ. */
static const struct tmpl filler_tmpl = {.name = "lea(filler)", .sizes = S8};
static unsigned filler_len(const struct gen *g)
{
	return g->m32 ? 3 : 4;
}

static void emit_filler(struct gen *g)
{
	static const uint8_t regs[7] = {0, 1, 2, 3, 5, 6, 7};
	unsigned r = regs[rn(&g->r, 7)];
	struct dt_case *c = g->c;
	struct dt_insn *in = &c->insns[c->ninsns++];
	memset(in, 0, sizeof *in);
	in->offset = (uint16_t)c->code_len;
	in->len = (uint8_t)filler_len(g);
	in->size = 8;
	in->t = &filler_tmpl;
	snprintf(in->text, sizeof in->text, "lea r%u, [r%u+1]", r, r);
	uint8_t *p = c->code + c->code_len;
	if (!g->m32) /* REX.W: in compatibility mode 48 would be DEC EAX */
		*p++ = 0x48;
	p[0] = 0x8d;
	p[1] = (uint8_t)(0x40 | r << 3 | r);
	p[2] = 1;
	c->code_len += filler_len(g);
}

static unsigned pick_size(struct gen *g, uint8_t sizes)
{
	unsigned opts[4], n = 0;
	for (unsigned s = 1; s <= 8; s <<= 1)
		if (sizes & s)
			opts[n++] = s;
	return opts[rn(&g->r, n)];
}

static uint64_t count_value(struct gen *g, unsigned size, bool shxd)
{
	static const uint8_t edge[] = {0,  1,  2,  3,  7,  8,  9,   15,   16,  17,
	                               31, 32, 33, 63, 64, 65, 255, 0x80, 0xe1};
	uint64_t v = chance(&g->r, 70) ? edge[rn(&g->r, sizeof edge)] : rnd(&g->r) & 0xff;
	if (shxd && size == 2 && (v & 31) > 16)
		v = (v & ~31ULL) | (v & 15);
	return v;
}

void data_put(struct dt_case *c, uint64_t off, uint64_t v, unsigned size)
{
	for (unsigned k = 0; k < size; k++)
		if (off + k < DT_DATA_SIZE)
			c->data[off + k] = (uint8_t)(v >> (8 * k));
}

uint64_t data_get(const struct dt_case *c, uint64_t off, unsigned size)
{
	uint64_t v = 0;
	for (unsigned k = 0; k < size; k++) {
		uint64_t o = off + k;
		uint8_t b = o < DT_DATA_SIZE            ? c->data[o]
		            : o < DT_DATA_SIZE + 0x1000 ? (uint8_t)((o - DT_DATA_SIZE) * 7 + 3)
		                                        : 0;
		v |= (uint64_t)b << (8 * k);
	}
	return v;
}

static uint64_t stack_pointer(struct gen *g);

/* AL for the BCD adjustments: packed BCD digits, digits above 9, values
 * near FF (whose adjustment carries into AH), anything. */
static uint64_t bcd_value(struct rng *r)
{
	switch (rn(r, 4)) {
	case 0: return rn(r, 10) << 4 | rn(r, 10);
	case 1: return rn(r, 16) << 4 | (10 + rn(r, 6));
	case 2: return 0xf0 + rn(r, 16);
	default: return rnd(r) & 0xff;
	}
}

/* Stack pointers for PUSHA (pushes cross below the data pages, land in
 * the read-only page, or fit) and POPA (pops run into the guard page or
 * start below the data pages). */
static uint64_t pusha_stack(struct gen *g, bool pop)
{
	struct rng *r = &g->r;
	unsigned k = rn(r, 100);
	if (k < 55)
		return stack_pointer(g);
	if (k < 70)
		return DT_DATA_VA + 0x400 + rn(r, 0x1800);
	if (pop) {
		if (k < 90)
			return DT_GUARD_VA - 1 - rn(r, 40);
		return DT_DATA_VA - 1 - rn(r, 16);
	}
	if (k < 88)
		return DT_DATA_VA + rn(r, 40);
	return DT_RO_VA + rn(r, chance(r, 50) ? 40 : 0x1000);
}

/* BOUND's pair: the index inside, below, above, on an edge, or an empty
 * range. */
static void bound_setup(struct gen *g, uint64_t off, unsigned size, uint64_t index)
{
	struct rng *r = &g->r;
	int64_t idx = size == 2 ? (int16_t)index : (int32_t)index;
	int64_t lo, hi;
	int64_t d1 = (int64_t)rn(r, 100), d2 = (int64_t)rn(r, 100);
	switch (rn(r, 6)) {
	case 0:
	case 1: lo = idx - d1, hi = idx + d2; break;
	case 2: lo = idx + 1 + d1, hi = lo + d2; break;
	case 3: hi = idx - 1 - d1, lo = hi - d2; break;
	case 4: lo = hi = idx + (chance(r, 50) ? 0 : chance(r, 50) ? 1 : -1); break;
	default:
		lo = (int64_t)interesting(r);
		hi = (int64_t)interesting(r);
		break;
	}
	data_put(g->c, off, (uint64_t)lo, size);
	data_put(g->c, off + size, (uint64_t)hi, size);
}

/* A selector for the far-pointer loads: Linux's user code and data
 * segments (any RPL), null ones, and others that fault with #GP(selector):
 * kernel segments, the TSS and LDT descriptors, empty TLS entries, the LDT
 * (there is none), beyond the GDT. Never 0x78-0x7f: that entry's limit is
 * the host CPU's number. */
static uint16_t far_selector(struct rng *r)
{
	static const uint16_t bad[] = {0x08, 0x10, 0x18, 0x38, 0x40, 0x48, 0x50, 0x60, 0x68, 0x70};
	unsigned k = rn(r, 100);
	uint16_t rpl = chance(r, 70) ? 3 : (uint16_t)rn(r, 4);
	if (k < 40)
		return 0x28 | rpl;
	if (k < 52)
		return 0x20 | rpl;
	if (k < 60)
		return 0x30 | rpl;
	if (k < 75)
		return (uint16_t)rn(r, 4);
	if (k < 85)
		return bad[rn(r, sizeof bad / sizeof bad[0])] | (uint16_t)rn(r, 4);
	if (k < 92)
		return (uint16_t)(rnd(r) | 4); /* LDT */
	return (uint16_t)(0x80 + rn(r, 0xff80));
}

static uint64_t stack_pointer(struct gen *g)
{
	struct rng *r = &g->r;
	if (chance(r, 3))
		return DT_DATA_VA + rn(r, 24); /* pushes fault below the data pages */
	uint64_t sp = DT_DATA_VA + 0x1000 + (rn(r, 0x800) & ~7u);
	if (chance(r, 10))
		sp += rn(r, 8);
	return sp;
}

/* 32-bit addressing: a 67 prefix in 64-bit mode, the default in
 * compatibility mode (where 67 would mean 16-bit addressing: not generated). */
bool want_a32(struct gen *g, struct enc *e, unsigned pct)
{
	if (g->m32)
		return true;
	if (!chance(&g->r, pct))
		return false;
	e->pfx[e->npfx++] = 0x67;
	return true;
}

/* The operand sizes a template has in the current mode; 0: not available.
 * "Default size" templates (stack, branches) list S8 for 64-bit mode, which
 * means 32 bits in compatibility mode. */
static uint8_t mode_sizes(const struct gen *g, const struct tmpl *t)
{
	if (t->flags & (g->m32 ? T_ONLY64 : T_ONLY32))
		return 0;
	if (!g->m32)
		return t->sizes;
	bool deflt = (t->flags & T_D64) || t->kind == K_JCC || t->kind == K_CALL ||
	             t->kind == K_LOOP || t->kind == K_RET || t->kind == K_ENTER;
	if (deflt && (t->sizes & S8))
		return (uint8_t)((t->sizes & ~S8) | S4);
	return t->sizes & ~S8;
}

static const char *size_name(unsigned size)
{
	return size == 1 ? "8" : size == 2 ? "16" : size == 4 ? "32" : "64";
}

/* Emit one instruction of template t; follower: register operands only. */
static void gen_insn(struct gen *g, const struct tmpl *t, bool follower)
{
	struct rng *r = &g->r;
	struct dt_case *c = g->c;
	struct dt_insn *in = &c->insns[c->ninsns++];
	struct enc e;
	memset(&e, 0, sizeof e);
	memset(in, 0, sizeof *in);
	in->t = t;
	in->offset = (uint16_t)c->code_len;
	in->count = -1;
	unsigned size = pick_size(g, mode_sizes(g, t));
	in->size = (uint8_t)size;
	e.opc = t->opc;
	e.nopc = t->nopc;
	uint64_t *gpr = c->in.gpr;
	bool mem = false, a32 = false, lock = false;
	unsigned reg = 0;
	char form[40] = "";

	if (t->flags & T_STACK) {
		pin_set(g, 4, stack_pointer(g));
	}
	/* Operand size: 66 for 16 bits, REX.W for 64 unless the default. */
	if (size == 2)
		e.pfx[e.npfx++] = 0x66;
	if (size == 8 && !g->m32 && !(t->flags & T_D64) && t->kind != K_JCC && t->kind != K_CALL &&
	    t->kind != K_LOOP && t->kind != K_RET && t->kind != K_ENTER)
		e.rex |= 0x08;
	if (t->mand)
		e.pfx[e.npfx++] = t->mand;

	switch (t->kind) {
	case K_MODRM: {
		mem = t->rm == RM_MEM || (t->rm == RM_BOTH && chance(r, follower ? 25 : 55));
		if (follower && t->setup != SU_NONE)
			mem = false; /* setups would change registers the main instruction uses */
		g->abs_only = follower;
		/* The ModRM.reg register (or extension). */
		if (t->ext >= 0) {
			reg = (unsigned)t->ext;
		} else {
			reg = rn(r, g->m32 ? 8 : 16);
		}
		if (reg & 8 && t->ext < 0)
			e.rex |= 0x04;
		/* Setups that fix registers before any address is formed. */
		switch (t->setup) {
		case SU_DIV:
			if (follower)
				break;
			g->pinned |= (1u << 0) | (1u << 2);
			if (chance(r, 60)) {
				bool is_idiv = t->ext == 7;
				if (size == 1) {
					uint64_t al = rnd(r) & 0xff;
					uint64_t ah = is_idiv ? ((al & 0x80) ? 0xff : 0) : 0;
					if (chance(r, 30))
						ah = rn(r, 4);
					gpr[0] = (gpr[0] & ~0xffffULL) | al | ah << 8;
				} else {
					uint64_t m = size == 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
					uint64_t hi =
					    is_idiv && ((gpr[0] >> (size * 8 - 1)) & 1) ? m : 0;
					if (chance(r, 30))
						hi = rn(r, 4);
					gpr[2] = (gpr[2] & ~m) | hi;
				}
			}
			break;
		case SU_CL:
		case SU_CLSHXD:
			pin_set(g, 1,
			        (gpr[1] & ~0xffULL) | count_value(g, size, t->setup == SU_CLSHXD));
			break;
		case SU_CX8:
			g->pinned |= 0xf; /* RAX RCX RDX RBX */
			break;
		case SU_CMPXCHG: g->pinned |= 1; break;
		default: break;
		}
		if (t->setup == SU_BTMEM && mem) {
			int64_t off = (int64_t)rn(r, 1024) - 512;
			uint64_t v = (uint64_t)off;
			if (size == 2)
				v = (gpr[reg] & ~0xffffULL) | (v & 0xffff);
			else if (size == 4)
				v = (gpr[reg] & ~0xffffffffULL) | (v & 0xffffffff);
			pin_set(g, reg, v);
		}
		if (mem) {
			if ((g->pinned >> reg & 1) == 0 && t->ext < 0 && t->setup != SU_NONE)
				g->pinned |= 1u << reg;
			a32 = want_a32(g, &e, 15);
			if (chance(r, 8))
				e.pfx[e.npfx++] = (uint8_t[]){0x2e, 0x3e, 0x26, 0x36}[rn(r, 4)];
			unsigned opsize = t->setup == SU_CX8 || t->setup == SU_BOUND ? 2 * size
			                  : t->setup == SU_FARPTR                    ? size + 2
			                                                             : size;
			uint64_t off;
			if (t->setup == SU_BTMEM)
				off = 0x100 + rn(r, 0x1d00);
			else
				off = pick_target(g, opsize, t->setup == SU_CX8 ? 16 : size);
			uint64_t ea = DT_DATA_VA + off;
			bool reg_only = false;
			if (t->kind == K_MODRM && t->opc[0] == 0x8d) { /* LEA: any address */
				ea = rnd(r);
			} else if (!a32 && !g->m32 && !follower && chance(r, 5)) {
				/* FS/GS: the same place through the segment base */
				bool fs = chance(r, 50);
				e.pfx[e.npfx++] = fs ? 0x64 : 0x65;
				ea -= fs ? c->fs_base : c->gs_base;
				reg_only = true;
			} else if (!a32 && !g->m32 && !follower && t->setup != SU_BTMEM &&
			           chance(r, 2)) {
				/* non-canonical, well away from the canonical halves (the
				 * host decides what lies there): #GP(0), or #SS(0)
				 * through RSP/RBP */
				ea = (chance(r, 50) ? 0x0000800000100000ULL
				                    : 0xffff7ffff0000000ULL) +
				     rn(r, 0x2000);
				reg_only = true;
			}
			enc_mem(g, &e, ea, a32, reg_only);
			lock = (t->flags & T_LOCK) && chance(r, 50);
			if (!(t->flags & T_LOCK) && chance(r, 2))
				lock = true; /* #UD expected */
			if (t->setup == SU_CMPXCHG && !follower && chance(r, 50))
				gpr[0] =
				    data_get(c, off, size) |
				    (gpr[0] & ~((size == 8 ? ~0ULL : (1ULL << (size * 8)) - 1)));
			if (t->setup == SU_BOUND)
				bound_setup(g, off, size, gpr[reg]);
			if (t->setup == SU_FARPTR)
				data_put(c, off + size, far_selector(r), 2);
			if (t->setup == SU_CX8 && chance(r, 50)) {
				uint64_t lo = data_get(c, off, size),
				         hi = data_get(c, off + size, size);
				gpr[0] = size == 8 ? lo : (gpr[0] & ~0xffffffffULL) | lo;
				gpr[2] = size == 8 ? hi : (gpr[2] & ~0xffffffffULL) | hi;
			}
			snprintf(form, sizeof form, "%s[mem%s]", lock ? "lock " : "",
			         a32 ? " a32" : "");
		} else {
			unsigned rm = rn(r, g->m32 ? 8 : 16);
			e.has_modrm = true;
			e.modrm = (uint8_t)(0xc0 | (rm & 7));
			if (rm & 8)
				e.rex |= 0x01;
			if (t->setup == SU_CMPXCHG && !follower && !(g->pinned >> rm & 1) &&
			    chance(r, 50))
				gpr[rm] = gpr[0];
			if ((t->flags & T_LOCK) && !follower && chance(r, 2))
				lock = true; /* #UD expected */
			snprintf(form, sizeof form, "r%u", rm);
		}
		e.modrm = (uint8_t)((e.modrm & ~0x38) | (reg & 7) << 3);
		if (lock)
			e.pfx[e.npfx++] = 0xf0;
		break;
	}
	case K_PLAIN:
		if (t->setup == SU_POPF) {
			uint64_t sp = gpr[4];
			uint64_t v = (rnd(r) & (DT_FL_ARITH | DT_FL_DF)) | 0x202;
			data_put(c, sp - DT_DATA_VA, v, size);
		} else if (t->setup == SU_XLAT) {
			pin_set(g, 3, DT_DATA_VA + rn(r, DT_DATA_SIZE - 256));
			a32 = want_a32(g, &e, 20);
			if (a32) {
				gpr[3] |= rnd(r) & 0xffffffff00000000ULL;
			}
		} else if (t->setup == SU_LEAVE) {
			pin_set(g, 5, stack_pointer(g));
		} else if (t->setup == SU_BCD && !follower) {
			gpr[0] = (gpr[0] & ~0xffffULL) | bcd_value(r) | (rnd(r) & 0xff00);
		} else if (t->setup == SU_PUSHA || t->setup == SU_POPA) {
			pin_set(g, 4, pusha_stack(g, t->setup == SU_POPA));
		}
		break;
	case K_PLUSR:
		reg = rn(r, g->m32 ? 8 : 16);
		e.opc_last_add = reg & 7;
		if (reg & 8)
			e.rex |= 0x01;
		snprintf(form, sizeof form, "r%u", reg);
		break;
	case K_MOFFS: {
		uint64_t off = pick_target(g, size, size);
		a32 = want_a32(g, &e, 25);
		e.imm = DT_DATA_VA + off;
		e.imm_size = a32 ? 4 : 8; /* 32-bit in compatibility mode */
		break;
	}
	case K_STRING: {
		bool cmp = t->dyn == D_REPCMP;
		bool rep = chance(r, 70);
		if (rep) {
			e.pfx[e.npfx++] = cmp && chance(r, 50) ? 0xf2 : 0xf3;
			in->flags |= DT_I_REP;
		}
		a32 = want_a32(g, &e, 20);
		if (a32)
			in->flags |= DT_I_A32;
		if (chance(r, 10))
			e.pfx[e.npfx++] = (uint8_t[]){0x2e, 0x3e, 0x26, 0x36}[rn(r, 4)];
		uint64_t hi = a32 ? rnd(r) & 0xffffffff00000000ULL : 0;
		uint64_t si = 0x200 + rn(r, 0x1c00), di = 0x200 + rn(r, 0x1c00);
		if (chance(r, 8))
			di = DT_DATA_SIZE - rn(r, 24); /* runs into the read-only page */
		if (chance(r, 4))
			si = 0x3000 - rn(r, 24); /* reads into the guard page */
		pin_set(g, 6, (DT_DATA_VA + si) | hi);
		pin_set(g, 7, (DT_DATA_VA + di) | (a32 ? rnd(r) & 0xffffffff00000000ULL : 0));
		uint64_t cnt = chance(r, 10) ? 0 : rn(r, 18);
		pin_set(g, 1, (a32 ? rnd(r) & 0xffffffff00000000ULL : 0) | cnt);
		if (cmp && chance(r, 50) && si + 64 <= DT_DATA_SIZE && di + 64 <= DT_DATA_SIZE)
			memmove(&c->data[di], &c->data[si], 64); /* equal runs, so REPE goes on */
		break;
	}
	case K_JCC:
		e.imm = filler_len(g);
		e.imm_size = t->imm == I_8 ? 1 : 4;
		break;
	case K_CALL:
		e.imm = filler_len(g);
		e.imm_size = 4;
		break;
	case K_LOOP: {
		static const uint64_t cx[] = {0, 1, 2, 3, 0x100000000ULL, 0x100000001ULL, ~0ULL};
		if (!follower && !(g->pinned & 2))
			pin_set(g, 1, chance(r, 70) ? cx[rn(r, 7)] : rnd(r));
		a32 = want_a32(g, &e, 25);
		if (g->m32 && chance(r, 25))
			e.pfx[e.npfx++] = 0x67; /* CX: no memory is addressed, so safe */
		e.imm = filler_len(g);
		e.imm_size = 1;
		break;
	}
	case K_RET:
		if (t->imm == I_16) {
			e.imm = chance(r, 50) ? rn(r, 4) * 8 : rnd(r) & 0xffff;
			e.imm_size = 2;
		}
		break;
	case K_JMPIND:
		mem = chance(r, 50);
		if (mem) {
			uint64_t off = pick_target(g, 8, 8);
			if (off + 8 > DT_DATA_SIZE)
				off = rn(r, DT_DATA_SIZE - 8);
			enc_mem(g, &e, DT_DATA_VA + off, false, false);
			e.modrm = (uint8_t)((e.modrm & ~0x38) | (unsigned)t->ext << 3);
			in->count = (int16_t)off; /* where the target goes, patched below */
		} else {
			reg = pick_free(g, 0);
			e.has_modrm = true;
			e.modrm = (uint8_t)(0xc0 | (unsigned)t->ext << 3 | (reg & 7));
			if (reg & 8)
				e.rex |= 0x01;
			g->pinned |= 1u << reg;
		}
		break;
	case K_VEC: gen_vec(g, t, in, &e, form, sizeof form); break;
	case K_ENTER: {
		e.imm = chance(r, 70) ? rn(r, 8) * 8 : rnd(r) & 0xffff;
		unsigned level = chance(r, 60)   ? rn(r, 2)
		                 : chance(r, 90) ? rn(r, 5)
		                                 : rnd(r) & 0xff;
		e.imm |= (uint64_t)level << 16;
		e.imm_size = 3;
		pin_set(g, 5, DT_DATA_VA + 0x100 + rn(r, 0x1e00));
		break;
	}
	}

	/* Immediates of the common forms. */
	if (t->imm == I_8 && t->kind != K_JCC) {
		e.imm = chance(r, 50) ? interesting(r) & 0xff : rnd(r) & 0xff;
		e.imm_size = 1;
	} else if (t->imm == I_COUNT) {
		e.imm = count_value(g, size, t->dyn == D_SHXD);
		e.imm_size = 1;
		in->count = (int16_t)e.imm;
	} else if (t->imm == I_Z && t->kind != K_JCC && t->kind != K_CALL) {
		e.imm = interesting(r);
		e.imm_size = size == 2 ? 2 : 4;
	} else if (t->imm == I_V) {
		e.imm = interesting(r);
		e.imm_size = size;
	}
	if (t->kind == K_MODRM && (t->opc[0] == 0xd0 || t->opc[0] == 0xd1))
		in->count = 1;
	if (t->setup == SU_AAM) /* base 10 mostly; 0 is #DE for AAM */
		e.imm = chance(r, 8) ? 0 : chance(r, 50) ? 10 : e.imm;

	/* A plain REX (no bits) changes AH..BH into SPL..DIL. */
	if (size == 1 && !(t->flags & T_NOREX) && !g->m32 && chance(r, 30))
		e.force_rex = true;
	if (t->flags & T_NOREX)
		e.rex = 0;
	in->len = (uint8_t)emit(g, &e);
	in->flags |= a32 ? DT_I_A32 : 0;

	if (t->kind == K_VEC)
		snprintf(in->text, sizeof in->text, "%s %s", t->name, form);
	else
		snprintf(in->text, sizeof in->text, "%s.%s %s", t->name, size_name(size), form);

	/* Control transfers: a filler, and targets past it. */
	uint64_t after = DT_CODE_VA + c->code_len + filler_len(g);
	switch (t->kind) {
	case K_JCC:
	case K_CALL:
	case K_LOOP: emit_filler(g); break;
	case K_RET:
		data_put(c, gpr[4] - DT_DATA_VA, after, 8);
		emit_filler(g);
		break;
	case K_JMPIND:
		if (mem)
			data_put(c, (uint64_t)in->count, after, 8);
		else
			gpr[reg] = after;
		in->count = -1;
		emit_filler(g);
		break;
	default: break;
	}
}

static bool matches(const struct tmpl *t, const char *filter)
{
	if (!filter)
		return true;
	size_t n = strlen(filter);
	if (n && filter[n - 1] == '*')
		return strncmp(t->name, filter, n - 1) == 0;
	return strcmp(t->name, filter) == 0;
}

bool dt_gen_case(uint64_t seed, uint64_t index, const char *filter, int mode, struct dt_case *c)
{
	dt_gen_init();
	struct gen g = {.r = {seed * 0x9e3779b97f4a7c15ULL ^ (index + 1) * 0xd1b54a32d192ed03ULL},
	                .c = c};
	rnd(&g.r);
	memset(c, 0, sizeof *c);
	c->seed = seed;
	c->fs_base = host_fs_base;
	c->gs_base = host_gs_base;
	unsigned cand[DT_MAX_TMPL], ncand = 0;
	g.m32 = mode == DT_MODE_32 || (mode == DT_MODE_MIXED && chance(&g.r, 25));
	for (int attempt = 0; attempt < 2 && !ncand; attempt++) {
		if (attempt) {
			if (mode != DT_MODE_MIXED)
				return false;
			g.m32 = !g.m32; /* the filter's instructions exist in the other mode only */
		}
		for (unsigned k = 0; k < nT; k++)
			if (matches(&T[k], filter) && mode_sizes(&g, &T[k]))
				cand[ncand++] = k;
	}
	if (!ncand)
		return false;
	c->m32 = g.m32;

	for (unsigned k = 0; k < DT_DATA_SIZE; k += 8) {
		uint64_t v = chance(&g.r, 30) ? interesting(&g.r) : rnd(&g.r);
		memcpy(&c->data[k], &v, 8);
	}
	for (unsigned k = 0; k < 16; k++)
		c->in.gpr[k] = interesting(&g.r);
	c->in.gpr[4] = DT_DATA_VA + 0x1800;
	c->in.rip = DT_CODE_VA;
	c->in.rflags = 0x202 | (rnd(&g.r) & DT_FL_ARITH) | (chance(&g.r, 15) ? DT_FL_DF : 0);

	const struct tmpl *main_t = &T[cand[rn(&g.r, ncand)]];
	gen_fx(&g, main_t);
	gen_insn(&g, main_t, false);
	uint16_t poison = (uint16_t)((0 & ~main_t->def) | main_t->undef);
	if (main_t->dyn != D_NONE)
		poison |= main_t->undef | DT_FL_OF | DT_FL_AF | DT_FL_CF;
	unsigned nf = rn(&g.r, 100) < 50 ? 0 : rn(&g.r, 100) < 70 ? 1 : 2;
	for (unsigned f = 0; f < nf; f++) {
		const struct tmpl *t = NULL;
		for (int tries = 0; tries < 40; tries++) {
			const struct tmpl *cand_t = &T[followers[rn(&g.r, nfollowers)]];
			if ((cand_t->reads & poison) || !mode_sizes(&g, cand_t))
				continue;
			/* prefer flag consumers */
			if (!cand_t->reads && tries < 20 && chance(&g.r, 60))
				continue;
			t = cand_t;
			break;
		}
		if (!t)
			break;
		/* A follower's registers are whatever the main instruction left;
		 * it changes no initial value the main instruction relies on. */
		gen_insn(&g, t, true);
		poison = (uint16_t)((poison & ~t->def) | t->undef);
		if (t->dyn != D_NONE)
			poison |= DT_FL_OF | DT_FL_AF | DT_FL_CF;
	}
	c->code[c->code_len++] = 0xcc; /* INT3 ends the case */
	return true;
}
