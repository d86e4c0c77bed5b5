#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dev/virtio/virtio_blk.h"
#include "dev/virtio/virtio_net.h"
#include "util/log.h"

/* The default guest's command line; --cmdline is appended to it. */
#define DEFAULT_GUEST_CMDLINE "console=ttyS0 quiet"

void cli_print_help(void)
{
	printf("ringfold %s: a virtual machine monitor for x86-64 guests\n"
	       "\n"
	       "usage: ringfold run [options]     boot a guest (see `ringfold run --help`)\n"
	       "       ringfold --help            this text\n"
	       "       ringfold --version         the version\n",
	       RINGFOLD_VERSION);
}

void cli_print_run_help(void)
{
	printf(
	    "usage: ringfold run [options]\n"
	    "\n"
	    "Boot a guest kernel directly (Linux bzImage or Multiboot).\n"
	    "\n"
	    "Without --kernel: the default Linux guest that `make guest` builds beside the\n"
	    "ringfold binary (guest-linux/vmlinuz and initramfs.cpio.gz: Debian's kernel and\n"
	    "a busybox shell; `poweroff` or exiting the shell ends it). Its command line is\n"
	    "\"" DEFAULT_GUEST_CMDLINE "\" followed by --cmdline, whose rf.modules=a,b loads\n"
	    "kernel modules (virtio_pci, virtio_blk, virtio_net, ext4, ...); --initrd adds\n"
	    "initrds after its own.\n"
	    "\n"
	    "  -k, --kernel FILE      kernel image: Linux bzImage (64-bit boot protocol) or\n"
	    "                         Multiboot v1 (ELF or a.out kludge)\n"
	    "  -i, --initrd FILE      initrd (Linux) or module (Multiboot); repeat for several:\n"
	    "                         Linux gets them concatenated, Multiboot as modules in order\n"
	    "  -a, --cmdline STR      kernel command line (also --append)\n"
	    "  -m, --mem SIZE         guest RAM, e.g. 256M, 4G (default 256M; a bare number is "
	    "MiB)\n"
	    "  -c, --cpus N           number of vCPUs, 1 to %d (default 1)\n"
	    "  -e, --engine ENGINE    auto, kvm or soft (default auto: kvm if /dev/kvm runs guest\n"
	    "                         kernel code in hardware, else soft)\n"
	    "      --console DEST     stdio (default) or a file the guest's console is written to\n"
	    "      --hugepages        back guest RAM with 2 MiB huge pages (hugetlbfs)\n"
	    "      --no-reboot        exit (status 8) when the guest resets instead of rebooting\n"
	    "      --no-hpet          leave out the HPET (the guest keeps time with the PIT)\n"
	    "      --kernel-decompress host|guest\n"
	    "                         Linux: decompress the bzImage on the host and boot its\n"
	    "                         vmlinux (default, no KASLR), or let the kernel decompress\n"
	    "                         itself in the guest\n"
	    "      --clock host|icount\n"
	    "                         guest time follows the host's monotonic clock (default),\n"
	    "                         or the count of executed instructions (soft engine only):\n"
	    "                         a run is then reproducible to the instruction\n"
	    "      --disk FILE[,ro][,cache=none|writeback]\n"
	    "                         a virtio-blk disk on a raw image file or host block device\n"
	    "                         (repeat for more, up to %d): ro read-only; cache=none\n"
	    "                         O_DIRECT, cache=writeback (default) the host page cache\n"
	    "      --virtio-rng       a virtio-rng device fed from the host's getrandom()\n"
	    "      --virtio-console   a virtio console (Linux: console=hvc0) beside COM1 on the\n"
	    "                         same host console; console input then goes to it\n"
	    "      --net user[,hostfwd=RULE]...[,mac=MAC]\n"
	    "      --net tap=NAME[,mac=MAC]\n"
	    "                         a virtio-net card (repeat for more, up to %d). user:\n"
	    "                         libslirp user networking, the guest is 10.0.2.15/24 by\n"
	    "                         DHCP, host and gateway 10.0.2.2, DNS 10.0.2.3. RULE is\n"
	    "                         [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT: the\n"
	    "                         host listens on HOSTADDR (default 127.0.0.1), the guest\n"
	    "                         gets the connections. tap=NAME: a host TAP interface\n"
	    "                         (needs CAP_NET_ADMIN or a TAP device the user owns).\n"
	    "                         MAC: XX:XX:XX:XX:XX:XX (default 52:54:00:12:34:56 plus\n"
	    "                         the card's index)\n"
	    "  -v, --verbose          more diagnostics on stderr (twice for debug output)\n"
	    "  -q, --quiet            errors only\n"
	    "  -h, --help             this text\n"
	    "\n"
	    "Console keys (stdio on a terminal): Ctrl-A x quits, Ctrl-A h helps,\n"
	    "Ctrl-A Ctrl-A sends Ctrl-A.\n"
	    "\n"
	    "Exit status: 0 guest powered off (or Ctrl-A x); (v << 1) | 1 when the guest wrote v\n"
	    "to the debug-exit port 0xf4; 1 the kernel or an initrd could not be loaded, or the\n"
	    "machine could not be built; 2 bad command line; 4 triple fault (registers dumped\n"
	    "on stderr); 6 internal error of the VMM or engine (registers dumped); 8 the guest\n"
	    "reset with --no-reboot.\n",
	    VM_MAX_CPUS, VM_MAX_DISKS, VM_MAX_NICS);
}

