/* ACPI tables as a guest sees them: found by scanning for the RSDP, walked
 * through the XSDT and RSDT, every checksum, length and field the brief
 * promises checked, and the DSDT parsed structurally (every term must
 * decode) to find \_S5_ and PCI0's _HID. Also the AML builder's encodings
 * at their edges. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "boot/acpi.h"
#include "boot/aml.h"
#include "dev/acpi_pm.h"
#include "dev/hpet.h"
#include "mem.h"
#include "test.h"

#define GUEST_MEM (64ULL << 20)

/* ---- little-endian readers over guest memory ---------------------------- */

static const struct guest_mem *gm;

static uint8_t rd8(uint64_t gpa)
{
	uint8_t v = 0;
	if (mem_read(gm, gpa, &v, 1) < 0)
		CHECK(!"read outside guest RAM");
	return v;
}
static uint16_t rd16(uint64_t gpa)
{
	return (uint16_t)(rd8(gpa) | rd8(gpa + 1) << 8);
}
static uint32_t rd32(uint64_t gpa)
{
	return rd16(gpa) | (uint32_t)rd16(gpa + 2) << 16;
}
static uint64_t rd64(uint64_t gpa)
{
	return rd32(gpa) | (uint64_t)rd32(gpa + 4) << 32;
}

static uint8_t sum_bytes(uint64_t gpa, uint64_t len)
{
	uint8_t s = 0;
	for (uint64_t i = 0; i < len; i++)
		s = (uint8_t)(s + rd8(gpa + i));
	return s;
}

static bool sig_is(uint64_t gpa, const char *sig)
{
	for (size_t i = 0; i < strlen(sig); i++)
		if (rd8(gpa + i) != (uint8_t)sig[i])
			return false;
	return true;
}

/* The RSDP as Linux's scan of the BIOS area finds it: a 16-byte boundary,
 * the signature, and a valid ACPI 1.0 checksum. */
static uint64_t scan_rsdp(void)
{
	for (uint64_t a = 0xE0000; a < 0x100000; a += 16)
		if (sig_is(a, "RSD PTR ") && sum_bytes(a, 20) == 0)
			return a;
	return 0;
}

/* A table header at gpa that a guest would accept; returns its length. */
static uint32_t check_table(uint64_t gpa, const char *sig)
{
	CHECK(gpa >= ACPI_TABLES_ADDR && gpa < ACPI_TABLES_END);
	if (gpa < ACPI_TABLES_ADDR || gpa >= ACPI_TABLES_END)
		return 0;
	CHECK(sig_is(gpa, sig));
	uint32_t len = rd32(gpa + 4);
	CHECK(len >= 36);
	CHECK(len <= ACPI_TABLES_END - gpa);
	if (len < 36 || len > ACPI_TABLES_END - gpa)
		return 0;
	CHECK_EQ(sum_bytes(gpa, len), 0);
	CHECK(sig_is(gpa + 10, "RNGFLD"));
	return len;
}

struct tables {
	uint64_t rsdp, rsdt, xsdt, fadt, madt, dsdt, facs, hpet;
};

/* Everything a guest does from the RSDP to the FADT and MADT. */
static struct tables walk(void)
{
	struct tables t = {0};
	t.rsdp = scan_rsdp();
	CHECK(t.rsdp != 0);
	if (!t.rsdp)
		return t;
	CHECK_EQ(t.rsdp % 16, 0);
	CHECK_EQ(rd8(t.rsdp + 15), 2); /* revision 2: ACPI 2.0+ */
	CHECK_EQ(rd32(t.rsdp + 20), 36);
	CHECK_EQ(sum_bytes(t.rsdp, 36), 0); /* extended checksum */
	t.rsdt = rd32(t.rsdp + 16);
	t.xsdt = rd64(t.rsdp + 24);

	uint32_t xlen = check_table(t.xsdt, "XSDT");
	uint32_t rlen = check_table(t.rsdt, "RSDT");
	CHECK_EQ((xlen - 36) % 8, 0);
	CHECK_EQ((rlen - 36) % 4, 0);
	unsigned n = xlen >= 36 ? (xlen - 36) / 8 : 0;
	CHECK_EQ(n, rlen >= 36 ? (rlen - 36) / 4 : 0);
	for (unsigned i = 0; i < n; i++) {
		uint64_t p = rd64(t.xsdt + 36 + 8 * i);
		CHECK_EQ(p, rd32(t.rsdt + 36 + 4 * i)); /* both lists agree */
		const char *sig = "????";
		if (sig_is(p, "FACP"))
			t.fadt = p, sig = "FACP";
		else if (sig_is(p, "APIC"))
			t.madt = p, sig = "APIC";
		else if (sig_is(p, "HPET") && !t.hpet)
			t.hpet = p, sig = "HPET";
		else
			CHECK(!"unexpected table in the XSDT");
		CHECK(check_table(p, sig) > 0);
	}
	CHECK(t.fadt && t.madt);
	if (t.fadt) {
		t.dsdt = rd64(t.fadt + 140);
		t.facs = rd32(t.fadt + 36);
	}
	return t;
}

