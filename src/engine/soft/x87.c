/* The x87 FPU of the soft engine: decoding of D8..DF against the opcode
 * map, the device-not-available and pending-error checks, the control
 * instructions (FNINIT, FNCLEX, FLDCW, FNSTCW, FNSTSW, FWAIT), and the
 * hand-off of every data instruction to the host FPU (x87_native.c) with
 * its memory operand. The environment and save-area instructions and
 * FXSAVE/FXRSTOR are in x87_state.c.
 *
 * Faults are precise: the checks, then the translation of the memory
 * operand, come before any change of state. An x87 exception is not a
 * fault of the instruction that causes it: masked, it produces the default
 * result; unmasked, it sets ES (and B) and the next waiting x87
 * instruction (or WAIT) raises #MF before doing anything. #MF is raised
 * whether CR0.NE is set or not: the PC-style FERR#/IRQ 13 route of CR0.NE=0
 * is not modelled. */
#include "engine/soft/x87.h"

/* How an encoding executes. */
enum x87_kind {
	K_UD,     /* reserved: #UD */
	K_NATIVE, /* a data instruction: the host FPU */
	K_NOP,    /* FNENI, FNDISI, FNSETPM: no-ops since the 387 */
	K_FNINIT,
	K_FNCLEX,
	K_FLDCW,
	K_FNSTCW,
	K_FNSTSW, /* m16 */
	K_FNSTSW_AX,
	K_FLDENV,
	K_FNSTENV,
	K_FRSTOR,
	K_FNSAVE,
};

struct x87_form {
	uint8_t kind;
	uint8_t size;   /* memory operand bytes for K_NATIVE; 0 for register forms */
	bool store;     /* K_NATIVE: the memory operand is written */
	bool waiting;   /* checks for a pending exception first (#MF) */
	bool flags_in;  /* FCMOVcc reads CF/PF/ZF */
	bool flags_out; /* FCOMI/FUCOMI(P) write ZF/PF/CF */
};

/* Memory forms, by opcode D8..DF and ModRM.reg: the operand size of a
 * data instruction (with MW when it writes the operand), a control
 * instruction (MC | its kind), or 0 for a reserved encoding. */
#define MW 0x80
#define MC 0x40
static const uint8_t mem_forms[8][8] = {
    /* D8 m32fp arithmetic */
    {4, 4, 4, 4, 4, 4, 4, 4},
    /* D9 FLD FST FSTP m32fp, FLDENV FLDCW FNSTENV FNSTCW */
    {4, 0, 4 | MW, 4 | MW, MC | K_FLDENV, MC | K_FLDCW, MC | K_FNSTENV, MC | K_FNSTCW},
    /* DA m32int arithmetic */
    {4, 4, 4, 4, 4, 4, 4, 4},
    /* DB FILD FISTTP FIST FISTP m32int, FLD FSTP m80fp */
    {4, 4 | MW, 4 | MW, 4 | MW, 0, 10, 0, 10 | MW},
    /* DC m64fp arithmetic */
    {8, 8, 8, 8, 8, 8, 8, 8},
    /* DD FLD FISTTP FST FSTP m64, FRSTOR, FNSAVE, FNSTSW */
    {8, 8 | MW, 8 | MW, 8 | MW, MC | K_FRSTOR, 0, MC | K_FNSAVE, MC | K_FNSTSW},
    /* DE m16int arithmetic */
    {2, 2, 2, 2, 2, 2, 2, 2},
    /* DF FILD FISTTP FIST FISTP m16int, FBLD, FILD m64, FBSTP, FISTP m64 */
    {2, 2 | MW, 2 | MW, 2 | MW, 10, 8, 10 | MW, 8 | MW},
};

/* Register forms (ModRM C0..FF) by opcode. The undocumented aliases every
 * x87 since the 387 executes (FSTP1 D9 D8+i, FCOM2 DC D0+i, FCOMP3 DC D8+i,
 * FXCH4 DD C8+i, FCOMP5 DE D0+i, FFREEP DF C0+i, FXCH7 DF C8+i, FSTP8/9
 * DF D0+i/D8+i) run like the documented forms. */
static enum x87_kind reg_form(unsigned opc, unsigned m)
{
	switch (opc) {
	case 0xd8:
	case 0xdc: return K_NATIVE;
	case 0xd9:
		if (m < 0xd0 || (m >= 0xd8 && m <= 0xe1) || m == 0xe4 || m == 0xe5 ||
		    (m >= 0xe8 && m <= 0xee) || m >= 0xf0 || m == 0xd0)
			return K_NATIVE;
		return K_UD;
	case 0xda: return (m < 0xe0 || m == 0xe9) ? K_NATIVE : K_UD;
	case 0xdb:
		if (m < 0xe0 || (m >= 0xe8 && m < 0xf8))
			return K_NATIVE;
		switch (m) {
		case 0xe0: /* FNENI */
		case 0xe1: /* FNDISI */
		case 0xe4: /* FNSETPM */ return K_NOP;
		case 0xe2: return K_FNCLEX;
		case 0xe3: return K_FNINIT;
		default: return K_UD;
		}
	case 0xdd: return m < 0xf0 ? K_NATIVE : K_UD;
	case 0xde: return (m < 0xd8 || m == 0xd9 || m >= 0xe0) ? K_NATIVE : K_UD;
	default: /* 0xdf */
		if (m < 0xe0 || (m >= 0xe8 && m < 0xf8))
			return K_NATIVE;
		return m == 0xe0 ? K_FNSTSW_AX : K_UD;
	}
}

