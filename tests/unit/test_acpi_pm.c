/* The ACPI fixed hardware through the bus, as a guest drives it: power-off
 * through PM1a_CNT, reset through 0xCF9, the PM timer's rate, PM1 status
 * write-1-to-clear and the SCI that follows status & enable. */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "dev/acpi_pm.h"
#include "test.h"
#include "vm.h"

#include "fake_engine.h"

struct fixture {
	struct vm vm;
	struct acpi_pm *pm;
};

static void setup(struct fixture *f)
{
	memset(f, 0, sizeof *f);
	f->vm.bus = bus_create();
	f->vm.engine = &fake_engine;
	fake_engine_reset();
	fake.last_gsi = 0;
	fake.last_level = -1;
	f->pm = acpi_pm_create(&f->vm);
	CHECK(f->pm != NULL);
}

static void teardown(struct fixture *f)
{
	acpi_pm_destroy(f->pm);
	bus_destroy(f->vm.bus);
}

static int exit_kind(struct fixture *f)
{
	return atomic_load(&f->vm.exit_kind);
}

#define SLP_S5 (ACPI_PM_SLP_TYP_S5 << ACPI_PM1_SLP_TYP_SHIFT)

static void test_poweroff(void)
{
	struct fixture f;
	setup(&f);
	if (!f.pm)
		return;
	/* ACPICA writes SLP_TYP first, then SLP_TYP | SLP_EN. */
	bus_write(f.vm.bus, BUS_PIO, 0x604, 2, SLP_S5);
	CHECK_EQ(exit_kind(&f), VM_EXIT_NONE);
	CHECK_EQ(bus_read(f.vm.bus, BUS_PIO, 0x604, 2), SLP_S5 | ACPI_PM1_SCI_EN);
	bus_write(f.vm.bus, BUS_PIO, 0x604, 2, SLP_S5 | ACPI_PM1_SLP_EN);
	CHECK_EQ(exit_kind(&f), VM_EXIT_POWEROFF);
	CHECK_EQ(fake.kicks, 1);
	/* SLP_EN is write-only. */
	CHECK_EQ(bus_read(f.vm.bus, BUS_PIO, 0x604, 2) & ACPI_PM1_SLP_EN, 0);
	teardown(&f);
}

static void test_poweroff_byte_write(void)
{
	struct fixture f;
	setup(&f);
	if (!f.pm)
		return;
	/* The high byte alone holds SLP_TYP and SLP_EN. */
	bus_write(f.vm.bus, BUS_PIO, 0x605, 1, (SLP_S5 | ACPI_PM1_SLP_EN) >> 8);
	CHECK_EQ(exit_kind(&f), VM_EXIT_POWEROFF);
	teardown(&f);
}

static void test_poweroff_dword_write(void)
{
	struct fixture f;
	setup(&f);
	if (!f.pm)
		return;
	/* The 32-bit write the lead's integration test kernel does. */
	bus_write(f.vm.bus, BUS_PIO, 0x604, 4, 0x3400);
	CHECK_EQ(exit_kind(&f), VM_EXIT_POWEROFF);
	teardown(&f);
}

static void test_other_sleep_states_ignored(void)
{
	struct fixture f;
	setup(&f);
	if (!f.pm)
		return;
	for (unsigned typ = 0; typ < 8; typ++) {
		if (typ == ACPI_PM_SLP_TYP_S5)
			continue;
		bus_write(f.vm.bus, BUS_PIO, 0x604, 2, typ << 10 | ACPI_PM1_SLP_EN);
	}
	CHECK_EQ(exit_kind(&f), VM_EXIT_NONE);
	/* SLP_EN alone, with SLP_TYP 5 already latched, does power off. */
	bus_write(f.vm.bus, BUS_PIO, 0x604, 2, SLP_S5);
	bus_write(f.vm.bus, BUS_PIO, 0x605, 1, (SLP_S5 | ACPI_PM1_SLP_EN) >> 8);
	CHECK_EQ(exit_kind(&f), VM_EXIT_POWEROFF);
	teardown(&f);
}

