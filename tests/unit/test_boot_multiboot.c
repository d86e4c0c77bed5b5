/* The Multiboot v1 loader against synthetic kernels built here: ELF32, ELF64
 * and a.out-kludge images, with modules; the information structure is read
 * back from guest memory with offsets written out again from the
 * specification (0.6.96, section 3.3).
 *
 * RINGFOLD_WRITE_SEEDS=<dir> also writes the fuzzer's seed images to
 * <dir>/multiboot/ (how tests/fuzz/corpus/multiboot/ was made). A seed is a
 * kernel, optionally followed by FUZZ_MODULE_SEPARATOR and a module. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "boot/boot.h"
#include "boot_fixture.h"
#include "test.h"

#define FUZZ_MODULE_SEPARATOR "\n--ringfold-module--\n"
#define MiB (1ULL << 20)
#define MB_MAGIC 0x1badb002u

static uint8_t image[64 * 1024];
#define MB_HDR_OFF 0xf00 /* after up to 40 ELF32 program headers */

/* ---- image builders ---- */

static void mb_header(uint8_t *at, uint32_t flags)
{
	boot_put_le32(at, MB_MAGIC);
	boot_put_le32(at + 4, flags);
	boot_put_le32(at + 8, (uint32_t)(0u - MB_MAGIC - flags));
}

struct seg {
	uint32_t type;
	uint64_t vaddr, paddr, offset, filesz, memsz;
};

static uint8_t seg_byte(int seg, size_t i)
{
	return (uint8_t)(0x40 + seg * 0x20 + (i % 31));
}

/* An ELF executable (32- or 64-bit) with a Multiboot header at MB_HDR_OFF and the
 * segments' data at their offsets, filled with seg_byte(). Returns the size:
 * the end of the last segment's file data. */
static size_t elf_build(uint8_t *buf, bool is64, const struct seg *segs, int nseg, uint64_t entry,
                        uint32_t mb_flags)
{
	memset(buf, 0, sizeof image);
	memcpy(buf, "\177ELF", 4);
	buf[4] = is64 ? 2 : 1;
	buf[5] = 1;
	buf[6] = 1;
	boot_put_le16(buf + 16, 2);
	boot_put_le16(buf + 18, is64 ? 62 : 3);
	boot_put_le32(buf + 20, 1);
	size_t ehdr = is64 ? 64 : 52, phsz = is64 ? 56 : 32;
	if (is64) {
		boot_put_le64(buf + 24, entry);
		boot_put_le64(buf + 32, ehdr);
		boot_put_le16(buf + 52, 64);
		boot_put_le16(buf + 54, 56);
		boot_put_le16(buf + 56, (uint16_t)nseg);
	} else {
		boot_put_le32(buf + 24, (uint32_t)entry);
		boot_put_le32(buf + 28, (uint32_t)ehdr);
		boot_put_le16(buf + 40, 52);
		boot_put_le16(buf + 42, 32);
		boot_put_le16(buf + 44, (uint16_t)nseg);
	}
	size_t end = MB_HDR_OFF + 12;
	for (int i = 0; i < nseg; i++) {
		uint8_t *ph = buf + ehdr + i * phsz;
		const struct seg *s = &segs[i];
		boot_put_le32(ph, s->type);
		if (is64) {
			boot_put_le32(ph + 4, 5);
			boot_put_le64(ph + 8, s->offset);
			boot_put_le64(ph + 16, s->vaddr);
			boot_put_le64(ph + 24, s->paddr);
			boot_put_le64(ph + 32, s->filesz);
			boot_put_le64(ph + 40, s->memsz);
		} else {
			boot_put_le32(ph + 4, (uint32_t)s->offset);
			boot_put_le32(ph + 8, (uint32_t)s->vaddr);
			boot_put_le32(ph + 12, (uint32_t)s->paddr);
			boot_put_le32(ph + 16, (uint32_t)s->filesz);
			boot_put_le32(ph + 20, (uint32_t)s->memsz);
		}
		if (s->offset < sizeof image && s->filesz <= sizeof image - s->offset) {
			for (size_t j = 0; j < s->filesz; j++)
				buf[s->offset + j] = seg_byte(i, j);
			if (s->offset + s->filesz > end)
				end = s->offset + s->filesz;
		}
	}
	mb_header(buf + MB_HDR_OFF, mb_flags);
	return end;
}

