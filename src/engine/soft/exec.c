/* The soft engine's executor: one decoded instruction at a time.
 *
 * Every instruction follows the same discipline so that faults are precise:
 * first translate every memory operand it will touch (which is where #PF and
 * #GP arise), then compute, then write memory, then registers and RIP. An
 * instruction that raises leaves the architectural state as it found it,
 * except string instructions, which commit whole iterations and can be
 * restarted from there (as on real hardware).
 *
 * soft_exec() returns SOFT_X_RETIRED, SOFT_X_AGAIN (a REP instruction ran out
 * of its iteration budget; RIP still points at it), SOFT_X_HLT, or -1 with
 * the exception in cpu->exc. */
#include "engine/soft/exec.h"
#include "engine/soft/segcheck.h"

#include <string.h>

#include "engine/soft/access.h"
#include "util/log.h"

/* --- memory slow paths (page-crossing and MMIO operands) --- */

int soft_mem_prepare_slow(struct soft_cpu *c, uint64_t la, unsigned size, unsigned access,
                          struct memref *m)
{
	unsigned off = la & 0xfff;
	const struct soft_tlb_entry *e = soft_mmu_translate(c, la, access);
	if (!e)
		return -1;
	uint64_t gpa0 = e->gpa + off;
	uint64_t la1 = la + (4096 - off);
	if (c->mode != SOFT_MODE_64)
		la1 &= 0xffffffffULL;
	const struct soft_tlb_entry *e1 = soft_mmu_translate(c, la1, access);
	if (!e1)
		return -1;
	m->host = NULL;
	m->size = size;
	m->len0 = 4096 - off;
	m->gpa0 = gpa0;
	m->gpa1 = e1->gpa;
	if (c->dbg_data)
		soft_debug_data_access(c, la, size, access);
	return 0;
}

static void piece_read(struct soft_cpu *c, uint64_t gpa, uint8_t *buf, unsigned len)
{
	const uint8_t *p = mem_ptr(c->mem, gpa, len);
	if (p) {
		memcpy(buf, p, len);
		return;
	}
	if (c->hooks && c->hooks->mmio_read && (len == 1 || len == 2 || len == 4 || len == 8)) {
		uint64_t v;
		if (c->hooks->mmio_read(c->hooks_opaque, gpa, len, &v)) {
			memcpy(buf, &v, len);
			return;
		}
	}
	if (!c->bus) { /* no devices: reads as all-ones, like an unassigned address */
		memset(buf, 0xff, len);
		return;
	}
	if (len == 1 || len == 2 || len == 4 || len == 8) {
		uint64_t v = bus_read(c->bus, BUS_MMIO, gpa, len);
		memcpy(buf, &v, len);
		return;
	}
	for (unsigned k = 0; k < len; k++) {
		p = mem_ptr(c->mem, gpa + k, 1);
		buf[k] = p ? *p : (uint8_t)bus_read(c->bus, BUS_MMIO, gpa + k, 1);
	}
}

static void piece_write(struct soft_cpu *c, uint64_t gpa, const uint8_t *buf, unsigned len)
{
	uint8_t *p = mem_ptr(c->mem, gpa, len);
	if (p) {
		memcpy(p, buf, len);
		return;
	}
	if (c->hooks && c->hooks->mmio_write && (len == 1 || len == 2 || len == 4 || len == 8)) {
		uint64_t v = 0;
		memcpy(&v, buf, len);
		if (c->hooks->mmio_write(c->hooks_opaque, gpa, len, v))
			return;
	}
	if (!c->bus)
		return;
	if (len == 1 || len == 2 || len == 4 || len == 8) {
		uint64_t v = 0;
		memcpy(&v, buf, len);
		bus_write(c->bus, BUS_MMIO, gpa, len, v);
		return;
	}
	for (unsigned k = 0; k < len; k++) {
		p = mem_ptr(c->mem, gpa + k, 1);
		if (p)
			*p = buf[k];
		else
			bus_write(c->bus, BUS_MMIO, gpa + k, 1, buf[k]);
	}
}

uint64_t soft_mem_read_slow(struct soft_cpu *c, const struct memref *m)
{
	uint8_t buf[8] = {0};
	unsigned n = m->size > 8 ? 8 : m->size;
	unsigned first = m->len0 < n ? m->len0 : n;
	piece_read(c, m->gpa0, buf, first);
	if (first < n)
		piece_read(c, m->gpa1, buf + first, n - first);
	uint64_t v;
	memcpy(&v, buf, 8);
	return v;
}

void soft_mem_write_slow(struct soft_cpu *c, const struct memref *m, uint64_t v)
{
	uint8_t buf[8];
	memcpy(buf, &v, 8);
	unsigned n = m->size > 8 ? 8 : m->size;
	unsigned first = m->len0 < n ? m->len0 : n;
	piece_write(c, m->gpa0, buf, first);
	if (first < n)
		piece_write(c, m->gpa1, buf + first, n - first);
}

/* A sub-operand at byte offset off of a prepared reference (CMPXCHG16B's
 * halves); off + size must lie within the reference. */
static struct memref memref_part(const struct memref *m, unsigned off, unsigned size)
{
	struct memref r = {.size = size};
	if (m->host) {
		r.host = m->host + off;
		r.len0 = size;
		r.gpa0 = m->gpa0 + off;
		return r;
	}
	if (off >= m->len0) {
		r.gpa0 = m->gpa1 + (off - m->len0);
		r.len0 = size;
	} else {
		r.gpa0 = m->gpa0 + off;
		r.len0 = m->len0 - off < size ? m->len0 - off : size;
		r.gpa1 = m->gpa1;
	}
	return r;
}

/* Outside 64-bit mode: the segment must be usable, allow the access (no
 * writes to code or read-only data, no reads of execute-only code) and
 * contain [off, off + size) within its limit (expand-down segments hold
 * what lies above the limit). #SS(0) for the stack segment, else #GP(0). */
int soft_segment_check(struct soft_cpu *c, unsigned seg, uint64_t off, unsigned size,
                       unsigned access)
{
	const struct cpu_segment *s = &c->state.seg[seg];
	unsigned vector = seg == SEG_SS ? SOFT_SS : SOFT_GP;
	bool pm = c->state.cr0 & CR0_PE;
	if (pm && !(c->state.rflags & FL_VM)) {
		if (s->unusable || !s->present)
			return soft_raise(c, vector, true, 0);
		bool code = s->type & 8;
		if ((access & 3) == SOFT_ACC_WRITE && (code || !(s->type & 2)))
			return soft_raise(c, vector, true, 0);
		if ((access & 3) == SOFT_ACC_READ && code && !(s->type & 2))
			return soft_raise(c, vector, true, 0);
	}
	uint64_t last = off + size - 1;
	if (!(s->type & 8) && (s->type & 4)) { /* expand-down */
		uint64_t top = s->db ? 0xffffffffULL : 0xffff;
		if (off <= s->limit || last > top || last < off)
			return soft_raise(c, vector, true, 0);
	} else if (last > s->limit || last < off) {
		return soft_raise(c, vector, true, 0);
	}
	return 0;
}

/* --- operands --- */

static inline uint64_t amask(const struct soft_insn *i)
{
	return soft_size_mask(i->asize);
}

static inline uint64_t next_rip(const struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t n = c->state.rip + i->len;
	return c->mode == SOFT_MODE_64 ? n : n & 0xffffffffULL;
}

static uint64_t effective_address(const struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t a = (uint64_t)i->disp;
	if (i->base == SOFT_RIPREL)
		a += c->state.rip + i->len;
	else if (i->base != SOFT_NOREG)
		a += c->state.gpr[i->base];
	if (i->index != SOFT_NOREG)
		a += c->state.gpr[i->index] << i->scale;
	return a & amask(i);
}

static int rm_prepare_at(struct soft_cpu *c, const struct soft_insn *i, uint64_t ea, unsigned size,
                         unsigned access, struct memref *m)
{
	uint64_t la;
	if (soft_linear(c, i->seg, ea, size, access, &la))
		return -1;
	return soft_mem_prepare(c, la, size, access, m);
}

static int rm_prepare(struct soft_cpu *c, const struct soft_insn *i, unsigned size, unsigned access,
                      struct memref *m)
{
	return rm_prepare_at(c, i, effective_address(c, i), size, access, m);
}

/* Read the r/m operand (register or memory). */
static int rm_read(struct soft_cpu *c, const struct soft_insn *i, unsigned size, uint64_t *v)
{
	if (!i->mem) {
		*v = soft_reg_get(c, i, i->rm, size);
		return 0;
	}
	struct memref m;
	if (rm_prepare(c, i, size, SOFT_ACC_READ, &m))
		return -1;
	*v = soft_mem_read(c, &m);
	return 0;
}

static int rm_write(struct soft_cpu *c, const struct soft_insn *i, unsigned size, uint64_t v)
{
	if (!i->mem) {
		soft_reg_set(c, i, i->rm, size, v);
		return 0;
	}
	struct memref m;
	if (rm_prepare(c, i, size, SOFT_ACC_WRITE, &m))
		return -1;
	soft_mem_write(c, &m, v);
	return 0;
}

static inline bool get_cf(struct soft_cpu *c)
{
	return soft_cf(c);
}

static inline uint64_t sext(uint64_t v, unsigned size)
{
	switch (size) {
	case 1: return (uint64_t)(int64_t)(int8_t)v;
	case 2: return (uint64_t)(int64_t)(int16_t)v;
	case 4: return (uint64_t)(int64_t)(int32_t)v;
	default: return v;
	}
}

