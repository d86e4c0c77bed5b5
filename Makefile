# ringfold build. `make` builds build/ringfold; `make check` builds and runs
# every test (unit tests plain and under ASan+UBSan, fuzz targets briefly,
# integration tests with the test kernel) and ends with "N passed, N failed".

CC      ?= gcc
CLANG   ?= clang
VERSION := 0.1.0
BUILD   := build

WARN    := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wvla
CFLAGS_COMMON := -std=c11 -D_GNU_SOURCE -DRINGFOLD_VERSION=\"$(VERSION)\" -Isrc $(WARN) -g -MMD -MP
CFLAGS  ?= -O2
LDLIBS  := -lpthread -llzma -lz -lzstd -luring -lslirp

SRC      := $(shell find src -name '*.c' | sort)
LIB_SRC  := $(filter-out src/main.c,$(SRC))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))

OBJ       := $(SRC:%.c=$(BUILD)/obj/%.o)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
ASAN_OBJ  := $(LIB_SRC:%.c=$(BUILD)/asan/%.o)
FUZZ_OBJ  := $(LIB_SRC:%.c=$(BUILD)/fuzzobj/%.o)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
ASAN_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests-asan/%)
FUZZ_BIN  := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)

SANFLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZFLAGS := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

.PHONY: run-testkernel all check unit fuzz guest clean format format-check bench soak run
all: $(BUILD)/ringfold

$(BUILD)/ringfold: $(OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(CFLAGS) -c -o $@ $<

$(BUILD)/asan/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) -O1 $(SANFLAGS) -c -o $@ $<

$(BUILD)/fuzzobj/%.o: %.c
	@mkdir -p $(@D)
	$(CLANG) $(CFLAGS_COMMON) -O1 -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<

$(BUILD)/libringfold.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libringfold-asan.a: $(ASAN_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libringfold-fuzz.a: $(FUZZ_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/tests/%: tests/unit/%.c tests/unit/test.h $(BUILD)/libringfold.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libringfold.a $(LDLIBS)

$(BUILD)/tests-asan/%: tests/unit/%.c tests/unit/test.h $(BUILD)/libringfold-asan.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) -O1 $(SANFLAGS) -Itests/unit -o $@ $< $(BUILD)/libringfold-asan.a $(LDLIBS)

$(BUILD)/fuzz/%: tests/fuzz/%.c $(BUILD)/libringfold-fuzz.a
	@mkdir -p $(@D)
	$(CLANG) $(CFLAGS_COMMON) -O1 $(FUZZFLAGS) -o $@ $< $(BUILD)/libringfold-fuzz.a $(LDLIBS)

unit: $(UNIT_BIN) $(ASAN_BIN)
fuzz: $(FUZZ_BIN)

# The project's own test kernel (guest/): its rules live beside it.
-include guest/guest.mk
# Other build fragments (difftest, bench helpers) live beside their code.
-include $(wildcard mk/*.mk)

# Debian's stock kernel is a real-world input for the bzImage loader's tests;
# if it cannot be fetched those checks are reported as skipped, loudly.
check: $(BUILD)/ringfold unit fuzz guest
	@kernel=$${RINGFOLD_LINUX_KERNEL:-$$(BUILD=$(BUILD) bash tools/fetch-debian-kernel.sh || true)}; \
	RINGFOLD_LINUX_KERNEL=$$kernel RINGFOLD=$(BUILD)/ringfold BUILD=$(BUILD) bash tests/run-all.sh

# Boots the default guest: Debian's Linux kernel with a busybox shell on the
# console (`make guest` builds it from Debian's packages). Exit the shell or
# run `poweroff` to end it (exit status 0); Ctrl-A x quits at any time.
run: $(BUILD)/ringfold guest
	@$(BUILD)/ringfold run $(RUNFLAGS); \
	status=$$?; \
	case $$status in \
	0) echo "ringfold: the guest powered off (exit status 0)";; \
	*) echo "ringfold: exit status $$status (see README.md, Exit status)"; exit 1;; \
	esac

# Boots the project's test kernel, which ends the VM with status 33 when every
# check passed and 35 when some failed (the "not ok" lines say which).
run-testkernel: $(BUILD)/ringfold guest
	@$(BUILD)/ringfold run --kernel $(BUILD)/guest/testkernel.elf --cpus 2 $(RUNFLAGS); \
	status=$$?; \
	case $$status in \
	33) echo "ringfold: the test kernel passed every check (exit status 33)";; \
	35) echo "ringfold: the test kernel ran but reported failed checks (exit status 35): see the 'not ok' lines"; \
	    if [ -d /sys/module/kvm_pvm ]; then echo "ringfold: this host's /dev/kvm is kvm_pvm, which does not deliver SYSCALL from CPL3 to the guest kernel, so syscall-sysret fails here (under QEMU -accel kvm too)"; fi;; \
	*) echo "ringfold: exit status $$status (see README.md, Exit status)"; exit 1;; \
	esac

bench: $(BUILD)/ringfold guest
	@RINGFOLD=$(BUILD)/ringfold BUILD=$(BUILD) bash bench/run.sh

FORMAT_FILES = $(shell git ls-files 'src/*.[ch]' 'tests/*.[ch]' 'guest/*.[ch]' 'bench/*.[ch]' 2>/dev/null)
format:
	clang-format -i $(FORMAT_FILES)

format-check:
	@clang-format --dry-run --Werror $(FORMAT_FILES)

clean:
	rm -rf $(BUILD)

-include $(OBJ:.o=.d) $(ASAN_OBJ:.o=.d) $(FUZZ_OBJ:.o=.d) $(UNIT_BIN:=.d) $(ASAN_BIN:=.d)
