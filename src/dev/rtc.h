/* The MC146818-style CMOS RTC of a PC: port 0x70 selects a register (bit 7
 * masks NMI), port 0x71 reads or writes it. Time registers follow the
 * machine's wall clock (vm_wall_clock_ns()) plus an offset that a guest write
 * of the time sets; status B's binary/BCD and 12/24-hour modes apply to reads
 * and writes; status A's UIP bit is set for the 244 µs before each
 * once-a-second update as on the real part. IRQ 8 (periodic, alarm,
 * update-ended) is driven by the engine through the vm_timer registered at
 * creation (vm_timers_advance()). */
#ifndef RINGFOLD_DEV_RTC_H
#define RINGFOLD_DEV_RTC_H

#include <stdint.h>

struct vm;
struct rtc;

#define RTC_INDEX_PORT 0x70
#define RTC_DATA_PORT 0x71
#define RTC_GSI 8
#define RTC_CMOS_SIZE 128

/* Registers ports 0x70-0x71; NULL after logging on failure. */
struct rtc *rtc_create(struct vm *vm);
void rtc_destroy(struct rtc *rtc);

/* Firmware-style CMOS contents (memory sizes and the like) for the VMM to
 * fill in; indexes of the clock and status registers are ignored. */
void rtc_cmos_set(struct rtc *rtc, uint8_t index, uint8_t value);

#endif
