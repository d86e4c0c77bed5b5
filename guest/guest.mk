# The test kernel (guest/): a freestanding x86-64 kernel booted through
# Multiboot v1. Compiled and linked as 64-bit code at 1 MiB, then rewritten
# as an ELF32 (objcopy) because Multiboot loaders (QEMU's included) only
# accept 32-bit ELF images; the entry point is 32-bit code. See
# guest/README.md.

GUEST_CC      ?= gcc
GUEST_OBJCOPY ?= objcopy
GUEST_CFLAGS  := -m64 -std=gnu11 -ffreestanding -nostdlib -fno-builtin \
	-fno-tree-loop-distribute-patterns -mno-red-zone -mgeneral-regs-only \
	-fno-pic -fno-pie -fno-stack-protector -mcmodel=small \
	-fno-asynchronous-unwind-tables -fno-omit-frame-pointer -O2 -g \
	-Wall -Wextra -Werror -Wshadow -Wvla -Wno-unused-parameter -MMD -MP
GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,--build-id=none \
	-Wl,-z,max-page-size=0x1000 -Wl,--no-warn-rwx-segments -Wl,-T,guest/linker.ld

GUEST_SRC := $(sort $(wildcard guest/*.c guest/*.S))
GUEST_OBJ := $(patsubst guest/%,$(BUILD)/guest/obj/%.o,$(GUEST_SRC))

.PHONY: guest
guest: $(BUILD)/guest/testkernel.elf

$(BUILD)/guest/obj/%.c.o: guest/%.c
	@mkdir -p $(@D)
	$(GUEST_CC) $(GUEST_CFLAGS) -c -o $@ $<

$(BUILD)/guest/obj/%.S.o: guest/%.S
	@mkdir -p $(@D)
	$(GUEST_CC) $(GUEST_CFLAGS) -c -o $@ $<

# 64-bit image first (kept for objdump and gdb), then the ELF32 to boot.
$(BUILD)/guest/testkernel64.elf: $(GUEST_OBJ) guest/linker.ld guest/guest.mk
	$(GUEST_CC) $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -o $@ $(GUEST_OBJ)

$(BUILD)/guest/testkernel.elf: $(BUILD)/guest/testkernel64.elf
	$(GUEST_OBJCOPY) -O elf32-i386 $< $@

-include $(GUEST_OBJ:.o=.d)
