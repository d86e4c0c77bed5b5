# tests/tools/acpi_dump: writes the ACPI tables to files for
# tests/integration/acpi_iasl.sh (which checks them with iasl from
# acpica-tools). Built by `make check` before the integration tests run.
$(BUILD)/tools/acpi_dump: tests/tools/acpi_dump.c $(BUILD)/libringfold.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(CFLAGS) -o $@ $< $(BUILD)/libringfold.a $(LDLIBS)

check: $(BUILD)/tools/acpi_dump
