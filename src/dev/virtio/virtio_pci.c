/* The virtio 1.x PCI transport: see virtio_pci.h. */
#include "dev/virtio/virtio_pci.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "vm.h"

/* At most this many error lines per device per window. */
#define LOG_BURST 10
#define LOG_WINDOW_NS 10000000000ULL

/* --- logging --- */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void vlog(struct virtio_dev *vdev, const char *fmt, va_list ap, const char *suffix)
{
	uint64_t now = now_ns();
	if (now - vdev->log_window_start >= LOG_WINDOW_NS) {
		if (vdev->log_suppressed)
			log_warn("%s %02x.0: %u more errors were not logged", vdev->info.name,
			         vdev->pci.slot, vdev->log_suppressed);
		vdev->log_window_start = now;
		vdev->log_count = 0;
		vdev->log_suppressed = 0;
	}
	if (vdev->log_count >= LOG_BURST) {
		vdev->log_suppressed++;
		return;
	}
	vdev->log_count++;
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	log_warn("%s %02x.0: %s%s", vdev->info.name, vdev->pci.slot, msg, suffix);
}

void virtio_dev_log(struct virtio_dev *vdev, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(vdev, fmt, ap, "");
	va_end(ap);
}

/* --- interrupts --- */

/* INTx follows ISR status while MSI-X is off (4.1.4.5). */
static void update_intx(struct virtio_dev *vdev)
{
	bool level = vdev->isr && !vdev->msix_enabled && !vdev->intx_disabled;
	if (level == vdev->intx_level)
		return;
	vdev->intx_level = level;
	pci_set_irq(&vdev->pci, level);
}

/* Sends vector v: through its irqfd where the engine offers them (made on
 * first use, re-pointed when the guest changed the message), otherwise as a
 * plain vm_signal_msi(). */
static void msix_send(struct virtio_dev *vdev, unsigned v)
{
	struct virtio_msix_entry *e = &vdev->msix[v];
	uint64_t address = (uint64_t)e->addr_hi << 32 | e->addr_lo;
	const struct engine_ops *eng = vdev->vm->engine;
	if (eng && eng->irqfd_add) {
		if (e->irqfd < 0)
			e->irqfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (e->irqfd >= 0 && e->route < 0) {
			e->route = eng->irqfd_add(vdev->vm, e->irqfd, address, e->data);
			e->route_dirty = false;
		} else if (e->route >= 0 && e->route_dirty &&
		           eng->irqfd_update(vdev->vm, e->route, address, e->data) == 0) {
			e->route_dirty = false;
		}
		if (e->route >= 0 && !e->route_dirty) {
			eventfd_write(e->irqfd, 1);
			return;
		}
	}
	vm_signal_msi(vdev->vm, address, e->data);
}

static bool msix_pending(struct virtio_dev *vdev, unsigned v)
{
	return vdev->msix_pba[v / 64] & (1ULL << (v % 64));
}

static void msix_set_pending(struct virtio_dev *vdev, unsigned v, bool on)
{
	if (on)
		vdev->msix_pba[v / 64] |= 1ULL << (v % 64);
	else
		vdev->msix_pba[v / 64] &= ~(1ULL << (v % 64));
}

/* A vector fires: sent now, or held pending while it is masked (PCI MSI-X
 * rules: delivered when unmasked). */
static void msix_fire(struct virtio_dev *vdev, uint16_t v)
{
	if (v == VIRTIO_MSI_NO_VECTOR || v >= vdev->msix_entries)
		return;
	if (vdev->msix_masked || (vdev->msix[v].ctrl & PCI_MSIX_ENTRY_MASKED)) {
		msix_set_pending(vdev, v, true);
		return;
	}
	msix_send(vdev, v);
}

/* After a mask bit changed: send what became deliverable. */
static void msix_flush_pending(struct virtio_dev *vdev)
{
	if (!vdev->msix_enabled || vdev->msix_masked)
		return;
	for (unsigned v = 0; v < vdev->msix_entries; v++) {
		if (msix_pending(vdev, v) && !(vdev->msix[v].ctrl & PCI_MSIX_ENTRY_MASKED)) {
			msix_set_pending(vdev, v, false);
			msix_send(vdev, v);
		}
	}
}

static void raise_queue_interrupt(struct virtio_dev *vdev, unsigned q)
{
	if (vdev->msix_enabled) {
		msix_fire(vdev, vdev->queues[q].msix_vector);
		return;
	}
	vdev->isr |= VIRTIO_ISR_QUEUE;
	update_intx(vdev);
}

static void raise_config_interrupt(struct virtio_dev *vdev)
{
	vdev->isr |= VIRTIO_ISR_CONFIG;
	if (vdev->msix_enabled)
		msix_fire(vdev, vdev->config_vector);
	else
		update_intx(vdev);
}

