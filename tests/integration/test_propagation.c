/* SPDX-License-Identifier: Apache-2.0 */
/* The real vexfs-propagation process over loopback: completeness and order at volume, field
 * preservation, deduplication, bad input on both channels, live config, graceful shutdown,
 * the number of ZeroMQ I/O threads. */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "prop_harness.h"
#include "vx_test.h"
#include "vx_wire.h"

/* ---- volume and preservation ------------------------------------------------------------- */

struct s_flow {
    size_t count;
    uint64_t next_seq;
    uint64_t next_batch;
    uint64_t last_batch_seen;
    size_t errors;
    char first_error[256];
};

static void
s_flow_error(struct s_flow *f, const char *msg)
{
    if (f->errors++ == 0) {
        snprintf(f->first_error, sizeof f->first_error, "%s", msg);
    }
}

static void
cb_flow_event(const vx_batch_t *b, const vx_event_t *e, void *arg)
{
    struct s_flow *f = arg;
    char msg[256];
    if (b->batch_sequence != f->last_batch_seen) {
        if (b->batch_sequence != f->next_batch) {
            snprintf(msg, sizeof msg, "batch sequence %llu, expected %llu",
                     (unsigned long long)b->batch_sequence, (unsigned long long)f->next_batch);
            s_flow_error(f, msg);
        }
        f->last_batch_seen = b->batch_sequence;
        f->next_batch = b->batch_sequence + 1;
    }
    size_t i = f->count++;
    if (e->sequence != ++f->next_seq) {
        snprintf(msg, sizeof msg, "event %zu: sequence %llu, expected %llu", i,
                 (unsigned long long)e->sequence, (unsigned long long)f->next_seq);
        s_flow_error(f, msg);
        f->next_seq = e->sequence;
    }
    char want[32];
    snprintf(want, sizeof want, "%zu", i);
    bool ok = e->type == VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE && e->n_content == 1 &&
              strcmp(e->content[0]->key, "n") == 0 && strcmp(e->content[0]->value, want) == 0 &&
              e->n_metadata == 1 && strcmp(e->metadata[0]->value, "alice") == 0 &&
              strcmp(e->tenant, "acme") == 0 && e->priority == 7 &&
              e->source == VEXFS__V1__BOUNDARY__FUSE && e->timestamp_ns == 1000 + i &&
              strcmp(e->producer_id, "prop-test") == 0 && e->id.len == 16 &&
              strcmp(e->trace_id, "trace-fixed") == 0 && e->causality &&
              e->causality->n_vector_clock == 1 && e->causality->vector_clock[0]->counter == i &&
              e->ingest_ns > 0 && strncmp(e->path, "/data/f", 7) == 0;
    if (!ok) {
        snprintf(msg, sizeof msg, "event %zu: a field changed on the way (n=%s path=%s)", i,
                 e->n_content ? e->content[0]->value : "-", e->path);
        s_flow_error(f, msg);
    }
}

