/* virtio-net: see virtio_net.h.
 *
 * Locks: vdev->lock (the transport's) guards the rings and is held on the
 * I/O thread for both queues; rx_lock guards only the receive backlog, so a
 * backend may add frames from any thread, even from inside its send() (a
 * slirp reply comes back synchronously), without ever needing vdev->lock.
 * Order: vdev->lock, then the backend's own lock, then rx_lock. */
#include "dev/virtio/virtio_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "dev/virtio/net_backend.h"
#include "dev/virtio/virtio_pci.h"
#include "util/log.h"

#define PCI_CLASS_NETWORK_ETHERNET 0x020000
/* Headroom the backends keep in the backlog once throttled: frames a
 * backend still emits without reading the network (slirp answering the
 * guest, its TCP timers). */
#define BACKLOG_RESERVE (VIRTIO_NET_RX_BACKLOG / 4)
#define BACKLOG_RESERVE_BYTES (1u << 20)

struct net_frame {
	size_t len;
	uint8_t data[];
};

struct virtio_net {
	struct virtio_dev *vdev;
	struct net_backend *be;
	int rx_fd; /* eventfd: the backlog went from empty to not empty */

	pthread_mutex_t rx_lock;
	struct net_frame *backlog[VIRTIO_NET_RX_BACKLOG];
	unsigned backlog_head, backlog_count;
	size_t backlog_bytes;
	bool throttled; /* a backend was told "no room": rx_room() is owed */
	uint64_t rx_dropped_full;

	/* Under vdev->lock. */
	struct virtio_net_stats stats;
	struct virtq_elem elem;
	struct iovec frame[VIRTQ_MAX_SEGS];
};

/* --- options --- */

