/* ACPI tables for the ringfold PC (ACPI 6.0 layouts), built at boot into the
 * reserved BIOS area, where Linux finds the RSDP by scanning (and the Linux
 * loader also passes its address in boot_params).
 *
 * Guest-physical layout, in [ACPI_TABLES_ADDR, ACPI_TABLES_END):
 *
 *   0xE0000  RSDP  rev 2, 36 bytes (16-byte aligned so a scan finds it)
 *   0xE0040  FACS  64 bytes (the FADT requires 64-byte alignment)
 *   then, each on a 16-byte boundary in this order:
 *            DSDT  AML: \_S5_, \_SB.PCI0 (PCI root bridge, INTx _PRT), \_SB.COM1,
 *                  \_SB.HPET (PNP0103, unless --no-hpet)
 *            FADT  rev 6.0, 276 bytes: PM1a/PM timer/reset register
 *            MADT  rev 4: one local APIC per vCPU, the I/O APIC,
 *                  IRQ0->GSI2 and the SCI overrides, LINT1 NMI
 *            HPET  rev 1, 56 bytes: the event timer block (unless the
 *                  machine has no HPET, --no-hpet)
 *            RSDT  32-bit pointers to FADT, MADT (and HPET)
 *            XSDT  64-bit pointers to FADT, MADT (and HPET)
 *
 * With 64 vCPUs all of it takes under 2 KiB; the rest of the area is left
 * alone. docs/acpi.md describes the tables for users. The fixed hardware they
 * point at is dev/acpi_pm.c; its port numbers are the ACPI_PM_* constants in
 * dev/acpi_pm.h, so the tables and the device cannot disagree. */
#include "boot/acpi.h"

#include <stddef.h>
#include <string.h>

#include "boot/aml.h"
#include "dev/acpi_pm.h"
#include "dev/hpet.h"
#include "dev/ioapic.h"
#include "dev/lapic.h"
#include "dev/pci.h"
#include "dev/serial.h"

#define ACPI_OEM_ID "RNGFLD"
#define ACPI_OEM_TABLE_ID "RINGFOLD"
#define ACPI_OEM_REVISION 1
#define ACPI_CREATOR_ID "RNGF"
#define ACPI_CREATOR_REVISION 1

/* Addresses and ports come from the devices' headers, so that the tables
 * cannot disagree with the machine they describe. */
#define ACPI_LAPIC_ADDR ((uint32_t)LAPIC_DEFAULT_BASE)
#define ACPI_IOAPIC_ADDR ((uint32_t)IOAPIC_DEFAULT_BASE)
#define ACPI_SCI_IRQ ACPI_PM_SCI_IRQ
/* One APIC ID per vCPU and the I/O APIC's ID after them, all in 8 bits,
 * with 0xFF left alone (it means "all processors" in the NMI entry). */
#define ACPI_MAX_CPUS 254

/* Generic Address Structure address space and access sizes (5.2.3.2). */
#define GAS_SYSTEM_MEMORY 0
#define GAS_SYSTEM_IO 1
#define GAS_ACCESS_BYTE 1
#define GAS_ACCESS_WORD 2
#define GAS_ACCESS_DWORD 3

/* FADT Flags (5.2.9, table 5-35). */
#define FADT_F_WBINVD (1u << 0)
#define FADT_F_PROC_C1 (1u << 2)
#define FADT_F_PWR_BUTTON (1u << 4) /* set: no fixed-feature power button */
#define FADT_F_SLP_BUTTON (1u << 5) /* set: no fixed-feature sleep button */
#define FADT_F_FIX_RTC (1u << 6)    /* set: no RTC wake status in PM1 */
#define FADT_F_TMR_VAL_EXT (1u << 8)
#define FADT_F_RESET_REG_SUP (1u << 10)

/* FADT IA-PC boot architecture flags (table 5-36). */
#define FADT_BOOT_LEGACY_DEVICES (1u << 0)
#define FADT_BOOT_8042 (1u << 1)
#define FADT_BOOT_VGA_NOT_PRESENT (1u << 2)

