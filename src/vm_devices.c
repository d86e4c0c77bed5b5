/* The PC platform's devices, created in port order for every vm and torn
 * down in reverse. The list of ports and IRQs is docs/devices.md. */
#include "vm_devices.h"

#include "console.h"
#include "dev/acpi_pm.h"
#include "dev/debugexit.h"
#include "dev/hpet.h"
#include "dev/i8042.h"
#include "dev/pci.h"
#include "dev/port80.h"
#include "dev/rtc.h"
#include "dev/serial.h"
#include "dev/virtio/virtio_blk.h"
#include "dev/virtio/virtio_console.h"
#include "dev/virtio/virtio_net.h"
#include "dev/virtio/virtio_rng.h"
#include "util/log.h"
#include "vm.h"

static int vm_virtio_create(struct vm *vm);

int vm_devices_create(struct vm *vm)
{
	vm->console = console_create(vm, vm->config->console);
	if (!vm->console)
		return -1;
	vm->i8042 = i8042_create(vm);                         /* 0x60, 0x64 */
	vm->rtc = rtc_create(vm);                             /* 0x70-0x71, IRQ 8 */
	vm->port80 = port80_create(vm);                       /* 0x80 */
	vm->debugexit = debugexit_create(vm, DEBUGEXIT_PORT); /* 0xf4-0xf7 */
	vm->serial = serial_create(vm, SERIAL_COM1_PORT, SERIAL_COM1_GSI, vm->console);
	vm->acpi_pm = acpi_pm_create(vm); /* 0x600-0x60b, 0xcf9 */
	vm->pci = pci_create(vm);         /* 0xcf8-0xcff */
	if (!vm->i8042 || !vm->rtc || !vm->port80 || !vm->debugexit || !vm->serial ||
	    !vm->acpi_pm || !vm->pci)
		return -1;
	/* MMIO 0xfed00000-0xfed003ff; IRQ 0 and 8 under LegacyReplacement. */
	if (!vm->config->no_hpet && !(vm->hpet = hpet_create(vm)))
		return -1;
	return vm_virtio_create(vm);
}

/* Virtio devices on PCI bus 0 from slot 1 up, in this order: the disks
 * (--disk, in command-line order), virtio-rng, virtio-console, the network
 * cards (--net, in command-line order). */
static int vm_virtio_create(struct vm *vm)
{
	const struct vm_config *cfg = vm->config;
	for (int i = 0; i < cfg->ndisks && i < VM_MAX_DISKS; i++) {
		vm->disks[i] = virtio_blk_create(vm, cfg->disks[i]);
		if (!vm->disks[i])
			return -1;
	}
	if (cfg->virtio_rng && !(vm->virtio_rng = virtio_rng_create(vm)))
		return -1;
	/* After the UART: the console's input handler becomes this device's. */
	if (cfg->virtio_console && !(vm->virtio_console = virtio_console_create(vm, vm->console)))
		return -1;
	for (int i = 0; i < cfg->nnets && i < VM_MAX_NICS; i++) {
		vm->nics[i] = virtio_net_create(vm, cfg->nets[i], (unsigned)i);
		if (!vm->nics[i])
			return -1;
	}
	return 0;
}

static void vm_virtio_destroy(struct vm *vm)
{
	for (int i = VM_MAX_NICS - 1; i >= 0; i--) {
		virtio_net_destroy(vm->nics[i]);
		vm->nics[i] = NULL;
	}
	virtio_console_destroy(vm->virtio_console);
	vm->virtio_console = NULL;
	virtio_rng_destroy(vm->virtio_rng);
	vm->virtio_rng = NULL;
	for (int i = VM_MAX_DISKS - 1; i >= 0; i--) {
		virtio_blk_destroy(vm->disks[i]);
		vm->disks[i] = NULL;
	}
}

void vm_devices_destroy(struct vm *vm)
{
	vm_virtio_destroy(vm); /* before the PCI bus and the console they use */
	hpet_destroy(vm->hpet);
	vm->hpet = NULL;
	if (vm->pci)
		pci_destroy(vm->pci);
	if (vm->acpi_pm)
		acpi_pm_destroy(vm->acpi_pm);
	if (vm->serial)
		serial_destroy(vm->serial);
	if (vm->debugexit)
		debugexit_destroy(vm->debugexit);
	if (vm->port80)
		port80_destroy(vm->port80);
	if (vm->rtc)
		rtc_destroy(vm->rtc);
	if (vm->i8042)
		i8042_destroy(vm->i8042);
	if (vm->console)
		console_destroy(vm->console);
	vm->pci = NULL;
	vm->acpi_pm = NULL;
	vm->serial = NULL;
	vm->debugexit = NULL;
	vm->port80 = NULL;
	vm->rtc = NULL;
	vm->i8042 = NULL;
	vm->console = NULL;
}