void virtio_queue_interrupt(struct virtio_dev *vdev, unsigned q)
{
	if (q >= vdev->nqueues || !(vdev->status & VIRTIO_STATUS_DRIVER_OK))
		return;
	if (virtq_should_notify(&vdev->queues[q].vq))
		raise_queue_interrupt(vdev, q);
}

void virtio_config_changed(struct virtio_dev *vdev)
{
	vdev->config_generation++;
	if (vdev->status & VIRTIO_STATUS_DRIVER_OK)
		raise_config_interrupt(vdev);
}

void virtio_dev_fail(struct virtio_dev *vdev, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(vdev, fmt, ap, "; the device needs a reset");
	va_end(ap);
	if (vdev->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	vdev->status |= VIRTIO_STATUS_NEEDS_RESET;
	if (vdev->status & VIRTIO_STATUS_DRIVER_OK)
		raise_config_interrupt(vdev);
}

/* --- queues --- */

static bool dev_running(const struct virtio_dev *vdev)
{
	return (vdev->status & (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_NEEDS_RESET)) ==
	           VIRTIO_STATUS_DRIVER_OK &&
	       vdev->bus_master;
}

bool virtio_queue_ready(struct virtio_dev *vdev, unsigned q)
{
	return q < vdev->nqueues && dev_running(vdev) && vdev->queues[q].enabled &&
	       !vdev->queues[q].vq.broken;
}

void virtio_queue_kick(struct virtio_dev *vdev, unsigned q)
{
	if (q < vdev->nqueues)
		eventfd_write(vdev->queues[q].kick_fd, 1);
}

/* I/O thread: queue q's eventfd was signalled. */
static void queue_kicked(void *opaque)
{
	struct virtio_queue *vq = opaque;
	struct virtio_dev *vdev = vq->vdev;
	pthread_mutex_lock(&vdev->lock);
	if (vdev->status & VIRTIO_STATUS_NEEDS_RESET) {
		/* Nothing until the driver resets the device. */
	} else if (!dev_running(vdev)) {
		/* Before DRIVER_OK (or bus mastering) the device may not touch
		 * the rings; look again when it may. */
		vq->kick_pending = true;
	} else if (!vq->enabled) {
		virtio_dev_fail(vdev, "notification for queue %u, which the driver never enabled",
		                vq->index);
	} else if (!vq->vq.broken) {
		vq->kick_pending = false;
		vdev->info.ops->queue_notify(vdev, vq->index);
	}
	pthread_mutex_unlock(&vdev->lock);
}

/* The device may run now (DRIVER_OK or bus mastering just came on): look at
 * every enabled queue, as notifications may have come before. */
static void kick_all_queues(struct virtio_dev *vdev)
{
	if (!dev_running(vdev))
		return;
	for (unsigned q = 0; q < vdev->nqueues; q++)
		if (vdev->queues[q].enabled || vdev->queues[q].kick_pending)
			virtio_queue_kick(vdev, q);
}

uint64_t virtio_request_begin(struct virtio_dev *vdev)
{
	vdev->inflight++;
	return vdev->generation;
}

bool virtio_request_end(struct virtio_dev *vdev, uint64_t generation)
{
	if (vdev->inflight)
		vdev->inflight--;
	if (vdev->reset_pending && vdev->inflight == 0)
		vdev->reset_pending = false;
	return generation == vdev->generation;
}

/* --- the status machine --- */

static void device_reset(struct virtio_dev *vdev)
{
	uint8_t old = vdev->status;
	vdev->status = 0;
	vdev->guest_features = 0;
	vdev->device_feature_select = vdev->driver_feature_select = 0;
	vdev->queue_select = 0;
	vdev->config_vector = VIRTIO_MSI_NO_VECTOR;
	vdev->isr = 0;
	update_intx(vdev);
	for (unsigned q = 0; q < vdev->nqueues; q++) {
		struct virtio_queue *vq = &vdev->queues[q];
		virtq_reset(&vq->vq);
		vq->msix_vector = VIRTIO_MSI_NO_VECTOR;
		vq->enabled = false;
		vq->kick_pending = false;
	}
	vdev->generation++;
	if (vdev->info.ops->reset)
		vdev->info.ops->reset(vdev);
	if (vdev->inflight) {
		/* Completed when the last request in flight ends (it will not
		 * touch the rings); until then device_status does not read 0. */
		if (!vdev->reset_pending)
			vdev->status_before_reset = old ? old : VIRTIO_STATUS_ACKNOWLEDGE;
		vdev->reset_pending = true;
	}
}

static void write_status(struct virtio_dev *vdev, uint8_t v)
{
	if (v == 0) {
		device_reset(vdev);
		return;
	}
	uint8_t old = vdev->status;
	if ((v & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
		uint64_t extra = vdev->guest_features & ~vdev->host_features;
		if (extra || !(vdev->guest_features & VIRTIO_BIT(VIRTIO_F_VERSION_1))) {
			/* Not accepted: FEATURES_OK stays clear, as the driver
			 * reads back (3.1.1). */
			virtio_dev_log(vdev,
			               extra ? "driver accepted features %#llx it was not offered"
			                     : "driver did not accept VIRTIO_F_VERSION_1%.0llx",
			               (unsigned long long)extra);
			v &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
		}
	}
	vdev->status = v | (old & VIRTIO_STATUS_NEEDS_RESET);
	if ((v & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK)) {
		if (!(vdev->status & VIRTIO_STATUS_FEATURES_OK)) {
			virtio_dev_fail(vdev, "DRIVER_OK without FEATURES_OK");
			return;
		}
		kick_all_queues(vdev);
	}
}

static uint8_t read_status(struct virtio_dev *vdev)
{
	if (vdev->reset_pending && vdev->status == 0)
		return vdev->status_before_reset;
	return vdev->status;
}

/* --- common configuration --- */

static struct virtio_queue *selected_queue(struct virtio_dev *vdev)
{
	return vdev->queue_select < vdev->nqueues ? &vdev->queues[vdev->queue_select] : NULL;
}

static uint16_t valid_vector(struct virtio_dev *vdev, uint16_t v)
{
	return v < vdev->msix_entries ? v : VIRTIO_MSI_NO_VECTOR;
}

static void enable_queue(struct virtio_dev *vdev, struct virtio_queue *vq)
{
	char why[200];
	if (vq->enabled)
		return;
	if (virtq_start(&vq->vq, &vdev->vm->mem, vdev->guest_features, why, sizeof why) < 0) {
		virtio_dev_fail(vdev, "queue %u: %s", vq->index, why);
		return;
	}
	vq->enabled = true;
	if (dev_running(vdev))
		virtio_queue_kick(vdev, vq->index);
}

/* Both halves of a 64-bit register, each 32 bits wide. */
static void set_half(uint64_t *reg, uint64_t offset, unsigned size, uint64_t value)
{
	if (size == 8 && !(offset & 7)) {
		*reg = value;
		return;
	}
	unsigned shift = (offset & 4) * 8;
	*reg = (*reg & ~(0xFFFFFFFFULL << shift)) | ((value & 0xFFFFFFFFULL) << shift);
}

static uint64_t get_half(uint64_t reg, uint64_t offset, unsigned size)
{
	if (size == 8 && !(offset & 7))
		return reg;
	return (reg >> ((offset & 4) * 8)) & 0xFFFFFFFFULL;
}

/* Is [offset, offset + size) exactly the register at reg of width w (or
 * either 32-bit half of a 64-bit one)? */
static bool is_reg(uint64_t offset, unsigned size, unsigned reg, unsigned w)
{
	if (w == 8)
		return (size == 8 && offset == reg) ||
		       (size == 4 && (offset == reg || offset == reg + 4));
	return offset == reg && size == w;
}

static uint64_t common_read(struct virtio_dev *vdev, uint64_t off, unsigned size)
{
	struct virtio_queue *vq = selected_queue(vdev);
	if (is_reg(off, size, VIRTIO_PCI_DEVICE_FEATURE_SELECT, 4))
		return vdev->device_feature_select;
	if (is_reg(off, size, VIRTIO_PCI_DEVICE_FEATURE, 4))
		return vdev->device_feature_select < 2
		           ? (uint32_t)(vdev->host_features >> (32 * vdev->device_feature_select))
		           : 0;
	if (is_reg(off, size, VIRTIO_PCI_DRIVER_FEATURE_SELECT, 4))
		return vdev->driver_feature_select;
	if (is_reg(off, size, VIRTIO_PCI_DRIVER_FEATURE, 4))
		return vdev->driver_feature_select < 2
		           ? (uint32_t)(vdev->guest_features >> (32 * vdev->driver_feature_select))
		           : 0;
	if (is_reg(off, size, VIRTIO_PCI_CONFIG_MSIX_VECTOR, 2))
		return vdev->config_vector;
	if (is_reg(off, size, VIRTIO_PCI_NUM_QUEUES, 2))
		return vdev->nqueues;
	if (is_reg(off, size, VIRTIO_PCI_DEVICE_STATUS, 1))
		return read_status(vdev);
	if (is_reg(off, size, VIRTIO_PCI_CONFIG_GENERATION, 1))
		return vdev->config_generation;
	if (is_reg(off, size, VIRTIO_PCI_QUEUE_SELECT, 2))
		return vdev->queue_select;
	if (!vq)
		return 0; /* every queue register of a queue that does not exist */
	if (is_reg(off, size, VIRTIO_PCI_QUEUE_SIZE, 2))
		return vq->vq.size;
	if (is_reg(off, size, VIRTIO_PCI_QUEUE_MSIX_VECTOR, 2))
		return vq->msix_vector;
	if (is_reg(off, size, VIRTIO_PCI_QUEUE_ENABLE, 2))
		return vq->enabled;
	if (is_reg(off, size, VIRTIO_PCI_QUEUE_NOTIFY_OFF, 2))
		return vq->index;
	if (is_reg(off, size, VIRTIO_PCI_QUEUE_DESC, 8))
		return get_half(vq->vq.desc_addr, off, size);
	if (is_reg(off, size, VIRTIO_PCI_QUEUE_DRIVER, 8))
		return get_half(vq->vq.avail_addr, off, size);
	if (is_reg(off, size, VIRTIO_PCI_QUEUE_DEVICE, 8))
		return get_half(vq->vq.used_addr, off, size);
	return 0;
}

static void common_write(struct virtio_dev *vdev, uint64_t off, unsigned size, uint64_t v)
{
	struct virtio_queue *vq = selected_queue(vdev);
	bool features_locked = vdev->status & VIRTIO_STATUS_FEATURES_OK;
	if (is_reg(off, size, VIRTIO_PCI_DEVICE_FEATURE_SELECT, 4)) {
		vdev->device_feature_select = (uint32_t)v;
	} else if (is_reg(off, size, VIRTIO_PCI_DRIVER_FEATURE_SELECT, 4)) {
		vdev->driver_feature_select = (uint32_t)v;
	} else if (is_reg(off, size, VIRTIO_PCI_DRIVER_FEATURE, 4)) {
		unsigned sel = vdev->driver_feature_select;
		if (features_locked)
			virtio_dev_log(vdev, "driver features written after FEATURES_OK: ignored");
		else if (sel < 2)
			vdev->guest_features =
			    (vdev->guest_features & ~(0xFFFFFFFFULL << (32 * sel))) |
			    ((v & 0xFFFFFFFFULL) << (32 * sel));
	} else if (is_reg(off, size, VIRTIO_PCI_CONFIG_MSIX_VECTOR, 2)) {
		vdev->config_vector = valid_vector(vdev, (uint16_t)v);
	} else if (is_reg(off, size, VIRTIO_PCI_DEVICE_STATUS, 1)) {
		write_status(vdev, (uint8_t)v);
	} else if (is_reg(off, size, VIRTIO_PCI_QUEUE_SELECT, 2)) {
		vdev->queue_select = (uint16_t)v;
	} else if (!vq) {
		/* A queue that does not exist: nothing to change. */
	} else if (is_reg(off, size, VIRTIO_PCI_QUEUE_MSIX_VECTOR, 2)) {
		vq->msix_vector = valid_vector(vdev, (uint16_t)v);
	} else if (is_reg(off, size, VIRTIO_PCI_QUEUE_ENABLE, 2)) {
		if (v == 1)
			enable_queue(vdev, vq);
		else
			virtio_dev_log(vdev, "queue_enable written with %llu: ignored",
			               (unsigned long long)v);
	} else if (vq->enabled && (is_reg(off, size, VIRTIO_PCI_QUEUE_SIZE, 2) ||
	                           is_reg(off, size, VIRTIO_PCI_QUEUE_DESC, 8) ||
	                           is_reg(off, size, VIRTIO_PCI_QUEUE_DRIVER, 8) ||
	                           is_reg(off, size, VIRTIO_PCI_QUEUE_DEVICE, 8))) {
		virtio_dev_log(vdev, "queue %u reprogrammed while enabled: ignored", vq->index);
	} else if (is_reg(off, size, VIRTIO_PCI_QUEUE_SIZE, 2)) {
		vq->vq.size = (uint16_t)v; /* checked when the queue is enabled */
	} else if (is_reg(off, size, VIRTIO_PCI_QUEUE_DESC, 8)) {
		set_half(&vq->vq.desc_addr, off, size, v);
	} else if (is_reg(off, size, VIRTIO_PCI_QUEUE_DRIVER, 8)) {
		set_half(&vq->vq.avail_addr, off, size, v);
	} else if (is_reg(off, size, VIRTIO_PCI_QUEUE_DEVICE, 8)) {
		set_half(&vq->vq.used_addr, off, size, v);
	}
	/* Anything else: read-only registers, odd sizes or offsets. */
}

/* --- notifications from the driver --- */

static void notify_write(struct virtio_dev *vdev, uint64_t off, unsigned size, uint64_t v)
{
	if (off % VIRTIO_PCI_NOTIFY_MULTIPLIER)
		return;
	uint64_t q = off / VIRTIO_PCI_NOTIFY_MULTIPLIER;
	if (q >= vdev->nqueues) {
		if (vdev->status & VIRTIO_STATUS_DRIVER_OK)
			virtio_dev_fail(vdev, "notification for queue %llu; the device has %u",
			                (unsigned long long)q, vdev->nqueues);
		return;
	}
	/* Handled on the I/O thread, exactly as a KVM ioeventfd would. */
	virtio_queue_kick(vdev, (unsigned)q);
}

/* --- MSI-X table --- */

static uint64_t msix_read(struct virtio_dev *vdev, uint64_t off, unsigned size)
{
	if (size != 4 && size != 8)
		return 0;
	if (off >= VIRTIO_PCI_MSIX_PBA) {
		uint64_t pba_off = off - VIRTIO_PCI_MSIX_PBA;
		if (pba_off + size > sizeof vdev->msix_pba)
			return 0;
		uint64_t v = 0;
		memcpy(&v, (const uint8_t *)vdev->msix_pba + pba_off, size);
		return v;
	}
	unsigned v_idx = (unsigned)(off / 16), word = (unsigned)(off % 16) / 4;
	if (v_idx >= vdev->msix_entries || (off & 3) || (size == 8 && (off & 7)))
		return 0;
	const struct virtio_msix_entry *e = &vdev->msix[v_idx];
	const uint32_t words[4] = {e->addr_lo, e->addr_hi, e->data, e->ctrl};
	uint64_t r = words[word];
	if (size == 8)
		r |= (uint64_t)words[word + 1] << 32;
	return r;
}

static void msix_write_word(struct virtio_dev *vdev, unsigned v_idx, unsigned word, uint32_t val)
{
	struct virtio_msix_entry *e = &vdev->msix[v_idx];
	switch (word) {
	case 0:
		e->route_dirty |= e->addr_lo != (val & ~3u);
		e->addr_lo = val & ~3u; /* dword aligned */
		break;
	case 1:
		e->route_dirty |= e->addr_hi != val;
		e->addr_hi = val;
		break;
	case 2:
		e->route_dirty |= e->data != val;
		e->data = val;
		break;
	case 3: e->ctrl = val & PCI_MSIX_ENTRY_MASKED; break;
	}
}

static void msix_write(struct virtio_dev *vdev, uint64_t off, unsigned size, uint64_t value)
{
	if (off >= VIRTIO_PCI_MSIX_PBA || (size != 4 && size != 8) || (off & (size - 1)))
		return; /* the PBA is read-only */
	unsigned v_idx = (unsigned)(off / 16), word = (unsigned)(off % 16) / 4;
	if (v_idx >= vdev->msix_entries)
		return;
	msix_write_word(vdev, v_idx, word, (uint32_t)value);
	if (size == 8)
		msix_write_word(vdev, v_idx, word + 1, (uint32_t)(value >> 32));
	msix_flush_pending(vdev);
}

/* --- BAR dispatch --- */

uint64_t virtio_pci_bar_read(struct virtio_dev *vdev, uint64_t offset, unsigned size)
{
	uint64_t v = 0;
	pthread_mutex_lock(&vdev->lock);
	if (offset < VIRTIO_PCI_ISR) {
		v = common_read(vdev, offset - VIRTIO_PCI_COMMON, size);
	} else if (offset < VIRTIO_PCI_DEVICE) {
		if (offset == VIRTIO_PCI_ISR) {
			/* Reading ISR status acknowledges it (4.1.4.5). */
			v = vdev->isr;
			vdev->isr = 0;
			update_intx(vdev);
		}
	} else if (offset < VIRTIO_PCI_NOTIFY) {
		uint64_t off = offset - VIRTIO_PCI_DEVICE;
		if (size <= 8 && off < vdev->info.config_len && size <= vdev->info.config_len - off)
			memcpy(&v, vdev->config + off, size);
	}
	pthread_mutex_unlock(&vdev->lock);
	return v;
}

void virtio_pci_bar_write(struct virtio_dev *vdev, uint64_t offset, unsigned size, uint64_t value)
{
	pthread_mutex_lock(&vdev->lock);
	if (offset < VIRTIO_PCI_ISR) {
		common_write(vdev, offset - VIRTIO_PCI_COMMON, size, value);
	} else if (offset < VIRTIO_PCI_DEVICE) {
		/* ISR status is read-only. */
	} else if (offset < VIRTIO_PCI_NOTIFY) {
		uint64_t off = offset - VIRTIO_PCI_DEVICE;
		if (vdev->info.ops->config_write && size <= 8 && off < vdev->info.config_len &&
		    size <= vdev->info.config_len - off)
			vdev->info.ops->config_write(vdev, (unsigned)off, size, value);
	} else if (offset < VIRTIO_PCI_BAR_SIZE) {
		notify_write(vdev, offset - VIRTIO_PCI_NOTIFY, size, value);
	}
	pthread_mutex_unlock(&vdev->lock);
}

static uint64_t bar_read(void *opaque, uint64_t offset, unsigned size)
{
	return virtio_pci_bar_read(opaque, offset, size);
}

static void bar_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	virtio_pci_bar_write(opaque, offset, size, value);
}

static uint64_t msix_bar_read(void *opaque, uint64_t offset, unsigned size)
{
	struct virtio_dev *vdev = opaque;
	pthread_mutex_lock(&vdev->lock);
	uint64_t v = msix_read(vdev, offset, size);
	pthread_mutex_unlock(&vdev->lock);
	return v;
}

static void msix_bar_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	struct virtio_dev *vdev = opaque;
	pthread_mutex_lock(&vdev->lock);
	msix_write(vdev, offset, size, value);
	pthread_mutex_unlock(&vdev->lock);
}

