/* virtio-blk over io_uring: see virtio_blk.h.
 *
 * A request is parsed under the device lock on the I/O thread, then either
 * answered at once (GET_ID, errors) or handed to io_uring with a struct
 * blk_req that lives until its completion, which (on the same thread, under
 * the lock again) writes the status byte and the used ring. A completion
 * that arrives after the driver reset the device is dropped
 * (virtio_request_end). Short transfers are resubmitted for the rest. */
#include "dev/virtio/virtio_blk.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dev/virtio/dio_align.h"
#include "dev/virtio/virtio_pci.h"
#include "util/log.h"

#define PCI_CLASS_STORAGE_SCSI 0x010000
/* Unaligned buffers of an O_DIRECT request up to this size are copied
 * through an aligned buffer; larger ones go through the page cache. With
 * at most a queue's worth of requests in flight this bounds what a driver
 * can make us allocate (256 x 256 KiB). */
#define BOUNCE_MAX (256u << 10)
#define ZERO_CHUNK (1u << 20)
#define MAX_DISCARD_SECTORS (1u << 22) /* 2 GiB per request */
#define STATUS_PENDING 0xFF

struct virtio_blk {
	struct virtio_dev *vdev;
	char *path;
	int fd;  /* buffered; also for flush and fallocate */
	int dfd; /* O_DIRECT (cache=none), or -1 */
	bool readonly;
	bool block_device;
	uint64_t capacity; /* sectors */
	uint32_t mem_align, off_align;
	char serial[VIRTIO_BLK_ID_BYTES];
	bool throttled;  /* stopped taking requests: too many in flight */
	uint8_t *zeroes; /* ZERO_CHUNK bytes, for write zeroes without fallocate */
	struct virtq_elem elem;
};

enum wz_stage { WZ_ZERO_RANGE, WZ_PUNCH, WZ_WRITE };

struct blk_req {
	struct ioloop_op op; /* first: the completion finds the request */
	struct virtio_blk *blk;
	uint64_t generation;
	uint16_t head;
	uint32_t type;
	uint8_t *status;
	uint32_t used_len;
	uint64_t offset, len, done; /* bytes */
	bool unmap;                 /* write zeroes may deallocate */
	enum wz_stage stage;
	bool direct;     /* through blk->dfd */
	uint8_t *bounce; /* aligned copy of the data (direct only) */
	unsigned niov, iov_first;
	struct iovec iov[];
};

