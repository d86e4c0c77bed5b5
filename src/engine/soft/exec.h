/* The executor's entry point, for the run loop (cpu.c). */
#ifndef RINGFOLD_ENGINE_SOFT_EXEC_H
#define RINGFOLD_ENGINE_SOFT_EXEC_H

#include "engine/soft/soft_internal.h"

enum { SOFT_X_RETIRED = 0, SOFT_X_AGAIN = 1, SOFT_X_HLT = 2 };

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

/* system.c: system instructions (MOV CR/DR, descriptor tables, segment
 * loads, far branches, MSRs, SYSCALL/SYSRET, ...). SOFT_X_*, or -1. */
int soft_exec_system(struct soft_cpu *cpu, const struct soft_insn *insn);

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
