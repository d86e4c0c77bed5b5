/* Reading whole files that a user hands us (kernels, initrds). */
#ifndef RINGFOLD_UTIL_FILE_H
#define RINGFOLD_UTIL_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

struct file_buf {
	uint8_t *data;
	size_t size;
};

/* Reads at most max_size bytes; a larger file is an error, so a hostile or
 * mistaken path (/dev/zero) cannot exhaust host memory. */
int file_read_all(const char *path, size_t max_size, struct file_buf *out, struct error *err);
void file_buf_free(struct file_buf *buf);

#endif
