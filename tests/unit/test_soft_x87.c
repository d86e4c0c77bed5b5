/* The soft engine's x87 against the host FPU.
 *
 * Differential part: the same instruction bytes run on the interpreter (a
 * flat 32-bit CPL0 guest, memory operands at [esi]) and natively in this
 * process (an executable buffer that FXRSTORs a state image, runs them with
 * the operand at [rsi], and FXSAVEs the result); the FPU state (FCW, FSW
 * with C0..C3 and TOP, tags, registers), the memory operand, the
 * arithmetic flags and the #MF outcome (SIGFPE natively, with the state
 * from the signal frame) must be equal. Every valid encoding of D8..DF is
 * run over random and edge operands (zeros, denormals, pseudo-denormals,
 * unnormals, infinities, pseudo-infinities, QNaN, SNaN, indefinite,
 * extremes, integers at the 16/32/64-bit boundaries, BCD with bad digits)
 * under all four rounding modes and three precisions, masked and unmasked;
 * then random short sequences. The instruction and data pointers (FIP,
 * FDP, FOP) are the host's own natively and are left out.
 *
 * Then what the host cannot show from user mode: #NM for CR0.EM/TS/MP,
 * #MF and which instructions wait, FXSAVE/FXRSTOR layouts (also 64-bit
 * and FXSAVE64), 16-byte alignment #GP, MXCSR #GP, CR4.OSFXSR, precise
 * page faults, the real-mode environment layouts and the pointers. */
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>

#include "engine/soft/soft.h"
#include "test.h"

/* --- randomness --- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}
static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

/* --- the guest --- */

#define CODE 0x1000
#define DATA 0x3000
#define AREA 0x4000

static struct guest_mem mem;
static struct soft_cpu *cpu;

static void guest_32(void)
{
	struct cpu_state *s = &cpu->state;
	s->cr0 = 0x31;    /* PE ET NE */
	s->cr4 = 1u << 9; /* OSFXSR */
	s->efer = 0;
	s->seg[SEG_CS] = cpu_segment_flat(8, true, false);
	s->seg[SEG_SS] = cpu_segment_flat(16, false, false);
	s->seg[SEG_DS] = s->seg[SEG_ES] = s->seg[SEG_SS];
	s->seg[SEG_FS] = s->seg[SEG_GS] = s->seg[SEG_SS];
	s->rip = CODE;
	s->gpr[GPR_RSP] = 0x8000;
	s->gpr[GPR_RSI] = DATA;
	s->gpr[GPR_RBX] = AREA;
	cpu->report_exceptions = true;
}

/* Identity-mapped 64-bit paging over the first 1 GiB (2M pages) except
 * the first 2M, which is mapped with 4K pages so single pages can be made
 * read-only or not present. */
static void guest_64(void)
{
	uint64_t pml4 = 0x100000, pdpt = 0x101000, pd = 0x102000, pt = 0x103000, v;
	v = pdpt | 3;
	mem_write(&mem, pml4, &v, 8);
	v = pd | 3;
	mem_write(&mem, pdpt, &v, 8);
	v = pt | 3;
	mem_write(&mem, pd, &v, 8);
	for (uint64_t k = 1; k < 512; k++) {
		v = (k << 21) | 0x83;
		mem_write(&mem, pd + k * 8, &v, 8);
	}
	for (uint64_t k = 0; k < 512; k++) {
		v = (k << 12) | 3;
		mem_write(&mem, pt + k * 8, &v, 8);
	}
	struct cpu_state *s = &cpu->state;
	s->cr3 = pml4;
	s->cr0 = 0x80010031;            /* PG WP NE ET PE */
	s->cr4 = (1u << 5) | (1u << 9); /* PAE OSFXSR */
	s->efer = 0xd00;
	s->seg[SEG_CS] = cpu_segment_flat(8, true, true);
	s->seg[SEG_SS] = cpu_segment_flat(16, false, true);
	s->seg[SEG_DS] = s->seg[SEG_ES] = s->seg[SEG_SS];
	s->rip = CODE;
	s->gpr[GPR_RSP] = 0x8000;
	s->gpr[GPR_RSI] = DATA;
	s->gpr[GPR_RBX] = AREA;
	cpu->report_exceptions = true;
	soft_cpu_flush_tlb(cpu);
}

static void set_pte(uint64_t page, uint64_t flags)
{
	uint64_t v = page | flags;
	mem_write(&mem, 0x103000 + (page >> 12) * 8, &v, 8);
	soft_cpu_flush_tlb(cpu);
}

/* The x87 part of an FXSAVE image <-> the soft CPU's state (the test's
 * own conversion, independent of the engine's). */
static void fpu_from_image(struct cpu_fpu *f, const uint8_t *img)
{
	f->fcw = get16(img);
	f->fsw = get16(img + 2);
	f->ftw = img[4];
	unsigned top = (f->fsw >> 11) & 7;
	for (unsigned k = 0; k < 8; k++) {
		memcpy(&f->st[(top + k) & 7].significand, img + 32 + 16 * k, 8);
		f->st[(top + k) & 7].sign_exp = get16(img + 40 + 16 * k);
	}
	f->mxcsr = 0x1f80;
}

static void image_from_fpu(uint8_t *img, const struct cpu_fpu *f)
{
	memset(img, 0, 160);
	put16(img, f->fcw);
	put16(img + 2, f->fsw);
	img[4] = f->ftw;
	unsigned top = (f->fsw >> 11) & 7;
	for (unsigned k = 0; k < 8; k++) {
		memcpy(img + 32 + 16 * k, &f->st[(top + k) & 7].significand, 8);
		put16(img + 40 + 16 * k, f->st[(top + k) & 7].sign_exp);
	}
}

/* --- the host --- */

typedef uint64_t (*native_fn)(void *img, void *op, uint64_t flags);
static uint8_t *native_code;
static sigjmp_buf native_jmp;
static _Alignas(16) uint8_t trap_image[512];

static void on_sigfpe(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	(void)si;
	ucontext_t *uc = ucv;
	if (uc->uc_mcontext.fpregs)
		memcpy(trap_image, uc->uc_mcontext.fpregs, 512);
	siglongjmp(native_jmp, 1);
}

/* Run code natively: img (FXSAVE, 16-aligned) in and out, op at [rsi],
 * flags in and out. 1 if it trapped (#MF): img then holds the state at the
 * trap. */
