/* difftest: compare the soft engine with the host CPU, instruction by
 * instruction.
 *
 *   difftest [--seed S] [--cases N] [--mode 64|32|mixed] [--filter MNEMONIC[*]]
 *            [--case K] [--max-report N] [-v]
 *
 * Case k of seed S is always the same instruction sequence with the same
 * inputs, so any mismatch is reproduced with --seed S --case k -v. Ends with
 * "N passed, N failed" (N = cases). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "difftest.h"

#define BATCH 1024

static const char *const regnames[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                         "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};

static uint64_t fx64(const uint8_t *fx, unsigned off)
{
	uint64_t v;
	memcpy(&v, fx + off, 8);
	return v;
}
static unsigned fx16(const uint8_t *fx, unsigned off)
{
	return (unsigned)fx[off] | (unsigned)fx[off + 1] << 8;
}
static unsigned fx32(const uint8_t *fx, unsigned off)
{
	return fx16(fx, off) | fx16(fx, off + 2) << 16;
}

/* The FP/vector part of a state, for reports: control and status, the x87
 * registers (MMX in their significands) and XMM0-15. */
static void print_fx(const char *who, const uint8_t *fx)
{
	printf("  %-6s fcw=%04x fsw=%04x ftw=%02x mxcsr=%08x\n", who, fx16(fx, DT_FX_FCW),
	       fx16(fx, DT_FX_FSW), fx[DT_FX_FTW], fx32(fx, DT_FX_MXCSR));
	for (int k = 0; k < 8; k++)
		printf("%sst%d=%04x:%016" PRIx64 "%s", k % 4 == 0 ? "         " : " ", k,
		       fx16(fx, DT_FX_ST(k) + 8), fx64(fx, DT_FX_ST(k)), k % 4 == 3 ? "\n" : "");
	for (int k = 0; k < 16; k++)
		printf("%sxmm%-2d=%016" PRIx64 "%016" PRIx64 "%s", k % 3 == 0 ? "         " : " ",
		       k, fx64(fx, DT_FX_XMM(k) + 8), fx64(fx, DT_FX_XMM(k)),
		       k % 3 == 2 || k == 15 ? "\n" : "");
}

/* RCPPS/RSQRTPS and their scalar forms are approximations that differ by
 * vendor: equal special values and class, and within 2^-10 relative (the
 * SDM allows 1.5 * 2^-12 either side of the true value). */
static bool approx_same(uint32_t a, uint32_t b)
{
	if (a == b)
		return true;
	uint32_t ea = (a >> 23) & 0xff, eb = (b >> 23) & 0xff;
	if ((a ^ b) >> 31 || ea == 0xff || eb == 0xff)
		return false;
	if (ea <= 1 && eb <= 1) /* tiny: flushed on one CPU, not on another */
		return true;
	float fa, fb;
	memcpy(&fa, &a, 4);
	memcpy(&fb, &b, 4);
	double d = (double)fa - (double)fb, m = (double)fa;
	if (d < 0)
		d = -d;
	if (m < 0)
		m = -m;
	return d <= m * 0x1p-10;
}

static void print_case(const struct dt_case *c, uint64_t index)
{
	printf("case %" PRIu64 " (seed %" PRIu64 ", %s):", index, c->seed,
	       c->m32 ? "32-bit" : "64-bit");
	for (unsigned k = 0; k < c->ninsns; k++)
		printf("%s %s", k ? ";" : "", c->insns[k].text);
	printf("\n  bytes:");
	for (unsigned k = 0; k < c->code_len; k++)
		printf(" %02x", c->code[k]);
	printf("\n  in:  rflags=%04" PRIx64, c->in.rflags & 0xfff);
	for (int k = 0; k < 16; k++)
		printf("%s%s=%016" PRIx64, k % 4 == 0 ? "\n       " : " ", regnames[k],
		       c->in.gpr[k]);
	printf("\n");
	print_fx("in:", c->fx);
}

static void print_result(const char *who, const struct dt_result *r)
{
	printf("  %-6s vector=%d err=%#" PRIx64 " cr2=%#" PRIx64 " rip=%#" PRIx64
	       " rflags=%04" PRIx64 "%s",
	       who, r->vector, r->error, r->cr2, r->out.rip, r->out.rflags & 0xfff,
	       r->timeout ? " (did not finish)" : "");
	for (int k = 0; k < 16; k++)
		printf("%s%s=%016" PRIx64, k % 4 == 0 ? "\n       " : " ", regnames[k],
		       r->out.gpr[k]);
	printf("\n       es=%04x cs=%04x ss=%04x ds=%04x fs=%04x gs=%04x fs.base=%#" PRIx64
	       " gs.base=%#" PRIx64 "\n",
	       r->sel[DT_ES], r->sel[DT_CS], r->sel[DT_SS], r->sel[DT_DS], r->sel[DT_FS],
	       r->sel[DT_GS], r->fs_base, r->gs_base);
	print_fx(who, r->fx);
}

/* The FP/vector state: everything FXSAVE reports except the x87 last
 * instruction and operand pointers and opcode (AMD stores them only when an
 * exception is pending; nothing here changes them yet). */