START_TEST(t_100k_events_complete_in_order_preserved)
{
    struct ph_daemon d;
    ph_start(&d, "  queue_hwm: 10000\n", NULL);
    zsock_t *push = ph_push(&d);
    zsock_t *pull = ph_pull(&d);
    enum { TOTAL = 100000, BATCH = 100 };
    static vx_event_t ev[BATCH];
    static Vexfs__V1__Event__ContentEntry ce[BATCH];
    static Vexfs__V1__Event__ContentEntry *cep[BATCH];
    static Vexfs__V1__Event__MetadataEntry me;
    static Vexfs__V1__Event__MetadataEntry *mep[1];
    static Vexfs__V1__Causality cz[BATCH];
    static Vexfs__V1__ClockEntry clk[BATCH];
    static Vexfs__V1__ClockEntry *clkp[BATCH];
    static char nbuf[BATCH][16], pbuf[BATCH][32];
    vx_event_t *ptrs[BATCH];
    Vexfs__V1__Event__MetadataEntry minit = VEXFS__V1__EVENT__METADATA_ENTRY__INIT;
    me = minit;
    me.key = (char *)"user";
    me.value = (char *)"alice";
    mep[0] = &me;
    for (size_t sent = 0, bseq = 1; sent < TOTAL; bseq++) {
        for (size_t k = 0; k < BATCH; k++, sent++) {
            vx_event_t init = VEXFS__V1__EVENT__INIT;
            Vexfs__V1__Event__ContentEntry cinit = VEXFS__V1__EVENT__CONTENT_ENTRY__INIT;
            Vexfs__V1__Causality czinit = VEXFS__V1__CAUSALITY__INIT;
            Vexfs__V1__ClockEntry clinit = VEXFS__V1__CLOCK_ENTRY__INIT;
            ev[k] = init;
            ce[k] = cinit;
            cz[k] = czinit;
            clk[k] = clinit;
            snprintf(nbuf[k], sizeof nbuf[k], "%zu", sent);
            snprintf(pbuf[k], sizeof pbuf[k], "/data/f%zu", sent % 1000);
            ce[k].key = (char *)"n";
            ce[k].value = nbuf[k];
            cep[k] = &ce[k];
            clk[k].node = (char *)"node-a";
            clk[k].counter = sent;
            clkp[k] = &clk[k];
            cz[k].n_vector_clock = 1;
            cz[k].vector_clock = &clkp[k];
            ev[k].type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
            ev[k].source = VEXFS__V1__BOUNDARY__FUSE;
            ev[k].path = pbuf[k];
            ev[k].n_content = 1;
            ev[k].content = &cep[k];
            ev[k].n_metadata = 1;
            ev[k].metadata = mep;
            ev[k].tenant = (char *)"acme";
            ev[k].priority = 7;
            ev[k].timestamp_ns = 1000 + sent;
            ev[k].trace_id = (char *)"trace-fixed";
            ev[k].causality = &cz[k];
            ptrs[k] = &ev[k];
        }
        vx_batch_t b = VEXFS__V1__EVENT_BATCH__INIT;
        b.events = ptrs;
        b.n_events = BATCH;
        b.sender = (char *)"test-sender";
        b.batch_sequence = bseq;
        ck_assert_int_eq(vx_wire_send(push, "events", &b, 0), 0);
    }
    struct s_flow f = {0};
    f.next_batch = 1;
    size_t got = ph_receive(pull, TOTAL, 20000, cb_flow_event, &f);
    ck_assert_msg(got == TOTAL, "expected %d events downstream, got %zu", TOTAL, got);
    ck_assert_msg(f.errors == 0, "%zu errors, first: %s", f.errors, f.first_error);
    ck_assert_double_eq(ph_wait_metric(&d, "vexfs_events_processed_total", TOTAL, 5000), TOTAL);
    ck_assert_double_eq(ph_metric(&d, "vexfs_sequence_gaps_total{link=\"ingest\"}"), 0);
    zsock_destroy(&push);
    zsock_destroy(&pull);
    int st = ph_stop(&d);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
}
END_TEST

/* ---- deduplication ------------------------------------------------------------------------- */

static void
s_send_one(zsock_t *push, const char *path, const char *value, uint64_t bseq)
{
    vx_event_t e = VEXFS__V1__EVENT__INIT;
    Vexfs__V1__Event__ContentEntry c = VEXFS__V1__EVENT__CONTENT_ENTRY__INIT;
    Vexfs__V1__Event__ContentEntry *cp = &c;
    c.key = (char *)"v";
    c.value = (char *)value;
    e.type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
    e.path = (char *)path;
    e.n_content = 1;
    e.content = &cp;
    vx_event_t *ep = &e;
    vx_batch_t b = VEXFS__V1__EVENT_BATCH__INIT;
    b.events = &ep;
    b.n_events = 1;
    b.sender = (char *)"dedup-test";
    b.batch_sequence = bseq;
    ck_assert_int_eq(vx_wire_send(push, "events", &b, 0), 0);
}

