/* The host side of the guest's console: where the UART's output goes and where
 * its input comes from.
 *
 *   "stdio" (default)  output to stdout; input from stdin on its own thread.
 *                      When stdin is a terminal it is put in raw mode (restored
 *                      on every exit path, signals included) and Ctrl-A is an
 *                      escape as in QEMU -nographic: C-a x quits, C-a h prints
 *                      help, C-a C-a sends a literal Ctrl-A.
 *   any other string   a file path: output is appended to it; no input.
 *
 * Input flows with back-pressure: the console buffers a bounded amount and
 * stops reading stdin while that buffer is full, so nothing the guest has not
 * read is ever dropped and nothing grows without bound. The consumer (the
 * UART) pulls bytes with console_read() when it has room and is told through
 * its input handler that bytes arrived. */
#ifndef RINGFOLD_CONSOLE_H
#define RINGFOLD_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct console;

/* spec is "stdio", NULL (same as "stdio") or a file path. The vm is only used
 * for C-a x (vm_request_exit(vm, VM_EXIT_POWEROFF, 0)) and may be NULL.
 * Starts the input thread (stdio). NULL after logging on failure. */
struct console *console_create(struct vm *vm, const char *spec);
/* Stops the input thread, restores the terminal, closes the file. */
void console_destroy(struct console *con);

/* Writes guest output. Never blocks forever: if the output cannot take data
 * for a few seconds (a pipe nobody reads), data is dropped with one warning. */
void console_write(struct console *con, const void *buf, size_t len);

/* Takes up to len pending input bytes without blocking; returns the count. */
size_t console_read(struct console *con, uint8_t *buf, size_t len);
/* Whether console_read() would return at least one byte. */
bool console_input_pending(struct console *con);

/* Called from the input thread (with no console lock held) whenever new input
 * is ready to be pulled. Setting NULL waits for a running call to finish, so
 * the consumer may be freed afterwards. */
typedef void (*console_input_fn)(void *opaque);
void console_set_input_handler(struct console *con, console_input_fn fn, void *opaque);

/* Feeds bytes as if typed (after escape processing): for tests and for
 * consoles without a host input. Returns how many fitted in the buffer. */
size_t console_inject(struct console *con, const void *buf, size_t len);

/* Restores the terminal now (idempotent, async-signal-safe). */
void console_restore_terminal(void);

#endif
