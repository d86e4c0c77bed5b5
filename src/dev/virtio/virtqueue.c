/* Split virtqueues, device side: see virtqueue.h for the rules kept. */
#include "dev/virtio/virtqueue.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "dev/virtio/virtio.h"

/* Byte offsets inside the available and used rings. */
#define AVAIL_FLAGS 0
#define AVAIL_IDX 2
#define AVAIL_RING 4
#define USED_FLAGS 0
#define USED_IDX 2
#define USED_RING 4
#define USED_ELEM_SIZE 8
#define DESC_SIZE 16

static size_t desc_bytes(uint16_t size)
{
	return (size_t)DESC_SIZE * size;
}
static size_t avail_bytes(uint16_t size)
{
	return AVAIL_RING + 2 * (size_t)size + 2; /* ring, then used_event */
}
static size_t used_bytes(uint16_t size)
{
	return USED_RING + USED_ELEM_SIZE * (size_t)size + 2; /* ring, then avail_event */
}

/* Guest-shared 16-bit fields. Their alignment was checked at start. */
static uint16_t load16(const uint8_t *p, int order)
{
	return __atomic_load_n((const uint16_t *)(const void *)p, order);
}
static void store16(uint8_t *p, uint16_t v, int order)
{
	__atomic_store_n((uint16_t *)(void *)p, v, order);
}
static void store32(uint8_t *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)(void *)p, v, __ATOMIC_RELAXED);
}

static int fail(struct virtq *vq, char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct virtq *vq, char *why, size_t why_len, const char *fmt, ...)
{
	if (vq)
		vq->broken = true;
	if (why && why_len) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, why_len, fmt, ap);
		va_end(ap);
	}
	return -1;
}

void virtq_init(struct virtq *vq, uint16_t max_size)
{
	memset(vq, 0, sizeof *vq);
	vq->max_size = max_size;
	vq->size = max_size;
}

void virtq_reset(struct virtq *vq)
{
	virtq_init(vq, vq->max_size);
}

int virtq_start(struct virtq *vq, const struct guest_mem *mem, uint64_t features, char *why,
                size_t why_len)
{
	uint16_t n = vq->size;
	vq->started = false;
	vq->broken = false;
	if (n == 0 || (n & (n - 1)))
		return fail(vq, why, why_len, "queue size %u is not a power of two", n);
	if (n > vq->max_size)
		return fail(vq, why, why_len, "queue size %u is above the maximum %u", n,
		            vq->max_size);
	if ((vq->desc_addr & 15) || (vq->avail_addr & 1) || (vq->used_addr & 3))
		return fail(vq, why, why_len,
		            "misaligned rings (descriptors %#llx, driver %#llx, device %#llx)",
		            (unsigned long long)vq->desc_addr, (unsigned long long)vq->avail_addr,
		            (unsigned long long)vq->used_addr);
	uint8_t *desc = mem_ptr(mem, vq->desc_addr, desc_bytes(n));
	uint8_t *avail = mem_ptr(mem, vq->avail_addr, avail_bytes(n));
	uint8_t *used = mem_ptr(mem, vq->used_addr, used_bytes(n));
	if (!desc || !avail || !used)
		return fail(vq, why, why_len, "%s area of %u entries at %#llx is not in guest RAM",
		            !desc    ? "descriptor"
		            : !avail ? "driver"
		                     : "device",
		            n,
		            (unsigned long long)(!desc    ? vq->desc_addr
		                                 : !avail ? vq->avail_addr
		                                          : vq->used_addr));
	vq->mem = mem;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->event_idx = features & VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	vq->indirect = features & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	vq->last_avail = 0;
	vq->used_idx = 0;
	vq->signalled_used = 0;
	vq->signalled_valid = false;
	vq->started = true;
	return 0;
}

/* A private copy of a descriptor: the guest may rewrite it at any time, so
 * it is read once and only the copy is checked and used. */
static struct virtq_desc read_desc(const uint8_t *table, unsigned i)
{
	struct virtq_desc d;
	memcpy(&d, table + (size_t)DESC_SIZE * i, sizeof d);
	return d;
}