static int build(struct guest_mem *m, int ncpus, uint64_t *rsdp)
{
	struct error err = {{0}};
	int rc = acpi_build(m, ncpus, rsdp, &err);
	if (rc < 0)
		printf("  acpi_build(%d): %s\n", ncpus, err.msg);
	return rc;
}

/* ---- RSDP, RSDT/XSDT ----------------------------------------------------- */

static void test_rsdp_found_by_scan(void)
{
	struct guest_mem m;
	struct error err;
	CHECK(mem_init(&m, GUEST_MEM, false, &err) == 0);
	gm = &m;
	uint64_t rsdp = 0;
	CHECK(build(&m, 1, &rsdp) == 0);
	struct tables t = walk();
	CHECK_EQ(t.rsdp, rsdp); /* the address acpi_build reports is the one a scan finds */
	CHECK(t.rsdp >= 0xE0000 && t.rsdp < 0x100000);
	mem_destroy(&m);
}

static void test_writes_stay_inside_the_area(void)
{
	struct guest_mem m;
	struct error err;
	CHECK(mem_init(&m, GUEST_MEM, false, &err) == 0);
	gm = &m;
	uint8_t *below = mem_ptr(&m, ACPI_TABLES_ADDR - 4096, 4096);
	uint8_t *above = mem_ptr(&m, ACPI_TABLES_END, 4096);
	memset(below, 0xA5, 4096);
	memset(above, 0xA5, 4096);
	uint64_t rsdp;
	CHECK(build(&m, 64, &rsdp) == 0);
	for (int i = 0; i < 4096; i++) {
		CHECK_EQ(below[i], 0xA5);
		CHECK_EQ(above[i], 0xA5);
		if (below[i] != 0xA5 || above[i] != 0xA5)
			break;
	}
	mem_destroy(&m);
}

static void test_bad_cpu_counts_refused(void)
{
	struct guest_mem m;
	struct error err = {{0}};
	CHECK(mem_init(&m, GUEST_MEM, false, &err) == 0);
	uint64_t rsdp = 0x1234;
	CHECK(acpi_build(&m, 0, &rsdp, &err) < 0);
	CHECK(strstr(err.msg, "CPUs") != NULL);
	CHECK(acpi_build(&m, -3, &rsdp, &err) < 0);
	CHECK(acpi_build(&m, 255, &rsdp, &err) < 0);
	CHECK_EQ(rsdp, 0x1234); /* untouched on failure */
	CHECK(acpi_build(&m, 254, &rsdp, &err) == 0);
	mem_destroy(&m);
}

static void test_area_not_ram_refused(void)
{
	/* A hand-made memory map whose only RAM ends below the table area. */
	static uint8_t small[0x80000];
	struct guest_mem m = {.ram_size = sizeof small, .nregions = 1};
	m.regions[0] = (struct mem_region){.gpa = 0, .size = sizeof small, .host = small};
	struct error err = {{0}};
	uint64_t rsdp = 0;
	CHECK(acpi_build(&m, 1, &rsdp, &err) < 0);
	CHECK(strstr(err.msg, "not guest RAM") != NULL);
}

/* ---- FADT and FACS ------------------------------------------------------ */

static void check_gas_io(uint64_t gas, unsigned bits, uint64_t port)
{
	CHECK_EQ(rd8(gas), 1); /* system I/O */
	CHECK_EQ(rd8(gas + 1), bits);
	CHECK_EQ(rd8(gas + 2), 0);
	CHECK_EQ(rd64(gas + 4), port);
}

