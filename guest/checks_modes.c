/* The CPU's other modes: compatibility mode under long mode, 16-bit
 * protected mode, 32-bit protected mode with paging off and with 32-bit
 * paging, real mode (software interrupt through an IVT), a call gate from
 * CPL3 to CPL0, and segment limits. The code that runs in those modes is
 * in modes.S; a private copy of the GDT with the extra descriptors it
 * needs is loaded while a check runs (the kernel's own GDT comes back
 * after). */
#include "kernel.h"
#include "modes.h"
#include "x86.h"

struct tour_result tour;
struct gate_seen gate_seen;
extern struct desc_ptr gdt_ptr; /* entry.S */

static uint64_t xgdt[XGDT_ENTRIES] __attribute__((aligned(16)));
static struct desc_ptr xgdt_ptr;
static uint8_t mscratch[4096] __attribute__((aligned(4096)));
static uint32_t pd32[1024] __attribute__((aligned(4096)));
static uint32_t pt32[1024] __attribute__((aligned(4096)));

#define D_DB 0x4 /* descriptor flags nibble: default/big */
#define EFER_LMA_BIT (1u << 10)
#define EFER_LME_BIT (1u << 8)

static uint64_t seg(uint64_t base, uint32_t limit, unsigned type, unsigned flags)
{
	return (limit & 0xffff) | ((base & 0xffffff) << 16) | ((uint64_t)type << 40) | (1ul << 44) |
	       (1ul << 47) | ((uint64_t)((limit >> 16) & 0xf) << 48) | ((uint64_t)flags << 52) |
	       (((base >> 24) & 0xff) << 56);
}

void xgdt_load(void)
{
	uint64_t page = (uint64_t)mscratch, target = (uint64_t)gate_target;
	memcpy(xgdt, gdt, sizeof(gdt));
	xgdt[XSEL_CODE16 / 8] = seg(0, 0xffff, 0xb, 0);
	xgdt[XSEL_DATA16 / 8] = seg(0, 0xffff, 0x3, 0);
	xgdt[XSEL_PM16 / 8] = seg((uint64_t)pm16_start, 0xffff, 0xb, 0);
	xgdt[XSEL_PM16_DATA / 8] = seg(page, 0xffff, 0x3, 0);
	xgdt[XSEL_DATA_LIM / 8] = seg(page, 0xfff, 0x3, D_DB);
	xgdt[XSEL_DATA_DOWN / 8] = seg(page - 0x1000, 0xfff, 0x7, D_DB);
	xgdt[XSEL_CODE_LIM / 8] = seg((uint64_t)seglim_code, SEGLIM_CODE_LIMIT, 0xb, D_DB);
	/* 64-bit call gate, DPL3, present, to SEL_KCODE:gate_target */
	xgdt[XSEL_GATE / 8] = (target & 0xffff) | ((uint64_t)SEL_KCODE << 16) | (0xcul << 40) |
	                      (3ul << 45) | (1ul << 47) | (((target >> 16) & 0xffff) << 48);
	xgdt[XSEL_GATE / 8 + 1] = target >> 32;
	xgdt_ptr.limit = sizeof(xgdt) - 1;
	xgdt_ptr.base = (uint64_t)xgdt;
	__asm__ volatile("lgdt %0" ::"m"(xgdt_ptr) : "memory");
}

void xgdt_unload(void)
{
	__asm__ volatile("lgdt %0" ::"m"(gdt_ptr) : "memory");
}

void check_compat_mode(void)
{
	if (fault_try((void *)compat_call, 41, 1000, 0, 0, 0)) {
		check_fail("far call into 32-bit code: %s", fault_str());
		return;
	}
	uint32_t eax = (uint32_t)try_result, edx = (uint32_t)(try_result >> 32);
	if (eax != (41 + 1) * 3 + 1000)
		check_fail("32-bit code computed %u, expected %u (INC EAX as 0x40, LEA)", eax,
		           (41 + 1) * 3 + 1000);
	if (edx != 4)
		check_fail("a 32-bit PUSH moved ESP by %d, not 4", (int)edx);
	if (fault_try((void *)compat_jump, 0x12345678, 0, 0, 0, 0)) {
		check_fail("far jump into 32-bit code and back: %s", fault_str());
		return;
	}
	if ((uint32_t)try_result != (0x12345678u ^ 0x5a5a5a5au))
		check_fail("far jump round trip gave %#x", (uint32_t)try_result);
	if (read_cs() != SEL_KCODE)
		check_fail("back at CS %#x", read_cs());
}

