/* `--net tap=NAME`: frames to and from a host TAP interface.
 *
 * The interface is opened with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR: each
 * frame crosses with a 12-byte virtio_net_hdr_v1 in front (TUNSETVNETHDRSZ),
 * which stays all zeroes since no offload is enabled (TUNSETOFFLOAD 0: the
 * kernel then hands us only complete frames with their checksums). An
 * existing persistent interface is attached to; otherwise the kernel
 * creates one that lives as long as ringfold and starts down. Either needs
 * CAP_NET_ADMIN, unless the persistent interface belongs to this user
 * (`ip tuntap add NAME mode tap user $USER`).
 *
 * Transmit: writev() on the device's I/O thread straight from guest memory
 * (the descriptor is non-blocking: a full TAP queue drops the frame).
 * Receive: this backend's thread reads frames while the device's receive
 * backlog has room, and otherwise only waits for rx_room(); the kernel's
 * TAP queue holds (and eventually drops) what comes meanwhile. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "dev/virtio/net_backend.h"
#include "util/log.h"

struct net_tap {
	struct net_backend be;
	char name[VIRTIO_NET_IFNAME_MAX];
	int fd;
	int wake_fd;
	pthread_t thread;
	bool started;
	atomic_bool stop;
	uint8_t rx[VIRTIO_NET_HDR_LEN + VIRTIO_NET_MAX_FRAME];
	uint8_t tx[VIRTIO_NET_HDR_LEN + VIRTIO_NET_MAX_FRAME]; /* when writev cannot */
	struct iovec txiov[IOV_MAX];
	uint64_t tx_dropped;
};

static void *tap_thread(void *arg)
{
	struct net_tap *t = arg;
	while (!atomic_load(&t->stop)) {
		bool room = virtio_net_rx_has_room(t->be.net);
		struct pollfd p[2] = {{.fd = t->wake_fd, .events = POLLIN},
		                      {.fd = t->fd, .events = room ? POLLIN : 0}};
		if (poll(p, 2, -1) < 0) {
			if (errno != EINTR) {
				log_error("--net tap=%s: poll: %s", t->name, strerror(errno));
				usleep(10000);
			}
			continue;
		}
		if (p[0].revents & POLLIN) {
			eventfd_t v;
			eventfd_read(t->wake_fd, &v);
		}
		if (p[1].revents & (POLLERR | POLLHUP | POLLNVAL)) {
			log_error("--net tap=%s: the interface went away", t->name);
			break;
		}
		/* A batch, as long as there is room; then poll again. */
		for (int i = 0; room && i < 64; i++) {
			ssize_t n = read(t->fd, t->rx, sizeof t->rx);
			if (n < 0) {
				if (errno != EAGAIN && errno != EINTR)
					log_warn("--net tap=%s: read: %s", t->name,
					         strerror(errno));
				break;
			}
			if ((size_t)n > VIRTIO_NET_HDR_LEN)
				virtio_net_receive(t->be.net, t->rx + VIRTIO_NET_HDR_LEN,
				                   (size_t)n - VIRTIO_NET_HDR_LEN);
			room = virtio_net_rx_has_room(t->be.net);
		}
	}
	return NULL;
}

static bool tap_send(struct net_backend *be, const struct iovec *iov, unsigned n, size_t len)
{
	struct net_tap *t = (struct net_tap *)be;
	static const uint8_t zero_hdr[VIRTIO_NET_HDR_LEN];
	ssize_t rc;
	if (n + 1 <= IOV_MAX) {
		t->txiov[0] =
		    (struct iovec){.iov_base = (void *)zero_hdr, .iov_len = sizeof zero_hdr};
		memcpy(&t->txiov[1], iov, n * sizeof *iov);
		rc = writev(t->fd, t->txiov, (int)n + 1);
	} else {
		memset(t->tx, 0, VIRTIO_NET_HDR_LEN);
		iov_to_buf(iov, n, 0, t->tx + VIRTIO_NET_HDR_LEN, len);
		rc = write(t->fd, t->tx, VIRTIO_NET_HDR_LEN + len);
	}
	if (rc < 0) {
		/* EAGAIN: the interface's queue is full (or it is down). */
		if (errno != EAGAIN && errno != EIO && t->tx_dropped++ < 5)
			log_warn("--net tap=%s: write: %s", t->name, strerror(errno));
		return false;
	}
	return true;
}