static inline uint64_t szp_flags(uint64_t r, unsigned size)
{
	uint64_t f = 0;
	r &= soft_size_mask(size);
	if (r == 0)
		f |= FL_ZF;
	if (r >> (size * 8 - 1) & 1)
		f |= FL_SF;
	if (!__builtin_parity((unsigned)(r & 0xff)))
		f |= FL_PF;
	return f;
}

/* --- the arithmetic core --- */

enum {
	OP_ADD,
	OP_OR,
	OP_ADC,
	OP_SBB,
	OP_AND,
	OP_SUB,
	OP_XOR,
	OP_CMP, /* ALU order of 00-3F */
	OP_INC,
	OP_DEC,
	OP_NOT,
	OP_NEG,
	OP_ROL = 16,
	OP_ROR,
	OP_RCL,
	OP_RCR,
	OP_SHL,
	OP_SHR,
	OP_SAL,
	OP_SAR,
	OP_BT = 24,
	OP_BTS,
	OP_BTR,
	OP_BTC,
};

static uint64_t shift_rotate(struct soft_cpu *c, unsigned kind, unsigned size, uint64_t v,
                             unsigned count)
{
	unsigned bits = size * 8;
	uint64_t mask = soft_size_mask(size);
	unsigned cnt = count & (size == 8 ? 63 : 31);
	v &= mask;
	if (!cnt)
		return v;
	uint64_t f = soft_flags_get(c);
	uint64_t r = v, msb = 1ULL << (bits - 1);
	unsigned cf = (f & FL_CF) != 0, of = 0;
	bool arith = false;
	switch (kind) {
	case 0: { /* ROL */
		unsigned n = cnt % bits;
		r = n ? ((v << n) | (v >> (bits - n))) & mask : v;
		cf = r & 1;
		of = ((r & msb) != 0) ^ cf;
		break;
	}
	case 1: { /* ROR */
		unsigned n = cnt % bits;
		r = n ? ((v >> n) | (v << (bits - n))) & mask : v;
		cf = (r & msb) != 0;
		of = cf ^ ((r >> (bits - 2)) & 1);
		break;
	}
	case 2: { /* RCL: a (bits+1)-bit rotate through CF */
		unsigned n = size >= 4 ? cnt : cnt % (bits + 1);
		for (unsigned k = 0; k < n; k++) {
			unsigned out = (r & msb) != 0;
			r = ((r << 1) | cf) & mask;
			cf = out;
		}
		of = ((r & msb) != 0) ^ cf;
		break;
	}
	case 3: { /* RCR */
		unsigned n = size >= 4 ? cnt : cnt % (bits + 1);
		of = ((v & msb) != 0) ^ cf;
		for (unsigned k = 0; k < n; k++) {
			unsigned out = r & 1;
			r = (r >> 1) | ((uint64_t)cf << (bits - 1));
			cf = out;
		}
		break;
	}
	case 4:
	case 6: /* SHL/SAL */
		r = (v << cnt) & mask;
		cf = cnt <= bits ? (v >> (bits - cnt)) & 1 : 0;
		of = ((r & msb) != 0) ^ cf;
		arith = true;
		break;
	case 5: /* SHR */
		r = v >> cnt;
		cf = (v >> (cnt - 1)) & 1;
		of = (v & msb) != 0;
		arith = true;
		break;
	default: { /* SAR */
		int64_t sv = (int64_t)sext(v, size);
		r = (uint64_t)(sv >> cnt) & mask;
		cf = (uint64_t)(sv >> (cnt - 1)) & 1;
		of = 0;
		arith = true;
		break;
	}
	}
	f &= ~(FL_CF | FL_OF);
	f |= (cf ? FL_CF : 0) | (of ? FL_OF : 0);
	if (arith)
		f = (f & ~(FL_SF | FL_ZF | FL_PF | FL_AF)) | szp_flags(r, size);
	c->state.rflags = f;
	return r;
}

/* The value op produces from a (destination) and b (source), setting flags. */
static uint64_t compute(struct soft_cpu *c, unsigned op, unsigned size, uint64_t a, uint64_t b)
{
	uint64_t mask = soft_size_mask(size), r;
	a &= mask;
	b &= mask;
	switch (op) {
	case OP_ADD:
		r = a + b;
		soft_lf_set(c, SOFT_LF_ADD, size, r, a, b);
		break;
	case OP_OR:
		r = a | b;
		soft_lf_set(c, SOFT_LF_LOGIC, size, r, a, b);
		break;
	case OP_ADC: {
		unsigned cin = get_cf(c);
		r = a + b + cin;
		soft_lf_set(c, SOFT_LF_ADC, size, r, a, b);
		c->lf.cin = (uint8_t)cin;
		break;
	}
	case OP_SBB: {
		unsigned cin = get_cf(c);
		r = a - b - cin;
		soft_lf_set(c, SOFT_LF_SBB, size, r, a, b);
		c->lf.cin = (uint8_t)cin;
		break;
	}
	case OP_AND:
		r = a & b;
		soft_lf_set(c, SOFT_LF_LOGIC, size, r, a, b);
		break;
	case OP_SUB:
	case OP_CMP:
		r = a - b;
		soft_lf_set(c, SOFT_LF_SUB, size, r, a, b);
		break;
	case OP_XOR:
		r = a ^ b;
		soft_lf_set(c, SOFT_LF_LOGIC, size, r, a, b);
		break;
	case OP_INC:
	case OP_DEC: {
		unsigned cin = get_cf(c);
		r = op == OP_INC ? a + 1 : a - 1;
		soft_lf_set(c, op == OP_INC ? SOFT_LF_INC : SOFT_LF_DEC, size, r, a, 1);
		c->lf.cin = (uint8_t)cin;
		break;
	}
	case OP_NOT: r = ~a; break;
	case OP_NEG:
		r = 0 - a;
		soft_lf_set(c, SOFT_LF_SUB, size, r, 0, a);
		break;
	case OP_BT:
	case OP_BTS:
	case OP_BTR:
	case OP_BTC: {
		uint64_t bit = 1ULL << (b & (size * 8 - 1));
		uint64_t f = soft_flags_get(c) & ~FL_CF;
		c->state.rflags = f | ((a & bit) ? FL_CF : 0);
		r = op == OP_BTS ? a | bit : op == OP_BTR ? a & ~bit : op == OP_BTC ? a ^ bit : a;
		break;
	}
	default: r = shift_rotate(c, op - OP_ROL, size, a, (unsigned)b); break;
	}
	return r & mask;
}

/* Read-modify-write of the r/m operand (or a read only, for CMP/TEST/BT).
 * With LOCK the memory update is a CAS loop; flags are restored before each
 * retry so the carry-in is the one the instruction started with. */
static int rmw(struct soft_cpu *c, const struct soft_insn *i, unsigned op, unsigned size,
               uint64_t b, bool writes)
{
	if (!i->mem) {
		uint64_t r = compute(c, op, size, soft_reg_get(c, i, i->rm, size), b);
		if (writes)
			soft_reg_set(c, i, i->rm, size, r);
		return 0;
	}
	struct memref m;
	if (rm_prepare(c, i, size, writes ? SOFT_ACC_WRITE : SOFT_ACC_READ, &m))
		return -1;
	uint64_t a = soft_mem_read(c, &m);
	if (!writes) {
		compute(c, op, size, a, b);
		return 0;
	}
	bool lock = i->pfx & SOFT_PFX_LOCK;
	uint64_t flags0 = soft_flags_get(c);
	for (;;) {
		uint64_t r = compute(c, op, size, a, b);
		if (soft_mem_commit(c, &m, &a, r, lock))
			return 0;
		c->lf.op = SOFT_LF_NONE;
		c->state.rflags = flags0;
	}
}

/* --- stack --- */

static inline unsigned stack_size(const struct soft_cpu *c)
{
	if (c->mode == SOFT_MODE_64)
		return 8;
	return c->state.seg[SEG_SS].db ? 4 : 2;
}

static inline uint64_t stack_mask(const struct soft_cpu *c)
{
	return soft_size_mask(stack_size(c));
}

static inline void rsp_set(struct soft_cpu *c, uint64_t v)
{
	uint64_t m = stack_mask(c);
	c->state.gpr[GPR_RSP] = (c->state.gpr[GPR_RSP] & ~m) | (v & m);
	if (stack_size(c) == 4)
		c->state.gpr[GPR_RSP] = v & m; /* a 32-bit write zero-extends */
}

static int stack_prepare(struct soft_cpu *c, uint64_t sp, unsigned size, unsigned access,
                         struct memref *m)
{
	uint64_t la;
	if (soft_linear(c, SEG_SS, sp & stack_mask(c), size, access, &la))
		return -1;
	return soft_mem_prepare(c, la, size, access, m);
}

static int push(struct soft_cpu *c, unsigned size, uint64_t v)
{
	struct memref m;
	uint64_t sp = (c->state.gpr[GPR_RSP] - size) & stack_mask(c);
	if (stack_prepare(c, sp, size, SOFT_ACC_WRITE, &m))
		return -1;
	soft_mem_write(c, &m, v);
	rsp_set(c, sp);
	return 0;
}

/* Read size bytes at RSP + off without moving RSP. */
static int stack_peek(struct soft_cpu *c, uint64_t off, unsigned size, uint64_t *v)
{
	struct memref m;
	if (stack_prepare(c, c->state.gpr[GPR_RSP] + off, size, SOFT_ACC_READ, &m))
		return -1;
	*v = soft_mem_read(c, &m);
	return 0;
}

