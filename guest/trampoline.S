/* Application processor start-up. ap_trampoline_start..end is copied to
 * 0x8000 (the SIPI vector is 0x08); the AP starts there in real mode at
 * CS:IP = 0800:0000, so every address inside is 0x8000 + offset. It goes
 * through 32-bit protected mode into long mode on the BSP's page tables,
 * then jumps to ap_long_entry in the kernel proper. The BSP fills in the
 * GDTR, CR3 and EFER words before sending the SIPI. */

#define TRAMP 0x8000
#define T(sym) (TRAMP + (sym) - ap_trampoline_start)

	.text
	.code16
	.global ap_trampoline_start
ap_trampoline_start:
	cli
	cld
	xorw %ax, %ax
	movw %ax, %ds
	lgdtl T(ap_tramp_gdtr)
	movl %cr0, %eax
	andl $0x9fffffff, %eax /* caches on: INIT leaves CD and NW set */
	orl $1, %eax           /* PE */
	movl %eax, %cr0
	ljmpl $0x30, $T(ap_tramp_pm32)

	.code32
ap_tramp_pm32:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl T(ap_tramp_cr3), %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $0x20, %eax /* PAE */
	movl %eax, %cr4
	movl $0xC0000080, %ecx
	rdmsr
	orl T(ap_tramp_efer), %eax
	wrmsr
	movl %cr0, %eax
	orl $0x80010000, %eax /* PG WP */
	movl %eax, %cr0
	ljmp $0x08, $ap_long_entry

	.balign 8
	.global ap_tramp_gdtr, ap_tramp_cr3, ap_tramp_efer
ap_tramp_gdtr:
	.word 0
	.long 0
	.balign 4
ap_tramp_cr3:
	.long 0
ap_tramp_efer:
	.long 0
	.global ap_trampoline_end
ap_trampoline_end:

	.code64
ap_long_entry:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	xorl %eax, %eax
	movw %ax, %fs
	movw %ax, %gs
	movq ap_boot_stack(%rip), %rsp
	call ap_main
1:	cli
	hlt
	jmp 1b

	.section .note.GNU-stack, "", @progbits
