/* Host-side decompression of a bzImage's payload (the compressed vmlinux the
 * setup header's payload_offset/payload_length point at) and loading of the
 * resulting ELF64 vmlinux, so that Linux starts at startup_64 without running
 * its own decompressor in the guest. Used by linux.c; see docs/boot.md.
 *
 * Everything here treats its input as hostile: the output size is bounded,
 * every ELF field is checked against the buffer, every destination against
 * guest RAM, and nothing is written to guest memory until vmlinux_write(). */
#ifndef RINGFOLD_BOOT_LINUX_PAYLOAD_H
#define RINGFOLD_BOOT_LINUX_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "mem.h"
#include "util/error.h"

/* Formats a kernel may be built with (CONFIG_KERNEL_*), told apart by their
 * magic bytes. Only gzip, xz and zstd are decompressed on the host. */
enum payload_format {
	PAYLOAD_UNKNOWN,
	PAYLOAD_GZIP,
	PAYLOAD_XZ,
	PAYLOAD_ZSTD,
	PAYLOAD_BZIP2,
	PAYLOAD_LZMA,
	PAYLOAD_LZO,
	PAYLOAD_LZ4,
};

/* The decompressed vmlinux may be at most this large, and at most guest RAM. */
#define PAYLOAD_MAX_DECOMPRESSED ((uint64_t)512 << 20)

enum payload_format payload_detect(const uint8_t *data, size_t size);
const char *payload_format_name(enum payload_format fmt);
/* Whether the host decompresses this format (gzip, xz, zstd). */
int payload_host_supported(enum payload_format fmt);

/* Decompresses data (in format fmt) into a malloc'ed buffer of at most limit
 * bytes; bytes after the end of the compressed stream (the size the kernel
 * build appends) are ignored. on success 0, with out and out_size set; -1 with err
 * (naming `name`) for corrupt or truncated data, output over the limit, or
 * no memory. The caller frees the buffer. */
int payload_decompress(const uint8_t *data, size_t size, enum payload_format fmt, size_t limit,
                       const char *name, uint8_t **out, size_t *out_size, struct error *err);

#define VMLINUX_MAX_SEGMENTS 32

struct vmlinux_segment {
	const uint8_t *data; /* filesz bytes inside the ELF buffer */
	uint64_t paddr, vaddr, filesz, memsz;
};

/* A validated vmlinux: where each loadable segment goes and where it starts. */
struct vmlinux_image {
	uint64_t entry;       /* guest-physical */
	uint64_t lowest, end; /* lowest p_paddr, highest p_paddr + p_memsz */
	int nsegments;
	struct vmlinux_segment segments[VMLINUX_MAX_SEGMENTS];
};

/* Checks that elf is an ELF64 x86-64 executable whose PT_LOAD segments lie
 * in the buffer, in guest RAM between min_addr and the end of low RAM
 * (identity-mapped at entry), without overlapping each other, and whose
 * entry point is inside one of them. Writes nothing. */
int vmlinux_parse(const uint8_t *elf, size_t size, const struct guest_mem *mem, uint64_t min_addr,
                  const char *name, struct vmlinux_image *img, struct error *err);

/* Copies the segments of a parsed image into guest memory and zeroes the
 * part of each beyond its file size (bss). -1 only if RAM vanished. */
int vmlinux_write(const struct guest_mem *mem, const struct vmlinux_image *img);

#endif