static struct x87_form classify(const struct soft_insn *i)
{
	unsigned opc = i->op & 0xff, m = i->modrm;
	struct x87_form f = {0};
	if (i->mem) {
		unsigned v = mem_forms[opc - 0xd8][(m >> 3) & 7];
		if (v == 0) {
			f.kind = K_UD;
		} else if (v & MC) {
			f.kind = (uint8_t)(v & ~MC);
		} else {
			f.kind = K_NATIVE;
			f.size = (uint8_t)(v & ~MW);
			f.store = v & MW;
		}
	} else {
		f.kind = (uint8_t)reg_form(opc, m);
		f.flags_in = (opc == 0xda || opc == 0xdb) && m < 0xe0;
		f.flags_out = (opc == 0xdb || opc == 0xdf) && m >= 0xe8 && m < 0xf8;
	}
	/* The FN- control instructions do not look for a pending exception;
	 * the loads of control state (FLDCW, FLDENV, FRSTOR) do. */
	switch (f.kind) {
	case K_NATIVE:
	case K_FLDCW:
	case K_FLDENV:
	case K_FRSTOR: f.waiting = true; break;
	default: f.waiting = false; break;
	}
	return f;
}

/* --- guest memory blocks --- */

int x87_mem_prepare(struct soft_cpu *c, const struct soft_insn *i, uint64_t ea, unsigned size,
                    unsigned access, struct memref *m)
{
	uint64_t la;
	ea &= soft_size_mask(i->asize);
	if (soft_linear(c, i->seg, ea, size, access, &la))
		return -1;
	return soft_mem_prepare(c, la, size, access, m);
}

/* n (<= 8) bytes at offset off of a prepared block, as a reference of its
 * own: RAM, MMIO, or two pieces across a page boundary. */
static struct memref block_part(const struct memref *m, unsigned off, unsigned n)
{
	struct memref r = {.size = n, .len0 = n};
	if (m->host) {
		r.host = m->host + off;
		r.gpa0 = m->gpa0 + off;
	} else if (off >= m->len0) {
		r.gpa0 = m->gpa1 + (off - m->len0);
	} else {
		r.gpa0 = m->gpa0 + off;
		r.len0 = m->len0 - off < n ? m->len0 - off : n;
		r.gpa1 = m->gpa1;
	}
	return r;
}

static unsigned chunk(unsigned n)
{
	return n >= 8 ? 8 : n >= 4 ? 4 : n >= 2 ? 2 : 1;
}

void x87_mem_read(struct soft_cpu *c, const struct memref *m, unsigned off, void *buf, unsigned n)
{
	uint8_t *out = buf;
	if (m->host) {
		memcpy(out, m->host + off, n);
		return;
	}
	while (n) {
		unsigned k = chunk(n);
		struct memref p = block_part(m, off, k);
		uint64_t v = soft_mem_read(c, &p);
		memcpy(out, &v, k);
		out += k;
		off += k;
		n -= k;
	}
}

void x87_mem_write(struct soft_cpu *c, const struct memref *m, unsigned off, const void *buf,
                   unsigned n)
{
	const uint8_t *in = buf;
	if (m->host) {
		memcpy(m->host + off, in, n);
		return;
	}
	while (n) {
		unsigned k = chunk(n);
		struct memref p = block_part(m, off, k);
		uint64_t v = 0;
		memcpy(&v, in, k);
		soft_mem_write(c, &p, v);
		in += k;
		off += k;
		n -= k;
	}
}

/* --- state helpers --- */

unsigned x87_tag_class(const struct cpu_x87_reg *r)
{
	unsigned exp = r->sign_exp & 0x7fff;
	if (exp == 0x7fff)
		return 2;
	if (exp == 0)
		return r->significand == 0 ? 1 : 2;
	return (r->significand >> 63) ? 0 : 2; /* an unnormal is unsupported */
}

uint16_t x87_full_tags(const struct cpu_fpu *f)
{
	uint16_t tw = 0;
	for (unsigned k = 0; k < 8; k++) {
		unsigned t = (f->ftw >> k) & 1 ? x87_tag_class(&f->st[k]) : 3;
		tw |= (uint16_t)(t << (2 * k));
	}
	return tw;
}

void x87_init(struct cpu_fpu *f)
{
	f->fcw = FCW_INIT;
	f->fsw = 0;
	f->ftw = 0;
	f->fop = 0;
	f->fip = f->fdp = 0;
	f->fcs = f->fds = 0;
}

/* The last-instruction pointers, after a data instruction: its address,
 * opcode, and the address of its memory operand. */
