/* virtio-net: the device as a guest driver sees it (IDs, features, MAC and
 * link status), frames both ways through a recording backend (transmit
 * chains split anywhere, receive frames spread over mergeable buffers and
 * published together, frames waiting for buffers, a full backlog dropping
 * and throttling the backend until there is room), hostile chains, reset,
 * the --net option parser, the libslirp backend answering an ARP request
 * for the gateway, and the TAP backend carrying frames both ways (where the
 * test may create a TAP interface; elsewhere, that it refuses cleanly). */
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "dev/virtio/net_backend.h"
#include "dev/virtio/virtio_net.h"
#include "test.h"
#include "virtio_rig.h"

#define SLOT 1
#define FEATURES                                                                                   \
	(VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |                         \
	 VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |                          \
	 VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF))
#define RXQ VIRTIO_NET_RXQ
#define TXQ VIRTIO_NET_TXQ

/* --- a backend that records what the guest sends --- */

#define REC_MAX 64

struct rec_backend {
	struct net_backend be;
	pthread_mutex_t lock;
	int nframes;
	size_t len[REC_MAX];
	uint8_t frame[REC_MAX][2048];
	int rx_room_calls;
	bool refuse; /* send() drops */
	bool started, destroyed;
};

static bool rec_send(struct net_backend *be, const struct iovec *iov, unsigned n, size_t len)
{
	struct rec_backend *b = (struct rec_backend *)be;
	pthread_mutex_lock(&b->lock);
	bool ok = !b->refuse;
	if (ok && b->nframes < REC_MAX) {
		b->len[b->nframes] = len;
		iov_to_buf(iov, n, 0, b->frame[b->nframes],
		           len < sizeof b->frame[0] ? len : sizeof b->frame[0]);
		b->nframes++;
	}
	pthread_mutex_unlock(&b->lock);
	return ok;
}

static void rec_rx_room(struct net_backend *be)
{
	struct rec_backend *b = (struct rec_backend *)be;
	pthread_mutex_lock(&b->lock);
	b->rx_room_calls++;
	pthread_mutex_unlock(&b->lock);
}

static int rec_start(struct net_backend *be)
{
	((struct rec_backend *)be)->started = true;
	return 0;
}

static void rec_destroy(struct net_backend *be)
{
	((struct rec_backend *)be)->destroyed = true; /* the test owns it */
}

static const struct net_backend_ops rec_ops = {
    .name = "recorder",
    .start = rec_start,
    .send = rec_send,
    .rx_room = rec_rx_room,
    .destroy = rec_destroy,
};

static struct rec_backend rec;

static int rec_count(void)
{
	pthread_mutex_lock(&rec.lock);
	int n = rec.nframes;
	pthread_mutex_unlock(&rec.lock);
	return n;
}

static int rec_room_calls(void)
{
	pthread_mutex_lock(&rec.lock);
	int n = rec.rx_room_calls;
	pthread_mutex_unlock(&rec.lock);
	return n;
}

static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0xAB, 0xCD, 0xEF};

/* A machine with the device and a driver that negotiated `features`, both
 * queues of `qsize` entries. */
static struct virtio_net *setup(struct rig **r, struct drv *d, uint64_t features, uint16_t qsize)
{
	memset(&rec, 0, sizeof rec);
	pthread_mutex_init(&rec.lock, NULL);
	rec.be.ops = &rec_ops;
	*r = rig_new();
	struct virtio_net *net = virtio_net_create_with(&(*r)->vm, mac, &rec.be);
	CHECK(net != NULL);
	CHECK(rec.started);
	drv_map(d, *r, SLOT);
	CHECK(drv_negotiate(d, features));
	drv_queue(d, RXQ, qsize, VIRTIO_MSI_NO_VECTOR);
	drv_queue(d, TXQ, qsize, VIRTIO_MSI_NO_VECTOR);
	drv_driver_ok(d);
	return net;
}

static void teardown(struct rig *r, struct virtio_net *net)
{
	virtio_net_destroy(net);
	CHECK(rec.destroyed);
	rig_free(r);
}

static void make_frame(uint8_t *f, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		f[i] = (uint8_t)(seed + i * 7);
}

