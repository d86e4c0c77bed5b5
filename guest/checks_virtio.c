/* virtio-blk and virtio-rng through a minimal modern (1.x) virtio-PCI
 * driver: find the device on bus 0, give its BARs addresses if firmware did
 * not (ringfold has none; QEMU's SeaBIOS does), negotiate VERSION_1, set up
 * one split queue of 8 entries, and run requests to completion.
 *
 *   virtio-blk  interrupts through MSI-X (vector VEC_VIRTIO_MSIX on this
 *               CPU). Reads sector 0; when it holds the test-disk pattern
 *               (TEST_MAGIC, then byte i = i * 7 + 3), compares it, writes
 *               sector 1 (byte i = i * 13 + 0x5A), flushes, reads it back,
 *               and asks for the serial number (GET_ID); on a read-only
 *               disk (VIRTIO_BLK_F_RO) the write must fail instead. Any
 *               other disk is only read. The note says what happened, for the harness
 *               (tests/integration/virtio_testkernel.sh), which checks
 *               sector 1 in the image afterwards.
 *   virtio-rng  interrupts through INTx: the IOAPIC pin named by the
 *               interrupt line register (ringfold: the _PRT's GSI; QEMU:
 *               SeaBIOS's PIRQ line), level-triggered, acknowledged by
 *               reading ISR status. Two reads of 64 bytes must be filled,
 *               not all zero, and differ.
 *
 * Without the device the check is a skip. Every wait is bounded. */
#include "kernel.h"
#include "x86.h"

#define VEC_VIRTIO_MSIX 0x58
#define VEC_VIRTIO_INTX 0x59
#define WAIT_MS 2000
#define WAIT_ITERS 50000000ul
#define QSIZE 8

#define TEST_MAGIC "RINGFOLD VIRTIO TEST DISK\n"

/* Where unassigned BARs go: the start of the PCI window (docs/devices.md). */
#define BAR_WINDOW 0xC0000000ul
#define BAR_WINDOW_END 0xFEC00000ul

/* virtio 1.x, PCI transport */
#define CAP_COMMON 1
#define CAP_NOTIFY 2
#define CAP_ISR 3
#define CAP_DEVICE 4
#define ST_ACK 1
#define ST_DRIVER 2
#define ST_DRIVER_OK 4
#define ST_FEATURES_OK 8
#define ST_NEEDS_RESET 0x40
#define NO_VECTOR 0xffff

/* ---- port and MMIO access ---- */

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static uint32_t cfg_read32(int slot, unsigned reg)
{
	outl(0xcf8, 0x80000000u | (unsigned)slot << 11 | (reg & 0xfc));
	return inl(0xcfc);
}

static void cfg_write32(int slot, unsigned reg, uint32_t v)
{
	outl(0xcf8, 0x80000000u | (unsigned)slot << 11 | (reg & 0xfc));
	outl(0xcfc, v);
}

static uint8_t cfg_read8(int slot, unsigned reg)
{
	return (uint8_t)(cfg_read32(slot, reg) >> (8 * (reg & 3)));
}

static uint16_t cfg_read16(int slot, unsigned reg)
{
	return (uint16_t)(cfg_read32(slot, reg) >> (8 * (reg & 2)));
}

static void cfg_write16(int slot, unsigned reg, uint16_t v)
{
	uint32_t old = cfg_read32(slot, reg);
	unsigned sh = 8 * (reg & 2);
	cfg_write32(slot, reg, (old & ~(0xffffu << sh)) | (uint32_t)v << sh);
}

static uint8_t rd8(uint64_t a)
{
	return *(volatile uint8_t *)a;
}
static uint16_t rd16(uint64_t a)
{
	return *(volatile uint16_t *)a;
}
static uint32_t rd32(uint64_t a)
{
	return *(volatile uint32_t *)a;
}
static void wr8(uint64_t a, uint8_t v)
{
	*(volatile uint8_t *)a = v;
}
static void wr16(uint64_t a, uint16_t v)
{
	*(volatile uint16_t *)a = v;
}
static void wr32(uint64_t a, uint32_t v)
{
	*(volatile uint32_t *)a = v;
}
static void wr64(uint64_t a, uint64_t v)
{
	wr32(a, (uint32_t)v);
	wr32(a + 4, (uint32_t)(v >> 32));
}

static void mb(void)
{
	__asm__ volatile("mfence" ::: "memory");
}

static void ioapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(IOAPIC_BASE, reg);
	mmio_write32(IOAPIC_BASE + 0x10, v);
}

