#include "dev/pci.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "vm.h"

#define CONFIG_ADDRESS_ENABLE 0x80000000u
/* Bits of 0xCF8 that are kept: enable, bus, device, function, register
 * (dword aligned). Bits 30:24 are reserved and read as zero. */
#define CONFIG_ADDRESS_MASK 0x80FFFFFCu

struct pci_bus {
	struct vm *vm;
	pthread_mutex_t lock;
	/* INTx: how many devices assert each shared line (pci_set_irq). A
	 * leaf lock of its own, so devices may raise lines under their locks. */
	pthread_mutex_t irq_lock;
	unsigned intx_count[PCI_INTX_GSIS];
	uint32_t address;
	struct pci_device *devices[PCI_MAX_DEVICES];
	struct pci_device host_bridge;
};

static uint32_t config_get(const struct pci_device *dev, unsigned off, unsigned size)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < size; i++)
		v |= (uint32_t)dev->config[off + i] << (8 * i);
	return v;
}

static void config_set(struct pci_device *dev, unsigned off, unsigned size, uint32_t v)
{
	for (unsigned i = 0; i < size; i++)
		dev->config[off + i] = (uint8_t)(v >> (8 * i));
}

static void wmask_set(struct pci_device *dev, unsigned off, unsigned size, uint32_t v)
{
	for (unsigned i = 0; i < size; i++)
		dev->wmask[off + i] = (uint8_t)(v >> (8 * i));
}

static bool bar_is_upper_half(const struct pci_device *dev, int bar)
{
	return bar > 0 && dev->bars[bar - 1].type == PCI_BAR_MEM64;
}

uint64_t pci_bar_address(struct pci_device *dev, int bar)
{
	if (bar < 0 || bar >= PCI_NUM_BARS)
		return 0;
	const struct pci_bar *b = &dev->bars[bar];
	uint32_t lo = config_get(dev, PCI_BAR0 + 4 * (unsigned)bar, 4);
	switch (b->type) {
	case PCI_BAR_IO: return lo & ~0x3u;
	case PCI_BAR_MEM32: return lo & ~0xFu;
	case PCI_BAR_MEM64:
		return ((uint64_t)config_get(dev, PCI_BAR0 + 4 * (unsigned)bar + 4, 4) << 32) |
		       (lo & ~0xFu);
	default: return 0;
	}
}

static bool overlaps_ram(const struct guest_mem *m, uint64_t addr, uint64_t size)
{
	for (int i = 0; i < m->nregions && i < 2; i++) {
		const struct mem_region *r = &m->regions[i];
		/* [addr, addr + size) and [gpa, gpa + size) intersect; neither
		 * sum wraps (the BAR was checked, regions are below 2^41). */
		if (r->size && addr < r->gpa + r->size && r->gpa < addr + size)
			return true;
	}
	return false;
}

/* Brings one BAR's mapping in line with its config registers. Caller holds
 * the PCI lock. */
static void pci_update_bar(struct pci_bus *pci, struct pci_device *dev, int bar)
{
	struct pci_bar *b = &dev->bars[bar];
	if (b->type == PCI_BAR_NONE)
		return;
	uint16_t cmd = (uint16_t)config_get(dev, PCI_COMMAND, 2);
	bool io = b->type == PCI_BAR_IO;
	enum bus_space space = io ? BUS_PIO : BUS_MMIO;
	uint64_t addr = pci_bar_address(dev, bar);
	bool want = (cmd & (io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY)) != 0;
	/* Address 0 is "unassigned". A range that reaches the top of its
	 * address space is the sizing pattern left in place (as QEMU does, it
	 * is not decoded), and one beyond it cannot be. */
	uint64_t top = io ? 0xFFFF : (b->type == PCI_BAR_MEM32 ? 0xFFFFFFFFULL : ~0ULL);
	uint64_t last = addr + b->size - 1;
	if (addr == 0 || last < addr || last >= top)
		want = false;
	if (b->mapped && want && b->mapped_addr == addr)
		return;
	if (b->mapped) {
		bus_unregister(pci->vm->bus, space, b->mapped_addr);
		b->mapped = false;
	}
	if (!want)
		return;
	if (!io && overlaps_ram(&pci->vm->mem, addr, b->size)) {
		/* Engines map RAM directly; MMIO there would never be seen,
		 * or worse, seen by one engine and not the other. */
		if (!b->warned)
			log_warn(
			    "pci %02x.0 %s: BAR%d at %#llx+%#llx overlaps guest RAM; left unmapped",
			    dev->slot, dev->name, bar, (unsigned long long)addr,
			    (unsigned long long)b->size);
		b->warned = true;
		return;
	}
	if (bus_register(pci->vm->bus, space, addr, b->size, b->ops, b->opaque, dev->name) < 0) {
		if (!b->warned)
			log_warn("pci %02x.0 %s: BAR%d at %#llx+%#llx overlaps another device; "
			         "left unmapped",
			         dev->slot, dev->name, bar, (unsigned long long)addr,
			         (unsigned long long)b->size);
		b->warned = true;
		return;
	}
	b->mapped = true;
	b->mapped_addr = addr;
}

