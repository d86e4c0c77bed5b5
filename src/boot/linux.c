/* Linux bzImage loader, 64-bit boot protocol (Documentation/arch/x86/boot.rst
 * and zero-page.rst in the kernel tree).
 *
 * We skip the real-mode setup code entirely and boot_params is filled in the
 * way the setup code would have. Then either
 *  - host decompression (req->host_decompress, the default of the CLI): the
 *    compressed vmlinux the header's payload_offset/payload_length locate is
 *    decompressed here and its ELF segments loaded at their physical
 *    addresses; the CPU enters startup_64 (e_entry) directly, so the guest
 *    never runs the decompressor (slow when every guest instruction is
 *    emulated); or
 *  - guest decompression: the protected-mode kernel is copied to its runtime
 *    address and the CPU enters its 64-bit entry point (load + 0x200).
 * Either way the CPU starts in long mode with identity-mapped page tables.
 * Everything is validated before the first byte is written to guest memory,
 * so a refused image leaves memory as it was. */
#include "boot/boot.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "boot/linux_payload.h"
#include "util/log.h"

/* Setup header fields, as offsets into the image (and into boot_params,
 * which embeds the header at the same offset). */
#define HDR_START 0x1f1
#define HDR_SETUP_SECTS 0x1f1
#define HDR_SYSSIZE 0x1f4
#define HDR_JUMP_LEN 0x201 /* second byte of the jump: header length after 0x202 */
#define HDR_MAGIC 0x202
#define HDR_VERSION 0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_HEAP_END_PTR 0x224
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_RELOCATABLE 0x234
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_PAYLOAD_OFFSET 0x248 /* from the start of the protected-mode kernel */
#define HDR_PAYLOAD_LENGTH 0x24c
#define HDR_SETUP_DATA 0x250
#define HDR_PREF_ADDRESS 0x258
#define HDR_INIT_SIZE 0x260
#define HDR_NEEDED_END 0x264 /* we read up to init_size */
#define HDR_MAX_END 0x290    /* where boot_params' copy of the header ends */

/* boot_params fields outside the setup header. */
#define BP_SIZE 0x1000
#define BP_ACPI_RSDP_ADDR 0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_E820_TABLE 0x2d0
#define BP_E820_ENTRY_SIZE 20

#define BOOT_PROTOCOL_MIN 0x020c  /* 2.12: xloadflags, 64-bit entry */
#define BOOT_PROTOCOL_RSDP 0x020e /* 2.14: acpi_rsdp_addr */
#define LOADFLAG_CAN_USE_HEAP 0x80
#define XLF_KERNEL_64 0x1
#define LOADER_TYPE_UNDEFINED 0xff
/* What boot.rst suggests for a modern kernel whose setup code is not run:
 * heap_end = 0xe000, minus the 0x200 the field is relative to. */
#define HEAP_END_PTR (0xe000 - 0x200)
#define ENTRY_64_OFFSET 0x200

#define MiB ((uint64_t)1 << 20)
#define PAGE_SIZE 0x1000ULL

/* Page table entry bits. */
#define PTE_P 0x1ULL
#define PTE_RW 0x2ULL
#define PTE_PS 0x80ULL

#define CR0_PE 0x1ULL
#define CR0_ET 0x10ULL
#define CR0_PG 0x80000000ULL
#define CR4_PAE 0x20ULL
#define EFER_LME 0x100ULL
#define EFER_LMA 0x400ULL

#define LINUX_BOOT_CS 0x10 /* __BOOT_CS */
#define LINUX_BOOT_DS 0x18 /* __BOOT_DS */
#define LINUX_BOOT_TSS 0x20

int linux_is_bzimage(const uint8_t *data, size_t size)
{
	return data && size >= HDR_MAGIC + 4 && memcmp(data + HDR_MAGIC, "HdrS", 4) == 0;
}