static int native_run(const uint8_t *code, unsigned len, uint8_t *img, uint8_t *op, uint64_t *flags)
{
	static const uint8_t pro[] = {
	    0x53,             /* push rbx */
	    0x48, 0x89, 0xfb, /* mov rbx, rdi */
	    0x0f, 0xae, 0x0f, /* fxrstor [rdi] */
	    0x52, 0x9d,       /* push rdx; popfq */
	};
	static const uint8_t epi[] = {
	    0x9c, 0x58,       /* pushfq; pop rax */
	    0x0f, 0xae, 0x03, /* fxsave [rbx] */
	    0xdb, 0xe3,       /* fninit */
	    0x5b, 0xc3,       /* pop rbx; ret */
	};
	uint8_t *p = native_code;
	memcpy(p, pro, sizeof pro);
	p += sizeof pro;
	memcpy(p, code, len);
	p += len;
	memcpy(p, epi, sizeof epi);
	native_fn fn = (native_fn)(uintptr_t)native_code;
	static const uint32_t mxcsr = 0x1f80;
	if (sigsetjmp(native_jmp, 1)) {
		__asm__ volatile("fninit; ldmxcsr %0" ::"m"(mxcsr));
		memcpy(img, trap_image, 512);
		return 1;
	}
	*flags = fn(img, op, 0x202 | (*flags & 0x8d5)) & 0x8d5;
	__asm__ volatile("ldmxcsr %0" ::"m"(mxcsr));
	return 0;
}

/* Run code on the interpreter from the state in img with the operand
 * buffer op (len bytes at DATA): 0, or the exception vector + 1. */
static int soft_run(const uint8_t *code, unsigned len, const uint8_t *img, uint8_t *op,
                    unsigned oplen, uint64_t *flags)
{
	guest_32();
	struct cpu_state *s = &cpu->state;
	fpu_from_image(&s->fpu, img);
	s->rflags = 0x2 | (*flags & 0x8d5);
	mem_write(&mem, CODE, code, len);
	uint8_t hlt = 0xf4;
	mem_write(&mem, CODE + len, &hlt, 1);
	mem_write(&mem, DATA, op, oplen);
	enum soft_exit e = soft_cpu_run(cpu, 64);
	mem_read(&mem, DATA, op, oplen);
	*flags = s->rflags & 0x8d5;
	if (e == SOFT_EXIT_EXCEPTION)
		return cpu->exc.vector + 1;
	return e == SOFT_EXIT_HLT ? 0 : 0x100;
}

/* --- operands --- */

static void f80_of(long double v, uint64_t *sig, uint16_t *se)
{
	memcpy(sig, &v, 8);
	memcpy(se, (uint8_t *)&v + 8, 2);
}

static const long double boundaries[] = {
    32767.0L,
    32768.0L,
    -32768.0L,
    -32769.0L,
    2147483647.0L,
    2147483648.0L,
    -2147483648.0L,
    -2147483649.0L,
    9223372036854775807.0L,
    9223372036854775808.0L,
    -9223372036854775808.0L,
    -9223372036854775809.0L,
    999999999999999999.0L,
    1e18L,
    -1e18L,
    1e19L,
    0.5L,
    1.5L,
    2.5L,
    -0.5L,
    1.0L,
    -1.0L,
    2.0L,
    3.0L,
    0.1L,
    1e-10L,
    65535.0L,
    4294967295.0L,
    18446744073709551615.0L,
    1.0L / 3.0L,
    3.14159265358979323846264338327950288L,
    1.5707963267948966192313216916397514L,
    0.78539816339744830961566084581987572L,
    6.2831853071795864769252867665590058L,
    1e300L,
    1e-300L,
    3.4e38L,
    1.2e-38L,
    1e4932L,
    1e-4940L,
    100.0L,
    0.999999L,
};

/* An 80-bit register value from the classes that matter. */
static void gen_f80(uint64_t *sig, uint16_t *se)
{
	uint16_t sign = (rnd() & 1) ? 0x8000 : 0;
	uint64_t r = rnd();
	switch (rnd() % 24) {
	case 0: *sig = 0, *se = 0; break; /* zero */
	case 1:
		*sig = (r >> (rnd() % 63)) & ~(1ULL << 63), *se = 0; /* denormal */
		if (!*sig)
			*sig = 1;
		break;
	case 2: *sig = (1ULL << 63) | (r >> (1 + rnd() % 63)), *se = 0; break; /* pseudo-denormal */
	case 3:
		*sig = r & ~(1ULL << 63), *se = (uint16_t)(1 + rnd() % 0x7ffe);
		break;                                                   /* unnormal */
	case 4: *sig = 1ULL << 63, *se = 0x7fff; break;                  /* infinity */
	case 5: *sig = (3ULL << 62) | (r >> 2), *se = 0x7fff; break;     /* QNaN */
	case 6: *sig = (1ULL << 63) | (r >> 3) | 1, *se = 0x7fff; break; /* SNaN */
	case 7: *sig = 3ULL << 62, *se = 0xffff; return;                 /* indefinite */
	case 8: *sig = r & ~(1ULL << 63), *se = 0x7fff; break;           /* pseudo-infinity/NaN */
	case 9: *sig = ~0ULL, *se = 0x7ffe; break;                       /* largest */
	case 10: *sig = 1ULL << 63, *se = 1; break;                      /* smallest normal */
	case 11:
	case 12: {
		long double v = boundaries[rnd() % (sizeof boundaries / sizeof boundaries[0])];
		if (rnd() & 1)
			v += (long double)((int)(rnd() % 5) - 2) * 0.25L;
		f80_of(v, sig, se);
		*se ^= sign;
		break;
	}
	case 13: { /* near the float and double limits */
		static const int16_t near[] = {126,  127,  128,  149,  150,  151,   1022,
		                               1023, 1024, 1074, 1075, 1076, 16382, 16383};
		int e = near[rnd() % 14] + (int)(rnd() % 5) - 2;
		*sig = (1ULL << 63) | (r >> (rnd() % 64 ? 1 : 40));
		*se = (uint16_t)(0x3fff + ((rnd() & 1) ? e : -e));
		break;
	}
	case 14:
	case 15: /* small integers and halves */
		f80_of((long double)((int64_t)(rnd() % 2001) - 1000) / ((rnd() & 1) ? 1 : 2), sig,
		       se);
		break;
	case 16:
	case 17:
	case 18: *sig = (1ULL << 63) | r, *se = (uint16_t)(0x3fff + (int)(rnd() % 160) - 80); break;
	default: *sig = (1ULL << 63) | r, *se = (uint16_t)(1 + rnd() % 0x7ffe); break;
	}
	*se |= sign;
}

