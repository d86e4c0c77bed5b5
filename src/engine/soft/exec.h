/* The executor's entry point, for the run loop (cpu.c). */
#ifndef RINGFOLD_ENGINE_SOFT_EXEC_H
#define RINGFOLD_ENGINE_SOFT_EXEC_H

#include "engine/soft/soft_internal.h"

/* SOFT_X_RECHECK: retired, and TF, RF or DR7 may now arm the debug checks
 * (POPF, IRET, system instructions): the run loop looks again. */
enum { SOFT_X_RETIRED = 0, SOFT_X_AGAIN = 1, SOFT_X_HLT = 2, SOFT_X_RECHECK = 3 };

/* Execute one decoded instruction at cpu->state.rip: SOFT_X_*, or -1 with the
 * exception in cpu->exc and the state as before the instruction. */
int soft_exec(struct soft_cpu *cpu, const struct soft_insn *insn);

/* cpu.c: recompute mode, CPL, PCID and the MMU context from the state. */
void soft_cpu_refresh_mode(struct soft_cpu *cpu);

/* event.c: deliver cpu->exc through the IDT (IVT in real mode): 0, or -1
 * for a triple fault or a case without delivery yet (shutdown). */
int soft_deliver(struct soft_cpu *cpu);
/* IRET: 0, or -1 with an exception raised. */
int soft_iret(struct soft_cpu *cpu, const struct soft_insn *insn);
/* A GDT/LDT descriptor by selector (ext: the EXT bit of error codes). */
int soft_load_descriptor(struct soft_cpu *cpu, uint16_t sel, uint32_t ext, struct cpu_segment *out);
/* The raw descriptor: 8 bytes, or 16 with hi (long-mode system descriptors);
 * vector(selector | ext) when it lies outside its table. */
int soft_read_descriptor(struct soft_cpu *cpu, uint16_t sel, unsigned vector, uint32_t ext,
                         uint64_t *lo, uint64_t *hi);
struct cpu_segment soft_unpack_descriptor(uint64_t d, uint16_t selector);

/* far.c: far JMP/CALL (code segments, call gates, TSS and task gates) and
 * RETF, with the SDM's privilege rules and stack switches. */
int soft_far_transfer(struct soft_cpu *cpu, const struct soft_insn *insn, uint16_t sel,
                      uint64_t off, bool call);
int soft_far_return(struct soft_cpu *cpu, const struct soft_insn *insn, uint64_t pop_extra);
/* After a return to an outer level (RETF, IRET): data segment registers
 * the new CPL may not use become null. */
void soft_null_outer_segments(struct soft_cpu *cpu, unsigned new_cpl);

/* task.c: a hardware task switch to the TSS named by sel (protected mode,
 * 32-bit TSSs). The old task's EIP is saved as ret_rip; an error code, when
 * has_error, is pushed on the new task's stack; ext is the EXT bit of the
 * error codes (an external event or exception caused the switch). 0, or -1
 * with an exception raised: in the old task when a check before the switch
 * fails, in the new one after it (loading its segments, its EIP). */
enum soft_task_reason { SOFT_TASK_JMP, SOFT_TASK_CALL, SOFT_TASK_IRET, SOFT_TASK_INT };
int soft_task_switch(struct soft_cpu *cpu, uint16_t sel, enum soft_task_reason why,
                     uint64_t ret_rip, bool has_error, uint32_t error, uint32_t ext);
/* IRET with NT set: back to the task in the current TSS's link field. */
int soft_task_return(struct soft_cpu *cpu, uint64_t ret_rip);

/* system.c: the accessed bit of a descriptor just loaded. */
void soft_set_accessed(struct soft_cpu *cpu, uint16_t sel, struct cpu_segment *d);
/* system.c: load a data or stack segment register (not CS) with the checks
 * of MOV Sreg / POP Sreg (real-mode and virtual-8086 loads too): 0, or -1
 * with #GP/#SS/#NP raised and the register unchanged. */
