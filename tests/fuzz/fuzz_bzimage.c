/* Arbitrary bytes as a bzImage: the Linux loader must refuse them with a
 * message or load them consistently, never touch memory outside guest RAM
 * (ASan watches the host side; mem_ptr the guest side) and never crash.
 * The input's size picks zero, one or two initrds so that placement and
 * concatenation are exercised too. */
#include <stdlib.h>
#include <string.h>

#include "boot/boot.h"

#define FUZZ_RAM (32u << 20)

static struct guest_mem mem;

static void require(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	static uint8_t initrd[5003];
	struct error err;
	if (!ready) {
		if (mem_init(&mem, FUZZ_RAM, false, &err) < 0)
			abort();
		for (size_t i = 0; i < sizeof initrd; i++)
			initrd[i] = (uint8_t)i;
		ready = 1;
	}
	struct boot_request req = {
	    .kernel = {data, size, "fuzz-kernel"},
	    .initrds = {{initrd, sizeof initrd, "initrd-a"}, {initrd, 17, "initrd-b"}},
	    .ninitrds = (int)(size % 3),
	    .cmdline = "console=ttyS0 panic=-1",
	    .acpi_rsdp = 0xe0000,
	};
	struct cpu_state cpu;
	err.msg[0] = '\0';
	if (linux_load(&mem, &req, &cpu, &err) < 0) {
		require(err.msg[0] != '\0'); /* every refusal explains itself */
		return 0;
	}
	/* Accepted: the entry point is in RAM above 1 MiB and the zero page
	 * describes what was loaded. */
	uint64_t load = cpu.rip - 0x200;
	require(load >= (1u << 20) && mem_is_ram(&mem, load, 0x200));
	require(cpu.gpr[GPR_RSI] == BOOT_ZERO_PAGE_ADDR);
	const uint8_t *bp = mem_ptr(&mem, BOOT_ZERO_PAGE_ADDR, 4096);
	require(bp && memcmp(bp + 0x202, "HdrS", 4) == 0);
	require(boot_le32(bp + 0x228) == BOOT_CMDLINE_ADDR);
	uint32_t rd = boot_le32(bp + 0x218), rd_size = boot_le32(bp + 0x21c);
	if (req.ninitrds)
		require(rd > load && mem_is_ram(&mem, rd, rd_size) &&
		        memcmp(mem_ptr(&mem, rd, 16), initrd, 16) == 0);
	else
		require(rd == 0 && rd_size == 0);
	return 0;
}
