#!/usr/bin/env bash
# The ACPI tables checked by ACPICA, the code Linux itself uses to read them:
# tests/tools/acpi_dump writes every table acpi_build() produces (for 1, 2 and
# 64 vCPUs), then for each table
#   - iasl -d disassembles it without an error, a warning or a bad checksum,
#   - iasl compiles the disassembly cleanly back to the same bytes (the
#     header's checksum and compiler ID/revision aside, which iasl rewrites);
# the RSDP, which iasl cannot disassemble on its own, is rebuilt from its
# fields by iasl's table compiler and must come out identical, checksums and
# all; and acpiexec (ACPICA, as in Linux) accepts the FADT without a warning,
# loads the DSDT into its namespace and evaluates \_S5_, \_SB.PCI0._HID and
# \_SB.HPET._CRS (the HPET device beside the HPET table).
# Needs acpica-tools (iasl, acpiexec); without them this FAILS.
set -u
. "$(dirname "$0")/lib.sh"

DUMP=${ACPI_DUMP:-$BUILD/tools/acpi_dump}

if ! command -v iasl >/dev/null 2>&1 || ! command -v acpiexec >/dev/null 2>&1; then
	fail "acpica-tools present" \
		"iasl/acpiexec not found: install acpica-tools (apt-get install -y acpica-tools)"
	finish
	exit
fi
if [ ! -x "$DUMP" ]; then
	fail "acpi_dump built" "$DUMP is missing: run make BUILD=$BUILD $DUMP (make check builds it)"
	finish
	exit
fi

# ACPICA messages that mean the table is wrong (the disassembler reports a
# bad checksum as a firmware warning and still exits 0).
BAD='error|warning|incorrect|invalid|exception|could not|unknown|not found'

# Bytes of two files that differ, ignoring the checksum (offset 9) and the
# creator ID and revision (offsets 28-35), which iasl sets itself.
differs_beyond_header() {
	cmp -l "$1" "$2" 2>&1 | awk '$1 !~ /^[0-9]+$/ || ($1 != 10 && ($1 < 29 || $1 > 36))'
}

check_table() { # dir, table name (file stem), cpus
	local dir=$1 t=$2 n=$3 out
	out=$( (cd "$dir" && iasl -vs -d "$t.dat") 2>&1)
	if [ $? -ne 0 ] || [ ! -s "$dir/$t.dsl" ] || grep -qiE "$BAD" <<<"$out"; then
		fail "iasl -d $t ($n cpus)" "$out"
		return
	fi
	pass "iasl -d $t ($n cpus)"

	# -oa: no optimisations, so the AML comes back exactly as we wrote it.
	mkdir -p "$dir/re"
	out=$( (cd "$dir" && iasl -vs -oa -p "re/$t" "$t.dsl") 2>&1)
	if [ $? -ne 0 ] || [ ! -s "$dir/re/$t.aml" ] || ! grep -q '0 Errors, 0 Warnings' <<<"$out" ||
		grep -v 'Compilation successful' <<<"$out" | grep -qiE "$BAD"; then
		fail "iasl recompiles $t ($n cpus)" "$out"
		return
	fi
	local diff
	diff=$(differs_beyond_header "$dir/$t.dat" "$dir/re/$t.aml")
	if [ -n "$diff" ]; then
		fail "iasl recompiles $t to the same bytes ($n cpus)" "offset ours iasl (octal):" "$diff"
		return
	fi
	pass "iasl recompiles $t to the same bytes ($n cpus)"
}