struct blk_header {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct blk_segment {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* --- options --- */

int virtio_blk_parse(const char *spec, struct virtio_blk_options *opt, char *err, size_t err_len)
{
	memset(opt, 0, sizeof *opt);
	const char *comma = strchr(spec, ',');
	size_t n = comma ? (size_t)(comma - spec) : strlen(spec);
	if (n == 0) {
		snprintf(err, err_len, "'%s' has no file name", spec);
		return -1;
	}
	opt->path = strndup(spec, n);
	if (!opt->path) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	while (comma) {
		const char *item = comma + 1;
		comma = strchr(item, ',');
		size_t len = comma ? (size_t)(comma - item) : strlen(item);
		if (len == 2 && !strncmp(item, "ro", 2))
			opt->readonly = true;
		else if (len == 2 && !strncmp(item, "rw", 2))
			opt->readonly = false;
		else if (len == 10 && !strncmp(item, "cache=none", 10))
			opt->direct = true;
		else if (len == 15 && !strncmp(item, "cache=writeback", 15))
			opt->direct = false;
		else {
			snprintf(err, err_len,
			         "'%.*s' is not ro, rw, cache=none or cache=writeback", (int)len,
			         item);
			virtio_blk_options_free(opt);
			return -1;
		}
	}
	return 0;
}

void virtio_blk_options_free(struct virtio_blk_options *opt)
{
	free(opt->path);
	opt->path = NULL;
}

/* --- completion --- */

static void req_free(struct blk_req *r)
{
	free(r->bounce);
	free(r);
}

/* The request ends with status st (lock held). */
static void req_finish(struct blk_req *r, uint8_t st)
{
	struct virtio_blk *blk = r->blk;
	struct virtio_dev *vdev = blk->vdev;
	if (virtio_request_end(vdev, r->generation)) {
		*r->status = st; /* in guest RAM, checked when the chain was taken */
		virtq_push(&vdev->queues[0].vq, r->head, r->used_len);
		virtio_queue_interrupt(vdev, 0);
	}
	req_free(r);
	if (blk->throttled && vdev->inflight < vdev->queues[0].vq.size) {
		blk->throttled = false;
		virtio_queue_kick(vdev, 0);
	}
}

static bool req_submit(struct blk_req *r);

static uint8_t rw_step(struct blk_req *r, int res)
{
	struct virtio_blk *blk = r->blk;
	bool read = r->type == VIRTIO_BLK_T_IN;
	if (res == -EAGAIN || res == -EINTR)
		return STATUS_PENDING;
	if (res == -EINVAL && r->direct) {
		/* The file wants a stricter O_DIRECT alignment than we were
		 * told: the page cache has none. */
		r->direct = false;
		return STATUS_PENDING;
	}
	if (res < 0) {
		virtio_dev_log(blk->vdev, "%s: %s at byte %llu: %s", blk->path,
		               read ? "read" : "write", (unsigned long long)(r->offset + r->done),
		               strerror(-res));
		return VIRTIO_BLK_S_IOERR;
	}
	if (res == 0) {
		virtio_dev_log(blk->vdev, "%s: end of file at byte %llu (did it shrink?)",
		               blk->path, (unsigned long long)(r->offset + r->done));
		return VIRTIO_BLK_S_IOERR;
	}
	uint64_t n = (uint64_t)res;
	if (n > r->len - r->done)
		n = r->len - r->done;
	r->done += n;
	if (!r->bounce) {
		/* Drop what was transferred from the front of the list. */
		while (n && r->iov_first < r->niov) {
			struct iovec *v = &r->iov[r->iov_first];
			size_t take = n < v->iov_len ? (size_t)n : v->iov_len;
			v->iov_base = (uint8_t *)v->iov_base + take;
			v->iov_len -= take;
			n -= take;
			if (v->iov_len == 0)
				r->iov_first++;
		}
	}
	if (r->done < r->len)
		return STATUS_PENDING;
	if (read && r->bounce)
		iov_from_buf(r->iov, r->niov, 0, r->bounce, r->len);
	return VIRTIO_BLK_S_OK;
}

static uint8_t write_zeroes_step(struct blk_req *r, int res)
{
	struct virtio_blk *blk = r->blk;
	switch (r->stage) {
	case WZ_ZERO_RANGE:
	case WZ_PUNCH:
		if (res == 0)
			return VIRTIO_BLK_S_OK;
		if (res != -EOPNOTSUPP && res != -EINVAL && res != -ENOTTY)
			break;
		/* The file system cannot: deallocate if allowed, else write. */
		r->stage = r->stage == WZ_ZERO_RANGE && r->unmap ? WZ_PUNCH : WZ_WRITE;
		if (r->stage == WZ_WRITE && !blk->zeroes) {
			blk->zeroes = calloc(1, ZERO_CHUNK);
			if (!blk->zeroes)
				return VIRTIO_BLK_S_IOERR;
		}
		return STATUS_PENDING;
	case WZ_WRITE:
		if (res == -EAGAIN || res == -EINTR)
			return STATUS_PENDING;
		if (res <= 0)
			break;
		r->done += (uint64_t)res;
		return r->done < r->len ? STATUS_PENDING : VIRTIO_BLK_S_OK;
	}
	virtio_dev_log(blk->vdev, "%s: write zeroes at byte %llu: %s", blk->path,
	               (unsigned long long)(r->offset + r->done), strerror(res < 0 ? -res : EIO));
	return VIRTIO_BLK_S_IOERR;
}

/* I/O thread: one io_uring operation of r completed. */
static void req_done(struct ioloop_op *op, int res)
{
	struct blk_req *r = (struct blk_req *)op;
	struct virtio_dev *vdev = r->blk->vdev;
	pthread_mutex_lock(&vdev->lock);
	uint8_t st;
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT: st = rw_step(r, res); break;
	case VIRTIO_BLK_T_FLUSH:
		if (res < 0)
			virtio_dev_log(vdev, "%s: fdatasync: %s", r->blk->path, strerror(-res));
		st = res < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
		break;
	case VIRTIO_BLK_T_DISCARD:
		/* Discarding is a hint: a file system that cannot punch holes
		 * simply keeps the data. */
		st = res < 0 && res != -EOPNOTSUPP && res != -EINVAL ? VIRTIO_BLK_S_IOERR
		                                                     : VIRTIO_BLK_S_OK;
		break;
	case VIRTIO_BLK_T_WRITE_ZEROES: st = write_zeroes_step(r, res); break;
	default: st = VIRTIO_BLK_S_IOERR; break;
	}
	if (st == STATUS_PENDING && !req_submit(r))
		st = VIRTIO_BLK_S_IOERR;
	if (st != STATUS_PENDING)
		req_finish(r, st);
	pthread_mutex_unlock(&vdev->lock);
}

/* Queues r's next io_uring operation; false when the I/O thread is
 * stopping (the caller ends r). */
static bool req_submit(struct blk_req *r)
{
	struct virtio_blk *blk = r->blk;
	struct ioloop *loop = blk->vdev->loop;
	struct io_uring_sqe *sqe = ioloop_sqe(loop);
	uint64_t off = r->offset + r->done, left = r->len - r->done;
	int fd = r->direct ? blk->dfd : blk->fd;
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		if (r->bounce) {
			unsigned n = (unsigned)left; /* at most BOUNCE_MAX */
			if (r->type == VIRTIO_BLK_T_IN)
				io_uring_prep_read(sqe, fd, r->bounce + r->done, n, off);
			else
				io_uring_prep_write(sqe, fd, r->bounce + r->done, n, off);
		} else if (r->type == VIRTIO_BLK_T_IN) {
			io_uring_prep_readv(sqe, fd, r->iov + r->iov_first, r->niov - r->iov_first,
			                    off);
		} else {
			io_uring_prep_writev(sqe, fd, r->iov + r->iov_first, r->niov - r->iov_first,
			                     off);
		}
		break;
	case VIRTIO_BLK_T_FLUSH: io_uring_prep_fsync(sqe, blk->fd, IORING_FSYNC_DATASYNC); break;
	case VIRTIO_BLK_T_DISCARD:
		io_uring_prep_fallocate(sqe, blk->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		                        (off_t)r->offset, (off_t)r->len);
		break;
	case VIRTIO_BLK_T_WRITE_ZEROES:
		if (r->stage == WZ_WRITE)
			io_uring_prep_write(sqe, blk->fd, blk->zeroes,
			                    left < ZERO_CHUNK ? (unsigned)left : ZERO_CHUNK, off);
		else
			io_uring_prep_fallocate(
			    sqe, blk->fd,
			    (r->stage == WZ_PUNCH ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE) |
			        FALLOC_FL_KEEP_SIZE,
			    (off_t)r->offset, (off_t)r->len);
		break;
	default: io_uring_prep_nop(sqe); break;
	}
	return ioloop_submit(loop, sqe, &r->op);
}

