/* A machine and a small virtio driver for the virtio unit tests: guest RAM,
 * the bus and PCI bus 0 of a real struct vm, an engine that records
 * interrupts (INTx levels and MSI messages, from any thread), and helpers
 * that do what a guest driver does: find the device, program its BARs,
 * negotiate features, set up split queues in guest RAM, post chains and
 * wait for them to come back. */
#ifndef RINGFOLD_TEST_VIRTIO_RIG_H
#define RINGFOLD_TEST_VIRTIO_RIG_H

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dev/pci.h"
#include "dev/virtio/virtio_pci.h"
#include "dev/virtio/virtqueue.h"
#include "util/log.h"
#include "vm.h"

#define RIG_MSI_MAX 256

static struct {
	pthread_mutex_t lock;
	int level[32];
	int irq_calls;
	int nmsi;
	uint64_t msi_addr[RIG_MSI_MAX];
	uint32_t msi_data[RIG_MSI_MAX];
} rig_irq = {.lock = PTHREAD_MUTEX_INITIALIZER};

static inline void rig_set_irq(struct vm *vm, unsigned gsi, int level)
{
	pthread_mutex_lock(&rig_irq.lock);
	rig_irq.irq_calls++;
	if (gsi < 32)
		rig_irq.level[gsi] = level;
	pthread_mutex_unlock(&rig_irq.lock);
}

static inline void rig_signal_msi(struct vm *vm, uint64_t address, uint32_t data)
{
	pthread_mutex_lock(&rig_irq.lock);
	if (rig_irq.nmsi < RIG_MSI_MAX) {
		rig_irq.msi_addr[rig_irq.nmsi] = address;
		rig_irq.msi_data[rig_irq.nmsi] = data;
	}
	rig_irq.nmsi++;
	pthread_mutex_unlock(&rig_irq.lock);
}

static inline void rig_kick(struct vm *vm) {}

static const struct engine_ops rig_engine = {
    .name = "rig", .kick = rig_kick, .set_irq = rig_set_irq, .signal_msi = rig_signal_msi};

static inline int rig_level(unsigned gsi)
{
	pthread_mutex_lock(&rig_irq.lock);
	int l = rig_irq.level[gsi];
	pthread_mutex_unlock(&rig_irq.lock);
	return l;
}

static inline int rig_msi_count(void)
{
	pthread_mutex_lock(&rig_irq.lock);
	int n = rig_irq.nmsi;
	pthread_mutex_unlock(&rig_irq.lock);
	return n;
}

static inline uint32_t rig_msi_last_data(void)
{
	pthread_mutex_lock(&rig_irq.lock);
	uint32_t d = rig_irq.nmsi ? rig_irq.msi_data[(rig_irq.nmsi - 1) % RIG_MSI_MAX] : 0;
	pthread_mutex_unlock(&rig_irq.lock);
	return d;
}

struct rig {
	struct vm vm;
	struct vm_config cfg;
};

static inline struct rig *rig_new(void)
{
	struct rig *r = calloc(1, sizeof *r);
	struct error err;
	pthread_mutex_lock(&rig_irq.lock);
	memset(rig_irq.level, 0, sizeof rig_irq.level);
	rig_irq.irq_calls = rig_irq.nmsi = 0;
	pthread_mutex_unlock(&rig_irq.lock);
	r->vm.config = &r->cfg;
	r->vm.engine = &rig_engine;
	if (mem_init(&r->vm.mem, 16ULL << 20, false, &err) < 0) {
		printf("rig: %s\n", err.msg);
		exit(1);
	}
	r->vm.bus = bus_create();
	r->vm.pci = pci_create(&r->vm);
	return r;
}

static inline void rig_free(struct rig *r)
{
	pci_destroy(r->vm.pci);
	bus_destroy(r->vm.bus);
	mem_destroy(&r->vm.mem);
	free(r);
}

static inline void *gpa(struct rig *r, uint64_t a)
{
	return mem_ptr(&r->vm.mem, a, 1);
}

/* --- PCI configuration --- */

static inline uint32_t cfg_read(struct rig *r, unsigned slot, unsigned reg, unsigned size)
{
	bus_write(r->vm.bus, BUS_PIO, 0xCF8, 4, 0x80000000u | slot << 11 | (reg & 0xFC));
	return (uint32_t)bus_read(r->vm.bus, BUS_PIO, 0xCFC + (reg & 3), size);
}

static inline void cfg_write(struct rig *r, unsigned slot, unsigned reg, unsigned size, uint32_t v)
{
	bus_write(r->vm.bus, BUS_PIO, 0xCF8, 4, 0x80000000u | slot << 11 | (reg & 0xFC));
	bus_write(r->vm.bus, BUS_PIO, 0xCFC + (reg & 3), size, v);
}

/* Offset of the virtio capability of cfg_type, or of the MSI-X
 * capability when cfg_type is 0; 0 if absent. */
