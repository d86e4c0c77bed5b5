/* AML encoding, after ACPI 6.0 chapter 20 (AML grammar) and section 6.4
 * (resource data types). */
#include "boot/aml.h"

#include <string.h>

/* Opcodes used here (ACPI 6.0, 20.3). */
#define AML_ZERO_OP 0x00
#define AML_ONE_OP 0x01
#define AML_NAME_OP 0x08
#define AML_BYTE_PREFIX 0x0A
#define AML_WORD_PREFIX 0x0B
#define AML_DWORD_PREFIX 0x0C
#define AML_STRING_PREFIX 0x0D
#define AML_QWORD_PREFIX 0x0E
#define AML_SCOPE_OP 0x10
#define AML_BUFFER_OP 0x11
#define AML_PACKAGE_OP 0x12
#define AML_METHOD_OP 0x14
#define AML_DUAL_NAME_PREFIX 0x2E
#define AML_MULTI_NAME_PREFIX 0x2F
#define AML_EXT_OP_PREFIX 0x5B
#define AML_DEVICE_OP 0x82 /* after AML_EXT_OP_PREFIX */
#define AML_ROOT_CHAR '\\'
#define AML_PARENT_PREFIX '^'
#define AML_RETURN_OP 0xA4
#define AML_ONES_OP 0xFF

/* Small and large resource descriptor tags (6.4.2, 6.4.3). */
#define RES_IRQ_NOFLAGS 0x22 /* small item 0x4, length 2 */
#define RES_IO 0x47          /* small item 0x8, length 7 */
#define RES_END_TAG 0x79     /* small item 0xF, length 1 */
#define RES_MEM32_FIXED 0x86 /* large item 0x6, length 9 */
#define RES_DWORD_ADDR 0x87
#define RES_WORD_ADDR 0x88

#define RES_TYPE_MEM 0
#define RES_TYPE_IO 1
#define RES_TYPE_BUS 2
/* General flags: producer (bit 0 clear), positive decode (bit 1 clear),
 * minimum and maximum fixed (bits 2 and 3). */
#define RES_FLAGS_BRIDGE_WINDOW 0x0C
#define RES_IO_ENTIRE_RANGE 0x03 /* _RNG: ISA and non-ISA ports */
#define RES_MEM_READ_WRITE 0x01  /* _RW = 1, _MEM = non-cacheable */

/* Room the PkgLength placeholder takes until aml_close() shrinks it. */
#define PKGLEN_MAX_BYTES 4
#define PKGLEN_MAX 0x0FFFFFFF

void aml_init(struct aml *a, uint8_t *buf, size_t cap)
{
	a->buf = buf;
	a->cap = cap;
	a->len = 0;
	a->failed = false;
}

void aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (a->failed)
		return;
	if (n > a->cap - a->len) {
		a->failed = true;
		return;
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

void aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

static void aml_le(struct aml *a, uint64_t v, unsigned nbytes)
{
	uint8_t b[8];
	for (unsigned i = 0; i < nbytes; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	aml_bytes(a, b, nbytes);
}

void aml_integer(struct aml *a, uint64_t v)
{
	if (v == 0)
		aml_byte(a, AML_ZERO_OP);
	else if (v == 1)
		aml_byte(a, AML_ONE_OP);
	else if (v == UINT64_MAX)
		aml_byte(a, AML_ONES_OP); /* all ones in a revision 2 (64-bit) table */
	else if (v <= 0xFF) {
		aml_byte(a, AML_BYTE_PREFIX);
		aml_le(a, v, 1);
	} else if (v <= 0xFFFF) {
		aml_byte(a, AML_WORD_PREFIX);
		aml_le(a, v, 2);
	} else if (v <= 0xFFFFFFFF) {
		aml_byte(a, AML_DWORD_PREFIX);
		aml_le(a, v, 4);
	} else {
		aml_byte(a, AML_QWORD_PREFIX);
		aml_le(a, v, 8);
	}
}

void aml_string(struct aml *a, const char *s)
{
	/* An AML string is ASCII 0x01-0x7F; anything else would not decode. */
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c > 0x7F)
			a->failed = true;
	aml_byte(a, AML_STRING_PREFIX);
	aml_bytes(a, s, strlen(s) + 1);
}

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}
static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}
static unsigned hex_value(char c)
{
	return c <= '9' ? (unsigned)(c - '0') : (unsigned)(c - 'A' + 10);
}

