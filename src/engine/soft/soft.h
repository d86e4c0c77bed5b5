/* The soft engine's CPU: an x86-64 interpreter with a software MMU.
 *
 * One struct soft_cpu is one vCPU. Its architectural state is the shared
 * struct cpu_state (so a machine can snapshot it or move it to another
 * engine); everything else here is a cache or interpreter bookkeeping:
 * lazily evaluated arithmetic flags, a soft TLB tagged by PCID, a decoded-
 * instruction cache keyed by guest-physical address, and the exception the
 * last instruction raised.
 *
 * Only the thread that runs a soft_cpu touches it: nothing here takes a lock.
 * Guest memory is reached only through mem_ptr() (RAM) or the bus (MMIO). */
#ifndef RINGFOLD_ENGINE_SOFT_SOFT_H
#define RINGFOLD_ENGINE_SOFT_SOFT_H

#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "engine/engine.h"
#include "mem.h"

#define SOFT_TLB_SIZE 1024    /* direct-mapped, power of two */
#define SOFT_ICACHE_SIZE 2048 /* direct-mapped, power of two */
#define SOFT_MAX_INSN_LEN 15
/* Guest TSC rate, which CPUID leaves 0x15 and 0x16 state (so Linux takes it
 * from there instead of calibrating): 3 GHz, from a 25 MHz crystal. */
#define SOFT_GUEST_TSC_HZ 3000000000ULL
#define SOFT_CRYSTAL_HZ 25000000u

enum soft_exit {
	SOFT_EXIT_LIMIT,     /* executed max_insns instructions */
	SOFT_EXIT_HLT,       /* HLT at CPL0: wait for an interrupt */
	SOFT_EXIT_EXCEPTION, /* report mode: an exception is in soft_cpu.exc (RIP at the
	                      * faulting instruction, past it for INT3/INT n) */
	SOFT_EXIT_SHUTDOWN,  /* triple fault */
};

/* Exception vectors the interpreter raises. */
enum {
	SOFT_DE = 0,
	SOFT_DB = 1,
	SOFT_BP = 3,
	SOFT_OF = 4,
	SOFT_BR = 5,
	SOFT_UD = 6,
	SOFT_NM = 7,
	SOFT_DF = 8,
	SOFT_TS = 10,
	SOFT_NP = 11,
	SOFT_SS = 12,
	SOFT_GP = 13,
	SOFT_PF = 14,
	SOFT_MF = 16,
	SOFT_AC = 17,
	SOFT_XM = 19,
};

/* #PF error code bits. */
#define SOFT_PFEC_P (1u << 0)
#define SOFT_PFEC_W (1u << 1)
#define SOFT_PFEC_U (1u << 2)
#define SOFT_PFEC_RSVD (1u << 3)
#define SOFT_PFEC_I (1u << 4)

struct soft_exception {
	bool valid;
	uint8_t vector;
	bool has_error;
	uint32_t error;
	uint64_t cr2;     /* faulting linear address, for #PF */
	bool software;    /* INT n, INT3: a trap whose gate DPL is checked... */
	uint8_t insn_len; /* ...returning past the instruction, insn_len long */
	bool external;    /* an external interrupt (soft_cpu_inject_interrupt()) */
	bool int1;        /* INT1 (ICEBP): software-like, but no gate-DPL check */
};

/* One soft-TLB entry: a 4 KiB linear page (large pages are entered per 4 KiB
 * piece). perm holds the combined rights of every level of the walk. */
struct soft_tlb_entry {
	uint64_t vpn;  /* linear address >> 12; SOFT_TLB_EMPTY when unused */
	uint64_t gpa;  /* physical address of the 4 KiB frame */
	uint8_t *host; /* host address of the frame, NULL when not RAM (MMIO) */
	uint16_t pcid;
	uint8_t perm; /* SOFT_TLB_* */
	/* The fast path: bit (1 << access) set when a read, write or fetch
	 * needs no walk, valid while the privilege context equals ctx. */
	uint8_t ok, ctx;
};
#define SOFT_TLB_EMPTY (~0ULL)
#define SOFT_TLB_W 0x01     /* writable at every level */
#define SOFT_TLB_U 0x02     /* user-accessible at every level */
#define SOFT_TLB_NX 0x04    /* not executable at some level */
#define SOFT_TLB_DIRTY 0x08 /* the leaf's D bit is already set */
#define SOFT_TLB_G 0x10     /* global page */

/* A decoded instruction. Everything the executor needs, so a cached entry
 * is executed without looking at the bytes again. */
