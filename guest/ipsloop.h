/* The test kernel's instructions-per-second loop (ipsloop.S, ips.c). */
#ifndef GUEST_IPSLOOP_H
#define GUEST_IPSLOOP_H

#define IPS_LOOP_INSNS 12 /* instructions per iteration of user_ips_loop */

#ifndef __ASSEMBLER__
#include <stdint.h>
void user_ips_loop(void);
/* `ips=N`: run the loop N times and report "ips INSNS N"; the debug exit
 * follows (finish()). */
void run_ips(uint64_t iterations, int *passed, int *failed);
#endif

#endif
