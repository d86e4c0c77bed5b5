/* Multiboot v1 loader (the Multiboot Specification, version 0.6.96).
 *
 * The kernel is either an ELF executable (ELF32 for i386, or ELF64 entering
 * at a 32-bit address) or any file with the "a.out kludge" addresses in its
 * Multiboot header. Modules (--initrd) follow the kernel, each page-aligned.
 * The information structure, memory map, module list and strings all go in
 * [BOOT_MB_INFO_ADDR, BOOT_MB_INFO_END). The CPU enters in 32-bit protected
 * mode without paging, EAX = 0x2BADB002, EBX = the information structure.
 *
 * As for Linux, everything is validated before anything is written. */
#include "boot/boot.h"

#include <inttypes.h>
#include <string.h>

#define MB_HEADER_MAGIC 0x1badb002u
#define MB_BOOT_MAGIC 0x2badb002u
#define MB_SEARCH_LIMIT 8192
#define MB_HEADER_MIN 12  /* magic, flags, checksum */
#define MB_HEADER_AOUT 32 /* ... header_addr, load_addr, load_end, bss_end, entry */

/* Header flags. Bits 0-15 are requirements: one we cannot honour means we
 * must refuse the kernel; bits 16-31 are optional features. */
#define MB_FLAG_PAGE_ALIGN (1u << 0)  /* modules page-aligned: we always do it */
#define MB_FLAG_MEMORY_INFO (1u << 1) /* mem_* and mmap_*: we always provide them */
#define MB_FLAG_VIDEO_MODE (1u << 2)  /* we have no framebuffer: ignored */
#define MB_FLAG_AOUT_KLUDGE (1u << 16)
#define MB_FLAGS_SUPPORTED (MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMORY_INFO | MB_FLAG_VIDEO_MODE)

/* Information structure: offsets and flags. */
#define MBI_FLAGS 0
#define MBI_MEM_LOWER 4
#define MBI_MEM_UPPER 8
#define MBI_CMDLINE 16
#define MBI_MODS_COUNT 20
#define MBI_MODS_ADDR 24
#define MBI_MMAP_LENGTH 44
#define MBI_MMAP_ADDR 48
#define MBI_BOOT_LOADER_NAME 64
#define MBI_SIZE 0x80 /* the 0.6.96 structure is 88 bytes; room for later fields, zeroed */
#define MBI_F_MEM (1u << 0)
#define MBI_F_CMDLINE (1u << 2)
#define MBI_F_MODS (1u << 3)
#define MBI_F_MMAP (1u << 6)
#define MBI_F_BOOT_LOADER_NAME (1u << 9)
#define MB_MODULE_SIZE 16     /* mod_start, mod_end, string, reserved */
#define MB_MMAP_ENTRY_SIZE 24 /* size field, then base, length, type */
#define MB_LOADER_NAME "ringfold"

/* ELF, just what a loader needs. */
#define ELF_CLASS32 1
#define ELF_CLASS64 2
#define ELF_DATA_LSB 1
#define ELF_ET_EXEC 2
#define ELF_EM_386 3
#define ELF_EM_X86_64 62
#define ELF_PT_LOAD 1
#define ELF32_EHDR_SIZE 52
#define ELF32_PHDR_SIZE 32
#define ELF64_EHDR_SIZE 64
#define ELF64_PHDR_SIZE 56

#define MB_MAX_SEGMENTS 32
#define PAGE_SIZE 0x1000ULL
#define MEM_1M 0x100000ULL
#define MEM_640K 0xa0000ULL

#define MB_CODE_SEL 0x08
#define MB_DATA_SEL 0x10
#define MB_TSS_SEL 0x18
#define CR0_PE 0x1ULL
#define CR0_ET 0x10ULL

struct mb_segment {
	uint64_t paddr, offset, filesz, memsz;
};

struct mb_plan {
	struct mb_segment seg[MB_MAX_SEGMENTS];
	int nseg;
	uint32_t entry;
	uint64_t kernel_end;
	uint64_t module_addr[BOOT_MAX_INITRDS];
	struct e820_entry e820[E820_MAX_ENTRIES];
	int ne820;
};

long multiboot_find_header(const uint8_t *data, size_t size)
{
	if (!data)
		return -1;
	size_t limit = size < MB_SEARCH_LIMIT ? size : MB_SEARCH_LIMIT;
	for (size_t off = 0; off + MB_HEADER_MIN <= limit; off += 4) {
		uint32_t magic = boot_le32(data + off);
		if (magic != MB_HEADER_MAGIC)
			continue;
		uint32_t flags = boot_le32(data + off + 4), checksum = boot_le32(data + off + 8);
		if ((uint32_t)(magic + flags + checksum) == 0)
			return (long)off;
	}
	return -1;
}