/* MADT (5.2.12). */
#define MADT_PCAT_COMPAT 1u
#define MADT_TYPE_LAPIC 0
#define MADT_TYPE_IOAPIC 1
#define MADT_TYPE_OVERRIDE 2
#define MADT_TYPE_LAPIC_NMI 4
#define MADT_LAPIC_ENABLED 1u
/* MPS INTI flags: polarity in bits 0-1, trigger mode in bits 2-3. */
#define MPS_ACTIVE_HIGH 0x1
#define MPS_EDGE (0x1 << 2)
#define MPS_LEVEL (0x3 << 2)

#define FADT_REVISION 6
#define FADT_MINOR_REVISION 0
#define MADT_REVISION 4
#define DSDT_REVISION 2 /* 2 or more: AML integers are 64 bits */
#define FACS_VERSION 2
#define HPET_TABLE_REVISION 1
/* The HPET table's minimum periodic tick (in counter ticks) and page
 * protection (0: no guarantee the 4 KiB page holds nothing else). */
#define HPET_TABLE_MIN_TICK 128
#define HPET_TABLE_PAGE_PROTECTION 0

struct acpi_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));

struct acpi_rsdp {
	char signature[8];
	uint8_t checksum; /* over the first 20 bytes (the ACPI 1.0 part) */
	char oem_id[6];
	uint8_t revision;
	uint32_t rsdt_address;
	uint32_t length;
	uint64_t xsdt_address;
	uint8_t extended_checksum; /* over all 36 bytes */
	uint8_t reserved[3];
} __attribute__((packed));

struct acpi_gas {
	uint8_t space_id;
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;
	uint64_t address;
} __attribute__((packed));

struct acpi_facs {
	char signature[4];
	uint32_t length;
	uint32_t hardware_signature;
	uint32_t firmware_waking_vector;
	uint32_t global_lock;
	uint32_t flags;
	uint64_t x_firmware_waking_vector;
	uint8_t version;
	uint8_t reserved[3];
	uint32_t ospm_flags;
	uint8_t reserved2[24];
} __attribute__((packed));

struct acpi_fadt {
	struct acpi_header header;
	uint32_t firmware_ctrl;
	uint32_t dsdt;
	uint8_t reserved0;
	uint8_t preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable;
	uint8_t acpi_disable;
	uint8_t s4bios_req;
	uint8_t pstate_cnt;
	uint32_t pm1a_evt_blk;
	uint32_t pm1b_evt_blk;
	uint32_t pm1a_cnt_blk;
	uint32_t pm1b_cnt_blk;
	uint32_t pm2_cnt_blk;
	uint32_t pm_tmr_blk;
	uint32_t gpe0_blk;
	uint32_t gpe1_blk;
	uint8_t pm1_evt_len;
	uint8_t pm1_cnt_len;
	uint8_t pm2_cnt_len;
	uint8_t pm_tmr_len;
	uint8_t gpe0_blk_len;
	uint8_t gpe1_blk_len;
	uint8_t gpe1_base;
	uint8_t cst_cnt;
	uint16_t p_lvl2_lat;
	uint16_t p_lvl3_lat;
	uint16_t flush_size;
	uint16_t flush_stride;
	uint8_t duty_offset;
	uint8_t duty_width;
	uint8_t day_alrm;
	uint8_t mon_alrm;
	uint8_t century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t fadt_minor_version;
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct acpi_gas x_pm1a_evt_blk;
	struct acpi_gas x_pm1b_evt_blk;
	struct acpi_gas x_pm1a_cnt_blk;
	struct acpi_gas x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk;
	struct acpi_gas x_pm_tmr_blk;
	struct acpi_gas x_gpe0_blk;
	struct acpi_gas x_gpe1_blk;
	struct acpi_gas sleep_control_reg;
	struct acpi_gas sleep_status_reg;
	uint64_t hypervisor_vendor_identity;
} __attribute__((packed));

struct acpi_madt {
	struct acpi_header header;
	uint32_t local_apic_address;
	uint32_t flags;
} __attribute__((packed));

struct madt_lapic {
	uint8_t type, length;
	uint8_t processor_uid;
	uint8_t apic_id;
	uint32_t flags;
} __attribute__((packed));

struct madt_ioapic {
	uint8_t type, length;
	uint8_t ioapic_id;
	uint8_t reserved;
	uint32_t address;
	uint32_t gsi_base;
} __attribute__((packed));

