/* Host decompression of a bzImage payload (boot/linux_payload.c through
 * linux_load): synthetic bzImages whose payload is a tiny ELF64 vmlinux,
 * compressed here with zlib, liblzma and libzstd, checked for segment
 * placement, bss zeroing, the entry state, initrd placement after the
 * vmlinux, every refusal (corrupt and truncated streams, a decompression
 * bomb, bad ELF, segments outside RAM) and an unchanged `guest` mode.
 *
 * RINGFOLD_WRITE_SEEDS=<dir> also writes the fuzzer's seeds to
 * <dir>/vmlinux/ (how tests/fuzz/corpus/vmlinux/ was made). The seed format
 * is fuzz_vmlinux.c's: one mode byte ('E' raw ELF, 'P' compressed payload)
 * followed by the bytes. */
#include <errno.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>
#include <zstd.h>

#include "boot/boot.h"
#include "boot/linux_payload.h"
#include "boot_fixture.h"
#include "test.h"

#define MiB (1ULL << 20)

/* Setup header offsets (boot.rst), written out again on purpose. */
enum {
	O_SETUP_SECTS = 0x1f1,
	O_SYSSIZE = 0x1f4,
	O_BOOT_FLAG = 0x1fe,
	O_JUMP = 0x200,
	O_HEADER = 0x202,
	O_VERSION = 0x206,
	O_LOADFLAGS = 0x211,
	O_RAMDISK_IMAGE = 0x218,
	O_RAMDISK_SIZE = 0x21c,
	O_CMD_LINE_PTR = 0x228,
	O_INITRD_ADDR_MAX = 0x22c,
	O_KERNEL_ALIGNMENT = 0x230,
	O_RELOCATABLE = 0x234,
	O_XLOADFLAGS = 0x236,
	O_CMDLINE_SIZE = 0x238,
	O_PAYLOAD_OFFSET = 0x248,
	O_PAYLOAD_LENGTH = 0x24c,
	O_PREF_ADDRESS = 0x258,
	O_INIT_SIZE = 0x260,
};

#define SETUP_SIZE (5 * 512) /* setup_sects 4 */
#define PAYLOAD_AT 0x400     /* payload offset inside the protected-mode kernel */

/* ---- a tiny ELF64 vmlinux ---- */

struct seg_spec {
	uint32_t type; /* PT_LOAD = 1 */
	uint64_t paddr, vaddr, filesz, memsz;
	uint8_t fill;
};

#define MAX_ELF (64 * 1024)

static void put16(uint8_t *p, uint16_t v)
{
	boot_put_le16(p, v);
}
static void put32(uint8_t *p, uint32_t v)
{
	boot_put_le32(p, v);
}
static void put64(uint8_t *p, uint64_t v)
{
	boot_put_le64(p, v);
}

/* Header, program headers, then each segment's file bytes (filled with
 * seg.fill + position). Returns the size; buf holds MAX_ELF. */
static size_t elf_build(uint8_t *buf, uint64_t entry, const struct seg_spec *segs, int n)
{
	memset(buf, 0, MAX_ELF);
	memcpy(buf, "\177ELF", 4);
	buf[4] = 2;          /* ELFCLASS64 */
	buf[5] = 1;          /* little-endian */
	buf[6] = 1;          /* EV_CURRENT */
	put16(buf + 16, 2);  /* ET_EXEC */
	put16(buf + 18, 62); /* EM_X86_64 */
	put32(buf + 20, 1);
	put64(buf + 24, entry);
	put64(buf + 32, 64); /* phoff */
	put16(buf + 52, 64);
	put16(buf + 54, 56);
	put16(buf + 56, (uint16_t)n);
	size_t off = 64 + 56 * (size_t)n;
	for (int i = 0; i < n; i++) {
		uint8_t *ph = buf + 64 + 56 * i;
		put32(ph, segs[i].type);
		put32(ph + 4, 7);
		put64(ph + 8, off);
		put64(ph + 16, segs[i].vaddr);
		put64(ph + 24, segs[i].paddr);
		put64(ph + 32, segs[i].filesz);
		put64(ph + 40, segs[i].memsz);
		put64(ph + 48, 0x1000);
		for (uint64_t j = 0; j < segs[i].filesz && off + j < MAX_ELF; j++)
			buf[off + j] = (uint8_t)(segs[i].fill + j);
		off += segs[i].filesz;
	}
	return off;
}

