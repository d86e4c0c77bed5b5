/* The two non-VEX integer extensions of the 0F 38 map: MOVBE (0F 38 F0/F1,
 * a load or store that swaps the bytes) and ADX (ADCX, 66 0F 38 F6: add with
 * carry through CF alone; ADOX, F3 0F 38 F6: the same through OF alone, so
 * that two carry chains can interleave). F2 0F 38 F0/F1 is CRC32, an SSE4.2
 * instruction: it goes to sse_str.c. */
#include "engine/soft/access.h"
#include "engine/soft/exec.h"

static uint64_t swap_bytes(uint64_t v, unsigned size)
{
	switch (size) {
	case 2: return __builtin_bswap16((uint16_t)v);
	case 4: return __builtin_bswap32((uint32_t)v);
	default: return __builtin_bswap64(v);
	}
}

/* MOVBE r, m (F0) and MOVBE m, r (F1): 16, 32 or 64 bits; a register
 * operand is #UD, and so is F3. */
static int movbe(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned size = i->osize;
	uint64_t v;
	if (!i->mem || (i->pfx & SOFT_PFX_REP))
		return soft_raise(c, SOFT_UD, false, 0);
	if (i->op == 0x2f0) {
		if (soft_x_rm_read(c, i, size, &v))
			return -1;
		soft_reg_set(c, i, i->reg, size, swap_bytes(v, size));
		return 0;
	}
	return soft_x_rm_write(c, i, size, swap_bytes(soft_reg_get(c, i, i->reg, size), size));
}

/* ADCX (66) / ADOX (F3) r32/64, r/m32/64: dest + src + flag, the carry out
 * into that flag; no other flag changes. The 66 of ADCX is part of the
 * opcode, not an operand size: 32 bits unless REX.W. */
static int adx(struct soft_cpu *c, const struct soft_insn *i)
{
	bool adox = i->pfx & SOFT_PFX_REP;
	if (i->pfx & SOFT_PFX_REPNE || (!adox && !(i->pfx & SOFT_PFX_OPSIZE)))
		return soft_raise(c, SOFT_UD, false, 0);
	unsigned size = (i->rex & 8) ? 8 : 4;
	uint64_t src;
	if (soft_x_rm_read(c, i, size, &src))
		return -1;
	uint64_t f = soft_flags_get(c), flag = adox ? FL_OF : FL_CF;
	uint64_t mask = soft_size_mask(size), a = soft_reg_get(c, i, i->reg, size);
	unsigned __int128 sum = (unsigned __int128)a + (src & mask) + ((f & flag) ? 1 : 0);
	bool out = (uint64_t)(sum >> (size * 8)) & 1;
	c->state.rflags = (f & ~flag) | (out ? flag : 0);
	soft_reg_set(c, i, i->reg, size, (uint64_t)sum);
	return 0;
}

int soft_exec_movbe_adx(struct soft_cpu *c, const struct soft_insn *i)
{
	int rc;
	if ((i->op == 0x2f0 || i->op == 0x2f1) && (i->pfx & SOFT_PFX_REPNE))
		return soft_exec_sse(c, i); /* CRC32 */
	switch (i->op) {
	case 0x2f0:
	case 0x2f1: rc = movbe(c, i); break;
	case 0x2f6: rc = adx(c, i); break;
	default: return soft_x_unimplemented(c, i);
	}
	if (rc)
		return -1;
	c->state.rip = soft_x_next_rip(c, i);
	return SOFT_X_RETIRED;
}
