/* virtio-blk on a temporary image file, through the PCI transport and the
 * I/O thread: read, write, flush, get-id, discard and write zeroes, the
 * read-only mode, cache=none with aligned and unaligned buffers, many
 * requests in flight, indirect chains, a hostile driver's requests (ranges
 * past the end, odd lengths, short headers, no status byte, unknown types),
 * a reset while requests are in flight, and the flush guarantee: once the
 * guest has seen a flush complete, killing the VMM with SIGKILL loses
 * nothing written before it. */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "dev/virtio/virtio_blk.h"
#include "test.h"
#include "virtio_rig.h"

#define SLOT 1
#define SECTORS 2048 /* 1 MiB image */
#define FEATURES                                                                                   \
	(VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |                         \
	 VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) |                     \
	 VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) | VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES) |                \
	 VIRTIO_BIT(VIRTIO_BLK_F_RO) | VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) |                          \
	 VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) | VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX))

static char dir[64], image[128];
static struct rig *r;
static struct virtio_blk *blk;
static struct drv d;

static uint8_t pattern(uint64_t byte)
{
	return (uint8_t)(byte * 7 + (byte >> 9) * 13 + 1);
}

static void make_image(const char *path)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	static uint8_t buf[SECTORS * 512];
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = pattern(i);
	CHECK_EQ(write(fd, buf, sizeof buf), sizeof buf);
	close(fd);
}

static bool file_range(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	bool ok = fd >= 0 && pread(fd, buf, len, (off_t)off) == (ssize_t)len;
	if (fd >= 0)
		close(fd);
	return ok;
}

static bool up(const char *spec)
{
	r = rig_new();
	blk = virtio_blk_create(&r->vm, spec);
	if (!blk) {
		rig_free(r);
		return false;
	}
	drv_map(&d, r, SLOT);
	CHECK(drv_negotiate(&d, FEATURES));
	drv_queue(&d, 0, 128, VIRTIO_MSI_NO_VECTOR);
	drv_driver_ok(&d);
	return true;
}

static void down(void)
{
	virtio_blk_destroy(blk);
	rig_free(r);
}

struct req {
	uint16_t head;
	uint64_t hdr, status;
	uint16_t used_at; /* the used index this request should reach */
};

/* Posts a request: header, `ndata` data buffers of `len` bytes each (from
 * data, device-writable if `in`), status. Does not notify. */
static struct req post_req(uint32_t type, uint64_t sector, uint64_t data, uint32_t len,
                           unsigned ndata, bool in)
{
	struct req q;
	q.hdr = drv_alloc(&d, 16, 16);
	q.status = drv_alloc(&d, 1, 1);
	uint32_t h[4] = {type, 0, (uint32_t)sector, (uint32_t)(sector >> 32)};
	memcpy(gpa(r, q.hdr), h, 16);
	*(uint8_t *)gpa(r, q.status) = 0xEE;
	struct drv_buf b[8];
	unsigned n = 0;
	b[n++] = (struct drv_buf){q.hdr, 16, false};
	for (unsigned i = 0; i < ndata; i++)
		b[n++] = (struct drv_buf){data + (uint64_t)i * len, len, in};
	b[n++] = (struct drv_buf){q.status, 1, true};
	q.head = drv_post(&d, 0, b, n);
	q.used_at = d.q[0].avail_idx;
	return q;
}

static uint8_t run_req(uint32_t type, uint64_t sector, uint64_t data, uint32_t len, unsigned ndata,
                       bool in)
{
	struct req q = post_req(type, sector, data, len, ndata, in);
	drv_notify(&d, 0);
	if (!drv_wait_used(&d, 0, q.used_at))
		return 0xFF;
	return *(uint8_t *)gpa(r, q.status);
}

