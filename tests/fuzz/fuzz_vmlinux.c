/* Host decompression of a bzImage payload, fuzzed two ways, chosen by the
 * first input byte:
 *   odd ('E'): the rest is a decompressed vmlinux, given to vmlinux_parse()
 *       and, if accepted, vmlinux_write();
 *   even ('P'): the rest is a compressed payload, wrapped in a
 *       valid bzImage header (payload_offset/payload_length pointing at it)
 *       and loaded by linux_load() with host decompression.
 * Either must refuse with a message or load consistently: segments and entry
 * inside guest RAM above 1 MiB, never a write outside it, never a crash.
 * Seeds: RINGFOLD_WRITE_SEEDS=tests/fuzz/corpus build/tests/test_boot_vmlinux. */
#include <stdlib.h>
#include <string.h>

#include "boot/boot.h"
#include "boot/linux_payload.h"

#define FUZZ_RAM (32u << 20)
#define MiB (1u << 20)
#define SETUP_SIZE (5 * 512)
#define PAYLOAD_AT 0x100
#define MAX_PAYLOAD (1u << 20)

static struct guest_mem mem;
static uint8_t image[SETUP_SIZE + PAYLOAD_AT + MAX_PAYLOAD + 16];

static void require(int cond)
{
	if (!cond)
		abort();
}

static void fuzz_elf(const uint8_t *data, size_t size)
{
	struct vmlinux_image img;
	struct error err;
	err.msg[0] = '\0';
	if (vmlinux_parse(data, size, &mem, MiB, "fuzz-vmlinux", &img, &err) < 0) {
		require(err.msg[0] != '\0');
		return;
	}
	require(img.nsegments > 0 && img.nsegments <= VMLINUX_MAX_SEGMENTS);
	require(img.lowest >= MiB && img.end <= mem_low_end(&mem));
	bool entry_loaded = false;
	for (int i = 0; i < img.nsegments; i++) {
		const struct vmlinux_segment *s = &img.segments[i];
		require(s->filesz <= s->memsz && mem_is_ram(&mem, s->paddr, s->memsz));
		require(s->data >= data && s->data + s->filesz <= data + size);
		if (img.entry >= s->paddr && img.entry - s->paddr < s->filesz)
			entry_loaded = true;
	}
	require(entry_loaded);
	require(vmlinux_write(&mem, &img) == 0);
	for (int i = 0; i < img.nsegments; i++) {
		const struct vmlinux_segment *s = &img.segments[i];
		const uint8_t *g = mem_ptr(&mem, s->paddr, s->memsz);
		require(memcmp(g, s->data, s->filesz) == 0);
		for (uint64_t j = s->filesz; j < s->memsz && j < s->filesz + 64; j++)
			require(g[j] == 0);
	}
}

static void fuzz_payload(const uint8_t *data, size_t size)
{
	if (size > MAX_PAYLOAD)
		size = MAX_PAYLOAD;
	size_t pm = (PAYLOAD_AT + size + 15) & ~(size_t)15;
	memset(image, 0, SETUP_SIZE + pm);
	image[0x1f1] = 4;
	boot_put_le32(image + 0x1f4, (uint32_t)(pm / 16));
	boot_put_le16(image + 0x1fe, 0xaa55);
	image[0x200] = 0xeb;
	image[0x201] = 0x6a;
	memcpy(image + 0x202, "HdrS", 4);
	boot_put_le16(image + 0x206, 0x020f);
	image[0x211] = 1;
	boot_put_le32(image + 0x22c, 0x7fffffff);
	boot_put_le32(image + 0x230, 0x200000);
	image[0x234] = 1;
	boot_put_le16(image + 0x236, 0xb);
	boot_put_le32(image + 0x238, 2047);
	boot_put_le32(image + 0x248, PAYLOAD_AT);
	boot_put_le32(image + 0x24c, (uint32_t)size);
	boot_put_le64(image + 0x258, 16 * MiB);
	boot_put_le32(image + 0x260, 1 * MiB);
	if (size)
		memcpy(image + SETUP_SIZE + PAYLOAD_AT, data, size);

	static uint8_t initrd[3001];
	struct boot_request req = {
	    .kernel = {image, SETUP_SIZE + pm, "fuzz-vmlinuz"},
	    .initrds = {{initrd, sizeof initrd, "initrd"}},
	    .ninitrds = (int)(size & 1),
	    .cmdline = "console=ttyS0",
	    .host_decompress = true,
	};
	struct cpu_state cpu;
	struct error err;
	err.msg[0] = '\0';
	if (linux_load(&mem, &req, &cpu, &err) < 0) {
		require(err.msg[0] != '\0');
		return;
	}
	require(cpu.rip >= MiB && mem_is_ram(&mem, cpu.rip, 1));
	require(cpu.gpr[GPR_RSI] == BOOT_ZERO_PAGE_ADDR);
	const uint8_t *bp = mem_ptr(&mem, BOOT_ZERO_PAGE_ADDR, 4096);
	uint32_t rd = boot_le32(bp + 0x218);
	if (req.ninitrds)
		require(rd >= 17 * MiB && mem_is_ram(&mem, rd, sizeof initrd));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		struct error err;
		if (mem_init(&mem, FUZZ_RAM, false, &err) < 0)
			abort();
		ready = 1;
	}
	if (size == 0)
		return 0;
	if (data[0] & 1)
		fuzz_elf(data + 1, size - 1);
	else
		fuzz_payload(data + 1, size - 1);
	return 0;
}