bool virtq_has_work(struct virtq *vq)
{
	if (!vq->started || vq->broken)
		return false;
	return load16(vq->avail + AVAIL_IDX, __ATOMIC_ACQUIRE) != vq->last_avail;
}

int virtq_pop(struct virtq *vq, struct virtq_elem *elem, char *why, size_t why_len)
{
	if (!vq->started || vq->broken)
		return 0;
	uint16_t size = vq->size;
	uint16_t avail_idx = load16(vq->avail + AVAIL_IDX, __ATOMIC_ACQUIRE);
	uint16_t pending = (uint16_t)(avail_idx - vq->last_avail);
	if (pending == 0)
		return 0;
	if (pending > size)
		return fail(vq, why, why_len,
		            "driver index %u is %u entries past the device's %u, more than the "
		            "queue size %u",
		            avail_idx, pending, vq->last_avail, size);
	uint16_t head = load16(vq->avail + AVAIL_RING + 2 * (size_t)(vq->last_avail & (size - 1)),
	                       __ATOMIC_RELAXED);
	if (head >= size)
		return fail(vq, why, why_len, "chain head %u is outside the queue of %u", head,
		            size);

	elem->head = head;
	elem->nout = elem->nin = 0;
	elem->out_len = elem->in_len = 0;
	const uint8_t *table = vq->desc;
	unsigned table_size = size, idx = head, visited = 0;
	bool indirect = false;
	for (;;) {
		/* More descriptors than the table has means the chain loops. */
		if (++visited > table_size)
			return fail(vq, why, why_len,
			            "%s chain from %u is longer than its %u entries",
			            indirect ? "indirect" : "descriptor", head, table_size);
		struct virtq_desc d = read_desc(table, idx);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (!vq->indirect)
				return fail(vq, why, why_len,
				            "indirect descriptor without VIRTIO_F_INDIRECT_DESC");
			if (indirect)
				return fail(vq, why, why_len,
				            "indirect table inside an indirect table");
			if (visited != 1)
				return fail(vq, why, why_len,
				            "indirect descriptor %u in the middle of a chain", idx);
			if (d.flags & VIRTQ_DESC_F_NEXT)
				return fail(vq, why, why_len,
				            "descriptor %u has both INDIRECT and NEXT", idx);
			if (d.len == 0 || d.len % DESC_SIZE ||
			    d.len / DESC_SIZE > VIRTQ_MAX_INDIRECT)
				return fail(vq, why, why_len, "indirect table of %u bytes", d.len);
			table = mem_ptr(vq->mem, d.addr, d.len);
			if (!table)
				return fail(vq, why, why_len,
				            "indirect table at %#llx+%u is not in guest RAM",
				            (unsigned long long)d.addr, d.len);
			table_size = d.len / DESC_SIZE;
			idx = 0;
			visited = 0;
			indirect = true;
			continue;
		}
		if (elem->nout + elem->nin >= VIRTQ_MAX_SEGS)
			return fail(vq, why, why_len, "chain from %u has more than %u buffers",
			            head, VIRTQ_MAX_SEGS);
		void *p = mem_ptr(vq->mem, d.addr, d.len);
		if (!p)
			return fail(vq, why, why_len, "buffer %#llx+%u is not in guest RAM",
			            (unsigned long long)d.addr, d.len);
		struct iovec *v = &elem->iov[elem->nout + elem->nin];
		v->iov_base = p;
		v->iov_len = d.len;
		if (d.flags & VIRTQ_DESC_F_WRITE) {
			elem->nin++;
			elem->in_len += d.len;
		} else {
			if (elem->nin)
				return fail(vq, why, why_len,
				            "device-readable buffer after a device-writable one in "
				            "chain %u",
				            head);
			elem->nout++;
			elem->out_len += d.len;
		}
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		idx = d.next;
		if (idx >= table_size)
			return fail(vq, why, why_len, "next descriptor %u is outside the %s of %u",
			            idx, indirect ? "indirect table" : "queue", table_size);
	}
	vq->last_avail++;
	return 1;
}

void virtq_push(struct virtq *vq, uint16_t head, uint32_t len)
{
	virtq_fill(vq, 0, head, len);
	virtq_flush(vq, 1);
}

