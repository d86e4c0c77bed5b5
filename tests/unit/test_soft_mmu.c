/* The soft engine's MMU: page walks in every paging mode and page size,
 * accessed/dirty bits, the #PF error code and CR2, U/S, R/W with CR0.WP, NX,
 * reserved bits, and the TLB (stale until invalidated, PCID tags, global). */
#include <stdlib.h>

#include "engine/soft/soft.h"
#include "test.h"

#define P 0x1ULL
#define W 0x2ULL
#define U 0x4ULL
#define A 0x20ULL
#define D 0x40ULL
#define PS 0x80ULL
#define G 0x100ULL
#define NX (1ULL << 63)

#define PML4 0x10000ULL
#define PDPT 0x11000ULL
#define PD 0x12000ULL
#define PT 0x13000ULL

static struct guest_mem mem;
static struct soft_cpu *cpu;

static uint64_t rd64(uint64_t gpa)
{
	uint64_t v = 0;
	mem_read(&mem, gpa, &v, 8);
	return v;
}
static void wr64(uint64_t gpa, uint64_t v)
{
	mem_write(&mem, gpa, &v, 8);
}
static void wr32(uint64_t gpa, uint32_t v)
{
	mem_write(&mem, gpa, &v, 4);
}

/* Long mode, CPL0, WP and NXE on; a fresh TLB and zeroed tables. */
static void setup_long(void)
{
	static const uint8_t zero[0x4000];
	mem_write(&mem, PML4, zero, sizeof zero);
	soft_cpu_init(cpu, &mem, NULL);
	cpu->state.cr0 = 0x80010001; /* PG WP PE */
	cpu->state.cr4 = 0x20;       /* PAE */
	cpu->state.efer = 0xd00;     /* LMA LME NXE */
	cpu->state.cr3 = PML4;
	cpu->cpl = 0;
	wr64(PML4, PDPT | P | W | U);
	wr64(PDPT, PD | P | W | U);
	wr64(PD, PT | P | W | U);
}

static uint64_t xlate(uint64_t la, unsigned acc, bool *fault)
{
	const struct soft_tlb_entry *e = soft_mmu_translate(cpu, la, acc);
	*fault = e == NULL;
	return e ? e->gpa + (la & 0xfff) : 0;
}

static void test_walk_4k_sets_accessed_and_dirty(void)
{
	setup_long();
	wr64(PT + 5 * 8, 0x200000 | P | W);
	bool f;
	CHECK_EQ(xlate(0x5123, SOFT_ACC_READ, &f), 0x200123);
	CHECK(!f);
	CHECK(rd64(PML4) & A);
	CHECK(rd64(PDPT) & A);
	CHECK(rd64(PD) & A);
	CHECK(rd64(PT + 5 * 8) & A);
	CHECK(!(rd64(PT + 5 * 8) & D));
	/* a write through the cached (clean) entry walks again and sets D */
	CHECK_EQ(xlate(0x5ff8, SOFT_ACC_WRITE, &f), 0x200ff8);
	CHECK(rd64(PT + 5 * 8) & D);
	CHECK(!(rd64(PD) & D)); /* D only in the leaf */
}

static void test_large_pages(void)
{
	setup_long();
	wr64(PD + 1 * 8, 0x400000 | P | W | PS);     /* 2M at 2M */
	wr64(PDPT + 1 * 8, 0x40000000 | P | W | PS); /* 1G at 1G */
	bool f;
	CHECK_EQ(xlate(0x2345678, SOFT_ACC_READ, &f), 0);
	CHECK(f); /* PD[17]: not present */
	CHECK_EQ(xlate(0x212345, SOFT_ACC_READ, &f), 0x412345);
	CHECK(!f);
	CHECK_EQ(xlate(0x7654321 + 0x40000000ULL, SOFT_ACC_WRITE, &f), 0x47654321ULL);
	CHECK(!f);
	CHECK(rd64(PDPT + 8) & D);
	/* reserved bits inside a large page's address field */
	wr64(PD + 2 * 8, 0x600000 | P | PS | (1ULL << 13));
	xlate(0x400000, SOFT_ACC_READ, &f);
	CHECK(f);
	CHECK_EQ(cpu->exc.error, SOFT_PFEC_P | SOFT_PFEC_RSVD);
	/* PS in a PML4E is reserved */
	wr64(PML4 + 8, PDPT | P | PS);
	xlate(1ULL << 39, SOFT_ACC_READ, &f);
	CHECK(f);
	CHECK(cpu->exc.error & SOFT_PFEC_RSVD);
}

