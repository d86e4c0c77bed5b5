/* Decompressing a bzImage payload on the host and loading the vmlinux ELF it
 * contains (see linux_payload.h). The payload is what the kernel build
 * produced by compressing vmlinux.bin (+ relocations), followed by the
 * decompressed size as 4 little-endian bytes; vmlinux.bin is the stripped
 * ELF, so the ELF header is at the start of the output and the relocations
 * (only needed for KASLR, which we do not do) trail after it. */
#include "boot/linux_payload.h"

#include <elf.h>
#include <inttypes.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "boot/boot.h"

#define MiB ((uint64_t)1 << 20)
/* The xz and zstd decoders allocate their window up front; a kernel needs at
 * most 32 MiB (xz) / 128 MiB (zstd -22 --ultra) of it. Anything above is a
 * hostile header, not a kernel. */
#define XZ_MEMLIMIT (160 * MiB)
#define ZSTD_WINDOW_LOG_MAX 27
#define FIRST_CHUNK (1 * MiB) /* without a usable size hint */
#define MIN_CHUNK (64 * 1024)

enum payload_format payload_detect(const uint8_t *d, size_t n)
{
	static const struct {
		enum payload_format fmt;
		uint8_t len;
		uint8_t magic[6];
	} magics[] = {
	    {PAYLOAD_GZIP, 2, {0x1f, 0x8b}},
	    {PAYLOAD_XZ, 6, {0xfd, '7', 'z', 'X', 'Z', 0x00}},
	    {PAYLOAD_ZSTD, 4, {0x28, 0xb5, 0x2f, 0xfd}},
	    {PAYLOAD_BZIP2, 3, {'B', 'Z', 'h'}},
	    {PAYLOAD_LZMA, 3, {0x5d, 0x00, 0x00}},
	    {PAYLOAD_LZO, 4, {0x89, 'L', 'Z', 'O'}},
	    {PAYLOAD_LZ4, 4, {0x02, 0x21, 0x4c, 0x18}}, /* legacy frame, as the kernel uses */
	};
	if (!d)
		return PAYLOAD_UNKNOWN;
	for (size_t i = 0; i < sizeof magics / sizeof magics[0]; i++)
		if (n >= magics[i].len && memcmp(d, magics[i].magic, magics[i].len) == 0)
			return magics[i].fmt;
	return PAYLOAD_UNKNOWN;
}

const char *payload_format_name(enum payload_format fmt)
{
	switch (fmt) {
	case PAYLOAD_GZIP: return "gzip";
	case PAYLOAD_XZ: return "xz";
	case PAYLOAD_ZSTD: return "zstd";
	case PAYLOAD_BZIP2: return "bzip2";
	case PAYLOAD_LZMA: return "lzma";
	case PAYLOAD_LZO: return "lzo";
	case PAYLOAD_LZ4: return "lz4";
	case PAYLOAD_UNKNOWN: break;
	}
	return "unknown";
}

int payload_host_supported(enum payload_format fmt)
{
	return fmt == PAYLOAD_GZIP || fmt == PAYLOAD_XZ || fmt == PAYLOAD_ZSTD;
}

/* A growable output buffer that never exceeds limit + 1 bytes: filling that
 * last byte is how a stream longer than the limit is recognised. */
struct outbuf {
	uint8_t *data;
	size_t cap, cap_max;
};

static int outbuf_init(struct outbuf *o, size_t limit, size_t hint)
{
	o->cap_max = limit + 1;
	/* hint + 1: the extra byte lets the stream end be seen without a copy. */
	o->cap = hint && hint < o->cap_max ? hint + 1 : FIRST_CHUNK;
	if (o->cap < MIN_CHUNK)
		o->cap = MIN_CHUNK;
	if (o->cap > o->cap_max)
		o->cap = o->cap_max;
	o->data = malloc(o->cap);
	return o->data ? 0 : -1;
}

