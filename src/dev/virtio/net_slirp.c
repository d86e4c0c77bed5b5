/* `--net user`: user-mode networking through libslirp, a TCP/IP stack in the
 * VMM process. The guest's frames go into slirp_input(); what slirp sends the
 * guest (DHCP and DNS answers, TCP segments from host sockets) comes out
 * through send_packet() into the device's receive backlog.
 *
 * libslirp is not thread-safe: every call into it holds `lock`. Two threads
 * make them: the device's I/O thread (slirp_input, from the device's
 * send()), and this backend's own thread, which polls slirp's sockets and
 * runs its timers (never a vCPU thread). The thread sleeps in poll() without
 * the lock, on slirp's descriptors and an eventfd that wakes it whenever
 * the socket set or the timers may have changed (after each slirp_input,
 * slirp's notify(), a timer change, room again in the receive backlog).
 *
 * Addresses: the network 10.0.2.0/24, the host (gateway) 10.0.2.2, the DNS
 * forwarder 10.0.2.3, DHCP hands out 10.0.2.15 first. Connections to
 * 10.0.2.2 reach the host's loopback. hostfwd= listens on the host and
 * forwards to the guest (on 127.0.0.1 unless an address is given). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <slirp/libslirp.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "dev/virtio/net_backend.h"
#include "util/log.h"

/* Never sleep longer than this: slirp's TCP timers want a look at least
 * every half second (slirp_pollfds_fill asks for less when it must). */
#define POLL_MAX_MS 500

struct slirp_timer {
	struct slirp_timer *next;
	SlirpTimerCb cb;
	void *cb_opaque;
	int64_t expire_ms; /* -1: not armed */
};

struct net_slirp {
	struct net_backend be;
	struct virtio_net_options opt;
	Slirp *slirp;
	pthread_mutex_t lock; /* every libslirp call, the timers, pfds */
	pthread_t thread;
	bool started;
	atomic_bool stop;
	int wake_fd;
	struct slirp_timer *timers;
	struct pollfd *pfds;
	unsigned npfds, pfds_cap;
	bool pfds_oom;
	uint8_t tx[VIRTIO_NET_MAX_FRAME]; /* the guest's frame, copied (under lock) */
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void wake(struct net_slirp *s)
{
	eventfd_write(s->wake_fd, 1);
}

/* --- slirp's callbacks (lock held: slirp only calls them from inside a
 * call we made) --- */

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
	struct net_slirp *s = opaque;
	/* Dropped when the guest is not keeping up: TCP retransmits. */
	virtio_net_receive(s->be.net, buf, len);
	return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
	log_debug("net user: guest error: %s", msg);
}

static int64_t cb_clock_get_ns(void *opaque)
{
	return now_ns();
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	struct net_slirp *s = opaque;
	struct slirp_timer *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->cb = cb;
	t->cb_opaque = cb_opaque;
	t->expire_ms = -1;
	t->next = s->timers;
	s->timers = t;
	return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
	struct net_slirp *s = opaque;
	for (struct slirp_timer **p = &s->timers; *p; p = &(*p)->next) {
		if (*p == timer) {
			*p = (*p)->next;
			free(timer);
			return;
		}
	}
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	struct slirp_timer *t = timer;
	if (t)
		t->expire_ms = expire_ms;
	wake(opaque);
}

static void cb_register_poll_fd(int fd, void *opaque) {}
static void cb_unregister_poll_fd(int fd, void *opaque) {}

static void cb_notify(void *opaque)
{
	wake(opaque);
}

static const SlirpCb slirp_callbacks = {
    .send_packet = cb_send_packet,
    .guest_error = cb_guest_error,
    .clock_get_ns = cb_clock_get_ns,
    .timer_new = cb_timer_new,
    .timer_free = cb_timer_free,
    .timer_mod = cb_timer_mod,
    .register_poll_fd = cb_register_poll_fd,
    .unregister_poll_fd = cb_unregister_poll_fd,
    .notify = cb_notify,
};

/* --- polling --- */

