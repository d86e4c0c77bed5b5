/* Writes the ACPI tables acpi_build() produces to files, one per table, so
 * that an outside tool (iasl -d, in tests/integration/acpi_iasl.sh) can check
 * them the way it would check a real machine's tables:
 *
 *   acpi_dump <directory> [ncpus]
 *
 * Files: rsdp.dat rsdt.dat xsdt.dat facp.dat apic.dat dsdt.dat facs.dat hpet.dat.
 * The tables are found by following the pointers from the RSDP, as a guest
 * would, so a wrong pointer shows up as a missing or broken file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/acpi.h"
#include "mem.h"

static const struct guest_mem *gm;

static int dump(const char *dir, const char *name, uint64_t gpa, uint64_t len)
{
	const void *p = mem_ptr(gm, gpa, len);
	if (!p || gpa < ACPI_TABLES_ADDR || len > ACPI_TABLES_END - gpa) {
		fprintf(stderr, "acpi_dump: %s at %#llx+%llu is outside the ACPI area\n", name,
		        (unsigned long long)gpa, (unsigned long long)len);
		return -1;
	}
	char path[4096];
	snprintf(path, sizeof path, "%s/%s.dat", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		return -1;
	}
	return 0;
}

static uint32_t rd32(uint64_t gpa)
{
	uint32_t v = 0;
	mem_read(gm, gpa, &v, sizeof v);
	return v;
}

static uint64_t rd64(uint64_t gpa)
{
	uint64_t v = 0;
	mem_read(gm, gpa, &v, sizeof v);
	return v;
}

static int dump_table(const char *dir, uint64_t gpa)
{
	char sig[5] = {0}, name[5] = {0};
	if (mem_read(gm, gpa, sig, 4) < 0)
		return -1;
	for (int i = 0; i < 4; i++)
		name[i] = (char)(sig[i] >= 'A' && sig[i] <= 'Z' ? sig[i] - 'A' + 'a' : sig[i]);
	return dump(dir, name, gpa, rd32(gpa + 4));
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: acpi_dump <directory> [ncpus]\n");
		return 2;
	}
	int ncpus = argc == 3 ? atoi(argv[2]) : 2;
	struct guest_mem m;
	struct error err = {{0}};
	if (mem_init(&m, 64ULL << 20, false, &err) < 0) {
		fprintf(stderr, "acpi_dump: %s\n", err.msg);
		return 1;
	}
	gm = &m;
	uint64_t rsdp;
	if (acpi_build(&m, ncpus, &rsdp, &err) < 0) {
		fprintf(stderr, "acpi_dump: %s\n", err.msg);
		return 1;
	}
	const char *dir = argv[1];
	uint64_t rsdt = rd32(rsdp + 16), xsdt = rd64(rsdp + 24);
	int rc = dump(dir, "rsdp", rsdp, 36) | dump_table(dir, rsdt) | dump_table(dir, xsdt);
	uint32_t xlen = rd32(xsdt + 4);
	for (uint32_t off = 36; off + 8 <= xlen; off += 8) {
		uint64_t t = rd64(xsdt + off);
		rc |= dump_table(dir, t);
		char sig[4];
		mem_read(gm, t, sig, 4);
		if (!memcmp(sig, "FACP", 4)) {
			rc |= dump_table(dir, rd64(t + 140)); /* X_DSDT */
			uint64_t facs = rd32(t + 36);
			rc |= dump(dir, "facs", facs, rd32(facs + 4));
		}
	}
	mem_destroy(&m);
	return rc ? 1 : 0;
}
