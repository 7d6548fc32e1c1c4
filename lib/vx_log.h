/* SPDX-License-Identifier: Apache-2.0 */
/* Logging: one line per record on stderr, level-checked macros so disabled levels cost nothing.
 *
 *   2026-11-25T14:03:07.123Z INFO vexfs-propagation[4121] PROP-START listening rest=127.0.0.1:8080
 *
 * The id names the call site (grep finds it); the message is printf-formatted on one line, and
 * the user-info of every URL in it (scheme://user:password@host) is written "***"
 * (vx_mask_urls), so a configured URL quoted by a message or a library never shows a password.
 * Thread-safe: each record is written with one write(2). */
#ifndef VX_LOG_H
#define VX_LOG_H

#include <stdbool.h>

enum vx_log_level {
    VX_LOG_DEBUG = 0,
    VX_LOG_INFO = 1,
    VX_LOG_WARN = 2,
    VX_LOG_ERROR = 3,
};

extern volatile int vx_log_threshold;

/* Sets the service name shown in every record and the lowest level written. */
void vx_log_init(const char *service, enum vx_log_level level);

/* Parses "debug", "info", "warn", "error"; returns 0 or -EINVAL. */
int vx_log_level_parse(const char *name, enum vx_log_level *out);

void vx_log_write(enum vx_log_level level, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define VX_LOG_AT(level, id, ...)                                                                  \
    do {                                                                                           \
        if ((int)(level) >= vx_log_threshold) {                                                    \
            vx_log_write((level), (id), __VA_ARGS__);                                              \
        }                                                                                          \
    } while (0)

#define vx_debug(id, ...) VX_LOG_AT(VX_LOG_DEBUG, id, __VA_ARGS__)
#define vx_info(id, ...) VX_LOG_AT(VX_LOG_INFO, id, __VA_ARGS__)
#define vx_warn(id, ...) VX_LOG_AT(VX_LOG_WARN, id, __VA_ARGS__)
#define vx_error(id, ...) VX_LOG_AT(VX_LOG_ERROR, id, __VA_ARGS__)

#endif
