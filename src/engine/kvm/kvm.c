/* The hardware-assisted engine: a VM through /dev/kvm with KVM's in-kernel
 * interrupt controllers (PIC, IOAPIC, LAPIC) and PIT, one host thread per
 * vCPU. Everything the guest reaches that is not RAM or an in-kernel device
 * exits to kvm_vcpu.c and goes to the shared bus. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "engine/kvm/kvm_internal.h"
#include "util/log.h"

/* Addresses KVM needs for its own use on Intel hosts (real-mode TSS and the
 * EPT identity map): three pages just below the BIOS area, inside the PCI
 * hole where no RAM or device is. */
#define KVM_IDENTITY_MAP_ADDR 0xfeffc000ULL
#define KVM_TSS_ADDR 0xfeffd000ULL

struct required_cap {
	int cap;
	const char *name;
};

static const struct required_cap required_caps[] = {
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
    {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
    {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
    {KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING"},
    {KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE"},
};

static int open_kvm(char *why, size_t why_len)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, why_len, "/dev/kvm: %s", strerror(errno));
		return -1;
	}
	int version = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		snprintf(why, why_len, "/dev/kvm: API version %d, need %d", version,
		         KVM_API_VERSION);
		close(fd);
		return -1;
	}
	for (size_t i = 0; i < sizeof required_caps / sizeof required_caps[0]; i++) {
		if (ioctl(fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0) {
			snprintf(why, why_len, "/dev/kvm lacks %s", required_caps[i].name);
			close(fd);
			return -1;
		}
	}
	return fd;
}

static bool kvm_usable(char *why, size_t why_len)
{
	int fd = open_kvm(why, why_len);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static void kick_handler(int sig)
{
	(void)sig;
}

static int create_vm(struct kvm_vm *k)
{
	char why[256];
	k->sys_fd = open_kvm(why, sizeof why);
	if (k->sys_fd < 0) {
		log_error("kvm engine unavailable: %s", why);
		return -1;
	}
	k->run_mmap_size = ioctl(k->sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	int max_vcpus = ioctl(k->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max_vcpus > 0 && k->ncpus > max_vcpus) {
		log_error("kvm: %d vCPUs requested, /dev/kvm allows %d", k->ncpus, max_vcpus);
		return -1;
	}
	k->vm_fd = ioctl(k->sys_fd, KVM_CREATE_VM, 0);
	if (k->vm_fd < 0) {
		log_error("kvm: KVM_CREATE_VM: %s", strerror(errno));
		return -1;
	}
	if (ioctl(k->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR) < 0) {
		log_error("kvm: KVM_SET_TSS_ADDR: %s", strerror(errno));
		return -1;
	}
	uint64_t idmap = KVM_IDENTITY_MAP_ADDR;
	if (ioctl(k->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0)
		ioctl(k->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap);
	if (ioctl(k->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		log_error("kvm: KVM_CREATE_IRQCHIP: %s", strerror(errno));
		return -1;
	}
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
	if (ioctl(k->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		log_error("kvm: KVM_CREATE_PIT2: %s", strerror(errno));
		return -1;
	}
	/* The PC's interrupt wiring (and later MSI routes): kvm_irq.c. */
	if (kvm_irq_init(k) < 0) {
		log_error("kvm: KVM_SET_GSI_ROUTING: %s", strerror(errno));
		return -1;
	}
	const struct guest_mem *m = &k->vm->mem;
	for (int i = 0; i < m->nregions; i++) {
		struct kvm_userspace_memory_region r = {
		    .slot = (uint32_t)i,
		    .guest_phys_addr = m->regions[i].gpa,
		    .memory_size = m->regions[i].size,
		    .userspace_addr = (uint64_t)(uintptr_t)m->regions[i].host,
		};
		if (ioctl(k->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
			log_error("kvm: cannot map guest RAM at %#llx: %s",
			          (unsigned long long)r.guest_phys_addr, strerror(errno));
			return -1;
		}
	}
	int nent = 256;
	for (;;) {
		k->supported_cpuid = calloc(1, sizeof(struct kvm_cpuid2) +
		                                   (size_t)nent * sizeof(struct kvm_cpuid_entry2));
		if (!k->supported_cpuid)
			return -1;
		k->supported_cpuid->nent = (uint32_t)nent;
		if (ioctl(k->sys_fd, KVM_GET_SUPPORTED_CPUID, k->supported_cpuid) == 0)
			break;
		free(k->supported_cpuid);
		k->supported_cpuid = NULL;
		if (errno != E2BIG || nent >= 4096) {
			log_error("kvm: KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
			return -1;
		}
		nent *= 2;
	}
	return 0;
}

static void destroy_vm(struct kvm_vm *k)
{
	for (int i = 0; i < k->ncpus; i++)
		kvm_vcpu_destroy(&k->vcpus[i]);
	free(k->supported_cpuid);
	if (k->vm_fd > 0)
		close(k->vm_fd);
	if (k->sys_fd > 0)
		close(k->sys_fd);
}

/* vm->timers_changed: wake the main thread to look at the deadlines again.
 * Timer devices are programmed by vCPU threads, which are joined before the
 * engine goes away. */
static void kvm_timers_changed(struct vm *vm)
{
	struct kvm_vm *k = vm->engine_data;
	if (!k)
		return;
	pthread_mutex_lock(&k->lock);
	k->timers_changed = true;
	pthread_cond_signal(&k->exited);
	pthread_mutex_unlock(&k->lock);
}

static int kvm_run_vm(struct vm *vm)
{
	struct kvm_vm *k = calloc(1, sizeof *k);
	if (!k)
		return -1;
	k->vm = vm;
	k->ncpus = vm->ncpus;
	k->sys_fd = k->vm_fd = -1;
	for (int i = 0; i < VM_MAX_CPUS; i++)
		k->vcpus[i].fd = -1;
	pthread_mutex_init(&k->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* timer deadlines are monotonic */
	pthread_cond_init(&k->exited, &ca);
	pthread_condattr_destroy(&ca);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = kick_handler;
	sigaction(KVM_KICK_SIGNAL, &sa, NULL);
	/* Block the kick signal in this thread; vCPU threads inherit the mask. */
	sigset_t kick, old;
	sigemptyset(&kick);
	sigaddset(&kick, KVM_KICK_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &kick, &old);

	int rc = -1;
	if (create_vm(k) < 0)
		goto out;
	for (int i = 0; i < k->ncpus; i++)
		if (kvm_vcpu_create(k, i) < 0)
			goto out;
	/* Published under exit_lock: device I/O threads reach the engine
	 * (kvm_irq.c, kvm_set_irq) only while holding it. */
	pthread_mutex_lock(&vm->exit_lock);
	vm->engine_data = k;
	pthread_mutex_unlock(&vm->exit_lock);
	for (int i = 0; i < k->ncpus; i++) {
		if (pthread_create(&k->vcpus[i].thread, NULL, kvm_vcpu_thread, &k->vcpus[i]) != 0) {
			log_error("kvm: cannot start the thread of vCPU %d", i);
			vm_request_exit(vm, VM_EXIT_INTERNAL_ERROR, 0);
			break;
		}
		k->vcpus[i].thread_started = true;
	}
	/* This thread waits for the exit and meanwhile runs the machine's
	 * timer devices outside KVM's irqchip (the RTC's IRQ 8). */
	__atomic_store_n(&vm->timers_changed, kvm_timers_changed, __ATOMIC_RELEASE);
	pthread_mutex_lock(&k->lock);
	while (!vm_exit_requested(vm)) {
		uint64_t now = vm_clock_now(vm), deadline = vm_timers_next_deadline_ns(vm);
		if (deadline <= now) {
			pthread_mutex_unlock(&k->lock);
			vm_timers_advance(vm, now);
			pthread_mutex_lock(&k->lock);
			continue;
		}
		if (k->timers_changed) {
			k->timers_changed = false;
			continue;
		}
		if (deadline == CLOCK_NEVER) {
			pthread_cond_wait(&k->exited, &k->lock);
			continue;
		}
		uint64_t host = clock_deadline_add(deadline, vm->clock_host_base);
		struct timespec ts = {.tv_sec = (time_t)(host / CLOCK_NS_PER_SEC),
		                      .tv_nsec = (long)(host % CLOCK_NS_PER_SEC)};
		pthread_cond_timedwait(&k->exited, &k->lock, &ts);
	}
	pthread_mutex_unlock(&k->lock);
	__atomic_store_n(&vm->timers_changed, NULL, __ATOMIC_RELEASE);
	for (int i = 0; i < k->ncpus; i++)
		if (k->vcpus[i].thread_started)
			pthread_kill(k->vcpus[i].thread, KVM_KICK_SIGNAL);
	for (int i = 0; i < k->ncpus; i++)
		if (k->vcpus[i].thread_started)
			pthread_join(k->vcpus[i].thread, NULL);
	rc = 0;
out:
	pthread_mutex_lock(&vm->exit_lock);
	pthread_mutex_lock(&k->lock);
	vm->engine_data = NULL;
	pthread_mutex_unlock(&k->lock);
	pthread_mutex_unlock(&vm->exit_lock);
	destroy_vm(k);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_mutex_destroy(&k->lock);
	pthread_cond_destroy(&k->exited);
	free(k);
	return rc;
}

/* Called by vm_request_exit() from any thread after the exit kind is set:
 * wake the waiting main thread, which kicks every vCPU out of KVM_RUN. */
static void kvm_kick(struct vm *vm)
{
	struct kvm_vm *k = vm->engine_data;
	if (!k)
		return;
	pthread_mutex_lock(&k->lock);
	pthread_cond_broadcast(&k->exited);
	pthread_mutex_unlock(&k->lock);
}

/* Any thread (device I/O threads too): exit_lock keeps the VM's fd open. */
static void kvm_set_irq(struct vm *vm, unsigned gsi, int level)
{
	pthread_mutex_lock(&vm->exit_lock);
	struct kvm_vm *k = vm->engine_data;
	if (k) {
		struct kvm_irq_level irq = {.irq = gsi, .level = (uint32_t)level};
		if (ioctl(k->vm_fd, KVM_IRQ_LINE, &irq) < 0)
			log_warn("kvm: KVM_IRQ_LINE gsi %u: %s", gsi, strerror(errno));
	}
	pthread_mutex_unlock(&vm->exit_lock);
}

const struct engine_ops kvm_engine_ops = {
    .name = "kvm",
    .usable = kvm_usable,
    .run = kvm_run_vm,
    .kick = kvm_kick,
    .set_irq = kvm_set_irq,
    .signal_msi = kvm_signal_msi,
    .ioeventfd = kvm_ioeventfd,
    .irqfd_add = kvm_irqfd_add,
    .irqfd_update = kvm_irqfd_update,
    .irqfd_remove = kvm_irqfd_remove,
};

/* Some /dev/kvm providers (kvm_pvm, a software hypervisor) run guest CPL0
 * code by emulating it, about a thousand times slower than hardware. A tiny
 * VM runs a 32-bit ring-0 loop of PROBE_LOOPS iterations (two instructions
 * each) and the wall time per instruction tells the two apart: hardware
 * needs a few nanoseconds, emulation hundreds. */
#define PROBE_LOOPS 5000
#define PROBE_MEM (64u << 10)

int kvm_probe_kernel_speed(double *ns_per_insn)
{
	char why[256];
	int sys = open_kvm(why, sizeof why);
	if (sys < 0)
		return -1;
	int rc = -1, vmfd = -1, vcpu = -1;
	void *mem = MAP_FAILED;
	struct kvm_run *run = MAP_FAILED;
	int run_size = ioctl(sys, KVM_GET_VCPU_MMAP_SIZE, 0);
	vmfd = ioctl(sys, KVM_CREATE_VM, 0);
	if (vmfd < 0 || run_size <= 0)
		goto out;
	mem = mmap(NULL, PROBE_MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		goto out;
	/* mov $PROBE_LOOPS,%ecx; 1: inc %eax; loop 1b; out %al,$0x80; hlt */
	const uint8_t code[] = {
	    0xb9, PROBE_LOOPS & 0xff, PROBE_LOOPS >> 8, 0, 0, 0x40, 0xe2, 0xfd, 0xe6, 0x80, 0xf4};
	memcpy((uint8_t *)mem + 0x1000, code, sizeof code);
	struct kvm_userspace_memory_region r = {
	    .slot = 0, .memory_size = PROBE_MEM, .userspace_addr = (uint64_t)(uintptr_t)mem};
	if (ioctl(vmfd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR) < 0 ||
	    ioctl(vmfd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		goto out;
	vcpu = ioctl(vmfd, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		goto out;
	run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		goto out;
	struct kvm_sregs sr;
	if (ioctl(vcpu, KVM_GET_SREGS, &sr) < 0)
		goto out;
	struct kvm_segment cs = {
	    .limit = 0xffffffff, .selector = 8, .type = 11, .present = 1, .db = 1, .s = 1, .g = 1};
	struct kvm_segment ds = cs;
	ds.type = 3;
	ds.selector = 16;
	sr.cs = cs;
	sr.ds = sr.es = sr.fs = sr.gs = sr.ss = ds;
	sr.cr0 |= 1;
	struct kvm_regs regs = {.rip = 0x1000, .rflags = 2};
	if (ioctl(vcpu, KVM_SET_SREGS, &sr) < 0 || ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		goto out;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Without an in-kernel irqchip the OUT exits to us, then HLT does. */
	for (int i = 0; i < 4; i++) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0)
			goto out;
		if (run->exit_reason == KVM_EXIT_IO) {
			clock_gettime(CLOCK_MONOTONIC, &t1);
			double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 +
			            (double)(t1.tv_nsec - t0.tv_nsec);
			*ns_per_insn = ns / (2.0 * PROBE_LOOPS);
			rc = 0;
			break;
		}
		if (run->exit_reason != KVM_EXIT_INTR)
			break;
	}
out:
	if (run != MAP_FAILED)
		munmap(run, (size_t)run_size);
	if (vcpu >= 0)
		close(vcpu);
	if (mem != MAP_FAILED)
		munmap(mem, PROBE_MEM);
	if (vmfd >= 0)
		close(vmfd);
	close(sys);
	return rc;
}