START_TEST(t_dedup_inside_and_outside_window)
{
    struct ph_daemon d;
    ph_start(&d, "  dedup_window_ms: 400\n", NULL);
    zsock_t *push = ph_push(&d);
    zsock_t *pull = ph_pull(&d);
    s_send_one(push, "/a", "1", 1);
    s_send_one(push, "/a", "1", 2); /* duplicate inside the window */
    s_send_one(push, "/a", "2", 3); /* different content: kept */
    ck_assert_uint_eq(ph_receive(pull, 2, 5000, NULL, NULL), 2);
    usleep(600 * 1000);             /* past the 400 ms window */
    s_send_one(push, "/a", "1", 4); /* same content, outside the window: kept */
    ck_assert_uint_eq(ph_receive(pull, 1, 5000, NULL, NULL), 1);
    ck_assert_uint_eq(ph_receive(pull, 1, 300, NULL, NULL), 0);
    ck_assert_double_eq(ph_metric(&d, "vexfs_events_deduplicated_total"), 1);
    ck_assert_double_eq(ph_metric(&d, "vexfs_events_dropped_total{reason=\"duplicate\"}"), 1);
    ck_assert_double_eq(ph_metric(&d, "vexfs_events_processed_total"), 3);
    zsock_destroy(&push);
    zsock_destroy(&pull);
    ph_stop(&d);
}
END_TEST

START_TEST(t_rest_dedup_and_live_window)
{
    struct ph_daemon d;
    ph_start(&d, "  dedup_window_ms: 60000\n", NULL);
    zsock_t *pull = ph_pull(&d);
    const char *ev = "[{\"type\":\"filesystem_create\",\"path\":\"/r\"},"
                     "{\"type\":\"filesystem_create\",\"path\":\"/r\"}]";
    struct vt_http_result r;
    ck_assert_int_eq(vt_http("POST", d.rest_port, "/v1/events", ev, strlen(ev), PH_TOKEN, &r), 0);
    ck_assert_msg(r.status == 202, "status %ld: %s", r.status, r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "accepted")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "duplicates")), 1);
    ck_assert_int_eq(json_array_size(json_object_get(j, "ids")), 1);
    json_decref(j);
    vt_http_result_fini(&r);
    ck_assert_uint_eq(ph_receive(pull, 1, 5000, NULL, NULL), 1);

    /* Shrink the window live; a bad value is refused and changes nothing. */
    const char *bad = "{\"dedup_window_ms\": 0}";
    ck_assert_int_eq(vt_http("PUT", d.rest_port, "/v1/config", bad, strlen(bad), PH_TOKEN, &r), 0);
    ck_assert_msg(r.status == 422 && strstr(r.body, "dedup_window_ms: must be between"),
                  "status %ld: %s", r.status, r.body);
    vt_http_result_fini(&r);
    const char *fixed = "{\"rest_port\": 1}";
    ck_assert_int_eq(vt_http("PUT", d.rest_port, "/v1/config", fixed, strlen(fixed), PH_TOKEN, &r),
                     0);
    ck_assert_msg(r.status == 422 && strstr(r.body, "restart needed"), "status %ld: %s", r.status,
                  r.body);
    vt_http_result_fini(&r);
    const char *good = "{\"dedup_window_ms\": 50}";
    ck_assert_int_eq(vt_http("PUT", d.rest_port, "/v1/config", good, strlen(good), PH_TOKEN, &r),
                     0);
    ck_assert_msg(r.status == 200, "status %ld: %s", r.status, r.body);
    vt_http_result_fini(&r);
    ck_assert_int_eq(vt_http("GET", d.rest_port, "/v1/config", NULL, 0, NULL, &r), 0);
    ck_assert_msg(strstr(r.body, "\"dedup_window_ms\": 50") || strstr(r.body, "\"dedup_window_ms\":50"),
                  "config: %s", r.body);
    vt_http_result_fini(&r);
    usleep(200 * 1000);
    ck_assert_int_eq(vt_http("POST", d.rest_port, "/v1/events", ev, strlen(ev), PH_TOKEN, &r), 0);
    ck_assert_msg(r.status == 202 && strstr(r.body, "\"accepted\":1") &&
                      strstr(r.body, "\"duplicates\":1"),
                  "status %ld: %s", r.status, r.body);
    vt_http_result_fini(&r);
    ck_assert_uint_eq(ph_receive(pull, 1, 5000, NULL, NULL), 1);
    zsock_destroy(&pull);
    ph_stop(&d);
}
END_TEST

/* ---- bad input --------------------------------------------------------------------------- */

struct s_bad_rest {
    const char *method;
    const char *path;
    const char *body;
    const char *token;
    long status;
    const char *needle;
};