static inline unsigned find_cap(struct rig *r, unsigned slot, unsigned cfg_type)
{
	unsigned p = cfg_read(r, slot, PCI_CAPABILITY_LIST, 1);
	for (int guard = 0; p && guard < 48; guard++) {
		unsigned id = cfg_read(r, slot, p, 1);
		if (cfg_type == 0 && id == PCI_CAP_ID_MSIX)
			return p;
		if (cfg_type && id == PCI_CAP_ID_VNDR && cfg_read(r, slot, p + 3, 1) == cfg_type)
			return p;
		p = cfg_read(r, slot, p + 1, 1);
	}
	return 0;
}

/* --- the driver --- */

#define DRV_BAR4 0xC0000000ULL
#define DRV_BAR1 0xC0010000ULL
#define DRV_RAM_QUEUES 0x100000ULL /* ring memory, 64 KiB per queue */
#define DRV_RAM_BUFFERS 0x400000ULL

struct drv_queue {
	uint16_t size;
	uint64_t desc, avail, used;
	uint16_t avail_idx, next_desc, used_seen;
};

struct drv {
	struct rig *r;
	unsigned slot;
	uint64_t features;
	struct drv_queue q[4];
	uint64_t buf_next; /* bump allocator for buffers */
};

static inline uint64_t mmio_r(struct drv *d, uint64_t off, unsigned size)
{
	return bus_read(d->r->vm.bus, BUS_MMIO, DRV_BAR4 + off, size);
}

static inline void mmio_w(struct drv *d, uint64_t off, unsigned size, uint64_t v)
{
	bus_write(d->r->vm.bus, BUS_MMIO, DRV_BAR4 + off, size, v);
}

static inline uint8_t drv_status(struct drv *d)
{
	return (uint8_t)mmio_r(d, VIRTIO_PCI_COMMON + VIRTIO_PCI_DEVICE_STATUS, 1);
}

static inline void drv_set_status(struct drv *d, uint8_t s)
{
	mmio_w(d, VIRTIO_PCI_COMMON + VIRTIO_PCI_DEVICE_STATUS, 1, s);
}

static inline uint64_t drv_device_features(struct drv *d)
{
	mmio_w(d, VIRTIO_PCI_DEVICE_FEATURE_SELECT, 4, 0);
	uint64_t lo = mmio_r(d, VIRTIO_PCI_DEVICE_FEATURE, 4);
	mmio_w(d, VIRTIO_PCI_DEVICE_FEATURE_SELECT, 4, 1);
	uint64_t hi = mmio_r(d, VIRTIO_PCI_DEVICE_FEATURE, 4);
	return hi << 32 | lo;
}

static inline void drv_write_features(struct drv *d, uint64_t f)
{
	mmio_w(d, VIRTIO_PCI_DRIVER_FEATURE_SELECT, 4, 0);
	mmio_w(d, VIRTIO_PCI_DRIVER_FEATURE, 4, (uint32_t)f);
	mmio_w(d, VIRTIO_PCI_DRIVER_FEATURE_SELECT, 4, 1);
	mmio_w(d, VIRTIO_PCI_DRIVER_FEATURE, 4, (uint32_t)(f >> 32));
}

/* Places the BARs, enables decoding and bus mastering. */
static inline void drv_map(struct drv *d, struct rig *r, unsigned slot)
{
	memset(d, 0, sizeof *d);
	d->r = r;
	d->slot = slot;
	d->buf_next = DRV_RAM_BUFFERS;
	cfg_write(r, slot, PCI_BAR0 + 4 * VIRTIO_PCI_BAR, 4, (uint32_t)DRV_BAR4);
	cfg_write(r, slot, PCI_BAR0 + 4 * VIRTIO_PCI_BAR + 4, 4, (uint32_t)(DRV_BAR4 >> 32));
	cfg_write(r, slot, PCI_BAR0 + 4 * VIRTIO_PCI_MSIX_BAR, 4, (uint32_t)DRV_BAR1);
	cfg_write(r, slot, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
}

/* Reset, ACKNOWLEDGE | DRIVER, features, FEATURES_OK; true if accepted. */
static inline bool drv_negotiate(struct drv *d, uint64_t want)
{
	drv_set_status(d, 0);
	for (int i = 0; i < 1000 && drv_status(d); i++)
		usleep(1000);
	drv_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
	drv_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	d->features = drv_device_features(d) & want;
	drv_write_features(d, d->features);
	drv_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	                      VIRTIO_STATUS_FEATURES_OK);
	return drv_status(d) & VIRTIO_STATUS_FEATURES_OK;
}

static inline void drv_select(struct drv *d, unsigned q)
{
	mmio_w(d, VIRTIO_PCI_QUEUE_SELECT, 2, q);
}

