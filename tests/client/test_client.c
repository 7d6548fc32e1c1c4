/* SPDX-License-Identifier: Apache-2.0 */
/* libvexfs against a real vexfs-propagation process on loopback: configuration, emitting with
 * acknowledgements, bounded buffering (a stopped propagation fills the buffer; emit waits, then
 * fails without taking the event), at least once across kill -9, many threads at once, invalid
 * events refused, taps, admin calls and their errors, closing with events unacknowledged. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prop_harness.h"
#include "vexfs/client.h"
#include "vx_arena.h"
#include "vx_clock.h"
#include "vx_test.h"
#include "vx_wire.h"

/* ---- helpers ----------------------------------------------------------------------------- */

/* CZMQ starts at its first socket and must not be started by two threads at once: the tests
 * start it before their threads (in the forked test process, never before the fork). */
static void
s_zmq_init(void)
{
    zsys_handler_set(NULL);
    zsys_init();
}

static void
s_set(vexfs_config_t *cfg, const char *key, const char *value)
{
    int rc = vexfs_config_set(cfg, key, value);
    ck_assert_msg(rc == 0, "set %s=%s: %d %s", key, value, rc, vexfs_last_error());
}

/* A client of d as programs use it: CURVE with the identity "ctl" (authorized, and a producer
 * of any source and tenant by propagation's built-in policy), HTTPS verified with the test's
 * authority and the client certificate "ctl".
 * extra: more "key", "value" pairs, NULL-terminated. */
static vexfs_client_t *
s_client(const struct ph_daemon *d, const char *const *extra)
{
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%u", (unsigned)d->rest_port);
    vexfs_config_t *cfg = vexfs_config_new();
    s_set(cfg, "security.keys_dir", vt_keys_dir());
    s_set(cfg, "security.identity", "ctl");
    s_set(cfg, "security.tls_dir", vt_tls_dir());
    s_set(cfg, "ingest_endpoint", d->acked);
    s_set(cfg, "tap_endpoint", d->tap);
    s_set(cfg, "propagation_url", url);
    s_set(cfg, "token", PH_TOKEN);
    s_set(cfg, "log_level", "error");
    for (size_t i = 0; extra && extra[i]; i += 2) {
        s_set(cfg, extra[i], extra[i + 1]);
    }
    vexfs_client_t *c = vexfs_client_new(cfg);
    vexfs_config_destroy(&cfg);
    ck_assert_msg(c != NULL, "vexfs_client_new: %s", vexfs_last_error());
    return c;
}

/* An event whose content n identifies it. */
struct s_ev {
    struct vexfs_event ev;
    struct vexfs_kv kv[1];
    char n[24];
    char path[64];
};

static void
s_ev_make(struct s_ev *e, unsigned n)
{
    struct vexfs_event init = VEXFS_EVENT_INIT;
    e->ev = init;
    snprintf(e->n, sizeof e->n, "%u", n);
    snprintf(e->path, sizeof e->path, "/lib/test/f%u", n % 97);
    e->kv[0] = (struct vexfs_kv){"n", e->n};
    e->ev.type = "filesystem_write";
    e->ev.path = e->path;
    e->ev.content = e->kv;
    e->ev.n_content = 1;
}

static struct vexfs_stats
s_stats(vexfs_client_t *c)
{
    struct vexfs_stats st = VEXFS_STATS_INIT;
    ck_assert_int_eq(vexfs_client_stats(c, &st), 0);
    return st;
}

/* A consumer of propagation's output (standing in for routing): counts each event by its
 * content n. */
struct s_counter {
    const char *endpoint;
    size_t max;
    atomic_uint *seen;
    atomic_size_t distinct, total, other;
    atomic_bool stop;
    pthread_t thread;
};

static const char *
s_content(const vx_event_t *e, const char *key)
{
    for (size_t i = 0; i < e->n_content; i++) {
        if (strcmp(e->content[i]->key, key) == 0) {
            return e->content[i]->value;
        }
    }
    return NULL;
}

static void *
s_counter_main(void *arg)
{
    struct s_counter *c = arg;
    zsock_t *pull = vt_sock_ex(&(struct vt_sock_opts){.type = ZMQ_PULL, .endpoint = c->endpoint,
                                                      .hwm = 100000, .rcvtimeo_ms = 50});
    ck_assert_ptr_nonnull(pull);
    vx_arena_t *a = vx_arena_new(1 << 20, 0);
    while (!atomic_load(&c->stop)) {
        struct vx_wire_msg m;
        if (vx_wire_recv(pull, &m, 0) < 0) {
            continue;
        }
        vx_batch_t *b = vx_wire_decode(zmq_msg_data(&m.body), zmq_msg_size(&m.body), a);
        for (size_t i = 0; b && i < b->n_events; i++) {
            const char *n = s_content(b->events[i], "n");
            unsigned long k = n ? strtoul(n, NULL, 10) : 0;
            if (!n || k >= c->max) {
                atomic_fetch_add(&c->other, 1);
                continue;
            }
            if (atomic_fetch_add(&c->seen[k], 1) == 0) {
                atomic_fetch_add(&c->distinct, 1);
            }
            atomic_fetch_add(&c->total, 1);
        }
        vx_wire_msg_fini(&m);
        vx_arena_reset(a);
    }
    vx_arena_destroy(&a);
    zsock_destroy(&pull);
    return NULL;
}

