/* The MMX and SSE side of the case generator: the vector templates, the
 * floating-point/vector state every case starts from, and the encoding of
 * one vector instruction.
 *
 * The state is an FXSAVE image: x87 control word (mostly the default, some
 * with other precision, rounding and masks), status word (any TOP, sticky
 * flags, now and then an unmasked one pending so MMX instructions raise
 * #MF), tags, x87 registers holding MMX-style integers and extended values,
 * MXCSR (every rounding mode; mostly all exceptions masked, sometimes a
 * random set unmasked so #XM is compared; DAZ and FTZ sometimes; sticky
 * flags) and XMM0-15 filled with values of the type the instruction works
 * on: zeros, infinities, quiet and signalling NaNs, denormals, values near
 * overflow and underflow, integers at conversion boundaries, random ones,
 * and registers equal to each other so compares find equality.
 *
 * A vector template names its mandatory prefix, map and opcode, the
 * register class of ModRM.reg and ModRM.rm (XMM, MMX or a GPR), the memory
 * operand's size and whether it must be 16-byte aligned. Memory operands go
 * through every addressing form like the integer ones, aligned most of the
 * time and misaligned otherwise (so #GP(0) is compared), across pages, into
 * the read-only and the guard page. */
#include <stdio.h>
#include <string.h>

#include "gen.h"

struct vdef {
	const char *name;
	uint8_t mand, map, opc;
	int8_t ext;
	uint8_t rm, creg, crm, msize, vt;
	uint32_t vf;
};

#define X C_XMM
#define M C_MMX
#define G C_GPR
#define B RM_BOTH
#define R RM_REG
#define MEM RM_MEM
#define F32 VT_F32
#define F64 VT_F64
#define INT VT_INT
#define A V_A16
#define V_CNT 0x1000   /* the source holds a shift count */
#define V_FLAGS 0x2000 /* writes the arithmetic flags */
#define V_W64 (V_W | V_NOW)
#define V_66 0x4000     /* a 66 prefix too (CRC32's 16-bit form) */
#define V_NOFLIP 0x8000 /* no register form of a memory-only one (or back) */
#define V_UNDEF 0x10000 /* an encoding from undefined[] */

/* clang-format off */
#define ARITH4(name, op)                                                                           \
	{name "ps", 0, 1, op, -1, B, X, X, 16, F32, A},                                            \
	{name "pd", 0x66, 1, op, -1, B, X, X, 16, F64, A},                                         \
	{name "ss", 0xf3, 1, op, -1, B, X, X, 4, F32, 0},                                          \
	{name "sd", 0xf2, 1, op, -1, B, X, X, 8, F64, 0}
/* clang-format on */

/* name, mandatory prefix, map (1: 0F, 2: 0F 38, 3: 0F 3A), opcode, ModRM.reg
 * extension (-1: a register), r/m forms, classes of reg and r/m, memory
 * size, values, flags. Store forms list the destination as r/m. */
