/* Command-line parsing for `ringfold run`: argv → struct vm_config. Every
 * bad argument gets one clear line on stderr; main() exits with status 2. */
#ifndef RINGFOLD_CLI_H
#define RINGFOLD_CLI_H

#include "vm.h"

enum cli_result { CLI_OK, CLI_EXIT_SUCCESS, CLI_USAGE_ERROR };

enum cli_result cli_parse_run(int argc, char **argv, struct vm_config *cfg, int *verbosity);
void cli_print_help(void);
void cli_print_run_help(void);

#endif
