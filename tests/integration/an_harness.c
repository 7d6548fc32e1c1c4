/* SPDX-License-Identifier: Apache-2.0 */
/* Starting a real vexfs-analytics process for integration tests. */
#include "an_harness.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "vx_test.h"

void
ah_start(struct ah_daemon *d, const char *yaml, const char *dir)
{
    memset(d, 0, sizeof *d);
    if (dir) {
        snprintf(d->dir, sizeof d->dir, "%s", dir);
    } else {
        char *t = vt_tmpdir();
        ck_assert_ptr_nonnull(t);
        snprintf(d->dir, sizeof d->dir, "%s", t);
        free(t);
    }
    d->rest_port = vt_free_port();
    snprintf(d->input, sizeof d->input, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    snprintf(d->results, sizeof d->results, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    char tokpath[300], cfgpath[300], cfg[8192];
    snprintf(tokpath, sizeof tokpath, "%s/token", d->dir);
    snprintf(cfgpath, sizeof cfgpath, "%s/vexfs.yaml", d->dir);
    snprintf(d->log, sizeof d->log, "%s/analytics.%d.log", d->dir, (int)vt_free_port());
    ck_assert_int_eq(vt_write_file(tokpath, AH_TOKEN "\n"), 0);
    snprintf(cfg, sizeof cfg,
             "stream_analytics:\n"
             "  rest_port: %u\n"
             "  input_endpoint: %s\n"
             "  results_endpoint: %s\n"
             "  state_dir: %s\n"
             "  commit_interval_ms: 200\n"
             "%s"
             "admin:\n"
             "  token_file: %s\n"
             "logging:\n"
             "  level: info\n",
             (unsigned)d->rest_port, d->input, d->results, d->dir, yaml ? yaml : "", tokpath);
    ck_assert_int_eq(vt_write_file(cfgpath, cfg), 0);
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-analytics", vt_bin_dir());
    char *argv[] = {bin, (char *)"--config", cfgpath, NULL};
    d->pid = vt_spawn(argv, NULL, d->log);
    ck_assert_int_gt(d->pid, 0);
    ck_assert_msg(vt_wait_ready(d->rest_port, 20000), "analytics not ready; log in %s", d->log);
}

void
ah_stop(struct ah_daemon *d)
{
    int status = vt_stop(d->pid, SIGTERM, 60000);
    d->pid = 0;
    /* A clean exit is part of every test: under the sanitizers it also means no leak. */
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "analytics did not exit cleanly on SIGTERM (status %d); log in %s", status,
                  d->log);
}

long
ah_call(const struct ah_daemon *d, const char *method, const char *path, const char *body,
        bool auth, json_t **out)
{
    struct vt_http_result r;
    long status = 0;
    if (out) {
        *out = NULL;
    }
    if (vt_http(method, d->rest_port, path, body, body ? strlen(body) : 0, auth ? AH_TOKEN : NULL,
                &r) == 0) {
        status = r.status;
        if (out && r.body) {
            *out = json_loads(r.body, 0, NULL);
        }
    }
    vt_http_result_fini(&r);
    return status;
}

double
ah_metric(const struct ah_daemon *d, const char *series)
{
    return vt_metric(d->rest_port, series);
}

uint8_t *
ah_pack_event(const vx_event_t *e, size_t *len)
{
    *len = vexfs__v1__event__get_packed_size(e);
    uint8_t *buf = malloc(*len ? *len : 1);
    ck_assert_ptr_nonnull(buf);
    vexfs__v1__event__pack(e, buf);
    return buf;
}

void
ah_event(vx_event_t *e, struct ah_ev_storage *st, int type, uint64_t ts_ms, const char *path,
         const char *user, long size)
{
    vexfs__v1__event__init(e);
    e->type = type;
    e->timestamp_ns = ts_ms * 1000000ULL;
    snprintf(st->path, sizeof st->path, "%s", path);
    e->path = st->path;
    snprintf(st->user, sizeof st->user, "%s", user);
    vexfs__v1__event__metadata_entry__init(&st->me);
    st->me.key = (char *)"user_id";
    st->me.value = st->user;
    st->mp[0] = &st->me;
    e->metadata = st->mp;
    e->n_metadata = 1;
    snprintf(st->size, sizeof st->size, "%ld", size);
    vexfs__v1__event__content_entry__init(&st->ce);
    st->ce.key = (char *)"size";
    st->ce.value = st->size;
    st->cp[0] = &st->ce;
    e->content = st->cp;
    e->n_content = 1;
}
