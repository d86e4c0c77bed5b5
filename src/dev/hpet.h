/* The HPET (IA-PC High Precision Event Timer, specification 1.0a): one
 * block at 0xFED00000 with a 64-bit main counter at 100 MHz and three
 * 64-bit comparators, the way a PC chipset has it.
 *
 *   - The main counter is computed from the machine's guest clock
 *     (vm_clock_now()) while ENABLE_CNF is set, and holds still (and may be
 *     written) while it is clear. It never drifts from the guest clock, so a
 *     guest that compares it with the TSC sees them agree.
 *   - Timer 0 can be periodic (the comparator is an accumulator that gains
 *     the period at each match); every timer can be one-shot, 32-bit
 *     (Tn_32MODE_CNF) or 64-bit, edge- or level-triggered.
 *   - Interrupts: each timer routes to an IOAPIC pin of
 *     HPET_ROUTE_CAP (GSIs 20-23); FSB (MSI) delivery is not offered. With
 *     LegacyReplacement (LEG_RT_CNF), timer 0 drives ISA IRQ 0 (IOAPIC pin
 *     2, PIC IRQ 0) and timer 1 ISA IRQ 8, and the PIT's and RTC's own
 *     outputs are cut off: the HPET sets vm->hpet_legacy_route, which the
 *     soft engine's interrupt wiring (irqchip) and the RTC consult.
 *   - Timer interrupts are driven by the engine through the vm_timer the
 *     device registers (next deadline, advance), like the RTC's.
 *
 * Every register offset, access size (1, 2, 4, 8) and alignment is
 * accepted: the block is 64-bit registers and an access reads or writes the
 * bytes it covers; read-only and reserved bits ignore writes. */
#ifndef RINGFOLD_DEV_HPET_H
#define RINGFOLD_DEV_HPET_H

#include <stdint.h>

struct vm;
struct hpet;

#define HPET_BASE 0xFED00000ULL
#define HPET_MMIO_SIZE 0x400
#define HPET_TIMERS 3
#define HPET_PERIOD_FS 10000000ULL /* 10 ns per tick */
#define HPET_HZ 100000000ULL
#define HPET_VENDOR_ID 0x8086
#define HPET_REV_ID 1
/* IOAPIC pins a timer may be routed to outside LegacyReplacement. */
#define HPET_ROUTE_CAP 0x00F00000u
#define HPET_LEGACY_TIMER0_GSI 0
#define HPET_LEGACY_TIMER1_GSI 8

/* Register offsets. */
#define HPET_REG_CAP 0x000
#define HPET_REG_CONFIG 0x010
#define HPET_REG_STATUS 0x020
#define HPET_REG_COUNTER 0x0F0
#define HPET_REG_TN_CONFIG(n) (0x100 + 0x20 * (n))
#define HPET_REG_TN_CMP(n) (0x108 + 0x20 * (n))
#define HPET_REG_TN_FSB(n) (0x110 + 0x20 * (n))

/* General capabilities and ID (low half; the high half is the period). */
#define HPET_CAP_NUM_TIM_SHIFT 8
#define HPET_CAP_COUNT_SIZE (1u << 13)
#define HPET_CAP_LEG_RT (1u << 15)
#define HPET_CAP_VENDOR_SHIFT 16
/* The low 32 bits of the capabilities register, which the ACPI HPET
 * table repeats as its Event Timer Block ID. */
#define HPET_CAP_ID                                                                                \
	((uint32_t)HPET_VENDOR_ID << HPET_CAP_VENDOR_SHIFT | HPET_CAP_LEG_RT |                     \
	 HPET_CAP_COUNT_SIZE | (uint32_t)(HPET_TIMERS - 1) << HPET_CAP_NUM_TIM_SHIFT |             \
	 HPET_REV_ID)

/* General configuration. */
#define HPET_CFG_ENABLE (1u << 0)
#define HPET_CFG_LEG_RT (1u << 1)

/* Timer n configuration and capabilities. */
#define HPET_TN_INT_TYPE_LEVEL (1u << 1)
#define HPET_TN_INT_ENB (1u << 2)
#define HPET_TN_TYPE_PERIODIC (1u << 3)
#define HPET_TN_PER_INT_CAP (1u << 4)
#define HPET_TN_SIZE_CAP (1u << 5)
#define HPET_TN_VAL_SET (1u << 6)
#define HPET_TN_32MODE (1u << 8)
#define HPET_TN_INT_ROUTE_SHIFT 9
#define HPET_TN_INT_ROUTE_MASK (0x1Fu << HPET_TN_INT_ROUTE_SHIFT)
#define HPET_TN_FSB_EN (1u << 14)
#define HPET_TN_FSB_INT_DEL_CAP (1u << 15)
#define HPET_TN_INT_ROUTE_CAP_SHIFT 32

/* Claims the MMIO block and registers the device's vm_timer; NULL after
 * logging on failure. */
struct hpet *hpet_create(struct vm *vm);
void hpet_destroy(struct hpet *hpet);

#endif