static uint32_t gen_f32(void)
{
	static const uint32_t special[] = {
	    0,          0x80000000, 1,          0x807fffff, 0x00800000, 0x7f7fffff,
	    0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7fa00000, 0x7f800001,
	    0x3f800000, 0x4f000000, 0x46fffe00, 0x5f000000, 0xcf000000, 0x3f000000};
	uint32_t r = (uint32_t)rnd();
	switch (rnd() % 6) {
	case 0:
	case 1: return special[rnd() % (sizeof special / sizeof special[0])];
	case 2: return (r & 0x807fffff); /* denormal */
	case 3: return (r & 0x807fffff) | ((uint32_t)(127 + (int)(rnd() % 80) - 40) << 23);
	default: return r;
	}
}

static uint64_t gen_f64(void)
{
	static const uint64_t special[] = {0,
	                                   0x8000000000000000ULL,
	                                   1,
	                                   0x000fffffffffffffULL,
	                                   0x0010000000000000ULL,
	                                   0x7fefffffffffffffULL,
	                                   0x7ff0000000000000ULL,
	                                   0xfff0000000000000ULL,
	                                   0x7ff8000000000000ULL,
	                                   0x7ff4000000000000ULL,
	                                   0x3ff0000000000000ULL,
	                                   0x43e0000000000000ULL,
	                                   0xc3e0000000000000ULL,
	                                   0x41dfffffffc00000ULL};
	uint64_t r = rnd();
	switch (rnd() % 6) {
	case 0:
	case 1: return special[rnd() % (sizeof special / sizeof special[0])];
	case 2: return r & 0x800fffffffffffffULL;
	case 3:
		return (r & 0x800fffffffffffffULL) |
		       ((uint64_t)(1023 + (int)(rnd() % 140) - 70) << 52);
	default: return r;
	}
}

static uint64_t gen_int(unsigned bytes)
{
	unsigned bits = bytes * 8;
	uint64_t max = (1ULL << (bits - 1)) - 1;
	switch (rnd() % 6) {
	case 0: return max;
	case 1: return max + 1; /* the most negative */
	case 2: return (uint64_t)(int64_t)((int)(rnd() % 7) - 3);
	case 3: return rnd() >> (rnd() % 64);
	default: return rnd();
	}
}

/* Operand types of the memory forms. */
enum {
	T_NONE,
	T_F32,
	T_F64,
	T_F80,
	T_I16,
	T_I32,
	T_I64,
	T_BCD,
	T_CW,
	T_OUT,     /* a store of up to 10 bytes */
	T_ENV,     /* FLDENV */
	T_ENVOUT,  /* FNSTENV */
	T_SAVE,    /* FRSTOR */
	T_SAVEOUT, /* FNSAVE */
};

static void gen_operand(unsigned type, uint8_t *op, unsigned len)
{
	for (unsigned k = 0; k < len; k++)
		op[k] = (uint8_t)rnd();
	uint64_t v;
	uint16_t se;
	switch (type) {
	case T_F32:
		v = gen_f32();
		memcpy(op, &v, 4);
		break;
	case T_F64:
		v = gen_f64();
		memcpy(op, &v, 8);
		break;
	case T_F80:
		gen_f80(&v, &se);
		memcpy(op, &v, 8);
		memcpy(op + 8, &se, 2);
		break;
	case T_I16:
		v = gen_int(2);
		memcpy(op, &v, 2);
		break;
	case T_I32:
		v = gen_int(4);
		memcpy(op, &v, 4);
		break;
	case T_I64:
		v = gen_int(8);
		memcpy(op, &v, 8);
		break;
	case T_BCD:
		if (rnd() % 4) /* valid digits */
			for (unsigned k = 0; k < 9; k++)
				op[k] = (uint8_t)((rnd() % 10) << 4 | rnd() % 10);
		op[9] = (rnd() % 4) ? (uint8_t)(rnd() & 0x80) : (uint8_t)rnd();
		break;
	case T_CW:
		v = (rnd() & 1) ? rnd() : (rnd() & 0x1f3f) | 0x40;
		memcpy(op, &v, 2);
		break;
	default: break;
	}
}

/* The state: precision pc (0, 2, 3), rounding rc, masks random or all;
 * exception flags only where masked unless pending is wanted. */
static void gen_state(uint8_t *img, unsigned rc, unsigned pc, bool pending)
{
	memset(img, 0, 512);
	put16(img + 24, 0x1f80);
	unsigned masks = (rnd() % 4) ? 0x3f : (unsigned)(rnd() & 0x3f);
	uint16_t fcw = (uint16_t)(masks | 0x40 | pc << 8 | rc << 10 | (rnd() & 1) << 12);
	unsigned top = rnd() & 7;
	uint16_t exc = (uint16_t)(rnd() & masks & ((rnd() & 1) ? 0x3f : 0));
	if (exc & 1)
		exc |= (uint16_t)(rnd() & 0x40); /* SF */
	if (pending && masks != 0x3f) {
		unsigned b;
		do
			b = rnd() % 6;
		while (masks & (1u << b));
		exc |= (uint16_t)(1u << b);
	}
	uint16_t fsw = (uint16_t)(exc | (rnd() & 0x4700) | top << 11);
	if (fsw & ~fcw & 0x3f)
		fsw |= 0x8080;
	uint8_t ftw;
	switch (rnd() % 4) {
	case 0: ftw = 0xff; break;
	case 1: ftw = 0; break;
	case 2: ftw = (uint8_t)rnd(); break;
	default: { /* a stack of some depth */
		unsigned d = rnd() % 9;
		ftw = 0;
		for (unsigned k = 0; k < d; k++)
			ftw |= (uint8_t)(1u << ((top + k) & 7));
	}
	}
	put16(img, fcw);
	put16(img + 2, fsw);
	img[4] = ftw;
	for (unsigned k = 0; k < 8; k++) {
		uint64_t sig;
		uint16_t se;
		gen_f80(&sig, &se);
		memcpy(img + 32 + 16 * k, &sig, 8);
		put16(img + 40 + 16 * k, se);
	}
}

/* --- the encodings --- */

struct enc {
	uint8_t bytes[3];
	uint8_t len;
	uint8_t type; /* memory operand type (T_*) */
	uint8_t oplen;
	bool flags; /* reads or writes EFLAGS */
};

static struct enc encs[1024];
static unsigned nencs;

