/* A small builder for ACPI Machine Language (AML) byte code: just what the
 * DSDT needs (names, integers, strings, packages, buffers, scopes, devices,
 * methods and resource templates), so the table is generated from readable
 * C instead of a precompiled blob.
 *
 * The builder writes into a caller-supplied buffer and never past its end:
 * running out of room, a malformed name or a count that AML cannot encode
 * sets `failed`, after which every call is a no-op. Check aml_ok() once at
 * the end instead of after every call.
 *
 * Objects with a PkgLength (scope, device, method, package) are opened and
 * closed: open returns a mark, close encodes the length of everything
 * emitted since, using the shortest PkgLength encoding. */
#ifndef RINGFOLD_BOOT_AML_H
#define RINGFOLD_BOOT_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct aml {
	uint8_t *buf;
	size_t cap;
	size_t len;
	bool failed;
};

/* An open PkgLength object; opaque to callers. */
struct aml_mark {
	size_t pkglen_at; /* where the PkgLength placeholder starts */
};

void aml_init(struct aml *a, uint8_t *buf, size_t cap);
static inline bool aml_ok(const struct aml *a)
{
	return !a->failed;
}

/* Raw bytes (for opcodes the builder has no helper for). */
void aml_byte(struct aml *a, uint8_t b);
void aml_bytes(struct aml *a, const void *p, size_t n);

/* Data objects. aml_integer picks Zero/One/Ones or the shortest prefix. */
void aml_integer(struct aml *a, uint64_t v);
void aml_string(struct aml *a, const char *s);
/* A compressed EISA ID ("PNP0A03") as the DWord integer _HID/_CID expect. */
void aml_eisaid(struct aml *a, const char *id);
/* A NameString: "\\_SB.PCI0", "^FOO", "_S5". Segments shorter than four
 * characters are padded with '_'. */
void aml_name_string(struct aml *a, const char *path);

/* Name (path, <object>): the caller emits the object right after. */
void aml_name(struct aml *a, const char *path);
/* Buffer (len) {data}. */
void aml_buffer(struct aml *a, const uint8_t *data, size_t len);

/* Package (nelems) {...}: emit exactly nelems data objects, then close. */
struct aml_mark aml_package_open(struct aml *a, unsigned nelems);
struct aml_mark aml_scope_open(struct aml *a, const char *path);
struct aml_mark aml_device_open(struct aml *a, const char *path);
/* Method (path, nargs, Serialized/NotSerialized): body follows, then close. */
struct aml_mark aml_method_open(struct aml *a, const char *path, unsigned nargs, bool serialized);
void aml_close(struct aml *a, struct aml_mark mark);

/* Return (<object>): the caller emits the object right after. */
void aml_return(struct aml *a);

/* Resource template descriptors (ACPI 6, section 6.4), emitted into a
 * separate struct aml that aml_resource_template() then wraps in a Buffer
 * with the End Tag appended. */
void aml_res_io(struct aml *r, uint16_t min, uint16_t max, uint8_t align, uint8_t len);
void aml_res_irq_noflags(struct aml *r, uint16_t irq_mask);
/* Memory32Fixed (ReadWrite or ReadOnly, base, length): a device's registers. */
void aml_res_memory32_fixed(struct aml *r, uint32_t base, uint32_t len, bool writable);
/* Address space descriptors for a bridge's windows (ResourceProducer,
 * MinFixed, MaxFixed, PosDecode). */
void aml_res_word_bus(struct aml *r, uint16_t min, uint16_t max);
void aml_res_word_io(struct aml *r, uint16_t min, uint16_t max);
void aml_res_dword_mem(struct aml *r, uint32_t min, uint32_t max);
/* Buffer {descriptors in r, End Tag} into a; fails a if r failed. */
void aml_resource_template(struct aml *a, const struct aml *r);

#endif