static void test_sci_en_reads_one(void)
{
	struct fixture f;
	setup(&f);
	if (!f.pm)
		return;
	CHECK_EQ(bus_read(f.vm.bus, BUS_PIO, 0x604, 2), ACPI_PM1_SCI_EN);
	bus_write(f.vm.bus, BUS_PIO, 0x604, 2, 0); /* cannot leave ACPI mode */
	CHECK_EQ(bus_read(f.vm.bus, BUS_PIO, 0x604, 1) & 1, 1);
	bus_write(f.vm.bus, BUS_PIO, 0x604, 2, 0x0004); /* GBL_RLS: write-only */
	CHECK_EQ(bus_read(f.vm.bus, BUS_PIO, 0x604, 2), ACPI_PM1_SCI_EN);
	teardown(&f);
}

static void test_reset_register(void)
{
	static const uint8_t resets[] = {0x06, 0x0E};
	for (size_t i = 0; i < sizeof resets; i++) {
		struct fixture f;
		setup(&f);
		if (!f.pm)
			return;
		/* Linux's reboot=pci: 0x02 first (no reset), then 0x06. */
		bus_write(f.vm.bus, BUS_PIO, 0xCF9, 1, 0x02);
		CHECK_EQ(exit_kind(&f), VM_EXIT_NONE);
		CHECK_EQ(bus_read(f.vm.bus, BUS_PIO, 0xCF9, 1), 0x02);
		bus_write(f.vm.bus, BUS_PIO, 0xCF9, 1, resets[i]);
		CHECK_EQ(exit_kind(&f), VM_EXIT_RESET);
		CHECK_EQ(bus_read(f.vm.bus, BUS_PIO, 0xCF9, 1), resets[i]);
		CHECK_EQ(fake.kicks, 1);
		teardown(&f);
	}
}

