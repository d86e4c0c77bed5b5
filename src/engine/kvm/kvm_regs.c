/* Conversion between the engine-neutral struct cpu_state and KVM's register
 * structures. Kept in one place so that snapshot, debugging and boot all see
 * the same mapping. */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "engine/kvm/kvm_internal.h"
#include "util/log.h"

static void seg_to_kvm(const struct cpu_segment *c, struct kvm_segment *k)
{
	memset(k, 0, sizeof *k);
	k->base = c->base;
	k->limit = c->limit;
	k->selector = c->selector;
	k->type = c->type;
	k->s = c->s;
	k->dpl = c->dpl;
	k->present = c->present;
	k->avl = c->avl;
	k->l = c->l;
	k->db = c->db;
	k->g = c->g;
	k->unusable = c->unusable;
}

static void seg_from_kvm(const struct kvm_segment *k, struct cpu_segment *c)
{
	*c = (struct cpu_segment){
	    .base = k->base,
	    .limit = k->limit,
	    .selector = k->selector,
	    .type = k->type,
	    .s = k->s,
	    .dpl = k->dpl,
	    .present = k->present,
	    .avl = k->avl,
	    .l = k->l,
	    .db = k->db,
	    .g = k->g,
	    .unusable = k->unusable,
	};
}

static struct kvm_segment *sregs_seg(struct kvm_sregs *s, int i)
{
	switch (i) {
	case SEG_ES: return &s->es;
	case SEG_CS: return &s->cs;
	case SEG_SS: return &s->ss;
	case SEG_DS: return &s->ds;
	case SEG_FS: return &s->fs;
	case SEG_GS: return &s->gs;
	case SEG_LDTR: return &s->ldt;
	default: return &s->tr;
	}
}

/* MSRs that belong to struct cpu_state, in the order of its fields. */
static const uint32_t state_msrs[] = {
    0xc0000081, /* STAR */
    0xc0000082, /* LSTAR */
    0xc0000083, /* CSTAR */
    0xc0000084, /* SFMASK */
    0xc0000102, /* KERNEL_GS_BASE */
    0x174,      /* SYSENTER_CS */
    0x175,      /* SYSENTER_ESP */
    0x176,      /* SYSENTER_EIP */
    0x277,      /* PAT */
};
#define NSTATE_MSRS (sizeof state_msrs / sizeof state_msrs[0])

static int msrs_transfer(int fd, unsigned long request, const uint32_t *index, uint64_t *data,
                         int n)
{
	struct kvm_msrs *m = calloc(1, sizeof *m + (size_t)n * sizeof(struct kvm_msr_entry));
	if (!m)
		return -1;
	m->nmsrs = (uint32_t)n;
	for (int i = 0; i < n; i++) {
		m->entries[i].index = index[i];
		m->entries[i].data = data[i];
	}
	int rc = ioctl(fd, request, m);
	if (rc == n && request == KVM_GET_MSRS)
		for (int i = 0; i < n; i++)
			data[i] = m->entries[i].data;
	free(m);
	return rc == n ? 0 : -1;
}

int kvm_msrs_get(int vcpu_fd, const uint32_t *index, uint64_t *data, int n)
{
	return msrs_transfer(vcpu_fd, KVM_GET_MSRS, index, data, n);
}

int kvm_msrs_set(int vcpu_fd, const uint32_t *index, const uint64_t *data, int n)
{
	uint64_t copy[64];
	if (n > 64)
		return -1;
	memcpy(copy, data, (size_t)n * sizeof *data);
	return msrs_transfer(vcpu_fd, KVM_SET_MSRS, index, copy, n);
}

static uint64_t *state_msr_field(struct cpu_state *s, size_t i)
{
	uint64_t *f[NSTATE_MSRS] = {&s->star,         &s->lstar,          &s->cstar,
	                            &s->sfmask,       &s->kernel_gs_base, &s->sysenter_cs,
	                            &s->sysenter_esp, &s->sysenter_eip,   &s->pat};
	return f[i];
}