static uint64_t align_up(uint64_t v, uint64_t align)
{
	return (v + align - 1) & ~(align - 1);
}

/* A destination must be RAM the guest may use (the E820 map, which keeps the
 * ACPI tables and BIOS area out) and must not clobber the GDT, TSS and
 * information structure we are about to write. */
static int check_destination(const struct mb_plan *p, const char *name, const char *what, int index,
                             uint64_t addr, uint64_t len, struct error *err)
{
	if (addr >= MEM_4G || len > MEM_4G - addr)
		return error_set(err,
		                 "%s: %s %d at %#" PRIx64 " (%" PRIu64
		                 " bytes) reaches above 4 GiB, which a 32-bit kernel cannot "
		                 "address",
		                 name, what, index, addr, len);
	if (!e820_range_is_ram(p->e820, p->ne820, addr, len))
		return error_set(err,
		                 "%s: %s %d at [%#" PRIx64 ", %#" PRIx64 ") is not in guest RAM",
		                 name, what, index, addr, addr + len);
	if (len && addr < BOOT_MB_INFO_END && addr + len > BOOT_GDT_ADDR)
		return error_set(
		    err,
		    "%s: %s %d at [%#" PRIx64 ", %#" PRIx64 ") overlaps ringfold's boot "
		    "data at [%#x, %#x)",
		    name, what, index, addr, addr + len, BOOT_GDT_ADDR, BOOT_MB_INFO_END);
	return 0;
}

static int add_segment(struct mb_plan *p, size_t file_size, const char *name, uint64_t paddr,
                       uint64_t offset, uint64_t filesz, uint64_t memsz, struct error *err)
{
	int i = p->nseg;
	if (i >= MB_MAX_SEGMENTS)
		return error_set(err, "%s: more than %d loadable segments", name, MB_MAX_SEGMENTS);
	if (filesz > memsz)
		return error_set(err,
		                 "%s: segment %d has more bytes in the file (%" PRIu64
		                 ") than in memory (%" PRIu64 ")",
		                 name, i, filesz, memsz);
	if (offset > file_size || filesz > file_size - offset)
		return error_set(err,
		                 "%s: truncated: segment %d needs file bytes [%#" PRIx64
		                 ", +%#" PRIx64 ") but the file has %zu",
		                 name, i, offset, filesz, file_size);
	if (check_destination(p, name, "segment", i, paddr, memsz, err) < 0)
		return -1;
	for (int j = 0; j < i; j++) {
		const struct mb_segment *o = &p->seg[j];
		if (memsz && o->memsz && paddr < o->paddr + o->memsz && o->paddr < paddr + memsz)
			return error_set(err, "%s: segments %d and %d overlap in memory", name, j,
			                 i);
	}
	p->seg[i] = (struct mb_segment){paddr, offset, filesz, memsz};
	p->nseg++;
	if (paddr + memsz > p->kernel_end)
		p->kernel_end = paddr + memsz;
	return 0;
}

/* Flag 16: the header itself says where the file goes. */
static int plan_aout_kludge(const uint8_t *img, size_t size, size_t hdr, const char *name,
                            struct mb_plan *p, struct error *err)
{
	if (size - hdr < MB_HEADER_AOUT)
		return error_set(
		    err, "%s: truncated: the Multiboot header's address fields are cut off", name);
	uint32_t header_addr = boot_le32(img + hdr + 12);
	uint32_t load_addr = boot_le32(img + hdr + 16);
	uint32_t load_end_addr = boot_le32(img + hdr + 20);
	uint32_t bss_end_addr = boot_le32(img + hdr + 24);
	uint32_t entry_addr = boot_le32(img + hdr + 28);

	if (load_addr > header_addr)
		return error_set(err, "%s: Multiboot load_addr %#x is above header_addr %#x", name,
		                 load_addr, header_addr);
	/* The header sits at header_addr in memory and at hdr in the file. */
	if (header_addr - load_addr > hdr)
		return error_set(err,
		                 "%s: Multiboot load_addr %#x would start %u bytes before the file",
		                 name, load_addr, (unsigned)(header_addr - load_addr - hdr));
	uint64_t offset = hdr - (header_addr - load_addr);
	uint64_t filesz;
	if (load_end_addr == 0) {
		filesz = size - offset;
	} else {
		if (load_end_addr < load_addr)
			return error_set(err,
			                 "%s: Multiboot load_end_addr %#x is below load_addr %#x",
			                 name, load_end_addr, load_addr);
		filesz = load_end_addr - load_addr;
	}
	uint64_t memsz = filesz;
	if (bss_end_addr != 0) {
		if (bss_end_addr < load_addr + filesz)
			return error_set(
			    err,
			    "%s: Multiboot bss_end_addr %#x is below the end of the loaded "
			    "image %#" PRIx64,
			    name, bss_end_addr, load_addr + filesz);
		memsz = bss_end_addr - load_addr;
	}
	p->entry = entry_addr;
	return add_segment(p, size, name, load_addr, offset, filesz, memsz, err);
}