void check_pm16(void)
{
	memset(mscratch, 0, 64);
	xgdt_load();
	int rc = fault_try((void *)pm16_call, 0xfff0, 0x25, 0, 0, 0);
	xgdt_unload();
	if (rc) {
		check_fail("far call into 16-bit code: %s", fault_str());
		return;
	}
	uint16_t ax = (uint16_t)try_result, cx = (uint16_t)(try_result >> 16);
	uint32_t edx = (uint32_t)(try_result >> 32);
	uint16_t at10 = (uint16_t)(mscratch[0x10] | mscratch[0x11] << 8);
	uint16_t at16 = (uint16_t)(mscratch[0x16] | mscratch[0x17] << 8);
	if (ax != 0x0015)
		check_fail("16-bit add gave %#x, expected 0x15 (wrapped)", ax);
	if (at10 != 0x15 || at16 != 0x15 || cx != 0x15)
		check_fail("16-bit addressing: [bx] %#x, [bx+si+2] %#x, read back %#x", at10, at16,
		           cx);
	if (edx != 2)
		check_fail("a 16-bit PUSH moved ESP by %d, not 2", (int)edx);
}

/* Does this platform run ring 0 by emulation while ring 3 runs natively?
 * A hypervisor that deprivileges the guest kernel (kvm_pvm runs it in host
 * user mode, emulating its privileged work at ~1 us an instruction) cannot
 * take the CPU out of long mode: trying ends the VM with an emulation
 * failure. Everywhere else both rings run at one speed: natively (hardware
 * virtualization, bare metal) or both emulated (TCG, the soft engine). */
static bool ring0_emulated(uint64_t *k, uint64_t *u)
{
	enum { SPIN = 2000 };
	*k = kernel_spin(SPIN);
	int rc = run_user((void *)user_spin, SPIN, 0, 0);
	*u = user_exited(rc) ? last_fault.frame.r13 - last_fault.frame.r12 : *k;
	return *k > 20 * *u + 100000;
}

void check_pm32(void)
{
	/* 32-bit paging where the platform survives it (see above); the
	 * rest of the trip works everywhere. */
	uint64_t k, u;
	bool paging = !ring0_emulated(&k, &u);
	for (uint32_t i = 0; i < 16; i++) /* identity, 4 MiB pages, the low 64 MiB */
		pd32[i] = (i << 22) | 0x83;
	pd32[TOUR_ALIAS_VA >> 22] = (uint32_t)(uint64_t)pt32 | 3;
	pt32[0] = (uint32_t)(uint64_t)mscratch | 3;
	memset(mscratch, 0, 16);
	*(volatile uint32_t *)mscratch = 0xfeedf00d;
	memset(&tour, 0, sizeof(tour));
	tour.pd = (uint32_t)(uint64_t)pd32;
	mode_tour(paging ? TOUR_PAGING32 : 0);
	if (tour.efer & EFER_LMA_BIT)
		check_fail("EFER.LMA still set with paging off (EFER %#x)", tour.efer);
	if (!(tour.efer & EFER_LME_BIT))
		check_fail("EFER.LME lost (EFER %#x)", tour.efer);
	if ((tour.cr0 & 0x80000001) != 1)
		check_fail("CR0 %#x in 32-bit protected mode", tour.cr0);
	if (tour.sum != 500500)
		check_fail("32-bit loop computed %u", tour.sum);
	if (!paging) {
		check_fail("32-bit paging not attempted: ring 0 is emulated here (%lu TSC cycles "
		           "for 2000 loop iterations at CPL0, %lu at CPL3) and such a hypervisor "
		           "ends the VM when it is enabled",
		           k, u);
		return;
	}
	if (!(tour.cr0_pg & 0x80000000))
		check_fail("32-bit paging not on (CR0 %#x)", tour.cr0_pg);
	if (tour.alias_read != 0xfeedf00d)
		check_fail("read through a 32-bit 4 KiB mapping: %#x", tour.alias_read);
	if (((volatile uint32_t *)mscratch)[1] != 0x600dcafe)
		check_fail("write through a 32-bit mapping: %#x",
		           ((volatile uint32_t *)mscratch)[1]);
	if (!(rdmsr(MSR_EFER) & EFER_LMA_BIT) || read_cs() != SEL_KCODE)
		check_fail("not back in long mode (EFER %#lx, CS %#x)", rdmsr(MSR_EFER), read_cs());
}