struct soft_insn {
	int64_t disp;
	uint64_t imm;  /* first immediate, sign-extended per its encoding */
	uint16_t imm2; /* ENTER's second immediate (byte) */
	uint16_t op;   /* map << 8 | opcode; map 0 one-byte, 1 0F, 2 0F38, 3 0F3A */
	uint8_t len;
	uint8_t pfx; /* SOFT_PFX_* */
	uint8_t seg; /* segment of the memory operand (override or default) */
	uint8_t rex; /* the REX byte, 0 if none */
	uint8_t modrm;
	uint8_t osize;       /* effective operand size in bytes: 2, 4 or 8 */
	uint8_t asize;       /* effective address size in bytes: 2, 4 or 8 */
	uint8_t reg;         /* ModRM.reg with REX.R, or the register of +r opcodes */
	uint8_t rm;          /* ModRM.rm with REX.B for register operands */
	uint8_t mem;         /* 1 when the r/m operand is memory */
	uint8_t base, index; /* SOFT_NOREG when absent, SOFT_RIPREL for RIP-relative */
	uint8_t scale;       /* log2 of the index scale */
	uint8_t has_modrm;
};
#define SOFT_NOREG 0xff
#define SOFT_RIPREL 0xfe
#define SOFT_PFX_LOCK 0x01
#define SOFT_PFX_REP 0x02   /* F3 */
#define SOFT_PFX_REPNE 0x04 /* F2 */
#define SOFT_PFX_OPSIZE 0x08
#define SOFT_PFX_ADSIZE 0x10
#define SOFT_PFX_SEG 0x20 /* an explicit segment override */

/* Decode modes: the default operand/address size of the code segment. */
enum soft_mode { SOFT_MODE_16, SOFT_MODE_32, SOFT_MODE_64 };

/* Decode one instruction from bytes[0..avail). Returns the length (> 0), 0 if
 * more bytes are needed than avail (and avail < 15), or -1 for an encoding
 * that must raise #UD (or #GP when longer than 15 bytes: -2). Never reads
 * past avail. */
int soft_decode(const uint8_t *bytes, unsigned avail, enum soft_mode mode, struct soft_insn *out);

struct soft_icache_entry {
	uint64_t key; /* guest-physical address | mode << 62, ~0 when empty */
	uint8_t bytes[SOFT_MAX_INSN_LEN];
	struct soft_insn insn;
};

/* Lazily evaluated flags: the last flag-setting arithmetic op and its
 * operands; CF/PF/AF/ZF/SF/OF are computed only when something reads them. */
struct soft_lazy_flags {
	uint64_t res, a, b;
	uint8_t op;   /* SOFT_LF_*; SOFT_LF_NONE: rflags holds the flags */
	uint8_t size; /* operand size in bytes */
	uint8_t cin;  /* carry in (ADC/SBB) or the preserved CF (INC/DEC) */
};

/* What the machine glue (engine_soft.c) plugs into a CPU: the per-vCPU local
 * APIC and the guest clock. Each hook is consulted before the bus or the
 * built-in MSRs; a NULL table or NULL member means "none" (unit tests, the
 * differential tester). None of them is on the RAM fast path. */
#define SOFT_HOOK_PASS 1
struct soft_cpu_hooks {
	/* MMIO to gpa that is not RAM: true when the hook handled it. */
	bool (*mmio_read)(void *opaque, uint64_t gpa, unsigned size, uint64_t *value);
	bool (*mmio_write)(void *opaque, uint64_t gpa, unsigned size, uint64_t value);
	/* RDMSR/WRMSR: 0 done, -1 raise #GP(0), SOFT_HOOK_PASS use the built-in MSRs. */
	int (*msr_read)(void *opaque, uint32_t msr, uint64_t *value);
	int (*msr_write)(void *opaque, uint32_t msr, uint64_t value);
	/* MOV from/to CR8 (the LAPIC's TPR); the write is already range-checked. */
	uint64_t (*cr8_read)(void *opaque);
	void (*cr8_write)(void *opaque, uint64_t value);
	/* The time base of RDTSC, RDTSCP and the TSC MSR, to which state.tsc is
	 * added as an offset; NULL: retired instructions. */
	uint64_t (*tsc_now)(void *opaque);
};

struct soft_cpu {
	struct cpu_state state; /* architectural state; rflags is exact after soft_cpu_run() */
	struct guest_mem *mem;
	struct bus *bus;

	/* Report exceptions to the caller (SOFT_EXIT_EXCEPTION) instead of
	 * delivering them through the IDT: for the differential tester. */
	bool report_exceptions;
	struct soft_exception exc;

	/* Derived from state at the start of soft_cpu_run() and on mode changes. */
	enum soft_mode mode;
	unsigned cpl;
	uint16_t cur_pcid;
	uint8_t tlb_ctx; /* CPL3, WP, SMEP, SMAP, AC, NXE: what soft_tlb_entry.ok depends on */

	struct soft_lazy_flags lf;
	uint64_t icount;    /* retired instructions, the time base of RDTSC */
	uint32_t apic_id;   /* reported by CPUID; the glue sets it per vCPU */
	uint8_t int_shadow; /* instructions left during which STI blocks interrupts */
	bool exc_external;  /* delivery in progress is of an external interrupt */