static int plan_elf(const uint8_t *img, size_t size, const char *name, struct mb_plan *p,
                    struct error *err)
{
	if (size < 16 || memcmp(img, "\177ELF", 4) != 0)
		return error_set(
		    err,
		    "%s: the Multiboot header has no load addresses (flag 16) and the file "
		    "is not an ELF executable",
		    name);
	bool is64 = img[4] == ELF_CLASS64;
	if (img[4] != ELF_CLASS32 && !is64)
		return error_set(err, "%s: unknown ELF class %u", name, img[4]);
	if (img[5] != ELF_DATA_LSB)
		return error_set(err, "%s: not a little-endian ELF file", name);
	size_t ehdr_size = is64 ? ELF64_EHDR_SIZE : ELF32_EHDR_SIZE;
	if (size < ehdr_size)
		return error_set(err, "%s: truncated: the file ends inside the ELF header", name);
	uint16_t type = boot_le16(img + 16), machine = boot_le16(img + 18);
	if (type != ELF_ET_EXEC)
		return error_set(err, "%s: ELF type %u is not an executable (ET_EXEC)", name, type);
	if (machine != (is64 ? ELF_EM_X86_64 : ELF_EM_386))
		return error_set(err, "%s: ELF%s file for machine %u, expected %s", name,
		                 is64 ? "64" : "32", machine, is64 ? "x86-64 (62)" : "i386 (3)");

	uint64_t entry = is64 ? boot_le64(img + 24) : boot_le32(img + 24);
	uint64_t phoff = is64 ? boot_le64(img + 32) : boot_le32(img + 28);
	uint16_t phentsize = boot_le16(img + (is64 ? 54 : 42));
	uint16_t phnum = boot_le16(img + (is64 ? 56 : 44));
	size_t phdr_min = is64 ? ELF64_PHDR_SIZE : ELF32_PHDR_SIZE;
	if (phnum == 0)
		return error_set(err, "%s: ELF file has no program headers", name);
	if (phentsize < phdr_min)
		return error_set(err, "%s: ELF program header size %u is too small", name,
		                 phentsize);
	if (phoff > size || (uint64_t)phnum * phentsize > size - phoff)
		return error_set(err, "%s: truncated: the ELF program headers lie outside the file",
		                 name);

	bool entry_translated = false;
	for (unsigned i = 0; i < phnum; i++) {
		const uint8_t *ph = img + phoff + (uint64_t)i * phentsize;
		if (boot_le32(ph) != ELF_PT_LOAD)
			continue;
		uint64_t offset, vaddr, paddr, filesz, memsz;
		if (is64) {
			offset = boot_le64(ph + 8);
			vaddr = boot_le64(ph + 16);
			paddr = boot_le64(ph + 24);
			filesz = boot_le64(ph + 32);
			memsz = boot_le64(ph + 40);
		} else {
			offset = boot_le32(ph + 4);
			vaddr = boot_le32(ph + 8);
			paddr = boot_le32(ph + 12);
			filesz = boot_le32(ph + 16);
			memsz = boot_le32(ph + 20);
		}
		if (memsz == 0)
			continue;
		if (add_segment(p, size, name, paddr, offset, filesz, memsz, err) < 0)
			return -1;
		/* A higher-half kernel links e_entry at its virtual address: enter at
		 * the physical address behind it, as GRUB does. */
		if (!entry_translated && entry >= vaddr && entry - vaddr < memsz) {
			entry = entry - vaddr + paddr;
			entry_translated = true;
		}
	}
	if (p->nseg == 0)
		return error_set(err, "%s: ELF file has no loadable segments", name);
	if (entry >= MEM_4G)
		return error_set(err, "%s: entry point %#" PRIx64 " is not a 32-bit address", name,
		                 entry);
	p->entry = (uint32_t)entry;
	return 0;
}

/* Allocation in the host copy of the information area. */
struct mb_info_area {
	uint8_t buf[BOOT_MB_INFO_END - BOOT_MB_INFO_ADDR];
	size_t used;
};

