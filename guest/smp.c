/* SMP: start every other processor the MADT lists with INIT-SIPI-SIPI,
 * one at a time (each gets its own stack), and have each check in by
 * incrementing a shared counter with a LOCK-prefixed instruction and
 * reporting the APIC ID it reads from its own local APIC. */
#include "kernel.h"
#include "x86.h"

extern struct desc_ptr gdt_ptr;

uint64_t ap_boot_stack;
static uint8_t ap_stacks[MAX_CPUS][8192] __attribute__((aligned(16)));
static volatile uint32_t ap_checkins;
static volatile uint32_t ap_reported_id;

void ap_main(void)
{
	idt_load();
	ap_reported_id = lapic_id();
	__asm__ volatile("lock incl %0" : "+m"(ap_checkins)::"memory");
	for (;;)
		__asm__ volatile("cli; hlt");
}

static bool icr_send(uint32_t apic_id, uint32_t low)
{
	lapic_write(0x310, apic_id << 24);
	lapic_write(0x300, low);
	uint64_t end = deadline_ms(100);
	for (int i = 0; i < 1000000 && !expired(end); i++)
		if (!(lapic_read(0x300) & (1u << 12))) /* delivery status: idle */
			return true;
	return false;
}

static bool wait_checkin(uint32_t before, uint64_t ms)
{
	uint64_t end = deadline_ms(ms);
	for (uint64_t i = 0; i < 50000000ul && !expired(end); i++) {
		if (ap_checkins != before)
			return true;
		cpu_relax();
	}
	return ap_checkins != before;
}

void check_smp(void)
{
	static struct acpi_info a;
	char msg[120];
	if (!acpi_scan(&a, msg, sizeof(msg))) {
		check_fail("no processor list: %s", msg);
		return;
	}
	if (a.listed > MAX_CPUS)
		check_note("only the first %d of %d CPUs are started", MAX_CPUS, a.listed);
	uint32_t bsp = lapic_id();
	if (a.ncpus == 1) {
		if (a.apic_ids[0] != bsp)
			check_fail("the MADT lists APIC ID %u, we are %u", a.apic_ids[0], bsp);
		else
			check_note("1 CPU listed, nothing to start");
		return;
	}

	size_t size = (size_t)(ap_trampoline_end - ap_trampoline_start);
	memcpy((void *)AP_TRAMPOLINE, ap_trampoline_start, size);
	uint8_t *t = (uint8_t *)AP_TRAMPOLINE;
	uint16_t limit = gdt_ptr.limit;
	uint32_t base = (uint32_t)(uint64_t)gdt;
	memcpy(t + (ap_tramp_gdtr - ap_trampoline_start), &limit, 2);
	memcpy(t + (ap_tramp_gdtr - ap_trampoline_start) + 2, &base, 4);
	uint32_t cr3 = (uint32_t)read_cr3(),
	         efer = (uint32_t)(rdmsr(MSR_EFER) & (EFER_LME | EFER_NXE));
	memcpy(t + (ap_tramp_cr3 - ap_trampoline_start), &cr3, 4);
	memcpy(t + (ap_tramp_efer - ap_trampoline_start), &efer, 4);

	bool bsp_listed = false;
	for (int i = 0; i < a.ncpus; i++)
		bsp_listed |= a.apic_ids[i] == bsp;
	if (!bsp_listed)
		check_fail("the MADT does not list this CPU (APIC ID %u)", bsp);

	int started = 1, stack = 0;
	for (int i = 0; i < a.ncpus; i++) {
		uint32_t id = a.apic_ids[i];
		if (id == bsp)
			continue;
		if (id > 0xfe) {
			check_fail("APIC ID %u needs x2APIC", id);
			continue;
		}
		if (stack == MAX_CPUS) { /* only when the MADT does not list us */
			check_fail("no stack left for APIC ID %u", id);
			break;
		}
		ap_boot_stack = (uint64_t)(ap_stacks[stack] + sizeof(ap_stacks[stack]));
		stack++;
		uint32_t before = ap_checkins;
		ap_reported_id = 0xffffffff;
		if (!icr_send(id, 0x4500)) { /* INIT, level assert */
			check_fail("INIT to APIC %u not delivered", id);
			continue;
		}
		delay_us(10000);
		uint32_t sipi = 0x4600 | (AP_TRAMPOLINE >> 12);
		bool sent = icr_send(id, sipi);
		if (sent && !wait_checkin(before, 1))
			sent = icr_send(id, sipi); /* the second SIPI, if the first was missed */
		if (!sent) {
			check_fail("SIPI to APIC %u not delivered", id);
			continue;
		}
		if (!wait_checkin(before, 2000)) {
			/* Stop here: a late one would share the next one's stack. */
			check_fail("CPU with APIC ID %u did not check in", id);
			break;
		}
		if (ap_reported_id != id)
			check_fail("started APIC ID %u, it reports %u", id, ap_reported_id);
		started++;
	}
	if (started != a.ncpus)
		check_fail("%d of %d CPUs checked in", started, a.ncpus);
	else
		check_note("%d of %d CPUs checked in", started, a.ncpus);
}
