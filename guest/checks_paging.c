/* 4-level paging: 4 KiB, 2 MiB and 1 GiB translations, NX, the U/S bit
 * and CR0.WP. Everything happens in the test area (paging.c), and every
 * check leaves it unmapped. */
#include "kernel.h"
#include "x86.h"

static volatile uint64_t alias_target = 0x5a5a5a5a00000001ul;

/* Reads addr through fault_try and compares; false (with the check
 * failed) on a fault or a wrong value. */
static bool read_expect(uint64_t addr, uint64_t want, const char *what)
{
	uint64_t got;
	if (!try_read(addr, &got)) {
		check_fail("%s: %s", what, fault_str());
		return false;
	}
	if (got != want) {
		check_fail("%s: read %#lx, expected %#lx", what, got, want);
		return false;
	}
	return true;
}

static bool write_ok(uint64_t addr, uint64_t value, const char *what)
{
	if (try_write(addr, value))
		return true;
	check_fail("%s: %s", what, fault_str());
	return false;
}

void check_paging_4k(void)
{
	volatile uint64_t *p0 = (uint64_t *)scratch[2], *p1 = (uint64_t *)scratch[3];
	p0[5] = 0x1111222233334444ul;
	p1[5] = 0x5555666677778888ul;
	ta_map(20, (uint64_t)p0, PTE_P | PTE_W);
	ta_map(21, (uint64_t)p1, PTE_P | PTE_W);
	read_expect(TA_VA(20) + 40, p0[5], "read through the first 4 KiB mapping");
	read_expect(TA_VA(21) + 40, p1[5], "read through the second 4 KiB mapping");
	if (write_ok(TA_VA(20) + 48, 0xabcdef, "write through a 4 KiB mapping") &&
	    p0[6] != 0xabcdef)
		check_fail("a write through the 4 KiB mapping is not seen in the frame");
	/* Remap slot 20 to the other frame: after INVLPG the new one shows. */
	ta_map(20, (uint64_t)p1, PTE_P | PTE_W);
	read_expect(TA_VA(20) + 40, p1[5], "read after remapping and INVLPG");
	/* Accessed and dirty bits are set by the walker. */
	write_ok(TA_VA(21), 1, "write to set the dirty bit");
	uint64_t pte = *ta_pte(21);
	if (!(pte & (1u << 5)) || !(pte & (1u << 6)))
		check_fail("PTE %#lx: accessed/dirty not set", pte);
	ta_unmap(20);
	ta_unmap(21);
}

/* A large page mapping physical 0: a kernel variable must appear at the
 * same offset, and writes through either address hit the same memory. */
static void check_large(uint64_t va, void (*map)(uint64_t, uint64_t), const char *what)
{
	map(0, PTE_P | PTE_W);
	uint64_t alias = va + (uint64_t)&alias_target;
	read_expect(alias, alias_target, what);
	if (write_ok(alias, 0x77770000777700ul, what) && alias_target != 0x77770000777700ul)
		check_fail("%s: a write through the alias is not seen through the identity map",
		           what);
	alias_target = 0x5a5a5a5a00000001ul;
	map(0, 0);
}

void check_paging_2m(void)
{
	check_large(TA_2M, ta_map_2m, "2 MiB page");
}

void check_paging_1g(void)
{
	if (!(cpuid(0x80000001, 0).edx & (1u << 26))) {
		check_skip("CPUID.80000001h:EDX.Page1GB is clear");
		return;
	}
	check_large(TA_1G, ta_map_1g, "1 GiB page");
}

void check_nx(void)
{
	if (!nx_supported) {
		check_skip("CPUID.80000001h:EDX.NX is clear");
		return;
	}
	if (!(rdmsr(MSR_EFER) & EFER_NXE))
		check_fail("EFER.NXE is clear");
	scratch[4][0] = 0xc3; /* ret */
	ta_map(30, (uint64_t)scratch[4], PTE_P);
	if (fault_try((void *)probe_call, TA_VA(30), 0, 0, 0, 0))
		check_fail("executing an executable page: %s", fault_str());
	ta_map(30, (uint64_t)scratch[4], PTE_P | PTE_NX);
	int rc = fault_try((void *)probe_call, TA_VA(30), 0, 0, 0, 0);
	if (rc == 0)
		check_fail("executing an NX page did not fault");
	else if (last_fault.vector != 14 || last_fault.error != 0x11 || last_fault.cr2 != TA_VA(30))
		check_fail("executing an NX page: %s, expected #PF error 0x11", fault_str());
	/* Data reads from the NX page still work. */
	if (fault_try((void *)probe_read, TA_VA(30), 0, 0, 0, 0))
		check_fail("reading an NX page: %s", fault_str());
	ta_unmap(30);
}

void check_user_supervisor(void)
{
	uint64_t *frame = (uint64_t *)scratch[5];
	frame[3] = 0x0123456789abcdeful;
	ta_map(40, (uint64_t)frame, PTE_P | PTE_W | PTE_U);
	int rc = run_user((void *)user_read, TA_VA(40) + 24, 0, 0);
	if (!user_exited(rc))
		check_fail("CPL3 read of a user page: %s", rc ? fault_str() : "did not run");
	else if (last_fault.frame.rax != frame[3])
		check_fail("CPL3 read of a user page returned %#lx", last_fault.frame.rax);
	ta_map(40, (uint64_t)frame, PTE_P | PTE_W);
	rc = run_user((void *)user_read, TA_VA(40) + 24, 0, 0);
	if (rc == 0 || last_fault.vector != 14 || last_fault.error != 5 ||
	    last_fault.cr2 != TA_VA(40) + 24)
		check_fail("CPL3 read of a supervisor page: %s, expected #PF error 0x5",
		           rc ? fault_str() : "did not run");
	/* The supervisor still reads it. */
	if (fault_try((void *)probe_read, TA_VA(40) + 24, 0, 0, 0, 0))
		check_fail("CPL0 read of a supervisor page: %s", fault_str());
	ta_unmap(40);
}

void check_cr0_wp(void)
{
	uint64_t cr0 = read_cr0();
	uint64_t *frame = (uint64_t *)scratch[6];
	frame[0] = 1;
	ta_map(50, (uint64_t)frame, PTE_P); /* read-only */
	write_cr0(cr0 & ~CR0_WP);
	int rc = fault_try((void *)probe_write, TA_VA(50), 0x42, 0, 0, 0);
	write_cr0(cr0 | CR0_WP);
	if (rc)
		check_fail("WP=0: supervisor write to a read-only page faulted: %s", fault_str());
	else if (frame[0] != 0x42)
		check_fail("WP=0: the write did not land (%#lx)", frame[0]);
	invlpg(TA_VA(50));
	rc = fault_try((void *)probe_write, TA_VA(50), 0x43, 0, 0, 0);
	if (rc == 0)
		check_fail("WP=1: supervisor write to a read-only page did not fault");
	else if (last_fault.vector != 14 || last_fault.error != 3 || last_fault.cr2 != TA_VA(50))
		check_fail("WP=1: %s, expected #PF error 0x3", fault_str());
	if (frame[0] != 0x42)
		check_fail("WP=1: the faulting write landed");
	write_cr0(cr0);
	ta_unmap(50);
}