/* Two segments: text at 1 MiB with a bss, data at 2 MiB. */
static const struct seg two_segs[] = {
    {1, 0x100000, 0x100000, 0x1000, 0x1000, 0x3000},
    {1, 0x200000, 0x200000, 0x2000, 0x800, 0x800},
};

/* a.out kludge: header at file offset 0x40, loaded from file offset 0. */
struct aout {
	uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
};

static size_t aout_build(uint8_t *buf, const struct aout *a, size_t size, uint32_t extra_flags)
{
	for (size_t i = 0; i < size; i++)
		buf[i] = (uint8_t)(i * 13 + 1);
	mb_header(buf + 0x40, (1u << 16) | extra_flags);
	boot_put_le32(buf + 0x4c, a->header_addr);
	boot_put_le32(buf + 0x50, a->load_addr);
	boot_put_le32(buf + 0x54, a->load_end_addr);
	boot_put_le32(buf + 0x58, a->bss_end_addr);
	boot_put_le32(buf + 0x5c, a->entry_addr);
	return size;
}

static const struct aout aout_default = {0x100040, 0x100000, 0, 0x110000, 0x100080};

/* ---- fixture ---- */

static int fx_init(struct fixture *f, uint64_t ram)
{
	if (fx_setup(f, ram, "/images/kernel.elf") < 0)
		return -1;
	return 0;
}

static int fx_load(struct fixture *f, const uint8_t *img, size_t size)
{
	return fx_run(f, multiboot_load, img, size);
}

static uint32_t g32(struct fixture *f, uint64_t gpa)
{
	uint8_t *p = gp(f, gpa, 4);
	return p ? boot_le32(p) : 0xdeadbeef;
}

static bool has(const char *msg, const char *needle)
{
	if (strstr(msg, needle))
		return true;
	printf("    message \"%s\" lacks \"%s\"\n", msg, needle);
	return false;
}

static bool in_info_area(uint64_t addr, uint64_t len)
{
	return addr >= BOOT_MB_INFO_ADDR && addr <= BOOT_MB_INFO_END &&
	       len <= BOOT_MB_INFO_END - addr;
}

/* A C string at gpa, entirely inside the information area. */
static const char *info_str(struct fixture *f, uint32_t gpa)
{
	if (!in_info_area(gpa, 1))
		return "<outside the info area>";
	const char *s = (const char *)gp(f, gpa, BOOT_MB_INFO_END - gpa);
	if (!memchr(s, 0, BOOT_MB_INFO_END - gpa))
		return "<unterminated>";
	return s;
}

static bool area_is_zero(struct fixture *f, uint64_t gpa, size_t len)
{
	const uint8_t *p = gp(f, gpa, len);
	for (size_t i = 0; p && i < len; i++)
		if (p[i])
			return false;
	return p != NULL;
}

#define FIX(f, ram)                                                                                \
	struct fixture f;                                                                          \
	if (fx_init(&f, ram) < 0) {                                                                \
		CHECK(0);                                                                          \
		return;                                                                            \
	}

/* ---- tests ---- */

static void test_find_header(void)
{
	static uint8_t buf[16384];
	memset(buf, 0, sizeof buf);
	CHECK_EQ(multiboot_find_header(buf, sizeof buf), -1);
	mb_header(buf + 4, 0);
	CHECK_EQ(multiboot_find_header(buf, sizeof buf), 4);
	CHECK_EQ(multiboot_find_header(buf, 15), -1); /* header cut off by the file's end */
	CHECK_EQ(multiboot_find_header(buf, 16), 4);
	boot_put_le32(buf + 12, 1); /* bad checksum */
	CHECK_EQ(multiboot_find_header(buf, sizeof buf), -1);
	memset(buf, 0, sizeof buf);
	mb_header(buf + 6, 0); /* not 4-byte aligned */
	CHECK_EQ(multiboot_find_header(buf, sizeof buf), -1);
	memset(buf, 0, sizeof buf);
	mb_header(buf + 8192 - 12, 3); /* last place it can be */
	CHECK_EQ(multiboot_find_header(buf, sizeof buf), 8192 - 12);
	memset(buf, 0, sizeof buf);
	mb_header(buf + 8192 - 8, 3); /* straddles the 8 KiB limit */
	CHECK_EQ(multiboot_find_header(buf, sizeof buf), -1);
	memset(buf, 0, sizeof buf);
	mb_header(buf + 8192, 3);
	CHECK_EQ(multiboot_find_header(buf, sizeof buf), -1);
	CHECK_EQ(multiboot_find_header(NULL, 0), -1);
}