static bool stats_cond(void *arg)
{
	struct virtio_net *net = arg;
	struct virtio_net_stats st;
	virtio_net_get_stats(net, &st);
	return st.tx_frames + st.tx_dropped > 0;
}

static void test_identity(void)
{
	struct rig *r;
	struct drv d;
	struct virtio_net *net = setup(&r, &d, FEATURES, 16);
	CHECK_EQ(cfg_read(r, SLOT, PCI_VENDOR_ID, 2), 0x1AF4);
	CHECK_EQ(cfg_read(r, SLOT, PCI_DEVICE_ID, 2), 0x1041);
	CHECK_EQ(cfg_read(r, SLOT, PCI_CLASS_PROG + 1, 2), 0x0200); /* Ethernet */
	uint64_t offered = drv_device_features(&d);
	CHECK(offered & VIRTIO_BIT(VIRTIO_NET_F_MAC));
	CHECK(offered & VIRTIO_BIT(VIRTIO_NET_F_STATUS));
	CHECK(offered & VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF));
	CHECK(offered & VIRTIO_BIT(VIRTIO_F_VERSION_1));
	/* No offload is offered, so none can be half done. */
	CHECK(!(offered & VIRTIO_BIT(VIRTIO_NET_F_CSUM)));
	CHECK(!(offered & VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM)));
	for (int i = 0; i < 6; i++)
		CHECK_EQ(mmio_r(&d, VIRTIO_PCI_DEVICE + VIRTIO_NET_CFG_MAC + i, 1), mac[i]);
	CHECK_EQ(mmio_r(&d, VIRTIO_PCI_DEVICE + VIRTIO_NET_CFG_STATUS, 2), VIRTIO_NET_S_LINK_UP);
	CHECK_EQ(mmio_r(&d, VIRTIO_PCI_COMMON + VIRTIO_PCI_NUM_QUEUES, 2), 2);
	teardown(r, net);
}

static void test_transmit(void)
{
	struct rig *r;
	struct drv d;
	struct virtio_net *net = setup(&r, &d, FEATURES, 16);
	/* A 100-byte frame behind its header, split inside both. */
	uint64_t buf = drv_alloc(&d, 256, 16);
	uint8_t frame[100];
	make_frame(frame, sizeof frame, 3);
	memset(gpa(r, buf), 0, VIRTIO_NET_HDR_LEN);
	memcpy(gpa(r, buf + VIRTIO_NET_HDR_LEN), frame, sizeof frame);
	struct drv_buf tx[3] = {{buf, 5, false}, {buf + 5, 30, false}, {buf + 35, 77, false}};
	drv_post(&d, TXQ, tx, 3);
	drv_notify(&d, TXQ);
	CHECK(drv_wait_used(&d, TXQ, 1));
	CHECK_EQ(rec_count(), 1);
	CHECK_EQ(rec.len[0], sizeof frame);
	CHECK(!memcmp(rec.frame[0], frame, sizeof frame));
	uint32_t id, len;
	drv_used_elem(&d, TXQ, 0, &id, &len);
	CHECK_EQ(len, 0);

	/* Malformed chains are dropped, returned, and counted: a header with
	 * a runt behind it, and a device-writable buffer. */
	struct drv_buf runt = {buf, VIRTIO_NET_HDR_LEN + 13, false};
	drv_post(&d, TXQ, &runt, 1);
	struct drv_buf writable[2] = {{buf, 112, false}, {buf + 128, 16, true}};
	drv_post(&d, TXQ, writable, 2);
	drv_notify(&d, TXQ);
	CHECK(drv_wait_used(&d, TXQ, 3));
	CHECK_EQ(rec_count(), 1);
	struct virtio_net_stats st;
	virtio_net_get_stats(net, &st);
	CHECK_EQ(st.tx_frames, 1);
	CHECK_EQ(st.tx_bytes, 100);
	CHECK_EQ(st.tx_dropped, 2);

	/* A backend that refuses: counted, the chain still comes back. */
	pthread_mutex_lock(&rec.lock);
	rec.refuse = true;
	pthread_mutex_unlock(&rec.lock);
	drv_post(&d, TXQ, tx, 3);
	drv_notify(&d, TXQ);
	CHECK(drv_wait_used(&d, TXQ, 4));
	virtio_net_get_stats(net, &st);
	CHECK_EQ(st.tx_dropped, 3);
	CHECK(!(drv_status(&d) & VIRTIO_STATUS_NEEDS_RESET));
	CHECK(wait_for(stats_cond, net));
	teardown(r, net);
}

