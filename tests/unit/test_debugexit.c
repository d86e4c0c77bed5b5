/* debug-exit (QEMU isa-debug-exit compatible) at 0xF4. */
#include "test.h"

#include <stdlib.h>

#include "dev/debugexit.h"
#include "vm.h"

#include "fake_engine.h"

static struct vm *new_vm(void)
{
	struct vm *vm = calloc(1, sizeof *vm);
	vm->bus = bus_create();
	vm->engine = &fake_engine;
	fake_engine_reset();
	return vm;
}

static void free_vm(struct vm *vm)
{
	bus_destroy(vm->bus);
	free(vm);
}

static void test_byte_write_exits_with_value(void)
{
	struct vm *vm = new_vm();
	struct debugexit *d = debugexit_create(vm, DEBUGEXIT_PORT);
	CHECK(d != NULL);
	CHECK(!vm_exit_requested(vm));
	bus_write(vm->bus, BUS_PIO, 0xF4, 1, 0x10);
	CHECK_EQ(atomic_load(&vm->exit_kind), VM_EXIT_DEBUG);
	CHECK_EQ(vm->exit_code, 0x10);
	CHECK_EQ(fake.kicks, 1);
	/* The first request wins. */
	bus_write(vm->bus, BUS_PIO, 0xF4, 1, 0x22);
	CHECK_EQ(vm->exit_code, 0x10);
	CHECK_EQ(fake.kicks, 1);
	debugexit_destroy(d);
	free_vm(vm);
}

static void test_any_size_and_offset(void)
{
	static const struct {
		uint16_t port;
		unsigned size;
		uint32_t value;
	} cases[] = {{0xF4, 2, 0x1234}, {0xF4, 4, 0x12345678}, {0xF5, 1, 0x7F}, {0xF7, 1, 0}};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct vm *vm = new_vm();
		struct debugexit *d = debugexit_create(vm, DEBUGEXIT_PORT);
		bus_write(vm->bus, BUS_PIO, cases[i].port, cases[i].size, cases[i].value);
		CHECK_EQ(atomic_load(&vm->exit_kind), VM_EXIT_DEBUG);
		CHECK_EQ((uint32_t)vm->exit_code, cases[i].value);
		debugexit_destroy(d);
		free_vm(vm);
	}
}

static void test_reads_are_zero_and_harmless(void)
{
	struct vm *vm = new_vm();
	struct debugexit *d = debugexit_create(vm, DEBUGEXIT_PORT);
	for (unsigned port = 0xF4; port < 0xF8; port++)
		for (unsigned size = 1; size <= 4; size *= 2)
			CHECK_EQ(bus_read(vm->bus, BUS_PIO, port, size), 0);
	CHECK(!vm_exit_requested(vm));
	/* The range is exactly 4 ports. */
	CHECK_EQ(bus_read(vm->bus, BUS_PIO, 0xF8, 1), 0xFF);
	CHECK_EQ(bus_read(vm->bus, BUS_PIO, 0xF3, 1), 0xFF);
	debugexit_destroy(d);
	free_vm(vm);
}

static void test_destroy_unregisters_and_conflict_fails(void)
{
	struct vm *vm = new_vm();
	struct debugexit *d = debugexit_create(vm, DEBUGEXIT_PORT);
	CHECK(d != NULL);
	CHECK(debugexit_create(vm, 0xF6) == NULL); /* overlaps */
	debugexit_destroy(d);
	CHECK_EQ(bus_read(vm->bus, BUS_PIO, 0xF4, 1), 0xFF);
	bus_write(vm->bus, BUS_PIO, 0xF4, 1, 1);
	CHECK(!vm_exit_requested(vm));
	debugexit_destroy(NULL);
	free_vm(vm);
}

int main(void)
{
	RUN(test_byte_write_exits_with_value);
	RUN(test_any_size_and_offset);
	RUN(test_reads_are_zero_and_harmless);
	RUN(test_destroy_unregisters_and_conflict_fails);
	TEST_DONE();
}
