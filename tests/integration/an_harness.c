/* SPDX-License-Identifier: Apache-2.0 */
/* Starting a real vexfs-analytics process for integration tests. */
#include "an_harness.h"

#include <check.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vt_kafka.h"
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

const char *
ah_bootstrap(void)
{
    const char *b = getenv("VEXFS_KAFKA_BOOTSTRAP");
    ck_assert_msg(b && *b, "VEXFS_KAFKA_BOOTSTRAP is not set: run through scripts/run-tests.sh, "
                           "which starts the broker");
    return b;
}

rd_kafka_t *
ah_producer(void)
{
    char err[512];
    rd_kafka_conf_t *c = vt_kafka_conf(ah_bootstrap());
    ck_assert_msg(c != NULL, "no Kafka client settings (reason above)");
    rd_kafka_conf_set(c, "enable.idempotence", "true", err, sizeof err);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    ck_assert_msg(p != NULL, "producer: %s", err);
    return p;
}

void
ah_produce(rd_kafka_t *p, const char *topic, int32_t partition, const vx_event_t *e, int64_t ts_ms)
{
    size_t len;
    uint8_t *buf = ah_pack_event(e, &len);
    rd_kafka_resp_err_t err;
    while ((err = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                                    RD_KAFKA_V_KEY(e->path, strlen(e->path)),
                                    RD_KAFKA_V_VALUE(buf, len), RD_KAFKA_V_TIMESTAMP(ts_ms),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
           RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(p, 100);
    }
    ck_assert_msg(err == 0, "produce: %s", rd_kafka_err2str(err));
    free(buf);
}

int
ah_partitions(rd_kafka_t *p, const char *topic)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(p, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int n = 0;
    for (int tries = 0; tries < 50 && n == 0; tries++) {
        if (rd_kafka_metadata(p, 0, t, &md, 5000) == 0) {
            if (md->topic_cnt == 1 && md->topics[0].err == 0) {
                n = md->topics[0].partition_cnt;
            }
            rd_kafka_metadata_destroy(md);
        }
        if (n == 0) {
            usleep(100000);
        }
    }
    rd_kafka_topic_destroy(t);
    ck_assert_int_gt(n, 0);
    return n;
}

json_t *
ah_wait_member(const struct ah_daemon *d, const char *path, const char *key, const char *want,
               int timeout_s)
{
    json_t *j = NULL;
    time_t deadline = time(NULL) + timeout_s;
    for (;;) {
        json_decref(j);
        j = NULL;
        ah_call(d, "GET", path, NULL, false, &j);
        const char *v = json_string_value(json_object_get(j, key));
        if ((v && strcmp(v, want) == 0) || time(NULL) > deadline) {
            return j;
        }
        usleep(100000);
    }
}

int
ah_ctl(const struct ah_daemon *d, char **out, const char *cmd, ...)
{
    char bin[512], url[64], tok[300];
    snprintf(bin, sizeof bin, "%s/vexfsctl", vt_bin_dir());
    snprintf(url, sizeof url, "https://127.0.0.1:%u", (unsigned)d->rest_port);
    snprintf(tok, sizeof tok, "%s/token", d->dir);
    char *argv[24] = {bin, (char *)cmd, (char *)"--url", url, (char *)"--token-file", tok};
    int n = 6;
    va_list ap;
    va_start(ap, cmd);
    for (const char *a = va_arg(ap, const char *); a && n < 23; a = va_arg(ap, const char *)) {
        argv[n++] = (char *)a;
    }
    va_end(ap);
    argv[n] = NULL;
    struct vt_run_result r;
    int rc = vt_run(argv, NULL, NULL, 120000, &r);
    ck_assert_msg(rc == 0, "vexfsctl %s did not finish", cmd);
    int status = WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1;
    if (out) {
        *out = strdup(r.out ? r.out : "");
    }
    if (status != 0) {
        fprintf(stderr, "vexfsctl %s: exit %d: %s\n", cmd, status, r.err ? r.err : "");
    }
    vt_run_result_fini(&r);
    return status;
}