/* 1 grown, 0 already at the limit, -1 no memory. */
static int outbuf_grow(struct outbuf *o)
{
	if (o->cap >= o->cap_max)
		return 0;
	size_t cap = o->cap > o->cap_max / 2 ? o->cap_max : o->cap * 2;
	uint8_t *p = realloc(o->data, cap);
	if (!p)
		return -1;
	o->data = p;
	o->cap = cap;
	return 1;
}

static int too_large(const char *name, const char *fmt, size_t limit, struct error *err)
{
	return error_set(err,
	                 "%s: the %s-compressed kernel decompresses to more than %zu bytes "
	                 "(%" PRIu64 " MiB: guest RAM, and never more than %" PRIu64
	                 " MiB); refusing it as corrupt or a decompression bomb",
	                 name, fmt, limit, (uint64_t)limit / MiB, PAYLOAD_MAX_DECOMPRESSED / MiB);
}

static int grow_or_fail(struct outbuf *o, const char *name, const char *fmt, size_t limit,
                        struct error *err)
{
	int g = outbuf_grow(o);
	if (g < 0)
		return error_set(err, "%s: out of memory decompressing the kernel", name);
	if (g == 0)
		return too_large(name, fmt, limit, err);
	return 0;
}

static int inflate_gzip(const uint8_t *in, size_t n, struct outbuf *o, size_t *done, size_t limit,
                        const char *name, struct error *err)
{
	z_stream z;
	memset(&z, 0, sizeof z);
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) /* gzip wrapper only */
		return error_set(err, "%s: cannot initialise zlib", name);
	int rc = -1;
	size_t in_pos = 0, out_pos = 0;
	for (;;) {
		/* zlib counts in uInt: feed it in pieces it can describe. */
		size_t in_left = n - in_pos, out_left = o->cap - out_pos;
		z.next_in = (Bytef *)(uintptr_t)(in + in_pos);
		z.avail_in = in_left > UINT32_MAX ? UINT32_MAX : (uInt)in_left;
		z.next_out = o->data + out_pos;
		z.avail_out = out_left > UINT32_MAX ? UINT32_MAX : (uInt)out_left;
		uInt avail_in = z.avail_in, avail_out = z.avail_out;
		int ret = inflate(&z, Z_NO_FLUSH);
		in_pos += avail_in - z.avail_in;
		out_pos += avail_out - z.avail_out;
		if (ret == Z_STREAM_END) {
			rc = 0;
			break;
		}
		if (ret == Z_OK || ret == Z_BUF_ERROR) {
			if (out_pos == o->cap) {
				if (grow_or_fail(o, name, "gzip", limit, err) < 0)
					break;
				continue;
			}
			if (in_pos == n) {
				error_set(err, "%s: the gzip-compressed kernel is truncated", name);
				break;
			}
			if (ret == Z_OK)
				continue;
		}
		error_set(err, "%s: the gzip-compressed kernel is corrupt (%s)", name,
		          z.msg ? z.msg : "zlib error");
		break;
	}
	inflateEnd(&z);
	*done = out_pos;
	return rc;
}

