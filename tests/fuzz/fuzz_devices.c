/* libFuzzer target: the PC platform devices driven by a hostile guest.
 *
 * The input is a sequence of operations, each starting with a control byte:
 *   bits 0-2  target: 0 UART, 1 RTC, 2 i8042, 3 debug-exit/port 0x80,
 *             4 PCI config ports, 5 any port, 6 console input, 7 MMIO in the
 *             PCI window (where the test device's BARs may be mapped)
 *   bit 3     write (else read)
 *   bits 4-5  access size: 1, 2, 4, 8 bytes (8 only for MMIO)
 * then an offset byte (two for "any port", four for MMIO) and, for writes, the
 * value in little-endian. Console input takes a length byte and that many
 * bytes. The whole machine is rebuilt for every input so crashes reproduce. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "dev/debugexit.h"
#include "dev/i8042.h"
#include "dev/pci.h"
#include "dev/port80.h"
#include "dev/rtc.h"
#include "dev/serial.h"
#include "util/log.h"
#include "vm.h"

static void fuzz_set_irq(struct vm *vm, unsigned gsi, int level) {}
static void fuzz_kick(struct vm *vm) {}
static const struct engine_ops fuzz_engine = {
    .name = "fuzz", .kick = fuzz_kick, .set_irq = fuzz_set_irq};

static uint8_t bar_scratch[64];

static uint64_t bar_read(void *opaque, uint64_t offset, unsigned size)
{
	return bar_scratch[offset % sizeof bar_scratch];
}

static void bar_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	bar_scratch[offset % sizeof bar_scratch] = (uint8_t)value;
}

static const struct bus_ops bar_ops = {.read = bar_read, .write = bar_write};

struct reader {
	const uint8_t *p;
	size_t left;
};

static uint64_t take(struct reader *r, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n && r->left; i++, r->left--)
		v |= (uint64_t)*r->p++ << (8 * i);
	return v;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_level(LOG_ERROR); /* the devices' warnings are expected here */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm *vm = calloc(1, sizeof *vm);
	vm->bus = bus_create();
	vm->engine = &fuzz_engine;
	struct console *con = console_create(vm, "/dev/null");
	struct serial *serial = serial_create(vm, SERIAL_COM1_PORT, SERIAL_COM1_GSI, con);
	struct rtc *rtc = rtc_create(vm);
	struct i8042 *kbd = i8042_create(vm);
	struct debugexit *dbg = debugexit_create(vm, DEBUGEXIT_PORT);
	struct port80 *p80 = port80_create(vm);
	struct pci_bus *pci = pci_create(vm);
	static struct pci_device dev;
	pci_device_init(&dev, "fuzz", 0x1AF4, 0x1000, 0x020000, 0);
	dev.bars[0] = (struct pci_bar){.type = PCI_BAR_IO, .size = 0x40, .ops = &bar_ops};
	dev.bars[1] = (struct pci_bar){.type = PCI_BAR_MEM32, .size = 0x1000, .ops = &bar_ops};
	dev.bars[2] = (struct pci_bar){.type = PCI_BAR_MEM64, .size = 0x4000, .ops = &bar_ops};
	uint8_t cap[16] = {0};
	pci_add_capability(&dev, 0x11, cap, 12);
	pci_add_capability(&dev, 0x09, cap, 16);
	dev.wmask[0x44] = 0xFF;
	pci_register_device(pci, &dev);

	struct reader r = {data, size};
	while (r.left) {
		uint8_t ctl = (uint8_t)take(&r, 1);
		unsigned target = ctl & 7;
		bool write = ctl & 8;
		unsigned sz = 1u << ((ctl >> 4) & 3);
		enum bus_space space = BUS_PIO;
		uint64_t addr;
		if (target != 7 && sz == 8)
			sz = 4;
		switch (target) {
		case 0: addr = SERIAL_COM1_PORT + take(&r, 1) % 8; break;
		case 1: addr = RTC_INDEX_PORT + take(&r, 1) % 2; break;
		case 2: addr = (take(&r, 1) & 1) ? I8042_CMD_PORT : I8042_DATA_PORT; break;
		case 3: {
			uint8_t o = (uint8_t)take(&r, 1);
			addr = (o & 8) ? PORT80_PORT : DEBUGEXIT_PORT + o % 4;
			break;
		}
		case 4: addr = PCI_CONFIG_ADDRESS_PORT + take(&r, 1) % 8; break;
		case 5: addr = take(&r, 2); break;
		case 6: {
			uint8_t buf[32];
			unsigned n = (unsigned)take(&r, 1) % sizeof buf;
			for (unsigned i = 0; i < n; i++)
				buf[i] = (uint8_t)take(&r, 1);
			console_inject(con, buf, n);
			continue;
		}
		default:
			space = BUS_MMIO;
			addr = 0xC0000000ULL + take(&r, 4) % 0x40000000ULL;
			break;
		}
		if (write)
			bus_write(vm->bus, space, addr, sz, take(&r, sz));
		else
			bus_read(vm->bus, space, addr, sz);
	}

	pci_unregister_device(pci, &dev);
	pci_destroy(pci);
	port80_destroy(p80);
	debugexit_destroy(dbg);
	i8042_destroy(kbd);
	rtc_destroy(rtc);
	serial_destroy(serial);
	console_destroy(con);
	bus_destroy(vm->bus);
	free(vm);
	return 0;
}
