/* virtio-rng: see virtio_rng.h. */
#include "dev/virtio/virtio_rng.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "dev/virtio/virtio_pci.h"
#include "util/log.h"

#define RNG_QUEUE_SIZE 64
#define PCI_CLASS_OTHER 0x00FF00

struct virtio_rng {
	struct virtio_dev *vdev;
	struct virtq_elem elem;
};

/* Fills the chain's writable buffers with up to VIRTIO_RNG_MAX_FILL random
 * bytes; returns how many were written. */
static uint32_t fill(const struct virtq_elem *e)
{
	size_t done = 0;
	for (unsigned i = e->nout; i < e->nout + e->nin && done < VIRTIO_RNG_MAX_FILL; i++) {
		uint8_t *p = e->iov[i].iov_base;
		size_t want = e->iov[i].iov_len;
		if (want > VIRTIO_RNG_MAX_FILL - done)
			want = VIRTIO_RNG_MAX_FILL - done;
		size_t got = 0;
		while (got < want) {
			ssize_t n = getrandom(p + got, want - got, 0);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				return (uint32_t)(done + got);
			}
			got += (size_t)n;
		}
		done += got;
	}
	return (uint32_t)done;
}

static void rng_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_rng *rng = vdev->info.opaque;
	struct virtq *vq = &vdev->queues[q].vq;
	char why[200];
	bool pushed = false;
	/* A bounded batch per turn; the rest in the next turn, so a driver that
	 * keeps adding buffers cannot hold the device lock for ever. */
	for (unsigned budget = vq->size;; budget--) {
		if (!budget) {
			virtio_queue_kick(vdev, q);
			break;
		}
		int rc = virtq_pop(vq, &rng->elem, why, sizeof why);
		if (rc < 0) {
			virtio_dev_fail(vdev, "request queue: %s", why);
			return;
		}
		if (rc == 0) {
			if (virtq_arm_notify(vq))
				continue;
			break;
		}
		virtq_push(vq, rng->elem.head, fill(&rng->elem));
		pushed = true;
	}
	if (pushed)
		virtio_queue_interrupt(vdev, q);
}

static const struct virtio_dev_ops rng_ops = {.queue_notify = rng_queue_notify};

struct virtio_rng *virtio_rng_create(struct vm *vm)
{
	struct virtio_rng *rng = calloc(1, sizeof *rng);
	if (!rng) {
		log_error("virtio-rng: out of memory");
		return NULL;
	}
	struct virtio_dev_info info = {
	    .name = "virtio-rng",
	    .device_id = VIRTIO_ID_RNG,
	    .pci_class = PCI_CLASS_OTHER,
	    .features = VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX),
	    .nqueues = 1,
	    .queue_size = RNG_QUEUE_SIZE,
	    .config_len = 0,
	    .ops = &rng_ops,
	    .opaque = rng,
	};
	rng->vdev = virtio_dev_create(vm, &info);
	if (!rng->vdev || virtio_dev_start(rng->vdev) < 0) {
		virtio_rng_destroy(rng);
		return NULL;
	}
	return rng;
}

void virtio_rng_destroy(struct virtio_rng *rng)
{
	if (!rng)
		return;
	virtio_dev_destroy(rng->vdev);
	free(rng);
}
