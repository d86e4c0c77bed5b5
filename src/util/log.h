/* Diagnostics on stderr. One place decides the format so every message a
 * user sees starts with "ringfold:" and can be grepped. */
#ifndef RINGFOLD_UTIL_LOG_H
#define RINGFOLD_UTIL_LOG_H

#include <stdbool.h>

/* LOG_OFF silences everything (tests that provoke errors by the thousand). */
/* LOG_NOTICE: things a user should see by default that are not problems (which
 * engine was chosen and why). */
enum log_level { LOG_OFF = -1, LOG_ERROR, LOG_WARN, LOG_NOTICE, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level level);
bool log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
