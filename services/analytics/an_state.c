/* SPDX-License-Identifier: Apache-2.0 */
/* Sealed state files of analytics (see an_state.h). */
#include "an_state.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vx_jsonfile.h"
#include "vx_log.h"
#include "vx_mem.h"

static void
s_key_gauge(vx_metrics_t *m, const char *name, uint32_t id)
{
    vx_gauge_t *g = vx_metrics_gauge(m, "vexfs_analytics_state_key_id",
                                     "The data key id a state file is sealed with (0: "
                                     "plaintext).",
                                     "file", name, NULL);
    if (g != NULL) {
        vx_gauge_set(g, (double)id);
    }
}

int
an_state_load(const vx_sealer_t *s, vx_metrics_t *m, const char *dir, const char *name,
              json_t **doc, bool *stale, char *err, size_t errlen)
{
    char path[VX_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    uint32_t id = 0;
    int rc = vx_jsonfile_read_sealed(s, path, doc, stale, &id, err, errlen);
    if (rc == -ENOENT) {
        return 1;
    }
    if (rc == 0) {
        s_key_gauge(m, name, id);
    }
    return rc;
}

int
an_state_save(const vx_sealer_t *s, vx_metrics_t *m, const char *dir, const char *name,
              json_t *doc)
{
    char path[VX_PATH_MAX], err[VX_PATH_MAX + 200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = vx_jsonfile_mkdir(dir); /* made (mode 0700) at the first definition */
    if (rc < 0) {
        vx_error("AN-STATE-SAVE", "cannot create %s: %s", dir, strerror(-rc));
        return rc;
    }
    rc = vx_jsonfile_write_sealed(s, path, doc, err, sizeof err);
    if (rc < 0) {
        vx_error("AN-STATE-SAVE", "cannot write %s", err);
        return rc;
    }
    s_key_gauge(m, name, s ? vx_sealer_key_id(s) : 0);
    return 0;
}

int
an_defs_read(const vx_sealer_t *s, vx_metrics_t *m, const char *dir, const char *name,
             const char *path, bool from_state, json_t **doc, bool *stale, char *err,
             size_t errlen)
{
    *doc = NULL;
    *stale = false;
    if (from_state) {
        return an_state_load(s, m, dir, name, doc, stale, err, errlen);
    }
    json_error_t je;
    *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!*doc) {
        snprintf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
        return -EINVAL;
    }
    return 0;
}