static bool reg_valid(unsigned opc, unsigned m)
{
	switch (opc) {
	case 0xd8:
	case 0xdc: return true;
	case 0xd9:
		return m <= 0xd0 || (m >= 0xd8 && m <= 0xe1) || m == 0xe4 || m == 0xe5 ||
		       (m >= 0xe8 && m <= 0xee) || m >= 0xf0;
	case 0xda: return m < 0xe0 || m == 0xe9;
	case 0xdb: return m < 0xe5 || (m >= 0xe8 && m < 0xf8);
	case 0xdd: return m < 0xf0;
	case 0xde: return m < 0xd8 || m == 0xd9 || m >= 0xe0;
	default: return m <= 0xe0 || (m >= 0xe8 && m < 0xf8);
	}
}

static const uint8_t mem_types[8][8] = {
    {T_F32, T_F32, T_F32, T_F32, T_F32, T_F32, T_F32, T_F32},
    {T_F32, T_NONE, T_OUT, T_OUT, T_ENV, T_CW, T_ENVOUT, T_OUT},
    {T_I32, T_I32, T_I32, T_I32, T_I32, T_I32, T_I32, T_I32},
    {T_I32, T_OUT, T_OUT, T_OUT, T_NONE, T_F80, T_NONE, T_OUT},
    {T_F64, T_F64, T_F64, T_F64, T_F64, T_F64, T_F64, T_F64},
    {T_F64, T_OUT, T_OUT, T_OUT, T_SAVE, T_NONE, T_SAVEOUT, T_OUT},
    {T_I16, T_I16, T_I16, T_I16, T_I16, T_I16, T_I16, T_I16},
    {T_I16, T_OUT, T_OUT, T_OUT, T_BCD, T_I64, T_OUT, T_OUT},
};

static void build_encodings(void)
{
	for (unsigned opc = 0xd8; opc <= 0xdf; opc++) {
		for (unsigned m = 0xc0; m <= 0xff; m++) {
			if (!reg_valid(opc, m))
				continue;
			struct enc *e = &encs[nencs++];
			*e = (struct enc){{(uint8_t)opc, (uint8_t)m}, 2, T_NONE, 0, false};
			e->flags = ((opc == 0xda || opc == 0xdb) && m < 0xe0) ||
			           ((opc == 0xdb || opc == 0xdf) && m >= 0xe8 && m < 0xf8);
		}
		for (unsigned r = 0; r < 8; r++) {
			unsigned t = mem_types[opc - 0xd8][r];
			if (t == T_NONE)
				continue;
			struct enc *e = &encs[nencs++];
			*e = (struct enc){
			    {(uint8_t)opc, (uint8_t)(r << 3 | 6)}, 2, (uint8_t)t, 10, false};
			bool env = t == T_ENV || t == T_ENVOUT,
			     save = t == T_SAVE || t == T_SAVEOUT;
			e->oplen = env ? 28 : save ? 108 : 10;
			if (env || save) { /* and the 16-bit layouts */
				struct enc *e16 = &encs[nencs++];
				*e16 = (struct enc){{0x66, (uint8_t)opc, (uint8_t)(r << 3 | 6)},
				                    3,
				                    (uint8_t)t,
				                    (uint8_t)(env ? 14 : 94),
				                    false};
			}
		}
	}
}

/* The pointer fields of a stored environment hold host addresses natively:
 * blank them (and the FOP, which hosts store differently) before comparing. */
static void blank_pointers(const struct enc *e, uint8_t *op)
{
	if (e->type != T_ENVOUT && e->type != T_SAVEOUT)
		return;
	if (e->bytes[0] == 0x66)
		memset(op + 6, 0, 8);
	else
		memset(op + 12, 0, 16);
}

/* --- the differential runs --- */

static unsigned mismatches, cases, traps, changed, unmasked, stores;

static void dump_state(const char *what, const uint8_t *img)
{
	printf("    %s: fcw %04x fsw %04x ftw %02x |", what, get16(img), get16(img + 2), img[4]);
	for (unsigned k = 0; k < 8; k++)
		printf(" %04x:%016llx", get16(img + 40 + 16 * k),
		       (unsigned long long)*(const uint64_t *)(img + 32 + 16 * k));
	printf("\n");
}

static bool same_state(const uint8_t *a, const uint8_t *b)
{
	if (memcmp(a, b, 5) != 0)
		return false;
	for (unsigned k = 0; k < 8; k++)
		if (memcmp(a + 32 + 16 * k, b + 32 + 16 * k, 10) != 0)
			return false;
	return true;
}

/* Run a sequence of encodings from one random state on both sides. */
static void diff_case(const struct enc *const *seq, unsigned n, unsigned rc, unsigned pc,
                      bool pending)
{
	uint8_t code[64];
	unsigned len = 0, oplen = 0;
	bool has_flags = false;
	for (unsigned k = 0; k < n; k++) {
		memcpy(code + len, seq[k]->bytes, seq[k]->len);
		len += seq[k]->len;
		if (seq[k]->oplen > oplen)
			oplen = seq[k]->oplen;
		has_flags |= seq[k]->flags;
	}
	_Alignas(16) uint8_t img[512], nimg[512], simg[512];
	uint8_t op[128], nop[128], sop[128];
	gen_state(img, rc, pc, pending);
	memset(op, 0, sizeof op);
	gen_operand(seq[0]->type, op, oplen ? oplen : 10);
	if (seq[0]->type == T_ENV || seq[0]->type == T_SAVE) {
		/* a plausible environment: a random one would mostly be empty */
		bool o16 = seq[0]->bytes[0] == 0x66;
		unsigned sw = o16 ? 2 : 4, tw = o16 ? 4 : 8;
		put16(op, (uint16_t)((rnd() & 1) ? rnd() : (rnd() & 0x1f3f) | 0x40));
		put16(op + sw, (uint16_t)rnd());
		if (rnd() & 1)
			put16(op + tw, (uint16_t)(rnd() & rnd()));
		if (seq[0]->type == T_SAVE)
			for (unsigned k = 0; k < 8; k++) {
				uint64_t sig;
				uint16_t se;
				gen_f80(&sig, &se);
				memcpy(op + (o16 ? 14 : 28) + 10 * k, &sig, 8);
				put16(op + (o16 ? 14 : 28) + 10 * k + 8, se);
			}
	}
	uint64_t flags = rnd() & 0x8d5, nflags = flags, sflags = flags;
	memcpy(nimg, img, 512);
	memcpy(nop, op, sizeof op);
	memcpy(sop, op, sizeof op);

	int ntrap = native_run(code, len, nimg, nop, &nflags);
	int sres = soft_run(code, len, img, sop, oplen, &sflags);
	image_from_fpu(simg, &cpu->state.fpu);
	cases++;
	traps += ntrap;
	changed += !same_state(img, nimg);
	unmasked += !ntrap && (get16(nimg + 2) & 0x80);
	stores += !ntrap && oplen && memcmp(op, nop, oplen) != 0;

	bool ok = ntrap ? sres == 1 + SOFT_MF : sres == 0;
	ok = ok && same_state(nimg, simg);
	if (!ntrap) {
		for (unsigned k = 0; k < n; k++)
			blank_pointers(seq[k], nop), blank_pointers(seq[k], sop);
		ok = ok && memcmp(nop, sop, oplen) == 0;
		if (has_flags)
			ok = ok && nflags == sflags;
	}
	/* FNSTSW AX */
	if (ok && !ntrap && n == 1 && seq[0]->bytes[0] == 0xdf && seq[0]->bytes[1] == 0xe0)
		ok = (cpu->state.gpr[GPR_RAX] & 0xffff) == get16(simg + 2);
	if (!ok) {
		if (++mismatches <= 12) {
			printf("  mismatch:");
			for (unsigned k = 0; k < len; k++)
				printf(" %02x", code[k]);
			printf(" (native %s, soft %d, flags %llx/%llx)\n", ntrap ? "#MF" : "ok",
			       sres, (unsigned long long)nflags, (unsigned long long)sflags);
			dump_state("in    ", img);
			dump_state("native", nimg);
			dump_state("soft  ", simg);
			if (oplen) {
				printf("    op in/native/soft:");
				for (unsigned k = 0; k < oplen && k < 28; k++)
					printf(" %02x/%02x/%02x", op[k], nop[k], sop[k]);
				printf("\n");
			}
		}
	}
}

