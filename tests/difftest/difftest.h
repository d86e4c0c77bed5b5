/* Differential tester for the soft engine: the same instruction sequence runs
 * on the host CPU (in a forked child) and on the soft CPU (at CPL3 in 64-bit
 * mode, through real guest page tables), and every GPR, RIP, the defined
 * flags, the data pages and the exception must agree.
 *
 * Address space shared by both sides (user virtual addresses):
 *   DT_CODE_VA  one page, read+execute: the sequence, then INT3
 *   DT_DATA_VA  two read/write pages (compared after the run), then one
 *               read-only page, then an unmapped guard page
 *   DT_STATE_VA native side only: registers handed to the entry stub, and
 *               at DT_FX_VA the FXSAVE image it loads with FXRSTOR
 *
 * Every case also carries a floating-point/vector state in FXSAVE format
 * (x87 control, status, tags and registers, MXCSR, XMM0-15): the native side
 * loads it before the sequence and reads it back from the signal frame, the
 * soft side loads and unloads cpu_state.fpu, and the two are compared.
 *
 * Cases run in 64-bit mode or in compatibility mode (a 32-bit code segment
 * of the same 64-bit process: selector 0x23 on Linux), all below 4 GiB. */
#ifndef RINGFOLD_DIFFTEST_H
#define RINGFOLD_DIFFTEST_H

#include <stdbool.h>
#include <stdint.h>

#define DT_CODE_VA 0x10000000ULL
#define DT_DATA_VA 0x20000000ULL
#define DT_DATA_SIZE 0x2000u /* read/write, compared */
#define DT_RO_VA (DT_DATA_VA + DT_DATA_SIZE)
#define DT_GUARD_VA (DT_RO_VA + 0x1000)
#define DT_STATE_VA 0x30000000ULL
#define DT_FX_VA (DT_STATE_VA + 0x200)
#define DT_CODE_MAX 256
#define DT_MAX_INSNS 8

/* Architecturally defined flags we compare (masked further per instruction). */
#define DT_FL_CF 0x001
#define DT_FL_PF 0x004
#define DT_FL_AF 0x010
#define DT_FL_ZF 0x040
#define DT_FL_SF 0x080
#define DT_FL_DF 0x400
#define DT_FL_OF 0x800
#define DT_FL_ARITH (DT_FL_CF | DT_FL_PF | DT_FL_AF | DT_FL_ZF | DT_FL_SF | DT_FL_OF)

struct dt_regs {
	uint64_t gpr[16];
	uint64_t rip, rflags;
};

struct tmpl;

/* One instruction of a case, for the report and the undefined-flag rules. */
struct dt_insn {
	uint16_t offset; /* from DT_CODE_VA */
	uint8_t len;
	uint8_t size;  /* operand size */
	int16_t count; /* shift count from an immediate, -1: from CL */
	uint8_t flags; /* DT_I_* */
	uint8_t fpcmp; /* DT_CMP_*: how xdst is compared */
	uint8_t xdst;  /* the XMM register an approximating instruction writes */
	const struct tmpl *t;
	char text[48];
};

#define DT_I_REP 0x01 /* REP/REPE/REPNE prefix */
#define DT_I_A32 0x02 /* 67 prefix: 32-bit addressing */

/* The FXSAVE image: offsets of the fields compared. */
#define DT_FX_SIZE 512
#define DT_FX_FCW 0
#define DT_FX_FSW 2
#define DT_FX_FTW 4
#define DT_FX_MXCSR 24
#define DT_FX_ST(i) (32 + 16 * (i)) /* 10 bytes each, in stack order ST(i) */
#define DT_FX_XMM(i) (160 + 16 * (i))

/* How the destination of an approximating instruction is compared. */
enum { DT_CMP_EXACT, DT_CMP_APPROX_PS, DT_CMP_APPROX_SS };

struct dt_case {
	uint64_t seed;
	uint64_t fs_base, gs_base; /* the host's, given to the soft side too */
	bool m32;                  /* compatibility mode (32-bit code segment) instead of 64-bit */
	uint8_t code[DT_CODE_MAX];
	unsigned code_len;
	unsigned ninsns;
	struct dt_insn insns[DT_MAX_INSNS];
	struct dt_regs in;
	uint8_t fx[DT_FX_SIZE] __attribute__((aligned(16)));
	uint8_t data[DT_DATA_SIZE];
};

/* Segment registers compared after a case (the far-pointer loads change
 * them): selectors by SEG_* index (ES CS SS DS FS GS), and the FS/GS bases. */
enum { DT_ES, DT_CS, DT_SS, DT_DS, DT_FS, DT_GS, DT_NSEG };
struct dt_result {
	struct dt_regs out;
	uint16_t sel[DT_NSEG];
	uint64_t fs_base, gs_base;
	bool bases; /* native side: the bases could be read (FSGSBASE) */
	int vector; /* 3 with RIP after the final INT3 is the normal end */
	uint64_t error, cr2;
	uint16_t undef; /* flags undefined at the end (soft side computes it) */
	bool timeout;   /* soft side: did not finish */
	bool no_fx;     /* native side: the signal frame had no FP state */
	uint8_t fx[DT_FX_SIZE] __attribute__((aligned(16)));
	uint8_t data[DT_DATA_SIZE];
};

/* gen.c */
void dt_gen_init(void);
/* Generate case number index of the run seeded with seed; filter limits the
 * main instruction to templates whose name starts with it (NULL: any).
 * Returns false if the filter matches nothing. */
enum { DT_MODE_64, DT_MODE_32, DT_MODE_MIXED };
bool dt_gen_case(uint64_t seed, uint64_t index, const char *filter, int mode, struct dt_case *c);
/* Flags an instruction defines and leaves undefined, given the registers
 * before it runs. */
void dt_flag_effect(const struct dt_insn *in, const uint64_t *gpr_before, uint16_t *def,
                    uint16_t *undef);
const char *dt_tmpl_name(const struct tmpl *t);
unsigned dt_tmpl_count(void);
unsigned dt_tmpl_index(const struct tmpl *t); /* < dt_tmpl_count() */

/* native.c: run cases [0, n) natively; results[k] for each. */
int dt_native_run(const struct dt_case *cases, struct dt_result *results, unsigned n);

/* softrun.c */
int dt_soft_init(void);
void dt_soft_run(const struct dt_case *c, struct dt_result *r);

#endif
