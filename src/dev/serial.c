/* 16550A UART.
 *
 * The transmitter is infinitely fast: a byte written to THR goes to the console
 * at once, so THRE and TEMT always read 1; the "THR empty" interrupt is still
 * modelled as a latched event (thr_pending) because drivers depend on it: it
 * is set when the transmitter drains and when IER's THRI bit goes from 0 to 1
 * with the THR empty, and cleared by writing THR or by reading IIR while it is
 * the reported source (as on the real part).
 *
 * The receiver has the 16-byte FIFO (one byte holding register when FIFOs are
 * off) and pulls from the console only while it has room, so input waits in
 * the console (and behind it, in the host's tty or pipe) until the guest reads
 * it. Received data is reported at once: a level below the trigger level is
 * reported as a character timeout (IIR 0x0C), which real parts raise after
 * four character times.
 *
 * The interrupt output is level, gated as on a PC by MCR.OUT2, and forced off
 * in loopback mode (the part drives its OUT pins inactive then). */
#include "dev/serial.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "console.h"
#include "util/log.h"
#include "vm.h"

enum {
	REG_RBR_THR_DLL = 0,
	REG_IER_DLM = 1,
	REG_IIR_FCR = 2,
	REG_LCR = 3,
	REG_MCR = 4,
	REG_LSR = 5,
	REG_MSR = 6,
	REG_SCR = 7,
};

#define IER_RDI 0x01  /* received data available */
#define IER_THRI 0x02 /* transmitter holding register empty */
#define IER_RLSI 0x04 /* receiver line status */
#define IER_MSI 0x08  /* modem status */

#define IIR_NO_INT 0x01
#define IIR_MSI 0x00
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_RLSI 0x06
#define IIR_TIMEOUT 0x0C
#define IIR_FIFO_ENABLED 0xC0

#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define FCR_CLEAR_TX 0x04
#define FCR_DMA_MODE 0x08
#define FCR_TRIGGER_MASK 0xC0

#define LCR_DLAB 0x80

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_PE 0x04
#define LSR_FE 0x08
#define LSR_BI 0x10
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define LSR_ERRORS (LSR_OE | LSR_PE | LSR_FE | LSR_BI)

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80
#define MSR_DELTAS 0x0F

#define RX_FIFO_SIZE 16

struct serial {
	struct vm *vm;
	struct console *con;
	uint16_t port;
	unsigned gsi;

	pthread_mutex_t lock;
	uint8_t rx[RX_FIFO_SIZE];
	unsigned rx_head, rx_count;
	uint8_t rbr_last; /* what RBR reads when the FIFO is empty */
	uint8_t ier, lcr, mcr, fcr, scr, dll, dlm;
	uint8_t lsr_errors; /* OE/PE/FE/BI, cleared by reading LSR */
	uint8_t msr;
	bool thr_pending;
	int irq_level;
};

static unsigned rx_capacity(const struct serial *s)
{
	return (s->fcr & FCR_ENABLE) ? RX_FIFO_SIZE : 1;
}

static unsigned rx_trigger_level(const struct serial *s)
{
	static const unsigned levels[4] = {1, 4, 8, 14};
	return levels[s->fcr >> 6];
}

static void rx_push(struct serial *s, uint8_t byte)
{
	if (s->rx_count >= rx_capacity(s)) {
		s->lsr_errors |= LSR_OE; /* the shift register overwrote nothing kept */
		return;
	}
	s->rx[(s->rx_head + s->rx_count) % RX_FIFO_SIZE] = byte;
	s->rx_count++;
}

static void rx_clear(struct serial *s)
{
	s->rx_head = 0;
	s->rx_count = 0;
}

/* Takes console input while the FIFO has room; never in loopback, where the
 * receiver is connected to our own transmitter. Caller holds the lock. */
static void serial_pull_input(struct serial *s)
{
	if (!s->con || (s->mcr & MCR_LOOP))
		return;
	unsigned room = rx_capacity(s) - s->rx_count;
	if (room == 0)
		return;
	uint8_t buf[RX_FIFO_SIZE];
	size_t n = console_read(s->con, buf, room);
	for (size_t i = 0; i < n; i++)
		rx_push(s, buf[i]);
}