static void test_elf32_load_and_entry_state(void)
{
	FIX(f, 32 * MiB);
	size_t size = elf_build(image, false, two_segs, 2, 0x100010, 0x3);
	memset(gp(&f, 0x100000, 0x200000), 0xaa, 0x200000); /* the bss must be cleared */
	CHECK_EQ(fx_load(&f, image, size), 0);

	const uint8_t *t = gp(&f, 0x100000, 0x3000);
	CHECK(memcmp(t, image + 0x1000, 0x1000) == 0);
	CHECK(area_is_zero(&f, 0x101000, 0x2000));
	CHECK_EQ(*gp(&f, 0x103000, 1), 0xaa); /* nothing past memsz */
	CHECK(memcmp(gp(&f, 0x200000, 0x800), image + 0x2000, 0x800) == 0);

	struct cpu_state *c = &f.cpu;
	CHECK_EQ(c->gpr[GPR_RAX], 0x2badb002);
	CHECK_EQ(c->gpr[GPR_RBX], BOOT_MB_INFO_ADDR);
	CHECK_EQ(c->rip, 0x100010);
	CHECK_EQ(c->rflags, 2);
	CHECK_EQ(c->cr0 & 1, 1);
	CHECK_EQ(c->cr0 & 0x80000000, 0);
	CHECK_EQ(c->cr4, 0);
	CHECK_EQ(c->efer, 0);
	const struct cpu_segment *cs = &c->seg[SEG_CS];
	CHECK_EQ(cs->selector, 0x08);
	CHECK_EQ(cs->base, 0);
	CHECK_EQ(cs->limit, 0xffffffff);
	CHECK_EQ(cs->type & 0xa, 0xa); /* code, readable */
	CHECK_EQ(cs->db, 1);
	CHECK_EQ(cs->l, 0);
	CHECK_EQ(cs->present, 1);
	CHECK_EQ(cs->s, 1);
	static const int data[] = {SEG_DS, SEG_ES, SEG_SS, SEG_FS, SEG_GS};
	for (int i = 0; i < 5; i++) {
		const struct cpu_segment *s = &c->seg[data[i]];
		CHECK_EQ(s->selector, 0x10);
		CHECK_EQ(s->type & 0xa, 0x2); /* data, writable */
		CHECK_EQ(s->base, 0);
		CHECK_EQ(s->limit, 0xffffffff);
		CHECK_EQ(s->db, 1);
		CHECK_EQ(s->present, 1);
	}
	CHECK_EQ(c->seg[SEG_TR].type, 11);
	CHECK_EQ(c->seg[SEG_TR].present, 1);
	CHECK_EQ(c->seg[SEG_TR].s, 0);
	CHECK_EQ(c->seg[SEG_TR].selector, 0x18);
	CHECK_EQ(c->seg[SEG_LDTR].unusable, 1);
	CHECK_EQ(c->gdt.base, BOOT_GDT_ADDR);
	CHECK_EQ(c->gdt.limit, 0x1f);
	const uint8_t *gdt = gp(&f, BOOT_GDT_ADDR, 32);
	CHECK_EQ(boot_le64(gdt), 0);
	CHECK_EQ(boot_le64(gdt + 8), 0x00cf9b000000ffffULL);
	CHECK_EQ(boot_le64(gdt + 16), 0x00cf93000000ffffULL);
	CHECK_EQ((boot_le64(gdt + 24) >> 40) & 0x9f, 0x8b); /* present busy 32-bit TSS */
	mem_destroy(&f.mem);
}

