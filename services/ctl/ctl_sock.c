/* SPDX-License-Identifier: Apache-2.0 */
/* vexfsctl's sockets: the suite's socket factory with the transport and security defaults
 * (CURVE required, identity "ctl"); the environment's VEXFS_TRANSPORT_* and VEXFS_SECURITY_*
 * overrides apply, as for the daemons. */
#include <errno.h>
#include <stdio.h>

#include "ctl.h"
#include "vx_config.h"
#include "vx_sock.h"

vx_socks_t *
ctl_socks(const char *cmd)
{
    static const struct vx_cfg_section *const secs[] = {&vx_cfg_transport_section,
                                                        &vx_cfg_security_section};
    char err[512];
    vx_config_t *cfg = NULL;
    if (vx_config_load(&cfg, NULL, secs, 2, err, sizeof err) < 0) {
        ctl_err(cmd, "%s", err);
        return NULL;
    }
    struct vx_transport_config tc;
    struct vx_security_config sc;
    vx_socks_t *socks = NULL;
    if (vx_config_bind(cfg, &vx_cfg_transport_section, &tc) == 0 &&
        vx_config_bind(cfg, &vx_cfg_security_section, &sc) == 0) {
        socks = vx_socks_new(&tc, &sc, "ctl", NULL, err, sizeof err);
    } else {
        snprintf(err, sizeof err, "the transport or security settings do not bind");
    }
    if (!socks) {
        ctl_err(cmd, "%s", err);
    }
    vx_config_destroy(&cfg);
    return socks;
}