/* The modem inputs: a console is always "connected" (DCD, DSR, CTS); in
 * loopback they follow the MCR outputs. Changes latch the delta bits. */
static void serial_update_modem_inputs(struct serial *s)
{
	uint8_t in;
	if (s->mcr & MCR_LOOP) {
		in = ((s->mcr & MCR_RTS) ? MSR_CTS : 0) | ((s->mcr & MCR_DTR) ? MSR_DSR : 0) |
		     ((s->mcr & MCR_OUT1) ? MSR_RI : 0) | ((s->mcr & MCR_OUT2) ? MSR_DCD : 0);
	} else {
		in = MSR_DCD | MSR_DSR | MSR_CTS;
	}
	uint8_t changed = (uint8_t)((s->msr ^ in) & 0xF0);
	uint8_t deltas = s->msr & MSR_DELTAS;
	if (changed & MSR_CTS)
		deltas |= MSR_DCTS;
	if (changed & MSR_DSR)
		deltas |= MSR_DDSR;
	if ((changed & MSR_RI) && !(in & MSR_RI)) /* trailing edge only */
		deltas |= MSR_TERI;
	if (changed & MSR_DCD)
		deltas |= MSR_DDCD;
	s->msr = in | deltas;
}

/* The highest-priority pending interrupt, as IIR reports it. */
static uint8_t serial_iir(const struct serial *s)
{
	uint8_t fifo = (s->fcr & FCR_ENABLE) ? IIR_FIFO_ENABLED : 0;
	if ((s->ier & IER_RLSI) && (s->lsr_errors & LSR_ERRORS))
		return fifo | IIR_RLSI;
	if ((s->ier & IER_RDI) && s->rx_count) {
		if ((s->fcr & FCR_ENABLE) && s->rx_count < rx_trigger_level(s))
			return fifo | IIR_TIMEOUT;
		return fifo | IIR_RDI;
	}
	if ((s->ier & IER_THRI) && s->thr_pending)
		return fifo | IIR_THRI;
	if ((s->ier & IER_MSI) && (s->msr & MSR_DELTAS))
		return fifo | IIR_MSI;
	return fifo | IIR_NO_INT;
}

static void serial_update_irq(struct serial *s)
{
	int level = !(serial_iir(s) & IIR_NO_INT) && (s->mcr & MCR_OUT2) && !(s->mcr & MCR_LOOP);
	if (level != s->irq_level) {
		s->irq_level = level;
		vm_set_irq(s->vm, s->gsi, level);
	}
}

static void serial_transmit(struct serial *s, uint8_t byte)
{
	if (s->mcr & MCR_LOOP)
		rx_push(s, byte);
	else if (s->con)
		console_write(s->con, &byte, 1);
	/* The transmitter drained at once: THR is empty again. */
	s->thr_pending = true;
}

