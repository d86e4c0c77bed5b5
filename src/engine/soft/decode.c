/* The soft engine's x86 decoder: legacy prefixes, REX, the one-byte, 0F,
 * 0F38 and 0F3A maps, ModRM/SIB with every addressing form (16-, 32- and
 * 64-bit, RIP-relative), displacements and immediates.
 *
 * It only measures and takes apart: whether an opcode is implemented is the
 * executor's business. Lengths are right for every opcode of the four maps
 * (VEX/EVEX excepted, which decode as #UD for now), so an unimplemented
 * instruction raises #UD at the right place instead of desynchronising.
 * Outside 64-bit mode C4/C5 decode as LES/LDS and 62 as BOUND: their
 * register forms, which are VEX/EVEX there, are #UD in the executor. */
#include <string.h>

#include "engine/soft/soft.h"

/* Attribute byte of each opcode. */
#define A_IMM_MASK 0x07
#define A_IB 1
#define A_IW 2
#define A_IZ 3    /* 16 or 32 bits by operand size */
#define A_IV 4    /* 16, 32 or 64 bits by operand size (MOV r, imm) */
#define A_IWIB 5  /* ENTER */
#define A_MOFFS 6 /* address-sized offset (MOV AL, moffs) */
#define A_PTR 7   /* far pointer: offset of operand size, then a selector */
#define A_MODRM 0x08
#define A_DEF64 0x10 /* 64-bit operand by default in 64-bit mode (66 gives 16) */
#define A_INV64 0x20 /* invalid in 64-bit mode */
#define A_UD 0x40    /* never valid (or VEX, not supported yet) */
#define A_F64 0x80   /* always 64-bit operand in 64-bit mode (near branches) */