static const unsigned precisions[3] = {0, 2, 3};

static void test_every_encoding(void)
{
	mismatches = cases = traps = changed = unmasked = stores = 0;
	for (unsigned k = 0; k < nencs; k++) {
		const struct enc *e = &encs[k];
		unsigned reps = e->type == T_NONE ? 120 : 1200;
		for (unsigned r = 0; r < reps; r++) {
			const struct enc *seq[1] = {e};
			diff_case(seq, 1, r & 3, precisions[(r >> 2) % 3], r % 11 == 5);
		}
	}
	printf("  %u encodings, %u cases (%u changed the state, %u stored, %u left an unmasked "
	       "exception, %u #MF), %u mismatches\n",
	       nencs, cases, changed, stores, unmasked, traps, mismatches);
	CHECK(cases > 20000);
	CHECK(changed > cases * 3 / 4);
	CHECK(unmasked > 1000);
	CHECK(stores > 5000);
	CHECK(traps > 100);
	CHECK_EQ(mismatches, 0);
}

static void test_sequences(void)
{
	mismatches = cases = traps = 0;
	for (unsigned r = 0; r < 20000; r++) {
		const struct enc *seq[4];
		unsigned n = 2 + rnd() % 3;
		for (unsigned k = 0; k < n; k++) {
			/* The operand is generated for the first instruction only;
			 * a stored environment holds host pointers natively, which
			 * nothing may load afterwards: it comes last. */
			const struct enc *e;
			do
				e = &encs[rnd() % nencs];
			while ((k > 0 && e->type != T_NONE && e->type != T_OUT && rnd() % 4) ||
			       (k + 1 < n && (e->type == T_ENVOUT || e->type == T_SAVEOUT)));
			seq[k] = e;
		}
		diff_case(seq, n, rnd() & 3, precisions[rnd() % 3], r % 13 == 7);
	}
	printf("  %u sequences, %u #MF, %u mismatches\n", cases, traps, mismatches);
	CHECK(traps > 100);
	CHECK_EQ(mismatches, 0);
}

/* --- what user mode cannot compare --- */

static int run_code(const char *hex)
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
	b[n++] = 0xf4;
	mem_write(&mem, cpu->state.rip, b, n);
	enum soft_exit e = soft_cpu_run(cpu, 64);
	if (e == SOFT_EXIT_EXCEPTION)
		return cpu->exc.vector;
	return e == SOFT_EXIT_HLT ? -1 : -2;
}

static void fresh(void)
{
	soft_cpu_init(cpu, &mem, NULL);
	guest_32();
	cpu->state.fpu.fcw = 0x37f;
}

static void test_device_not_available(void)
{
	fresh();
	cpu->state.cr0 |= 8; /* TS */
	CHECK_EQ(run_code("d9 e8"), SOFT_NM);
	CHECK_EQ(cpu->state.rip, CODE);
	CHECK_EQ(run_code("9b"), -1); /* WAIT ignores TS without MP */
	fresh();
	cpu->state.cr0 |= 8 | 2; /* TS MP */
	CHECK_EQ(run_code("9b"), SOFT_NM);
	CHECK_EQ(run_code("0f ae 03"), SOFT_NM); /* fxsave */
	fresh();
	cpu->state.cr0 |= 4; /* EM */
	CHECK_EQ(run_code("db e3"), SOFT_NM);
	CHECK_EQ(run_code("0f ae 03"), SOFT_UD);
	CHECK_EQ(run_code("0f ae 0b"), SOFT_UD);
	CHECK_EQ(run_code("9b"), -1); /* WAIT ignores EM */
	fresh();
	cpu->state.cr0 |= 4 | 2;
	CHECK_EQ(run_code("9b"), -1);
	/* reserved encodings */
	fresh();
	CHECK_EQ(run_code("d9 d1"), SOFT_UD);
	CHECK_EQ(run_code("d9 0e"), SOFT_UD);
	CHECK_EQ(run_code("dd f0"), SOFT_UD);
	CHECK_EQ(run_code("db 26"), SOFT_UD);
	CHECK_EQ(run_code("de d8"), SOFT_UD);
	CHECK_EQ(run_code("df e1"), SOFT_UD);
	CHECK_EQ(run_code("f0 d8 06"), SOFT_UD); /* lock */
}