void virtio_net_default_mac(unsigned index, uint8_t mac[6])
{
	static const uint8_t base[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
	memcpy(mac, base, 6);
	mac[5] = (uint8_t)(mac[5] + index);
}

static int parse_mac(const char *s, size_t len, uint8_t mac[6])
{
	if (len != 17)
		return -1;
	for (int i = 0; i < 6; i++) {
		unsigned v = 0;
		for (int j = 0; j < 2; j++) {
			char c = s[3 * i + j];
			unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
			             : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
			             : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
			                                    : 16u;
			if (d == 16)
				return -1;
			v = v << 4 | d;
		}
		if (i < 5 && s[3 * i + 2] != ':')
			return -1;
		mac[i] = (uint8_t)v;
	}
	return 0;
}

/* "PORT" in [s, s+len): 1..65535. */
static int parse_port(const char *s, size_t len, uint16_t *port)
{
	if (len == 0 || len > 5)
		return -1;
	unsigned v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* "[ADDR]:PORT" (an empty ADDR takes def). */
static int parse_addr_port(const char *s, size_t len, const char *def, struct in_addr *addr,
                           uint16_t *port)
{
	const char *colon = memchr(s, ':', len);
	if (!colon)
		return -1;
	size_t alen = (size_t)(colon - s);
	char a[32];
	if (alen >= sizeof a)
		return -1;
	memcpy(a, s, alen);
	a[alen] = 0;
	if (inet_pton(AF_INET, alen ? a : def, addr) != 1)
		return -1;
	return parse_port(colon + 1, len - alen - 1, port);
}

/* "[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT" */
static int parse_hostfwd(const char *s, size_t len, struct net_hostfwd *f)
{
	memset(f, 0, sizeof *f);
	const char *colon = memchr(s, ':', len);
	if (!colon)
		return -1;
	size_t plen = (size_t)(colon - s);
	if (plen == 3 && !strncmp(s, "udp", 3))
		f->udp = true;
	else if (!(plen == 0 || (plen == 3 && !strncmp(s, "tcp", 3))))
		return -1;
	const char *host = colon + 1, *end = s + len;
	const char *dash = memchr(host, '-', (size_t)(end - host));
	if (!dash)
		return -1;
	if (parse_addr_port(host, (size_t)(dash - host), "127.0.0.1", &f->host_addr,
	                    &f->host_port) < 0 ||
	    parse_addr_port(dash + 1, (size_t)(end - dash - 1), "10.0.2.15", &f->guest_addr,
	                    &f->guest_port) < 0)
		return -1;
	return 0;
}

int virtio_net_parse(const char *spec, struct virtio_net_options *opt, char *err, size_t err_len)
{
	memset(opt, 0, sizeof *opt);
	const char *item = spec;
	for (bool first = true; item; first = false) {
		const char *comma = strchr(item, ',');
		size_t len = comma ? (size_t)(comma - item) : strlen(item);
		if (first) {
			if (len == 4 && !strncmp(item, "user", 4)) {
				opt->kind = NET_BACKEND_USER;
			} else if (len > 4 && !strncmp(item, "tap=", 4)) {
				if (len - 4 >= VIRTIO_NET_IFNAME_MAX) {
					snprintf(
					    err, err_len,
					    "tap=%.*s: an interface name has at most %d characters",
					    (int)(len - 4), item + 4, VIRTIO_NET_IFNAME_MAX - 1);
					return -1;
				}
				opt->kind = NET_BACKEND_TAP;
				memcpy(opt->tap_name, item + 4, len - 4);
			} else {
				snprintf(err, err_len, "'%.*s' is not user or tap=NAME", (int)len,
				         item);
				return -1;
			}
		} else if (len > 4 && !strncmp(item, "mac=", 4)) {
			if (parse_mac(item + 4, len - 4, opt->mac) < 0) {
				snprintf(err, err_len, "'%.*s': a MAC address is XX:XX:XX:XX:XX:XX",
				         (int)len, item);
				return -1;
			}
			if (opt->mac[0] & 1) {
				snprintf(err, err_len, "'%.*s' is a multicast address", (int)len,
				         item);
				return -1;
			}
			opt->mac_set = true;
		} else if (len > 8 && !strncmp(item, "hostfwd=", 8)) {
			if (opt->kind != NET_BACKEND_USER) {
				snprintf(err, err_len, "hostfwd= is for --net user only");
				return -1;
			}
			if (opt->nhostfwd == VIRTIO_NET_MAX_HOSTFWD) {
				snprintf(err, err_len, "at most %d hostfwd= per --net",
				         VIRTIO_NET_MAX_HOSTFWD);
				return -1;
			}
			if (parse_hostfwd(item + 8, len - 8, &opt->hostfwd[opt->nhostfwd]) < 0) {
				snprintf(err, err_len,
				         "'%.*s' is not hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-"
				         "[GUESTADDR]:GUESTPORT",
				         (int)len, item);
				return -1;
			}
			opt->nhostfwd++;
		} else {
			snprintf(err, err_len, "'%.*s' is not hostfwd=... or mac=...", (int)len,
			         item);
			return -1;
		}
		item = comma ? comma + 1 : NULL;
	}
	return 0;
}

/* --- the queue logic --- */

int virtio_net_tx_frame(const struct virtq_elem *e, struct iovec *frame, unsigned *nframe,
                        size_t *len)
{
	/* Transmit chains are device-readable only (5.1.6.2). */
	if (e->nin || e->out_len < VIRTIO_NET_HDR_LEN + VIRTIO_NET_MIN_FRAME ||
	    e->out_len - VIRTIO_NET_HDR_LEN > VIRTIO_NET_MAX_FRAME)
		return -1;
	*len = (size_t)(e->out_len - VIRTIO_NET_HDR_LEN);
	/* No offload was offered, so the header carries nothing to act on. */
	int n = iov_slice(e->iov, e->nout, VIRTIO_NET_HDR_LEN, *len, frame, VIRTQ_MAX_SEGS);
	if (n <= 0)
		return -1;
	*nframe = (unsigned)n;
	return 0;
}

static void why_fail(char *why, size_t why_len, const char *fmt, unsigned long long v)
    __attribute__((format(printf, 3, 0)));
static void why_fail(char *why, size_t why_len, const char *fmt, unsigned long long v)
{
	if (why && why_len)
		snprintf(why, why_len, fmt, v);
}

enum virtio_net_rx_result virtio_net_rx_put(struct virtq *vq, bool mergeable, const void *frame,
                                            size_t len, struct virtq_elem *scratch, char *why,
                                            size_t why_len)
{
	uint8_t hdr[VIRTIO_NET_HDR_LEN] = {0};
	const uint8_t *data = frame;
	size_t total = VIRTIO_NET_HDR_LEN + len, off = 0;
	uint16_t heads[VIRTIO_NET_RX_MAX_CHAINS];
	uint32_t lens[VIRTIO_NET_RX_MAX_CHAINS];
	unsigned n = 0, max_chains = 1;
	if (mergeable)
		max_chains =
		    vq->size < VIRTIO_NET_RX_MAX_CHAINS ? vq->size : VIRTIO_NET_RX_MAX_CHAINS;
	struct iovec num_buffers[2];
	int n_num_buffers = 0;
	while (off < total) {
		if (n == max_chains) {
			virtq_unpop(vq, (uint16_t)n);
			return NET_RX_TOO_BIG;
		}
		int rc = virtq_pop(vq, scratch, why, why_len);
		if (rc < 0)
			return NET_RX_BROKEN;
		if (rc == 0) {
			/* Ask for a notification about the next buffer before
			 * giving back what was taken: avail_event then points past
			 * every chain there is, not at the ones given back. */
			if (virtq_arm_notify(vq))
				continue;
			virtq_unpop(vq, (uint16_t)n);
			return NET_RX_NO_BUFFERS;
		}
		const struct iovec *in = &scratch->iov[scratch->nout];
		unsigned nin = scratch->nin;
		if (scratch->nout) {
			why_fail(why, why_len, "receive chain %llu has device-readable buffers",
			         (unsigned long long)scratch->head);
			return NET_RX_BROKEN;
		}
		size_t chunk = total - off;
		if (chunk > scratch->in_len)
			chunk = (size_t)scratch->in_len;
		if (n == 0) {
			/* Every buffer holds at least a header (5.1.6.3.1). */
			if (scratch->in_len < VIRTIO_NET_HDR_LEN) {
				why_fail(
				    why, why_len,
				    "receive buffer of %llu bytes, less than the 12-byte header",
				    (unsigned long long)scratch->in_len);
				return NET_RX_BROKEN;
			}
			n_num_buffers =
			    iov_slice(in, nin, VIRTIO_NET_HDR_NUM_BUFFERS, 2, num_buffers, 2);
			iov_from_buf(in, nin, 0, hdr, VIRTIO_NET_HDR_LEN);
			iov_from_buf(in, nin, VIRTIO_NET_HDR_LEN, data, chunk - VIRTIO_NET_HDR_LEN);
		} else {
			iov_from_buf(in, nin, 0, data + (off - VIRTIO_NET_HDR_LEN), chunk);
		}
		heads[n] = scratch->head;
		lens[n] = (uint32_t)chunk;
		n++;
		off += chunk;
		if (!mergeable && off < total) {
			virtq_unpop(vq, 1);
			return NET_RX_TOO_BIG;
		}
	}
	uint16_t count = (uint16_t)n;
	if (n_num_buffers > 0)
		iov_from_buf(num_buffers, (unsigned)n_num_buffers, 0, &count, sizeof count);
	for (unsigned i = 0; i < n; i++)
		virtq_fill(vq, (uint16_t)i, heads[i], lens[i]);
	virtq_flush(vq, (uint16_t)n);
	return NET_RX_DONE;
}

/* --- the receive backlog --- */

static bool has_room_locked(const struct virtio_net *net)
{
	return net->backlog_count + BACKLOG_RESERVE <= VIRTIO_NET_RX_BACKLOG &&
	       net->backlog_bytes + BACKLOG_RESERVE_BYTES <= VIRTIO_NET_RX_BACKLOG_BYTES;
}

bool virtio_net_rx_has_room(struct virtio_net *net)
{
	pthread_mutex_lock(&net->rx_lock);
	bool room = has_room_locked(net);
	if (!room)
		net->throttled = true;
	pthread_mutex_unlock(&net->rx_lock);
	return room;
}

bool virtio_net_receive(struct virtio_net *net, const void *frame, size_t len)
{
	if (len < VIRTIO_NET_MIN_FRAME || len > VIRTIO_NET_MAX_FRAME)
		return false;
	struct net_frame *f = malloc(sizeof *f + len);
	pthread_mutex_lock(&net->rx_lock);
	if (!f || net->backlog_count == VIRTIO_NET_RX_BACKLOG ||
	    net->backlog_bytes + len > VIRTIO_NET_RX_BACKLOG_BYTES) {
		net->rx_dropped_full++;
		net->throttled = true;
		pthread_mutex_unlock(&net->rx_lock);
		free(f);
		return false;
	}
	f->len = len;
	memcpy(f->data, frame, len);
	bool was_empty = net->backlog_count == 0;
	net->backlog[(net->backlog_head + net->backlog_count) % VIRTIO_NET_RX_BACKLOG] = f;
	net->backlog_count++;
	net->backlog_bytes += len;
	pthread_mutex_unlock(&net->rx_lock);
	/* The I/O thread empties the backlog until it is empty or the guest
	 * has no buffers (then the guest's next notification resumes it), so
	 * only the first frame needs to wake it. */
	if (was_empty)
		eventfd_write(net->rx_fd, 1);
	return true;
}

static struct net_frame *backlog_front(struct virtio_net *net)
{
	pthread_mutex_lock(&net->rx_lock);
	struct net_frame *f = net->backlog_count ? net->backlog[net->backlog_head] : NULL;
	pthread_mutex_unlock(&net->rx_lock);
	return f;
}

static void backlog_drop_front(struct virtio_net *net)
{
	pthread_mutex_lock(&net->rx_lock);
	struct net_frame *f = net->backlog[net->backlog_head];
	net->backlog_head = (net->backlog_head + 1) % VIRTIO_NET_RX_BACKLOG;
	net->backlog_count--;
	net->backlog_bytes -= f->len;
	pthread_mutex_unlock(&net->rx_lock);
	free(f);
}

/* Tells the backend there is room again, if it was told there was none. */
static void resume_backend(struct virtio_net *net)
{
	pthread_mutex_lock(&net->rx_lock);
	bool resume = net->throttled && has_room_locked(net);
	if (resume)
		net->throttled = false;
	pthread_mutex_unlock(&net->rx_lock);
	if (resume && net->be && net->be->ops->rx_room)
		net->be->ops->rx_room(net->be);
}

/* --- the device --- */

/* The backlog → the guest's receive buffers (vdev->lock held). */
static void rx_drain(struct virtio_net *net)
{
	struct virtio_dev *vdev = net->vdev;
	if (!virtio_queue_ready(vdev, VIRTIO_NET_RXQ))
		return;
	struct virtq *vq = &vdev->queues[VIRTIO_NET_RXQ].vq;
	bool mergeable = vdev->guest_features & VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF);
	bool pushed = false;
	char why[200];
	for (unsigned budget = vq->size;; budget--) {
		struct net_frame *f = backlog_front(net);
		if (!f)
			break;
		if (!budget) {
			eventfd_write(net->rx_fd, 1); /* the rest in the next turn */
			break;
		}
		enum virtio_net_rx_result r =
		    virtio_net_rx_put(vq, mergeable, f->data, f->len, &net->elem, why, sizeof why);
		if (r == NET_RX_NO_BUFFERS)
			break;
		if (r == NET_RX_BROKEN) {
			virtio_dev_fail(vdev, "receive queue: %s", why);
			break;
		}
		if (r == NET_RX_DONE) {
			net->stats.rx_frames++;
			net->stats.rx_bytes += f->len;
			pushed = true;
		} else {
			net->stats.rx_dropped_size++;
			virtio_dev_log(vdev,
			               "a %zu-byte frame does not fit the receive buffers: dropped",
			               f->len);
		}
		backlog_drop_front(net);
	}
	if (pushed)
		virtio_queue_interrupt(vdev, VIRTIO_NET_RXQ);
	resume_backend(net);
}

/* The guest's transmit chains → the backend (vdev->lock held). */
static void tx_drain(struct virtio_net *net)
{
	struct virtio_dev *vdev = net->vdev;
	struct virtq *vq = &vdev->queues[VIRTIO_NET_TXQ].vq;
	bool pushed = false;
	char why[200];
	for (unsigned budget = vq->size;; budget--) {
		if (!budget) {
			virtio_queue_kick(vdev, VIRTIO_NET_TXQ); /* the rest in the next turn */
			break;
		}
		int rc = virtq_pop(vq, &net->elem, why, sizeof why);
		if (rc < 0) {
			virtio_dev_fail(vdev, "transmit queue: %s", why);
			return;
		}
		if (rc == 0) {
			if (virtq_arm_notify(vq))
				continue;
			break;
		}
		unsigned n;
		size_t len;
		if (virtio_net_tx_frame(&net->elem, net->frame, &n, &len) < 0) {
			net->stats.tx_dropped++;
			virtio_dev_log(vdev,
			               "transmit chain %u dropped: %llu readable and %llu writable "
			               "bytes are no header and frame",
			               net->elem.head, (unsigned long long)net->elem.out_len,
			               (unsigned long long)net->elem.in_len);
		} else if (net->be->ops->send(net->be, net->frame, n, len)) {
			net->stats.tx_frames++;
			net->stats.tx_bytes += len;
		} else {
			net->stats.tx_dropped++;
		}
		virtq_push(vq, net->elem.head, 0);
		pushed = true;
	}
	if (pushed)
		virtio_queue_interrupt(vdev, VIRTIO_NET_TXQ);
}

static void net_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_net *net = vdev->info.opaque;
	if (q == VIRTIO_NET_RXQ)
		rx_drain(net);
	else if (q == VIRTIO_NET_TXQ)
		tx_drain(net);
}

