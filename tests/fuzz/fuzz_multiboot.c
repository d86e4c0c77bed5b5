/* Arbitrary bytes as a Multiboot kernel plus a module: the loader must
 * refuse them with a message or load them consistently, and never crash or
 * reach outside guest RAM. An input is the kernel, optionally followed by
 * MODULE_SEPARATOR and the module's bytes (the seeds in corpus/multiboot/
 * are written that way by tests/unit/test_boot_multiboot.c). */
#include <stdlib.h>
#include <string.h>

#include "boot/boot.h"

#define FUZZ_RAM (32u << 20)
#define MODULE_SEPARATOR "\n--ringfold-module--\n"

static struct guest_mem mem;

static void require(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct error err;
	if (!ready) {
		if (mem_init(&mem, FUZZ_RAM, false, &err) < 0)
			abort();
		ready = 1;
	}
	struct boot_request req = {
	    .kernel = {data, size, "fuzz-kernel"},
	    .cmdline = "console=ttyS0 quiet",
	};
	const size_t sep_len = strlen(MODULE_SEPARATOR);
	const uint8_t *sep = memmem(data, size, MODULE_SEPARATOR, sep_len);
	if (sep) {
		size_t ksize = (size_t)(sep - data);
		req.kernel.size = ksize;
		req.initrds[0] =
		    (struct boot_blob){sep + sep_len, size - ksize - sep_len, "fuzz-module"};
		req.ninitrds = 1;
	}
	struct cpu_state cpu;
	err.msg[0] = '\0';
	if (multiboot_load(&mem, &req, &cpu, &err) < 0) {
		require(err.msg[0] != '\0');
		return 0;
	}
	/* Accepted: the entry state and the information structure agree. */
	require(cpu.gpr[GPR_RAX] == 0x2badb002 && cpu.gpr[GPR_RBX] == BOOT_MB_INFO_ADDR);
	require(cpu.rip < (1ull << 32) && (cpu.cr0 & 0x80000001) == 1);
	const uint8_t *mbi = mem_ptr(&mem, BOOT_MB_INFO_ADDR, 0x80);
	require(mbi != NULL);
	if (req.ninitrds) {
		uint32_t mods = boot_le32(mbi + 24);
		require(boot_le32(mbi + 20) == 1 && mods >= BOOT_MB_INFO_ADDR &&
		        mods + 16 <= BOOT_MB_INFO_END);
		const uint8_t *m = mem_ptr(&mem, mods, 16);
		uint32_t start = boot_le32(m), end = boot_le32(m + 4);
		require((start & 0xfff) == 0 && end - start == req.initrds[0].size);
		require(mem_is_ram(&mem, start, end - start));
		require(req.initrds[0].size == 0 ||
		        memcmp(mem_ptr(&mem, start, end - start), req.initrds[0].data,
		               req.initrds[0].size) == 0);
	}
	return 0;
}