#define REAL_ADDR(sym) ((volatile uint16_t *)(REAL_BASE + ((char *)&(sym)-real_blob_start)))

void check_real_mode(void)
{
	size_t len = (size_t)(real_blob_end - real_blob_start);
	memcpy((void *)REAL_BASE, real_blob_start, len);
	memset(&tour, 0, sizeof(tour));
	xgdt_load();
	mode_tour(TOUR_REAL);
	xgdt_unload();
	idt_load();
	if (read_cs() != SEL_KCODE || !(rdmsr(MSR_EFER) & EFER_LMA_BIT)) {
		check_fail("not back in long mode");
		return;
	}
	if (tour.sum != 500500)
		check_fail("32-bit protected mode on the way computed %u", tour.sum);
	if (*REAL_ADDR(real_res_cr0) & 1)
		check_fail("CR0.PE set in real mode (CR0 %#x)", *REAL_ADDR(real_res_cr0));
	if (*REAL_ADDR(real_res_sum) != 5050)
		check_fail("real-mode loop computed %u", *REAL_ADDR(real_res_sum));
	if (*REAL_ADDR(real_res_bx) != 0x4242)
		check_fail("INT 0x42 through the IVT: BX %#x after it", *REAL_ADDR(real_res_bx));
	if (*REAL_ADDR(real_res_int_ip) != *REAL_ADDR(real_after_int_off) ||
	    *REAL_ADDR(real_res_int_cs) != 0)
		check_fail("INT 0x42 pushed %04x:%04x, expected 0000:%04x",
		           *REAL_ADDR(real_res_int_cs), *REAL_ADDR(real_res_int_ip),
		           *REAL_ADDR(real_after_int_off));
	if ((*REAL_ADDR(real_res_int_flags) & 0x202) != 0x002)
		check_fail("INT 0x42 pushed FLAGS %#x", *REAL_ADDR(real_res_int_flags));
	if (*REAL_ADDR(real_res_far_cs) != REAL_BASE >> 4 || *REAL_ADDR(real_res_cs) != 0)
		check_fail("far call: CS %#x in the callee, %#x after", *REAL_ADDR(real_res_far_cs),
		           *REAL_ADDR(real_res_cs));
}

void check_call_gate(void)
{
	memset(&gate_seen, 0, sizeof(gate_seen));
	xgdt_load();
	int rc = run_user((void *)user_callgate, 0, 0, 0);
	xgdt_unload();
	if (!user_exited(rc)) {
		check_fail("CPL3 far call through the gate: %s", rc ? fault_str() : "returned");
		return;
	}
	const struct trap_frame *f = &last_fault.frame;
	if (gate_seen.cs != SEL_KCODE || gate_seen.ss != 0)
		check_fail("in the gate's target CS %#x SS %#x, expected 0x8 and a null SS",
		           gate_seen.cs, gate_seen.ss);
	if (gate_seen.rsp != tss.rsp[0] - 32)
		check_fail("RSP %#lx in the target, expected TSS.RSP0 - 32 = %#lx", gate_seen.rsp,
		           tss.rsp[0] - 32);
	uint64_t want[4] = {(uint64_t)user_callgate_ret, SEL_UCODE | 3, (uint64_t)user_stack_top,
	                    SEL_UDATA | 3};
	for (int i = 0; i < 4; i++)
		if (gate_seen.frame[i] != want[i])
			check_fail("frame slot %d: %#lx, expected %#lx (RIP CS RSP SS)", i,
			           gate_seen.frame[i], want[i]);
	if ((f->r14 & 0xffff) != (SEL_UCODE | 3) || (f->r15 & 0xffff) != (SEL_UDATA | 3))
		check_fail("back at CPL3 with CS %#lx SS %#lx", f->r14 & 0xffff, f->r15 & 0xffff);
	if ((f->r13 & 0xffff) != 0)
		check_fail("DS %#lx after the return to CPL3: a DPL0 segment must become null",
		           f->r13 & 0xffff);
}