/* --- taking requests --- */

static struct blk_req *req_new(struct virtio_blk *blk, const struct virtq_elem *e, uint8_t *status,
                               uint32_t type, unsigned niov)
{
	struct blk_req *r = calloc(1, sizeof *r + niov * sizeof(struct iovec));
	if (!r)
		return NULL;
	r->op.done = req_done;
	r->blk = blk;
	r->head = e->head;
	r->type = type;
	r->status = status;
	r->used_len = 1;
	return r;
}

/* Starts r: counts it in flight and submits its first operation. */
static void req_start(struct blk_req *r)
{
	r->generation = virtio_request_begin(r->blk->vdev);
	if (!req_submit(r))
		req_finish(r, VIRTIO_BLK_S_IOERR);
}

static bool range_ok(const struct virtio_blk *blk, uint64_t sector, uint64_t bytes)
{
	return sector <= blk->capacity && bytes / VIRTIO_BLK_SECTOR <= blk->capacity - sector;
}

/* O_DIRECT when the request's offset, length and buffers allow, through a
 * bounce buffer when only the buffers are at fault; else the page cache. */
static void choose_path(struct virtio_blk *blk, struct blk_req *r)
{
	r->direct = false;
	if (blk->dfd < 0 || r->offset % blk->off_align || r->len % blk->off_align)
		return;
	bool aligned = true;
	for (unsigned i = 0; i < r->niov; i++)
		aligned &= (uintptr_t)r->iov[i].iov_base % blk->mem_align == 0 &&
		           r->iov[i].iov_len % blk->mem_align == 0;
	if (aligned) {
		r->direct = true;
		return;
	}
	if (r->len > BOUNCE_MAX)
		return;
	size_t size = (r->len + blk->mem_align - 1) / blk->mem_align * blk->mem_align;
	r->bounce = aligned_alloc(blk->mem_align, size ? size : blk->mem_align);
	if (!r->bounce)
		return;
	if (r->type == VIRTIO_BLK_T_OUT)
		iov_to_buf(r->iov, r->niov, 0, r->bounce, r->len);
	r->direct = true;
}