static uint8_t serial_read_reg(struct serial *s, unsigned reg)
{
	uint8_t v = 0;
	switch (reg) {
	case REG_RBR_THR_DLL:
		if (s->lcr & LCR_DLAB)
			return s->dll;
		if (s->rx_count) {
			s->rbr_last = s->rx[s->rx_head];
			s->rx_head = (s->rx_head + 1) % RX_FIFO_SIZE;
			s->rx_count--;
		}
		v = s->rbr_last;
		serial_pull_input(s);
		return v;
	case REG_IER_DLM: return (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
	case REG_IIR_FCR:
		v = serial_iir(s);
		if ((v & 0x0F) == IIR_THRI)
			s->thr_pending = false;
		return v;
	case REG_LCR: return s->lcr;
	case REG_MCR: return s->mcr;
	case REG_LSR:
		serial_pull_input(s);
		v = (s->rx_count ? LSR_DR : 0) | s->lsr_errors | LSR_THRE | LSR_TEMT;
		s->lsr_errors = 0;
		return v;
	case REG_MSR:
		v = s->msr;
		s->msr &= (uint8_t)~MSR_DELTAS;
		return v;
	case REG_SCR: return s->scr;
	}
	return 0xFF;
}

static void serial_write_reg(struct serial *s, unsigned reg, uint8_t v)
{
	switch (reg) {
	case REG_RBR_THR_DLL:
		if (s->lcr & LCR_DLAB)
			s->dll = v;
		else
			serial_transmit(s, v);
		break;
	case REG_IER_DLM:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
		} else {
			uint8_t old = s->ier;
			s->ier = v & 0x0F;
			/* Enabling THRI with the THR empty raises the interrupt:
			 * Linux's 8250 driver tests exactly that at startup. */
			if ((s->ier & IER_THRI) && !(old & IER_THRI))
				s->thr_pending = true;
		}
		break;
	case REG_IIR_FCR:
		if ((v ^ s->fcr) & FCR_ENABLE)
			rx_clear(s); /* switching FIFO mode empties both FIFOs */
		if (v & FCR_CLEAR_RX)
			rx_clear(s);
		s->fcr = (v & FCR_ENABLE)
		             ? (uint8_t)(v & (FCR_ENABLE | FCR_DMA_MODE | FCR_TRIGGER_MASK))
		             : 0;
		serial_pull_input(s);
		break;
	case REG_LCR: s->lcr = v; break;
	case REG_MCR:
		s->mcr = v & 0x1F;
		serial_update_modem_inputs(s);
		serial_pull_input(s);
		break;
	case REG_LSR: /* factory test register on real parts: ignored */
	case REG_MSR: break;
	case REG_SCR: s->scr = v; break;
	}
}

/* An ISA device sees a wider access as consecutive byte accesses. */
static uint64_t serial_read(void *opaque, uint64_t offset, unsigned size)
{
	struct serial *s = opaque;
	uint64_t value = 0;
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < size && i < 8; i++) {
		uint64_t reg = offset + i;
		uint8_t b = reg < SERIAL_PORT_LEN ? serial_read_reg(s, (unsigned)reg) : 0xFF;
		value |= (uint64_t)b << (8 * i);
	}
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return value;
}

static void serial_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	struct serial *s = opaque;
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < size && i < 8; i++) {
		uint64_t reg = offset + i;
		if (reg < SERIAL_PORT_LEN)
			serial_write_reg(s, (unsigned)reg, (uint8_t)(value >> (8 * i)));
	}
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static const struct bus_ops serial_ops = {
    .read = serial_read,
    .write = serial_write,
};

/* The console has new input: take what fits so a guest waiting for it gets
 * its interrupt now rather than at its next register access. */
static void serial_console_input(void *opaque)
{
	struct serial *s = opaque;
	pthread_mutex_lock(&s->lock);
	serial_pull_input(s);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

struct serial *serial_create(struct vm *vm, uint16_t port, unsigned gsi, struct console *con)
{
	struct serial *s = calloc(1, sizeof *s);
	if (!s) {
		log_error("serial: out of memory");
		return NULL;
	}
	s->vm = vm;
	s->con = con;
	s->port = port;
	s->gsi = gsi;
	pthread_mutex_init(&s->lock, NULL);
	s->dll = 12; /* 9600 baud, what a BIOS would leave behind */
	s->lcr = 0x03;
	s->msr = MSR_DCD | MSR_DSR | MSR_CTS;
	if (bus_register(vm->bus, BUS_PIO, port, SERIAL_PORT_LEN, &serial_ops, s, "serial") < 0) {
		log_error("serial: cannot claim ports %#x-%#x", port, port + SERIAL_PORT_LEN - 1);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return NULL;
	}
	if (con)
		console_set_input_handler(con, serial_console_input, s);
	return s;
}

void serial_destroy(struct serial *s)
{
	if (!s)
		return;
	if (s->con)
		console_set_input_handler(s->con, NULL, NULL);
	bus_unregister(s->vm->bus, BUS_PIO, s->port);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