static void test_info_structure(void)
{
	FIX(f, 64 * MiB);
	f.req.cmdline = "root=/dev/vda quiet";
	CHECK_EQ(fx_load(&f, image, elf_build(image, false, two_segs, 2, 0x100010, 0)), 0);
	uint64_t mbi = BOOT_MB_INFO_ADDR;
	uint32_t flags = g32(&f, mbi);
	CHECK_EQ(flags, (1u << 0) | (1u << 2) | (1u << 3) | (1u << 6) | (1u << 9));
	CHECK_EQ(g32(&f, mbi + 4), 639);             /* mem_lower, KiB */
	CHECK_EQ(g32(&f, mbi + 8), (64 - 1) * 1024); /* mem_upper, KiB */
	CHECK(strcmp(info_str(&f, g32(&f, mbi + 16)), "/images/kernel.elf root=/dev/vda quiet") ==
	      0);
	CHECK_EQ(g32(&f, mbi + 20), 0); /* mods_count */
	CHECK(strcmp(info_str(&f, g32(&f, mbi + 64)), "ringfold") == 0);

	struct e820_entry map[E820_MAX_ENTRIES];
	int n = e820_build(&f.mem, map, E820_MAX_ENTRIES);
	uint32_t len = g32(&f, mbi + 44), addr = g32(&f, mbi + 48);
	CHECK_EQ(len, (uint32_t)n * 24);
	CHECK(in_info_area(addr, len));
	/* Walk it the way the specification says: by each entry's size field. */
	int i = 0;
	for (uint32_t at = addr; at < addr + len && i < n; i++) {
		uint32_t sz = g32(&f, at);
		CHECK_EQ(sz, 20);
		CHECK_EQ(boot_le64(gp(&f, at + 4, 8)), map[i].addr);
		CHECK_EQ(boot_le64(gp(&f, at + 12, 8)), map[i].size);
		CHECK_EQ(g32(&f, at + 20), map[i].type);
		at += sz + 4;
	}
	CHECK_EQ(i, n);

	/* No command line: just the kernel's name. */
	f.req.cmdline = NULL;
	CHECK_EQ(fx_load(&f, image, elf_build(image, false, two_segs, 2, 0x100010, 0)), 0);
	CHECK(strcmp(info_str(&f, g32(&f, mbi + 16)), "/images/kernel.elf") == 0);
	f.req.cmdline = "";
	CHECK_EQ(fx_load(&f, image, elf_build(image, false, two_segs, 2, 0x100010, 0)), 0);
	CHECK(strcmp(info_str(&f, g32(&f, mbi + 16)), "/images/kernel.elf") == 0);
	mem_destroy(&f.mem);
}

static void test_modules(void)
{
	FIX(f, 32 * MiB);
	static uint8_t m1[5000], m2[4096];
	memset(m1, 0x11, sizeof m1);
	memset(m2, 0x22, sizeof m2);
	f.req.initrds[0] = (struct boot_blob){m1, sizeof m1, "/boot/one.mod"};
	f.req.initrds[1] = (struct boot_blob){m2, sizeof m2, "two.mod"};
	f.req.initrds[2] = (struct boot_blob){m2, 0, "empty.mod"};
	f.req.ninitrds = 3;
	CHECK_EQ(fx_load(&f, image, elf_build(image, false, two_segs, 2, 0x100010, 1)), 0);
	uint64_t mbi = BOOT_MB_INFO_ADDR;
	CHECK_EQ(g32(&f, mbi + 20), 3);
	uint32_t mods = g32(&f, mbi + 24);
	CHECK(in_info_area(mods, 3 * 16));
	/* Kernel ends at 0x200800: the first module on the next page. */
	CHECK_EQ(g32(&f, mods), 0x201000);
	CHECK_EQ(g32(&f, mods + 4), 0x201000 + sizeof m1);
	CHECK(strcmp(info_str(&f, g32(&f, mods + 8)), "/boot/one.mod") == 0);
	CHECK_EQ(g32(&f, mods + 12), 0);
	CHECK_EQ(g32(&f, mods + 16), 0x203000);
	CHECK_EQ(g32(&f, mods + 20), 0x204000);
	CHECK(strcmp(info_str(&f, g32(&f, mods + 24)), "two.mod") == 0);
	CHECK_EQ(g32(&f, mods + 32), 0x204000);
	CHECK_EQ(g32(&f, mods + 36), 0x204000);
	CHECK(memcmp(gp(&f, 0x201000, sizeof m1), m1, sizeof m1) == 0);
	CHECK(memcmp(gp(&f, 0x203000, sizeof m2), m2, sizeof m2) == 0);

	/* A module that does not fit names itself. */
	static uint8_t big[32 * 1024 * 1024];
	f.req.initrds[1] = (struct boot_blob){big, 30 * MiB, "big.mod"};
	memset(gp(&f, BOOT_MB_INFO_ADDR, BOOT_MB_INFO_END - BOOT_MB_INFO_ADDR), 0,
	       BOOT_MB_INFO_END - BOOT_MB_INFO_ADDR);
	CHECK(fx_load(&f, image, elf_build(image, false, two_segs, 2, 0x100010, 1)) < 0);
	CHECK(has(f.err.msg, "big.mod: module does not fit in RAM"));
	CHECK(area_is_zero(&f, BOOT_MB_INFO_ADDR, BOOT_MB_INFO_END - BOOT_MB_INFO_ADDR));
	/* Exactly to the end of RAM is fine: 0x203000 + size = 32 MiB. */
	f.req.initrds[1].size = 32 * MiB - 0x203000;
	f.req.ninitrds = 2;
	CHECK_EQ(fx_load(&f, image, elf_build(image, false, two_segs, 2, 0x100010, 1)), 0);
	f.req.ninitrds = BOOT_MAX_INITRDS + 1;
	CHECK(fx_load(&f, image, elf_build(image, false, two_segs, 2, 0x100010, 1)) < 0);
	mem_destroy(&f.mem);
}

