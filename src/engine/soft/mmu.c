/* The soft engine's MMU: page walks (32-bit, PAE, 4-level), permission checks
 * and a soft TLB filled on demand.
 *
 * The TLB is direct-mapped by linear page number and tagged with the PCID,
 * so a CR3 load with PCIDs need not throw away other address spaces (the
 * Alpha's address space numbers). An entry caches the combined rights of
 * every level of the walk; a write through an entry whose D bit is not yet
 * set, or any access the cached rights refuse, takes a fresh walk, so a
 * #PF is always decided from the page tables as they are now.
 *
 * Accessed and dirty bits are set with compare-and-swap on the guest's page
 * tables: another vCPU (or the guest itself, through another mapping) may be
 * changing the same entry, and a bit set on a stale copy would overwrite its
 * change. A walk never touches anything but guest RAM (mem_ptr()); a page
 * table entry outside RAM reads as all-ones, which is a reserved-bit fault. */
#include <string.h>

#include "engine/soft/soft_internal.h"

#define MAXPHYADDR 40 /* what our CPUID reports */
#define PHYS_MASK (((1ULL << MAXPHYADDR) - 1) & ~0xfffULL)
#define PTE_P (1ULL << 0)
#define PTE_W (1ULL << 1)
#define PTE_U (1ULL << 2)
#define PTE_A (1ULL << 5)
#define PTE_D (1ULL << 6)
#define PTE_PS (1ULL << 7)
#define PTE_G (1ULL << 8)
#define PTE_NX (1ULL << 63)

static bool rights_allow(const struct soft_cpu *c, unsigned perm, unsigned access)
{
	unsigned kind = access & 3;
	bool user = c->cpl == 3 && !(access & SOFT_ACC_SUPER);
	if (kind == SOFT_ACC_EXEC) {
		if (perm & SOFT_TLB_NX)
			return false;
		if (user)
			return perm & SOFT_TLB_U;
		return !((perm & SOFT_TLB_U) && (c->state.cr4 & CR4_SMEP));
	}
	if (user) {
		if (!(perm & SOFT_TLB_U))
			return false;
	} else if ((perm & SOFT_TLB_U) && (c->state.cr4 & CR4_SMAP) &&
	           ((access & SOFT_ACC_SUPER) || !(c->state.rflags & FL_AC))) {
		return false;
	}
	if (kind == SOFT_ACC_WRITE && !(perm & SOFT_TLB_W))
		return !user && !(c->state.cr0 & CR0_WP);
	return true;
}

static const struct soft_tlb_entry *page_fault(struct soft_cpu *c, uint64_t la, unsigned access,
                                               uint32_t bits)
{
	unsigned kind = access & 3;
	uint32_t ec = bits;
	if (kind == SOFT_ACC_WRITE)
		ec |= SOFT_PFEC_W;
	if (c->cpl == 3 && !(access & SOFT_ACC_SUPER))
		ec |= SOFT_PFEC_U;
	if (kind == SOFT_ACC_EXEC && ((c->state.efer & EFER_NXE) || (c->state.cr4 & CR4_SMEP)))
		ec |= SOFT_PFEC_I;
	soft_raise(c, SOFT_PF, true, ec);
	c->exc.cr2 = la;
	return NULL;
}

/* One paging-structure entry visited by a walk, to set its A bit after. */
struct walk_step {
	uint8_t *host;
	uint64_t pte;
	bool leaf;
};

static uint64_t load_pte(const uint8_t *p, unsigned size)
{
	if (size == 8)
		return __atomic_load_n((const uint64_t *)p, __ATOMIC_ACQUIRE);
	return __atomic_load_n((const uint32_t *)p, __ATOMIC_ACQUIRE);
}

