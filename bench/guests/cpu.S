/* CPU-bound guest: a fixed compute workload in user mode (CPL3), where a
 * hardware-assisted VMM runs the guest at native speed and an emulator does
 * not. It fills BUF_SIZE bytes with xorshift64 output, builds the CRC-32
 * table and runs the usual table-driven CRC-32 (IEEE 802.3, as zlib's
 * crc32) over the buffer PASSES times: loads, table lookups and a serial
 * dependency chain, like real checksum code. Then it returns to CPL0
 * through a UD2 and prints on COM1
 *   crc 00000000XXXXXXXX        (the same on every correct VMM: zlib's
 *                                crc32 of the buffer repeated PASSES times)
 *   cycles NNNNNNNNNNNNNNNN     (TSC cycles of the CPL3 work, hex)
 * and exits through the debug-exit port with 0x10 (status 33).
 * Long mode via boot64.S. */
	.set COM1, 0x3f8
	.set BUF, 0x800000		/* 8 MiB, inside the identity map */
	.set CRC_TABLE, 0x700000	/* 256 x 4 bytes */
#ifndef BUF_SIZE
#define BUF_SIZE (4 << 20)
#endif
#ifndef PASSES
#define PASSES 32
#endif
	.set USTACK_TOP, 0x1c0000
	.set CRC_POLY, 0xedb88320	/* CRC-32 (IEEE 802.3), reflected */

	.section .text
	.code64
	.globl main64
main64:
	movl	$6, %edi		/* #UD: the end of the CPL3 work */
	movq	$user_done, %rsi
	xorl	%edx, %edx
	call	set_gate
	call	mask_pic
	movq	$user_work, %rdi
	movq	$USTACK_TOP, %rsi
	jmp	enter_user

/* CPL3 from here to the UD2. */
user_work:
	rdtsc				/* CPL3 may: CR4.TSD is clear */
	shlq	$32, %rdx
	orq	%rdx, %rax
	movq	%rax, %r15
	movabsq	$0x9e3779b97f4a7c15, %rax
	movq	$BUF, %rdi
	movq	$BUF_SIZE / 8, %rcx
1:	movq	%rax, %rdx
	shlq	$13, %rdx
	xorq	%rdx, %rax
	movq	%rax, %rdx
	shrq	$7, %rdx
	xorq	%rdx, %rax
	movq	%rax, %rdx
	shlq	$17, %rdx
	xorq	%rdx, %rax
	movq	%rax, (%rdi)
	addq	$8, %rdi
	decq	%rcx
	jnz	1b

	/* The CRC-32 table: entry i is i run through 8 bit-steps of the
	 * reflected polynomial, crc = (crc >> 1) ^ (POLY & -(crc & 1)). */
	xorl	%ecx, %ecx
1:	movl	%ecx, %eax
	.rept 8
	movl	%eax, %edx
	andl	$1, %edx
	negl	%edx
	andl	$CRC_POLY, %edx
	shrl	$1, %eax
	xorl	%edx, %eax
	.endr
	movl	%eax, CRC_TABLE(,%rcx,4)
	incl	%ecx
	cmpl	$256, %ecx
	jb	1b

	/* Table-driven CRC-32 over the buffer, PASSES times without
	 * re-initialising: the CRC of the buffer repeated PASSES times. */
	movl	$0xffffffff, %eax
	movl	$PASSES, %r8d
2:	movq	$BUF, %rsi
	movq	$BUF_SIZE, %rcx
3:	movzbl	(%rsi), %edx
	xorl	%eax, %edx
	movzbl	%dl, %edx
	shrl	$8, %eax
	xorl	CRC_TABLE(,%rdx,4), %eax
	incq	%rsi
	decq	%rcx
	jnz	3b
	decl	%r8d
	jnz	2b
	notl	%eax
	movl	%eax, %ebx
	rdtsc
	shlq	$32, %rdx
	orq	%rdx, %rax
	subq	%r15, %rax
	movq	%rax, %r15		/* TSC cycles of the CPL3 work */
user_exit:
	ud2			/* back to CPL0: see user_done */

/* CPL0, #UD: if it is user_exit's, report the CRC and end the VM. A UD2
 * rather than INT n because kvm_pvm does not deliver software interrupts
 * raised at CPL3 (it turns them into #UD), while exceptions work. */
user_done:
	cmpq	$user_exit, (%rsp)
	jne	fault_stubs + 6 * 16
	movq	$crc_text, %rsi
	call	puts
	movq	%rbx, %rdi
	call	puthex
	movq	$cycles_text, %rsi
	call	puts
	movq	%r15, %rdi
	call	puthex
	movb	$'\n', %al
	outb	%al, %dx
	movb	$0x10, %al
	outb	%al, $0xf4
4:	cli
	hlt
	jmp	4b

	.section .data
crc_text: .asciz "crc"
cycles_text: .asciz "\ncycles"