static void pci_update_bars(struct pci_bus *pci, struct pci_device *dev)
{
	for (int i = 0; i < PCI_NUM_BARS; i++)
		pci_update_bar(pci, dev, i);
}

static void pci_unmap_bars(struct pci_bus *pci, struct pci_device *dev)
{
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *b = &dev->bars[i];
		if (b->mapped) {
			bus_unregister(pci->vm->bus, b->type == PCI_BAR_IO ? BUS_PIO : BUS_MMIO,
			               b->mapped_addr);
			b->mapped = false;
		}
	}
}

/* The device the latched address selects, or NULL (absent: all-ones). */
static struct pci_device *pci_selected(struct pci_bus *pci, unsigned *reg)
{
	uint32_t a = pci->address;
	if (!(a & CONFIG_ADDRESS_ENABLE))
		return NULL;
	unsigned bus = (a >> 16) & 0xFF, slot = (a >> 11) & 0x1F, fn = (a >> 8) & 0x7;
	if (bus != 0 || fn != 0)
		return NULL;
	*reg = a & 0xFC;
	return pci->devices[slot];
}

static uint64_t pci_data_read(void *opaque, uint64_t offset, unsigned size)
{
	struct pci_bus *pci = opaque;
	if (offset >= 4)
		return ~0ULL;
	if (size > 4 - offset)
		size = 4 - (unsigned)offset;
	uint64_t result = ~0ULL;
	unsigned reg = 0;
	pthread_mutex_lock(&pci->lock);
	struct pci_device *dev = pci_selected(pci, &reg);
	if (dev) {
		reg += (unsigned)offset;
		uint32_t v = config_get(dev, reg, size);
		if (dev->config_read)
			dev->config_read(dev, reg, size, &v);
		uint64_t mask = (1ULL << (8 * size)) - 1;
		result = (~0ULL & ~mask) | (v & mask);
	}
	pthread_mutex_unlock(&pci->lock);
	return result;
}

static void pci_data_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	struct pci_bus *pci = opaque;
	if (offset >= 4)
		return;
	if (size > 4 - offset)
		size = 4 - (unsigned)offset;
	unsigned reg = 0;
	pthread_mutex_lock(&pci->lock);
	struct pci_device *dev = pci_selected(pci, &reg);
	if (dev) {
		reg += (unsigned)offset;
		bool touches_decode = false;
		for (unsigned i = 0; i < size; i++) {
			unsigned r = reg + i;
			uint8_t m = dev->wmask[r];
			dev->config[r] =
			    (uint8_t)((dev->config[r] & ~m) | ((uint8_t)(value >> (8 * i)) & m));
			if ((r >= PCI_COMMAND && r < PCI_COMMAND + 2) ||
			    (r >= PCI_BAR0 && r < PCI_BAR0 + 4 * PCI_NUM_BARS))
				touches_decode = true;
		}
		if (touches_decode)
			pci_update_bars(pci, dev);
		if (dev->config_write)
			dev->config_write(dev, reg, size, (uint32_t)value);
	}
	pthread_mutex_unlock(&pci->lock);
}

/* Only a dword access hits the address register; a narrower one is an
 * access to the byte-wide port 0xCF8, which has no device here. */
static uint64_t pci_address_read(void *opaque, uint64_t offset, unsigned size)
{
	struct pci_bus *pci = opaque;
	if (offset != 0 || size != 4)
		return ~0ULL;
	pthread_mutex_lock(&pci->lock);
	uint32_t a = pci->address;
	pthread_mutex_unlock(&pci->lock);
	return a;
}

static void pci_address_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	struct pci_bus *pci = opaque;
	if (offset != 0 || size != 4)
		return;
	pthread_mutex_lock(&pci->lock);
	pci->address = (uint32_t)value & CONFIG_ADDRESS_MASK;
	pthread_mutex_unlock(&pci->lock);
}

static const struct bus_ops pci_address_ops = {.read = pci_address_read,
                                               .write = pci_address_write};
