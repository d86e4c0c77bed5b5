/* Idle guest: what an idle operating system does. It puts the local APIC
 * in virtual-wire mode, programs the PIT for 100 Hz, takes every timer
 * interrupt through the 8259 PIC (acknowledging it with an EOI, as a kernel
 * without a LAPIC timer does) and halts between interrupts. The harness measures the host CPU time the VMM burns and its
 * resident memory while this guest idles.
 *
 * Console (COM1): "idle\n" once the timer runs, then one '.' per 100 ticks,
 * so the harness can check that the ticks really arrive, and for the first
 * three seconds a line "tsc XXXXXXXXXXXXXXXX" (hex) before the dot. Runs at
 * CPL0 in long mode (boot64.S). */
	.set COM1, 0x3f8
	.set PIT_HZ, 1193182
	.set TICK_HZ, 100
	.set PIT_DIVISOR, (PIT_HZ + TICK_HZ / 2) / TICK_HZ
	.set IRQ0_VECTOR, 0x20
	.set TSC_SAMPLES, 3
	.set LAPIC_BASE, 0xfee00000

	.section .text
	.code64
	.globl main64
main64:
	movl	$IRQ0_VECTOR, %edi
	movq	$timer_irq, %rsi
	xorl	%edx, %edx
	call	set_gate
	movl	$0xff, %edi		/* the LAPIC's spurious vector: ignore */
	movq	$spurious_irq, %rsi
	xorl	%edx, %edx
	call	set_gate

	/* 8259 pair: ICW1..ICW4, master vectors 0x20-0x27, slave 0x28-0x2f,
	 * slave on IRQ2, 8086 mode, normal EOI; mask everything but IRQ0. */
	movb	$0x11, %al
	outb	%al, $0x20
	outb	%al, $0xa0
	movb	$IRQ0_VECTOR, %al
	outb	%al, $0x21
	movb	$IRQ0_VECTOR + 8, %al
	outb	%al, $0xa1
	movb	$0x04, %al
	outb	%al, $0x21
	movb	$0x02, %al
	outb	%al, $0xa1
	movb	$0x01, %al
	outb	%al, $0x21
	outb	%al, $0xa1
	movb	$0xfe, %al
	outb	%al, $0x21
	movb	$0xff, %al
	outb	%al, $0xa1

	/* Local APIC in virtual-wire mode, as a PC BIOS leaves it: enabled
	 * (spurious vector register), LINT0 = ExtINT, so the 8259's output
	 * reaches the CPU. Firmware that does not (QEMU microvm's qboot)
	 * would otherwise keep every PIC interrupt away. */
	movl	$LAPIC_BASE, %edi
	movl	$0x1ff, 0xf0(%rdi)		/* SVR: enable, spurious 0xff */
	movl	$0x700, 0x350(%rdi)		/* LVT LINT0: ExtINT, unmasked */

	/* PIT channel 0: lobyte/hibyte access, mode 2 (rate generator). */
	movb	$0x34, %al
	outb	%al, $0x43
	movb	$PIT_DIVISOR & 0xff, %al
	outb	%al, $0x40
	movb	$PIT_DIVISOR >> 8, %al
	outb	%al, $0x40

	movq	$hello, %rsi
	movw	$COM1, %dx
1:	lodsb
	testb	%al, %al
	jz	2f
	outb	%al, %dx
	jmp	1b
2:	sti
idle_loop:
	hlt
	jmp	idle_loop

/* A spurious LAPIC interrupt needs no EOI. */
spurious_irq:
	iretq

/* IRQ0: count the tick, print a dot every TICK_HZ ticks (one second), EOI.
 * At the first TSC_SAMPLES seconds it also prints "tsc" and the TSC: the
 * harness divides the difference by the second to learn the rate of this
 * VMM's guest TSC, which need not be the host's (ringfold soft runs it at
 * a fixed rate), and converts the guests' cycle counts into time. */
timer_irq:
	pushq	%rax
	pushq	%rdx
	incl	ticks
	cmpl	$TICK_HZ, ticks
	jb	2f
	movl	$0, ticks
	cmpl	$TSC_SAMPLES, seconds
	jae	1f
	incl	seconds
	pushq	%rcx
	pushq	%rsi
	pushq	%rdi
	rdtsc
	shlq	$32, %rdx
	orq	%rax, %rdx
	movq	%rdx, %rdi
	movq	$tsc_text, %rsi
	call	puts
	call	puthex
	movw	$COM1, %dx
	movb	$'\n', %al
	outb	%al, %dx
	popq	%rdi
	popq	%rsi
	popq	%rcx
1:	movw	$COM1, %dx
	movb	$'.', %al
	outb	%al, %dx
2:	movb	$0x20, %al
	outb	%al, $0x20
	popq	%rdx
	popq	%rax
	iretq

	.section .data
ticks:	.long 0
seconds: .long 0
hello:	.asciz "idle\n"
tsc_text: .asciz "tsc"