static void
s_counter_start(struct s_counter *c, const char *endpoint, size_t max)
{
    memset(c, 0, sizeof *c);
    c->endpoint = endpoint;
    c->max = max;
    c->seen = calloc(max, sizeof *c->seen);
    ck_assert_int_eq(pthread_create(&c->thread, NULL, s_counter_main, c), 0);
}

static void
s_counter_stop(struct s_counter *c)
{
    atomic_store(&c->stop, true);
    pthread_join(c->thread, NULL);
    free(c->seen);
}

struct s_wait_count {
    struct s_counter *c;
    size_t want;
};

static bool
cb_distinct_reached(void *arg)
{
    struct s_wait_count *w = arg;
    return atomic_load(&w->c->distinct) >= w->want;
}

static size_t
s_wait_distinct(struct s_counter *c, size_t want, int timeout_ms)
{
    struct s_wait_count w = {c, want};
    vt_wait_until(cb_distinct_reached, &w, timeout_ms);
    return atomic_load(&c->distinct);
}

/* ---- configuration ------------------------------------------------------------------------ */

START_TEST(t_config_keys)
{
    vexfs_config_t *cfg = vexfs_config_new();
    ck_assert_int_eq(vexfs_config_set(cfg, "batch_max_events", "50"), 0);
    ck_assert_int_eq(vexfs_config_set(cfg, "client.ack_timeout_ms", "500"), 0);
    ck_assert_int_eq(vexfs_config_set(cfg, "security.keys_dir", "/tmp/keys"), 0);
    ck_assert_int_eq(vexfs_config_set(cfg, "transport.hwm", "100"), 0);

    ck_assert_int_eq(vexfs_config_set(cfg, "no_such_key", "1"), -ENOENT);
    ck_assert_msg(strstr(vexfs_last_error(), "no_such_key: unknown key"), "%s", vexfs_last_error());
    ck_assert_int_eq(vexfs_config_set(cfg, "batch_max_events", "0"), -EINVAL);
    ck_assert_msg(strstr(vexfs_last_error(), "client.batch_max_events") &&
                      strstr(vexfs_last_error(), "between 1 and 10000, got 0"),
                  "%s", vexfs_last_error());
    ck_assert_int_eq(vexfs_config_set(cfg, "security.curve", "maybe"), -EINVAL);
    ck_assert_msg(strstr(vexfs_last_error(), "security.curve"), "%s", vexfs_last_error());
    ck_assert_int_eq(vexfs_config_set(cfg, "routing_url", "ftp://x"), -EINVAL);
    ck_assert_int_eq(vexfs_config_set(cfg, "log_level", "loud"), -EINVAL);

    /* What was refused changed nothing; the secret is masked. */
    ck_assert_int_eq(vexfs_config_set(cfg, "token", "s3cret-token"), 0);
    char *shown = vexfs_config_show(cfg);
    ck_assert_ptr_nonnull(shown);
    ck_assert_msg(strstr(shown, "\"batch_max_events\": 50"), "%s", shown);
    ck_assert_msg(strstr(shown, "\"ack_timeout_ms\": 500"), "%s", shown);
    /* The environment overrides single keys, as for every program of the suite (the test
     * process points VEXFS_SECURITY_KEYS_DIR at its own key set). */
    char want[400];
    snprintf(want, sizeof want, "\"keys_dir\": \"%s\"", vt_keys_dir());
    ck_assert_msg(strstr(shown, want), "%s", shown);
    ck_assert_msg(strstr(shown, "\"curve\": \"required\""), "%s", shown);
    ck_assert_msg(!strstr(shown, "s3cret-token"), "the token is shown: %s", shown);
    vexfs_free(shown);
    vexfs_config_destroy(&cfg);
    ck_assert_ptr_null(cfg);
}
END_TEST

START_TEST(t_config_file_and_environment)
{
    char *dir = vt_tmpdir();
    char path[300];
    snprintf(path, sizeof path, "%s/vexfs.yaml", dir);
    /* A deployment's file: the client's sections are taken, the daemons' left to them. */
    ck_assert_int_eq(vt_write_file(path, "event_propagation:\n  dedup_window_ms: 5\n"
                                         "client:\n  batch_max_events: 7\n  buffer_max_batches: 9\n"
                                         "security:\n  identity: app-1\n"),
                     0);
    vexfs_config_t *cfg = vexfs_config_new();
    ck_assert_int_eq(vexfs_config_set(cfg, "buffer_max_batches", "11"), 0);
    ck_assert_int_eq(vexfs_config_load(cfg, path), 0);
    ck_assert_int_eq(vexfs_config_set(cfg, "batch_max_events", "8"), 0);
    setenv("VEXFS_CLIENT_ACK_WINDOW_BATCHES", "3", 1);
    char *shown = vexfs_config_show(cfg);
    unsetenv("VEXFS_CLIENT_ACK_WINDOW_BATCHES");
    ck_assert_ptr_nonnull(shown);
    ck_assert_msg(strstr(shown, "\"batch_max_events\": 8"), "set after the file wins: %s", shown);
    ck_assert_msg(strstr(shown, "\"buffer_max_batches\": 9"), "the file over earlier sets: %s",
                  shown);
    ck_assert_msg(strstr(shown, "\"identity\": \"app-1\""), "%s", shown);
    ck_assert_msg(strstr(shown, "\"ack_window_batches\": 3"), "the environment applies: %s",
                  shown);
    vexfs_free(shown);

    /* A bad file is refused with its name and key; the configuration is unchanged. */
    ck_assert_int_eq(vt_write_file(path, "client:\n  batch_max_events: lots\n"), 0);
    ck_assert_int_eq(vexfs_config_load(cfg, path), -EINVAL);
    ck_assert_msg(strstr(vexfs_last_error(), path) &&
                      strstr(vexfs_last_error(), "client.batch_max_events"),
                  "%s", vexfs_last_error());
    ck_assert_int_eq(vt_write_file(path, "clients:\n  x: 1\n"), 0);
    ck_assert_int_eq(vexfs_config_load(cfg, path), -EINVAL);
    ck_assert_msg(strstr(vexfs_last_error(), "clients: unknown section"), "%s",
                  vexfs_last_error());
    snprintf(path, sizeof path, "%s/missing.yaml", dir);
    ck_assert_int_eq(vexfs_config_load(cfg, path), -ENOENT);
    shown = vexfs_config_show(cfg);
    ck_assert_msg(strstr(shown, "\"batch_max_events\": 8"), "%s", shown);
    vexfs_free(shown);
    vexfs_config_destroy(&cfg);
    free(dir);
}
END_TEST