/* Everything the loader decided, computed before anything is written. */
struct linux_plan {
	const uint8_t *pm_kernel; /* protected-mode kernel in the file */
	uint64_t pm_size;
	uint64_t load_addr;
	uint64_t need;       /* bytes from load_addr the kernel uses before reading the E820 map */
	uint64_t kernel_end; /* nothing else may be placed below this */
	bool host_decompressed; /* vmlinux holds the decompressed payload */
	uint8_t *vmlinux_buf;   /* malloc'ed decompressed payload, freed by linux_load */
	struct vmlinux_image vmlinux;
	uint64_t initrd_addr, initrd_size;
	uint64_t initrd_offset[BOOT_MAX_INITRDS]; /* of each blob within the initrd */
	size_t header_len;                        /* bytes of setup header to copy */
	size_t cmdline_len;
	struct e820_entry e820[E820_MAX_ENTRIES];
	int ne820;
};

static uint64_t align_up(uint64_t v, uint64_t align)
{
	return (v + align - 1) & ~(align - 1);
}

static int check_header(const uint8_t *img, size_t size, const char *name, struct linux_plan *p,
                        struct error *err)
{
	if (!linux_is_bzimage(img, size))
		return error_set(err, "%s: not a bzImage (no \"HdrS\" setup header at 0x202)",
		                 name);
	size_t hdr_end = HDR_MAGIC + (size_t)img[HDR_JUMP_LEN];
	if (size < hdr_end || size < HDR_VERSION + 2)
		return error_set(err,
		                 "%s: truncated: the file (%zu bytes) ends inside the setup header",
		                 name, size);
	uint16_t version = boot_le16(img + HDR_VERSION);
	if (version < BOOT_PROTOCOL_MIN)
		return error_set(
		    err,
		    "%s: boot protocol %u.%02u is too old: ringfold needs 2.12 or later "
		    "(Linux 3.8+)",
		    name, version >> 8, version & 0xff);
	if (hdr_end < HDR_NEEDED_END)
		return error_set(
		    err, "%s: setup header is %zu bytes, too short for boot protocol %u.%02u", name,
		    hdr_end - HDR_START, version >> 8, version & 0xff);
	if (!(boot_le16(img + HDR_XLOADFLAGS) & XLF_KERNEL_64))
		return error_set(
		    err, "%s: not a 64-bit kernel (XLF_KERNEL_64 is not set in xloadflags)", name);
	p->header_len = (hdr_end < HDR_MAX_END ? hdr_end : HDR_MAX_END) - HDR_START;

	unsigned setup_sects = img[HDR_SETUP_SECTS] ? img[HDR_SETUP_SECTS] : 4;
	size_t setup_size = ((size_t)setup_sects + 1) * 512;
	if (size < setup_size)
		return error_set(
		    err,
		    "%s: truncated: the file (%zu bytes) ends inside the real-mode setup "
		    "code (%zu bytes)",
		    name, size, setup_size);
	uint64_t pm_size = (uint64_t)boot_le32(img + HDR_SYSSIZE) * 16;
	if (pm_size == 0)
		return error_set(err, "%s: syssize is 0: no protected-mode kernel", name);
	/* A signed kernel carries its signature after syssize: longer is fine. */
	if (pm_size > size - setup_size)
		return error_set(err,
		                 "%s: truncated: syssize says the protected-mode kernel is %" PRIu64
		                 " bytes but only %zu follow the setup code",
		                 name, pm_size, size - setup_size);
	p->pm_kernel = img + setup_size;
	p->pm_size = pm_size;
	return 0;
}

/* Where the kernel runs. boot.rst: a relocatable kernel decompresses itself
 * to align_up(max(load address, pref_address), kernel_alignment) and needs
 * init_size bytes from there, so loading it lower would not save memory; we
 * load it at that runtime address (pref_address, usually 16 MiB) and save it
 * a copy. A non-relocatable kernel must sit exactly at pref_address. */