static const struct vdef defs[] = {
    /* SSE/SSE2 moves */
    {"movups", 0, 1, 0x10, -1, B, X, X, 16, F32, 0},
    {"movupd", 0x66, 1, 0x10, -1, B, X, X, 16, F64, 0},
    {"movss", 0xf3, 1, 0x10, -1, B, X, X, 4, F32, 0},
    {"movsd", 0xf2, 1, 0x10, -1, B, X, X, 8, F64, 0},
    {"movups.st", 0, 1, 0x11, -1, B, X, X, 16, F32, 0},
    {"movupd.st", 0x66, 1, 0x11, -1, B, X, X, 16, F64, 0},
    {"movss.st", 0xf3, 1, 0x11, -1, B, X, X, 4, F32, 0},
    {"movsd.st", 0xf2, 1, 0x11, -1, B, X, X, 8, F64, 0},
    {"movlps", 0, 1, 0x12, -1, B, X, X, 8, F32, 0}, /* register form: MOVHLPS */
    {"movlpd", 0x66, 1, 0x12, -1, MEM, X, X, 8, F64, 0},
    {"movsldup", 0xf3, 1, 0x12, -1, B, X, X, 16, F32, A},
    {"movddup", 0xf2, 1, 0x12, -1, B, X, X, 8, F64, 0},
    {"movlps.st", 0, 1, 0x13, -1, MEM, X, X, 8, F32, 0},
    {"movlpd.st", 0x66, 1, 0x13, -1, MEM, X, X, 8, F64, 0},
    {"movhps", 0, 1, 0x16, -1, B, X, X, 8, F32, 0}, /* register form: MOVLHPS */
    {"movhpd", 0x66, 1, 0x16, -1, MEM, X, X, 8, F64, 0},
    {"movshdup", 0xf3, 1, 0x16, -1, B, X, X, 16, F32, A},
    {"movhps.st", 0, 1, 0x17, -1, MEM, X, X, 8, F32, 0},
    {"movhpd.st", 0x66, 1, 0x17, -1, MEM, X, X, 8, F64, 0},
    {"movaps", 0, 1, 0x28, -1, B, X, X, 16, F32, A},
    {"movapd", 0x66, 1, 0x28, -1, B, X, X, 16, F64, A},
    {"movaps.st", 0, 1, 0x29, -1, B, X, X, 16, F32, A},
    {"movapd.st", 0x66, 1, 0x29, -1, B, X, X, 16, F64, A},
    {"movntps", 0, 1, 0x2b, -1, MEM, X, X, 16, F32, A},
    {"movntpd", 0x66, 1, 0x2b, -1, MEM, X, X, 16, F64, A},
    {"movmskps", 0, 1, 0x50, -1, R, G, X, 16, F32, 0},
    {"movmskpd", 0x66, 1, 0x50, -1, R, G, X, 16, F64, 0},
    {"movd", 0, 1, 0x6e, -1, B, M, G, 4, INT, V_NOW},
    {"movq", 0, 1, 0x6e, -1, B, M, G, 8, INT, V_W64},
    {"movd", 0x66, 1, 0x6e, -1, B, X, G, 4, INT, V_NOW},
    {"movq", 0x66, 1, 0x6e, -1, B, X, G, 8, INT, V_W64},
    {"movq", 0, 1, 0x6f, -1, B, M, M, 8, INT, 0},
    {"movdqa", 0x66, 1, 0x6f, -1, B, X, X, 16, INT, A},
    {"movdqu", 0xf3, 1, 0x6f, -1, B, X, X, 16, INT, 0},
    {"movd.st", 0, 1, 0x7e, -1, B, M, G, 4, INT, V_NOW},
    {"movq.st", 0, 1, 0x7e, -1, B, M, G, 8, INT, V_W64},
    {"movd.st", 0x66, 1, 0x7e, -1, B, X, G, 4, INT, V_NOW},
    {"movq.st", 0x66, 1, 0x7e, -1, B, X, G, 8, INT, V_W64},
    {"movq", 0xf3, 1, 0x7e, -1, B, X, X, 8, INT, 0},
    {"movq.st", 0, 1, 0x7f, -1, B, M, M, 8, INT, 0},
    {"movdqa.st", 0x66, 1, 0x7f, -1, B, X, X, 16, INT, A},
    {"movdqu.st", 0xf3, 1, 0x7f, -1, B, X, X, 16, INT, 0},
    {"movnti", 0, 1, 0xc3, -1, MEM, G, G, 4, INT, V_NOW},
    {"movnti", 0, 1, 0xc3, -1, MEM, G, G, 8, INT, V_W64},
    {"pinsrw", 0, 1, 0xc4, -1, B, M, G, 2, INT, V_IMM},
    {"pinsrw", 0x66, 1, 0xc4, -1, B, X, G, 2, INT, V_IMM},
    {"pextrw", 0, 1, 0xc5, -1, R, G, M, 8, INT, V_IMM},
    {"pextrw", 0x66, 1, 0xc5, -1, R, G, X, 16, INT, V_IMM},
    {"movq.st", 0x66, 1, 0xd6, -1, B, X, X, 8, INT, 0},
    {"movq2dq", 0xf3, 1, 0xd6, -1, R, X, M, 8, INT, 0},
    {"movdq2q", 0xf2, 1, 0xd6, -1, R, M, X, 8, INT, 0},
    {"pmovmskb", 0, 1, 0xd7, -1, R, G, M, 8, INT, 0},
    {"pmovmskb", 0x66, 1, 0xd7, -1, R, G, X, 16, INT, 0},
    {"movntq", 0, 1, 0xe7, -1, MEM, M, M, 8, INT, 0},
    {"movntdq", 0x66, 1, 0xe7, -1, MEM, X, X, 16, INT, A},
    {"lddqu", 0xf2, 1, 0xf0, -1, MEM, X, X, 16, INT, 0},
    {"maskmovq", 0, 1, 0xf7, -1, R, M, M, 8, INT, V_MASKMOV},
    {"maskmovdqu", 0x66, 1, 0xf7, -1, R, X, X, 16, INT, V_MASKMOV},
    {"ldmxcsr", 0, 1, 0xae, 2, MEM, X, X, 4, INT, V_LDMXCSR},
    {"ldmxcsr", 0x66, 1, 0xae, 2, MEM, X, X, 4, INT, V_LDMXCSR},
    {"stmxcsr", 0, 1, 0xae, 3, MEM, X, X, 4, INT, 0},
    /* logic, shuffles, unpacks */
    {"unpcklps", 0, 1, 0x14, -1, B, X, X, 16, F32, A},
    {"unpcklpd", 0x66, 1, 0x14, -1, B, X, X, 16, F64, A},
    {"unpckhps", 0, 1, 0x15, -1, B, X, X, 16, F32, A},
    {"unpckhpd", 0x66, 1, 0x15, -1, B, X, X, 16, F64, A},
    {"andps", 0, 1, 0x54, -1, B, X, X, 16, F32, A},
    {"andpd", 0x66, 1, 0x54, -1, B, X, X, 16, F64, A},
    {"andnps", 0, 1, 0x55, -1, B, X, X, 16, F32, A},
    {"andnpd", 0x66, 1, 0x55, -1, B, X, X, 16, F64, A},
    {"orps", 0, 1, 0x56, -1, B, X, X, 16, F32, A},
    {"orpd", 0x66, 1, 0x56, -1, B, X, X, 16, F64, A},
    {"xorps", 0, 1, 0x57, -1, B, X, X, 16, F32, A},
    {"xorpd", 0x66, 1, 0x57, -1, B, X, X, 16, F64, A},
    {"shufps", 0, 1, 0xc6, -1, B, X, X, 16, F32, A | V_IMM},
    {"shufpd", 0x66, 1, 0xc6, -1, B, X, X, 16, F64, A | V_IMM},
    {"pshufw", 0, 1, 0x70, -1, B, M, M, 8, INT, V_IMM},
    {"pshufd", 0x66, 1, 0x70, -1, B, X, X, 16, INT, A | V_IMM},
    {"pshufhw", 0xf3, 1, 0x70, -1, B, X, X, 16, INT, A | V_IMM},
    {"pshuflw", 0xf2, 1, 0x70, -1, B, X, X, 16, INT, A | V_IMM},
    /* floating-point arithmetic */
    {"sqrtps", 0, 1, 0x51, -1, B, X, X, 16, F32, A},
    {"sqrtpd", 0x66, 1, 0x51, -1, B, X, X, 16, F64, A},
    {"sqrtss", 0xf3, 1, 0x51, -1, B, X, X, 4, F32, 0},
    {"sqrtsd", 0xf2, 1, 0x51, -1, B, X, X, 8, F64, 0},
    {"rsqrtps", 0, 1, 0x52, -1, B, X, X, 16, F32, A | V_APPROX},
    {"rsqrtss", 0xf3, 1, 0x52, -1, B, X, X, 4, F32, V_APPROX | V_SCALAR},
    {"rcpps", 0, 1, 0x53, -1, B, X, X, 16, F32, A | V_APPROX},
    {"rcpss", 0xf3, 1, 0x53, -1, B, X, X, 4, F32, V_APPROX | V_SCALAR},
    ARITH4("add", 0x58),
    ARITH4("mul", 0x59),
    ARITH4("sub", 0x5c),
    ARITH4("min", 0x5d),
    ARITH4("div", 0x5e),
    ARITH4("max", 0x5f),
    {"cmpps", 0, 1, 0xc2, -1, B, X, X, 16, F32, A | V_IMMCMP},
    {"cmppd", 0x66, 1, 0xc2, -1, B, X, X, 16, F64, A | V_IMMCMP},
    {"cmpss", 0xf3, 1, 0xc2, -1, B, X, X, 4, F32, V_IMMCMP},
    {"cmpsd", 0xf2, 1, 0xc2, -1, B, X, X, 8, F64, V_IMMCMP},
    {"ucomiss", 0, 1, 0x2e, -1, B, X, X, 4, F32, V_FLAGS},
    {"ucomisd", 0x66, 1, 0x2e, -1, B, X, X, 8, F64, V_FLAGS},
    {"comiss", 0, 1, 0x2f, -1, B, X, X, 4, F32, V_FLAGS},
    {"comisd", 0x66, 1, 0x2f, -1, B, X, X, 8, F64, V_FLAGS},
    /* conversions */
    {"cvtpi2ps", 0, 1, 0x2a, -1, B, X, M, 8, INT, 0},
    {"cvtpi2pd", 0x66, 1, 0x2a, -1, B, X, M, 8, INT, 0},
    {"cvtsi2ss", 0xf3, 1, 0x2a, -1, B, X, G, 4, INT, V_NOW},
    {"cvtsi2ss", 0xf3, 1, 0x2a, -1, B, X, G, 8, INT, V_W64},
    {"cvtsi2sd", 0xf2, 1, 0x2a, -1, B, X, G, 4, INT, V_NOW},
    {"cvtsi2sd", 0xf2, 1, 0x2a, -1, B, X, G, 8, INT, V_W64},
    {"cvttps2pi", 0, 1, 0x2c, -1, B, M, X, 8, F32, 0},
    {"cvttpd2pi", 0x66, 1, 0x2c, -1, B, M, X, 16, F64, A},
    {"cvttss2si", 0xf3, 1, 0x2c, -1, B, G, X, 4, F32, V_NOW},
    {"cvttss2si", 0xf3, 1, 0x2c, -1, B, G, X, 4, F32, V_W64},
    {"cvttsd2si", 0xf2, 1, 0x2c, -1, B, G, X, 8, F64, V_NOW},
    {"cvttsd2si", 0xf2, 1, 0x2c, -1, B, G, X, 8, F64, V_W64},
    {"cvtps2pi", 0, 1, 0x2d, -1, B, M, X, 8, F32, 0},
    {"cvtpd2pi", 0x66, 1, 0x2d, -1, B, M, X, 16, F64, A},
    {"cvtss2si", 0xf3, 1, 0x2d, -1, B, G, X, 4, F32, V_NOW},
    {"cvtss2si", 0xf3, 1, 0x2d, -1, B, G, X, 4, F32, V_W64},
    {"cvtsd2si", 0xf2, 1, 0x2d, -1, B, G, X, 8, F64, V_NOW},
    {"cvtsd2si", 0xf2, 1, 0x2d, -1, B, G, X, 8, F64, V_W64},
    {"cvtps2pd", 0, 1, 0x5a, -1, B, X, X, 8, F32, 0},
    {"cvtpd2ps", 0x66, 1, 0x5a, -1, B, X, X, 16, F64, A},
    {"cvtss2sd", 0xf3, 1, 0x5a, -1, B, X, X, 4, F32, 0},
    {"cvtsd2ss", 0xf2, 1, 0x5a, -1, B, X, X, 8, F64, 0},
    {"cvtdq2ps", 0, 1, 0x5b, -1, B, X, X, 16, INT, A},
    {"cvtps2dq", 0x66, 1, 0x5b, -1, B, X, X, 16, F32, A},
    {"cvttps2dq", 0xf3, 1, 0x5b, -1, B, X, X, 16, F32, A},
    {"cvttpd2dq", 0x66, 1, 0xe6, -1, B, X, X, 16, F64, A},
    {"cvtpd2dq", 0xf2, 1, 0xe6, -1, B, X, X, 16, F64, A},
    {"cvtdq2pd", 0xf3, 1, 0xe6, -1, B, X, X, 8, INT, 0},
    /* SSE3 */
    {"addsubpd", 0x66, 1, 0xd0, -1, B, X, X, 16, F64, A},
    {"addsubps", 0xf2, 1, 0xd0, -1, B, X, X, 16, F32, A},
    {"haddpd", 0x66, 1, 0x7c, -1, B, X, X, 16, F64, A},
    {"haddps", 0xf2, 1, 0x7c, -1, B, X, X, 16, F32, A},
    {"hsubpd", 0x66, 1, 0x7d, -1, B, X, X, 16, F64, A},
    {"hsubps", 0xf2, 1, 0x7d, -1, B, X, X, 16, F32, A},
    /* shifts by immediate */
    {"psrlw", 0, 1, 0x71, 2, R, M, M, 8, INT, V_IMMSHIFT},
    {"psraw", 0, 1, 0x71, 4, R, M, M, 8, INT, V_IMMSHIFT},
    {"psllw", 0, 1, 0x71, 6, R, M, M, 8, INT, V_IMMSHIFT},
    {"psrld", 0, 1, 0x72, 2, R, M, M, 8, INT, V_IMMSHIFT},
    {"psrad", 0, 1, 0x72, 4, R, M, M, 8, INT, V_IMMSHIFT},
    {"pslld", 0, 1, 0x72, 6, R, M, M, 8, INT, V_IMMSHIFT},
    {"psrlq", 0, 1, 0x73, 2, R, M, M, 8, INT, V_IMMSHIFT},
    {"psllq", 0, 1, 0x73, 6, R, M, M, 8, INT, V_IMMSHIFT},
    {"psrlw", 0x66, 1, 0x71, 2, R, X, X, 16, INT, V_IMMSHIFT},
    {"psraw", 0x66, 1, 0x71, 4, R, X, X, 16, INT, V_IMMSHIFT},
    {"psllw", 0x66, 1, 0x71, 6, R, X, X, 16, INT, V_IMMSHIFT},
    {"psrld", 0x66, 1, 0x72, 2, R, X, X, 16, INT, V_IMMSHIFT},
    {"psrad", 0x66, 1, 0x72, 4, R, X, X, 16, INT, V_IMMSHIFT},
    {"pslld", 0x66, 1, 0x72, 6, R, X, X, 16, INT, V_IMMSHIFT},
    {"psrlq", 0x66, 1, 0x73, 2, R, X, X, 16, INT, V_IMMSHIFT},
    {"psrldq", 0x66, 1, 0x73, 3, R, X, X, 16, INT, V_IMMSHIFT},
    {"psllq", 0x66, 1, 0x73, 6, R, X, X, 16, INT, V_IMMSHIFT},
    {"pslldq", 0x66, 1, 0x73, 7, R, X, X, 16, INT, V_IMMSHIFT},
    /* SSSE3 and SSE4.1 with their own encodings */
    {"palignr", 0, 3, 0x0f, -1, B, M, M, 8, INT, V_IMMSHIFT},
    {"palignr", 0x66, 3, 0x0f, -1, B, X, X, 16, INT, A | V_IMMSHIFT},
    {"pblendvb", 0x66, 2, 0x10, -1, B, X, X, 16, INT, A},
    {"blendvps", 0x66, 2, 0x14, -1, B, X, X, 16, F32, A},
    {"blendvpd", 0x66, 2, 0x15, -1, B, X, X, 16, F64, A},
    {"ptest", 0x66, 2, 0x17, -1, B, X, X, 16, INT, A | V_FLAGS},
    {"pmovsxbw", 0x66, 2, 0x20, -1, B, X, X, 8, INT, 0},
    {"pmovsxbd", 0x66, 2, 0x21, -1, B, X, X, 4, INT, 0},
    {"pmovsxbq", 0x66, 2, 0x22, -1, B, X, X, 2, INT, 0},
    {"pmovsxwd", 0x66, 2, 0x23, -1, B, X, X, 8, INT, 0},
    {"pmovsxwq", 0x66, 2, 0x24, -1, B, X, X, 4, INT, 0},
    {"pmovsxdq", 0x66, 2, 0x25, -1, B, X, X, 8, INT, 0},
    {"movntdqa", 0x66, 2, 0x2a, -1, MEM, X, X, 16, INT, A},
    {"pmovzxbw", 0x66, 2, 0x30, -1, B, X, X, 8, INT, 0},
    {"pmovzxbd", 0x66, 2, 0x31, -1, B, X, X, 4, INT, 0},
    {"pmovzxbq", 0x66, 2, 0x32, -1, B, X, X, 2, INT, 0},
    {"pmovzxwd", 0x66, 2, 0x33, -1, B, X, X, 8, INT, 0},
    {"pmovzxwq", 0x66, 2, 0x34, -1, B, X, X, 4, INT, 0},
    {"pmovzxdq", 0x66, 2, 0x35, -1, B, X, X, 8, INT, 0},
    {"phminposuw", 0x66, 2, 0x41, -1, B, X, X, 16, INT, A},
    {"roundps", 0x66, 3, 0x08, -1, B, X, X, 16, F32, A | V_IMMROUND},
    {"roundpd", 0x66, 3, 0x09, -1, B, X, X, 16, F64, A | V_IMMROUND},
    {"roundss", 0x66, 3, 0x0a, -1, B, X, X, 4, F32, V_IMMROUND},
    {"roundsd", 0x66, 3, 0x0b, -1, B, X, X, 8, F64, V_IMMROUND},
    {"blendps", 0x66, 3, 0x0c, -1, B, X, X, 16, F32, A | V_IMM},
    {"blendpd", 0x66, 3, 0x0d, -1, B, X, X, 16, F64, A | V_IMM},
    {"pblendw", 0x66, 3, 0x0e, -1, B, X, X, 16, INT, A | V_IMM},
    {"pextrb", 0x66, 3, 0x14, -1, B, X, G, 1, INT, V_IMM},
    {"pextrw", 0x66, 3, 0x15, -1, B, X, G, 2, INT, V_IMM},
    {"pextrd", 0x66, 3, 0x16, -1, B, X, G, 4, INT, V_IMM | V_NOW},
    {"pextrq", 0x66, 3, 0x16, -1, B, X, G, 8, INT, V_IMM | V_W64},
    {"extractps", 0x66, 3, 0x17, -1, B, X, G, 4, F32, V_IMM},
    {"pinsrb", 0x66, 3, 0x20, -1, B, X, G, 1, INT, V_IMM},
    {"insertps", 0x66, 3, 0x21, -1, B, X, X, 4, F32, V_IMM},
    {"pinsrd", 0x66, 3, 0x22, -1, B, X, G, 4, INT, V_IMM | V_NOW},
    {"pinsrq", 0x66, 3, 0x22, -1, B, X, G, 8, INT, V_IMM | V_W64},
    {"dpps", 0x66, 3, 0x40, -1, B, X, X, 16, F32, A | V_IMM},
    {"dppd", 0x66, 3, 0x41, -1, B, X, X, 16, F64, A | V_IMM},
    {"mpsadbw", 0x66, 3, 0x42, -1, B, X, X, 16, INT, A | V_IMM},
    /* SSE4.2 */
    {"pcmpestrm", 0x66, 3, 0x60, -1, B, X, X, 16, VT_STR, V_STR | V_FLAGS},
    {"pcmpestri", 0x66, 3, 0x61, -1, B, X, X, 16, VT_STR, V_STR | V_FLAGS},
    {"pcmpistrm", 0x66, 3, 0x62, -1, B, X, X, 16, VT_STR, V_STR | V_FLAGS},
    {"pcmpistri", 0x66, 3, 0x63, -1, B, X, X, 16, VT_STR, V_STR | V_FLAGS},
    {"crc32", 0xf2, 2, 0xf0, -1, B, G, G, 1, INT, V_NOW},
    {"crc32", 0xf2, 2, 0xf0, -1, B, G, G, 1, INT, V_W64},
    {"crc32", 0xf2, 2, 0xf1, -1, B, G, G, 2, INT, V_NOW | V_66},
    {"crc32", 0xf2, 2, 0xf1, -1, B, G, G, 4, INT, V_NOW},
    {"crc32", 0xf2, 2, 0xf1, -1, B, G, G, 8, INT, V_W64},
};