/* A request that ends at once; lock held. */
static void complete_now(struct virtio_blk *blk, uint16_t head, uint8_t *status, uint8_t st,
                         uint32_t used_len, bool *pushed)
{
	*status = st;
	virtq_push(&blk->vdev->queues[0].vq, head, used_len);
	*pushed = true;
}

static void handle_rw(struct virtio_blk *blk, const struct virtq_elem *e, uint8_t *status,
                      const struct blk_header *h, bool *pushed)
{
	bool read = h->type == VIRTIO_BLK_T_IN;
	/* Data: the writable bytes before the status (read), or the readable
	 * bytes after the header (write). */
	uint64_t len = read ? e->in_len - 1 : e->out_len - sizeof *h;
	if (!read && blk->readonly) {
		complete_now(blk, e->head, status, VIRTIO_BLK_S_IOERR, 1, pushed);
		return;
	}
	if (len % VIRTIO_BLK_SECTOR || len > VIRTIO_BLK_MAX_REQUEST ||
	    !range_ok(blk, h->sector, len)) {
		virtio_dev_log(blk->vdev, "%s of %llu bytes at sector %llu refused (capacity %llu)",
		               read ? "read" : "write", (unsigned long long)len,
		               (unsigned long long)h->sector, (unsigned long long)blk->capacity);
		complete_now(blk, e->head, status, VIRTIO_BLK_S_IOERR, 1, pushed);
		return;
	}
	/* Bytes the device writes: the data read, and the status. */
	uint32_t used = read ? (uint32_t)len + 1 : 1;
	if (len == 0) {
		complete_now(blk, e->head, status, VIRTIO_BLK_S_OK, used, pushed);
		return;
	}
	unsigned nseg = read ? e->nin : e->nout;
	struct blk_req *r = req_new(blk, e, status, h->type, nseg);
	if (!r) {
		complete_now(blk, e->head, status, VIRTIO_BLK_S_IOERR, used, pushed);
		return;
	}
	const struct iovec *from = read ? &e->iov[e->nout] : e->iov;
	int n = iov_slice(from, nseg, read ? 0 : sizeof *h, len, r->iov, nseg);
	if (n <= 0) { /* cannot happen: the lengths were summed from these lists */
		req_free(r);
		complete_now(blk, e->head, status, VIRTIO_BLK_S_IOERR, used, pushed);
		return;
	}
	r->niov = (unsigned)n;
	r->offset = h->sector * VIRTIO_BLK_SECTOR;
	r->len = len;
	r->used_len = used;
	choose_path(blk, r);
	req_start(r);
}