static const struct bus_ops virtio_bar_ops = {.read = bar_read, .write = bar_write};
static const struct bus_ops msix_bar_ops = {.read = msix_bar_read, .write = msix_bar_write};

/* --- ioeventfd: queue notifications straight to the I/O thread --- */

static void ioeventfd_set(struct virtio_dev *vdev, struct virtio_queue *vq, bool assign)
{
	const struct engine_ops *eng = vdev->vm->engine;
	uint64_t gpa = vdev->notify_gpa + VIRTIO_PCI_NOTIFY +
	               (uint64_t)vq->index * VIRTIO_PCI_NOTIFY_MULTIPLIER;
	if (!eng || !eng->ioeventfd)
		return;
	if (assign) {
		/* Any access size if the engine can, else the 16-bit write
		 * drivers use; other writes still arrive through the bus. */
		vq->ioeventfd = eng->ioeventfd(vdev->vm, gpa, 0, vq->kick_fd, true) == 0 ||
		                eng->ioeventfd(vdev->vm, gpa, 2, vq->kick_fd, true) == 0;
	} else if (vq->ioeventfd) {
		if (eng->ioeventfd(vdev->vm, gpa, 0, vq->kick_fd, false) < 0)
			eng->ioeventfd(vdev->vm, gpa, 2, vq->kick_fd, false);
		vq->ioeventfd = false;
	}
}