/* The integer rows: an MMX form (no prefix) and an SSE2 form (66) each. */
struct irow {
	const char *name;
	uint8_t map, opc, flags;
};
#define IR_M32 0x01 /* the MMX form reads 32 bits of memory */
#define IR_66 0x02  /* no MMX form */
#define IR_CNT 0x04 /* shift by the count in the source */
static const struct irow irows[] = {
    {"punpcklbw", 1, 0x60, IR_M32},
    {"punpcklwd", 1, 0x61, IR_M32},
    {"punpckldq", 1, 0x62, IR_M32},
    {"packsswb", 1, 0x63, 0},
    {"pcmpgtb", 1, 0x64, 0},
    {"pcmpgtw", 1, 0x65, 0},
    {"pcmpgtd", 1, 0x66, 0},
    {"packuswb", 1, 0x67, 0},
    {"punpckhbw", 1, 0x68, 0},
    {"punpckhwd", 1, 0x69, 0},
    {"punpckhdq", 1, 0x6a, 0},
    {"packssdw", 1, 0x6b, 0},
    {"punpcklqdq", 1, 0x6c, IR_66},
    {"punpckhqdq", 1, 0x6d, IR_66},
    {"pcmpeqb", 1, 0x74, 0},
    {"pcmpeqw", 1, 0x75, 0},
    {"pcmpeqd", 1, 0x76, 0},
    {"psrlw", 1, 0xd1, IR_CNT},
    {"psrld", 1, 0xd2, IR_CNT},
    {"psrlq", 1, 0xd3, IR_CNT},
    {"paddq", 1, 0xd4, 0},
    {"pmullw", 1, 0xd5, 0},
    {"psubusb", 1, 0xd8, 0},
    {"psubusw", 1, 0xd9, 0},
    {"pminub", 1, 0xda, 0},
    {"pand", 1, 0xdb, 0},
    {"paddusb", 1, 0xdc, 0},
    {"paddusw", 1, 0xdd, 0},
    {"pmaxub", 1, 0xde, 0},
    {"pandn", 1, 0xdf, 0},
    {"pavgb", 1, 0xe0, 0},
    {"psraw", 1, 0xe1, IR_CNT},
    {"psrad", 1, 0xe2, IR_CNT},
    {"pavgw", 1, 0xe3, 0},
    {"pmulhuw", 1, 0xe4, 0},
    {"pmulhw", 1, 0xe5, 0},
    {"psubsb", 1, 0xe8, 0},
    {"psubsw", 1, 0xe9, 0},
    {"pminsw", 1, 0xea, 0},
    {"por", 1, 0xeb, 0},
    {"paddsb", 1, 0xec, 0},
    {"paddsw", 1, 0xed, 0},
    {"pmaxsw", 1, 0xee, 0},
    {"pxor", 1, 0xef, 0},
    {"psllw", 1, 0xf1, IR_CNT},
    {"pslld", 1, 0xf2, IR_CNT},
    {"psllq", 1, 0xf3, IR_CNT},
    {"pmuludq", 1, 0xf4, 0},
    {"pmaddwd", 1, 0xf5, 0},
    {"psadbw", 1, 0xf6, 0},
    {"psubb", 1, 0xf8, 0},
    {"psubw", 1, 0xf9, 0},
    {"psubd", 1, 0xfa, 0},
    {"psubq", 1, 0xfb, 0},
    {"paddb", 1, 0xfc, 0},
    {"paddw", 1, 0xfd, 0},
    {"paddd", 1, 0xfe, 0},
    /* SSSE3 */
    {"pshufb", 2, 0x00, 0},
    {"phaddw", 2, 0x01, 0},
    {"phaddd", 2, 0x02, 0},
    {"phaddsw", 2, 0x03, 0},
    {"pmaddubsw", 2, 0x04, 0},
    {"phsubw", 2, 0x05, 0},
    {"phsubd", 2, 0x06, 0},
    {"phsubsw", 2, 0x07, 0},
    {"psignb", 2, 0x08, 0},
    {"psignw", 2, 0x09, 0},
    {"psignd", 2, 0x0a, 0},
    {"pmulhrsw", 2, 0x0b, 0},
    {"pabsb", 2, 0x1c, 0},
    {"pabsw", 2, 0x1d, 0},
    {"pabsd", 2, 0x1e, 0},
    /* SSE4.1, SSE4.2 */
    {"pmuldq", 2, 0x28, IR_66},
    {"pcmpeqq", 2, 0x29, IR_66},
    {"packusdw", 2, 0x2b, IR_66},
    {"pcmpgtq", 2, 0x37, IR_66},
    {"pminsb", 2, 0x38, IR_66},
    {"pminsd", 2, 0x39, IR_66},
    {"pminuw", 2, 0x3a, IR_66},
    {"pminud", 2, 0x3b, IR_66},
    {"pmaxsb", 2, 0x3c, IR_66},
    {"pmaxsd", 2, 0x3d, IR_66},
    {"pmaxuw", 2, 0x3e, IR_66},
    {"pmaxud", 2, 0x3f, IR_66},
    {"pmulld", 2, 0x40, IR_66},
};