/* The usual test vmlinux: text at 16 MiB, data + bss 2 MiB higher. */
static const struct seg_spec default_segs[] = {
    {1, 16 * MiB, 0xffffffff81000000ULL, 0x1000, 0x1000, 0x10},
    {1, 18 * MiB, 0xffffffff81200000ULL, 0x300, 0x5000, 0x80},
    {4, 0, 0, 0x20, 0x20, 0}, /* PT_NOTE: ignored */
};
#define DEFAULT_ENTRY (16 * MiB)

/* ---- compressors ---- */

enum { GZ, XZ, ZST };
static const char *const fmt_names[] = {"gzip", "xz", "zstd"};

/* Compresses in into out (capacity cap) and appends the decompressed size as
 * the kernel build does; returns the size or 0. */
static size_t pack(int fmt, const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
	size_t len = 0;
	if (fmt == GZ) {
		z_stream z;
		memset(&z, 0, sizeof z);
		if (deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			return 0;
		z.next_in = (Bytef *)(uintptr_t)in;
		z.avail_in = (uInt)n;
		z.next_out = out;
		z.avail_out = (uInt)(cap - 4);
		int ret = deflate(&z, Z_FINISH);
		len = z.total_out;
		deflateEnd(&z);
		if (ret != Z_STREAM_END)
			return 0;
	} else if (fmt == XZ) {
		if (lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, NULL, in, n, out, &len, cap - 4) !=
		    LZMA_OK)
			return 0;
	} else {
		/* With a checksum, as the zstd tool the kernel build uses writes it. */
		ZSTD_CCtx *c = ZSTD_createCCtx();
		if (!c)
			return 0;
		ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 19);
		ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
		len = ZSTD_compress2(c, out, cap - 4, in, n);
		ZSTD_freeCCtx(c);
		if (ZSTD_isError(len))
			return 0;
	}
	put32(out + len, (uint32_t)n);
	return len + 4;
}

/* ---- bzImage around a payload ---- */

struct bz {
	uint32_t init_size;
	uint32_t initrd_addr_max;
	uint64_t pref_address;
};

static struct bz bz_default(void)
{
	return (struct bz){
	    .init_size = 1 * MiB, .initrd_addr_max = 0x7fffffff, .pref_address = 16 * MiB};
}

/* A bzImage with protocol 2.15 whose protected-mode kernel holds `payload`
 * at PAYLOAD_AT, padded to 16 bytes. Returns the size; buf must be large. */
static size_t bz_build(uint8_t *buf, const struct bz *o, const uint8_t *payload, size_t plen)
{
	size_t pm = (PAYLOAD_AT + plen + 15) & ~(size_t)15;
	memset(buf, 0x90, SETUP_SIZE);
	memset(buf + O_SETUP_SECTS, 0, 0x290 - O_SETUP_SECTS);
	buf[O_SETUP_SECTS] = 4;
	put32(buf + O_SYSSIZE, (uint32_t)(pm / 16));
	put16(buf + O_BOOT_FLAG, 0xaa55);
	buf[O_JUMP] = 0xeb;
	buf[O_JUMP + 1] = 0x6a;
	memcpy(buf + O_HEADER, "HdrS", 4);
	put16(buf + O_VERSION, 0x020f);
	buf[O_LOADFLAGS] = 1;
	put32(buf + O_INITRD_ADDR_MAX, o->initrd_addr_max);
	put32(buf + O_KERNEL_ALIGNMENT, 0x200000);
	buf[O_RELOCATABLE] = 1;
	put16(buf + O_XLOADFLAGS, 0x1 | 0x2 | 0x8);
	put32(buf + O_CMDLINE_SIZE, 2047);
	put32(buf + O_PAYLOAD_OFFSET, PAYLOAD_AT);
	put32(buf + O_PAYLOAD_LENGTH, (uint32_t)plen);
	put64(buf + O_PREF_ADDRESS, o->pref_address);
	put32(buf + O_INIT_SIZE, o->init_size);
	uint8_t *k = buf + SETUP_SIZE;
	memset(k, 0xcc, pm); /* the "decompressor" around the payload */
	memcpy(k + PAYLOAD_AT, payload, plen);
	return SETUP_SIZE + pm;
}

