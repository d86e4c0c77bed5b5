/* kmain: copies what it needs out of the Multiboot information, sets up
 * the CPU, then runs the checks (or the benchmarks) the command line asks
 * for and reports through COM1 and the debug-exit port:
 *   ok NAME[: note] | not ok NAME: detail | skip NAME: reason
 *   testkernel: N passed, N failed[, N skipped]
 *   outl 0x10 (nothing failed) or 0x11 to port 0xF4 */
#include "ipsloop.h"
#include "kernel.h"
#include "modes.h"
#include "x86.h"

#define MB_BOOT_MAGIC 0x2badb002
#define DEBUG_EXIT_PORT 0xf4
#define IDENTITY_END (4ul << 30) /* what entry.S maps */

struct boot_info boot_info;
uint64_t tsc_khz = 3000000;

static const struct check checks[] = {
    {"long-mode", check_long_mode},
    {"multiboot", check_multiboot},
    {"descriptor-tables", check_descriptors},
    {"exc-de", check_exc_de},
    {"exc-ud", check_exc_ud},
    {"exc-bp", check_exc_bp},
    {"exc-gp-noncanonical", check_exc_gp_noncanonical},
    {"exc-gp-selector", check_exc_gp_selector},
    {"exc-pf", check_exc_pf},
    {"exc-df-ist", check_exc_df},
    {"paging-4k", check_paging_4k},
    {"paging-2m", check_paging_2m},
    {"paging-1g", check_paging_1g},
    {"nx", check_nx},
    {"user-supervisor", check_user_supervisor},
    {"cr0-wp", check_cr0_wp},
    {"cpl3-iretq", check_cpl3_iretq},
    {"syscall-sysret", check_syscall},
    {"swapgs", check_swapgs},
    {"fs-gs-base", check_fs_gs_base},
    {"fsgsbase-insn", check_fsgsbase_insn},
    {"cpuid", check_cpuid},
    {"msr-apic-base", check_msr_apic_base},
    {"msr-roundtrip", check_msr_roundtrip},
    {"msr-gp", check_msr_gp},
    {"tsc", check_tsc},
    {"pit", check_pit},
    {"rtc-irq", check_rtc_irq},
    {"lapic-timer", check_lapic_timer},
    {"ioapic", check_ioapic},
    {"uart", check_uart},
    {"acpi", check_acpi},
    {"hpet", check_hpet},
    {"smp", check_smp},
    {"virtio-blk", check_virtio_blk},
    {"virtio-rng", check_virtio_rng},
    {"compat-mode", check_compat_mode},
    {"pm16", check_pm16},
    {"pm32", check_pm32},
    {"real-mode", check_real_mode},
    {"call-gate", check_call_gate},
    {"segment-limit", check_segment_limit},
    {"debug-regs", check_debug_regs},
};
#define NCHECKS (int)(sizeof(checks) / sizeof(checks[0]))

static int passed, failed, skipped;
static bool quiet;

/* State of the check that is running. */
enum status { ST_PASS, ST_FAIL, ST_SKIP };
static enum status cur_status;
static char cur_detail[200];

static void set_detail(enum status st, const char *fmt, va_list ap)
{
	/* The first failure is the interesting one; later ones don't overwrite it. */
	if (cur_status == ST_FAIL)
		return;
	cur_status = st;
	kvsnprintf(cur_detail, sizeof(cur_detail), fmt, ap);
}

void check_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_detail(ST_FAIL, fmt, ap);
	va_end(ap);
}

void check_skip(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_detail(ST_SKIP, fmt, ap);
	va_end(ap);
}

void check_note(const char *fmt, ...)
{
	if (cur_status != ST_PASS)
		return;
	va_list ap;
	va_start(ap, fmt);
	kvsnprintf(cur_detail, sizeof(cur_detail), fmt, ap);
	va_end(ap);
}

bool check_failed(void)
{
	return cur_status == ST_FAIL;
}

