/* The virtio 1.x PCI transport ("modern" only; virtio 1.2, 4.1) and the
 * device-independent half of every virtio device: feature negotiation, the
 * device status machine, queue setup, notifications in both directions.
 *
 * What the guest sees, for a device with virtio ID n:
 *   vendor 1AF4, device 1040 + n, revision 1, subsystem 1AF4:1100, INTA
 *   BAR1  32-bit memory, 4 KiB: MSI-X table (offset 0) and PBA (0x800)
 *   BAR4  64-bit memory, 16 KiB: the virtio structures
 *           0x0000 common configuration   0x1000 ISR status
 *           0x2000 device configuration   0x3000 notifications, 4 bytes per
 *                                                 queue (queue_notify_off = q)
 *   capabilities: virtio common, ISR, device (if it has a configuration),
 *   notify, PCI configuration access, MSI-X (one vector per queue plus one
 *   for configuration changes)
 *
 * Threads: vCPU threads reach the registers through the bus (and the PCI
 * configuration hooks); everything a queue does runs on the device's I/O
 * thread (ioloop.h). A queue notification is an eventfd: the notify
 * register's handler writes it, or, on the kvm engine, KVM does (ioeventfd),
 * so a kick costs no exit into the VMM. Interrupts go out as MSI-X messages
 * (through an irqfd where the engine has them, else vm_signal_msi) or, with
 * MSI-X disabled, as the INTx level the ISR register implies. One mutex,
 * vdev->lock, guards all of it; the PCI configuration lock is only ever
 * taken before it, never inside it.
 *
 * A driver that breaks the rules (bad rings, chains, a notification for a
 * queue it never enabled, DRIVER_OK without FEATURES_OK, ...) gets a logged
 * error (a few per ten seconds at most) and DEVICE_NEEDS_RESET, with a
 * configuration-change interrupt; the device then does nothing until reset.
 * A reset while requests are in flight completes (device_status reads 0)
 * only once they have finished; their results are dropped. */
#ifndef RINGFOLD_DEV_VIRTIO_VIRTIO_PCI_H
#define RINGFOLD_DEV_VIRTIO_VIRTIO_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dev/pci.h"
#include "dev/virtio/ioloop.h"
#include "dev/virtio/virtio.h"
#include "dev/virtio/virtqueue.h"

struct vm;
struct virtio_dev;

#define VIRTIO_PCI_VENDOR 0x1AF4
#define VIRTIO_PCI_DEVICE_BASE 0x1040
#define VIRTIO_PCI_SUBSYSTEM 0x1100
#define VIRTIO_PCI_REVISION 1

#define VIRTIO_PCI_MSIX_BAR 1
#define VIRTIO_PCI_MSIX_BAR_SIZE 0x1000
#define VIRTIO_PCI_MSIX_TABLE 0x000
#define VIRTIO_PCI_MSIX_PBA 0x800
#define VIRTIO_PCI_BAR 4
#define VIRTIO_PCI_BAR_SIZE 0x4000
#define VIRTIO_PCI_COMMON 0x0000
#define VIRTIO_PCI_ISR 0x1000
#define VIRTIO_PCI_DEVICE 0x2000
#define VIRTIO_PCI_NOTIFY 0x3000
#define VIRTIO_PCI_NOTIFY_MULTIPLIER 4
#define VIRTIO_PCI_COMMON_LEN 0x38

/* Virtio PCI capability types (cfg_type). */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG 3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG 5

/* Common configuration registers (struct virtio_pci_common_cfg). */
#define VIRTIO_PCI_DEVICE_FEATURE_SELECT 0x00
#define VIRTIO_PCI_DEVICE_FEATURE 0x04
#define VIRTIO_PCI_DRIVER_FEATURE_SELECT 0x08
#define VIRTIO_PCI_DRIVER_FEATURE 0x0C
#define VIRTIO_PCI_CONFIG_MSIX_VECTOR 0x10
#define VIRTIO_PCI_NUM_QUEUES 0x12
#define VIRTIO_PCI_DEVICE_STATUS 0x14
#define VIRTIO_PCI_CONFIG_GENERATION 0x15
#define VIRTIO_PCI_QUEUE_SELECT 0x16
#define VIRTIO_PCI_QUEUE_SIZE 0x18
#define VIRTIO_PCI_QUEUE_MSIX_VECTOR 0x1A
#define VIRTIO_PCI_QUEUE_ENABLE 0x1C
#define VIRTIO_PCI_QUEUE_NOTIFY_OFF 0x1E
#define VIRTIO_PCI_QUEUE_DESC 0x20
#define VIRTIO_PCI_QUEUE_DRIVER 0x28
#define VIRTIO_PCI_QUEUE_DEVICE 0x30

#define VIRTIO_ISR_QUEUE 0x1
#define VIRTIO_ISR_CONFIG 0x2

#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_MSIX 0x11
#define PCI_MSIX_ENABLE 0x8000
#define PCI_MSIX_MASKALL 0x4000
#define PCI_MSIX_ENTRY_MASKED 0x1
#define PCI_STATUS_INTERRUPT 0x0008

#define VIRTIO_CONFIG_MAX 256