static const struct bus_ops pci_data_ops = {.read = pci_data_read, .write = pci_data_write};

void pci_device_init(struct pci_device *dev, const char *name, uint16_t vendor_id,
                     uint16_t device_id, uint32_t class_code, uint8_t revision)
{
	memset(dev, 0, sizeof *dev);
	dev->name = name;
	config_set(dev, PCI_VENDOR_ID, 2, vendor_id);
	config_set(dev, PCI_DEVICE_ID, 2, device_id);
	config_set(dev, PCI_REVISION_ID, 1, revision);
	config_set(dev, PCI_CLASS_PROG, 3, class_code & 0xFFFFFF);
	wmask_set(dev, PCI_COMMAND, 2,
	          PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | 0x0040 /* parity */ |
	              0x0100 /* SERR */ | PCI_COMMAND_INTX_DISABLE);
	wmask_set(dev, 0x0C, 1, 0xFF); /* cache line size */
	wmask_set(dev, 0x0D, 1, 0xFF); /* latency timer */
	wmask_set(dev, PCI_INTERRUPT_LINE, 1, 0xFF);
	dev->cap_end = PCI_CAP_START;
}

int pci_add_capability(struct pci_device *dev, uint8_t cap_id, const void *data, size_t len)
{
	unsigned off = (dev->cap_end + 3u) & ~3u;
	if (len < 2 || off < PCI_CAP_START || off > PCI_CONFIG_SIZE || len > PCI_CONFIG_SIZE - off)
		return -1;
	memcpy(&dev->config[off], data, len);
	dev->config[off] = cap_id;
	dev->config[off + 1] = 0;
	if (dev->cap_last)
		dev->config[dev->cap_last + 1] = (uint8_t)off;
	else
		dev->config[PCI_CAPABILITY_LIST] = (uint8_t)off;
	dev->config[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	dev->cap_last = (uint8_t)off;
	dev->cap_end = (uint16_t)(off + len);
	return (int)off;
}

static bool is_power_of_two(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* Checks the BAR descriptions and sets the BARs' read-only type bits and
 * write masks (the size is what the guest reads back after writing ones). */
static int pci_setup_bars(struct pci_device *dev)
{
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *b = &dev->bars[i];
		unsigned off = PCI_BAR0 + 4 * (unsigned)i;
		b->mapped = false;
		if (bar_is_upper_half(dev, i)) {
			if (b->type != PCI_BAR_NONE)
				goto bad;
			uint64_t mask = ~(dev->bars[i - 1].size - 1);
			wmask_set(dev, off, 4, (uint32_t)(mask >> 32));
			config_set(dev, off, 4, 0);
			continue;
		}
		switch (b->type) {
		case PCI_BAR_NONE:
			wmask_set(dev, off, 4, 0);
			config_set(dev, off, 4, 0);
			continue;
		case PCI_BAR_IO:
			if (!is_power_of_two(b->size) || b->size < 4 || b->size > 0x10000)
				goto bad;
			wmask_set(dev, off, 4, (uint32_t) ~(b->size - 1) & ~0x3u);
			config_set(dev, off, 4, PCI_BAR_IO_BIT);
			break;
		case PCI_BAR_MEM32:
			if (!is_power_of_two(b->size) || b->size < 16 || b->size > (1ULL << 31))
				goto bad;
			wmask_set(dev, off, 4, (uint32_t) ~(b->size - 1) & ~0xFu);
			config_set(dev, off, 4, b->prefetchable ? PCI_BAR_MEM_PREFETCH : 0);
			break;
		case PCI_BAR_MEM64:
			if (i == PCI_NUM_BARS - 1 || !is_power_of_two(b->size) || b->size < 16 ||
			    b->size > (1ULL << 40))
				goto bad;
			wmask_set(dev, off, 4, (uint32_t) ~(b->size - 1) & ~0xFu);
			config_set(dev, off, 4,
			           PCI_BAR_MEM_TYPE_64 |
			               (b->prefetchable ? PCI_BAR_MEM_PREFETCH : 0));
			break;
		default: goto bad;
		}
		if (!b->ops)
			goto bad;
		continue;
	bad:
		log_error("pci %s: BAR%d is not a valid BAR description", dev->name, i);
		return -1;
	}
	return 0;
}

unsigned pci_intx_gsi(unsigned slot, unsigned pin)
{
	return PCI_INTX_GSI_BASE + (slot + pin - 1) % PCI_INTX_GSIS;
}

void pci_set_irq(struct pci_device *dev, int level)
{
	struct pci_bus *pci = dev->bus;
	unsigned pin = dev->config[PCI_INTERRUPT_PIN]; /* read-only after init */
	if (!pci || pin < 1 || pin > 4)
		return;
	unsigned line = pci_intx_gsi(dev->slot, pin) - PCI_INTX_GSI_BASE;
	bool want = level != 0;
	pthread_mutex_lock(&pci->irq_lock);
	if (dev->intx_asserted != want) {
		dev->intx_asserted = want;
		unsigned before = pci->intx_count[line];
		pci->intx_count[line] = want ? before + 1 : before - 1;
		if ((before == 0) != (pci->intx_count[line] == 0))
			vm_set_irq(pci->vm, PCI_INTX_GSI_BASE + line, want);
	}
	pthread_mutex_unlock(&pci->irq_lock);
}

int pci_register_device(struct pci_bus *pci, struct pci_device *dev)
{
	if (pci_setup_bars(dev) < 0)
		return -1;
	pthread_mutex_lock(&pci->lock);
	int slot = -1;
	for (int i = 0; i < PCI_MAX_DEVICES; i++) {
		if (!pci->devices[i]) {
			slot = i;
			break;
		}
	}
	if (slot >= 0) {
		dev->bus = pci;
		dev->slot = (unsigned)slot;
		dev->intx_asserted = false;
		unsigned pin = dev->config[PCI_INTERRUPT_PIN];
		if (pin >= 1 && pin <= 4)
			dev->config[PCI_INTERRUPT_LINE] =
			    (uint8_t)pci_intx_gsi((unsigned)slot, pin);
		pci->devices[slot] = dev;
	}
	pthread_mutex_unlock(&pci->lock);
	if (slot < 0)
		log_error("pci %s: no free slot on bus 0", dev->name);
	return slot;
}

void pci_unregister_device(struct pci_bus *pci, struct pci_device *dev)
{
	if (dev->bus == pci)
		pci_set_irq(dev, 0); /* a line it held must not stay high */
	pthread_mutex_lock(&pci->lock);
	if (dev->slot < PCI_MAX_DEVICES && pci->devices[dev->slot] == dev) {
		pci_unmap_bars(pci, dev);
		pci->devices[dev->slot] = NULL;
	}
	dev->bus = NULL;
	pthread_mutex_unlock(&pci->lock);
}

struct pci_bus *pci_create(struct vm *vm)
{
	struct pci_bus *pci = calloc(1, sizeof *pci);
	if (!pci) {
		log_error("pci: out of memory");
		return NULL;
	}
	pci->vm = vm;
	pthread_mutex_init(&pci->lock, NULL);
	pthread_mutex_init(&pci->irq_lock, NULL);
	/* 00.0: the host bridge, as on QEMU's i440FX machine. */
	pci_device_init(&pci->host_bridge, "host bridge", 0x8086, 0x1237, 0x060000, 0x02);
	pci->devices[0] = &pci->host_bridge;
	/* The address register claims only its first port: the bus dispatches
	 * on an access's first address, so dword accesses still reach it, and
	 * 0xCF9 stays free for the reset control register (acpi_pm.c). */
	if (bus_register(vm->bus, BUS_PIO, PCI_CONFIG_ADDRESS_PORT, 1, &pci_address_ops, pci,
	                 "pci config address") < 0)
		goto fail;
	if (bus_register(vm->bus, BUS_PIO, PCI_CONFIG_DATA_PORT, 4, &pci_data_ops, pci,
	                 "pci config data") < 0) {
		bus_unregister(vm->bus, BUS_PIO, PCI_CONFIG_ADDRESS_PORT);
		goto fail;
	}
	return pci;
fail:
	log_error("pci: cannot claim ports %#x-%#x", PCI_CONFIG_ADDRESS_PORT,
	          PCI_CONFIG_DATA_PORT + 3);
	pthread_mutex_destroy(&pci->lock);
	pthread_mutex_destroy(&pci->irq_lock);
	free(pci);
	return NULL;
}

void pci_destroy(struct pci_bus *pci)
{
	if (!pci)
		return;
	bus_unregister(pci->vm->bus, BUS_PIO, PCI_CONFIG_ADDRESS_PORT);
	bus_unregister(pci->vm->bus, BUS_PIO, PCI_CONFIG_DATA_PORT);
	for (int i = 0; i < PCI_MAX_DEVICES; i++) {
		if (pci->devices[i]) {
			pci_unmap_bars(pci, pci->devices[i]);
			pci->devices[i]->bus = NULL;
		}
	}
	pthread_mutex_destroy(&pci->lock);
	pthread_mutex_destroy(&pci->irq_lock);
	free(pci);
}