static void note_instruction(struct soft_cpu *c, const struct soft_insn *i, uint64_t ea)
{
	struct cpu_fpu *f = &c->state.fpu;
	f->fop = (uint16_t)(((i->op & 7) << 8) | i->modrm);
	f->fip = c->state.rip;
	f->fcs = c->state.seg[SEG_CS].selector;
	if (i->mem) {
		f->fdp = ea;
		f->fds = c->state.seg[i->seg].selector;
	}
}

static int done(struct soft_cpu *c, const struct soft_insn *i)
{
	c->state.rip = soft_x_next_rip(c, i);
	return SOFT_X_RETIRED;
}

/* A data instruction on the host FPU. */
static int exec_native(struct soft_cpu *c, const struct soft_insn *i, const struct x87_form *f)
{
	struct cpu_fpu *fpu = &c->state.fpu;
	unsigned opc = i->op & 0xff;
	unsigned modrm = i->modrm;
	struct memref m;
	uint64_t ea = 0;
	_Alignas(16) struct x87_native n;

	if (i->mem) {
		ea = soft_x_ea(c, i);
		if (x87_mem_prepare(c, i, ea, f->size, f->store ? SOFT_ACC_WRITE : SOFT_ACC_READ,
		                    &m))
			return -1;
	}
	x87_native_load(&n, fpu);
	memset(n.operand, 0, sizeof n.operand);
	if (i->mem && !f->store)
		x87_mem_read(c, &m, 0, n.operand, f->size);
	uint64_t flags = f->flags_in || f->flags_out ? soft_flags_get(c) : 0;
	uint64_t out = x87_native_exec(&n, opc, modrm, flags);

	if (i->mem && f->store) {
		bool stored = true;
		/* An unmasked exception may have suppressed the store. Run it
		 * again over a different fill: the bytes differ only if the
		 * instruction did not write them. */
		if (n.image[2] & FSW_ES) {
			_Alignas(16) struct x87_native again;
			x87_native_load(&again, fpu);
			memset(again.operand, 0xff, sizeof again.operand);
			x87_native_exec(&again, opc, modrm, flags);
			stored = memcmp(n.operand, again.operand, f->size) == 0;
		}
		if (stored)
			x87_mem_write(c, &m, 0, n.operand, f->size);
	}
	x87_native_store(&n, fpu);
	if (f->flags_out)
		c->state.rflags = (c->state.rflags & ~FL_ARITH) | (out & FL_ARITH);
	note_instruction(c, i, ea);
	return done(c, i);
}

/* FWAIT: #NM only when CR0.MP and CR0.TS are both set. */
static int fwait(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t cr0 = c->state.cr0;
	if ((cr0 & X87_CR0_MP) && (cr0 & X87_CR0_TS))
		return soft_raise(c, SOFT_NM, false, 0);
	if (x87_pending(&c->state.fpu))
		return soft_raise(c, SOFT_MF, false, 0);
	return done(c, i);
}

int soft_exec_x87(struct soft_cpu *c, const struct soft_insn *i)
{
	if (i->op == 0x9b)
		return fwait(c, i);
	if (i->op == 0x1ae)
		return x87_fxsave(c, i);

	struct x87_form f = classify(i);
	if (f.kind == K_UD)
		return soft_x_unimplemented(c, i);
	if (c->state.cr0 & (X87_CR0_EM | X87_CR0_TS))
		return soft_raise(c, SOFT_NM, false, 0);
	struct cpu_fpu *fpu = &c->state.fpu;
	if (f.waiting && x87_pending(fpu))
		return soft_raise(c, SOFT_MF, false, 0);

	switch (f.kind) {
	case K_NATIVE: return exec_native(c, i, &f);
	case K_NOP: return done(c, i);
	case K_FNINIT: x87_init(fpu); return done(c, i);
	case K_FNCLEX:
		fpu->fsw &= (uint16_t) ~(FSW_EXC | FSW_SF | FSW_ES | FSW_B);
		return done(c, i);
	case K_FLDCW: {
		uint64_t v;
		if (soft_x_mem_read_at(c, i, soft_x_ea(c, i), 2, &v))
			return -1;
		fpu->fcw = x87_fcw_load((uint32_t)v);
		fpu->fsw = x87_fsw_summarize(fpu->fsw, fpu->fcw);
		return done(c, i);
	}
	case K_FNSTCW:
		if (soft_x_mem_write_at(c, i, soft_x_ea(c, i), 2, fpu->fcw))
			return -1;
		return done(c, i);
	case K_FNSTSW:
		if (soft_x_mem_write_at(c, i, soft_x_ea(c, i), 2, fpu->fsw))
			return -1;
		return done(c, i);
	case K_FNSTSW_AX:
		c->state.gpr[GPR_RAX] = (c->state.gpr[GPR_RAX] & ~0xffffULL) | fpu->fsw;
		return done(c, i);
	case K_FLDENV:
	case K_FNSTENV:
		if (x87_env(c, i, f.kind == K_FNSTENV))
			return -1;
		return done(c, i);
	case K_FRSTOR:
	case K_FNSAVE:
		if (x87_save(c, i, f.kind == K_FNSAVE))
			return -1;
		return done(c, i);
	default: return soft_x_unimplemented(c, i);
	}
}