/* Virtual-8086 mode without IOPL 3: PUSHF, POPF and INT n are #GP(0) (so
 * is CLI/STI, by the CPL check; IRET in event.c). There is no VME. */
static inline int v86_iopl_fault(struct soft_cpu *c)
{
	if ((c->state.rflags & FL_VM) && (c->state.rflags & FL_IOPL) != FL_IOPL)
		return soft_raise(c, SOFT_GP, true, 0);
	return 0;
}

/* A branch target, checked at the branch: #GP(0) when it is not canonical
 * (64-bit mode) or lies beyond the CS limit (elsewhere). */
static int branch_target(struct soft_cpu *c, const struct soft_insn *i, uint64_t *target)
{
	if (c->mode == SOFT_MODE_64) {
		if (!soft_canonical(*target))
			return soft_raise(c, SOFT_GP, true, 0);
	} else {
		*target &= i->osize == 2 ? 0xffff : 0xffffffffULL;
		if (*target > c->state.seg[SEG_CS].limit)
			return soft_raise(c, SOFT_GP, true, 0);
	}
	return 0;
}

static int jump(struct soft_cpu *c, const struct soft_insn *i, uint64_t target)
{
	if (branch_target(c, i, &target))
		return -1;
	c->state.rip = target;
	return 0;
}

/* Shared with system.c. */
uint64_t soft_x_next_rip(const struct soft_cpu *c, const struct soft_insn *i)
{
	return next_rip(c, i);
}
uint64_t soft_x_ea(const struct soft_cpu *c, const struct soft_insn *i)
{
	return effective_address(c, i);
}
int soft_x_rm_read(struct soft_cpu *c, const struct soft_insn *i, unsigned size, uint64_t *v)
{
	return rm_read(c, i, size, v);
}
int soft_x_rm_write(struct soft_cpu *c, const struct soft_insn *i, unsigned size, uint64_t v)
{
	return rm_write(c, i, size, v);
}
int soft_x_mem_read_at(struct soft_cpu *c, const struct soft_insn *i, uint64_t ea, unsigned size,
                       uint64_t *v)
{
	struct memref m;
	if (rm_prepare_at(c, i, ea & amask(i), size, SOFT_ACC_READ, &m))
		return -1;
	*v = soft_mem_read(c, &m);
	return 0;
}
int soft_x_mem_write_at(struct soft_cpu *c, const struct soft_insn *i, uint64_t ea, unsigned size,
                        uint64_t v)
{
	struct memref m;
	if (rm_prepare_at(c, i, ea & amask(i), size, SOFT_ACC_WRITE, &m))
		return -1;
	soft_mem_write(c, &m, v);
	return 0;
}
int soft_x_push(struct soft_cpu *c, unsigned size, uint64_t v)
{
	return push(c, size, v);
}
int soft_x_stack_peek(struct soft_cpu *c, uint64_t off, unsigned size, uint64_t *v)
{
	return stack_peek(c, off, size, v);
}
void soft_x_rsp_set(struct soft_cpu *c, uint64_t v)
{
	rsp_set(c, v);
}

/* --- groups of instructions --- */

int soft_x_unimplemented(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned key = i->op & 0x3ff;
	c->unimpl_total++;
	if (c->unimpl_count[key]++ == 0)
		log_warn("soft: unimplemented opcode %s%02x at rip %#llx: raising #UD",
		         (i->op >> 8) == 0   ? ""
		         : (i->op >> 8) == 1 ? "0f "
		         : (i->op >> 8) == 2 ? "0f 38 "
		                             : "0f 3a ",
		         i->op & 0xff, (unsigned long long)c->state.rip);
	return soft_raise(c, SOFT_UD, false, 0);
}

static int unimplemented(struct soft_cpu *c, const struct soft_insn *i)
{
	return soft_x_unimplemented(c, i);
}

/* LOCK is allowed only on these read-modify-write instructions with a memory
 * destination; anywhere else it is #UD. */
static bool lock_allowed(const struct soft_insn *i)
{
	if (!i->mem)
		return false;
	unsigned op = i->op, r = (i->modrm >> 3) & 7;
	if (op < 0x40)
		return (op & 7) < 2 && (op >> 3) != 7;
	switch (op) {
	case 0x80:
	case 0x81:
	case 0x83: return r != 7;
	case 0x86:
	case 0x87: return true;
	case 0xf6:
	case 0xf7: return r == 2 || r == 3;
	case 0xfe:
	case 0xff: return r < 2;
	case 0x1ab:
	case 0x1b3:
	case 0x1bb:
	case 0x1b0:
	case 0x1b1:
	case 0x1c0:
	case 0x1c1: return true;
	case 0x1ba: return r >= 5;
	case 0x1c7: return r == 1;
	default: return false;
	}
}

static int mul_div(struct soft_cpu *c, const struct soft_insn *i, unsigned size, unsigned r)
{
	uint64_t src;
	if (rm_read(c, i, size, &src))
		return -1;
	uint64_t *g = c->state.gpr;
	uint64_t mask = soft_size_mask(size);
	unsigned bits = size * 8;
	/* The double-width accumulator: AX for bytes, else rDX:rAX. */
	unsigned __int128 acc;
	if (size == 1)
		acc = g[GPR_RAX] & 0xffff;
	else
		acc = ((unsigned __int128)(g[GPR_RDX] & mask) << bits) | (g[GPR_RAX] & mask);
	uint64_t lo, hi;
	switch (r) {
	case 4:
	case 5: { /* MUL, IMUL */
		uint64_t a = g[GPR_RAX] & mask;
		bool overflow;
		if (r == 4) {
			unsigned __int128 p = (unsigned __int128)a * (src & mask);
			lo = (uint64_t)p & mask;
			hi = (uint64_t)(p >> bits) & mask;
			overflow = hi != 0;
		} else {
			__int128 p = (__int128)(int64_t)sext(a, size) * (int64_t)sext(src, size);
			lo = (uint64_t)p & mask;
			hi = (uint64_t)((unsigned __int128)p >> bits) & mask;
			overflow = (__int128)(int64_t)sext(lo, size) != p;
		}
		uint64_t f = soft_flags_get(c) & ~FL_ARITH;
		f |= szp_flags(lo, size);
		if (overflow)
			f |= FL_CF | FL_OF;
		c->state.rflags = f;
		break;
	}
	default: { /* DIV, IDIV: #DE on a zero divisor or a quotient that does not fit */
		uint64_t d = src & mask;
		if (d == 0)
			return soft_raise(c, SOFT_DE, false, 0);
		if (r == 6) {
			unsigned __int128 q = acc / d;
			if (q > mask)
				return soft_raise(c, SOFT_DE, false, 0);
			lo = (uint64_t)q;
			hi = (uint64_t)(acc % d);
		} else {
			__int128 n;
			if (size == 8)
				n = (__int128)acc;
			else /* sign-extend the 2*bits-wide dividend */
				n = (__int128)((int64_t)((uint64_t)acc << (64 - 2 * bits)) >>
				               (64 - 2 * bits));
			int64_t dv = (int64_t)sext(d, size);
			__int128 min128 = -(__int128)((unsigned __int128)1 << 126) * 2;
			if (dv == -1 && n == min128)
				return soft_raise(c, SOFT_DE, false, 0);
			__int128 q = n / dv, rem = n % dv;
			__int128 lim = (__int128)1 << (bits - 1);
			if (q >= lim || q < -lim)
				return soft_raise(c, SOFT_DE, false, 0);
			lo = (uint64_t)q & mask;
			hi = (uint64_t)rem & mask;
		}
		break;
	}
	}
	if (size == 1) {
		g[GPR_RAX] = (g[GPR_RAX] & ~0xffffULL) | (lo & 0xff) | ((hi & 0xff) << 8);
	} else {
		soft_reg_set(c, i, GPR_RAX, size, lo);
		soft_reg_set(c, i, GPR_RDX, size, hi);
	}
	return 0;
}

/* IMUL r, r/m[, imm]: truncated product, CF=OF when it did not fit. */
static int imul_reg(struct soft_cpu *c, const struct soft_insn *i, uint64_t a, uint64_t b)
{
	unsigned size = i->osize;
	__int128 p = (__int128)(int64_t)sext(a, size) * (int64_t)sext(b, size);
	uint64_t lo = (uint64_t)p & soft_size_mask(size);
	uint64_t f = soft_flags_get(c) & ~FL_ARITH;
	f |= szp_flags(lo, size);
	if ((__int128)(int64_t)sext(lo, size) != p)
		f |= FL_CF | FL_OF;
	c->state.rflags = f;
	soft_reg_set(c, i, i->reg, size, lo);
	return 0;
}