struct madt_override {
	uint8_t type, length;
	uint8_t bus; /* 0: ISA */
	uint8_t source_irq;
	uint32_t gsi;
	uint16_t flags;
} __attribute__((packed));

struct madt_lapic_nmi {
	uint8_t type, length;
	uint8_t processor_uid; /* 0xFF: all processors */
	uint16_t flags;
	uint8_t lint;
} __attribute__((packed));

/* The IA-PC HPET specification's description table (section 3.2.4). */
struct acpi_hpet {
	struct acpi_header header;
	uint32_t event_timer_block_id; /* the low half of the capabilities register */
	struct acpi_gas base_address;
	uint8_t hpet_number;
	uint16_t min_clock_tick;
	uint8_t page_protection;
} __attribute__((packed));

_Static_assert(sizeof(struct acpi_header) == 36, "ACPI table header");
_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP");
_Static_assert(sizeof(struct acpi_gas) == 12, "GAS");
_Static_assert(sizeof(struct acpi_hpet) == 56, "HPET table");
_Static_assert(sizeof(struct acpi_facs) == 64, "FACS");
_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT (ACPI 6.0)");
_Static_assert(offsetof(struct acpi_fadt, x_firmware_ctrl) == 132, "FADT X_FIRMWARE_CTRL");
_Static_assert(offsetof(struct acpi_fadt, x_pm_tmr_blk) == 208, "FADT X_PM_TMR_BLK");
_Static_assert(sizeof(struct madt_lapic) == 8 && sizeof(struct madt_ioapic) == 12 &&
                   sizeof(struct madt_override) == 10 && sizeof(struct madt_lapic_nmi) == 6,
               "MADT entries");

/* Room for the largest table (the MADT with ACPI_MAX_CPUS, or the DSDT). */
#define ACPI_SCRATCH_SIZE 4096
_Static_assert(sizeof(struct acpi_madt) + ACPI_MAX_CPUS * sizeof(struct madt_lapic) +
                       sizeof(struct madt_ioapic) + 2 * sizeof(struct madt_override) +
                       sizeof(struct madt_lapic_nmi) <=
                   ACPI_SCRATCH_SIZE,
               "MADT scratch buffer");

/* Where the next table goes; tables are placed one after another. */
struct acpi_placer {
	const struct guest_mem *mem;
	uint64_t next;
	struct error *err;
};

static uint8_t acpi_checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + b[i]);
	return (uint8_t)-sum;
}

/* Reserves len bytes at the next align-byte boundary; 0 if they do not fit
 * (0 is never a valid table address: the area starts at 0xE0000). */
static uint64_t acpi_reserve(struct acpi_placer *pl, size_t len, uint64_t align, const char *what)
{
	uint64_t at = (pl->next + align - 1) & ~(align - 1);
	if (at > ACPI_TABLES_END || len > ACPI_TABLES_END - at) {
		error_set(pl->err, "ACPI %s (%zu bytes) does not fit below %#x", what, len,
		          ACPI_TABLES_END);
		return 0;
	}
	pl->next = at + len;
	return at;
}

/* Copies a finished table into guest memory. */
static int acpi_put(struct acpi_placer *pl, uint64_t gpa, const void *p, size_t len,
                    const char *what)
{
	if (mem_write(pl->mem, gpa, p, len) < 0)
		return error_set(pl->err, "ACPI %s at %#llx is not in guest RAM", what,
		                 (unsigned long long)gpa);
	return 0;
}

/* Fills a header; the checksum is computed by acpi_seal() once the whole
 * table is in place. */
static void acpi_header_init(struct acpi_header *h, const char *signature, uint32_t length,
                             uint8_t revision)
{
	memcpy(h->signature, signature, 4);
	h->length = length;
	h->revision = revision;
	h->checksum = 0;
	memcpy(h->oem_id, ACPI_OEM_ID, 6);
	memcpy(h->oem_table_id, ACPI_OEM_TABLE_ID, 8);
	h->oem_revision = ACPI_OEM_REVISION;
	memcpy(h->creator_id, ACPI_CREATOR_ID, 4);
	h->creator_revision = ACPI_CREATOR_REVISION;
}