static void test_pending_errors(void)
{
	fresh();
	/* fld1; fldz; fdivp with ZE unmasked: ES set, the result not written */
	CHECK_EQ(run_code("d9 e8 d9 ee 66 c7 06 7b 03 d9 2e de f9 90"), -1);
	struct cpu_fpu *f = &cpu->state.fpu;
	CHECK_EQ(f->fsw & 0x80bf, 0x8084);
	CHECK_EQ(f->fcw, 0x37b);
	/* every waiting instruction now faults before doing anything */
	static const char *const waiting[] = {"d9 e8", "9b",    "d9 c9", "dd c0", "d9 d0",
	                                      "d9 2e", "d8 06", "df 06", "de c1", "d9 e0"};
	for (unsigned k = 0; k < sizeof waiting / sizeof waiting[0]; k++) {
		uint64_t rip = cpu->state.rip = CODE + 0x100;
		struct cpu_fpu before = *f;
		CHECK_EQ(run_code(waiting[k]), SOFT_MF);
		CHECK_EQ(cpu->state.rip, rip);
		CHECK(memcmp(&before, f, sizeof before) == 0);
	}
	/* the non-waiting ones run */
	static const char *const nonwaiting[] = {"d9 3e", "dd 3e", "df e0",    "db e0",
	                                         "db e1", "db e4", "0f ae 03", "d9 36"};
	for (unsigned k = 0; k < sizeof nonwaiting / sizeof nonwaiting[0]; k++) {
		cpu->state.rip = CODE + 0x100;
		CHECK_EQ(run_code(nonwaiting[k]), -1);
	}
	/* FNSTENV left everything masked: nothing pending any more */
	CHECK_EQ(f->fcw & 0x3f, 0x3f);
	CHECK_EQ(f->fsw & 0x8080, 0);
	cpu->state.rip = CODE + 0x100;
	CHECK_EQ(run_code("d9 26"), -1); /* FLDENV brings the unmasked ZE back... */
	CHECK_EQ(f->fsw & 0x8080, 0x8080);
	CHECK_EQ(f->fcw, 0x37b);
	cpu->state.rip = CODE + 0x100;
	CHECK_EQ(run_code("9b"), SOFT_MF); /* ...and WAIT reports it */
	cpu->state.rip = CODE + 0x100;
	CHECK_EQ(run_code("db e2 9b"), -1); /* FNCLEX */
	CHECK_EQ(f->fsw & 0x80ff, 0);
	/* FNINIT with a pending error */
	f->fsw |= 0x8081;
	f->fcw = 0x37e;
	cpu->state.rip = CODE + 0x100;
	CHECK_EQ(run_code("db e3 d9 e8"), -1);
	CHECK_EQ(f->fcw, 0x37f);
	/* FLDCW unmasking a flag sets ES/B; the next one faults */
	cpu->state.rip = CODE + 0x100;
	CHECK_EQ(run_code("d9 ee d9 ee de f9 66 c7 06 7e 03 d9 2e"), -1);
	CHECK_EQ(f->fsw & 0x8081, 0x8081);
	CHECK_EQ(run_code("d9 e8"), SOFT_MF);
	/* with CR0.NE clear it is #MF as well (no FERR# line is modelled) */
	cpu->state.cr0 &= ~0x20ULL;
	CHECK_EQ(run_code("d9 e8"), SOFT_MF);
}

/* FXSAVE in the guest against FXSAVE on the host, both from one state. */
static void test_fxsave_layout(void)
{
	for (unsigned n = 0; n < 300; n++) {
		_Alignas(16) uint8_t img[512], nimg[512], g[512];
		gen_state(img, rnd() & 3, precisions[rnd() % 3], false);
		for (unsigned k = 160; k < 416; k++)
			img[k] = (uint8_t)rnd();
		put16(img + 24, 0x1f80 | (uint16_t)(rnd() & 0x7f)); /* flags in MXCSR */
		memcpy(nimg, img, 512);
		uint8_t code[] = {0x0f, 0xae, 0x0b,
		                  0x0f, 0xae, 0x03}; /* fxrstor [rbx]; fxsave [rbx] */
		uint64_t flags = 0;
		/* natively the image is already loaded by the harness: run fxsave only */
		memset(nimg + 416, 0xcc, 96);
		native_run(code + 3, 3, nimg, nimg, &flags);
		/* the guest: FXRSTOR and FXSAVE of its own at AREA */
		fresh();
		memcpy(g, img, 512);
		memset(g + 416, 0xcc, 96);
		uint32_t mx;
		memcpy(&mx, img + 24, 4);
		mem_write(&mem, AREA, g, 512);
		cpu->state.rip = CODE;
		mem_write(&mem, CODE, code, sizeof code);
		CHECK_EQ(run_code("0f ae 0b 0f ae 03"), -1);
		mem_read(&mem, AREA, g, 512);
		/* pointers and FOP are host-specific; MXCSR_MASK is the model's */
		memset(g + 6, 0, 18);
		memset(nimg + 6, 0, 18);
		CHECK_EQ(get16(g + 28), 0xffff);
		memset(g + 28, 0, 4);
		memset(nimg + 28, 0, 4);
		if (memcmp(g, nimg, 512) != 0) {
			for (unsigned k = 0; k < 512; k++)
				if (g[k] != nimg[k]) {
					printf("  fxsave byte %u: guest %02x host %02x\n", k, g[k],
					       nimg[k]);
					break;
				}
			CHECK(0);
			break;
		}
		CHECK_EQ(cpu->state.fpu.mxcsr, mx);
	}
}