static void test_cmdline_too_long(void)
{
	FIX(f, 32 * MiB);
	static char cmd[BOOT_MB_INFO_END - BOOT_MB_INFO_ADDR];
	memset(cmd, 'c', sizeof cmd - 1);
	f.req.cmdline = cmd;
	CHECK(fx_load(&f, image, elf_build(image, false, two_segs, 2, 0x100010, 0)) < 0);
	CHECK(has(f.err.msg, "command line too long"));
	CHECK(area_is_zero(&f, 0x100000, 0x1000)); /* refused before loading anything */
	cmd[16000] = '\0';
	CHECK_EQ(fx_load(&f, image, elf_build(image, false, two_segs, 2, 0x100010, 0)), 0);
	CHECK_EQ(strlen(info_str(&f, g32(&f, BOOT_MB_INFO_ADDR + 16))), 16000 + 19);
	mem_destroy(&f.mem);
}

static void test_aout_kludge(void)
{
	FIX(f, 32 * MiB);
	struct aout a = aout_default;
	memset(gp(&f, 0x100000, 0x20000), 0xaa, 0x20000);
	size_t size = aout_build(image, &a, 0x2000, 0);
	CHECK_EQ(fx_load(&f, image, size), 0);
	CHECK(memcmp(gp(&f, 0x100000, size), image, size) == 0); /* load_end 0: whole file */
	CHECK(area_is_zero(&f, 0x100000 + size, 0x110000 - 0x100000 - size));
	CHECK_EQ(*gp(&f, 0x110000, 1), 0xaa);
	CHECK_EQ(f.cpu.rip, 0x100080);
	CHECK_EQ(f.cpu.gpr[GPR_RAX], 0x2badb002);

	/* Header later in memory than in the file: the file's start is skipped. */
	a = (struct aout){0x200040, 0x200020, 0x200800, 0, 0x200100};
	size = aout_build(image, &a, 0x2000, 0);
	CHECK_EQ(fx_load(&f, image, size), 0);
	CHECK(memcmp(gp(&f, 0x200000 + 0x20, 0x7e0), image + 0x20, 0x7e0) == 0);
	CHECK_EQ(*gp(&f, 0x200800, 1), 0); /* not loaded past load_end_addr */
	/* Modules go after the bss (or after load_end_addr without one). */
	static uint8_t m[10];
	f.req.initrds[0] = (struct boot_blob){m, sizeof m, "m"};
	f.req.ninitrds = 1;
	CHECK_EQ(fx_load(&f, image, size), 0);
	CHECK_EQ(g32(&f, g32(&f, BOOT_MB_INFO_ADDR + 24)), 0x201000);
	a = aout_default;
	CHECK_EQ(fx_load(&f, image, aout_build(image, &a, 0x2000, 0)), 0);
	CHECK_EQ(g32(&f, g32(&f, BOOT_MB_INFO_ADDR + 24)), 0x110000);
	f.req.ninitrds = 0;

	struct {
		struct aout a;
		size_t size;
		const char *msg;
	} bad[] = {
	    {{0x100040, 0x100050, 0, 0, 0x100080}, 0x2000, "above header_addr"},
	    {{0x100040, 0x0fffc0, 0, 0, 0x100080}, 0x2000, "before the file"},
	    {{0x100040, 0x100000, 0x0fff00, 0, 0x100080}, 0x2000, "below load_addr"},
	    {{0x100040, 0x100000, 0x101000, 0x100800, 0x100080}, 0x2000, "bss_end_addr"},
	    {{0x100040, 0x100000, 0x103000, 0, 0x100080}, 0x2000, "truncated"},
	    {{0x100040, 0x100000, 0, 0x2001000, 0x100080}, 0x2000, "not in guest RAM"},
	    {{0xfffff040, 0xfffff000, 0xfffff800, 0xffffffff, 0xfffff080},
	     0x2000,
	     "not in guest RAM"},
	    {{0xfffff040, 0xfffff000, 0, 0xffffffff, 0xfffff080}, 0x2000, "below the end"},
	    {{0x0e0040, 0x0e0000, 0, 0, 0x0e0080}, 0x2000, "not in guest RAM"}, /* BIOS area */
	    {{0x1040, 0x1000, 0, 0, 0x1080}, 0x2000, "boot data"},
	    {{0x100040, 0x100000, 0, 0, 0x100080}, 0x50, "truncated"},
	};
	for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size = aout_build(image, &bad[i].a, bad[i].size, 0);
		if (fx_load(&f, image, size) == 0) {
			printf("    case %u accepted\n", i);
			CHECK(0);
		}
		CHECK(has(f.err.msg, bad[i].msg));
		CHECK(has(f.err.msg, "/images/kernel.elf"));
	}
	mem_destroy(&f.mem);
}