static void test_fadt(void)
{
	struct guest_mem m;
	struct error err;
	CHECK(mem_init(&m, GUEST_MEM, false, &err) == 0);
	gm = &m;
	uint64_t rsdp;
	CHECK(build(&m, 2, &rsdp) == 0);
	struct tables t = walk();
	uint64_t f = t.fadt;
	if (!f) {
		mem_destroy(&m);
		return;
	}
	CHECK_EQ(rd32(f + 4), 276); /* the ACPI 6.0 layout Linux 6.1 knows exactly */
	CHECK_EQ(rd8(f + 8), 6);
	CHECK_EQ(rd8(f + 131), 0); /* FADT minor version */

	CHECK_EQ(rd32(f + 40), t.dsdt); /* DSDT and X_DSDT agree */
	CHECK(check_table(t.dsdt, "DSDT") > 0);
	CHECK_EQ(rd8(t.dsdt + 8), 2); /* 64-bit AML integers */

	/* FACS: 64-byte aligned, only the 32-bit pointer set (the spec allows
	 * one of FIRMWARE_CTRL and X_FIRMWARE_CTRL). */
	CHECK(t.facs != 0);
	CHECK_EQ(t.facs % 64, 0);
	CHECK(sig_is(t.facs, "FACS"));
	CHECK_EQ(rd32(t.facs + 4), 64);
	CHECK_EQ(rd64(f + 132), 0);

	CHECK_EQ(rd16(f + 46), 9);     /* SCI_INT */
	CHECK_EQ(rd32(f + 48), 0);     /* SMI_CMD: no SMM */
	CHECK_EQ(rd8(f + 52), 0);      /* ACPI_ENABLE */
	CHECK_EQ(rd8(f + 53), 0);      /* ACPI_DISABLE */
	CHECK_EQ(rd32(f + 56), 0x600); /* PM1a_EVT_BLK */
	CHECK_EQ(rd32(f + 60), 0);     /* no PM1b */
	CHECK_EQ(rd32(f + 64), 0x604); /* PM1a_CNT_BLK */
	CHECK_EQ(rd32(f + 68), 0);
	CHECK_EQ(rd32(f + 72), 0);     /* no PM2 */
	CHECK_EQ(rd32(f + 76), 0x608); /* PM_TMR_BLK */
	CHECK_EQ(rd32(f + 80), 0);     /* no GPE0 */
	CHECK_EQ(rd8(f + 88), 4);      /* PM1_EVT_LEN */
	CHECK_EQ(rd8(f + 89), 2);      /* PM1_CNT_LEN */
	CHECK_EQ(rd8(f + 91), 4);      /* PM_TMR_LEN */
	CHECK(rd16(f + 96) > 100);     /* no C2 */
	CHECK(rd16(f + 98) > 1000);    /* no C3 */

	uint16_t boot = rd16(f + 109);
	CHECK(boot & (1u << 1));    /* 8042 */
	CHECK(boot & (1u << 2));    /* VGA not present */
	CHECK(!(boot & (1u << 5))); /* a CMOS RTC is present */

	uint32_t flags = rd32(f + 112);
	CHECK(flags & (1u << 0));     /* WBINVD */
	CHECK(flags & (1u << 2));     /* PROC_C1 */
	CHECK(!(flags & (1u << 4)));  /* fixed power button present */
	CHECK(flags & (1u << 5));     /* no fixed sleep button */
	CHECK(flags & (1u << 8));     /* TMR_VAL_EXT: 32-bit timer */
	CHECK(flags & (1u << 10));    /* RESET_REG_SUP */
	CHECK(!(flags & (1u << 20))); /* not hardware-reduced */

	check_gas_io(f + 116, 8, 0xCF9); /* RESET_REG */
	CHECK_EQ(rd8(f + 128), 0x06);    /* RESET_VALUE */

	/* X_ blocks match their 32-bit twins, with widths = 8 * lengths, as
	 * ACPICA checks. */
	check_gas_io(f + 148, 32, 0x600);
	check_gas_io(f + 172, 16, 0x604);
	check_gas_io(f + 208, 32, 0x608);
	CHECK_EQ(rd64(f + 160 + 4), 0); /* X_PM1b_EVT */
	CHECK_EQ(rd64(f + 184 + 4), 0); /* X_PM1b_CNT */
	CHECK_EQ(rd64(f + 220 + 4), 0); /* X_GPE0 */
	CHECK_EQ(rd64(f + 244 + 4), 0); /* no sleep control register */

	/* The tables and the device agree on ports and values. */
	CHECK_EQ(ACPI_PM_EVT_PORT, 0x600);
	CHECK_EQ(ACPI_PM_CNT_PORT, 0x604);
	CHECK_EQ(ACPI_PM_TMR_PORT, 0x608);
	CHECK_EQ(ACPI_PM_RESET_PORT, 0xCF9);
	mem_destroy(&m);
}

/* ---- MADT --------------------------------------------------------------- */

static void check_madt(int ncpus)
{
	struct guest_mem m;
	struct error err;
	CHECK(mem_init(&m, GUEST_MEM, false, &err) == 0);
	gm = &m;
	uint64_t rsdp;
	CHECK(build(&m, ncpus, &rsdp) == 0);
	struct tables t = walk();
	uint64_t a = t.madt;
	if (!a) {
		mem_destroy(&m);
		return;
	}
	uint32_t len = rd32(a + 4);
	CHECK_EQ(rd32(a + 36), 0xFEE00000);
	CHECK_EQ(rd32(a + 40) & 1, 1); /* PCAT_COMPAT */

	int nlapic = 0, nioapic = 0, noverride = 0, nnmi = 0;
	bool irq0 = false, sci = false;
	uint64_t p = a + 44, end = a + len;
	while (p < end) {
		uint8_t type = rd8(p), elen = rd8(p + 1);
		CHECK(elen >= 2 && elen <= end - p);
		if (elen < 2 || elen > end - p)
			break;
		switch (type) {
		case 0:
			CHECK_EQ(elen, 8);
			CHECK_EQ(rd8(p + 2), nlapic); /* processor UID = vCPU index */
			CHECK_EQ(rd8(p + 3), nlapic); /* APIC ID = vCPU index */
			CHECK_EQ(rd32(p + 4) & 1, 1); /* enabled */
			nlapic++;
			break;
		case 1:
			CHECK_EQ(elen, 12);
			CHECK_EQ(rd8(p + 2), ncpus);
			CHECK_EQ(rd32(p + 4), 0xFEC00000);
			CHECK_EQ(rd32(p + 8), 0);
			nioapic++;
			break;
		case 2:
			CHECK_EQ(elen, 10);
			CHECK_EQ(rd8(p + 2), 0); /* ISA */
			if (rd8(p + 3) == 0) {
				CHECK_EQ(rd32(p + 4), 2);
				CHECK_EQ(rd16(p + 8), 0x0005); /* edge, active high */
				irq0 = true;
			} else if (rd8(p + 3) == 9) {
				CHECK_EQ(rd32(p + 4), 9);
				CHECK_EQ(rd16(p + 8), 0x000D); /* level, active high */
				sci = true;
			} else {
				CHECK(!"unexpected override");
			}
			noverride++;
			break;
		case 4:
			CHECK_EQ(elen, 6);
			CHECK_EQ(rd8(p + 2), 0xFF); /* all processors */
			CHECK_EQ(rd8(p + 5), 1);    /* LINT1 */
			nnmi++;
			break;
		default: CHECK(!"unexpected MADT entry type");
		}
		p += elen;
	}
	CHECK_EQ(p, end);
	CHECK_EQ(nlapic, ncpus);
	CHECK_EQ(nioapic, 1);
	CHECK_EQ(noverride, 2);
	CHECK(irq0 && sci);
	CHECK_EQ(nnmi, 1);
	mem_destroy(&m);
}

