/* The soft engine's run loop: fetch through the MMU, decode once (cached by
 * guest-physical address), execute, and stop on the instruction budget, HLT
 * or an exception.
 *
 * The decoded-instruction cache is direct-mapped by the physical address of
 * an instruction's first byte. An entry keeps the bytes it was decoded from
 * and a hit compares them with guest memory, so code the guest rewrote (or a
 * page remapped under the same address) is never executed stale, without
 * write-protecting anything; instructions that straddle a page are decoded
 * afresh every time. */
#include <string.h>

#include "engine/soft/exec.h"
#include "util/log.h"

void soft_cpu_refresh_mode(struct soft_cpu *c)
{
	const struct cpu_state *s = &c->state;
	if ((s->efer & EFER_LMA) && s->seg[SEG_CS].l)
		c->mode = SOFT_MODE_64;
	else if ((s->cr0 & CR0_PE) && s->seg[SEG_CS].db)
		c->mode = SOFT_MODE_32;
	else
		c->mode = SOFT_MODE_16;
	c->cpl = (s->cr0 & CR0_PE) ? s->seg[SEG_CS].dpl & 3 : 0;
	c->cur_pcid = (s->cr4 & CR4_PCIDE) ? (uint16_t)(s->cr3 & 0xfff) : 0;
	soft_mmu_refresh_ctx(c);
	soft_debug_refresh(c);
}

static void icache_flush(struct soft_cpu *c)
{
	for (unsigned k = 0; k < SOFT_ICACHE_SIZE; k++)
		c->icache[k].key = ~0ULL;
}

void soft_cpu_flush_tlb(struct soft_cpu *c)
{
	soft_tlb_flush_all(c);
	icache_flush(c);
}

int soft_cpu_init(struct soft_cpu *c, struct guest_mem *mem, struct bus *bus)
{
	memset(c, 0, sizeof *c);
	c->mem = mem;
	c->bus = bus;
	cpu_state_reset(&c->state);
	soft_cpu_flush_tlb(c);
	soft_cpu_refresh_mode(c);
	return 0;
}

/* Copy instruction bytes of one page into buf: RAM directly, MMIO (code run
 * from a ROM device) through the bus. */
static void fetch_bytes(struct soft_cpu *c, const struct soft_tlb_entry *e, unsigned off,
                        uint8_t *buf, unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		buf[k] = e->host  ? e->host[off + k]
		         : c->bus ? (uint8_t)bus_read(c->bus, BUS_MMIO, e->gpa + off + k, 1)
		                  : 0xff;
}

static int decode_error(struct soft_cpu *c, int rc)
{
	return soft_raise(c, rc == -2 ? SOFT_GP : SOFT_UD, rc == -2, 0);
}

/* Do the cached bytes still match guest memory? One masked 8-byte compare
 * for the usual short instruction, a loop otherwise. */
static inline bool same_bytes(const uint8_t *cached, const uint8_t *p, unsigned n, unsigned avail)
{
	if (n <= 8 && avail >= 8) {
		uint64_t x, y;
		memcpy(&x, cached, 8);
		memcpy(&y, p, 8);
		uint64_t mask = n == 8 ? ~0ULL : (1ULL << (n * 8)) - 1;
		return ((x ^ y) & mask) == 0;
	}
	for (unsigned k = 0; k < n; k++)
		if (cached[k] != p[k])
			return false;
	return true;
}

/* Outside 64-bit mode every byte of an instruction must lie within the CS
 * limit: #GP(0) at the instruction otherwise. */
static int beyond_cs_limit(struct soft_cpu *c)
{
	return soft_raise(c, SOFT_GP, true, 0);
}

/* Fetch and decode the instruction at RIP; *out points into the cache or at
 * scratch. Inlined into the run loop: it is half of every instruction. */