static uint8_t elf[MAX_ELF];
static uint8_t packed[256 * 1024];
static uint8_t image[512 * 1024];

/* Guest RAM filled with 0xAA, so zeroing and untouched areas both show. */
static int fx_init(struct fixture *f, uint64_t ram)
{
	if (fx_setup(f, ram, "test-vmlinuz") < 0)
		return -1;
	memset(mem_ptr(&f->mem, 0, ram < 3072 * MiB ? ram : 3072 * MiB), 0xaa,
	       ram < 3072 * MiB ? ram : 3072 * MiB);
	f->req.host_decompress = true;
	return 0;
}

static int fx_load(struct fixture *f, const uint8_t *img, size_t size)
{
	return fx_run(f, linux_load, img, size);
}

static bool has(const char *msg, const char *needle)
{
	if (strstr(msg, needle))
		return true;
	printf("    message \"%s\" lacks \"%s\"\n", msg, needle);
	return false;
}

static bool all_byte(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* Builds the default ELF, compresses it with fmt and wraps it; the size. */
static size_t default_image(int fmt, const struct bz *o)
{
	size_t n = elf_build(elf, DEFAULT_ENTRY, default_segs, 3);
	size_t plen = pack(fmt, elf, n, packed, sizeof packed);
	if (!plen)
		return 0;
	return bz_build(image, o, packed, plen);
}

static void check_default_loaded(struct fixture *f)
{
	/* Segments at their physical addresses, file bytes then zeroed bss. */
	const uint8_t *t = mem_ptr(&f->mem, 16 * MiB, 0x1000);
	CHECK(t && t[0] == 0x10 && t[0xfff] == (uint8_t)(0x10 + 0xfff));
	const uint8_t *d = mem_ptr(&f->mem, 18 * MiB, 0x5000);
	CHECK(d && d[0] == 0x80 && d[0x2ff] == (uint8_t)(0x80 + 0x2ff));
	CHECK(d && all_byte(d + 0x300, 0x5000 - 0x300, 0));
	/* Nothing written between or after them. */
	CHECK(all_byte(mem_ptr(&f->mem, 16 * MiB + 0x1000, 0x1000), 0x1000, 0xaa));
	CHECK(all_byte(mem_ptr(&f->mem, 18 * MiB + 0x5000, 0x1000), 0x1000, 0xaa));
	/* The entry state of the 64-bit path, entering startup_64. */
	CHECK_EQ(f->cpu.rip, DEFAULT_ENTRY);
	CHECK_EQ(f->cpu.gpr[GPR_RSI], BOOT_ZERO_PAGE_ADDR);
	CHECK_EQ(f->cpu.cr3, BOOT_PAGE_TABLES_ADDR);
	CHECK_EQ(f->cpu.cr0 & 0x80000011, 0x80000011);
	CHECK_EQ(f->cpu.efer, 0x500);
	CHECK_EQ(f->cpu.seg[SEG_CS].selector, 0x10);
	CHECK_EQ(f->cpu.seg[SEG_CS].l, 1);
	CHECK_EQ(f->cpu.rflags, 2);
	const uint8_t *bp = mem_ptr(&f->mem, BOOT_ZERO_PAGE_ADDR, 4096);
	CHECK(memcmp(bp + O_HEADER, "HdrS", 4) == 0);
	CHECK_EQ(boot_le32(bp + O_CMD_LINE_PTR), BOOT_CMDLINE_ADDR);
	CHECK_EQ(boot_le32(bp + O_PAYLOAD_OFFSET), PAYLOAD_AT); /* header copied as is */
}

static void test_formats(void)
{
	for (int fmt = GZ; fmt <= ZST; fmt++) {
		struct fixture f;
		if (fx_init(&f, 64 * MiB) < 0) {
			CHECK(0);
			return;
		}
		struct bz o = bz_default();
		size_t size = default_image(fmt, &o);
		CHECK(size > 0);
		int rc = fx_load(&f, image, size);
		if (rc < 0)
			printf("    %s: %s\n", fmt_names[fmt], f.err.msg);
		CHECK_EQ(rc, 0);
		if (rc == 0)
			check_default_loaded(&f);
		CHECK(payload_detect(packed, 8) == (fmt == GZ   ? PAYLOAD_GZIP
		                                    : fmt == XZ ? PAYLOAD_XZ
		                                                : PAYLOAD_ZSTD));
		mem_destroy(&f.mem);
	}
}

/* A virtual e_entry (inside a segment's p_vaddr range) becomes physical. */
static void test_virtual_entry(void)
{
	struct fixture f;
	if (fx_init(&f, 64 * MiB) < 0) {
		CHECK(0);
		return;
	}
	size_t n = elf_build(elf, 0xffffffff81000040ULL, default_segs, 2);
	size_t plen = pack(ZST, elf, n, packed, sizeof packed);
	struct bz o = bz_default();
	CHECK_EQ(fx_load(&f, image, bz_build(image, &o, packed, plen)), 0);
	CHECK_EQ(f.cpu.rip, 16 * MiB + 0x40);
	mem_destroy(&f.mem);
}

/* The initrd goes above the vmlinux' real end when that is beyond
 * load + init_size, and above load + init_size when that is higher. */
static void test_initrd_after_vmlinux(void)
{
	static uint8_t rd[10000];
	memset(rd, 0x3c, sizeof rd);
	struct fixture f;
	if (fx_init(&f, 64 * MiB) < 0) {
		CHECK(0);
		return;
	}
	/* vmlinux ends at 40 MiB + 64 KiB; init_size says 16+1 MiB. */
	struct seg_spec segs[] = {
	    {1, 16 * MiB, 16 * MiB, 0x100, 0x100, 1},
	    {1, 40 * MiB, 40 * MiB, 0x100, 0x10000, 2},
	};
	size_t n = elf_build(elf, 16 * MiB, segs, 2);
	size_t plen = pack(GZ, elf, n, packed, sizeof packed);
	struct bz o = bz_default();
	o.initrd_addr_max = (uint32_t)(41 * MiB - 1);
	f.req.initrds[0] = (struct boot_blob){rd, sizeof rd, "initrd"};
	f.req.ninitrds = 1;
	CHECK_EQ(fx_load(&f, image, bz_build(image, &o, packed, plen)), 0);
	const uint8_t *bp = mem_ptr(&f.mem, BOOT_ZERO_PAGE_ADDR, 4096);
	uint32_t at = boot_le32(bp + O_RAMDISK_IMAGE);
	CHECK(at >= 40 * MiB + 0x10000 && at + sizeof rd <= 41 * MiB);
	CHECK_EQ(boot_le32(bp + O_RAMDISK_SIZE), sizeof rd);
	CHECK(memcmp(mem_ptr(&f.mem, at, sizeof rd), rd, sizeof rd) == 0);
	CHECK(all_byte(mem_ptr(&f.mem, 40 * MiB + 0x100, 0x10000 - 0x100), 0x10000 - 0x100, 0));

	/* Not enough room between the vmlinux end and initrd_addr_max. */
	o.initrd_addr_max = (uint32_t)(40 * MiB + 0x10000 + 4096 - 1);
	CHECK(fx_load(&f, image, bz_build(image, &o, packed, plen)) < 0);
	CHECK(has(f.err.msg, "initrd does not fit below initrd_addr_max"));

	/* init_size reaching beyond the vmlinux still counts. */
	mem_destroy(&f.mem);
	if (fx_init(&f, 64 * MiB) < 0) {
		CHECK(0);
		return;
	}
	f.req.initrds[0] = (struct boot_blob){rd, sizeof rd, "initrd"};
	f.req.ninitrds = 1;
	o = bz_default();
	o.init_size = 30 * MiB; /* kernel area to 46 MiB */
	CHECK_EQ(fx_load(&f, image, bz_build(image, &o, packed, plen)), 0);
	at = boot_le32(mem_ptr(&f.mem, BOOT_ZERO_PAGE_ADDR, 4096) + O_RAMDISK_IMAGE);
	CHECK(at >= 46 * MiB);
	mem_destroy(&f.mem);
}

/* Refusals leave guest memory as it was. */
static bool untouched(struct fixture *f)
{
	return all_byte(mem_ptr(&f->mem, BOOT_ZERO_PAGE_ADDR, 4096), 4096, 0xaa) &&
	       all_byte(mem_ptr(&f->mem, 16 * MiB, 0x1000), 0x1000, 0xaa);
}

static void expect_refusal(struct fixture *f, size_t size, const char *needle)
{
	CHECK(fx_load(f, image, size) < 0);
	CHECK(has(f->err.msg, needle));
	CHECK(has(f->err.msg, "test-vmlinuz"));
	CHECK(untouched(f));
}

static void test_corrupt_and_truncated(void)
{
	struct fixture f;
	if (fx_init(&f, 64 * MiB) < 0) {
		CHECK(0);
		return;
	}
	for (int fmt = GZ; fmt <= ZST; fmt++) {
		size_t n = elf_build(elf, DEFAULT_ENTRY, default_segs, 3);
		size_t plen = pack(fmt, elf, n, packed, sizeof packed);
		struct bz o = bz_default();
		/* Every truncation of the stream after the magic (the 4 size bytes
		 * left off too). */
		for (size_t cut = 6; cut + 4 < plen; cut++) {
			size_t size = bz_build(image, &o, packed, cut);
			bool ok = fx_load(&f, image, size) < 0 && untouched(&f) &&
			          (strstr(f.err.msg, "truncated") || strstr(f.err.msg, "corrupt"));
			if (!ok) {
				printf("    %s cut at %zu: \"%s\"\n", fmt_names[fmt], cut,
				       f.err.msg);
				CHECK(0);
				break;
			}
		}
		size_t size = bz_build(image, &o, packed, plen - 4 - 6);
		expect_refusal(&f, size, "truncated");
		/* Flipped bytes in the middle of the stream. */
		size = bz_build(image, &o, packed, plen);
		for (size_t i = plen / 3; i < plen / 3 + 8; i++)
			image[SETUP_SIZE + PAYLOAD_AT + i] ^= 0x5a;
		expect_refusal(&f, size, "corrupt");
	}
	mem_destroy(&f.mem);
}

/* Output beyond guest RAM stops there; the message names the file. */
static void test_decompression_bomb(void)
{
	struct fixture f;
	if (fx_init(&f, 32 * MiB) < 0) {
		CHECK(0);
		return;
	}
	size_t big = 33 * MiB;
	uint8_t *zeros = calloc(1, big);
	CHECK(zeros != NULL);
	if (!zeros) {
		mem_destroy(&f.mem);
		return;
	}
	memcpy(zeros, "\177ELF", 4);
	for (int fmt = GZ; fmt <= ZST; fmt++) {
		size_t plen = pack(fmt, zeros, big, packed, sizeof packed);
		CHECK(plen > 0);
		struct bz o = bz_default();
		o.pref_address = 8 * MiB;
		expect_refusal(&f, bz_build(image, &o, packed, plen), "decompression bomb");
		CHECK(has(f.err.msg, "32 MiB"));
	}
	/* The bound itself: exactly RAM-sized output is accepted by the
	 * decompressor (and refused later as an ELF). */
	uint8_t *out;
	size_t out_size;
	struct error err;
	size_t plen = pack(ZST, zeros, 1 * MiB, packed, sizeof packed);
	CHECK_EQ(
	    payload_decompress(packed, plen, PAYLOAD_ZSTD, 1 * MiB, "x", &out, &out_size, &err), 0);
	CHECK_EQ(out_size, 1 * MiB);
	free(out);
	CHECK(payload_decompress(packed, plen, PAYLOAD_ZSTD, 1 * MiB - 1, "x", &out, &out_size,
	                         &err) < 0);
	CHECK(has(err.msg, "decompression bomb"));
	free(zeros);
	mem_destroy(&f.mem);
}

/* Rebuilds the image from elf[0..n) compressed with gzip. */
static size_t wrap(size_t n)
{
	size_t plen = pack(GZ, elf, n, packed, sizeof packed);
	struct bz o = bz_default();
	return bz_build(image, &o, packed, plen);
}

static void test_bad_elf(void)
{
	struct fixture f;
	if (fx_init(&f, 64 * MiB) < 0) {
		CHECK(0);
		return;
	}
	size_t n = elf_build(elf, DEFAULT_ENTRY, default_segs, 3);

	memcpy(elf, "hello", 5);
	expect_refusal(&f, wrap(n), "not an ELF file");
	expect_refusal(&f, wrap(40), "not an ELF file"); /* shorter than a header */
	n = elf_build(elf, DEFAULT_ENTRY, default_segs, 3);
	elf[4] = 1; /* ELFCLASS32 */
	expect_refusal(&f, wrap(n), "ELF64");
	n = elf_build(elf, DEFAULT_ENTRY, default_segs, 3);
	put16(elf + 18, 3); /* EM_386 */
	expect_refusal(&f, wrap(n), "x86-64");
	n = elf_build(elf, DEFAULT_ENTRY, default_segs, 3);
	put16(elf + 16, 3); /* ET_DYN */
	expect_refusal(&f, wrap(n), "not an executable");
	n = elf_build(elf, DEFAULT_ENTRY, default_segs, 3);
	put16(elf + 54, 32);
	expect_refusal(&f, wrap(n), "e_phentsize");
	n = elf_build(elf, DEFAULT_ENTRY, default_segs, 3);
	put64(elf + 32, UINT64_MAX - 8); /* phoff */
	expect_refusal(&f, wrap(n), "program headers");
	n = elf_build(elf, DEFAULT_ENTRY, default_segs, 3);
	put16(elf + 56, 0xffff);
	expect_refusal(&f, wrap(n), "program headers");
	n = elf_build(elf, DEFAULT_ENTRY, default_segs, 3);
	put16(elf + 56, 200); /* more headers than the file holds */
	expect_refusal(&f, wrap(n), "lie outside");

	/* Segment fields. */
	n = elf_build(elf, DEFAULT_ENTRY, default_segs, 3);
	put64(elf + 64 + 56 + 8, UINT64_MAX - 0x10); /* p_offset */
	expect_refusal(&f, wrap(n), "outside the decompressed kernel");
	n = elf_build(elf, DEFAULT_ENTRY, default_segs, 3);
	put64(elf + 64 + 56 + 32, 0x100000); /* p_filesz past the end */
	put64(elf + 64 + 56 + 40, 0x100000);
	expect_refusal(&f, wrap(n), "outside the decompressed kernel");
	n = elf_build(elf, DEFAULT_ENTRY, default_segs, 3);
	put64(elf + 64 + 56 + 40, 0x10); /* p_memsz < p_filesz */
	expect_refusal(&f, wrap(n), "p_filesz");

	struct seg_spec s[2] = {default_segs[0], default_segs[1]};
	s[1].paddr = 64 * MiB - 0x1000; /* runs past the end of RAM */
	expect_refusal(&f, wrap(elf_build(elf, DEFAULT_ENTRY, s, 2)), "outside guest RAM");
	s[1].paddr = UINT64_MAX - 0x100; /* would wrap */
	expect_refusal(&f, wrap(elf_build(elf, DEFAULT_ENTRY, s, 2)), "outside guest RAM");
	s[1].paddr = 0xc0000000; /* the PCI hole */
	expect_refusal(&f, wrap(elf_build(elf, DEFAULT_ENTRY, s, 2)), "outside guest RAM");
	s[1].paddr = BOOT_ZERO_PAGE_ADDR; /* the boot data below 1 MiB */
	expect_refusal(&f, wrap(elf_build(elf, DEFAULT_ENTRY, s, 2)), "below");
	s[1].paddr = 16 * MiB + 0x800; /* overlaps the first */
	expect_refusal(&f, wrap(elf_build(elf, DEFAULT_ENTRY, s, 2)), "overlap");
	s[1] = default_segs[1];
	expect_refusal(&f, wrap(elf_build(elf, 17 * MiB, s, 2)), "entry point");
	/* Entry in the bss of a segment is not code that was loaded. */
	expect_refusal(&f, wrap(elf_build(elf, 18 * MiB + 0x400, s, 2)), "entry point");
	s[0].type = s[1].type = 4;
	expect_refusal(&f, wrap(elf_build(elf, DEFAULT_ENTRY, s, 2)), "no loadable segment");

	/* Too many loadable segments. */
	static struct seg_spec many[VMLINUX_MAX_SEGMENTS + 1];
	for (int i = 0; i <= VMLINUX_MAX_SEGMENTS; i++)
		many[i] = (struct seg_spec){1, 16 * MiB + i * 0x1000ULL, 0, 0x10, 0x10, 0};
	expect_refusal(&f, wrap(elf_build(elf, DEFAULT_ENTRY, many, VMLINUX_MAX_SEGMENTS + 1)),
	               "more than");
	mem_destroy(&f.mem);
}

static void test_payload_fields(void)
{
	struct fixture f;
	if (fx_init(&f, 64 * MiB) < 0) {
		CHECK(0);
		return;
	}
	struct bz o = bz_default();
	size_t size = default_image(XZ, &o);
	put32(image + O_PAYLOAD_LENGTH, 0x7fffffff);
	expect_refusal(&f, size, "lies outside the protected-mode kernel");
	size = default_image(XZ, &o);
	put32(image + O_PAYLOAD_OFFSET, 0xffffff00);
	expect_refusal(&f, size, "lies outside the protected-mode kernel");

	/* No payload described: the guest decompresses, as before. */
	size = default_image(XZ, &o);
	put32(image + O_PAYLOAD_LENGTH, 0);
	CHECK_EQ(fx_load(&f, image, size), 0);
	CHECK_EQ(f.cpu.rip, 16 * MiB + 0x200);
	mem_destroy(&f.mem);
}

/* bzip2, lzma, lzo, lz4 and unknown payloads fall back to the guest path. */
static void test_other_formats_fall_back(void)
{
	static const uint8_t heads[][8] = {
	    {'B', 'Z', 'h', '9', '1', 'A', 'Y', '&'},   {0x5d, 0, 0, 0x80, 0, 0xff, 0xff, 0xff},
	    {0x89, 'L', 'Z', 'O', 0, 0x0d, 0x0a, 0x1a}, {0x02, 0x21, 0x4c, 0x18, 1, 2, 3, 4},
	    {'n', 'o', 'n', 'e', 0, 0, 0, 0},
	};
	static const enum payload_format want[] = {PAYLOAD_BZIP2, PAYLOAD_LZMA, PAYLOAD_LZO,
	                                           PAYLOAD_LZ4, PAYLOAD_UNKNOWN};
	for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
		struct fixture f;
		if (fx_init(&f, 64 * MiB) < 0) {
			CHECK(0);
			return;
		}
		CHECK(payload_detect(heads[i], 8) == want[i]);
		CHECK(!payload_host_supported(want[i]));
		uint8_t payload[64];
		memset(payload, 0x11, sizeof payload);
		memcpy(payload, heads[i], 8);
		struct bz o = bz_default();
		size_t size = bz_build(image, &o, payload, sizeof payload);
		CHECK_EQ(fx_load(&f, image, size), 0);
		CHECK_EQ(f.cpu.rip, 16 * MiB + 0x200);
		CHECK(memcmp(mem_ptr(&f.mem, 16 * MiB, size - SETUP_SIZE), image + SETUP_SIZE,
		             size - SETUP_SIZE) == 0);
		mem_destroy(&f.mem);
	}
}