static void acpi_seal(void *table)
{
	struct acpi_header *h = table;
	h->checksum = 0;
	h->checksum = acpi_checksum(table, h->length);
}

/* Places a sealed table (header at the start of buf) and returns its address. */
static uint64_t acpi_place_table(struct acpi_placer *pl, void *buf)
{
	struct acpi_header *h = buf;
	char what[5] = {0};
	memcpy(what, h->signature, 4);
	acpi_seal(buf);
	uint64_t gpa = acpi_reserve(pl, h->length, 16, what);
	if (!gpa || acpi_put(pl, gpa, buf, h->length, what) < 0)
		return 0;
	return gpa;
}

/* The HPET as a device, for OSes that look for PNP0103 (Linux finds it
 * through the HPET table; its hpet char driver then notes that this _CRS
 * names no IRQs and uses the table's block). */
static void dsdt_hpet(struct aml *a)
{
	struct aml_mark dev = aml_device_open(a, "HPET");
	aml_name(a, "_HID");
	aml_eisaid(a, "PNP0103");
	aml_name(a, "_UID");
	aml_integer(a, 0);
	uint8_t res_buf[32];
	struct aml res;
	aml_init(&res, res_buf, sizeof res_buf);
	aml_res_memory32_fixed(&res, (uint32_t)HPET_BASE, HPET_MMIO_SIZE, true);
	aml_name(a, "_CRS");
	aml_resource_template(a, &res);
	aml_close(a, dev);
}

/* The DSDT body: what the OS cannot discover by itself. */
static void dsdt_body(struct aml *a, const struct acpi_options *opts)
{
	/* \_S5_: SLP_TYPa, SLP_TYPb, two reserved. Writing SLP_TYPa | SLP_EN to
	 * PM1a_CNT powers the machine off (dev/acpi_pm.c). */
	aml_name(a, "\\_S5_");
	struct aml_mark s5 = aml_package_open(a, 4);
	aml_integer(a, ACPI_PM_SLP_TYP_S5);
	aml_integer(a, ACPI_PM_SLP_TYP_S5);
	aml_integer(a, 0);
	aml_integer(a, 0);
	aml_close(a, s5);

	struct aml_mark sb = aml_scope_open(a, "\\_SB");

	/* The PCI root bridge, so Linux finds bus 0 through ACPI, knows
	 * which windows it may assign BARs from, and how INTx is routed. */
	struct aml_mark pci = aml_device_open(a, "PCI0");
	aml_name(a, "_HID");
	aml_eisaid(a, "PNP0A03");
	aml_name(a, "_UID");
	aml_integer(a, 0);
	aml_name(a, "_SEG");
	aml_integer(a, 0);
	aml_name(a, "_BBN");
	aml_integer(a, 0);
	uint8_t res_buf[256];
	struct aml res;
	aml_init(&res, res_buf, sizeof res_buf);
	aml_res_word_bus(&res, 0x00, 0xFF);
	/* The configuration ports themselves, 0xCF8-0xCFF. */
	aml_res_io(&res, PCI_CONFIG_ADDRESS_PORT, PCI_CONFIG_ADDRESS_PORT, 1, 8);
	/* The I/O windows on either side of them. */
	aml_res_word_io(&res, 0x0000, PCI_CONFIG_ADDRESS_PORT - 1);
	aml_res_word_io(&res, 0x0D00, 0xFFFF);
	/* The 32-bit window: from the end of low RAM up to the I/O APIC. */
	aml_res_dword_mem(&res, (uint32_t)MEM_PCI_HOLE_START, ACPI_IOAPIC_ADDR - 1);
	aml_name(a, "_CRS");
	aml_resource_template(a, &res);
	/* INTx routing: pin p (0 = INTA) of slot s reaches the GSI that
	 * pci_intx_gsi() says, 16 + (s + p) mod 8, straight to the IOAPIC (no
	 * link devices, so level-triggered, active-low as ACPI defines it;
	 * the machine's line levels are logical either way). Slot 0, the
	 * host bridge, has no interrupt pin. */
	aml_name(a, "_PRT");
	struct aml_mark prt = aml_package_open(a, (PCI_MAX_DEVICES - 1) * 4);
	for (unsigned slot = 1; slot < PCI_MAX_DEVICES; slot++) {
		for (unsigned pin = 0; pin < 4; pin++) {
			struct aml_mark e = aml_package_open(a, 4);
			aml_integer(a, (uint64_t)slot << 16 | 0xFFFF); /* any function */
			aml_integer(a, pin);
			aml_integer(a, 0); /* no link device: the fourth field is a GSI */
			aml_integer(a, pci_intx_gsi(slot, pin + 1));
			aml_close(a, e);
		}
	}
	aml_close(a, prt);
	aml_close(a, pci);

	/* The first UART, so the OS need not probe for it. */
	struct aml_mark com1 = aml_device_open(a, "COM1");
	aml_name(a, "_HID");
	aml_eisaid(a, "PNP0501");
	aml_name(a, "_UID");
	aml_integer(a, 1);
	aml_init(&res, res_buf, sizeof res_buf);
	aml_res_io(&res, SERIAL_COM1_PORT, SERIAL_COM1_PORT, 1, SERIAL_PORT_LEN);
	aml_res_irq_noflags(&res, 1u << SERIAL_COM1_GSI);
	aml_name(a, "_CRS");
	aml_resource_template(a, &res);
	aml_close(a, com1);

	if (opts->hpet)
		dsdt_hpet(a);

	aml_close(a, sb);
}