static bool cas_pte(uint8_t *p, unsigned size, uint64_t old, uint64_t new)
{
	if (size == 8)
		return __atomic_compare_exchange_n((uint64_t *)p, &old, new, false,
		                                   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
	uint32_t o = (uint32_t)old;
	return __atomic_compare_exchange_n((uint32_t *)p, &o, (uint32_t) new, false,
	                                   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

static const struct soft_tlb_entry *walk(struct soft_cpu *c, uint64_t la, unsigned access,
                                         struct soft_tlb_entry *e)
{
	const struct cpu_state *s = &c->state;
	unsigned kind = access & 3;
	c->tlb_misses++;

	if (!(s->cr0 & CR0_PG)) {
		uint64_t frame = la & ~0xfffULL;
		if (!(s->efer & EFER_LMA))
			frame &= 0xfffff000ULL;
		*e = (struct soft_tlb_entry){
		    .vpn = la >> 12,
		    .gpa = frame,
		    .host = mem_ptr(c->mem, frame, 4096),
		    .pcid = c->cur_pcid,
		    .perm = SOFT_TLB_W | SOFT_TLB_U | SOFT_TLB_DIRTY,
		};
		return e;
	}

	bool nxe = s->efer & EFER_NXE;
	for (int attempt = 0;; attempt++) {
		struct walk_step steps[4];
		int nsteps = 0;
		unsigned pte_size, levels;
		uint64_t table;
		if (s->efer & EFER_LMA) {
			pte_size = 8;
			levels = 4;
			table = s->cr3 & PHYS_MASK;
		} else if (s->cr4 & CR4_PAE) {
			/* PDPTEs: read at walk time (real CPUs load them with CR3). */
			uint64_t pdpte;
			uint64_t gpa = (s->cr3 & 0xffffffe0ULL) + ((la >> 30) & 3) * 8;
			if (mem_read(c->mem, gpa, &pdpte, 8) != 0)
				pdpte = ~0ULL;
			if (!(pdpte & PTE_P))
				return page_fault(c, la, access, 0);
			if (pdpte & (0x1e6ULL | ~((1ULL << MAXPHYADDR) - 1)))
				return page_fault(c, la, access, SOFT_PFEC_P | SOFT_PFEC_RSVD);
			pte_size = 8;
			levels = 2;
			table = pdpte & PHYS_MASK;
		} else {
			pte_size = 4;
			levels = 2;
			table = s->cr3 & 0xfffff000ULL;
		}

		unsigned rights = SOFT_TLB_W | SOFT_TLB_U;
		uint64_t frame = 0, pte = 0;
		for (unsigned level = levels; level >= 1; level--) {
			unsigned shift =
			    pte_size == 8 ? 12 + 9 * (level - 1) : 12 + 10 * (level - 1);
			uint64_t idx = (la >> shift) & (pte_size == 8 ? 511 : 1023);
			uint8_t *p = mem_ptr(c->mem, table + idx * pte_size, pte_size);
			pte = p ? load_pte(p, pte_size) : ~0ULL;
			if (!(pte & PTE_P))
				return page_fault(c, la, access, 0);
			/* 2M (PAE, 4-level), 1G (4-level) or 4M (32-bit with PSE);
			 * PS in a PML4E is reserved (checked below). */
			bool large = level > 1 && (pte & PTE_PS) &&
			             (pte_size == 8 ? level <= 3 : (s->cr4 & CR4_PSE) != 0);
			uint64_t rsvd = 0;
			if (pte_size == 8) {
				rsvd = ~((1ULL << MAXPHYADDR) - 1) & ~PTE_NX & ~(0x7ffULL << 52);
				if (!nxe)
					rsvd |= PTE_NX;
				if (levels == 4 && level == 4)
					rsvd |= PTE_PS;
				if (large)
					rsvd |= ((1ULL << (shift - 1)) - 1) &
					        ~0x1fffULL; /* below the frame, above PAT */
			} else if (large) {
				rsvd = 1ULL << 21; /* PSE-36: bits 20:13 are address bits 39:32 */
			}
			if (pte & rsvd)
				return page_fault(c, la, access, SOFT_PFEC_P | SOFT_PFEC_RSVD);
			if (!(pte & PTE_W))
				rights &= ~SOFT_TLB_W;
			if (!(pte & PTE_U))
				rights &= ~SOFT_TLB_U;
			if (nxe && (pte & PTE_NX))
				rights |= SOFT_TLB_NX;
			bool leaf = level == 1 || large;
			steps[nsteps++] = (struct walk_step){.host = p, .pte = pte, .leaf = leaf};
			if (leaf) {
				uint64_t offset_mask = (1ULL << shift) - 1;
				if (pte_size == 8)
					frame = (pte & PHYS_MASK & ~offset_mask) |
					        (la & offset_mask & ~0xfffULL);
				else if (large)
					frame = (pte & 0xffc00000ULL) |
					        (((pte >> 13) & 0xff) << 32) | (la & 0x3ff000ULL);
				else
					frame = pte & 0xfffff000ULL;
				break;
			}
			table = pte_size == 8 ? pte & PHYS_MASK : pte & 0xfffff000ULL;
		}

		if (!rights_allow(c, rights, access))
			return page_fault(c, la, access, SOFT_PFEC_P);

		/* Set A on every level and D on the leaf of a write, each with a
		 * CAS against the value the walk used; if any entry changed under
		 * us, walk again (bounded: after that, take what we have). */
		bool raced = false;
		for (int i = 0; i < nsteps && !raced; i++) {
			uint64_t want = steps[i].pte | PTE_A;
			if (steps[i].leaf && kind == SOFT_ACC_WRITE)
				want |= PTE_D;
			if (want != steps[i].pte &&
			    !cas_pte(steps[i].host, pte_size, steps[i].pte, want))
				raced = true;
			steps[i].pte = want;
		}
		if (raced && attempt < 8)
			continue;

		uint64_t leaf_pte = steps[nsteps - 1].pte;
		unsigned perm = rights;
		if (leaf_pte & PTE_D)
			perm |= SOFT_TLB_DIRTY;
		if ((leaf_pte & PTE_G) && (s->cr4 & CR4_PGE))
			perm |= SOFT_TLB_G;
		*e = (struct soft_tlb_entry){
		    .vpn = la >> 12,
		    .gpa = frame,
		    .host = mem_ptr(c->mem, frame, 4096),
		    .pcid = c->cur_pcid,
		    .perm = (uint8_t)perm,
		};
		return e;
	}
}

void soft_mmu_refresh_ctx(struct soft_cpu *c)
{
	const struct cpu_state *s = &c->state;
	bool smap = s->cr4 & CR4_SMAP;
	c->tlb_ctx =
	    (uint8_t)(1 | (c->cpl == 3) << 1 | ((s->cr0 & CR0_WP) != 0) << 2 |
	              ((s->cr4 & CR4_SMEP) != 0) << 3 | smap << 4 |
	              (smap && (s->rflags & FL_AC)) << 5 | ((s->efer & EFER_NXE) != 0) << 6);
}

/* What the entry allows without a walk, in the current context. */
static void set_fast_rights(struct soft_cpu *c, struct soft_tlb_entry *e)
{
	e->ok =
	    (uint8_t)((rights_allow(c, e->perm, SOFT_ACC_READ) ? 1 : 0) |
	              (rights_allow(c, e->perm, SOFT_ACC_WRITE) && (e->perm & SOFT_TLB_DIRTY) ? 2
	                                                                                      : 0) |
	              (rights_allow(c, e->perm, SOFT_ACC_EXEC) ? 4 : 0));
	/* Data accesses to a page with a data breakpoint take the slow path,
	 * where they are checked against it. */
	if (c->dbg_data && soft_debug_page_watched(c, e->vpn))
		e->ok &= 4;
	e->ctx = c->tlb_ctx;
}

const struct soft_tlb_entry *soft_mmu_translate(struct soft_cpu *c, uint64_t la, unsigned access)
{
	uint64_t vpn = la >> 12;
	struct soft_tlb_entry *e = &c->tlb[vpn & (SOFT_TLB_SIZE - 1)];
	if (e->vpn == vpn && (e->pcid == c->cur_pcid || (e->perm & SOFT_TLB_G)) &&
	    rights_allow(c, e->perm, access) &&
	    ((access & 3) != SOFT_ACC_WRITE || (e->perm & SOFT_TLB_DIRTY))) {
		set_fast_rights(c, e);
		return e;
	}
	const struct soft_tlb_entry *r = walk(c, la, access, e);
	if (r)
		set_fast_rights(c, e);
	return r;
}

void soft_tlb_flush_all(struct soft_cpu *c)
{
	for (unsigned i = 0; i < SOFT_TLB_SIZE; i++)
		c->tlb[i].vpn = SOFT_TLB_EMPTY;
}

void soft_tlb_flush_pcid(struct soft_cpu *c, uint16_t pcid)
{
	for (unsigned i = 0; i < SOFT_TLB_SIZE; i++)
		if (c->tlb[i].pcid == pcid && !(c->tlb[i].perm & SOFT_TLB_G))
			c->tlb[i].vpn = SOFT_TLB_EMPTY;
}

void soft_tlb_flush_nonglobal(struct soft_cpu *c)
{
	for (unsigned i = 0; i < SOFT_TLB_SIZE; i++)
		if (!(c->tlb[i].perm & SOFT_TLB_G))
			c->tlb[i].vpn = SOFT_TLB_EMPTY;
}

void soft_tlb_flush_page(struct soft_cpu *c, uint64_t la)
{
	struct soft_tlb_entry *e = &c->tlb[(la >> 12) & (SOFT_TLB_SIZE - 1)];
	if (e->vpn == la >> 12)
		e->vpn = SOFT_TLB_EMPTY;
}
