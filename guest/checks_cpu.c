/* Checks of the CPU's own state: long mode, the Multiboot hand-over,
 * descriptor tables, CPUID, MSRs, the TSC, and the FS/GS bases. */
#include "kernel.h"
#include "x86.h"

extern char __kernel_start[], __kernel_end[];
extern struct desc_ptr gdt_ptr;

void check_long_mode(void)
{
	uint64_t efer = rdmsr(MSR_EFER);
	if (boot_info.magic != 0x2badb002)
		check_fail("EAX at entry was %#x, not 0x2BADB002", boot_info.magic);
	if (!(efer & EFER_LME) || !(efer & EFER_LMA))
		check_fail("EFER %#lx: LME/LMA not set", efer);
	if (!(read_cr0() & CR0_PG) || !(read_cr4() & CR4_PAE))
		check_fail("CR0 %#lx CR4 %#lx: paging or PAE off", read_cr0(), read_cr4());
	if (read_cs() != SEL_KCODE)
		check_fail("CS is %#x", read_cs());
	/* Only 64-bit code can see the upper half of a register. */
	uint64_t x = 0x123456789ul;
	__asm__ volatile("shlq $4, %0" : "+r"(x));
	if (x != 0x1234567890ul)
		check_fail("64-bit arithmetic is wrong");
}

void check_multiboot(void)
{
	if (boot_info.magic != 0x2badb002) {
		check_fail("EAX at entry was %#x", boot_info.magic);
		return;
	}
	if (!boot_info.has_mmap || boot_info.nmmap == 0) {
		check_fail("no memory map (flags %#x)", boot_info.flags);
		return;
	}
	uint64_t ram = 0;
	bool kernel_in_ram = false;
	for (int i = 0; i < boot_info.nmmap; i++) {
		const struct mmap_entry *m = &boot_info.mmap[i];
		if (m->type != 1)
			continue;
		ram += m->len;
		if (m->addr <= (uint64_t)__kernel_start &&
		    m->addr + m->len >= (uint64_t)__kernel_end)
			kernel_in_ram = true;
	}
	if (!kernel_in_ram)
		check_fail("no available region of the memory map holds the kernel");
	if (boot_info.has_cmdline && strlen(boot_info.cmdline) >= sizeof(boot_info.cmdline) - 1)
		check_fail("command line too long or unterminated");
	check_note("%d map entries, %lu MiB RAM, command line \"%s\"", boot_info.nmmap, ram >> 20,
	           boot_info.cmdline);
}

void check_descriptors(void)
{
	struct desc_ptr g, i;
	uint16_t tr;
	__asm__ volatile("sgdt %0; sidt %1; str %2" : "=m"(g), "=m"(i), "=r"(tr));
	if (g.base != (uint64_t)gdt || g.limit != GDT_ENTRIES * 8 - 1)
		check_fail("GDTR %#lx/%#x", g.base, g.limit);
	if (i.base != (uint64_t)idt || i.limit != sizeof(idt) - 1)
		check_fail("IDTR %#lx/%#x", i.base, i.limit);
	if (tr != SEL_TSS)
		check_fail("TR %#x", tr);
	uint64_t type = (gdt[SEL_TSS / 8] >> 40) & 0xf;
	if (type != 0xb)
		check_fail("TSS descriptor type %#lx, expected busy (0xb)", type);
	/* Each segment register holds what we loaded. */
	uint16_t ds, ss;
	__asm__ volatile("mov %%ds, %0; mov %%ss, %1" : "=r"(ds), "=r"(ss));
	if (ds != SEL_KDATA || ss != SEL_KDATA)
		check_fail("DS %#x SS %#x", ds, ss);
}

void check_cpuid(void)
{
	struct cpuid_regs r = cpuid(0, 0);
	char vendor[13];
	memcpy(vendor, &r.ebx, 4);
	memcpy(vendor + 4, &r.edx, 4);
	memcpy(vendor + 8, &r.ecx, 4);
	vendor[12] = 0;
	for (int i = 0; i < 12; i++)
		if (vendor[i] < 0x20 || vendor[i] > 0x7e) {
			check_fail("vendor string is not printable");
			return;
		}
	if (r.eax < 1) {
		check_fail("max basic leaf %u", r.eax);
		return;
	}
	struct cpuid_regs l1 = cpuid(1, 0);
	const uint32_t need =
	    (1u << 0) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 8); /* FPU TSC MSR PAE CX8 */
	if ((l1.edx & need) != need)
		check_fail("leaf 1 EDX %#x lacks FPU/TSC/MSR/PAE/CX8", l1.edx);
	uint32_t family = (l1.eax >> 8) & 0xf;
	if (family == 0)
		check_fail("leaf 1 family is 0 (EAX %#x)", l1.eax);
	if ((l1.edx & (1u << 9)) && (l1.ebx >> 24) != lapic_id())
		check_fail("leaf 1 initial APIC ID %u but the LAPIC says %u", l1.ebx >> 24,
		           lapic_id());
	struct cpuid_regs x = cpuid(0x80000000, 0);
	if (x.eax < 0x80000001 || !(cpuid(0x80000001, 0).edx & (1u << 29)))
		check_fail("extended leaves do not report long mode");
	char hv[13] = "";
	if (l1.ecx & (1u << 31)) {
		struct cpuid_regs h = cpuid(0x40000000, 0);
		memcpy(hv, &h.ebx, 4);
		memcpy(hv + 4, &h.ecx, 4);
		memcpy(hv + 8, &h.edx, 4);
		hv[12] = 0;
		for (int i = 0; i < 12; i++)
			if (hv[i] && (hv[i] < 0x20 || hv[i] > 0x7e))
				hv[i] = '?';
	}
	check_note("%s, family %u%s%s%s", vendor, family,
	           (l1.ecx & (1u << 31)) ? ", hypervisor bit set" : "", hv[0] ? ": " : "", hv);
}