/* Encodings that do not exist: #UD on every CPU (AMD's SSE4a opcodes,
 * F2/F3 0F 2B and 0F 78/79 with a prefix, are left out). The mandatory
 * prefix of each is one the opcode has no form for. */
static const struct {
	uint8_t mand, map, opc;
} undefined[] = {
    {0xf3, 1, 0x14}, {0xf2, 1, 0x15}, {0xf3, 1, 0x28}, {0xf2, 1, 0x29}, {0xf3, 1, 0x2e},
    {0xf2, 1, 0x2f}, {0xf3, 1, 0x50}, {0x66, 1, 0x52}, {0xf2, 1, 0x53}, {0xf3, 1, 0x54},
    {0xf2, 1, 0x57}, {0xf2, 1, 0x5b}, {0xf3, 1, 0x60}, {0xf2, 1, 0x67}, {0, 1, 0x6c},
    {0, 1, 0x6d},    {0xf2, 1, 0x6e}, {0xf2, 1, 0x6f}, {0xf3, 1, 0x74}, {0x66, 1, 0x77},
    {0xf3, 1, 0x77}, {0, 1, 0x7c},    {0xf3, 1, 0x7d}, {0xf2, 1, 0x7e}, {0xf2, 1, 0x7f},
    {0xf3, 1, 0xc4}, {0xf2, 1, 0xc6}, {0, 1, 0xd0},    {0xf3, 1, 0xd0}, {0xf2, 1, 0xd1},
    {0, 1, 0xd6},    {0xf3, 1, 0xd7}, {0, 1, 0xe6},    {0xf3, 1, 0xe7}, {0, 1, 0xf0},
    {0x66, 1, 0xf0}, {0xf3, 1, 0xf0}, {0xf2, 1, 0xfe}, {0xf3, 1, 0xef}, {0, 2, 0x10},
    {0, 2, 0x17},    {0xf3, 2, 0x00}, {0xf2, 2, 0x1c}, {0, 2, 0x29},    {0, 2, 0x41},
    {0xf3, 2, 0x2a}, {0, 3, 0x08},    {0xf3, 3, 0x0f}, {0, 3, 0x16},    {0, 3, 0x22},
    {0, 3, 0x40},    {0, 3, 0x61},    {0xf2, 3, 0x63},
};