/* I/O thread: frames arrived in an empty backlog. */
static void rx_arrived(void *opaque)
{
	struct virtio_net *net = opaque;
	pthread_mutex_lock(&net->vdev->lock);
	rx_drain(net);
	pthread_mutex_unlock(&net->vdev->lock);
}

/* The driver reset the device: frames meant for its old buffers go. */
static void net_reset(struct virtio_dev *vdev)
{
	struct virtio_net *net = vdev->info.opaque;
	while (backlog_front(net))
		backlog_drop_front(net);
	resume_backend(net);
}

static const struct virtio_dev_ops net_ops = {.queue_notify = net_queue_notify, .reset = net_reset};

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

struct virtio_net *virtio_net_create_with(struct vm *vm, const uint8_t mac[6],
                                          struct net_backend *be)
{
	struct virtio_net *net = calloc(1, sizeof *net);
	if (!net) {
		log_error("virtio-net: out of memory");
		if (be)
			be->ops->destroy(be);
		return NULL;
	}
	pthread_mutex_init(&net->rx_lock, NULL);
	net->be = be;
	net->rx_fd = eventfd(0, EFD_CLOEXEC); /* blocking, as ioloop_watch() wants */
	if (!be || net->rx_fd < 0) {
		if (net->rx_fd < 0)
			log_error("virtio-net: eventfd: %s", strerror(errno));
		virtio_net_destroy(net);
		return NULL;
	}
	be->net = net;
	struct virtio_dev_info info = {
	    .name = "virtio-net",
	    .device_id = VIRTIO_ID_NET,
	    .pci_class = PCI_CLASS_NETWORK_ETHERNET,
	    .features = VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
	                VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |
	                VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF),
	    .nqueues = 2,
	    .queue_size = VIRTIO_NET_QUEUE_SIZE,
	    .config_len = VIRTIO_NET_CFG_LEN,
	    .ops = &net_ops,
	    .opaque = net,
	};
	net->vdev = virtio_dev_create(vm, &info);
	if (!net->vdev || ioloop_watch(net->vdev->loop, net->rx_fd, rx_arrived, net) < 0) {
		virtio_net_destroy(net);
		return NULL;
	}
	uint8_t *cfg = net->vdev->config;
	memcpy(cfg + VIRTIO_NET_CFG_MAC, mac, 6);
	put16(cfg + VIRTIO_NET_CFG_STATUS, VIRTIO_NET_S_LINK_UP);
	put16(cfg + VIRTIO_NET_CFG_MAX_PAIRS, 1);
	put16(cfg + VIRTIO_NET_CFG_MTU, 1500);
	if (virtio_dev_start(net->vdev) < 0 || be->ops->start(be) < 0) {
		virtio_net_destroy(net);
		return NULL;
	}
	log_info("virtio-net %02x.0: %s, MAC %02x:%02x:%02x:%02x:%02x:%02x", net->vdev->pci.slot,
	         be->ops->name, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	return net;
}