static void test_first_exit_wins(void)
{
	struct fixture f;
	setup(&f);
	if (!f.pm)
		return;
	bus_write(f.vm.bus, BUS_PIO, 0xCF9, 1, 0x06);
	bus_write(f.vm.bus, BUS_PIO, 0x604, 2, SLP_S5 | ACPI_PM1_SLP_EN);
	CHECK_EQ(exit_kind(&f), VM_EXIT_RESET);
	teardown(&f);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_timer_rate(void)
{
	struct fixture f;
	setup(&f);
	if (!f.pm)
		return;
	double t0 = now_s();
	uint32_t a = (uint32_t)bus_read(f.vm.bus, BUS_PIO, 0x608, 4);
	struct timespec nap = {0, 100 * 1000 * 1000};
	nanosleep(&nap, NULL);
	uint32_t b = (uint32_t)bus_read(f.vm.bus, BUS_PIO, 0x608, 4);
	double t1 = now_s();
	double ticks = (double)(uint32_t)(b - a); /* 32-bit: wraps after ~20 minutes */
	double rate = ticks / (t1 - t0);
	/* Loosely: the host may be busy, but the rate comes from the clock. */
	CHECK(rate > ACPI_PM_TIMER_HZ * 0.8 && rate < ACPI_PM_TIMER_HZ * 1.2);
	if (!(rate > ACPI_PM_TIMER_HZ * 0.8 && rate < ACPI_PM_TIMER_HZ * 1.2))
		printf("  timer rate %.0f Hz\n", rate);

	/* Never goes backwards across many reads; byte reads see the same
	 * counter (the low byte moves, the top byte is stable). */
	uint32_t prev = (uint32_t)bus_read(f.vm.bus, BUS_PIO, 0x608, 4);
	for (int i = 0; i < 10000; i++) {
		uint32_t v = (uint32_t)bus_read(f.vm.bus, BUS_PIO, 0x608, 4);
		CHECK((uint32_t)(v - prev) < 0x80000000u);
		if ((uint32_t)(v - prev) >= 0x80000000u)
			break;
		prev = v;
	}
	uint64_t hi = bus_read(f.vm.bus, BUS_PIO, 0x60B, 1);
	uint64_t top = (bus_read(f.vm.bus, BUS_PIO, 0x608, 4) >> 24) & 0xFF;
	CHECK(hi == top || ((hi + 1) & 0xFF) == top); /* it may tick over in between */
	/* Read-only. */
	bus_write(f.vm.bus, BUS_PIO, 0x608, 4, 0);
	uint32_t c = (uint32_t)bus_read(f.vm.bus, BUS_PIO, 0x608, 4);
	CHECK((uint32_t)(c - prev) < 0x80000000u);
	teardown(&f);
}

static void test_status_w1c_and_sci(void)
{
	struct fixture f;
	setup(&f);
	if (!f.pm)
		return;
	CHECK_EQ(bus_read(f.vm.bus, BUS_PIO, 0x600, 4), 0);

	/* Pressed while disabled: status set, no SCI. */
	acpi_pm_power_button(f.pm);
	CHECK_EQ(bus_read(f.vm.bus, BUS_PIO, 0x600, 2), ACPI_PM1_PWRBTN_STS);
	CHECK_EQ(fake.irq_calls, 0);

	/* Enabling it raises the SCI (level, IRQ 9). */
	bus_write(f.vm.bus, BUS_PIO, 0x602, 2, ACPI_PM1_PWRBTN_EN);
	CHECK_EQ(bus_read(f.vm.bus, BUS_PIO, 0x602, 2), ACPI_PM1_PWRBTN_EN);
	CHECK_EQ(fake.irq_calls, 1);
	CHECK_EQ(fake.last_gsi, ACPI_PM_SCI_IRQ);
	CHECK_EQ(fake.last_level, 1);
	/* One 32-bit read sees status (low half) and enable (high half). */
	CHECK_EQ(bus_read(f.vm.bus, BUS_PIO, 0x600, 4),
	         ACPI_PM1_PWRBTN_STS | (uint32_t)ACPI_PM1_PWRBTN_EN << 16);

	/* Writing 0 to a status bit leaves it; writing 1 clears it. */
	bus_write(f.vm.bus, BUS_PIO, 0x600, 2, 0);
	CHECK_EQ(bus_read(f.vm.bus, BUS_PIO, 0x600, 2), ACPI_PM1_PWRBTN_STS);
	CHECK_EQ(fake.irq_calls, 1);
	bus_write(f.vm.bus, BUS_PIO, 0x600, 2, ACPI_PM1_PWRBTN_STS);
	CHECK_EQ(bus_read(f.vm.bus, BUS_PIO, 0x600, 2), 0);
	CHECK_EQ(fake.irq_calls, 2);
	CHECK_EQ(fake.last_level, 0);

	/* A 32-bit write of status|enable, the way some guests do it, clears
	 * status and keeps enable; a second press raises the SCI again. */
	acpi_pm_power_button(f.pm);
	CHECK_EQ(fake.last_level, 1);
	bus_write(f.vm.bus, BUS_PIO, 0x600, 4,
	          ACPI_PM1_PWRBTN_STS | (uint32_t)ACPI_PM1_PWRBTN_EN << 16);
	CHECK_EQ(bus_read(f.vm.bus, BUS_PIO, 0x600, 4), (uint32_t)ACPI_PM1_PWRBTN_EN << 16);
	CHECK_EQ(fake.last_level, 0);

	/* Disabling with status pending lowers the line. */
	acpi_pm_power_button(f.pm);
	CHECK_EQ(fake.last_level, 1);
	bus_write(f.vm.bus, BUS_PIO, 0x603, 1, 0);
	CHECK_EQ(fake.last_level, 0);
	CHECK_EQ(bus_read(f.vm.bus, BUS_PIO, 0x600, 2), ACPI_PM1_PWRBTN_STS);

	/* Reserved enable bits stay 0. */
	bus_write(f.vm.bus, BUS_PIO, 0x602, 2, 0xFFFF);
	CHECK_EQ(bus_read(f.vm.bus, BUS_PIO, 0x602, 2), 0x4721);
	CHECK_EQ(exit_kind(&f), VM_EXIT_NONE);
	teardown(&f);
}

static void test_accesses_past_a_block(void)
{
	struct fixture f;
	setup(&f);
	if (!f.pm)
		return;
	/* A 4-byte read at 0x606 hits nothing; at 0x605 it starts in PM1_CNT
	 * and the bytes past its 2-byte block read as all-ones. */
	CHECK_EQ(bus_read(f.vm.bus, BUS_PIO, 0x606, 2), 0xFFFF);
	CHECK_EQ(bus_read(f.vm.bus, BUS_PIO, 0x605, 4), 0xFFFFFF00);
	/* An 8-byte access (not an x86 port size, but the bus allows it). */
	CHECK_EQ(bus_read(f.vm.bus, BUS_PIO, 0xCF9, 8), 0xFFFFFFFFFFFFFF00ULL);
	bus_write(f.vm.bus, BUS_PIO, 0xCF9, 8, 0x0606060606060602ULL);
	CHECK_EQ(exit_kind(&f), VM_EXIT_NONE);
	CHECK_EQ(bus_read(f.vm.bus, BUS_PIO, 0xCF9, 1), 0x02);
	teardown(&f);
}

static void test_port_conflict_and_destroy(void)
{
	struct vm vm = {0};
	vm.bus = bus_create();
	vm.engine = &fake_engine;
	/* Someone already owns 0xCF9: creation fails and releases what it took. */
	static const struct bus_ops none = {0};
	CHECK(bus_register(vm.bus, BUS_PIO, 0xCF9, 1, &none, NULL, "squatter") == 0);
	CHECK(acpi_pm_create(&vm) == NULL);
	CHECK(bus_register(vm.bus, BUS_PIO, 0x600, 12, &none, NULL, "probe") == 0);
	CHECK(bus_unregister(vm.bus, BUS_PIO, 0x600) == 0);
	CHECK(bus_unregister(vm.bus, BUS_PIO, 0xCF9) == 0);

	/* Destroy frees the ports too. */
	struct acpi_pm *pm = acpi_pm_create(&vm);
	CHECK(pm != NULL);
	acpi_pm_destroy(pm);
	CHECK_EQ(bus_read(vm.bus, BUS_PIO, 0x604, 2), 0xFFFF);
	pm = acpi_pm_create(&vm);
	CHECK(pm != NULL);
	acpi_pm_destroy(pm);
	acpi_pm_destroy(NULL);
	bus_destroy(vm.bus);
}

/* vCPU threads hammer the registers while the VMM presses the button; run
 * under ASan/UBSan (and TSan when someone builds with it). */
static void *hammer(void *arg)
{
	struct fixture *f = arg;
	for (int i = 0; i < 20000; i++) {
		bus_write(f->vm.bus, BUS_PIO, 0x602, 2, ACPI_PM1_PWRBTN_EN);
		bus_read(f->vm.bus, BUS_PIO, 0x600, 4);
		bus_write(f->vm.bus, BUS_PIO, 0x600, 2, ACPI_PM1_PWRBTN_STS);
		bus_read(f->vm.bus, BUS_PIO, 0x608, 4);
		bus_write(f->vm.bus, BUS_PIO, 0x604, 2, 1u << 10);
	}
	return NULL;
}

static void test_concurrent_access(void)
{
	struct fixture f;
	setup(&f);
	if (!f.pm)
		return;
	pthread_t t[3];
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, hammer, &f);
	for (int i = 0; i < 20000; i++)
		acpi_pm_power_button(f.pm);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	/* Settle: clear status; the line must end low and consistent. */
	bus_write(f.vm.bus, BUS_PIO, 0x600, 2, 0xFFFF);
	CHECK_EQ(bus_read(f.vm.bus, BUS_PIO, 0x600, 2), 0);
	CHECK_EQ(fake.last_level, 0);
	CHECK_EQ(exit_kind(&f), VM_EXIT_NONE);
	teardown(&f);
}

int main(void)
{
	RUN(test_poweroff);
	RUN(test_poweroff_byte_write);
	RUN(test_poweroff_dword_write);
	RUN(test_other_sleep_states_ignored);
	RUN(test_sci_en_reads_one);
	RUN(test_reset_register);
	RUN(test_first_exit_wins);
	RUN(test_timer_rate);
	RUN(test_status_w1c_and_sci);
	RUN(test_accesses_past_a_block);
	RUN(test_port_conflict_and_destroy);
	RUN(test_concurrent_access);
	TEST_DONE();
}