/* ---- the device ---- */

struct vdev {
	int slot;
	uint64_t common, notify, isr, device;
	uint32_t notify_mult;
	unsigned msix_cap;
	uint64_t msix_table;
	const char *why; /* when setup failed */
};

/* Common configuration registers. */
#define DFSELECT 0x00
#define DF 0x04
#define GFSELECT 0x08
#define GF 0x0c
#define MSIX_CONFIG 0x10
#define STATUS 0x14
#define Q_SELECT 0x16
#define Q_SIZE 0x18
#define Q_MSIX 0x1a
#define Q_ENABLE 0x1c
#define Q_NOTIFY_OFF 0x1e
#define Q_DESC 0x20
#define Q_DRIVER 0x28
#define Q_DEVICE 0x30

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

/* One queue's rings, in .bss (identity-mapped: virtual = physical). */
static struct {
	struct vring_desc desc[QSIZE];
	uint16_t avail[3 + QSIZE];
	uint8_t pad[64];
	uint32_t used[1 + 2 * QSIZE + 1];
} ring __attribute__((aligned(4096)));

static uint8_t iobuf[3][1024] __attribute__((aligned(4096)));

static uint64_t bar_next = BAR_WINDOW;

static int find_device(uint16_t device_id)
{
	for (int slot = 0; slot < 32; slot++)
		if (cfg_read32(slot, 0) == ((uint32_t)device_id << 16 | 0x1af4))
			return slot;
	return -1;
}

/* The BAR's address, given one from the window if it has none. */
static uint64_t bar_address(int slot, int bar)
{
	unsigned reg = 0x10 + 4 * (unsigned)bar;
	uint32_t lo = cfg_read32(slot, reg);
	if (lo & 1)
		return 0; /* I/O BARs are not used by modern virtio here */
	bool is64 = ((lo >> 1) & 3) == 2;
	uint64_t addr = (lo & ~0xful) | (is64 ? (uint64_t)cfg_read32(slot, reg + 4) << 32 : 0);
	if (addr)
		return addr;
	cfg_write32(slot, reg, 0xffffffff);
	uint64_t size = ~(uint64_t)(cfg_read32(slot, reg) & ~0xfu) + 1;
	size &= 0xffffffff;
	if (!size || size > 0x10000000)
		return 0;
	addr = (bar_next + size - 1) & ~(size - 1);
	if (addr + size > BAR_WINDOW_END)
		return 0;
	bar_next = addr + size;
	cfg_write32(slot, reg, (uint32_t)addr);
	if (is64)
		cfg_write32(slot, reg + 4, 0);
	return addr;
}

static bool vdev_open(struct vdev *v, uint16_t device_id)
{
	memset(v, 0, sizeof *v);
	v->slot = find_device(device_id);
	if (v->slot < 0) {
		v->why = "none on PCI bus 0";
		return false;
	}
	/* Decoding off while BARs are placed, then memory and bus mastering. */
	cfg_write16(v->slot, 0x04, cfg_read16(v->slot, 0x04) & ~0x7u);
	uint64_t bars[6] = {0};
	unsigned cap = (cfg_read16(v->slot, 0x06) & 0x10) ? cfg_read8(v->slot, 0x34) : 0;
	for (int guard = 0; cap && guard < 48; guard++, cap = cfg_read8(v->slot, cap + 1)) {
		uint8_t id = cfg_read8(v->slot, cap);
		if (id == 0x11) {
			v->msix_cap = cap;
			continue;
		}
		if (id != 0x09)
			continue;
		uint8_t type = cfg_read8(v->slot, cap + 3), bar = cfg_read8(v->slot, cap + 4);
		if (bar > 5 || type < CAP_COMMON || type > CAP_DEVICE)
			continue;
		if (!bars[bar])
			bars[bar] = bar_address(v->slot, bar);
		uint64_t at = bars[bar] + cfg_read32(v->slot, cap + 8);
		if (!bars[bar])
			continue;
		if (type == CAP_COMMON && !v->common)
			v->common = at;
		else if (type == CAP_NOTIFY && !v->notify) {
			v->notify = at;
			v->notify_mult = cfg_read32(v->slot, cap + 16);
		} else if (type == CAP_ISR && !v->isr)
			v->isr = at;
		else if (type == CAP_DEVICE && !v->device)
			v->device = at;
	}
	if (v->msix_cap) {
		uint32_t t = cfg_read32(v->slot, v->msix_cap + 4);
		if (!bars[t & 7])
			bars[t & 7] = bar_address(v->slot, (int)(t & 7));
		v->msix_table = bars[t & 7] ? bars[t & 7] + (t & ~7u) : 0;
	}
	cfg_write16(v->slot, 0x04, cfg_read16(v->slot, 0x04) | 0x6); /* memory, master */
	if (!v->common || !v->notify || !v->isr) {
		v->why = "virtio capabilities missing or BARs unusable";
		return false;
	}
	if (v->common >= (4ul << 30) || v->notify >= (4ul << 30)) {
		v->why = "BARs above 4 GiB (not mapped by this kernel)";
		return false;
	}
	return true;
}

