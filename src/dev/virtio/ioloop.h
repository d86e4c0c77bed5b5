/* An I/O thread built on io_uring (liburing): where virtio devices do their
 * work, off the vCPU threads.
 *
 * The thread waits on one ring for two kinds of completions:
 *  - watched eventfds: a queue notification (written by the notify
 *    register's handler, or by KVM itself through an ioeventfd), console
 *    input, ... Each completion of a watch calls its function on the loop
 *    thread, then the watch is re-armed.
 *  - operations a device submitted (file reads, writes, fsync, fallocate),
 *    each with a struct ioloop_op whose `done` runs on the loop thread with
 *    the result (the CQE's res: a byte count or -errno).
 *
 * Any thread may submit (submission is serialised by a lock; only the loop
 * thread reaps completions). ioloop_destroy() stops the thread only after
 * every submitted operation has completed, so buffers an operation uses
 * (guest RAM, bounce buffers) may be freed once it returns. */
#ifndef RINGFOLD_DEV_VIRTIO_IOLOOP_H
#define RINGFOLD_DEV_VIRTIO_IOLOOP_H

#include <liburing.h>
#include <stdbool.h>

struct ioloop;

struct ioloop_op {
	void (*done)(struct ioloop_op *op, int res);
};

/* Creates the ring; the thread starts with ioloop_start(). NULL after
 * logging on failure. */
struct ioloop *ioloop_create(const char *name);
int ioloop_start(struct ioloop *l);
/* Waits for every submitted operation, stops the thread, frees the ring.
 * Not from the loop thread. */
void ioloop_destroy(struct ioloop *l);

/* Calls fn(opaque) on the loop thread whenever eventfd fd is signalled
 * (the counter is read and cleared first). Only before ioloop_start(). The
 * eventfd must be blocking (no EFD_NONBLOCK): io_uring then waits for it
 * instead of failing the read with -EAGAIN. */
int ioloop_watch(struct ioloop *l, int fd, void (*fn)(void *opaque), void *opaque);

/* Submission: ioloop_sqe() returns a free SQE with the submission lock
 * held (never NULL: it submits to make room); fill it with an
 * io_uring_prep_* call, then ioloop_submit() attaches op, submits and
 * unlocks. It returns false, submitting nothing, once the loop is stopping:
 * the caller then ends op itself (op->done is never called for it). */
struct io_uring_sqe *ioloop_sqe(struct ioloop *l);
bool ioloop_submit(struct ioloop *l, struct io_uring_sqe *sqe, struct ioloop_op *op);

/* Is the caller the loop thread? */
bool ioloop_on_thread(struct ioloop *l);

#endif
