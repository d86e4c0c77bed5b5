/* 8042 keyboard controller without devices behind it.
 *
 * What a driver sees: the controller answers its own commands (command byte,
 * self-tests, output port, the keyboard/aux loop-back commands Linux uses to
 * find the aux port and test its IRQ); bytes sent to the keyboard or the mouse
 * are answered with 0xFE (resend), which PS/2 drivers read as "no device"
 * and give up at once instead of waiting for timeouts.
 *
 * The output buffer is a short queue so a command's reply never overwrites an
 * unread one; its head sets OBF/AUXOBF and drives IRQ 1 or 12 (enabled by the
 * command byte), which follow OBF as on the real part. */
#include "dev/i8042.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "util/log.h"
#include "vm.h"

#define STATUS_OBF 0x01
#define STATUS_SYS 0x04
#define STATUS_CMD 0x08 /* last write was to the command port */
#define STATUS_UNLOCKED 0x10
#define STATUS_AUX_OBF 0x20

#define CTR_KBD_INT 0x01
#define CTR_AUX_INT 0x02
#define CTR_SYS 0x04
#define CTR_KBD_DISABLE 0x10
#define CTR_AUX_DISABLE 0x20
#define CTR_XLATE 0x40

#define OUTPORT_RESET_N 0x01 /* 0 holds the CPU in reset */
#define OUTPORT_A20 0x02

#define CMD_READ_CTR 0x20
#define CMD_WRITE_CTR 0x60
#define CMD_AUX_DISABLE 0xA7
#define CMD_AUX_ENABLE 0xA8
#define CMD_AUX_TEST 0xA9
#define CMD_SELF_TEST 0xAA
#define CMD_KBD_TEST 0xAB
#define CMD_KBD_DISABLE 0xAD
#define CMD_KBD_ENABLE 0xAE
#define CMD_READ_INPUT 0xC0
#define CMD_READ_OUTPORT 0xD0
#define CMD_WRITE_OUTPORT 0xD1
#define CMD_KBD_LOOP 0xD2
#define CMD_AUX_LOOP 0xD3
#define CMD_AUX_SEND 0xD4
#define CMD_A20_DISABLE 0xDD
#define CMD_A20_ENABLE 0xDF
#define CMD_PULSE_BASE 0xF0

#define PS2_NAK 0xFE
#define QUEUE_SIZE 16

struct i8042_byte {
	uint8_t value;
	bool aux;
};

struct i8042 {
	struct vm *vm;
	pthread_mutex_t lock;
	struct i8042_byte queue[QUEUE_SIZE];
	unsigned head, count;
	uint8_t last_data; /* what 0x60 reads with nothing queued */
	uint8_t ctr;
	uint8_t outport;
	uint8_t pending_cmd; /* command waiting for its data byte, or 0 */
	bool last_was_cmd;
	int irq_kbd, irq_aux;
};

static void i8042_queue(struct i8042 *k, uint8_t value, bool aux)
{
	if (k->count == QUEUE_SIZE)
		return; /* a guest that never reads loses the newest replies */
	k->queue[(k->head + k->count) % QUEUE_SIZE] = (struct i8042_byte){value, aux};
	k->count++;
}

static void i8042_update_irq(struct i8042 *k)
{
	bool aux = k->count && k->queue[k->head].aux;
	int kbd_level = k->count && !aux && (k->ctr & CTR_KBD_INT);
	int aux_level = aux && (k->ctr & CTR_AUX_INT);
	if (kbd_level != k->irq_kbd) {
		k->irq_kbd = kbd_level;
		vm_set_irq(k->vm, I8042_KBD_GSI, kbd_level);
	}
	if (aux_level != k->irq_aux) {
		k->irq_aux = aux_level;
		vm_set_irq(k->vm, I8042_AUX_GSI, aux_level);
	}
}

static uint8_t i8042_status(const struct i8042 *k)
{
	uint8_t st = STATUS_UNLOCKED;
	if (k->count) {
		st |= STATUS_OBF;
		if (k->queue[k->head].aux)
			st |= STATUS_AUX_OBF;
	}
	if (k->ctr & CTR_SYS)
		st |= STATUS_SYS;
	if (k->last_was_cmd)
		st |= STATUS_CMD;
	return st;
}

static uint8_t i8042_read_data(struct i8042 *k)
{
	if (k->count) {
		k->last_data = k->queue[k->head].value;
		k->head = (k->head + 1) % QUEUE_SIZE;
		k->count--;
	}
	return k->last_data;
}

static void i8042_request_reset(struct i8042 *k)
{
	vm_request_exit(k->vm, VM_EXIT_RESET, 0);
}

static void i8042_write_data(struct i8042 *k, uint8_t v)
{
	uint8_t cmd = k->pending_cmd;
	k->pending_cmd = 0;
	k->last_was_cmd = false;
	switch (cmd) {
	case CMD_WRITE_CTR: k->ctr = v; break;
	case CMD_WRITE_OUTPORT:
		k->outport = v;
		if (!(v & OUTPORT_RESET_N))
			i8042_request_reset(k);
		break;
	case CMD_KBD_LOOP: i8042_queue(k, v, false); break;
	case CMD_AUX_LOOP: i8042_queue(k, v, true); break;
	case CMD_AUX_SEND:
		/* Writing to the aux device enables its interface. */
		k->ctr &= (uint8_t)~CTR_AUX_DISABLE;
		i8042_queue(k, PS2_NAK, true);
		break;
	default:
		/* A byte for the keyboard: no keyboard. */
		k->ctr &= (uint8_t)~CTR_KBD_DISABLE;
		i8042_queue(k, PS2_NAK, false);
		break;
	}
}

