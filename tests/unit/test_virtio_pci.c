/* The virtio PCI transport with a real device behind it (virtio-rng, the
 * simplest): identity and capabilities, BARs, feature negotiation, the
 * status machine, queues, INTx through ISR, MSI-X with masking and the
 * pending bits, the irqfd and ioeventfd fast paths, the PCI
 * configuration-access window, and a hostile driver's mistakes, each of
 * which must end in DEVICE_NEEDS_RESET and recover with a reset. */
#include <sys/eventfd.h>

#include "dev/virtio/virtio_rng.h"
#include "test.h"
#include "virtio_rig.h"

#define SLOT 1
#define GSI 17 /* pci_intx_gsi(1, INTA) */
#define FEATURES                                                                                   \
	(VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |                         \
	 VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC))

/* --- an engine with irqfds and ioeventfds, recording what it is asked --- */

static struct {
	int added, updated, removed;
	int fd[8];
	uint32_t data[8];
	int io_assigned, io_deassigned;
	uint64_t io_gpa;
	int io_fd;
} fast;

static int fast_irqfd_add(struct vm *vm, int fd, uint64_t address, uint32_t data)
{
	pthread_mutex_lock(&rig_irq.lock);
	int id = fast.added < 8 ? fast.added : -1;
	if (id >= 0) {
		fast.fd[id] = fd;
		fast.data[id] = data;
		fast.added++;
	}
	pthread_mutex_unlock(&rig_irq.lock);
	return id;
}

static int fast_irqfd_update(struct vm *vm, int route, uint64_t address, uint32_t data)
{
	pthread_mutex_lock(&rig_irq.lock);
	fast.updated++;
	fast.data[route] = data;
	pthread_mutex_unlock(&rig_irq.lock);
	return 0;
}

static void fast_irqfd_remove(struct vm *vm, int route)
{
	pthread_mutex_lock(&rig_irq.lock);
	fast.removed++;
	pthread_mutex_unlock(&rig_irq.lock);
}

static int fast_ioeventfd(struct vm *vm, uint64_t gpa, unsigned len, int fd, bool assign)
{
	pthread_mutex_lock(&rig_irq.lock);
	if (assign) {
		fast.io_assigned++;
		fast.io_gpa = gpa;
		fast.io_fd = fd;
	} else {
		fast.io_deassigned++;
	}
	pthread_mutex_unlock(&rig_irq.lock);
	return 0;
}

static const struct engine_ops fast_engine = {.name = "fast",
                                              .kick = rig_kick,
                                              .set_irq = rig_set_irq,
                                              .signal_msi = rig_signal_msi,
                                              .ioeventfd = fast_ioeventfd,
                                              .irqfd_add = fast_irqfd_add,
                                              .irqfd_update = fast_irqfd_update,
                                              .irqfd_remove = fast_irqfd_remove};

/* --- helpers --- */

static struct rig *r;
static struct virtio_rng *rng;
static struct drv d;

static void up(const struct engine_ops *engine)
{
	r = rig_new();
	if (engine)
		r->vm.engine = engine;
	memset(&fast, 0, sizeof fast);
	rng = virtio_rng_create(&r->vm);
	CHECK(rng != NULL);
	drv_map(&d, r, SLOT);
}

static void down(void)
{
	virtio_rng_destroy(rng);
	rig_free(r);
}

static bool needs_reset(void *arg)
{
	return drv_status(arg) & VIRTIO_STATUS_NEEDS_RESET;
}

static bool level_high(void *arg)
{
	return rig_level(GSI) == 1;
}

static int msi_target;
static bool msi_reached(void *arg)
{
	return rig_msi_count() >= msi_target;
}

/* A ready device with queue 0 of 8 entries on `vector`. */
static void ready(uint16_t vector)
{
	CHECK(drv_negotiate(&d, FEATURES));
	drv_queue(&d, 0, 8, vector);
	drv_driver_ok(&d);
}

static uint16_t post_buffer(uint32_t len)
{
	struct drv_buf b = {drv_alloc(&d, len, 16), len, true};
	return drv_post(&d, 0, &b, 1);
}