static void run_check(const struct check *c)
{
	cur_status = ST_PASS;
	cur_detail[0] = 0;
	c->fn();
	cli();
	switch (cur_status) {
	case ST_PASS:
		passed++;
		if (!quiet)
			kprintf(cur_detail[0] ? "ok %s: %s\n" : "ok %s\n", c->name, cur_detail);
		break;
	case ST_FAIL:
		failed++;
		kprintf("not ok %s: %s\n", c->name, cur_detail);
		break;
	case ST_SKIP:
		skipped++;
		if (!quiet)
			kprintf("skip %s: %s\n", c->name, cur_detail);
		break;
	}
}

void finish(bool failed_extra)
{
	cli();
	if (failed_extra)
		failed++;
	if (skipped)
		kprintf("testkernel: %d passed, %d failed, %d skipped\n", passed, failed, skipped);
	else
		kprintf("testkernel: %d passed, %d failed\n", passed, failed);
	outl(DEBUG_EXIT_PORT, failed ? 0x11 : 0x10);
	/* No debug-exit device: stop the machine with a triple fault. */
	static const struct desc_ptr none = {0, 0};
	__asm__ volatile("lidt %0; int3" ::"m"(none));
	for (;;)
		__asm__ volatile("cli; hlt");
}

uint64_t deadline_ms(uint64_t ms)
{
	return rdtsc() + ms * tsc_khz;
}
bool expired(uint64_t deadline)
{
	return (int64_t)(rdtsc() - deadline) >= 0;
}

void delay_us(uint64_t us)
{
	uint64_t end = rdtsc() + us * tsc_khz / 1000;
	while (!expired(end))
		cpu_relax();
}

/* The TSC rate from CPUID when the CPU or hypervisor tells it; otherwise a
 * generous guess (a higher guess only makes timeouts longer). */
static void tsc_init(void)
{
	struct cpuid_regs r = cpuid(0, 0);
	uint32_t max = r.eax;
	if (max >= 0x15) {
		r = cpuid(0x15, 0);
		if (r.eax && r.ebx && r.ecx) {
			tsc_khz = (uint64_t)r.ecx * r.ebx / r.eax / 1000;
			return;
		}
	}
	if (max >= 0x16) {
		r = cpuid(0x16, 0);
		if (r.eax & 0xffff) {
			tsc_khz = (uint64_t)(r.eax & 0xffff) * 1000;
			return;
		}
	}
	if (cpuid(1, 0).ecx & (1u << 31)) {
		r = cpuid(0x40000000, 0);
		if (r.eax >= 0x40000010 && r.eax < 0x40000100) {
			r = cpuid(0x40000010, 0);
			if (r.eax)
				tsc_khz = r.eax;
		}
	}
}

/* Multiboot information lives wherever the loader put it (ringfold: 0x1000
 * to 0x7000); copy the command line and memory map out before anything can
 * overwrite low memory. Every length is bounded. */
static void copy_boot_info(uint32_t magic, uint32_t info)
{
	boot_info.magic = magic;
	boot_info.info_addr = info;
	if (magic != MB_BOOT_MAGIC || info == 0 || info > IDENTITY_END - 128)
		return;
	const volatile uint32_t *mbi = (const volatile uint32_t *)(uint64_t)info;
	boot_info.flags = mbi[0];
	if ((boot_info.flags & (1u << 2)) && mbi[4]) {
		const volatile char *s = (const volatile char *)(uint64_t)mbi[4];
		size_t i;
		for (i = 0;
		     i + 1 < sizeof(boot_info.cmdline) && (uint64_t)&s[i] < IDENTITY_END && s[i];
		     i++)
			boot_info.cmdline[i] = s[i];
		boot_info.cmdline[i] = 0;
		boot_info.has_cmdline = true;
	}
	if (boot_info.flags & (1u << 6)) {
		uint64_t p = mbi[12], end = p + mbi[11];
		if (end > IDENTITY_END) /* only the low 4 GiB are mapped */
			end = IDENTITY_END;
		boot_info.has_mmap = true;
		while (p + 24 <= end && boot_info.nmmap < MAX_MMAP) {
			const volatile uint8_t *e = (const volatile uint8_t *)p;
			uint32_t size = *(const volatile uint32_t *)e;
			struct mmap_entry *m = &boot_info.mmap[boot_info.nmmap++];
			m->addr = *(const volatile uint64_t *)(e + 4);
			m->len = *(const volatile uint64_t *)(e + 12);
			m->type = *(const volatile uint32_t *)(e + 20);
			if (size < 20)
				break;
			p += size + 4;
		}
	}
}

