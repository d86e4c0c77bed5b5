/* The x87 FPU of the soft engine (placeholder until it is implemented). */
#include "engine/soft/exec.h"

int soft_exec_x87(struct soft_cpu *c, const struct soft_insn *i)
{
	return soft_x_unimplemented(c, i);
}
