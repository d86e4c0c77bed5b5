/* virtio-console (virtio 1.2, 5.3) with one port, no multiport: Linux's
 * hvc0. Queue 0 (receiveq) carries what is typed on the host console to the
 * guest, queue 1 (transmitq) the guest's output to it. The emergency write
 * register (VIRTIO_CONSOLE_F_EMERG_WRITE) prints one character without any
 * queue, for early and panic output.
 *
 * It shares the host console (console.h) with COM1: output from both
 * appears there, and the console's input goes to this device instead of the
 * UART once it exists (`ringfold run --virtio-console`; Linux:
 * console=hvc0). Input is taken only when the guest has posted receive
 * buffers, so nothing typed is lost while the guest is not reading. */
#ifndef RINGFOLD_DEV_VIRTIO_VIRTIO_CONSOLE_H
#define RINGFOLD_DEV_VIRTIO_VIRTIO_CONSOLE_H

struct vm;
struct console;
struct virtio_console;

/* Config space: cols, rows (le16 each), max_nr_ports, emerg_wr (le32). */
#define VIRTIO_CONSOLE_F_SIZE 0
#define VIRTIO_CONSOLE_F_MULTIPORT 1
#define VIRTIO_CONSOLE_F_EMERG_WRITE 2
#define VIRTIO_CONSOLE_CFG_EMERG_WR 8
#define VIRTIO_CONSOLE_CFG_LEN 12

/* NULL after logging. con may be NULL (output dropped, no input). */
struct virtio_console *virtio_console_create(struct vm *vm, struct console *con);
void virtio_console_destroy(struct virtio_console *vc);

#endif
