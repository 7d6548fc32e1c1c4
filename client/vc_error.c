/* SPDX-License-Identifier: Apache-2.0 */
/* The per-thread message of the last failing call (vexfs_last_error), and the small exported
 * helpers that belong to no object. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "vc_priv.h"

/* One message per thread, so threads that emit at once never read each other's errors. */
static __thread char s_msg[1024];

int
vc_fail(int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s_msg, sizeof s_msg, fmt, ap);
    va_end(ap);
    return rc;
}

const char *
vexfs_last_error(void)
{
    return s_msg;
}

void
vexfs_free(void *p)
{
    free(p);
}

const char *
vexfs_version(void)
{
    return VX_VERSION;
}