void virtq_fill(struct virtq *vq, uint16_t offset, uint16_t head, uint32_t len)
{
	if (!vq->started || vq->broken)
		return;
	uint16_t pos = (uint16_t)(vq->used_idx + offset);
	uint8_t *e = vq->used + USED_RING + USED_ELEM_SIZE * (size_t)(pos & (vq->size - 1));
	store32(e, head);
	store32(e + 4, len);
}

void virtq_flush(struct virtq *vq, uint16_t count)
{
	if (!vq->started || vq->broken)
		return;
	vq->used_idx = (uint16_t)(vq->used_idx + count);
	/* The elements must be visible before the index that covers them. */
	store16(vq->used + USED_IDX, vq->used_idx, __ATOMIC_RELEASE);
}

void virtq_unpop(struct virtq *vq, uint16_t n)
{
	vq->last_avail = (uint16_t)(vq->last_avail - n);
}

bool virtq_should_notify(struct virtq *vq)
{
	if (!vq->started || vq->broken)
		return false;
	/* Pairs with the driver's fence between writing used_event (or the
	 * flags) and reading the used index. */
	atomic_thread_fence(memory_order_seq_cst);
	if (!vq->event_idx)
		return !(load16(vq->avail + AVAIL_FLAGS, __ATOMIC_RELAXED) &
		         VIRTQ_AVAIL_F_NO_INTERRUPT);
	uint16_t old = vq->signalled_used, now = vq->used_idx;
	bool valid = vq->signalled_valid;
	vq->signalled_used = now;
	vq->signalled_valid = true;
	if (!valid)
		return true;
	uint16_t event = load16(vq->avail + AVAIL_RING + 2 * (size_t)vq->size, __ATOMIC_RELAXED);
	return virtq_need_event(event, now, old);
}

bool virtq_arm_notify(struct virtq *vq)
{
	if (!vq->started || vq->broken)
		return false;
	if (vq->event_idx)
		store16(vq->used + USED_RING + USED_ELEM_SIZE * (size_t)vq->size, vq->last_avail,
		        __ATOMIC_RELAXED);
	else
		store16(vq->used + USED_FLAGS, 0, __ATOMIC_RELAXED);
	/* Publish the request before looking for chains the driver added
	 * without notifying (it read the old value). */
	atomic_thread_fence(memory_order_seq_cst);
	return load16(vq->avail + AVAIL_IDX, __ATOMIC_ACQUIRE) != vq->last_avail;
}

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t offset, void *buf, size_t len)
{
	size_t done = 0;
	for (unsigned i = 0; i < n && done < len; i++) {
		if (offset >= iov[i].iov_len) {
			offset -= iov[i].iov_len;
			continue;
		}
		size_t chunk = iov[i].iov_len - offset;
		if (chunk > len - done)
			chunk = len - done;
		memcpy((uint8_t *)buf + done, (const uint8_t *)iov[i].iov_base + offset, chunk);
		done += chunk;
		offset = 0;
	}
	return done;
}

size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t offset, const void *buf, size_t len)
{
	size_t done = 0;
	for (unsigned i = 0; i < n && done < len; i++) {
		if (offset >= iov[i].iov_len) {
			offset -= iov[i].iov_len;
			continue;
		}
		size_t chunk = iov[i].iov_len - offset;
		if (chunk > len - done)
			chunk = len - done;
		memcpy((uint8_t *)iov[i].iov_base + offset, (const uint8_t *)buf + done, chunk);
		done += chunk;
		offset = 0;
	}
	return done;
}

int iov_slice(const struct iovec *iov, unsigned n, size_t offset, size_t len, struct iovec *dst,
              unsigned dst_max)
{
	unsigned count = 0;
	for (unsigned i = 0; i < n && len; i++) {
		if (offset >= iov[i].iov_len) {
			offset -= iov[i].iov_len;
			continue;
		}
		size_t chunk = iov[i].iov_len - offset;
		if (chunk > len)
			chunk = len;
		if (count == dst_max)
			return -1;
		dst[count].iov_base = (uint8_t *)iov[i].iov_base + offset;
		dst[count].iov_len = chunk;
		count++;
		len -= chunk;
		offset = 0;
	}
	return len ? -1 : (int)count;
}