int soft_load_segment(struct soft_cpu *cpu, unsigned seg, uint16_t sel);

/* legacy.c: PUSHA/POPA, DAA/DAS/AAA/AAS/AAM/AAD, BOUND, ARPL, SALC and the
 * far-pointer loads LES/LDS/LSS/LFS/LGS. SOFT_X_*, or -1. */
int soft_exec_legacy(struct soft_cpu *cpu, const struct soft_insn *insn);

/* movbe_adx.c: MOVBE (0F 38 F0/F1; with F2 they are CRC32, passed on to
 * soft_exec_sse) and ADCX/ADOX (0F 38 F6). SOFT_X_*, or -1. */
int soft_exec_movbe_adx(struct soft_cpu *cpu, const struct soft_insn *insn);

/* system.c: system instructions (MOV CR/DR, descriptor tables, segment
 * loads, far branches, MSRs, SYSCALL/SYSRET, ...). SOFT_X_*, or -1. */
int soft_exec_system(struct soft_cpu *cpu, const struct soft_insn *insn);

/* x87.c: the x87 FPU (D8..DF, FWAIT) and the FXSAVE/FXRSTOR group of 0F AE. */
static inline bool soft_is_x87_op(const struct soft_insn *i)
{
	unsigned r = (i->modrm >> 3) & 7;
	return (i->op >= 0xd8 && i->op <= 0xdf) || i->op == 0x9b ||
	       (i->op == 0x1ae && i->mem && r <= 1 && !(i->pfx & (SOFT_PFX_REP | SOFT_PFX_REPNE)));
}
int soft_exec_x87(struct soft_cpu *cpu, const struct soft_insn *insn);

/* sse.c: MMX, SSE and later vector extensions: the vector rows of the 0F map,
 * LDMXCSR/STMXCSR, and the whole 0F 38 and 0F 3A maps. */
static inline bool soft_is_sse_op(const struct soft_insn *i)
{
	unsigned op = i->op, r = (i->modrm >> 3) & 7;
	if (op >= 0x200)
		return true;
	return (op >= 0x110 && op <= 0x117) || (op >= 0x128 && op <= 0x12f) ||
	       (op >= 0x150 && op <= 0x17f) || (op >= 0x1c2 && op <= 0x1c6) ||
	       (op >= 0x1d0 && op <= 0x1fe) ||
	       (op == 0x1ae && i->mem && (r == 2 || r == 3) &&
	        !(i->pfx & (SOFT_PFX_REP | SOFT_PFX_REPNE)));
}
int soft_exec_sse(struct soft_cpu *cpu, const struct soft_insn *insn);

/* Count and log (once per opcode) an encoding the engine does not implement,
 * and raise #UD for it. */
int soft_x_unimplemented(struct soft_cpu *cpu, const struct soft_insn *insn);

/* exec.c helpers shared with system.c */
uint64_t soft_x_next_rip(const struct soft_cpu *cpu, const struct soft_insn *insn);
uint64_t soft_x_ea(const struct soft_cpu *cpu, const struct soft_insn *insn);
int soft_x_rm_read(struct soft_cpu *cpu, const struct soft_insn *insn, unsigned size, uint64_t *v);
int soft_x_rm_write(struct soft_cpu *cpu, const struct soft_insn *insn, unsigned size, uint64_t v);
int soft_x_mem_read_at(struct soft_cpu *cpu, const struct soft_insn *insn, uint64_t ea,
                       unsigned size, uint64_t *v);
int soft_x_mem_write_at(struct soft_cpu *cpu, const struct soft_insn *insn, uint64_t ea,
                        unsigned size, uint64_t v);
int soft_x_push(struct soft_cpu *cpu, unsigned size, uint64_t v);
int soft_x_stack_peek(struct soft_cpu *cpu, uint64_t off, unsigned size, uint64_t *v);
void soft_x_rsp_set(struct soft_cpu *cpu, uint64_t v);

#endif