# The RSDP's fields into iasl's data table language; iasl fills in both
# checksums, so identical output proves ours.
check_rsdp() { # dir, cpus
	local dir=$1 n=$2 f=$1/rsdp.dat
	local hex
	hex=$(od -An -tx1 -v "$f" | tr -d ' \n')
	if [ ${#hex} -ne 72 ]; then
		fail "RSDP is 36 bytes ($n cpus)" "got $((${#hex} / 2)) bytes"
		return
	fi
	le() { # hex string of little-endian bytes -> big-endian hex
		local s=$1 r=""
		while [ -n "$s" ]; do
			r=${s:0:2}$r
			s=${s:2}
		done
		echo "$r"
	}
	local oem
	oem=$(head -c 15 "$f" | tail -c 6)
	cat >"$dir/rsdp_re.asl" <<-EOF
		[0008]                          Signature : "RSD PTR "
		[0001]                           Checksum : 00
		[0006]                             Oem ID : "$oem"
		[0001]                           Revision : ${hex:30:2}
		[0004]                       RSDT Address : $(le "${hex:32:8}")
		[0004]                             Length : $(le "${hex:40:8}")
		[0008]                       XSDT Address : $(le "${hex:48:16}")
		[0001]                  Extended Checksum : 00
		[0003]                           Reserved : 000000
	EOF
	local out
	out=$( (cd "$dir" && iasl -vs -p rsdp_re rsdp_re.asl) 2>&1)
	if [ $? -ne 0 ] || [ ! -s "$dir/rsdp_re.aml" ]; then
		fail "iasl compiles our RSDP fields ($n cpus)" "$out"
		return
	fi
	if ! cmp -s "$f" "$dir/rsdp_re.aml"; then
		fail "RSDP identical to iasl's, checksums included ($n cpus)" \
			"ours: $(od -An -tx1 -v "$f" | tr -d '\n')" \
			"iasl: $(od -An -tx1 -v "$dir/rsdp_re.aml" | tr -d '\n')"
		return
	fi
	pass "RSDP identical to iasl's, checksums included ($n cpus)"
}

# acpiexec runs ACPICA, the ACPI code Linux itself uses, over our FADT, DSDT
# and MADT: the FADT goes through the same checks Linux applies at boot
# (32/64-bit address and length agreement, sizes, checksums), the DSDT is
# loaded into a namespace and \_S5_ and PCI0 are evaluated. acpiexec's own
# self-tests then poke hardware this machine does not have (GPE blocks, the
# PM2 arbiter bit); those "Unexpected" lines are expected and ignored.
check_acpiexec() { # dir, cpus
	local dir=$1 n=$2 out
	out=$(cd "$dir" && timeout 60 acpiexec -b 'evaluate \_S5_; evaluate \_SB.PCI0._HID; evaluate \_SB.PCI0._CRS; evaluate \_SB.COM1._CRS; evaluate \_SB.HPET._CRS' facp.dat dsdt.dat apic.dat hpet.dat 2>&1)
	local rc=$?
	local complaints
	complaints=$(grep -iE 'warning|error|exception|AE_' <<<"$out" |
		grep -vE '^Unexpected AE_BAD_PARAMETER from Acpi[A-Za-z]*Gpe[A-Za-z]* |^Unexpected AE_BAD_ADDRESS from Acpi(Read|Write)BitRegister ')
	# The S5 package {5, 5, 0, 0}, PCI0's _HID EisaId ("PNP0A03") and the
	# HPET's Memory32Fixed descriptor (0x86, length 9, read/write,
	# 0xFED00000, 0x400 bytes) in its _CRS buffer.
	local s5
	s5=$(grep -A4 'Contains 4 Elements' <<<"$out" | grep -c -E '\[Integer\] = 0000000000000005|\[Integer\] = 0000000000000000')
	if [ $rc -ne 0 ] || [ -n "$complaints" ] || [ "$s5" -ne 4 ] ||
		! grep -q '\[Integer\] = 00000000030AD041' <<<"$out" ||
		! grep -qi '86 09 00 01 00 00 D0 FE 00 04 00 00' <<<"$out" ||
		! grep -q 'ACPI: FACP .*RNGFLD' <<<"$out" ||
		! grep -q 'Table \[DSDT: RINGFOLD\]' <<<"$out"; then
		fail "acpiexec accepts FADT/MADT/DSDT and evaluates \\_S5_ and PCI0 ($n cpus)" \
			"${complaints:-$out}"
		return
	fi
	pass "acpiexec accepts FADT/MADT/DSDT and evaluates \\_S5_ and PCI0 ($n cpus)"
}

for n in 1 2 64; do
	dir=$t_tmp/cpus$n
	mkdir -p "$dir"
	if ! out=$("$DUMP" "$dir" "$n" 2>&1); then
		fail "acpi_dump $n cpus" "$out"
		continue
	fi
	missing=""
	for t in rsdp rsdt xsdt facp apic dsdt facs hpet; do
		[ -s "$dir/$t.dat" ] || missing="$missing $t"
	done
	if [ -n "$missing" ]; then
		fail "every table reachable from the RSDP ($n cpus)" "missing:$missing"
		continue
	fi
	for t in rsdt xsdt facp apic dsdt facs hpet; do
		check_table "$dir" "$t" "$n"
	done
	check_rsdp "$dir" "$n"
	check_acpiexec "$dir" "$n"
done

finish