static void test_fault_error_codes(void)
{
	setup_long();
	bool f;
	xlate(0x7000, SOFT_ACC_WRITE, &f); /* not present */
	CHECK(f);
	CHECK_EQ(cpu->exc.vector, SOFT_PF);
	CHECK_EQ(cpu->exc.error, SOFT_PFEC_W);
	CHECK_EQ(cpu->exc.cr2, 0x7000);
	CHECK(!(rd64(PT + 7 * 8) & A));

	wr64(PT + 8 * 8, 0x300000 | P); /* supervisor, read-only */
	cpu->cpl = 3;
	xlate(0x8000, SOFT_ACC_READ, &f);
	CHECK(f);
	CHECK_EQ(cpu->exc.error, SOFT_PFEC_P | SOFT_PFEC_U);
	cpu->cpl = 0;
	xlate(0x8000, SOFT_ACC_READ, &f);
	CHECK(!f);
	/* CR0.WP: a supervisor write to a read-only page faults only with WP */
	xlate(0x8000, SOFT_ACC_WRITE, &f);
	CHECK(f);
	CHECK_EQ(cpu->exc.error, SOFT_PFEC_P | SOFT_PFEC_W);
	cpu->state.cr0 &= ~(1ULL << 16);
	xlate(0x8000, SOFT_ACC_WRITE, &f);
	CHECK(!f);
	cpu->state.cr0 |= 1ULL << 16;

	/* NX: instruction fetch faults with I/D */
	wr64(PT + 9 * 8, 0x301000 | P | U | NX);
	xlate(0x9000, SOFT_ACC_EXEC, &f);
	CHECK(f);
	CHECK_EQ(cpu->exc.error, SOFT_PFEC_P | SOFT_PFEC_I);
	xlate(0x9000, SOFT_ACC_READ, &f);
	CHECK(!f);
	/* without EFER.NXE the NX bit is reserved */
	cpu->state.efer &= ~(1ULL << 11);
	soft_tlb_flush_all(cpu);
	xlate(0x9000, SOFT_ACC_READ, &f);
	CHECK(f);
	CHECK_EQ(cpu->exc.error, SOFT_PFEC_P | SOFT_PFEC_RSVD);
	cpu->state.efer |= 1ULL << 11;

	/* physical address bits beyond MAXPHYADDR are reserved */
	wr64(PT + 10 * 8, (1ULL << 45) | P);
	xlate(0xa000, SOFT_ACC_READ, &f);
	CHECK(f);
	CHECK(cpu->exc.error & SOFT_PFEC_RSVD);

	/* a page table outside RAM reads as all-ones: reserved */
	wr64(PT + 11 * 8, 0xfffff000ULL | P);
	xlate(0xb000, SOFT_ACC_READ, &f);
	CHECK(!f); /* a leaf pointing outside RAM is fine (MMIO)... */
	CHECK(soft_mmu_translate(cpu, 0xb000, SOFT_ACC_READ)->host == NULL);
	wr64(PD + 3 * 8, 0xfffff000ULL | P | W); /* ...a table there is not */
	xlate(0x600000, SOFT_ACC_READ, &f);
	CHECK(f);
	CHECK(cpu->exc.error & SOFT_PFEC_RSVD);
}

static void test_smep_smap(void)
{
	setup_long();
	wr64(PT + 1 * 8, 0x200000 | P | W | U);
	bool f;
	cpu->state.cr4 |= 1ULL << 20; /* SMEP */
	xlate(0x1000, SOFT_ACC_EXEC, &f);
	CHECK(f);
	CHECK_EQ(cpu->exc.error, SOFT_PFEC_P | SOFT_PFEC_I);
	cpu->state.cr4 |= 1ULL << 21; /* SMAP */
	xlate(0x1000, SOFT_ACC_READ, &f);
	CHECK(f);
	cpu->state.rflags |= 1ULL << 18; /* AC: allowed again */
	xlate(0x1000, SOFT_ACC_READ, &f);
	CHECK(!f);
	xlate(0x1000, SOFT_ACC_READ | SOFT_ACC_SUPER, &f); /* implicit: never */
	CHECK(f);
}

static void test_tlb_stale_until_invalidated(void)
{
	setup_long();
	wr64(PT + 4 * 8, 0x200000 | P | W);
	bool f;
	CHECK_EQ(xlate(0x4000, SOFT_ACC_READ, &f), 0x200000);
	wr64(PT + 4 * 8, 0x280000 | P | W);
	CHECK_EQ(xlate(0x4000, SOFT_ACC_READ, &f), 0x200000); /* a TLB is allowed to be stale */
	soft_tlb_flush_page(cpu, 0x4abc);
	CHECK_EQ(xlate(0x4000, SOFT_ACC_READ, &f), 0x280000);
	/* a removed mapping keeps working until invalidated, then faults */
	wr64(PT + 4 * 8, 0);
	CHECK_EQ(xlate(0x4000, SOFT_ACC_READ, &f), 0x280000);
	soft_tlb_flush_all(cpu);
	xlate(0x4000, SOFT_ACC_READ, &f);
	CHECK(f);
}