static int double_shift(struct soft_cpu *c, const struct soft_insn *i, bool left, unsigned count)
{
	unsigned size = i->osize, bits = size * 8;
	uint64_t mask = soft_size_mask(size);
	unsigned cnt = count & (size == 8 ? 63 : 31);
	uint64_t s = soft_reg_get(c, i, i->reg, size);
	struct memref m = {0};
	uint64_t d;
	if (i->mem) {
		if (rm_prepare(c, i, size, SOFT_ACC_WRITE, &m))
			return -1;
		d = soft_mem_read(c, &m);
	} else {
		d = soft_reg_get(c, i, i->rm, size);
	}
	if (!cnt) {
		/* Nothing shifts, but the destination is still written: a 32-bit
		 * register is zero-extended. */
		if (i->mem)
			soft_mem_write(c, &m, d);
		else
			soft_reg_set(c, i, i->rm, size, d);
		return 0;
	}
	uint64_t r;
	unsigned cf;
	if (size == 8) {
		if (left) {
			r = (d << cnt) | (s >> (64 - cnt));
			cf = (d >> (64 - cnt)) & 1;
		} else {
			r = (d >> cnt) | (s << (64 - cnt));
			cf = (d >> (cnt - 1)) & 1;
		}
	} else if (left) {
		/* Counts beyond the operand size (16-bit only) are undefined; this
		 * keeps shifting source bits in, then zeroes. */
		unsigned __int128 t =
		    ((unsigned __int128)d << (2 * bits)) | ((unsigned __int128)s << bits) | d;
		t <<= cnt;
		r = (uint64_t)(t >> (2 * bits)) & mask;
		cf = (unsigned)(t >> (3 * bits)) & 1;
	} else {
		unsigned __int128 t =
		    ((unsigned __int128)d << (2 * bits)) | ((unsigned __int128)s << bits) | d;
		r = (uint64_t)(t >> cnt) & mask;
		cf = (unsigned)(t >> (cnt - 1)) & 1;
	}
	uint64_t f = soft_flags_get(c) & ~FL_ARITH;
	f |= szp_flags(r, size);
	if (cf)
		f |= FL_CF;
	if (((r ^ d) >> (bits - 1)) & 1)
		f |= FL_OF;
	c->state.rflags = f;
	if (i->mem)
		soft_mem_write(c, &m, r);
	else
		soft_reg_set(c, i, i->rm, size, r);
	return 0;
}

/* BT/BTS/BTR/BTC with a register bit offset: on memory the offset is signed
 * and selects an operand anywhere around the effective address. */
static int bit_test(struct soft_cpu *c, const struct soft_insn *i, unsigned op, uint64_t offset,
                    bool reg_offset)
{
	unsigned size = i->osize, bits = size * 8;
	if (!i->mem || !reg_offset)
		return rmw(c, i, op, size, offset & (bits - 1), op != OP_BT);
	int64_t off = (int64_t)sext(offset & soft_size_mask(size), size);
	int64_t unit = off >> (__builtin_ctz(bits));
	uint64_t ea = (effective_address(c, i) + (uint64_t)(unit * (int64_t)size)) & amask(i);
	struct memref m;
	if (rm_prepare_at(c, i, ea, size, op == OP_BT ? SOFT_ACC_READ : SOFT_ACC_WRITE, &m))
		return -1;
	uint64_t a = soft_mem_read(c, &m);
	if (op == OP_BT) {
		compute(c, op, size, a, (uint64_t)off & (bits - 1));
		return 0;
	}
	bool lock = i->pfx & SOFT_PFX_LOCK;
	uint64_t flags0 = soft_flags_get(c);
	for (;;) {
		uint64_t r = compute(c, op, size, a, (uint64_t)off & (bits - 1));
		if (soft_mem_commit(c, &m, &a, r, lock))
			return 0;
		c->state.rflags = flags0;
	}
}

static int bit_scan(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned size = i->osize, bits = size * 8;
	uint64_t v;
	if (rm_read(c, i, size, &v))
		return -1;
	v &= soft_size_mask(size);
	uint64_t f = soft_flags_get(c);
	unsigned low = i->op & 1;    /* BC: forward (BSF/TZCNT), BD: reverse (BSR/LZCNT) */
	if (i->pfx & SOFT_PFX_REP) { /* TZCNT, LZCNT */
		unsigned n = v == 0 ? bits
		             : low  ? (unsigned)__builtin_clzll(v) - (64 - bits)
		                    : (unsigned)__builtin_ctzll(v);
		f &= ~FL_ARITH;
		if (n == bits)
			f |= FL_CF;
		if (n == 0)
			f |= FL_ZF;
		c->state.rflags = f;
		soft_reg_set(c, i, i->reg, size, n);
		return 0;
	}
	f &= ~FL_ARITH;
	if (v == 0) { /* destination left unchanged, as every CPU does */
		c->state.rflags = f | FL_ZF;
		return 0;
	}
	unsigned n = low ? 63 - (unsigned)__builtin_clzll(v) : (unsigned)__builtin_ctzll(v);
	c->state.rflags = f | (szp_flags(n, size) & FL_PF);
	soft_reg_set(c, i, i->reg, size, n);
	return 0;
}

static int cmpxchg(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned size = i->op == 0x1b0 ? 1 : i->osize;
	uint64_t mask = soft_size_mask(size);
	uint64_t acc = c->state.gpr[GPR_RAX] & mask;
	uint64_t src = soft_reg_get(c, i, i->reg, size);
	if (!i->mem) {
		uint64_t d = soft_reg_get(c, i, i->rm, size);
		compute(c, OP_CMP, size, acc, d);
		if (acc == d)
			soft_reg_set(c, i, i->rm, size, src);
		else
			soft_reg_set(c, i, GPR_RAX, size, d);
		return 0;
	}
	struct memref m;
	if (rm_prepare(c, i, size, SOFT_ACC_WRITE, &m))
		return -1;
	uint64_t d = soft_mem_read(c, &m);
	bool lock = i->pfx & SOFT_PFX_LOCK;
	for (;;) {
		/* The destination is always written: the old value when unequal. */
		uint64_t want = d == acc ? src : d;
		if (soft_mem_commit(c, &m, &d, want, lock))
			break;
	}
	compute(c, OP_CMP, size, acc, d);
	if (acc != d)
		soft_reg_set(c, i, GPR_RAX, size, d);
	return 0;
}