/* The notify area moved, appeared or went away (BAR4 programming or
 * memory decoding): move the eventfd bindings with it. */
static void update_ioeventfds(struct virtio_dev *vdev)
{
	const struct pci_bar *b = &vdev->pci.bars[VIRTIO_PCI_BAR];
	bool mapped = b->mapped;
	uint64_t gpa = b->mapped_addr;
	if (mapped == vdev->notify_mapped && (!mapped || gpa == vdev->notify_gpa))
		return;
	for (unsigned q = 0; q < vdev->nqueues; q++)
		ioeventfd_set(vdev, &vdev->queues[q], false);
	vdev->notify_mapped = mapped;
	vdev->notify_gpa = gpa;
	if (mapped)
		for (unsigned q = 0; q < vdev->nqueues; q++)
			ioeventfd_set(vdev, &vdev->queues[q], true);
}

/* --- PCI configuration hooks (PCI lock held, then ours) --- */

static bool overlaps(unsigned off, unsigned size, unsigned start, unsigned len)
{
	return off < start + len && start < off + size;
}

static uint32_t cfg_get(const struct pci_device *dev, unsigned off, unsigned size)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < size; i++)
		v |= (uint32_t)dev->config[off + i] << (8 * i);
	return v;
}

/* The VIRTIO_PCI_CAP_PCI_CFG window: an access to its data field is an
 * access to the BAR, offset and length the driver wrote into it. */