static uint16_t hdr_num_buffers(struct rig *r, uint64_t a)
{
	uint16_t v;
	memcpy(&v, gpa(r, a + VIRTIO_NET_HDR_NUM_BUFFERS), 2);
	return v;
}

static void test_receive(void)
{
	struct rig *r;
	struct drv d;
	struct virtio_net *net = setup(&r, &d, FEATURES, 16);
	uint8_t frame[200];
	make_frame(frame, sizeof frame, 9);

	/* A frame that comes before any buffer waits for one. */
	CHECK(virtio_net_receive(net, frame, 60));
	usleep(20000);
	CHECK_EQ(drv_used_idx(&d, RXQ), 0);
	uint64_t big = drv_alloc(&d, 2048, 64);
	memset(gpa(r, big), 0xEE, 2048);
	struct drv_buf b = {big, 1536, true};
	drv_post(&d, RXQ, &b, 1);
	drv_notify(&d, RXQ);
	CHECK(drv_wait_used(&d, RXQ, 1));
	uint32_t id, len;
	drv_used_elem(&d, RXQ, 0, &id, &len);
	CHECK_EQ(len, VIRTIO_NET_HDR_LEN + 60);
	CHECK_EQ(hdr_num_buffers(r, big), 1);
	CHECK_EQ(*(uint8_t *)gpa(r, big), 0); /* flags */
	CHECK(!memcmp(gpa(r, big + VIRTIO_NET_HDR_LEN), frame, 60));

	/* 212 bytes over 64-byte mergeable buffers: 4 chains, all published
	 * at once, num_buffers 4 in the first. Only 2 posted first: nothing
	 * comes back until the other 2 are there. */
	uint64_t small = drv_alloc(&d, 4 * 64, 64);
	struct drv_buf sb[4];
	for (int i = 0; i < 4; i++)
		sb[i] = (struct drv_buf){small + 64 * (uint64_t)i, 64, true};
	drv_post(&d, RXQ, &sb[0], 1);
	drv_post(&d, RXQ, &sb[1], 1);
	drv_notify(&d, RXQ);
	CHECK(virtio_net_receive(net, frame, sizeof frame));
	usleep(20000);
	CHECK_EQ(drv_used_idx(&d, RXQ), 1);
	drv_post(&d, RXQ, &sb[2], 1);
	drv_post(&d, RXQ, &sb[3], 1);
	drv_notify(&d, RXQ);
	CHECK(drv_wait_used(&d, RXQ, 5));
	CHECK_EQ(drv_used_idx(&d, RXQ), 5);
	CHECK_EQ(hdr_num_buffers(r, small), 4);
	uint32_t total = 0;
	for (uint16_t i = 1; i < 5; i++) {
		drv_used_elem(&d, RXQ, i, &id, &len);
		total += len;
		CHECK_EQ(len, i < 4 ? 64 : 20);
	}
	CHECK_EQ(total, VIRTIO_NET_HDR_LEN + sizeof frame);
	CHECK(!memcmp(gpa(r, small + VIRTIO_NET_HDR_LEN), frame, 64 - VIRTIO_NET_HDR_LEN));
	CHECK(!memcmp(gpa(r, small + 64), frame + 52, 64));
	CHECK(!memcmp(gpa(r, small + 192), frame + 180, 20));

	struct virtio_net_stats st;
	virtio_net_get_stats(net, &st);
	CHECK_EQ(st.rx_frames, 2);
	CHECK_EQ(st.rx_bytes, 260);
	/* Runts and giants from a backend are refused outright. */
	CHECK(!virtio_net_receive(net, frame, 13));
	CHECK(!virtio_net_receive(net, frame, VIRTIO_NET_MAX_FRAME + 1));
	CHECK(!(drv_status(&d) & VIRTIO_STATUS_NEEDS_RESET));
	teardown(r, net);
}

