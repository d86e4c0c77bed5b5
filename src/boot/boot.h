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
 *   0x0500  GDT for the entry state, then a zeroed TSS at 0x580
 *   0x1000  Multiboot information, memory map, module list, strings (to 0x7000)
 *   0x7000  Linux boot_params ("zero page")
 *   0x9000  identity page tables for the 64-bit Linux entry (to 0xF000)
 *   0x20000 kernel command line (up to 64 KiB)
 *   0x9FC00-0xFFFFF reserved: EBDA, ACPI tables (see boot/acpi.h), BIOS area
 */
#ifndef RINGFOLD_BOOT_BOOT_H
#define RINGFOLD_BOOT_BOOT_H

#include <stdbool.h>
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
	/* Linux: decompress the bzImage's payload on the host and enter the
	 * vmlinux directly (false: the kernel's decompressor runs in the guest). */
	bool host_decompress;
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
/* Fills out[] (sorted, non-overlapping); the number of entries, or -1 if max
 * is too small. */
int e820_build(const struct guest_mem *mem, struct e820_entry *out, int max);
/* Whether [addr, addr + len) lies inside one E820_RAM entry of map. */
bool e820_range_is_ram(const struct e820_entry *map, int n, uint64_t addr, uint64_t len);

/* Shared by the loaders (boot.c). A zeroed TSS follows the GDT so that the
 * entry state has a usable TR (KVM refuses long mode without one). */
#define BOOT_GDT_SLOTS 8
#define BOOT_TSS_ADDR 0x580
#define BOOT_TSS_SIZE 0x68
/* Writes the GDT (null, code at code_sel, data at data_sel, busy TSS at
 * tss_sel; 64-bit code and TSS when long_mode) and the TSS, and loads bsp's
 * GDTR, segment registers, TR and an unusable LDTR to match. */
int boot_setup_gdt(const struct guest_mem *mem, struct cpu_state *bsp, uint16_t code_sel,
                   uint16_t data_sel, uint16_t tss_sel, bool long_mode, struct error *err);
/* Little-endian fields of an image (which may sit at any alignment). */
static inline uint16_t boot_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}
static inline uint32_t boot_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t boot_le64(const uint8_t *p)
{
	return (uint64_t)boot_le32(p) | (uint64_t)boot_le32(p + 4) << 32;
}
static inline void boot_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void boot_put_le32(uint8_t *p, uint32_t v)
{
	boot_put_le16(p, (uint16_t)v);
	boot_put_le16(p + 2, (uint16_t)(v >> 16));
}
static inline void boot_put_le64(uint8_t *p, uint64_t v)
{
	boot_put_le32(p, (uint32_t)v);
	boot_put_le32(p + 4, (uint32_t)(v >> 32));
}
/* The blob's name for messages, or fallback when it has none. */
const char *boot_blob_name(const struct boot_blob *blob, const char *fallback);

#endif