static void add_vec(const struct vdef *v)
{
	struct tmpl t = {.name = v->name,
	                 .kind = K_VEC,
	                 .rm = v->rm,
	                 .mand = v->mand,
	                 .ext = v->ext,
	                 .sizes = S4,
	                 .creg = v->creg,
	                 .crm = v->crm,
	                 .msize = v->msize,
	                 .vt = v->vt,
	                 .vflags = v->vf};
	t.nopc = v->map == 1 ? 2 : 3;
	t.opc[0] = 0x0f;
	if (v->map == 1) {
		t.opc[1] = v->opc;
	} else {
		t.opc[1] = v->map == 2 ? 0x38 : 0x3a;
		t.opc[2] = v->opc;
	}
	if (v->map == 3 && !(t.vflags & (V_IMMSHIFT | V_IMMROUND | V_IMMCMP | V_STR)))
		t.vflags |= V_IMM;
	if (v->vf & V_W)
		t.flags |= T_ONLY64;
	if (v->vf & V_FLAGS)
		t.def = DT_FL_ARITH;
	add(t);
}

void dt_gen_vec_init(void)
{
	for (unsigned k = 0; k < sizeof defs / sizeof defs[0]; k++)
		add_vec(&defs[k]);
	for (unsigned k = 0; k < sizeof irows / sizeof irows[0]; k++) {
		const struct irow *r = &irows[k];
		uint16_t cnt = (r->flags & IR_CNT) ? V_CNT : 0;
		if (!(r->flags & IR_66))
			add_vec(&(struct vdef){r->name, 0, r->map, r->opc, -1, B, M, M,
			                       (r->flags & IR_M32) ? 4 : 8, INT, cnt});
		add_vec(&(struct vdef){r->name, 0x66, r->map, r->opc, -1, B, X, X, 16, INT,
		                       (uint16_t)(A | cnt)});
	}
	add((struct tmpl){"emms", K_PLAIN, .nopc = 2, .opc = {0x0f, 0x77}, .sizes = S4});
	/* one template for them all: the encoding is picked per case */
	add_vec(&(struct vdef){"undefined", 0, 1, 0x0b, -1, B, X, X, 16, INT, V_NOFLIP | V_UNDEF});
}