static inline __attribute__((always_inline)) int
fetch(struct soft_cpu *c, struct soft_insn *scratch, const struct soft_insn **out)
{
	uint64_t la = c->state.rip;
	/* Bytes from RIP to the CS limit: an instruction longer than that
	 * faults (64-bit mode has no limit: room exceeds any length). */
	uint64_t room = SOFT_MAX_INSN_LEN;
	if (c->mode == SOFT_MODE_64) {
		if (!soft_canonical(la))
			return soft_raise(c, SOFT_GP, true, 0);
	} else {
		const struct cpu_segment *cs = &c->state.seg[SEG_CS];
		if (la > cs->limit)
			return beyond_cs_limit(c);
		room = (uint64_t)cs->limit - la + 1;
		la = (cs->base + la) & 0xffffffffULL;
	}
	const struct soft_tlb_entry *e = soft_tlb_lookup(c, la, SOFT_ACC_EXEC);
	if (!e)
		return -1;
	unsigned off = la & 0xfff, avail = 4096 - off;
	uint64_t gpa = e->gpa + off;
	if (e->host) {
		const uint8_t *p = e->host + off;
		uint64_t key = gpa | (uint64_t)c->mode << 62;
		struct soft_icache_entry *ce =
		    &c->icache[(gpa ^ (gpa >> 11)) & (SOFT_ICACHE_SIZE - 1)];
		if (ce->key == key && same_bytes(ce->bytes, p, ce->insn.len, avail)) {
			if (__builtin_expect(ce->insn.len > room, 0))
				return beyond_cs_limit(c);
			*out = &ce->insn;
			return 0;
		}
		c->icache_misses++;
		ce->key = ~0ULL;
		int n = soft_decode(p, avail < SOFT_MAX_INSN_LEN ? avail : SOFT_MAX_INSN_LEN,
		                    c->mode, &ce->insn);
		if (n > 0) {
			ce->key = key;
			memcpy(ce->bytes, p, (size_t)n);
			if ((unsigned)n > room)
				return beyond_cs_limit(c);
			*out = &ce->insn;
			return 0;
		}
		if (n < 0)
			return decode_error(c, n);
	}
	/* MMIO, or an instruction that may run into the next page. */
	uint8_t buf[SOFT_MAX_INSN_LEN];
	unsigned have = avail < SOFT_MAX_INSN_LEN ? avail : SOFT_MAX_INSN_LEN;
	fetch_bytes(c, e, off, buf, have);
	int n = soft_decode(buf, have, c->mode, scratch);
	if (n == 0) {
		uint64_t la2 = la + avail;
		if (c->mode != SOFT_MODE_64)
			la2 &= 0xffffffffULL;
		else if (!soft_canonical(la2))
			return soft_raise(c, SOFT_GP, true, 0);
		const struct soft_tlb_entry *e2 = soft_mmu_translate(c, la2, SOFT_ACC_EXEC);
		if (!e2)
			return -1;
		fetch_bytes(c, e2, 0, buf + have, SOFT_MAX_INSN_LEN - have);
		n = soft_decode(buf, SOFT_MAX_INSN_LEN, c->mode, scratch);
	}
	if (n <= 0)
		return decode_error(c, n);
	if ((unsigned)n > room)
		return beyond_cs_limit(c);
	*out = scratch;
	return 0;
}

/* An instruction raised cpu->exc: report it (report mode) or deliver it.
 * -1 to go on running, else the exit. */
static int handle_exception(struct soft_cpu *c)
{
	soft_flags_materialize(c);
	if (c->report_exceptions) {
		if (c->exc.software)
			c->state.rip += c->exc.insn_len;
		return SOFT_EXIT_EXCEPTION;
	}
	if (soft_deliver(c) != 0)
		return SOFT_EXIT_SHUTDOWN;
	return -1;
}

/* One instruction with the debug checks on (TF, RF or a breakpoint armed):
 * instruction breakpoints before it (a fault, skipped while RF is set),
 * data breakpoints and single-step after it (one trap, DR6 saying which),
 * RF cleared once it completes. A REP instruction takes one iteration per
 * step, so each iteration is single-stepped and watched on its own.
 * -1 to go on, else the exit. */
