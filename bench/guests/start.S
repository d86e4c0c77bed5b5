/* Start-time guest: a Multiboot kernel whose very first instruction ends
 * the VM through the debug-exit port. Timing the VMM process from exec to
 * exit therefore measures everything the VMM does before the guest runs
 * (and the firmware, for a VMM that boots through one) plus teardown.
 *
 * The loader enters in 32-bit protected mode with EAX = 0x2BADB002, so the
 * byte written is 0x02 and the exit status is (2 << 1) | 1 = 5. */
	.code32
	.section .text
	.globl _start

	.balign 4
multiboot_header:
	.long 0x1BADB002		/* magic */
	.long 0x00000000		/* flags: nothing asked of the loader */
	.long -(0x1BADB002 + 0x00000000)

_start:
	outb	%al, $0xf4
	/* Not reached on a VMM that implements the port; if one does not,
	 * halt forever so the harness sees a timeout, not a false success. */
1:	cli
	hlt
	jmp	1b
