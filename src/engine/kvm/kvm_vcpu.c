/* One kvm vCPU: creation, reset state, and the exit loop that runs on its own
 * host thread. Every exit the VMM must handle comes through here: port I/O
 * and MMIO go to the shared bus; shutdown and system events end the machine. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/kvm/kvm_internal.h"
#include "util/log.h"

#define MSR_IA32_TSC 0x10
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MISC_ENABLE_FAST_STRING 1u

int kvm_vcpu_create(struct kvm_vm *k, int index)
{
	struct kvm_vcpu *v = &k->vcpus[index];
	v->kvm = k;
	v->index = index;
	v->fd = ioctl(k->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (v->fd < 0) {
		log_error("kvm: cannot create vCPU %d: %s", index, strerror(errno));
		return -1;
	}
	v->run_size = (size_t)k->run_mmap_size;
	v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		log_error("kvm: cannot map vCPU %d run area: %s", index, strerror(errno));
		return -1;
	}
	if (kvm_cpuid_setup(k, v) < 0)
		return -1;

	/* MSRs as a real machine has them after reset (KVM already resets the
	 * architectural ones; fast strings are enabled by firmware on a PC). */
	static const uint32_t reset_msrs[] = {MSR_IA32_MISC_ENABLE, MSR_IA32_TSC};
	const uint64_t reset_vals[] = {MISC_ENABLE_FAST_STRING, 0};
	if (kvm_msrs_set(v->fd, reset_msrs, reset_vals, 2) < 0)
		log_warn("kvm: could not set reset MSRs on vCPU %d", index);

	if (index == 0) {
		/* The bootstrap processor starts where the boot loader left it. The
		 * others stay in wait-for-SIPI (KVM's in-kernel LAPIC does INIT/SIPI),
		 * as on real hardware. */
		struct cpu_state s = k->vm->boot_cpu;
		s.apic_base = 0xfee00000 | (1u << 11) | (1u << 8); /* enabled, BSP */
		if (kvm_regs_set(v, &s) < 0) {
			log_error("kvm: cannot set the boot state of vCPU 0: %s", strerror(errno));
			return -1;
		}
	}
	return 0;
}

void kvm_vcpu_destroy(struct kvm_vcpu *v)
{
	if (v->run)
		munmap(v->run, v->run_size);
	if (v->fd > 0)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
}

static void dump_and_exit(struct kvm_vcpu *v, enum vm_exit_kind kind)
{
	struct cpu_state s;
	if (kvm_regs_get(v, &s) == 0)
		cpu_state_dump(&s, v->index);
	vm_request_exit(v->kvm->vm, kind, 0);
}

static void handle_io(struct kvm_vcpu *v)
{
	struct kvm_run *run = v->run;
	unsigned size = run->io.size;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	/* A string instruction (REP INS/OUTS) arrives as `count` elements. */
	for (uint32_t i = 0; i < run->io.count; i++, data += size) {
		if (run->io.direction == KVM_EXIT_IO_OUT) {
			uint64_t val = 0;
			memcpy(&val, data, size);
			bus_write(v->kvm->vm->bus, BUS_PIO, run->io.port, size, val);
		} else {
			uint64_t val = bus_read(v->kvm->vm->bus, BUS_PIO, run->io.port, size);
			memcpy(data, &val, size);
		}
	}
}

static void handle_mmio(struct kvm_vcpu *v)
{
	struct kvm_run *run = v->run;
	unsigned len = run->mmio.len;
	if (len == 0 || len > 8)
		return;
	if (run->mmio.is_write) {
		uint64_t val = 0;
		memcpy(&val, run->mmio.data, len);
		bus_write(v->kvm->vm->bus, BUS_MMIO, run->mmio.phys_addr, len, val);
	} else {
		uint64_t val = bus_read(v->kvm->vm->bus, BUS_MMIO, run->mmio.phys_addr, len);
		memcpy(run->mmio.data, &val, len);
	}
}

static void handle_system_event(struct kvm_vcpu *v)
{
	switch (v->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN: vm_request_exit(v->kvm->vm, VM_EXIT_POWEROFF, 0); break;
	case KVM_SYSTEM_EVENT_RESET: vm_request_exit(v->kvm->vm, VM_EXIT_RESET, 0); break;
	default:
		log_error("kvm: vCPU %d: system event %u (crash)", v->index,
		          v->run->system_event.type);
		dump_and_exit(v, VM_EXIT_INTERNAL_ERROR);
		break;
	}
}

void *kvm_vcpu_thread(void *arg)
{
	struct kvm_vcpu *v = arg;
	struct vm *vm = v->kvm->vm;

	/* The kick signal stays blocked in this thread (kvm.c blocks it before
	 * creating us) and KVM unblocks it only for the duration of KVM_RUN, so a
	 * kick interrupts the guest, never a device model in the middle of a
	 * system call. A kick that arrives outside KVM_RUN stays pending and
	 * makes the next KVM_RUN return at once. */
	sigset_t during_run;
	pthread_sigmask(SIG_BLOCK, NULL, &during_run);
	sigdelset(&during_run, KVM_KICK_SIGNAL);
	/* The kernel's sigset is 64 bits on x86-64, not glibc's 1024. */
	struct kvm_signal_mask *mask = calloc(1, sizeof *mask + 8);
	if (mask) {
		mask->len = 8;
		memcpy(mask->sigset, &during_run, 8);
	}
	int mask_rc = mask ? ioctl(v->fd, KVM_SET_SIGNAL_MASK, mask) : -1;
	free(mask);
	if (mask_rc < 0) {
		log_error("kvm: KVM_SET_SIGNAL_MASK failed on vCPU %d: %s", v->index,
		          strerror(errno));
		vm_request_exit(vm, VM_EXIT_INTERNAL_ERROR, 0);
		return NULL;
	}

	while (!vm_exit_requested(vm)) {
		int rc = ioctl(v->fd, KVM_RUN, 0);
		if (rc < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			log_error("kvm: KVM_RUN failed on vCPU %d: %s", v->index, strerror(errno));
			dump_and_exit(v, VM_EXIT_INTERNAL_ERROR);
			break;
		}
		switch (v->run->exit_reason) {
		case KVM_EXIT_IO: handle_io(v); break;
		case KVM_EXIT_MMIO: handle_mmio(v); break;
		case KVM_EXIT_HLT:
			/* Only without an in-kernel LAPIC, which we always create. */
			break;
		case KVM_EXIT_INTR: break;
		case KVM_EXIT_SHUTDOWN:
			log_error("vCPU %d: triple fault (shutdown)", v->index);
			dump_and_exit(v, VM_EXIT_TRIPLE_FAULT);
			break;
		case KVM_EXIT_SYSTEM_EVENT: handle_system_event(v); break;
		case KVM_EXIT_FAIL_ENTRY:
			log_error(
			    "kvm: vCPU %d: entry failed, hardware reason %#llx", v->index,
			    (unsigned long long)v->run->fail_entry.hardware_entry_failure_reason);
			dump_and_exit(v, VM_EXIT_INTERNAL_ERROR);
			break;
		case KVM_EXIT_INTERNAL_ERROR:
			log_error("kvm: vCPU %d: internal error, suberror %u", v->index,
			          v->run->internal.suberror);
			dump_and_exit(v, VM_EXIT_INTERNAL_ERROR);
			break;
		default:
			log_error("kvm: vCPU %d: unexpected exit reason %u", v->index,
			          v->run->exit_reason);
			dump_and_exit(v, VM_EXIT_INTERNAL_ERROR);
			break;
		}
	}
	return NULL;
}
