/* Debug registers: an instruction breakpoint (a fault the handler resumes
 * from with RF set), data breakpoints on writes and on reads and writes
 * (traps after the access) and single-step with TF set by POPF. A #DB hook
 * records what each exception reported; every debug register is cleared
 * again at the end. (DR7.GD and INT1 are left to the unit tests: QEMU's
 * TCG, the reference this kernel is checked against, has neither.) */
#include "kernel.h"
#include "modes.h"
#include "x86.h"

#define RF (1ul << 16)
#define TF (1ul << 8)
#define DR6_BS (1ul << 14)
#define DR6_CLEAR 0xffff0ff0ul
#define DR7_BASE 0x400ul /* bit 10 reads as 1 */

#define DEFINE_DR(n)                                                                               \
	static inline uint64_t read_dr##n(void)                                                    \
	{                                                                                          \
		uint64_t v;                                                                        \
		__asm__ volatile("mov %%dr" #n ", %0" : "=r"(v));                                  \
		return v;                                                                          \
	}                                                                                          \
	static inline void write_dr##n(uint64_t v)                                                 \
	{                                                                                          \
		__asm__ volatile("mov %0, %%dr" #n ::"r"(v) : "memory");                           \
	}
DEFINE_DR(0)
DEFINE_DR(1)
DEFINE_DR(2)
DEFINE_DR(6)
DEFINE_DR(7)
#undef DEFINE_DR

static volatile uint64_t watched[4] __attribute__((aligned(32)));

static volatile unsigned db_hits;
static uint64_t db_rip[4], db_dr6[4];
static bool db_set_rf;      /* resume past an instruction breakpoint */
static unsigned db_stop_tf; /* clear TF in the frame after this many */

static bool db_hook(struct trap_frame *f, uint64_t cr2)
{
	(void)cr2;
	if (f->cs & 3)
		return false; /* not ours: CPL3 code has no breakpoints here */
	unsigned k = db_hits++;
	if (k < 4) {
		db_rip[k] = f->rip;
		db_dr6[k] = read_dr6();
	}
	write_dr6(DR6_CLEAR);
	if (db_set_rf)
		f->rflags |= RF;
	if (db_stop_tf && db_hits >= db_stop_tf)
		f->rflags &= ~TF;
	if (db_hits > 16) { /* runaway: stop whatever keeps firing */
		f->rflags = (f->rflags & ~TF) | RF;
		write_dr7(DR7_BASE);
	}
	return true;
}

static void db_reset(void)
{
	db_hits = 0;
	db_set_rf = false;
	db_stop_tf = 0;
	for (int i = 0; i < 4; i++)
		db_rip[i] = db_dr6[i] = 0;
	write_dr6(DR6_CLEAR);
}

/* DR7 for breakpoint n enabled locally with its R/W and LEN fields. */
static uint64_t dr7_bp(unsigned n, unsigned rw, unsigned len)
{
	return DR7_BASE | (1ul << (2 * n)) | ((uint64_t)rw << (16 + 4 * n)) |
	       ((uint64_t)len << (18 + 4 * n));
}

static bool expect_db(unsigned hits, const char *what, const uint64_t *rips, uint64_t dr6_bits)
{
	if (db_hits != hits) {
		check_fail("%s: %u #DB, expected %u (first at %#lx)", what, db_hits, hits,
		           db_rip[0]);
		return false;
	}
	for (unsigned i = 0; i < hits && i < 4; i++) {
		if (db_rip[i] != rips[i]) {
			check_fail("%s: #DB %u at %#lx, expected %#lx", what, i, db_rip[i],
			           rips[i]);
			return false;
		}
		if ((db_dr6[i] & dr6_bits) != dr6_bits) {
			check_fail("%s: DR6 %#lx lacks %#lx", what, db_dr6[i], dr6_bits);
			return false;
		}
	}
	return true;
}

void check_debug_regs(void)
{
	trap_hooks[1] = db_hook;

	/* an instruction breakpoint: a fault at the instruction, which then
	 * runs once the handler set RF */
	db_reset();
	db_set_rf = true;
	write_dr0((uint64_t)dbg_exec_insn);
	write_dr7(dr7_bp(0, 0, 0));
	dbg_exec();
	write_dr7(DR7_BASE);
	uint64_t r1[] = {(uint64_t)dbg_exec_insn};
	expect_db(1, "instruction breakpoint", r1, 1);

	/* a 4-byte write breakpoint: the write traps after itself, a read
	 * does not */
	db_reset();
	write_dr1((uint64_t)&watched[0]);
	write_dr7(dr7_bp(1, 1, 3));
	dbg_write((uint64_t)&watched[0], 7);
	(void)dbg_read((uint64_t)&watched[0]);
	write_dr7(DR7_BASE);
	uint64_t r2[] = {(uint64_t)dbg_write_after};
	if (expect_db(1, "write breakpoint", r2, 2) && watched[0] != 7)
		check_fail("the write that hit the breakpoint did not complete");

	/* an 8-byte read/write breakpoint: a read inside traps, one just past
	 * it does not */
	db_reset();
	write_dr2((uint64_t)&watched[0]);
	write_dr7(dr7_bp(2, 3, 2));
	(void)dbg_read((uint64_t)&watched[0] + 4);
	(void)dbg_read((uint64_t)&watched[1]);
	write_dr7(DR7_BASE);
	uint64_t r3[] = {(uint64_t)dbg_read_after};
	expect_db(1, "read/write breakpoint", r3, 4);

	/* single-step: POPF sets TF, the first trap comes after the next
	 * instruction; the hook clears TF after three */
	db_reset();
	db_stop_tf = 3;
	dbg_step();
	uint64_t r4[] = {(uint64_t)dbg_step_1, (uint64_t)dbg_step_2, (uint64_t)dbg_step_3};
	expect_db(3, "single-step", r4, DR6_BS);

	write_dr7(DR7_BASE);
	write_dr0(0);
	write_dr1(0);
	write_dr2(0);
	write_dr6(DR6_CLEAR);
	trap_hooks[1] = NULL;
}
