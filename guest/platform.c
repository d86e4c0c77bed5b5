/* Interrupt controllers: the 8259 pair (remapped to vectors 0x20-0x2F and
 * masked until a check wants a line) and the local APIC (xAPIC MMIO). */
#include "kernel.h"
#include "x86.h"

#define PIC1 0x20
#define PIC2 0xa0

void pic_init(void)
{
	outb(PIC1, 0x11); /* ICW1: edge, cascade, ICW4 follows */
	outb(PIC2, 0x11);
	outb(PIC1 + 1, VEC_PIC_BASE); /* ICW2: vector base */
	outb(PIC2 + 1, VEC_PIC_BASE + 8);
	outb(PIC1 + 1, 0x04); /* ICW3: slave on IRQ2 */
	outb(PIC2 + 1, 0x02);
	outb(PIC1 + 1, 0x01); /* ICW4: 8086 mode */
	outb(PIC2 + 1, 0x01);
	pic_set_mask(0xffff);
}

void pic_set_mask(uint16_t mask)
{
	outb(PIC1 + 1, (uint8_t)mask);
	outb(PIC2 + 1, (uint8_t)(mask >> 8));
}

void pic_eoi(int irq)
{
	if (irq >= 8)
		outb(PIC2, 0x20);
	outb(PIC1, 0x20);
}

uint32_t lapic_read(uint32_t reg)
{
	return mmio_read32(LAPIC_BASE + reg);
}
void lapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(LAPIC_BASE + reg, v);
}
uint32_t lapic_id(void)
{
	return lapic_read(0x20) >> 24;
}

/* Software-enable the APIC with the timer masked; LINT0 passes the 8259's
 * interrupts through (ExtINT) and LINT1 is NMI, as firmware leaves them. */
void lapic_init(void)
{
	if (!(cpuid(1, 0).edx & (1u << 9)))
		return; /* no local APIC: the checks that need one will say so */
	uint64_t base = rdmsr(MSR_APIC_BASE);
	if (base & (1u << 10)) /* x2APIC mode: leaving it means disabling first */
		wrmsr(MSR_APIC_BASE, base & ~(3ul << 10));
	if ((base & ~0xffful) != LAPIC_BASE || !(base & (1u << 11)) || (base & (1u << 10)))
		wrmsr(MSR_APIC_BASE, (base & 0x100) | LAPIC_BASE | (1u << 11));
	lapic_write(0xf0, 0x100 | VEC_SPURIOUS);
	lapic_write(0x80, 0);         /* TPR: accept everything */
	lapic_write(0x320, 1u << 16); /* timer masked */
	lapic_write(0x350, 0x700);    /* LINT0: ExtINT */
	lapic_write(0x360, 0x400);    /* LINT1: NMI */
	lapic_write(0x370, 1u << 16); /* error: masked */
}