static bool cfg_window(struct virtio_dev *vdev, uint64_t *offset, unsigned *len)
{
	const struct pci_device *dev = &vdev->pci;
	unsigned cap = vdev->cfg_cap;
	unsigned bar = dev->config[cap + 4];
	uint32_t off = cfg_get(dev, cap + 8, 4), length = cfg_get(dev, cap + 12, 4);
	if (bar != VIRTIO_PCI_BAR || (length != 1 && length != 2 && length != 4) ||
	    (off & (length - 1)) || off >= VIRTIO_PCI_BAR_SIZE)
		return false;
	*offset = off;
	*len = length;
	return true;
}

static void config_read_hook(struct pci_device *dev, unsigned offset, unsigned size,
                             uint32_t *value)
{
	struct virtio_dev *vdev = dev->opaque;
	if (overlaps(offset, size, PCI_STATUS, 1)) {
		pthread_mutex_lock(&vdev->lock);
		bool pending = vdev->isr && !vdev->msix_enabled;
		pthread_mutex_unlock(&vdev->lock);
		unsigned shift = 8 * (PCI_STATUS - offset);
		if (pending)
			*value |= (uint32_t)PCI_STATUS_INTERRUPT << shift;
	}
	unsigned data = vdev->cfg_cap + 16;
	if (overlaps(offset, size, data, 4)) {
		uint64_t boff;
		unsigned len;
		uint32_t win = 0;
		if (cfg_window(vdev, &boff, &len))
			win = (uint32_t)virtio_pci_bar_read(vdev, boff, len);
		for (unsigned i = 0; i < size; i++) {
			unsigned r = offset + i;
			if (r >= data && r < data + 4) {
				*value &= ~(0xFFu << (8 * i));
				*value |= ((win >> (8 * (r - data))) & 0xFF) << (8 * i);
			}
		}
	}
}

