/* The bzImage loader against synthetic images built here from the boot
 * protocol (the field offsets below are written out again from boot.rst and
 * zero-page.rst rather than shared with the loader, so that a wrong offset in
 * one place is caught by the other), plus an optional real Debian kernel:
 * RINGFOLD_LINUX_KERNEL=/path/to/vmlinuz (skipped loudly otherwise).
 *
 * RINGFOLD_WRITE_SEEDS=<dir> also writes the fuzzer's seed images to
 * <dir>/bzimage/ (how tests/fuzz/corpus/bzimage/ was made). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "boot/boot.h"
#include "boot_fixture.h"
#include "test.h"
#include "util/file.h"

static int skipped;

/* Offsets: image and boot_params share the setup header's. */
enum {
	O_ACPI_RSDP = 0x070,
	O_EXT_RAMDISK_IMAGE = 0x0c0,
	O_EXT_RAMDISK_SIZE = 0x0c4,
	O_EXT_CMD_LINE_PTR = 0x0c8,
	O_E820_ENTRIES = 0x1e8,
	O_SENTINEL = 0x1ef,
	O_SETUP_SECTS = 0x1f1,
	O_SYSSIZE = 0x1f4,
	O_VID_MODE = 0x1fa,
	O_BOOT_FLAG = 0x1fe,
	O_JUMP = 0x200,
	O_HEADER = 0x202,
	O_VERSION = 0x206,
	O_TYPE_OF_LOADER = 0x210,
	O_LOADFLAGS = 0x211,
	O_RAMDISK_IMAGE = 0x218,
	O_RAMDISK_SIZE = 0x21c,
	O_HEAP_END_PTR = 0x224,
	O_CMD_LINE_PTR = 0x228,
	O_INITRD_ADDR_MAX = 0x22c,
	O_KERNEL_ALIGNMENT = 0x230,
	O_RELOCATABLE = 0x234,
	O_MIN_ALIGNMENT = 0x235,
	O_XLOADFLAGS = 0x236,
	O_CMDLINE_SIZE = 0x238,
	O_SETUP_DATA = 0x250,
	O_PREF_ADDRESS = 0x258,
	O_INIT_SIZE = 0x260,
	O_E820_TABLE = 0x2d0,
};

#define MiB (1ULL << 20)

struct bz_opts {
	uint16_t version;
	uint8_t setup_sects;
	uint8_t header_len; /* byte at 0x201 */
	uint16_t xloadflags;
	uint32_t kernel_alignment;
	uint8_t relocatable;
	uint64_t pref_address;
	uint32_t init_size;
	uint32_t cmdline_size;
	uint32_t initrd_addr_max;
	uint32_t pm_size; /* multiple of 16 */
	uint32_t trailer; /* bytes after syssize (a signature) */
};

static struct bz_opts bz_default(void)
{
	return (struct bz_opts){
	    .version = 0x020f,
	    .setup_sects = 4,
	    .header_len = 0x6a, /* header ends at 0x26c, as in Linux 6.1 */
	    .xloadflags = 0x1 | 0x2 | 0x8,
	    .kernel_alignment = 0x200000,
	    .relocatable = 1,
	    .pref_address = 16 * MiB,
	    .init_size = 4 * MiB,
	    .cmdline_size = 2047,
	    .initrd_addr_max = 0x7fffffff,
	    .pm_size = 4096,
	};
}

static size_t bz_setup_size(const struct bz_opts *o)
{
	return ((o->setup_sects ? o->setup_sects : 4) + 1) * 512u;
}

static uint8_t pm_byte(size_t i)
{
	return (uint8_t)(i * 7 + 3);
}

/* A bzImage whose setup code is filler and whose protected-mode kernel is a
 * byte pattern; returns its size. buf must hold 64 KiB. */
static size_t bz_build(uint8_t *buf, const struct bz_opts *o)
{
	size_t setup = bz_setup_size(o);
	size_t total = setup + o->pm_size + o->trailer;
	memset(buf, 0x90, setup);
	memset(buf + O_SETUP_SECTS, 0, 0x290 - O_SETUP_SECTS);
	buf[O_SETUP_SECTS] = o->setup_sects;
	boot_put_le32(buf + O_SYSSIZE, o->pm_size / 16);
	boot_put_le16(buf + O_VID_MODE, 0xffff);
	boot_put_le16(buf + O_BOOT_FLAG, 0xaa55);
	buf[O_JUMP] = 0xeb;
	buf[O_JUMP + 1] = o->header_len;
	memcpy(buf + O_HEADER, "HdrS", 4);
	boot_put_le16(buf + O_VERSION, o->version);
	buf[O_LOADFLAGS] = 0x01; /* LOADED_HIGH */
	boot_put_le32(buf + O_INITRD_ADDR_MAX, o->initrd_addr_max);
	boot_put_le32(buf + O_KERNEL_ALIGNMENT, o->kernel_alignment);
	buf[O_RELOCATABLE] = o->relocatable;
	buf[O_MIN_ALIGNMENT] = 21;
	boot_put_le16(buf + O_XLOADFLAGS, o->xloadflags);
	boot_put_le32(buf + O_CMDLINE_SIZE, o->cmdline_size);
	boot_put_le64(buf + O_SETUP_DATA, 0x12345678); /* must not reach the guest */
	boot_put_le64(buf + O_PREF_ADDRESS, o->pref_address);
	boot_put_le32(buf + O_INIT_SIZE, o->init_size);
	/* Beyond the header's stated length: must not be copied. */
	for (size_t i = O_HEADER + o->header_len; i < 0x290; i++)
		buf[i] = 0xee;
	for (size_t i = 0; i < o->pm_size; i++)
		buf[setup + i] = pm_byte(i);
	memset(buf + setup + o->pm_size, 0x5a, o->trailer);
	return total;
}

