/* The integer instructions that 64-bit mode dropped (or, for LSS/LFS/LGS,
 * kept): PUSHA/POPA, the BCD adjustments DAA DAS AAA AAS AAM AAD, BOUND,
 * ARPL, SALC, and the far-pointer loads LDS LES LSS LFS LGS. 16-bit code
 * (real mode, boot loaders, BIOS-style code) and 32-bit programs use them.
 *
 * The decoder already refuses the opcodes that are invalid in 64-bit mode
 * (#UD there); in 64-bit mode 63 is MOVSXD and C4/C5 are VEX, which exec.c
 * handles before anything comes here.
 *
 * The precise-fault discipline of exec.c holds (both bounds of BOUND, offset
 * and selector of a far pointer are read before anything changes, and the
 * segment register of a far-pointer load is checked before the general
 * register), except where hardware does otherwise and the differential
 * tester showed it: PUSHA and POPA go slot by slot. */
#include "engine/soft/access.h"
#include "engine/soft/exec.h"

static inline uint64_t szp(uint64_t r, unsigned size)
{
	uint64_t f = 0;
	r &= soft_size_mask(size);
	if (r == 0)
		f |= FL_ZF;
	if ((r >> (size * 8 - 1)) & 1)
		f |= FL_SF;
	if (!__builtin_parity((unsigned)(r & 0xff)))
		f |= FL_PF;
	return f;
}

static inline void set_al(struct soft_cpu *c, uint64_t al)
{
	c->state.gpr[GPR_RAX] = (c->state.gpr[GPR_RAX] & ~0xffULL) | (al & 0xff);
}

static inline void set_ax(struct soft_cpu *c, uint64_t ax)
{
	c->state.gpr[GPR_RAX] = (c->state.gpr[GPR_RAX] & ~0xffffULL) | (ax & 0xffff);
}

/* --- BCD --- */

/* DAA (27) and DAS (2F), the SDM's way: a low-digit adjustment by 6 when
 * the digit overflowed or AF says it carried, then a high-digit adjustment
 * by 0x60 decided by the original AL and CF. OF is undefined (cleared). */
static void daa_das(struct soft_cpu *c, bool sub)
{
	uint64_t f = soft_flags_get(c);
	unsigned old_al = c->state.gpr[GPR_RAX] & 0xff, al = old_al;
	bool old_cf = f & FL_CF, cf = false, af = false;
	if ((al & 0xf) > 9 || (f & FL_AF)) {
		cf = old_cf || (sub ? al < 6 : al > 0xff - 6);
		al = (sub ? al - 6 : al + 6) & 0xff;
		af = true;
	}
	if (old_al > 0x99 || old_cf) {
		al = (sub ? al - 0x60 : al + 0x60) & 0xff;
		cf = true;
	} else if (!sub) {
		cf = false; /* DAA only: DAS keeps the borrow of the first step */
	}
	set_al(c, al);
	c->state.rflags = (f & ~FL_ARITH) | szp(al, 1) | (cf ? FL_CF : 0) | (af ? FL_AF : 0);
}

/* AAA (37) and AAS (3F): AX += 0x106 or AX -= 6 and AH -= 1 (the SDM's
 * current pseudocode, where the carry or borrow of AL's adjustment reaches
 * AH), then AL keeps its low digit. OF SF ZF PF are undefined: SF ZF PF
 * follow AL, OF is cleared. */
static void aaa_aas(struct soft_cpu *c, bool sub)
{
	uint64_t f = soft_flags_get(c);
	unsigned ax = c->state.gpr[GPR_RAX] & 0xffff;
	bool adjust = (ax & 0xf) > 9 || (f & FL_AF);
	if (adjust)
		ax = sub ? ax - 6 - 0x100 : ax + 0x106;
	ax = (ax & 0xff0f) & 0xffff;
	set_ax(c, ax);
	c->state.rflags = (f & ~FL_ARITH) | szp(ax & 0xff, 1) | (adjust ? FL_CF | FL_AF : 0);
}