static void handle_discard(struct virtio_blk *blk, const struct virtq_elem *e, uint8_t *status,
                           const struct blk_header *h, bool *pushed)
{
	bool zeroes = h->type == VIRTIO_BLK_T_WRITE_ZEROES;
	uint64_t bytes = e->out_len - sizeof *h;
	struct blk_segment seg;
	if (blk->readonly) {
		complete_now(blk, e->head, status, VIRTIO_BLK_S_IOERR, 1, pushed);
		return;
	}
	/* One segment, as config space says (max_*_seg = 1). */
	if (bytes != sizeof seg ||
	    iov_to_buf(e->iov, e->nout, sizeof *h, &seg, sizeof seg) != sizeof seg) {
		virtio_dev_log(blk->vdev, "%s with %llu bytes of segments refused",
		               zeroes ? "write zeroes" : "discard", (unsigned long long)bytes);
		complete_now(blk, e->head, status, VIRTIO_BLK_S_IOERR, 1, pushed);
		return;
	}
	uint32_t known = zeroes ? VIRTIO_BLK_WZ_UNMAP : 0;
	if (seg.flags & ~known) {
		complete_now(blk, e->head, status, VIRTIO_BLK_S_UNSUPP, 1, pushed);
		return;
	}
	uint64_t len = (uint64_t)seg.num_sectors * VIRTIO_BLK_SECTOR;
	if (seg.num_sectors > MAX_DISCARD_SECTORS || !range_ok(blk, seg.sector, len)) {
		complete_now(blk, e->head, status, VIRTIO_BLK_S_IOERR, 1, pushed);
		return;
	}
	if (len == 0) {
		complete_now(blk, e->head, status, VIRTIO_BLK_S_OK, 1, pushed);
		return;
	}
	struct blk_req *r = req_new(blk, e, status, h->type, 0);
	if (!r) {
		complete_now(blk, e->head, status, VIRTIO_BLK_S_IOERR, 1, pushed);
		return;
	}
	r->offset = seg.sector * VIRTIO_BLK_SECTOR;
	r->len = len;
	r->unmap = seg.flags & VIRTIO_BLK_WZ_UNMAP;
	r->stage = WZ_ZERO_RANGE;
	req_start(r);
}

static void handle_request(struct virtio_blk *blk, const struct virtq_elem *e, bool *pushed)
{
	/* The status byte is the chain's last writable byte. */
	uint8_t *status = NULL;
	for (unsigned i = e->nout + e->nin; i-- > e->nout;) {
		if (e->iov[i].iov_len) {
			status = (uint8_t *)e->iov[i].iov_base + e->iov[i].iov_len - 1;
			break;
		}
	}
	if (!status) {
		virtio_dev_fail(blk->vdev, "request %u has no room for a status byte", e->head);
		return;
	}
	struct blk_header h;
	if (iov_to_buf(e->iov, e->nout, 0, &h, sizeof h) != sizeof h) {
		virtio_dev_log(blk->vdev, "request %u: header shorter than 16 bytes", e->head);
		complete_now(blk, e->head, status, VIRTIO_BLK_S_IOERR, 1, pushed);
		return;
	}
	switch (h.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT: handle_rw(blk, e, status, &h, pushed); break;
	case VIRTIO_BLK_T_FLUSH: {
		struct blk_req *r = req_new(blk, e, status, h.type, 0);
		if (r)
			req_start(r);
		else
			complete_now(blk, e->head, status, VIRTIO_BLK_S_IOERR, 1, pushed);
		break;
	}
	case VIRTIO_BLK_T_GET_ID: {
		size_t room = e->in_len - 1,
		       n = room < sizeof blk->serial ? room : sizeof blk->serial;
		iov_from_buf(&e->iov[e->nout], e->nin, 0, blk->serial, n);
		complete_now(blk, e->head, status, VIRTIO_BLK_S_OK, (uint32_t)n + 1, pushed);
		break;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES: handle_discard(blk, e, status, &h, pushed); break;
	default: complete_now(blk, e->head, status, VIRTIO_BLK_S_UNSUPP, 1, pushed); break;
	}
}

static void blk_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_blk *blk = vdev->info.opaque;
	struct virtq *vq = &vdev->queues[q].vq;
	char why[200];
	bool pushed = false;
	for (unsigned budget = vq->size; virtio_queue_ready(vdev, q); budget--) {
		if (vdev->inflight >= vq->size) {
			blk->throttled = true; /* a completion kicks the queue again */
			break;
		}
		if (!budget) {
			virtio_queue_kick(vdev, q); /* the rest in the next turn */
			break;
		}
		int rc = virtq_pop(vq, &blk->elem, why, sizeof why);
		if (rc < 0) {
			virtio_dev_fail(vdev, "request queue: %s", why);
			break;
		}
		if (rc == 0) {
			if (virtq_arm_notify(vq))
				continue;
			break;
		}
		handle_request(blk, &blk->elem, &pushed);
	}
	if (pushed)
		virtio_queue_interrupt(vdev, q);
}

