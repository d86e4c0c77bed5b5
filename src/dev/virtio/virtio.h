/* Virtio 1.x constants shared by the transport (virtio_pci.c), the queues
 * (virtqueue.c) and the devices (virtio_blk.c, virtio_rng.c,
 * virtio_console.c). Numbers are the virtio 1.2 specification's; only what
 * ringfold implements is here. The host is x86-64, little-endian like the
 * virtio 1.x wire format, so structures are read in place. */
#ifndef RINGFOLD_DEV_VIRTIO_VIRTIO_H
#define RINGFOLD_DEV_VIRTIO_VIRTIO_H

#include <stdint.h>

/* Device status bits (2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER 0x02
#define VIRTIO_STATUS_DRIVER_OK 0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

/* Device-independent feature bits (6). */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_RING_PACKED 34

#define VIRTIO_BIT(n) (1ULL << (n))

/* Device IDs (5). The modern PCI device ID is 0x1040 + this. */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4

/* "No MSI-X vector" in config_msix_vector and queue_msix_vector. */
#define VIRTIO_MSI_NO_VECTOR 0xFFFF

/* The most queues a device of ours has (a multi-queue net device fits). */
#define VIRTIO_MAX_QUEUES 64
/* The largest queue a device offers, and the spec's limit for split rings. */
#define VIRTIO_QUEUE_MAX_SIZE 32768

#endif