	/* Debugging (debug.c), derived from DR7 and RFLAGS by
	 * soft_cpu_refresh_mode(). While dbg_armed is false the run loop takes
	 * its fast path and none of this costs anything. */
	bool dbg_armed;       /* TF, RF or an enabled breakpoint: step with checks */
	uint8_t dbg_exec;     /* enabled instruction breakpoints, bit n for DRn */
	uint8_t dbg_data;     /* enabled data breakpoints */
	uint8_t dbg_hits;     /* data breakpoints the current instruction hit */
	uint64_t dbg_seen[5]; /* DR0-3 and DR7 the TLB's fast rights were computed for */

	const struct soft_cpu_hooks *hooks;
	void *hooks_opaque;
	/* Set from any thread by soft_cpu_request_stop(): soft_cpu_run() returns
	 * SOFT_EXIT_LIMIT at the next instruction boundary. */
	bool stop_request;

	/* Statistics. */
	uint64_t tlb_misses, icache_misses, unimpl_total;
	uint32_t unimpl_count[4 * 256]; /* per opcode of each map */

	struct soft_tlb_entry tlb[SOFT_TLB_SIZE];
	struct soft_icache_entry icache[SOFT_ICACHE_SIZE];
};

/* Attach memory and bus and reset the CPU (cpu_state_reset()). 0 on success. */
int soft_cpu_init(struct soft_cpu *cpu, struct guest_mem *mem, struct bus *bus);

/* Execute up to max_insns instructions. State changes made by the caller
 * between runs (registers, CR3, ...) are picked up on entry; the caller must
 * call soft_cpu_flush_tlb() after changing page tables or paging controls
 * behind the CPU's back, exactly as a guest would need INVLPG. */
enum soft_exit soft_cpu_run(struct soft_cpu *cpu, uint64_t max_insns);

/* End the current (or next) soft_cpu_run() at an instruction boundary: an
 * interrupt became pending, or the machine is stopping. Any thread. */
static inline void soft_cpu_request_stop(struct soft_cpu *cpu)
{
	__atomic_store_n(&cpu->stop_request, true, __ATOMIC_RELEASE);
}
static inline void soft_cpu_clear_stop(struct soft_cpu *cpu)
{
	__atomic_store_n(&cpu->stop_request, false, __ATOMIC_RELEASE);
}

/* The guest TSC now: the hook's time base (or retired instructions) plus
 * state.tsc. */
static inline uint64_t soft_cpu_tsc(const struct soft_cpu *cpu)
{
	if (cpu->hooks && cpu->hooks->tsc_now)
		return cpu->hooks->tsc_now(cpu->hooks_opaque) + cpu->state.tsc;
	return cpu->state.tsc + cpu->icount;
}

/* External interrupts, for the interrupt controller glue: between runs, if
 * the window is open (RFLAGS.IF set, no STI shadow), deliver vector as an
 * external interrupt. 0, or -1 when delivery itself failed (shutdown). A
 * vCPU stopped by HLT is woken by delivering to it. */
bool soft_cpu_interrupt_window(const struct soft_cpu *cpu);
int soft_cpu_inject_interrupt(struct soft_cpu *cpu, unsigned vector);

/* Invalidate every TLB entry (including global ones) and the decode cache. */
void soft_cpu_flush_tlb(struct soft_cpu *cpu);

/* Fixed CPUID model (documented in docs/soft-engine.md). */
void soft_cpuid(const struct soft_cpu *cpu, uint32_t leaf, uint32_t subleaf, uint32_t out[4]);

/* --- software MMU (mmu.c) --- */

enum soft_access {
	SOFT_ACC_READ = 0,
	SOFT_ACC_WRITE = 1,
	SOFT_ACC_EXEC = 2,
	SOFT_ACC_SUPER = 4, /* implicit supervisor access (descriptor tables) */
};

/* Translate a linear address, filling the TLB on a miss and setting accessed
 * and dirty bits. Returns the TLB entry, or NULL after raising #PF in
 * cpu->exc (and leaving everything else untouched). */
const struct soft_tlb_entry *soft_mmu_translate(struct soft_cpu *cpu, uint64_t la, unsigned access);
void soft_tlb_flush_all(struct soft_cpu *cpu);
/* Drop the non-global entries of one PCID (a CR3 load). */
void soft_tlb_flush_pcid(struct soft_cpu *cpu, uint16_t pcid);
/* INVLPG: drop any entry for this linear page, global or not, any PCID. */
void soft_tlb_flush_page(struct soft_cpu *cpu, uint64_t la);
/* Drop every non-global entry, of every PCID (INVPCID type 3). */
void soft_tlb_flush_nonglobal(struct soft_cpu *cpu);
/* Recompute tlb_ctx after CPL, CR0.WP, CR4.SMEP/SMAP, EFER.NXE or RFLAGS.AC
 * changed (soft_cpu_run() does it on entry). */
void soft_mmu_refresh_ctx(struct soft_cpu *cpu);

#endif
