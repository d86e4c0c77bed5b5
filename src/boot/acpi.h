/* ACPI tables: RSDP, XSDT, FADT, MADT (every vCPU, the IOAPIC, interrupt
 * overrides), DSDT (with \_S5 so the guest can power off), HPET, placed in
 * the reserved BIOS area below 1 MiB. The fixed hardware they describe (PM1a
 * event/control blocks, PM timer, reset register) is dev/acpi_pm.c. */
#ifndef RINGFOLD_BOOT_ACPI_H
#define RINGFOLD_BOOT_ACPI_H

#include <stdbool.h>
#include <stdint.h>

#include "mem.h"
#include "util/error.h"

#define ACPI_TABLES_ADDR 0xE0000
#define ACPI_TABLES_END 0x100000

/* The machine's optional devices the tables describe. */
struct acpi_options {
	bool hpet; /* the HPET of dev/hpet.h: the "HPET" table and \_SB.HPET */
};

/* Writes the tables; on success *rsdp_gpa is where the RSDP is.
 * acpi_build() describes the default machine (every optional device). */
int acpi_build(const struct guest_mem *mem, int ncpus, uint64_t *rsdp_gpa, struct error *err);
int acpi_build_opts(const struct guest_mem *mem, int ncpus, const struct acpi_options *opts,
                    uint64_t *rsdp_gpa, struct error *err);

#endif
