/* ACPI fixed hardware: PM1a event and control blocks, the PM timer and the
 * reset control register (see dev/acpi_pm.h for the map).
 *
 * Accesses of any size and offset inside a block are handled byte by byte
 * against the block's registers, so a guest that reads PM1 status and enable
 * in one 32-bit access, or writes PM1 control one byte at a time, sees the
 * same registers. Bytes of an access that run past the block read as 0xFF
 * and are dropped on write, as on an unassigned port. */
#include "dev/acpi_pm.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "util/log.h"
#include "vm.h"

/* PM1 enable bits a guest can set; the rest are reserved and read 0. */
#define PM1_EN_WRITABLE 0x4721 /* TMR, GBL, PWRBTN, SLPBTN, RTC, PCIEXP_WAKE_DIS */
/* PM1 control bits that keep what is written: BM_RLD and SLP_TYP. GBL_RLS
 * and SLP_EN are write-only and read 0; SCI_EN always reads 1. */
#define PM1_CNT_STORED (0x0002 | ACPI_PM1_SLP_TYP_MASK)

#define NSEC_PER_SEC 1000000000ULL

enum acpi_pm_block { BLOCK_EVT, BLOCK_CNT, BLOCK_TMR, BLOCK_RESET, BLOCK_COUNT };

struct acpi_pm;

/* One bus registration: the bus hands its opaque back to us. */
struct acpi_pm_port {
	struct acpi_pm *pm;
	enum acpi_pm_block block;
	bool registered;
};

struct acpi_pm {
	struct vm *vm;
	pthread_mutex_t lock; /* vCPU threads and the VMM call in concurrently */
	uint16_t pm1_sts;
	uint16_t pm1_en;
	uint16_t pm1_cnt;
	uint8_t reset_reg;
	bool sci_level;
	bool warned_sleep;
	struct acpi_pm_port ports[BLOCK_COUNT];
};

static const struct {
	uint16_t port;
	uint8_t len;
	const char *name;
} acpi_pm_blocks[BLOCK_COUNT] = {
    [BLOCK_EVT] = {ACPI_PM_EVT_PORT, ACPI_PM_EVT_LEN, "acpi-pm1a-evt"},
    [BLOCK_CNT] = {ACPI_PM_CNT_PORT, ACPI_PM_CNT_LEN, "acpi-pm1a-cnt"},
    [BLOCK_TMR] = {ACPI_PM_TMR_PORT, ACPI_PM_TMR_LEN, "acpi-pm-timer"},
    [BLOCK_RESET] = {ACPI_PM_RESET_PORT, 1, "acpi-reset"},
};

/* Ticks of the 3.579545 MHz timer in ns nanoseconds, computed in two parts
 * so that the product cannot overflow however long the VM runs. */
static uint64_t ns_to_pm_ticks(uint64_t ns)
{
	uint64_t sec = ns / NSEC_PER_SEC, rem = ns % NSEC_PER_SEC;
	return sec * ACPI_PM_TIMER_HZ + rem * ACPI_PM_TIMER_HZ / NSEC_PER_SEC;
}

static uint32_t pm_timer_value(const struct acpi_pm *pm)
{
	/* Guest time starts at 0 with the machine, and so does the timer. */
	return (uint32_t)ns_to_pm_ticks(vm_clock_now(pm->vm));
}

/* The SCI follows (status & enable): a level-triggered line. Called with the
 * lock held so that raise and lower cannot be reordered between threads; the
 * interrupt controller must not call back into this device. */
static void acpi_pm_update_sci(struct acpi_pm *pm)
{
	bool level = (pm->pm1_sts & pm->pm1_en) != 0;
	if (level != pm->sci_level) {
		pm->sci_level = level;
		vm_set_irq(pm->vm, ACPI_PM_SCI_IRQ, level);
	}
}

/* The block's registers as one little-endian value, the way the guest sees
 * them laid out in port space. */
static uint32_t block_value(struct acpi_pm *pm, enum acpi_pm_block block)
{
	switch (block) {
	case BLOCK_EVT: return pm->pm1_sts | (uint32_t)pm->pm1_en << 16;
	case BLOCK_CNT: return (pm->pm1_cnt & PM1_CNT_STORED) | ACPI_PM1_SCI_EN;
	case BLOCK_TMR: return pm_timer_value(pm);
	case BLOCK_RESET: return pm->reset_reg;
	default: return 0xFFFFFFFF;
	}
}

static uint64_t acpi_pm_read(void *opaque, uint64_t offset, unsigned size)
{
	struct acpi_pm_port *port = opaque;
	struct acpi_pm *pm = port->pm;
	unsigned len = acpi_pm_blocks[port->block].len;
	if (size > 8)
		size = 8;

	uint32_t v;
	if (port->block == BLOCK_TMR) {
		/* The timer depends only on the clock: no lock on the path an OS
		 * using it as a clocksource takes from every vCPU. */
		v = pm_timer_value(pm);
	} else {
		pthread_mutex_lock(&pm->lock);
		v = block_value(pm, port->block);
		pthread_mutex_unlock(&pm->lock);
	}

	uint64_t out = 0;
	for (unsigned i = 0; i < size; i++) {
		uint64_t at = offset + i;
		uint64_t byte = at < len ? (v >> (8 * at)) & 0xFF : 0xFF;
		out |= byte << (8 * i);
	}
	return out;
}