/* AAM imm8 (D4): AH = AL / imm8, AL = AL % imm8, #DE for 0. AAD imm8 (D5):
 * AL = AL + AH * imm8, AH = 0. SF ZF PF from AL; OF AF CF undefined
 * (cleared). */
static int aam_aad(struct soft_cpu *c, const struct soft_insn *i, bool aad)
{
	unsigned base = i->imm & 0xff, ax = c->state.gpr[GPR_RAX] & 0xffff;
	unsigned al = ax & 0xff, ah = ax >> 8;
	if (aad) {
		ax = (al + ah * base) & 0xff;
	} else {
		if (base == 0)
			return soft_raise(c, SOFT_DE, false, 0);
		ax = (al / base) << 8 | (al % base);
	}
	set_ax(c, ax);
	uint64_t f = soft_flags_get(c) & ~FL_ARITH;
	c->state.rflags = f | szp(ax & 0xff, 1);
	return 0;
}

/* --- PUSHA / POPA --- */

/* PUSHA and POPA move one slot at a time, as hardware does (the AMD host of
 * the differential tester, and QEMU and Bochs alike): a fault part-way
 * leaves the slots pushed before it in memory, or the registers popped
 * before it loaded, and ESP unchanged, so that the instruction can simply
 * be restarted. Each slot's offset wraps in the stack's address size. */
static int stack_slot(struct soft_cpu *c, uint64_t sp, unsigned size, unsigned access,
                      struct memref *m)
{
	uint64_t la, off = sp & (c->state.seg[SEG_SS].db ? 0xffffffffULL : 0xffff);
	if (soft_linear(c, SEG_SS, off, size, access, &la))
		return -1;
	return soft_mem_prepare(c, la, size, access, m);
}

static void set_sp(struct soft_cpu *c, uint64_t sp)
{
	if (c->state.seg[SEG_SS].db)
		c->state.gpr[GPR_RSP] = sp & 0xffffffffULL;
	else
		c->state.gpr[GPR_RSP] = (c->state.gpr[GPR_RSP] & ~0xffffULL) | (sp & 0xffff);
}

/* PUSHA/PUSHAD (60): AX CX DX BX, the original SP, BP SI DI, in that order
 * towards lower addresses. */
static int pusha(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned size = i->osize;
	uint64_t sp = c->state.gpr[GPR_RSP];
	for (unsigned r = 0; r < 8; r++) {
		struct memref m;
		sp -= size;
		if (stack_slot(c, sp, size, SOFT_ACC_WRITE, &m))
			return -1;
		soft_mem_write(c, &m, c->state.gpr[r] & soft_size_mask(size));
	}
	set_sp(c, sp);
	return 0;
}

/* POPA/POPAD (61): DI SI BP, SP's slot (read, so it can fault, but
 * dropped), BX DX CX AX. */
static int popa(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned size = i->osize;
	uint64_t sp = c->state.gpr[GPR_RSP];
	for (int r = 7; r >= 0; r--, sp += size) {
		struct memref m;
		if (stack_slot(c, sp, size, SOFT_ACC_READ, &m))
			return -1;
		if (r != GPR_RSP)
			soft_reg_set(c, i, (unsigned)r, size, soft_mem_read(c, &m));
	}
	set_sp(c, sp);
	return 0;
}

/* --- BOUND, ARPL --- */

/* BOUND r, m (62): #BR (a fault) unless lower <= index <= upper, all
 * signed; the bounds are two operand-sized words at the address. */
static int bound(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned size = i->osize;
	if (!i->mem)
		return soft_raise(c, SOFT_UD, false, 0);
	uint64_t ea = soft_x_ea(c, i), lo, hi;
	if (soft_x_mem_read_at(c, i, ea, size, &lo) ||
	    soft_x_mem_read_at(c, i, ea + size, size, &hi))
		return -1;
	int64_t idx, l, h;
	if (size == 2) {
		idx = (int16_t)c->state.gpr[i->reg];
		l = (int16_t)lo;
		h = (int16_t)hi;
	} else {
		idx = (int32_t)c->state.gpr[i->reg];
		l = (int32_t)lo;
		h = (int32_t)hi;
	}
	if (idx < l || idx > h)
		return soft_raise(c, SOFT_BR, false, 0);
	return 0;
}