static void config_write_hook(struct pci_device *dev, unsigned offset, unsigned size,
                              uint32_t value)
{
	struct virtio_dev *vdev = dev->opaque;
	unsigned data = vdev->cfg_cap + 16;
	if (overlaps(offset, size, data, 4)) {
		uint64_t boff;
		unsigned len;
		if (cfg_window(vdev, &boff, &len))
			virtio_pci_bar_write(vdev, boff, len, cfg_get(dev, data, len));
	}
	pthread_mutex_lock(&vdev->lock);
	if (overlaps(offset, size, PCI_COMMAND, 2) ||
	    overlaps(offset, size, PCI_BAR0, 4 * PCI_NUM_BARS)) {
		uint16_t cmd = (uint16_t)cfg_get(dev, PCI_COMMAND, 2);
		bool was_master = vdev->bus_master;
		vdev->bus_master = cmd & PCI_COMMAND_MASTER;
		vdev->intx_disabled = cmd & PCI_COMMAND_INTX_DISABLE;
		update_intx(vdev);
		update_ioeventfds(vdev);
		if (vdev->bus_master && !was_master)
			kick_all_queues(vdev);
	}
	if (overlaps(offset, size, vdev->msix_cap + 2, 2)) {
		uint16_t ctrl = (uint16_t)cfg_get(dev, vdev->msix_cap + 2, 2);
		vdev->msix_enabled = ctrl & PCI_MSIX_ENABLE;
		vdev->msix_masked = ctrl & PCI_MSIX_MASKALL;
		update_intx(vdev);
		msix_flush_pending(vdev);
	}
	pthread_mutex_unlock(&vdev->lock);
}