static void test_fxsave_rules(void)
{
	/* misaligned: #GP(0), nothing written */
	fresh();
	uint8_t z[512] = {0}, b[512];
	mem_write(&mem, AREA, z, 512);
	cpu->state.gpr[GPR_RBX] = AREA + 8;
	CHECK_EQ(run_code("0f ae 03"), SOFT_GP);
	CHECK_EQ(cpu->exc.error, 0);
	CHECK_EQ(run_code("0f ae 0b"), SOFT_GP);
	/* a segment base that makes the linear address aligned is fine */
	cpu->state.seg[SEG_DS].base = 8;
	CHECK_EQ(run_code("0f ae 03"), -1);
	cpu->state.seg[SEG_DS].base = 0;
	/* MXCSR reserved bits: #GP(0) on FXRSTOR, state unchanged */
	fresh();
	cpu->state.fpu.fcw = 0x27f;
	CHECK_EQ(run_code("0f ae 03"), -1);
	mem_read(&mem, AREA, b, 512);
	b[26] = 1; /* MXCSR bit 16 */
	b[0] = 0x7e;
	mem_write(&mem, AREA, b, 512);
	cpu->state.rip = CODE;
	CHECK_EQ(run_code("0f ae 0b"), SOFT_GP);
	CHECK_EQ(cpu->state.fpu.fcw, 0x27f);
	/* without CR4.OSFXSR neither MXCSR nor the XMM registers move */
	cpu->state.cr4 = 0;
	cpu->state.fpu.mxcsr = 0x1f80;
	CHECK_EQ(run_code("0f ae 0b"), -1);
	CHECK_EQ(cpu->state.fpu.fcw, 0x27e);
	CHECK_EQ(cpu->state.fpu.mxcsr, 0x1f80);
	memset(b, 0xee, 512);
	mem_write(&mem, AREA, b, 512);
	cpu->state.rip = CODE;
	CHECK_EQ(run_code("0f ae 03"), -1);
	mem_read(&mem, AREA, b, 512);
	CHECK_EQ(b[24], 0xee);
	CHECK_EQ(b[160], 0xee);
	CHECK_EQ(b[0], 0x7e);
	CHECK_EQ(b[5], 0); /* reserved, written as zero */
	CHECK_EQ(b[42], 0);
	/* with it, MXCSR, MXCSR_MASK and XMM0-7 (32-bit mode) are stored */
	cpu->state.cr4 = 1u << 9;
	for (unsigned k = 0; k < 16; k++)
		cpu->state.fpu.xmm[k][0] = 0x1111111111111111ULL * k,
		cpu->state.fpu.xmm[k][1] = ~0ULL - k;
	cpu->state.rip = CODE;
	CHECK_EQ(run_code("0f ae 03"), -1);
	mem_read(&mem, AREA, b, 512);
	CHECK_EQ(get16(b + 24), 0x1f80);
	CHECK_EQ(get16(b + 28), 0xffff);
	uint64_t v;
	memcpy(&v, b + 160 + 16 * 7, 8);
	CHECK_EQ(v, 0x7777777777777777ULL);
	CHECK_EQ(b[160 + 16 * 8], 0xee); /* XMM8 only in 64-bit mode */
	CHECK_EQ(b[416], 0xee);          /* 416..511 untouched */
}

/* 64-bit mode: FXSAVE64's 64-bit pointers, XMM8-15, REX on x87 forms,
 * precise page faults. */
static void test_long_mode(void)
{
	soft_cpu_init(cpu, &mem, NULL);
	guest_64();
	struct cpu_fpu *f = &cpu->state.fpu;
	cpu->state.fpu.fcw = 0x37f;
	cpu->state.gpr[GPR_R8] = DATA;
	for (unsigned k = 0; k < 16; k++)
		f->xmm[k][0] = k + 1, f->xmm[k][1] = 0;
	uint64_t pi_sig = 0xc90fdaa22168c235ULL;
	/* mov rax, 0x123456789a; fld1; fldpi; rex.b fadd st, st(1) (REX
	 * ignored); fstp tword [r8]; fxsave64 [rbx] */
	cpu->state.rip = CODE;
	CHECK_EQ(run_code("d9 e8 d9 eb 41 d8 c1 41 db 38 48 0f ae 03"), -1);
	uint8_t b[512];
	mem_read(&mem, DATA, b, 10);
	uint64_t sig;
	memcpy(&sig, b, 8);
	CHECK_EQ(get16(b + 8), 0x4001); /* pi + 1 = 4.14 */
	CHECK(sig != pi_sig);
	mem_read(&mem, AREA, b, 512);
	uint64_t fip, fdp;
	memcpy(&fip, b + 8, 8);
	memcpy(&fdp, b + 16, 8);
	CHECK_EQ(fip, CODE + 7);                 /* the FSTP */
	CHECK_EQ(fdp, DATA);                     /* its operand */
	CHECK_EQ(get16(b + 6), 0x3 << 8 | 0x38); /* FOP: DB 38 */
	CHECK_EQ(b[4], 0x80);                    /* the fld1 left in R7 */
	uint64_t x;
	memcpy(&x, b + 160 + 16 * 15, 8);
	CHECK_EQ(x, 16); /* XMM15 */
	/* FXRSTOR64 brings the 64-bit pointers back */
	fip = 0x123456789abcULL;
	memcpy(b + 8, &fip, 8);
	mem_write(&mem, AREA, b, 512);
	cpu->state.rip = CODE;
	CHECK_EQ(run_code("48 0f ae 0b"), -1);
	CHECK_EQ(f->fip, 0x123456789abcULL);
	/* without REX.W: 32-bit pointers and selectors */
	cpu->state.rip = CODE;
	CHECK_EQ(run_code("0f ae 03"), -1);
	mem_read(&mem, AREA, b, 512);
	CHECK_EQ(get16(b + 8), 0x9abc);
	CHECK_EQ(get16(b + 10), 0x5678);

	/* FSTP m80 across into a page that is not present: #PF, no pop */
	set_pte(0x6000, 0);
	cpu->state.gpr[GPR_R8] = 0x5ffa;
	struct cpu_fpu before = *f;
	cpu->state.rip = CODE;
	CHECK_EQ(run_code("41 db 38"), SOFT_PF);
	CHECK_EQ(cpu->exc.cr2, 0x6000);
	CHECK(memcmp(&before, f, sizeof before) == 0);
	/* FXSAVE to a read-only page: #PF, nothing written; FXRSTOR from it works */
	set_pte(0x6000, 1);
	uint8_t junk[512];
	memset(junk, 0x5a, sizeof junk);
	mem_write(&mem, 0x5f00, junk, 512);
	cpu->state.gpr[GPR_RBX] = 0x5f00;
	cpu->state.rip = CODE;
	CHECK_EQ(run_code("0f ae 03"), SOFT_PF);
	CHECK_EQ(cpu->exc.error & 3, 3); /* present, write */
	mem_read(&mem, 0x5f00, b, 512);
	CHECK_EQ(b[0], 0x5a);
	CHECK_EQ(b[0x100], 0x5a);
	set_pte(0x6000, 0);
	cpu->state.rip = CODE;
	CHECK_EQ(run_code("0f ae 0b"), SOFT_PF);
	CHECK(memcmp(&before, f, sizeof before) == 0);
	set_pte(0x6000, 3);
}

/* The environment and save layouts the host cannot show: real mode, and
 * the pointers of the protected-mode ones. */
