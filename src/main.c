/* ringfold's entry point: parse the command line, choose an engine, build
 * and run the machine, and turn how it ended into the exit status. A guest
 * reset builds the machine anew from the same configuration, as a reboot
 * starts a PC from its firmware. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "util/log.h"
#include "vm.h"

static const struct engine_ops *choose_engine(enum engine_kind kind, bool clock_icount)
{
	char why[256] = "";
	if (clock_icount && kind == ENGINE_AUTO) {
		log_info("engine: soft (--clock icount counts the soft engine's instructions)");
		return &soft_engine_ops;
	}
	switch (kind) {
	case ENGINE_KVM:
		if (kvm_engine_ops.usable(why, sizeof why))
			return &kvm_engine_ops;
		log_error("the kvm engine cannot run here: %s", why);
		return NULL;
	case ENGINE_SOFT: return &soft_engine_ops;
	case ENGINE_AUTO:
	default:
		if (!kvm_engine_ops.usable(why, sizeof why)) {
			log_notice("engine: soft (the kvm engine cannot run here: %s)", why);
			return &soft_engine_ops;
		}
		double ns;
		if (kvm_probe_kernel_speed(&ns) == 0 && ns > KVM_SLOW_NS_PER_INSN) {
			log_notice(
			    "engine: soft (/dev/kvm runs guest kernel code at %.0f ns per "
			    "instruction: it emulates it, so the soft engine is faster here; "
			    "--engine kvm overrides)",
			    ns);
			return &soft_engine_ops;
		}
		log_info("engine: kvm (/dev/kvm is usable and runs guest kernel code in hardware)");
		return &kvm_engine_ops;
	}
}

static int exit_status(enum vm_exit_kind kind, int code)
{
	switch (kind) {
	case VM_EXIT_POWEROFF: return EXIT_STATUS_POWEROFF;
	case VM_EXIT_DEBUG: return (int)((((unsigned)code) << 1) | 1) & 0xff;
	case VM_EXIT_RESET: return EXIT_STATUS_RESET;
	case VM_EXIT_TRIPLE_FAULT: return EXIT_STATUS_TRIPLE_FAULT;
	case VM_EXIT_INTERNAL_ERROR:
	default: return EXIT_STATUS_INTERNAL_ERROR;
	}
}

static int cmd_run(int argc, char **argv)
{
	struct vm_config cfg;
	int verbosity;
	switch (cli_parse_run(argc, argv, &cfg, &verbosity)) {
	case CLI_EXIT_SUCCESS: return 0;
	case CLI_USAGE_ERROR: return EXIT_STATUS_USAGE;
	case CLI_LOAD_ERROR: return EXIT_STATUS_LOAD_ERROR;
	case CLI_OK: break;
	}
	log_set_level((enum log_level)verbosity);
	const struct engine_ops *engine = choose_engine(cfg.engine, cfg.clock_icount);
	if (!engine)
		return EXIT_STATUS_LOAD_ERROR;
	for (;;) {
		struct vm *vm = vm_create(&cfg, engine);
		if (!vm)
			return EXIT_STATUS_LOAD_ERROR;
		enum vm_exit_kind kind = vm_run(vm);
		int code = vm->exit_code;
		vm_destroy(vm);
		if (kind == VM_EXIT_RESET && !cfg.no_reboot) {
			log_info("guest reset: rebooting");
			continue;
		}
		if (kind == VM_EXIT_DEBUG)
			log_info("guest wrote %#x to the debug-exit port", code);
		return exit_status(kind, code);
	}
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		cli_print_help();
		return EXIT_STATUS_USAGE;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		cli_print_help();
		return 0;
	}
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V") || !strcmp(cmd, "version")) {
		printf("ringfold %s\n", RINGFOLD_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - 1, argv + 1);
	fprintf(stderr, "ringfold: unknown command '%s' (see `ringfold --help`)\n", cmd);
	return EXIT_STATUS_USAGE;
}
