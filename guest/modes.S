/* Code for the other operating modes, run by checks_modes.c:
 *
 * - compat_call / compat_jump: 64-bit code far-calls (and far-jumps) into
 *   32-bit code (CS 0x30) under long mode and back with a 32-bit RETF;
 * - pm16_call: a far call into a 16-bit code segment (the private GDT's
 *   XSEL_CODE16, based at pm16_start) returning with a 32-bit RETF;
 * - mode_tour: out of long mode into 32-bit protected mode with paging
 *   off, optionally 32-bit paging on (a 4 KiB alias read and written) and
 *   optionally down to real mode (the blob copied to REAL_BASE: 16-bit
 *   protected mode, PE cleared, a computation, INT 0x42 through a private
 *   IVT, a far call, PE set again), then back up into long mode;
 * - seglim_*: 32-bit code that touches memory through the small segments of
 *   the private GDT, for the segment-limit check;
 * - the debug-register probes and the call-gate user program.
 *
 * Interrupts are off throughout (the checks run with IF clear); the
 * 64-bit IDT stays loaded in long and compatibility mode, so faults there
 * reach fault_try(); outside long mode nothing may fault. */
#include "modes.h"

	.text
	.code64

/* ---------------------------------------------------------------------------
 * uint64_t compat_call(uint32_t a, uint32_t b): in 32-bit code, INC EAX with
 * its one-byte form (0x40, a REX prefix in 64-bit mode), a 32-bit PUSH/POP
 * (the ESP delta comes back in EDX), EAX = EAX * 3 + b. Returns EDX:EAX. */
	.global compat_call
compat_call:
	pushq %rbx
	movl %edi, %eax
	movl %esi, %ebx
	lcall *compat_ptr(%rip)
	shlq $32, %rdx
	movl %eax, %eax
	orq %rdx, %rax
	popq %rbx
	ret

	.code32
compat32:
	.byte 0x40		/* inc %eax: only outside 64-bit mode */
	movl %esp, %edx
	pushl %ebx
	subl %esp, %edx		/* 4: a 32-bit push */
	popl %ebx
	leal (%eax,%eax,2), %eax
	addl %ebx, %eax
	lret			/* 32-bit: EIP, CS */

/* uint32_t compat_jump(uint32_t a): a far JMP to 32-bit code, which
 * far-jumps back to 64-bit code; returns a ^ 0x5a5a5a5a. */
	.code64
	.global compat_jump
compat_jump:
	movl %edi, %eax
	ljmp *compat_jmp_ptr(%rip)
compat_jump_back:
	ret
	.code32
compat32_jump:
	xorl $0x5a5a5a5a, %eax
	ljmp $SEL_KCODE, $compat_jump_back

/* ---------------------------------------------------------------------------
 * uint64_t pm16_call(uint32_t a, uint32_t b): 16-bit protected mode (CS the
 * private GDT's XSEL_PM16, based at pm16_start) with DS a 16-bit data
 * segment (XSEL_PM16_DATA): AX = a + b (16-bit), stored
 * through [bx] and read back through [bx+si+2]; a 16-bit PUSH moves ESP by
 * 2 (in EDX). Returns EDX << 32 | CX << 16 | AX. */
	.code64
	.global pm16_call
pm16_call:
	pushq %rbx
	lcall *pm16_ptr(%rip)
	shlq $32, %rdx
	shll $16, %ecx
	movzwl %ax, %eax
	orl %ecx, %eax
	orq %rdx, %rax
	popq %rbx
	ret

	.code16
	.global pm16_start
pm16_start:
	movw %di, %ax
	addw %si, %ax
	movw $XSEL_PM16_DATA, %bx
	movw %bx, %ds
	movw $0x10, %bx
	movw %ax, (%bx)			/* [bx] */
	movw $4, %si
	movw (%bx), %cx
	movw %cx, 2(%bx,%si)		/* [bx+si+2] */
	movw 2(%bx,%si), %cx
	movl %esp, %edx
	pushw %cx
	subl %esp, %edx			/* 2: a 16-bit push */
	popw %cx
	movw $SEL_KDATA, %bx
	movw %bx, %ds
	lretl				/* 32-bit: EIP, CS */