static void test_madt_1_cpu(void)
{
	check_madt(1);
}
static void test_madt_2_cpus(void)
{
	check_madt(2);
}
static void test_madt_64_cpus(void)
{
	check_madt(64);
}

/* ---- DSDT: a structural AML walk ----------------------------------------- */

/* Just enough of an AML parser for what a DSDT built by aml.c may contain;
 * anything else is a failure, so the walk proves every byte decodes. */
struct walker {
	const uint8_t *p, *end;
	bool bad;
	char scope[128];
	/* What the walk found. */
	bool s5_found;
	uint64_t s5[4];
	int s5_n;
	bool pci_hid_found;
	uint64_t pci_hid, pci_uid, pci_seg, pci_bbn;
	bool pci_crs_found, com1_found;
	const uint8_t *pci_crs;
	size_t pci_crs_len;
	bool hpet_hid_found;
	uint64_t hpet_hid;
	const uint8_t *hpet_crs;
	size_t hpet_crs_len;
};

static size_t pkg_length(struct walker *w, const uint8_t **body_end)
{
	const uint8_t *start = w->p;
	if (w->p >= w->end) {
		w->bad = true;
		return 0;
	}
	uint8_t lead = *w->p++;
	unsigned follow = lead >> 6;
	size_t len = follow ? (lead & 0x0F) : (lead & 0x3F);
	for (unsigned i = 0; i < follow; i++) {
		if (w->p >= w->end) {
			w->bad = true;
			return 0;
		}
		len |= (size_t)*w->p++ << (4 + 8 * i);
	}
	if (len > (size_t)(w->end - start) || len < (size_t)(w->p - start)) {
		w->bad = true;
		return 0;
	}
	*body_end = start + len;
	return len;
}

/* A NameString, appended as a dotted path ("\\_SB_.PCI0") to out. */
static void name_string(struct walker *w, char *out, size_t cap)
{
	size_t o = 0;
	out[0] = 0;
	while (w->p < w->end && (*w->p == '\\' || *w->p == '^')) {
		if (o + 1 < cap)
			out[o++] = (char)*w->p;
		w->p++;
	}
	if (w->p >= w->end) {
		w->bad = true;
		return;
	}
	unsigned nsegs;
	if (*w->p == 0x00) {
		nsegs = 0;
		w->p++;
	} else if (*w->p == 0x2E) {
		nsegs = 2;
		w->p++;
	} else if (*w->p == 0x2F) {
		w->p++;
		nsegs = w->p < w->end ? *w->p++ : 0;
	} else {
		nsegs = 1;
	}
	for (unsigned i = 0; i < nsegs; i++) {
		if (w->end - w->p < 4) {
			w->bad = true;
			return;
		}
		if (i && o + 1 < cap)
			out[o++] = '.';
		for (int j = 0; j < 4; j++) {
			char c = (char)w->p[j];
			bool ok = (c >= 'A' && c <= 'Z') || c == '_' || (j && c >= '0' && c <= '9');
			if (!ok)
				w->bad = true;
			if (o + 1 < cap)
				out[o++] = c;
		}
		w->p += 4;
	}
	out[o] = 0;
}

static bool take(struct walker *w, size_t n, const uint8_t **at)
{
	if ((size_t)(w->end - w->p) < n) {
		w->bad = true;
		return false;
	}
	*at = w->p;
	w->p += n;
	return true;
}

