/* O_DIRECT alignment of an open file, from statx(STATX_DIOALIGN) (Linux
 * 6.1+). Kept apart from virtio_blk.c because <linux/stat.h>, which has
 * the fields, cannot be included together with glibc's <sys/stat.h>. */
#ifndef RINGFOLD_DEV_VIRTIO_DIO_ALIGN_H
#define RINGFOLD_DEV_VIRTIO_DIO_ALIGN_H

#include <stdint.h>

/* 0 with the memory and file-offset alignments (powers of two, nonzero),
 * or -1 when the kernel or file system does not say. */
int dio_alignment(int fd, uint32_t *mem_align, uint32_t *offset_align);

#endif