static void test_config(void)
{
	if (!up(image))
		return;
	CHECK(find_cap(r, SLOT, VIRTIO_PCI_CAP_DEVICE_CFG) != 0);
	CHECK_EQ(cfg_read(r, SLOT, PCI_DEVICE_ID, 2), 0x1042);
	CHECK_EQ(mmio_r(&d, VIRTIO_PCI_DEVICE + VIRTIO_BLK_CFG_CAPACITY, 8), SECTORS);
	CHECK_EQ(mmio_r(&d, VIRTIO_PCI_DEVICE + VIRTIO_BLK_CFG_CAPACITY, 4), SECTORS);
	CHECK_EQ(mmio_r(&d, VIRTIO_PCI_DEVICE + VIRTIO_BLK_CFG_SEG_MAX, 4), 254);
	CHECK_EQ(mmio_r(&d, VIRTIO_PCI_DEVICE + VIRTIO_BLK_CFG_BLK_SIZE, 4), 512);
	CHECK_EQ(mmio_r(&d, VIRTIO_PCI_DEVICE + VIRTIO_BLK_CFG_MAX_DISCARD_SEG, 4), 1);
	uint64_t f = drv_device_features(&d);
	CHECK(f & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
	CHECK(f & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD));
	CHECK(!(f & VIRTIO_BIT(VIRTIO_BLK_F_RO)));
	/* Writes to the configuration are ignored (no writable field offered). */
	mmio_w(&d, VIRTIO_PCI_DEVICE + VIRTIO_BLK_CFG_CAPACITY, 4, 5);
	CHECK_EQ(mmio_r(&d, VIRTIO_PCI_DEVICE + VIRTIO_BLK_CFG_CAPACITY, 4), SECTORS);
	down();
}

