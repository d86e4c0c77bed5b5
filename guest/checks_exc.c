/* Exceptions: each is provoked by a probe (probes.S) inside fault_try(),
 * which records the vector, error code, RIP and CR2 the CPU delivered. */
#include "kernel.h"
#include "x86.h"

void check_exc_de(void)
{
	expect_fault(fault_try((void *)probe_div0, 0, 0, 0, 0, 0), 0, 0, (uint64_t)probe_div0_insn,
	             "div by zero");
}

void check_exc_ud(void)
{
	expect_fault(fault_try((void *)probe_ud, 0, 0, 0, 0, 0), 6, 0, (uint64_t)probe_ud_insn,
	             "ud2");
}

void check_exc_bp(void)
{
	/* A trap: RIP is the instruction after int3. It runs at CPL3 through the
	 * DPL3 #BP gate, as a debugger's breakpoint in a program would (and
	 * because kvm_pvm cannot emulate int3 at CPL0). */
	if (expect_fault(run_user((void *)user_int3, 0, 0, 0), 3, 0, (uint64_t)user_int3_after,
	                 "int3 at CPL3") &&
	    last_fault.frame.cs != (SEL_UCODE | 3))
		check_fail("#BP frame CS %#lx, expected the CPL3 code segment",
		           last_fault.frame.cs);
}

void check_exc_gp_noncanonical(void)
{
	expect_fault(fault_try((void *)probe_read, 0x8000000000000000ul, 0, 0, 0, 0), 13, 0,
	             (uint64_t)probe_read_insn, "read of 0x8000000000000000");
	expect_fault(fault_try((void *)probe_write, 0x0000800000000000ul, 1, 0, 0, 0), 13, 0,
	             (uint64_t)probe_write_insn, "write to 0x0000800000000000");
}

void check_exc_gp_selector(void)
{
	/* A selector past the GDT limit: #GP with the selector as error code. */
	expect_fault(fault_try((void *)probe_load_ds, 0x1000, 0, 0, 0, 0), 13, 0x1000,
	             (uint64_t)probe_load_ds_insn, "mov 0x1000 to DS");
	/* Nor can a system segment (the TSS). */
	expect_fault(fault_try((void *)probe_load_ds, SEL_TSS, 0, 0, 0, 0), 13, SEL_TSS,
	             (uint64_t)probe_load_ds_insn, "mov the TSS selector to DS");
	uint16_t ds;
	__asm__ volatile("mov %%ds, %0" : "=r"(ds));
	if (ds != SEL_KDATA)
		check_fail("DS changed to %#x by a faulting load", ds);
}

static bool expect_pf(int rc, uint64_t error, uint64_t rip, uint64_t cr2, const char *what)
{
	if (!expect_fault(rc, 14, error, rip, what))
		return false;
	if (last_fault.cr2 != cr2) {
		check_fail("%s: CR2 %#lx, expected %#lx", what, last_fault.cr2, cr2);
		return false;
	}
	return true;
}

/* Error code bits: P=1 W=2 U=4 I/D=16. */
void check_exc_pf(void)
{
	uint64_t va = TA_VA(10);
	ta_unmap(10);
	expect_pf(fault_try((void *)probe_read, va + 8, 0, 0, 0, 0), 0, (uint64_t)probe_read_insn,
	          va + 8, "read of a not-present page");
	expect_pf(fault_try((void *)probe_write, va + 16, 5, 0, 0, 0), 2,
	          (uint64_t)probe_write_insn, va + 16, "write to a not-present page");

	ta_map(10, (uint64_t)scratch[0], PTE_P); /* read-only; CR0.WP is set */
	expect_pf(fault_try((void *)probe_write, va, 5, 0, 0, 0), 3, (uint64_t)probe_write_insn, va,
	          "write to a read-only page");

	ta_map(10, (uint64_t)scratch[0], PTE_P | PTE_W); /* supervisor only */
	expect_pf(run_user((void *)user_read, va + 24, 0, 0), 5, (uint64_t)user_read_insn, va + 24,
	          "CPL3 read of a supervisor page");

	if (nx_supported) {
		scratch[1][0] = 0xc3; /* ret */
		ta_map(11, (uint64_t)scratch[1], PTE_P | PTE_NX);
		expect_pf(fault_try((void *)probe_call, TA_VA(11), 0, 0, 0, 0), 0x11, TA_VA(11),
		          TA_VA(11), "fetch from an NX page");
		ta_unmap(11);
	}
	ta_unmap(10);
}

/* #DF: with the #DE gate marked not present, delivering #DE raises #NP,
 * and a contributory fault during a contributory fault is a double fault.
 * The #DF gate uses IST1, so the frame must be on that stack. */
void check_exc_df(void)
{
	uint8_t attr = idt[0].attr;
	idt[0].attr = attr & 0x7f;
	int rc = fault_try((void *)probe_div0, 0, 0, 0, 0, 0);
	idt[0].attr = attr;
	if (rc == 0) {
		check_fail("no exception");
		return;
	}
	if (last_fault.vector != 8 || last_fault.error != 0) {
		check_fail("got %s, expected #DF error 0", fault_str());
		return;
	}
	uint64_t lo = (uint64_t)ist1_stack, hi = lo + sizeof(ist1_stack);
	if (last_fault.frame_addr < lo || last_fault.frame_addr >= hi)
		check_fail("#DF frame at %#lx, not on the IST1 stack %#lx-%#lx",
		           last_fault.frame_addr, lo, hi);
	/* And the machine still takes ordinary exceptions afterwards. */
	expect_fault(fault_try((void *)probe_ud, 0, 0, 0, 0, 0), 6, 0, (uint64_t)probe_ud_insn,
	             "ud2 after #DF");
}
