/* Shared by modes.S and checks_modes.c / checks_debug.c: the private GDT's
 * extra selectors, the low-memory area of the real-mode excursion, and
 * the layouts the assembly writes its results into. */
#ifndef GUEST_MODES_H
#define GUEST_MODES_H

#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define SEL_KCODE32 0x30

/* Selectors past the kernel's own GDT (which ends with the TSS at 0x38). */
#define XSEL_CODE16 0x48    /* 16-bit code, base 0, limit 0xffff (the real-mode trip) */
#define XSEL_DATA16 0x50    /* 16-bit data, base 0, limit 0xffff */
#define XSEL_PM16 0x58      /* 16-bit code based at pm16_start */
#define XSEL_PM16_DATA 0x60 /* 16-bit data based at the scratch page */
#define XSEL_DATA_LIM 0x68  /* 32-bit data, the scratch page, limit 0xfff */
#define XSEL_DATA_DOWN 0x70 /* 32-bit expand-down data, limit 0xfff */
#define XSEL_CODE_LIM 0x78  /* 32-bit code based at seglim_code, limit SEGLIM_CODE_LIMIT */
#define XSEL_GATE 0x80      /* 64-bit call gate, DPL3, to gate_target (16 bytes) */
#define XGDT_ENTRIES 18

#define SEGLIM_CODE_LIMIT 0x0f

/* Low memory the real-mode trip uses (free after boot; the AP trampoline
 * is at 0x8000): the code blob and its stack at REAL_BASE, a private IVT. */
#define REAL_BASE 0x6000
#define REAL_IVT 0x5000

#define TOUR_PAGING32 1
#define TOUR_REAL 2
#define TOUR_ALIAS_VA 0xc0000000 /* 32-bit paging: a 4 KiB alias of the scratch page */

/* struct tour_result */
#define TOUR_EFER 0
#define TOUR_CR0 4
#define TOUR_SUM 8
#define TOUR_PD 12
#define TOUR_CR0_PG 16
#define TOUR_ALIAS_READ 20

/* struct gate_seen */
#define GATE_CS 0
#define GATE_SS 2
#define GATE_RSP 8
#define GATE_FRAME 16

#ifndef __ASSEMBLER__
#include <stdint.h>

struct tour_result {
	uint32_t efer;       /* EFER in 32-bit protected mode */
	uint32_t cr0;        /* CR0 there */
	uint32_t sum;        /* 1 + ... + 1000 computed there */
	uint32_t pd;         /* physical address of the 32-bit page directory */
	uint32_t cr0_pg;     /* CR0 with 32-bit paging on */
	uint32_t alias_read; /* the scratch page's first dword, through the alias */
};
extern struct tour_result tour;

struct gate_seen {
	uint16_t cs, ss;
	uint32_t pad;
	uint64_t rsp;
	uint64_t frame[4]; /* RIP, CS, RSP, SS as the call gate pushed them */
};
extern struct gate_seen gate_seen;

void mode_tour(uint32_t flags);
uint64_t compat_call(uint32_t a, uint32_t b);
uint32_t compat_jump(uint32_t a);
uint64_t pm16_call(uint32_t a, uint32_t b);
extern char pm16_start[];
uint64_t seglim_call(void *fn, uint64_t sel, uint64_t off);
void seglim_read_ds(void);
extern char seglim_read_ds_insn[];
void seglim_push_ss(void);
extern char seglim_push_ss_insn[];
void seglim_jump_cs(void);
extern char seglim_code[], seglim_code_insn[];
extern char real_blob_start[], real_blob_end[];
extern uint16_t real_res_sum, real_res_bx, real_res_far_cs, real_res_cs, real_res_cr0;
extern uint16_t real_res_int_ip, real_res_int_cs, real_res_int_flags, real_after_int_off;

uint64_t kernel_spin(uint64_t iterations);
void user_spin(void);
void dbg_exec(void);
extern char dbg_exec_insn[];
void dbg_write(uint64_t addr, uint64_t value);
extern char dbg_write_after[];
uint64_t dbg_read(uint64_t addr);
extern char dbg_read_after[];
void dbg_step(void);
extern char dbg_step_1[], dbg_step_2[], dbg_step_3[];
void user_callgate(void);
extern char user_callgate_ret[];
void gate_target(void);

/* checks_modes.c: the kernel's GDT plus the entries above, loaded while a
 * check needs them. */
void xgdt_load(void);
void xgdt_unload(void);

/* The checks (checks_modes.c, checks_debug.c). */
void check_compat_mode(void);
void check_pm16(void);
void check_pm32(void);
void check_real_mode(void);
void check_call_gate(void);
void check_segment_limit(void);
void check_debug_regs(void);
#endif

#endif
