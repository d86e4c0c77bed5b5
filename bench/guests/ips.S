/* Instructions-per-second guest: an integer loop of exactly 8 instructions
 * per iteration, run N times at CPL3 (where a hardware-assisted VMM runs it
 * natively; an emulator interprets it like any other code), then a UD2
 * back to CPL0, "ips 8 N" (both in hex) on COM1 and the debug exit with
 * 0x10 (status 33). N comes from "n=DECIMAL" on the Multiboot command
 * line (default 1000000). No TSC: bench/run.sh boots the guest with two
 * values of N and divides the difference in instructions by the difference
 * in host wall time, which cancels boot and exit. The loop is ALU work
 * with a dependency chain through every register (add, xor, rotate, lea,
 * imul, sub) and the counted branch. Long mode via boot64.S. */
	.set USTACK_TOP, 0x1c0000
	.set DEFAULT_ITERS, 1000000

	.section .text
	.code64
	.globl main64
main64:
	movl	$6, %edi		/* #UD: the end of the CPL3 work */
	movq	$user_done, %rsi
	xorl	%edx, %edx
	call	set_gate
	call	mask_pic
	call	parse_n
	movq	$user_work, %rdi
	movq	$USTACK_TOP, %rsi
	jmp	enter_user

/* iters = the number after "n=" at the start of a word of the command line
 * (flags bit 2 of the Multiboot information), or DEFAULT_ITERS. */
parse_n:
	movq	$DEFAULT_ITERS, iters
	movl	mb_info, %esi
	testl	%esi, %esi
	jz	9f
	testl	$4, (%rsi)
	jz	9f
	movl	16(%rsi), %esi
	testl	%esi, %esi
	jz	9f
	movb	$' ', %cl		/* the character before */
1:	movb	(%rsi), %al
	testb	%al, %al
	jz	9f
	cmpb	$' ', %cl
	jne	2f
	cmpb	$'n', %al
	jne	2f
	cmpb	$'=', 1(%rsi)
	je	3f
2:	movb	%al, %cl
	incq	%rsi
	jmp	1b
3:	addq	$2, %rsi
	xorl	%r8d, %r8d
4:	movzbl	(%rsi), %eax
	subl	$'0', %eax
	cmpl	$9, %eax
	ja	5f
	imulq	$10, %r8
	addq	%rax, %r8
	incq	%rsi
	jmp	4b
5:	testq	%r8, %r8
	jz	9f
	movq	%r8, iters
9:	ret

user_work:
	movq	iters, %rdi
	movl	$1, %eax
	movl	$3, %ebx
	movl	$5, %ecx
	.balign 16
1:	addq	%rbx, %rax		/* 8 instructions per iteration */
	xorq	%rax, %rcx
	rolq	$7, %rcx
	leaq	(%rcx,%rax,2), %rdx
	imulq	%rdx, %rbx
	subq	%rcx, %rbx
	decq	%rdi
	jnz	1b
user_exit:
	ud2

/* CPL0, #UD: if it is user_exit's, report and end the VM. */
user_done:
	cmpq	$user_exit, (%rsp)
	jne	fault_stubs + 6 * 16
	movq	$done_text, %rsi
	call	puts
	movl	$8, %edi		/* instructions per iteration */
	call	puthex
	movq	iters, %rdi
	call	puthex
	movb	$'\n', %al
	outb	%al, %dx
	movb	$0x10, %al
	outb	%al, $0xf4
6:	cli
	hlt
	jmp	6b

	.section .data
	.balign 8
iters: .quad 0
done_text: .asciz "ips"
