/* virtio-rng (virtio 1.2, 5.4): one request queue whose device-writable
 * buffers come back full of bytes from the host's getrandom(). No features,
 * no configuration. At most VIRTIO_RNG_MAX_FILL bytes per buffer chain (the
 * driver learns how many from the used length), so a hostile driver's huge
 * buffer costs no more than a small one. */
#ifndef RINGFOLD_DEV_VIRTIO_VIRTIO_RNG_H
#define RINGFOLD_DEV_VIRTIO_VIRTIO_RNG_H

struct vm;
struct virtio_rng;

#define VIRTIO_RNG_MAX_FILL 65536

/* Puts the device on the machine's PCI bus; NULL after logging. */
struct virtio_rng *virtio_rng_create(struct vm *vm);
void virtio_rng_destroy(struct virtio_rng *rng);

#endif
