/* Shared start of the 64-bit benchmark guests (idle, cpu, ips): a Multiboot v1
 * header, then the switch from the loader's 32-bit protected mode to long
 * mode with the first 32 MiB identity-mapped by 2 MiB pages that CPL3 may
 * use (plus the local APIC page), a GDT with kernel and user segments laid
 * out like the test kernel's, a TSS (for the CPL3 -> CPL0 stack switch) and
 * an IDT whose exception gates report any unexpected fault on COM1 and exit
 * with status 35. It ends by jumping to the guest's main64.
 *
 * Long mode rather than 32-bit mode because the instruction emulator of a
 * software hypervisor (kvm_pvm here) may only handle 64-bit CPL0 code: a
 * 32-bit IRET fails there with an emulation error. Everything is static data
 * so the few CPL0 instructions that set it up cost almost nothing on a
 * hypervisor that emulates CPL0 (about 1 us per instruction).
 *
 * Link this object first, at 1 MiB; then rewrite as ELF32 (objcopy) because
 * Multiboot loaders only accept 32-bit ELF images. */
	.set KSTACK_TOP, 0x180000	/* below 1.5 MiB: free RAM above the image */
	.set SEL_KCODE, 0x08
	.set SEL_KDATA, 0x10
	.set SEL_UDATA, 0x20 | 3
	.set SEL_UCODE, 0x28 | 3
	.set SEL_TSS, 0x30

	.section .text
	.code32
	.globl _start

	.balign 4
multiboot_header:
	.long 0x1BADB002
	.long 0x00000000
	.long -(0x1BADB002 + 0x00000000)

_start:
	cli
	movl	%ebx, mb_info		/* the Multiboot information, for main64 */
	lgdt	gdt_pointer
	movl	$pml4, %eax
	movl	%eax, %cr3
	movl	%cr4, %eax
	orl	$0x20, %eax		/* CR4.PAE */
	movl	%eax, %cr4
	movl	$0xc0000080, %ecx	/* EFER */
	rdmsr
	orl	$0x100, %eax		/* EFER.LME */
	wrmsr
	movl	%cr0, %eax
	orl	$0x80000001, %eax	/* CR0.PG | CR0.PE */
	movl	%eax, %cr0
	ljmp	$SEL_KCODE, $long_mode

	.code64
long_mode:
	movl	$SEL_KDATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	xorl	%eax, %eax
	movl	%eax, %fs
	movl	%eax, %gs
	movq	$KSTACK_TOP, %rsp
	movl	$tss, %eax		/* the descriptor's base is split in three */
	movw	%ax, gdt_tss + 2
	shrl	$16, %eax
	movb	%al, gdt_tss + 4
	movb	%ah, gdt_tss + 7
	movl	$SEL_TSS, %eax
	ltr	%ax
	lidt	idt_pointer

	/* Gates for the 32 exception vectors: an unexpected exception prints
	 * "fault VECTOR ERROR RIP" on COM1 and ends the VM with 0x11 (status
	 * 35), so a VMM that mishandles the guest is reported, not timed. */
	xorl	%ebx, %ebx
1:	movl	%ebx, %edi
	movq	$fault_stubs, %rsi
	movl	%ebx, %eax
	shll	$4, %eax
	addq	%rax, %rsi
	xorl	%edx, %edx
	call	set_gate
	incl	%ebx
	cmpl	$32, %ebx
	jb	1b
	jmp	main64

/* One 16-byte stub per exception vector: push a zero error code where the
 * CPU pushes none, push the vector, go to fault_report. */
	.balign 16
	.globl fault_stubs
fault_stubs:
	.set vector, 0
	.rept 32
	.balign 16
	.if vector == 8 || (vector >= 10 && vector <= 14) || vector == 17 || vector == 21
	.else
	pushq	$0
	.endif
	pushq	$vector
	jmp	fault_report
	.set vector, vector + 1
	.endr

fault_report:
	movq	$fault_text, %rsi
	call	puts
	popq	%rdi			/* vector */
	call	puthex
	popq	%rdi			/* error code */
	call	puthex
	popq	%rdi			/* rip */
	call	puthex
	movb	$'\n', %al
	movw	$0x3f8, %dx
	outb	%al, %dx
	movb	$0x11, %al
	outb	%al, $0xf4
2:	cli
	hlt
	jmp	2b

/* puts(string %rsi) on COM1. */
	.globl puts
