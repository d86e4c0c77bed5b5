/* virtio-net (virtio 1.2, 5.1): one receive and one transmit queue, a MAC
 * address and link status in configuration space, mergeable receive
 * buffers. No checksum or segmentation offload is offered, so every frame
 * crosses complete and with its checksums filled in (at most 65 KiB, in
 * practice the guest's MTU), and the 12-byte virtio_net_hdr_v1 in front of it
 * carries nothing but num_buffers.
 *
 * `ringfold run --net SPEC` (repeatable, up to VM_MAX_NICS):
 *   user[,hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT]...
 *        user-mode networking through libslirp (net_slirp.c): the guest
 *        is 10.0.2.15/24 (by DHCP), the gateway and the host 10.0.2.2, DNS
 *        10.0.2.3; outgoing TCP and UDP become the host's own sockets, and
 *        each hostfwd listens on HOSTADDR (default 127.0.0.1) and forwards
 *        to GUESTADDR (default 10.0.2.15).
 *   tap=NAME
 *        an existing or new TAP interface (net_tap.c), which needs
 *        CAP_NET_ADMIN or a persistent TAP device the user owns.
 *   either with ,mac=XX:XX:XX:XX:XX:XX (default 52:54:00:12:34:56, the
 *        last byte plus the NIC's index).
 *
 * Frames travel through a backend (net_backend.h). Guest → network: each
 * transmit chain is checked (a header, then a frame of 14 bytes to
 * VIRTIO_NET_MAX_FRAME) and handed to the backend on the device's I/O
 * thread; bad ones are dropped and counted. Network → guest: the backend
 * puts frames (from any thread) in a bounded queue the I/O thread empties
 * into the guest's receive buffers. While the guest has posted no buffers
 * frames wait there; when it is full, new frames are dropped and counted
 * and the backends stop reading from the network until there is room
 * again, so nothing ever blocks the I/O thread. */
#ifndef RINGFOLD_DEV_VIRTIO_VIRTIO_NET_H
#define RINGFOLD_DEV_VIRTIO_VIRTIO_NET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "dev/virtio/virtqueue.h"

struct vm;
struct virtio_net;
struct net_backend;

/* Feature bits (5.1.3). */
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_F_CTRL_VQ 17

#define VIRTIO_NET_S_LINK_UP 1

/* struct virtio_net_config: mac[6], status, max_virtqueue_pairs, mtu. */
#define VIRTIO_NET_CFG_MAC 0
#define VIRTIO_NET_CFG_STATUS 6
#define VIRTIO_NET_CFG_MAX_PAIRS 8
#define VIRTIO_NET_CFG_MTU 10
#define VIRTIO_NET_CFG_LEN 12

/* struct virtio_net_hdr_v1: flags, gso_type, hdr_len, gso_size,
 * csum_start, csum_offset, num_buffers. */
#define VIRTIO_NET_HDR_LEN 12
#define VIRTIO_NET_HDR_NUM_BUFFERS 10

#define VIRTIO_NET_RXQ 0
#define VIRTIO_NET_TXQ 1
#define VIRTIO_NET_QUEUE_SIZE 256

#define VIRTIO_NET_MIN_FRAME 14 /* an Ethernet header */
/* Largest frame either way: the largest MTU Linux allows a virtio-net
 * device without VIRTIO_NET_F_MTU (65535), an Ethernet and a VLAN header. */
#define VIRTIO_NET_MAX_FRAME (65535 + 14 + 4)
/* Frames the receive queue holds while the guest has no buffers posted,
 * and at most this many bytes of them. */
#define VIRTIO_NET_RX_BACKLOG 256
#define VIRTIO_NET_RX_BACKLOG_BYTES (4u << 20)
/* Most receive chains one frame may span (mergeable buffers). */
#define VIRTIO_NET_RX_MAX_CHAINS 256

#define VIRTIO_NET_MAX_HOSTFWD 16
#define VIRTIO_NET_IFNAME_MAX 16 /* IFNAMSIZ, with the terminating NUL */

enum virtio_net_backend_kind { NET_BACKEND_USER, NET_BACKEND_TAP };

struct net_hostfwd {
	bool udp;
	struct in_addr host_addr, guest_addr;
	uint16_t host_port, guest_port;
};

struct virtio_net_options {
	enum virtio_net_backend_kind kind;
	char tap_name[VIRTIO_NET_IFNAME_MAX];
	struct net_hostfwd hostfwd[VIRTIO_NET_MAX_HOSTFWD];
	unsigned nhostfwd;
	uint8_t mac[6];
	bool mac_set;
};

/* Parses a --net SPEC (see above); 0, or -1 with a message in err. */
int virtio_net_parse(const char *spec, struct virtio_net_options *opt, char *err, size_t err_len);
/* The default MAC address of NIC `index`. */
void virtio_net_default_mac(unsigned index, uint8_t mac[6]);

/* Builds NIC number `index` (for its default MAC) from a --net SPEC: the
 * device on the PCI bus and its backend; NULL after logging. */
struct virtio_net *virtio_net_create(struct vm *vm, const char *spec, unsigned index);
/* The same with a backend made by the caller (tests): the device takes it
 * over, destroys it on failure too, and starts it once built. */
struct virtio_net *virtio_net_create_with(struct vm *vm, const uint8_t mac[6],
                                          struct net_backend *be);
void virtio_net_destroy(struct virtio_net *net);

/* For backends, any thread (never with the receive queue's own lock):
 * a frame from the network for the guest. Copied; false when it was
 * dropped (the queue is full, or the frame is not 14 to
 * VIRTIO_NET_MAX_FRAME bytes). */
bool virtio_net_receive(struct virtio_net *net, const void *frame, size_t len);
/* Is there room for more frames? When it says no, the device calls the
 * backend's rx_room() once the guest has taken enough of them; a backend
 * stops reading from the network meanwhile. */
bool virtio_net_rx_has_room(struct virtio_net *net);

struct virtio_net_stats {
	uint64_t tx_frames, tx_bytes, tx_dropped; /* dropped: malformed or backend refused */
	uint64_t rx_frames, rx_bytes;
	uint64_t rx_dropped_full; /* the receive queue was full */
	uint64_t rx_dropped_size; /* did not fit the guest's receive chains */
};
void virtio_net_get_stats(struct virtio_net *net, struct virtio_net_stats *st);

/* The queue logic without the transport, for the device and the fuzzer.
 *
 * A transmit chain: its Ethernet frame as a list in frame[] (at most
 * VIRTQ_MAX_SEGS entries) and its length. 0, or -1 when the chain is no
 * frame (too short or too long, a device-writable part). */
int virtio_net_tx_frame(const struct virtq_elem *e, struct iovec *frame, unsigned *nframe,
                        size_t *len);

enum virtio_net_rx_result {
	NET_RX_DONE,       /* the frame is in the used ring */
	NET_RX_NO_BUFFERS, /* not enough posted: nothing taken, notification armed */
	NET_RX_TOO_BIG,    /* it can never fit the chains the driver posts: dropped */
	NET_RX_BROKEN,     /* the driver broke a rule (why says how) */
};
/* Puts one frame (a virtio_net_hdr_v1 is put in front) into the receive
 * chains of vq: one chain without mergeable buffers, as many as it takes
 * (up to VIRTIO_NET_RX_MAX_CHAINS) with them. scratch is a chain's worth
 * of room. Publishes the chains together on success. */
enum virtio_net_rx_result virtio_net_rx_put(struct virtq *vq, bool mergeable, const void *frame,
                                            size_t len, struct virtq_elem *scratch, char *why,
                                            size_t why_len);

#endif
