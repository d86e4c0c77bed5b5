/* Multiboot v1 header and the 32-bit entry: the loader leaves us in flat
 * 32-bit protected mode with paging off, EAX = 0x2BADB002, EBX = the
 * Multiboot information. We build identity page tables for the low 4 GiB
 * (2 MiB pages), enter long mode and call kmain(magic, info). */

#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003 /* page-align modules, want memory information */

	.section .multiboot, "a"
	.balign 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.section .text.entry, "ax"
	.code32
	.global _start
_start:
	cli
	cld
	movl %eax, mb_magic
	movl %ebx, mb_info
	movl $boot_stack_top, %esp

	/* Zero .bss (the loader should have, but a kernel must not trust it). */
	movl $__bss_start, %edi
	movl $__bss_end, %ecx
	subl %edi, %ecx
	shrl $2, %ecx
	xorl %eax, %eax
	rep stosl

	/* PML4[0] -> PDPT, PDPT[0..3] -> four page directories of 2 MiB pages.
	 * Everything is user-accessible (CPL3 tests run kernel text and a
	 * kernel-owned stack); the top GiB (MMIO: IOAPIC, LAPIC) is uncached. */
	movl $boot_pdpt + 0x7, boot_pml4
	movl $boot_pd + 0x7, %eax
	xorl %ecx, %ecx
1:	movl %eax, boot_pdpt(,%ecx,8)
	addl $0x1000, %eax
	incl %ecx
	cmpl $4, %ecx
	jb 1b

	xorl %ecx, %ecx
2:	movl %ecx, %eax
	shll $21, %eax
	orl $0x87, %eax /* P W U PS */
	cmpl $1536, %ecx
	jb 3f
	orl $0x18, %eax /* PWT PCD */
3:	movl %eax, boot_pd(,%ecx,8)
	movl %ecx, %eax
	shrl $11, %eax /* bits 32+ of the address: 0 for the low 4 GiB */
	movl %eax, boot_pd+4(,%ecx,8)
	incl %ecx
	cmpl $2048, %ecx
	jb 2b

	movl $boot_pml4, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $0x20, %eax /* PAE */
	movl %eax, %cr4

	/* EFER: long mode, and NX when the CPU has it. */
	movl $0x100, %esi
	movl $0x80000000, %eax
	cpuid
	cmpl $0x80000001, %eax
	jb 4f
	movl $0x80000001, %eax
	cpuid
	testl $(1 << 20), %edx
	jz 4f
	orl $0x800, %esi
	movb $1, nx_supported
4:	movl $0xC0000080, %ecx
	rdmsr
	orl %esi, %eax
	wrmsr

	movl %cr0, %eax
	orl $0x80010001, %eax /* PG WP PE */
	movl %eax, %cr0

	lgdt gdt_ptr
	ljmp $0x08, $long_entry

	.code64
long_entry:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	xorl %eax, %eax
	movw %ax, %fs
	movw %ax, %gs
	movq $boot_stack_top, %rsp
	movl mb_magic(%rip), %edi
	movl mb_info(%rip), %esi
	call kmain
5:	cli
	hlt
	jmp 5b

	.section .data
	.balign 8
	.global gdt
gdt:
	.quad 0                  /* 0x00 null */
	.quad 0x00af9a000000ffff /* 0x08 kernel code, 64-bit */
	.quad 0x00cf92000000ffff /* 0x10 kernel data */
	.quad 0x00cffa000000ffff /* 0x18 user code, 32-bit (SYSRET layout) */
	.quad 0x00cff2000000ffff /* 0x20 user data */
	.quad 0x00affa000000ffff /* 0x28 user code, 64-bit */
	.quad 0x00cf9a000000ffff /* 0x30 kernel code, 32-bit (AP trampoline) */
	.quad 0, 0               /* 0x38 TSS, filled in by desc_init() */
gdt_end:
	.global gdt_ptr
gdt_ptr:
	.word gdt_end - gdt - 1
	.quad gdt
mb_magic: .long 0
mb_info: .long 0
	.global nx_supported
nx_supported: .byte 0

	.section .bss
	.balign 4096
boot_pml4: .skip 4096
	.global boot_pdpt
boot_pdpt: .skip 4096
boot_pd: .skip 4 * 4096
	.balign 16
boot_stack: .skip 32768
	.global boot_stack_top
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
