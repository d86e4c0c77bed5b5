/* PCI bus 0 behind a host bridge, reached by configuration mechanism #1:
 * 0xCF8 is the 32-bit address register (only dword writes latch it, as on real
 * chipsets; byte port 0xCF9 is left to the reset control register) and
 * 0xCFC-0xCFF the data window (any size, any offset).
 * Device 00.0 is an i440FX-style host bridge (8086:1237, class 060000).
 *
 * Later devices (virtio) describe themselves in a struct pci_device: identity
 * and capabilities in its config space, up to six BARs with a size and the
 * bus callbacks that serve them. The bus maps a BAR's range on the machine bus
 * (bus_register) once the guest has programmed an address and enabled I/O or
 * memory decoding in COMMAND, moves it when the guest moves it, and unmaps it
 * when decoding is disabled. A BAR the guest places over another device's
 * range, or a memory BAR over guest RAM, stays unmapped (with a warning) until
 * it is moved somewhere free. */
#ifndef RINGFOLD_DEV_PCI_H
#define RINGFOLD_DEV_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"

struct vm;
struct pci_bus;

#define PCI_CONFIG_ADDRESS_PORT 0xCF8
#define PCI_CONFIG_DATA_PORT 0xCFC
#define PCI_MAX_DEVICES 32
#define PCI_NUM_BARS 6
#define PCI_CONFIG_SIZE 256

/* Config space offsets and bits (type 0 header). */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_COMMAND_IO 0x0001
#define PCI_COMMAND_MEMORY 0x0002
#define PCI_COMMAND_MASTER 0x0004
#define PCI_COMMAND_INTX_DISABLE 0x0400
#define PCI_STATUS 0x06
#define PCI_STATUS_CAP_LIST 0x0010
#define PCI_REVISION_ID 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_HEADER_TYPE 0x0E
#define PCI_BAR0 0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2C
#define PCI_SUBSYSTEM_ID 0x2E
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3C
#define PCI_INTERRUPT_PIN 0x3D
#define PCI_CAP_START 0x40

#define PCI_BAR_IO_BIT 0x1
#define PCI_BAR_MEM_TYPE_64 0x4
#define PCI_BAR_MEM_PREFETCH 0x8

enum pci_bar_type {
	PCI_BAR_NONE,
	PCI_BAR_IO,    /* port I/O, size 4..64 KiB */
	PCI_BAR_MEM32, /* MMIO below 4 GiB, size >= 16 */
	PCI_BAR_MEM64, /* MMIO anywhere; takes this BAR slot and the next one */
};

struct pci_bar {
	enum pci_bar_type type;
	uint64_t size; /* a power of two */
	bool prefetchable;
	const struct bus_ops *ops; /* callbacks see the offset into the BAR */
	void *opaque;
	/* Maintained by the bus. */
	bool mapped;
	uint64_t mapped_addr;
	bool warned; /* a refused placement was logged (once per BAR) */
};

struct pci_device {
	const char *name;
	/* Config space: the device fills identity fields (pci_device_init) and
	 * capabilities (pci_add_capability) before pci_register_device(). */
	uint8_t config[PCI_CONFIG_SIZE];
	/* Bits the guest may change; 0 = read-only. pci_device_init() sets the
	 * standard header's; devices add their own capability registers. */
	uint8_t wmask[PCI_CONFIG_SIZE];
	struct pci_bar bars[PCI_NUM_BARS];
	/* Optional hooks, called with the PCI bus lock held after the generic
	 * handling of a config access (so config[] already holds the written
	 * value); a read hook may replace *value. Hooks must not call back into
	 * this API. offset + size never exceeds 256. */
	void (*config_read)(struct pci_device *dev, unsigned offset, unsigned size,
	                    uint32_t *value);
	void (*config_write)(struct pci_device *dev, unsigned offset, unsigned size,
	                     uint32_t value);
	void *opaque;
	/* Set by pci_register_device(). */
	struct pci_bus *bus;
	unsigned slot;
	uint16_t cap_end;   /* first free config byte for the next capability */
	uint8_t cap_last;   /* offset of the last capability, 0 if none */
	bool intx_asserted; /* pci_set_irq(); under the bus's interrupt lock */
};

/* Registers 0xCF8 and 0xCFC-0xCFF and the host bridge at 00.0; NULL after
 * logging on failure. */
struct pci_bus *pci_create(struct vm *vm);
/* Unmaps every BAR; the devices themselves belong to their owners. */
void pci_destroy(struct pci_bus *pci);

/* Clears dev (so call it first, then describe the BARs) and fills the identity fields and the
 * standard write masks (COMMAND, cache line size, latency timer, interrupt line). */
void pci_device_init(struct pci_device *dev, const char *name, uint16_t vendor_id,
                     uint16_t device_id, uint32_t class_code, uint8_t revision);

/* Appends a capability to dev's list. data holds the whole capability of len
 * bytes (len >= 2); its first two bytes (ID and next pointer) are filled in.
 * Returns its config-space offset, or -1 if it does not fit. */
int pci_add_capability(struct pci_device *dev, uint8_t cap_id, const void *data, size_t len);

/* Validates dev's BARs and puts it in the first free slot. Returns the slot
 * number (1..31), or -1 after logging (bad BAR description, bus full). */
int pci_register_device(struct pci_bus *pci, struct pci_device *dev);
/* Unmaps its BARs and frees its slot. */
void pci_unregister_device(struct pci_bus *pci, struct pci_device *dev);

/* The address the guest programmed into a BAR (whether or not it is mapped). */
uint64_t pci_bar_address(struct pci_device *dev, int bar);

/* Legacy INTx wiring (what the DSDT's _PRT tells the OS): interrupt pin
 * `pin` (1 = INTA .. 4 = INTD) of the device in `slot` reaches IOAPIC input
 * PCI_INTX_GSI_BASE + ((slot + pin - 1) mod 8), the usual swizzle, so
 * devices in neighbouring slots get different lines. A device that has an
 * interrupt pin gets this GSI in its interrupt line register when it is
 * registered, as firmware would leave it. */
#define PCI_INTX_GSI_BASE 16
#define PCI_INTX_GSIS 8
unsigned pci_intx_gsi(unsigned slot, unsigned pin);
/* Drives dev's INTx line (its interrupt pin register says which) to level.
 * Devices sharing a line are wire-ORed: the line is high while any of them
 * asserts it. Any thread; takes only the bus's interrupt lock, never the
 * configuration lock, so a device may call it under its own lock. */
void pci_set_irq(struct pci_device *dev, int level);

#endif