void aml_eisaid(struct aml *a, const char *id)
{
	/* Three letters in five bits each (A = 1), then four hex digits; the
	 * DWord is stored most significant byte first (ACPI 6.0, 6.1.5). */
	if (strlen(id) != 7 || !is_upper(id[0]) || !is_upper(id[1]) || !is_upper(id[2]) ||
	    !is_hex(id[3]) || !is_hex(id[4]) || !is_hex(id[5]) || !is_hex(id[6])) {
		a->failed = true;
		return;
	}
	unsigned c1 = (unsigned)(id[0] - '@'), c2 = (unsigned)(id[1] - '@'),
	         c3 = (unsigned)(id[2] - '@');
	uint8_t b[5] = {
	    AML_DWORD_PREFIX,
	    (uint8_t)((c1 << 2) | (c2 >> 3)),
	    (uint8_t)(((c2 & 7) << 5) | c3),
	    (uint8_t)((hex_value(id[3]) << 4) | hex_value(id[4])),
	    (uint8_t)((hex_value(id[5]) << 4) | hex_value(id[6])),
	};
	aml_bytes(a, b, sizeof b);
}

static bool name_char_ok(char c, bool lead)
{
	return is_upper(c) || c == '_' || (!lead && c >= '0' && c <= '9');
}

void aml_name_string(struct aml *a, const char *path)
{
	const char *p = path;
	if (*p == AML_ROOT_CHAR)
		aml_byte(a, (uint8_t)*p++);
	else
		while (*p == AML_PARENT_PREFIX)
			aml_byte(a, (uint8_t)*p++);

	/* Split into NameSegs first: the prefix depends on how many there are. */
	char segs[255][4];
	unsigned nsegs = 0;
	while (*p) {
		size_t n = strcspn(p, ".");
		if (n == 0 || n > 4 || nsegs == 255) {
			a->failed = true;
			return;
		}
		for (size_t i = 0; i < 4; i++) {
			char c = i < n ? p[i] : '_';
			if (!name_char_ok(c, i == 0)) {
				a->failed = true;
				return;
			}
			segs[nsegs][i] = c;
		}
		nsegs++;
		p += n;
		if (*p == '.') {
			p++;
			if (!*p) { /* a trailing dot names nothing */
				a->failed = true;
				return;
			}
		}
	}
	if (nsegs == 0)
		aml_byte(a, AML_ZERO_OP); /* NullName */
	else if (nsegs == 2)
		aml_byte(a, AML_DUAL_NAME_PREFIX);
	else if (nsegs > 2) {
		aml_byte(a, AML_MULTI_NAME_PREFIX);
		aml_byte(a, (uint8_t)nsegs);
	}
	aml_bytes(a, segs, 4 * (size_t)nsegs);
}

void aml_name(struct aml *a, const char *path)
{
	aml_byte(a, AML_NAME_OP);
	aml_name_string(a, path);
}

/* Length of a PkgLength encoding for a body of n bytes, or 0 if too big. */
static unsigned pkglen_bytes(size_t n)
{
	if (n + 1 <= 0x3F)
		return 1;
	if (n + 2 <= 0xFFF)
		return 2;
	if (n + 3 <= 0xFFFFF)
		return 3;
	if (n + 4 <= PKGLEN_MAX)
		return 4;
	return 0;
}

/* The PkgLength counts itself plus what follows it (20.2.4). */
static void pkglen_encode(uint8_t *out, unsigned k, size_t body)
{
	size_t v = body + k;
	if (k == 1) {
		out[0] = (uint8_t)v;
		return;
	}
	out[0] = (uint8_t)(((k - 1) << 6) | (v & 0x0F));
	for (unsigned i = 1; i < k; i++)
		out[i] = (uint8_t)(v >> (4 + 8 * (i - 1)));
}

static struct aml_mark pkglen_open(struct aml *a)
{
	struct aml_mark m = {.pkglen_at = a->len};
	static const uint8_t placeholder[PKGLEN_MAX_BYTES];
	aml_bytes(a, placeholder, sizeof placeholder);
	return m;
}

void aml_close(struct aml *a, struct aml_mark mark)
{
	if (a->failed)
		return;
	size_t body_at = mark.pkglen_at + PKGLEN_MAX_BYTES;
	if (mark.pkglen_at > a->len || body_at > a->len) { /* not a mark of this builder */
		a->failed = true;
		return;
	}
	size_t body = a->len - body_at;
	unsigned k = pkglen_bytes(body);
	if (k == 0) {
		a->failed = true;
		return;
	}
	pkglen_encode(a->buf + mark.pkglen_at, k, body);
	memmove(a->buf + mark.pkglen_at + k, a->buf + body_at, body);
	a->len -= PKGLEN_MAX_BYTES - k;
}

void aml_buffer(struct aml *a, const uint8_t *data, size_t len)
{
	aml_byte(a, AML_BUFFER_OP);
	struct aml_mark m = pkglen_open(a);
	aml_integer(a, len); /* BufferSize */
	aml_bytes(a, data, len);
	aml_close(a, m);
}

struct aml_mark aml_package_open(struct aml *a, unsigned nelems)
{
	if (nelems > 255) /* NumElements is a byte; larger needs VarPackage */
		a->failed = true;
	aml_byte(a, AML_PACKAGE_OP);
	struct aml_mark m = pkglen_open(a);
	aml_byte(a, (uint8_t)nelems);
	return m;
}

