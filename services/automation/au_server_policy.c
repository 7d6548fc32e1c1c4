/* SPDX-License-Identifier: Apache-2.0 */
/* What script and HTTP steps may do, from reactive_automation's keys (see au_action.h). */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "au_config.h"
#include "au_server_priv.h"
#include "vx_log.h"

/* The uid and primary gid of user name, or the gid of group name (uid NULL). */
static int
s_lookup(const char *name, uid_t *uid, gid_t *gid)
{
    char buf[16384];
    int rc;
    if (uid != NULL) {
        struct passwd pw, *res = NULL;
        rc = getpwnam_r(name, &pw, buf, sizeof buf, &res);
        if (rc != 0 || res == NULL) {
            return -ENOENT;
        }
        *uid = pw.pw_uid;
        *gid = pw.pw_gid;
        return 0;
    }
    struct group gr, *res = NULL;
    rc = getgrnam_r(name, &gr, buf, sizeof buf, &res);
    if (rc != 0 || res == NULL) {
        return -ENOENT;
    }
    *gid = gr.gr_gid;
    return 0;
}

/* script_user / script_group: the user whose uid and primary group the children take, a group
 * overriding that group. Changing user needs root; naming the daemon's own user is no change. */
static int
s_user_init(au_server_t *s, char *err, size_t errlen)
{
    struct au_act_policy *p = &s->act_policy;
    const char *user = s->cfg->script_user;
    const char *group = s->cfg->script_group;
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (user[0] != '\0' && s_lookup(user, &uid, &gid) < 0) {
        snprintf(err, errlen, "%s.script_user: no user \"%.64s\"", AU_SECTION, user);
        return -EINVAL;
    }
    if (group[0] != '\0' && s_lookup(group, NULL, &gid) < 0) {
        snprintf(err, errlen, "%s.script_group: no group \"%.64s\"", AU_SECTION, group);
        return -EINVAL;
    }
    if (uid == geteuid() && gid == getegid()) {
        if (uid == 0) {
            vx_warn("AU-SCRIPT-ROOT", "script steps run as root: set %s.script_user (and "
                                      "script_group) to an unprivileged user",
                    AU_SECTION);
        }
        return 0;
    }
    if (geteuid() != 0) {
        snprintf(err, errlen, "%s.script_user/script_group: running scripts as another user "
                              "or group needs the daemon to run as root (it runs as uid %lu)",
                 AU_SECTION, (unsigned long)geteuid());
        return -EINVAL;
    }
    p->drop = true;
    p->uid = uid;
    p->gid = gid;
    return 0;
}

int
au_server_policy_init(au_server_t *s, char *err, size_t errlen)
{
    struct au_act_policy *p = &s->act_policy;
    const struct au_config *cfg = s->cfg;
    memset(p, 0, sizeof *p);
    p->scripts_dir = cfg->scripts_dir;
    p->allow_inline = cfg->allow_inline_scripts;
    p->cpu_s = (uint64_t)cfg->script_cpu_seconds;
    p->memory_bytes = (uint64_t)cfg->script_memory_mb << 20;
    p->open_files = (uint64_t)cfg->script_open_files;
    p->processes = (uint64_t)cfg->script_processes;
    int rc = s_user_init(s, err, errlen);
    if (rc < 0) {
        return rc;
    }
    char why[256];
    s->netpolicy = vx_netpolicy_new(cfg->outbound_allow, s->metrics, why, sizeof why);
    if (s->netpolicy == NULL) {
        snprintf(err, errlen, "%s.%s", AU_SECTION, why);
        return -EINVAL;
    }
    p->net = s->netpolicy;
    return 0;
}

const struct au_act_policy *
au_server_act_policy(au_server_t *s)
{
    return &s->act_policy;
}
