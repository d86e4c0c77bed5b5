/* Interrupt routing and the device fast paths of the kvm engine:
 *
 *  - the GSI routing table: the PC wiring (ISA IRQs 0-15 to the 8259 pair,
 *    GSIs 0-23 to the IOAPIC pins, the PIT's IRQ 0 on pin 2) followed by
 *    one MSI route per irqfd (GSI KVM_MSI_GSI_BASE + n). KVM_SET_GSI_ROUTING
 *    replaces the whole table, so it is rebuilt from this state each time.
 *  - KVM_SIGNAL_MSI, the generic MSI path (vm_signal_msi).
 *  - irqfds: an eventfd bound to an MSI route, so an I/O thread raises a
 *    device interrupt with one write(), re-pointed when the guest
 *    reprograms the MSI-X vector.
 *  - ioeventfds: a guest write to a device's notify register signals an
 *    eventfd inside KVM, with no exit to a vCPU thread.
 *
 * Every entry point may be called from any thread while the engine runs,
 * or before and after (then it fails: devices keep their slow paths). They
 * hold vm->exit_lock, under which kvm.c publishes and withdraws
 * vm->engine_data, so the VM's file descriptor cannot close under them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "engine/kvm/kvm_internal.h"
#include "util/log.h"

static int apply_routing(struct kvm_vm *k)
{
	size_t max = 64 + KVM_MSI_ROUTES;
	struct kvm_irq_routing *r =
	    calloc(1, sizeof *r + max * sizeof(struct kvm_irq_routing_entry));
	if (!r)
		return -1;
	uint32_t n = 0;
	for (uint32_t gsi = 0; gsi < 16; gsi++) {
		if (gsi == 2)
			continue; /* the cascade */
		r->entries[n++] = (struct kvm_irq_routing_entry){
		    .gsi = gsi,
		    .type = KVM_IRQ_ROUTING_IRQCHIP,
		    .u.irqchip = {.irqchip =
		                      gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
		                  .pin = gsi % 8}};
	}
	for (uint32_t gsi = 0; gsi < 24; gsi++) {
		if (gsi == 2)
			continue;
		r->entries[n++] = (struct kvm_irq_routing_entry){
		    .gsi = gsi,
		    .type = KVM_IRQ_ROUTING_IRQCHIP,
		    .u.irqchip = {.irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi == 0 ? 2 : gsi}};
	}
	for (uint32_t i = 0; i < KVM_MSI_ROUTES; i++) {
		const struct kvm_msi_route *m = &k->irq.msi[i];
		if (!m->used)
			continue;
		r->entries[n++] = (struct kvm_irq_routing_entry){
		    .gsi = KVM_MSI_GSI_BASE + i,
		    .type = KVM_IRQ_ROUTING_MSI,
		    .u.msi = {
		        .address_lo = m->address_lo, .address_hi = m->address_hi, .data = m->data}};
	}
	r->nr = n;
	int rc = ioctl(k->vm_fd, KVM_SET_GSI_ROUTING, r);
	free(r);
	return rc;
}

int kvm_irq_init(struct kvm_vm *k)
{
	memset(&k->irq, 0, sizeof k->irq);
	k->irq.has_signal_msi = ioctl(k->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_SIGNAL_MSI) > 0;
	k->irq.has_irqfd = ioctl(k->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD) > 0;
	k->irq.has_ioeventfd = ioctl(k->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD) > 0;
	k->irq.ioeventfd_any_length =
	    ioctl(k->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD_ANY_LENGTH) > 0;
	return apply_routing(k);
}

/* The running engine, with vm->exit_lock held; NULL (lock released) if
 * there is none. */
static struct kvm_vm *engine_locked(struct vm *vm)
{
	pthread_mutex_lock(&vm->exit_lock);
	struct kvm_vm *k = vm->engine_data;
	if (!k)
		pthread_mutex_unlock(&vm->exit_lock);
	return k;
}

void kvm_signal_msi(struct vm *vm, uint64_t address, uint32_t data)
{
	struct kvm_vm *k = engine_locked(vm);
	if (!k)
		return;
	if (k->irq.has_signal_msi) {
		struct kvm_msi msi = {.address_lo = (uint32_t)address,
		                      .address_hi = (uint32_t)(address >> 32),
		                      .data = data};
		/* 0 means the guest blocked it (e.g. a masked LAPIC): as on
		 * hardware, the message is simply lost. */
		if (ioctl(k->vm_fd, KVM_SIGNAL_MSI, &msi) < 0)
			log_warn("kvm: KVM_SIGNAL_MSI %#llx/%#x: %s", (unsigned long long)address,
			         data, strerror(errno));
	}
	pthread_mutex_unlock(&vm->exit_lock);
}