START_TEST(t_client_refuses_bad_settings)
{
    /* TLS required: a plain URL is refused at once. */
    vexfs_config_t *cfg = vexfs_config_new();
    ck_assert_int_eq(vexfs_config_set(cfg, "routing_url", "http://127.0.0.1:8081"), 0);
    vexfs_client_t *c = vexfs_client_new(cfg);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(vexfs_last_error(), "security.tls is required") &&
                      strstr(vexfs_last_error(), "routing"),
                  "%s", vexfs_last_error());
    /* TLS off: plain HTTP to loopback only. */
    ck_assert_int_eq(vexfs_config_set(cfg, "security.tls", "off"), 0);
    ck_assert_int_eq(vexfs_config_set(cfg, "routing_url", "http://192.0.2.1:8081"), 0);
    ck_assert_ptr_null(vexfs_client_new(cfg));
    ck_assert_msg(strstr(vexfs_last_error(), "loopback"), "%s", vexfs_last_error());
    /* CURVE off: ZeroMQ links to loopback only (the suite's factory refuses the others). */
    ck_assert_int_eq(vexfs_config_set(cfg, "routing_url", ""), 0);
    ck_assert_int_eq(vexfs_config_set(cfg, "security.curve", "off"), 0);
    ck_assert_int_eq(vexfs_config_set(cfg, "ingest_endpoint", "tcp://192.0.2.1:5549"), 0);
    c = vexfs_client_new(cfg);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(vexfs_client_connect(c), -EIO);
    ck_assert_msg(strstr(vexfs_last_error(), "only loopback"), "%s", vexfs_last_error());
    /* Emitting off. */
    vexfs_client_close(&c, 0, NULL);
    ck_assert_int_eq(vexfs_config_set(cfg, "ingest_endpoint", ""), 0);
    c = vexfs_client_new(cfg);
    struct s_ev e;
    s_ev_make(&e, 1);
    ck_assert_int_eq(vexfs_client_emit(c, &e.ev, 0), -ENOTCONN);
    ck_assert_int_eq(vexfs_client_flush(c, 0), 0); /* nothing was emitted */
    ck_assert_int_eq(vexfs_client_close(&c, 0, NULL), 0);
    vexfs_config_destroy(&cfg);
}
END_TEST

/* ---- emitting ----------------------------------------------------------------------------- */

START_TEST(t_emit_flush_delivers_exact_fields)
{
    struct ph_daemon d;
    s_zmq_init();
    ph_start(&d, NULL, NULL);
    zsock_t *pull = ph_pull(&d);
    vexfs_client_t *c = s_client(&d, NULL);

    struct vexfs_kv content[] = {{"size", "4096"}, {"owner", "alice"}};
    struct vexfs_kv meta[] = {{"user_id", "42"}};
    const char *parents[] = {"0193b2c4-0000-7000-8000-000000000001"};
    struct vexfs_event ev = VEXFS_EVENT_INIT;
    ev.type = "filesystem_write";
    ev.source = "userspace_api";
    ev.path = "/data/exact.txt";
    ev.timestamp_ns = 18446744073709551615ull; /* the whole uint64 range */
    ev.tenant = "acme";
    ev.priority = 200;
    ev.content = content;
    ev.n_content = 2;
    ev.metadata = meta;
    ev.n_metadata = 1;
    ev.id = "0193b2c4-0000-7000-8000-0000000000aa";
    ev.trace_id = "trace-1";
    ev.parent_ids = parents;
    ev.n_parent_ids = 1;
    ck_assert_int_eq(vexfs_client_emit(c, &ev, 1000), 0);
    ck_assert_int_eq(vexfs_client_emit_json(c,
                                            "{\"type\":\"custom\",\"custom_type\":\"backup_done\","
                                            "\"tenant\":\"acme\",\"content\":{\"n\":\"1\"}}",
                                            1000),
                     1);
    ck_assert_msg(vexfs_client_flush(c, 10000) == 0, "%s", vexfs_last_error());
    struct vexfs_stats st = s_stats(c);
    ck_assert_uint_eq(st.emitted_events, 2);
    ck_assert_uint_eq(st.acked_events, 2);
    ck_assert_uint_eq(st.buffered_batches, 0);
    ck_assert_uint_eq(st.lost_events, 0);

    struct vx_wire_msg m;
    zsock_set_rcvtimeo(pull, 10000);
    vx_arena_t *a = vx_arena_new(1 << 16, 0);
    size_t got = 0;
    while (got < 2) {
        ck_assert_int_eq(vx_wire_recv(pull, &m, 0), 0);
        vx_batch_t *b = vx_wire_decode(zmq_msg_data(&m.body), zmq_msg_size(&m.body), a);
        ck_assert_ptr_nonnull(b);
        for (size_t i = 0; i < b->n_events; i++, got++) {
            const vx_event_t *e = b->events[i];
            if (got == 0) {
                ck_assert_str_eq(e->path, "/data/exact.txt");
                ck_assert_uint_eq(e->timestamp_ns, 18446744073709551615ull);
                ck_assert_str_eq(e->tenant, "acme");
                ck_assert_uint_eq(e->priority, 200);
                ck_assert_str_eq(s_content(e, "owner"), "alice");
                ck_assert_uint_eq(e->n_metadata, 1);
                ck_assert_str_eq(e->metadata[0]->value, "42");
                ck_assert_uint_eq(e->id.data[15], 0xaa);
                ck_assert_str_eq(e->trace_id, "trace-1");
                ck_assert_uint_eq(e->causality->n_parent_ids, 1);
                ck_assert_uint_eq(e->causality->parent_ids[0].data[15], 0x01);
            } else {
                ck_assert_str_eq(e->custom_type, "backup_done");
            }
        }
        vx_wire_msg_fini(&m);
        vx_arena_reset(a);
    }
    vx_arena_destroy(&a);
    ck_assert_int_eq(vexfs_client_close(&c, 1000, NULL), 0);
    zsock_destroy(&pull);
    ph_stop(&d);
}
END_TEST

