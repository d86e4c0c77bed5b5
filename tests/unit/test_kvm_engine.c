/* The kvm engine driven directly, without loaders or platform devices: small
 * 32-bit code sequences placed in guest RAM exercise port I/O (plain and
 * string), MMIO, a triple fault, and exits requested from outside the guest.
 * Without /dev/kvm these checks are skipped loudly, or fail when
 * RINGFOLD_REQUIRE_KVM=1 (as in CI). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "vm.h"

static int skipped;

struct probe_dev {
	struct vm *vm;
	uint64_t last_write, writes;
	uint8_t seen[16];
	int nseen;
};

static uint64_t probe_read(void *opaque, uint64_t off, unsigned size)
{
	return 0x11223344u + off;
}

static void probe_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct probe_dev *p = opaque;
	p->writes++;
	p->last_write = val;
	if (off == 1 && p->nseen < 16)
		p->seen[p->nseen++] = (uint8_t)val;
	if (off == 0)
		vm_request_exit(p->vm, VM_EXIT_DEBUG, (int)val);
}

static const struct bus_ops probe_ops = {probe_read, probe_write};

static void flat32(struct cpu_state *s, uint64_t rip)
{
	cpu_state_reset(s);
	s->seg[SEG_CS] = cpu_segment_flat(0x08, true, false);
	for (int i = 0; i < SEG_COUNT; i++)
		if (i != SEG_CS && i != SEG_LDTR && i != SEG_TR)
			s->seg[i] = cpu_segment_flat(0x10, false, false);
	s->cr0 = 0x11; /* PE, ET */
	s->rip = rip;
	s->gpr[GPR_RSP] = 0x8000;
}

/* Runs `code` at 0x1000 on a fresh 32 MiB vm with a probe device at ports
 * 0x500..0x503 and MMIO 0xd0000000..+0xfff. Returns the exit kind. */
static enum vm_exit_kind run_code(const uint8_t *code, size_t len, int ncpus,
                                  struct probe_dev *probe, int *code_out)
{
	static struct vm_config cfg;
	struct vm *vm = calloc(1, sizeof *vm);
	vm->config = &cfg;
	vm->engine = &kvm_engine_ops;
	vm->ncpus = ncpus;
	struct error err;
	if (mem_init(&vm->mem, 32 << 20, false, &err) < 0) {
		printf("  mem_init: %s\n", err.msg);
		free(vm);
		return VM_EXIT_INTERNAL_ERROR;
	}
	vm->bus = bus_create();
	memset(probe, 0, sizeof *probe);
	probe->vm = vm;
	bus_register(vm->bus, BUS_PIO, 0x500, 4, &probe_ops, probe, "probe");
	bus_register(vm->bus, BUS_MMIO, 0xd0000000, 0x1000, &probe_ops, probe, "probe-mmio");
	mem_write(&vm->mem, 0x1000, code, len);
	flat32(&vm->boot_cpu, 0x1000);
	enum vm_exit_kind kind = vm_run(vm);
	*code_out = vm->exit_code;
	bus_destroy(vm->bus);
	mem_destroy(&vm->mem);
	free(vm);
	return kind;
}

static int kvm_present(void)
{
	char why[256];
	if (kvm_engine_ops.usable(why, sizeof why))
		return 1;
	const char *req = getenv("RINGFOLD_REQUIRE_KVM");
	if (req && !strcmp(req, "1")) {
		printf("  FAIL kvm required (RINGFOLD_REQUIRE_KVM=1) but unusable: %s\n", why);
		test_failed++;
	} else {
		printf("  SKIP *** kvm engine tests NOT RUN: %s ***\n", why);
		skipped++;
	}
	return 0;
}

static void test_port_out_exits(void)
{
	/* mov $0x500,%dx; mov $0x2a,%eax; out %eax,(%dx); hlt */
	const uint8_t code[] = {0x66, 0xba, 0x00, 0x05, 0xb8, 0x2a, 0, 0, 0, 0xef, 0xf4};
	struct probe_dev p;
	int c = -1;
	CHECK_EQ(run_code(code, sizeof code, 1, &p, &c), VM_EXIT_DEBUG);
	CHECK_EQ(c, 0x2a);
}

