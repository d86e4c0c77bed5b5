/* QEMU-compatible isa-debug-exit: a write of v to the port ends the machine
 * with VM_EXIT_DEBUG and code v (the process exits with (v << 1) | 1), so test
 * kernels can report their result without an ACPI stack. */
#ifndef RINGFOLD_DEV_DEBUGEXIT_H
#define RINGFOLD_DEV_DEBUGEXIT_H

#include <stdint.h>

struct vm;
struct debugexit;

#define DEBUGEXIT_PORT 0xF4
#define DEBUGEXIT_PORT_LEN 4

/* Registers ports [port, port + 4); NULL after logging on failure. */
struct debugexit *debugexit_create(struct vm *vm, uint16_t port);
void debugexit_destroy(struct debugexit *dev);

#endif