static void test_header_flags(void)
{
	FIX(f, 32 * MiB);
	/* Video mode (bit 2) is ignored; optional bits 17-31 too. */
	CHECK_EQ(fx_load(&f, image, elf_build(image, false, two_segs, 2, 0x100010, 0x7)), 0);
	CHECK_EQ(fx_load(&f, image, elf_build(image, false, two_segs, 2, 0x100010, 0xfffe0003)), 0);
	for (int bit = 3; bit < 16; bit++) {
		CHECK(fx_load(&f, image,
		              elf_build(image, false, two_segs, 2, 0x100010, 1u << bit)) < 0);
		char want[32];
		snprintf(want, sizeof want, "feature bit %d ", bit);
		CHECK(has(f.err.msg, want));
	}
	/* A bad checksum is no header at all. */
	size_t size = elf_build(image, false, two_segs, 2, 0x100010, 0);
	image[MB_HDR_OFF + 8] ^= 1;
	CHECK(fx_load(&f, image, size) < 0);
	CHECK(has(f.err.msg, "no Multiboot header"));
	mem_destroy(&f.mem);
}

static void test_elf64_and_entry_translation(void)
{
	FIX(f, 32 * MiB);
	CHECK_EQ(fx_load(&f, image, elf_build(image, true, two_segs, 2, 0x200004, 0)), 0);
	CHECK_EQ(f.cpu.rip, 0x200004);
	CHECK(memcmp(gp(&f, 0x200000, 0x800), image + 0x2000, 0x800) == 0);
	CHECK(area_is_zero(&f, 0x101000, 0x2000));
	/* A higher-half kernel: virtual entry mapped to its physical address. */
	struct seg hh[] = {{1, 0xffffffff80100000ULL, 0x100000, 0x1000, 0x1000, 0x1000}};
	CHECK_EQ(fx_load(&f, image, elf_build(image, true, hh, 1, 0xffffffff80100020ULL, 0)), 0);
	CHECK_EQ(f.cpu.rip, 0x100020);
	struct seg hh32[] = {{1, 0xc0100000, 0x100000, 0x1000, 0x1000, 0x1000}};
	CHECK_EQ(fx_load(&f, image, elf_build(image, false, hh32, 1, 0xc0100020, 0)), 0);
	CHECK_EQ(f.cpu.rip, 0x100020);
	/* An entry no segment covers must still be a 32-bit address. */
	CHECK(fx_load(&f, image, elf_build(image, true, two_segs, 2, 0x100000000ULL, 0)) < 0);
	CHECK(has(f.err.msg, "32-bit"));
	/* ELF64 segments must lie below 4 GiB. */
	struct seg high[] = {{1, 0x100000000ULL, 0x100000000ULL, 0x1000, 0x1000, 0x1000}};
	CHECK(fx_load(&f, image, elf_build(image, true, high, 1, 0x100000, 0)) < 0);
	CHECK(has(f.err.msg, "4 GiB"));
	mem_destroy(&f.mem);
}