START_TEST(t_bad_input_rest)
{
    struct ph_daemon d;
    ph_start(&d, NULL, "  body_limit_bytes: 4096\n");
    char big[6000];
    memset(big, ' ', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big, "{\"type\":\"system\",\"path\":\"/big\"}", 31);
    const struct s_bad_rest cases[] = {
        {"POST", "/v1/events", "{\"type\": \"filesystem_write\",", PH_TOKEN, 400, "line 1"},
        {"POST", "/v1/events", "{\"type\":\"filesystem_write\",\"path\":\"/a\",\"priority\":\"high\"}",
         PH_TOKEN, 400, "field 'priority': expected an integer 0..255"},
        {"POST", "/v1/events", "{\"type\":\"filesystem_teleport\",\"path\":\"/a\"}", PH_TOKEN, 422,
         "unknown event type 'filesystem_teleport'"},
        {"POST", "/v1/events", "[{\"type\":\"system\"},{\"type\":\"filesystem_write\"}]", PH_TOKEN,
         422, "events[1]: field 'path': required for filesystem_write events"},
        {"POST", "/v1/events", big, PH_TOKEN, 413, "\"error\""},
        {"POST", "/v1/events", "{\"type\":\"system\"}", NULL, 401, "\"error\""},
        {"POST", "/v1/events", "{\"type\":\"system\"}", "wrong-token", 401, "\"error\""},
        {"PUT", "/v1/config", "{\"dedup_window_ms\": 5}", NULL, 401, "\"error\""},
        {"POST", "/v1/events?durable=true", "{\"type\":\"system\"}", PH_TOKEN, 409,
         "kafka_brokers"},
        {"DELETE", "/v1/events", NULL, PH_TOKEN, 405, "\"error\""},
        {"GET", "/v1/nothing", NULL, NULL, 404, "\"error\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct s_bad_rest *c = &cases[i];
        struct vt_http_result r;
        /* No token: a stranger's request (no client certificate either). */
        int rc = c->token ? vt_http(c->method, d.rest_port, c->path, c->body,
                                    c->body ? strlen(c->body) : 0, c->token, &r)
                          : vt_http_anon(c->method, d.rest_port, c->path, c->body, &r);
        ck_assert_int_eq(rc, 0);
        ck_assert_msg(r.status == c->status && strstr(r.body, c->needle),
                      "case %zu (%s %s): expected %ld with '%s', got %ld: %s", i, c->method,
                      c->path, c->status, c->needle, r.status, r.body);
        ck_assert_msg(r.content_type && strstr(r.content_type, "application/json"),
                      "case %zu: error body is not JSON", i);
        vt_http_result_fini(&r);
    }
    /* Counted by reason, nothing forwarded, and the daemon still serves. */
    ck_assert_double_eq(ph_metric(&d, "vexfs_events_dropped_total{reason=\"unknown_type\"}"), 1);
    ck_assert_double_eq(ph_metric(&d, "vexfs_events_dropped_total{reason=\"missing_path\"}"), 1);
    ck_assert_double_ge(ph_metric(&d, "vexfs_events_dropped_total{reason=\"bad_json\"}"), 1);
    ck_assert_double_eq(ph_metric(&d, "vexfs_events_processed_total"), 0);
    zsock_t *pull = ph_pull(&d);
    const char *ok = "{\"type\":\"system\"}";
    struct vt_http_result r;
    ck_assert_int_eq(vt_http("POST", d.rest_port, "/v1/events", ok, strlen(ok), PH_TOKEN, &r), 0);
    ck_assert_msg(r.status == 202, "valid event after bad ones: %ld %s", r.status, r.body);
    vt_http_result_fini(&r);
    ck_assert_uint_eq(ph_receive(pull, 1, 5000, NULL, NULL), 1);
    zsock_destroy(&pull);
    ph_stop(&d);
}
END_TEST

START_TEST(t_bad_input_zmq)
{
    struct ph_daemon d;
    ph_start(&d, NULL, NULL);
    zsock_t *push = ph_push(&d);
    zsock_t *pull = ph_pull(&d);
    const uint8_t garbage[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02};
    zmsg_t *m = zmsg_new();
    zmsg_addstr(m, "events");
    zmsg_addmem(m, garbage, sizeof garbage);
    ck_assert_int_eq(zmsg_send(&m, push), 0);
    zstr_send(push, "one-frame-only");
    zstr_sendx(push, "events", "a", "b", NULL);
    /* An event that decodes but is invalid: counted, not forwarded. */
    vx_event_t bad = VEXFS__V1__EVENT__INIT;
    bad.type = 4242;
    vx_event_t *bp = &bad;
    vx_batch_t b = VEXFS__V1__EVENT_BATCH__INIT;
    b.events = &bp;
    b.n_events = 1;
    ck_assert_int_eq(vx_wire_send(push, "events", &b, 0), 0);
    s_send_one(push, "/still/works", "1", 0);
    ck_assert_uint_eq(ph_receive(pull, 1, 5000, NULL, NULL), 1);
    ck_assert_double_eq(ph_metric(&d, "vexfs_events_dropped_total{reason=\"bad_protobuf\"}"), 1);
    ck_assert_double_eq(ph_metric(&d, "vexfs_events_dropped_total{reason=\"bad_frame\"}"), 2);
    ck_assert_double_eq(ph_metric(&d, "vexfs_events_dropped_total{reason=\"unknown_type\"}"), 1);
    zsock_destroy(&push);
    zsock_destroy(&pull);
    ph_stop(&d);
}
END_TEST

START_TEST(t_sequence_gap_counted)
{
    struct ph_daemon d;
    ph_start(&d, NULL, NULL);
    zsock_t *push = ph_push(&d);
    zsock_t *pull = ph_pull(&d);
    s_send_one(push, "/g", "1", 1);
    s_send_one(push, "/g", "2", 2);
    s_send_one(push, "/g", "3", 5); /* batches 3 and 4 never came */
    ck_assert_uint_eq(ph_receive(pull, 3, 5000, NULL, NULL), 3);
    ck_assert_double_eq(ph_metric(&d, "vexfs_sequence_gaps_total{link=\"ingest\"}"), 2);
    zsock_destroy(&push);
    zsock_destroy(&pull);
    ph_stop(&d);
}
END_TEST

/* ---- shutdown ----------------------------------------------------------------------------- */

START_TEST(t_sigterm_flushes_everything)
{
    struct ph_daemon d;
    /* A long batching delay: events sit in the output batch until shutdown flushes them. */
    ph_start(&d, "  batch_max_events: 10000\n  batch_max_delay_us: 1000000\n", NULL);
    zsock_t *push = ph_push(&d);
    for (int i = 0; i < 500; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        s_send_one(push, "/s", v, 0);
    }
    /* Wait until all 500 were received by the daemon, then stop it before routing connects. */
    for (int i = 0; i < 500 && ph_metric(&d, "vexfs_events_received_total{channel=\"zmq\"}") < 500;
         i++) {
        usleep(10 * 1000);
    }
    zsock_t *pull = ph_pull(&d);
    int st = ph_stop(&d);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
    ck_assert_uint_eq(ph_receive(pull, 500, 5000, NULL, NULL), 500);
    zsock_destroy(&push);
    zsock_destroy(&pull);
}
END_TEST

/* ---- the acknowledged ingest -------------------------------------------------------------- */

/* The sequence of the next acknowledgement on dealer, 0 when none came within timeout_ms. */
static uint64_t
s_next_ack(zsock_t *dealer, int timeout_ms)
{
    zsock_set_rcvtimeo(dealer, timeout_ms);
    zmsg_t *m = zmsg_recv(dealer);
    if (!m) {
        return 0;
    }
    ck_assert_uint_eq(zmsg_size(m), 2);
    zframe_t *f = zmsg_first(m);
    ck_assert(zframe_streq(f, "ack"));
    f = zmsg_next(m);
    ck_assert_uint_eq(zframe_size(f), 8);
    uint64_t seq = 0;
    for (int i = 7; i >= 0; i--) {
        seq = seq << 8 | zframe_data(f)[i];
    }
    zmsg_destroy(&m);
    return seq;
}

START_TEST(t_acked_ingest)
{
    const char *kafka = getenv("VEXFS_KAFKA_BOOTSTRAP");
    ck_assert_msg(kafka && *kafka, "VEXFS_KAFKA_BOOTSTRAP is not set (run through run-tests.sh)");
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "  dedup_window_ms: 60000\n  kafka_brokers: %s\n  kafka_topic: acked-%d\n", kafka,
             (int)getpid());
    struct ph_daemon d;
    ph_start(&d, yaml, NULL);
    zsock_t *pull = ph_pull(&d);
    zsock_t *dealer = vt_sock(ZMQ_DEALER, d.acked, false);
    ck_assert_ptr_nonnull(dealer);

    s_send_one(dealer, "/acked/a", "1", 1);
    s_send_one(dealer, "/acked/a", "2", 2);
    ck_assert_uint_eq(s_next_ack(dealer, 30000), 1);
    ck_assert_uint_eq(s_next_ack(dealer, 30000), 2);
    /* Acknowledged only once journaled (ingest_ack_durable is on by default). */
    ck_assert_double_ge(ph_metric(&d, "vexfs_kafka_delivered_total"), 2);
    ck_assert_uint_eq(ph_receive(pull, 2, 5000, NULL, NULL), 2);

    /* A resend: acknowledged again, its event removed by the dedup window. */
    s_send_one(dealer, "/acked/a", "1", 1);
    ck_assert_uint_eq(s_next_ack(dealer, 30000), 1);
    ck_assert_double_eq(ph_metric(&d, "vexfs_events_deduplicated_total"), 1);
    ck_assert_double_eq(ph_metric(&d, "vexfs_batches_replayed_total"), 1);
    ck_assert_uint_eq(ph_receive(pull, 1, 300, NULL, NULL), 0);

    /* Without a batch_sequence: processed, never acknowledged, counted. */
    s_send_one(dealer, "/acked/b", "1", 0);
    ck_assert_uint_eq(ph_receive(pull, 1, 5000, NULL, NULL), 1);
    ck_assert_uint_eq(s_next_ack(dealer, 500), 0);
    ck_assert_double_eq(ph_metric(&d, "vexfs_ingest_unacknowledged_batches_total"), 1);
    ck_assert_double_eq(ph_metric(&d, "vexfs_ingest_acks_total"), 3);

    /* The plain PULL ingest still works beside it. */
    zsock_t *push = ph_push(&d);
    s_send_one(push, "/acked/c", "1", 1);
    ck_assert_uint_eq(ph_receive(pull, 1, 5000, NULL, NULL), 1);

    zsock_destroy(&push);
    zsock_destroy(&dealer);
    zsock_destroy(&pull);
    ph_stop(&d);
}
END_TEST