static uint64_t build_dsdt(struct acpi_placer *pl, uint8_t *buf, size_t cap,
                           const struct acpi_options *opts)
{
	struct acpi_header *h = (struct acpi_header *)buf;
	struct aml a;
	aml_init(&a, buf + sizeof *h, cap - sizeof *h);
	dsdt_body(&a, opts);
	if (!aml_ok(&a)) {
		error_set(pl->err, "ACPI DSDT: AML does not fit in %zu bytes or is malformed", cap);
		return 0;
	}
	acpi_header_init(h, "DSDT", (uint32_t)(sizeof *h + a.len), DSDT_REVISION);
	return acpi_place_table(pl, buf);
}

static uint64_t build_facs(struct acpi_placer *pl)
{
	/* No firmware and no S4: the FACS exists because a full (not
	 * hardware-reduced) FADT must point at one; its global lock is unused. */
	struct acpi_facs facs = {.length = sizeof facs, .version = FACS_VERSION};
	memcpy(facs.signature, "FACS", 4);
	uint64_t gpa = acpi_reserve(pl, sizeof facs, 64, "FACS");
	if (!gpa || acpi_put(pl, gpa, &facs, sizeof facs, "FACS") < 0)
		return 0;
	return gpa;
}

static struct acpi_gas gas_io(uint16_t port, uint8_t bytes, uint8_t access_size)
{
	return (struct acpi_gas){.space_id = GAS_SYSTEM_IO,
	                         .bit_width = (uint8_t)(8 * bytes),
	                         .access_size = access_size,
	                         .address = port};
}