static int place_kernel(const struct guest_mem *mem, const uint8_t *img, const char *name,
                        struct linux_plan *p, struct error *err)
{
	uint64_t low_end = mem_low_end(mem);
	uint64_t pref = boot_le64(img + HDR_PREF_ADDRESS);
	uint32_t align = boot_le32(img + HDR_KERNEL_ALIGNMENT);
	uint32_t init_size = boot_le32(img + HDR_INIT_SIZE);
	uint64_t load;

	if (img[HDR_RELOCATABLE]) {
		if (align == 0 || (align & (align - 1)) != 0)
			return error_set(err,
			                 "%s: invalid kernel_alignment %#x (not a power of two)",
			                 name, align);
		/* Below 1 MiB are our boot structures and the BIOS area. */
		load = pref < MiB ? MiB : pref;
		if (load <= low_end) /* else refused below; no rounding that could wrap */
			load = align_up(load, align);
	} else {
		load = pref;
		if (load < MiB)
			return error_set(
			    err,
			    "%s: the kernel is not relocatable and wants to run at %#" PRIx64
			    ", below 1 MiB",
			    name, load);
	}
	p->need = init_size > p->pm_size ? init_size : p->pm_size;
	if (load >= low_end || p->need > low_end - load) {
		uint64_t want = load > UINT64_MAX - p->need ? UINT64_MAX : load + p->need;
		return error_set(
		    err,
		    "%s: does not fit in RAM: the kernel needs %" PRIu64 " MiB from %#" PRIx64
		    " (RAM up to %#" PRIx64 ", so at least %" PRIu64 " MiB) but only %" PRIu64
		    " MiB are available there (RAM below the PCI hole ends at %#" PRIx64 ")",
		    name, (p->need + MiB - 1) / MiB, load, want, want / MiB + (want % MiB != 0),
		    load < low_end ? (low_end - load) / MiB : 0, low_end);
	}
	p->load_addr = load;
	p->kernel_end = load + p->need;
	return 0;
}

/* Host decompression: the payload is located, decompressed (bounded by guest
 * RAM and PAYLOAD_MAX_DECOMPRESSED) and its ELF validated. Formats the host
 * does not decompress, and images that do not describe their payload, are
 * left to the kernel's own decompressor. */
static int prepare_vmlinux(const struct guest_mem *mem, const uint8_t *img, const char *name,
                           struct linux_plan *p, struct error *err)
{
	uint32_t off = boot_le32(img + HDR_PAYLOAD_OFFSET);
	uint32_t len = boot_le32(img + HDR_PAYLOAD_LENGTH);
	if (len == 0) {
		log_info("%s: no payload described in the setup header; the kernel decompresses "
		         "itself in the guest",
		         name);
		return 0;
	}
	if (off > p->pm_size || len > p->pm_size - off)
		return error_set(
		    err,
		    "%s: the compressed kernel (payload_offset %#x, payload_length %#x) "
		    "lies outside the protected-mode kernel (%" PRIu64 " bytes)",
		    name, off, len, p->pm_size);
	const uint8_t *payload = p->pm_kernel + off;
	enum payload_format fmt = payload_detect(payload, len);
	if (!payload_host_supported(fmt)) {
		log_info("%s: %s-compressed kernel: not decompressed on the host; the kernel "
		         "decompresses itself in the guest",
		         name, payload_format_name(fmt));
		return 0;
	}
	uint64_t limit =
	    mem->ram_size < PAYLOAD_MAX_DECOMPRESSED ? mem->ram_size : PAYLOAD_MAX_DECOMPRESSED;
	size_t elf_size;
	if (payload_decompress(payload, len, fmt, (size_t)limit, name, &p->vmlinux_buf, &elf_size,
	                       err) < 0)
		return -1;
	if (vmlinux_parse(p->vmlinux_buf, elf_size, mem, MiB, name, &p->vmlinux, err) < 0)
		return -1;
	p->host_decompressed = true;
	if (p->vmlinux.end > p->kernel_end)
		p->kernel_end = p->vmlinux.end;
	log_info("%s: %s payload decompressed on the host: %zu bytes, %d segments at %#" PRIx64
	         "-%#" PRIx64 ", entry %#" PRIx64,
	         name, payload_format_name(fmt), elf_size, p->vmlinux.nsegments, p->vmlinux.lowest,
	         p->vmlinux.end, p->vmlinux.entry);
	return 0;
}