static void fx_compare(const struct dt_case *c, const struct dt_result *nat,
                       const struct dt_result *soft, char *why, size_t *n, size_t len)
{
#define WHY(...) (*n += (size_t)snprintf(why + *n, *n < len ? len - *n : 0, __VA_ARGS__))
	const uint8_t *a = nat->fx, *b = soft->fx;
	if (nat->no_fx) {
		WHY(" no native FP state");
		return;
	}
	if (fx16(a, DT_FX_FCW) != fx16(b, DT_FX_FCW))
		WHY(" fcw %04x!=%04x", fx16(a, DT_FX_FCW), fx16(b, DT_FX_FCW));
	if (fx16(a, DT_FX_FSW) != fx16(b, DT_FX_FSW))
		WHY(" fsw %04x!=%04x", fx16(a, DT_FX_FSW), fx16(b, DT_FX_FSW));
	if (a[DT_FX_FTW] != b[DT_FX_FTW])
		WHY(" ftw %02x!=%02x", a[DT_FX_FTW], b[DT_FX_FTW]);
	if (fx32(a, DT_FX_MXCSR) != fx32(b, DT_FX_MXCSR))
		WHY(" mxcsr %04x!=%04x", fx32(a, DT_FX_MXCSR), fx32(b, DT_FX_MXCSR));
	for (int k = 0; k < 8; k++)
		if (memcmp(a + DT_FX_ST(k), b + DT_FX_ST(k), 10))
			WHY(" st%d %04x:%016" PRIx64 "!=%04x:%016" PRIx64, k,
			    fx16(a, DT_FX_ST(k) + 8), fx64(a, DT_FX_ST(k)),
			    fx16(b, DT_FX_ST(k) + 8), fx64(b, DT_FX_ST(k)));
	const struct dt_insn *in = &c->insns[0];
	for (int k = 0; k < 16; k++) {
		const uint8_t *x = a + DT_FX_XMM(k), *y = b + DT_FX_XMM(k);
		if (!memcmp(x, y, 16))
			continue;
		if (in->fpcmp != DT_CMP_EXACT && k == in->xdst) {
			unsigned lanes = in->fpcmp == DT_CMP_APPROX_PS ? 4 : 1;
			bool ok = !memcmp(x + 4 * lanes, y + 4 * lanes, 16 - 4 * lanes);
			for (unsigned l = 0; l < lanes; l++)
				ok = ok && approx_same((uint32_t)fx32(x, 4 * l),
				                       (uint32_t)fx32(y, 4 * l));
			if (ok)
				continue;
		}
		WHY(" xmm%d %016" PRIx64 "%016" PRIx64 "!=%016" PRIx64 "%016" PRIx64, k, fx64(x, 8),
		    fx64(x, 0), fx64(y, 8), fx64(y, 0));
	}
#undef WHY
}

/* Compare; describe the first differences in why. */
static bool same(const struct dt_case *c, const struct dt_result *nat, const struct dt_result *soft,
                 char *why, size_t len)
{
	size_t n = 0;
	why[0] = 0;
#define WHY(...) (n += (size_t)snprintf(why + n, n < len ? len - n : 0, __VA_ARGS__))
	if (nat->vector == -2) {
		WHY(" native child crashed");
		return false;
	}
	if (soft->timeout)
		WHY(" soft did not finish");
	if (nat->vector != soft->vector)
		WHY(" vector %d!=%d", nat->vector, soft->vector);
	else if ((nat->vector == 14 || nat->vector == 13 || nat->vector == 12) &&
	         nat->error != soft->error)
		WHY(" error %#" PRIx64 "!=%#" PRIx64, nat->error, soft->error);
	if (nat->vector == 14 && soft->vector == 14 && nat->cr2 != soft->cr2)
		WHY(" cr2");
	/* In compatibility mode the upper halves of RAX..RDI are undefined
	 * (the host may keep or clear them); R8-R15 are out of reach and must
	 * come back untouched. */
	uint64_t low = c->m32 ? 0xffffffffULL : ~0ULL;
	if ((nat->out.rip ^ soft->out.rip) & low)
		WHY(" rip");
	for (int k = 0; k < 16; k++)
		if ((nat->out.gpr[k] ^ soft->out.gpr[k]) & (k < 8 ? low : ~0ULL))
			WHY(" %s", regnames[k]);
	static const char *const segnames[DT_NSEG] = {"es", "cs", "ss", "ds", "fs", "gs"};
	/* A null selector's RPL does not survive the host kernel's IRET back
	 * to user mode (the CPU nulls the register), so null equals null. */
	for (int k = 0; k < DT_NSEG; k++)
		if (nat->sel[k] != soft->sel[k] && ((nat->sel[k] | soft->sel[k]) & 0xfffc))
			WHY(" %s %#x!=%#x", segnames[k], nat->sel[k], soft->sel[k]);
	if (nat->bases && nat->fs_base != soft->fs_base)
		WHY(" fs.base");
	if (nat->bases && nat->gs_base != soft->gs_base)
		WHY(" gs.base");
	uint64_t mask = (DT_FL_ARITH | DT_FL_DF) & ~(uint64_t)soft->undef;
	if ((nat->out.rflags ^ soft->out.rflags) & mask)
		WHY(" rflags(%03" PRIx64 ")", (nat->out.rflags ^ soft->out.rflags) & mask);
	for (unsigned k = 0; k < DT_DATA_SIZE; k++) {
		if (nat->data[k] != soft->data[k]) {
			WHY(" data[%#x]=%02x!=%02x", k, nat->data[k], soft->data[k]);
			break;
		}
	}
	if (nat->vector != -2)
		fx_compare(c, nat, soft, why, &n, len);
#undef WHY
	return why[0] == 0;
}

