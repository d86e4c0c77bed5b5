/* The PC's interrupt wiring between the devices of irqchip.h. */
#include "dev/irqchip.h"

#include <pthread.h>
#include <stdlib.h>

#include "util/log.h"

struct irqchip {
	pthread_mutex_t lock; /* recursive; shared by every device below */
	struct pic *pic;
	struct pit *pit;
	struct ioapic *ioapic;
	struct apic_bus *apic_bus;
	struct lapic *lapic[LAPIC_MAX_CPUS];
	int ncpus;
	struct irqchip_config cfg;
};

/* An ISA IRQ line: the 8259 input and its IOAPIC pin. */
static void isa_irq(struct irqchip *chip, unsigned irq, int level)
{
	pic_set_irq(chip->pic, irq, level);
	ioapic_set_irq(chip->ioapic, irq == 0 ? IRQCHIP_PIT_IOAPIC_PIN : irq, level);
}

void irqchip_set_irq(struct irqchip *chip, unsigned gsi, int level)
{
	if (gsi >= IRQCHIP_GSIS || gsi == PIC_CASCADE_IRQ)
		return;
	pthread_mutex_lock(&chip->lock);
	if (gsi < 16)
		isa_irq(chip, gsi, level);
	else
		ioapic_set_irq(chip->ioapic, gsi, level);
	pthread_mutex_unlock(&chip->lock);
}

bool irqchip_signal_msi(struct irqchip *chip, uint64_t address, uint32_t data)
{
	struct apic_msg m;
	if (!apic_msi_to_msg(address, data, &m))
		return false;
	pthread_mutex_lock(&chip->lock);
	apic_bus_deliver(chip->apic_bus, &m, NULL);
	pthread_mutex_unlock(&chip->lock);
	return true;
}

static void pit_irq(void *opaque, int level)
{
	struct irqchip *chip = opaque;
	/* Under the HPET's LegacyReplacement route the PIT's output goes
	 * nowhere; it drives IRQ 0 again from its next change once the route
	 * is off. (Called with the lock held, which the HPET's own IRQ 0
	 * changes also take: the flag and the line cannot cross.) */
	if (chip->cfg.pit_disconnected && atomic_load(chip->cfg.pit_disconnected))
		return;
	isa_irq(chip, 0, level);
}

/* The 8259's INT pin is wired to LINT0 of every processor and to IOAPIC
 * pin 0 (for an ExtINT entry there: virtual wire through the IOAPIC). */
static void pic_int_changed(void *opaque, int level)
{
	struct irqchip *chip = opaque;
	for (int i = 0; i < chip->ncpus; i++)
		if (chip->lapic[i])
			lapic_set_lint(chip->lapic[i], 0, level);
	if (chip->ioapic)
		ioapic_set_irq(chip->ioapic, IRQCHIP_PIC_IOAPIC_PIN, level);
}

static void ioapic_deliver(void *opaque, const struct apic_msg *msg)
{
	struct irqchip *chip = opaque;
	apic_bus_deliver(chip->apic_bus, msg, NULL);
}

static void lapic_eoi(void *opaque, uint8_t vector)
{
	struct irqchip *chip = opaque;
	ioapic_eoi(chip->ioapic, vector);
}

static uint8_t extint_ack(void *opaque)
{
	struct irqchip *chip = opaque;
	return pic_intack(chip->pic);
}

static void kick(void *opaque, int cpu)
{
	struct irqchip *chip = opaque;
	if (chip->cfg.kick)
		chip->cfg.kick(chip->cfg.kick_opaque, cpu);
}

