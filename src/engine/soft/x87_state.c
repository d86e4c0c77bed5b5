/* The x87 state in memory: FNSTENV/FLDENV and FNSAVE/FRSTOR in their four
 * layouts (16- or 32-bit operand size, protected or real-address mode),
 * and FXSAVE/FXRSTOR (with REX.W: FXSAVE64/FXRSTOR64).
 *
 * Layouts (SDM vol. 1, 8.1.10 and vol. 2, FXSAVE). The environment:
 *
 *   32-bit protected:  FCW | FSW | FTW | FIP | FOP<<16 | FCS | FDP | FDS,
 *                      each in a dword whose unused upper half is stored
 *                      as FFFF (the FCS dword carries FOP in bits 16..26)
 *   32-bit real mode:  FCW | FSW | FTW | IP[15:0] | IP[31:16]<<12 | FOP |
 *                      DP[15:0] | DP[31:16]<<12, IP and DP being linear
 *   16-bit protected:  FCW FSW FTW FIP FCS FDP FDS, one word each
 *   16-bit real mode:  FCW FSW FTW IP[15:0] IP[19:16]<<12|FOP DP[15:0]
 *                      DP[19:16]<<12
 *
 * FSAVE appends ST(0)..ST(7), ten bytes each. The tag word in memory has
 * two bits per physical register; the FPU keeps one (empty or not: the
 * FXSAVE "abridged" tag) and classifies the contents when it stores the
 * full word. Loading a status or control word recomputes ES and B.
 *
 * FXSAVE writes bytes 0..415 of its 512-byte area (XMM8..15 only in 64-bit
 * mode), leaves 416..511 alone, and stores MXCSR and the XMM registers
 * only when CR4.OSFXSR is set (FXRSTOR loads them under the same rule). */
#include "engine/soft/x87.h"

static inline void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}
static inline void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}
static inline uint16_t get16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}
static inline uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}
static inline uint64_t get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static bool real_format(const struct soft_cpu *c)
{
	return !(c->state.cr0 & CR0_PE) || (c->state.rflags & FL_VM);
}

/* Write the environment (14 or 28 bytes) into buf. */
static unsigned env_store(const struct soft_cpu *c, bool o16, uint8_t *buf)
{
	const struct cpu_fpu *f = &c->state.fpu;
	uint16_t tw = x87_full_tags(f);
	bool real = real_format(c);
	uint32_t ip = (uint32_t)f->fip, dp = (uint32_t)f->fdp;
	uint16_t fop = f->fop & 0x7ff;
	if (real) { /* linear addresses */
		ip += (uint32_t)f->fcs << 4;
		dp += (uint32_t)f->fds << 4;
	}
	if (o16) {
		put16(buf + 0, f->fcw);
		put16(buf + 2, f->fsw);
		put16(buf + 4, tw);
		put16(buf + 6, (uint16_t)ip);
		put16(buf + 10, (uint16_t)dp);
		if (real) {
			put16(buf + 8, (uint16_t)(((ip >> 16) & 0xf) << 12 | fop));
			put16(buf + 12, (uint16_t)(((dp >> 16) & 0xf) << 12));
		} else {
			put16(buf + 8, f->fcs);
			put16(buf + 12, f->fds);
		}
		return 14;
	}
	put32(buf + 0, 0xffff0000u | f->fcw);
	put32(buf + 4, 0xffff0000u | f->fsw);
	put32(buf + 8, 0xffff0000u | tw);
	if (real) {
		put32(buf + 12, 0xffff0000u | (ip & 0xffff));
		put32(buf + 16, (ip >> 16) << 12 | fop);
		put32(buf + 20, 0xffff0000u | (dp & 0xffff));
		put32(buf + 24, (dp >> 16) << 12);
	} else {
		put32(buf + 12, ip);
		put32(buf + 16, (uint32_t)fop << 16 | f->fcs);
		put32(buf + 20, dp);
		put32(buf + 24, 0xffff0000u | f->fds);
	}
	return 28;
}

