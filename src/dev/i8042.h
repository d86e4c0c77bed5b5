/* The PC's 8042 keyboard controller (ports 0x60 data, 0x64 status/command),
 * with no keyboard or mouse attached. It exists because guests probe it and
 * because it is how a PC resets itself (command 0xFE, or 0xD1 with bit 0
 * clear): both end the machine with VM_EXIT_RESET. */
#ifndef RINGFOLD_DEV_I8042_H
#define RINGFOLD_DEV_I8042_H

struct vm;
struct i8042;

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64
#define I8042_KBD_GSI 1
#define I8042_AUX_GSI 12

/* Registers ports 0x60 and 0x64; NULL after logging on failure. */
struct i8042 *i8042_create(struct vm *vm);
void i8042_destroy(struct i8042 *dev);

#endif
