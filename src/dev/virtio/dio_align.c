/* statx(STATX_DIOALIGN) through the raw system call: see dio_align.h. */
#include "dev/virtio/dio_align.h"

#include <fcntl.h>
#include <linux/stat.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int dio_alignment(int fd, uint32_t *mem_align, uint32_t *offset_align)
{
#if defined(STATX_DIOALIGN) && defined(SYS_statx)
	struct statx stx;
	memset(&stx, 0, sizeof stx);
	if (syscall(SYS_statx, fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) != 0)
		return -1;
	if (!(stx.stx_mask & STATX_DIOALIGN))
		return -1;
	uint32_t m = stx.stx_dio_mem_align, o = stx.stx_dio_offset_align;
	if (!m || !o || (m & (m - 1)) || (o & (o - 1)))
		return -1; /* 0 means "no direct I/O here" */
	*mem_align = m;
	*offset_align = o;
	return 0;
#else
	(void)fd;
	(void)mem_align;
	(void)offset_align;
	return -1;
#endif
}