static short to_poll(int events)
{
	short e = 0;
	if (events & SLIRP_POLL_IN)
		e |= POLLIN;
	if (events & SLIRP_POLL_OUT)
		e |= POLLOUT;
	if (events & SLIRP_POLL_PRI)
		e |= POLLPRI;
	return e;
}

static int from_poll(short revents)
{
	int e = 0;
	if (revents & POLLIN)
		e |= SLIRP_POLL_IN;
	if (revents & POLLOUT)
		e |= SLIRP_POLL_OUT;
	if (revents & POLLPRI)
		e |= SLIRP_POLL_PRI;
	if (revents & (POLLERR | POLLNVAL))
		e |= SLIRP_POLL_ERR;
	if (revents & POLLHUP)
		e |= SLIRP_POLL_HUP;
	return e;
}

struct fill_ctx {
	struct net_slirp *s;
	bool room; /* the receive backlog has room: read the host sockets */
};

static int add_poll(int fd, int events, void *opaque)
{
	struct fill_ctx *c = opaque;
	struct net_slirp *s = c->s;
	if (s->npfds == s->pfds_cap) {
		unsigned cap = s->pfds_cap ? 2 * s->pfds_cap : 16;
		struct pollfd *p = realloc(s->pfds, cap * sizeof *p);
		if (!p) {
			s->pfds_oom = true;
			return -1;
		}
		s->pfds = p;
		s->pfds_cap = cap;
	}
	/* While the guest is not taking frames, leave the data in the host's
	 * socket buffers: TCP then slows the sender down. */
	if (!c->room)
		events &= ~SLIRP_POLL_IN;
	s->pfds[s->npfds] = (struct pollfd){.fd = fd, .events = to_poll(events)};
	return (int)s->npfds++;
}

static int get_revents(int idx, void *opaque)
{
	struct net_slirp *s = opaque;
	if (idx < 0 || (unsigned)idx >= s->npfds)
		return 0;
	return from_poll(s->pfds[idx].revents);
}

/* Runs the timers that are due (lock held); returns ms until the next one,
 * or -1 when none is armed. */
static int64_t run_timers(struct net_slirp *s)
{
	for (;;) {
		int64_t now = now_ns() / 1000000, next = -1;
		struct slirp_timer *due = NULL;
		for (struct slirp_timer *t = s->timers; t; t = t->next) {
			if (t->expire_ms < 0)
				continue;
			if (t->expire_ms <= now) {
				due = t;
				break;
			}
			if (next < 0 || t->expire_ms - now < next)
				next = t->expire_ms - now;
		}
		if (!due)
			return next;
		/* The callback may free or re-arm timers: look again after it. */
		due->expire_ms = -1;
		due->cb(due->cb_opaque);
	}
}

