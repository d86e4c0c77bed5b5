/* The ACPI fixed hardware the FADT describes (boot/acpi.c), at the port
 * addresses below:
 *
 *   0x600  PM1a_EVT  PM1 status (16 bits, write 1 to clear) + enable (16 bits)
 *   0x604  PM1a_CNT  SCI_EN always 1 (no SMM: always in ACPI mode);
 *                    SLP_TYP=5 with SLP_EN powers the machine off
 *   0x608  PM_TMR    32-bit counter at 3.579545 MHz from CLOCK_MONOTONIC
 *   0xCF9  reset control register: a write with bit 2 (RST_CPU) set, as
 *          the FADT's RESET_VALUE 0x06 has, resets the machine
 *
 * The only event source is the power button (a fixed feature): the VMM
 * presses it with acpi_pm_power_button() and the guest gets an SCI on IRQ 9
 * (level triggered, active high) while PWRBTN_STS and PWRBTN_EN are both set.
 * The timer's overflow status (TMR_STS) is not modelled; Linux does not use it. */
#ifndef RINGFOLD_DEV_ACPI_PM_H
#define RINGFOLD_DEV_ACPI_PM_H

#include <stdint.h>

struct vm;
struct acpi_pm;

#define ACPI_PM_EVT_PORT 0x600
#define ACPI_PM_EVT_LEN 4
#define ACPI_PM_CNT_PORT 0x604
#define ACPI_PM_CNT_LEN 2
#define ACPI_PM_TMR_PORT 0x608
#define ACPI_PM_TMR_LEN 4
#define ACPI_PM_RESET_PORT 0xCF9
#define ACPI_PM_RESET_VALUE 0x06 /* SYS_RST | RST_CPU: a hard reset */
#define ACPI_PM_SCI_IRQ 9
#define ACPI_PM_TIMER_HZ 3579545

/* PM1 status and enable bits (ACPI 6.0, 4.8.3.1). */
#define ACPI_PM1_TMR_STS (1u << 0)
#define ACPI_PM1_PWRBTN_STS (1u << 8)
#define ACPI_PM1_WAK_STS (1u << 15)
#define ACPI_PM1_PWRBTN_EN (1u << 8)

/* PM1 control bits (4.8.3.2). */
#define ACPI_PM1_SCI_EN (1u << 0)
#define ACPI_PM1_SLP_TYP_SHIFT 10
#define ACPI_PM1_SLP_TYP_MASK (7u << ACPI_PM1_SLP_TYP_SHIFT)
#define ACPI_PM1_SLP_EN (1u << 13)
/* The sleep type value \_S5_ names in the DSDT. */
#define ACPI_PM_SLP_TYP_S5 5

/* Reset control register bits (as on the PIIX/ICH chipsets). */
#define ACPI_PM_RESET_SYS_RST (1u << 1)
#define ACPI_PM_RESET_RST_CPU (1u << 2)

/* Claims the ports above on vm->bus; NULL after logging on failure. */
struct acpi_pm *acpi_pm_create(struct vm *vm);
void acpi_pm_destroy(struct acpi_pm *pm);

/* Presses the power button: sets PWRBTN_STS and raises the SCI if the guest
 * enabled it. An ACPI-aware guest then shuts down in an orderly way (if its
 * user space handles the event); the VMM decides how long to wait. */
void acpi_pm_power_button(struct acpi_pm *pm);

#endif