/* Guest address of len fresh bytes, or 0 when the area is full. */
static uint32_t info_alloc(struct mb_info_area *a, size_t len, size_t align)
{
	size_t at = (a->used + align - 1) & ~(align - 1);
	if (at > sizeof a->buf || len > sizeof a->buf - at)
		return 0;
	a->used = at + len;
	return BOOT_MB_INFO_ADDR + (uint32_t)at;
}

static uint8_t *info_host(struct mb_info_area *a, uint32_t gpa)
{
	return a->buf + (gpa - BOOT_MB_INFO_ADDR);
}

/* Copies "first" (and " second" when second is non-empty) as a C string. */
static uint32_t info_string(struct mb_info_area *a, const char *first, const char *second)
{
	size_t cap = sizeof a->buf;
	size_t l1 = strnlen(first, cap), l2 = second && second[0] ? strnlen(second, cap) + 1 : 0;
	uint32_t gpa = info_alloc(a, l1 + l2 + 1, 1);
	if (!gpa)
		return 0;
	uint8_t *s = info_host(a, gpa);
	memcpy(s, first, l1);
	if (l2) {
		s[l1] = ' ';
		memcpy(s + l1 + 1, second, l2 - 1);
	}
	s[l1 + l2] = '\0';
	return gpa;
}

static int build_info(const struct boot_request *req, const struct mb_plan *p, const char *name,
                      struct mb_info_area *a, struct error *err)
{
	memset(a, 0, sizeof *a);
	uint32_t info = info_alloc(a, MBI_SIZE, 8);
	uint32_t mmap = info_alloc(a, (size_t)p->ne820 * MB_MMAP_ENTRY_SIZE, 8);
	uint32_t mods = info_alloc(a, (size_t)req->ninitrds * MB_MODULE_SIZE, 8);
	uint32_t loader = info_string(a, MB_LOADER_NAME, NULL);
	/* GRUB and QEMU pass the kernel's own path as the first word. */
	uint32_t cmdline = info_string(a, name, req->cmdline);
	if (!info || !mmap || !mods || !loader || !cmdline)
		goto full;

	uint32_t mem_lower = 0, mem_upper = 0;
	for (int i = 0; i < p->ne820; i++) {
		const struct e820_entry *e = &p->e820[i];
		uint8_t *m = info_host(a, mmap + (uint32_t)i * MB_MMAP_ENTRY_SIZE);
		boot_put_le32(m, MB_MMAP_ENTRY_SIZE - 4); /* size excludes the size field */
		boot_put_le64(m + 4, e->addr);
		boot_put_le64(m + 12, e->size);
		boot_put_le32(m + 20, e->type);
		if (e->type == E820_RAM && e->addr == 0)
			mem_lower = (uint32_t)((e->size < MEM_640K ? e->size : MEM_640K) / 1024);
		if (e->type == E820_RAM && e->addr == MEM_1M)
			mem_upper = (uint32_t)(e->size / 1024); /* up to the first hole */
	}

	for (int i = 0; i < req->ninitrds; i++) {
		const struct boot_blob *b = &req->initrds[i];
		uint32_t str = info_string(a, boot_blob_name(b, ""), NULL);
		if (!str)
			goto full;
		uint8_t *m = info_host(a, mods + (uint32_t)i * MB_MODULE_SIZE);
		boot_put_le32(m, (uint32_t)p->module_addr[i]);
		boot_put_le32(m + 4,
		              (uint32_t)(p->module_addr[i] + b->size)); /* exclusive, as GRUB */
		boot_put_le32(m + 8, str);
	}

	uint8_t *mbi = info_host(a, info);
	boot_put_le32(mbi + MBI_FLAGS,
	              MBI_F_MEM | MBI_F_CMDLINE | MBI_F_MODS | MBI_F_MMAP | MBI_F_BOOT_LOADER_NAME);
	boot_put_le32(mbi + MBI_MEM_LOWER, mem_lower);
	boot_put_le32(mbi + MBI_MEM_UPPER, mem_upper);
	boot_put_le32(mbi + MBI_CMDLINE, cmdline);
	boot_put_le32(mbi + MBI_MODS_COUNT, (uint32_t)req->ninitrds);
	boot_put_le32(mbi + MBI_MODS_ADDR, mods);
	boot_put_le32(mbi + MBI_MMAP_LENGTH, (uint32_t)p->ne820 * MB_MMAP_ENTRY_SIZE);
	boot_put_le32(mbi + MBI_MMAP_ADDR, mmap);
	boot_put_le32(mbi + MBI_BOOT_LOADER_NAME, loader);
	return 0;
full:
	return error_set(err,
	                 "%s: command line too long: the Multiboot information (command line and "
	                 "module names) does not fit in the %d bytes at %#x",
	                 name, BOOT_MB_INFO_END - BOOT_MB_INFO_ADDR, BOOT_MB_INFO_ADDR);
}

