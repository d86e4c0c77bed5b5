/* Interrupt entry stubs (16 bytes each, one per vector), the common
 * save/restore path around trap_dispatch(), the fault_try() recovery
 * point, the CPL3 entry through IRETQ and the SYSCALL entry. */

	.text
	.code64

/* One 16-byte stub per vector: push a zero error code where the CPU
 * pushes none, push the vector, join isr_common. */
	.balign 16
	.global isr_stubs
isr_stubs:
	.set vec, 0
	.rept 256
	.balign 16
	.if (vec == 8) || (vec == 10) || (vec == 11) || (vec == 12) || (vec == 13) || (vec == 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	/* the CPU pushed an error code */
	.else
	pushq $0
	.endif
	pushq $vec
	jmp isr_common
	.set vec, vec + 1
	.endr

isr_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	cld
	movq %rsp, %rdi
	call trap_dispatch
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp
	iretq

/* int fault_try(fn, a0, a1, a2, a3, a4): the trap handler resumes at
 * fault_try_recover with RSP = try_rsp when fn faults. */
	.global fault_try
fault_try:
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	subq $8, %rsp
	movq %rsp, try_rsp(%rip)
	movb $1, try_armed(%rip)
	movq %rdi, %rax
	movq %rsi, %rdi
	movq %rdx, %rsi
	movq %rcx, %rdx
	movq %r8, %rcx
	movq %r9, %r8
	call *%rax
	movb $0, try_armed(%rip)
	movq %rax, try_result(%rip)
	xorl %eax, %eax
	jmp 1f
	.global fault_try_recover
fault_try_recover:
	/* An IRETQ to CPL3 nulls DS/ES (their DPL is 0): put them back. */
	movw $0x10, %cx
	movw %cx, %ds
	movw %cx, %es
	movl $1, %eax
1:	addq $8, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbp
	popq %rbx
	ret

/* enter_user(rip, rsp, a0, a1, a2): IRETQ to CPL3. Never returns; the CPL3
 * code ends at user_exit_insn (or a fault), caught by fault_try. */
	.global enter_user
enter_user:
	pushq $0x23       /* SS: user data, RPL 3 */
	pushq %rsi        /* RSP */
	pushq $0x202      /* RFLAGS: IF */
	pushq $0x2b       /* CS: user code, RPL 3 */
	pushq %rdi        /* RIP */
	movq %rdx, %rdi
	movq %rcx, %rsi
	movq %r8, %rdx
	xorl %eax, %eax
	xorl %ebx, %ebx
	xorl %ecx, %ecx
	xorl %ebp, %ebp
	iretq

/* SYSCALL lands here at CPL0 on the caller's stack (no stack switch):
 * record what the CPU handed over (RCX, R11, RFLAGS after SFMASK, CS) and
 * return with SYSRET. */
	.global syscall_entry
syscall_entry:
	movq %rcx, sc_rcx(%rip)
	movq %r11, sc_r11(%rip)
	pushfq
	popq sc_rflags(%rip)
	incq sc_count(%rip)
	movw %cs, sc_cs(%rip)
	.global syscall_sysret_insn
syscall_sysret_insn:
	sysretq

	.data
	.balign 8
	.global try_rsp, try_armed, try_result, sc_rcx, sc_r11, sc_rflags, sc_count
try_rsp: .quad 0
try_result: .quad 0
sc_rcx: .quad 0
sc_r11: .quad 0
sc_rflags: .quad 0
sc_count: .quad 0
	.global sc_cs
sc_cs: .word 0
try_armed: .byte 0

	.section .note.GNU-stack, "", @progbits
