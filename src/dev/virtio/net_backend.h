/* What carries a virtio-net device's frames to and from a network: libslirp
 * (net_slirp.c, `--net user`) or a TAP interface (net_tap.c, `--net tap=`).
 *
 * A backend has its own thread for what comes from the network (poll() on
 * its descriptors and timers) and hands each frame to
 * virtio_net_receive(). What the guest sends arrives through send() on the
 * device's I/O thread. Neither path may block: a frame the backend cannot
 * take now is dropped (and counted), as a real NIC would. */
#ifndef RINGFOLD_DEV_VIRTIO_NET_BACKEND_H
#define RINGFOLD_DEV_VIRTIO_NET_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

#include "dev/virtio/virtio_net.h"

struct net_backend;

struct net_backend_ops {
	const char *name;
	/* Starts the backend's thread; frames may flow from then on. 0 or -1
	 * after logging. */
	int (*start)(struct net_backend *be);
	/* A frame from the guest: len bytes in iov[0..n). On the device's I/O
	 * thread, with the device lock held: must not block, must not wait
	 * for the receive queue. The buffers are guest memory the guest may
	 * change meanwhile: a backend that parses the frame copies it first.
	 * false when it was dropped. */
	bool (*send)(struct net_backend *be, const struct iovec *iov, unsigned n, size_t len);
	/* The receive queue has room again after virtio_net_rx_has_room()
	 * said no: resume reading. Any thread; must not block. */
	void (*rx_room)(struct net_backend *be);
	/* Stops the thread and frees everything (also when never started). */
	void (*destroy)(struct net_backend *be);
};

struct net_backend {
	const struct net_backend_ops *ops;
	struct virtio_net *net; /* set by the device before start() */
};

/* NULL after logging. */
struct net_backend *net_slirp_create(const struct virtio_net_options *opt);
struct net_backend *net_tap_create(const struct virtio_net_options *opt);

#endif