static void tap_rx_room(struct net_backend *be)
{
	eventfd_write(((struct net_tap *)be)->wake_fd, 1);
}

static int tap_start(struct net_backend *be)
{
	struct net_tap *t = (struct net_tap *)be;
	if (pthread_create(&t->thread, NULL, tap_thread, t) != 0) {
		log_error("--net tap=%s: cannot start its thread", t->name);
		return -1;
	}
	pthread_setname_np(t->thread, "net-tap");
	t->started = true;
	return 0;
}

static void tap_destroy(struct net_backend *be)
{
	struct net_tap *t = (struct net_tap *)be;
	if (!t)
		return;
	if (t->started) {
		atomic_store(&t->stop, true);
		eventfd_write(t->wake_fd, 1);
		pthread_join(t->thread, NULL);
	}
	if (t->fd >= 0)
		close(t->fd);
	if (t->wake_fd >= 0)
		close(t->wake_fd);
	free(t);
}

static const struct net_backend_ops tap_ops = {
    .name = "TAP",
    .start = tap_start,
    .send = tap_send,
    .rx_room = tap_rx_room,
    .destroy = tap_destroy,
};

static int tap_open(struct net_tap *t)
{
	t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (t->fd < 0) {
		log_error("--net tap=%s: /dev/net/tun: %s%s", t->name, strerror(errno),
		          errno == ENOENT ? " (no TUN/TAP support: modprobe tun)" : "");
		return -1;
	}
	unsigned features = 0;
	if (ioctl(t->fd, TUNGETFEATURES, &features) == 0 && !(features & IFF_VNET_HDR)) {
		log_error("--net tap=%s: this kernel's TAP driver has no IFF_VNET_HDR", t->name);
		return -1;
	}
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	memcpy(ifr.ifr_name, t->name, strlen(t->name));
	if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;
		if (e == EPERM || e == EACCES)
			log_error(
			    "--net tap=%s: not permitted: creating a TAP interface, or using one "
			    "this user does not own, needs CAP_NET_ADMIN (as root: "
			    "ip tuntap add %s mode tap user $USER; ip link set %s up)",
			    t->name, t->name, t->name);
		else if (e == EBUSY)
			log_error("--net tap=%s: in use by another process", t->name);
		else if (e == EINVAL)
			log_error("--net tap=%s: exists but is not a TAP interface (or was "
			          "made without vnet_hdr support)",
			          t->name);
		else
			log_error("--net tap=%s: TUNSETIFF: %s", t->name, strerror(e));
		return -1;
	}
	int hdr = VIRTIO_NET_HDR_LEN;
	if (ioctl(t->fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		log_error("--net tap=%s: TUNSETVNETHDRSZ: %s", t->name, strerror(errno));
		return -1;
	}
	if (ioctl(t->fd, TUNSETOFFLOAD, 0UL) < 0)
		log_warn("--net tap=%s: TUNSETOFFLOAD: %s", t->name, strerror(errno));
	return 0;
}

struct net_backend *net_tap_create(const struct virtio_net_options *opt)
{
	struct net_tap *t = calloc(1, sizeof *t);
	if (!t) {
		log_error("--net tap: out of memory");
		return NULL;
	}
	t->be.ops = &tap_ops;
	t->fd = -1;
	snprintf(t->name, sizeof t->name, "%s", opt->tap_name);
	t->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->wake_fd < 0) {
		log_error("--net tap=%s: eventfd: %s", t->name, strerror(errno));
		tap_destroy(&t->be);
		return NULL;
	}
	if (tap_open(t) < 0) {
		tap_destroy(&t->be);
		return NULL;
	}
	return &t->be;
}