/* QEMU's TCG says so in the hypervisor leaf: it is the one platform known
 * to leave segment limits unchecked. */
static bool on_qemu_tcg(void)
{
	if (!(cpuid(1, 0).ecx & (1u << 31)))
		return false;
	struct cpuid_regs h = cpuid(0x40000000, 0);
	return !memcmp(&h.ebx, "TCGT", 4) && !memcmp(&h.ecx, "CGTC", 4) &&
	       !memcmp(&h.edx, "GTCG", 4);
}

static int limit_missing; /* expected limit faults that did not happen */
static char limit_missing_names[80];

/* One access that must fault (vector, error 0) at rip; a missing fault is
 * counted rather than failed (see check_segment_limit). */
static void expect_limit_fault(int rc, uint64_t vector, uint64_t rip, const char *what)
{
	if (rc == 0) {
		size_t n = strlen(limit_missing_names);
		ksnprintf(limit_missing_names + n, sizeof(limit_missing_names) - n, "%s%s",
		          limit_missing++ ? ", " : "", what);
		return;
	}
	expect_fault(rc, vector, 0, rip, what);
}

void check_segment_limit(void)
{
	limit_missing = 0;
	limit_missing_names[0] = 0;
	memset(mscratch, 0, sizeof(mscratch));
	*(volatile uint32_t *)(mscratch + 0xffc) = 0x11223344;
	*(volatile uint32_t *)mscratch = 0x55667788;
	xgdt_load();
	int rc =
	    fault_try((void *)seglim_call, (uint64_t)seglim_read_ds, XSEL_DATA_LIM, 0xffc, 0, 0);
	if (rc || (uint32_t)try_result != 0x11223344)
		check_fail("read of the last dword inside DS: %s",
		           rc ? fault_str() : "wrong value");
	rc = fault_try((void *)seglim_call, (uint64_t)seglim_read_ds, XSEL_DATA_LIM, 0xffd, 0, 0);
	expect_limit_fault(rc, 13, (uint64_t)seglim_read_ds_insn, "DS limit");
	rc = fault_try((void *)seglim_call, (uint64_t)seglim_read_ds, XSEL_DATA_DOWN, 0x1000, 0, 0);
	if (rc || (uint32_t)try_result != 0x55667788)
		check_fail("expand-down segment, just above its limit: %s",
		           rc ? fault_str() : "wrong value");
	rc = fault_try((void *)seglim_call, (uint64_t)seglim_read_ds, XSEL_DATA_DOWN, 0xffe, 0, 0);
	expect_limit_fault(rc, 13, (uint64_t)seglim_read_ds_insn, "expand-down limit");

	/* the stack: #SS(0), delivered on IST1 (RSP is not usable then) */
	uint8_t ist = idt[12].ist;
	idt[12].ist = 1;
	rc = fault_try((void *)seglim_call, (uint64_t)seglim_push_ss, XSEL_DATA_LIM, 0x1000, 0, 0);
	if (rc)
		check_fail("push just inside the SS limit: %s", fault_str());
	rc = fault_try((void *)seglim_call, (uint64_t)seglim_push_ss, XSEL_DATA_LIM, 0x1002, 0, 0);
	expect_limit_fault(rc, 12, (uint64_t)seglim_push_ss_insn, "SS limit");
	idt[12].ist = ist;

	/* code: an instruction that runs past the CS limit */
	rc = fault_try((void *)seglim_call, (uint64_t)seglim_jump_cs, XSEL_CODE_LIM, 0, 0, 0);
	expect_limit_fault(rc, 13, SEGLIM_CODE_LIMIT - 1, "CS limit");
	if (rc && last_fault.frame.cs != XSEL_CODE_LIM)
		check_fail("CS %#lx in the #GP frame", last_fault.frame.cs);
	xgdt_unload();

	if (limit_missing && on_qemu_tcg())
		check_skip("QEMU TCG does not check these segment limits: %s", limit_missing_names);
	else if (limit_missing)
		check_fail("no fault past the limit: %s", limit_missing_names);
}