/* ---------------------------------------------------------------------------
 * void mode_tour(uint32_t flags), TOUR_PAGING32 / TOUR_REAL. Results in
 * struct tour_result tour (checks_modes.c) and, from real mode, in the
 * blob at REAL_BASE. Callee-saved registers and every control register are
 * saved in memory: nothing 64-bit survives the trip in a register. */
	.code64
	.global mode_tour
mode_tour:
	movq %rbx, tour_save+0(%rip)
	movq %rbp, tour_save+8(%rip)
	movq %r12, tour_save+16(%rip)
	movq %r13, tour_save+24(%rip)
	movq %r14, tour_save+32(%rip)
	movq %r15, tour_save+40(%rip)
	movq %rsp, tour_save+48(%rip)
	movl %edi, tour_flags(%rip)
	movq %cr0, %rax
	movl %eax, tour_cr0(%rip)
	movq %cr3, %rax
	movl %eax, tour_cr3(%rip)
	movq %cr4, %rax
	movl %eax, tour_cr4(%rip)
	movl $0xc0000080, %ecx
	rdmsr
	movl %eax, tour_efer(%rip)
	movl %edx, tour_efer+4(%rip)
	ljmp *tour_to32_ptr(%rip)

	.code32
tour32:
	/* Compatibility mode. Paging off leaves long mode (EFER.LMA = 0). */
	movl %cr0, %eax
	andl $0x7fffffff, %eax
	movl %eax, %cr0
	jmp 1f
1:	movl $0xc0000080, %ecx
	rdmsr
	movl %eax, tour+TOUR_EFER
	movl %cr0, %eax
	movl %eax, tour+TOUR_CR0
	xorl %eax, %eax			/* 1 + 2 + ... + 1000, 32-bit */
	movl $1000, %ecx
2:	addl %ecx, %eax
	loop 2b
	movl %eax, tour+TOUR_SUM

	testl $TOUR_PAGING32, tour_flags
	jz 3f
	/* 32-bit paging: LME off, PAE off, PSE on, CR3 = the page directory */
	movl $0xc0000080, %ecx
	rdmsr
	andl $~0x100, %eax
	wrmsr
	movl %cr4, %eax
	andl $~0x20, %eax
	orl $0x10, %eax
	movl %eax, %cr4
	movl tour+TOUR_PD, %eax
	movl %eax, %cr3
	movl %cr0, %eax
	orl $0x80000000, %eax
	movl %eax, %cr0
	jmp 4f
4:	movl %cr0, %eax
	movl %eax, tour+TOUR_CR0_PG
	movl $TOUR_ALIAS_VA, %ebx	/* the alias of the scratch page */
	movl (%ebx), %eax
	movl %eax, tour+TOUR_ALIAS_READ
	movl $0x600dcafe, 4(%ebx)	/* written through the alias */
	movl %cr0, %eax
	andl $0x7fffffff, %eax
	movl %eax, %cr0
	jmp 3f

3:	testl $TOUR_REAL, tour_flags
	jz 5f
	movl %esp, tour_esp32
	ljmp $XSEL_CODE16, $REAL_BASE	/* real16_entry is the blob's first byte */
	.global tour_back32
tour_back32:
	movw $SEL_KDATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl tour_esp32, %esp

5:	/* back up: CR4 (PAE), CR3, EFER (LME), CR0 (PG): long mode again,
	 * still in 32-bit code, then a far jump to 64-bit code */
	movl tour_cr4, %eax
	movl %eax, %cr4
	movl tour_cr3, %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx
	movl tour_efer, %eax
	andl $~0x400, %eax		/* LMA is the CPU's to set */
	movl tour_efer+4, %edx
	wrmsr
	movl tour_cr0, %eax
	movl %eax, %cr0
	ljmp $SEL_KCODE, $tour64

	.code64
tour64:
	lidt idt_ptr(%rip)		/* real mode had its own IVT */
	movw $SEL_KDATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movq tour_save+48(%rip), %rsp
	movq tour_save+0(%rip), %rbx
	movq tour_save+8(%rip), %rbp
	movq tour_save+16(%rip), %r12
	movq tour_save+24(%rip), %r13
	movq tour_save+32(%rip), %r14
	movq tour_save+40(%rip), %r15
	ret

/* The real-mode excursion, copied to REAL_BASE (R() is an address there).
 * Entered in 16-bit protected mode from tour32. */
#define R(x) (REAL_BASE + (x) - real_blob_start)
	.code16
	.global real_blob_start, real_blob_end