static void i8042_write_cmd(struct i8042 *k, uint8_t cmd)
{
	k->pending_cmd = 0;
	k->last_was_cmd = true;
	if (cmd >= CMD_PULSE_BASE) {
		/* Low nibble: lines to pulse low; bit 0 is the CPU reset. */
		if (!(cmd & 0x01))
			i8042_request_reset(k);
		return;
	}
	switch (cmd) {
	case CMD_READ_CTR: i8042_queue(k, k->ctr, false); break;
	case CMD_WRITE_CTR:
	case CMD_WRITE_OUTPORT:
	case CMD_KBD_LOOP:
	case CMD_AUX_LOOP:
	case CMD_AUX_SEND: k->pending_cmd = cmd; break;
	case CMD_AUX_DISABLE: k->ctr |= CTR_AUX_DISABLE; break;
	case CMD_AUX_ENABLE: k->ctr &= (uint8_t)~CTR_AUX_DISABLE; break;
	case CMD_AUX_TEST:
	case CMD_KBD_TEST:
		i8042_queue(k, 0x00, false); /* interface OK */
		break;
	case CMD_SELF_TEST: i8042_queue(k, 0x55, false); break;
	case CMD_KBD_DISABLE: k->ctr |= CTR_KBD_DISABLE; break;
	case CMD_KBD_ENABLE: k->ctr &= (uint8_t)~CTR_KBD_DISABLE; break;
	case CMD_READ_INPUT:
		i8042_queue(k, 0x80, false); /* keyboard not inhibited */
		break;
	case CMD_READ_OUTPORT: i8042_queue(k, k->outport, false); break;
	case CMD_A20_DISABLE: k->outport &= (uint8_t)~OUTPORT_A20; break;
	case CMD_A20_ENABLE: k->outport |= OUTPORT_A20; break;
	default:
		if (cmd > CMD_READ_CTR && cmd < CMD_WRITE_CTR)
			i8042_queue(k, 0x00, false); /* internal RAM reads */
		else if (cmd > CMD_WRITE_CTR && cmd < 0x80)
			k->pending_cmd = cmd; /* internal RAM write: byte discarded */
		break;
	}
}

static uint64_t i8042_read_port(struct i8042 *k, bool cmd_port, unsigned size)
{
	pthread_mutex_lock(&k->lock);
	uint8_t v = cmd_port ? i8042_status(k) : i8042_read_data(k);
	i8042_update_irq(k);
	pthread_mutex_unlock(&k->lock);
	/* Wider accesses reach the next ports, which are not ours. */
	return size > 1 ? (~0ULL << 8) | v : v;
}

static void i8042_write_port(struct i8042 *k, bool cmd_port, uint64_t value)
{
	pthread_mutex_lock(&k->lock);
	if (cmd_port)
		i8042_write_cmd(k, (uint8_t)value);
	else
		i8042_write_data(k, (uint8_t)value);
	i8042_update_irq(k);
	pthread_mutex_unlock(&k->lock);
}

static uint64_t i8042_data_read(void *opaque, uint64_t offset, unsigned size)
{
	return i8042_read_port(opaque, false, size);
}

static void i8042_data_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	i8042_write_port(opaque, false, value);
}

static uint64_t i8042_cmd_read(void *opaque, uint64_t offset, unsigned size)
{
	return i8042_read_port(opaque, true, size);
}

static void i8042_cmd_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	i8042_write_port(opaque, true, value);
}

static const struct bus_ops i8042_data_ops = {.read = i8042_data_read, .write = i8042_data_write};
static const struct bus_ops i8042_cmd_ops = {.read = i8042_cmd_read, .write = i8042_cmd_write};

struct i8042 *i8042_create(struct vm *vm)
{
	struct i8042 *k = calloc(1, sizeof *k);
	if (!k) {
		log_error("i8042: out of memory");
		return NULL;
	}
	k->vm = vm;
	pthread_mutex_init(&k->lock, NULL);
	/* What firmware leaves: keyboard interrupt on, POST passed, scancode
	 * translation; the CPU running with A20 enabled. */
	k->ctr = CTR_KBD_INT | CTR_SYS | CTR_XLATE;
	k->outport = OUTPORT_RESET_N | OUTPORT_A20;
	if (bus_register(vm->bus, BUS_PIO, I8042_DATA_PORT, 1, &i8042_data_ops, k, "i8042 data") <
	    0)
		goto fail;
	if (bus_register(vm->bus, BUS_PIO, I8042_CMD_PORT, 1, &i8042_cmd_ops, k, "i8042 command") <
	    0) {
		bus_unregister(vm->bus, BUS_PIO, I8042_DATA_PORT);
		goto fail;
	}
	return k;
fail:
	log_error("i8042: cannot claim ports %#x and %#x", I8042_DATA_PORT, I8042_CMD_PORT);
	pthread_mutex_destroy(&k->lock);
	free(k);
	return NULL;
}

void i8042_destroy(struct i8042 *k)
{
	if (!k)
		return;
	bus_unregister(k->vm->bus, BUS_PIO, I8042_DATA_PORT);
	bus_unregister(k->vm->bus, BUS_PIO, I8042_CMD_PORT);
	pthread_mutex_destroy(&k->lock);
	free(k);
}
