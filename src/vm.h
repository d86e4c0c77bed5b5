/* The machine: configuration, guest memory, bus, devices and the engine that
 * runs it. Created from a vm_config, run once, destroyed; a guest reset is a
 * new vm built from the same config (see main.c). */
#ifndef RINGFOLD_VM_H
#define RINGFOLD_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "dev/clock.h"
#include "engine/engine.h"
#include "mem.h"

#define VM_MAX_CPUS 64
#define VM_MAX_INITRDS 16
#define VM_MAX_DISKS 8
#define VM_MAX_NICS 4

enum engine_kind { ENGINE_AUTO, ENGINE_KVM, ENGINE_SOFT };

/* A device that keeps time by itself outside the engine's interrupt
 * controllers (the RTC): an engine that runs the machine's timers in
 * software asks it for its next deadline and tells it when time passed
 * (the PIT's contract, dev/clock.h). */
#define VM_MAX_TIMERS 4
struct vm_timer {
	uint64_t (*next_deadline_ns)(void *opaque); /* CLOCK_NEVER: none armed */
	void (*advance)(void *opaque, uint64_t now_ns);
	void *opaque;
};

struct vm_config {
	const char *kernel;
	const char *initrds[VM_MAX_INITRDS];
	int ninitrds;
	const char *cmdline;
	uint64_t mem_size;
	int cpus;
	enum engine_kind engine;
	const char *console; /* "stdio" or a file path */
	bool hugepages;
	bool no_reboot;
	bool guest_decompress; /* --kernel-decompress guest: Linux decompresses itself */
	bool clock_icount;     /* --clock icount: guest time from retired instructions */
	/* Virtio devices (docs/devices.md). */
	const char *disks[VM_MAX_DISKS]; /* --disk FILE[,ro][,cache=none|writeback] */
	int ndisks;
	bool virtio_rng;     /* --virtio-rng */
	bool virtio_console; /* --virtio-console: console input goes to it */
	bool no_hpet;        /* --no-hpet: the machine has no HPET */
	/* Network cards: --net user[,...] | tap=NAME[,...] (virtio-net). */
	const char *nets[VM_MAX_NICS];
	int nnets;
};

/* How the machine ended. The process exit status is derived in main.c. */
enum vm_exit_kind {
	VM_EXIT_NONE,
	VM_EXIT_POWEROFF,      /* ACPI S5, or the user quit (Ctrl-A x) */
	VM_EXIT_DEBUG,         /* write of code to the debug-exit port */
	VM_EXIT_RESET,         /* the guest asked for a reset */
	VM_EXIT_TRIPLE_FAULT,  /* shutdown: the CPU could not deliver a fault */
	VM_EXIT_INTERNAL_ERROR /* the engine or VMM could not go on */
};

/* Exit statuses of the ringfold process (documented in README.md). */
#define EXIT_STATUS_POWEROFF 0
#define EXIT_STATUS_LOAD_ERROR 1
#define EXIT_STATUS_USAGE 2
#define EXIT_STATUS_TRIPLE_FAULT 4
#define EXIT_STATUS_INTERNAL_ERROR 6
#define EXIT_STATUS_RESET 8 /* only with --no-reboot */

struct console;
struct serial;
struct debugexit;
struct pci_bus;
struct acpi_pm;
struct rtc;
struct hpet;
struct i8042;
struct port80;
struct virtio_blk;
struct virtio_rng;
struct virtio_console;
struct virtio_net;

struct vm {
	const struct vm_config *config;
	struct guest_mem mem;
	struct bus *bus;
	const struct engine_ops *engine;
	void *engine_data;
	int ncpus;
	struct cpu_state boot_cpu; /* initial state of the bootstrap processor */

	/* Devices. */
	struct console *console;
	struct serial *serial;
	struct debugexit *debugexit;
	struct pci_bus *pci;
	struct acpi_pm *acpi_pm;
	struct rtc *rtc;
	struct hpet *hpet; /* NULL with --no-hpet */
	struct i8042 *i8042;
	struct port80 *port80;
	struct virtio_blk *disks[VM_MAX_DISKS];
	struct virtio_rng *virtio_rng;
	struct virtio_console *virtio_console;
	struct virtio_net *nics[VM_MAX_NICS];
	struct vm_timer timers[VM_MAX_TIMERS];
	int ntimers;
	/* Set while the HPET's LegacyReplacement route is on: ISA IRQ 0 and 8
	 * are HPET timers 0 and 1, and the PIT's and the RTC's own outputs are
	 * cut off (dev/hpet.h). Read by the RTC and the soft engine's irqchip. */
	atomic_bool hpet_legacy_route;
	/* Set by an engine whose timer loop sleeps on another thread: called
	 * (any thread) when a timer device's next deadline may have moved. */
	void (*timers_changed)(struct vm *vm);

	/* Guest time, ns since the machine started; every device that keeps
	 * time reads it through vm_clock_now(). An engine may install its own
	 * clock before it starts the vCPUs (the soft engine's --clock icount).
	 * A zeroed struct vm reads host monotonic time. */
	struct guest_clock clock;
	uint64_t clock_host_base; /* host CLOCK_MONOTONIC at guest time 0 */
	int64_t wall_base_ns;     /* wall-clock time (Unix epoch) at guest time 0 */

	/* The first exit request wins; later ones are ignored. A zeroed mutex
	 * is a valid unlocked one, so tests may build a struct vm with {0}. */
	pthread_mutex_t exit_lock;
	atomic_int exit_kind;
	int exit_code;
};

/* Builds memory, bus, devices, loads the kernel; NULL after logging an error. */
struct vm *vm_create(const struct vm_config *config, const struct engine_ops *engine);
/* Runs until the machine ends; returns how it ended. */
enum vm_exit_kind vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);

/* Callable from any thread (vCPU, device, I/O thread, signal-safe path not
 * required). */
void vm_request_exit(struct vm *vm, enum vm_exit_kind kind, int code);
static inline bool vm_exit_requested(struct vm *vm)
{
	return atomic_load_explicit(&vm->exit_kind, memory_order_acquire) != VM_EXIT_NONE;
}
/* Raise/lower a machine interrupt line: the engine's interrupt controllers. */
void vm_set_irq(struct vm *vm, unsigned gsi, int level);
/* Start guest time at 0 on the host's monotonic clock; the wall clock starts
 * at the host's UTC time, or at a fixed date (for --clock icount). */
void vm_clock_init(struct vm *vm, bool fixed_wall_clock);
/* Guest time in ns since the machine started, and the wall-clock time (ns
 * since the Unix epoch) the RTC shows at it. Any thread. */
uint64_t vm_clock_now(const struct vm *vm);
int64_t vm_wall_clock_ns(const struct vm *vm);
/* Register a software timer device (see struct vm_timer); 0, or -1 when full. */
int vm_add_timer(struct vm *vm, const struct vm_timer *timer);
/* The earliest deadline of the registered timers, and advancing them all. */
uint64_t vm_timers_next_deadline_ns(struct vm *vm);
/* A timer device was reprogrammed: its deadline may be earlier now. */
void vm_timers_changed(struct vm *vm);
void vm_timers_advance(struct vm *vm, uint64_t now_ns);

/* A PCI device's message-signalled interrupt (MSI/MSI-X), any thread. */
void vm_signal_msi(struct vm *vm, uint64_t address, uint32_t data);

#endif