/* Lays out queue q (size entries) in guest RAM and enables it. */
static inline void drv_queue(struct drv *d, unsigned q, uint16_t size, uint16_t vector)
{
	struct drv_queue *dq = &d->q[q];
	memset(dq, 0, sizeof *dq);
	dq->size = size;
	dq->desc = DRV_RAM_QUEUES + q * 0x10000ULL;
	dq->avail = dq->desc + 16ULL * size;
	dq->used = (dq->avail + 6 + 2ULL * size + 3) & ~3ULL;
	memset(gpa(d->r, dq->desc), 0, 0x10000);
	drv_select(d, q);
	mmio_w(d, VIRTIO_PCI_QUEUE_SIZE, 2, size);
	mmio_w(d, VIRTIO_PCI_QUEUE_MSIX_VECTOR, 2, vector);
	mmio_w(d, VIRTIO_PCI_QUEUE_DESC, 4, (uint32_t)dq->desc);
	mmio_w(d, VIRTIO_PCI_QUEUE_DESC + 4, 4, (uint32_t)(dq->desc >> 32));
	mmio_w(d, VIRTIO_PCI_QUEUE_DRIVER, 4, (uint32_t)dq->avail);
	mmio_w(d, VIRTIO_PCI_QUEUE_DRIVER + 4, 4, 0);
	mmio_w(d, VIRTIO_PCI_QUEUE_DEVICE, 4, (uint32_t)dq->used);
	mmio_w(d, VIRTIO_PCI_QUEUE_DEVICE + 4, 4, 0);
	mmio_w(d, VIRTIO_PCI_QUEUE_ENABLE, 2, 1);
}

static inline void drv_driver_ok(struct drv *d)
{
	drv_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	                      VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

static inline uint64_t drv_alloc(struct drv *d, uint64_t len, uint64_t align)
{
	uint64_t a = (d->buf_next + align - 1) & ~(align - 1);
	d->buf_next = a + len;
	return a;
}

static inline void put_desc(struct rig *r, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
                            uint16_t flags, uint16_t next)
{
	struct virtq_desc dsc = {addr, len, flags, next};
	memcpy(gpa(r, table + 16ULL * i), &dsc, sizeof dsc);
}

struct drv_buf {
	uint64_t addr;
	uint32_t len;
	bool write; /* device-writable */
};

/* Posts a direct chain of n buffers; returns its head. Does not notify. */
static inline uint16_t drv_post(struct drv *d, unsigned q, const struct drv_buf *b, unsigned n)
{
	struct drv_queue *dq = &d->q[q];
	uint16_t head = dq->next_desc;
	for (unsigned i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % dq->size);
		uint16_t flags =
		    (b[i].write ? VIRTQ_DESC_F_WRITE : 0) | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0);
		put_desc(d->r, dq->desc, idx, b[i].addr, b[i].len, flags,
		         (uint16_t)((idx + 1) % dq->size));
	}
	dq->next_desc = (uint16_t)((head + n) % dq->size);
	/* With EVENT_IDX: interrupt me for the next used entry (what Linux's
	 * virtqueue_enable_cb does); harmless without it. */
	uint16_t used_now = __atomic_load_n((uint16_t *)gpa(d->r, dq->used + 2), __ATOMIC_ACQUIRE);
	__atomic_store_n((uint16_t *)gpa(d->r, dq->avail + 4 + 2ULL * dq->size), used_now,
	                 __ATOMIC_RELEASE);
	uint16_t *ring = gpa(d->r, dq->avail + 4 + 2ULL * (dq->avail_idx % dq->size));
	*ring = head;
	dq->avail_idx++;
	__atomic_store_n((uint16_t *)gpa(d->r, dq->avail + 2), dq->avail_idx, __ATOMIC_RELEASE);
	return head;
}

static inline void drv_notify(struct drv *d, unsigned q)
{
	mmio_w(d, VIRTIO_PCI_NOTIFY + VIRTIO_PCI_NOTIFY_MULTIPLIER * q, 2, q);
}

static inline uint16_t drv_used_idx(struct drv *d, unsigned q)
{
	return __atomic_load_n((uint16_t *)gpa(d->r, d->q[q].used + 2), __ATOMIC_ACQUIRE);
}

/* Waits (up to 5 s) until the used index reaches `want`. */
static inline bool drv_wait_used(struct drv *d, unsigned q, uint16_t want)
{
	for (int i = 0; i < 5000; i++) {
		if ((int16_t)(drv_used_idx(d, q) - want) >= 0)
			return true;
		usleep(1000);
	}
	return false;
}

/* The used element at position i: its id and len. */
static inline void drv_used_elem(struct drv *d, unsigned q, uint16_t i, uint32_t *id, uint32_t *len)
{
	const uint8_t *e = gpa(d->r, d->q[q].used + 4 + 8ULL * (i % d->q[q].size));
	memcpy(id, e, 4);
	memcpy(len, e + 4, 4);
}

static inline bool wait_for(bool (*cond)(void *), void *arg)
{
	for (int i = 0; i < 5000; i++) {
		if (cond(arg))
			return true;
		usleep(1000);
	}
	return false;
}

#endif
