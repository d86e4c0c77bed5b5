#include "mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "util/log.h"

int mem_init(struct guest_mem *m, uint64_t ram_size, bool hugepages, struct error *err)
{
	memset(m, 0, sizeof *m);
	if (ram_size < MEM_MIN_SIZE || ram_size > MEM_MAX_SIZE)
		return error_set(err, "memory size %llu MiB out of range (16 MiB to 1 TiB)",
		                 (unsigned long long)(ram_size >> 20));
	if (ram_size & 0xfff)
		return error_set(err, "memory size must be a multiple of 4 KiB");
	size_t map_size = (size_t)ram_size;
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	if (hugepages) {
		/* 2 MiB pages: round the mapping up so the kernel accepts it. The
		 * pages are reserved now (no MAP_NORESERVE): with NORESERVE a
		 * shortage would only show later, as SIGBUS on a guest access. */
		map_size = (map_size + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);
		flags = (flags & ~MAP_NORESERVE) | MAP_HUGETLB;
	}
	void *p = mmap(NULL, map_size, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (p == MAP_FAILED) {
		if (hugepages)
			return error_set(err,
			                 "cannot map %zu MiB of huge pages: %s (is vm.nr_hugepages "
			                 "large enough?)",
			                 map_size >> 20, strerror(errno));
		return error_set(err, "cannot map %zu MiB of guest memory: %s", map_size >> 20,
		                 strerror(errno));
	}
	if (!hugepages)
		madvise(p, map_size, MADV_HUGEPAGE); /* best effort: transparent huge pages */
	madvise(p, map_size, MADV_DONTDUMP); /* guest RAM does not belong in our core dumps */
	m->mapping = p;
	m->mapping_size = map_size;
	m->ram_size = ram_size;
	m->hugepages = hugepages;
	uint64_t low = ram_size < MEM_PCI_HOLE_START ? ram_size : MEM_PCI_HOLE_START;
	m->regions[0] = (struct mem_region){.gpa = 0, .size = low, .host = p};
	m->nregions = 1;
	if (ram_size > low) {
		m->regions[1] = (struct mem_region){
		    .gpa = MEM_4G, .size = ram_size - low, .host = (uint8_t *)p + low};
		m->nregions = 2;
	}
	return 0;
}

void mem_destroy(struct guest_mem *m)
{
	if (m->mapping)
		munmap(m->mapping, m->mapping_size);
	memset(m, 0, sizeof *m);
}

void *mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	for (int i = 0; i < m->nregions; i++) {
		const struct mem_region *r = &m->regions[i];
		/* Written without gpa + len so that no sum can wrap. */
		if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
			return r->host + (gpa - r->gpa);
	}
	return NULL;
}

bool mem_is_ram(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	return mem_ptr(m, gpa, len) != NULL;
}

/* Largest run starting at gpa that is RAM in one region, at most len. */
static uint8_t *mem_run(const struct guest_mem *m, uint64_t gpa, size_t len, size_t *run)
{
	for (int i = 0; i < m->nregions; i++) {
		const struct mem_region *r = &m->regions[i];
		if (gpa >= r->gpa && gpa - r->gpa < r->size) {
			uint64_t avail = r->size - (gpa - r->gpa);
			*run = len < avail ? len : (size_t)avail;
			return r->host + (gpa - r->gpa);
		}
	}
	return NULL;
}

int mem_read(const struct guest_mem *m, uint64_t gpa, void *buf, size_t len)
{
	uint8_t *out = buf;
	while (len) {
		size_t run;
		uint8_t *src = mem_run(m, gpa, len, &run);
		if (!src)
			return -1;
		memcpy(out, src, run);
		out += run;
		gpa += run;
		len -= run;
	}
	return 0;
}

int mem_write(const struct guest_mem *m, uint64_t gpa, const void *buf, size_t len)
{
	const uint8_t *in = buf;
	while (len) {
		size_t run;
		uint8_t *dst = mem_run(m, gpa, len, &run);
		if (!dst)
			return -1;
		memcpy(dst, in, run);
		in += run;
		gpa += run;
		len -= run;
	}
	return 0;
}

uint64_t mem_low_end(const struct guest_mem *m)
{
	return m->regions[0].size;
}

int mem_parse_size(const char *s, uint64_t *out)
{
	if (!s || !*s || *s == '-')
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	unsigned shift = 0;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	case 't':
	case 'T':
		shift = 40;
		end++;
		break;
	case '\0': shift = 20; break; /* a bare number means MiB, as QEMU's -m */
	default: return -1;
	}
	if (*end == 'i' || *end == 'B') /* accept 4GiB / 4GB spellings */
		end++;
	if (*end == 'B')
		end++;
	if (*end)
		return -1;
	if (v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}
