/* Direct kernel boot: put a kernel (and initrds/modules) into guest memory
 * and produce the bootstrap processor's entry state, the way firmware and a
 * boot loader would have left it.
 *
 * Loaders work on files already read into host memory so that they can be
 * fuzzed without a filesystem; every field they read from an image is
 * untrusted. They never write outside guest RAM (all writes go through
 * mem_ptr/mem_write) and report problems through struct error.
 *
 * Guest-physical layout used during boot (all below 1 MiB, reserved in E820
 * where the guest must not reuse it before it has read it):
 *   0x0500  GDT for the entry state
 *   0x1000  Multiboot information, memory map, module list, strings (to 0x7000)
 *   0x7000  Linux boot_params ("zero page")
 *   0x9000  identity page tables for the 64-bit Linux entry (to 0xF000)
 *   0x20000 kernel command line (up to 64 KiB)
 *   0x9FC00-0xFFFFF reserved: EBDA, ACPI tables (see boot/acpi.h), BIOS area
 */
#ifndef RINGFOLD_BOOT_BOOT_H
#define RINGFOLD_BOOT_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "mem.h"
#include "util/error.h"

#define BOOT_MAX_INITRDS 16

#define BOOT_GDT_ADDR 0x500
#define BOOT_MB_INFO_ADDR 0x1000
#define BOOT_MB_INFO_END 0x7000
#define BOOT_ZERO_PAGE_ADDR 0x7000
#define BOOT_PAGE_TABLES_ADDR 0x9000
#define BOOT_PAGE_TABLES_END 0xF000
#define BOOT_CMDLINE_ADDR 0x20000
#define BOOT_CMDLINE_MAX 0x10000
#define BOOT_RESERVED_LOW 0x9FC00 /* start of the reserved area below 1 MiB */

struct boot_blob {
	const uint8_t *data;
	size_t size;
	const char *name; /* file name, for error messages and Multiboot module strings */
};

struct boot_request {
	struct boot_blob kernel;
	struct boot_blob initrds[BOOT_MAX_INITRDS];
	int ninitrds;
	const char *cmdline; /* may be NULL */
	uint64_t acpi_rsdp;  /* guest-physical address of the RSDP, 0 if none */
};

/* Recognises the image format (bzImage, else Multiboot) and loads it. */
int boot_load(const struct guest_mem *mem, const struct boot_request *req, struct cpu_state *bsp,
              struct error *err);

int linux_load(const struct guest_mem *mem, const struct boot_request *req, struct cpu_state *bsp,
               struct error *err);
int linux_is_bzimage(const uint8_t *data, size_t size);

int multiboot_load(const struct guest_mem *mem, const struct boot_request *req,
                   struct cpu_state *bsp, struct error *err);
/* Offset of a valid Multiboot v1 header in the first 8 KiB, or -1. */
long multiboot_find_header(const uint8_t *data, size_t size);

/* The machine's memory map, shared by the E820 table and the Multiboot map. */
enum e820_type { E820_RAM = 1, E820_RESERVED = 2, E820_ACPI = 3 };
struct e820_entry {
	uint64_t addr, size;
	uint32_t type;
};
#define E820_MAX_ENTRIES 8
int e820_build(const struct guest_mem *mem, struct e820_entry *out, int max);

#endif
