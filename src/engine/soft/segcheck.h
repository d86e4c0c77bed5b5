/* VERR/VERW and LAR/LSL (segcheck.c): SOFT_X_* conventions of soft_exec, but
 * returning 0 when done (the caller moves RIP), -1 with an exception. */
#ifndef RINGFOLD_ENGINE_SOFT_SEGCHECK_H
#define RINGFOLD_ENGINE_SOFT_SEGCHECK_H

#include <stdbool.h>

#include "engine/soft/soft.h"

int soft_exec_verr_verw(struct soft_cpu *cpu, const struct soft_insn *insn, bool write);
int soft_exec_lar_lsl(struct soft_cpu *cpu, const struct soft_insn *insn, bool lsl);

#endif
