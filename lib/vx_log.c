/* SPDX-License-Identifier: Apache-2.0 */
/* Logging backend: formats a record into one buffer and writes it with a single write(2). */
#include "vx_log.h"

#include "vx_config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

volatile int vx_log_threshold = VX_LOG_INFO;
static char s_service[64] = "vexfs";

static const char *const s_level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void
vx_log_init(const char *service, enum vx_log_level level)
{
    snprintf(s_service, sizeof s_service, "%s", service);
    vx_log_threshold = (int)level;
}

int
vx_log_level_parse(const char *name, enum vx_log_level *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(name, names[i]) == 0) {
            *out = (enum vx_log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

void
vx_log_write(enum vx_log_level level, const char *id, const char *fmt, ...)
{
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s[%d] %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (long)(tv.tv_usec / 1000), s_level_names[level & 3], s_service, (int)getpid(),
                     id);
    if (n < 0 || (size_t)n >= sizeof line) {
        n = 0;
    }
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2) {
        len = sizeof line - 2;
    }
    /* No record shows a password: the user-info of every URL in the message (quoted
     * configuration, a library's own message naming a broker or server) reads "***". */
    line[len] = '\0';
    if (strstr(line + n, "://") || strchr(line + n, '@')) {
        char masked[sizeof line];
        vx_mask_urls(line + n, masked, sizeof line - (size_t)n - 1);
        len = (size_t)n + strlen(masked);
        memcpy(line + n, masked, len - (size_t)n);
    }
    /* One record is one line: fold any newline the message carried. */
    for (size_t i = (size_t)n; i < len; i++) {
        if (line[i] == '\n' || line[i] == '\r') {
            line[i] = ' ';
        }
    }
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
