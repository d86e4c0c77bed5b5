/* The paging test area: PML4 slot 1 (virtual 512 GiB and up) gets its own
 * PDPT, page directory and page table, so checks can map, unmap and change
 * pages there without touching the identity map the kernel runs on. */
#include "kernel.h"
#include "x86.h"

static uint64_t ta_pdpt[512] __attribute__((aligned(4096)));
static uint64_t ta_pd[512] __attribute__((aligned(4096)));
static uint64_t ta_pt[512] __attribute__((aligned(4096)));
uint8_t scratch[SCRATCH_PAGES][4096] __attribute__((aligned(4096)));
uint8_t user_stack[16384] __attribute__((aligned(16)));

void paging_init(void)
{
	uint64_t *pml4 = (uint64_t *)(read_cr3() & ~0xffful);
	ta_pd[0] = (uint64_t)ta_pt | PTE_P | PTE_W | PTE_U;
	ta_pdpt[0] = (uint64_t)ta_pd | PTE_P | PTE_W | PTE_U;
	pml4[1] = (uint64_t)ta_pdpt | PTE_P | PTE_W | PTE_U;
	write_cr3(read_cr3());
}

uint64_t *ta_pte(int slot)
{
	return &ta_pt[slot];
}

void ta_map(int slot, uint64_t phys, uint64_t flags)
{
	ta_pt[slot] = phys | flags;
	invlpg(TA_VA(slot));
}

void ta_unmap(int slot)
{
	ta_pt[slot] = 0;
	invlpg(TA_VA(slot));
}

void ta_map_2m(uint64_t phys, uint64_t flags)
{
	ta_pd[1] = flags ? phys | flags | PTE_PS : 0;
	invlpg(TA_2M);
}

void ta_map_1g(uint64_t phys, uint64_t flags)
{
	ta_pdpt[1] = flags ? phys | flags | PTE_PS : 0;
	invlpg(TA_1G);
}