static void *slirp_thread(void *arg)
{
	struct net_slirp *s = arg;
	pthread_mutex_lock(&s->lock);
	while (!atomic_load(&s->stop)) {
		int64_t next_timer = run_timers(s);
		struct fill_ctx c = {.s = s, .room = virtio_net_rx_has_room(s->be.net)};
		s->npfds = 0;
		s->pfds_oom = false;
		add_poll(s->wake_fd, SLIRP_POLL_IN, &(struct fill_ctx){.s = s, .room = true});
		uint32_t timeout = POLL_MAX_MS;
		slirp_pollfds_fill(s->slirp, &timeout, add_poll, &c);
		if (next_timer >= 0 && next_timer < (int64_t)timeout)
			timeout = (uint32_t)next_timer;
		if (s->pfds_oom)
			timeout = 10; /* some sockets are not watched: look again soon */
		pthread_mutex_unlock(&s->lock);
		int rc = poll(s->pfds, s->npfds, (int)timeout);
		int err = rc < 0 ? errno : 0;
		pthread_mutex_lock(&s->lock);
		if (rc < 0 && err != EINTR)
			log_warn("net user: poll: %s", strerror(err));
		if (rc > 0 && (s->pfds[0].revents & POLLIN)) {
			eventfd_t v;
			eventfd_read(s->wake_fd, &v);
		}
		slirp_pollfds_poll(s->slirp, rc < 0, get_revents, s);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* --- the backend --- */

static bool slirp_send(struct net_backend *be, const struct iovec *iov, unsigned n, size_t len)
{
	struct net_slirp *s = (struct net_slirp *)be;
	if (len > sizeof s->tx)
		return false;
	pthread_mutex_lock(&s->lock);
	/* slirp parses what it is given: a private copy, so the guest cannot
	 * change a header between its checks and its uses. */
	iov_to_buf(iov, n, 0, s->tx, len);
	slirp_input(s->slirp, s->tx, (int)len);
	pthread_mutex_unlock(&s->lock);
	/* It may have opened sockets or armed timers the thread is not
	 * waiting for. */
	wake(s);
	return true;
}

static void slirp_rx_room(struct net_backend *be)
{
	wake((struct net_slirp *)be);
}

static int slirp_start(struct net_backend *be)
{
	struct net_slirp *s = (struct net_slirp *)be;
	if (pthread_create(&s->thread, NULL, slirp_thread, s) != 0) {
		log_error("--net user: cannot start its thread");
		return -1;
	}
	pthread_setname_np(s->thread, "net-user");
	s->started = true;
	return 0;
}

static void slirp_destroy(struct net_backend *be)
{
	struct net_slirp *s = (struct net_slirp *)be;
	if (!s)
		return;
	if (s->started) {
		atomic_store(&s->stop, true);
		wake(s);
		pthread_join(s->thread, NULL);
	}
	if (s->slirp)
		slirp_cleanup(s->slirp); /* frees its timers through cb_timer_free */
	while (s->timers) {
		struct slirp_timer *t = s->timers;
		s->timers = t->next;
		free(t);
	}
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	free(s->pfds);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static const struct net_backend_ops slirp_ops = {
    .name = "user networking (libslirp)",
    .start = slirp_start,
    .send = slirp_send,
    .rx_room = slirp_rx_room,
    .destroy = slirp_destroy,
};

static struct in_addr ipv4(const char *a)
{
	struct in_addr in;
	inet_pton(AF_INET, a, &in);
	return in;
}

struct net_backend *net_slirp_create(const struct virtio_net_options *opt)
{
	struct net_slirp *s = calloc(1, sizeof *s);
	if (!s) {
		log_error("--net user: out of memory");
		return NULL;
	}
	s->be.ops = &slirp_ops;
	s->opt = *opt;
	pthread_mutex_init(&s->lock, NULL);
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake_fd < 0) {
		log_error("--net user: eventfd: %s", strerror(errno));
		slirp_destroy(&s->be);
		return NULL;
	}
	SlirpConfig cfg = {
	    .version = 4,
	    .restricted = 0,
	    .in_enabled = true,
	    .vnetwork = ipv4("10.0.2.0"),
	    .vnetmask = ipv4("255.255.255.0"),
	    .vhost = ipv4("10.0.2.2"),
	    .in6_enabled = false,
	    .vdhcp_start = ipv4("10.0.2.15"),
	    .vnameserver = ipv4("10.0.2.3"),
	};
	s->slirp = slirp_new(&cfg, &slirp_callbacks, s);
	if (!s->slirp) {
		log_error("--net user: libslirp could not start");
		slirp_destroy(&s->be);
		return NULL;
	}
	for (unsigned i = 0; i < opt->nhostfwd; i++) {
		const struct net_hostfwd *f = &opt->hostfwd[i];
		errno = 0;
		if (slirp_add_hostfwd(s->slirp, f->udp, f->host_addr, f->host_port, f->guest_addr,
		                      f->guest_port) < 0) {
			char host[INET_ADDRSTRLEN];
			inet_ntop(AF_INET, &f->host_addr, host, sizeof host);
			log_error("--net user,hostfwd: cannot listen on %s %s:%u%s%s",
			          f->udp ? "udp" : "tcp", host, f->host_port, errno ? ": " : "",
			          errno ? strerror(errno) : "");
			slirp_destroy(&s->be);
			return NULL;
		}
	}
	return &s->be;
}