static void blk_reset(struct virtio_dev *vdev)
{
	struct virtio_blk *blk = vdev->info.opaque;
	blk->throttled = false;
}

static const struct virtio_dev_ops blk_ops = {.queue_notify = blk_queue_notify, .reset = blk_reset};

/* --- the backing file --- */

static void make_serial(struct virtio_blk *blk, const struct stat *st)
{
	const char *base = strrchr(blk->path, '/');
	base = base ? base + 1 : blk->path;
	size_t n = strlen(base);
	memset(blk->serial, 0, sizeof blk->serial);
	if (n <= sizeof blk->serial) {
		memcpy(blk->serial, base, n);
		return;
	}
	/* FNV-1a over device and inode: stable for the same file. */
	uint64_t h = 0xcbf29ce484222325ULL, key[2] = {(uint64_t)st->st_dev, (uint64_t)st->st_ino};
	const uint8_t *p = (const uint8_t *)key;
	for (size_t i = 0; i < sizeof key; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	char tmp[VIRTIO_BLK_ID_BYTES + 1];
	snprintf(tmp, sizeof tmp, "%.11s-%08x", base, (unsigned)(h ^ (h >> 32)));
	memcpy(blk->serial, tmp, sizeof blk->serial);
}

static int open_backend(struct virtio_blk *blk, const struct virtio_blk_options *o)
{
	int flags = (o->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	blk->fd = open(o->path, flags);
	if (blk->fd < 0) {
		log_error("--disk %s: %s", o->path, strerror(errno));
		return -1;
	}
	struct stat st;
	uint64_t size = 0;
	if (fstat(blk->fd, &st) < 0) {
		log_error("--disk %s: %s", o->path, strerror(errno));
		return -1;
	}
	if (S_ISBLK(st.st_mode)) {
		blk->block_device = true;
		if (ioctl(blk->fd, BLKGETSIZE64, &size) < 0) {
			log_error("--disk %s: BLKGETSIZE64: %s", o->path, strerror(errno));
			return -1;
		}
	} else if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else {
		log_error("--disk %s: not a regular file or a block device", o->path);
		return -1;
	}
	if (flock(blk->fd, (o->readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		log_error("--disk %s: %s", o->path,
		          errno == EWOULDBLOCK ? "in use by another process (it holds a lock on it)"
		                               : strerror(errno));
		return -1;
	}
	blk->capacity = size / VIRTIO_BLK_SECTOR;
	if (size % VIRTIO_BLK_SECTOR)
		log_warn("--disk %s: the last %llu bytes are not a whole sector and stay hidden",
		         o->path, (unsigned long long)(size % VIRTIO_BLK_SECTOR));
	if (o->direct) {
		blk->dfd = open(o->path, flags | O_DIRECT);
		if (blk->dfd < 0) {
			log_error("--disk %s,cache=none: %s", o->path,
			          errno == EINVAL ? "the file system does not support O_DIRECT"
			                          : strerror(errno));
			return -1;
		}
		int lbs = 0;
		if (dio_alignment(blk->dfd, &blk->mem_align, &blk->off_align) == 0) {
			/* what the kernel says */
		} else if (blk->block_device && ioctl(blk->dfd, BLKSSZGET, &lbs) == 0 && lbs > 0 &&
		           !(lbs & (lbs - 1))) {
			blk->mem_align = blk->off_align = (uint32_t)lbs;
		} else {
			blk->mem_align = blk->off_align = 4096; /* safe everywhere */
		}
		if (blk->mem_align < sizeof(void *))
			blk->mem_align = sizeof(void *); /* aligned_alloc's minimum */
	}
	make_serial(blk, &st);
	return 0;
}

static void fill_config(struct virtio_blk *blk, uint8_t *cfg)
{
	uint64_t cap = blk->capacity;
	memcpy(cfg + VIRTIO_BLK_CFG_CAPACITY, &cap, 8);
	put32(cfg + VIRTIO_BLK_CFG_SIZE_MAX, VIRTIO_BLK_SIZE_MAX);
	put32(cfg + VIRTIO_BLK_CFG_SEG_MAX, VIRTIO_BLK_QUEUE_SIZE - 2);
	put32(cfg + VIRTIO_BLK_CFG_BLK_SIZE, VIRTIO_BLK_SECTOR);
	put32(cfg + VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS, MAX_DISCARD_SECTORS);
	put32(cfg + VIRTIO_BLK_CFG_MAX_DISCARD_SEG, 1);
	put32(cfg + VIRTIO_BLK_CFG_DISCARD_ALIGNMENT, 4096 / VIRTIO_BLK_SECTOR);
	put32(cfg + VIRTIO_BLK_CFG_MAX_WZ_SECTORS, MAX_DISCARD_SECTORS);
	put32(cfg + VIRTIO_BLK_CFG_MAX_WZ_SEG, 1);
	cfg[VIRTIO_BLK_CFG_WZ_MAY_UNMAP] = 1;
}

struct virtio_blk *virtio_blk_create(struct vm *vm, const char *spec)
{
	char err[256];
	struct virtio_blk_options o;
	if (virtio_blk_parse(spec, &o, err, sizeof err) < 0) {
		log_error("--disk %s", err);
		return NULL;
	}
	struct virtio_blk *blk = calloc(1, sizeof *blk);
	if (!blk) {
		log_error("virtio-blk: out of memory");
		virtio_blk_options_free(&o);
		return NULL;
	}
	blk->fd = blk->dfd = -1;
	blk->path = o.path; /* taken over */
	blk->readonly = o.readonly;
	if (open_backend(blk, &o) < 0) {
		virtio_blk_destroy(blk);
		return NULL;
	}
	uint64_t features = VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
	                    VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) |
	                    VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) | VIRTIO_BIT(VIRTIO_BLK_F_FLUSH);
	if (blk->readonly)
		features |= VIRTIO_BIT(VIRTIO_BLK_F_RO);
	else
		features |=
		    VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) | VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	struct virtio_dev_info info = {
	    .name = "virtio-blk",
	    .device_id = VIRTIO_ID_BLOCK,
	    .pci_class = PCI_CLASS_STORAGE_SCSI,
	    .features = features,
	    .nqueues = 1,
	    .queue_size = VIRTIO_BLK_QUEUE_SIZE,
	    .config_len = VIRTIO_BLK_CFG_LEN,
	    .ops = &blk_ops,
	    .opaque = blk,
	};
	blk->vdev = virtio_dev_create(vm, &info);
	if (!blk->vdev) {
		virtio_blk_destroy(blk);
		return NULL;
	}
	fill_config(blk, blk->vdev->config);
	if (virtio_dev_start(blk->vdev) < 0) {
		virtio_blk_destroy(blk);
		return NULL;
	}
	log_info("virtio-blk %02x.0: %s, %llu sectors%s%s", blk->vdev->pci.slot, blk->path,
	         (unsigned long long)blk->capacity, blk->readonly ? ", read-only" : "",
	         blk->dfd >= 0 ? ", cache=none" : "");
	return blk;
}

void virtio_blk_destroy(struct virtio_blk *blk)
{
	if (!blk)
		return;
	virtio_dev_destroy(blk->vdev); /* waits for the I/O in flight */
	if (blk->dfd >= 0)
		close(blk->dfd);
	if (blk->fd >= 0)
		close(blk->fd);
	free(blk->zeroes);
	free(blk->path);
	free(blk);
}