/* All initrds, concatenated (each padded to 4 bytes: the initramfs unpacker
 * looks for a cpio header only at 4-byte offsets and skips NUL padding),
 * at the highest page below both initrd_addr_max and the end of low RAM. */
static int place_initrd(const struct guest_mem *mem, const struct boot_request *req,
                        const uint8_t *img, const char *name, struct linux_plan *p,
                        struct error *err)
{
	uint64_t total = 0;
	for (int i = 0; i < req->ninitrds; i++) {
		const struct boot_blob *b = &req->initrds[i];
		if (!b->data && b->size)
			return error_set(err, "%s: initrd %d has no data", name, i);
		if (i > 0)
			total = align_up(total, 4);
		p->initrd_offset[i] = total;
		if (b->size > UINT64_MAX / 2 - total)
			return error_set(err, "%s: initrds too large", name);
		total += b->size;
	}
	p->initrd_size = total;
	p->initrd_addr = 0;
	if (total == 0)
		return 0;

	uint64_t max_addr = boot_le32(img + HDR_INITRD_ADDR_MAX); /* highest byte allowed */
	uint64_t top = max_addr + 1 < mem_low_end(mem) ? max_addr + 1 : mem_low_end(mem);
	uint64_t kernel_end = p->kernel_end; /* init_size area and the vmlinux' extent */
	if (total > top || ((top - total) & ~(PAGE_SIZE - 1)) < kernel_end) {
		uint64_t room = top > kernel_end ? top - kernel_end : 0;
		return error_set(err,
		                 "%s: initrd does not fit below initrd_addr_max: %" PRIu64
		                 " bytes of initrd, %" PRIu64
		                 " available between the end of the kernel "
		                 "(%#" PRIx64 ") and %#" PRIx64 " (initrd_addr_max %#" PRIx64 ")",
		                 boot_blob_name(&req->initrds[0], "initrd"), total, room,
		                 kernel_end, top, max_addr);
	}
	p->initrd_addr = (top - total) & ~(PAGE_SIZE - 1);
	return 0;
}

static int check_cmdline(const struct boot_request *req, const uint8_t *img, const char *name,
                         struct linux_plan *p, struct error *err)
{
	const char *cmd = req->cmdline ? req->cmdline : "";
	uint32_t kernel_max = boot_le32(img + HDR_CMDLINE_SIZE); /* without the NUL */
	size_t max = kernel_max < BOOT_CMDLINE_MAX - 1 ? kernel_max : BOOT_CMDLINE_MAX - 1;
	p->cmdline_len = strnlen(cmd, max + 1);
	if (p->cmdline_len > max)
		return error_set(
		    err, "%s: command line too long: %zu bytes, the kernel accepts at most %zu",
		    name, strlen(cmd), max);
	return 0;
}

