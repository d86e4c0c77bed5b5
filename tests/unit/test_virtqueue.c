/* Split virtqueues, device side, against a hostile driver: valid chains,
 * indirect tables and event-index suppression, then every way of breaking
 * the rules the brief lists (buffers outside RAM, loops, chains longer than
 * the queue, length overflows, nested indirect tables, bad sizes). Guest
 * RAM is a 1 MiB region at guest-physical 0. */
#include <stdlib.h>

#include "dev/virtio/virtio.h"
#include "dev/virtio/virtqueue.h"
#include "test.h"

#define RAM_SIZE (1u << 20)
#define DESC 0x1000u
#define AVAIL 0x9000u
#define USED 0xA000u
#define BUF 0x20000u

static uint8_t *ram;
static struct guest_mem mem;

static void ram_reset(void)
{
	memset(ram, 0, RAM_SIZE);
}

static void setup(void)
{
	ram = aligned_alloc(4096, RAM_SIZE);
	mem = (struct guest_mem){.ram_size = RAM_SIZE, .nregions = 1};
	mem.regions[0] = (struct mem_region){.gpa = 0, .size = RAM_SIZE, .host = ram};
}

static void desc(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                 uint16_t next)
{
	struct virtq_desc d = {addr, len, flags, next};
	memcpy(ram + table + 16ULL * i, &d, sizeof d);
}

static void avail_put(uint16_t size, uint16_t idx, uint16_t head)
{
	memcpy(ram + AVAIL + 4 + 2 * (idx % size), &head, 2);
	uint16_t next = (uint16_t)(idx + 1);
	memcpy(ram + AVAIL + 2, &next, 2);
}

static uint16_t rd16(uint64_t a)
{
	uint16_t v;
	memcpy(&v, ram + a, 2);
	return v;
}

static void wr16(uint64_t a, uint16_t v)
{
	memcpy(ram + a, &v, 2);
}

static uint32_t rd32(uint64_t a)
{
	uint32_t v;
	memcpy(&v, ram + a, 4);
	return v;
}

static int start(struct virtq *vq, uint16_t size, uint64_t features)
{
	virtq_init(vq, 256);
	vq->size = size;
	vq->desc_addr = DESC;
	vq->avail_addr = AVAIL;
	vq->used_addr = USED;
	char why[160];
	return virtq_start(vq, &mem, features, why, sizeof why);
}

static struct virtq_elem elem;
static char why[200];