static int decode_xz(const uint8_t *in, size_t n, struct outbuf *o, size_t *done, size_t limit,
                     const char *name, struct error *err)
{
	lzma_stream s = LZMA_STREAM_INIT;
	/* One stream, integrity check verified; the appended size is ignored. */
	if (lzma_stream_decoder(&s, XZ_MEMLIMIT, 0) != LZMA_OK)
		return error_set(err, "%s: cannot initialise liblzma", name);
	int rc = -1;
	s.next_in = in;
	s.avail_in = n;
	s.next_out = o->data;
	s.avail_out = o->cap;
	for (;;) {
		lzma_ret ret = lzma_code(&s, LZMA_FINISH);
		size_t out_pos = o->cap - s.avail_out;
		if (ret == LZMA_STREAM_END) {
			rc = 0;
			break;
		}
		if (ret == LZMA_OK && s.avail_out == 0) {
			if (grow_or_fail(o, name, "xz", limit, err) < 0)
				break;
			s.next_out = o->data + out_pos;
			s.avail_out = o->cap - out_pos;
			continue;
		}
		if (ret == LZMA_OK)
			continue; /* liblzma answers LZMA_BUF_ERROR if it cannot progress */
		if (ret == LZMA_BUF_ERROR)
			error_set(err, "%s: the xz-compressed kernel is truncated", name);
		else if (ret == LZMA_MEM_ERROR)
			error_set(err, "%s: out of memory decompressing the kernel", name);
		else if (ret == LZMA_MEMLIMIT_ERROR)
			error_set(err,
			          "%s: the xz-compressed kernel needs more than %" PRIu64
			          " MiB to decompress (its dictionary is too large for a kernel)",
			          name, XZ_MEMLIMIT / MiB);
		else
			error_set(err, "%s: the xz-compressed kernel is corrupt (liblzma error %d)",
			          name, (int)ret);
		break;
	}
	*done = o->cap - s.avail_out;
	lzma_end(&s);
	return rc;
}

static int decode_zstd(const uint8_t *in, size_t n, struct outbuf *o, size_t *done, size_t limit,
                       const char *name, struct error *err)
{
	ZSTD_DCtx *dctx = ZSTD_createDCtx();
	if (!dctx)
		return error_set(err, "%s: out of memory decompressing the kernel", name);
	if (ZSTD_isError(ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG_MAX))) {
		ZSTD_freeDCtx(dctx);
		return error_set(err, "%s: cannot initialise libzstd", name);
	}
	int rc = -1;
	ZSTD_inBuffer ib = {in, n, 0};
	ZSTD_outBuffer ob = {o->data, o->cap, 0};
	for (;;) {
		size_t ret = ZSTD_decompressStream(dctx, &ob, &ib);
		if (ZSTD_isError(ret)) {
			error_set(err, "%s: the zstd-compressed kernel is corrupt (%s)", name,
			          ZSTD_getErrorName(ret));
			break;
		}
		if (ret == 0) { /* end of the first frame; the appended size follows */
			rc = 0;
			break;
		}
		if (ob.pos == ob.size) {
			if (grow_or_fail(o, name, "zstd", limit, err) < 0)
				break;
			ob.dst = o->data;
			ob.size = o->cap;
			continue;
		}
		if (ib.pos == ib.size) {
			error_set(err, "%s: the zstd-compressed kernel is truncated", name);
			break;
		}
	}
	*done = ob.pos;
	ZSTD_freeDCtx(dctx);
	return rc;
}

int payload_decompress(const uint8_t *data, size_t size, enum payload_format fmt, size_t limit,
                       const char *name, uint8_t **out, size_t *out_size, struct error *err)
{
	*out = NULL;
	*out_size = 0;
	if (!data || size == 0)
		return error_set(err, "%s: the compressed kernel is empty", name);
	if (limit > PAYLOAD_MAX_DECOMPRESSED)
		limit = PAYLOAD_MAX_DECOMPRESSED;
	/* The kernel build appends the decompressed size: a hint for the first
	 * allocation, never trusted beyond the limit. */
	size_t hint = size >= 8 ? boot_le32(data + size - 4) : 0;
	struct outbuf o;
	if (outbuf_init(&o, limit, hint) < 0)
		return error_set(err, "%s: out of memory decompressing the kernel", name);
	size_t done = 0;
	int rc;
	switch (fmt) {
	case PAYLOAD_GZIP: rc = inflate_gzip(data, size, &o, &done, limit, name, err); break;
	case PAYLOAD_XZ: rc = decode_xz(data, size, &o, &done, limit, name, err); break;
	case PAYLOAD_ZSTD: rc = decode_zstd(data, size, &o, &done, limit, name, err); break;
	default:
		rc = error_set(err, "%s: cannot decompress a %s kernel on the host", name,
		               payload_format_name(fmt));
		break;
	}
	if (rc == 0 && done > limit)
		rc = too_large(name, payload_format_name(fmt), limit, err);
	if (rc < 0) {
		free(o.data);
		return -1;
	}
	*out = o.data;
	*out_size = done;
	return 0;
}

