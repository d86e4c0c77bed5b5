/* The reference side: cases run on the host CPU in a forked child.
 *
 * The child maps the code, data, read-only and guard pages at the fixed
 * addresses, and for each case copies code and data in, stores the initial
 * registers at DT_STATE_VA, and jumps to an entry stub that loads every GPR
 * and RFLAGS from there (with absolute addressing, so no register is needed
 * to find them) and jumps to the code. The sequence ends with INT3; that, or
 * any exception before it, arrives as a signal whose ucontext holds every
 * register, the vector (trap number), error code and CR2 at that point, and
 * whose FP state (the FXSAVE part of the XSAVE area Linux stores in the
 * frame) is the state at that point too: the handler itself runs with a
 * fresh FPU. A SIMD floating-point exception (#XM) arrives as SIGFPE with
 * trap number 19, an x87 error (#MF) with 16. The handler (on its own
 * stack, as RSP can be anything) saves all that and siglongjmps back to the
 * loop.
 *
 * Results go to shared memory. If the child dies anyway (a case that
 * corrupts it), the parent marks that case and restarts a child after it. */
#include <asm/prctl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "difftest.h"

/* Loads the FP/vector state (FXRSTOR of the image at DT_FX_VA), RFLAGS,
 * then every GPR, RSP last, then jumps: mov and jmp change no flag. Offsets
 * follow struct dt_regs at DT_STATE_VA. */
#define LOAD_STATE                                                                                 \
	"fxrstor64 0x30000200\n"                                                                   \
	"pushq 0x30000088\n"                                                                       \
	"popfq\n"                                                                                  \
	"movq 0x30000000, %rax\n"                                                                  \
	"movq 0x30000008, %rcx\n"                                                                  \
	"movq 0x30000010, %rdx\n"                                                                  \
	"movq 0x30000018, %rbx\n"                                                                  \
	"movq 0x30000028, %rbp\n"                                                                  \
	"movq 0x30000030, %rsi\n"                                                                  \
	"movq 0x30000038, %rdi\n"                                                                  \
	"movq 0x30000040, %r8\n"                                                                   \
	"movq 0x30000048, %r9\n"                                                                   \
	"movq 0x30000050, %r10\n"                                                                  \
	"movq 0x30000058, %r11\n"                                                                  \
	"movq 0x30000060, %r12\n"                                                                  \
	"movq 0x30000068, %r13\n"                                                                  \
	"movq 0x30000070, %r14\n"                                                                  \
	"movq 0x30000078, %r15\n"                                                                  \
	"movq 0x30000020, %rsp\n"
/* 64-bit: jump to RIP. Compatibility mode: a far jump through the m16:32
 * pointer at 0x30000090 (offset, then Linux's 32-bit user code selector). */
__asm__(".text\n"
        ".globl dt_native_enter\n"
        "dt_native_enter:\n" LOAD_STATE "jmpq *0x30000080\n"
        ".globl dt_native_enter32\n"
        "dt_native_enter32:\n" LOAD_STATE "ljmpl *0x30000090\n");
void dt_native_enter(void);
void dt_native_enter32(void);

static sigjmp_buf child_env;
static struct dt_result *child_result;
/* The child's own FS and GS bases (FS: glibc's thread pointer) and whether
 * it may use RDFSBASE/WRFSBASE (Linux enables them when the CPU has them). */
static uint64_t child_fs_base, child_gs_base;
static bool child_fsgsbase;

static uint64_t get_base(int code)
{
	unsigned long v = 0;
	syscall(SYS_arch_prctl, code, &v);
	return v;
}

/* What the case left in DS ES FS GS and the FS/GS bases (the far-pointer
 * loads change them), then the child's own back: FS holds the thread
 * pointer that glibc (siglongjmp's pointer guard, errno) reads, so nothing
 * may touch TLS before this. SS comes from the signal frame. */
static __attribute__((always_inline)) inline void take_segments(struct dt_result *r)
{
	uint16_t ds, es, fs, gs;
	__asm__ volatile("mov %%ds, %0\n\tmov %%es, %1\n\tmov %%fs, %2\n\tmov %%gs, %3"
	                 : "=r"(ds), "=r"(es), "=r"(fs), "=r"(gs));
	r->sel[DT_DS] = ds;
	r->sel[DT_ES] = es;
	r->sel[DT_FS] = fs;
	r->sel[DT_GS] = gs;
	uint64_t fsb, gsb;
	if (child_fsgsbase) {
		__asm__ volatile("rdfsbase %0\n\trdgsbase %1" : "=r"(fsb), "=r"(gsb));
		__asm__ volatile("mov %2, %%fs\n\tmov %2, %%gs\n\twrfsbase %0\n\twrgsbase %1"
		                 :
		                 : "r"(child_fs_base), "r"(child_gs_base), "r"(0)
		                 : "memory");
	} else {
		/* raw system calls: no errno, so no TLS */
		__asm__ volatile("mov %0, %%fs\n\tmov %0, %%gs" : : "r"(0) : "memory");
		long ret;
		__asm__ volatile("syscall"
		                 : "=a"(ret)
		                 : "0"(SYS_arch_prctl), "D"(ARCH_SET_FS), "S"(child_fs_base)
		                 : "rcx", "r11", "memory");
		__asm__ volatile("syscall"
		                 : "=a"(ret)
		                 : "0"(SYS_arch_prctl), "D"(ARCH_SET_GS), "S"(child_gs_base)
		                 : "rcx", "r11", "memory");
		(void)ret;
		fsb = gsb = 0;
	}
	r->fs_base = fsb;
	r->gs_base = gsb;
	r->bases = child_fsgsbase; /* compared only when read */
}