/* --- values --- */

static uint32_t f32_value(struct rng *r)
{
	static const uint32_t special[] = {
	    0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x3f000000, 0x3fc00000, 0x40000000,
	    0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7fc12345, 0x7f800001, 0xff812345,
	    0x7fbfffff, 0x7f7fffff, 0xff7fffff, 0x00800000, 0x80800000, 0x007fffff, 0x00000001,
	    0x80000001, 0x00400000, 0x4f000000, 0xcf000000, 0x4effffff, 0xcf000001, 0x5f000000,
	    0xdf000000, 0x5effffff, 0xdf000001, 0x4b000000, 0x4b7fffff, 0x3effffff, 0x3f7fffff,
	    0x34000000, 0x0c000000, 0x72000000, 0x7e800000, 0x01000000, 0x3f000001, 0x3fbfffff};
	uint32_t sign = (uint32_t)(rnd(r) & 1) << 31;
	uint32_t mant = (uint32_t)rnd(r) & 0x7fffff;
	switch (rn(r, 12)) {
	case 0:
	case 1: return special[rn(r, sizeof special / sizeof special[0])];
	case 2: return sign | (chance(r, 50) ? mant : mant >> rn(r, 23)); /* denormal */
	case 3: return sign | (250 + rn(r, 5)) << 23 | mant;              /* near overflow */
	case 4: return sign | (1 + rn(r, 4)) << 23 | mant;                /* near underflow */
	case 5: return sign | (rn(r, 2) ? 62 + rn(r, 4) : 188 + rn(r, 4)) << 23 | mant;
	case 6: { /* integral, or half-integral, possibly at a conversion boundary */
		float f = chance(r, 50) ? (float)(int32_t)interesting(r)
		                        : (float)(int16_t)rnd(r) + (chance(r, 50) ? 0.5f : 0.25f);
		uint32_t v;
		memcpy(&v, &f, 4);
		return v;
	}
	case 7: return sign | 0x7f800000 | (mant ? mant : 1); /* NaN */
	case 8:
	case 9:
	case 10: return sign | (110 + rn(r, 36)) << 23 | mant;
	default: return (uint32_t)rnd(r);
	}
}

static uint64_t f64_value(struct rng *r)
{
	static const uint64_t special[] = {0,
	                                   0x8000000000000000ULL,
	                                   0x3ff0000000000000ULL,
	                                   0xbff0000000000000ULL,
	                                   0x3fe0000000000000ULL,
	                                   0x7ff0000000000000ULL,
	                                   0xfff0000000000000ULL,
	                                   0x7ff8000000000000ULL,
	                                   0xfff8000000000000ULL,
	                                   0x7ff8000012345678ULL,
	                                   0x7ff0000000000001ULL,
	                                   0xfff0000012345678ULL,
	                                   0x7ff7ffffffffffffULL,
	                                   0x7fefffffffffffffULL,
	                                   0xffefffffffffffffULL,
	                                   0x0010000000000000ULL,
	                                   0x8010000000000000ULL,
	                                   0x000fffffffffffffULL,
	                                   0x0000000000000001ULL,
	                                   0x41e0000000000000ULL,
	                                   0xc1e0000000000000ULL,
	                                   0x41dfffffffc00000ULL,
	                                   0xc1e0000000100000ULL,
	                                   0x41dfffffffffffffULL,
	                                   0x43e0000000000000ULL,
	                                   0xc3e0000000000000ULL,
	                                   0x43dfffffffffffffULL,
	                                   0x4330000000000000ULL,
	                                   0x47efffffe0000000ULL,
	                                   0x47efffff00000000ULL,
	                                   0x47f0000000000000ULL,
	                                   0x3810000000000000ULL,
	                                   0x380fffffffffffffULL,
	                                   0x36a0000000000000ULL,
	                                   0x3690000000000000ULL,
	                                   0x3fdfffffffffffffULL};
	uint64_t sign = (rnd(r) & 1) << 63;
	uint64_t mant = rnd(r) & 0xfffffffffffffULL;
	switch (rn(r, 12)) {
	case 0:
	case 1: return special[rn(r, sizeof special / sizeof special[0])];
	case 2: return sign | (chance(r, 50) ? mant : mant >> rn(r, 52));
	case 3: return sign | (uint64_t)(2040 + rn(r, 7)) << 52 | mant;
	case 4: return sign | (uint64_t)(1 + rn(r, 4)) << 52 | mant;
	case 5: /* near the float range's ends, for CVTSD2SS */
		return sign |
		       (uint64_t)(rn(r, 2) ? 1023 - 126 - rn(r, 26) : 1023 + 126 + rn(r, 3)) << 52 |
		       mant;
	case 6: {
		double f = chance(r, 50) ? (double)(int64_t)interesting(r)
		                         : (double)(int32_t)rnd(r) + (chance(r, 50) ? 0.5 : 0.25);
		uint64_t v;
		memcpy(&v, &f, 8);
		return v;
	}
	case 7: return sign | 0x7ff0000000000000ULL | (mant ? mant : 1);
	case 8:
	case 9:
	case 10: return sign | (uint64_t)(1000 + rn(r, 48)) << 52 | mant;
	default: return rnd(r);
	}
}