/* ARPL r/m16, r16 (63 outside 64-bit mode; not in real or virtual-8086
 * mode): raise the destination selector's RPL to the source's, ZF says
 * whether it changed. A memory destination is read, and written only when
 * it changes (so a read-only one faults only then, as on hardware). */
static int arpl(struct soft_cpu *c, const struct soft_insn *i)
{
	if (!(c->state.cr0 & CR0_PE) || (c->state.rflags & FL_VM))
		return soft_raise(c, SOFT_UD, false, 0);
	unsigned src = c->state.gpr[i->reg] & 3;
	uint64_t d, ea = soft_x_ea(c, i);
	if (i->mem) {
		if (soft_x_mem_read_at(c, i, ea, 2, &d))
			return -1;
	} else {
		d = c->state.gpr[i->rm] & 0xffff;
	}
	bool raise = (d & 3) < src;
	if (raise) {
		d = (d & ~3ULL) | src;
		if (!i->mem)
			c->state.gpr[i->rm] = (c->state.gpr[i->rm] & ~0xffffULL) | d;
		else if (soft_x_mem_write_at(c, i, ea, 2, d))
			return -1;
	}
	uint64_t f = soft_flags_get(c) & ~FL_ZF;
	c->state.rflags = f | (raise ? FL_ZF : 0);
	return 0;
}

/* --- far pointers --- */

/* LES (C4), LDS (C5), LSS (0F B2), LFS (0F B4), LGS (0F B5): an offset of
 * the operand size, then a selector, from memory. With REX.W (64-bit mode
 * only; the SDM's m16:64) the offset is 8 bytes; AMD reads m16:32 there.
 * The segment is loaded with MOV Sreg's checks (a null SS faults, ...),
 * then the register. */
static int far_pointer(struct soft_cpu *c, const struct soft_insn *i, unsigned seg)
{
	unsigned size = i->osize;
	if (!i->mem)
		return soft_raise(c, SOFT_UD, false, 0);
	uint64_t ea = soft_x_ea(c, i), off, sel;
	if (soft_x_mem_read_at(c, i, ea, size, &off) ||
	    soft_x_mem_read_at(c, i, ea + size, 2, &sel))
		return -1;
	if (soft_load_segment(c, seg, (uint16_t)sel))
		return -1;
	soft_reg_set(c, i, i->reg, size, off);
	return 0;
}

/* --- the dispatcher --- */

int soft_exec_legacy(struct soft_cpu *c, const struct soft_insn *i)
{
	int rc = 0;
	switch (i->op) {
	case 0x27: daa_das(c, false); break;
	case 0x2f: daa_das(c, true); break;
	case 0x37: aaa_aas(c, false); break;
	case 0x3f: aaa_aas(c, true); break;
	case 0x60: rc = pusha(c, i); break;
	case 0x61: rc = popa(c, i); break;
	case 0x62: rc = bound(c, i); break;
	case 0x63: rc = arpl(c, i); break;
	case 0xc4: rc = far_pointer(c, i, SEG_ES); break;
	case 0xc5: rc = far_pointer(c, i, SEG_DS); break;
	case 0x1b2: rc = far_pointer(c, i, SEG_SS); break;
	case 0x1b4: rc = far_pointer(c, i, SEG_FS); break;
	case 0x1b5: rc = far_pointer(c, i, SEG_GS); break;
	case 0xd4:
	case 0xd5: rc = aam_aad(c, i, i->op == 0xd5); break;
	case 0xd6: /* SALC (undocumented): AL = CF ? FF : 00, flags unchanged */
		set_al(c, soft_cf(c) ? 0xff : 0);
		break;
	default: return soft_x_unimplemented(c, i);
	}
	if (rc)
		return -1;
	c->state.rip = soft_x_next_rip(c, i);
	return SOFT_X_RETIRED;
}