static void on_signal(int sig, siginfo_t *si, void *ucv)
{
	struct dt_result *r = child_result;
	take_segments(r);
	(void)sig;
	(void)si;
	const ucontext_t *uc = ucv;
	const greg_t *g = uc->uc_mcontext.gregs;
	/* CS, SS in the frame (SS when UC_SIGCONTEXT_SS, 0x2, is set) */
	r->sel[DT_CS] = (uint16_t)g[REG_CSGSFS];
	r->sel[DT_SS] = (uc->uc_flags & 0x2) ? (uint16_t)((uint64_t)g[REG_CSGSFS] >> 48) : 0x2b;
	static const int order[16] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP,
	                              REG_RSI, REG_RDI, REG_R8,  REG_R9,  REG_R10, REG_R11,
	                              REG_R12, REG_R13, REG_R14, REG_R15};
	for (int k = 0; k < 16; k++)
		r->out.gpr[k] = (uint64_t)g[order[k]];
	r->out.rip = (uint64_t)g[REG_RIP];
	r->out.rflags = (uint64_t)g[REG_EFL];
	r->vector = (int)g[REG_TRAPNO];
	r->error = (uint64_t)g[REG_ERR];
	r->cr2 = (uint64_t)g[REG_CR2];
	if (uc->uc_mcontext.fpregs)
		memcpy(r->fx, uc->uc_mcontext.fpregs, DT_FX_SIZE);
	else
		r->no_fx = true;
	memcpy(r->data, (const void *)DT_DATA_VA, DT_DATA_SIZE);
	siglongjmp(child_env, 1);
}

static void *map_fixed(uint64_t va, size_t len, int prot)
{
	void *p =
	    mmap((void *)va, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED || p != (void *)va) {
		perror("difftest: mmap at a fixed address");
		_exit(2);
	}
	return p;
}

/* Separate so that nothing live in the caller's loop spans the longjmp. */
static __attribute__((noinline)) void run_one(struct dt_result *r, bool m32)
{
	child_result = r;
	/* 64-bit Linux runs with null DS/ES, which compatibility mode would
	 * fault on: give them the flat user data selector, as a 32-bit
	 * process has (64-bit mode ignores them). */
	__asm__ volatile("movl %0, %%ds\n\tmovl %0, %%es" : : "r"(0x2b));
	if (sigsetjmp(child_env, 1) == 0) {
		if (m32)
			dt_native_enter32();
		else
			dt_native_enter();
	}
}

static void child_main(const struct dt_case *cases, struct dt_result *results, unsigned from,
                       unsigned n, volatile unsigned *progress)
{
	child_fs_base = get_base(ARCH_GET_FS);
	child_gs_base = get_base(ARCH_GET_GS);
	child_fsgsbase = getauxval(AT_HWCAP2) & 2; /* HWCAP2_FSGSBASE */
	static uint8_t altstack[65536];
	stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
	sigaltstack(&ss, NULL);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP};
	for (unsigned k = 0; k < sizeof sigs / sizeof sigs[0]; k++)
		sigaction(sigs[k], &sa, NULL);

	uint8_t *code = map_fixed(DT_CODE_VA, 4096, PROT_READ | PROT_WRITE);
	uint8_t *data = map_fixed(DT_DATA_VA, DT_DATA_SIZE + 4096, PROT_READ | PROT_WRITE);
	struct dt_regs *state = map_fixed(DT_STATE_VA, 4096, PROT_READ | PROT_WRITE);
	/* The read-only page: filled, then protected, so that it is present
	 * (a write fault then reports P=1, as the soft side's mapping does). */
	for (unsigned k = 0; k < 4096; k++)
		data[DT_DATA_SIZE + k] = (uint8_t)(k * 7 + 3);
	mprotect(data + DT_DATA_SIZE, 4096, PROT_READ);

	/* A batch takes well under a second; a case that never ends (it cannot
	 * loop by construction, but a bug might) must not hang the tester. */
	alarm(60);
	for (unsigned k = from; k < n; k++) {
		*progress = k;
		const struct dt_case *c = &cases[k];
		mprotect(code, 4096, PROT_READ | PROT_WRITE);
		memset(code, 0xcc, 4096);
		memcpy(code, c->code, c->code_len);
		mprotect(code, 4096, PROT_READ | PROT_EXEC);
		memcpy(data, c->data, DT_DATA_SIZE);
		*state = c->in;
		memcpy((uint8_t *)state + (DT_FX_VA - DT_STATE_VA), c->fx, DT_FX_SIZE);
		uint8_t *far = (uint8_t *)state + 0x90;
		uint32_t eip = (uint32_t)c->in.rip;
		uint16_t sel = 0x23; /* __USER32_CS */
		memcpy(far, &eip, 4);
		memcpy(far + 4, &sel, 2);
		run_one(&results[k], c->m32);
	}
	*progress = n;
	_exit(0);
}

int dt_native_run(const struct dt_case *cases, struct dt_result *results, unsigned n)
{
	unsigned from = 0;
	volatile unsigned *progress =
	    mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (progress == MAP_FAILED)
		return -1;
	while (from < n) {
		fflush(stdout);
		pid_t pid = fork();
		if (pid < 0) {
			perror("difftest: fork");
			return -1;
		}
		if (pid == 0)
			child_main(cases, results, from, n, progress);
		int status;
		waitpid(pid, &status, 0);
		if (*progress >= n && WIFEXITED(status) && WEXITSTATUS(status) == 0)
			break;
		/* The child died inside case *progress: report it and go on. */
		unsigned bad = *progress;
		if (bad >= n)
			break;
		memset(&results[bad], 0, sizeof results[bad]);
		results[bad].vector = -2;
		from = bad + 1;
	}
	munmap((void *)progress, 4096);
	return 0;
}
