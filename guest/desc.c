/* GDT (defined in entry.S), IDT and TSS. Every vector gets an interrupt
 * gate to its stub; #DF runs on IST1 so that it is delivered even when the
 * current stack is unusable; #BP is callable from CPL3 (int3 there). */
#include "kernel.h"
#include "x86.h"

struct idt_gate idt[256] __attribute__((aligned(16)));
struct desc_ptr idt_ptr;
struct tss64 tss __attribute__((aligned(16)));
uint8_t ist1_stack[8192] __attribute__((aligned(16)));
#define ist1_stack_top (ist1_stack + sizeof(ist1_stack))
static uint8_t rsp0_stack[16384] __attribute__((aligned(16)));

static void set_gate(int v, uint64_t handler, int ist, int dpl)
{
	struct idt_gate *g = &idt[v];
	g->off_lo = (uint16_t)handler;
	g->sel = SEL_KCODE;
	g->ist = (uint8_t)ist;
	g->attr = (uint8_t)(0x8e | (dpl << 5)); /* present, 64-bit interrupt gate */
	g->off_mid = (uint16_t)(handler >> 16);
	g->off_hi = (uint32_t)(handler >> 32);
	g->reserved = 0;
}

void idt_load(void)
{
	__asm__ volatile("lidt %0" ::"m"(idt_ptr));
}

void desc_init(void)
{
	for (int v = 0; v < 256; v++)
		set_gate(v, (uint64_t)isr_stubs + 16 * (uint64_t)v, v == 8 ? 1 : 0, v == 3 ? 3 : 0);
	idt_ptr.limit = sizeof(idt) - 1;
	idt_ptr.base = (uint64_t)idt;
	idt_load();

	memset(&tss, 0, sizeof(tss));
	tss.rsp[0] = (uint64_t)(rsp0_stack + sizeof(rsp0_stack));
	tss.ist[0] = (uint64_t)ist1_stack_top;
	tss.iomap_base = sizeof(tss); /* no I/O bitmap: CPL3 port access faults */

	uint64_t base = (uint64_t)&tss, limit = sizeof(tss) - 1;
	gdt[SEL_TSS / 8] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ul << 40) |
	                   (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	gdt[SEL_TSS / 8 + 1] = base >> 32;
	__asm__ volatile("ltr %w0" ::"r"((uint16_t)SEL_TSS));
}