static void build_zero_page(const uint8_t *img, const struct boot_request *req,
                            const struct linux_plan *p, uint8_t *bp)
{
	memset(bp, 0, BP_SIZE);
	memcpy(bp + HDR_START, img + HDR_START, p->header_len);

	bp[HDR_TYPE_OF_LOADER] = LOADER_TYPE_UNDEFINED;
	bp[HDR_LOADFLAGS] |= LOADFLAG_CAN_USE_HEAP;
	boot_put_le16(bp + HDR_HEAP_END_PTR, HEAP_END_PTR);
	boot_put_le32(bp + HDR_CMD_LINE_PTR, BOOT_CMDLINE_ADDR);
	boot_put_le32(bp + BP_EXT_CMD_LINE_PTR, 0);
	boot_put_le32(bp + HDR_RAMDISK_IMAGE, (uint32_t)p->initrd_addr);
	boot_put_le32(bp + HDR_RAMDISK_SIZE, (uint32_t)p->initrd_size);
	boot_put_le32(bp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(p->initrd_addr >> 32));
	boot_put_le32(bp + BP_EXT_RAMDISK_SIZE, (uint32_t)(p->initrd_size >> 32));
	boot_put_le64(bp + HDR_SETUP_DATA, 0); /* no setup_data list: never trust the file's */

	uint16_t version = boot_le16(img + HDR_VERSION);
	if (version >= BOOT_PROTOCOL_RSDP)
		boot_put_le64(bp + BP_ACPI_RSDP_ADDR, req->acpi_rsdp);

	bp[BP_E820_ENTRIES] = (uint8_t)p->ne820;
	for (int i = 0; i < p->ne820; i++) {
		uint8_t *e = bp + BP_E820_TABLE + i * BP_E820_ENTRY_SIZE;
		boot_put_le64(e, p->e820[i].addr);
		boot_put_le64(e + 8, p->e820[i].size);
		boot_put_le32(e + 16, p->e820[i].type);
	}
}

/* PML4 -> one PDPT -> four page directories of 2 MiB pages: 0-4 GiB identity
 * mapped, which covers the kernel, its init_size area, boot_params, the
 * command line and the initrd (all below the PCI hole). */
static int write_page_tables(const struct guest_mem *mem)
{
	enum { PML4, PDPT, PD0, NPAGES = PD0 + 4 };
	_Static_assert(BOOT_PAGE_TABLES_ADDR + NPAGES * PAGE_SIZE <= BOOT_PAGE_TABLES_END,
	               "boot page tables overflow their area");
	uint8_t page[PAGE_SIZE];
	for (int t = 0; t < NPAGES; t++) {
		memset(page, 0, sizeof page);
		if (t == PML4) {
			boot_put_le64(page,
			              (BOOT_PAGE_TABLES_ADDR + PDPT * PAGE_SIZE) | PTE_P | PTE_RW);
		} else if (t == PDPT) {
			for (int i = 0; i < 4; i++)
				boot_put_le64(page + 8 * i,
				              (BOOT_PAGE_TABLES_ADDR + (PD0 + i) * PAGE_SIZE) |
				                  PTE_P | PTE_RW);
		} else {
			uint64_t base = (uint64_t)(t - PD0) << 30;
			for (int i = 0; i < 512; i++)
				boot_put_le64(page + 8 * i, (base + ((uint64_t)i << 21)) | PTE_P |
				                                PTE_RW | PTE_PS);
		}
		if (mem_write(mem, BOOT_PAGE_TABLES_ADDR + t * PAGE_SIZE, page, sizeof page) < 0)
			return -1;
	}
	return 0;
}

/* Host decompression and initrd placement, the last checks, then the writes;
 * split from linux_load so that the decompressed buffer is freed on every path. */
static int place_and_write(const struct guest_mem *mem, const struct boot_request *req,
                           const uint8_t *img, const char *name, struct linux_plan *p,
                           struct cpu_state *bsp, struct error *err)
{
	if (req->host_decompress && prepare_vmlinux(mem, img, name, p, err) < 0)
		return -1;
	if (place_initrd(mem, req, img, name, p, err) < 0)
		return -1;
	if (mem_low_end(mem) < BOOT_CMDLINE_ADDR + BOOT_CMDLINE_MAX)
		return error_set(err, "%s: guest memory too small for the boot structures", name);
	p->ne820 = e820_build(mem, p->e820, E820_MAX_ENTRIES);
	if (p->ne820 < 0)
		return error_set(err, "%s: internal error: E820 map does not fit", name);