/* ELF64 header and program header offsets (the buffer has no alignment
 * guarantee, so fields are read byte-wise rather than through Elf64_*). */
enum {
	EH_TYPE = 16,
	EH_MACHINE = 18,
	EH_VERSION = 20,
	EH_ENTRY = 24,
	EH_PHOFF = 32,
	EH_PHENTSIZE = 54,
	EH_PHNUM = 56,
	EH_SIZE = 64,
	PH_TYPE = 0,
	PH_OFFSET = 8,
	PH_VADDR = 16,
	PH_PADDR = 24,
	PH_FILESZ = 32,
	PH_MEMSZ = 40,
	PH_SIZE = 56,
};

static int check_ehdr(const uint8_t *e, size_t size, const char *name, struct error *err)
{
	if (size < EH_SIZE || memcmp(e, ELFMAG, SELFMAG) != 0)
		return error_set(
		    err,
		    "%s: the decompressed kernel is not an ELF file (%zu bytes, no ELF "
		    "magic)",
		    name, size);
	if (e[EI_CLASS] != ELFCLASS64 || e[EI_DATA] != ELFDATA2LSB || e[EI_VERSION] != EV_CURRENT)
		return error_set(
		    err, "%s: the decompressed kernel is not a little-endian ELF64 file", name);
	if (boot_le16(e + EH_MACHINE) != EM_X86_64)
		return error_set(err,
		                 "%s: the decompressed kernel is not for x86-64 (e_machine %u)",
		                 name, boot_le16(e + EH_MACHINE));
	if (boot_le16(e + EH_TYPE) != ET_EXEC)
		return error_set(err,
		                 "%s: the decompressed kernel is not an executable (e_type %u)",
		                 name, boot_le16(e + EH_TYPE));
	if (boot_le16(e + EH_PHENTSIZE) != PH_SIZE)
		return error_set(err, "%s: the decompressed kernel has e_phentsize %u, not %d",
		                 name, boot_le16(e + EH_PHENTSIZE), PH_SIZE);
	uint64_t phoff = boot_le64(e + EH_PHOFF);
	uint16_t phnum = boot_le16(e + EH_PHNUM);
	if (phnum == 0 || phnum == PN_XNUM)
		return error_set(err, "%s: the decompressed kernel has no usable program headers",
		                 name);
	if (phoff > size || (size - phoff) / PH_SIZE < phnum)
		return error_set(err,
		                 "%s: the decompressed kernel's program headers (%u at %#" PRIx64
		                 ") lie outside it (%zu bytes)",
		                 name, phnum, phoff, size);
	return 0;
}

static int check_segment(const uint8_t *ph, size_t size, const struct guest_mem *mem,
                         uint64_t min_addr, const char *name, int idx, struct error *err)
{
	uint64_t off = boot_le64(ph + PH_OFFSET), paddr = boot_le64(ph + PH_PADDR);
	uint64_t filesz = boot_le64(ph + PH_FILESZ), memsz = boot_le64(ph + PH_MEMSZ);
	uint64_t low_end = mem_low_end(mem);
	if (filesz > memsz)
		return error_set(
		    err, "%s: vmlinux segment %d: p_filesz %#" PRIx64 " > p_memsz %#" PRIx64, name,
		    idx, filesz, memsz);
	if (off > size || filesz > size - off)
		return error_set(err,
		                 "%s: vmlinux segment %d: file bytes %#" PRIx64 "+%#" PRIx64
		                 " lie outside the decompressed kernel (%zu bytes)",
		                 name, idx, off, filesz, size);
	if (paddr < min_addr)
		return error_set(err,
		                 "%s: vmlinux segment %d at %#" PRIx64 " is below %#" PRIx64
		                 " (boot data and BIOS area)",
		                 name, idx, paddr, min_addr);
	if (paddr >= low_end || memsz > low_end - paddr || !mem_is_ram(mem, paddr, memsz))
		return error_set(err,
		                 "%s: vmlinux segment %d (%#" PRIx64 "+%#" PRIx64
		                 ") is outside guest RAM (RAM below the PCI hole ends at %#" PRIx64
		                 ")",
		                 name, idx, paddr, memsz, low_end);
	return 0;
}