static void test_tlb_pcid_and_global(void)
{
	setup_long();
	cpu->state.cr4 |= (1ULL << 17) | (1ULL << 7); /* PCIDE, PGE */
	wr64(PT + 1 * 8, 0x201000 | P | W);
	wr64(PT + 2 * 8, 0x202000 | P | W | G);
	bool f;
	cpu->cur_pcid = 1;
	CHECK_EQ(xlate(0x1000, SOFT_ACC_READ, &f), 0x201000);
	CHECK_EQ(xlate(0x2000, SOFT_ACC_READ, &f), 0x202000);
	/* change both mappings behind the TLB's back */
	wr64(PT + 1 * 8, 0x301000 | P | W);
	wr64(PT + 2 * 8, 0x302000 | P | W | G);
	cpu->cur_pcid = 2; /* another address space: PCID 1's entry is not used */
	CHECK_EQ(xlate(0x1000, SOFT_ACC_READ, &f), 0x301000);
	CHECK_EQ(xlate(0x2000, SOFT_ACC_READ, &f), 0x202000); /* global: still cached */
	/* flushing one PCID keeps global entries */
	soft_tlb_flush_pcid(cpu, 2);
	CHECK_EQ(xlate(0x2000, SOFT_ACC_READ, &f), 0x202000);
	soft_tlb_flush_page(cpu, 0x2000);
	CHECK_EQ(xlate(0x2000, SOFT_ACC_READ, &f), 0x302000);
}

static void test_legacy_paging(void)
{
	static const uint8_t zero[0x4000];
	mem_write(&mem, PML4, zero, sizeof zero);
	soft_cpu_init(cpu, &mem, NULL);
	/* 32-bit paging: a 4K page and a 4M page (PSE) */
	cpu->state.cr0 = 0x80010001;
	cpu->state.cr4 = 0x10; /* PSE */
	cpu->state.efer = 0;
	cpu->state.cr3 = PML4;
	wr32(PML4 + 0, (uint32_t)(PT | P | W));
	wr32(PT + 3 * 4, 0x203000 | P | W);
	wr32(PML4 + 1 * 4, 0x800000 | P | W | PS);
	bool f;
	CHECK_EQ(xlate(0x3456, SOFT_ACC_WRITE, &f), 0x203456);
	CHECK(!f);
	CHECK_EQ(xlate(0x400000 + 0x123456, SOFT_ACC_READ, &f), 0x923456);
	uint32_t pte = 0;
	mem_read(&mem, PT + 3 * 4, &pte, 4);
	CHECK((pte & (A | D)) == (A | D));

	/* PAE: PDPTE, then a 2M page */
	mem_write(&mem, PML4, zero, sizeof zero);
	soft_tlb_flush_all(cpu);
	cpu->state.cr4 = 0x20;
	wr64(PML4 + 8, PD | P); /* PDPTE 1: 1G..2G */
	wr64(PD + 5 * 8, 0xa00000 | P | W | PS);
	CHECK_EQ(xlate(0x40000000 + 5 * 0x200000 + 0x1234, SOFT_ACC_READ, &f), 0xa01234);
	CHECK(!f);
	xlate(0x1000, SOFT_ACC_READ, &f); /* PDPTE 0 not present */
	CHECK(f);
	wr64(PML4 + 16, PD | P | W); /* R/W is reserved in a PAE PDPTE */
	xlate(0x80000000, SOFT_ACC_READ, &f);
	CHECK(f);
	CHECK(cpu->exc.error & SOFT_PFEC_RSVD);

	/* paging off: identity */
	cpu->state.cr0 = 1;
	soft_tlb_flush_all(cpu);
	CHECK_EQ(xlate(0x123456, SOFT_ACC_WRITE, &f), 0x123456);
}

int main(void)
{
	struct error err;
	if (mem_init(&mem, 16ULL << 20, false, &err) != 0) {
		printf("mem_init: %s\n", err.msg);
		return 1;
	}
	cpu = calloc(1, sizeof *cpu);
	RUN(test_walk_4k_sets_accessed_and_dirty);
	RUN(test_large_pages);
	RUN(test_fault_error_codes);
	RUN(test_smep_smap);
	RUN(test_tlb_stale_until_invalidated);
	RUN(test_tlb_pcid_and_global);
	RUN(test_legacy_paging);
	free(cpu);
	mem_destroy(&mem);
	TEST_DONE();
}
