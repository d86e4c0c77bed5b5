/* Declarations shared by the test kernel's files. */
#ifndef GUEST_KERNEL_H
#define GUEST_KERNEL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Segment selectors; the layout follows what SYSCALL/SYSRET expect
 * (STAR[47:32] = 0x08, STAR[63:48] = 0x18). */
#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define SEL_UCODE32 0x18
#define SEL_UDATA 0x20
#define SEL_UCODE 0x28
#define SEL_KCODE32 0x30
#define SEL_TSS 0x38
#define GDT_ENTRIES 9

/* Interrupt vectors. */
#define VEC_PIC_BASE 0x20
#define VEC_LAPIC_TIMER 0x40
#define VEC_SPURIOUS 0xff

#define AP_TRAMPOLINE 0x8000
#define MAX_CPUS 32

#define LAPIC_BASE 0xfee00000ul
#define IOAPIC_BASE 0xfec00000ul

/* ---- console (serial.c) ---- */
void serial_init(void);
void serial_putc(char c);
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int ksnprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- small libc replacements (lib.c) ---- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);

/* ---- time (main.c) ---- */
extern uint64_t tsc_khz; /* TSC frequency, or an upper-bound guess */
uint64_t deadline_ms(uint64_t ms);
bool expired(uint64_t deadline);
void delay_us(uint64_t us);

/* ---- checks (main.c) ---- */
void check_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void check_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void check_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool check_failed(void);
void finish(bool failed_extra) __attribute__((noreturn));

struct check {
	const char *name;
	void (*fn)(void);
};

/* ---- multiboot information copied at entry (main.c) ---- */
struct mmap_entry {
	uint64_t addr, len;
	uint32_t type;
};
#define MAX_MMAP 32
struct boot_info {
	uint32_t magic, flags;
	uint32_t info_addr;
	bool has_cmdline, has_mmap;
	char cmdline[256];
	int nmmap;
	struct mmap_entry mmap[MAX_MMAP];
};
extern struct boot_info boot_info;

/* ---- descriptors (desc.c) ---- */
struct __attribute__((packed)) tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
};
struct __attribute__((packed)) desc_ptr {
	uint16_t limit;
	uint64_t base;
};
struct idt_gate {
	uint16_t off_lo, sel;
	uint8_t ist, attr;
	uint16_t off_mid;
	uint32_t off_hi, reserved;
};
extern uint64_t gdt[GDT_ENTRIES];
extern struct idt_gate idt[256];
extern struct tss64 tss;
extern struct desc_ptr idt_ptr;
extern uint8_t ist1_stack[8192];
void desc_init(void);
void idt_load(void);

/* ---- traps (trap.c, isr.S) ---- */
struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error, rip, cs, rflags, rsp, ss;
};
struct fault {
	uint64_t vector, error, rip, cr2;
	struct trap_frame frame; /* a copy, including the interrupted registers */
	uint64_t frame_addr;     /* where the CPU put the frame (to see which stack) */
};
/* A hook returns true when it handled the event; the frame may be edited. */
typedef bool (*trap_hook)(struct trap_frame *f, uint64_t cr2);
extern trap_hook trap_hooks[256];
extern struct fault last_fault;
extern volatile uint64_t stray_interrupts;

/* Calls fn(a0..a4). Returns 0 when fn returned, 1 when an exception or a
 * CPL3 exit ended it; last_fault says which. */
int fault_try(void *fn, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4);
extern uint64_t try_result; /* what fn returned, when it did */
void trap_dispatch(struct trap_frame *f);
void unexpected_exception(const struct trap_frame *f, uint64_t cr2) __attribute__((noreturn));
/* Runs CPL3 code at rip with rdi/rsi/rdx = a0/a1/a2 on the user stack,
 * through fault_try: returns 1 with last_fault set when the code ended. */
int run_user(void *rip, uint64_t a0, uint64_t a1, uint64_t a2);
/* CPL3 code ends by jumping to user_exit_insn, a ud2: an exception rather
 * than a software interrupt because not every hypervisor emulates INT n
 * from CPL3 (kvm_pvm raises #UD for it). True when that is how it ended. */
bool user_exited(int rc);
/* A describe-the-fault helper for failure messages. */
const char *fault_str(void);
/* Fails the check unless last_fault matches; returns true when it did. */
bool expect_fault(int rc, uint64_t vector, uint64_t error, uint64_t rip, const char *what);

/* isr.S */
extern char isr_stubs[];
extern char fault_try_recover[];
void enter_user(uint64_t rip, uint64_t rsp, uint64_t a0, uint64_t a1, uint64_t a2);
void syscall_entry(void);
extern char syscall_sysret_insn[];
extern volatile uint64_t sc_rcx, sc_r11, sc_rflags, sc_count;
extern volatile uint16_t sc_cs;