/* --- creation --- */

static int add_virtio_cap(struct pci_device *dev, uint8_t type, uint32_t offset, uint32_t length,
                          size_t extra, uint32_t extra_value)
{
	uint8_t cap[20] = {0};
	size_t len = 16 + extra;
	cap[2] = (uint8_t)len;
	cap[3] = type;
	cap[4] = type == VIRTIO_PCI_CAP_PCI_CFG ? 0 : VIRTIO_PCI_BAR;
	memcpy(&cap[8], &offset, 4);
	memcpy(&cap[12], &length, 4);
	if (extra)
		memcpy(&cap[16], &extra_value, 4);
	return pci_add_capability(dev, PCI_CAP_ID_VNDR, cap, len);
}

static int build_pci_device(struct virtio_dev *vdev)
{
	struct pci_device *dev = &vdev->pci;
	const struct virtio_dev_info *info = &vdev->info;
	pci_device_init(dev, info->name, VIRTIO_PCI_VENDOR,
	                (uint16_t)(VIRTIO_PCI_DEVICE_BASE + info->device_id), info->pci_class,
	                VIRTIO_PCI_REVISION);
	dev->config[PCI_SUBSYSTEM_VENDOR_ID] = VIRTIO_PCI_VENDOR & 0xFF;
	dev->config[PCI_SUBSYSTEM_VENDOR_ID + 1] = VIRTIO_PCI_VENDOR >> 8;
	dev->config[PCI_SUBSYSTEM_ID] = VIRTIO_PCI_SUBSYSTEM & 0xFF;
	dev->config[PCI_SUBSYSTEM_ID + 1] = VIRTIO_PCI_SUBSYSTEM >> 8;
	dev->config[PCI_INTERRUPT_PIN] = 1; /* INTA */
	dev->bars[VIRTIO_PCI_MSIX_BAR] = (struct pci_bar){.type = PCI_BAR_MEM32,
	                                                  .size = VIRTIO_PCI_MSIX_BAR_SIZE,
	                                                  .ops = &msix_bar_ops,
	                                                  .opaque = vdev};
	dev->bars[VIRTIO_PCI_BAR] = (struct pci_bar){.type = PCI_BAR_MEM64,
	                                             .size = VIRTIO_PCI_BAR_SIZE,
	                                             .ops = &virtio_bar_ops,
	                                             .opaque = vdev};
	dev->config_read = config_read_hook;
	dev->config_write = config_write_hook;
	dev->opaque = vdev;

	if (add_virtio_cap(dev, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON, VIRTIO_PCI_COMMON_LEN,
	                   0, 0) < 0 ||
	    add_virtio_cap(dev, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR, 1, 0, 0) < 0 ||
	    (info->config_len && add_virtio_cap(dev, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE,
	                                        (uint32_t)info->config_len, 0, 0) < 0) ||
	    add_virtio_cap(dev, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY,
	                   info->nqueues * VIRTIO_PCI_NOTIFY_MULTIPLIER, 4,
	                   VIRTIO_PCI_NOTIFY_MULTIPLIER) < 0)
		return -1;
	int cfg = add_virtio_cap(dev, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, 4, 0);
	if (cfg < 0)
		return -1;
	vdev->cfg_cap = (unsigned)cfg;
	dev->wmask[cfg + 4] = 0xFF;             /* bar */
	memset(&dev->wmask[cfg + 8], 0xFF, 12); /* offset, length, data */

	uint8_t msix[12] = {0};
	uint16_t ctrl = (uint16_t)(vdev->msix_entries - 1);
	uint32_t table = VIRTIO_PCI_MSIX_TABLE | VIRTIO_PCI_MSIX_BAR;
	uint32_t pba = VIRTIO_PCI_MSIX_PBA | VIRTIO_PCI_MSIX_BAR;
	memcpy(&msix[2], &ctrl, 2);
	memcpy(&msix[4], &table, 4);
	memcpy(&msix[8], &pba, 4);
	int m = pci_add_capability(dev, PCI_CAP_ID_MSIX, msix, sizeof msix);
	if (m < 0)
		return -1;
	vdev->msix_cap = (unsigned)m;
	dev->wmask[m + 3] = (PCI_MSIX_ENABLE | PCI_MSIX_MASKALL) >> 8;
	return 0;
}