static void test_elf_errors(void)
{
	FIX(f, 32 * MiB);
	struct {
		struct seg s[2];
		int n;
		const char *msg;
	} bad[] = {
	    {{{1, 0x100000, 0x100000, 0x1000, 0x1000, 0x2000},
	      {1, 0x101800, 0x101800, 0x2000, 0x10, 0x10}},
	     2,
	     "overlap"},
	    {{{1, 0x100000, 0x100000, 0x1000, 0x2000, 0x1000}}, 1, "more bytes in the file"},
	    {{{1, 0x100000, 0x100000, 0x1000, 0x1000, 0x1000},
	      {1, 0x200000, 0x200000, 0xfff0, 0x1000, 0x1000}},
	     2,
	     "truncated"},
	    {{{1, 0x100000, 0x100000, 0xffffffffULL, 0x10, 0x10}}, 1, "truncated"},
	    {{{1, 0x1ffff00, 0x1ffff00, 0x1000, 0x1000, 0x1000}}, 1, "not in guest RAM"},
	    {{{1, 0xfffff000, 0xfffff000, 0x1000, 0x100, 0x2000}}, 1, "4 GiB"},
	    {{{1, 0x100000, 0x100000, 0x1000, 0x100, 0xffffffffULL}}, 1, "4 GiB"},
	    {{{1, 0x9f000, 0x9f000, 0x1000, 0x1000, 0x1000}}, 1, "not in guest RAM"}, /* EBDA */
	    {{{1, 0x6800, 0x6800, 0x1000, 0x1000, 0x1000}}, 1, "boot data"},
	    {{{2, 0x100000, 0x100000, 0x1000, 0x1000, 0x1000}}, 1, "no loadable segments"},
	    {{{1, 0x100000, 0x100000, 0x1000, 0, 0}}, 1, "no loadable segments"},
	};
	for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size_t size = elf_build(image, false, bad[i].s, bad[i].n, 0x100000, 0);
		if (fx_load(&f, image, size) == 0) {
			printf("    case %u accepted\n", i);
			CHECK(0);
		}
		CHECK(has(f.err.msg, bad[i].msg));
	}
	/* Zero-sized PT_LOADs next to real ones are ignored, not overlaps. */
	struct seg ok[] = {{1, 0x100000, 0x100000, 0x1000, 0, 0},
	                   {1, 0x100000, 0x100000, 0x1000, 0x10, 0x10}};
	CHECK_EQ(fx_load(&f, image, elf_build(image, false, ok, 2, 0x100000, 0)), 0);

	/* Header fields. */
	size_t size = elf_build(image, false, two_segs, 2, 0x100010, 0);
	static uint8_t copy[sizeof image];
	struct {
		size_t off;
		uint8_t val;
		const char *msg;
	} fields[] = {
	    {0, 0x7e, "not an ELF"},       {4, 3, "ELF class"},     {5, 2, "little-endian"},
	    {16, 3, "not an executable"},  {18, 62, "machine 62"},  {42, 16, "program header size"},
	    {44, 0, "no program headers"}, {29, 0xff, "truncated"}, /* e_phoff */
	    {45, 0x40, "truncated"},                                /* e_phnum 0x4002 */
	};
	for (unsigned i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		memcpy(copy, image, size);
		copy[fields[i].off] = fields[i].val;
		CHECK(fx_load(&f, copy, size) < 0);
		CHECK(has(f.err.msg, fields[i].msg));
	}
	/* Too many segments. */
	static struct seg many[40];
	for (int i = 0; i < 40; i++)
		many[i] = (struct seg){
		    1, 0x100000 + i * 0x1000, 0x100000 + i * 0x1000, 0x1000, 0x10, 0x10};
	CHECK(fx_load(&f, image, elf_build(image, false, many, 40, 0x100000, 0)) < 0);
	CHECK(has(f.err.msg, "loadable segments"));
	mem_destroy(&f.mem);
}

static void test_truncated_everywhere(void)
{
	FIX(f, 32 * MiB);
	static uint8_t copy[sizeof image];
	for (int kind = 0; kind < 3; kind++) {
		size_t size = kind == 2 ? aout_build(image, &aout_default, 0x1800, 0)
		                        : elf_build(image, kind == 1, two_segs, 2, 0x100010, 0);
		int accepted = 0;
		for (size_t len = 0; len < size; len++) {
			/* A copy of exactly len bytes, so ASan sees any overread. */
			uint8_t *p = len ? malloc(len) : copy;
			memcpy(p, image, len);
			if (fx_load(&f, p, len) == 0)
				accepted++;
			if (len)
				free(p);
		}
		/* a.out with load_end_addr 0 takes whatever the file has. */
		if (kind == 2)
			CHECK_EQ(accepted, size - (0x40 + 32));
		else
			CHECK_EQ(accepted, 0);
		CHECK_EQ(fx_load(&f, image, size), 0);
	}
	mem_destroy(&f.mem);
}

