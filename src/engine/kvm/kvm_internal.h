/* Shared between the files of the kvm engine; nothing outside engine/kvm
 * includes this. */
#ifndef RINGFOLD_ENGINE_KVM_INTERNAL_H
#define RINGFOLD_ENGINE_KVM_INTERNAL_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>

#include "engine/engine.h"
#include "vm.h"

struct kvm_vcpu {
	struct kvm_vm *kvm;
	int index;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool thread_started;
	atomic_bool running; /* inside KVM_RUN (or about to be) */
};

/* GSI routing and the device fast paths (kvm_irq.c): GSIs 0-23 reach the
 * PIC and IOAPIC pins, GSIs from KVM_MSI_GSI_BASE are MSI routes that
 * devices' irqfds feed. Guarded by vm->exit_lock, which also keeps the
 * engine from being torn down under a caller on another thread. */
#define KVM_MSI_GSI_BASE 24
#define KVM_MSI_ROUTES 256
struct kvm_msi_route {
	bool used;
	int fd;
	uint32_t address_lo, address_hi, data;
};
struct kvm_irq_state {
	bool has_signal_msi, has_irqfd, has_ioeventfd, ioeventfd_any_length;
	struct kvm_msi_route msi[KVM_MSI_ROUTES];
};

struct kvm_vm {
	struct vm *vm;
	int sys_fd; /* /dev/kvm */
	int vm_fd;
	int run_mmap_size;
	struct kvm_cpuid2 *supported_cpuid;
	int ncpus;
	struct kvm_vcpu vcpus[VM_MAX_CPUS];
	pthread_mutex_t lock;
	pthread_cond_t exited; /* signalled when vm_request_exit() is called */
	bool timers_changed;   /* a timer device was reprogrammed (vm->timers_changed) */
	struct kvm_irq_state irq;
};

/* Signal used to kick vCPU threads out of KVM_RUN. */
#define KVM_KICK_SIGNAL SIGUSR1

int kvm_vcpu_create(struct kvm_vm *k, int index);
void kvm_vcpu_destroy(struct kvm_vcpu *v);
void *kvm_vcpu_thread(void *arg);

int kvm_cpuid_setup(struct kvm_vm *k, struct kvm_vcpu *v);

/* KVM_GET_MSRS / KVM_SET_MSRS on n MSRs; returns 0 only if all n were
 * transferred. (struct kvm_msrs ends in a flexible array, so it is built on
 * the heap rather than embedded in another struct.) */
int kvm_msrs_get(int vcpu_fd, const uint32_t *index, uint64_t *data, int n);
int kvm_msrs_set(int vcpu_fd, const uint32_t *index, const uint64_t *data, int n);

/* kvm_irq.c: reads the capabilities and installs the GSI routing (PC
 * wiring, no MSI routes yet); 0 or -1. */
int kvm_irq_init(struct kvm_vm *k);
/* The engine_ops members, kvm's way (see engine.h). */
void kvm_signal_msi(struct vm *vm, uint64_t address, uint32_t data);
int kvm_ioeventfd(struct vm *vm, uint64_t gpa, unsigned len, int fd, bool assign);
int kvm_irqfd_add(struct vm *vm, int fd, uint64_t address, uint32_t data);
int kvm_irqfd_update(struct vm *vm, int route, uint64_t address, uint32_t data);
void kvm_irqfd_remove(struct vm *vm, int route);

int kvm_regs_set(struct kvm_vcpu *v, const struct cpu_state *s);
int kvm_regs_get(struct kvm_vcpu *v, struct cpu_state *s);

#endif
