/* LOCKed read-modify-writes are atomic on guest memory: two vCPUs on two
 * host threads, sharing one guest_mem, each add 100000 to three counters
 * with LOCK INC, LOCK XADD and a LOCK CMPXCHG retry loop; no update may be
 * lost. (Without LOCK, updates are lost: the test can fail.) */
#include <pthread.h>
#include <stdlib.h>

#include "engine/soft/soft.h"
#include "test.h"

#define ITER 500000

static struct guest_mem mem;

/* 32-bit flat code:
 *	mov ecx, 500000
 * 1:	lock inc dword [0x5000]
 *	mov eax, 1
 *	lock xadd [0x5004], eax
 * 2:	mov eax, [0x5008]
 *	lea edx, [eax+1]
 *	lock cmpxchg [0x5008], edx
 *	jnz 2b
 *	dec ecx
 *	jnz 1b
 *	hlt */
static const uint8_t code[] = {
    0xb9, 0x20, 0xa1, 0x07, 0x00, 0xf0, 0xff, 0x05, 0x00, 0x50, 0x00, 0x00, 0xb8, 0x01, 0x00, 0x00,
    0x00, 0xf0, 0x0f, 0xc1, 0x05, 0x04, 0x50, 0x00, 0x00, 0xa1, 0x08, 0x50, 0x00, 0x00, 0x8d, 0x50,
    0x01, 0xf0, 0x0f, 0xb1, 0x15, 0x08, 0x50, 0x00, 0x00, 0x75, 0xee, 0x49, 0x75, 0xd7, 0xf4};

static pthread_barrier_t start;

static void *vcpu_thread(void *arg)
{
	struct soft_cpu *cpu = arg;
	pthread_barrier_wait(&start); /* both at once, so they really contend */
	enum soft_exit e = soft_cpu_run(cpu, 100ULL * ITER);
	return (void *)(uintptr_t)(e == SOFT_EXIT_HLT);
}

static void test_two_vcpus_lose_no_update(void)
{
	mem_write(&mem, 0x1000, code, sizeof code);
	uint32_t zero[3] = {0};
	mem_write(&mem, 0x5000, zero, sizeof zero);
	struct soft_cpu *cpus[2];
	pthread_t th[2];
	for (int k = 0; k < 2; k++) {
		cpus[k] = calloc(1, sizeof *cpus[k]);
		soft_cpu_init(cpus[k], &mem, NULL);
		struct cpu_state *s = &cpus[k]->state;
		s->cr0 = 1;
		s->seg[SEG_CS] = cpu_segment_flat(8, true, false);
		s->seg[SEG_SS] = cpu_segment_flat(16, false, false);
		s->seg[SEG_DS] = s->seg[SEG_ES] = s->seg[SEG_SS];
		s->rip = 0x1000;
		s->gpr[GPR_RSP] = 0x8000 + 0x1000 * (uint64_t)k;
	}
	pthread_barrier_init(&start, NULL, 2);
	for (int k = 0; k < 2; k++)
		pthread_create(&th[k], NULL, vcpu_thread, cpus[k]);
	for (int k = 0; k < 2; k++) {
		void *ok;
		pthread_join(th[k], &ok);
		CHECK(ok);
		free(cpus[k]);
	}
	pthread_barrier_destroy(&start);
	uint32_t got[3];
	mem_read(&mem, 0x5000, got, sizeof got);
	CHECK_EQ(got[0], 2 * ITER);
	CHECK_EQ(got[1], 2 * ITER);
	CHECK_EQ(got[2], 2 * ITER);
}

int main(void)
{
	struct error err;
	if (mem_init(&mem, 16ULL << 20, false, &err) != 0) {
		printf("mem_init: %s\n", err.msg);
		return 1;
	}
	RUN(test_two_vcpus_lose_no_update);
	mem_destroy(&mem);
	TEST_DONE();
}