static uint64_t build_fadt(struct acpi_placer *pl, uint64_t facs, uint64_t dsdt)
{
	struct acpi_fadt f = {0};
	acpi_header_init(&f.header, "FACP", sizeof f, FADT_REVISION);
	/* The spec allows only one of FIRMWARE_CTRL and X_FIRMWARE_CTRL to be
	 * set; the FACS is below 4 GiB, so the 32-bit field it is. DSDT and
	 * X_DSDT may agree, and older parsers read only the first. */
	f.firmware_ctrl = (uint32_t)facs;
	f.dsdt = (uint32_t)dsdt;
	f.x_dsdt = dsdt;
	f.sci_int = ACPI_SCI_IRQ;
	/* SMI_CMD = 0: there is no SMM, the machine is always in ACPI mode. */
	f.pm1a_evt_blk = ACPI_PM_EVT_PORT;
	f.pm1_evt_len = ACPI_PM_EVT_LEN;
	f.x_pm1a_evt_blk = gas_io(ACPI_PM_EVT_PORT, ACPI_PM_EVT_LEN, GAS_ACCESS_WORD);
	f.pm1a_cnt_blk = ACPI_PM_CNT_PORT;
	f.pm1_cnt_len = ACPI_PM_CNT_LEN;
	f.x_pm1a_cnt_blk = gas_io(ACPI_PM_CNT_PORT, ACPI_PM_CNT_LEN, GAS_ACCESS_WORD);
	f.pm_tmr_blk = ACPI_PM_TMR_PORT;
	f.pm_tmr_len = ACPI_PM_TMR_LEN;
	f.x_pm_tmr_blk = gas_io(ACPI_PM_TMR_PORT, ACPI_PM_TMR_LEN, GAS_ACCESS_DWORD);
	/* Latencies above 100 and 1000 us say "no C2" and "no C3". */
	f.p_lvl2_lat = 0x0FFF;
	f.p_lvl3_lat = 0x0FFF;
	/* CENTURY stays 0: Linux would trust a CMOS century byte the RTC
	 * model may not keep. */
	f.iapc_boot_arch = FADT_BOOT_LEGACY_DEVICES | FADT_BOOT_8042 | FADT_BOOT_VGA_NOT_PRESENT;
	f.flags = FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON | FADT_F_FIX_RTC |
	          FADT_F_TMR_VAL_EXT | FADT_F_RESET_REG_SUP;
	/* The power button is a fixed feature (PWR_BUTTON clear): the VMM can
	 * ask for an orderly shutdown with acpi_pm_power_button(). */
	f.reset_reg = gas_io(ACPI_PM_RESET_PORT, 1, GAS_ACCESS_BYTE);
	f.reset_value = ACPI_PM_RESET_VALUE;
	f.fadt_minor_version = FADT_MINOR_REVISION;
	return acpi_place_table(pl, &f);
}

static uint64_t build_madt(struct acpi_placer *pl, uint8_t *buf, int ncpus)
{
	size_t len = sizeof(struct acpi_madt);
	struct acpi_madt *m = (struct acpi_madt *)buf;
	m->local_apic_address = ACPI_LAPIC_ADDR;
	m->flags = MADT_PCAT_COMPAT; /* a pair of 8259s: the OS must mask them */

	/* ACPI processor UID = APIC ID = vCPU index: the engines give vCPU i
	 * APIC ID i. */
	for (int i = 0; i < ncpus; i++) {
		struct madt_lapic e = {MADT_TYPE_LAPIC, sizeof e, (uint8_t)i, (uint8_t)i,
		                       MADT_LAPIC_ENABLED};
		memcpy(buf + len, &e, sizeof e);
		len += sizeof e;
	}
	struct madt_ioapic io = {MADT_TYPE_IOAPIC, sizeof io, (uint8_t)ncpus, 0,
	                         ACPI_IOAPIC_ADDR, 0};
	memcpy(buf + len, &io, sizeof io);
	len += sizeof io;

	/* The PIT is wired to IOAPIC pin 2 (pin 0 is the 8259's INTR), and
	 * the SCI is level triggered, unlike the ISA default. */
	struct madt_override ovr[2] = {
	    {MADT_TYPE_OVERRIDE, sizeof ovr[0], 0, 0, 2, MPS_ACTIVE_HIGH | MPS_EDGE},
	    {MADT_TYPE_OVERRIDE, sizeof ovr[0], 0, ACPI_SCI_IRQ, ACPI_SCI_IRQ,
	     MPS_ACTIVE_HIGH | MPS_LEVEL},
	};
	memcpy(buf + len, ovr, sizeof ovr);
	len += sizeof ovr;

	struct madt_lapic_nmi nmi = {MADT_TYPE_LAPIC_NMI, sizeof nmi, 0xFF,
	                             MPS_ACTIVE_HIGH | MPS_EDGE, 1};
	memcpy(buf + len, &nmi, sizeof nmi);
	len += sizeof nmi;

	acpi_header_init(&m->header, "APIC", (uint32_t)len, MADT_REVISION);
	return acpi_place_table(pl, buf);
}

/* The event timer block of dev/hpet.c: where it is and what the guest will
 * find in its capabilities register. */