static __attribute__((noinline, cold)) int step_debug(struct soft_cpu *c)
{
	struct cpu_state *s = &c->state;
	bool tf = s->rflags & FL_TF; /* TF as the instruction starts */
	if (!(s->rflags & FL_RF) && c->dbg_exec) {
		unsigned hits = soft_debug_exec_hits(c);
		if (hits) {
			s->dr[6] = (s->dr[6] & ~0xfULL) | hits; /* B0-B3 say which, alone */
			soft_raise(c, SOFT_DB, false, 0);
			return handle_exception(c);
		}
	}
	c->dbg_hits = 0;
	struct soft_insn scratch;
	const struct soft_insn *insn;
	int rc = fetch(c, &scratch, &insn);
	if (rc == 0)
		rc = soft_exec(c, insn);
	if (rc < 0)
		return handle_exception(c);
	if (rc == SOFT_X_AGAIN) {
		/* Between iterations: the breakpoint on the instruction was
		 * taken (or not) at its start, as hardware sets RF here. */
		s->rflags |= FL_RF;
	} else {
		c->icount++;
		if (c->int_shadow)
			c->int_shadow--;
		if (insn->op != 0xcf) /* IRET loaded RF from the frame */
			s->rflags &= ~FL_RF;
	}
	if (c->dbg_hits || tf) {
		if (c->dbg_hits)
			s->dr[6] = (s->dr[6] & ~0xfULL) | c->dbg_hits;
		if (tf)
			s->dr[6] |= DR6_BS;
		soft_raise(c, SOFT_DB, false, 0);
		return handle_exception(c);
	}
	if (rc == SOFT_X_HLT) {
		soft_flags_materialize(c);
		return SOFT_EXIT_HLT;
	}
	return -1;
}

enum soft_exit soft_cpu_run(struct soft_cpu *c, uint64_t max_insns)
{
	soft_cpu_refresh_mode(c);
	c->lf.op = SOFT_LF_NONE;
	c->exc.valid = false;
	uint64_t n = 0;
	while (n < max_insns) {
		if (__builtin_expect(c->dbg_armed, 0)) {
			if (__atomic_load_n(&c->stop_request, __ATOMIC_RELAXED))
				break;
			n++;
			int x = step_debug(c);
			soft_debug_rearm(c);
			if (x >= 0)
				return (enum soft_exit)x;
			continue;
		}
		/* The fast path: nothing to check between instructions but the
		 * stop request. Instructions that may arm debugging (POPF,
		 * IRET, MOV DR, ...) return SOFT_X_RECHECK to leave it. */
		for (; n < max_insns; n++) {
			if (__builtin_expect(__atomic_load_n(&c->stop_request, __ATOMIC_RELAXED),
			                     0))
				goto out;
			struct soft_insn scratch;
			const struct soft_insn *insn;
			int rc = fetch(c, &scratch, &insn);
			if (rc == 0)
				rc = soft_exec(c, insn);
			if (rc == SOFT_X_RETIRED) {
				c->icount++;
				if (c->int_shadow)
					c->int_shadow--;
				continue;
			}
			if (rc == SOFT_X_AGAIN)
				continue;
			if (rc == SOFT_X_RECHECK) {
				c->icount++;
				if (c->int_shadow)
					c->int_shadow--;
				n++;
				break;
			}
			soft_flags_materialize(c);
			if (rc == SOFT_X_HLT) {
				/* HLT retires: the STI shadow of `sti; hlt` ends with it, or
				 * the halted CPU could never take the interrupt it waits for. */
				c->icount++;
				if (c->int_shadow)
					c->int_shadow--;
				return SOFT_EXIT_HLT;
			}
			int x = handle_exception(c);
			if (x >= 0)
				return (enum soft_exit)x;
			n++;
			break; /* delivery may have changed what is armed (a task switch) */
		}
	}
out:
	soft_flags_materialize(c);
	return SOFT_EXIT_LIMIT;
}