static int parse_int(const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static enum cli_result usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "ringfold: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see `ringfold run --help`)\n");
	return CLI_USAGE_ERROR;
}

/* Without --kernel, `ringfold run` boots the default Linux guest, which
 * `make guest` (tools/make-guest.sh) puts in guest-linux/ beside the binary:
 * build/ringfold boots build/guest-linux/. The strings live as long as the
 * process, like argv. */
static enum cli_result use_default_guest(struct vm_config *cfg)
{
	static char dir[4096], kernel[4096 + 32], initrd[4096 + 32], cmdline[4096];
	ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
	if (n <= 0) {
		fprintf(stderr,
		        "ringfold: no --kernel given, and the default guest cannot be "
		        "located (/proc/self/exe: %s)\n",
		        strerror(errno));
		return CLI_LOAD_ERROR;
	}
	dir[n] = '\0';
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	snprintf(kernel, sizeof kernel, "%s/guest-linux/vmlinuz", dir);
	snprintf(initrd, sizeof initrd, "%s/guest-linux/initramfs.cpio.gz", dir);
	const char *missing = access(kernel, R_OK) < 0   ? kernel
	                      : access(initrd, R_OK) < 0 ? initrd
	                                                 : NULL;
	if (missing) {
		fprintf(stderr,
		        "ringfold: no --kernel given and the default guest is not built (%s: %s): "
		        "run `make guest`\n",
		        missing, strerror(errno));
		return CLI_LOAD_ERROR;
	}
	if (cfg->ninitrds == VM_MAX_INITRDS)
		return usage_error("too many --initrd options for the default guest (at most 15)%s",
		                   "");
	memmove(&cfg->initrds[1], &cfg->initrds[0], (size_t)cfg->ninitrds * sizeof cfg->initrds[0]);
	cfg->initrds[0] = initrd;
	cfg->ninitrds++;
	cfg->kernel = kernel;
	int len = snprintf(cmdline, sizeof cmdline, "%s%s%s", DEFAULT_GUEST_CMDLINE,
	                   cfg->cmdline ? " " : "", cfg->cmdline ? cfg->cmdline : "");
	if (len < 0 || (size_t)len >= sizeof cmdline)
		return usage_error("--cmdline: too long%s", "");
	cfg->cmdline = cmdline;
	return CLI_OK;
}

/* The virtio device options (their own getopt codes). */
enum { OPT_DISK = 512, OPT_VIRTIO_RNG, OPT_VIRTIO_CONSOLE, OPT_NET };

static enum cli_result parse_virtio_option(int c, const char *arg, struct vm_config *cfg)
{
	switch (c) {
	case OPT_DISK: {
		if (cfg->ndisks == VM_MAX_DISKS) {
			char max[16];
			snprintf(max, sizeof max, "%d", VM_MAX_DISKS);
			return usage_error("too many --disk options (at most %s)", max);
		}
		char err[256];
		struct virtio_blk_options o;
		if (virtio_blk_parse(arg, &o, err, sizeof err) < 0)
			return usage_error("--disk: %s", err);
		virtio_blk_options_free(&o);
		cfg->disks[cfg->ndisks++] = arg;
		return CLI_OK;
	}
	case OPT_NET: {
		if (cfg->nnets == VM_MAX_NICS) {
			char max[16];
			snprintf(max, sizeof max, "%d", VM_MAX_NICS);
			return usage_error("too many --net options (at most %s)", max);
		}
		char err[256];
		struct virtio_net_options o;
		if (virtio_net_parse(arg, &o, err, sizeof err) < 0)
			return usage_error("--net: %s", err);
		cfg->nets[cfg->nnets++] = arg;
		return CLI_OK;
	}
	case OPT_VIRTIO_RNG: cfg->virtio_rng = true; return CLI_OK;
	case OPT_VIRTIO_CONSOLE: cfg->virtio_console = true; return CLI_OK;
	default: return usage_error("unknown option%s", "");
	}
}

/* Platform device options (their own range, clear of the others). */
enum { OPT_NO_HPET = 768 };