/* --kernel-decompress guest: today's behaviour, payload untouched. */
static void test_guest_mode_unchanged(void)
{
	struct fixture f;
	if (fx_init(&f, 64 * MiB) < 0) {
		CHECK(0);
		return;
	}
	f.req.host_decompress = false;
	struct bz o = bz_default();
	size_t size = default_image(GZ, &o);
	CHECK_EQ(fx_load(&f, image, size), 0);
	CHECK_EQ(f.cpu.rip, 16 * MiB + 0x200);
	CHECK(memcmp(mem_ptr(&f.mem, 16 * MiB, size - SETUP_SIZE), image + SETUP_SIZE,
	             size - SETUP_SIZE) == 0);
	/* Nothing at the vmlinux' data segment. */
	CHECK(all_byte(mem_ptr(&f.mem, 18 * MiB, 0x5000), 0x5000, 0xaa));
	/* A corrupt payload is the guest's business in this mode. */
	image[SETUP_SIZE + PAYLOAD_AT + 20] ^= 0xff;
	CHECK_EQ(fx_load(&f, image, size), 0);
	mem_destroy(&f.mem);
}

/* ---- fuzzer seeds ---- */

static int write_seed(const char *dir, const char *name, char mode, const uint8_t *data,
                      size_t size)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/vmlinux/%s", dir, name);
	FILE *fp = fopen(path, "wb");
	if (!fp || fputc(mode, fp) == EOF || fwrite(data, 1, size, fp) != size || fclose(fp) != 0) {
		printf("  cannot write %s\n", path);
		return -1;
	}
	return 0;
}