static void test_read_write(void)
{
	if (!up(image))
		return;
	/* Sectors 4-7 into three buffers of 512, 1024... as 4 x 512. */
	uint64_t buf = drv_alloc(&d, 4096, 4096);
	CHECK_EQ(run_req(VIRTIO_BLK_T_IN, 4, buf, 512, 4, true), VIRTIO_BLK_S_OK);
	uint8_t *p = gpa(r, buf);
	bool same = true;
	for (int i = 0; i < 2048; i++)
		same &= p[i] == pattern(4 * 512 + (uint64_t)i);
	CHECK(same);
	uint32_t id, len;
	drv_used_elem(&d, 0, 0, &id, &len);
	CHECK_EQ(len, 2049); /* data and status */
	/* Write sectors 100-101, then read them from the file. */
	for (int i = 0; i < 1024; i++)
		p[i] = (uint8_t)(0xA0 ^ i);
	CHECK_EQ(run_req(VIRTIO_BLK_T_OUT, 100, buf, 1024, 1, false), VIRTIO_BLK_S_OK);
	CHECK_EQ(run_req(VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0, false), VIRTIO_BLK_S_OK);
	uint8_t back[1024];
	CHECK(file_range(image, 100 * 512, back, sizeof back));
	CHECK(memcmp(back, p, sizeof back) == 0);
	/* And back through the device. */
	uint64_t buf2 = drv_alloc(&d, 1024, 512);
	CHECK_EQ(run_req(VIRTIO_BLK_T_IN, 100, buf2, 1024, 1, true), VIRTIO_BLK_S_OK);
	CHECK(memcmp(gpa(r, buf2), back, sizeof back) == 0);
	/* The last sector is readable, the one after it is not. */
	CHECK_EQ(run_req(VIRTIO_BLK_T_IN, SECTORS - 1, buf2, 512, 1, true), VIRTIO_BLK_S_OK);
	CHECK_EQ(run_req(VIRTIO_BLK_T_IN, SECTORS, buf2, 512, 1, true), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(run_req(VIRTIO_BLK_T_IN, SECTORS - 1, buf2, 1024, 1, true), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(run_req(VIRTIO_BLK_T_OUT, ~0ULL >> 1, buf2, 512, 1, false), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(run_req(VIRTIO_BLK_T_OUT, ~0ULL, buf2, 512, 1, false), VIRTIO_BLK_S_IOERR);
	/* Not a whole number of sectors. */
	CHECK_EQ(run_req(VIRTIO_BLK_T_IN, 0, buf2, 100, 1, true), VIRTIO_BLK_S_IOERR);
	/* A read with no data is fine. */
	CHECK_EQ(run_req(VIRTIO_BLK_T_IN, 0, buf2, 0, 0, true), VIRTIO_BLK_S_OK);
	CHECK(!(drv_status(&d) & VIRTIO_STATUS_NEEDS_RESET));
	down();
	make_image(image);
}

static void test_get_id(void)
{
	if (!up(image))
		return;
	uint64_t buf = drv_alloc(&d, 20, 4);
	memset(gpa(r, buf), 0xCC, 20);
	CHECK_EQ(run_req(VIRTIO_BLK_T_GET_ID, 0, buf, 20, 1, true), VIRTIO_BLK_S_OK);
	CHECK(memcmp(gpa(r, buf), "disk.img", 9) == 0); /* NUL padded */
	down();
	/* A long name: 11 bytes of it and a hash, 20 bytes, no NUL needed. */
	char longname[160];
	snprintf(longname, sizeof longname, "%s/a-rather-long-image-name.raw", dir);
	make_image(longname);
	if (up(longname)) {
		uint64_t b2 = drv_alloc(&d, 20, 4);
		CHECK_EQ(run_req(VIRTIO_BLK_T_GET_ID, 0, b2, 20, 1, true), VIRTIO_BLK_S_OK);
		CHECK(memcmp(gpa(r, b2), "a-rather-lo-", 12) == 0);
		down();
	}
	unlink(longname);
}

static void test_discard_zeroes(void)
{
	if (!up(image))
		return;
	uint64_t seg = drv_alloc(&d, 16, 16);
	uint32_t s[4] = {8, 0, 16, 0}; /* sectors 8-23 */
	memcpy(gpa(r, seg), s, 16);
	CHECK_EQ(run_req(VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, 16, 1, false), VIRTIO_BLK_S_OK);
	uint8_t back[16 * 512], zero[16 * 512] = {0};
	CHECK(file_range(image, 8 * 512, back, sizeof back));
	CHECK(memcmp(back, zero, sizeof back) == 0);
	CHECK(file_range(image, 24 * 512, back, 1));
	CHECK_EQ(back[0], pattern(24 * 512)); /* the next sector is untouched */
	/* With the unmap flag (may punch a hole): still zeroes. */
	uint32_t s2[4] = {64, 0, 8, VIRTIO_BLK_WZ_UNMAP};
	memcpy(gpa(r, seg), s2, 16);
	CHECK_EQ(run_req(VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, 16, 1, false), VIRTIO_BLK_S_OK);
	CHECK(file_range(image, 64 * 512, back, 8 * 512));
	CHECK(memcmp(back, zero, 8 * 512) == 0);
	/* Discard: a hint, completes OK. */
	uint32_t s3[4] = {128, 0, 8, 0};
	memcpy(gpa(r, seg), s3, 16);
	CHECK_EQ(run_req(VIRTIO_BLK_T_DISCARD, 0, seg, 16, 1, false), VIRTIO_BLK_S_OK);
	/* Unknown flags, ranges past the end, two segments at once. */
	uint32_t s4[4] = {0, 0, 8, 2};
	memcpy(gpa(r, seg), s4, 16);
	CHECK_EQ(run_req(VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, 16, 1, false), VIRTIO_BLK_S_UNSUPP);
	uint32_t s5[4] = {SECTORS - 4, 0, 8, 0};
	memcpy(gpa(r, seg), s5, 16);
	CHECK_EQ(run_req(VIRTIO_BLK_T_DISCARD, 0, seg, 16, 1, false), VIRTIO_BLK_S_IOERR);
	uint64_t two = drv_alloc(&d, 32, 16);
	memset(gpa(r, two), 0, 32);
	CHECK_EQ(run_req(VIRTIO_BLK_T_DISCARD, 0, two, 32, 1, false), VIRTIO_BLK_S_IOERR);
	down();
	make_image(image);
}

static void test_readonly(void)
{
	char spec[160];
	snprintf(spec, sizeof spec, "%s,ro", image);
	if (!up(spec))
		return;
	CHECK(drv_device_features(&d) & VIRTIO_BIT(VIRTIO_BLK_F_RO));
	CHECK(!(drv_device_features(&d) & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD)));
	uint64_t buf = drv_alloc(&d, 512, 512);
	memset(gpa(r, buf), 0x55, 512);
	CHECK_EQ(run_req(VIRTIO_BLK_T_OUT, 0, buf, 512, 1, false), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(run_req(VIRTIO_BLK_T_IN, 0, buf, 512, 1, true), VIRTIO_BLK_S_OK);
	CHECK_EQ(((uint8_t *)gpa(r, buf))[1], pattern(1));
	CHECK_EQ(run_req(VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0, false), VIRTIO_BLK_S_OK);
	uint8_t first;
	CHECK(file_range(image, 0, &first, 1));
	CHECK_EQ(first, pattern(0));
	down();
}

static void test_options(void)
{
	char err[256];
	struct virtio_blk_options o;
	CHECK_EQ(virtio_blk_parse("a.img,ro,cache=none", &o, err, sizeof err), 0);
	CHECK(!strcmp(o.path, "a.img") && o.readonly && o.direct);
	virtio_blk_options_free(&o);
	CHECK_EQ(virtio_blk_parse("/dev/sdz,cache=writeback", &o, err, sizeof err), 0);
	CHECK(!o.readonly && !o.direct);
	virtio_blk_options_free(&o);
	CHECK_EQ(virtio_blk_parse("a.img,cache=lots", &o, err, sizeof err), -1);
	CHECK_EQ(virtio_blk_parse(",ro", &o, err, sizeof err), -1);
	CHECK_EQ(virtio_blk_parse("a.img,", &o, err, sizeof err), -1);
	/* Files that cannot be disks. */
	r = rig_new();
	log_set_level(LOG_OFF);
	CHECK(virtio_blk_create(&r->vm, "/nonexistent/disk.img") == NULL);
	CHECK(virtio_blk_create(&r->vm, dir) == NULL); /* a directory */
	/* Locked by another user (us): refused. */
	struct virtio_blk *first = virtio_blk_create(&r->vm, image);
	CHECK(first != NULL);
	CHECK(virtio_blk_create(&r->vm, image) == NULL);
	virtio_blk_destroy(first);
	rig_free(r);
}

static void test_hostile_requests(void)
{
	if (!up(image))
		return;
	uint64_t buf = drv_alloc(&d, 512, 512);
	/* Unknown type. */
	CHECK_EQ(run_req(77, 0, buf, 512, 1, true), VIRTIO_BLK_S_UNSUPP);
	/* A header of 8 bytes. */
	uint64_t hdr = drv_alloc(&d, 8, 8), st = drv_alloc(&d, 1, 1);
	*(uint8_t *)gpa(r, st) = 0xEE;
	struct drv_buf b[2] = {{hdr, 8, false}, {st, 1, true}};
	drv_post(&d, 0, b, 2);
	drv_notify(&d, 0);
	CHECK(drv_wait_used(&d, 0, d.q[0].avail_idx));
	CHECK_EQ(*(uint8_t *)gpa(r, st), VIRTIO_BLK_S_IOERR);
	/* A write whose data is device-writable (the layout is wrong, the
	 * lengths say there is no data): IOERR is not required; no crash. */
	(void)run_req(VIRTIO_BLK_T_OUT, 0, buf, 512, 1, true);
	CHECK(!(drv_status(&d) & VIRTIO_STATUS_NEEDS_RESET));
	/* No room for a status byte at all: the device needs a reset. */
	struct drv_buf nostatus[1] = {{hdr, 8, false}};
	drv_post(&d, 0, nostatus, 1);
	drv_notify(&d, 0);
	for (int i = 0; i < 2000 && !(drv_status(&d) & VIRTIO_STATUS_NEEDS_RESET); i++)
		usleep(1000);
	CHECK(drv_status(&d) & VIRTIO_STATUS_NEEDS_RESET);
	down();
}

static void test_indirect_and_many(void)
{
	if (!up(image))
		return;
	/* One request through an indirect table (as Linux sends them). */
	uint64_t table = drv_alloc(&d, 3 * 16, 16), hdr = drv_alloc(&d, 16, 16);
	uint64_t data = drv_alloc(&d, 512, 512), st = drv_alloc(&d, 1, 1);
	uint32_t h[4] = {VIRTIO_BLK_T_IN, 0, 3, 0};
	memcpy(gpa(r, hdr), h, 16);
	put_desc(r, table, 0, hdr, 16, VIRTQ_DESC_F_NEXT, 1);
	put_desc(r, table, 1, data, 512, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	put_desc(r, table, 2, st, 1, VIRTQ_DESC_F_WRITE, 0);
	struct drv_queue *dq = &d.q[0];
	uint16_t head = dq->next_desc;
	put_desc(r, dq->desc, head, table, 48, VIRTQ_DESC_F_INDIRECT, 0);
	dq->next_desc = (uint16_t)((head + 1) % dq->size);
	*(uint16_t *)gpa(r, dq->avail + 4 + 2ULL * (dq->avail_idx % dq->size)) = head;
	dq->avail_idx++;
	__atomic_store_n((uint16_t *)gpa(r, dq->avail + 2), dq->avail_idx, __ATOMIC_RELEASE);
	drv_notify(&d, 0);
	CHECK(drv_wait_used(&d, 0, dq->avail_idx));
	CHECK_EQ(*(uint8_t *)gpa(r, st), VIRTIO_BLK_S_OK);
	CHECK_EQ(((uint8_t *)gpa(r, data))[5], pattern(3 * 512 + 5));
	/* 40 reads in flight at once, one notification. */
	struct req q[40];
	uint64_t bufs = drv_alloc(&d, 40 * 512, 512);
	for (int i = 0; i < 40; i++)
		q[i] = post_req(VIRTIO_BLK_T_IN, (uint64_t)i * 3, bufs + i * 512ULL, 512, 1, true);
	drv_notify(&d, 0);
	CHECK(drv_wait_used(&d, 0, q[39].used_at));
	bool ok = true;
	for (int i = 0; i < 40; i++) {
		ok &= *(uint8_t *)gpa(r, q[i].status) == VIRTIO_BLK_S_OK;
		ok &= ((uint8_t *)gpa(r, bufs + i * 512ULL))[7] == pattern(i * 3 * 512ULL + 7);
	}
	CHECK(ok);
	down();
}

static void test_cache_none(void)
{
	char spec[160];
	snprintf(spec, sizeof spec, "%s,cache=none", image);
	log_set_level(LOG_OFF);
	if (!up(spec)) {
		printf("  (cache=none: O_DIRECT not available on %s; only the refusal checked)\n",
		       dir);
		return;
	}
	/* Page-aligned buffers: straight O_DIRECT. */
	uint64_t a = drv_alloc(&d, 8192, 4096);
	CHECK_EQ(run_req(VIRTIO_BLK_T_IN, 8, a, 4096, 1, true), VIRTIO_BLK_S_OK);
	CHECK_EQ(((uint8_t *)gpa(r, a))[100], pattern(8 * 512 + 100));
	/* Misaligned buffers: through a bounce buffer, same data. */
	uint64_t m = drv_alloc(&d, 8192, 4096) + 8;
	CHECK_EQ(run_req(VIRTIO_BLK_T_IN, 8, m, 4096, 1, true), VIRTIO_BLK_S_OK);
	CHECK(memcmp(gpa(r, m), gpa(r, a), 4096) == 0);
	for (int i = 0; i < 4096; i++)
		((uint8_t *)gpa(r, m))[i] = (uint8_t)(i ^ 0x3C);
	CHECK_EQ(run_req(VIRTIO_BLK_T_OUT, 16, m, 4096, 1, false), VIRTIO_BLK_S_OK);
	/* A 512-byte write at an odd sector (page cache path). */
	CHECK_EQ(run_req(VIRTIO_BLK_T_OUT, 33, m, 512, 1, false), VIRTIO_BLK_S_OK);
	CHECK_EQ(run_req(VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0, false), VIRTIO_BLK_S_OK);
	uint8_t back[4096];
	CHECK(file_range(image, 16 * 512, back, 4096));
	CHECK(memcmp(back, gpa(r, m), 4096) == 0);
	CHECK(file_range(image, 33 * 512, back, 512));
	CHECK(memcmp(back, gpa(r, m), 512) == 0);
	/* Read back what was written through both paths. */
	CHECK_EQ(run_req(VIRTIO_BLK_T_IN, 16, a, 4096, 1, true), VIRTIO_BLK_S_OK);
	CHECK(memcmp(gpa(r, a), gpa(r, m), 4096) == 0);
	down();
	make_image(image);
}

static bool status_zero(void *arg)
{
	return drv_status(arg) == 0;
}

static void test_reset_in_flight(void)
{
	/* A bigger image, so the writes take a moment. */
	char big[160];
	snprintf(big, sizeof big, "%s/big.img", dir);
	int fd = open(big, O_CREAT | O_TRUNC | O_RDWR, 0644);
	CHECK_EQ(ftruncate(fd, 64 << 20), 0);
	close(fd);
	if (!up(big))
		return;
	uint64_t data = 0x800000; /* 4 MiB of guest RAM as the source */
	for (int i = 0; i < 16; i++) {
		uint64_t hdr = drv_alloc(&d, 16, 16), st = drv_alloc(&d, 1, 1);
		uint32_t h[4] = {VIRTIO_BLK_T_OUT, 0, (uint32_t)(i * 8192), 0};
		memcpy(gpa(r, hdr), h, 16);
		struct drv_buf b[5] = {{hdr, 16, false},
		                       {data, 1 << 20, false},
		                       {data + (1 << 20), 1 << 20, false},
		                       {data + (2 << 20), 1 << 20, false},
		                       {st, 1, true}};
		drv_post(&d, 0, b, 5);
	}
	drv_notify(&d, 0);
	usleep(200);
	drv_set_status(&d, 0); /* reset with (probably) requests in flight */
	/* Until they end, device_status does not read 0 (the reset is not
	 * complete); then it does. */
	bool pending = drv_status(&d) != 0;
	CHECK(wait_for(status_zero, &d));
	printf("  (the reset %s requests in flight)\n", pending ? "waited for" : "found no");
	/* Once reset is complete, nothing more reaches the old rings. */
	uint16_t used = drv_used_idx(&d, 0);
	usleep(100000);
	CHECK_EQ(drv_used_idx(&d, 0), used);
	/* And the device works again. */
	CHECK(drv_negotiate(&d, FEATURES));
	drv_queue(&d, 0, 128, VIRTIO_MSI_NO_VECTOR);
	drv_driver_ok(&d);
	uint64_t buf = drv_alloc(&d, 512, 512);
	CHECK_EQ(run_req(VIRTIO_BLK_T_IN, 0, buf, 512, 1, true), VIRTIO_BLK_S_OK);
	down();
	unlink(big);
}

/* The flush guarantee: a child process runs the device, writes, flushes,
 * and tells the parent as soon as it sees the flush complete; the parent
 * kills it with SIGKILL at once and finds the data in the file. */
static void test_flush_survives_kill(void)
{
	int pipefd[2];
	CHECK_EQ(pipe(pipefd), 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(pipefd[0]);
		if (!up(image))
			_exit(2);
		uint64_t buf = drv_alloc(&d, 64 * 512, 4096);
		for (int i = 0; i < 64 * 512; i++)
			((uint8_t *)gpa(r, buf))[i] = (uint8_t)(i * 31 + 5);
		if (run_req(VIRTIO_BLK_T_OUT, 300, buf, 64 * 512, 1, false) != VIRTIO_BLK_S_OK ||
		    run_req(VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0, false) != VIRTIO_BLK_S_OK)
			_exit(3);
		char ok = 'F';
		if (write(pipefd[1], &ok, 1) != 1)
			_exit(4);
		for (;;)
			pause();
	}
	close(pipefd[1]);
	char c = 0;
	CHECK_EQ(read(pipefd[0], &c, 1), 1);
	kill(pid, SIGKILL);
	int status;
	waitpid(pid, &status, 0);
	close(pipefd[0]);
	CHECK_EQ(c, 'F');
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	static uint8_t back[64 * 512];
	CHECK(file_range(image, 300 * 512, back, sizeof back));
	bool same = true;
	for (int i = 0; i < 64 * 512; i++)
		same &= back[i] == (uint8_t)(i * 31 + 5);
	CHECK(same);
	make_image(image);
}

int main(void)
{
	log_set_level(LOG_OFF); /* the hostile cases log by design */
	snprintf(dir, sizeof dir, "/tmp/rf-vblk-XXXXXX");
	if (!mkdtemp(dir)) {
		printf("cannot make a temporary directory\n");
		return 1;
	}
	snprintf(image, sizeof image, "%s/disk.img", dir);
	make_image(image);
	RUN(test_flush_survives_kill); /* first: fork before any thread exists */
	RUN(test_config);
	RUN(test_read_write);
	RUN(test_get_id);
	RUN(test_discard_zeroes);
	RUN(test_readonly);
	RUN(test_options);
	RUN(test_hostile_requests);
	RUN(test_indirect_and_many);
	RUN(test_cache_none);
	RUN(test_reset_in_flight);
	unlink(image);
	rmdir(dir);
	TEST_DONE();
}
