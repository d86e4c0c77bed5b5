/* CPL3 and back: IRETQ down and an interrupt gate up, then SYSCALL/SYSRET
 * with STAR, LSTAR and SFMASK programmed here. */
#include "kernel.h"
#include "x86.h"

void check_cpl3_iretq(void)
{
	int rc = run_user((void *)user_exit_cs, 0, 0, 0);
	if (!user_exited(rc)) {
		check_fail("CPL3 code did not come back through its exit: %s",
		           rc ? fault_str() : "returned");
		return;
	}
	const struct trap_frame *f = &last_fault.frame;
	/* What CPL3 code reads from CS/SS must say RPL 3. The exact selectors
	 * are checked in the frame the CPU pushed: kvm_pvm runs CPL3 natively
	 * with the host's own user selectors (0x33/0x2b), visible to MOV from
	 * a segment register, which no VMM on top of it can change. */
	if ((f->rbx & 3) != 3 || (f->rcx & 3) != 3)
		check_fail("at CPL3 CS %#lx SS %#lx", f->rbx & 0xffff, f->rcx & 0xffff);
	if (f->cs != (SEL_UCODE | 3) || f->ss != (SEL_UDATA | 3))
		check_fail("interrupt frame CS %#lx SS %#lx", f->cs, f->ss);
	if (!(f->rflags & RFLAGS_IF))
		check_fail("IF lost at CPL3 (RFLAGS %#lx)", f->rflags);
	/* The CPU switched to TSS.RSP0 for the frame. */
	if (last_fault.frame_addr + sizeof(*f) != tss.rsp[0])
		check_fail("frame at %#lx does not end at RSP0 %#lx", last_fault.frame_addr,
		           tss.rsp[0]);
	if (read_cs() != SEL_KCODE)
		check_fail("back at CS %#x", read_cs());
}

void check_syscall(void)
{
	uint64_t efer = rdmsr(MSR_EFER);
	uint64_t star = rdmsr(MSR_STAR), lstar = rdmsr(MSR_LSTAR), sfmask = rdmsr(MSR_SFMASK);
	wrmsr(MSR_EFER, efer | EFER_SCE);
	wrmsr(MSR_STAR, ((uint64_t)SEL_UCODE32 << 48) | ((uint64_t)SEL_KCODE << 32));
	wrmsr(MSR_LSTAR, (uint64_t)syscall_entry);
	wrmsr(MSR_SFMASK, RFLAGS_IF | (1u << 8) | (1u << 10)); /* IF TF DF */
	sc_count = 0;
	sc_cs = 0xffff;
	sc_rflags = RFLAGS_IF;
	int rc = run_user((void *)user_syscall_test, 0, 0, 0);
	wrmsr(MSR_EFER, efer);
	wrmsr(MSR_STAR, star);
	wrmsr(MSR_LSTAR, lstar);
	wrmsr(MSR_SFMASK, sfmask);

	/* The entry half, most fundamental first (the first failure is the one
	 * reported). */
	if (sc_count != 1) {
		check_fail("the SYSCALL entry ran %lu times: %s", sc_count,
		           rc ? fault_str() : "CPL3 code returned");
		return;
	}
	if (sc_cs != SEL_KCODE)
		check_fail(
		    "SYSCALL reached LSTAR with CS %#x, not the kernel's 0x08 (still at CPL%d)",
		    sc_cs, sc_cs & 3);
	if (sc_rflags & RFLAGS_IF)
		check_fail("SFMASK did not clear IF (RFLAGS %#lx in the handler)", sc_rflags);
	if (sc_rcx != (uint64_t)user_syscall_ret)
		check_fail("RCX %#lx, expected the return address %#lx", sc_rcx,
		           (uint64_t)user_syscall_ret);
	if (!(sc_r11 & RFLAGS_IF))
		check_fail("R11 %#lx does not hold the CPL3 RFLAGS (IF set)", sc_r11);

	/* The SYSRET half. */
	if (!user_exited(rc)) {
		if (rc && last_fault.rip == (uint64_t)syscall_sysret_insn)
			check_fail("SYSRET faulted: %s", fault_str());
		else
			check_fail("did not come back to CPL3 after SYSRET: %s",
			           rc ? fault_str() : "returned");
		return;
	}
	const struct trap_frame *f = &last_fault.frame;
	if ((f->r12 & 3) != 3 || (f->r13 & 3) != 3)
		check_fail("CS before/after: %#lx/%#lx", f->r12 & 0xffff, f->r13 & 0xffff);
	if (f->cs != (SEL_UCODE | 3) || f->ss != (SEL_UDATA | 3))
		check_fail("CS/SS after SYSRET %#lx/%#lx", f->cs, f->ss);
	if ((f->r14 & ~0x10000ul) != (sc_r11 & ~0x10000ul)) /* RF may differ */
		check_fail("RFLAGS after SYSRET %#lx, R11 was %#lx", f->r14, sc_r11);
}