/* Without mergeable buffers each frame needs one chain big enough. */
static void test_receive_plain(void)
{
	struct rig *r;
	struct drv d;
	struct virtio_net *net = setup(&r, &d, FEATURES & ~VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF), 16);
	uint8_t frame[200];
	make_frame(frame, sizeof frame, 1);
	uint64_t a = drv_alloc(&d, 128, 64);
	struct drv_buf b[2] = {{a, 12, true}, {a + 64, 64, true}}; /* header apart */
	drv_post(&d, RXQ, b, 2);
	drv_notify(&d, RXQ);
	/* 200 bytes do not fit 76: dropped, the chain stays for the next. */
	CHECK(virtio_net_receive(net, frame, sizeof frame));
	CHECK(virtio_net_receive(net, frame, 50));
	CHECK(drv_wait_used(&d, RXQ, 1));
	uint32_t id, len;
	drv_used_elem(&d, RXQ, 0, &id, &len);
	CHECK_EQ(len, VIRTIO_NET_HDR_LEN + 50);
	CHECK_EQ(hdr_num_buffers(r, a), 1);
	CHECK(!memcmp(gpa(r, a + 64), frame, 50));
	struct virtio_net_stats st;
	virtio_net_get_stats(net, &st);
	CHECK_EQ(st.rx_dropped_size, 1);
	CHECK_EQ(st.rx_frames, 1);
	teardown(r, net);
}

static bool room_called(void *arg)
{
	return rec_room_calls() > 0;
}

/* The backlog: full while the guest takes nothing, then drained. */
static void test_backlog(void)
{
	struct rig *r;
	struct drv d;
	struct virtio_net *net = setup(&r, &d, FEATURES, 256);
	uint8_t frame[64];
	make_frame(frame, sizeof frame, 5);
	int accepted = 0;
	for (int i = 0; i < VIRTIO_NET_RX_BACKLOG + 20; i++)
		accepted += virtio_net_receive(net, frame, sizeof frame);
	CHECK_EQ(accepted, VIRTIO_NET_RX_BACKLOG);
	CHECK(!virtio_net_rx_has_room(net));
	struct virtio_net_stats st;
	virtio_net_get_stats(net, &st);
	CHECK_EQ(st.rx_dropped_full, 20);
	CHECK_EQ(rec_room_calls(), 0);
	/* Buffers for all of them: the backend hears there is room again. */
	uint64_t a = drv_alloc(&d, 128ULL * VIRTIO_NET_RX_BACKLOG, 64);
	for (int i = 0; i < VIRTIO_NET_RX_BACKLOG; i++) {
		struct drv_buf b = {a + 128ULL * (uint64_t)i, 128, true};
		drv_post(&d, RXQ, &b, 1);
	}
	drv_notify(&d, RXQ);
	CHECK(drv_wait_used(&d, RXQ, VIRTIO_NET_RX_BACKLOG));
	CHECK(wait_for(room_called, NULL));
	CHECK(virtio_net_rx_has_room(net));
	virtio_net_get_stats(net, &st);
	CHECK_EQ(st.rx_frames, VIRTIO_NET_RX_BACKLOG);
	teardown(r, net);
}

static bool needs_reset(void *arg)
{
	return drv_status(arg) & VIRTIO_STATUS_NEEDS_RESET;
}

