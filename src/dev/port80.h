/* Port 0x80: the POST-code port. Firmware writes progress codes to it and
 * Linux writes to it for short I/O delays; reads return the last value. */
#ifndef RINGFOLD_DEV_PORT80_H
#define RINGFOLD_DEV_PORT80_H

#include <stdint.h>

struct vm;
struct port80;

#define PORT80_PORT 0x80

/* NULL after logging on failure. */
struct port80 *port80_create(struct vm *vm);
void port80_destroy(struct port80 *dev);
/* The last code written (for tests and diagnostics). */
uint8_t port80_last(struct port80 *dev);

#endif
