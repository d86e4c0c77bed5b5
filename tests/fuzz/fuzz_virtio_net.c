/* libFuzzer target: virtio-net's queue logic (dev/virtio/virtio_net.c)
 * against an arbitrary driver: transmit chains taken apart into frames, and
 * frames put into receive chains (mergeable or not). The input is
 *   byte 0      bit 0 INDIRECT_DESC, bit 1 EVENT_IDX, bit 2 mergeable
 *               receive buffers
 *   byte 1-2    queue size of both queues (any value: invalid ones must be
 *               refused)
 *   byte 3-8    receive queue: descriptor table, driver and device areas,
 *               as 16-bit offsets into guest RAM
 *   byte 9-14   transmit queue: the same
 *   byte 15     rounds
 *   byte 16-17  seed of the received frames' lengths
 *   the rest    the initial contents of guest RAM (64 KiB at 0)
 * Checked beyond ASan: every frame buffer lies in guest RAM and adds up to
 * the frame's length; a frame that is not delivered takes no chain; one
 * that is delivered returns as many chains as it took. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dev/virtio/virtio.h"
#include "dev/virtio/virtio_net.h"
#include "dev/virtio/virtqueue.h"

#define RAM_SIZE 65536

static uint8_t *ram;
static uint8_t *frame;
static struct virtq_elem elem;
static struct iovec parts[VIRTQ_MAX_SEGS];

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void in_ram(const void *base, size_t len)
{
	const uint8_t *p = base;
	if (p < ram || p > ram + RAM_SIZE || len > (size_t)(ram + RAM_SIZE - p))
		abort();
}

static int start(struct virtq *vq, const struct guest_mem *mem, uint16_t size, const uint8_t *a,
                 uint64_t features)
{
	virtq_init(vq, 1024);
	vq->size = size;
	vq->desc_addr = get16(a);
	vq->avail_addr = get16(a + 2);
	vq->used_addr = get16(a + 4);
	char why[256];
	return virtq_start(vq, mem, features, why, sizeof why);
}

static void transmit(struct virtq *vq)
{
	char why[256];
	int rc = virtq_pop(vq, &elem, why, sizeof why);
	if (rc <= 0) {
		if (rc == 0)
			virtq_arm_notify(vq);
		return;
	}
	unsigned n = 0;
	size_t len = 0;
	if (virtio_net_tx_frame(&elem, parts, &n, &len) == 0) {
		if (n == 0 || n > VIRTQ_MAX_SEGS || len < VIRTIO_NET_MIN_FRAME ||
		    len > VIRTIO_NET_MAX_FRAME)
			abort();
		size_t sum = 0;
		for (unsigned i = 0; i < n; i++) {
			in_ram(parts[i].iov_base, parts[i].iov_len);
			sum += parts[i].iov_len;
		}
		if (sum != len || iov_to_buf(parts, n, 0, frame, len) != len)
			abort();
	}
	virtq_push(vq, elem.head, 0);
	virtq_should_notify(vq);
}

static bool receive(struct virtq *vq, bool mergeable, size_t len)
{
	char why[256];
	uint16_t avail_before = vq->last_avail, used_before = vq->used_idx;
	enum virtio_net_rx_result r =
	    virtio_net_rx_put(vq, mergeable, frame, len, &elem, why, sizeof why);
	uint16_t taken = (uint16_t)(vq->last_avail - avail_before);
	uint16_t returned = (uint16_t)(vq->used_idx - used_before);
	switch (r) {
	case NET_RX_DONE:
		if (taken == 0 || taken != returned || (!mergeable && taken != 1) ||
		    taken > VIRTIO_NET_RX_MAX_CHAINS)
			abort();
		virtq_should_notify(vq);
		return true;
	case NET_RX_NO_BUFFERS:
	case NET_RX_TOO_BIG:
		if (taken || returned)
			abort();
		return true;
	case NET_RX_BROKEN: return false;
	}
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 18)
		return 0;
	if (!ram) {
		ram = aligned_alloc(4096, RAM_SIZE);
		frame = malloc(VIRTIO_NET_MAX_FRAME);
		for (size_t i = 0; i < VIRTIO_NET_MAX_FRAME; i++)
			frame[i] = (uint8_t)(i * 13);
	}
	memset(ram, 0, RAM_SIZE);
	size_t n = size - 18 < RAM_SIZE ? size - 18 : RAM_SIZE;
	memcpy(ram, data + 18, n);
	struct guest_mem mem = {.ram_size = RAM_SIZE, .nregions = 1};
	mem.regions[0] = (struct mem_region){.gpa = 0, .size = RAM_SIZE, .host = ram};

	uint64_t features = ((data[0] & 1) ? VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) : 0) |
	                    ((data[0] & 2) ? VIRTIO_BIT(VIRTIO_F_EVENT_IDX) : 0);
	bool mergeable = data[0] & 4;
	uint16_t qsize = get16(data + 1);
	struct virtq rx, tx;
	bool rx_ok = start(&rx, &mem, qsize, data + 3, features) == 0;
	bool tx_ok = start(&tx, &mem, qsize, data + 9, features) == 0;
	unsigned rounds = data[15] % 32 + 1;
	uint16_t seed = get16(data + 16);
	for (unsigned r = 0; r < rounds; r++) {
		if (tx_ok)
			transmit(&tx);
		if (rx_ok) {
			/* Mostly small frames, sometimes up to the largest. */
			size_t len = (seed & 0x8000) ? seed % VIRTIO_NET_MAX_FRAME : seed % 1600;
			if (len < VIRTIO_NET_MIN_FRAME)
				len = VIRTIO_NET_MIN_FRAME;
			rx_ok = receive(&rx, mergeable, len);
		}
		seed = (uint16_t)(seed * 25173 + 13849);
	}
	return 0;
}