/* The CPUID model: a fixed, deliberately small feature set describing what the
 * interpreter implements or will implement (x86-64 baseline), so a guest sees
 * the same CPU on every host. See docs/soft-engine.md. */
void soft_cpuid(const struct soft_cpu *c, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	(void)subleaf;
	/* "GenuineIntel": guests then expect the SDM's semantics, which are the
	 * ones implemented. */
	static const uint32_t vendor[3] = {0x756e6547, 0x49656e69, 0x6c65746e};
	memset(out, 0, 4 * sizeof out[0]);
	switch (leaf) {
	case 0:
		out[0] = 0x16;
		out[1] = vendor[0];
		out[2] = vendor[2];
		out[3] = vendor[1];
		break;
	case 1:
		out[0] = 0x000506e3; /* family 6 */
		/* CLFLUSH line 64 bytes, one logical CPU, initial APIC ID */
		out[1] = 0x00010800 | (uint32_t)c->apic_id << 24;
		/* ECX: SSE3 SSSE3 CX16 PCID SSE4.1 SSE4.2 MOVBE POPCNT, hypervisor:
		 * each one implemented and covered by the differential tester
		 * (PCID: the soft TLB is tagged by it, tests/unit/test_soft_mmu.c) */
		out[2] = (1u << 0) | (1u << 9) | (1u << 13) | (1u << 17) | (1u << 19) | (1u << 20) |
		         (1u << 22) | (1u << 23) | (1u << 31);
		/* EDX: FPU PSE TSC MSR PAE CX8 APIC SEP PGE CMOV PAT CLFSH MMX FXSR SSE SSE2 */
		out[3] = (1u << 0) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 8) |
		         (1u << 9) | (1u << 11) | (1u << 13) | (1u << 15) | (1u << 16) |
		         (1u << 19) | (1u << 23) | (1u << 24) | (1u << 25) | (1u << 26);
		break;
	case 7:
		if (subleaf == 0) {
			/* FSGSBASE, INVPCID, ADX. Not BMI1: its VEX forms (ANDN,
			 * BEXTR, BLS*) are missing, although F3 0F BC runs as
			 * TZCNT as on every BMI1 CPU. */
			out[1] = (1u << 0) | (1u << 10) | (1u << 19);
			/* EDX: IA32_ARCH_CAPABILITIES, which says which
			 * speculation bugs this CPU does not have: all of them,
			 * an interpreter does not speculate (see system.c). */
			out[3] = 1u << 29;
		}
		break;
	case 0x15: /* TSC = crystal * EBX / EAX */
		out[0] = 1;
		out[1] = (uint32_t)(SOFT_GUEST_TSC_HZ / SOFT_CRYSTAL_HZ);
		out[2] = SOFT_CRYSTAL_HZ;
		break;
	case 0x16: /* base and maximum frequency, bus frequency, in MHz */
		out[0] = (uint32_t)(SOFT_GUEST_TSC_HZ / 1000000);
		out[1] = (uint32_t)(SOFT_GUEST_TSC_HZ / 1000000);
		out[2] = 100;
		break;
	case 0x40000000: /* hypervisor leaf: "RingfoldSoft" */
		out[0] = 0x40000000;
		out[1] = 0x676e6952;
		out[2] = 0x646c6f66;
		out[3] = 0x74666f53;
		break;
	case 0x80000000: out[0] = 0x80000008; break;
	case 0x80000001:
		out[2] = (1u << 0) | (1u << 5); /* LAHF/SAHF in 64-bit, LZCNT */
		/* SYSCALL, NX, 1 GiB pages, RDTSCP, LM */
		out[3] = (1u << 11) | (1u << 20) | (1u << 26) | (1u << 27) | (1u << 29);
		break;
	case 0x80000007:
		out[3] = 1u << 8; /* invariant TSC: one rate in every state */
		break;
	case 0x80000008:
		out[0] = 40 | (48 << 8); /* physical, linear address bits */
		break;
	default: break;
	}
}