static void test_hostile_receive(void)
{
	struct rig *r;
	struct drv d;
	struct virtio_net *net = setup(&r, &d, FEATURES, 16);
	uint8_t frame[64];
	make_frame(frame, sizeof frame, 2);
	/* A receive chain the device could only read. */
	uint64_t a = drv_alloc(&d, 2048, 64);
	struct drv_buf b = {a, 2048, false};
	drv_post(&d, RXQ, &b, 1);
	drv_notify(&d, RXQ);
	CHECK(virtio_net_receive(net, frame, sizeof frame));
	CHECK(wait_for(needs_reset, &d));
	CHECK_EQ(drv_used_idx(&d, RXQ), 0);

	/* A reset forgets the frames meant for the old buffers; the device
	 * works again. Then a buffer smaller than the header. */
	CHECK(drv_negotiate(&d, FEATURES));
	drv_queue(&d, RXQ, 16, VIRTIO_MSI_NO_VECTOR);
	drv_queue(&d, TXQ, 16, VIRTIO_MSI_NO_VECTOR);
	drv_driver_ok(&d);
	CHECK(!(drv_status(&d) & VIRTIO_STATUS_NEEDS_RESET));
	struct drv_buf good = {a, 1536, true};
	drv_post(&d, RXQ, &good, 1);
	drv_notify(&d, RXQ);
	usleep(20000);
	CHECK_EQ(drv_used_idx(&d, RXQ), 0); /* the old frame is gone */
	CHECK(virtio_net_receive(net, frame, sizeof frame));
	CHECK(drv_wait_used(&d, RXQ, 1));
	struct drv_buf tiny = {a, 8, true};
	drv_post(&d, RXQ, &tiny, 1);
	drv_notify(&d, RXQ);
	CHECK(virtio_net_receive(net, frame, sizeof frame));
	CHECK(wait_for(needs_reset, &d));
	CHECK_EQ(drv_used_idx(&d, RXQ), 1);
	teardown(r, net);
}

static void test_parse(void)
{
	struct virtio_net_options o;
	char err[256];
	CHECK_EQ(virtio_net_parse("user", &o, err, sizeof err), 0);
	CHECK_EQ(o.kind, NET_BACKEND_USER);
	CHECK_EQ(o.nhostfwd, 0);
	CHECK(!o.mac_set);
	CHECK_EQ(virtio_net_parse("user,hostfwd=tcp::5555-:22,hostfwd=udp:0.0.0.0:53-10.0.2.9:"
	                          "5353,mac=52:54:00:aa:BB:01",
	                          &o, err, sizeof err),
	         0);
	CHECK_EQ(o.nhostfwd, 2);
	CHECK(!o.hostfwd[0].udp);
	CHECK_EQ(o.hostfwd[0].host_addr.s_addr, htonl(0x7F000001));
	CHECK_EQ(o.hostfwd[0].host_port, 5555);
	CHECK_EQ(o.hostfwd[0].guest_addr.s_addr, htonl(0x0A00020F));
	CHECK_EQ(o.hostfwd[0].guest_port, 22);
	CHECK(o.hostfwd[1].udp);
	CHECK_EQ(o.hostfwd[1].host_addr.s_addr, 0);
	CHECK_EQ(o.hostfwd[1].guest_addr.s_addr, htonl(0x0A000209));
	CHECK_EQ(o.hostfwd[1].guest_port, 5353);
	CHECK(o.mac_set);
	CHECK_EQ(o.mac[3], 0xAA);
	CHECK_EQ(o.mac[4], 0xBB);
	CHECK_EQ(o.mac[5], 0x01);
	CHECK_EQ(virtio_net_parse("user,hostfwd=::8080-:80", &o, err, sizeof err), 0);
	CHECK_EQ(virtio_net_parse("tap=tap0", &o, err, sizeof err), 0);
	CHECK_EQ(o.kind, NET_BACKEND_TAP);
	CHECK(!strcmp(o.tap_name, "tap0"));
	static const char *const bad[] = {
	    "",
	    "usr",
	    "tap=",
	    "tap=a-name-far-too-long",
	    "tap=tap0,hostfwd=tcp::1-:2",
	    "user,hostfwd=tcp::0-:22",
	    "user,hostfwd=tcp::65536-:22",
	    "user,hostfwd=sctp::1-:2",
	    "user,hostfwd=tcp::1:2",
	    "user,hostfwd=tcp:1.2.3:1-:2",
	    "user,hostfwd=tcp::1-:",
	    "user,mac=52:54:00:12:34",
	    "user,mac=52:54:00:12:34:5g",
	    "user,mac=01:00:5e:00:00:01",
	    "user,speed=fast",
	    "user,",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = 0;
		int rc = virtio_net_parse(bad[i], &o, err, sizeof err);
		if (rc != -1 || !err[0])
			printf("  accepted: '%s'\n", bad[i]);
		CHECK_EQ(rc, -1);
	}
	uint8_t m[6];
	virtio_net_default_mac(2, m);
	CHECK_EQ(m[0], 0x52);
	CHECK_EQ(m[5], 0x58);
}