START_TEST(t_invalid_events_refused_and_nothing_taken)
{
    struct ph_daemon d;
    s_zmq_init();
    ph_start(&d, NULL, NULL);
    vexfs_client_t *c = s_client(&d, NULL);
    struct vexfs_event ev = VEXFS_EVENT_INIT;
    ev.type = "filesystem_write"; /* no path */
    ck_assert_int_eq(vexfs_client_emit(c, &ev, 0), -EINVAL);
    ck_assert_msg(strstr(vexfs_last_error(), "field 'path': required"), "%s",
                  vexfs_last_error());
    ev.path = "/a/../b";
    ck_assert_int_eq(vexfs_client_emit(c, &ev, 0), -EINVAL);
    ck_assert_msg(strstr(vexfs_last_error(), "canonical"), "%s", vexfs_last_error());
    ev.path = "/a";
    ev.type = "filesystem_teleport";
    ck_assert_int_eq(vexfs_client_emit(c, &ev, 0), -EINVAL);
    ck_assert_msg(strstr(vexfs_last_error(), "unknown event type 'filesystem_teleport'"), "%s",
                  vexfs_last_error());
    ev.type = "filesystem_write";
    ev.priority = 256;
    ck_assert_int_eq(vexfs_client_emit(c, &ev, 0), -EINVAL);
    ck_assert_msg(strstr(vexfs_last_error(), "field 'priority'"), "%s", vexfs_last_error());
    struct vexfs_event unsized = {0};
    ck_assert_int_eq(vexfs_client_emit(c, &unsized, 0), -EINVAL);
    ck_assert_msg(strstr(vexfs_last_error(), "VEXFS_EVENT_INIT"), "%s", vexfs_last_error());

    /* A batch with one bad event is refused whole, naming the index. */
    struct s_ev evs[3];
    for (unsigned i = 0; i < 3; i++) {
        s_ev_make(&evs[i], i);
    }
    struct vexfs_event batch[3] = {evs[0].ev, evs[1].ev, evs[2].ev};
    batch[2].path = "relative";
    ck_assert_int_eq(vexfs_client_emit_batch(c, batch, 3, 0), -EINVAL);
    ck_assert_msg(strstr(vexfs_last_error(), "events[2]: field 'path'"), "%s",
                  vexfs_last_error());

    ck_assert_int_eq(vexfs_client_emit_json(c, "{\"type\":", 0), -EINVAL);
    ck_assert_msg(strstr(vexfs_last_error(), "invalid JSON at line 1"), "%s", vexfs_last_error());
    ck_assert_int_eq(vexfs_client_emit_json(c, "[{\"type\":\"system\"},{\"type\":\"system\","
                                               "\"priority\":\"high\"}]",
                                            0),
                     -EINVAL);
    ck_assert_msg(strstr(vexfs_last_error(), "events[1]: field 'priority'"), "%s",
                  vexfs_last_error());
    ck_assert_int_eq(vexfs_client_emit_json(c, "{\"type\":\"system\",\"path\":\"/a\\u0000b\"}", 0),
                     -EINVAL);
    ck_assert_msg(strstr(vexfs_last_error(), "NUL character"), "%s", vexfs_last_error());
    ck_assert_int_eq(vexfs_client_emit_json(c, "42", 0), -EINVAL);

    ck_assert_int_eq(vexfs_client_flush(c, 5000), 0);
    struct vexfs_stats st = s_stats(c);
    ck_assert_uint_eq(st.emitted_events, 0);
    ck_assert_uint_eq(st.refused_events, 5 + 3 + 1 + 2 + 1 + 1);
    ck_assert(ph_metric(&d, "vexfs_events_received_total{channel=\"zmq\"}") <= 0);
    ck_assert_int_eq(vexfs_client_close(&c, 1000, NULL), 0);
    ph_stop(&d);
}
END_TEST

/* A full buffer makes emit wait, then fail with -ENOBUFS having taken nothing; once
 * propagation answers again, everything taken is delivered and nothing else. */
