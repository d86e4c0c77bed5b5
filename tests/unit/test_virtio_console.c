/* virtio-console with one port: the guest's output reaches the host console
 * (here a file), host input reaches the guest's receive buffers whenever
 * both exist (input that comes first waits for buffers), and the emergency
 * write register prints a character once its feature is negotiated. */
#include <fcntl.h>

#include "console.h"
#include "dev/virtio/virtio_console.h"
#include "test.h"
#include "virtio_rig.h"

#define SLOT 1
#define FEATURES                                                                                   \
	(VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |                         \
	 VIRTIO_BIT(VIRTIO_CONSOLE_F_EMERG_WRITE))

static char path[64];

static size_t file_text(char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, cap - 1) : -1;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
	return n > 0 ? (size_t)n : 0;
}

static void test_console(void)
{
	struct rig *r = rig_new();
	struct console *con = console_create(NULL, path);
	CHECK(con != NULL);
	struct virtio_console *vc = virtio_console_create(&r->vm, con);
	CHECK(vc != NULL);
	struct drv d;
	drv_map(&d, r, SLOT);
	CHECK_EQ(cfg_read(r, SLOT, PCI_DEVICE_ID, 2), 0x1043);
	CHECK(drv_negotiate(&d, FEATURES));
	drv_queue(&d, 0, 8, VIRTIO_MSI_NO_VECTOR); /* receive */
	drv_queue(&d, 1, 8, VIRTIO_MSI_NO_VECTOR); /* transmit */
	/* Input typed before the driver is ready waits for it. */
	CHECK_EQ(console_inject(con, "ab", 2), 2);
	drv_driver_ok(&d);

	/* Output. */
	uint64_t out = drv_alloc(&d, 16, 1);
	memcpy(gpa(r, out), "hello, ", 7);
	memcpy(gpa(r, out + 8), "world\n", 6);
	struct drv_buf tx[2] = {{out, 7, false}, {out + 8, 6, false}};
	drv_post(&d, 1, tx, 2);
	drv_notify(&d, 1);
	CHECK(drv_wait_used(&d, 1, 1));
	char text[64];
	file_text(text, sizeof text);
	CHECK(!strcmp(text, "hello, world\n"));

	/* Input: two receive buffers of 4; "ab" arrives as soon as one exists. */
	uint64_t in = drv_alloc(&d, 8, 1);
	struct drv_buf rx = {in, 4, true};
	drv_post(&d, 0, &rx, 1);
	drv_notify(&d, 0);
	CHECK(drv_wait_used(&d, 0, 1));
	uint32_t id, len;
	drv_used_elem(&d, 0, 0, &id, &len);
	CHECK_EQ(len, 2);
	CHECK(!memcmp(gpa(r, in), "ab", 2));
	struct drv_buf rx2 = {in + 4, 4, true};
	drv_post(&d, 0, &rx2, 1);
	drv_notify(&d, 0);
	usleep(20000);
	CHECK_EQ(drv_used_idx(&d, 0), 1); /* nothing typed: the buffer waits */
	CHECK_EQ(console_inject(con, "xyz!!", 5), 5);
	CHECK(drv_wait_used(&d, 0, 2));
	drv_used_elem(&d, 0, 1, &id, &len);
	CHECK_EQ(len, 4);
	CHECK(!memcmp(gpa(r, in + 4), "xyz!", 4));
	CHECK(console_input_pending(con)); /* the last "!" waits for a buffer */

	/* Emergency write. */
	mmio_w(&d, VIRTIO_PCI_DEVICE + VIRTIO_CONSOLE_CFG_EMERG_WR, 4, 'E');
	file_text(text, sizeof text);
	CHECK(!strcmp(text, "hello, world\nE"));
	CHECK_EQ(mmio_r(&d, VIRTIO_PCI_DEVICE + 4, 4), 1); /* max_nr_ports */

	/* A hostile transmit chain (device-writable only) is no crash. */
	struct drv_buf weird = {out, 4, true};
	drv_post(&d, 1, &weird, 1);
	drv_notify(&d, 1);
	CHECK(drv_wait_used(&d, 1, 2));

	virtio_console_destroy(vc);
	console_destroy(con);
	rig_free(r);
}

int main(void)
{
	log_set_level(LOG_OFF);
	snprintf(path, sizeof path, "/tmp/rf-vcon-%d.txt", (int)getpid());
	unlink(path);
	RUN(test_console);
	unlink(path);
	TEST_DONE();
}