enum cli_result cli_parse_run(int argc, char **argv, struct vm_config *cfg, int *verbosity)
{
	enum { OPT_CONSOLE = 256, OPT_HUGEPAGES, OPT_NO_REBOOT, OPT_KERNEL_DECOMPRESS, OPT_CLOCK };
	static const struct option opts[] = {
	    {"kernel", required_argument, NULL, 'k'},
	    {"initrd", required_argument, NULL, 'i'},
	    {"cmdline", required_argument, NULL, 'a'},
	    {"append", required_argument, NULL, 'a'},
	    {"mem", required_argument, NULL, 'm'},
	    {"cpus", required_argument, NULL, 'c'},
	    {"engine", required_argument, NULL, 'e'},
	    {"console", required_argument, NULL, OPT_CONSOLE},
	    {"hugepages", no_argument, NULL, OPT_HUGEPAGES},
	    {"no-reboot", no_argument, NULL, OPT_NO_REBOOT},
	    {"no-hpet", no_argument, NULL, OPT_NO_HPET},
	    {"kernel-decompress", required_argument, NULL, OPT_KERNEL_DECOMPRESS},
	    {"clock", required_argument, NULL, OPT_CLOCK},
	    {"disk", required_argument, NULL, OPT_DISK},
	    {"virtio-rng", no_argument, NULL, OPT_VIRTIO_RNG},
	    {"virtio-console", no_argument, NULL, OPT_VIRTIO_CONSOLE},
	    {"net", required_argument, NULL, OPT_NET},
	    {"verbose", no_argument, NULL, 'v'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	memset(cfg, 0, sizeof *cfg);
	cfg->mem_size = 256ULL << 20;
	cfg->cpus = 1;
	cfg->engine = ENGINE_AUTO;
	cfg->console = "stdio";
	*verbosity = LOG_NOTICE;

	opterr = 0;
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, ":k:i:a:m:c:e:vqh", opts, NULL)) != -1) {
		long n;
		switch (c) {
		case 'k': cfg->kernel = optarg; break;
		case 'i':
			if (cfg->ninitrds == VM_MAX_INITRDS)
				return usage_error("too many --initrd options (at most 16)%s", "");
			cfg->initrds[cfg->ninitrds++] = optarg;
			break;
		case 'a': cfg->cmdline = optarg; break;
		case 'm':
			if (mem_parse_size(optarg, &cfg->mem_size) < 0)
				return usage_error("--mem: '%s' is not a size like 256M or 4G",
				                   optarg);
			if (cfg->mem_size < MEM_MIN_SIZE || cfg->mem_size > MEM_MAX_SIZE)
				return usage_error("--mem: %s is outside 16M to 1T", optarg);
			if (cfg->mem_size & 0xfff)
				return usage_error("--mem: %s is not a multiple of 4K", optarg);
			break;
		case 'c':
			if (parse_int(optarg, 1, VM_MAX_CPUS, &n) < 0)
				return usage_error("--cpus: '%s' is not a number from 1 to 64",
				                   optarg);
			cfg->cpus = (int)n;
			break;
		case 'e':
			if (!strcmp(optarg, "auto"))
				cfg->engine = ENGINE_AUTO;
			else if (!strcmp(optarg, "kvm"))
				cfg->engine = ENGINE_KVM;
			else if (!strcmp(optarg, "soft"))
				cfg->engine = ENGINE_SOFT;
			else
				return usage_error("--engine: '%s' is not one of auto, kvm, soft",
				                   optarg);
			break;
		case OPT_CONSOLE:
			if (!*optarg)
				return usage_error("--console: empty destination%s", "");
			cfg->console = optarg;
			break;
		case OPT_HUGEPAGES: cfg->hugepages = true; break;
		case OPT_NO_REBOOT: cfg->no_reboot = true; break;
		case OPT_NO_HPET: cfg->no_hpet = true; break;
		case OPT_KERNEL_DECOMPRESS:
			if (!strcmp(optarg, "host"))
				cfg->guest_decompress = false;
			else if (!strcmp(optarg, "guest"))
				cfg->guest_decompress = true;
			else
				return usage_error("--kernel-decompress: '%s' is not host or guest",
				                   optarg);
			break;
		case OPT_CLOCK:
			if (!strcmp(optarg, "host"))
				cfg->clock_icount = false;
			else if (!strcmp(optarg, "icount"))
				cfg->clock_icount = true;
			else
				return usage_error("--clock: '%s' is not host or icount", optarg);
			break;
		case 'v':
			if (*verbosity < LOG_DEBUG)
				(*verbosity)++;
			break;
		case 'q': *verbosity = LOG_ERROR; break;
		case OPT_DISK:
		case OPT_VIRTIO_RNG:
		case OPT_VIRTIO_CONSOLE:
		case OPT_NET: {
			enum cli_result r = parse_virtio_option(c, optarg, cfg);
			if (r != CLI_OK)
				return r;
			break;
		}
		case 'h': cli_print_run_help(); return CLI_EXIT_SUCCESS;
		case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
		default: return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (cfg->clock_icount && cfg->engine == ENGINE_KVM)
		return usage_error("--clock icount needs the soft engine (it counts its "
		                   "instructions)%s",
		                   "");
	if (!cfg->kernel)
		return use_default_guest(cfg);
	return CLI_OK;
}