int kvm_regs_set(struct kvm_vcpu *v, const struct cpu_state *s)
{
	struct kvm_regs r;
	memset(&r, 0, sizeof r);
	r.rax = s->gpr[GPR_RAX], r.rcx = s->gpr[GPR_RCX], r.rdx = s->gpr[GPR_RDX];
	r.rbx = s->gpr[GPR_RBX], r.rsp = s->gpr[GPR_RSP], r.rbp = s->gpr[GPR_RBP];
	r.rsi = s->gpr[GPR_RSI], r.rdi = s->gpr[GPR_RDI];
	r.r8 = s->gpr[GPR_R8], r.r9 = s->gpr[GPR_R9], r.r10 = s->gpr[GPR_R10];
	r.r11 = s->gpr[GPR_R11], r.r12 = s->gpr[GPR_R12], r.r13 = s->gpr[GPR_R13];
	r.r14 = s->gpr[GPR_R14], r.r15 = s->gpr[GPR_R15];
	r.rip = s->rip;
	r.rflags = s->rflags;

	struct kvm_sregs sr;
	if (ioctl(v->fd, KVM_GET_SREGS, &sr) < 0)
		return -1;
	for (int i = 0; i < SEG_COUNT; i++)
		seg_to_kvm(&s->seg[i], sregs_seg(&sr, i));
	sr.gdt.base = s->gdt.base, sr.gdt.limit = s->gdt.limit;
	sr.idt.base = s->idt.base, sr.idt.limit = s->idt.limit;
	sr.cr0 = s->cr0, sr.cr2 = s->cr2, sr.cr3 = s->cr3, sr.cr4 = s->cr4, sr.cr8 = s->cr8;
	sr.efer = s->efer;
	sr.apic_base = s->apic_base;

	uint64_t vals[NSTATE_MSRS];
	for (size_t i = 0; i < NSTATE_MSRS; i++)
		vals[i] = *state_msr_field((struct cpu_state *)s, i);
	if (ioctl(v->fd, KVM_SET_SREGS, &sr) < 0 || ioctl(v->fd, KVM_SET_REGS, &r) < 0 ||
	    kvm_msrs_set(v->fd, state_msrs, vals, NSTATE_MSRS) < 0)
		return -1;
	return 0;
}

int kvm_regs_get(struct kvm_vcpu *v, struct cpu_state *s)
{
	struct kvm_regs r;
	struct kvm_sregs sr;
	struct kvm_debugregs dr;
	if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 || ioctl(v->fd, KVM_GET_SREGS, &sr) < 0)
		return -1;
	memset(s, 0, sizeof *s);
	s->gpr[GPR_RAX] = r.rax, s->gpr[GPR_RCX] = r.rcx, s->gpr[GPR_RDX] = r.rdx;
	s->gpr[GPR_RBX] = r.rbx, s->gpr[GPR_RSP] = r.rsp, s->gpr[GPR_RBP] = r.rbp;
	s->gpr[GPR_RSI] = r.rsi, s->gpr[GPR_RDI] = r.rdi;
	s->gpr[GPR_R8] = r.r8, s->gpr[GPR_R9] = r.r9, s->gpr[GPR_R10] = r.r10;
	s->gpr[GPR_R11] = r.r11, s->gpr[GPR_R12] = r.r12, s->gpr[GPR_R13] = r.r13;
	s->gpr[GPR_R14] = r.r14, s->gpr[GPR_R15] = r.r15;
	s->rip = r.rip;
	s->rflags = r.rflags;
	for (int i = 0; i < SEG_COUNT; i++)
		seg_from_kvm(sregs_seg(&sr, i), &s->seg[i]);
	s->gdt = (struct cpu_dtable){sr.gdt.base, sr.gdt.limit};
	s->idt = (struct cpu_dtable){sr.idt.base, sr.idt.limit};
	s->cr0 = sr.cr0, s->cr2 = sr.cr2, s->cr3 = sr.cr3, s->cr4 = sr.cr4, s->cr8 = sr.cr8;
	s->efer = sr.efer;
	s->apic_base = sr.apic_base;
	if (ioctl(v->fd, KVM_GET_DEBUGREGS, &dr) == 0) {
		for (int i = 0; i < 4; i++)
			s->dr[i] = dr.db[i];
		s->dr[6] = dr.dr6;
		s->dr[7] = dr.dr7;
	}
	uint64_t vals[NSTATE_MSRS] = {0};
	if (kvm_msrs_get(v->fd, state_msrs, vals, NSTATE_MSRS) == 0)
		for (size_t i = 0; i < NSTATE_MSRS; i++)
			*state_msr_field(s, i) = vals[i];
	return 0;
}