START_TEST(t_full_buffer_blocks_then_refuses)
{
    struct ph_daemon d;
    s_zmq_init();
    ph_start(&d, NULL, NULL);
    struct s_counter cnt;
    s_counter_start(&cnt, d.output, 100);
    const char *extra[] = {"buffer_max_batches", "4", "batch_max_events", "1", NULL};
    vexfs_client_t *c = s_client(&d, extra);
    ck_assert_int_eq(vexfs_client_connect(c), 0);
    struct s_ev e[6];
    for (unsigned i = 0; i < 6; i++) {
        s_ev_make(&e[i], i);
    }
    /* Up and answering: the first event goes through. */
    ck_assert_int_eq(vexfs_client_emit(c, &e[0].ev, 1000), 0);
    ck_assert_int_eq(vexfs_client_flush(c, 10000), 0);

    kill(d.pid, SIGSTOP);
    for (unsigned i = 1; i <= 4; i++) {
        ck_assert_msg(vexfs_client_emit(c, &e[i].ev, 1000) == 0, "%u: %s", i, vexfs_last_error());
    }
    uint64_t t0 = vx_mono_ns();
    int rc = vexfs_client_emit(c, &e[5].ev, 300);
    uint64_t waited_ms = (vx_mono_ns() - t0) / 1000000;
    ck_assert_msg(rc == -ENOBUFS, "emit into a full buffer: %d %s", rc, vexfs_last_error());
    ck_assert_msg(strstr(vexfs_last_error(), "the buffer is full: 4 batches held") &&
                      strstr(vexfs_last_error(), "nothing was taken"),
                  "%s", vexfs_last_error());
    ck_assert_msg(waited_ms >= 250, "emit gave up after %llu ms, not its 300 ms",
                  (unsigned long long)waited_ms);
    ck_assert_int_eq(vexfs_client_emit(c, &e[5].ev, 0), -ENOBUFS); /* 0: no waiting */
    ck_assert_int_eq(vexfs_client_flush(c, 200), -ETIMEDOUT);
    ck_assert_msg(strstr(vexfs_last_error(), "still delivered"), "%s", vexfs_last_error());
    struct vexfs_stats st = s_stats(c);
    ck_assert_uint_eq(st.full_timeouts, 2);
    ck_assert_uint_eq(st.buffered_batches, 4);
    ck_assert_uint_eq(st.emitted_events, 5);

    kill(d.pid, SIGCONT);
    ck_assert_msg(vexfs_client_flush(c, 20000) == 0, "%s", vexfs_last_error());
    ck_assert_uint_eq(s_wait_distinct(&cnt, 5, 10000), 5);
    for (unsigned i = 0; i < 5; i++) {
        ck_assert_msg(atomic_load(&cnt.seen[i]) >= 1, "event %u never arrived", i);
    }
    ck_assert_msg(atomic_load(&cnt.seen[5]) == 0, "the refused event was delivered");
    st = s_stats(c);
    ck_assert_uint_eq(st.acked_events, 5);
    ck_assert_int_eq(vexfs_client_close(&c, 1000, NULL), 0);
    s_counter_stop(&cnt);
    ph_stop(&d);
}
END_TEST

/* kill -9 of propagation while batches are unacknowledged: they are sent again to the
 * restarted instance, so every event arrives (at least once). */
START_TEST(t_kill9_at_least_once)
{
    enum { n = 3000 };
    struct ph_daemon d;
    s_zmq_init();
    ph_start(&d, NULL, NULL);
    struct s_counter cnt;
    s_counter_start(&cnt, d.output, n);
    const char *extra[] = {"ack_timeout_ms", "500", "batch_max_events", "20", NULL};
    vexfs_client_t *c = s_client(&d, extra);
    struct s_ev e;
    for (unsigned i = 0; i < n / 3; i++) {
        s_ev_make(&e, i);
        ck_assert_int_eq(vexfs_client_emit(c, &e.ev, 10000), 0);
    }
    ck_assert_int_eq(vexfs_client_flush(c, 10000), 0);
    /* Acknowledged means propagation took them; without output_acked what it already published
     * but still holds for its output dies with it (README, "Acknowledged ingest"), so the
     * test waits until they left before the kill: the guarantee under test is the resend of
     * what was not acknowledged. */
    ck_assert_uint_eq(s_wait_distinct(&cnt, n / 3, 30000), n / 3);
    /* Stopped, so batches are sent and certainly unacknowledged when it dies. */
    kill(d.pid, SIGSTOP);
    for (unsigned i = n / 3; i < 2 * n / 3; i++) {
        s_ev_make(&e, i);
        ck_assert_int_eq(vexfs_client_emit(c, &e.ev, 10000), 0);
    }
    ck_assert_int_eq(vexfs_client_flush(c, 300), -ETIMEDOUT);
    ck_assert_uint_gt(s_stats(c).unacked_batches, 0);
    ph_kill9(&d);
    for (unsigned i = 2 * n / 3; i < n; i++) {
        s_ev_make(&e, i);
        ck_assert_int_eq(vexfs_client_emit(c, &e.ev, 10000), 0);
    }
    ph_restart(&d);
    ck_assert_msg(vexfs_client_flush(c, 60000) == 0, "%s", vexfs_last_error());
    size_t distinct = s_wait_distinct(&cnt, n, 30000);
    struct vexfs_stats st = s_stats(c);
    ck_assert_msg(distinct == n, "%zu of %d events arrived (resent %llu); log in %s", distinct,
                  n, (unsigned long long)st.resent_events, d.log);
    ck_assert_uint_gt(st.resent_events, 0);
    ck_assert_uint_ge(st.link_resets, 1);
    ck_assert_uint_eq(st.lost_events, 0);
    ck_assert_uint_eq(st.acked_events, n);
    ck_assert_msg(atomic_load(&cnt.total) - n <= st.resent_events,
                  "%zu copies but %llu events resent", atomic_load(&cnt.total) - n,
                  (unsigned long long)st.resent_events);
    ck_assert_int_eq(vexfs_client_close(&c, 1000, NULL), 0);
    s_counter_stop(&cnt);
    ph_stop(&d);
}
END_TEST