int kvm_ioeventfd(struct vm *vm, uint64_t gpa, unsigned len, int fd, bool assign)
{
	struct kvm_vm *k = engine_locked(vm);
	if (!k)
		return -1;
	int rc = -1;
	if (k->irq.has_ioeventfd && (len || k->irq.ioeventfd_any_length) &&
	    (len == 0 || len == 1 || len == 2 || len == 4 || len == 8)) {
		struct kvm_ioeventfd io = {.addr = gpa,
		                           .len = len,
		                           .fd = fd,
		                           .flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN};
		rc = ioctl(k->vm_fd, KVM_IOEVENTFD, &io);
		if (rc < 0 && assign)
			log_debug("kvm: KVM_IOEVENTFD at %#llx (%u bytes): %s",
			          (unsigned long long)gpa, len, strerror(errno));
		else if (rc == 0)
			log_debug("kvm: ioeventfd %s at %#llx (%u bytes)",
			          assign ? "bound" : "unbound", (unsigned long long)gpa, len);
	}
	pthread_mutex_unlock(&vm->exit_lock);
	return rc < 0 ? -1 : 0;
}

int kvm_irqfd_add(struct vm *vm, int fd, uint64_t address, uint32_t data)
{
	struct kvm_vm *k = engine_locked(vm);
	if (!k)
		return -1;
	int route = -1;
	if (!k->irq.has_irqfd)
		goto out;
	for (int i = 0; i < KVM_MSI_ROUTES; i++) {
		if (!k->irq.msi[i].used) {
			route = i;
			break;
		}
	}
	if (route < 0)
		goto out;
	k->irq.msi[route] = (struct kvm_msi_route){.used = true,
	                                           .fd = fd,
	                                           .address_lo = (uint32_t)address,
	                                           .address_hi = (uint32_t)(address >> 32),
	                                           .data = data};
	struct kvm_irqfd irqfd = {.fd = (uint32_t)fd, .gsi = KVM_MSI_GSI_BASE + (uint32_t)route};
	if (apply_routing(k) < 0 || ioctl(k->vm_fd, KVM_IRQFD, &irqfd) < 0) {
		log_debug("kvm: irqfd for MSI %#llx/%#x: %s", (unsigned long long)address, data,
		          strerror(errno));
		k->irq.msi[route].used = false;
		apply_routing(k);
		route = -1;
	} else {
		log_debug("kvm: irqfd on GSI %d for MSI %#llx/%#x", KVM_MSI_GSI_BASE + route,
		          (unsigned long long)address, data);
	}
out:
	pthread_mutex_unlock(&vm->exit_lock);
	return route;
}

int kvm_irqfd_update(struct vm *vm, int route, uint64_t address, uint32_t data)
{
	struct kvm_vm *k = engine_locked(vm);
	if (!k)
		return -1;
	int rc = -1;
	if (route >= 0 && route < KVM_MSI_ROUTES && k->irq.msi[route].used) {
		struct kvm_msi_route *m = &k->irq.msi[route];
		m->address_lo = (uint32_t)address;
		m->address_hi = (uint32_t)(address >> 32);
		m->data = data;
		rc = apply_routing(k) < 0 ? -1 : 0;
	}
	pthread_mutex_unlock(&vm->exit_lock);
	return rc;
}

void kvm_irqfd_remove(struct vm *vm, int route)
{
	struct kvm_vm *k = engine_locked(vm);
	if (!k)
		return;
	if (route >= 0 && route < KVM_MSI_ROUTES && k->irq.msi[route].used) {
		struct kvm_irqfd irqfd = {.fd = (uint32_t)k->irq.msi[route].fd,
		                          .gsi = KVM_MSI_GSI_BASE + (uint32_t)route,
		                          .flags = KVM_IRQFD_FLAG_DEASSIGN};
		ioctl(k->vm_fd, KVM_IRQFD, &irqfd);
		k->irq.msi[route].used = false;
		apply_routing(k);
	}
	pthread_mutex_unlock(&vm->exit_lock);
}
