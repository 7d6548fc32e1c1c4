/* SPDX-License-Identifier: Apache-2.0 */
/* Starting real vexfs-coordinator clusters for integration tests. */
#include "coord_harness.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vx_test.h"

static void
s_pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void
ch_start(struct ch_cluster *c, size_t n, const char *extra)
{
    ch_start_host(c, n, extra, "127.0.0.1");
}

void
ch_start_host(struct ch_cluster *c, size_t n, const char *extra, const char *host)
{
    memset(c, 0, sizeof *c);
    ck_assert_uint_le(n, CH_MAX);
    c->n = n;
    char *dir = vt_tmpdir();
    ck_assert_ptr_nonnull(dir);
    snprintf(c->dir, sizeof c->dir, "%s", dir);
    free(dir);
    char tok[300];
    snprintf(tok, sizeof tok, "%s/token", c->dir);
    ck_assert_int_eq(vt_write_file(tok, CH_TOKEN "\n"), 0);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        struct ch_node *d = &c->node[i];
        d->id = i + 1;
        d->rest_port = vt_free_port();
        d->raft_port = vt_free_port();
        d->input_port = vt_free_port();
        off += (size_t)snprintf(c->members + off, sizeof c->members - off, "%s%llu@%s:%u/%u/%u",
                                i ? "," : "", (unsigned long long)d->id, host, (unsigned)d->raft_port,
                                (unsigned)d->rest_port, (unsigned)d->input_port);
    }
    for (size_t i = 0; i < n; i++) {
        struct ch_node *d = &c->node[i];
        snprintf(d->cfg, sizeof d->cfg, "%s/node%zu.yaml", c->dir, i + 1);
        snprintf(d->log, sizeof d->log, "%s/node%zu.log", c->dir, i + 1);
        char cfg[4096];
        snprintf(cfg, sizeof cfg,
                 "distributed_coordination:\n"
                 "  node_id: %llu\n"
                 "  members: \"%s\"\n"
                 "  data_dir: %s/data%zu\n"
                 "  rest_port: %u\n"
                 "  input_endpoint: \"@tcp://127.0.0.1:%u\"\n"
                 "  election_timeout_ms: %d\n"
                 "  heartbeat_ms: 50\n"
                 "  connect_retry_ms: 100\n"
                 "  snapshot_threshold: 256\n"
                 "  snapshot_trailing: 64\n"
                 "%s"
                 "admin:\n"
                 "  token_file: %s\n"
                 "logging:\n"
                 "  level: info\n",
                 (unsigned long long)d->id, c->members, c->dir, i + 1, (unsigned)d->rest_port,
                 (unsigned)d->input_port, CH_ELECTION_MS, extra ? extra : "", tok);
        ck_assert_int_eq(vt_write_file(d->cfg, cfg), 0);
    }
    for (size_t i = 0; i < n; i++) {
        ch_start_node(c, i);
    }
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(vt_wait_ready(c->node[i].rest_port, 20000),
                      "coordinator %zu not ready; log in %s", i + 1, c->node[i].log);
    }
}

void
ch_start_node(struct ch_cluster *c, size_t i)
{
    struct ch_node *d = &c->node[i];
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-coordinator", vt_bin_dir());
    char *argv[] = {bin, (char *)"--config", d->cfg, NULL};
    char logpath[320];
    /* A restarted node appends to a log of its own generation. */
    snprintf(logpath, sizeof logpath, "%s%s", d->log, access(d->log, F_OK) == 0 ? ".2" : "");
    d->pid = vt_spawn(argv, NULL, logpath);
    ck_assert_int_gt(d->pid, 0);
}

void
ch_stop_node(struct ch_cluster *c, size_t i)
{
    struct ch_node *d = &c->node[i];
    if (d->pid <= 0) {
        return;
    }
    int status = vt_stop(d->pid, SIGTERM, 60000);
    d->pid = 0;
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "coordinator %zu did not exit cleanly on SIGTERM (status %d); log in %s", i + 1,
                  status, d->log);
}

void
ch_stop_all(struct ch_cluster *c)
{
    for (size_t i = 0; i < c->n; i++) {
        ch_stop_node(c, i);
    }
}

void
ch_kill9(struct ch_cluster *c, size_t i)
{
    kill(c->node[i].pid, SIGKILL);
    waitpid(c->node[i].pid, NULL, 0);
    c->node[i].pid = 0;
}

long
ch_req(struct ch_cluster *c, size_t i, const char *method, const char *path, const char *body,
       json_t **out)
{
    struct vt_http_result r;
    if (out) {
        *out = NULL;
    }
    if (vt_http(method, c->node[i].rest_port, path, body, body ? strlen(body) : 0, CH_TOKEN,
                &r) != 0) {
        vt_http_result_fini(&r);
        return 0;
    }
    long status = r.status;
    if (out && r.body) {
        json_error_t e;
        *out = json_loads(r.body, 0, &e);
    }
    vt_http_result_fini(&r);
    return status;
}

long long
ch_int(struct ch_cluster *c, size_t i, const char *path, const char *field)
{
    json_t *o = NULL;
    long st = ch_req(c, i, "GET", path, NULL, &o);
    long long v = -1;
    if (st == 200 && json_is_integer(json_object_get(o, field))) {
        v = json_integer_value(json_object_get(o, field));
    }
    json_decref(o);
    return v;
}

int
ch_leader(struct ch_cluster *c, int timeout_ms, unsigned skip)
{
    for (int waited = 0; waited <= timeout_ms; waited += 25) {
        for (size_t i = 0; i < c->n; i++) {
            if ((skip & (1u << i)) || c->node[i].pid <= 0) {
                continue;
            }
            json_t *o = NULL;
            if (ch_req(c, i, "GET", "/v1/cluster", NULL, &o) == 200 &&
                strcmp(json_string_value(json_object_get(o, "status")) ?: "", "leader") == 0) {
                json_decref(o);
                return (int)i;
            }
            json_decref(o);
        }
        s_pause_ms(25);
    }
    return -1;
}
