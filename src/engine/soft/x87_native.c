/* The host FPU as the soft engine's x87 arithmetic unit.
 *
 * An x87 data instruction is executed by the host's own x87 on a copy of
 * the guest's FPU registers: FXRSTOR an image of the guest state, run the
 * very same instruction (opcode and ModRM; memory forms rewritten to
 * address a buffer the caller filled from guest memory), FXSAVE the result.
 * Rounding, precision control, denormals, pseudo-denormals and unnormals,
 * NaN propagation, stack faults, C0..C3, masked responses and the state an
 * unmasked exception leaves behind are then the hardware's own, which no
 * software model of the x87 gets right everywhere. The transcendental
 * instructions (FSIN, F2XM1, ...) give the host CPU's results, exactly as
 * under the kvm engine.
 *
 * Host safety: the instruction runs with the guest's exception masks, so an
 * unmasked exception only sets ES: the FXSAVE that follows does not check
 * for pending exceptions and the host state restored after it has none.
 * The one way to make the host trap would be to load a state with a pending
 * unmasked exception before a waiting instruction; the caller refuses that
 * (it raises #MF in the guest instead). Only encodings the caller has
 * checked against the opcode map reach the host, so no #UD either. The
 * host's MXCSR is kept (the image carries it), its x87 control word is
 * restored and its x87 stack left empty, as the ABI wants.
 *
 * The stubs are a table of 8 * 256 entries of 16 bytes, one per opcode and
 * ModRM byte: ENDBR64 (for hosts enforcing indirect-branch tracking), the
 * instruction, a jump back into the runner. */
#include <float.h>
#include <string.h>

#include "engine/soft/x87.h"

#if !defined(__x86_64__)
#error "the soft engine's x87 runs on an x86-64 host FPU"
#endif
/* The host's long double is the x87 double-extended format. */
_Static_assert(LDBL_MANT_DIG == 64, "long double must be the x87 80-bit format");
_Static_assert(sizeof(struct cpu_x87_reg) >= 10, "x87 register image");

/* ringfold_x87_call(image, operand, stub, flags): returns RFLAGS after. */
__asm__(".pushsection .text\n"
        ".balign 16\n"
        ".globl ringfold_x87_call\n"
        ".hidden ringfold_x87_call\n"
        ".type ringfold_x87_call, @function\n"
        "ringfold_x87_call:\n"
        "	.cfi_startproc\n"
        "	push %rbp\n"
        "	.cfi_def_cfa_offset 16\n"
        "	.cfi_offset %rbp, -16\n"
        "	mov %rsp, %rbp\n"
        "	.cfi_def_cfa_register %rbp\n"
        "	sub $16, %rsp\n"
        "	fnstcw (%rsp)\n"    /* the host's control word */
        "	stmxcsr 24(%rdi)\n" /* the host's MXCSR goes through the image */
        "	fxrstor (%rdi)\n"   /* the guest's x87 state */
        "	pushfq\n"           /* guest CF PF AF ZF SF OF over the host's flags */
        "	andq $-0x8d6, (%rsp)\n"
        "	and $0x8d5, %ecx\n"
        "	or %rcx, (%rsp)\n"
        "	popfq\n"
        "	jmp *%rdx\n"
        ".Lringfold_x87_done:\n"
        "	pushfq\n"
        "	pop %rax\n"
        "	fxsave (%rdi)\n"
        "	fninit\n"
        "	fldcw (%rsp)\n"
        "	leave\n"
        "	.cfi_def_cfa %rsp, 8\n"
        "	ret\n"
        "	.cfi_endproc\n"
        ".size ringfold_x87_call, . - ringfold_x87_call\n"
        "\n"
        ".balign 16\n"
        ".globl ringfold_x87_stubs\n"
        ".hidden ringfold_x87_stubs\n"
        "ringfold_x87_stubs:\n"
        ".set .Lx87_op, 0\n"
        ".rept 8\n"
        ".set .Lx87_m, 0\n"
        ".rept 256\n"
        ".balign 16\n"
        ".byte 0xf3, 0x0f, 0x1e, 0xfa\n" /* endbr64 */
        ".if (.Lx87_m >> 6) == 3\n"
        ".byte 0xd8 + .Lx87_op, .Lx87_m\n"
        ".else\n"
        ".byte 0xd8 + .Lx87_op, (.Lx87_m & 0x38) | 0x06\n" /* [rsi] */
        ".endif\n"
        "jmp .Lringfold_x87_done\n"
        ".set .Lx87_m, .Lx87_m + 1\n"
        ".endr\n"
        ".set .Lx87_op, .Lx87_op + 1\n"
        ".endr\n"
        ".popsection\n");

uint64_t ringfold_x87_call(void *image, void *operand, const void *stub, uint64_t flags);
extern const unsigned char ringfold_x87_stubs[];

uint64_t x87_native_exec(struct x87_native *n, unsigned opcode, unsigned modrm, uint64_t rflags)
{
	const unsigned char *stub =
	    ringfold_x87_stubs + (((opcode - 0xd8) & 7) * 256 + (modrm & 0xff)) * 16;
	return ringfold_x87_call(n->image, n->operand, stub, rflags);
}

static inline void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}
static inline uint16_t get16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

void x87_native_load(struct x87_native *n, const struct cpu_fpu *f)
{
	memset(n->image, 0, sizeof n->image);
	put16(n->image + 0, f->fcw);
	put16(n->image + 2, f->fsw);
	n->image[4] = f->ftw;
	unsigned top = x87_top(f);
	for (unsigned k = 0; k < 8; k++) {
		const struct cpu_x87_reg *r = &f->st[(top + k) & 7];
		memcpy(n->image + 32 + 16 * k, &r->significand, 8);
		put16(n->image + 40 + 16 * k, r->sign_exp);
	}
}

void x87_native_store(const struct x87_native *n, struct cpu_fpu *f)
{
	f->fsw = get16(n->image + 2);
	f->ftw = n->image[4];
	unsigned top = x87_top(f);
	for (unsigned k = 0; k < 8; k++) {
		struct cpu_x87_reg *r = &f->st[(top + k) & 7];
		memcpy(&r->significand, n->image + 32 + 16 * k, 8);
		r->sign_exp = get16(n->image + 40 + 16 * k);
	}
}