/* probes.S: instructions that fault on purpose, and CPL3 snippets. */
void probe_div0(void);
extern char probe_div0_insn[];
void probe_ud(void);
extern char probe_ud_insn[];
uint64_t probe_read(uint64_t addr);
extern char probe_read_insn[];
void probe_write(uint64_t addr, uint64_t value);
extern char probe_write_insn[];
void probe_load_ds(uint64_t sel);
extern char probe_load_ds_insn[];
void probe_call(uint64_t addr);
extern char user_exit_insn[];
void user_exit_cs(void);
void user_int3(void);
extern char user_int3_after[];
void user_read(void);
extern char user_read_insn[];
void user_syscall_test(void);
extern char user_syscall_ret[];
void user_bench_syscall(void);
void user_bench_pgfault(void);
void bench_callret_loop(uint64_t n);
void bench_divzero_loop(uint64_t n);
extern char bench_divzero_insn[];

/* Memory accesses that report a fault instead of ending the run. */
static inline bool try_read(uint64_t addr, uint64_t *value)
{
	if (fault_try((void *)probe_read, addr, 0, 0, 0, 0))
		return false;
	*value = try_result;
	return true;
}
static inline bool try_write(uint64_t addr, uint64_t value)
{
	return !fault_try((void *)probe_write, addr, value, 0, 0, 0);
}

/* ---- paging (paging.c) ---- */
#define PTE_P (1ul << 0)
#define PTE_W (1ul << 1)
#define PTE_U (1ul << 2)
#define PTE_PWT (1ul << 3)
#define PTE_PCD (1ul << 4)
#define PTE_PS (1ul << 7)
#define PTE_NX (1ul << 63)
/* The test area: PML4 slot 1, virtual 512 GiB up, never used by the rest
 * of the kernel. 4 KiB slots from TA_BASE, a 2 MiB page at TA_2M, a 1 GiB
 * page at TA_1G. */
#define TA_BASE 0x8000000000ul
#define TA_SLOTS 512
#define TA_VA(i) (TA_BASE + (uint64_t)(i)*4096)
#define TA_2M (TA_BASE + 0x200000ul)
#define TA_1G (TA_BASE + 0x40000000ul)
#define SCRATCH_PAGES 8
extern uint8_t scratch[SCRATCH_PAGES][4096];
extern bool nx_supported; /* set by the entry code when it enabled EFER.NXE */
void paging_init(void);
uint64_t *ta_pte(int slot);
void ta_map(int slot, uint64_t phys, uint64_t flags);
void ta_unmap(int slot);
void ta_map_2m(uint64_t phys, uint64_t flags); /* flags 0 unmaps */
void ta_map_1g(uint64_t phys, uint64_t flags);
extern uint8_t user_stack[16384]; /* CPL3 code runs on this */
#define user_stack_top (user_stack + sizeof(user_stack))

/* ---- platform (platform.c) ---- */
void pic_init(void);
void pic_set_mask(uint16_t mask);
void pic_eoi(int irq);
uint32_t lapic_read(uint32_t reg);
void lapic_write(uint32_t reg, uint32_t v);
void lapic_init(void);
uint32_t lapic_id(void);

/* ---- ACPI (acpi.c) ---- */
struct acpi_info {
	uint64_t rsdp, sdt, madt;
	int revision;
	int ncpus;
	uint32_t apic_ids[MAX_CPUS];
	int listed; /* processor entries seen, including ones past MAX_CPUS */
};
/* Finds and validates the tables; on failure returns false with msg set. */
bool acpi_scan(struct acpi_info *out, char *msg, size_t msgsz);

/* ---- the checks ---- */
void check_long_mode(void);
void check_multiboot(void);
void check_descriptors(void);
void check_exc_de(void);
void check_exc_ud(void);
void check_exc_bp(void);
void check_exc_gp_noncanonical(void);
void check_exc_gp_selector(void);
void check_exc_pf(void);
void check_exc_df(void);
void check_paging_4k(void);
void check_paging_2m(void);
void check_paging_1g(void);
void check_nx(void);
void check_user_supervisor(void);
void check_cr0_wp(void);
void check_cpl3_iretq(void);
void check_syscall(void);
void check_swapgs(void);
void check_fs_gs_base(void);
void check_fsgsbase_insn(void);
void check_cpuid(void);
void check_msr_apic_base(void);
void check_msr_roundtrip(void);
void check_msr_gp(void);
void check_tsc(void);
void check_pit(void);
void check_lapic_timer(void);
void check_rtc_irq(void);
void check_ioapic(void);
void check_uart(void);
void check_acpi(void);
void check_hpet(void);
void check_smp(void);
void check_virtio_blk(void);
void check_virtio_rng(void);

void run_benchmarks(int *passed, int *failed);

/* smp.c */
void ap_main(void) __attribute__((noreturn));
extern uint64_t ap_boot_stack;
extern char ap_trampoline_start[], ap_trampoline_end[];
extern char ap_tramp_gdtr[], ap_tramp_cr3[], ap_tramp_efer[];

#endif