static uint8_t image[64 * 1024];

static int fx_init(struct fixture *f, uint64_t ram)
{
	if (fx_setup(f, ram, "test-bzImage") < 0)
		return -1;
	return 0;
}

static int fx_load(struct fixture *f, const uint8_t *img, size_t size)
{
	return fx_run(f, linux_load, img, size);
}

static uint8_t *zp(struct fixture *f)
{
	return gp(f, BOOT_ZERO_PAGE_ADDR, 4096);
}

static bool has(const char *msg, const char *needle)
{
	if (strstr(msg, needle))
		return true;
	printf("    message \"%s\" lacks \"%s\"\n", msg, needle);
	return false;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void test_loads_kernel_and_zero_page(void)
{
	struct fixture f;
	if (fx_init(&f, 64 * MiB) < 0) {
		CHECK(0);
		return;
	}
	struct bz_opts o = bz_default();
	size_t size = bz_build(image, &o);
	f.req.cmdline = "console=ttyS0 root=/dev/vda";
	f.req.acpi_rsdp = 0xe0040;
	CHECK_EQ(fx_load(&f, image, size), 0);

	/* The protected-mode kernel at pref_address, byte for byte. */
	const uint8_t *k = gp(&f, 16 * MiB, o.pm_size);
	CHECK(k && memcmp(k, image + bz_setup_size(&o), o.pm_size) == 0);

	const uint8_t *bp = zp(&f);
	CHECK(all_zero(bp, O_ACPI_RSDP)); /* screen_info, apm, ist: zeroed */
	CHECK_EQ(boot_le64(bp + O_ACPI_RSDP), 0xe0040);
	CHECK_EQ(bp[O_SENTINEL], 0);
	/* Header copied from 0x1f1 for its stated length... */
	CHECK_EQ(bp[O_SETUP_SECTS], 4);
	CHECK_EQ(boot_le32(bp + O_SYSSIZE), o.pm_size / 16);
	CHECK_EQ(boot_le16(bp + O_VID_MODE), 0xffff);
	CHECK_EQ(boot_le16(bp + O_BOOT_FLAG), 0xaa55);
	CHECK(memcmp(bp + O_HEADER, "HdrS", 4) == 0);
	CHECK_EQ(boot_le16(bp + O_VERSION), 0x020f);
	CHECK_EQ(boot_le32(bp + O_INIT_SIZE), 4 * MiB);
	CHECK_EQ(boot_le64(bp + O_PREF_ADDRESS), 16 * MiB);
	CHECK_EQ(boot_le32(bp + O_KERNEL_ALIGNMENT), 0x200000);
	/* ...and nothing beyond it. */
	CHECK(all_zero(bp + O_HEADER + o.header_len, 0x290 - (O_HEADER + o.header_len)));
	/* Fields the loader writes. */
	CHECK_EQ(bp[O_TYPE_OF_LOADER], 0xff);
	CHECK_EQ(bp[O_LOADFLAGS], 0x81); /* LOADED_HIGH kept, CAN_USE_HEAP added */
	CHECK_EQ(boot_le16(bp + O_HEAP_END_PTR), 0xde00);
	CHECK_EQ(boot_le32(bp + O_CMD_LINE_PTR), BOOT_CMDLINE_ADDR);
	CHECK_EQ(boot_le32(bp + O_EXT_CMD_LINE_PTR), 0);
	CHECK_EQ(boot_le64(bp + O_SETUP_DATA), 0);
	CHECK_EQ(boot_le32(bp + O_RAMDISK_IMAGE), 0);
	CHECK_EQ(boot_le32(bp + O_RAMDISK_SIZE), 0);
	CHECK_EQ(boot_le32(bp + O_EXT_RAMDISK_IMAGE), 0);
	CHECK_EQ(boot_le32(bp + O_EXT_RAMDISK_SIZE), 0);
	const char *cmd = (const char *)gp(&f, BOOT_CMDLINE_ADDR, 64);
	CHECK(cmd && strcmp(cmd, "console=ttyS0 root=/dev/vda") == 0);

	/* E820 as e820_build says, 20 bytes an entry. */
	struct e820_entry map[E820_MAX_ENTRIES];
	int n = e820_build(&f.mem, map, E820_MAX_ENTRIES);
	CHECK_EQ(n, 4);
	CHECK_EQ(bp[O_E820_ENTRIES], n);
	for (int i = 0; i < n; i++) {
		const uint8_t *e = bp + O_E820_TABLE + 20 * i;
		CHECK_EQ(boot_le64(e), map[i].addr);
		CHECK_EQ(boot_le64(e + 8), map[i].size);
		CHECK_EQ(boot_le32(e + 16), map[i].type);
	}
	CHECK_EQ(boot_le64(bp + O_E820_TABLE + 20 * 3), 1 * MiB);
	CHECK_EQ(boot_le64(bp + O_E820_TABLE + 20 * 3 + 8), 63 * MiB);
	mem_destroy(&f.mem);
}

/* Walks the 4-level tables the loader built, as the CPU would. */
static uint64_t walk(struct fixture *f, uint64_t va, bool *ok)
{
	*ok = false;
	const uint8_t *pml4 = gp(f, f->cpu.cr3, 4096);
	if (!pml4)
		return 0;
	uint64_t e = boot_le64(pml4 + 8 * ((va >> 39) & 511));
	if (!(e & 1) || (e & ~0xfffULL) < BOOT_PAGE_TABLES_ADDR ||
	    (e & ~0xfffULL) >= BOOT_PAGE_TABLES_END)
		return 0;
	e = boot_le64(gp(f, e & ~0xfffULL, 4096) + 8 * ((va >> 30) & 511));
	if (!(e & 1) || (e & 0x80) || (e & ~0xfffULL) < BOOT_PAGE_TABLES_ADDR ||
	    (e & ~0xfffULL) >= BOOT_PAGE_TABLES_END)
		return 0;
	e = boot_le64(gp(f, e & ~0xfffULL, 4096) + 8 * ((va >> 21) & 511));
	if (!(e & 1) || !(e & 0x80) || !(e & 2))
		return 0;
	*ok = true;
	return (e & ~0x1fffffULL) | (va & 0x1fffff);
}

static void test_entry_state(void)
{
	struct fixture f;
	if (fx_init(&f, 64 * MiB) < 0) {
		CHECK(0);
		return;
	}
	struct bz_opts o = bz_default();
	CHECK_EQ(fx_load(&f, image, bz_build(image, &o)), 0);
	struct cpu_state *c = &f.cpu;

	CHECK_EQ(c->rip, 16 * MiB + 0x200);
	CHECK_EQ(c->gpr[GPR_RSI], BOOT_ZERO_PAGE_ADDR);
	CHECK_EQ(c->rflags, 2);
	CHECK_EQ(c->cr0 & 0x80000011, 0x80000011); /* PG, ET, PE */
	CHECK_EQ(c->cr4, 0x20);
	CHECK_EQ(c->efer, 0x500);
	CHECK_EQ(c->cr3, BOOT_PAGE_TABLES_ADDR);

	CHECK_EQ(c->seg[SEG_CS].selector, 0x10);
	CHECK_EQ(c->seg[SEG_CS].l, 1);
	CHECK_EQ(c->seg[SEG_CS].db, 0);
	CHECK_EQ(c->seg[SEG_CS].type, 11);
	CHECK_EQ(c->seg[SEG_CS].s, 1);
	CHECK_EQ(c->seg[SEG_CS].present, 1);
	static const int data[] = {SEG_DS, SEG_ES, SEG_SS, SEG_FS, SEG_GS};
	for (int i = 0; i < 5; i++) {
		const struct cpu_segment *s = &c->seg[data[i]];
		CHECK_EQ(s->selector, 0x18);
		CHECK_EQ(s->type, 3);
		CHECK_EQ(s->s, 1);
		CHECK_EQ(s->present, 1);
		CHECK_EQ(s->base, 0);
		CHECK_EQ(s->limit, 0xffffffff);
	}
	const struct cpu_segment *tr = &c->seg[SEG_TR];
	CHECK_EQ(tr->type, 11);
	CHECK_EQ(tr->s, 0);
	CHECK_EQ(tr->present, 1);
	CHECK_EQ(tr->unusable, 0);
	CHECK(tr->limit >= 0x67);
	CHECK_EQ(tr->selector, 0x20);
	CHECK_EQ(c->seg[SEG_LDTR].unusable, 1);

	/* The GDT in memory matches the hidden state. */
	CHECK_EQ(c->gdt.base, BOOT_GDT_ADDR);
	CHECK_EQ(c->gdt.limit, 0x2f); /* null, null, code, data, 16-byte TSS */
	const uint8_t *gdt = gp(&f, BOOT_GDT_ADDR, 0x30);
	CHECK_EQ(boot_le64(gdt), 0);
	CHECK_EQ(boot_le64(gdt + 0x10), 0x00af9b000000ffffULL);
	CHECK_EQ(boot_le64(gdt + 0x18), 0x00cf93000000ffffULL);
	uint64_t tss = boot_le64(gdt + 0x20);
	CHECK_EQ((tss >> 40) & 0x9f, 0x8b); /* present, system, busy 64-bit TSS */
	CHECK_EQ((tss & 0xffff) | ((tss >> 32) & 0xf0000), tr->limit);
	CHECK_EQ(((tss >> 16) & 0xffffff) | ((tss >> 32) & 0xff000000), tr->base);
	CHECK_EQ(boot_le64(gdt + 0x28), 0);
	CHECK(tr->base + tr->limit < BOOT_MB_INFO_ADDR); /* stays out of the other areas */

	/* Identity map of 0-4 GiB in 2 MiB pages. */
	static const uint64_t probes[] = {
	    0, 0x7000, 16 * MiB + 0x200, 63 * MiB, 0xbfffffffULL, 0xfee00000ULL, 0xffffffffULL};
	for (unsigned i = 0; i < sizeof probes / sizeof probes[0]; i++) {
		bool ok;
		CHECK_EQ(walk(&f, probes[i], &ok), probes[i]);
		CHECK(ok);
	}
	const uint8_t *pml4 = gp(&f, BOOT_PAGE_TABLES_ADDR, 4096);
	CHECK(all_zero(pml4 + 8, 4096 - 8)); /* nothing above 512 GiB */
	mem_destroy(&f.mem);
}

static void test_initrds_concatenated_high(void)
{
	struct fixture f;
	if (fx_init(&f, 64 * MiB) < 0) {
		CHECK(0);
		return;
	}
	static uint8_t a[5001], b[3];
	memset(a, 'a', sizeof a);
	memset(b, 'b', sizeof b);
	f.req.initrds[0] = (struct boot_blob){a, sizeof a, "one.cpio"};
	f.req.initrds[1] = (struct boot_blob){b, sizeof b, "two.cpio"};
	f.req.ninitrds = 2;
	/* Garbage where the padding goes: the loader must write zeros. */
	memset(gp(&f, 60 * MiB, 4 * MiB), 0xcc, 4 * MiB);
	struct bz_opts o = bz_default();
	CHECK_EQ(fx_load(&f, image, bz_build(image, &o)), 0);
	const uint8_t *bp = zp(&f);
	uint32_t addr = boot_le32(bp + O_RAMDISK_IMAGE), size = boot_le32(bp + O_RAMDISK_SIZE);
	CHECK_EQ(size, 5004 + 3); /* first padded to 4 bytes */
	CHECK_EQ(addr & 0xfff, 0);
	CHECK(addr + size <= 64 * MiB);
	CHECK(64 * MiB - (addr + size) < 4096); /* the highest page that fits */
	CHECK(addr >= 16 * MiB + 4 * MiB);
	const uint8_t *r = gp(&f, addr, size);
	CHECK(r && r[0] == 'a' && r[5000] == 'a' && r[5001] == 0 && r[5003] == 0);
	CHECK(r && r[5004] == 'b' && r[5006] == 'b');
	mem_destroy(&f.mem);
}

static void test_initrd_respects_initrd_addr_max(void)
{
	struct fixture f;
	if (fx_init(&f, 128 * MiB) < 0) {
		CHECK(0);
		return;
	}
	static uint8_t a[10000];
	f.req.initrds[0] = (struct boot_blob){a, sizeof a, "initrd.img"};
	f.req.ninitrds = 1;
	struct bz_opts o = bz_default();
	o.initrd_addr_max = 48 * MiB - 1;
	CHECK_EQ(fx_load(&f, image, bz_build(image, &o)), 0);
	uint32_t addr = boot_le32(zp(&f) + O_RAMDISK_IMAGE);
	CHECK_EQ(addr, (48 * MiB - sizeof a) & ~0xfffULL);
	CHECK(addr + sizeof a - 1 <= o.initrd_addr_max);
	mem_destroy(&f.mem);
}

static void test_initrd_too_large(void)
{
	struct fixture f;
	if (fx_init(&f, 32 * MiB) < 0) {
		CHECK(0);
		return;
	}
	/* 16 MiB kernel + 4 MiB init_size leaves 12 MiB. */
	static uint8_t big[13 * 1024 * 1024];
	f.req.initrds[0] = (struct boot_blob){big, sizeof big, "huge.cpio"};
	f.req.ninitrds = 1;
	struct bz_opts o = bz_default();
	size_t size = bz_build(image, &o);
	CHECK(fx_load(&f, image, size) < 0);
	CHECK(has(f.err.msg, "huge.cpio"));
	CHECK(has(f.err.msg, "initrd does not fit below initrd_addr_max"));
	/* Nothing was written. */
	CHECK(all_zero(zp(&f), 4096));
	CHECK(all_zero(gp(&f, 16 * MiB, 4096), 4096));
	/* Just fits: 12 MiB exactly. */
	f.req.initrds[0].size = 12 * MiB;
	CHECK_EQ(fx_load(&f, image, size), 0);
	CHECK_EQ(boot_le32(zp(&f) + O_RAMDISK_IMAGE), 20 * MiB);
	/* initrd_addr_max below the kernel's end. */
	f.req.initrds[0].size = 100;
	o.initrd_addr_max = 18 * MiB;
	CHECK(fx_load(&f, image, bz_build(image, &o)) < 0);
	CHECK(has(f.err.msg, "initrd does not fit"));
	mem_destroy(&f.mem);
}

static void test_cmdline_limits(void)
{
	struct fixture f;
	if (fx_init(&f, 64 * MiB) < 0) {
		CHECK(0);
		return;
	}
	struct bz_opts o = bz_default();
	o.cmdline_size = 16;
	size_t size = bz_build(image, &o);
	f.req.cmdline = "0123456789abcdef"; /* 16: fits */
	CHECK_EQ(fx_load(&f, image, size), 0);
	CHECK(strcmp((char *)gp(&f, BOOT_CMDLINE_ADDR, 17), "0123456789abcdef") == 0);
	f.req.cmdline = "0123456789abcdefg"; /* 17 */
	CHECK(fx_load(&f, image, size) < 0);
	CHECK(has(f.err.msg, "command line too long"));
	CHECK(has(f.err.msg, "test-bzImage"));

	/* Our own limit, whatever the kernel says. */
	o.cmdline_size = 0xffffffff;
	size = bz_build(image, &o);
	static char long_cmd[BOOT_CMDLINE_MAX + 1];
	memset(long_cmd, 'x', BOOT_CMDLINE_MAX);
	long_cmd[BOOT_CMDLINE_MAX] = '\0';
	f.req.cmdline = long_cmd;
	CHECK(fx_load(&f, image, size) < 0);
	CHECK(has(f.err.msg, "command line too long"));
	long_cmd[BOOT_CMDLINE_MAX - 1] = '\0'; /* 64 KiB - 1 plus NUL: fits exactly */
	CHECK_EQ(fx_load(&f, image, size), 0);
	const char *c = (const char *)gp(&f, BOOT_CMDLINE_ADDR, BOOT_CMDLINE_MAX);
	CHECK(c && c[BOOT_CMDLINE_MAX - 2] == 'x' && c[BOOT_CMDLINE_MAX - 1] == '\0');

	/* No command line: an empty string, still pointed to. */
	f.req.cmdline = NULL;
	CHECK_EQ(fx_load(&f, image, size), 0);
	CHECK_EQ(*gp(&f, BOOT_CMDLINE_ADDR, 1), 0);
	CHECK_EQ(boot_le32(zp(&f) + O_CMD_LINE_PTR), BOOT_CMDLINE_ADDR);
	mem_destroy(&f.mem);
}

static void test_header_errors(void)
{
	struct fixture f;
	if (fx_init(&f, 64 * MiB) < 0) {
		CHECK(0);
		return;
	}
	struct bz_opts o = bz_default();

	o.version = 0x020b;
	CHECK(fx_load(&f, image, bz_build(image, &o)) < 0);
	CHECK(has(f.err.msg, "too old"));
	CHECK(has(f.err.msg, "2.11"));
	o = bz_default();
	o.xloadflags = 0x2;
	CHECK(fx_load(&f, image, bz_build(image, &o)) < 0);
	CHECK(has(f.err.msg, "not a 64-bit kernel"));
	o = bz_default();
	o.header_len = 0x50; /* ends before init_size */
	CHECK(fx_load(&f, image, bz_build(image, &o)) < 0);
	CHECK(has(f.err.msg, "too short"));
	o = bz_default();
	o.pm_size = 0;
	CHECK(fx_load(&f, image, bz_build(image, &o)) < 0);
	CHECK(has(f.err.msg, "syssize"));
	o = bz_default();
	o.kernel_alignment = 0x300000;
	CHECK(fx_load(&f, image, bz_build(image, &o)) < 0);
	CHECK(has(f.err.msg, "kernel_alignment"));

	/* Bad magic. */
	o = bz_default();
	size_t size = bz_build(image, &o);
	image[O_HEADER] = 'h';
	CHECK(fx_load(&f, image, size) < 0);
	CHECK(has(f.err.msg, "not a bzImage"));
	CHECK(!linux_is_bzimage(image, size));
	CHECK(all_zero(zp(&f), 4096)); /* every refusal above wrote nothing */
	mem_destroy(&f.mem);
}

static void test_truncated_everywhere(void)
{
	struct fixture f;
	if (fx_init(&f, 64 * MiB) < 0) {
		CHECK(0);
		return;
	}
	struct bz_opts o = bz_default();
	o.pm_size = 1024;
	size_t size = bz_build(image, &o);
	/* Every length short of the whole file is refused, and past the
	 * header it says "truncated". */
	int refused = 0;
	for (size_t len = 0; len < size; len++) {
		if (fx_load(&f, image, len) < 0)
			refused++;
		else
			printf("    accepted at %zu bytes\n", len);
		if (len >= O_HEADER + 4 && !strstr(f.err.msg, "truncated")) {
			printf("    at %zu: %s\n", len, f.err.msg);
			CHECK(0);
			break;
		}
	}
	CHECK_EQ(refused, size);
	CHECK(all_zero(zp(&f), 4096));
	CHECK_EQ(fx_load(&f, image, size), 0);

	/* setup_sects 0 means 4. */
	o.setup_sects = 0;
	size = bz_build(image, &o);
	CHECK_EQ(fx_load(&f, image, size), 0);
	CHECK(memcmp(gp(&f, 16 * MiB, 1024), image + 5 * 512, 1024) == 0);
	CHECK(fx_load(&f, image, size - 1) < 0);

	/* A larger setup. */
	o.setup_sects = 30;
	size = bz_build(image, &o);
	CHECK_EQ(fx_load(&f, image, size), 0);
	CHECK(memcmp(gp(&f, 16 * MiB, 1024), image + 31 * 512, 1024) == 0);
	mem_destroy(&f.mem);
}

static void test_signature_after_syssize_ignored(void)
{
	struct fixture f;
	if (fx_init(&f, 64 * MiB) < 0) {
		CHECK(0);
		return;
	}
	struct bz_opts o = bz_default();
	o.trailer = 1472; /* like a signed Debian kernel */
	CHECK_EQ(fx_load(&f, image, bz_build(image, &o)), 0);
	const uint8_t *k = gp(&f, 16 * MiB, o.pm_size + 16);
	CHECK_EQ(k[o.pm_size - 1], pm_byte(o.pm_size - 1));
	CHECK_EQ(k[o.pm_size], 0); /* the signature stays in the file */
	mem_destroy(&f.mem);
}

static void test_placement(void)
{
	struct fixture f;
	if (fx_init(&f, 64 * MiB) < 0) {
		CHECK(0);
		return;
	}
	struct bz_opts o = bz_default();

	/* pref_address not aligned: rounded up to kernel_alignment. */
	o.pref_address = 17 * MiB;
	CHECK_EQ(fx_load(&f, image, bz_build(image, &o)), 0);
	CHECK_EQ(f.cpu.rip, 18 * MiB + 0x200);
	/* Not relocatable: exactly at pref_address. */
	o.relocatable = 0;
	CHECK_EQ(fx_load(&f, image, bz_build(image, &o)), 0);
	CHECK_EQ(f.cpu.rip, 17 * MiB + 0x200);
	CHECK(memcmp(gp(&f, 17 * MiB, o.pm_size), image + bz_setup_size(&o), o.pm_size) == 0);
	o.pref_address = 0x8000;
	CHECK(fx_load(&f, image, bz_build(image, &o)) < 0);
	CHECK(has(f.err.msg, "below 1 MiB"));
	/* Relocatable with a pref_address below 1 MiB: kept above our boot data. */
	o.relocatable = 1;
	CHECK_EQ(fx_load(&f, image, bz_build(image, &o)), 0);
	CHECK_EQ(f.cpu.rip, 2 * MiB + 0x200);
	/* init_size smaller than the image: the image counts. */
	o = bz_default();
	o.init_size = 16;
	CHECK_EQ(fx_load(&f, image, bz_build(image, &o)), 0);
	mem_destroy(&f.mem);
}

static void test_does_not_fit(void)
{
	struct fixture f;
	if (fx_init(&f, 16 * MiB) < 0) {
		CHECK(0);
		return;
	}
	struct bz_opts o = bz_default();
	CHECK(fx_load(&f, image, bz_build(image, &o)) < 0);
	CHECK(has(f.err.msg, "test-bzImage: does not fit in RAM"));
	CHECK(has(f.err.msg, "needs 4 MiB from 0x1000000"));
	mem_destroy(&f.mem);

	if (fx_init(&f, 64 * MiB) < 0) {
		CHECK(0);
		return;
	}
	o.init_size = 48 * MiB + 4096; /* one page too many */
	CHECK(fx_load(&f, image, bz_build(image, &o)) < 0);
	CHECK(has(f.err.msg, "does not fit in RAM"));
	CHECK(has(f.err.msg, "only 48 MiB are available"));
	o.init_size = 48 * MiB; /* exactly to the end */
	CHECK_EQ(fx_load(&f, image, bz_build(image, &o)), 0);
	/* A hostile pref_address far beyond RAM (or near 2^64). */
	o.pref_address = ~0ULL - 4096;
	CHECK(fx_load(&f, image, bz_build(image, &o)) < 0);
	CHECK(has(f.err.msg, "does not fit in RAM"));
	CHECK(has(f.err.msg, "from 0xffffffffffffefff"));
	/* Just below the end of RAM, but rounding up to the alignment passes it. */
	o.pref_address = 64 * MiB - 4096;
	o.init_size = 16;
	CHECK(fx_load(&f, image, bz_build(image, &o)) < 0);
	CHECK(has(f.err.msg, "from 0x4000000"));
	o.relocatable = 0; /* loaded exactly there instead: the last page */
	CHECK_EQ(fx_load(&f, image, bz_build(image, &o)), 0);
	o.pref_address = ~0ULL - 4096;
	CHECK(fx_load(&f, image, bz_build(image, &o)) < 0);
	CHECK(has(f.err.msg, "does not fit in RAM"));
	mem_destroy(&f.mem);
}

static void test_acpi_rsdp_needs_2_14(void)
{
	struct fixture f;
	if (fx_init(&f, 64 * MiB) < 0) {
		CHECK(0);
		return;
	}
	f.req.acpi_rsdp = 0xe0000;
	struct bz_opts o = bz_default();
	o.version = 0x020d;
	CHECK_EQ(fx_load(&f, image, bz_build(image, &o)), 0);
	CHECK_EQ(boot_le64(zp(&f) + O_ACPI_RSDP), 0);
	o.version = 0x020e;
	CHECK_EQ(fx_load(&f, image, bz_build(image, &o)), 0);
	CHECK_EQ(boot_le64(zp(&f) + O_ACPI_RSDP), 0xe0000);
	/* Protocol 2.12's shorter header (ends at 0x268) loads too. */
	o.version = 0x020c;
	o.header_len = 0x66;
	CHECK_EQ(fx_load(&f, image, bz_build(image, &o)), 0);
	CHECK_EQ(zp(&f)[0x268], 0);
	mem_destroy(&f.mem);
}

static void test_high_memory(void)
{
	struct fixture f;
	if (fx_init(&f, 5ULL << 30) < 0) { /* RAM above 4 GiB too */
		CHECK(0);
		return;
	}
	static uint8_t rd[4096 * 3];
	f.req.initrds[0] = (struct boot_blob){rd, sizeof rd, "initrd"};
	f.req.ninitrds = 1;
	struct bz_opts o = bz_default();
	CHECK_EQ(fx_load(&f, image, bz_build(image, &o)), 0);
	const uint8_t *bp = zp(&f);
	CHECK_EQ(bp[O_E820_ENTRIES], 5);
	CHECK_EQ(boot_le64(bp + O_E820_TABLE + 20 * 4), 1ULL << 32);
	CHECK_EQ(boot_le64(bp + O_E820_TABLE + 20 * 4 + 8), 2ULL << 30);
	/* initrd_addr_max 2 GiB - 1 wins over low RAM's 3 GiB. */
	CHECK_EQ(boot_le32(bp + O_RAMDISK_IMAGE), 0x80000000ULL - sizeof rd);
	mem_destroy(&f.mem);
}

static void test_boot_load_dispatch(void)
{
	struct fixture f;
	if (fx_init(&f, 64 * MiB) < 0) {
		CHECK(0);
		return;
	}
	struct bz_opts o = bz_default();
	size_t size = bz_build(image, &o);
	f.req.kernel = (struct boot_blob){image, size, "bz"};
	CHECK_EQ(boot_load(&f.mem, &f.req, &f.cpu, &f.err), 0);
	CHECK_EQ(f.cpu.rip, 16 * MiB + 0x200);

	static uint8_t junk[8192];
	memset(junk, 0x42, sizeof junk);
	f.req.kernel = (struct boot_blob){junk, sizeof junk, "junk.bin"};
	CHECK(boot_load(&f.mem, &f.req, &f.cpu, &f.err) < 0);
	CHECK(has(f.err.msg, "junk.bin: not a bzImage or Multiboot kernel"));
	memcpy(junk, "\177ELF\2\1\1", 7);
	CHECK(boot_load(&f.mem, &f.req, &f.cpu, &f.err) < 0);
	CHECK(has(f.err.msg, "vmlinux"));
	f.req.kernel = (struct boot_blob){junk, 0, "empty"};
	CHECK(boot_load(&f.mem, &f.req, &f.cpu, &f.err) < 0);
	CHECK(has(f.err.msg, "empty"));
	mem_destroy(&f.mem);
}

/* Debian's stock kernel, when the environment names it. */
static void test_real_kernel(void)
{
	const char *path = getenv("RINGFOLD_LINUX_KERNEL");
	struct file_buf k;
	struct error err;
	CHECK_EQ(file_read_all(path, 256 * MiB, &k, &err), 0);
	if (!k.data) {
		printf("    %s\n", err.msg);
		return;
	}
	struct fixture f;
	if (fx_init(&f, 256 * MiB) < 0) {
		file_buf_free(&k);
		CHECK(0);
		return;
	}
	static uint8_t rd[1000];
	f.req.initrds[0] = (struct boot_blob){rd, sizeof rd, "initrd"};
	f.req.ninitrds = 1;
	f.req.cmdline = "console=ttyS0 earlyprintk=serial panic=-1";
	f.req.acpi_rsdp = 0xe0000;
	f.req.kernel = (struct boot_blob){k.data, k.size, path};
	CHECK(boot_load(&f.mem, &f.req, &f.cpu, &f.err) == 0);
	if (f.err.msg[0])
		printf("    %s\n", f.err.msg);
	CHECK(linux_is_bzimage(k.data, k.size));
	const uint8_t *bp = zp(&f);
	uint64_t pref = boot_le64(k.data + O_PREF_ADDRESS);
	uint32_t init_size = boot_le32(bp + O_INIT_SIZE);
	CHECK(memcmp(bp + O_HEADER, "HdrS", 4) == 0);
	CHECK(boot_le16(bp + O_VERSION) >= 0x020c);
	CHECK_EQ(f.cpu.rip, pref + 0x200);
	CHECK_EQ(f.cpu.rip & 0x1fffff, 0x200);
	CHECK(init_size > 8 * MiB && pref + init_size <= 256 * MiB);
	size_t setup = ((k.data[O_SETUP_SECTS] ? k.data[O_SETUP_SECTS] : 4) + 1) * 512u;
	CHECK(memcmp(gp(&f, pref, 4096), k.data + setup, 4096) == 0);
	uint32_t rd_addr = boot_le32(bp + O_RAMDISK_IMAGE);
	CHECK(rd_addr >= pref + init_size && rd_addr + sizeof rd <= 256 * MiB);
	CHECK_EQ(boot_le32(bp + O_RAMDISK_SIZE), sizeof rd);
	CHECK_EQ(boot_le64(bp + O_ACPI_RSDP), 0xe0000);
	CHECK_EQ(bp[O_TYPE_OF_LOADER], 0xff);
	printf("    %s: protocol %x, loaded at %#" PRIx64 ", init_size %u MiB\n", path,
	       boot_le16(bp + O_VERSION), pref, init_size >> 20);

	/* The same kernel decompressed on the host (--kernel-decompress host):
	 * the vmlinux is loaded at its physical addresses and entered at
	 * startup_64, which is not the bzImage's 64-bit entry; its banner sits
	 * uncompressed in the kernel area, and the initrd still lies above
	 * init_size. */
	mem_destroy(&f.mem);
	if (fx_init(&f, 256 * MiB) == 0) {
		f.req.kernel = (struct boot_blob){k.data, k.size, path};
		f.req.initrds[0] = (struct boot_blob){rd, sizeof rd, "initrd"};
		f.req.ninitrds = 1;
		f.req.cmdline = "console=ttyS0";
		f.req.host_decompress = true;
		CHECK(boot_load(&f.mem, &f.req, &f.cpu, &f.err) == 0);
		if (f.err.msg[0])
			printf("    host: %s\n", f.err.msg);
		bp = zp(&f);
		CHECK(f.cpu.rip >= pref && f.cpu.rip < pref + init_size);
		CHECK(f.cpu.rip != pref + 0x200);
		CHECK_EQ(f.cpu.gpr[GPR_RSI], BOOT_ZERO_PAGE_ADDR);
		const uint8_t *area = gp(&f, pref, init_size);
		CHECK(area && memcmp(area, k.data + setup, 4096) != 0);
		const char banner[] = "Linux version ";
		CHECK(area && memmem(area, init_size, banner, sizeof banner - 1) != NULL);
		rd_addr = boot_le32(bp + O_RAMDISK_IMAGE);
		CHECK(rd_addr >= pref + init_size && rd_addr + sizeof rd <= 256 * MiB);
		CHECK(memcmp(gp(&f, rd_addr, sizeof rd), rd, sizeof rd) == 0);
		printf("    host decompression: entry %#" PRIx64 "\n", f.cpu.rip);
		/* With too little RAM for the decompressed kernel: a clear refusal. */
		mem_destroy(&f.mem);
		if (fx_init(&f, 48 * MiB) == 0) {
			f.req.kernel = (struct boot_blob){k.data, k.size, path};
			f.req.ninitrds = 0;
			f.req.host_decompress = true;
			CHECK(boot_load(&f.mem, &f.req, &f.cpu, &f.err) < 0);
			printf("    host, 48 MiB: %s\n", f.err.msg);
		}
	}

	/* And refused cleanly when RAM is short of init_size. */
	mem_destroy(&f.mem);
	if (fx_init(&f, 32 * MiB) == 0) {
		f.req.kernel = (struct boot_blob){k.data, k.size, path};
		f.req.ninitrds = 0;
		CHECK(boot_load(&f.mem, &f.req, &f.cpu, &f.err) < 0);
		CHECK(has(f.err.msg, "does not fit in RAM"));
		printf("    in 32 MiB: %s\n", f.err.msg);
		mem_destroy(&f.mem);
	}
	file_buf_free(&k);
}

static int write_seed(const char *dir, const char *name, const uint8_t *data, size_t size)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/bzimage/%s", dir, name);
	FILE *fp = fopen(path, "wb");
	if (!fp || fwrite(data, 1, size, fp) != size || fclose(fp) != 0) {
		printf("  cannot write %s\n", path);
		return -1;
	}
	return 0;
}

