/* Instructions that fault on purpose (each marked by a label the checks
 * compare the reported RIP with) and the little CPL3 programs. CPL3 code
 * always ends by jumping to user_exit_insn, whose #UD fault_try() catches. */

	.text
	.code64

	.global probe_div0, probe_div0_insn
probe_div0:
	xorl %ecx, %ecx
	movl $1, %eax
	xorl %edx, %edx
probe_div0_insn:
	divl %ecx
	ret

	.global probe_ud, probe_ud_insn
probe_ud:
probe_ud_insn:
	ud2
	ret

	.global probe_read, probe_read_insn
probe_read:
probe_read_insn:
	movq (%rdi), %rax
	ret

	.global probe_write, probe_write_insn
probe_write:
probe_write_insn:
	movq %rsi, (%rdi)
	ret

	.global probe_load_ds, probe_load_ds_insn
probe_load_ds:
probe_load_ds_insn:
	movw %di, %ds
	movw $0x10, %ax
	movw %ax, %ds
	ret

	.global probe_call
probe_call:
	call *%rdi
	ret

/* ---- CPL3 ---- */

	.global user_exit_insn
user_exit_insn:
	ud2

	.global user_int3, user_int3_after
user_int3:
	int3
user_int3_after:
	jmp user_exit_insn

	.global user_exit_cs
user_exit_cs:
	movq %cs, %rbx
	movq %ss, %rcx
	jmp user_exit_insn

	.global user_read, user_read_insn
user_read:
user_read_insn:
	movq (%rdi), %rax
	jmp user_exit_insn

	.global user_syscall_test, user_syscall_ret
user_syscall_test:
	movq %cs, %r12
	syscall
user_syscall_ret:
	movq %cs, %r13
	pushfq
	popq %r14
	jmp user_exit_insn

/* rdi = iterations; r12/r13 = TSC before/after */
	.global user_bench_syscall
user_bench_syscall:
	movq %rdi, %rbx
	rdtsc
	shlq $32, %rdx
	orq %rax, %rdx
	movq %rdx, %r12
1:	syscall
	decq %rbx
	jnz 1b
	rdtsc
	shlq $32, %rdx
	orq %rax, %rdx
	movq %rdx, %r13
	jmp user_exit_insn

/* rdi = iterations (even), rsi/rdx = two addresses the kernel maps on
 * demand, unmapping the other one each time */
	.global user_bench_pgfault
user_bench_pgfault:
	movq %rdi, %rbx
	movq %rdx, %r14
	rdtsc
	shlq $32, %rdx
	orq %rax, %rdx
	movq %rdx, %r12
1:	movb (%rsi), %al
	movb (%r14), %al
	subq $2, %rbx
	jnz 1b
	rdtsc
	shlq $32, %rdx
	orq %rax, %rdx
	movq %rdx, %r13
	jmp user_exit_insn

/* ---- CPL0 benchmark loops ---- */

	.global bench_callret_loop
bench_callret_loop:
1:	call 2f
	decq %rdi
	jnz 1b
	ret
2:	ret

/* #DE each time: the handler steps over the 2-byte div */
	.global bench_divzero_loop, bench_divzero_insn
bench_divzero_loop:
	xorl %ecx, %ecx
1:	xorl %edx, %edx
bench_divzero_insn:
	divl %ecx
	decq %rdi
	jnz 1b
	ret

	.section .note.GNU-stack, "", @progbits