/* Programs built against other versions of the header: an older, shorter struct is read only
 * as far as its size; a newer, longer one is stepped over by its size in a batch. */
START_TEST(t_struct_sizes)
{
    struct ph_daemon d;
    s_zmq_init();
    ph_start(&d, NULL, NULL);
    zsock_t *pull = ph_pull(&d);
    vexfs_client_t *c = s_client(&d, NULL);
    struct vexfs_event old = VEXFS_EVENT_INIT;
    old.size = offsetof(struct vexfs_event, source); /* knows size, type, custom_type */
    old.type = "system";
    old.source = "not a boundary"; /* past its size: never read */
    ck_assert_msg(vexfs_client_emit(c, &old, 1000) == 0, "%s", vexfs_last_error());

    struct newer {
        struct vexfs_event e;
        const char *field_of_the_future;
    } arr[3];
    for (unsigned i = 0; i < 3; i++) {
        struct vexfs_event init = VEXFS_EVENT_INIT;
        arr[i].e = init;
        arr[i].e.size = sizeof arr[i];
        arr[i].e.type = "filesystem_create";
        arr[i].e.path = i == 0 ? "/newer/0" : i == 1 ? "/newer/1" : "/newer/2";
        arr[i].field_of_the_future = "ignored";
    }
    ck_assert_msg(vexfs_client_emit_batch(c, &arr[0].e, 3, 1000) == 0, "%s", vexfs_last_error());
    ck_assert_int_eq(vexfs_client_flush(c, 10000), 0);
    ck_assert_uint_eq(ph_receive(pull, 4, 10000, NULL, NULL), 4);
    ck_assert_uint_eq(s_stats(c).acked_events, 4);
    ck_assert_int_eq(vexfs_client_close(&c, 1000, NULL), 0);
    zsock_destroy(&pull);
    ph_stop(&d);
}
END_TEST

/* Clients made and closed in turn in one process (each with its own link and monitor). */
START_TEST(t_clients_in_turn)
{
    struct ph_daemon d;
    s_zmq_init();
    ph_start(&d, NULL, NULL);
    zsock_t *pull = ph_pull(&d);
    for (unsigned i = 0; i < 5; i++) {
        vexfs_client_t *c = s_client(&d, NULL);
        struct s_ev e;
        s_ev_make(&e, i);
        ck_assert_msg(vexfs_client_emit(c, &e.ev, 1000) == 0, "client %u: %s", i,
                      vexfs_last_error());
        ck_assert_msg(vexfs_client_flush(c, 10000) == 0, "client %u: %s", i, vexfs_last_error());
        ck_assert_int_eq(vexfs_client_close(&c, 1000, NULL), 0);
    }
    ck_assert_uint_eq(ph_receive(pull, 5, 10000, NULL, NULL), 5);
    /* Made and closed at once, many times: each link's monitor gets a name of its own. */
    for (unsigned i = 0; i < 50; i++) {
        vexfs_client_t *c = s_client(&d, NULL);
        ck_assert_msg(vexfs_client_connect(c) == 0, "client %u: %s", i, vexfs_last_error());
        ck_assert_int_eq(vexfs_client_close(&c, 0, NULL), 0);
    }
    zsock_destroy(&pull);
    ph_stop(&d);
}
END_TEST

struct s_emitter {
    vexfs_client_t *c;
    unsigned first, n;
    int failures;
    pthread_t thread;
};

static void *
s_emitter_main(void *arg)
{
    struct s_emitter *em = arg;
    for (unsigned i = 0; i < em->n; i++) {
        struct s_ev e;
        s_ev_make(&e, em->first + i);
        if (i % 10 == 9) {
            /* batches and single events interleave from every thread */
            struct vexfs_event two[2] = {e.ev, e.ev};
            struct s_ev e2;
            s_ev_make(&e2, em->first + i - 1);
            two[0] = e2.ev;
            em->failures += vexfs_client_emit_batch(em->c, two, 2, 30000) != 0;
        } else if (i % 10 != 8) {
            em->failures += vexfs_client_emit(em->c, &e.ev, 30000) != 0;
        }
    }
    return NULL;
}