static void test_env_layouts(void)
{
	fresh();
	struct cpu_fpu *f = &cpu->state.fpu;
	/* fninit; fld1; fldz; fadd dword [esi] at CODE */
	uint32_t one = 0x3f800000;
	mem_write(&mem, DATA, &one, 4);
	CHECK_EQ(run_code("db e3 d9 e8 d9 ee d8 06"), -1);
	CHECK_EQ(f->fip, CODE + 6);
	CHECK_EQ(f->fcs, 8);
	CHECK_EQ(f->fdp, DATA);
	CHECK_EQ(f->fds, 16);
	CHECK_EQ(f->fop, 0x006); /* D8 06 */
	/* 32-bit protected: fnstenv [esi+0x10] */
	cpu->state.rip = CODE + 0x40;
	CHECK_EQ(run_code("d9 76 10"), -1);
	uint8_t b[108];
	mem_read(&mem, DATA + 0x10, b, 28);
	uint32_t w;
	memcpy(&w, b + 12, 4);
	CHECK_EQ(w, CODE + 6);
	memcpy(&w, b + 16, 4);
	CHECK_EQ(w, 0x006u << 16 | 8);
	memcpy(&w, b + 20, 4);
	CHECK_EQ(w, DATA);
	memcpy(&w, b + 24, 4);
	CHECK_EQ(w, 0xffff0010u);
	memcpy(&w, b + 8, 4);
	CHECK_EQ(w, 0xffff0fffu); /* R6 and R7 valid (1.0 twice), the rest empty */
	/* 16-bit protected */
	cpu->state.rip = CODE + 0x40;
	CHECK_EQ(run_code("66 d9 76 40"), -1);
	mem_read(&mem, DATA + 0x40, b, 14);
	CHECK_EQ(get16(b + 6), CODE + 6);
	CHECK_EQ(get16(b + 8), 8);
	CHECK_EQ(get16(b + 10), DATA);
	CHECK_EQ(get16(b + 12), 16);

	/* real mode: FIP/FDP as 20-bit (16-bit) or 32-bit linear addresses */
	soft_cpu_init(cpu, &mem, NULL);
	cpu->report_exceptions = true;
	struct cpu_state *s = &cpu->state;
	s->cr0 = 0x30;
	s->seg[SEG_CS].base = 0x10000;
	s->seg[SEG_CS].selector = 0x1000;
	s->seg[SEG_DS].base = 0x20000;
	s->seg[SEG_DS].selector = 0x2000;
	s->rip = 0x0100;
	s->gpr[GPR_RSI] = 0x0200;
	mem_write(&mem, 0x20200, &one, 4);
	/* fninit; fld1; fadd dword [si]; fnstenv [si+0x10]; o32 fnstenv [si+0x20];
	 * fnsave [si+0x40] */
	uint8_t code[] = {0xdb, 0xe3, 0xd9, 0xe8, 0xd8, 0x04, 0xd9, 0x74, 0x10,
	                  0x66, 0xd9, 0x74, 0x20, 0xdd, 0x74, 0x40, 0xf4};
	mem_write(&mem, 0x10100, code, sizeof code);
	CHECK_EQ(soft_cpu_run(cpu, 16), SOFT_EXIT_HLT);
	mem_read(&mem, 0x20210, b, 14);
	CHECK_EQ(get16(b + 6), 0x0104);         /* linear 0x10104, low 16 */
	CHECK_EQ(get16(b + 8), 0x1000 | 0x004); /* IP[19:16] << 12 | FOP (D8 04) */
	CHECK_EQ(get16(b + 10), 0x0200);        /* linear 0x20200 */
	CHECK_EQ(get16(b + 12), 0x2000);        /* DP[19:16] << 12 */
	mem_read(&mem, 0x20220, b, 28);
	memcpy(&w, b + 12, 4);
	CHECK_EQ(w & 0xffff, 0x0104);
	memcpy(&w, b + 16, 4);
	CHECK_EQ(w, 0x0001u << 12 | 0x004);
	memcpy(&w, b + 24, 4);
	CHECK_EQ(w, 0x0002u << 12);
	/* FNSAVE reinitialized; FRSTOR of the 16-bit real-mode image brings
	 * back the state and the (linear) pointers */
	CHECK_EQ(s->fpu.fcw, 0x37f);
	CHECK_EQ(s->fpu.ftw, 0);
	uint8_t code2[] = {0xdd, 0x64, 0x40, 0xf4};
	s->rip = 0x0200;
	mem_write(&mem, 0x10200, code2, sizeof code2);
	CHECK_EQ(soft_cpu_run(cpu, 16), SOFT_EXIT_HLT);
	CHECK_EQ(s->fpu.ftw, 0x80);
	CHECK_EQ(s->fpu.st[7].sign_exp, 0x4000); /* 2.0 */
	CHECK_EQ(s->fpu.fip + ((uint64_t)s->fpu.fcs << 4), 0x10104);
	CHECK_EQ(s->fpu.fdp + ((uint64_t)s->fpu.fds << 4), 0x20200);
	CHECK_EQ(s->fpu.fop, 0x004);
}

/* Control-word and status-word loads: the bits the hardware keeps. */
static void test_control_words(void)
{
	fresh();
	struct cpu_fpu *f = &cpu->state.fpu;
	uint16_t cw = 0xffff;
	mem_write(&mem, DATA, &cw, 2);
	CHECK_EQ(run_code("d9 2e d9 3e"), -1);
	CHECK_EQ(f->fcw, 0x1f7f);
	uint16_t back;
	mem_read(&mem, DATA, &back, 2);
	CHECK_EQ(back, 0x1f7f);
	cw = 0;
	mem_write(&mem, DATA, &cw, 2);
	cpu->state.rip = CODE;
	CHECK_EQ(run_code("d9 2e"), -1);
	CHECK_EQ(f->fcw, 0x0040);
	/* FNSTSW AX keeps the rest of RAX */
	f->fsw = 0x3a41;
	cpu->state.gpr[GPR_RAX] = 0x1122334455667788ULL;
	cpu->state.rip = CODE;
	CHECK_EQ(run_code("df e0"), -1);
	CHECK_EQ(cpu->state.gpr[GPR_RAX], 0x1122334455663a41ULL);
}

int main(void)
{
	struct error err;
	if (mem_init(&mem, 16ULL << 20, false, &err) != 0) {
		printf("mem_init: %s\n", err.msg);
		return 1;
	}
	cpu = calloc(1, sizeof *cpu);
	soft_cpu_init(cpu, &mem, NULL);
	native_code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
	                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (native_code == MAP_FAILED) {
		printf("mmap of an executable buffer failed\n");
		return 1;
	}
	struct sigaction sa = {0};
	sa.sa_sigaction = on_sigfpe;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGFPE, &sa, NULL);
	build_encodings();

	RUN(test_every_encoding);
	RUN(test_sequences);
	RUN(test_device_not_available);
	RUN(test_pending_errors);
	RUN(test_fxsave_layout);
	RUN(test_fxsave_rules);
	RUN(test_long_mode);
	RUN(test_env_layouts);
	RUN(test_control_words);

	munmap(native_code, 4096);
	free(cpu);
	mem_destroy(&mem);
	TEST_DONE();
}