static void test_port_in_and_string_out(void)
{
	/* in from 0x502 (→ 0x11223346), store at 0x3000; rep outsb 3 bytes of
	 * "abc" to port 0x501; then out the loaded value to 0x500. */
	const uint8_t code[] = {
	    0x66, 0xba, 0x02, 0x05,    /* mov $0x502,%dx */
	    0xed,                      /* in (%dx),%eax */
	    0x89, 0xc3,                /* mov %eax,%ebx */
	    0x66, 0xba, 0x01, 0x05,    /* mov $0x501,%dx */
	    0xbe, 0x00, 0x20, 0,    0, /* mov $0x2000,%esi */
	    0xb9, 0x03, 0,    0,    0, /* mov $3,%ecx */
	    0xfc,                      /* cld */
	    0xf3, 0x6e,                /* rep outsb */
	    0x89, 0xd8,                /* mov %ebx,%eax */
	    0x66, 0xba, 0x00, 0x05,    /* mov $0x500,%dx */
	    0xef, 0xf4,                /* out %eax,(%dx); hlt */
	};
	uint8_t full[0x1100] = {0};
	memcpy(full, code, sizeof code);
	memcpy(full + 0x1000, "abc", 3);
	struct probe_dev p;
	int c = -1;
	CHECK_EQ(run_code(full, sizeof full, 1, &p, &c), VM_EXIT_DEBUG);
	CHECK_EQ((uint32_t)c, 0x11223346u);
	CHECK_EQ(p.nseen, 3);
	CHECK(!memcmp(p.seen, "abc", 3));
}

static void test_mmio_read_write(void)
{
	/* mov 0xd0000010,%eax; mov %eax,0xd0000000 (MMIO write at offset 0 ends
	 * the VM with the value read: 0x11223354) */
	const uint8_t code[] = {0xa1, 0x10, 0, 0, 0xd0, 0xa3, 0, 0, 0, 0xd0, 0xf4};
	struct probe_dev p;
	int c = -1;
	CHECK_EQ(run_code(code, sizeof code, 1, &p, &c), VM_EXIT_DEBUG);
	CHECK_EQ((uint32_t)c, 0x11223354u);
}

static void test_unassigned_mmio_reads_ones(void)
{
	/* mov 0xe0000000,%eax (nothing there); out %eax,$0x500 via dx */
	const uint8_t code[] = {0xa1, 0, 0, 0, 0xe0, 0x66, 0xba, 0x00, 0x05, 0xef, 0xf4};
	struct probe_dev p;
	int c = -1;
	CHECK_EQ(run_code(code, sizeof code, 1, &p, &c), VM_EXIT_DEBUG);
	CHECK_EQ((uint32_t)c, 0xffffffffu);
}

static void test_triple_fault(void)
{
	/* With an IDT whose limit is 0 (or whose gates are not present) no
	 * exception can be delivered: #UD or #DE → #GP → #DF → shutdown. (INT3
	 * is avoided: kvm_pvm's CPL0 emulator reports an internal error for it
	 * instead of a shutdown.) */
	const uint8_t ud_no_idt[] = {0x0f, 0x01, 0x1d, 0x00, 0x30, 0, 0, /* lidt 0x3000 */
	                             0x0f, 0x0b, 0xf4};                  /* ud2 */
	const uint8_t de_no_idt[] = {0x0f, 0x01, 0x1d, 0x00, 0x30, 0, 0, /* lidt 0x3000 */
	                             0x31, 0xc9, 0xf7, 0xf1, 0xf4};      /* xor ecx; div ecx */
	static uint8_t ud_absent_gates[0x2100] = {0x0f, 0x01, 0x1d, 0x00, 0x30,
	                                          0,    0,    0x0f, 0x0b, 0xf4};
	ud_absent_gates[0x2000] = 0xff; /* IDT limit 0x7ff at base 0: all gates zero */
	ud_absent_gates[0x2001] = 0x07;
	struct probe_dev p;
	int c = -1;
	CHECK_EQ(run_code(ud_no_idt, sizeof ud_no_idt, 1, &p, &c), VM_EXIT_TRIPLE_FAULT);
	CHECK_EQ(run_code(de_no_idt, sizeof de_no_idt, 1, &p, &c), VM_EXIT_TRIPLE_FAULT);
	CHECK_EQ(run_code(ud_absent_gates, sizeof ud_absent_gates, 1, &p, &c),
	         VM_EXIT_TRIPLE_FAULT);
}

static void test_two_vcpus_exit_cleanly(void)
{
	/* The BSP ends the VM while the AP waits for SIPI: run() must return. */
	const uint8_t code[] = {0x66, 0xba, 0x00, 0x05, 0xb8, 0x07, 0, 0, 0, 0xef, 0xf4};
	struct probe_dev p;
	int c = -1;
	CHECK_EQ(run_code(code, sizeof code, 2, &p, &c), VM_EXIT_DEBUG);
	CHECK_EQ(c, 7);
}

int main(void)
{
	if (kvm_present()) {
		RUN(test_port_out_exits);
		RUN(test_port_in_and_string_out);
		RUN(test_mmio_read_write);
		RUN(test_unassigned_mmio_reads_ones);
		RUN(test_triple_fault);
		RUN(test_two_vcpus_exit_cleanly);
	}
	if (skipped) {
		printf("%d passed, %d failed, %d skipped\n", test_passed, test_failed, skipped);
		return test_failed ? 1 : 0;
	}
	TEST_DONE();
}
