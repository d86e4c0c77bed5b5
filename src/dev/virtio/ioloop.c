/* The io_uring I/O thread: see ioloop.h. */
#include "dev/virtio/ioloop.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/log.h"

#define IOLOOP_ENTRIES 256
#define IOLOOP_MAX_WATCHES 80

struct ioloop_watch {
	struct ioloop_op op; /* first: the CQE's user data points here */
	struct ioloop *loop;
	int fd;
	uint64_t counter; /* where the read of the eventfd lands */
	void (*fn)(void *opaque);
	void *opaque;
};

struct ioloop {
	char name[32];
	struct io_uring ring;
	bool ring_ok;
	pthread_mutex_t submit_lock;
	pthread_t thread;
	bool started;
	bool stopping;    /* under submit_lock */
	long outstanding; /* submitted, not completed; under submit_lock */
	int stop_fd;
	struct ioloop_watch stop_watch;
	struct ioloop_watch watches[IOLOOP_MAX_WATCHES];
	int nwatches;
};

static void watch_arm(struct ioloop_watch *w);

static void watch_done(struct ioloop_op *op, int res)
{
	struct ioloop_watch *w = (struct ioloop_watch *)op;
	if (res == -ECANCELED)
		return; /* the loop is stopping */
	if (res < 0 && res != -EAGAIN && res != -EINTR)
		log_warn("%s: reading eventfd %d: %s", w->loop->name, w->fd, strerror(-res));
	if (res == (int)sizeof w->counter && w->fn)
		w->fn(w->opaque);
	watch_arm(w);
}

static void watch_arm(struct ioloop_watch *w)
{
	struct io_uring_sqe *sqe = ioloop_sqe(w->loop);
	io_uring_prep_read(sqe, w->fd, &w->counter, sizeof w->counter, 0);
	ioloop_submit(w->loop, sqe, &w->op);
}

struct ioloop *ioloop_create(const char *name)
{
	struct ioloop *l = calloc(1, sizeof *l);
	if (!l) {
		log_error("%s: out of memory", name);
		return NULL;
	}
	snprintf(l->name, sizeof l->name, "%s", name);
	pthread_mutex_init(&l->submit_lock, NULL);
	l->stop_fd = -1;
	int rc = io_uring_queue_init(IOLOOP_ENTRIES, &l->ring, 0);
	if (rc < 0) {
		log_error("%s: io_uring_queue_init: %s", name, strerror(-rc));
		ioloop_destroy(l);
		return NULL;
	}
	l->ring_ok = true;
	l->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (l->stop_fd < 0) {
		log_error("%s: eventfd: %s", name, strerror(errno));
		ioloop_destroy(l);
		return NULL;
	}
	l->stop_watch = (struct ioloop_watch){
	    .op = {watch_done}, .loop = l, .fd = l->stop_fd, .fn = NULL, .opaque = NULL};
	return l;
}

int ioloop_watch(struct ioloop *l, int fd, void (*fn)(void *opaque), void *opaque)
{
	if (l->started || l->nwatches == IOLOOP_MAX_WATCHES) {
		log_error("%s: cannot watch another eventfd", l->name);
		return -1;
	}
	l->watches[l->nwatches++] = (struct ioloop_watch){
	    .op = {watch_done}, .loop = l, .fd = fd, .fn = fn, .opaque = opaque};
	return 0;
}

struct io_uring_sqe *ioloop_sqe(struct ioloop *l)
{
	pthread_mutex_lock(&l->submit_lock);
	struct io_uring_sqe *sqe;
	while (!(sqe = io_uring_get_sqe(&l->ring))) {
		/* The submission queue is full of prepared entries: hand them to
		 * the kernel to make room. */
		int rc = io_uring_submit(&l->ring);
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
			log_error("%s: io_uring_submit: %s", l->name, strerror(-rc));
			usleep(1000);
		} else if (rc <= 0) {
			usleep(100);
		}
	}
	return sqe;
}

