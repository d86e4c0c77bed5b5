/* virtio-console, one port: see virtio_console.h. */
#include "dev/virtio/virtio_console.h"

#include <stdlib.h>

#include "console.h"
#include "dev/virtio/virtio_pci.h"
#include "util/log.h"

#define CONSOLE_QUEUE_SIZE 64
#define RX_QUEUE 0
#define TX_QUEUE 1
#define PCI_CLASS_COMMUNICATION_OTHER 0x078000

struct virtio_console {
	struct virtio_dev *vdev;
	struct console *con;
	struct virtq_elem elem;
};

/* Host input → the guest's receive buffers, while both exist. */
static void console_rx(struct virtio_console *vc)
{
	struct virtio_dev *vdev = vc->vdev;
	struct virtq *vq = &vdev->queues[RX_QUEUE].vq;
	char why[200];
	bool pushed = false;
	for (unsigned budget = vq->size; console_input_pending(vc->con); budget--) {
		if (!budget) {
			virtio_queue_kick(vdev, RX_QUEUE);
			break;
		}
		int rc = virtq_pop(vq, &vc->elem, why, sizeof why);
		if (rc < 0) {
			virtio_dev_fail(vdev, "receive queue: %s", why);
			return;
		}
		if (rc == 0) {
			/* No buffer: the driver's next one brings a notification. */
			if (virtq_arm_notify(vq))
				continue;
			break;
		}
		size_t got = 0;
		for (unsigned i = vc->elem.nout; i < vc->elem.nout + vc->elem.nin; i++) {
			size_t n = console_read(vc->con, vc->elem.iov[i].iov_base,
			                        vc->elem.iov[i].iov_len);
			got += n;
			if (n < vc->elem.iov[i].iov_len)
				break;
		}
		virtq_push(vq, vc->elem.head, (uint32_t)got);
		pushed = true;
	}
	if (pushed)
		virtio_queue_interrupt(vdev, RX_QUEUE);
}

/* The guest's output → the host console. */
static void console_tx(struct virtio_console *vc)
{
	struct virtio_dev *vdev = vc->vdev;
	struct virtq *vq = &vdev->queues[TX_QUEUE].vq;
	char why[200];
	bool pushed = false;
	for (unsigned budget = vq->size;; budget--) {
		if (!budget) {
			virtio_queue_kick(vdev, TX_QUEUE);
			break;
		}
		int rc = virtq_pop(vq, &vc->elem, why, sizeof why);
		if (rc < 0) {
			virtio_dev_fail(vdev, "transmit queue: %s", why);
			return;
		}
		if (rc == 0) {
			if (virtq_arm_notify(vq))
				continue;
			break;
		}
		for (unsigned i = 0; i < vc->elem.nout; i++)
			if (vc->con)
				console_write(vc->con, vc->elem.iov[i].iov_base,
				              vc->elem.iov[i].iov_len);
		virtq_push(vq, vc->elem.head, 0);
		pushed = true;
	}
	if (pushed)
		virtio_queue_interrupt(vdev, TX_QUEUE);
}

static void console_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_console *vc = vdev->info.opaque;
	if (q == RX_QUEUE)
		console_rx(vc);
	else if (q == TX_QUEUE)
		console_tx(vc);
}

static void console_config_write(struct virtio_dev *vdev, unsigned offset, unsigned size,
                                 uint64_t value)
{
	struct virtio_console *vc = vdev->info.opaque;
	if (offset == VIRTIO_CONSOLE_CFG_EMERG_WR && size == 4 &&
	    (vdev->guest_features & VIRTIO_BIT(VIRTIO_CONSOLE_F_EMERG_WRITE)) && vc->con) {
		uint8_t c = (uint8_t)value;
		console_write(vc->con, &c, 1);
	}
}

/* Console input thread: only wakes the I/O thread (no device lock here). */
static void console_input(void *opaque)
{
	struct virtio_console *vc = opaque;
	virtio_queue_kick(vc->vdev, RX_QUEUE);
}

static const struct virtio_dev_ops console_ops = {
    .queue_notify = console_queue_notify,
    .config_write = console_config_write,
};

struct virtio_console *virtio_console_create(struct vm *vm, struct console *con)
{
	struct virtio_console *vc = calloc(1, sizeof *vc);
	if (!vc) {
		log_error("virtio-console: out of memory");
		return NULL;
	}
	vc->con = con;
	struct virtio_dev_info info = {
	    .name = "virtio-console",
	    .device_id = VIRTIO_ID_CONSOLE,
	    .pci_class = PCI_CLASS_COMMUNICATION_OTHER,
	    .features = VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
	                VIRTIO_BIT(VIRTIO_CONSOLE_F_EMERG_WRITE),
	    .nqueues = 2,
	    .queue_size = CONSOLE_QUEUE_SIZE,
	    .config_len = VIRTIO_CONSOLE_CFG_LEN,
	    .ops = &console_ops,
	    .opaque = vc,
	};
	vc->vdev = virtio_dev_create(vm, &info);
	if (!vc->vdev) {
		free(vc);
		return NULL;
	}
	/* cols, rows 0 (no size feature); max_nr_ports 1; emerg_wr 0. */
	vc->vdev->config[4] = 1;
	if (virtio_dev_start(vc->vdev) < 0) {
		virtio_dev_destroy(vc->vdev);
		free(vc);
		return NULL;
	}
	if (con)
		console_set_input_handler(con, console_input, vc);
	return vc;
}

void virtio_console_destroy(struct virtio_console *vc)
{
	if (!vc)
		return;
	if (vc->con)
		console_set_input_handler(vc->con, NULL, NULL);
	virtio_dev_destroy(vc->vdev);
	free(vc);
}