void check_msr_apic_base(void)
{
	uint64_t v = rdmsr(MSR_APIC_BASE);
	if (!(v & (1u << 8)))
		check_fail("IA32_APIC_BASE %#lx: BSP bit clear", v);
	if (!(v & (1u << 11)))
		check_fail("IA32_APIC_BASE %#lx: APIC disabled", v);
	if ((v & ~0xffful & 0xffffffffful) != LAPIC_BASE)
		check_fail("IA32_APIC_BASE %#lx: base is not 0xFEE00000", v);
}

void check_msr_roundtrip(void)
{
	uint64_t old = rdmsr(MSR_KERNEL_GS_BASE);
	const uint64_t vals[] = {0x00007f123456789aul, 0xffff800000001000ul, 0};
	for (unsigned i = 0; i < 3; i++) {
		wrmsr(MSR_KERNEL_GS_BASE, vals[i]);
		uint64_t got = rdmsr(MSR_KERNEL_GS_BASE);
		if (got != vals[i])
			check_fail("KERNEL_GS_BASE wrote %#lx read %#lx", vals[i], got);
	}
	wrmsr(MSR_KERNEL_GS_BASE, old);
}

static void do_rdmsr(uint64_t msr)
{
	(void)rdmsr((uint32_t)msr);
}
static void do_wrmsr(uint64_t msr, uint64_t v)
{
	wrmsr((uint32_t)msr, v);
}

/* QEMU's TCG identifies itself in the hypervisor leaf; it is the one
 * platform where a few architectural #GPs are known to be missing. */
static bool running_on_tcg(void)
{
	if (!(cpuid(1, 0).ecx & (1u << 31)))
		return false;
	struct cpuid_regs h = cpuid(0x40000000, 0);
	return !memcmp(&h.ebx, "TCGT", 4) && !memcmp(&h.ecx, "CGTC", 4) &&
	       !memcmp(&h.edx, "GTCG", 4);
}

/* RDMSR of an MSR that does not exist, and WRMSR of a non-canonical base,
 * raise #GP(0). QEMU's TCG (7.x) returns 0 and accepts the value instead:
 * there, and only there, a missing fault is a skip rather than a failure. */
void check_msr_gp(void)
{
	static const uint32_t bogus[] = {0x3fff1234, 0xc0001fff};
	int missing = 0;
	for (unsigned i = 0; i < sizeof(bogus) / sizeof(bogus[0]); i++) {
		int rc = fault_try((void *)do_rdmsr, bogus[i], 0, 0, 0, 0);
		if (rc == 0)
			missing++;
		else if (last_fault.vector != 13 || last_fault.error != 0)
			check_fail("RDMSR %#x: got %s, expected #GP(0)", bogus[i], fault_str());
	}
	uint64_t old = rdmsr(MSR_KERNEL_GS_BASE);
	int rc = fault_try((void *)do_wrmsr, MSR_KERNEL_GS_BASE, 0x8000000000000000ul, 0, 0, 0);
	wrmsr(MSR_KERNEL_GS_BASE, old);
	if (rc == 0)
		missing++;
	else if (last_fault.vector != 13 || last_fault.error != 0)
		check_fail("WRMSR of a non-canonical KERNEL_GS_BASE: got %s, expected #GP(0)",
		           fault_str());
	if (missing && running_on_tcg())
		check_skip("QEMU TCG does not raise #GP for unknown MSRs (%d of 3 accesses)",
		           missing);
	else if (missing)
		check_fail("%d of 3 accesses to nonexistent MSRs or with non-canonical values did "
		           "not raise #GP",
		           missing);
}

void check_tsc(void)
{
	uint64_t prev = rdtsc(), first = prev;
	for (int i = 0; i < 200; i++) {
		uint64_t t = rdtsc();
		if (t < prev) {
			check_fail("TSC went back from %#lx to %#lx", prev, t);
			return;
		}
		prev = t;
	}
	if (prev == first)
		check_fail("TSC did not advance over 200 reads (%#lx)", prev);
	/* And it keeps advancing while we wait a little. */
	uint64_t start = rdtsc();
	for (volatile int i = 0; i < 1000; i++)
		;
	if (rdtsc() <= start)
		check_fail("TSC did not advance over a loop");
}

