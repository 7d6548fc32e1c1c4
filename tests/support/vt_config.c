/* SPDX-License-Identifier: Apache-2.0 */
/* Configuration files bound to a daemon's typed structs, for the config tests (vx_test.h). */
#include <stdio.h>
#include <string.h>

#include "vx_test.h"

vx_config_t *
vt_config_bind(const char *path, const struct vx_cfg_section *const *secs, void *const *out,
               size_t n, char *err, size_t errlen)
{
    vx_config_t *cfg = NULL;
    int rc = vx_config_load(&cfg, path, secs, n, err, errlen);
    if (rc < 0) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        memset(out[i], 0x5a, secs[i]->struct_size); /* a field bind leaves alone shows */
        if (vx_config_bind(cfg, secs[i], out[i]) < 0) {
            snprintf(err, errlen, "section %s does not bind", secs[i]->name);
            vx_config_destroy(&cfg);
            return NULL;
        }
    }
    return cfg;
}