static void vdev_reset(struct vdev *v)
{
	wr8(v->common + STATUS, 0);
	uint64_t end = deadline_ms(WAIT_MS);
	for (unsigned long i = 0; rd8(v->common + STATUS) && i < WAIT_ITERS && !expired(end); i++)
		cpu_relax();
}

/* Reset, VERSION_1 only, one queue of QSIZE on `vector`; then DRIVER_OK. */
static bool vdev_setup(struct vdev *v, uint16_t vector)
{
	vdev_reset(v);
	if (rd8(v->common + STATUS)) {
		v->why = "device_status does not read 0 after reset";
		return false;
	}
	wr8(v->common + STATUS, ST_ACK);
	wr8(v->common + STATUS, ST_ACK | ST_DRIVER);
	wr32(v->common + DFSELECT, 1);
	if (!(rd32(v->common + DF) & 1)) {
		v->why = "VIRTIO_F_VERSION_1 not offered";
		return false;
	}
	wr32(v->common + GFSELECT, 0);
	wr32(v->common + GF, 0);
	wr32(v->common + GFSELECT, 1);
	wr32(v->common + GF, 1);
	wr8(v->common + STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
	if (!(rd8(v->common + STATUS) & ST_FEATURES_OK)) {
		v->why = "FEATURES_OK refused";
		return false;
	}
	wr16(v->common + MSIX_CONFIG, NO_VECTOR);
	wr16(v->common + Q_SELECT, 0);
	uint16_t max = rd16(v->common + Q_SIZE);
	if (max < QSIZE) {
		v->why = "queue 0 is smaller than 8 entries";
		return false;
	}
	memset(&ring, 0, sizeof ring);
	wr16(v->common + Q_SIZE, QSIZE);
	wr16(v->common + Q_MSIX, vector);
	if (rd16(v->common + Q_MSIX) != vector) {
		v->why = "queue MSI-X vector not accepted";
		return false;
	}
	wr64(v->common + Q_DESC, (uint64_t)ring.desc);
	wr64(v->common + Q_DRIVER, (uint64_t)ring.avail);
	wr64(v->common + Q_DEVICE, (uint64_t)ring.used);
	wr16(v->common + Q_ENABLE, 1);
	wr8(v->common + STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	if (rd8(v->common + STATUS) & ST_NEEDS_RESET) {
		v->why = "the device asked for a reset after setup";
		return false;
	}
	return true;
}

static volatile uint64_t irqs;
static struct vdev *intx_dev;

static bool on_msix(struct trap_frame *f, uint64_t cr2)
{
	irqs++;
	lapic_write(0xb0, 0);
	return true;
}

static bool on_intx(struct trap_frame *f, uint64_t cr2)
{
	/* Reading ISR status acknowledges the device; then the level-triggered
	 * vector's EOI reaches the IOAPIC. */
	if (intx_dev && (rd8(intx_dev->isr) & 1))
		irqs++;
	lapic_write(0xb0, 0);
	return true;
}

static uint16_t used_idx(void)
{
	return ((volatile uint16_t *)ring.used)[1];
}

/* Posts a chain of n buffers (descriptors 0..n-1), notifies, and waits for
 * the used ring and an interrupt. Returns the used length, or -1. */
static long run_chain(struct vdev *v, const uint64_t *addr, const uint32_t *len, const bool *write,
                      int n)
{
	for (int i = 0; i < n; i++) {
		ring.desc[i].addr = addr[i];
		ring.desc[i].len = len[i];
		ring.desc[i].flags = (uint16_t)((i + 1 < n ? 1 : 0) | (write[i] ? 2 : 0));
		ring.desc[i].next = (uint16_t)(i + 1);
	}
	uint16_t idx = ring.avail[1];
	ring.avail[2 + idx % QSIZE] = 0;
	mb();
	((volatile uint16_t *)ring.avail)[1] = (uint16_t)(idx + 1);
	mb();
	uint64_t before = irqs;
	wr16(v->notify + (uint64_t)rd16(v->common + Q_NOTIFY_OFF) * v->notify_mult, 0);
	uint64_t end = deadline_ms(WAIT_MS);
	sti();
	for (unsigned long i = 0; (used_idx() != (uint16_t)(idx + 1) || irqs == before) &&
	                          i < WAIT_ITERS && !expired(end);
	     i++)
		cpu_relax();
	cli();
	if (used_idx() != (uint16_t)(idx + 1)) {
		check_fail("request not completed within %u ms (used index %u, status %#x)",
		           WAIT_MS, used_idx(), rd8(v->common + STATUS));
		return -1;
	}
	if (irqs == before) {
		check_fail("request completed but no interrupt arrived within %u ms", WAIT_MS);
		return -1;
	}
	return (long)ring.used[2 + 2 * (idx % QSIZE)]; /* the element's len (id is before it) */
}

/* ---- virtio-blk ---- */

struct blk_header {
	uint32_t type, reserved;
	uint64_t sector;
};

static int blk_request(struct vdev *v, uint32_t type, uint64_t sector, void *data, uint32_t len,
                       bool data_in)
{
	static struct blk_header hdr __attribute__((aligned(16)));
	static volatile uint8_t status;
	hdr = (struct blk_header){type, 0, sector};
	status = 0xff;
	uint64_t addr[3] = {(uint64_t)&hdr, (uint64_t)data, (uint64_t)&status};
	uint32_t lens[3] = {sizeof hdr, len, 1};
	bool wr[3] = {false, data_in, true};
	if (len) {
		if (run_chain(v, addr, lens, wr, 3) < 0)
			return -1;
	} else {
		addr[1] = addr[2];
		lens[1] = 1;
		wr[1] = true;
		if (run_chain(v, addr, lens, wr, 2) < 0)
			return -1;
	}
	return status;
}

static uint8_t sector0_byte(unsigned i)
{
	return i < sizeof(TEST_MAGIC) - 1 ? (uint8_t)TEST_MAGIC[i] : (uint8_t)(i * 7 + 3);
}

void check_virtio_blk(void)
{
	struct vdev v;
	if (!vdev_open(&v, 0x1042)) {
		if (v.slot < 0)
			check_skip("no virtio-blk device (%s)", v.why);
		else
			check_fail("%s", v.why);
		return;
	}
	if (!v.msix_cap || !v.msix_table) {
		check_fail("no usable MSI-X capability");
		return;
	}
	/* Vector 1 (the queue's) to this CPU; MSI-X on. */
	uint64_t e = v.msix_table + 16;
	wr32(e, 0xfee00000u | lapic_id() << 12);
	wr32(e + 4, 0);
	wr32(e + 8, VEC_VIRTIO_MSIX);
	wr32(e + 12, 0);
	cfg_write16(v.slot, v.msix_cap + 2, 0x8000);
	irqs = 0;
	trap_hooks[VEC_VIRTIO_MSIX] = on_msix;
	if (!vdev_setup(&v, 1)) {
		check_fail("%s", v.why);
		goto out;
	}
	uint64_t sectors = (uint64_t)rd32(v.device) | (uint64_t)rd32(v.device + 4) << 32;
	uint8_t *buf = iobuf[0];
	memset(buf, 0xcc, 512);
	int st = blk_request(&v, 0, 0, buf, 512, true);
	if (st != 0) {
		if (st > 0)
			check_fail("read of sector 0: status %d", st);
		goto out;
	}
	bool test_disk = !memcmp(buf, TEST_MAGIC, sizeof(TEST_MAGIC) - 1);
	if (!test_disk) {
		check_note("%lu sectors, sector 0 read over MSI-X (not a test disk: nothing "
		           "written)",
		           sectors);
		goto out;
	}
	for (unsigned i = 0; i < 512; i++) {
		if (buf[i] != sector0_byte(i)) {
			check_fail("sector 0 byte %u is %#x, not %#x", i, buf[i], sector0_byte(i));
			goto out;
		}
	}
	wr32(v.common + DFSELECT, 0);
	if (rd32(v.common + DF) & (1u << 5)) { /* VIRTIO_BLK_F_RO */
		if ((st = blk_request(&v, 1, 1, buf, 512, false)) != 1) {
			if (st >= 0)
				check_fail("write to a read-only disk: status %d, not 1 (IOERR)",
				           st);
			goto out;
		}
		check_note("%lu sectors, read-only: sector 0 read, a write refused, over MSI-X",
		           sectors);
		goto out;
	}
	uint8_t *w = iobuf[1], *back = iobuf[2];
	for (unsigned i = 0; i < 512; i++)
		w[i] = (uint8_t)(i * 13 + 0x5a);
	if ((st = blk_request(&v, 1, 1, w, 512, false)) != 0 ||
	    (st = blk_request(&v, 4, 0, 0, 0, false)) != 0) {
		if (st > 0)
			check_fail("write or flush of sector 1: status %d", st);
		goto out;
	}
	memset(back, 0, 512);
	if ((st = blk_request(&v, 0, 1, back, 512, true)) != 0 || memcmp(back, w, 512)) {
		if (st >= 0)
			check_fail("sector 1 read back differs (status %d)", st);
		goto out;
	}
	/* Past the end: an I/O error, not a crash or a hang. */
	if ((st = blk_request(&v, 0, sectors, back, 512, true)) != 1) {
		if (st >= 0)
			check_fail("read past the end: status %d, not 1 (IOERR)", st);
		goto out;
	}
	char serial[21] = {0};
	if ((st = blk_request(&v, 8, 0, back, 20, true)) != 0) {
		if (st > 0)
			check_fail("GET_ID: status %d", st);
		goto out;
	}
	memcpy(serial, back, 20);
	for (int i = 0; i < 20; i++)
		if (serial[i] && (serial[i] < 0x20 || serial[i] > 0x7e))
			serial[i] = '?';
	check_note("%lu sectors, serial %s, read+write+flush over MSI-X, %lu interrupts", sectors,
	           serial, irqs);
out:
	vdev_reset(&v);
	cfg_write16(v.slot, v.msix_cap + 2, 0);
	trap_hooks[VEC_VIRTIO_MSIX] = 0;
}

/* ---- virtio-rng ---- */

void check_virtio_rng(void)
{
	struct vdev v;
	if (!vdev_open(&v, 0x1044)) {
		if (v.slot < 0)
			check_skip("no virtio-rng device (%s)", v.why);
		else
			check_fail("%s", v.why);
		return;
	}
	if (v.msix_cap)
		cfg_write16(v.slot, v.msix_cap + 2, 0); /* INTx, then */
	unsigned gsi = cfg_read8(v.slot, 0x3c);
	if (gsi == 0 || gsi >= 24) {
		check_fail("interrupt line register %u is not an IOAPIC input", gsi);
		return;
	}
	/* Level-triggered, active high, fixed, to this CPU. */
	ioapic_write(0x10 + 2 * gsi + 1, lapic_id() << 24);
	ioapic_write(0x10 + 2 * gsi, VEC_VIRTIO_INTX | (1u << 15));
	intx_dev = &v;
	irqs = 0;
	trap_hooks[VEC_VIRTIO_INTX] = on_intx;
	if (!vdev_setup(&v, NO_VECTOR)) {
		check_fail("%s", v.why);
		goto out;
	}
	uint8_t *a = iobuf[0], *b = iobuf[1];
	memset(a, 0, 64);
	memset(b, 0, 64);
	uint64_t addr = (uint64_t)a;
	uint32_t len = 64;
	bool wr = true;
	long n1 = run_chain(&v, &addr, &len, &wr, 1);
	addr = (uint64_t)b;
	long n2 = n1 < 0 ? -1 : run_chain(&v, &addr, &len, &wr, 1);
	if (n1 < 0 || n2 < 0)
		goto out;
	bool zero = true;
	for (int i = 0; i < 64; i++)
		zero &= a[i] == 0;
	if (n1 < 1 || n1 > 64 || n2 < 1 || n2 > 64)
		check_fail("used lengths %ld and %ld, not 1..64", n1, n2);
	else if (n1 == 64 && zero)
		check_fail("64 bytes of zeroes");
	else if (n1 == n2 && !memcmp(a, b, (size_t)n1))
		check_fail("two reads gave the same %ld bytes", n1);
	else
		check_note("%ld + %ld random bytes over INTx (GSI %u), %lu interrupts", n1, n2, gsi,
		           irqs);
out:
	vdev_reset(&v);
	ioapic_write(0x10 + 2 * gsi, 1u << 16);
	trap_hooks[VEC_VIRTIO_INTX] = 0;
	intx_dev = 0;
}