real_blob_start:
	movw $XSEL_DATA16, %ax		/* caches real mode can live with */
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl %cr0, %eax
	andl $~1, %eax
	movl %eax, %cr0
	ljmp $0, $R(real_mode)
real_mode:
	xorw %ax, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw $R(real_stack_top), %sp
	lidt R(real_idtr)
	movw $R(real_int42), REAL_IVT + 0x42 * 4
	movw $0, REAL_IVT + 0x42 * 4 + 2
	xorw %ax, %ax			/* 1 + 2 + ... + 100, 16-bit */
	movw $100, %cx
1:	addw %cx, %ax
	loop 1b
	movw %ax, R(real_res_sum)
	movw $0x1111, %bx
	int $0x42
real_after_int:
	movw %bx, R(real_res_bx)
	lcall $(REAL_BASE >> 4), $(real_far - real_blob_start)
	movw %dx, R(real_res_far_cs)
	movw %cs, %ax
	movw %ax, R(real_res_cs)
	movl %cr0, %eax
	movw %ax, R(real_res_cr0)
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $SEL_KCODE32, $tour_back32
real_int42:
	movw %sp, %bp
	movw 0(%bp), %ax
	movw %ax, R(real_res_int_ip)
	movw 2(%bp), %ax
	movw %ax, R(real_res_int_cs)
	movw 4(%bp), %ax
	movw %ax, R(real_res_int_flags)
	movw $0x4242, %bx
	iret
real_far:
	movw %cs, %dx
	lret
	.balign 4
real_idtr:
	.word 0x3ff
	.long REAL_IVT
	.balign 2
	.global real_res_sum, real_res_bx, real_res_far_cs, real_res_cs, real_res_cr0
	.global real_res_int_ip, real_res_int_cs, real_res_int_flags, real_after_int_off
real_res_sum: .word 0
real_res_bx: .word 0
real_res_far_cs: .word 0
real_res_cs: .word 0
real_res_cr0: .word 0
real_res_int_ip: .word 0
real_res_int_cs: .word 0
real_res_int_flags: .word 0
real_after_int_off: .word R(real_after_int)
	.balign 16
	.skip 256
real_stack_top:
real_blob_end:
#undef R

/* ---------------------------------------------------------------------------
 * Segment limits, in 32-bit code reached by a far call from 64-bit code
 * (seglim_call(fn, sel, off)): fn runs with EDI = the selector, ESI = the
 * offset, and returns EAX with a 32-bit RETF. */
	.code64
	.global seglim_call
seglim_call:
	pushq %rbx
	movl %edi, seglim_ptr(%rip)
	movl %esi, %edi
	movl %edx, %esi
	lcall *seglim_ptr(%rip)
	popq %rbx
	ret

	.code32
/* A dword at DS:ESI, DS = EDI. */
	.global seglim_read_ds, seglim_read_ds_insn
seglim_read_ds:
	movw %di, %ds
seglim_read_ds_insn:
	movl (%esi), %eax
	movw $SEL_KDATA, %bx
	movw %bx, %ds
	lret
/* A push with SS = EDI, ESP = ESI (restored after). */
	.global seglim_push_ss, seglim_push_ss_insn
seglim_push_ss:
	movl %esp, seglim_esp
	movw %ss, %bx
	movw %di, %ss
	movl %esi, %esp
seglim_push_ss_insn:
	pushl %eax
	movw %bx, %ss
	movl seglim_esp, %esp
	xorl %eax, %eax
	lret
/* A far jump into the code segment EDI (based at seglim_code, limit
 * SEGLIM_CODE_LIMIT), whose last instruction crosses the limit. */
	.global seglim_jump_cs
seglim_jump_cs:
	movl %esp, seglim_esp
	movl %edi, seglim_code_ptr+4
	ljmp *seglim_code_ptr
	.global seglim_code, seglim_code_insn
seglim_code:
	.fill SEGLIM_CODE_LIMIT - 1, 1, 0x90
seglim_code_insn:
	movl $1, %eax			/* 5 bytes: only two are inside */
	ljmp $SEL_KCODE32, $seglim_code_out
seglim_code_out:
	movl seglim_esp, %esp
	lret

