/* libFuzzer target: the split-virtqueue code (dev/virtio/virtqueue.c) driven
 * by an arbitrary driver. The input is
 *   byte 0-1   queue size (any value: invalid ones must be refused)
 *   byte 2     features: bit 0 INDIRECT_DESC, bit 1 EVENT_IDX
 *   byte 3-8   descriptor table, driver area and device area addresses, as
 *              16-bit offsets into guest RAM (so most land inside it)
 *   byte 9     how many rounds of pop/push to run
 *   the rest   the initial contents of guest RAM (64 KiB at guest-physical
 *              0; what is not given stays zero), i.e. the descriptors, the
 *              rings and everything they point at.
 * Every buffer a chain yields must lie inside guest RAM; the harness checks
 * that on top of ASan, and feeds used-ring writes back between rounds so
 * the device sees its own output in the driver's memory. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dev/virtio/virtio.h"
#include "dev/virtio/virtqueue.h"

#define RAM_SIZE 65536

static uint8_t *ram;
static struct virtq_elem elem;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 10)
		return 0;
	if (!ram)
		ram = aligned_alloc(4096, RAM_SIZE);
	memset(ram, 0, RAM_SIZE);
	size_t n = size - 10 < RAM_SIZE ? size - 10 : RAM_SIZE;
	memcpy(ram, data + 10, n);
	struct guest_mem mem = {.ram_size = RAM_SIZE, .nregions = 1};
	mem.regions[0] = (struct mem_region){.gpa = 0, .size = RAM_SIZE, .host = ram};

	struct virtq vq;
	virtq_init(&vq, 1024);
	vq.size = (uint16_t)(data[0] | data[1] << 8);
	uint64_t features = ((data[2] & 1) ? VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) : 0) |
	                    ((data[2] & 2) ? VIRTIO_BIT(VIRTIO_F_EVENT_IDX) : 0);
	vq.desc_addr = (uint64_t)(data[3] | data[4] << 8);
	vq.avail_addr = (uint64_t)(data[5] | data[6] << 8);
	vq.used_addr = (uint64_t)(data[7] | data[8] << 8);
	if (data[2] & 0x80) /* sometimes far outside RAM */
		vq.used_addr |= 0xFFFFFFFFFFF00000ULL;
	char why[256];
	if (virtq_start(&vq, &mem, features, why, sizeof why) < 0)
		return 0;
	unsigned rounds = data[9] % 64 + 1;
	for (unsigned r = 0; r < rounds; r++) {
		int rc = virtq_pop(&vq, &elem, why, sizeof why);
		if (rc < 0) {
			/* Broken: nothing more may come out. */
			if (virtq_pop(&vq, &elem, why, sizeof why) != 0)
				abort();
			break;
		}
		if (rc == 0) {
			virtq_arm_notify(&vq);
			continue;
		}
		if (elem.nout + elem.nin > VIRTQ_MAX_SEGS || elem.head >= vq.size)
			abort();
		for (unsigned i = 0; i < elem.nout + elem.nin; i++) {
			const uint8_t *p = elem.iov[i].iov_base;
			size_t len = elem.iov[i].iov_len;
			if (p < ram || p > ram + RAM_SIZE || len > (size_t)(ram + RAM_SIZE - p))
				abort();
			if (i >= elem.nout && len)
				((volatile uint8_t *)p)[len - 1] ^= 0x5A; /* the device writes */
		}
		uint8_t hdr[16];
		iov_to_buf(elem.iov, elem.nout, 0, hdr, sizeof hdr);
		virtq_push(&vq, elem.head, (uint32_t)elem.in_len);
		virtq_should_notify(&vq);
	}
	return 0;
}
