/* A small error buffer for functions that must explain a failure to the user
 * (loaders, parsers) without printing themselves: the caller decides whether
 * the message becomes an error line, a test assertion or nothing (fuzzing). */
#ifndef RINGFOLD_UTIL_ERROR_H
#define RINGFOLD_UTIL_ERROR_H

#include <stddef.h>

struct error {
	char msg[512];
};

/* Always returns -1 so callers can write `return error_set(err, ...);`. */
int error_set(struct error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