	/* Validated: now write. The writes below cannot fail for RAM checked above. */
	if (p->host_decompressed) {
		if (vmlinux_write(mem, &p->vmlinux) < 0)
			return error_set(err, "%s: internal error: vmlinux area is not RAM", name);
	} else {
		uint8_t *dst = mem_ptr(mem, p->load_addr, p->need);
		if (!dst)
			return error_set(err, "%s: internal error: kernel area is not RAM", name);
		/* The rest of init_size is scratch the kernel clears itself (bss,
		 * decompression buffer): not touching it keeps it unbacked on the host. */
		memcpy(dst, p->pm_kernel, p->pm_size);
	}
	for (int i = 0; i < req->ninitrds; i++) {
		const struct boot_blob *b = &req->initrds[i];
		uint64_t at = p->initrd_addr + p->initrd_offset[i];
		uint64_t pad_end =
		    i + 1 < req->ninitrds ? p->initrd_offset[i + 1] - p->initrd_offset[i] : b->size;
		uint8_t *d = mem_ptr(mem, at, pad_end);
		if (!d)
			return error_set(err, "%s: internal error: initrd area is not RAM", name);
		if (b->size)
			memcpy(d, b->data, b->size);
		memset(d + b->size, 0, pad_end - b->size);
	}

	uint8_t *cmd = mem_ptr(mem, BOOT_CMDLINE_ADDR, p->cmdline_len + 1);
	if (!cmd)
		return error_set(err, "%s: internal error: command line area is not RAM", name);
	if (p->cmdline_len)
		memcpy(cmd, req->cmdline, p->cmdline_len);
	cmd[p->cmdline_len] = '\0';

	uint8_t bp[BP_SIZE];
	build_zero_page(img, req, p, bp);
	if (mem_write(mem, BOOT_ZERO_PAGE_ADDR, bp, sizeof bp) < 0 || write_page_tables(mem) < 0)
		return error_set(err, "%s: guest memory too small for the boot structures", name);

	cpu_state_reset(bsp);
	memset(bsp->gpr, 0, sizeof bsp->gpr);
	if (boot_setup_gdt(mem, bsp, LINUX_BOOT_CS, LINUX_BOOT_DS, LINUX_BOOT_TSS, true, err) < 0)
		return -1;
	bsp->gpr[GPR_RSI] = BOOT_ZERO_PAGE_ADDR;
	/* startup_64 of the vmlinux, or the bzImage's own 64-bit entry. */
	bsp->rip = p->host_decompressed ? p->vmlinux.entry : p->load_addr + ENTRY_64_OFFSET;
	bsp->rflags = 0x2;
	bsp->cr0 = CR0_PE | CR0_ET | CR0_PG;
	bsp->cr3 = BOOT_PAGE_TABLES_ADDR;
	bsp->cr4 = CR4_PAE;
	bsp->efer = EFER_LME | EFER_LMA;
	return 0;
}

int linux_load(const struct guest_mem *mem, const struct boot_request *req, struct cpu_state *bsp,
               struct error *err)
{
	const uint8_t *img = req->kernel.data;
	size_t size = req->kernel.size;
	const char *name = boot_blob_name(&req->kernel, "kernel");
	struct linux_plan plan;
	memset(&plan, 0, sizeof plan);

	if (req->ninitrds < 0 || req->ninitrds > BOOT_MAX_INITRDS)
		return error_set(err, "%s: too many initrds (%d, at most %d)", name, req->ninitrds,
		                 BOOT_MAX_INITRDS);
	if (check_header(img, size, name, &plan, err) < 0 ||
	    check_cmdline(req, img, name, &plan, err) < 0 ||
	    place_kernel(mem, img, name, &plan, err) < 0)
		return -1;
	int rc = place_and_write(mem, req, img, name, &plan, bsp, err);
	free(plan.vmlinux_buf);
	return rc;
}