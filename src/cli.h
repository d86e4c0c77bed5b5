/* Command-line parsing for `ringfold run`: argv → struct vm_config. Every
 * bad argument gets one clear line on stderr; main() exits with status 2. */
#ifndef RINGFOLD_CLI_H
#define RINGFOLD_CLI_H

#include "vm.h"

/* CLI_LOAD_ERROR: no --kernel and the default guest is not built (status 1). */
enum cli_result { CLI_OK, CLI_EXIT_SUCCESS, CLI_USAGE_ERROR, CLI_LOAD_ERROR };

enum cli_result cli_parse_run(int argc, char **argv, struct vm_config *cfg, int *verbosity);
void cli_print_help(void);
void cli_print_run_help(void);

#endif