static uint64_t read_gs_qword(void)
{
	uint64_t v;
	__asm__ volatile("movq %%gs:0, %0" : "=r"(v));
	return v;
}

static uint64_t read_fs_qword(void)
{
	uint64_t v;
	__asm__ volatile("movq %%fs:0, %0" : "=r"(v));
	return v;
}

static volatile uint64_t marker_a = 0xaaaa0000aaaa0001ul, marker_b = 0xbbbb0000bbbb0002ul;

void check_swapgs(void)
{
	uint64_t old_gs = rdmsr(MSR_GS_BASE), old_kgs = rdmsr(MSR_KERNEL_GS_BASE);
	wrmsr(MSR_GS_BASE, (uint64_t)&marker_a);
	wrmsr(MSR_KERNEL_GS_BASE, (uint64_t)&marker_b);
	if (read_gs_qword() != marker_a)
		check_fail("GS:0 before SWAPGS is not the GS_BASE marker");
	__asm__ volatile("swapgs" ::: "memory");
	uint64_t gs = rdmsr(MSR_GS_BASE), kgs = rdmsr(MSR_KERNEL_GS_BASE);
	uint64_t seen = read_gs_qword();
	__asm__ volatile("swapgs" ::: "memory");
	if (gs != (uint64_t)&marker_b || kgs != (uint64_t)&marker_a)
		check_fail("after SWAPGS GS_BASE %#lx KERNEL_GS_BASE %#lx", gs, kgs);
	if (seen != marker_b)
		check_fail("GS:0 after SWAPGS read %#lx", seen);
	if (rdmsr(MSR_GS_BASE) != (uint64_t)&marker_a)
		check_fail("second SWAPGS did not swap back");
	wrmsr(MSR_GS_BASE, old_gs);
	wrmsr(MSR_KERNEL_GS_BASE, old_kgs);
}

void check_fs_gs_base(void)
{
	uint64_t old_fs = rdmsr(MSR_FS_BASE), old_gs = rdmsr(MSR_GS_BASE);
	wrmsr(MSR_FS_BASE, (uint64_t)&marker_a);
	wrmsr(MSR_GS_BASE, (uint64_t)&marker_b);
	if (rdmsr(MSR_FS_BASE) != (uint64_t)&marker_a || rdmsr(MSR_GS_BASE) != (uint64_t)&marker_b)
		check_fail("FS/GS_BASE read back %#lx/%#lx", rdmsr(MSR_FS_BASE),
		           rdmsr(MSR_GS_BASE));
	uint64_t f = read_fs_qword(), g = read_gs_qword();
	if (f != marker_a || g != marker_b)
		check_fail("FS:0 %#lx GS:0 %#lx do not follow the bases", f, g);
	/* A base near the top of the canonical range (the access wraps into it). */
	wrmsr(MSR_FS_BASE, (uint64_t)&marker_b - 8);
	uint64_t v;
	__asm__ volatile("movq %%fs:8, %0" : "=r"(v));
	if (v != marker_b)
		check_fail("FS:8 with base-8 read %#lx", v);
	wrmsr(MSR_FS_BASE, old_fs);
	wrmsr(MSR_GS_BASE, old_gs);
}

void check_fsgsbase_insn(void)
{
	if (!(cpuid(0, 0).eax >= 7 && (cpuid(7, 0).ebx & 1))) {
		check_skip("CPUID.7:EBX.FSGSBASE is clear");
		return;
	}
	uint64_t cr4 = read_cr4(), old_fs = rdmsr(MSR_FS_BASE), old_gs = rdmsr(MSR_GS_BASE);
	write_cr4(cr4 | CR4_FSGSBASE);
	uint64_t a = 0x7f0000001000ul, b = 0x7f0000002000ul, ra, rb;
	__asm__ volatile("wrfsbase %2; wrgsbase %3; rdfsbase %0; rdgsbase %1"
	                 : "=&r"(ra), "=&r"(rb)
	                 : "r"(a), "r"(b)
	                 : "memory");
	if (ra != a || rb != b)
		check_fail("RD/WRFSBASE round trip %#lx/%#lx", ra, rb);
	if (rdmsr(MSR_FS_BASE) != a || rdmsr(MSR_GS_BASE) != b)
		check_fail("WRFSBASE/WRGSBASE not seen in the MSRs");
	wrmsr(MSR_FS_BASE, (uint64_t)&marker_a);
	__asm__ volatile("rdfsbase %0" : "=r"(ra));
	if (ra != (uint64_t)&marker_a)
		check_fail("RDFSBASE after WRMSR read %#lx", ra);
	wrmsr(MSR_FS_BASE, old_fs);
	wrmsr(MSR_GS_BASE, old_gs);
	write_cr4(cr4);
}