puts:
	movw	$0x3f8, %dx
1:	lodsb
	testb	%al, %al
	jz	2f
	outb	%al, %dx
	jmp	1b
2:	ret

/* puthex(value %rdi): " " and 16 hex digits on COM1. */
	.globl puthex
puthex:
	movw	$0x3f8, %dx
	movb	$' ', %al
	outb	%al, %dx
	movl	$16, %ecx
1:	rolq	$4, %rdi
	movl	%edi, %eax
	andl	$0xf, %eax
	movb	hexdigits(%rax), %al
	outb	%al, %dx
	decl	%ecx
	jnz	1b
	ret

/* mask_pic(): mask every line of both 8259s. */
	.globl mask_pic
mask_pic:
	movb	$0xff, %al
	outb	%al, $0x21
	outb	%al, $0xa1
	ret

/* set_gate(vector %edi, handler %rsi, dpl %edx): a 64-bit interrupt gate. */
	.globl set_gate
set_gate:
	shll	$4, %edi
	addq	$idt, %rdi
	movw	%si, (%rdi)
	movw	$SEL_KCODE, 2(%rdi)
	shll	$13, %edx
	orl	$0x8e00, %edx		/* present, 64-bit interrupt gate */
	movw	%dx, 4(%rdi)
	shrq	$16, %rsi
	movw	%si, 6(%rdi)
	shrq	$16, %rsi
	movl	%esi, 8(%rdi)
	movl	$0, 12(%rdi)
	lidt	idt_pointer
	ret

/* enter_user(rip %rdi, rsp %rsi): IRETQ to CPL3. RFLAGS.IF is set because a
 * hypervisor that runs guest CPL3 code as host user code (kvm_pvm) cannot
 * run it with interrupts off; mask_pic() first keeps firmware-programmed
 * timers (SeaBIOS leaves the PIT at 18.2 Hz) from interrupting. */
	.globl enter_user
enter_user:
	pushq	$SEL_UDATA
	pushq	%rsi
	pushq	$0x202
	pushq	$SEL_UCODE
	pushq	%rdi
	iretq

	.section .data
	.globl mb_info
	.balign 4
mb_info: .long 0
fault_text: .asciz "fault"
hexdigits: .ascii "0123456789abcdef"
	.balign 8
gdt:
	.quad 0
	.quad 0x00af9a000000ffff	/* 0x08: 64-bit code, DPL0 */
	.quad 0x00cf92000000ffff	/* 0x10: data, DPL0 */
	.quad 0x00cffa000000ffff	/* 0x18: 32-bit code, DPL3 (unused) */
	.quad 0x00cff2000000ffff	/* 0x20: data, DPL3 */
	.quad 0x00affa000000ffff	/* 0x28: 64-bit code, DPL3 */
gdt_tss:				/* 0x30: 64-bit TSS; base set at run time */
	.word tss_end - tss - 1
	.word 0
	.byte 0
	.byte 0x89			/* present, available 64-bit TSS */
	.byte 0
	.byte 0
	.quad 0
gdt_end:
gdt_pointer:
	.word gdt_end - gdt - 1
	.quad gdt

	.balign 8
tss:
	.long 0
	.quad KSTACK_TOP		/* RSP0: the stack for CPL3 -> CPL0 */
	.fill 90, 1, 0
	.word tss_end - tss		/* I/O bitmap offset past the limit: none */
tss_end:

	.balign 16
idt:
	.fill 512, 8, 0
idt_pointer:
	.word 256 * 16 - 1
	.quad idt

/* Identity map of the first 32 MiB with 2 MiB pages, user-accessible, and
 * of the 2 MiB around the local APIC (0xFEE00000), uncached, kernel only. */
	.balign 4096
pml4:
	.quad pdpt + 0x007		/* present, writable, user */
	.fill 511, 8, 0
pdpt:
	.quad pd + 0x007
	.quad 0, 0
	.quad pd_top + 0x007		/* the 4th GiB */
	.fill 508, 8, 0
pd_top:
	.fill 503, 8, 0
	.quad 0xfee00000 | 0x09b	/* present, writable, PWT, PCD, 2 MiB */
	.fill 8, 8, 0
pd:
	.set page, 0
	.rept 16
	.quad (page << 21) | 0x087	/* present, writable, user, 2 MiB */
	.set page, page + 1
	.endr
	.fill 512 - 16, 8, 0