static const uint8_t attr_one[256] = {
    /* 0_ */ 0x08, 0x08, 0x08, 0x08, 0x01, 0x03, 0x20, 0x20,
    0x08,          0x08, 0x08, 0x08, 0x01, 0x03, 0x20, 0x00,
    /* 1_ */ 0x08, 0x08, 0x08, 0x08, 0x01, 0x03, 0x20, 0x20,
    0x08,          0x08, 0x08, 0x08, 0x01, 0x03, 0x20, 0x20,
    /* 2_ */ 0x08, 0x08, 0x08, 0x08, 0x01, 0x03, 0x00, 0x20,
    0x08,          0x08, 0x08, 0x08, 0x01, 0x03, 0x00, 0x20,
    /* 3_ */ 0x08, 0x08, 0x08, 0x08, 0x01, 0x03, 0x00, 0x20,
    0x08,          0x08, 0x08, 0x08, 0x01, 0x03, 0x00, 0x20,
    /* 4_ */ 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00,          0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    /* 5_ */ 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
    0x10,          0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
    /* 6_ */ 0x20, 0x20, 0x28, 0x08, 0x00, 0x00, 0x00, 0x00,
    0x13,          0x0b, 0x11, 0x09, 0x00, 0x00, 0x00, 0x00,
    /* 7_ */ 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81,
    0x81,          0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81,
    /* 8_ */ 0x09, 0x0b, 0x29, 0x09, 0x08, 0x08, 0x08, 0x08,
    0x08,          0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x18,
    /* 9_ */ 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00,          0x00, 0x27, 0x00, 0x10, 0x10, 0x00, 0x00,
    /* a_ */ 0x06, 0x06, 0x06, 0x06, 0x00, 0x00, 0x00, 0x00,
    0x01,          0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    /* b_ */ 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
    0x04,          0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04,
    /* c_ */ 0x09, 0x09, 0x82, 0x80, 0x28, 0x28, 0x09, 0x0b,
    0x15,          0x10, 0x02, 0x00, 0x00, 0x01, 0x20, 0x00,
    /* d_ */ 0x08, 0x08, 0x08, 0x08, 0x21, 0x21, 0x20, 0x00,
    0x08,          0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08,
    /* e_ */ 0x81, 0x81, 0x81, 0x81, 0x01, 0x01, 0x01, 0x01,
    0x83,          0x83, 0x27, 0x81, 0x00, 0x00, 0x00, 0x00,
    /* f_ */ 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x08,
    0x00,          0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x08,
};
static const uint8_t attr_0f[256] = {
    /* 0_ */ 0x08, 0x08, 0x08, 0x08, 0x40, 0x00, 0x00, 0x00,
    0x00,          0x00, 0x40, 0x00, 0x40, 0x08, 0x40, 0x40,
    /* 1_ */ 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08,
    0x08,          0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08,
    /* 2_ */ 0x08, 0x08, 0x08, 0x08, 0x40, 0x40, 0x40, 0x40,
    0x08,          0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08,
    /* 3_ */ 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x00,
    0x00,          0x40, 0x00, 0x40, 0x40, 0x40, 0x40, 0x40,
    /* 4_ */ 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08,
    0x08,          0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08,
    /* 5_ */ 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08,
    0x08,          0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08,
    /* 6_ */ 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08,
    0x08,          0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08,
    /* 7_ */ 0x09, 0x09, 0x09, 0x09, 0x08, 0x08, 0x08, 0x00,
    0x08,          0x08, 0x40, 0x40, 0x08, 0x08, 0x08, 0x08,
    /* 8_ */ 0x83, 0x83, 0x83, 0x83, 0x83, 0x83, 0x83, 0x83,
    0x83,          0x83, 0x83, 0x83, 0x83, 0x83, 0x83, 0x83,
    /* 9_ */ 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08,
    0x08,          0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08,
    /* a_ */ 0x10, 0x10, 0x00, 0x08, 0x09, 0x08, 0x40, 0x40,
    0x10,          0x10, 0x00, 0x08, 0x09, 0x08, 0x08, 0x08,
    /* b_ */ 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08,
    0x08,          0x08, 0x09, 0x08, 0x08, 0x08, 0x08, 0x08,
    /* c_ */ 0x08, 0x08, 0x09, 0x08, 0x09, 0x09, 0x09, 0x08,
    0x00,          0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    /* d_ */ 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08,
    0x08,          0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08,
    /* e_ */ 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08,
    0x08,          0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08,
    /* f_ */ 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08,
    0x08,          0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x40,
};

static unsigned le(const uint8_t *p, unsigned n)
{
	unsigned v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (unsigned)p[i] << (8 * i);
	return v;
}

