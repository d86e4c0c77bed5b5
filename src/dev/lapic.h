/* The local APIC, one per vCPU (xAPIC MMIO and x2APIC MSRs), and the APIC
 * bus that connects every LAPIC and the IOAPIC.
 *
 * What the engine does with a vCPU's LAPIC (the whole contract):
 *
 *  - Register access. An MMIO access to [lapic_mmio_base(), +4 KiB) while
 *    lapic_mmio_active() is true goes to lapic_mmio_read/write of the vCPU
 *    that made it (not through the bus: each vCPU sees its own LAPIC at the
 *    same address). RDMSR/WRMSR of IA32_APIC_BASE (0x1B), IA32_TSC_DEADLINE
 *    (0x6E0) and 0x800-0x8FF go to lapic_msr_read/write; a return of
 *    LAPIC_MSR_GP means the instruction raises #GP(0). MOV to/from CR8 goes
 *    to lapic_set_cr8/lapic_get_cr8.
 *
 *  - Events, at every instruction boundary where the CPU could take one:
 *    lapic_pending_events() is a cheap lock-free summary (LAPIC_EV_* bits);
 *    when (summary & allowed) is non-zero, call lapic_poll_event(allowed),
 *    which consumes one event and says what to do:
 *      LAPIC_EV_INIT    reset the CPU; an AP then waits for SIPI (the LAPIC
 *                       has already done its own INIT reset)
 *      LAPIC_EV_SIPI    if waiting for SIPI, start at CS = vector << 8, IP 0;
 *                       otherwise ignore it
 *      LAPIC_EV_NMI     deliver NMI (vector 2)
 *      LAPIC_EV_EXTINT  deliver *vector as an external interrupt; the 8259
 *                       INTA cycle already happened, no EOI goes to the LAPIC
 *      LAPIC_EV_INTR    deliver *vector as an external interrupt; it is now
 *                       in service (ISR) until the guest writes EOI
 *    `allowed` is LAPIC_EV_INIT | LAPIC_EV_SIPI always; | LAPIC_EV_NMI unless
 *    NMIs are blocked; | LAPIC_EV_EXTINT | LAPIC_EV_INTR when RFLAGS.IF = 1 and
 *    there is no interrupt shadow (STI, MOV SS). A CPU waiting for SIPI
 *    passes only INIT | SIPI. HLT ends when (summary & allowed) != 0.
 *
 *  - Time: lapic_next_deadline_ns() is when the timer next fires
 *    (CLOCK_NEVER if never); once guest time reaches it, call
 *    lapic_advance(now). Re-read the deadline after the vCPU touched its
 *    LAPIC (a register write may arm, move or stop the timer).
 *
 *  - Waking: apic_bus_config.kick(cpu) is called whenever a vCPU's LAPIC
 *    gains an event (an IPI from another vCPU, an IOAPIC interrupt, ...), so
 *    a vCPU sleeping in HLT or running on another thread can look again.
 *
 * Locking: the APIC bus owns one recursive mutex (or uses the one it is
 * given) that every LAPIC entry point takes, so IPIs between LAPICs never
 * take two locks. Callbacks (kick, eoi, extint_ack) run with it held. */
#ifndef RINGFOLD_DEV_LAPIC_H
#define RINGFOLD_DEV_LAPIC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "dev/clock.h"

struct lapic;
struct apic_bus;

#define LAPIC_DEFAULT_BASE 0xFEE00000ULL
#define LAPIC_MMIO_SIZE 0x1000
#define LAPIC_DEFAULT_TIMER_HZ 1000000000ULL /* timer input: 1 GHz, as KVM's */
#define LAPIC_MAX_CPUS 256

#define MSR_IA32_APIC_BASE 0x1B
#define MSR_IA32_TSC_DEADLINE 0x6E0
#define MSR_X2APIC_FIRST 0x800
#define MSR_X2APIC_LAST 0x8FF

#define APIC_BASE_BSP (1ULL << 8)
#define APIC_BASE_EXTD (1ULL << 10) /* x2APIC mode */
#define APIC_BASE_EN (1ULL << 11)   /* globally enabled */

#define LAPIC_MSR_GP (-1)

/* Delivery modes (ICR, LVT, IOAPIC redirection entries). */
enum apic_delivery {
	APIC_DM_FIXED = 0,
	APIC_DM_LOWEST = 1,
	APIC_DM_SMI = 2,
	APIC_DM_NMI = 4,
	APIC_DM_INIT = 5,
	APIC_DM_SIPI = 6,
	APIC_DM_EXTINT = 7,
};

enum apic_shorthand {
	APIC_DEST_NO_SHORTHAND = 0,
	APIC_DEST_SELF = 1,
	APIC_DEST_ALL = 2,
	APIC_DEST_ALL_BUT_SELF = 3,
};

/* An interrupt message on the APIC bus (from an ICR or the IOAPIC). */
struct apic_msg {
	uint32_t dest; /* 8-bit xAPIC destination, or 32-bit if x2apic */
	uint8_t vector;
	uint8_t delivery;  /* enum apic_delivery */
	uint8_t shorthand; /* enum apic_shorthand */
	bool logical;      /* logical destination mode */
	bool level;        /* level-triggered: sets TMR, EOI is broadcast */
	bool deassert;     /* INIT level de-assert (ignored by receivers) */
	bool x2apic;       /* dest has the x2APIC format */
};