static uint64_t build_hpet(struct acpi_placer *pl)
{
	struct acpi_hpet t = {0};
	acpi_header_init(&t.header, "HPET", sizeof t, HPET_TABLE_REVISION);
	t.event_timer_block_id = HPET_CAP_ID;
	t.base_address = (struct acpi_gas){.space_id = GAS_SYSTEM_MEMORY, .bit_width = 64};
	t.base_address.address = HPET_BASE;
	t.hpet_number = 0;
	t.min_clock_tick = HPET_TABLE_MIN_TICK;
	t.page_protection = HPET_TABLE_PAGE_PROTECTION;
	return acpi_place_table(pl, &t);
}

/* RSDT (4-byte entries) or XSDT (8-byte entries) listing the given tables. */
static uint64_t build_sdt(struct acpi_placer *pl, const char *signature, unsigned entry_size,
                          const uint64_t *tables, unsigned ntables)
{
	uint8_t buf[sizeof(struct acpi_header) + 8 * 8];
	if (ntables > 8 || entry_size > 8) {
		error_set(pl->err, "ACPI %s: too many tables", signature);
		return 0;
	}
	size_t len = sizeof(struct acpi_header);
	for (unsigned i = 0; i < ntables; i++) {
		uint64_t v = tables[i];
		for (unsigned j = 0; j < entry_size; j++)
			buf[len++] = (uint8_t)(v >> (8 * j));
	}
	acpi_header_init((struct acpi_header *)buf, signature, (uint32_t)len, 1);
	return acpi_place_table(pl, buf);
}

int acpi_build(const struct guest_mem *mem, int ncpus, uint64_t *rsdp_gpa, struct error *err)
{
	return acpi_build_opts(mem, ncpus, &(struct acpi_options){.hpet = true}, rsdp_gpa, err);
}

int acpi_build_opts(const struct guest_mem *mem, int ncpus, const struct acpi_options *opts,
                    uint64_t *rsdp_gpa, struct error *err)
{
	if (ncpus < 1 || ncpus > ACPI_MAX_CPUS)
		return error_set(err, "ACPI: %d CPUs cannot be described (1 to %d)", ncpus,
		                 ACPI_MAX_CPUS);
	if (!mem_is_ram(mem, ACPI_TABLES_ADDR, ACPI_TABLES_END - ACPI_TABLES_ADDR))
		return error_set(err, "ACPI: the table area %#x-%#x is not guest RAM",
		                 ACPI_TABLES_ADDR, ACPI_TABLES_END - 1);

	struct acpi_placer pl = {mem, ACPI_TABLES_ADDR, err};
	uint8_t scratch[ACPI_SCRATCH_SIZE] = {0};

	uint64_t rsdp = acpi_reserve(&pl, sizeof(struct acpi_rsdp), 16, "RSDP");
	uint64_t facs = rsdp ? build_facs(&pl) : 0;
	uint64_t dsdt = facs ? build_dsdt(&pl, scratch, sizeof scratch, opts) : 0;
	uint64_t fadt = dsdt ? build_fadt(&pl, facs, dsdt) : 0;
	if (!fadt)
		return -1;
	memset(scratch, 0, sizeof scratch);
	uint64_t madt = build_madt(&pl, scratch, ncpus);
	if (!madt)
		return -1;
	uint64_t tables[3] = {fadt, madt};
	unsigned ntables = 2;
	if (opts->hpet && !(tables[ntables++] = build_hpet(&pl)))
		return -1;
	uint64_t rsdt = build_sdt(&pl, "RSDT", 4, tables, ntables);
	uint64_t xsdt = rsdt ? build_sdt(&pl, "XSDT", 8, tables, ntables) : 0;
	if (!xsdt)
		return -1;

	struct acpi_rsdp r = {
	    .revision = 2,
	    .rsdt_address = (uint32_t)rsdt,
	    .length = sizeof r,
	    .xsdt_address = xsdt,
	};
	memcpy(r.signature, "RSD PTR ", 8);
	memcpy(r.oem_id, ACPI_OEM_ID, 6);
	r.checksum = acpi_checksum(&r, 20);
	r.extended_checksum = acpi_checksum(&r, sizeof r);
	if (acpi_put(&pl, rsdp, &r, sizeof r, "RSDP") < 0)
		return -1;
	*rsdp_gpa = rsdp;
	return 0;
}
