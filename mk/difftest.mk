# The soft engine's differential tester (tests/difftest/): runs generated
# instruction sequences on the host CPU and on the soft CPU and compares.
# `make check` builds it (tests/integration/difftest.sh runs a few thousand
# cases); `make soak` runs millions with a fresh seed.
DIFFTEST_SRC := $(sort $(wildcard tests/difftest/*.c))
SOAK_CASES   ?= 2000000

$(BUILD)/difftest: $(DIFFTEST_SRC) tests/difftest/difftest.h $(BUILD)/libringfold.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(CFLAGS) -Itests/difftest -o $@ $(DIFFTEST_SRC) $(BUILD)/libringfold.a $(LDLIBS)

check: $(BUILD)/difftest

soak: $(BUILD)/difftest
	@seed=$${SOAK_SEED:-$$(date +%s)}; echo "soak: seed $$seed, $(SOAK_CASES) cases"; \
	$(BUILD)/difftest --seed $$seed --cases $(SOAK_CASES)