/* Load the environment from buf into f (the registers stay). */
static void env_load(const struct soft_cpu *c, bool o16, const uint8_t *buf, struct cpu_fpu *f)
{
	bool real = real_format(c);
	uint16_t tw;
	f->fcw = x87_fcw_load(get16(buf));
	if (o16) {
		f->fsw = get16(buf + 2);
		tw = get16(buf + 4);
		if (real) {
			uint16_t w = get16(buf + 8);
			f->fip = get16(buf + 6) | (uint64_t)(w >> 12) << 16;
			f->fop = w & 0x7ff;
			f->fdp = get16(buf + 10) | (uint64_t)(get16(buf + 12) >> 12) << 16;
			f->fcs = f->fds = 0;
		} else {
			f->fip = get16(buf + 6);
			f->fcs = get16(buf + 8);
			f->fdp = get16(buf + 10);
			f->fds = get16(buf + 12);
		}
	} else {
		f->fsw = get16(buf + 4);
		tw = get16(buf + 8);
		if (real) {
			uint32_t w = get32(buf + 16);
			f->fip = get16(buf + 12) | (uint64_t)((w >> 12) & 0xffff) << 16;
			f->fop = w & 0x7ff;
			f->fdp = get16(buf + 20) | (uint64_t)((get32(buf + 24) >> 12) & 0xffff)
			                               << 16;
			f->fcs = f->fds = 0;
		} else {
			f->fip = get32(buf + 12);
			f->fcs = get16(buf + 16);
			f->fop = (get32(buf + 16) >> 16) & 0x7ff;
			f->fdp = get32(buf + 20);
			f->fds = get16(buf + 24);
		}
	}
	f->fsw = x87_fsw_summarize(f->fsw, f->fcw);
	uint8_t ftw = 0;
	for (unsigned k = 0; k < 8; k++)
		if (((tw >> (2 * k)) & 3) != 3)
			ftw |= (uint8_t)(1u << k);
	f->ftw = ftw;
}

int x87_env(struct soft_cpu *c, const struct soft_insn *i, bool store)
{
	bool o16 = i->osize == 2;
	unsigned size = o16 ? 14 : 28;
	uint8_t buf[28];
	struct memref m;
	if (x87_mem_prepare(c, i, soft_x_ea(c, i), size, store ? SOFT_ACC_WRITE : SOFT_ACC_READ,
	                    &m))
		return -1;
	struct cpu_fpu *f = &c->state.fpu;
	if (store) {
		env_store(c, o16, buf);
		x87_mem_write(c, &m, 0, buf, size);
		/* FNSTENV leaves every exception masked */
		f->fcw |= FSW_EXC;
		f->fsw = x87_fsw_summarize(f->fsw, f->fcw);
		return 0;
	}
	x87_mem_read(c, &m, 0, buf, size);
	env_load(c, o16, buf, f);
	return 0;
}

int x87_save(struct soft_cpu *c, const struct soft_insn *i, bool store)
{
	bool o16 = i->osize == 2;
	unsigned env = o16 ? 14 : 28, size = env + 80;
	uint8_t buf[108];
	struct memref m;
	if (x87_mem_prepare(c, i, soft_x_ea(c, i), size, store ? SOFT_ACC_WRITE : SOFT_ACC_READ,
	                    &m))
		return -1;
	struct cpu_fpu *f = &c->state.fpu;
	if (store) {
		env_store(c, o16, buf);
		unsigned top = x87_top(f);
		for (unsigned k = 0; k < 8; k++) {
			const struct cpu_x87_reg *r = &f->st[(top + k) & 7];
			memcpy(buf + env + 10 * k, &r->significand, 8);
			put16(buf + env + 10 * k + 8, r->sign_exp);
		}
		x87_mem_write(c, &m, 0, buf, size);
		x87_init(f); /* FNSAVE reinitializes the FPU */
		return 0;
	}
	x87_mem_read(c, &m, 0, buf, size);
	struct cpu_fpu n = *f;
	env_load(c, o16, buf, &n);
	unsigned top = x87_top(&n);
	for (unsigned k = 0; k < 8; k++) {
		struct cpu_x87_reg *r = &n.st[(top + k) & 7];
		r->significand = get64(buf + env + 10 * k);
		r->sign_exp = get16(buf + env + 10 * k + 8);
	}
	*f = n;
	return 0;
}