/* Small valid and near-valid images for the fuzzer. */
static int write_seeds(const char *dir)
{
	char sub[4096];
	snprintf(sub, sizeof sub, "%s/bzimage", dir);
	if (mkdir(sub, 0777) < 0 && errno != EEXIST)
		return -1;
	struct bz_opts o = bz_default();
	o.init_size = 1 * MiB;
	o.pm_size = 512;
	int rc = 0;
	size_t n = bz_build(image, &o);
	rc |= write_seed(dir, "valid", image, n);
	rc |= write_seed(dir, "truncated", image, n - 100);
	o.setup_sects = 0;
	o.header_len = 0x66;
	o.version = 0x020c;
	rc |= write_seed(dir, "valid-2.12-sects0", image, bz_build(image, &o));
	o = bz_default();
	o.pm_size = 256;
	o.relocatable = 0;
	o.pref_address = 0x100000;
	o.trailer = 64;
	rc |= write_seed(dir, "fixed-1M-signed", image, bz_build(image, &o));
	o = bz_default();
	o.version = 0x020b;
	rc |= write_seed(dir, "old-protocol", image, bz_build(image, &o));
	o = bz_default();
	o.init_size = 40 * MiB;
	o.pm_size = 256;
	rc |= write_seed(dir, "init-size-too-big", image, bz_build(image, &o));
	o = bz_default();
	o.pm_size = 256;
	o.initrd_addr_max = 17 * MiB;
	rc |= write_seed(dir, "initrd-max-low", image, bz_build(image, &o));
	return rc;
}

