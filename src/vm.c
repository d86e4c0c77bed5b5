/* The machine: builds guest memory, the bus, the PC platform devices, the
 * ACPI tables and the boot state from a vm_config, then hands it to an
 * engine. Device creation order follows the PC's port map (docs/devices.md). */
#include "vm.h"

#include <stdlib.h>
#include <string.h>

#include "boot/acpi.h"
#include "boot/boot.h"
#include "util/file.h"
#include "util/log.h"
#include "vm_devices.h"

/* Kernels and initrds are read whole; nothing legitimate is this large. */
#define MAX_IMAGE_SIZE (1ULL << 31)

static int load_guest(struct vm *vm)
{
	const struct vm_config *cfg = vm->config;
	struct error err = {{0}};
	struct file_buf kernel = {0};
	struct file_buf initrds[VM_MAX_INITRDS] = {{0}};
	int rc = -1;

	if (file_read_all(cfg->kernel, MAX_IMAGE_SIZE, &kernel, &err) < 0) {
		log_error("kernel %s", err.msg);
		goto out;
	}
	if (kernel.size == 0) {
		log_error("kernel %s: empty file", cfg->kernel);
		goto out;
	}
	struct boot_request req = {
	    .kernel = {kernel.data, kernel.size, cfg->kernel},
	    .ninitrds = cfg->ninitrds,
	    .cmdline = cfg->cmdline,
	    .host_decompress = !cfg->guest_decompress,
	};
	for (int i = 0; i < cfg->ninitrds; i++) {
		if (file_read_all(cfg->initrds[i], MAX_IMAGE_SIZE, &initrds[i], &err) < 0) {
			log_error("initrd %s", err.msg);
			goto out;
		}
		req.initrds[i] =
		    (struct boot_blob){initrds[i].data, initrds[i].size, cfg->initrds[i]};
	}
	const struct acpi_options acpi = {.hpet = vm->hpet != NULL};
	if (acpi_build_opts(&vm->mem, vm->ncpus, &acpi, &req.acpi_rsdp, &err) < 0) {
		log_error("ACPI tables: %s", err.msg);
		goto out;
	}
	if (boot_load(&vm->mem, &req, &vm->boot_cpu, &err) < 0) {
		log_error("%s", err.msg);
		goto out;
	}
	rc = 0;
out:
	file_buf_free(&kernel);
	for (int i = 0; i < cfg->ninitrds; i++)
		file_buf_free(&initrds[i]);
	return rc;
}

static uint64_t vm_host_clock_now(void *ctx)
{
	const struct vm *vm = ctx;
	return guest_clock_host_now(NULL) - vm->clock_host_base;
}

/* With --clock icount the whole run must be reproducible, the date the RTC
 * shows included: it starts at this fixed moment (2025-01-01 00:00:00 UTC). */
#define ICOUNT_WALL_BASE_S 1735689600LL

void vm_clock_init(struct vm *vm, bool fixed_wall_clock)
{
	vm->clock_host_base = guest_clock_host_now(NULL);
	vm->clock = (struct guest_clock){vm_host_clock_now, vm};
	if (fixed_wall_clock) {
		vm->wall_base_ns = ICOUNT_WALL_BASE_S * (int64_t)CLOCK_NS_PER_SEC;
	} else {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		vm->wall_base_ns = (int64_t)ts.tv_sec * (int64_t)CLOCK_NS_PER_SEC + ts.tv_nsec;
	}
}

uint64_t vm_clock_now(const struct vm *vm)
{
	if (!vm->clock.now_ns)
		return guest_clock_host_now(NULL);
	return guest_clock_now(&vm->clock);
}

int64_t vm_wall_clock_ns(const struct vm *vm)
{
	return vm->wall_base_ns + (int64_t)vm_clock_now(vm);
}

int vm_add_timer(struct vm *vm, const struct vm_timer *timer)
{
	if (vm->ntimers == VM_MAX_TIMERS)
		return -1;
	vm->timers[vm->ntimers++] = *timer;
	return 0;
}

uint64_t vm_timers_next_deadline_ns(struct vm *vm)
{
	uint64_t d = CLOCK_NEVER;
	for (int i = 0; i < vm->ntimers; i++)
		d = clock_deadline_min(d, vm->timers[i].next_deadline_ns(vm->timers[i].opaque));
	return d;
}

void vm_timers_changed(struct vm *vm)
{
	void (*changed)(struct vm *) = __atomic_load_n(&vm->timers_changed, __ATOMIC_ACQUIRE);
	if (changed)
		changed(vm);
}

void vm_timers_advance(struct vm *vm, uint64_t now_ns)
{
	for (int i = 0; i < vm->ntimers; i++)
		vm->timers[i].advance(vm->timers[i].opaque, now_ns);
}

struct vm *vm_create(const struct vm_config *config, const struct engine_ops *engine)
{
	struct vm *vm = calloc(1, sizeof *vm);
	if (!vm) {
		log_error("out of memory");
		return NULL;
	}
	vm->config = config;
	vm->engine = engine;
	vm->ncpus = config->cpus;
	atomic_init(&vm->exit_kind, VM_EXIT_NONE);
	pthread_mutex_init(&vm->exit_lock, NULL);
	vm_clock_init(vm, config->clock_icount);
	struct error err = {{0}};
	if (mem_init(&vm->mem, config->mem_size, config->hugepages, &err) < 0) {
		log_error("%s", err.msg);
		goto fail;
	}
	vm->bus = bus_create();
	if (!vm->bus) {
		log_error("out of memory");
		goto fail;
	}
	if (vm_devices_create(vm) < 0)
		goto fail;
	cpu_state_reset(&vm->boot_cpu);
	if (load_guest(vm) < 0)
		goto fail;
	return vm;
fail:
	vm_destroy(vm);
	return NULL;
}

enum vm_exit_kind vm_run(struct vm *vm)
{
	if (vm->engine->run(vm) < 0)
		vm_request_exit(vm, VM_EXIT_INTERNAL_ERROR, 0);
	return (enum vm_exit_kind)atomic_load(&vm->exit_kind);
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	vm_devices_destroy(vm);
	bus_destroy(vm->bus);
	mem_destroy(&vm->mem);
	free(vm);
}

void vm_request_exit(struct vm *vm, enum vm_exit_kind kind, int code)
{
	/* The first request wins; the lock keeps its code paired with it. */
	bool first = false;
	pthread_mutex_lock(&vm->exit_lock);
	if (atomic_load(&vm->exit_kind) == VM_EXIT_NONE) {
		vm->exit_code = code;
		atomic_store_explicit(&vm->exit_kind, (int)kind, memory_order_release);
		first = true;
	}
	pthread_mutex_unlock(&vm->exit_lock);
	if (first && vm->engine && vm->engine->kick)
		vm->engine->kick(vm);
}

void vm_signal_msi(struct vm *vm, uint64_t address, uint32_t data)
{
	if (vm->engine && vm->engine->signal_msi)
		vm->engine->signal_msi(vm, address, data);
}

void vm_set_irq(struct vm *vm, unsigned gsi, int level)
{
	if (vm->engine && vm->engine->set_irq)
		vm->engine->set_irq(vm, gsi, level);
}