/* n bytes of values of type vt at p. */
static void fill_values(struct rng *r, uint8_t *p, unsigned n, unsigned vt)
{
	if (vt == VT_STR) { /* a small alphabet, so that string compares match */
		static const uint8_t alpha[] = {0, 'a', 'b', 'c', 'z', 0x80, 0xff, 0x7f, 1};
		unsigned na = 2 + rn(r, sizeof alpha - 1);
		for (unsigned k = 0; k < n; k++)
			p[k] = chance(r, 4) ? 0 : alpha[rn(r, na)];
		if (chance(r, 30))
			memset(p + rn(r, n), 0, 1);
		return;
	}
	for (unsigned k = 0; k < n;) {
		if (vt == VT_F32 && n - k >= 4) {
			uint32_t v = f32_value(r);
			memcpy(p + k, &v, 4);
			k += 4;
		} else if (vt == VT_F64 && n - k >= 8) {
			uint64_t v = f64_value(r);
			memcpy(p + k, &v, 8);
			k += 8;
		} else {
			uint64_t v = interesting(r);
			unsigned m = n - k < 8 ? n - k : 8;
			memcpy(p + k, &v, m);
			k += m;
		}
	}
}

/* Byte offset of MMX register n (physical register n) in the image. */
static unsigned fx_mmx(const uint8_t *fx, unsigned n)
{
	unsigned top = (fx[DT_FX_FSW + 1] >> 3) & 7;
	return DT_FX_ST((n - top) & 7);
}

void gen_fx(struct gen *g, const struct tmpl *t)
{
	struct rng *r = &g->r;
	uint8_t *fx = g->c->fx;
	memset(fx, 0, DT_FX_SIZE);
	uint16_t fcw = chance(r, 70) ? 0x037f : (uint16_t)((rnd(r) & 0x0f3f) | 0x0040);
	unsigned top = rn(r, 8);
	uint16_t flags = (uint16_t)(rnd(r) & 0x3f);
	if (!chance(r, 4))
		flags &= fcw & 0x3f; /* no x87 exception pending, mostly */
	if (chance(r, 50))
		flags = 0;
	uint16_t fsw = (uint16_t)(flags | (rnd(r) & 0x4700) | top << 11);
	if ((flags & 1) && chance(r, 50))
		fsw |= 0x40; /* stack fault */
	if (fsw & ~fcw & 0x3f)
		fsw |= 0x8080; /* ES and B summarize the unmasked ones */
	memcpy(fx + DT_FX_FCW, &fcw, 2);
	memcpy(fx + DT_FX_FSW, &fsw, 2);
	fx[DT_FX_FTW] = chance(r, 20) ? 0 : chance(r, 20) ? 0xff : (uint8_t)rnd(r);
	for (unsigned k = 0; k < 8; k++) {
		uint64_t sig = interesting(r);
		static const uint16_t se[] = {0xffff, 0x3fff, 0x0000, 0x7fff, 0xbffe, 0x4005};
		uint16_t sexp = chance(r, 30) ? (uint16_t)rnd(r) : se[rn(r, 6)];
		if (chance(r, 30))
			sig |= 1ULL << 63; /* a normal extended value */
		memcpy(fx + DT_FX_ST(k), &sig, 8);
		memcpy(fx + DT_FX_ST(k) + 8, &sexp, 2);
	}
	uint32_t mxcsr = (uint32_t)rn(r, 4) << 13;
	mxcsr |= chance(r, 80) ? 0x1f80 : (uint32_t)(rnd(r) & 0x1f80);
	if (chance(r, 30))
		mxcsr |= (uint32_t)(rnd(r) & 0x3f);
	if (chance(r, 15))
		mxcsr |= 0x40; /* DAZ */
	if (chance(r, 15))
		mxcsr |= 0x8000; /* FTZ */
	memcpy(fx + DT_FX_MXCSR, &mxcsr, 4);
	uint32_t mask = 0xffff;
	memcpy(fx + 28, &mask, 4);
	for (unsigned k = 0; k < 16; k++) {
		if (k && chance(r, 12)) /* equal to another register */
			memcpy(fx + DT_FX_XMM(k), fx + DT_FX_XMM(rn(r, k)), 16);
		else
			fill_values(r, fx + DT_FX_XMM(k), 16, t->vt);
	}
}

/* --- one instruction --- */

static unsigned pick_reg(struct gen *g, unsigned cls)
{
	if (cls == C_MMX) /* REX.R/B are ignored for MMX registers: sometimes set */
		return rn(&g->r, 8) | (!g->m32 && chance(&g->r, 10) ? 8 : 0);
	return rn(&g->r, g->m32 ? 8 : 16);
}

static const char *reg_name(unsigned cls, unsigned n, char *buf, size_t len)
{
	snprintf(buf, len, "%s%u",
	         cls == C_XMM   ? "xmm"
	         : cls == C_MMX ? "mm"
	                        : "r",
	         cls == C_MMX ? n & 7 : n);
	return buf;
}

static uint64_t shift_count(struct rng *r)
{
	static const uint8_t edge[] = {0, 1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65};
	if (chance(r, 80))
		return edge[rn(r, sizeof edge)];
	return chance(r, 50) ? rnd(r) & 0xff : rnd(r);
}

/* An MXCSR value for LDMXCSR: any valid one, sometimes with a reserved bit
 * (#GP(0)); bit 17 is left alone, as AMD's MXCSR_MASK accepts it. */
static uint32_t mxcsr_value(struct rng *r)
{
	uint32_t v = (uint32_t)rnd(r) & 0xffff;
	if (chance(r, 60))
		v = (v & ~0x1f80u) | 0x1f80u;
	if (chance(r, 6)) {
		unsigned bit = 16 + rn(r, 16);
		v |= 1u << (bit == 17 ? 16 : bit);
	}
	return v;
}