int multiboot_load(const struct guest_mem *mem, const struct boot_request *req,
                   struct cpu_state *bsp, struct error *err)
{
	const uint8_t *img = req->kernel.data;
	size_t size = req->kernel.size;
	const char *name = boot_blob_name(&req->kernel, "kernel");
	struct mb_plan plan;
	memset(&plan, 0, sizeof plan);

	if (req->ninitrds < 0 || req->ninitrds > BOOT_MAX_INITRDS)
		return error_set(err, "%s: too many modules (%d, at most %d)", name, req->ninitrds,
		                 BOOT_MAX_INITRDS);
	long hdr = multiboot_find_header(img, size);
	if (hdr < 0)
		return error_set(
		    err,
		    "%s: no Multiboot header (magic 0x1BADB002 with a valid checksum) in "
		    "the first 8 KiB",
		    name);
	uint32_t flags = boot_le32(img + hdr + 4);
	uint32_t unsupported = flags & 0xffff & ~MB_FLAGS_SUPPORTED;
	if (unsupported)
		return error_set(
		    err,
		    "%s: the Multiboot header requires feature bit %d (flags %#x), which "
		    "ringfold does not support",
		    name, __builtin_ctz(unsupported), flags);

	plan.ne820 = e820_build(mem, plan.e820, E820_MAX_ENTRIES);
	if (plan.ne820 < 0)
		return error_set(err, "%s: internal error: E820 map does not fit", name);
	if (flags & MB_FLAG_AOUT_KLUDGE) {
		if (plan_aout_kludge(img, size, (size_t)hdr, name, &plan, err) < 0)
			return -1;
	} else if (plan_elf(img, size, name, &plan, err) < 0) {
		return -1;
	}

	uint64_t cursor = plan.kernel_end;
	for (int i = 0; i < req->ninitrds; i++) {
		const struct boot_blob *b = &req->initrds[i];
		const char *mname = boot_blob_name(b, "module");
		if (!b->data && b->size)
			return error_set(err, "%s: module has no data", mname);
		uint64_t at = align_up(cursor, PAGE_SIZE);
		if (b->size > MEM_4G ||
		    check_destination(&plan, name, "module", i, at, b->size, err) < 0)
			return error_set(
			    err,
			    "%s: module does not fit in RAM: %zu bytes at %#" PRIx64
			    " (after the kernel and earlier modules), RAM ends at %#" PRIx64,
			    mname, b->size, at, mem_low_end(mem));
		plan.module_addr[i] = at;
		cursor = at + b->size;
	}

	static _Thread_local struct mb_info_area area; /* 24 KiB: off the stack */
	if (build_info(req, &plan, name, &area, err) < 0)
		return -1;

	/* Validated: now write. */
	for (int i = 0; i < plan.nseg; i++) {
		const struct mb_segment *s = &plan.seg[i];
		uint8_t *dst = mem_ptr(mem, s->paddr, s->memsz);
		if (!dst)
			return error_set(err, "%s: internal error: segment %d is not RAM", name, i);
		memcpy(dst, img + s->offset, s->filesz);
		memset(dst + s->filesz, 0, s->memsz - s->filesz); /* bss */
	}
	for (int i = 0; i < req->ninitrds; i++) {
		const struct boot_blob *b = &req->initrds[i];
		if (b->size && mem_write(mem, plan.module_addr[i], b->data, b->size) < 0)
			return error_set(err, "%s: internal error: module %d is not RAM", name, i);
	}
	if (mem_write(mem, BOOT_MB_INFO_ADDR, area.buf, sizeof area.buf) < 0)
		return error_set(err, "%s: guest memory too small for the Multiboot information",
		                 name);

	cpu_state_reset(bsp);
	memset(bsp->gpr, 0, sizeof bsp->gpr);
	if (boot_setup_gdt(mem, bsp, MB_CODE_SEL, MB_DATA_SEL, MB_TSS_SEL, false, err) < 0)
		return -1;
	bsp->gpr[GPR_RAX] = MB_BOOT_MAGIC;
	bsp->gpr[GPR_RBX] = BOOT_MB_INFO_ADDR;
	bsp->rip = plan.entry;
	bsp->rflags = 0x2;          /* IF = 0, VM = 0 */
	bsp->cr0 = CR0_PE | CR0_ET; /* PG = 0 */
	bsp->cr3 = 0;
	bsp->cr4 = 0;
	bsp->efer = 0;
	return 0;
}