/* What a device model provides. Every hook runs with vdev->lock held. */
struct virtio_dev_ops {
	/* Queue q was notified, or may hold work (DRIVER_OK, bus mastering
	 * enabled). On the I/O thread; only while the device runs. */
	void (*queue_notify)(struct virtio_dev *vdev, unsigned q);
	/* The driver reset the device: forget requests in progress (their
	 * completions must not reach the rings: virtio_request_end() says so).
	 * Any thread. Optional. */
	void (*reset)(struct virtio_dev *vdev);
	/* The driver wrote the device configuration. Optional (else ignored). */
	void (*config_write)(struct virtio_dev *vdev, unsigned offset, unsigned size,
	                     uint64_t value);
};

struct virtio_dev_info {
	const char *name; /* for logs and the PCI device: "virtio-blk" */
	uint16_t device_id;
	uint32_t pci_class;
	uint64_t features; /* offered; VERSION_1 is always added */
	unsigned nqueues;  /* 1..VIRTIO_MAX_QUEUES */
	uint16_t queue_size;
	size_t config_len; /* bytes of vdev->config the driver sees */
	const struct virtio_dev_ops *ops;
	void *opaque;
};

struct virtio_msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;
	/* The engine's irqfd for this vector, made on first use. */
	int irqfd;
	int route;        /* -1: none yet (or the engine has none) */
	bool route_dirty; /* address or data changed since the route was set */
};

struct virtio_queue {
	struct virtio_dev *vdev;
	unsigned index;
	struct virtq vq;
	uint16_t msix_vector;
	bool enabled;      /* queue_enable, with the rings checked */
	bool kick_pending; /* notified while the device could not run */
	int kick_fd;       /* eventfd the notify register (or KVM) signals */
	bool ioeventfd;    /* registered with the engine at notify_gpa + 4 q */
};

struct virtio_dev {
	struct vm *vm;
	struct virtio_dev_info info;
	pthread_mutex_t lock;
	struct pci_device pci;
	struct ioloop *loop;

	/* Device configuration space (device-specific layout). */
	uint8_t config[VIRTIO_CONFIG_MAX];
	uint8_t config_generation;

	/* Common configuration. */
	uint64_t host_features, guest_features;
	uint32_t device_feature_select, driver_feature_select;
	uint8_t status;
	uint16_t queue_select;
	uint16_t config_vector;
	unsigned nqueues;
	struct virtio_queue queues[VIRTIO_MAX_QUEUES];
	uint8_t isr;

	/* Reset while requests are in flight (see virtio_request_begin). */
	uint64_t generation;
	unsigned inflight;
	bool reset_pending;
	uint8_t status_before_reset;

	/* PCI state mirrored from configuration space (by the config hooks). */
	bool bus_master, intx_disabled, msix_enabled, msix_masked;
	bool intx_level;
	unsigned msix_cap, cfg_cap;
	unsigned msix_entries;
	struct virtio_msix_entry msix[VIRTIO_MAX_QUEUES + 1];
	uint64_t msix_pba[2];
	bool notify_mapped;
	uint64_t notify_gpa;

	/* Rate limit of the error log. */
	uint64_t log_window_start;
	unsigned log_count, log_suppressed;
};

/* Builds the PCI device and puts it on the machine's PCI bus, with its I/O
 * thread created but not started (so the device may add ioloop watches).
 * NULL after logging on failure. */
struct virtio_dev *virtio_dev_create(struct vm *vm, const struct virtio_dev_info *info);
int virtio_dev_start(struct virtio_dev *vdev);
/* Stops the I/O thread (after in-flight I/O), takes the device off the bus. */
void virtio_dev_destroy(struct virtio_dev *vdev);

/* For device models (vdev->lock held). */

/* The queue's chains may be taken and returned: the device runs, the queue
 * is enabled and not broken. */
bool virtio_queue_ready(struct virtio_dev *vdev, unsigned q);
/* After virtq_push()es: interrupt the driver if the queue asks for it. */
void virtio_queue_interrupt(struct virtio_dev *vdev, unsigned q);
/* The driver broke a rule: log (rate-limited), DEVICE_NEEDS_RESET, and a
 * configuration-change interrupt once the driver is running. */
void virtio_dev_fail(struct virtio_dev *vdev, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A rate-limited log line about this device (no state change). */
void virtio_dev_log(struct virtio_dev *vdev, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The device configuration changed: bump the generation and interrupt. */
void virtio_config_changed(struct virtio_dev *vdev);
/* Ask for queue q to be looked at again on the I/O thread (any thread;
 * takes no lock). */
void virtio_queue_kick(struct virtio_dev *vdev, unsigned q);

/* Requests a device keeps beyond the lock (asynchronous I/O): begin returns
 * the device generation to hand to end, which says whether the request may
 * still complete into the rings (false: a reset came in between, so drop
 * it). A reset completes once no request is in flight. */
uint64_t virtio_request_begin(struct virtio_dev *vdev);
bool virtio_request_end(struct virtio_dev *vdev, uint64_t generation);

/* The BAR4 and MSI-X BAR registers, by offset (for tests, and for the PCI
 * configuration-access capability). */
uint64_t virtio_pci_bar_read(struct virtio_dev *vdev, uint64_t offset, unsigned size);
void virtio_pci_bar_write(struct virtio_dev *vdev, uint64_t offset, unsigned size, uint64_t value);

#endif