struct virtio_net *virtio_net_create(struct vm *vm, const char *spec, unsigned index)
{
	char err[256];
	struct virtio_net_options o;
	if (virtio_net_parse(spec, &o, err, sizeof err) < 0) {
		log_error("--net %s", err);
		return NULL;
	}
	if (!o.mac_set)
		virtio_net_default_mac(index, o.mac);
	struct net_backend *be =
	    o.kind == NET_BACKEND_TAP ? net_tap_create(&o) : net_slirp_create(&o);
	if (!be)
		return NULL;
	return virtio_net_create_with(vm, o.mac, be);
}

void virtio_net_get_stats(struct virtio_net *net, struct virtio_net_stats *st)
{
	pthread_mutex_lock(&net->vdev->lock);
	*st = net->stats;
	pthread_mutex_unlock(&net->vdev->lock);
	pthread_mutex_lock(&net->rx_lock);
	st->rx_dropped_full = net->rx_dropped_full;
	pthread_mutex_unlock(&net->rx_lock);
}

void virtio_net_destroy(struct virtio_net *net)
{
	if (!net)
		return;
	if (net->vdev) {
		struct virtio_net_stats st;
		virtio_net_get_stats(net, &st);
		log_debug("virtio-net %02x.0: sent %llu frames (%llu dropped), received %llu "
		          "(%llu dropped: %llu queue full, %llu too big)",
		          net->vdev->pci.slot, (unsigned long long)st.tx_frames,
		          (unsigned long long)st.tx_dropped, (unsigned long long)st.rx_frames,
		          (unsigned long long)(st.rx_dropped_full + st.rx_dropped_size),
		          (unsigned long long)st.rx_dropped_full,
		          (unsigned long long)st.rx_dropped_size);
	}
	/* The device's I/O thread first (it calls the backend's send() and
	 * rx_room()), then the backend, whose thread only touches the backlog
	 * and rx_fd, which stay until the end. */
	virtio_dev_destroy(net->vdev);
	net->vdev = NULL;
	if (net->be)
		net->be->ops->destroy(net->be);
	net->be = NULL;
	while (net->backlog_count) {
		free(net->backlog[net->backlog_head]);
		net->backlog_head = (net->backlog_head + 1) % VIRTIO_NET_RX_BACKLOG;
		net->backlog_count--;
	}
	if (net->rx_fd >= 0)
		close(net->rx_fd);
	pthread_mutex_destroy(&net->rx_lock);
	free(net);
}
