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

int kvm_regs_set(struct kvm_vcpu *v, const struct cpu_state *s);
int kvm_regs_get(struct kvm_vcpu *v, struct cpu_state *s);

#endif