static void test_boot_load_dispatch(void)
{
	FIX(f, 32 * MiB);
	size_t size = elf_build(image, false, two_segs, 2, 0x100010, 0);
	f.req.kernel = (struct boot_blob){image, size, "k"};
	CHECK_EQ(boot_load(&f.mem, &f.req, &f.cpu, &f.err), 0);
	CHECK_EQ(f.cpu.gpr[GPR_RAX], 0x2badb002);
	CHECK(strcmp(info_str(&f, g32(&f, BOOT_MB_INFO_ADDR + 16)), "k") == 0);
	mem_destroy(&f.mem);
}

/* ---- fuzz seeds ---- */

static int write_seed(const char *dir, const char *name, const uint8_t *k, size_t ksize,
                      const uint8_t *mod, size_t msize)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/multiboot/%s", dir, name);
	FILE *fp = fopen(path, "wb");
	if (!fp)
		return -1;
	size_t sep = strlen(FUZZ_MODULE_SEPARATOR);
	bool ok = fwrite(k, 1, ksize, fp) == ksize;
	if (mod)
		ok = ok && fwrite(FUZZ_MODULE_SEPARATOR, 1, sep, fp) == sep &&
		     fwrite(mod, 1, msize, fp) == msize;
	return fclose(fp) == 0 && ok ? 0 : -1;
}

static int write_seeds(const char *dir)
{
	char sub[4096];
	snprintf(sub, sizeof sub, "%s/multiboot", dir);
	if (mkdir(sub, 0777) < 0 && errno != EEXIST)
		return -1;
	static const uint8_t mod[] = "module contents\n";
	int rc = 0;
	size_t n = elf_build(image, false, two_segs, 2, 0x100010, 0x3);
	rc |= write_seed(dir, "elf32", image, n, NULL, 0);
	rc |= write_seed(dir, "elf32-module", image, n, mod, sizeof mod);
	rc |= write_seed(dir, "elf32-truncated", image, n - 0x400, NULL, 0);
	n = elf_build(image, true, two_segs, 2, 0x100010, 0x3);
	rc |= write_seed(dir, "elf64", image, n, mod, sizeof mod);
	struct seg hh[] = {{1, 0xc0100000, 0x100000, 0x1000, 0x100, 0x1000}};
	rc |= write_seed(dir, "elf32-higher-half", image,
	                 elf_build(image, false, hh, 1, 0xc0100000, 0), NULL, 0);
	const struct seg overlap[] = {{1, 0x100000, 0x100000, 0x1000, 0x1000, 0x2000},
	                              {1, 0x101800, 0x101800, 0x2000, 0x10, 0x10}};
	rc |= write_seed(dir, "elf32-overlap", image,
	                 elf_build(image, false, overlap, 2, 0x100000, 0), NULL, 0);
	n = aout_build(image, &aout_default, 0x800, 0);
	rc |= write_seed(dir, "aout", image, n, mod, sizeof mod);
	struct aout a = {0x100040, 0x100000, 0x100400, 0x100800, 0x100080};
	rc |= write_seed(dir, "aout-load-end", image, aout_build(image, &a, 0x600, 0), NULL, 0);
	rc |=
	    write_seed(dir, "aout-bad-flag", image, aout_build(image, &a, 0x600, 1u << 5), NULL, 0);
	return rc;
}

int main(void)
{
	const char *seeds = getenv("RINGFOLD_WRITE_SEEDS");
	if (seeds && write_seeds(seeds) < 0) {
		printf("cannot write seeds to %s\n", seeds);
		return 1;
	}
	RUN(test_find_header);
	RUN(test_elf32_load_and_entry_state);
	RUN(test_info_structure);
	RUN(test_modules);
	RUN(test_cmdline_too_long);
	RUN(test_aout_kludge);
	RUN(test_header_flags);
	RUN(test_elf64_and_entry_translation);
	RUN(test_elf_errors);
	RUN(test_truncated_everywhere);
	RUN(test_boot_load_dispatch);
	TEST_DONE();
}