/* ---- transport ---------------------------------------------------------------------------- */

/* libzmq I/O threads of process pid (named ZMQbg/IO/N). */
static int
s_io_threads_of(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *dir = opendir(path);
    ck_assert_ptr_nonnull(dir);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        char comm_path[128], comm[64] = "";
        snprintf(comm_path, sizeof comm_path, "%s/%s/comm", path, de->d_name);
        FILE *f = de->d_name[0] != '.' ? fopen(comm_path, "r") : NULL;
        if (f) {
            n += fgets(comm, sizeof comm, f) && strncmp(comm, "ZMQbg/IO/", 9) == 0;
            fclose(f);
        }
    }
    closedir(dir);
    return n;
}

/* transport.io_threads 0 (the default) gives propagation two I/O threads, one per busy
 * encrypted link; a configured number is taken as it is. */
START_TEST(t_io_threads)
{
    struct ph_daemon d;
    ph_start(&d, NULL, NULL);
    ck_assert_int_eq(s_io_threads_of(d.pid), 2);
    ph_stop(&d);
    ph_start(&d, NULL, "transport:\n  io_threads: 3\n");
    ck_assert_int_eq(s_io_threads_of(d.pid), 3);
    ph_stop(&d);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("propagation");
    TCase *tc = tcase_create("flow");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_100k_events_complete_in_order_preserved);
    tcase_add_test(tc, t_sequence_gap_counted);
    tcase_add_test(tc, t_sigterm_flushes_everything);
    tcase_add_test(tc, t_acked_ingest);
    tcase_add_test(tc, t_io_threads);
    suite_add_tcase(s, tc);
    tc = tcase_create("dedup");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, t_dedup_inside_and_outside_window);
    tcase_add_test(tc, t_rest_dedup_and_live_window);
    suite_add_tcase(s, tc);
    tc = tcase_create("bad_input");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, t_bad_input_rest);
    tcase_add_test(tc, t_bad_input_zmq);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
