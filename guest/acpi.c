/* ACPI: find the RSDP in the BIOS area, validate the RSDP, the XSDT (or
 * RSDT) and the MADT checksums, and list the processors the MADT names.
 * The tables are firmware input: every length is bounded before use. */
#include "kernel.h"

struct __attribute__((packed)) sdt_header {
	char sig[4];
	uint32_t length;
	uint8_t revision, checksum;
	char oem[6], oem_table[8];
	uint32_t oem_rev, creator, creator_rev;
};

#define TABLE_MAX (1u << 20) /* no sane table is bigger */

static uint8_t sum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t s = 0;
	while (n--)
		s += *b++;
	return s;
}

static bool table_ok(uint64_t addr, const char *sig, char *msg, size_t msgsz)
{
	if (!addr || addr >= (4ul << 30) - TABLE_MAX) {
		ksnprintf(msg, msgsz, "%s at %#lx is outside the identity map", sig, addr);
		return false;
	}
	const struct sdt_header *h = (const struct sdt_header *)addr;
	if (memcmp(h->sig, sig, 4)) {
		ksnprintf(msg, msgsz, "table at %#lx is not %s", addr, sig);
		return false;
	}
	if (h->length < sizeof(*h) || h->length > TABLE_MAX) {
		ksnprintf(msg, msgsz, "%s length %u", sig, h->length);
		return false;
	}
	if (sum(h, h->length)) {
		ksnprintf(msg, msgsz, "%s checksum is wrong", sig);
		return false;
	}
	return true;
}

static void madt_cpus(struct acpi_info *out)
{
	const struct sdt_header *h = (const struct sdt_header *)out->madt;
	const uint8_t *p = (const uint8_t *)h + sizeof(*h) + 8; /* LAPIC address, flags */
	const uint8_t *end = (const uint8_t *)h + h->length;
	while (p + 2 <= end && p[1] >= 2 && p + p[1] <= end) {
		uint32_t id = 0, flags = 0;
		bool cpu = false;
		if (p[0] == 0 && p[1] >= 8) { /* processor local APIC */
			id = p[3];
			flags = *(const uint32_t *)(p + 4);
			cpu = true;
		} else if (p[0] == 9 && p[1] >= 16) { /* processor local x2APIC */
			id = *(const uint32_t *)(p + 4);
			flags = *(const uint32_t *)(p + 8);
			cpu = true;
		}
		if (cpu && (flags & 1)) { /* enabled */
			out->listed++;
			if (out->ncpus < MAX_CPUS)
				out->apic_ids[out->ncpus++] = id;
		}
		p += p[1];
	}
}

bool acpi_scan(struct acpi_info *out, char *msg, size_t msgsz)
{
	memset(out, 0, sizeof(*out));
	const uint8_t *rsdp = NULL;
	uint64_t magic;
	memcpy(&magic, "RSD PTR ", 8);
	for (uint64_t a = 0xe0000; a < 0x100000; a += 16)
		if (*(const volatile uint64_t *)a == magic && !sum((const void *)a, 20)) {
			rsdp = (const uint8_t *)a;
			break;
		}
	if (!rsdp) {
		ksnprintf(msg, msgsz, "no RSDP with a valid checksum in 0xE0000-0xFFFFF");
		return false;
	}
	out->rsdp = (uint64_t)rsdp;
	out->revision = rsdp[15];
	uint64_t xsdt = 0;
	if (out->revision >= 2) {
		uint32_t len = *(const uint32_t *)(rsdp + 20);
		if (len < 36 || len > 0x1000 || sum(rsdp, len)) {
			ksnprintf(msg, msgsz, "RSDP extended checksum or length (%u) is wrong",
			          len);
			return false;
		}
		xsdt = *(const uint64_t *)(rsdp + 24);
	}
	uint32_t rsdt = *(const uint32_t *)(rsdp + 16);
	const char *sig = xsdt ? "XSDT" : "RSDT";
	out->sdt = xsdt ? xsdt : rsdt;
	if (!table_ok(out->sdt, sig, msg, msgsz))
		return false;
	const struct sdt_header *h = (const struct sdt_header *)out->sdt;
	size_t esz = xsdt ? 8 : 4, n = (h->length - sizeof(*h)) / esz;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *e = (const uint8_t *)h + sizeof(*h) + i * esz;
		uint64_t t = xsdt ? *(const uint64_t *)e : *(const uint32_t *)e;
		if (t && t < (4ul << 30) - TABLE_MAX && !memcmp((const void *)t, "APIC", 4)) {
			out->madt = t;
			break;
		}
	}
	if (!out->madt) {
		ksnprintf(msg, msgsz, "%s lists no MADT", sig);
		return false;
	}
	if (!table_ok(out->madt, "APIC", msg, msgsz))
		return false;
	madt_cpus(out);
	if (!out->listed) {
		ksnprintf(msg, msgsz, "MADT lists no enabled processor");
		return false;
	}
	return true;
}