/* ---------------------------------------------------------------------------
 * A spin of RDI iterations timed with the TSC, at CPL0 (kernel_spin returns
 * the cycles) and at CPL3 (user_spin: R12/R13 = the TSC before and after),
 * to tell a hypervisor that emulates ring 0 (kvm_pvm) from one that runs
 * it natively or emulates everything. */
	.code64
	.global kernel_spin, user_spin
kernel_spin:
	pushq %rbx
	movq %rdi, %rbx
	rdtsc
	shlq $32, %rdx
	orq %rdx, %rax
	movq %rax, %rsi
1:	decq %rbx
	jnz 1b
	rdtsc
	shlq $32, %rdx
	orq %rdx, %rax
	subq %rsi, %rax
	popq %rbx
	ret
user_spin:
	rdtsc
	shlq $32, %rdx
	orq %rdx, %rax
	movq %rax, %r12
1:	decq %rdi
	jnz 1b
	rdtsc
	shlq $32, %rdx
	orq %rdx, %rax
	movq %rax, %r13
	jmp user_exit_insn

/* ---------------------------------------------------------------------------
 * Debug-register probes (64-bit, CPL0), labelled where #DB must report. */
	.code64
	.global dbg_exec, dbg_exec_insn
dbg_exec:
	movl $1, %eax
dbg_exec_insn:
	addl $1, %eax		/* the instruction breakpoint */
	ret
	.global dbg_write, dbg_write_after
dbg_write:			/* (addr, value) */
	movl %esi, (%rdi)
dbg_write_after:
	ret
	.global dbg_read, dbg_read_after
dbg_read:			/* (addr) */
	movl (%rdi), %eax
dbg_read_after:
	ret
	.global dbg_step, dbg_step_1, dbg_step_2, dbg_step_3
dbg_step:
	pushfq
	orq $0x100, (%rsp)
	popfq			/* TF takes effect after the next instruction */
	nop
dbg_step_1:
	nop
dbg_step_2:
	nop
dbg_step_3:
	pushfq
	andq $~0x100, (%rsp)
	popfq
	ret

/* CPL3: a far call through the call gate XSEL_GATE|3; R12 = DS before,
 * R13 = DS, R14 = CS, R15 = SS after the return. */
	.global user_callgate, user_callgate_ret
user_callgate:
	movq %ds, %r12
	lcall *user_gate_ptr(%rip)
user_callgate_ret:
	movq %ds, %r13
	movq %cs, %r14
	movq %ss, %r15
	jmp user_exit_insn
user_gate_ptr:
	.long 0xdeadbeef	/* ignored: the gate gives the offset */
	.word XSEL_GATE | 3

/* The gate's target, at CPL0: what the CPU handed over, in gate_seen;
 * then a DPL0 DS, which the RETFQ to CPL3 must make null. */
	.global gate_target
gate_target:
	movw %cs, gate_seen+GATE_CS(%rip)
	movw %ss, gate_seen+GATE_SS(%rip)
	movq %rsp, gate_seen+GATE_RSP(%rip)
	movq 0(%rsp), %rax
	movq %rax, gate_seen+GATE_FRAME(%rip)
	movq 8(%rsp), %rax
	movq %rax, gate_seen+GATE_FRAME+8(%rip)
	movq 16(%rsp), %rax
	movq %rax, gate_seen+GATE_FRAME+16(%rip)
	movq 24(%rsp), %rax
	movq %rax, gate_seen+GATE_FRAME+24(%rip)
	movw $SEL_KDATA, %ax
	movw %ax, %ds
	lretq

	.data
	.balign 8
compat_ptr:
	.long compat32
	.word SEL_KCODE32
	.balign 8
compat_jmp_ptr:
	.long compat32_jump
	.word SEL_KCODE32
	.balign 8
pm16_ptr:
	.long 0
	.word XSEL_PM16
	.balign 8
tour_to32_ptr:
	.long tour32
	.word SEL_KCODE32
	.balign 8
seglim_ptr:
	.long 0			/* the 32-bit function goes here */
	.word SEL_KCODE32
	.balign 8
seglim_code_ptr:
	.long 0
	.word 0			/* the limited code segment goes here */
	.word 0
	.balign 8
tour_save: .skip 56
tour_flags: .long 0
tour_cr0: .long 0
tour_cr3: .long 0
tour_cr4: .long 0
tour_efer: .quad 0
tour_esp32: .long 0
seglim_esp: .long 0

	.section .note.GNU-stack, "", @progbits