int main(void)
{
	const char *seeds = getenv("RINGFOLD_WRITE_SEEDS");
	if (seeds && write_seeds(seeds) < 0)
		return 1;
	RUN(test_loads_kernel_and_zero_page);
	RUN(test_entry_state);
	RUN(test_initrds_concatenated_high);
	RUN(test_initrd_respects_initrd_addr_max);
	RUN(test_initrd_too_large);
	RUN(test_cmdline_limits);
	RUN(test_header_errors);
	RUN(test_truncated_everywhere);
	RUN(test_signature_after_syssize_ignored);
	RUN(test_placement);
	RUN(test_does_not_fit);
	RUN(test_acpi_rsdp_needs_2_14);
	RUN(test_high_memory);
	RUN(test_boot_load_dispatch);
	if (getenv("RINGFOLD_LINUX_KERNEL") && *getenv("RINGFOLD_LINUX_KERNEL")) {
		RUN(test_real_kernel);
	} else {
		printf(
		    "  SKIP *** test_real_kernel NOT RUN: set RINGFOLD_LINUX_KERNEL to a bzImage "
		    "(e.g. Debian's /boot/vmlinuz-6.1.0-*-amd64) ***\n");
		skipped++;
	}
	if (skipped) {
		printf("%d passed, %d failed, %d skipped\n", test_passed, test_failed, skipped);
		return test_failed ? 1 : 0;
	}
	TEST_DONE();
}