static uint64_t le64(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

int soft_decode(const uint8_t *b, unsigned avail, enum soft_mode mode, struct soft_insn *o)
{
	unsigned pos = 0;
	bool m64 = mode == SOFT_MODE_64;
	int seg_override = -1;
	memset(o, 0, sizeof *o);
	o->base = o->index = SOFT_NOREG;

/* Make n more bytes available: -2 (#GP) beyond 15, 0 when the caller must
 * supply more. */
#define NEED(n)                                                                                    \
	do {                                                                                       \
		if (pos + (n) > SOFT_MAX_INSN_LEN)                                                 \
			return -2;                                                                 \
		if (pos + (n) > avail)                                                             \
			return 0;                                                                  \
	} while (0)

	for (;;) {
		NEED(1);
		uint8_t p = b[pos];
		switch (p) {
		case 0xf0: o->pfx |= SOFT_PFX_LOCK; break;
		case 0xf2: o->pfx = (uint8_t)((o->pfx & ~SOFT_PFX_REP) | SOFT_PFX_REPNE); break;
		case 0xf3: o->pfx = (uint8_t)((o->pfx & ~SOFT_PFX_REPNE) | SOFT_PFX_REP); break;
		case 0x66: o->pfx |= SOFT_PFX_OPSIZE; break;
		case 0x67: o->pfx |= SOFT_PFX_ADSIZE; break;
		case 0x26: seg_override = SEG_ES; break;
		case 0x2e: seg_override = SEG_CS; break;
		case 0x36: seg_override = SEG_SS; break;
		case 0x3e: seg_override = SEG_DS; break;
		case 0x64: seg_override = SEG_FS; break;
		case 0x65: seg_override = SEG_GS; break;
		default:
			if (m64 && (p & 0xf0) == 0x40) {
				o->rex = p;
				pos++;
				continue;
			}
			goto prefixes_done;
		}
		o->rex = 0; /* a REX followed by a legacy prefix is ignored */
		pos++;
	}
prefixes_done:;
	unsigned map = 0;
	NEED(1);
	unsigned opc = b[pos++];
	if (opc == 0x0f) {
		NEED(1);
		opc = b[pos++];
		map = 1;
		if (opc == 0x38 || opc == 0x3a) {
			map = opc == 0x38 ? 2 : 3;
			NEED(1);
			opc = b[pos++];
		}
	}
	o->op = (uint16_t)(map << 8 | opc);
	unsigned attr = map == 0   ? attr_one[opc]
	                : map == 1 ? attr_0f[opc]
	                : map == 2 ? A_MODRM
	                           : A_MODRM | A_IB;
	if ((attr & A_UD) || (m64 && (attr & A_INV64)))
		return -1;

	bool rexw = o->rex & 8, p66 = o->pfx & SOFT_PFX_OPSIZE, p67 = o->pfx & SOFT_PFX_ADSIZE;
	if (m64) {
		o->osize = rexw ? 8 : p66 ? 2 : 4;
		if ((attr & A_DEF64) && !p66)
			o->osize = 8;
		if (attr & A_F64)
			o->osize = 8;
		o->asize = p67 ? 4 : 8;
	} else if (mode == SOFT_MODE_32) {
		o->osize = p66 ? 2 : 4;
		o->asize = p67 ? 2 : 4;
	} else {
		o->osize = p66 ? 4 : 2;
		o->asize = p67 ? 4 : 2;
	}
	o->seg = SEG_DS;
	if ((map == 0 && (opc & 0xf0) == 0x40) || (map == 0 && (opc & 0xf8) == 0x50) ||
	    (map == 0 && (opc & 0xf8) == 0x58) || (map == 0 && (opc & 0xf8) == 0x90) ||
	    (map == 0 && (opc & 0xf0) == 0xb0) || (map == 1 && (opc & 0xf8) == 0xc8))
		o->reg = (uint8_t)((opc & 7) | ((o->rex & 1) << 3)); /* +r opcodes */

	if (attr & A_MODRM) {
		NEED(1);
		uint8_t modrm = b[pos++];
		unsigned mod = modrm >> 6, rm = modrm & 7;
		if (map == 1 && opc >= 0x20 && opc <= 0x23)
			mod = 3; /* MOV to/from CR/DR: always registers, mod is ignored */
		o->has_modrm = 1;
		o->modrm = modrm;
		o->reg = (uint8_t)(((modrm >> 3) & 7) | ((o->rex & 4) << 1));
		if (mod == 3) {
			o->rm = (uint8_t)(rm | ((o->rex & 1) << 3));
		} else if (o->asize == 2) {
			static const uint8_t base16[8] = {GPR_RBX,    GPR_RBX,    GPR_RBP, GPR_RBP,
			                                  SOFT_NOREG, SOFT_NOREG, GPR_RBP, GPR_RBX};
			static const uint8_t index16[8] = {GPR_RSI,    GPR_RDI,   GPR_RSI,
			                                   GPR_RDI,    GPR_RSI,   GPR_RDI,
			                                   SOFT_NOREG, SOFT_NOREG};
			o->mem = 1;
			o->base = base16[rm];
			o->index = index16[rm];
			if (mod == 0 && rm == 6) {
				o->base = SOFT_NOREG;
				NEED(2);
				o->disp = (int16_t)le(b + pos, 2);
				pos += 2;
			} else if (mod == 1) {
				NEED(1);
				o->disp = (int8_t)b[pos++];
			} else if (mod == 2) {
				NEED(2);
				o->disp = (int16_t)le(b + pos, 2);
				pos += 2;
			}
			if (o->base == GPR_RBP)
				o->seg = SEG_SS;
		} else {
			o->mem = 1;
			if (rm == 4) {
				NEED(1);
				uint8_t sib = b[pos++];
				unsigned idx = ((sib >> 3) & 7) | ((o->rex & 2) << 2);
				o->scale = sib >> 6;
				o->index = idx == 4 ? SOFT_NOREG : (uint8_t)idx;
				if ((sib & 7) == 5 && mod == 0)
					o->base = SOFT_NOREG;
				else
					o->base = (uint8_t)((sib & 7) | ((o->rex & 1) << 3));
			} else if (rm == 5 && mod == 0) {
				o->base = m64 ? SOFT_RIPREL : SOFT_NOREG;
			} else {
				o->base = (uint8_t)(rm | ((o->rex & 1) << 3));
			}
			if (mod == 1) {
				NEED(1);
				o->disp = (int8_t)b[pos++];
			} else if (mod == 2 || o->base == SOFT_NOREG || o->base == SOFT_RIPREL) {
				NEED(4);
				o->disp = (int32_t)le(b + pos, 4);
				pos += 4;
			}
			if (o->base == GPR_RSP || o->base == GPR_RBP)
				o->seg = SEG_SS;
		}
		/* FF /2 and /4 are near branches, FF /6 is PUSH. */
		if (m64 && map == 0 && opc == 0xff) {
			unsigned r = (modrm >> 3) & 7;
			if (r == 2 || r == 4)
				o->osize = 8;
			else if (r == 6 && !p66)
				o->osize = 8;
		}
		/* TEST r/m, imm hides in the unary groups. */
		if (map == 0 && (opc == 0xf6 || opc == 0xf7) && ((modrm >> 3) & 7) < 2)
			attr |= opc == 0xf6 ? A_IB : A_IZ;
	}
	if (seg_override >= 0) {
		o->pfx |= SOFT_PFX_SEG;
		/* In 64-bit mode only FS and GS overrides mean anything. */
		if (!m64 || seg_override == SEG_FS || seg_override == SEG_GS)
			o->seg = (uint8_t)seg_override;
	}

	switch (attr & A_IMM_MASK) {
	case A_IB:
		NEED(1);
		o->imm = (uint64_t)(int64_t)(int8_t)b[pos++];
		break;
	case A_IW:
		NEED(2);
		o->imm = le(b + pos, 2);
		pos += 2;
		break;
	case A_IZ:
		if (o->osize == 2) {
			NEED(2);
			o->imm = (uint64_t)(int64_t)(int16_t)le(b + pos, 2);
			pos += 2;
		} else {
			NEED(4);
			o->imm = (uint64_t)(int64_t)(int32_t)le(b + pos, 4);
			pos += 4;
		}
		break;
	case A_IV:
		NEED(o->osize);
		o->imm = le64(b + pos, o->osize);
		pos += o->osize;
		break;
	case A_IWIB:
		NEED(3);
		o->imm = le(b + pos, 2);
		o->imm2 = b[pos + 2];
		pos += 3;
		break;
	case A_MOFFS:
		NEED(o->asize);
		o->imm = le64(b + pos, o->asize);
		pos += o->asize;
		break;
	case A_PTR: /* CALL/JMP ptr16:16/32 (not in 64-bit mode) */
		NEED(o->osize + 2u);
		o->imm = le64(b + pos, o->osize);
		o->imm2 = (uint16_t)le(b + pos + o->osize, 2);
		pos += o->osize + 2u;
		break;
	default: break;
	}
#undef NEED
	o->len = (uint8_t)pos;
	return (int)pos;
}