static void msix_entry(unsigned v, uint32_t data, bool masked)
{
	uint64_t e = DRV_BAR1 + 16ULL * v;
	bus_write(r->vm.bus, BUS_MMIO, e, 4, 0xFEE00000);
	bus_write(r->vm.bus, BUS_MMIO, e + 4, 4, 0);
	bus_write(r->vm.bus, BUS_MMIO, e + 8, 4, data);
	bus_write(r->vm.bus, BUS_MMIO, e + 12, 4, masked);
}

static void msix_enable(bool on, bool maskall)
{
	unsigned cap = find_cap(r, SLOT, 0);
	cfg_write(r, SLOT, cap + 2, 2,
	          (on ? PCI_MSIX_ENABLE : 0) | (maskall ? PCI_MSIX_MASKALL : 0));
}

/* --- tests --- */

static void test_identity(void)
{
	up(NULL);
	CHECK_EQ(cfg_read(r, SLOT, PCI_VENDOR_ID, 2), 0x1AF4);
	CHECK_EQ(cfg_read(r, SLOT, PCI_DEVICE_ID, 2), 0x1044);
	CHECK_EQ(cfg_read(r, SLOT, PCI_REVISION_ID, 1), 1);
	CHECK_EQ(cfg_read(r, SLOT, PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1AF4);
	CHECK(cfg_read(r, SLOT, PCI_SUBSYSTEM_ID, 2) >= 0x40);
	CHECK_EQ(cfg_read(r, SLOT, PCI_INTERRUPT_PIN, 1), 1);
	CHECK_EQ(cfg_read(r, SLOT, PCI_INTERRUPT_LINE, 1), GSI);
	CHECK(cfg_read(r, SLOT, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	unsigned common = find_cap(r, SLOT, VIRTIO_PCI_CAP_COMMON_CFG);
	unsigned notify = find_cap(r, SLOT, VIRTIO_PCI_CAP_NOTIFY_CFG);
	unsigned isr = find_cap(r, SLOT, VIRTIO_PCI_CAP_ISR_CFG);
	unsigned pcicfg = find_cap(r, SLOT, VIRTIO_PCI_CAP_PCI_CFG);
	unsigned msix = find_cap(r, SLOT, 0);
	CHECK(common && notify && isr && pcicfg && msix);
	CHECK_EQ(find_cap(r, SLOT, VIRTIO_PCI_CAP_DEVICE_CFG), 0); /* rng: no config */
	CHECK_EQ(cfg_read(r, SLOT, common + 4, 1), VIRTIO_PCI_BAR);
	CHECK_EQ(cfg_read(r, SLOT, common + 8, 4), VIRTIO_PCI_COMMON);
	CHECK(cfg_read(r, SLOT, common + 12, 4) >= 0x38);
	CHECK_EQ(cfg_read(r, SLOT, notify + 2, 1), 20); /* cap_len with the multiplier */
	CHECK_EQ(cfg_read(r, SLOT, notify + 8, 4), VIRTIO_PCI_NOTIFY);
	CHECK_EQ(cfg_read(r, SLOT, notify + 16, 4), VIRTIO_PCI_NOTIFY_MULTIPLIER);
	CHECK_EQ(cfg_read(r, SLOT, isr + 8, 4), VIRTIO_PCI_ISR);
	CHECK_EQ(cfg_read(r, SLOT, msix + 2, 2) & 0x7FF, 1); /* 2 vectors: config + queue */
	CHECK_EQ(cfg_read(r, SLOT, msix + 4, 4), VIRTIO_PCI_MSIX_BAR);
	CHECK_EQ(cfg_read(r, SLOT, msix + 8, 4), VIRTIO_PCI_MSIX_PBA | VIRTIO_PCI_MSIX_BAR);
	/* BAR sizing: 16 KiB, 64-bit memory. */
	cfg_write(r, SLOT, PCI_BAR0 + 16, 4, 0xFFFFFFFF);
	CHECK_EQ(cfg_read(r, SLOT, PCI_BAR0 + 16, 4), 0xFFFFC004);
	cfg_write(r, SLOT, PCI_BAR0 + 4, 4, 0xFFFFFFFF);
	CHECK_EQ(cfg_read(r, SLOT, PCI_BAR0 + 4, 4), 0xFFFFF000);
	down();
}

static void test_features(void)
{
	up(NULL);
	uint64_t f = drv_device_features(&d);
	CHECK(f & VIRTIO_BIT(VIRTIO_F_VERSION_1));
	CHECK(f & VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	CHECK(f & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
	CHECK(!(f & VIRTIO_BIT(VIRTIO_F_RING_PACKED)));
	/* Legacy driver (no VERSION_1): refused. */
	CHECK(!drv_negotiate(&d, VIRTIO_BIT(VIRTIO_F_EVENT_IDX)));
	/* A feature that was not offered: refused. */
	drv_set_status(&d, 0);
	drv_set_status(&d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	drv_write_features(&d, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_RING_PACKED));
	drv_set_status(&d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	                       VIRTIO_STATUS_FEATURES_OK);
	CHECK(!(drv_status(&d) & VIRTIO_STATUS_FEATURES_OK));
	/* The proper way, and features are frozen afterwards. */
	CHECK(drv_negotiate(&d, FEATURES));
	drv_write_features(&d, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	mmio_w(&d, VIRTIO_PCI_DRIVER_FEATURE_SELECT, 4, 0);
	CHECK_EQ(mmio_r(&d, VIRTIO_PCI_DRIVER_FEATURE, 4), (uint32_t)FEATURES);
	/* Read-only and out-of-range registers. */
	CHECK_EQ(mmio_r(&d, VIRTIO_PCI_NUM_QUEUES, 2), 1);
	mmio_w(&d, VIRTIO_PCI_NUM_QUEUES, 2, 7);
	CHECK_EQ(mmio_r(&d, VIRTIO_PCI_NUM_QUEUES, 2), 1);
	drv_select(&d, 3); /* no such queue */
	CHECK_EQ(mmio_r(&d, VIRTIO_PCI_QUEUE_SIZE, 2), 0);
	drv_select(&d, 0);
	CHECK_EQ(mmio_r(&d, VIRTIO_PCI_QUEUE_SIZE, 2), 64);
	CHECK_EQ(mmio_r(&d, VIRTIO_PCI_QUEUE_NOTIFY_OFF, 2), 0);
	CHECK_EQ(mmio_r(&d, VIRTIO_PCI_QUEUE_MSIX_VECTOR, 2), VIRTIO_MSI_NO_VECTOR);
	mmio_w(&d, VIRTIO_PCI_QUEUE_MSIX_VECTOR, 2, 5); /* beyond the table */
	CHECK_EQ(mmio_r(&d, VIRTIO_PCI_QUEUE_MSIX_VECTOR, 2), VIRTIO_MSI_NO_VECTOR);
	mmio_w(&d, VIRTIO_PCI_CONFIG_MSIX_VECTOR, 2, 1);
	CHECK_EQ(mmio_r(&d, VIRTIO_PCI_CONFIG_MSIX_VECTOR, 2), 1);
	down();
}

static void test_intx(void)
{
	up(NULL);
	ready(VIRTIO_MSI_NO_VECTOR);
	struct drv_buf b = {drv_alloc(&d, 64, 16), 64, true};
	memset(gpa(r, b.addr), 0, 64);
	drv_post(&d, 0, &b, 1);
	drv_notify(&d, 0);
	CHECK(drv_wait_used(&d, 0, 1));
	uint32_t id, len;
	drv_used_elem(&d, 0, 0, &id, &len);
	CHECK_EQ(id, 0);
	CHECK_EQ(len, 64);
	static const uint8_t zero[64];
	CHECK(memcmp(gpa(r, b.addr), zero, 64) != 0); /* random bytes arrived */
	CHECK(wait_for(level_high, NULL));
	CHECK(cfg_read(r, SLOT, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	/* Reading ISR acknowledges: the line drops. */
	CHECK_EQ(mmio_r(&d, VIRTIO_PCI_ISR, 1), VIRTIO_ISR_QUEUE);
	CHECK_EQ(rig_level(GSI), 0);
	CHECK_EQ(mmio_r(&d, VIRTIO_PCI_ISR, 1), 0);
	CHECK(!(cfg_read(r, SLOT, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT));
	/* INTx disabled in COMMAND: ISR is set, the line stays low. */
	cfg_write(r, SLOT, PCI_COMMAND, 2,
	          PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
	post_buffer(16);
	drv_notify(&d, 0);
	CHECK(drv_wait_used(&d, 0, 2));
	usleep(20000);
	CHECK_EQ(rig_level(GSI), 0);
	cfg_write(r, SLOT, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	CHECK_EQ(rig_level(GSI), 1);
	CHECK_EQ(mmio_r(&d, VIRTIO_PCI_ISR, 1), VIRTIO_ISR_QUEUE);
	CHECK_EQ(rig_level(GSI), 0);
	CHECK_EQ(rig_msi_count(), 0);
	down();
}

static void test_msix(void)
{
	up(NULL);
	msix_entry(0, 0x30, false);
	msix_entry(1, 0x31, false);
	msix_enable(true, false);
	ready(1);
	mmio_w(&d, VIRTIO_PCI_CONFIG_MSIX_VECTOR, 2, 0);
	post_buffer(32);
	drv_notify(&d, 0);
	CHECK(drv_wait_used(&d, 0, 1));
	msi_target = 1;
	CHECK(wait_for(msi_reached, NULL));
	CHECK_EQ(rig_msi_last_data(), 0x31);
	CHECK_EQ(rig_level(GSI), 0); /* no INTx with MSI-X on */
	/* Masked vector: held pending, sent on unmask. */
	bus_write(r->vm.bus, BUS_MMIO, DRV_BAR1 + 16 + 12, 4, 1);
	post_buffer(32);
	drv_notify(&d, 0);
	CHECK(drv_wait_used(&d, 0, 2));
	usleep(20000);
	CHECK_EQ(rig_msi_count(), 1);
	CHECK_EQ(bus_read(r->vm.bus, BUS_MMIO, DRV_BAR1 + VIRTIO_PCI_MSIX_PBA, 4), 2);
	bus_write(r->vm.bus, BUS_MMIO, DRV_BAR1 + 16 + 12, 4, 0);
	CHECK_EQ(rig_msi_count(), 2);
	CHECK_EQ(bus_read(r->vm.bus, BUS_MMIO, DRV_BAR1 + VIRTIO_PCI_MSIX_PBA, 4), 0);
	/* Function mask, the same. */
	msix_enable(true, true);
	post_buffer(32);
	drv_notify(&d, 0);
	CHECK(drv_wait_used(&d, 0, 3));
	usleep(20000);
	CHECK_EQ(rig_msi_count(), 2);
	msix_enable(true, false);
	CHECK_EQ(rig_msi_count(), 3);
	/* The table reads back; the PBA ignores writes. */
	CHECK_EQ(bus_read(r->vm.bus, BUS_MMIO, DRV_BAR1 + 16 + 8, 4), 0x31);
	CHECK_EQ(bus_read(r->vm.bus, BUS_MMIO, DRV_BAR1, 8), 0xFEE00000);
	bus_write(r->vm.bus, BUS_MMIO, DRV_BAR1 + VIRTIO_PCI_MSIX_PBA, 4, 3);
	CHECK_EQ(bus_read(r->vm.bus, BUS_MMIO, DRV_BAR1 + VIRTIO_PCI_MSIX_PBA, 4), 0);
	down();
}

static void test_irqfd_and_ioeventfd(void)
{
	up(&fast_engine);
	/* Mapping BAR4 bound the notify register to the queue's eventfd. */
	CHECK_EQ(fast.io_assigned, 1);
	CHECK_EQ(fast.io_gpa, DRV_BAR4 + VIRTIO_PCI_NOTIFY);
	msix_entry(0, 0x30, false);
	msix_entry(1, 0x31, false);
	msix_enable(true, false);
	ready(1);
	/* A kick as KVM would give it: the eventfd, not the bus. */
	post_buffer(32);
	eventfd_write(fast.io_fd, 1);
	CHECK(drv_wait_used(&d, 0, 1));
	for (int i = 0; i < 1000; i++) {
		pthread_mutex_lock(&rig_irq.lock);
		int added = fast.added;
		pthread_mutex_unlock(&rig_irq.lock);
		if (added)
			break;
		usleep(1000);
	}
	CHECK_EQ(fast.added, 1);
	CHECK_EQ(fast.data[0], 0x31);
	eventfd_t count = 0;
	CHECK_EQ(eventfd_read(fast.fd[0], &count), 0);
	CHECK_EQ(count, 1);
	CHECK_EQ(rig_msi_count(), 0); /* nothing through the slow path */
	/* The guest re-targets the vector: the route follows before use. */
	bus_write(r->vm.bus, BUS_MMIO, DRV_BAR1 + 16 + 8, 4, 0x41);
	post_buffer(32);
	drv_notify(&d, 0);
	CHECK(drv_wait_used(&d, 0, 2));
	for (int i = 0; i < 1000 && eventfd_read(fast.fd[0], &count) != 0; i++)
		usleep(1000);
	CHECK_EQ(fast.updated, 1);
	CHECK_EQ(fast.data[0], 0x41);
	/* Moving the BAR moves the binding; disabling decoding drops it. */
	cfg_write(r, SLOT, PCI_BAR0 + 4 * VIRTIO_PCI_BAR, 4, (uint32_t)DRV_BAR4 + 0x100000);
	CHECK_EQ(fast.io_deassigned, 1);
	CHECK_EQ(fast.io_assigned, 2);
	CHECK_EQ(fast.io_gpa, DRV_BAR4 + 0x100000 + VIRTIO_PCI_NOTIFY);
	cfg_write(r, SLOT, PCI_COMMAND, 2, PCI_COMMAND_MASTER);
	CHECK_EQ(fast.io_deassigned, 2);
	down();
	CHECK_EQ(fast.removed, 1);
}

static void test_hostile_setup(void)
{
	up(NULL);
	/* A queue size that is not a power of two. */
	CHECK(drv_negotiate(&d, FEATURES));
	drv_select(&d, 0);
	mmio_w(&d, VIRTIO_PCI_QUEUE_SIZE, 2, 6);
	mmio_w(&d, VIRTIO_PCI_QUEUE_ENABLE, 2, 1);
	CHECK(drv_status(&d) & VIRTIO_STATUS_NEEDS_RESET);
	CHECK_EQ(mmio_r(&d, VIRTIO_PCI_QUEUE_ENABLE, 2), 0);
	/* Reset recovers everything. */
	drv_set_status(&d, 0);
	CHECK_EQ(drv_status(&d), 0);
	CHECK_EQ(mmio_r(&d, VIRTIO_PCI_QUEUE_SIZE, 2), 64);
	/* Rings outside guest RAM. */
	CHECK(drv_negotiate(&d, FEATURES));
	drv_select(&d, 0);
	mmio_w(&d, VIRTIO_PCI_QUEUE_DESC, 4, 0x80000000u);
	mmio_w(&d, VIRTIO_PCI_QUEUE_ENABLE, 2, 1);
	CHECK(drv_status(&d) & VIRTIO_STATUS_NEEDS_RESET);
	/* DRIVER_OK without FEATURES_OK. */
	drv_set_status(&d, 0);
	drv_set_status(&d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	drv_set_status(&d,
	               VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK);
	CHECK(drv_status(&d) & VIRTIO_STATUS_NEEDS_RESET);
	/* A queue reprogrammed while enabled keeps its rings. */
	ready(VIRTIO_MSI_NO_VECTOR);
	CHECK(!(drv_status(&d) & VIRTIO_STATUS_NEEDS_RESET));
	drv_select(&d, 0);
	mmio_w(&d, VIRTIO_PCI_QUEUE_DESC, 4, 0x12340);
	CHECK_EQ(mmio_r(&d, VIRTIO_PCI_QUEUE_DESC, 4), d.q[0].desc);
	mmio_w(&d, VIRTIO_PCI_QUEUE_SIZE, 2, 4);
	CHECK_EQ(mmio_r(&d, VIRTIO_PCI_QUEUE_SIZE, 2), 8);
	/* ... and it still works. */
	post_buffer(8);
	drv_notify(&d, 0);
	CHECK(drv_wait_used(&d, 0, 1));
	down();
}

static void test_hostile_chain(void)
{
	up(NULL);
	msix_entry(0, 0x30, false);
	msix_entry(1, 0x31, false);
	msix_enable(true, false);
	ready(1);
	mmio_w(&d, VIRTIO_PCI_CONFIG_MSIX_VECTOR, 2, 0);
	/* A loop: 0 -> 1 -> 0. */
	put_desc(r, d.q[0].desc, 0, DRV_RAM_BUFFERS, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	put_desc(r, d.q[0].desc, 1, DRV_RAM_BUFFERS, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
	*(uint16_t *)gpa(r, d.q[0].avail + 4) = 0;
	__atomic_store_n((uint16_t *)gpa(r, d.q[0].avail + 2), 1, __ATOMIC_RELEASE);
	drv_notify(&d, 0);
	CHECK(wait_for(needs_reset, &d));
	/* The driver hears of it on the configuration vector. */
	msi_target = 1;
	CHECK(wait_for(msi_reached, NULL));
	CHECK_EQ(rig_msi_last_data(), 0x30);
	CHECK_EQ(drv_used_idx(&d, 0), 0);
	/* More notifications change nothing until reset. */
	drv_notify(&d, 0);
	usleep(20000);
	CHECK_EQ(drv_used_idx(&d, 0), 0);
	drv_set_status(&d, 0);
	CHECK_EQ(drv_status(&d), 0);
	ready(1);
	post_buffer(8);
	drv_notify(&d, 0);
	CHECK(drv_wait_used(&d, 0, 1));
	/* A buffer outside guest RAM. */
	struct drv_buf bad = {0x7FFFF000ULL, 0x2000, true};
	drv_post(&d, 0, &bad, 1);
	drv_notify(&d, 0);
	CHECK(wait_for(needs_reset, &d));
	CHECK_EQ(drv_used_idx(&d, 0), 1);
	down();
}

static void test_hostile_notify(void)
{
	up(NULL);
	/* DRIVER_OK, but queue 0 was never enabled: its notification is an error. */
	CHECK(drv_negotiate(&d, FEATURES));
	drv_driver_ok(&d);
	drv_notify(&d, 0);
	CHECK(wait_for(needs_reset, &d));
	/* A queue the device does not have. */
	ready(VIRTIO_MSI_NO_VECTOR);
	CHECK(!(drv_status(&d) & VIRTIO_STATUS_NEEDS_RESET));
	drv_notify(&d, 9);
	CHECK(drv_status(&d) & VIRTIO_STATUS_NEEDS_RESET);
	/* NEEDS_RESET with INTx: ISR's configuration bit and the line. */
	CHECK(wait_for(level_high, NULL));
	CHECK_EQ(mmio_r(&d, VIRTIO_PCI_ISR, 1), VIRTIO_ISR_CONFIG);
	/* A notification before DRIVER_OK is kept for later, not an error. */
	CHECK(drv_negotiate(&d, FEATURES));
	drv_queue(&d, 0, 8, VIRTIO_MSI_NO_VECTOR);
	post_buffer(8);
	drv_notify(&d, 0);
	usleep(20000);
	CHECK_EQ(drv_used_idx(&d, 0), 0);
	CHECK(!(drv_status(&d) & VIRTIO_STATUS_NEEDS_RESET));
	drv_driver_ok(&d);
	CHECK(drv_wait_used(&d, 0, 1));
	down();
}

static void test_bus_master(void)
{
	up(NULL);
	ready(VIRTIO_MSI_NO_VECTOR);
	cfg_write(r, SLOT, PCI_COMMAND, 2, PCI_COMMAND_MEMORY); /* no DMA */
	post_buffer(8);
	drv_notify(&d, 0);
	usleep(20000);
	CHECK_EQ(drv_used_idx(&d, 0), 0);
	cfg_write(r, SLOT, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	CHECK(drv_wait_used(&d, 0, 1));
	down();
}

static void test_pci_cfg_window(void)
{
	up(NULL);
	unsigned cap = find_cap(r, SLOT, VIRTIO_PCI_CAP_PCI_CFG);
	cfg_write(r, SLOT, cap + 4, 1, VIRTIO_PCI_BAR);
	cfg_write(r, SLOT, cap + 8, 4, VIRTIO_PCI_NUM_QUEUES);
	cfg_write(r, SLOT, cap + 12, 4, 2);
	CHECK_EQ(cfg_read(r, SLOT, cap + 16, 2), 1);
	/* A write through it: device_status. */
	cfg_write(r, SLOT, cap + 8, 4, VIRTIO_PCI_DEVICE_STATUS);
	cfg_write(r, SLOT, cap + 12, 4, 1);
	cfg_write(r, SLOT, cap + 16, 1, VIRTIO_STATUS_ACKNOWLEDGE);
	CHECK_EQ(drv_status(&d), VIRTIO_STATUS_ACKNOWLEDGE);
	/* Bad windows do nothing: length 3, another BAR, misaligned. */
	cfg_write(r, SLOT, cap + 12, 4, 3);
	CHECK_EQ(cfg_read(r, SLOT, cap + 16, 4), 0);
	cfg_write(r, SLOT, cap + 4, 1, 2);
	cfg_write(r, SLOT, cap + 12, 4, 1);
	CHECK_EQ(cfg_read(r, SLOT, cap + 16, 1), 0);
	cfg_write(r, SLOT, cap + 4, 1, VIRTIO_PCI_BAR);
	cfg_write(r, SLOT, cap + 8, 4, VIRTIO_PCI_NUM_QUEUES + 1);
	cfg_write(r, SLOT, cap + 12, 4, 2);
	CHECK_EQ(cfg_read(r, SLOT, cap + 16, 2), 0);
	down();
}

static void test_odd_accesses(void)
{
	up(NULL);
	/* Every size at every offset of the BAR: no crash, sane values. */
	for (uint64_t off = 0; off < 0x40; off++)
		for (unsigned size = 1; size <= 8; size *= 2)
			(void)mmio_r(&d, off, size);
	for (uint64_t off = 0x3000; off < 0x3010; off++)
		mmio_w(&d, off, 1, 0xFF);
	mmio_w(&d, VIRTIO_PCI_BAR_SIZE - 1, 8, ~0ULL);
	bus_write(r->vm.bus, BUS_MMIO, DRV_BAR1 + 0x7FF, 8, ~0ULL);
	bus_write(r->vm.bus, BUS_MMIO, DRV_BAR1 + 0x20, 4, 0xFFFFFFFF); /* beyond 2 vectors */
	CHECK_EQ(bus_read(r->vm.bus, BUS_MMIO, DRV_BAR1 + 0x20, 4), 0);
	CHECK(!(drv_status(&d) & VIRTIO_STATUS_NEEDS_RESET)); /* before DRIVER_OK: ignored */
	down();
}

int main(void)
{
	log_set_level(LOG_OFF); /* the hostile cases log by design */
	RUN(test_identity);
	RUN(test_features);
	RUN(test_intx);
	RUN(test_msix);
	RUN(test_irqfd_and_ioeventfd);
	RUN(test_hostile_setup);
	RUN(test_hostile_chain);
	RUN(test_hostile_notify);
	RUN(test_bus_master);
	RUN(test_pci_cfg_window);
	RUN(test_odd_accesses);
	TEST_DONE();
}
