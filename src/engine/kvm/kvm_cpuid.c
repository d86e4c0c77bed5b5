/* CPUID for kvm vCPUs: what KVM says it can virtualize on this host, plus a
 * topology that matches --cpus (one package, one thread per core, APIC ID =
 * vCPU index) and the hypervisor bit, so a guest sees a consistent machine. */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "engine/kvm/kvm_internal.h"
#include "util/log.h"

/* A ringfold identification leaf beside KVM's own (0x40000000 stays KVM's:
 * the paravirtual features it lists are KVM's and the guest may use them). */
#define RINGFOLD_CPUID_LEAF 0x40000100

static struct kvm_cpuid_entry2 *find(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == idx)
			return &c->entries[i];
	return NULL;
}

int kvm_cpuid_setup(struct kvm_vm *k, struct kvm_vcpu *v)
{
	const struct kvm_cpuid2 *sup = k->supported_cpuid;
	size_t bytes =
	    sizeof(struct kvm_cpuid2) + (sup->nent + 2) * sizeof(struct kvm_cpuid_entry2);
	struct kvm_cpuid2 *c = calloc(1, bytes);
	if (!c)
		return -1;
	memcpy(c, sup, sizeof(struct kvm_cpuid2) + sup->nent * sizeof(struct kvm_cpuid_entry2));
	uint32_t apic_id = (uint32_t)v->index;
	uint32_t n = (uint32_t)k->ncpus;

	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		switch (e->function) {
		case 1:
			e->ebx =
			    (e->ebx & 0x0000ffff) | (apic_id << 24) | ((n > 255 ? 255 : n) << 16);
			e->ecx |= 1u << 31; /* hypervisor present */
			if (n > 1)
				e->edx |= 1u << 28; /* HTT: more than one logical processor */
			break;
		case 4: /* deterministic cache parameters: cores per package - 1 */
			e->eax = (e->eax & 0x03ffffff) | ((n - 1) << 26);
			/* one thread shares each cache level below the LLC */
			break;
		case 0xb:
		case 0x1f:
			/* Extended topology: level 0 = SMT (1 thread), level 1 = core. */
			e->edx = apic_id;
			if (e->index == 0) {
				e->eax = 0;
				e->ebx = 1;
				e->ecx = (1u << 8) | 0;
			} else if (e->index == 1) {
				uint32_t shift = 0;
				while ((1u << shift) < n)
					shift++;
				e->eax = shift;
				e->ebx = n;
				e->ecx = (2u << 8) | 1;
			} else {
				e->eax = e->ebx = 0;
				e->ecx = e->index;
			}
			break;
		case 0x80000008: /* AMD: number of cores - 1 in ECX[7:0] */
			e->ecx = (e->ecx & ~0xffu) | ((n - 1) & 0xff);
			break;
		case 0x8000001e: /* AMD extended APIC ID */
			e->eax = apic_id;
			e->ebx = (e->ebx & ~0xffu) | (apic_id & 0xff);
			break;
		default: break;
		}
	}
	if (!find(c, RINGFOLD_CPUID_LEAF, 0)) {
		struct kvm_cpuid_entry2 *e = &c->entries[c->nent++];
		memset(e, 0, sizeof *e);
		e->function = RINGFOLD_CPUID_LEAF;
		memcpy(&e->ebx, "ring", 4);
		memcpy(&e->ecx, "fold", 4);
		memcpy(&e->edx, "VMM\0", 4);
	}
	int rc = ioctl(v->fd, KVM_SET_CPUID2, c);
	free(c);
	if (rc < 0)
		log_error("kvm: KVM_SET_CPUID2 failed for vCPU %d", v->index);
	return rc;
}