struct virtio_dev *virtio_dev_create(struct vm *vm, const struct virtio_dev_info *info)
{
	if (!info->ops || !info->ops->queue_notify || info->nqueues == 0 ||
	    info->nqueues > VIRTIO_MAX_QUEUES || info->queue_size == 0 ||
	    (info->queue_size & (info->queue_size - 1)) || info->config_len > VIRTIO_CONFIG_MAX) {
		log_error("%s: bad device description", info->name);
		return NULL;
	}
	if (!vm->pci) {
		log_error("%s: the machine has no PCI bus", info->name);
		return NULL;
	}
	struct virtio_dev *vdev = calloc(1, sizeof *vdev);
	if (!vdev) {
		log_error("%s: out of memory", info->name);
		return NULL;
	}
	vdev->vm = vm;
	vdev->info = *info;
	pthread_mutex_init(&vdev->lock, NULL);
	vdev->host_features = info->features | VIRTIO_BIT(VIRTIO_F_VERSION_1);
	vdev->nqueues = info->nqueues;
	vdev->config_vector = VIRTIO_MSI_NO_VECTOR;
	vdev->msix_entries = info->nqueues + 1;
	for (unsigned v = 0; v < vdev->msix_entries; v++)
		vdev->msix[v] = (struct virtio_msix_entry){
		    .ctrl = PCI_MSIX_ENTRY_MASKED, .irqfd = -1, .route = -1};
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		vdev->queues[q].kick_fd = -1;
	vdev->loop = ioloop_create(info->name);
	if (!vdev->loop)
		goto fail;
	for (unsigned q = 0; q < vdev->nqueues; q++) {
		struct virtio_queue *vq = &vdev->queues[q];
		vq->vdev = vdev;
		vq->index = q;
		vq->msix_vector = VIRTIO_MSI_NO_VECTOR;
		virtq_init(&vq->vq, info->queue_size);
		/* Blocking, as ioloop_watch() wants; writers never block on an
		 * eventfd whose counter is read all the time. */
		vq->kick_fd = eventfd(0, EFD_CLOEXEC);
		if (vq->kick_fd < 0) {
			log_error("%s: eventfd: %s", info->name, strerror(errno));
			goto fail;
		}
		if (ioloop_watch(vdev->loop, vq->kick_fd, queue_kicked, vq) < 0)
			goto fail;
	}
	if (build_pci_device(vdev) < 0) {
		log_error("%s: PCI capabilities do not fit", info->name);
		goto fail;
	}
	if (pci_register_device(vm->pci, &vdev->pci) < 0)
		goto fail;
	return vdev;
fail:
	ioloop_destroy(vdev->loop);
	vdev->loop = NULL;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		if (vdev->queues[q].kick_fd >= 0)
			close(vdev->queues[q].kick_fd);
	pthread_mutex_destroy(&vdev->lock);
	free(vdev);
	return NULL;
}

int virtio_dev_start(struct virtio_dev *vdev)
{
	return ioloop_start(vdev->loop);
}

void virtio_dev_destroy(struct virtio_dev *vdev)
{
	if (!vdev)
		return;
	/* First the thread (it finishes the I/O in flight), then the bus. */
	ioloop_destroy(vdev->loop);
	vdev->loop = NULL;
	if (vdev->pci.bus)
		pci_unregister_device(vdev->pci.bus, &vdev->pci);
	const struct engine_ops *eng = vdev->vm->engine;
	pthread_mutex_lock(&vdev->lock);
	for (unsigned q = 0; q < vdev->nqueues; q++)
		ioeventfd_set(vdev, &vdev->queues[q], false);
	for (unsigned v = 0; v < vdev->msix_entries; v++) {
		struct virtio_msix_entry *e = &vdev->msix[v];
		if (e->route >= 0 && eng && eng->irqfd_remove)
			eng->irqfd_remove(vdev->vm, e->route);
		if (e->irqfd >= 0)
			close(e->irqfd);
	}
	pthread_mutex_unlock(&vdev->lock);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		if (vdev->queues[q].kick_fd >= 0)
			close(vdev->queues[q].kick_fd);
	pthread_mutex_destroy(&vdev->lock);
	free(vdev);
}