START_TEST(t_threads_emit_at_once)
{
    enum { threads = 4, per = 2500, n = threads * per };
    struct ph_daemon d;
    s_zmq_init();
    ph_start(&d, NULL, NULL);
    struct s_counter cnt;
    s_counter_start(&cnt, d.output, n);
    const char *extra[] = {"buffer_max_batches", "8", NULL}; /* small: emitters wait for room */
    vexfs_client_t *c = s_client(&d, extra);
    struct s_emitter em[threads];
    for (unsigned t = 0; t < threads; t++) {
        em[t] = (struct s_emitter){.c = c, .first = t * per, .n = per};
        ck_assert_int_eq(pthread_create(&em[t].thread, NULL, s_emitter_main, &em[t]), 0);
    }
    for (unsigned t = 0; t < threads; t++) {
        pthread_join(em[t].thread, NULL);
        ck_assert_int_eq(em[t].failures, 0);
    }
    ck_assert_msg(vexfs_client_flush(c, 30000) == 0, "%s", vexfs_last_error());
    ck_assert_uint_eq(s_wait_distinct(&cnt, n, 30000), n);
    struct vexfs_stats st = s_stats(c);
    ck_assert_uint_eq(st.emitted_events, n);
    ck_assert_uint_eq(st.acked_events, n);
    ck_assert_uint_eq(atomic_load(&cnt.total), n);
    ck_assert_int_eq(vexfs_client_close(&c, 1000, NULL), 0);
    s_counter_stop(&cnt);
    ph_stop(&d);
}
END_TEST

START_TEST(t_close_reports_abandoned)
{
    struct ph_daemon d;
    s_zmq_init();
    ph_start(&d, NULL, NULL);
    vexfs_client_t *c = s_client(&d, NULL);
    ck_assert_int_eq(vexfs_client_connect(c), 0);
    kill(d.pid, SIGSTOP);
    struct s_ev e[3];
    for (unsigned i = 0; i < 3; i++) {
        s_ev_make(&e[i], i);
        ck_assert_int_eq(vexfs_client_emit(c, &e[i].ev, 1000), 0);
    }
    uint64_t abandoned = 0;
    ck_assert_int_eq(vexfs_client_close(&c, 200, &abandoned), -ETIMEDOUT);
    ck_assert_ptr_null(c);
    ck_assert_uint_eq(abandoned, 3);
    ck_assert_msg(strstr(vexfs_last_error(), "3 emitted events were not acknowledged"), "%s",
                  vexfs_last_error());
    kill(d.pid, SIGCONT);
    ph_stop(&d);
}
END_TEST

/* ---- taps --------------------------------------------------------------------------------- */

/* Emits probes until the tap shows one: the subscription has reached the publisher. */
static void
s_tap_join(vexfs_client_t *c, vexfs_tap_t *t)
{
    for (int i = 0; i < 100; i++) {
        char probe[128];
        snprintf(probe, sizeof probe, "{\"type\":\"user_action\",\"content\":{\"probe\":\"%d\"}}",
                 i);
        ck_assert_int_eq(vexfs_client_emit_json(c, probe, 1000), 1);
        ck_assert_int_eq(vexfs_client_flush(c, 5000), 0);
        char *json = NULL;
        while (vexfs_tap_next(t, 100, &json) == 0) {
            bool hit = strstr(json, "\"probe\"") != NULL;
            vexfs_free(json);
            if (hit) {
                while (vexfs_tap_next(t, 100, &json) == 0) { /* the other probes */
                    vexfs_free(json);
                }
                return;
            }
        }
    }
    ck_abort_msg("the tap showed no probe");
}

START_TEST(t_tap_reads_every_event_in_order)
{
    enum { n = 200 };
    struct ph_daemon d;
    s_zmq_init();
    ph_start(&d, NULL, NULL);
    zsock_t *pull = ph_pull(&d); /* routing's place: the output must be read */
    vexfs_client_t *c = s_client(&d, NULL);
    vexfs_tap_t *t = vexfs_tap_open(c, NULL);
    ck_assert_msg(t != NULL, "%s", vexfs_last_error());
    char *json = NULL;
    ck_assert_int_eq(vexfs_tap_next(t, 50, &json), -ETIMEDOUT);
    ck_assert_ptr_null(json);
    s_tap_join(c, t);
    struct s_ev e;
    for (unsigned i = 0; i < n; i++) {
        s_ev_make(&e, i);
        ck_assert_int_eq(vexfs_client_emit(c, &e.ev, 1000), 0);
    }
    ck_assert_int_eq(vexfs_client_flush(c, 10000), 0);
    for (unsigned i = 0; i < n; i++) {
        ck_assert_msg(vexfs_tap_next(t, 10000, &json) == 0, "event %u: %s", i,
                      vexfs_last_error());
        char want[64];
        snprintf(want, sizeof want, "\"content\":{\"n\":\"%u\"}", i);
        ck_assert_msg(strstr(json, want), "event %u: %s", i, json);
        ck_assert_msg(strstr(json, "\"type\":\"filesystem_write\""), "%s", json);
        vexfs_free(json);
    }
    uint64_t missed = 1, undecodable = 1;
    vexfs_tap_missed(t, &missed, &undecodable);
    ck_assert_uint_eq(missed, 0);
    ck_assert_uint_eq(undecodable, 0);
    vexfs_tap_close(&t);
    ck_assert_ptr_null(t);
    ck_assert_int_eq(vexfs_client_close(&c, 1000, NULL), 0);
    zsock_destroy(&pull);
    ph_stop(&d);
}
END_TEST

/* ---- the admin API ------------------------------------------------------------------------ */

