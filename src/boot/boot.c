/* Direct kernel boot: recognise the image format and hand it to its loader;
 * the GDT/TSS every entry state needs lives here because both loaders use it. */
#include "boot/boot.h"

#include <string.h>

#define ELF_MAGIC "\177ELF"

const char *boot_blob_name(const struct boot_blob *blob, const char *fallback)
{
	return blob->name && blob->name[0] ? blob->name : fallback;
}

int boot_load(const struct guest_mem *mem, const struct boot_request *req, struct cpu_state *bsp,
              struct error *err)
{
	const struct boot_blob *k = &req->kernel;
	const char *name = boot_blob_name(k, "kernel");

	if (!k->data || k->size == 0)
		return error_set(err, "%s: empty file", name);
	if (linux_is_bzimage(k->data, k->size))
		return linux_load(mem, req, bsp, err);
	if (multiboot_find_header(k->data, k->size) >= 0)
		return multiboot_load(mem, req, bsp, err);
	if (k->size >= 4 && memcmp(k->data, ELF_MAGIC, 4) == 0)
		return error_set(
		    err,
		    "%s: not a bzImage or Multiboot kernel (an ELF file without a Multiboot "
		    "header; for Linux, boot arch/x86/boot/bzImage rather than vmlinux)",
		    name);
	return error_set(err, "%s: not a bzImage or Multiboot kernel", name);
}

/* Packs an unpacked segment into the 8-byte descriptor format. */
static uint64_t gdt_descriptor(const struct cpu_segment *s)
{
	uint32_t limit = s->g ? s->limit >> 12 : s->limit;
	uint64_t d = (limit & 0xffffULL) | (s->base & 0xffffffULL) << 16;
	d |= (uint64_t)(s->type & 0xf) << 40 | (uint64_t)(s->s & 1) << 44 |
	     (uint64_t)(s->dpl & 3) << 45 | (uint64_t)(s->present & 1) << 47;
	d |= (uint64_t)((limit >> 16) & 0xf) << 48 | (uint64_t)(s->avl & 1) << 52 |
	     (uint64_t)(s->l & 1) << 53 | (uint64_t)(s->db & 1) << 54 | (uint64_t)(s->g & 1) << 55;
	d |= ((s->base >> 24) & 0xffULL) << 56;
	return d;
}

int boot_setup_gdt(const struct guest_mem *mem, struct cpu_state *bsp, uint16_t code_sel,
                   uint16_t data_sel, uint16_t tss_sel, bool long_mode, struct error *err)
{
	unsigned tss_slots = long_mode ? 2 : 1; /* a 64-bit TSS descriptor takes two slots */
	if ((code_sel | data_sel | tss_sel) & 7 || code_sel == 0 || data_sel == 0 || tss_sel == 0 ||
	    code_sel / 8 >= BOOT_GDT_SLOTS || data_sel / 8 >= BOOT_GDT_SLOTS ||
	    tss_sel / 8 + tss_slots > BOOT_GDT_SLOTS)
		return error_set(err, "internal error: bad boot GDT selectors");
	_Static_assert(BOOT_GDT_ADDR + BOOT_GDT_SLOTS * 8 <= BOOT_TSS_ADDR,
	               "GDT runs into the TSS");

	struct cpu_segment code = cpu_segment_flat(code_sel, true, long_mode);
	struct cpu_segment data = cpu_segment_flat(data_sel, false, long_mode);
	struct cpu_segment tss = {
	    .base = BOOT_TSS_ADDR,
	    .limit = BOOT_TSS_SIZE - 1,
	    .selector = tss_sel,
	    .type = 11, /* busy TSS (32-bit, or 64-bit in long mode): as after LTR */
	    .present = 1,
	};
	struct cpu_segment ldt = {.type = 2, .unusable = 1};

	uint64_t gdt[BOOT_GDT_SLOTS] = {0};
	gdt[code_sel / 8] = gdt_descriptor(&code);
	gdt[data_sel / 8] = gdt_descriptor(&data);
	gdt[tss_sel / 8] = gdt_descriptor(&tss);
	/* Upper half of a 64-bit system descriptor: base[63:32], rest zero. */
	if (long_mode)
		gdt[tss_sel / 8 + 1] = tss.base >> 32;
	unsigned used = (tss_sel / 8 + tss_slots) * 8;
	if (code_sel / 8u * 8 + 8 > used)
		used = code_sel / 8u * 8 + 8;
	if (data_sel / 8u * 8 + 8 > used)
		used = data_sel / 8u * 8 + 8;

	uint8_t bytes[sizeof gdt];
	for (unsigned i = 0; i < BOOT_GDT_SLOTS; i++)
		boot_put_le64(bytes + 8 * i, gdt[i]);
	uint8_t zero_tss[BOOT_TSS_SIZE] = {0};
	/* No I/O permission bitmap: its offset points past the limit. */
	boot_put_le16(zero_tss + 0x66, BOOT_TSS_SIZE);
	if (mem_write(mem, BOOT_GDT_ADDR, bytes, sizeof bytes) < 0 ||
	    mem_write(mem, BOOT_TSS_ADDR, zero_tss, sizeof zero_tss) < 0)
		return error_set(err, "guest memory too small for the boot GDT");

	bsp->gdt = (struct cpu_dtable){.base = BOOT_GDT_ADDR, .limit = (uint16_t)(used - 1)};
	bsp->idt =
	    (struct cpu_dtable){.base = 0, .limit = 0}; /* a fault now is a clean triple fault */
	bsp->seg[SEG_CS] = code;
	bsp->seg[SEG_DS] = data;
	bsp->seg[SEG_ES] = data;
	bsp->seg[SEG_FS] = data;
	bsp->seg[SEG_GS] = data;
	bsp->seg[SEG_SS] = data;
	bsp->seg[SEG_TR] = tss;
	bsp->seg[SEG_LDTR] = ldt;
	return 0;
}
