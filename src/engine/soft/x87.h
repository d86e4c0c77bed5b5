/* Shared by the soft engine's x87 files (x87.c, x87_native.c, x87_state.c):
 * FPU status and control bits, guest memory blocks of any size (an 80-bit
 * operand, a 108-byte FSAVE image, a 512-byte FXSAVE area), and the host
 * FPU runner. Not part of the engine's API. */
#ifndef RINGFOLD_ENGINE_SOFT_X87_H
#define RINGFOLD_ENGINE_SOFT_X87_H

#include "engine/soft/access.h"
#include "engine/soft/exec.h"

/* FSW */
#define FSW_IE 0x0001u
#define FSW_DE 0x0002u
#define FSW_ZE 0x0004u
#define FSW_OE 0x0008u
#define FSW_UE 0x0010u
#define FSW_PE 0x0020u
#define FSW_EXC 0x003fu /* the six exception flags */
#define FSW_SF 0x0040u
#define FSW_ES 0x0080u
#define FSW_C0 0x0100u
#define FSW_C1 0x0200u
#define FSW_C2 0x0400u
#define FSW_TOP 0x3800u
#define FSW_C3 0x4000u
#define FSW_B 0x8000u

/* FCW: the exception masks are bits 0..5. What a load keeps of the other
 * bits is what the hardware keeps: PC, RC and the old infinity control
 * (8..12); bit 6 always reads as one, bits 7 and 13..15 as zero. */
#define FCW_LOADABLE 0x1f3fu
#define FCW_ONE 0x0040u
#define FCW_INIT 0x037fu

/* Control register bits of the FPU. */
#define X87_CR0_MP (1ULL << 1)
#define X87_CR0_EM (1ULL << 2)
#define X87_CR0_TS (1ULL << 3)
#define X87_CR0_NE (1ULL << 5)
#define X87_CR4_OSFXSR (1ULL << 9)

/* MXCSR_MASK of the model: every bit of the low half, DAZ included (the
 * vector code accepts the same bits in LDMXCSR). */
#define X87_MXCSR_MASK 0xffffu

static inline uint16_t x87_fcw_load(uint32_t v)
{
	return (uint16_t)((v & FCW_LOADABLE) | FCW_ONE);
}

/* An unmasked exception flag is pending: the next waiting instruction
 * raises #MF instead of executing. */
static inline bool x87_pending(const struct cpu_fpu *f)
{
	return (f->fsw & ~f->fcw & FSW_EXC) != 0;
}

/* ES and B summarize the unmasked flags; loads of FSW or FCW recompute
 * them, as the hardware does. */
static inline uint16_t x87_fsw_summarize(uint16_t fsw, uint16_t fcw)
{
	fsw &= (uint16_t) ~(FSW_ES | FSW_B);
	if (fsw & ~fcw & FSW_EXC)
		fsw |= FSW_ES | FSW_B;
	return fsw;
}

static inline unsigned x87_top(const struct cpu_fpu *f)
{
	return (f->fsw >> 11) & 7;
}

/* The tag an FSTENV or FSAVE reports for a register that is not empty:
 * 0 valid, 1 zero, 2 special (NaN, infinity, denormal, unsupported). */
unsigned x87_tag_class(const struct cpu_x87_reg *r);
/* The full tag word (two bits per physical register, 3 = empty). */
uint16_t x87_full_tags(const struct cpu_fpu *f);
/* FNINIT: control 037F, status and tags clear, pointers zero. */
void x87_init(struct cpu_fpu *f);

/* --- guest memory blocks --- */

/* Translate [ea, ea + size) of the instruction's segment for access
 * (SOFT_ACC_READ or SOFT_ACC_WRITE), size <= 4096: #GP/#SS/#PF here, and
 * afterwards the copies below cannot fault. */
int x87_mem_prepare(struct soft_cpu *c, const struct soft_insn *i, uint64_t ea, unsigned size,
                    unsigned access, struct memref *m);
void x87_mem_read(struct soft_cpu *c, const struct memref *m, unsigned off, void *buf, unsigned n);
void x87_mem_write(struct soft_cpu *c, const struct memref *m, unsigned off, const void *buf,
                   unsigned n);

/* --- the host FPU (x87_native.c) ---
 *
 * Arithmetic, loads, stores, compares and every other data instruction run
 * on the host's own x87, in the guest's precision and rounding, on a copy
 * of the guest's registers: the results are the hardware's to the bit,
 * flags and masked or unmasked exception responses included. */
struct x87_native {
	_Alignas(16) uint8_t image[512]; /* FXSAVE layout: the guest's x87 state in and out */
	uint8_t operand[16];             /* the memory operand, if any */
};

/* Run opcode (D8..DF) with modrm on the state in n->image; a memory form
 * addresses n->operand whatever its ModRM said. rflags supplies CF/PF/ZF
 * for FCMOVcc; the arithmetic flags afterwards (FCOMI) are returned. The
 * caller guarantees that no unmasked exception is pending in the image (it
 * would trap in the host) and that the encoding is a valid one. */
uint64_t x87_native_exec(struct x87_native *n, unsigned opcode, unsigned modrm, uint64_t rflags);

/* Fill the x87 part of n->image from f (everything else zero), and take the
 * results back (status, tags, registers; the control word and the
 * pointers are the caller's). */
void x87_native_load(struct x87_native *n, const struct cpu_fpu *f);
void x87_native_store(const struct x87_native *n, struct cpu_fpu *f);

/* --- state instructions (x87_state.c) --- */

/* FNSTENV (store true) / FLDENV, FNSAVE (store true) / FRSTOR, with their
 * memory operand at ea. */
int x87_env(struct soft_cpu *c, const struct soft_insn *i, bool store);
int x87_save(struct soft_cpu *c, const struct soft_insn *i, bool store);
/* 0F AE /0 and /1, with or without REX.W. */
int x87_fxsave(struct soft_cpu *c, const struct soft_insn *i);

#endif