START_TEST(t_admin_calls)
{
    struct ph_daemon d;
    s_zmq_init();
    ph_start(&d, NULL, NULL);
    zsock_t *pull = ph_pull(&d);
    vexfs_client_t *c = s_client(&d, NULL);
    long status = 0;
    char *answer = NULL;
    ck_assert_int_eq(vexfs_client_call(c, "propagation", "GET", "/v1/stats", NULL, &status,
                                       &answer),
                     0);
    ck_assert_int_eq(status, 200);
    ck_assert_msg(strstr(answer, "\"propagated\""), "%s", answer);
    vexfs_free(answer);

    /* Mutating call with the token: accepted. */
    ck_assert_int_eq(vexfs_client_call(c, "propagation", "POST", "/v1/events",
                                       "{\"type\":\"system\",\"content\":{\"k\":\"v\"}}", &status,
                                       &answer),
                     0);
    ck_assert_msg(status == 202, "HTTP %ld %s", status, answer);
    ck_assert_msg(strstr(answer, "\"accepted\":1"), "%s", answer);
    vexfs_free(answer);
    /* The daemon's refusal comes back as status and JSON, not as a library error. */
    ck_assert_int_eq(vexfs_client_call(c, "propagation", "POST", "/v1/events",
                                       "{\"type\":\"nope\"}", &status, &answer),
                     0);
    ck_assert_int_eq(status, 422);
    ck_assert_msg(strstr(answer, "\"error\"") && strstr(answer, "unknown event type"), "%s",
                  answer);
    vexfs_free(answer);
    ck_assert_int_eq(vexfs_client_call(c, "propagation", "GET", "/v1/nothing", NULL, &status,
                                       &answer),
                     0);
    ck_assert_int_eq(status, 404);
    vexfs_free(answer);

    /* Errors of the call itself: nothing sent. */
    ck_assert_int_eq(vexfs_client_call(c, "storage", "GET", "/v1/stats", NULL, &status, NULL),
                     -EINVAL);
    ck_assert_msg(strstr(vexfs_last_error(), "unknown service \"storage\""), "%s",
                  vexfs_last_error());
    ck_assert_int_eq(vexfs_client_call(c, "propagation", "PATCH", "/v1/config", "{}", &status,
                                       NULL),
                     -EINVAL);
    ck_assert_int_eq(vexfs_client_call(c, "propagation", "PUT", "/v1/config", "{\"a\":", &status,
                                       NULL),
                     -EINVAL);
    ck_assert_msg(strstr(vexfs_last_error(), "nothing was sent"), "%s", vexfs_last_error());
    ck_assert_int_eq(vexfs_client_call(c, "propagation", "GET", "v1/stats", NULL, &status, NULL),
                     -EINVAL);
    /* /metrics is Prometheus text, not JSON. */
    ck_assert_int_eq(vexfs_client_call(c, "propagation", "GET", "/metrics", NULL, &status,
                                       &answer),
                     -EPROTO);
    ck_assert_int_eq(status, 200);
    ck_assert_ptr_null(answer);
    ck_assert_msg(strstr(vexfs_last_error(), "not JSON"), "%s", vexfs_last_error());

    /* Without a credential (no token, no client certificate): the daemon's 401. A closed
     * port: -ECONNREFUSED. */
    vexfs_client_close(&c, 0, NULL);
    char url[64], ca[400];
    snprintf(url, sizeof url, "https://127.0.0.1:%u", (unsigned)vt_free_port());
    snprintf(ca, sizeof ca, "%s/ca.crt", vt_tls_dir());
    /* An identity without a certificate in tls_dir (the environment's VEXFS_SECURITY_TLS_DIR
     * overrides a tls_dir set here); its CURVE key is never read, as nothing is emitted. */
    const char *extra[] = {"token", "", "routing_url", url, "ca_file", ca,
                           "security.identity", "no-certificate", NULL};
    c = s_client(&d, extra);
    ck_assert_int_eq(vexfs_client_call(c, "propagation", "POST", "/v1/events",
                                       "{\"type\":\"system\"}", &status, &answer),
                     0);
    ck_assert_int_eq(status, 401);
    vexfs_free(answer);
    ck_assert_int_eq(vexfs_client_call(c, "routing", "GET", "/v1/stats", NULL, &status, &answer),
                     -ECONNREFUSED);
    ck_assert_msg(strstr(vexfs_last_error(), "nothing was sent"), "%s", vexfs_last_error());
    vexfs_client_close(&c, 0, NULL);

    /* A token file that cannot be read: the call says which. */
    const char *bad[] = {"token", "", "token_file", "/nonexistent/token", NULL};
    c = s_client(&d, bad);
    ck_assert_int_eq(vexfs_client_call(c, "propagation", "GET", "/v1/stats", NULL, &status, NULL),
                     -EACCES);
    ck_assert_msg(strstr(vexfs_last_error(), "/nonexistent/token"), "%s", vexfs_last_error());
    vexfs_client_close(&c, 0, NULL);
    zsock_destroy(&pull);
    ph_stop(&d);
}
END_TEST

static Suite *
s_suite(void)
{
    Suite *s = suite_create("client");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, t_config_keys);
    tcase_add_test(tc, t_config_file_and_environment);
    tcase_add_test(tc, t_client_refuses_bad_settings);
    suite_add_tcase(s, tc);
    tc = tcase_create("emit");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_emit_flush_delivers_exact_fields);
    tcase_add_test(tc, t_invalid_events_refused_and_nothing_taken);
    tcase_add_test(tc, t_clients_in_turn);
    tcase_add_test(tc, t_struct_sizes);
    tcase_add_test(tc, t_full_buffer_blocks_then_refuses);
    tcase_add_test(tc, t_kill9_at_least_once);
    tcase_add_test(tc, t_threads_emit_at_once);
    tcase_add_test(tc, t_close_reports_abandoned);
    suite_add_tcase(s, tc);
    tc = tcase_create("tap");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, t_tap_reads_every_event_in_order);
    suite_add_tcase(s, tc);
    tc = tcase_create("admin");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, t_admin_calls);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(s_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