/* The libslirp backend behind the real device: an ARP request for the
 * gateway gets slirp's answer in the guest's receive buffer. */
static void test_slirp_arp(void)
{
	struct virtio_net_options o;
	char err[256];
	CHECK_EQ(virtio_net_parse("user", &o, err, sizeof err), 0);
	struct net_backend *be = net_slirp_create(&o);
	CHECK(be != NULL);
	if (!be)
		return;
	struct rig *r = rig_new();
	struct virtio_net *net = virtio_net_create_with(&r->vm, mac, be);
	CHECK(net != NULL);
	struct drv d;
	drv_map(&d, r, SLOT);
	CHECK(drv_negotiate(&d, FEATURES));
	drv_queue(&d, RXQ, 16, VIRTIO_MSI_NO_VECTOR);
	drv_queue(&d, TXQ, 16, VIRTIO_MSI_NO_VECTOR);
	drv_driver_ok(&d);
	uint64_t rx = drv_alloc(&d, 2048, 64);
	struct drv_buf b = {rx, 1536, true};
	drv_post(&d, RXQ, &b, 1);
	drv_notify(&d, RXQ);

	/* Who has 10.0.2.2? Tell 10.0.2.15. */
	uint8_t arp[VIRTIO_NET_HDR_LEN + 42] = {0};
	uint8_t *f = arp + VIRTIO_NET_HDR_LEN;
	memset(f, 0xFF, 6);
	memcpy(f + 6, mac, 6);
	f[12] = 0x08, f[13] = 0x06;                    /* ARP */
	f[14] = 0, f[15] = 1, f[16] = 0x08, f[17] = 0; /* Ethernet, IPv4 */
	f[18] = 6, f[19] = 4, f[20] = 0, f[21] = 1;    /* request */
	memcpy(f + 22, mac, 6);
	f[28] = 10, f[29] = 0, f[30] = 2, f[31] = 15; /* sender */
	f[38] = 10, f[39] = 0, f[40] = 2, f[41] = 2;  /* target */
	uint64_t tx = drv_alloc(&d, sizeof arp, 16);
	memcpy(gpa(r, tx), arp, sizeof arp);
	struct drv_buf t = {tx, sizeof arp, false};
	drv_post(&d, TXQ, &t, 1);
	drv_notify(&d, TXQ);
	CHECK(drv_wait_used(&d, TXQ, 1));
	CHECK(drv_wait_used(&d, RXQ, 1));
	uint32_t id, len;
	drv_used_elem(&d, RXQ, 0, &id, &len);
	CHECK(len >= VIRTIO_NET_HDR_LEN + 42);
	const uint8_t *reply = gpa(r, rx + VIRTIO_NET_HDR_LEN);
	CHECK(!memcmp(reply, mac, 6));                 /* to us */
	CHECK(reply[12] == 0x08 && reply[13] == 0x06); /* ARP */
	CHECK(reply[20] == 0 && reply[21] == 2);       /* a reply */
	CHECK(reply[28] == 10 && reply[29] == 0 && reply[30] == 2 && reply[31] == 2);
	virtio_net_destroy(net);
	rig_free(r);
}

/* --- the TAP backend --- */

#define ETH_TEST 0x88B5 /* IEEE 802 local experimental ethertype */

static void tap_frame(uint8_t *f, const uint8_t *dst, const uint8_t *src, const char *text)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = ETH_TEST >> 8;
	f[13] = ETH_TEST & 0xFF;
	memset(f + 14, 0, 50);
	memcpy(f + 14, text, strlen(text));
}

/* A frame from the guest appears on the host interface (seen by a packet
 * socket bound to it), and one sent there reaches the guest. */
