/* The test kernel's instructions-per-second loop (command line `ips=N`,
 * ips.c): N iterations of exactly IPS_LOOP_INSNS instructions of the kind
 * the kernel's own C code is made of (loads and stores, a call and a
 * return, push and pop, multiply, compare and branch), at CPL3 so that a
 * hardware-assisted VMM runs it natively. Entered through run_user() with
 * RDI = N; ends at user_exit_insn. */
#include "ipsloop.h"

	.text
	.code64
	.global user_ips_loop
user_ips_loop:
	leaq ips_cell(%rip), %rsi
	xorl %eax, %eax
	.balign 16
1:	movq (%rsi), %rax		/* 1 */
	addq %rdi, %rax			/* 2 */
	movq %rax, 8(%rsi)		/* 3 */
	call ips_leaf			/* 4, 5, 6 */
	pushq %rax			/* 7 */
	popq %rdx			/* 8 */
	cmpq %rdx, %rax			/* 9 */
	jne 2f				/* 10: never taken */
	decq %rdi			/* 11 */
	jnz 1b				/* 12 */
2:	jmp user_exit_insn
ips_leaf:
	imulq $3, %rax, %rax
	ret

	.data
	.balign 16
ips_cell: .quad 1, 0

	.section .note.GNU-stack, "", @progbits
