/* The engine interface and the one architectural CPU state both engines share.
 *
 * A boot loader produces the bootstrap processor's initial cpu_state; an
 * engine runs every vCPU of a vm until the machine ends (power-off, debug
 * exit, reset, fatal error) and reports that through vm_request_exit(). */
#ifndef RINGFOLD_ENGINE_ENGINE_H
#define RINGFOLD_ENGINE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;

/* GPR_ rather than REG_: <signal.h> defines REG_RAX... under _GNU_SOURCE. */
enum cpu_reg {
	GPR_RAX,
	GPR_RCX,
	GPR_RDX,
	GPR_RBX,
	GPR_RSP,
	GPR_RBP,
	GPR_RSI,
	GPR_RDI,
	GPR_R8,
	GPR_R9,
	GPR_R10,
	GPR_R11,
	GPR_R12,
	GPR_R13,
	GPR_R14,
	GPR_R15,
};

enum cpu_seg { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_LDTR, SEG_TR, SEG_COUNT };

/* A segment register with its hidden (descriptor cache) part, unpacked. */
struct cpu_segment {
	uint64_t base;
	uint32_t limit; /* byte granular: already scaled when G=1 */
	uint16_t selector;
	uint8_t type; /* descriptor type field (4 bits) */
	uint8_t s, dpl, present, avl, l, db, g;
	uint8_t unusable;
};

struct cpu_dtable {
	uint64_t base;
	uint16_t limit;
};

/* An x87 data register as it sits in memory (FSAVE/FXSAVE): a 64-bit
 * significand with an explicit integer bit, then sign and 15-bit exponent.
 * MMX register i is the significand of physical register i. */
struct cpu_x87_reg {
	uint64_t significand;
	uint16_t sign_exp;
};

/* The floating-point and vector state: x87, MMX, SSE. The layout follows
 * what FXSAVE stores (and KVM's struct kvm_fpu), so an engine or a snapshot
 * moves it without translation. */
struct cpu_fpu {
	struct cpu_x87_reg st[8]; /* physical registers R0..R7: ST(i) is R[(TOP + i) & 7] */
	uint16_t fcw;
	uint16_t fsw; /* TOP is bits 11..13 */
	uint8_t ftw;  /* abridged tag word: bit i set when R[i] is not empty */
	uint16_t fop; /* last non-control instruction's opcode (11 bits) */
	uint64_t fip, fdp;
	uint16_t fcs, fds;
	uint32_t mxcsr;
	uint64_t xmm[16][2]; /* little-endian halves: xmm[n][0] holds bits 0..63 */
	uint64_t xcr0;
};

struct cpu_state {
	uint64_t gpr[16];
	uint64_t rip, rflags;
	struct cpu_segment seg[SEG_COUNT];
	struct cpu_dtable gdt, idt;
	uint64_t cr0, cr2, cr3, cr4, cr8;
	uint64_t efer;
	uint64_t dr[8];
	/* MSRs that hold architectural state beyond the registers above. */
	uint64_t star, lstar, cstar, sfmask, kernel_gs_base;
	uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
	uint64_t pat, apic_base, tsc;
	uint64_t tsc_aux; /* IA32_TSC_AUX: what RDTSCP returns in ECX (Linux: the CPU number) */
	struct cpu_fpu fpu;
};

/* The reset state of an x86 CPU (real mode at F000:FFF0), as after INIT. */
void cpu_state_reset(struct cpu_state *s);
/* Flat code/data segments for boot loaders. */
struct cpu_segment cpu_segment_flat(uint16_t selector, bool code, bool long_mode);
/* A register dump for triple faults and internal errors, one line per group. */
void cpu_state_dump(const struct cpu_state *s, int cpu_index);

struct engine_ops {
	const char *name;
	/* Can this engine run here? If not, why (one line, for the user). */
	bool (*usable)(char *why, size_t why_len);
	/* Create the vCPUs, run them until vm_request_exit(), tear down. Returns
	 * 0, or -1 after logging when the engine itself could not start. */
	int (*run)(struct vm *vm);
	/* Make every vCPU return to the VMM soon (another thread requested exit). */
	void (*kick)(struct vm *vm);
	/* Raise or lower an interrupt line (GSI) of the machine. */
	void (*set_irq)(struct vm *vm, unsigned gsi, int level);
	/* Deliver a message-signalled interrupt (the address/data pair a PCI
	 * device writes; the address is in the 0xFEExxxxx window). */
	void (*signal_msi)(struct vm *vm, uint64_t address, uint32_t data);

	/* Optional fast paths for devices served by I/O threads (NULL when the
	 * engine has none; every one also fails while the engine is not
	 * running, so callers keep their slow path: the bus and signal_msi).
	 * Callable from any thread. */
	/* Guest writes of `len` bytes (0: any length) to MMIO address gpa
	 * signal eventfd fd instead of reaching the bus (assign), or stop
	 * doing so (!assign). 0 or -1. */
	int (*ioeventfd)(struct vm *vm, uint64_t gpa, unsigned len, int fd, bool assign);
	/* Writing eventfd fd delivers the MSI (address, data) without a
	 * system call into the engine's vCPU loop. Returns a route id >= 0 (or
	 * -1); update changes the message of a route; remove ends it. */
	int (*irqfd_add)(struct vm *vm, int fd, uint64_t address, uint32_t data);
	int (*irqfd_update)(struct vm *vm, int route, uint64_t address, uint32_t data);
	void (*irqfd_remove)(struct vm *vm, int route);
};

extern const struct engine_ops kvm_engine_ops;
/* Wall time per guest ring-0 instruction on /dev/kvm, from a short probe;
 * -1 if it could not be measured. Tells hardware from an emulating kvm. */
int kvm_probe_kernel_speed(double *ns_per_insn);
/* Above this, /dev/kvm emulates guest kernel code (hardware: a few ns). */
#define KVM_SLOW_NS_PER_INSN 50.0
extern const struct engine_ops soft_engine_ops;

#endif