static uint64_t le(const uint8_t *b, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

/* A DataRefObject: returns the integer value if it is one (else ~0), and
 * for packages fills vals with the integer elements. */
static uint64_t data_object(struct walker *w, uint64_t *vals, int *nvals, const uint8_t **buf,
                            size_t *buf_len)
{
	const uint8_t *b;
	if (!take(w, 1, &b))
		return ~0ULL;
	switch (*b) {
	case 0x00: return 0;
	case 0x01: return 1;
	case 0xFF: return ~0ULL;
	case 0x0A: return take(w, 1, &b) ? le(b, 1) : 0;
	case 0x0B: return take(w, 2, &b) ? le(b, 2) : 0;
	case 0x0C: return take(w, 4, &b) ? le(b, 4) : 0;
	case 0x0E: return take(w, 8, &b) ? le(b, 8) : 0;
	case 0x0D: /* String */
		while (w->p < w->end && *w->p)
			w->p++;
		if (w->p >= w->end)
			w->bad = true;
		else
			w->p++;
		return ~0ULL;
	case 0x11: { /* Buffer */
		const uint8_t *body_end;
		pkg_length(w, &body_end);
		if (w->bad)
			return ~0ULL;
		const uint8_t *outer_end = w->end;
		w->end = body_end;
		uint64_t size = data_object(w, NULL, NULL, NULL, NULL);
		CHECK_EQ(size, (uint64_t)(body_end - w->p));
		if (buf) {
			*buf = w->p;
			*buf_len = (size_t)(body_end - w->p);
		}
		w->p = body_end;
		w->end = outer_end;
		return ~0ULL;
	}
	case 0x12: { /* Package */
		const uint8_t *body_end;
		pkg_length(w, &body_end);
		if (w->bad || !take(w, 1, &b))
			return ~0ULL;
		unsigned n = *b;
		const uint8_t *outer_end = w->end;
		w->end = body_end;
		for (unsigned i = 0; i < n && !w->bad; i++) {
			uint64_t v = data_object(w, NULL, NULL, NULL, NULL);
			if (vals && nvals && *nvals < 4)
				vals[(*nvals)++] = v;
		}
		CHECK(w->p == body_end); /* NumElements matches the contents */
		w->p = body_end;
		w->end = outer_end;
		return ~0ULL;
	}
	default: w->bad = true; return ~0ULL;
	}
}

static void term_list(struct walker *w);

static void scoped(struct walker *w, const char *name, const uint8_t *body_end, bool method)
{
	char saved[sizeof w->scope];
	memcpy(saved, w->scope, sizeof saved);
	size_t base = name[0] == '\\' ? 0 : strlen(saved);
	if (base + 1 + strlen(name) >= sizeof w->scope) {
		w->bad = true;
		return;
	}
	if (base)
		w->scope[base++] = '.';
	memcpy(w->scope + base, name, strlen(name) + 1);
	const uint8_t *outer_end = w->end;
	w->end = body_end;
	if (method) /* MethodFlags then code we do not interpret */
		w->p = body_end;
	else
		term_list(w);
	w->end = outer_end;
	memcpy(w->scope, saved, sizeof saved);
}

static void term_list(struct walker *w)
{
	while (w->p < w->end && !w->bad) {
		uint8_t op = *w->p++;
		char name[128], full[300];
		const uint8_t *body_end;
		switch (op) {
		case 0x08: { /* Name */
			name_string(w, name, sizeof name);
			if (name[0] == '\\')
				snprintf(full, sizeof full, "%s", name);
			else
				snprintf(full, sizeof full, "%s.%s", w->scope, name);
			uint64_t vals[4];
			int nvals = 0;
			const uint8_t *buf = NULL;
			size_t buf_len = 0;
			uint64_t v = data_object(w, vals, &nvals, &buf, &buf_len);
			if (!strcmp(full, "\\_S5_")) {
				w->s5_found = true;
				w->s5_n = nvals;
				memcpy(w->s5, vals, sizeof vals);
			} else if (!strcmp(full, "\\_SB_.PCI0._HID")) {
				w->pci_hid_found = true;
				w->pci_hid = v;
			} else if (!strcmp(full, "\\_SB_.PCI0._UID")) {
				w->pci_uid = v;
			} else if (!strcmp(full, "\\_SB_.PCI0._SEG")) {
				w->pci_seg = v;
			} else if (!strcmp(full, "\\_SB_.PCI0._BBN")) {
				w->pci_bbn = v;
			} else if (!strcmp(full, "\\_SB_.PCI0._CRS")) {
				w->pci_crs_found = true;
				w->pci_crs = buf;
				w->pci_crs_len = buf_len;
			} else if (!strcmp(full, "\\_SB_.COM1._HID")) {
				w->com1_found = true;
			} else if (!strcmp(full, "\\_SB_.HPET._HID")) {
				w->hpet_hid_found = true;
				w->hpet_hid = v;
			} else if (!strcmp(full, "\\_SB_.HPET._CRS")) {
				w->hpet_crs = buf;
				w->hpet_crs_len = buf_len;
			}
			break;
		}
		case 0x10: /* Scope */
			pkg_length(w, &body_end);
			name_string(w, name, sizeof name);
			if (!w->bad)
				scoped(w, name, body_end, false);
			break;
		case 0x14: /* Method */
			pkg_length(w, &body_end);
			name_string(w, name, sizeof name);
			if (!w->bad)
				scoped(w, name, body_end, true);
			break;
		case 0x5B: /* Device */
			if (w->p >= w->end || *w->p++ != 0x82) {
				w->bad = true;
				break;
			}
			pkg_length(w, &body_end);
			name_string(w, name, sizeof name);
			if (!w->bad)
				scoped(w, name, body_end, false);
			break;
		default: w->bad = true;
		}
	}
}

/* The compressed EISA ID of _HID back to text. */
static void eisaid_text(uint64_t v, char out[8])
{
	uint8_t b0 = (uint8_t)v, b1 = (uint8_t)(v >> 8), b2 = (uint8_t)(v >> 16),
	        b3 = (uint8_t)(v >> 24);
	out[0] = (char)('@' + ((b0 >> 2) & 0x1F));
	out[1] = (char)('@' + (((b0 & 3) << 3) | (b1 >> 5)));
	out[2] = (char)('@' + (b1 & 0x1F));
	snprintf(out + 3, 5, "%02X%02X", b2, b3);
}

static void test_dsdt_walk(void)
{
	struct guest_mem m;
	struct error err;
	CHECK(mem_init(&m, GUEST_MEM, false, &err) == 0);
	gm = &m;
	uint64_t rsdp;
	CHECK(build(&m, 4, &rsdp) == 0);
	struct tables t = walk();
	uint32_t len = t.dsdt ? check_table(t.dsdt, "DSDT") : 0;
	CHECK(len > 36);
	if (len <= 36) {
		mem_destroy(&m);
		return;
	}
	const uint8_t *aml = mem_ptr(&m, t.dsdt, len);
	struct walker w = {.p = aml + 36, .end = aml + len, .scope = "\\"};
	term_list(&w);
	CHECK(!w.bad);
	CHECK(w.p == w.end);

	CHECK(w.s5_found);
	CHECK_EQ(w.s5_n, 4);
	CHECK_EQ(w.s5[0], ACPI_PM_SLP_TYP_S5); /* SLP_TYPa */
	CHECK_EQ(w.s5[0], 5);
	CHECK_EQ(w.s5[1], 5);

	CHECK(w.pci_hid_found);
	char hid[8];
	eisaid_text(w.pci_hid, hid);
	CHECK(!strcmp(hid, "PNP0A03"));
	CHECK_EQ(w.pci_hid, 0x030AD041); /* EisaId ("PNP0A03") as iasl encodes it */
	CHECK_EQ(w.pci_uid, 0);
	CHECK_EQ(w.pci_seg, 0);
	CHECK_EQ(w.pci_bbn, 0);
	CHECK(w.com1_found);

	/* _CRS: walk the resource descriptors; bus 0-255, config ports, both
	 * I/O windows and the memory window must be there, then an End Tag. */
	CHECK(w.pci_crs_found);
	bool bus = false, cfg = false, io_lo = false, io_hi = false, mem32 = false, endtag = false;
	const uint8_t *r = w.pci_crs, *rend = w.pci_crs + w.pci_crs_len;
	while (r && r < rend && !endtag) {
		if (r[0] & 0x80) { /* large item */
			CHECK(rend - r >= 3);
			if (rend - r < 3)
				break;
			size_t dl = le(r + 1, 2);
			CHECK(dl <= (size_t)(rend - r - 3));
			if (r[0] == 0x88 && r[3] == 2)
				bus = le(r + 8, 2) == 0 && le(r + 10, 2) == 255 &&
				      le(r + 14, 2) == 256;
			if (r[0] == 0x88 && r[3] == 1 && le(r + 8, 2) == 0)
				io_lo = le(r + 10, 2) == 0xCF7 && le(r + 14, 2) == 0xCF8;
			if (r[0] == 0x88 && r[3] == 1 && le(r + 8, 2) == 0xD00)
				io_hi = le(r + 10, 2) == 0xFFFF && le(r + 14, 2) == 0xF300;
			if (r[0] == 0x87 && r[3] == 0)
				mem32 = le(r + 10, 4) == 0xC0000000 &&
				        le(r + 14, 4) == 0xFEBFFFFF && le(r + 22, 4) == 0x3EC00000;
			r += 3 + dl;
		} else {
			size_t dl = r[0] & 7;
			if (r[0] == 0x47)
				cfg = le(r + 2, 2) == 0xCF8 && le(r + 4, 2) == 0xCF8 && r[7] == 8;
			if (r[0] == 0x79)
				endtag = r + 2 == rend;
			r += 1 + dl;
		}
	}
	CHECK(bus);
	CHECK(cfg);
	CHECK(io_lo);
	CHECK(io_hi);
	CHECK(mem32);
	CHECK(endtag);
	mem_destroy(&m);
}

/* ---- HPET ------------------------------------------------------------- */

/* The DSDT of the machine in gm, walked; false if it does not parse. */
static bool walk_dsdt(const struct tables *t, struct walker *w)
{
	uint32_t len = t->dsdt ? check_table(t->dsdt, "DSDT") : 0;
	if (len <= 36)
		return false;
	const uint8_t *aml = mem_ptr(gm, t->dsdt, len);
	*w = (struct walker){.p = aml + 36, .end = aml + len, .scope = "\\"};
	term_list(w);
	return !w->bad && w->p == w->end;
}

/* The HPET table describes dev/hpet.c's block (IA-PC HPET 1.0a, 3.2.4),
 * and the DSDT has the device with its registers in _CRS. */
static void test_hpet_table(void)
{
	struct guest_mem m;
	struct error err;
	CHECK(mem_init(&m, GUEST_MEM, false, &err) == 0);
	gm = &m;
	uint64_t rsdp;
	CHECK(build(&m, 2, &rsdp) == 0);
	struct tables t = walk();
	uint64_t h = t.hpet;
	CHECK(h != 0);
	if (!h) {
		mem_destroy(&m);
		return;
	}
	CHECK_EQ(rd32(h + 4), 56);
	CHECK_EQ(rd8(h + 8), 1);
	CHECK_EQ(rd32(h + 36), HPET_CAP_ID);
	CHECK_EQ(rd32(h + 36), 0x8086A201); /* 8086, legacy, 64-bit, 3 timers, rev 1 */
	CHECK_EQ(rd8(h + 40), 0);           /* system memory */
	CHECK_EQ(rd8(h + 41), 64);
	CHECK_EQ(rd8(h + 42), 0);
	CHECK_EQ(rd64(h + 44), 0xFED00000);
	CHECK_EQ(rd8(h + 52), 0);    /* HPET number */
	CHECK_EQ(rd16(h + 53), 128); /* minimum periodic tick */
	CHECK_EQ(rd8(h + 55), 0);    /* no page protection promised */

	struct walker w;
	CHECK(walk_dsdt(&t, &w));
	CHECK(w.hpet_hid_found);
	CHECK_EQ(w.hpet_hid, 0x0301D041); /* EisaId ("PNP0103") */
	static const uint8_t mem32[] = {0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0xD0,
	                                0xFE, 0x00, 0x04, 0x00, 0x00, 0x79};
	CHECK(w.hpet_crs && w.hpet_crs_len == sizeof mem32 + 1 &&
	      !memcmp(w.hpet_crs, mem32, sizeof mem32));
	mem_destroy(&m);
}

/* Without an HPET neither the table nor the device is there. */
static void test_no_hpet(void)
{
	struct guest_mem m;
	struct error err = {{0}};
	CHECK(mem_init(&m, GUEST_MEM, false, &err) == 0);
	gm = &m;
	uint64_t rsdp;
	CHECK(acpi_build_opts(&m, 2, &(struct acpi_options){.hpet = false}, &rsdp, &err) == 0);
	struct tables t = walk();
	CHECK_EQ(t.hpet, 0);
	CHECK_EQ(rd32(t.xsdt + 4), 36 + 2 * 8);
	CHECK_EQ(rd32(t.rsdt + 4), 36 + 2 * 4);
	struct walker w;
	CHECK(walk_dsdt(&t, &w));
	CHECK(!w.hpet_hid_found);
	CHECK(w.com1_found);
	mem_destroy(&m);
}

/* ---- the AML builder ------------------------------------------------------ */

static void test_aml_integers(void)
{
	uint8_t b[64];
	struct aml a;
	aml_init(&a, b, sizeof b);
	aml_integer(&a, 0);
	aml_integer(&a, 1);
	aml_integer(&a, 2);
	aml_integer(&a, 0x100);
	aml_integer(&a, 0x10000);
	aml_integer(&a, 0x100000000ULL);
	aml_integer(&a, ~0ULL);
	static const uint8_t want[] = {0x00, 0x01, 0x0A, 0x02, 0x0B, 0x00, 0x01, 0x0C,
	                               0x00, 0x00, 0x01, 0x00, 0x0E, 0,    0,    0,
	                               0,    1,    0,    0,    0,    0xFF};
	CHECK(aml_ok(&a));
	CHECK_EQ(a.len, sizeof want);
	CHECK(!memcmp(b, want, sizeof want));
}

static void test_aml_names(void)
{
	uint8_t b[64];
	struct aml a;
	aml_init(&a, b, sizeof b);
	aml_name_string(&a, "_S5");
	CHECK(aml_ok(&a) && a.len == 4 && !memcmp(b, "_S5_", 4));
	aml_init(&a, b, sizeof b);
	aml_name_string(&a, "\\_SB.PCI0");
	CHECK(aml_ok(&a) && a.len == 10 && !memcmp(b, "\\\x2E_SB_PCI0", 10));
	aml_init(&a, b, sizeof b);
	aml_name_string(&a, "\\_SB.PCI0.COM1");
	CHECK(aml_ok(&a) && a.len == 15 && !memcmp(b, "\\\x2F\x03_SB_PCI0COM1", 15));
	aml_init(&a, b, sizeof b);
	aml_name_string(&a, "^^FOO");
	CHECK(aml_ok(&a) && a.len == 6 && !memcmp(b, "^^FOO_", 6));
	aml_init(&a, b, sizeof b);
	aml_name_string(&a, "\\");
	CHECK(aml_ok(&a) && a.len == 2 && b[0] == '\\' && b[1] == 0);

	static const char *bad[] = {"TOOLONG", "1ABC", "a_b", "\\_SB.", "A..B", ".A", "X-Y"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		aml_init(&a, b, sizeof b);
		aml_name_string(&a, bad[i]);
		CHECK(!aml_ok(&a));
	}
}

static void test_aml_eisaid(void)
{
	uint8_t b[16];
	struct aml a;
	aml_init(&a, b, sizeof b);
	aml_eisaid(&a, "PNP0501");
	CHECK(aml_ok(&a));
	CHECK_EQ(a.len, 5);
	CHECK_EQ(le(b + 1, 4), 0x0105D041);
	aml_init(&a, b, sizeof b);
	aml_eisaid(&a, "pnp0501");
	CHECK(!aml_ok(&a));
	aml_init(&a, b, sizeof b);
	aml_eisaid(&a, "PNP05G1");
	CHECK(!aml_ok(&a));
}

/* PkgLength picks 1 to 4 bytes and counts itself (ACPI 6.0, 20.2.4). */
static void test_aml_pkglength_edges(void)
{
	static uint8_t b[0x110000];
	static const struct {
		size_t body;  /* bytes inside the package after NumElements */
		unsigned enc; /* PkgLength bytes */
	} cases[] = {{60, 1}, {61, 1}, {62, 2}, {0xFFC, 2}, {0xFFD, 3}, {0xFFFFB, 3}, {0xFFFFC, 4}};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		struct aml a;
		aml_init(&a, b, sizeof b);
		struct aml_mark mk = aml_package_open(&a, 0);
		static uint8_t zeros[0x100000];
		aml_bytes(&a, zeros, cases[c].body);
		aml_close(&a, mk);
		CHECK(aml_ok(&a));
		CHECK_EQ(a.len, 1 + cases[c].enc + 1 + cases[c].body);
		struct walker w = {.p = b + 1, .end = b + a.len};
		const uint8_t *body_end = NULL;
		size_t len = pkg_length(&w, &body_end);
		CHECK(!w.bad);
		CHECK_EQ(w.p - (b + 1), cases[c].enc);
		CHECK_EQ(len, cases[c].enc + 1 + cases[c].body);
		CHECK(body_end == b + a.len);
	}
}