int vmlinux_parse(const uint8_t *elf, size_t size, const struct guest_mem *mem, uint64_t min_addr,
                  const char *name, struct vmlinux_image *img, struct error *err)
{
	memset(img, 0, sizeof *img);
	if (!elf)
		size = 0;
	if (check_ehdr(elf, size, name, err) < 0)
		return -1;
	uint64_t phoff = boot_le64(elf + EH_PHOFF);
	uint16_t phnum = boot_le16(elf + EH_PHNUM);
	uint64_t entry = boot_le64(elf + EH_ENTRY);
	img->lowest = UINT64_MAX;

	for (uint16_t i = 0; i < phnum; i++) {
		const uint8_t *ph = elf + phoff + (uint64_t)i * PH_SIZE;
		if (boot_le32(ph + PH_TYPE) != PT_LOAD || boot_le64(ph + PH_MEMSZ) == 0)
			continue;
		if (img->nsegments == VMLINUX_MAX_SEGMENTS)
			return error_set(err, "%s: vmlinux has more than %d loadable segments",
			                 name, VMLINUX_MAX_SEGMENTS);
		if (check_segment(ph, size, mem, min_addr, name, i, err) < 0)
			return -1;
		struct vmlinux_segment *s = &img->segments[img->nsegments];
		s->paddr = boot_le64(ph + PH_PADDR);
		s->filesz = boot_le64(ph + PH_FILESZ);
		s->memsz = boot_le64(ph + PH_MEMSZ);
		s->data = elf + boot_le64(ph + PH_OFFSET);
		for (int j = 0; j < img->nsegments; j++) {
			const struct vmlinux_segment *t = &img->segments[j];
			if (s->paddr < t->paddr + t->memsz && t->paddr < s->paddr + s->memsz)
				return error_set(err,
				                 "%s: vmlinux segments overlap at %#" PRIx64
				                 " and %#" PRIx64,
				                 name, t->paddr, s->paddr);
		}
		s->vaddr = boot_le64(ph + PH_VADDR);
		if (s->paddr < img->lowest)
			img->lowest = s->paddr;
		if (s->paddr + s->memsz > img->end)
			img->end = s->paddr + s->memsz;
		img->nsegments++;
	}
	if (img->nsegments == 0)
		return error_set(err, "%s: vmlinux has no loadable segment", name);
	/* x86-64 vmlinux gives the physical entry (phys_startup_64); an ELF
	 * naming a virtual one is translated as a boot loader would. */
	for (int pass = 0; pass < 2; pass++) {
		for (int j = 0; j < img->nsegments; j++) {
			const struct vmlinux_segment *s = &img->segments[j];
			uint64_t base = pass == 0 ? s->paddr : s->vaddr;
			if (entry >= base && entry - base < s->filesz) {
				img->entry = s->paddr + (entry - base);
				return 0;
			}
		}
	}
	return error_set(err, "%s: vmlinux entry point %#" PRIx64 " is not inside a loaded segment",
	                 name, entry);
}

int vmlinux_write(const struct guest_mem *mem, const struct vmlinux_image *img)
{
	for (int i = 0; i < img->nsegments; i++) {
		const struct vmlinux_segment *s = &img->segments[i];
		uint8_t *d = mem_ptr(mem, s->paddr, s->memsz);
		if (!d)
			return -1;
		if (s->filesz)
			memcpy(d, s->data, s->filesz);
		memset(d + s->filesz, 0, s->memsz - s->filesz);
	}
	return 0;
}