/* Event bits of lapic_pending_events() and lapic_poll_event(). */
enum lapic_event {
	LAPIC_EV_NONE = 0,
	LAPIC_EV_INIT = 1 << 0,
	LAPIC_EV_SIPI = 1 << 1,
	LAPIC_EV_NMI = 1 << 2,
	LAPIC_EV_EXTINT = 1 << 3,
	LAPIC_EV_INTR = 1 << 4,
};
#define LAPIC_EV_ALL 0x1f

struct apic_bus_config {
	/* EOI of a level-triggered vector: broadcast to the IOAPIC. */
	void (*eoi)(void *opaque, uint8_t vector);
	/* The 8259 INTA cycle for an ExtINT interrupt: returns the vector. */
	uint8_t (*extint_ack)(void *opaque);
	/* A vCPU's LAPIC gained an event. */
	void (*kick)(void *opaque, int cpu);
	void *opaque;
	pthread_mutex_t *lock; /* shared recursive lock, or NULL for a private one */
};

struct apic_bus *apic_bus_create(const struct apic_bus_config *cfg);
/* Destroys the bus only; destroy its LAPICs first. */
void apic_bus_destroy(struct apic_bus *bus);
/* Send a message to every LAPIC it addresses. `sender` resolves shorthands
 * (NULL for the IOAPIC). Lowest-priority delivery picks, among the addressed
 * software-enabled LAPICs, the one with the lowest task priority class, the
 * lowest index on a tie: deterministic, as replays need. */
void apic_bus_deliver(struct apic_bus *bus, const struct apic_msg *msg, struct lapic *sender);

/* A message-signalled interrupt (MSI/MSI-X; Intel SDM 10.11) as the APIC
 * bus message it stands for, the same as an IOAPIC redirection entry gives.
 * Address: 0xFEE in bits 31:20 (bits 63:32 zero), destination ID in 19:12,
 * redirection hint in bit 3 (with it a fixed interrupt is delivered at
 * lowest priority, as KVM does), destination mode in bit 2 (1 = logical).
 * Data: vector in 7:0, delivery mode in 10:8, level in bit 14, trigger mode
 * in bit 15 (1 = level). Returns false, leaving msg alone, when there is
 * nothing to deliver: an address outside the interrupt window, a SIPI or
 * reserved delivery mode, or a level-triggered de-assert. */
bool apic_msi_to_msg(uint64_t address, uint32_t data, struct apic_msg *msg);

struct lapic_config {
	struct apic_bus *bus;            /* required */
	const struct guest_clock *clock; /* copied; required */
	int cpu_index;                   /* 0..LAPIC_MAX_CPUS-1, unique on the bus */
	uint32_t apic_id;                /* initial APIC ID (x2APIC ID) */
	bool bsp;
	/* Timer input clock before the divider; 0: LAPIC_DEFAULT_TIMER_HZ. */
	uint64_t timer_hz;
	/* The guest TSC, for TSC-deadline mode: TSC(t) = t * tsc_hz / 1e9 +
	 * tsc_offset (lapic_set_tsc_offset). 0: TSC-deadline never fires. */
	uint64_t tsc_hz;
};

/* NULL after logging (out of memory, index taken). Power-on state: xAPIC
 * mode at 0xFEE00000, software-disabled, every LVT masked, except that the
 * BSP's LINT0 is ExtINT and LINT1 NMI, unmasked (virtual wire mode, as a
 * BIOS leaves it), so the 8259 reaches the BSP before the guest sets up its
 * APIC. */
struct lapic *lapic_create(const struct lapic_config *cfg);
void lapic_destroy(struct lapic *l);
void lapic_reset(struct lapic *l); /* RESET: the power-on state */

/* xAPIC MMIO, offset within the 4 KiB page. Registers are 32 bits at 16-byte
 * boundaries; other accesses read the covered bytes and ignore writes that
 * are not 32-bit aligned. Outside xAPIC mode reads give 0, writes do nothing. */
bool lapic_mmio_active(struct lapic *l);
uint64_t lapic_mmio_base(struct lapic *l);
uint32_t lapic_mmio_read(struct lapic *l, uint64_t offset, unsigned size);
void lapic_mmio_write(struct lapic *l, uint64_t offset, unsigned size, uint32_t value);

/* Is msr one of the LAPIC's (0x1B, 0x6E0, 0x800-0x8FF)? */
bool lapic_handles_msr(uint32_t msr);
/* 0, or LAPIC_MSR_GP when the access must raise #GP. */
int lapic_msr_read(struct lapic *l, uint32_t msr, uint64_t *value);
int lapic_msr_write(struct lapic *l, uint32_t msr, uint64_t value);
void lapic_set_tsc_offset(struct lapic *l, int64_t offset);

uint64_t lapic_get_cr8(struct lapic *l);
void lapic_set_cr8(struct lapic *l, uint64_t value);

/* LINT0/LINT1 input levels (the irqchip wires the 8259's INT to LINT0). */
void lapic_set_lint(struct lapic *l, unsigned pin, int level);

unsigned lapic_pending_events(struct lapic *l);
enum lapic_event lapic_poll_event(struct lapic *l, unsigned allowed, uint8_t *vector);
/* The fixed-interrupt half of the above: the vector the CPU would take now
 * (highest IRR above the processor priority), or -1; and taking it. */
int lapic_pending_vector(struct lapic *l);
int lapic_accept_interrupt(struct lapic *l);

uint64_t lapic_next_deadline_ns(struct lapic *l);
void lapic_advance(struct lapic *l, uint64_t now_ns);

int lapic_cpu_index(struct lapic *l);

#endif
