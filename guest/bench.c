/* Nanobenchmarks (`bench` on the command line): each prints
 *   bench NAME CYCLES-PER-OP
 * measured with RDTSC over a fixed number of iterations. The counts are
 * small because a software hypervisor may run CPL0 code at about 1 us per
 * instruction: the whole run stays under ~1 million CPL0 instructions. */
#include "kernel.h"
#include "x86.h"

#define N_FAST 10000 /* a handful of CPL0 instructions per operation */
#define N_SLOW 2000  /* a full exception round trip per operation */

static int *n_passed, *n_failed;

static void report(const char *name, uint64_t cycles, uint64_t iters)
{
	kprintf("bench %s %lu\n", name, cycles / iters);
	(*n_passed)++;
}

static void report_fail(const char *name, const char *why)
{
	kprintf("not ok bench-%s: %s\n", name, why);
	(*n_failed)++;
}

static void bench_syscall(void)
{
	uint64_t efer = rdmsr(MSR_EFER);
	wrmsr(MSR_EFER, efer | EFER_SCE);
	wrmsr(MSR_STAR, ((uint64_t)SEL_UCODE32 << 48) | ((uint64_t)SEL_KCODE << 32));
	wrmsr(MSR_LSTAR, (uint64_t)syscall_entry);
	wrmsr(MSR_SFMASK, RFLAGS_IF | (1u << 8) | (1u << 10));
	sc_count = 0;
	sc_cs = 0xffff;
	int rc = run_user((void *)user_bench_syscall, N_FAST, 0, 0);
	wrmsr(MSR_EFER, efer);
	if (!user_exited(rc) || sc_count != N_FAST) {
		char why[160];
		ksnprintf(why, sizeof(why), "%s after %lu calls, CS in the handler %#x",
		          rc ? fault_str() : "CPL3 loop returned", sc_count, sc_cs);
		report_fail("syscall", why);
	} else
		report("syscall", last_fault.frame.r13 - last_fault.frame.r12, N_FAST);
}

static void bench_in(void)
{
	uint64_t t0 = rdtsc();
	for (int i = 0; i < N_FAST; i++)
		(void)inb(0x3fd);
	report("in", rdtsc() - t0, N_FAST);
}

static void bench_out(void)
{
	uint64_t t0 = rdtsc();
	for (int i = 0; i < N_FAST; i++)
		outb(0x80, 0);
	report("out", rdtsc() - t0, N_FAST);
}

static void bench_mmio(void)
{
	mmio_write32(IOAPIC_BASE, 1); /* select the version register */
	uint64_t t0 = rdtsc();
	for (int i = 0; i < N_FAST; i++)
		(void)mmio_read32(IOAPIC_BASE + 0x10);
	report("mmio", rdtsc() - t0, N_FAST);
}

static void bench_cr8(void)
{
	uint64_t t0 = rdtsc();
	for (int i = 0; i < N_FAST; i++)
		write_cr8(0);
	report("cr8wr", rdtsc() - t0, N_FAST);
}

static void bench_callret(void)
{
	uint64_t t0 = rdtsc();
	bench_callret_loop(N_FAST);
	report("callret", rdtsc() - t0, N_FAST);
}

/* Two user pages; touching one maps it and unmaps the other, so every
 * access of the CPL3 loop faults. */
#define PGF_A 60
#define PGF_B 61
static uint64_t pgfaults;

static bool pgfault_hook(struct trap_frame *f, uint64_t cr2)
{
	uint64_t page = cr2 & ~0xffful;
	int hit = page == TA_VA(PGF_A) ? PGF_A : page == TA_VA(PGF_B) ? PGF_B : -1;
	if (hit < 0 || !(f->cs & 3))
		return false;
	ta_map(hit, (uint64_t)scratch[7], PTE_P | PTE_W | PTE_U);
	ta_unmap(hit == PGF_A ? PGF_B : PGF_A);
	pgfaults++;
	return true;
}

static void bench_pgfault(void)
{
	pgfaults = 0;
	trap_hooks[14] = pgfault_hook;
	int rc = run_user((void *)user_bench_pgfault, N_SLOW, TA_VA(PGF_A), TA_VA(PGF_B));
	trap_hooks[14] = 0;
	ta_unmap(PGF_A);
	ta_unmap(PGF_B);
	if (!user_exited(rc) || pgfaults != N_SLOW)
		report_fail("pgfault", rc ? fault_str() : "CPL3 loop returned");
	else
		report("pgfault", last_fault.frame.r13 - last_fault.frame.r12, N_SLOW);
}

static uint64_t divfaults;

static bool divzero_hook(struct trap_frame *f, uint64_t cr2)
{
	if (f->rip != (uint64_t)bench_divzero_insn)
		return false;
	f->rip += 2; /* divl %ecx is two bytes */
	divfaults++;
	return true;
}

static void bench_divzero(void)
{
	divfaults = 0;
	trap_hooks[0] = divzero_hook;
	uint64_t t0 = rdtsc();
	bench_divzero_loop(N_SLOW);
	uint64_t dt = rdtsc() - t0;
	trap_hooks[0] = 0;
	if (divfaults != N_SLOW)
		report_fail("divzero", "not every division faulted");
	else
		report("divzero", dt, N_SLOW);
}

static void bench_ptemod(void)
{
	volatile uint64_t *pte = ta_pte(62);
	uint64_t a = (uint64_t)scratch[6] | PTE_P | PTE_W, b = (uint64_t)scratch[7] | PTE_P | PTE_W;
	uint64_t t0 = rdtsc();
	for (int i = 0; i < N_FAST; i++) {
		*pte = (i & 1) ? b : a;
		invlpg(TA_VA(62));
	}
	uint64_t dt = rdtsc() - t0;
	ta_unmap(62);
	report("ptemod", dt, N_FAST);
}

void run_benchmarks(int *passed, int *failed)
{
	n_passed = passed;
	n_failed = failed;
	bench_syscall();
	bench_in();
	bench_out();
	bench_mmio();
	bench_cr8();
	bench_callret();
	bench_pgfault();
	bench_divzero();
	bench_ptemod();
}