int main(int argc, char **argv)
{
	uint64_t seed = 1, ncases = 1000, only = UINT64_MAX;
	const char *filter = NULL;
	int mode = DT_MODE_MIXED;
	int verbose = 0;
	unsigned max_report = 20;
	for (int k = 1; k < argc; k++) {
		if (!strcmp(argv[k], "--seed") && k + 1 < argc)
			seed = strtoull(argv[++k], NULL, 0);
		else if (!strcmp(argv[k], "--cases") && k + 1 < argc)
			ncases = strtoull(argv[++k], NULL, 0);
		else if (!strcmp(argv[k], "--filter") && k + 1 < argc)
			filter = argv[++k];
		else if (!strcmp(argv[k], "--case") && k + 1 < argc)
			only = strtoull(argv[++k], NULL, 0);
		else if (!strcmp(argv[k], "--max-report") && k + 1 < argc)
			max_report = (unsigned)strtoul(argv[++k], NULL, 0);
		else if (!strcmp(argv[k], "--mode") && k + 1 < argc) {
			const char *m = argv[++k];
			mode = !strcmp(m, "64")   ? DT_MODE_64
			       : !strcmp(m, "32") ? DT_MODE_32
			                          : DT_MODE_MIXED;
		} else if (!strcmp(argv[k], "-v"))
			verbose++;
		else {
			fprintf(stderr, "usage: difftest [--seed S] [--cases N] [--mode "
			                "64|32|mixed] [--filter MNEMONIC[*]]\n"
			                "                [--case K] [--max-report N] [-v]\n");
			return 2;
		}
	}
	dt_gen_init();
	if (dt_soft_init() != 0)
		return 2;
	struct dt_case *cases = calloc(BATCH, sizeof *cases);
	struct dt_result *soft = calloc(BATCH, sizeof *soft);
	struct dt_result *nat = mmap(NULL, BATCH * sizeof *nat, PROT_READ | PROT_WRITE,
	                             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (!cases || !soft || nat == MAP_FAILED) {
		fprintf(stderr, "difftest: out of memory\n");
		return 2;
	}
	uint64_t first = 0, last = ncases;
	if (only != UINT64_MAX) {
		first = only;
		last = only + 1;
		verbose = verbose ? verbose : 1;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	uint64_t passed = 0, failed = 0, vectors[32] = {0};
	static bool covered[2048]; /* templates run as the main instruction */
	unsigned ncovered = 0;
	for (uint64_t base = first; base < last; base += BATCH) {
		unsigned n = (unsigned)(last - base < BATCH ? last - base : BATCH);
		for (unsigned k = 0; k < n; k++) {
			if (!dt_gen_case(seed, base + k, filter, mode, &cases[k])) {
				fprintf(stderr, "difftest: no instruction matches --filter %s\n",
				        filter);
				return 2;
			}
		}
		memset(nat, 0, n * sizeof *nat);
		if (dt_native_run(cases, nat, n) != 0)
			return 2;
		for (unsigned k = 0; k < n; k++) {
			char why[1024];
			dt_soft_run(&cases[k], &soft[k]);
			bool ok = same(&cases[k], &nat[k], &soft[k], why, sizeof why);
			if (nat[k].vector >= 0 && nat[k].vector < 32)
				vectors[nat[k].vector]++;
			unsigned ti = dt_tmpl_index(cases[k].insns[0].t);
			if (ti < 2048 && !covered[ti]) {
				covered[ti] = true;
				ncovered++;
			}
			if (ok)
				passed++;
			else
				failed++;
			if ((!ok && failed <= max_report) || verbose > 1 ||
			    (verbose && only != UINT64_MAX)) {
				printf("%s:%s\n", ok ? "ok" : "MISMATCH", why);
				print_case(&cases[k], base + k);
				print_result("native", &nat[k]);
				print_result("soft", &soft[k]);
			}
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("difftest: seed %" PRIu64 ", %" PRIu64 " cases, %u of %u templates, %.2f s\n", seed,
	       passed + failed, ncovered, dt_tmpl_count(), secs);
	printf("difftest: native outcomes:");
	for (int v = 0; v < 32; v++)
		if (vectors[v])
			printf(" %s%d=%" PRIu64, v == 3 ? "completed(#BP)" : "#", v, vectors[v]);
	printf("\n");
	printf("%" PRIu64 " passed, %" PRIu64 " failed\n", passed, failed);
	return failed ? 1 : 0;
}