/* Words of the command line: "all", "bench", "quiet", "only=a,b", "ips=N". */
static bool want_bench;
static bool want_ips;
static uint64_t ips_iterations;
/* Self-tests of the reporting itself, for the harness that runs this kernel:
 * selftest=fail adds a check that fails, selftest=unexpected takes an
 * exception no check expects. */
static bool selftest_fail, selftest_unexpected;
static const char *only_list;
static char only_buf[256];

static void parse_cmdline(void)
{
	char *s = boot_info.cmdline;
	while (*s) {
		while (*s == ' ' || *s == '\t')
			s++;
		char *w = s;
		while (*s && *s != ' ' && *s != '\t')
			s++;
		size_t n = (size_t)(s - w);
		if (n == 5 && !memcmp(w, "bench", 5))
			want_bench = true;
		else if (n > 4 && !memcmp(w, "ips=", 4)) {
			want_ips = true;
			ips_iterations = 0;
			for (size_t k = 4; k < n && w[k] >= '0' && w[k] <= '9'; k++)
				ips_iterations = ips_iterations * 10 + (uint64_t)(w[k] - '0');
		} else if (n == 5 && !memcmp(w, "quiet", 5))
			quiet = true;
		else if (n == 13 && !memcmp(w, "selftest=fail", 13))
			selftest_fail = true;
		else if (n == 19 && !memcmp(w, "selftest=unexpected", 19))
			selftest_unexpected = true;
		else if (n > 5 && !memcmp(w, "only=", 5)) {
			size_t len = n - 5 < sizeof(only_buf) - 1 ? n - 5 : sizeof(only_buf) - 1;
			memcpy(only_buf, w + 5, len);
			only_buf[len] = 0;
			only_list = only_buf;
		}
	}
}

static bool name_in_list(const char *name, const char *list)
{
	size_t n = strlen(name);
	while (*list) {
		const char *e = list;
		while (*e && *e != ',')
			e++;
		if ((size_t)(e - list) == n && !memcmp(list, name, n))
			return true;
		list = *e ? e + 1 : e;
	}
	return false;
}

static void selftest_failing_check(void)
{
	check_fail("deliberate failure (selftest=fail)");
}

void kmain(uint32_t magic, uint32_t info)
{
	copy_boot_info(magic, info);
	serial_init();
	desc_init();
	paging_init();
	pic_init();
	lapic_init();
	tsc_init();
	parse_cmdline();

	if (want_bench) {
		run_benchmarks(&passed, &failed);
		finish(false);
	}
	if (want_ips) {
		run_ips(ips_iterations, &passed, &failed);
		finish(false);
	}
	if (selftest_unexpected)
		__asm__ volatile("ud2");
	if (selftest_fail)
		run_check(&(const struct check){"selftest-fail", selftest_failing_check});
	for (int i = 0; i < NCHECKS; i++)
		if (!only_list || name_in_list(checks[i].name, only_list))
			run_check(&checks[i]);
	if (only_list) { /* a name that matches no check is a mistake worth seeing */
		const char *p = only_list;
		while (*p) {
			char name[64];
			size_t n = 0;
			while (p[n] && p[n] != ',')
				n++;
			size_t m = n < sizeof(name) - 1 ? n : sizeof(name) - 1;
			memcpy(name, p, m);
			name[m] = 0;
			bool found = false;
			for (int i = 0; i < NCHECKS; i++)
				found |= !strcmp(checks[i].name, name);
			if (!found && m) {
				kprintf("not ok only: no check named '%s'\n", name);
				failed++;
			}
			p += n;
			if (*p)
				p++;
		}
	}
	finish(false);
}