struct aml_mark aml_scope_open(struct aml *a, const char *path)
{
	aml_byte(a, AML_SCOPE_OP);
	struct aml_mark m = pkglen_open(a);
	aml_name_string(a, path);
	return m;
}

struct aml_mark aml_device_open(struct aml *a, const char *path)
{
	aml_byte(a, AML_EXT_OP_PREFIX);
	aml_byte(a, AML_DEVICE_OP);
	struct aml_mark m = pkglen_open(a);
	aml_name_string(a, path);
	return m;
}

struct aml_mark aml_method_open(struct aml *a, const char *path, unsigned nargs, bool serialized)
{
	if (nargs > 7)
		a->failed = true;
	aml_byte(a, AML_METHOD_OP);
	struct aml_mark m = pkglen_open(a);
	aml_name_string(a, path);
	/* MethodFlags: ArgCount in bits 0-2, SerializeFlag in bit 3, SyncLevel 0. */
	aml_byte(a, (uint8_t)((nargs & 7) | (serialized ? 0x08 : 0)));
	return m;
}

void aml_return(struct aml *a)
{
	aml_byte(a, AML_RETURN_OP);
}

void aml_res_io(struct aml *r, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
	/* Information byte 1: the device decodes all 16 address bits. */
	uint8_t d[8] = {
	    RES_IO, 0x01, (uint8_t)min, (uint8_t)(min >> 8), (uint8_t)max, (uint8_t)(max >> 8),
	    align,  len};
	aml_bytes(r, d, sizeof d);
}

void aml_res_memory32_fixed(struct aml *r, uint32_t base, uint32_t len, bool writable)
{
	/* Information byte: bit 0 is _RW. */
	uint8_t d[12] = {RES_MEM32_FIXED, 9, 0, writable ? 1 : 0};
	for (int j = 0; j < 4; j++) {
		d[4 + j] = (uint8_t)(base >> (8 * j));
		d[8 + j] = (uint8_t)(len >> (8 * j));
	}
	aml_bytes(r, d, sizeof d);
}

void aml_res_irq_noflags(struct aml *r, uint16_t irq_mask)
{
	/* The two-byte form: edge triggered, active high, not shared. */
	uint8_t d[3] = {RES_IRQ_NOFLAGS, (uint8_t)irq_mask, (uint8_t)(irq_mask >> 8)};
	aml_bytes(r, d, sizeof d);
}

static void res_word_addr(struct aml *r, uint8_t type, uint8_t type_flags, uint16_t min,
                          uint16_t max)
{
	/* Fields after the 3-byte header: type, general flags, type flags,
	 * granularity, minimum, maximum, translation offset, length. */
	uint16_t length = (uint16_t)(max - min + 1);
	uint8_t d[16] = {RES_WORD_ADDR, 13, 0, type, RES_FLAGS_BRIDGE_WINDOW, type_flags};
	uint16_t f[5] = {0, min, max, 0, length};
	for (int i = 0; i < 5; i++) {
		d[6 + 2 * i] = (uint8_t)f[i];
		d[7 + 2 * i] = (uint8_t)(f[i] >> 8);
	}
	if (max < min || (min == 0 && max == UINT16_MAX)) /* length would wrap to 0 */
		r->failed = true;
	aml_bytes(r, d, sizeof d);
}

void aml_res_word_bus(struct aml *r, uint16_t min, uint16_t max)
{
	res_word_addr(r, RES_TYPE_BUS, 0, min, max);
}

void aml_res_word_io(struct aml *r, uint16_t min, uint16_t max)
{
	res_word_addr(r, RES_TYPE_IO, RES_IO_ENTIRE_RANGE, min, max);
}

void aml_res_dword_mem(struct aml *r, uint32_t min, uint32_t max)
{
	uint32_t length = max - min + 1;
	uint8_t d[26] = {RES_DWORD_ADDR,    23, 0, RES_TYPE_MEM, RES_FLAGS_BRIDGE_WINDOW,
	                 RES_MEM_READ_WRITE};
	uint32_t f[5] = {0, min, max, 0, length};
	for (int i = 0; i < 5; i++)
		for (int j = 0; j < 4; j++)
			d[6 + 4 * i + j] = (uint8_t)(f[i] >> (8 * j));
	if (max < min || (min == 0 && max == UINT32_MAX)) /* length would wrap to 0 */
		r->failed = true;
	aml_bytes(r, d, sizeof d);
}

void aml_resource_template(struct aml *a, const struct aml *r)
{
	if (r->failed) {
		a->failed = true;
		return;
	}
	aml_byte(a, AML_BUFFER_OP);
	struct aml_mark m = pkglen_open(a);
	aml_integer(a, r->len + 2);
	aml_bytes(a, r->buf, r->len);
	/* End Tag; checksum 0 means "not checksummed" (6.4.2.9). */
	aml_byte(a, RES_END_TAG);
	aml_byte(a, 0);
	aml_close(a, m);
}
