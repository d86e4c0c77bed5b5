/* The case generator's shared parts: the template table's types, the random
 * number generator, the encoder state, and the helpers gen_vec.c (the MMX
 * and SSE templates) uses from gen.c. */
#ifndef RINGFOLD_DIFFTEST_GEN_H
#define RINGFOLD_DIFFTEST_GEN_H

#include "difftest.h"

#define DT_MAX_TMPL 1024

enum kind {
	K_MODRM,  /* opcode, ModRM (reg or /ext), optional immediate */
	K_PLAIN,  /* opcode, optional immediate */
	K_PLUSR,  /* opcode + register */
	K_JCC,    /* Jcc/JMP rel8 or rel32 over a filler */
	K_CALL,   /* CALL rel32 over a filler */
	K_LOOP,   /* LOOP/LOOPE/LOOPNE/JrCXZ over a filler */
	K_RET,    /* RET [imm16] to past a filler */
	K_JMPIND, /* JMP/CALL r/m to past a filler */
	K_STRING, /* MOVS/CMPS/STOS/LODS/SCAS */
	K_MOFFS,  /* MOV AL/rAX <-> moffs */
	K_ENTER,
	K_VEC, /* MMX/SSE: mandatory prefix, 0F/0F38/0F3A opcode, ModRM (gen_vec.c) */
};
enum rmform { RM_BOTH, RM_REG, RM_MEM };
enum immkind { I_NONE, I_8, I_Z, I_16, I_V, I_COUNT };
enum dyn { D_NONE, D_SHIFT, D_ROT, D_SHXD, D_REPCMP };
enum setup {
	SU_NONE,
	SU_DIV,
	SU_CMPXCHG,
	SU_CX8,
	SU_BTMEM,
	SU_CL,
	SU_POPF,
	SU_XLAT,
	SU_LEAVE,
	SU_ENTER,
	SU_CLSHXD,
	SU_BCD,    /* AL/AH worth adjusting (DAA DAS AAA AAS) */
	SU_AAM,    /* AAM/AAD: base 10 mostly, sometimes 0 (#DE for AAM) */
	SU_PUSHA,  /* ESP near the bottom of the data pages or in the read-only page */
	SU_POPA,   /* ESP near the guard page */
	SU_BOUND,  /* bounds around the index register */
	SU_FARPTR, /* a selector Linux's GDT gives meaning to, or not */
};
#define S1 1
#define S2 2
#define S4 4
#define S8 8
#define T_LOCK 0x01   /* LOCK allowed with a memory operand */
#define T_STACK 0x02  /* uses RSP */
#define T_FOLLOW 0x04 /* may follow the main instruction (register form) */
#define T_D64 0x08    /* 64-bit operand by default (no REX.W needed) */
#define T_CC 0x10     /* reads the condition in the opcode's low nibble */
#define T_NOREX 0x20  /* no REX prefix (the opcode would change meaning) */
#define T_ONLY32 0x40 /* compatibility mode only */
#define T_ONLY64 0x80 /* 64-bit mode only */

struct tmpl {
	const char *name;
	uint8_t kind, nopc, rm, imm, dyn, setup, flags, mand;
	uint8_t opc[3];
	int8_t ext; /* ModRM.reg extension, -1: a register operand */
	uint8_t sizes;
	uint16_t def, undef, reads;
	/* K_VEC only: register classes of ModRM.reg and ModRM.rm (C_*), the
	 * memory operand's size, the values the operands should hold (VT_*)
	 * and V_* flags. */
	uint8_t creg, crm, msize, vt;
	uint32_t vflags;
};

/* --- randomness --- */

struct rng {
	uint64_t s;
};

static inline uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}
static inline unsigned rn(struct rng *r, unsigned n)
{
	return (unsigned)(rnd(r) % n);
}
static inline bool chance(struct rng *r, unsigned pct)
{
	return rn(r, 100) < pct;
}

/* --- the encoder --- */

struct gen {
	struct rng r;
	struct dt_case *c;
	bool m32; /* compatibility mode: 32-bit code, eight registers, no REX */
	/* Followers address memory only RIP-relative or absolute: the main
	 * instruction may have changed any register. */
	bool abs_only;
	uint32_t pinned; /* registers whose value a setup or an address fixed */
};

struct enc {
	uint8_t pfx[8];
	unsigned npfx;
	uint8_t rex;
	bool force_rex;
	const uint8_t *opc;
	unsigned nopc;
	uint8_t opc_last_add; /* +r */
	bool has_modrm, has_sib;
	uint8_t modrm, sib;
	unsigned disp_size;
	int64_t disp;
	bool riprel;
	uint64_t rip_target;
	unsigned imm_size;
	uint64_t imm;
};

/* gen.c */
struct tmpl *add(struct tmpl t);
uint64_t interesting(struct rng *r);
void pin_set(struct gen *g, unsigned reg, uint64_t v);
unsigned pick_free(struct gen *g, uint32_t also_avoid);
uint64_t pick_target(struct gen *g, unsigned size, unsigned align);
void enc_mem(struct gen *g, struct enc *e, uint64_t ea, bool a32, bool reg_only);
void data_put(struct dt_case *c, uint64_t off, uint64_t v, unsigned size);
uint64_t data_get(const struct dt_case *c, uint64_t off, unsigned size);
bool want_a32(struct gen *g, struct enc *e, unsigned pct);

/* gen_vec.c */
enum reg_class { C_XMM, C_MMX, C_GPR };
enum value_type { VT_INT, VT_F32, VT_F64, VT_STR };
#define V_A16 0x0001      /* 16-byte aligned memory operand (#GP(0) otherwise) */
#define V_IMM 0x0002      /* imm8, random */
#define V_W 0x0004        /* REX.W set (its 64-bit form) */
#define V_NOW 0x0008      /* no stray REX.W: it would change the instruction */
#define V_APPROX 0x0010   /* RCP/RSQRT: destination compared approximately */
#define V_SCALAR 0x0020   /* ...in its low lane only */
#define V_IMMCMP 0x0040   /* imm8: a compare predicate */
#define V_IMMSHIFT 0x0080 /* imm8: a shift count */
#define V_MASKMOV 0x0100  /* stores through [rDI] */
#define V_LDMXCSR 0x0200  /* the memory operand is an MXCSR value */
#define V_IMMROUND 0x0400 /* imm8: a rounding control */
#define V_STR 0x0800      /* imm8: an SSE4.2 string compare control */
void dt_gen_vec_init(void);
void gen_fx(struct gen *g, const struct tmpl *t);
void gen_vec(struct gen *g, const struct tmpl *t, struct dt_insn *in, struct enc *e, char *form,
             size_t form_len);

#endif