bool ioloop_submit(struct ioloop *l, struct io_uring_sqe *sqe, struct ioloop_op *op)
{
	if (l->stopping) {
		/* Too late for new work: the SQE becomes an anonymous no-op. */
		io_uring_prep_nop(sqe);
		io_uring_sqe_set_data(sqe, NULL);
		io_uring_submit(&l->ring);
		pthread_mutex_unlock(&l->submit_lock);
		return false;
	}
	io_uring_sqe_set_data(sqe, op);
	l->outstanding++;
	for (;;) {
		int rc = io_uring_submit(&l->ring);
		if (rc >= 0 || (rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)) {
			if (rc < 0)
				log_error("%s: io_uring_submit: %s", l->name, strerror(-rc));
			break;
		}
		usleep(100);
	}
	pthread_mutex_unlock(&l->submit_lock);
	return true;
}

bool ioloop_on_thread(struct ioloop *l)
{
	return l->started && pthread_equal(pthread_self(), l->thread);
}

static long outstanding(struct ioloop *l)
{
	pthread_mutex_lock(&l->submit_lock);
	long n = l->outstanding;
	pthread_mutex_unlock(&l->submit_lock);
	return n;
}

/* Cancels the watches' pending reads, so only real I/O remains. */
static void cancel_watches(struct ioloop *l)
{
	pthread_mutex_lock(&l->submit_lock);
	for (int i = 0; i <= l->nwatches; i++) {
		struct ioloop_watch *w = i < l->nwatches ? &l->watches[i] : &l->stop_watch;
		struct io_uring_sqe *sqe;
		while (!(sqe = io_uring_get_sqe(&l->ring)))
			io_uring_submit(&l->ring);
		io_uring_prep_cancel(sqe, &w->op, 0);
		io_uring_sqe_set_data(sqe, NULL);
	}
	io_uring_submit(&l->ring);
	pthread_mutex_unlock(&l->submit_lock);
}

static void *ioloop_thread(void *arg)
{
	struct ioloop *l = arg;
	bool cancelled = false;
	for (;;) {
		bool stopping;
		pthread_mutex_lock(&l->submit_lock);
		stopping = l->stopping;
		pthread_mutex_unlock(&l->submit_lock);
		if (stopping && !cancelled) {
			cancel_watches(l);
			cancelled = true;
		}
		if (stopping && outstanding(l) == 0)
			break;
		struct io_uring_cqe *cqe;
		int rc = io_uring_wait_cqe(&l->ring, &cqe);
		if (rc == -EINTR || rc == -EAGAIN)
			continue;
		if (rc < 0) {
			log_error("%s: io_uring_wait_cqe: %s", l->name, strerror(-rc));
			usleep(1000);
			continue;
		}
		struct ioloop_op *op = io_uring_cqe_get_data(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(&l->ring, cqe);
		if (!op)
			continue; /* a cancel request's own completion, or a no-op */
		pthread_mutex_lock(&l->submit_lock);
		l->outstanding--;
		pthread_mutex_unlock(&l->submit_lock);
		op->done(op, res);
	}
	return NULL;
}

int ioloop_start(struct ioloop *l)
{
	watch_arm(&l->stop_watch);
	for (int i = 0; i < l->nwatches; i++)
		watch_arm(&l->watches[i]);
	if (pthread_create(&l->thread, NULL, ioloop_thread, l) != 0) {
		log_error("%s: cannot start the I/O thread", l->name);
		return -1;
	}
	pthread_setname_np(l->thread, l->name);
	l->started = true;
	return 0;
}

void ioloop_destroy(struct ioloop *l)
{
	if (!l)
		return;
	if (l->started) {
		pthread_mutex_lock(&l->submit_lock);
		l->stopping = true;
		pthread_mutex_unlock(&l->submit_lock);
		eventfd_write(l->stop_fd, 1);
		pthread_join(l->thread, NULL);
	}
	if (l->ring_ok)
		io_uring_queue_exit(&l->ring);
	if (l->stop_fd >= 0)
		close(l->stop_fd);
	pthread_mutex_destroy(&l->submit_lock);
	free(l);
}
