/* Exception and interrupt dispatch. In order: a per-vector hook a check
 * installed (timer ticks, benchmark fault handlers); device interrupts
 * nobody expects (counted and acknowledged); an armed fault_try() (the
 * expected-fault mechanism: record and resume at its recovery point);
 * otherwise the exception is unexpected and ends the run. */
#include "kernel.h"
#include "x86.h"

trap_hook trap_hooks[256];
struct fault last_fault;
volatile uint64_t stray_interrupts;
extern uint64_t try_rsp;
extern volatile uint8_t try_armed;

void trap_dispatch(struct trap_frame *f)
{
	uint64_t cr2 = read_cr2();
	uint64_t v = f->vector;

	if (trap_hooks[v] && trap_hooks[v](f, cr2))
		return;
	if (v >= 32) {
		stray_interrupts++;
		if (v >= VEC_PIC_BASE && v < VEC_PIC_BASE + 16)
			pic_eoi((int)(v - VEC_PIC_BASE));
		else if (v != VEC_SPURIOUS)
			lapic_write(0xb0, 0);
		return;
	}
	if (try_armed) {
		try_armed = 0;
		last_fault.vector = v;
		last_fault.error = f->error;
		last_fault.rip = f->rip;
		last_fault.cr2 = cr2;
		last_fault.frame = *f;
		last_fault.frame_addr = (uint64_t)f;
		f->rip = (uint64_t)fault_try_recover;
		f->cs = SEL_KCODE;
		f->ss = SEL_KDATA;
		f->rsp = try_rsp;
		f->rflags = 0x2; /* interrupts stay off, as they were */
		return;
	}
	unexpected_exception(f, cr2);
}

void unexpected_exception(const struct trap_frame *f, uint64_t cr2)
{
	static volatile int dying;
	if (dying++) { /* a fault while reporting one: stop at once */
		outl(0xf4, 0x11);
		for (;;)
			__asm__ volatile("cli; hlt");
	}
	kprintf("not ok unexpected-exception: vector %lu error %#lx rip %#lx cr2 %#lx\n", f->vector,
	        f->error, f->rip, cr2);
	finish(true);
}

int run_user(void *rip, uint64_t a0, uint64_t a1, uint64_t a2)
{
	return fault_try((void *)enter_user, (uint64_t)rip, (uint64_t)user_stack_top, a0, a1, a2);
}

static const char *vector_name(uint64_t v)
{
	static const char *const names[] = {"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
	                                    "#DF", "CSO", "#TS", "#NP", "#SS", "#GP", "#PF"};
	if (v < sizeof(names) / sizeof(names[0]))
		return names[v];
	return "vector";
}

const char *fault_str(void)
{
	static char buf[128];
	ksnprintf(buf, sizeof(buf), "%s (%lu) error %#lx rip %#lx cr2 %#lx",
	          vector_name(last_fault.vector), last_fault.vector, last_fault.error,
	          last_fault.rip, last_fault.cr2);
	return buf;
}

bool user_exited(int rc)
{
	return rc && last_fault.vector == 6 && last_fault.rip == (uint64_t)user_exit_insn &&
	       (last_fault.frame.cs & 3) == 3;
}

bool expect_fault(int rc, uint64_t vector, uint64_t error, uint64_t rip, const char *what)
{
	if (rc == 0) {
		check_fail("%s: no exception (expected %s)", what, vector_name(vector));
		return false;
	}
	if (last_fault.vector != vector || last_fault.error != error || last_fault.rip != rip) {
		check_fail("%s: got %s, expected %s error %#lx rip %#lx", what, fault_str(),
		           vector_name(vector), error, rip);
		return false;
	}
	return true;
}
