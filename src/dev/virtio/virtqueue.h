/* Split virtqueues (virtio 1.2, 2.7), the device side: taking descriptor
 * chains the driver made available, returning them through the used ring,
 * and deciding when either side must be notified.
 *
 * Every guest-supplied value is hostile. The rings are checked once when the
 * queue starts (whole ranges in guest RAM, alignment, a power-of-two size);
 * each descriptor is copied out of guest memory before it is looked at, so
 * the guest cannot change it between the check and the use; each buffer is
 * translated with mem_ptr() for its full length; chains are bounded (a
 * direct chain by the queue size, an indirect table by its own length), so
 * a loop ends as an error, never as a hang. An error marks the queue broken
 * until it is reset: the transport then sets DEVICE_NEEDS_RESET.
 *
 * Ordering with a driver on other CPUs: the available index is read with
 * acquire semantics before the ring entry and descriptors it covers; a used
 * element is written before the used index is published with release
 * semantics; and a full fence separates publishing (or re-arming
 * notifications) from reading the driver's suppression fields, the
 * counterpart of the driver's own fence (2.7.7, 2.7.10).
 *
 * Not thread-safe: the owner serialises calls (the device lock). */
#ifndef RINGFOLD_DEV_VIRTIO_VIRTQUEUE_H
#define RINGFOLD_DEV_VIRTIO_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "mem.h"

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1

/* Most buffers one chain may have (direct and indirect together), and the
 * largest indirect table: generous for any driver (Linux's virtio-blk uses
 * at most seg_max + 2), small enough to bound the work one chain costs. */
#define VIRTQ_MAX_SEGS 1024
#define VIRTQ_MAX_INDIRECT 1024

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq {
	/* What the driver programmed through the transport. */
	uint16_t size; /* entries; starts at max_size, the driver may lower it */
	uint16_t max_size;
	uint64_t desc_addr, avail_addr, used_addr;

	/* Valid between virtq_start() and virtq_reset(). */
	bool started;
	bool broken; /* an error was found; nothing more is taken or returned */
	bool event_idx, indirect;
	const struct guest_mem *mem;
	uint8_t *desc;       /* host views of the three areas, checked at start */
	uint8_t *avail;      /* flags, idx, ring[size], used_event */
	uint8_t *used;       /* flags, idx, ring[size] {id, len}, avail_event */
	uint16_t last_avail; /* next available entry to take */
	uint16_t used_idx;   /* the used index as last published */
	uint16_t
	    signalled_used; /* used_idx when the driver was last considered for a notification */
	bool signalled_valid;
};

/* One chain, as host buffers: the device-readable ones first (nout), then
 * the device-writable ones (nin). */
struct virtq_elem {
	uint16_t head; /* what goes back in the used ring */
	unsigned nout, nin;
	uint64_t out_len, in_len; /* byte totals */
	struct iovec iov[VIRTQ_MAX_SEGS];
};

/* Power-on state: size = max_size, addresses 0, not started. */
void virtq_init(struct virtq *vq, uint16_t max_size);
/* Back to the power-on state (device reset). */
void virtq_reset(struct virtq *vq);

/* Checks what the driver programmed and maps the rings. features are the
 * negotiated ones (EVENT_IDX, INDIRECT_DESC). 0, or -1 with why filled. */
int virtq_start(struct virtq *vq, const struct guest_mem *mem, uint64_t features, char *why,
                size_t why_len);

/* Takes the next available chain: 1 with *elem filled, 0 when there is none,
 * -1 when the driver broke the rules (why says how; the queue is now
 * broken). */
int virtq_pop(struct virtq *vq, struct virtq_elem *elem, char *why, size_t why_len);
/* Are chains waiting (without taking one)? */
bool virtq_has_work(struct virtq *vq);
/* Returns a chain: `len` bytes were written to its device-writable part. */
void virtq_push(struct virtq *vq, uint16_t head, uint32_t len);
/* Returning several chains as one unit (a received frame spread over
 * mergeable buffers, which the driver must see whole): virtq_fill() writes
 * the used element `offset` entries past the published index without
 * publishing it, virtq_flush() then publishes `count` filled elements at
 * once. virtq_push() is a fill at offset 0 and a flush of 1. */
void virtq_fill(struct virtq *vq, uint16_t offset, uint16_t head, uint32_t len);
void virtq_flush(struct virtq *vq, uint16_t count);
/* Gives back the last n chains virtq_pop() took and nothing returned yet:
 * the next pops take them again (a device that found it cannot use them
 * yet, e.g. too little receive room for a whole frame). */
void virtq_unpop(struct virtq *vq, uint16_t n);
/* After pushes: should the driver get a used-buffer notification now
 * (VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX)? */
bool virtq_should_notify(struct virtq *vq);
/* The device ran out of work: ask the driver to notify it about the next
 * chain (avail_event with EVENT_IDX). Returns true when chains arrived
 * meanwhile, so the caller must look again instead of waiting. */
bool virtq_arm_notify(struct virtq *vq);

/* The wire rule of 2.7.10.1: notify when new_idx passed event since old. */
static inline bool virtq_need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

/* Scatter-gather helpers over host buffers. Each copies at most len bytes
 * starting `offset` bytes into the list and returns how many it copied. */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t offset, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t offset, const void *buf,
                    size_t len);
/* The part [offset, offset + len) of a list as a new list in dst (at most
 * dst_max entries); returns the entry count, or -1 if the list is shorter or
 * dst too small. */
int iov_slice(const struct iovec *iov, unsigned n, size_t offset, size_t len, struct iovec *dst,
              unsigned dst_max);

#endif
