/* A 16550A UART as found on every PC (COM1 at 0x3F8, IRQ 4), connected to a
 * host console (src/console.h) for its transmitter and receiver. */
#ifndef RINGFOLD_DEV_SERIAL_H
#define RINGFOLD_DEV_SERIAL_H

#include <stdint.h>

struct vm;
struct console;
struct serial;

#define SERIAL_COM1_PORT 0x3F8
#define SERIAL_COM1_GSI 4
#define SERIAL_PORT_LEN 8

/* Registers ports [port, port + 8) and raises/lowers `gsi`. con may be NULL
 * (output discarded, no input); the UART does not own it, but it registers
 * itself as con's input handler until serial_destroy(). NULL after logging on
 * failure. */
struct serial *serial_create(struct vm *vm, uint16_t port, unsigned gsi, struct console *con);
void serial_destroy(struct serial *s);

#endif