static int cmpxchg8b16b(struct soft_cpu *c, const struct soft_insn *i)
{
	bool wide = i->osize == 8;
	unsigned half = wide ? 8 : 4;
	uint64_t hmask = soft_size_mask(half);
	if (!i->mem)
		return soft_raise(c, SOFT_UD, false, 0);
	uint64_t ea = effective_address(c, i);
	if (wide && (ea & 15))
		return soft_raise(c, SOFT_GP, true, 0);
	struct memref m;
	if (rm_prepare_at(c, i, ea, 2 * half, SOFT_ACC_WRITE, &m))
		return -1;
	uint64_t *g = c->state.gpr;
	uint64_t cmp_lo = g[GPR_RAX] & hmask, cmp_hi = g[GPR_RDX] & hmask;
	uint64_t new_lo = g[GPR_RBX] & hmask, new_hi = g[GPR_RCX] & hmask;
	uint64_t lo, hi;
	bool equal;
	bool lock = i->pfx & SOFT_PFX_LOCK;
	if (m.host && lock && ((uintptr_t)m.host & (2 * half - 1)) == 0) {
		if (wide) {
			/* The host instruction itself: libatomic is not linked. */
			uint64_t a = cmp_lo, d = cmp_hi;
			uint8_t ok;
			__asm__ volatile(
			    "lock cmpxchg16b %[mem]\n\tsetz %[ok]"
			    : [mem] "+m"(*(volatile unsigned __int128 *)m.host), [ok] "=q"(ok),
			      "+a"(a), "+d"(d)
			    : "b"(new_lo), "c"(new_hi)
			    : "cc", "memory");
			equal = ok;
			lo = a;
			hi = d;
		} else {
			uint64_t expect = (cmp_hi << 32) | cmp_lo;
			uint64_t now = expect;
			equal = __atomic_compare_exchange_n((uint64_t *)m.host, &now,
			                                    (new_hi << 32) | new_lo, false,
			                                    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
			lo = now & hmask;
			hi = now >> 32;
		}
	} else {
		struct memref mlo = memref_part(&m, 0, half), mhi = memref_part(&m, half, half);
		lo = soft_mem_read(c, &mlo);
		hi = soft_mem_read(c, &mhi);
		equal = lo == cmp_lo && hi == cmp_hi;
		soft_mem_write(c, &mlo, equal ? new_lo : lo);
		soft_mem_write(c, &mhi, equal ? new_hi : hi);
	}
	uint64_t f = soft_flags_get(c) & ~FL_ZF;
	c->state.rflags = f | (equal ? FL_ZF : 0);
	if (!equal) {
		soft_reg_set(c, i, GPR_RAX, half, lo);
		soft_reg_set(c, i, GPR_RDX, half, hi);
	}
	return 0;
}

static int xadd(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned size = i->op == 0x1c0 ? 1 : i->osize;
	uint64_t src = soft_reg_get(c, i, i->reg, size);
	if (!i->mem) {
		uint64_t d = soft_reg_get(c, i, i->rm, size);
		uint64_t sum = compute(c, OP_ADD, size, d, src);
		soft_reg_set(c, i, i->reg, size, d);
		soft_reg_set(c, i, i->rm, size, sum);
		return 0;
	}
	struct memref m;
	if (rm_prepare(c, i, size, SOFT_ACC_WRITE, &m))
		return -1;
	uint64_t d = soft_mem_read(c, &m);
	bool lock = i->pfx & SOFT_PFX_LOCK;
	for (;;) {
		uint64_t sum = compute(c, OP_ADD, size, d, src);
		if (soft_mem_commit(c, &m, &d, sum, lock))
			break;
	}
	soft_reg_set(c, i, i->reg, size, d);
	return 0;
}

static int xchg(struct soft_cpu *c, const struct soft_insn *i, unsigned size)
{
	uint64_t src = soft_reg_get(c, i, i->reg, size);
	if (!i->mem) {
		uint64_t d = soft_reg_get(c, i, i->rm, size);
		soft_reg_set(c, i, i->rm, size, src);
		soft_reg_set(c, i, i->reg, size, d);
		return 0;
	}
	struct memref m;
	if (rm_prepare(c, i, size, SOFT_ACC_WRITE, &m))
		return -1;
	uint64_t d = soft_mem_read(c, &m);
	/* XCHG with memory is always locked. */
	while (!soft_mem_commit(c, &m, &d, src, true))
		;
	soft_reg_set(c, i, i->reg, size, d);
	return 0;
}

/* --- string instructions --- */

#define REP_BUDGET 4096 /* iterations before a REP instruction yields */
/* ...or just one while debugging: single-step and data breakpoints see each
 * iteration on its own, as on hardware. */
static inline unsigned rep_budget(const struct soft_cpu *c)
{
	return c->dbg_armed ? 1 : REP_BUDGET;
}

static inline void index_add(struct soft_cpu *c, const struct soft_insn *i, unsigned r, int64_t d)
{
	soft_reg_set(c, i, r, i->asize, c->state.gpr[r] + (uint64_t)d);
}

static int string_op(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned op = i->op & 0xff;
	unsigned size = (op & 1) ? i->osize : 1;
	uint64_t am = amask(i);
	bool rep = i->pfx & (SOFT_PFX_REP | SOFT_PFX_REPNE);
	bool cmp = op == 0xa6 || op == 0xa7 || op == 0xae || op == 0xaf;
	int64_t delta = (c->state.rflags & FL_DF) ? -(int64_t)size : (int64_t)size;
	uint64_t *g = c->state.gpr;
	for (unsigned budget = rep_budget(c);; budget--) {
		if (rep && (g[GPR_RCX] & am) == 0)
			break;
		if (budget == 0)
			return SOFT_X_AGAIN;
		struct memref src, dst;
		uint64_t la, v = 0;
		bool uses_si = op != 0xaa && op != 0xab && op != 0xae && op != 0xaf;
		bool uses_di = op != 0xac && op != 0xad;
		if (uses_si) {
			if (soft_linear(c, i->seg, g[GPR_RSI] & am, size, SOFT_ACC_READ, &la) ||
			    soft_mem_prepare(c, la, size, SOFT_ACC_READ, &src))
				return -1;
		}
		if (uses_di) {
			if (soft_linear(c, SEG_ES, g[GPR_RDI] & am, size,
			                cmp ? SOFT_ACC_READ : SOFT_ACC_WRITE, &la) ||
			    soft_mem_prepare(c, la, size, cmp ? SOFT_ACC_READ : SOFT_ACC_WRITE,
			                     &dst))
				return -1;
		}
		switch (op) {
		case 0xa4:
		case 0xa5: /* MOVS */ soft_mem_write(c, &dst, soft_mem_read(c, &src)); break;
		case 0xa6:
		case 0xa7: /* CMPS: [rsi] - [rdi] */
			v = soft_mem_read(c, &src);
			compute(c, OP_CMP, size, v, soft_mem_read(c, &dst));
			break;
		case 0xaa:
		case 0xab: /* STOS */ soft_mem_write(c, &dst, g[GPR_RAX]); break;
		case 0xac:
		case 0xad: /* LODS */
			soft_reg_set(c, i, GPR_RAX, size, soft_mem_read(c, &src));
			break;
		default: /* SCAS: rAX - [rdi] */
			compute(c, OP_CMP, size, g[GPR_RAX], soft_mem_read(c, &dst));
			break;
		}
		if (uses_si)
			index_add(c, i, GPR_RSI, delta);
		if (uses_di)
			index_add(c, i, GPR_RDI, delta);
		if (!rep)
			break;
		index_add(c, i, GPR_RCX, -1);
		if (cmp) {
			bool zf = soft_cond(c, 4);
			if ((i->pfx & SOFT_PFX_REP) ? !zf : zf)
				break;
		}
	}
	c->state.rip = next_rip(c, i);
	return SOFT_X_RETIRED;
}

/* --- port I/O --- */

/* May the current privilege touch ports [port, port + size)? Real mode and
 * CPL <= IOPL may; otherwise the TSS I/O permission bitmap decides (every
 * bit clear), and anything outside the TSS limit means no: #GP(0). */
static int io_permitted(struct soft_cpu *c, unsigned port, unsigned size)
{
	const struct cpu_state *s = &c->state;
	if (!(s->cr0 & CR0_PE))
		return 0;
	if (!(s->rflags & FL_VM) && c->cpl <= ((s->rflags & FL_IOPL) >> 12))
		return 0;
	const struct cpu_segment *tr = &s->seg[SEG_TR];
	struct memref m;
	if (tr->limit < 0x67 ||
	    soft_mem_prepare(c, tr->base + 0x66, 2, SOFT_ACC_READ | SOFT_ACC_SUPER, &m))
		return c->exc.valid ? -1 : soft_raise(c, SOFT_GP, true, 0);
	uint64_t at = soft_mem_read(c, &m) + port / 8;
	if (at + 1 > tr->limit)
		return soft_raise(c, SOFT_GP, true, 0);
	if (soft_mem_prepare(c, tr->base + at, 2, SOFT_ACC_READ | SOFT_ACC_SUPER, &m))
		return -1;
	uint64_t bits = soft_mem_read(c, &m) >> (port & 7);
	if (bits & ((1u << size) - 1))
		return soft_raise(c, SOFT_GP, true, 0);
	return 0;
}

static inline uint64_t port_in(struct soft_cpu *c, unsigned port, unsigned size)
{
	return c->bus ? bus_read(c->bus, BUS_PIO, port, size) : soft_size_mask(size);
}

static inline void port_out(struct soft_cpu *c, unsigned port, unsigned size, uint64_t v)
{
	if (c->bus)
		bus_write(c->bus, BUS_PIO, port, size, v & soft_size_mask(size));
}

/* INS/OUTS, restartable like the other string instructions. */
static int string_io(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned op = i->op & 0xff;
	unsigned size = (op & 1) ? (i->osize == 2 ? 2 : 4) : 1;
	unsigned port = c->state.gpr[GPR_RDX] & 0xffff;
	uint64_t am = amask(i);
	bool rep = i->pfx & (SOFT_PFX_REP | SOFT_PFX_REPNE);
	bool in = op < 0x6e;
	int64_t delta = (c->state.rflags & FL_DF) ? -(int64_t)size : (int64_t)size;
	uint64_t *g = c->state.gpr;
	if (io_permitted(c, port, size))
		return -1;
	for (unsigned budget = rep_budget(c);; budget--) {
		if (rep && (g[GPR_RCX] & am) == 0)
			break;
		if (budget == 0)
			return SOFT_X_AGAIN;
		struct memref m;
		uint64_t la;
		unsigned idx = in ? GPR_RDI : GPR_RSI;
		/* memory first: an INS that would fault must not consume input */
		if (soft_linear(c, in ? SEG_ES : i->seg, g[idx] & am, size,
		                in ? SOFT_ACC_WRITE : SOFT_ACC_READ, &la) ||
		    soft_mem_prepare(c, la, size, in ? SOFT_ACC_WRITE : SOFT_ACC_READ, &m))
			return -1;
		if (in)
			soft_mem_write(c, &m, port_in(c, port, size));
		else
			port_out(c, port, size, soft_mem_read(c, &m));
		index_add(c, i, idx, delta);
		if (!rep)
			break;
		index_add(c, i, GPR_RCX, -1);
	}
	c->state.rip = next_rip(c, i);
	return SOFT_X_RETIRED;
}

/* ENTER works as hardware does: pushes in order (a fault part-way leaves
 * the pushes before it in memory but RSP and RBP untouched), then a write
 * check at the final stack pointer, then RBP and RSP. */
static int enter(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned size = i->osize, level = i->imm2 & 31;
	uint64_t *g = c->state.gpr;
	uint64_t rbp = g[GPR_RBP], sp = g[GPR_RSP];
	struct memref m;
	sp -= size;
	if (stack_prepare(c, sp, size, SOFT_ACC_WRITE, &m))
		return -1;
	soft_mem_write(c, &m, soft_reg_get(c, i, GPR_RBP, size));
	uint64_t frame = sp & stack_mask(c);
	if (level > 0) {
		for (unsigned k = 1; k < level; k++) {
			uint64_t v;
			if (stack_prepare(c, rbp - (uint64_t)k * size, size, SOFT_ACC_READ, &m))
				return -1;
			v = soft_mem_read(c, &m);
			sp -= size;
			if (stack_prepare(c, sp, size, SOFT_ACC_WRITE, &m))
				return -1;
			soft_mem_write(c, &m, v);
		}
		sp -= size;
		if (stack_prepare(c, sp, size, SOFT_ACC_WRITE, &m))
			return -1;
		soft_mem_write(c, &m, frame);
	}
	sp -= i->imm & 0xffff;
	if (stack_prepare(c, sp, size, SOFT_ACC_WRITE, &m))
		return -1;
	soft_reg_set(c, i, GPR_RBP, size, frame);
	rsp_set(c, sp);
	return 0;
}

/* --- the dispatcher --- */

int soft_exec(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t *g = c->state.gpr;
	unsigned op = i->op;
	unsigned osz = i->osize;
	unsigned r = (i->modrm >> 3) & 7; /* ModRM.reg as an opcode extension */
	uint64_t v, w;

	if ((i->pfx & SOFT_PFX_LOCK) && !lock_allowed(i))
		return soft_raise(c, SOFT_UD, false, 0);
	switch (op) {
	/* ADD OR ADC SBB AND SUB XOR CMP in their six forms */
	case 0x00:
	case 0x01:
	case 0x02:
	case 0x03:
	case 0x04:
	case 0x05:
	case 0x08:
	case 0x09:
	case 0x0a:
	case 0x0b:
	case 0x0c:
	case 0x0d:
	case 0x10:
	case 0x11:
	case 0x12:
	case 0x13:
	case 0x14:
	case 0x15:
	case 0x18:
	case 0x19:
	case 0x1a:
	case 0x1b:
	case 0x1c:
	case 0x1d:
	case 0x20:
	case 0x21:
	case 0x22:
	case 0x23:
	case 0x24:
	case 0x25:
	case 0x28:
	case 0x29:
	case 0x2a:
	case 0x2b:
	case 0x2c:
	case 0x2d:
	case 0x30:
	case 0x31:
	case 0x32:
	case 0x33:
	case 0x34:
	case 0x35:
	case 0x38:
	case 0x39:
	case 0x3a:
	case 0x3b:
	case 0x3c:
	case 0x3d: {
		unsigned aop = op >> 3, size = (op & 1) ? osz : 1;
		switch (op & 7) {
		case 0:
		case 1:
			if (rmw(c, i, aop, size, soft_reg_get(c, i, i->reg, size), aop != OP_CMP))
				return -1;
			break;
		case 2:
		case 3:
			if (rm_read(c, i, size, &v))
				return -1;
			w = compute(c, aop, size, soft_reg_get(c, i, i->reg, size), v);
			if (aop != OP_CMP)
				soft_reg_set(c, i, i->reg, size, w);
			break;
		default:
			w = compute(c, aop, size, g[GPR_RAX], i->imm);
			if (aop != OP_CMP)
				soft_reg_set(c, i, GPR_RAX, size, w);
			break;
		}
		break;
	}
	case 0x40:
	case 0x41:
	case 0x42:
	case 0x43:
	case 0x44:
	case 0x45:
	case 0x46:
	case 0x47:
	case 0x48:
	case 0x49:
	case 0x4a:
	case 0x4b:
	case 0x4c:
	case 0x4d:
	case 0x4e:
	case 0x4f:
		/* INC/DEC r outside 64-bit mode (there they are REX prefixes) */
		soft_reg_set(c, i, i->reg, osz,
		             compute(c, op < 0x48 ? OP_INC : OP_DEC, osz,
		                     soft_reg_get(c, i, i->reg, osz), 0));
		break;
	case 0x50:
	case 0x51:
	case 0x52:
	case 0x53:
	case 0x54:
	case 0x55:
	case 0x56:
	case 0x57:
		if (push(c, osz, soft_reg_get(c, i, i->reg, osz)))
			return -1;
		break;
	case 0x58:
	case 0x59:
	case 0x5a:
	case 0x5b:
	case 0x5c:
	case 0x5d:
	case 0x5e:
	case 0x5f:
		if (stack_peek(c, 0, osz, &v))
			return -1;
		rsp_set(c, g[GPR_RSP] + osz);
		soft_reg_set(c, i, i->reg, osz, v); /* POP RSP: the value read wins */
		break;
	case 0x63: /* MOVSXD */
		if (c->mode != SOFT_MODE_64)
			return soft_exec_legacy(c, i); /* ARPL */
		if (rm_read(c, i, osz == 8 ? 4 : osz, &v))
			return -1;
		soft_reg_set(c, i, i->reg, osz, osz == 8 ? sext(v, 4) : v);
		break;
	case 0x68:
	case 0x6a:
		if (push(c, osz, i->imm))
			return -1;
		break;
	case 0x69:
	case 0x6b:
		if (rm_read(c, i, osz, &v))
			return -1;
		imul_reg(c, i, v, i->imm);
		break;
	case 0x70:
	case 0x71:
	case 0x72:
	case 0x73:
	case 0x74:
	case 0x75:
	case 0x76:
	case 0x77:
	case 0x78:
	case 0x79:
	case 0x7a:
	case 0x7b:
	case 0x7c:
	case 0x7d:
	case 0x7e:
	case 0x7f:
	case 0x180:
	case 0x181:
	case 0x182:
	case 0x183:
	case 0x184:
	case 0x185:
	case 0x186:
	case 0x187:
	case 0x188:
	case 0x189:
	case 0x18a:
	case 0x18b:
	case 0x18c:
	case 0x18d:
	case 0x18e:
	case 0x18f:
		if (soft_cond(c, op & 15))
			return jump(c, i, next_rip(c, i) + i->imm);
		break;
	case 0x80:
	case 0x81:
	case 0x83: {
		unsigned size = op == 0x80 ? 1 : osz;
		if (rmw(c, i, r, size, i->imm, r != OP_CMP))
			return -1;
		break;
	}
	case 0x84:
	case 0x85: {
		unsigned size = op == 0x84 ? 1 : osz;
		if (rm_read(c, i, size, &v))
			return -1;
		compute(c, OP_AND, size, v, soft_reg_get(c, i, i->reg, size));
		break;
	}
	case 0x86:
	case 0x87:
		if (xchg(c, i, op == 0x86 ? 1 : osz))
			return -1;
		break;
	case 0x88:
	case 0x89: {
		unsigned size = op == 0x88 ? 1 : osz;
		if (rm_write(c, i, size, soft_reg_get(c, i, i->reg, size)))
			return -1;
		break;
	}
	case 0x8a:
	case 0x8b: {
		unsigned size = op == 0x8a ? 1 : osz;
		if (rm_read(c, i, size, &v))
			return -1;
		soft_reg_set(c, i, i->reg, size, v);
		break;
	}
	case 0x8d: /* LEA */
		if (!i->mem)
			return soft_raise(c, SOFT_UD, false, 0);
		soft_reg_set(c, i, i->reg, osz, effective_address(c, i));
		break;
	case 0x8f: { /* POP r/m: the address uses RSP after the pop */
		if (r != 0)
			return unimplemented(c, i);
		if (stack_peek(c, 0, osz, &v))
			return -1;
		uint64_t old_sp = g[GPR_RSP];
		rsp_set(c, old_sp + osz);
		if (rm_write(c, i, osz, v)) {
			g[GPR_RSP] = old_sp;
			return -1;
		}
		break;
	}
	case 0x90:
		if (!(i->rex & 1))
			break; /* NOP, PAUSE: even in 64-bit mode XCHG EAX,EAX clears nothing */
		__attribute__((fallthrough)); /* XCHG R8, rAX */
	case 0x91:
	case 0x92:
	case 0x93:
	case 0x94:
	case 0x95:
	case 0x96:
	case 0x97:
		v = soft_reg_get(c, i, i->reg, osz);
		soft_reg_set(c, i, i->reg, osz, soft_reg_get(c, i, GPR_RAX, osz));
		soft_reg_set(c, i, GPR_RAX, osz, v);
		break;
	case 0x98: /* CBW, CWDE, CDQE */
		soft_reg_set(c, i, GPR_RAX, osz, sext(g[GPR_RAX], osz / 2));
		break;
	case 0x99: /* CWD, CDQ, CQO */
		v = sext(g[GPR_RAX], osz) >> 63;
		soft_reg_set(c, i, GPR_RDX, osz, v ? ~0ULL : 0);
		break;
	case 0x9c: /* PUSHF: RF and VM read as 0 */
		if (v86_iopl_fault(c))
			return -1;
		if (push(c, osz, soft_flags_get(c) & ~(FL_RF | FL_VM)))
			return -1;
		break;
	case 0x9d: { /* POPF: what CPL and IOPL allow */
		if (v86_iopl_fault(c) || stack_peek(c, 0, osz, &v))
			return -1;
		uint64_t f = soft_flags_get(c);
		uint64_t can = FL_ARITH | FL_TF | FL_DF | FL_NT | FL_AC | FL_ID;
		if (c->cpl == 0)
			can |= FL_IOPL;
		if (c->cpl <= ((f & FL_IOPL) >> 12))
			can |= FL_IF;
		if (osz == 2)
			can &= 0xffff;
		c->state.rflags = (f & ~can) | (v & can) | 2;
		rsp_set(c, g[GPR_RSP] + osz);
		soft_mmu_refresh_ctx(c); /* AC matters to SMAP */
		soft_debug_rearm(c);     /* and TF to single-step */
		if (c->dbg_armed) {
			c->state.rip = next_rip(c, i);
			return SOFT_X_RECHECK;
		}
		break;
	}
	case 0x9e: { /* SAHF */
		uint64_t f = soft_flags_get(c) & ~(FL_SF | FL_ZF | FL_AF | FL_PF | FL_CF);
		c->state.rflags = f | ((g[GPR_RAX] >> 8) & (FL_SF | FL_ZF | FL_AF | FL_PF | FL_CF));
		break;
	}
	case 0x9f: /* LAHF */
		v = (soft_flags_get(c) & (FL_SF | FL_ZF | FL_AF | FL_PF | FL_CF)) | 2;
		g[GPR_RAX] = (g[GPR_RAX] & ~0xff00ULL) | (v << 8);
		break;
	case 0xa0:
	case 0xa1:
	case 0xa2:
	case 0xa3: { /* MOV with a moffs */
		unsigned size = (op & 1) ? osz : 1;
		struct memref m;
		uint64_t la;
		bool store = op >= 0xa2;
		if (soft_linear(c, i->seg, i->imm & amask(i), size,
		                store ? SOFT_ACC_WRITE : SOFT_ACC_READ, &la) ||
		    soft_mem_prepare(c, la, size, store ? SOFT_ACC_WRITE : SOFT_ACC_READ, &m))
			return -1;
		if (store)
			soft_mem_write(c, &m, g[GPR_RAX]);
		else
			soft_reg_set(c, i, GPR_RAX, size, soft_mem_read(c, &m));
		break;
	}
	case 0xa4:
	case 0xa5:
	case 0xa6:
	case 0xa7:
	case 0xaa:
	case 0xab:
	case 0xac:
	case 0xad:
	case 0xae:
	case 0xaf: return string_op(c, i);
	case 0xa8:
	case 0xa9: compute(c, OP_AND, op == 0xa8 ? 1 : osz, g[GPR_RAX], i->imm); break;
	case 0xb0:
	case 0xb1:
	case 0xb2:
	case 0xb3:
	case 0xb4:
	case 0xb5:
	case 0xb6:
	case 0xb7: soft_reg_set(c, i, i->reg, 1, i->imm); break;
	case 0xb8:
	case 0xb9:
	case 0xba:
	case 0xbb:
	case 0xbc:
	case 0xbd:
	case 0xbe:
	case 0xbf: soft_reg_set(c, i, i->reg, osz, i->imm); break;
	case 0xc0:
	case 0xc1:
	case 0xd0:
	case 0xd1:
	case 0xd2:
	case 0xd3: {
		unsigned size = (op & 1) ? osz : 1;
		unsigned count = op <= 0xc1   ? (unsigned)i->imm & 0xff
		                 : op <= 0xd1 ? 1
		                              : (unsigned)g[GPR_RCX] & 0xff;
		if (rmw(c, i, OP_ROL + r, size, count, true))
			return -1;
		break;
	}
	case 0xc2:
	case 0xc3: /* RET near */
		if (stack_peek(c, 0, osz, &v))
			return -1;
		if (jump(c, i, v))
			return -1;
		rsp_set(c, g[GPR_RSP] + osz + (op == 0xc2 ? (i->imm & 0xffff) : 0));
		return SOFT_X_RETIRED;
	case 0xc6:
	case 0xc7:
		if (r != 0)
			return unimplemented(c, i);
		if (rm_write(c, i, op == 0xc6 ? 1 : osz, i->imm))
			return -1;
		break;
	case 0xc8:
		if (enter(c, i))
			return -1;
		break;
	case 0xc9: { /* LEAVE */
		uint64_t old_sp = g[GPR_RSP];
		rsp_set(c, g[GPR_RBP]);
		if (stack_peek(c, 0, osz, &v)) {
			g[GPR_RSP] = old_sp;
			return -1;
		}
		rsp_set(c, g[GPR_RSP] + osz);
		soft_reg_set(c, i, GPR_RBP, osz, v);
		break;
	}
	case 0xce: /* INTO (not in 64-bit mode): #OF as a trap when OF is set */
		if (!soft_cond(c, 0))
			break;
		/* fall through */
	case 0xcc: /* INT3, INT n: traps, returning past the instruction */
	case 0xcd:
		if (op == 0xcd && v86_iopl_fault(c))
			return -1;
		soft_raise(c,
		           op == 0xcc   ? SOFT_BP
		           : op == 0xce ? SOFT_OF
		                        : (unsigned)i->imm & 0xff,
		           false, 0);
		c->exc.software = true;
		c->exc.insn_len = i->len;
		return -1;
	case 0xcf: /* IRET */
		if (soft_iret(c, i))
			return -1;
		soft_debug_rearm(c); /* TF and RF come from the frame */
		return c->dbg_armed ? SOFT_X_RECHECK : SOFT_X_RETIRED;
	case 0xf1: /* INT1 (ICEBP): #DB as a trap, no gate DPL check, DR6 untouched */
		soft_raise(c, SOFT_DB, false, 0);
		c->exc.software = true;
		c->exc.int1 = true;
		c->exc.insn_len = i->len;
		return -1;
	case 0xd7: { /* XLAT */
		struct memref m;
		uint64_t la;
		if (soft_linear(c, i->seg, (g[GPR_RBX] + (g[GPR_RAX] & 0xff)) & amask(i), 1,
		                SOFT_ACC_READ, &la) ||
		    soft_mem_prepare(c, la, 1, SOFT_ACC_READ, &m))
			return -1;
		soft_reg_set(c, i, GPR_RAX, 1, soft_mem_read(c, &m));
		break;
	}
	case 0xe0:
	case 0xe1:
	case 0xe2:
	case 0xe3: { /* LOOPNE, LOOPE, LOOP, JrCXZ */
		uint64_t am = amask(i);
		bool take;
		if (op == 0xe3) {
			take = (g[GPR_RCX] & am) == 0;
		} else {
			uint64_t cnt = (g[GPR_RCX] - 1) & am;
			take = cnt != 0;
			if (op == 0xe0)
				take = take && !soft_cond(c, 4);
			else if (op == 0xe1)
				take = take && soft_cond(c, 4);
			if (take && jump(c, i, next_rip(c, i) + i->imm))
				return -1;
			soft_reg_set(c, i, GPR_RCX, i->asize, cnt);
			if (take)
				return SOFT_X_RETIRED;
			break;
		}
		if (take)
			return jump(c, i, next_rip(c, i) + i->imm);
		break;
	}
	case 0xe4:
	case 0xe5:
	case 0xe6:
	case 0xe7: /* IN/OUT with an imm8 port */
	case 0xec:
	case 0xed:
	case 0xee:
	case 0xef: { /* IN/OUT with DX */
		unsigned size = (op & 1) ? (osz == 2 ? 2 : 4) : 1;
		unsigned port =
		    op >= 0xec ? (unsigned)g[GPR_RDX] & 0xffff : (unsigned)i->imm & 0xff;
		if (io_permitted(c, port, size))
			return -1;
		if (op & 2)
			port_out(c, port, size, g[GPR_RAX]);
		else
			soft_reg_set(c, i, GPR_RAX, size, port_in(c, port, size));
		break;
	}
	case 0x6c:
	case 0x6d:
	case 0x6e:
	case 0x6f: return string_io(c, i);
	case 0xe8: { /* CALL rel */
		uint64_t target = next_rip(c, i) + i->imm;
		if (branch_target(c, i, &target) || push(c, osz, next_rip(c, i)))
			return -1;
		c->state.rip = target;
		return SOFT_X_RETIRED;
	}
	case 0xe9:
	case 0xeb: return jump(c, i, next_rip(c, i) + i->imm);
	case 0xf4: /* HLT */
		if (c->cpl != 0)
			return soft_raise(c, SOFT_GP, true, 0);
		c->state.rip = next_rip(c, i);
		return SOFT_X_HLT;
	case 0xf5: c->state.rflags = soft_flags_get(c) ^ FL_CF; break;
	case 0xf6:
	case 0xf7: {
		unsigned size = op == 0xf6 ? 1 : osz;
		switch (r) {
		case 0:
		case 1:
			if (rmw(c, i, OP_AND, size, i->imm, false))
				return -1;
			break;
		case 2:
		case 3:
			if (rmw(c, i, r == 2 ? OP_NOT : OP_NEG, size, 0, true))
				return -1;
			break;
		default:
			if (mul_div(c, i, size, r))
				return -1;
			break;
		}
		break;
	}
	case 0xfa: /* CLI */
	case 0xfb: /* STI: interrupts wait one more instruction */
		if ((c->state.cr0 & CR0_PE) && c->cpl > ((c->state.rflags & FL_IOPL) >> 12))
			return soft_raise(c, SOFT_GP, true, 0);
		if (op == 0xfb && !(c->state.rflags & FL_IF))
			c->int_shadow = 2;
		if (op == 0xfa)
			c->state.rflags &= ~FL_IF;
		else
			c->state.rflags |= FL_IF;
		break;
	case 0xf8: c->state.rflags = soft_flags_get(c) & ~FL_CF; break;
	case 0xf9: c->state.rflags = soft_flags_get(c) | FL_CF; break;
	case 0xfc: c->state.rflags &= ~FL_DF; break;
	case 0xfd: c->state.rflags |= FL_DF; break;
	case 0xfe:
	case 0xff: {
		unsigned size = op == 0xfe ? 1 : osz;
		if (r < 2) {
			if (rmw(c, i, r == 0 ? OP_INC : OP_DEC, size, 0, true))
				return -1;
			break;
		}
		if (op == 0xfe)
			return soft_raise(c, SOFT_UD, false, 0);
		switch (r) {
		case 2: /* CALL r/m */
			if (rm_read(c, i, osz, &v) || branch_target(c, i, &v) ||
			    push(c, osz, next_rip(c, i)))
				return -1;
			c->state.rip = v;
			return SOFT_X_RETIRED;
		case 4: /* JMP r/m */
			if (rm_read(c, i, osz, &v))
				return -1;
			return jump(c, i, v);
		case 6: /* PUSH r/m */
			if (rm_read(c, i, osz, &v) || push(c, osz, v))
				return -1;
			break;
		case 3:
		case 5: /* far CALL/JMP */ return soft_exec_system(c, i);
		default: return soft_raise(c, SOFT_UD, false, 0);
		}
		break;
	}
	/* outside 64-bit mode only, the decoder refuses them there (legacy.c) */
	case 0x27:
	case 0x2f:
	case 0x37:
	case 0x3f:
	case 0x60:
	case 0x61:
	case 0x62:
	case 0xc4: /* LES, LDS (VEX in 64-bit mode) */
	case 0xc5:
	case 0xd4:
	case 0xd5:
	case 0xd6:
	/* far-pointer loads in every mode */
	case 0x1b2:
	case 0x1b4:
	case 0x1b5: return soft_exec_legacy(c, i);
	/* MOVBE (CRC32 with F2), ADCX/ADOX (movbe_adx.c) */
	case 0x2f0:
	case 0x2f1:
	case 0x2f6: return soft_exec_movbe_adx(c, i);
	/* system instructions (system.c) */
	case 0x06:
	case 0x07:
	case 0x0e:
	case 0x16:
	case 0x17:
	case 0x1e:
	case 0x1f:
	case 0x8c:
	case 0x8e:
	case 0x9a:
	case 0xea:
	case 0xca:
	case 0xcb:
	case 0x100:
	case 0x101:
	case 0x105:
	case 0x106:
	case 0x107:
	case 0x108:
	case 0x109:
	case 0x120:
	case 0x121:
	case 0x122:
	case 0x123:
	case 0x130:
	case 0x132:
	case 0x134:
	case 0x135:
	case 0x1a0:
	case 0x1a1:
	case 0x1a8:
	case 0x1a9: return soft_exec_system(c, i);

	/* --- the 0F map --- */
	case 0x10b: /* UD2 */ return soft_raise(c, SOFT_UD, false, 0);
	case 0x10d:
	case 0x118:
	case 0x119:
	case 0x11a:
	case 0x11b:
	case 0x11c:
	case 0x11d:
	case 0x11e:
	case 0x11f: /* prefetches, hint NOPs */ break;
	case 0x131: /* RDTSC */
		if ((c->state.cr4 & CR4_TSD) && c->cpl != 0)
			return soft_raise(c, SOFT_GP, true, 0);
		v = soft_cpu_tsc(c);
		g[GPR_RAX] = v & 0xffffffffULL;
		g[GPR_RDX] = v >> 32;
		break;
	case 0x140:
	case 0x141:
	case 0x142:
	case 0x143:
	case 0x144:
	case 0x145:
	case 0x146:
	case 0x147:
	case 0x148:
	case 0x149:
	case 0x14a:
	case 0x14b:
	case 0x14c:
	case 0x14d:
	case 0x14e:
	case 0x14f:
		/* CMOVcc reads its source and writes (zero-extends) its
		 * destination whether or not the condition holds. */
		if (rm_read(c, i, osz, &v))
			return -1;
		soft_reg_set(c, i, i->reg, osz,
		             soft_cond(c, op & 15) ? v : soft_reg_get(c, i, i->reg, osz));
		break;
	case 0x190:
	case 0x191:
	case 0x192:
	case 0x193:
	case 0x194:
	case 0x195:
	case 0x196:
	case 0x197:
	case 0x198:
	case 0x199:
	case 0x19a:
	case 0x19b:
	case 0x19c:
	case 0x19d:
	case 0x19e:
	case 0x19f:
		if (rm_write(c, i, 1, soft_cond(c, op & 15)))
			return -1;
		break;
	case 0x1a2: { /* CPUID */
		uint32_t out[4];
		soft_cpuid(c, (uint32_t)g[GPR_RAX], (uint32_t)g[GPR_RCX], out);
		g[GPR_RAX] = out[0];
		g[GPR_RBX] = out[1];
		g[GPR_RCX] = out[2];
		g[GPR_RDX] = out[3];
		break;
	}
	case 0x1a3:
	case 0x1ab:
	case 0x1b3:
	case 0x1bb: {
		unsigned bop = op == 0x1a3   ? OP_BT
		               : op == 0x1ab ? OP_BTS
		               : op == 0x1b3 ? OP_BTR
		                             : OP_BTC;
		if (bit_test(c, i, bop, soft_reg_get(c, i, i->reg, osz), true))
			return -1;
		break;
	}
	case 0x1ba:
		if (r < 4)
			return soft_raise(c, SOFT_UD, false, 0);
		if (bit_test(c, i, OP_BT + (r - 4), i->imm & 0xff, false))
			return -1;
		break;
	case 0x1a4:
	case 0x1a5:
	case 0x1ac:
	case 0x1ad:
		if (double_shift(c, i, op < 0x1a8,
		                 (op & 1) ? (unsigned)g[GPR_RCX] & 0xff : (unsigned)i->imm & 0xff))
			return -1;
		break;
	case 0x102: /* LAR */
	case 0x103: /* LSL */
		if (soft_exec_lar_lsl(c, i, op == 0x103))
			return -1;
		break;
	case 0x1af:
		if (rm_read(c, i, osz, &v))
			return -1;
		imul_reg(c, i, soft_reg_get(c, i, i->reg, osz), v);
		break;
	case 0x1ae: /* group 15: fences, CLFLUSH, FSGSBASE (FXSAVE & co. with SSE) */
		if (soft_is_x87_op(i)) /* FXSAVE, FXRSTOR */
			return soft_exec_x87(c, i);
		if (soft_is_sse_op(i)) /* LDMXCSR, STMXCSR */
			return soft_exec_sse(c, i);
		if (!i->mem) {
			if ((i->pfx & SOFT_PFX_REP) && r <= 3) { /* RD/WR FS/GS BASE */
				if (c->mode != SOFT_MODE_64 || !(c->state.cr4 & (1ULL << 16)))
					return soft_raise(c, SOFT_UD, false, 0);
				unsigned seg = (r & 1) ? SEG_GS : SEG_FS;
				unsigned size = osz == 8 ? 8 : 4;
				if (r < 2) {
					soft_reg_set(c, i, i->rm, size, c->state.seg[seg].base);
				} else {
					v = soft_reg_get(c, i, i->rm, size);
					if (!soft_canonical(v))
						return soft_raise(c, SOFT_GP, true, 0);
					c->state.seg[seg].base = v;
				}
				break;
			}
			if (r >= 5 && !(i->pfx & (SOFT_PFX_REP | SOFT_PFX_REPNE))) {
				/* LFENCE, MFENCE, SFENCE: order this vCPU's accesses
				 * against other vCPUs' as the host's full fence does */
				__atomic_thread_fence(__ATOMIC_SEQ_CST);
				break;
			}
			return unimplemented(c, i);
		}
		if (r == 7 && !(i->pfx & (SOFT_PFX_REP | SOFT_PFX_REPNE))) { /* CLFLUSH(OPT) */
			struct memref m;
			if (rm_prepare(c, i, 1, SOFT_ACC_READ, &m)) /* faults like a read */
				return -1;
			break;
		}
		return unimplemented(c, i);
	case 0x1b0:
	case 0x1b1:
		if (cmpxchg(c, i))
			return -1;
		break;
	case 0x1b6:
	case 0x1b7:
	case 0x1be:
	case 0x1bf: { /* MOVZX, MOVSX */
		unsigned from = (op & 1) ? 2 : 1;
		if (rm_read(c, i, from, &v))
			return -1;
		soft_reg_set(c, i, i->reg, osz, op >= 0x1be ? sext(v, from) : v);
		break;
	}
	case 0x1b8: { /* POPCNT (F3 only) */
		if (!(i->pfx & SOFT_PFX_REP))
			return soft_raise(c, SOFT_UD, false, 0);
		if (rm_read(c, i, osz, &v))
			return -1;
		v &= soft_size_mask(osz);
		uint64_t f = soft_flags_get(c) & ~FL_ARITH;
		c->state.rflags = f | (v == 0 ? FL_ZF : 0);
		soft_reg_set(c, i, i->reg, osz, (uint64_t)__builtin_popcountll(v));
		break;
	}
	case 0x1bc:
	case 0x1bd:
		if (bit_scan(c, i))
			return -1;
		break;
	case 0x1c0:
	case 0x1c1:
		if (xadd(c, i))
			return -1;
		break;
	case 0x1c7:
		if (r != 1)
			return unimplemented(c, i);
		if (cmpxchg8b16b(c, i))
			return -1;
		break;
	case 0x1c8:
	case 0x1c9:
	case 0x1ca:
	case 0x1cb:
	case 0x1cc:
	case 0x1cd:
	case 0x1ce:
	case 0x1cf:
		/* BSWAP; with a 16-bit operand the result is undefined (we clear it) */
		v = g[i->reg];
		if (osz == 8)
			g[i->reg] = __builtin_bswap64(v);
		else if (osz == 4)
			g[i->reg] = __builtin_bswap32((uint32_t)v);
		else
			soft_reg_set(c, i, i->reg, 2, 0);
		break;
	default:
		/* The FPU and vector maps, here rather than before the switch so
		 * that the integer instructions do not pay for the tests. */
		if (soft_is_x87_op(i))
			return soft_exec_x87(c, i);
		if (i->op == 0x282 &&
		    (i->pfx & SOFT_PFX_OPSIZE)) /* INVPCID: a system instruction */
			return soft_exec_system(c, i);
		if (soft_is_sse_op(i))
			return soft_exec_sse(c, i);
		return unimplemented(c, i);
	}
	c->state.rip = next_rip(c, i);
	return SOFT_X_RETIRED;
}