static void test_aml_nested_and_overflow(void)
{
	uint8_t b[128];
	struct aml a;
	aml_init(&a, b, sizeof b);
	struct aml_mark sc = aml_scope_open(&a, "\\_SB");
	struct aml_mark dv = aml_device_open(&a, "DEV0");
	aml_name(&a, "_UID");
	aml_integer(&a, 7);
	struct aml_mark me = aml_method_open(&a, "_STA", 0, false);
	aml_return(&a);
	aml_integer(&a, 0x0F);
	aml_close(&a, me);
	aml_close(&a, dv);
	aml_close(&a, sc);
	CHECK(aml_ok(&a));
	/* Scope(\_SB) { Device(DEV0) { Name(_UID, 7) Method(_STA) { Return(0x0F) } } } */
	static const uint8_t want[] = {0x10, 0x1E, '\\', '_',  'S',  'B',  '_',  0x5B,
	                               0x82, 0x16, 'D',  'E',  'V',  '0',  0x08, '_',
	                               'U',  'I',  'D',  0x0A, 0x07, 0x14, 0x09, '_',
	                               'S',  'T',  'A',  0x00, 0xA4, 0x0A, 0x0F};
	CHECK_EQ(a.len, sizeof want);
	CHECK(!memcmp(b, want, sizeof want));

	/* Running out of room fails the builder and never writes past cap. */
	uint8_t small[12];
	memset(small, 0xEE, sizeof small);
	aml_init(&a, small, 8);
	aml_name(&a, "\\_S5");
	aml_integer(&a, 0x12345678);
	CHECK(!aml_ok(&a));
	CHECK_EQ(small[8], 0xEE);
	aml_close(&a, (struct aml_mark){0}); /* no-op once failed */
	CHECK(!aml_ok(&a));

	aml_init(&a, b, sizeof b);
	aml_package_open(&a, 256); /* NumElements is one byte */
	CHECK(!aml_ok(&a));
}

int main(void)
{
	RUN(test_rsdp_found_by_scan);
	RUN(test_writes_stay_inside_the_area);
	RUN(test_bad_cpu_counts_refused);
	RUN(test_area_not_ram_refused);
	RUN(test_fadt);
	RUN(test_madt_1_cpu);
	RUN(test_madt_2_cpus);
	RUN(test_madt_64_cpus);
	RUN(test_dsdt_walk);
	RUN(test_hpet_table);
	RUN(test_no_hpet);
	RUN(test_aml_integers);
	RUN(test_aml_names);
	RUN(test_aml_eisaid);
	RUN(test_aml_pkglength_edges);
	RUN(test_aml_nested_and_overflow);
	TEST_DONE();
}