struct irqchip *irqchip_create(const struct irqchip_config *cfg)
{
	if (cfg->ncpus < 1 || cfg->ncpus > LAPIC_MAX_CPUS || !cfg->clock) {
		log_error("irqchip: bad configuration (%d cpus)", cfg->ncpus);
		return NULL;
	}
	struct irqchip *chip = calloc(1, sizeof *chip);
	if (!chip) {
		log_error("irqchip: out of memory");
		return NULL;
	}
	chip->cfg = *cfg;
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&chip->lock, &a);
	pthread_mutexattr_destroy(&a);

	/* Hold the lock while wiring, so no callback sees a half-built chip. */
	pthread_mutex_lock(&chip->lock);
	chip->apic_bus = apic_bus_create(&(struct apic_bus_config){.eoi = lapic_eoi,
	                                                           .extint_ack = extint_ack,
	                                                           .kick = kick,
	                                                           .opaque = chip,
	                                                           .lock = &chip->lock});
	if (!chip->apic_bus)
		goto fail;
	for (int i = 0; i < cfg->ncpus; i++) {
		chip->lapic[i] = lapic_create(&(struct lapic_config){
		    .bus = chip->apic_bus,
		    .clock = cfg->clock,
		    .cpu_index = i,
		    .apic_id = (uint32_t)i,
		    .bsp = i == 0,
		    .timer_hz = cfg->lapic_timer_hz,
		    .tsc_hz = cfg->tsc_hz,
		});
		if (!chip->lapic[i])
			goto fail;
		chip->ncpus = i + 1;
	}
	chip->ioapic = ioapic_create(&(struct ioapic_config){.bus = cfg->bus,
	                                                     .id = (uint8_t)cfg->ncpus,
	                                                     .deliver = ioapic_deliver,
	                                                     .opaque = chip,
	                                                     .lock = &chip->lock});
	if (!chip->ioapic)
		goto fail;
	chip->pic = pic_create(&(struct pic_config){
	    .bus = cfg->bus, .set_output = pic_int_changed, .opaque = chip, .lock = &chip->lock});
	if (!chip->pic)
		goto fail;
	chip->pit = pit_create(&(struct pit_config){.bus = cfg->bus,
	                                            .clock = cfg->clock,
	                                            .set_irq = pit_irq,
	                                            .opaque = chip,
	                                            .lock = &chip->lock});
	if (!chip->pit)
		goto fail;
	pthread_mutex_unlock(&chip->lock);
	return chip;
fail:
	pthread_mutex_unlock(&chip->lock);
	irqchip_destroy(chip);
	return NULL;
}

void irqchip_destroy(struct irqchip *chip)
{
	if (!chip)
		return;
	pit_destroy(chip->pit);
	pic_destroy(chip->pic);
	ioapic_destroy(chip->ioapic);
	for (int i = 0; i < LAPIC_MAX_CPUS; i++)
		lapic_destroy(chip->lapic[i]);
	apic_bus_destroy(chip->apic_bus);
	pthread_mutex_destroy(&chip->lock);
	free(chip);
}

struct lapic *irqchip_lapic(struct irqchip *chip, int cpu)
{
	return cpu >= 0 && cpu < chip->ncpus ? chip->lapic[cpu] : NULL;
}

struct pic *irqchip_pic(struct irqchip *chip)
{
	return chip->pic;
}
struct pit *irqchip_pit(struct irqchip *chip)
{
	return chip->pit;
}
struct ioapic *irqchip_ioapic(struct irqchip *chip)
{
	return chip->ioapic;
}

uint64_t irqchip_next_deadline_ns(struct irqchip *chip)
{
	pthread_mutex_lock(&chip->lock);
	uint64_t d = pit_next_deadline_ns(chip->pit);
	for (int i = 0; i < chip->ncpus; i++)
		d = clock_deadline_min(d, lapic_next_deadline_ns(chip->lapic[i]));
	pthread_mutex_unlock(&chip->lock);
	return d;
}

void irqchip_advance(struct irqchip *chip, uint64_t now_ns)
{
	pthread_mutex_lock(&chip->lock);
	pit_advance(chip->pit, now_ns);
	for (int i = 0; i < chip->ncpus; i++)
		lapic_advance(chip->lapic[i], now_ns);
	pthread_mutex_unlock(&chip->lock);
}
