# Benchmark guests and the timing helper for `make bench` (bench/run.sh).
# The guests are tiny Multiboot kernels in GNU assembly: start (its first
# instruction exits), idle (100 Hz timer, HLT), cpu (a CPL3 compute loop),
# ips (a CPL3 integer loop of known length, for instructions per second).
# Like the test kernel they are linked as 64-bit code at 1 MiB and rewritten
# as ELF32, the only ELF class Multiboot loaders accept; start is pure
# 32-bit code.

BENCH_DIR     := $(BUILD)/bench
BENCH_GUESTS  := $(BENCH_DIR)/start.elf $(BENCH_DIR)/idle.elf $(BENCH_DIR)/cpu.elf \
	$(BENCH_DIR)/ips.elf
BENCH_LDFLAGS := -m64 -nostdlib -static -no-pie -Wl,--build-id=none -Wl,-z,max-page-size=0x1000 \
	-Wl,--no-warn-rwx-segments -Wl,-T,bench/guests/guest.ld
BENCH_ASFLAGS := -m64 -ffreestanding -nostdlib -fno-pic -fno-pie -Wa,--fatal-warnings

.PHONY: bench-tools
bench-tools: $(BENCH_GUESTS) $(BENCH_DIR)/timeit
bench: bench-tools
.SECONDARY: $(BENCH_DIR)/boot64.o $(BENCH_DIR)/start.o $(BENCH_DIR)/idle.o $(BENCH_DIR)/cpu.o \
	$(BENCH_DIR)/ips.o

$(BENCH_DIR)/%.o: bench/guests/%.S
	@mkdir -p $(@D)
	$(GUEST_CC) $(BENCH_ASFLAGS) -c -o $@ $<

$(BENCH_DIR)/start.elf: $(BENCH_DIR)/start.o bench/guests/guest.ld
	$(GUEST_CC) $(BENCH_LDFLAGS) -o $(BENCH_DIR)/start64.elf $<
	$(GUEST_OBJCOPY) -O elf32-i386 $(BENCH_DIR)/start64.elf $@

$(BENCH_DIR)/%.elf: $(BENCH_DIR)/boot64.o $(BENCH_DIR)/%.o bench/guests/guest.ld
	$(GUEST_CC) $(BENCH_LDFLAGS) -o $(BENCH_DIR)/$*64.elf $(BENCH_DIR)/boot64.o $(BENCH_DIR)/$*.o
	$(GUEST_OBJCOPY) -O elf32-i386 $(BENCH_DIR)/$*64.elf $@

$(BENCH_DIR)/timeit: bench/tools/timeit.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -o $@ $<