static void test_tap(void)
{
	char spec[32];
	snprintf(spec, sizeof spec, "tap=rfnet%d", (int)(getpid() % 100000));
	struct virtio_net_options o;
	char err[256];
	CHECK_EQ(virtio_net_parse(spec, &o, err, sizeof err), 0);
	struct net_backend *be = net_tap_create(&o);
	if (!be) {
		printf("  (no TAP interface may be created here: only the refusal was checked)\n");
		return;
	}
	/* Up, so the kernel passes frames; no address, no routes. */
	int ctl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", o.tap_name);
	CHECK(ctl >= 0 && ioctl(ctl, SIOCGIFFLAGS, &ifr) == 0);
	ifr.ifr_flags |= IFF_UP;
	CHECK(ioctl(ctl, SIOCSIFFLAGS, &ifr) == 0);
	int ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_TEST));
	CHECK(ps >= 0);
	struct sockaddr_ll sll = {.sll_family = AF_PACKET,
	                          .sll_protocol = htons(ETH_TEST),
	                          .sll_ifindex = (int)if_nametoindex(o.tap_name)};
	CHECK(sll.sll_ifindex > 0 && bind(ps, (struct sockaddr *)&sll, sizeof sll) == 0);

	struct rig *r = rig_new();
	struct virtio_net *net = virtio_net_create_with(&r->vm, mac, be);
	CHECK(net != NULL);
	struct drv d;
	drv_map(&d, r, SLOT);
	CHECK(drv_negotiate(&d, FEATURES));
	drv_queue(&d, RXQ, 64, VIRTIO_MSI_NO_VECTOR);
	drv_queue(&d, TXQ, 64, VIRTIO_MSI_NO_VECTOR);
	drv_driver_ok(&d);
	uint64_t rx = drv_alloc(&d, 32 * 2048ULL, 64);
	for (int i = 0; i < 32; i++) {
		struct drv_buf b = {rx + 2048ULL * (uint64_t)i, 1536, true};
		drv_post(&d, RXQ, &b, 1);
	}
	drv_notify(&d, RXQ);

	/* Guest → host. */
	static const uint8_t bcast[6] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
	uint8_t out[VIRTIO_NET_HDR_LEN + 64] = {0};
	tap_frame(out + VIRTIO_NET_HDR_LEN, bcast, mac, "guest to host");
	uint64_t tx = drv_alloc(&d, sizeof out, 16);
	memcpy(gpa(r, tx), out, sizeof out);
	struct drv_buf t = {tx, sizeof out, false};
	drv_post(&d, TXQ, &t, 1);
	drv_notify(&d, TXQ);
	CHECK(drv_wait_used(&d, TXQ, 1));
	uint8_t got[2048];
	ssize_t n = -1;
	struct pollfd p = {.fd = ps, .events = POLLIN};
	if (poll(&p, 1, 5000) == 1)
		n = recv(ps, got, sizeof got, 0);
	CHECK_EQ(n, 64);
	CHECK(n == 64 && !memcmp(got, out + VIRTIO_NET_HDR_LEN, 64));

	/* Host → guest: among whatever else the host sends a new interface
	 * (IPv6 neighbour discovery), our frame arrives whole. */
	uint8_t in[64];
	tap_frame(in, mac, (const uint8_t[6]){0x02, 0, 0, 0, 0, 1}, "host to guest");
	CHECK_EQ(send(ps, in, sizeof in, 0), (ssize_t)sizeof in);
	bool found = false;
	for (int i = 0; i < 5000 && !found; i++) {
		uint16_t used = drv_used_idx(&d, RXQ);
		for (uint16_t k = 0; k < used && !found; k++) {
			uint32_t id, len;
			drv_used_elem(&d, RXQ, k, &id, &len);
			const uint8_t *f = gpa(r, rx + 2048ULL * id + VIRTIO_NET_HDR_LEN);
			found = id < 32 && len == VIRTIO_NET_HDR_LEN + sizeof in &&
			        !memcmp(f, in, sizeof in);
		}
		if (!found)
			usleep(1000);
	}
	CHECK(found);
	virtio_net_destroy(net);
	rig_free(r);
	close(ps);
	close(ctl);
	/* The interface was not persistent: it went away with the device. */
	CHECK_EQ(if_nametoindex(o.tap_name), 0);
}

int main(void)
{
	log_set_level(LOG_OFF); /* the hostile cases log by design */
	RUN(test_identity);
	RUN(test_transmit);
	RUN(test_receive);
	RUN(test_receive_plain);
	RUN(test_backlog);
	RUN(test_hostile_receive);
	RUN(test_parse);
	RUN(test_slirp_arp);
	RUN(test_tap);
	TEST_DONE();
}