static int write_seeds(const char *dir)
{
	char sub[4096];
	snprintf(sub, sizeof sub, "%s/vmlinux", dir);
	if (mkdir(sub, 0777) < 0 && errno != EEXIST)
		return -1;
	/* Small segments, so that the seeds stay small. */
	struct seg_spec segs[] = {
	    {1, 16 * MiB, 0xffffffff81000000ULL, 0x40, 0x40, 0x10},
	    {1, 18 * MiB, 0xffffffff81200000ULL, 0x20, 0x3000, 0x80},
	    {4, 0, 0, 0x8, 0x8, 0},
	};
	size_t n = elf_build(elf, DEFAULT_ENTRY, segs, 3);
	int rc = write_seed(dir, "elf-valid", 'E', elf, n);
	for (int fmt = GZ; fmt <= ZST; fmt++) {
		char name[64];
		size_t plen = pack(fmt, elf, n, packed, sizeof packed);
		snprintf(name, sizeof name, "payload-%s", fmt_names[fmt]);
		rc |= write_seed(dir, name, 'P', packed, plen);
		snprintf(name, sizeof name, "payload-%s-truncated", fmt_names[fmt]);
		rc |= write_seed(dir, name, 'P', packed, plen / 2);
	}
	segs[1].paddr = 16 * MiB + 0x20;
	n = elf_build(elf, DEFAULT_ENTRY, segs, 3);
	rc |= write_seed(dir, "elf-overlap", 'E', elf, n);
	return rc;
}

int main(void)
{
	const char *seeds = getenv("RINGFOLD_WRITE_SEEDS");
	if (seeds && write_seeds(seeds) < 0)
		return 1;
	RUN(test_formats);
	RUN(test_virtual_entry);
	RUN(test_initrd_after_vmlinux);
	RUN(test_corrupt_and_truncated);
	RUN(test_decompression_bomb);
	RUN(test_bad_elf);
	RUN(test_payload_fields);
	RUN(test_other_formats_fall_back);
	RUN(test_guest_mode_unchanged);
	TEST_DONE();
}