enum acpi_pm_action { ACTION_NONE, ACTION_POWEROFF, ACTION_RESET };

static enum acpi_pm_action write_cnt(struct acpi_pm *pm, uint32_t value, uint32_t mask)
{
	uint16_t cnt = (uint16_t)((pm->pm1_cnt & ~mask) | (value & mask));
	pm->pm1_cnt = cnt & PM1_CNT_STORED;
	if (!(mask & value & ACPI_PM1_SLP_EN))
		return ACTION_NONE;
	unsigned typ = (cnt & ACPI_PM1_SLP_TYP_MASK) >> ACPI_PM1_SLP_TYP_SHIFT;
	if (typ == ACPI_PM_SLP_TYP_S5)
		return ACTION_POWEROFF;
	/* The DSDT offers only S5; another sleep type is a guest bug. */
	if (!pm->warned_sleep) {
		pm->warned_sleep = true;
		log_warn("acpi: guest asked for sleep type %u, which this machine does not offer; "
		         "ignored",
		         typ);
	}
	return ACTION_NONE;
}

static void acpi_pm_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	struct acpi_pm_port *port = opaque;
	struct acpi_pm *pm = port->pm;
	unsigned len = acpi_pm_blocks[port->block].len;
	if (size > 8)
		size = 8;

	/* Lay the written bytes over the block: mask says which bytes landed. */
	uint32_t v = 0, mask = 0;
	for (unsigned i = 0; i < size; i++) {
		uint64_t at = offset + i;
		if (at >= len)
			break;
		v |= (uint32_t)((value >> (8 * i)) & 0xFF) << (8 * at);
		mask |= 0xFFu << (8 * at);
	}
	if (!mask)
		return;

	enum acpi_pm_action action = ACTION_NONE;
	pthread_mutex_lock(&pm->lock);
	switch (port->block) {
	case BLOCK_EVT:
		pm->pm1_sts &= (uint16_t) ~(v & mask); /* write 1 to clear */
		pm->pm1_en =
		    (uint16_t)(((pm->pm1_en & ~(mask >> 16)) | (v >> 16)) & PM1_EN_WRITABLE);
		acpi_pm_update_sci(pm);
		break;
	case BLOCK_CNT: action = write_cnt(pm, v, mask); break;
	case BLOCK_TMR: break; /* read-only */
	case BLOCK_RESET:
		pm->reset_reg = (uint8_t)v;
		/* As on the PIIX/ICH: setting RST_CPU resets; SYS_RST (the
		 * FADT's 0x06) makes it a hard reset, which is all we have. */
		if (v & ACPI_PM_RESET_RST_CPU)
			action = ACTION_RESET;
		break;
	default: break;
	}
	pthread_mutex_unlock(&pm->lock);

	if (action == ACTION_POWEROFF)
		vm_request_exit(pm->vm, VM_EXIT_POWEROFF, 0);
	else if (action == ACTION_RESET)
		vm_request_exit(pm->vm, VM_EXIT_RESET, 0);
}

static const struct bus_ops acpi_pm_ops = {
    .read = acpi_pm_read,
    .write = acpi_pm_write,
};

struct acpi_pm *acpi_pm_create(struct vm *vm)
{
	struct acpi_pm *pm = calloc(1, sizeof *pm);
	if (!pm) {
		log_error("acpi: out of memory");
		return NULL;
	}
	pm->vm = vm;
	pthread_mutex_init(&pm->lock, NULL);
	for (int b = 0; b < BLOCK_COUNT; b++) {
		struct acpi_pm_port *port = &pm->ports[b];
		port->pm = pm;
		port->block = (enum acpi_pm_block)b;
		if (bus_register(vm->bus, BUS_PIO, acpi_pm_blocks[b].port, acpi_pm_blocks[b].len,
		                 &acpi_pm_ops, port, acpi_pm_blocks[b].name) < 0) {
			log_error("acpi: cannot claim ports %#x-%#x for %s", acpi_pm_blocks[b].port,
			          acpi_pm_blocks[b].port + acpi_pm_blocks[b].len - 1,
			          acpi_pm_blocks[b].name);
			acpi_pm_destroy(pm);
			return NULL;
		}
		port->registered = true;
	}
	return pm;
}

void acpi_pm_destroy(struct acpi_pm *pm)
{
	if (!pm)
		return;
	for (int b = 0; b < BLOCK_COUNT; b++)
		if (pm->ports[b].registered)
			bus_unregister(pm->vm->bus, BUS_PIO, acpi_pm_blocks[b].port);
	pthread_mutex_destroy(&pm->lock);
	free(pm);
}

void acpi_pm_power_button(struct acpi_pm *pm)
{
	pthread_mutex_lock(&pm->lock);
	pm->pm1_sts |= ACPI_PM1_PWRBTN_STS;
	acpi_pm_update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}