void gen_vec(struct gen *g, const struct tmpl *t, struct dt_insn *in, struct enc *e, char *form,
             size_t form_len)
{
	struct rng *r = &g->r;
	struct dt_case *c = g->c;
	char rs[12], ms[12];
	unsigned reg = 0, rm = 0;
	bool mem = t->rm == RM_MEM || (t->rm == RM_BOTH && chance(r, 50));
	/* the missing form of a register-only or memory-only instruction: #UD */
	if (t->rm != RM_BOTH && t->ext < 0 && !(t->vflags & V_NOFLIP) && chance(r, 3))
		mem = !mem;
	bool lock = false;

	if (t->vflags & V_UNDEF) {
		static uint8_t opc[3];
		unsigned k = rn(r, sizeof undefined / sizeof undefined[0]);
		if (undefined[k].mand)
			e->pfx[e->npfx++] = undefined[k].mand;
		opc[0] = 0x0f;
		opc[1] = undefined[k].map == 1   ? undefined[k].opc
		         : undefined[k].map == 2 ? 0x38
		                                 : 0x3a;
		opc[2] = undefined[k].opc;
		e->opc = opc;
		e->nopc = undefined[k].map == 1 ? 2 : 3;
		if (undefined[k].map == 3) {
			e->imm = rnd(r) & 0xff;
			e->imm_size = 1;
		}
	}
	/* 66 in front of F2/F3 is ignored */
	if ((t->mand == 0xf2 || t->mand == 0xf3) && chance(r, 3)) {
		e->pfx[e->npfx - 1] = 0x66;
		e->pfx[e->npfx++] = t->mand;
	}
	if (t->vflags & V_W)
		e->rex |= 0x08;
	else if (!g->m32 && !(t->vflags & V_NOW) && chance(r, 6))
		e->rex |= 0x08; /* ignored */
	if (t->ext >= 0) {
		reg = (unsigned)t->ext;
	} else {
		reg = pick_reg(g, t->creg);
		if (reg & 8)
			e->rex |= 0x04;
	}
	if (t->vflags & V_66) {
		e->pfx[e->npfx - 1] = 0x66;
		e->pfx[e->npfx++] = t->mand;
	}
	if (t->vflags & V_STR) { /* explicit lengths in rAX and rDX */
		for (unsigned k = 0; k <= 2; k += 2) {
			int64_t len;
			switch (rn(r, 4)) {
			case 0: len = rn(r, 18); break;
			case 1: len = rn(r, 10); break;
			case 2: len = -(int64_t)rn(r, 20); break;
			default: len = (int64_t)interesting(r); break;
			}
			pin_set(g, k, (uint64_t)len);
		}
	}
	if (t->crm == C_GPR && t->msize == 1 && !g->m32 && !e->rex && chance(r, 30))
		e->force_rex = true; /* SPL..DIL instead of AH..BH */
	if (t->vflags & V_MASKMOV) {
		/* the store goes to DS:rDI (segment overrides apply) */
		unsigned n = t->msize;
		bool a32 = want_a32(g, e, 20);
		if (chance(r, 8))
			e->pfx[e->npfx++] = (uint8_t[]){0x2e, 0x3e, 0x26, 0x36}[rn(r, 4)];
		uint64_t off = pick_target(g, n, 1);
		pin_set(g, 7, (DT_DATA_VA + off) | (a32 ? rnd(r) & 0xffffffff00000000ULL : 0));
		if (a32)
			in->flags |= DT_I_A32;
	}
	if (mem) {
		bool a32 = want_a32(g, e, 15);
		if (chance(r, 8))
			e->pfx[e->npfx++] = (uint8_t[]){0x2e, 0x3e, 0x26, 0x36}[rn(r, 4)];
		unsigned align = (t->vflags & V_A16) ? 16 : t->msize;
		uint64_t off = pick_target(g, t->msize, align);
		if ((t->vflags & V_A16) && chance(r, 3))
			off = (off & ~15ULL) | (1 + rn(r, 15)); /* misaligned: #GP(0) */
		if (off < DT_DATA_SIZE) {
			uint8_t buf[16];
			unsigned n = t->msize;
			if (t->creg == C_XMM && t->ext < 0 && chance(r, 12))
				memcpy(buf, c->fx + DT_FX_XMM(reg & (g->m32 ? 7 : 15)), 16);
			else
				fill_values(r, buf, n, t->vt);
			if (t->vflags & V_CNT) {
				uint64_t cnt = shift_count(r);
				memcpy(buf, &cnt, 8);
			}
			if (t->vflags & V_LDMXCSR) {
				uint32_t v = mxcsr_value(r);
				memcpy(buf, &v, 4);
			}
			for (unsigned k = 0; k < n; k++)
				if (off + k < DT_DATA_SIZE)
					c->data[off + k] = buf[k];
		}
		uint64_t ea = DT_DATA_VA + off;
		bool reg_only = false;
		if (!a32 && !g->m32 && chance(r, 5)) {
			bool fs = chance(r, 50);
			e->pfx[e->npfx++] = fs ? 0x64 : 0x65;
			ea -= fs ? c->fs_base : c->gs_base;
			reg_only = true;
		} else if (!a32 && !g->m32 && chance(r, 2)) {
			ea = (chance(r, 50) ? 0x0000800000100000ULL : 0xffff7ffff0000000ULL) +
			     rn(r, 0x2000);
			reg_only = true;
		}
		enc_mem(g, e, ea, a32, reg_only);
		snprintf(ms, sizeof ms, "[mem%s]", a32 ? " a32" : "");
	} else {
		rm = pick_reg(g, t->crm);
		e->has_modrm = true;
		e->modrm = (uint8_t)(0xc0 | (rm & 7));
		if (rm & 8)
			e->rex |= 0x01;
		unsigned phys = rm & (t->crm == C_MMX ? 7 : 15);
		if (t->vflags & V_CNT) {
			uint64_t cnt = shift_count(r);
			memcpy(c->fx + (t->crm == C_MMX ? fx_mmx(c->fx, phys) : DT_FX_XMM(phys)),
			       &cnt, 8);
		}
		if (t->vflags & V_MASKMOV) { /* a mask with at least one byte selected */
			uint8_t *p =
			    c->fx + (t->crm == C_MMX ? fx_mmx(c->fx, phys) : DT_FX_XMM(phys));
			uint64_t bits = rnd(r) | 1ULL << rn(r, t->msize);
			for (unsigned k = 0; k < t->msize; k++)
				p[k] = (uint8_t)((p[k] & 0x7f) | ((bits >> k) & 1) << 7);
		}
		reg_name(t->crm, rm, ms, sizeof ms);
	}
	if (chance(r, 2))
		lock = true; /* #UD */
	e->modrm = (uint8_t)((e->modrm & ~0x38) | (reg & 7) << 3);
	if (lock)
		e->pfx[e->npfx++] = 0xf0;

	if (t->vflags & (V_IMM | V_IMMCMP | V_IMMSHIFT | V_IMMROUND | V_STR)) {
		uint64_t imm;
		if (t->vflags & V_IMMCMP)
			imm = chance(r, 90) ? rn(r, 8) : rnd(r) & 0xff;
		else if (t->vflags & V_IMMSHIFT)
			imm = shift_count(r) & 0xff;
		else if (t->vflags & V_IMMROUND)
			imm = chance(r, 90) ? rn(r, 16) : rnd(r) & 0xff;
		else
			imm = rnd(r) & 0xff;
		e->imm = imm;
		e->imm_size = 1;
	}
	if (t->vflags & V_APPROX) {
		in->fpcmp = (t->vflags & V_SCALAR) ? DT_CMP_APPROX_SS : DT_CMP_APPROX_PS;
		in->xdst = (uint8_t)reg;
	}
	if (t->ext >= 0)
		snprintf(form, form_len, "%s", ms);
	else
		snprintf(form, form_len, "%s, %s", reg_name(t->creg, reg, rs, sizeof rs), ms);
}