/* --- FXSAVE / FXRSTOR --- */

int x87_fxsave(struct soft_cpu *c, const struct soft_insn *i)
{
	bool restore = ((i->modrm >> 3) & 7) == 1;
	bool rexw = c->mode == SOFT_MODE_64 && (i->rex & 8);
	bool sse = c->state.cr4 & X87_CR4_OSFXSR;
	unsigned nxmm = c->mode == SOFT_MODE_64 ? 16 : 8;
	struct cpu_fpu *f = &c->state.fpu;

	if (c->state.cr0 & X87_CR0_EM)
		return soft_raise(c, SOFT_UD, false, 0);
	if (c->state.cr0 & X87_CR0_TS)
		return soft_raise(c, SOFT_NM, false, 0);
	uint64_t ea = soft_x_ea(c, i) & soft_size_mask(i->asize);
	uint64_t base = c->mode == SOFT_MODE_64 && i->seg != SEG_FS && i->seg != SEG_GS
	                    ? 0
	                    : c->state.seg[i->seg].base;
	if ((base + ea) & 15) /* the linear address, whatever the segment */
		return soft_raise(c, SOFT_GP, true, 0);
	struct memref m;
	if (x87_mem_prepare(c, i, ea, 512, restore ? SOFT_ACC_READ : SOFT_ACC_WRITE, &m))
		return -1;

	uint8_t img[416];
	if (!restore) {
		memset(img, 0, sizeof img);
		put16(img + 0, f->fcw);
		put16(img + 2, f->fsw);
		img[4] = f->ftw;
		put16(img + 6, f->fop & 0x7ff);
		if (rexw) {
			memcpy(img + 8, &f->fip, 8);
			memcpy(img + 16, &f->fdp, 8);
		} else {
			put32(img + 8, (uint32_t)f->fip);
			put16(img + 12, f->fcs);
			put32(img + 16, (uint32_t)f->fdp);
			put16(img + 20, f->fds);
		}
		unsigned top = x87_top(f);
		for (unsigned k = 0; k < 8; k++) {
			const struct cpu_x87_reg *r = &f->st[(top + k) & 7];
			memcpy(img + 32 + 16 * k, &r->significand, 8);
			put16(img + 40 + 16 * k, r->sign_exp);
		}
		x87_mem_write(c, &m, 0, img, 24);
		x87_mem_write(c, &m, 32, img + 32, 128);
		if (sse) {
			put32(img + 24, f->mxcsr);
			put32(img + 28, X87_MXCSR_MASK);
			memcpy(img + 160, f->xmm, 16 * nxmm);
			x87_mem_write(c, &m, 24, img + 24, 8);
			x87_mem_write(c, &m, 160, img + 160, 16 * nxmm);
		}
		c->state.rip = soft_x_next_rip(c, i);
		return SOFT_X_RETIRED;
	}

	x87_mem_read(c, &m, 0, img, sizeof img);
	uint32_t mxcsr = get32(img + 24);
	if (sse && (mxcsr & ~(uint32_t)X87_MXCSR_MASK))
		return soft_raise(c, SOFT_GP, true, 0);
	f->fcw = x87_fcw_load(get16(img + 0));
	f->fsw = x87_fsw_summarize(get16(img + 2), f->fcw);
	f->ftw = img[4];
	f->fop = get16(img + 6) & 0x7ff;
	if (rexw) {
		f->fip = get64(img + 8);
		f->fdp = get64(img + 16);
	} else {
		f->fip = get32(img + 8);
		f->fcs = get16(img + 12);
		f->fdp = get32(img + 16);
		f->fds = get16(img + 20);
	}
	unsigned top = x87_top(f);
	for (unsigned k = 0; k < 8; k++) {
		struct cpu_x87_reg *r = &f->st[(top + k) & 7];
		r->significand = get64(img + 32 + 16 * k);
		r->sign_exp = get16(img + 40 + 16 * k);
	}
	if (sse) {
		f->mxcsr = mxcsr;
		memcpy(f->xmm, img + 160, 16 * nxmm);
	}
	c->state.rip = soft_x_next_rip(c, i);
	return SOFT_X_RETIRED;
}