static void test_simple_chain(void)
{
	ram_reset();
	struct virtq vq;
	CHECK_EQ(start(&vq, 8, 0), 0);
	CHECK_EQ(virtq_pop(&vq, &elem, why, sizeof why), 0); /* nothing yet */
	desc(DESC, 3, BUF, 16, VIRTQ_DESC_F_NEXT, 5);
	desc(DESC, 5, BUF + 0x100, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	desc(DESC, 1, BUF + 0x400, 1, VIRTQ_DESC_F_WRITE, 0);
	avail_put(8, 0, 3);
	CHECK(virtq_has_work(&vq));
	CHECK_EQ(virtq_pop(&vq, &elem, why, sizeof why), 1);
	CHECK_EQ(elem.head, 3);
	CHECK_EQ(elem.nout, 1);
	CHECK_EQ(elem.nin, 2);
	CHECK_EQ(elem.out_len, 16);
	CHECK_EQ(elem.in_len, 513);
	CHECK(elem.iov[0].iov_base == ram + BUF);
	CHECK(elem.iov[1].iov_base == ram + BUF + 0x100);
	CHECK_EQ(elem.iov[2].iov_len, 1);
	CHECK(!virtq_has_work(&vq));
	virtq_push(&vq, elem.head, 513);
	CHECK_EQ(rd16(USED + 2), 1);
	CHECK_EQ(rd32(USED + 4), 3);
	CHECK_EQ(rd32(USED + 8), 513);
	CHECK_EQ(virtq_pop(&vq, &elem, why, sizeof why), 0);
	/* The ring wraps: 20 more single-buffer chains through an 8-entry queue. */
	for (uint16_t i = 1; i <= 20; i++) {
		desc(DESC, i % 8, BUF, 4, 0, 0);
		avail_put(8, i, i % 8);
		CHECK_EQ(virtq_pop(&vq, &elem, why, sizeof why), 1);
		CHECK_EQ(elem.head, i % 8);
		virtq_push(&vq, elem.head, 0);
	}
	CHECK_EQ(rd16(USED + 2), 21);
}

static void test_start_checks(void)
{
	ram_reset();
	struct virtq vq;
	CHECK_EQ(start(&vq, 6, 0), -1);   /* not a power of two */
	CHECK_EQ(start(&vq, 0, 0), -1);   /* empty */
	CHECK_EQ(start(&vq, 512, 0), -1); /* above the maximum of 256 */
	CHECK(!vq.started);
	CHECK_EQ(virtq_pop(&vq, &elem, why, sizeof why), 0);
	virtq_init(&vq, 256);
	vq.size = 8;
	vq.desc_addr = DESC + 8; /* misaligned descriptor table */
	vq.avail_addr = AVAIL;
	vq.used_addr = USED;
	CHECK_EQ(virtq_start(&vq, &mem, 0, why, sizeof why), -1);
	vq.desc_addr = DESC;
	vq.used_addr = USED + 2; /* misaligned used ring */
	CHECK_EQ(virtq_start(&vq, &mem, 0, why, sizeof why), -1);
	vq.used_addr = RAM_SIZE - 8; /* runs past the end of RAM */
	CHECK_EQ(virtq_start(&vq, &mem, 0, why, sizeof why), -1);
	vq.used_addr = USED;
	vq.avail_addr = 0xFFFFFFFFFFFFFFF0ULL; /* wraps */
	CHECK_EQ(virtq_start(&vq, &mem, 0, why, sizeof why), -1);
	vq.avail_addr = AVAIL;
	CHECK_EQ(virtq_start(&vq, &mem, 0, why, sizeof why), 0);
	virtq_reset(&vq);
	CHECK(!vq.started);
	CHECK_EQ(vq.size, 256);
	CHECK_EQ(virtq_pop(&vq, &elem, why, sizeof why), 0);
}

/* Starts an 8-entry queue with one chain at head 0 set up by the caller
 * and returns what popping it gives. */
static int pop_one(uint64_t features)
{
	struct virtq vq;
	if (start(&vq, 8, features) < 0)
		return -2;
	avail_put(8, 0, 0);
	int rc = virtq_pop(&vq, &elem, why, sizeof why);
	if (rc < 0) {
		/* Broken now: nothing more comes out, nothing goes in. */
		CHECK(vq.broken);
		avail_put(8, 1, 0);
		CHECK_EQ(virtq_pop(&vq, &elem, why, sizeof why), 0);
		virtq_push(&vq, 0, 0);
		CHECK_EQ(rd16(USED + 2), 0);
		CHECK(!virtq_should_notify(&vq));
	}
	return rc;
}

static void test_outside_ram(void)
{
	ram_reset();
	desc(DESC, 0, RAM_SIZE, 1, 0, 0); /* just past the end */
	CHECK_EQ(pop_one(0), -1);
	ram_reset();
	desc(DESC, 0, RAM_SIZE - 16, 17, 0, 0); /* last byte past the end */
	CHECK_EQ(pop_one(0), -1);
	ram_reset();
	desc(DESC, 0, RAM_SIZE - 16, 16, 0, 0); /* exactly the last 16 bytes */
	CHECK_EQ(pop_one(0), 1);
	ram_reset();
	desc(DESC, 0, 0xC0000000ULL, 4096, 0, 0); /* the PCI hole */
	CHECK_EQ(pop_one(0), -1);
}

static void test_length_overflow(void)
{
	ram_reset();
	desc(DESC, 0, BUF, 0xFFFFFFFFu, 0, 0);
	CHECK_EQ(pop_one(0), -1);
	ram_reset();
	desc(DESC, 0, 0xFFFFFFFFFFFFFF00ULL, 0x200, 0, 0); /* address + length wraps */
	CHECK_EQ(pop_one(0), -1);
	ram_reset();
	desc(DESC, 0, RAM_SIZE - 1, 0xFFFFFFFFu, 0, 0);
	CHECK_EQ(pop_one(0), -1);
}

static void test_loops_and_bounds(void)
{
	ram_reset();
	desc(DESC, 0, BUF, 8, VIRTQ_DESC_F_NEXT, 1); /* 0 -> 1 -> 0 -> ... */
	desc(DESC, 1, BUF, 8, VIRTQ_DESC_F_NEXT, 0);
	CHECK_EQ(pop_one(0), -1);
	ram_reset();
	desc(DESC, 0, BUF, 8, VIRTQ_DESC_F_NEXT, 0); /* points at itself */
	CHECK_EQ(pop_one(0), -1);
	ram_reset();
	desc(DESC, 0, BUF, 8, VIRTQ_DESC_F_NEXT, 8); /* next outside the queue */
	CHECK_EQ(pop_one(0), -1);
	/* Head outside the queue. */
	ram_reset();
	struct virtq vq;
	CHECK_EQ(start(&vq, 8, 0), 0);
	avail_put(8, 0, 9);
	CHECK_EQ(virtq_pop(&vq, &elem, why, sizeof why), -1);
	/* The driver's index runs more than a queue's worth ahead. */
	ram_reset();
	CHECK_EQ(start(&vq, 8, 0), 0);
	wr16(AVAIL + 2, 9);
	CHECK_EQ(virtq_pop(&vq, &elem, why, sizeof why), -1);
	/* A readable buffer after a writable one. */
	ram_reset();
	desc(DESC, 0, BUF, 8, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	desc(DESC, 1, BUF, 8, 0, 0);
	CHECK_EQ(pop_one(0), -1);
	/* A chain as long as the queue is fine. */
	ram_reset();
	for (unsigned i = 0; i < 8; i++)
		desc(DESC, i, BUF, 8, i < 7 ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	CHECK_EQ(pop_one(0), 1);
	CHECK_EQ(elem.nout, 8);
}

static void test_too_many_segments(void)
{
	/* A 2048-entry queue whose chain has 1100 buffers: more than any
	 * chain may have, though it neither loops nor leaves the queue. */
	static uint8_t *big;
	big = aligned_alloc(4096, RAM_SIZE);
	memset(big, 0, RAM_SIZE);
	struct guest_mem m = {.ram_size = RAM_SIZE, .nregions = 1};
	m.regions[0] = (struct mem_region){.gpa = 0, .size = RAM_SIZE, .host = big};
	struct virtq vq;
	virtq_init(&vq, 2048);
	vq.desc_addr = 0x10000;
	vq.avail_addr = 0x20000;
	vq.used_addr = 0x30000;
	CHECK_EQ(virtq_start(&vq, &m, 0, why, sizeof why), 0);
	for (unsigned i = 0; i < 1100; i++) {
		struct virtq_desc d = {BUF, 4, i < 1099 ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1)};
		memcpy(big + 0x10000 + 16 * i, &d, sizeof d);
	}
	uint16_t one = 1;
	memcpy(big + 0x20000 + 2, &one, 2);
	CHECK_EQ(virtq_pop(&vq, &elem, why, sizeof why), -1);
	free(big);
}

static void test_indirect(void)
{
	uint64_t ind = 0x30000, f = VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	ram_reset();
	desc(ind, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 2);
	desc(ind, 2, BUF + 0x100, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	desc(ind, 1, BUF + 0x400, 1, VIRTQ_DESC_F_WRITE, 0);
	desc(DESC, 0, ind, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	CHECK_EQ(pop_one(f), 1);
	CHECK_EQ(elem.nout, 1);
	CHECK_EQ(elem.nin, 2);
	CHECK_EQ(elem.in_len, 513);
	/* Not negotiated. */
	CHECK_EQ(pop_one(0), -1);
	/* INDIRECT together with NEXT. */
	desc(DESC, 0, ind, 3 * 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	CHECK_EQ(pop_one(f), -1);
	/* A table inside the table. */
	desc(DESC, 0, ind, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	desc(ind, 1, ind, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	CHECK_EQ(pop_one(f), -1);
	desc(ind, 1, BUF + 0x400, 1, VIRTQ_DESC_F_WRITE, 0);
	/* Lengths that are no table. */
	desc(DESC, 0, ind, 3 * 16 + 8, VIRTQ_DESC_F_INDIRECT, 0);
	CHECK_EQ(pop_one(f), -1);
	desc(DESC, 0, ind, 0, VIRTQ_DESC_F_INDIRECT, 0);
	CHECK_EQ(pop_one(f), -1);
	desc(DESC, 0, ind, (VIRTQ_MAX_INDIRECT + 1) * 16, VIRTQ_DESC_F_INDIRECT, 0);
	CHECK_EQ(pop_one(f), -1);
	/* The table outside RAM, or crossing its end. */
	desc(DESC, 0, RAM_SIZE - 32, 48, VIRTQ_DESC_F_INDIRECT, 0);
	CHECK_EQ(pop_one(f), -1);
	/* A loop inside the table, and a next beyond it. */
	desc(DESC, 0, ind, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	desc(ind, 1, BUF, 8, VIRTQ_DESC_F_NEXT, 2);
	CHECK_EQ(pop_one(f), -1);
	desc(ind, 1, BUF, 8, VIRTQ_DESC_F_NEXT, 3);
	CHECK_EQ(pop_one(f), -1);
	/* An indirect descriptor in the middle of a direct chain. */
	ram_reset();
	desc(ind, 0, BUF, 8, 0, 0);
	desc(DESC, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(DESC, 1, ind, 16, VIRTQ_DESC_F_INDIRECT, 0);
	CHECK_EQ(pop_one(f), -1);
	/* A misaligned table (allowed) with the most entries allowed. */
	ram_reset();
	uint64_t odd = 0x40003;
	for (unsigned i = 0; i < VIRTQ_MAX_INDIRECT; i++)
		desc(odd, i, BUF, 1, i + 1 < VIRTQ_MAX_INDIRECT ? VIRTQ_DESC_F_NEXT : 0,
		     (uint16_t)(i + 1));
	desc(DESC, 0, odd, VIRTQ_MAX_INDIRECT * 16, VIRTQ_DESC_F_INDIRECT, 0);
	CHECK_EQ(pop_one(f), 1);
	CHECK_EQ(elem.nout, VIRTQ_MAX_INDIRECT);
}

static void test_notify_suppression(void)
{
	ram_reset();
	struct virtq vq;
	/* Without EVENT_IDX: the driver's NO_INTERRUPT flag. */
	CHECK_EQ(start(&vq, 8, 0), 0);
	desc(DESC, 0, BUF, 4, 0, 0);
	avail_put(8, 0, 0);
	CHECK_EQ(virtq_pop(&vq, &elem, why, sizeof why), 1);
	virtq_push(&vq, 0, 0);
	CHECK(virtq_should_notify(&vq));
	wr16(AVAIL, VIRTQ_AVAIL_F_NO_INTERRUPT);
	CHECK(!virtq_should_notify(&vq));
	wr16(AVAIL, 0);
	CHECK(!virtq_arm_notify(&vq)); /* nothing new */
	avail_put(8, 1, 0);
	CHECK(virtq_arm_notify(&vq)); /* a chain came in: look again */

	/* With EVENT_IDX: used_event (after the avail ring) and avail_event
	 * (after the used ring). */
	ram_reset();
	uint64_t f = VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	CHECK_EQ(start(&vq, 8, f), 0);
	desc(DESC, 0, BUF, 4, 0, 0);
	uint64_t used_event = AVAIL + 4 + 2 * 8, avail_event = USED + 4 + 8 * 8;
	for (uint16_t i = 0; i < 4; i++)
		avail_put(8, i, 0);
	for (int i = 0; i < 4; i++) {
		CHECK_EQ(virtq_pop(&vq, &elem, why, sizeof why), 1);
		virtq_push(&vq, 0, 0);
	}
	/* The driver asks to hear when the used index passes 2. */
	wr16(used_event, 2);
	CHECK(virtq_should_notify(&vq)); /* first time: always */
	for (uint16_t i = 4; i < 8; i++)
		avail_put(8, i, 0);
	CHECK_EQ(virtq_pop(&vq, &elem, why, sizeof why), 1);
	virtq_push(&vq, 0, 0); /* used 5: event 2 was passed before */
	CHECK(!virtq_should_notify(&vq));
	wr16(used_event, 5);
	CHECK_EQ(virtq_pop(&vq, &elem, why, sizeof why), 1);
	virtq_push(&vq, 0, 0); /* used 6: passes 5 */
	CHECK(virtq_should_notify(&vq));
	/* Arming writes where the driver must notify next. */
	while (virtq_pop(&vq, &elem, why, sizeof why) == 1)
		virtq_push(&vq, 0, 0);
	CHECK(!virtq_arm_notify(&vq));
	CHECK_EQ(rd16(avail_event), 8);
	CHECK(virtq_need_event(8, 9, 8));  /* the driver's next add notifies */
	CHECK(!virtq_need_event(8, 8, 7)); /* an earlier one did not need to */
}

static void test_iov_helpers(void)
{
	uint8_t a[3], b[5], c[4];
	struct iovec v[3] = {{a, 3}, {b, 5}, {c, 4}};
	uint8_t src[12], dst[12];
	for (int i = 0; i < 12; i++)
		src[i] = (uint8_t)(i + 1);
	CHECK_EQ(iov_from_buf(v, 3, 0, src, 12), 12);
	CHECK_EQ(b[0], 4);
	CHECK_EQ(c[3], 12);
	memset(dst, 0, sizeof dst);
	CHECK_EQ(iov_to_buf(v, 3, 2, dst, 100), 10);
	CHECK_EQ(dst[0], 3);
	CHECK_EQ(dst[9], 12);
	CHECK_EQ(iov_to_buf(v, 3, 12, dst, 4), 0);
	struct iovec s[3];
	CHECK_EQ(iov_slice(v, 3, 2, 7, s, 3), 3);
	CHECK(s[0].iov_base == a + 2);
	CHECK_EQ(s[0].iov_len, 1);
	CHECK_EQ(s[1].iov_len, 5);
	CHECK_EQ(s[2].iov_len, 1);
	CHECK_EQ(iov_slice(v, 3, 2, 11, s, 3), -1); /* beyond the list */
	CHECK_EQ(iov_slice(v, 3, 0, 12, s, 2), -1); /* too few entries */
	CHECK_EQ(iov_slice(v, 3, 3, 5, s, 1), 1);
	CHECK(s[0].iov_base == b);
}

int main(void)
{
	setup();
	RUN(test_simple_chain);
	RUN(test_start_checks);
	RUN(test_outside_ram);
	RUN(test_length_overflow);
	RUN(test_loops_and_bounds);
	RUN(test_too_many_segments);
	RUN(test_indirect);
	RUN(test_notify_suppression);
	RUN(test_iov_helpers);
	free(ram);
	TEST_DONE();
}
