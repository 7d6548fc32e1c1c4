/* SPDX-License-Identifier: Apache-2.0 */
/* End to end on one machine: an event pushed into vexfs-propagation travels through
 * vexfs-routing to vexfs-analytics and updates a window there. Latency is what analytics
 * exports in vexfs_analytics_ingest_latency_seconds (propagation's acceptance stamp to the
 * windows holding the event), read as the difference of its buckets over each run, so each
 * rate has its own p50 and p99 (interpolated inside a bucket). Paced load at 10k, 50k and
 * 100k events/s, then doubling until a rate is not sustained: not every event reached the
 * windows within 3 s of the end of the run, an event was dropped anywhere, or the producer
 * could not keep the pace. Routing's analytics boundary is ZeroMQ, and, when a Kafka broker is
 * given in VEXFS_KAFKA_BOOTSTRAP, also the Kafka topic analytics reads in a consumer group.
 * Every link is secured as in production: the daemons run with the test support's key set and
 * certificates (CURVE on every ZeroMQ link, HTTPS on every REST server), and the producer here
 * opens its socket through the suite's factory (vt_sock_ex, CURVE as the identity "ctl").
 * Usage: bench_suite [--only zeromq|kafka] [--journal] [--partitions N] [--external]
 * [SECONDS_PER_RATE] (default 4 s per rate); programs from $VX_BIN_DIR.
 *   --journal   propagation also journals every event to Kafka (as the compose profile does)
 *   --partitions N  of the topics created here (default 1; the compose broker makes 6)
 *   --external  start nothing: measure a suite already running elsewhere (the containers of
 *               scripts/compose-test.sh), given as VX_SUITE_INGEST (propagation's ZeroMQ
 *               ingest) and VX_SUITE_PROPAGATION_URL, VX_SUITE_ROUTING_URL,
 *               VX_SUITE_ANALYTICS_URL (REST base URLs). Its routing must send the writes
 *               under /srv/bench/ to analytics, which must run the query bytes-per-user.
 *               A secured deployment's material: VX_SUITE_SECRETS, the folder
 *               scripts/deploy-secrets.sh made (CURVE as its identity "ctl" with keys/,
 *               HTTPS trusting tls/ca.crt and presenting the admin certificate tls/ctl.crt);
 *               VX_SUITE_RESOLVE, "host:port:address,..." for URLs that name hosts the
 *               machine cannot resolve (the names the deployment's certificate holds). */
#include <czmq.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vt_kafka.h"
#include "vx_clock.h"
#include "vx_test.h"
#include "vx_wire.h"

#define TOKEN "bench-token"
#define MAX_BUCKETS 64

enum { D_PROP = 0, D_ROUTING, D_ANALYTICS, D_N };
static const char *const s_prog[D_N] = {"propagation", "routing", "analytics"};

struct suite {
    char dir[256];
    bool external;      /* measured, not started here */
    bool journal;       /* propagation journals to Kafka too */
    int partitions;     /* of the Kafka topics created here */
    char url[D_N][160]; /* REST base URL of each daemon */
    char ingest_ep[160];
    uint16_t rest[D_N];
    uint16_t ingest, prop_out, out_an;
    pid_t pid[D_N];
    const char *kafka; /* NULL: the analytics boundary is ZeroMQ */
    char topic[160];
};

/* ---- metrics ---------------------------------------------------------------------------------- */

struct hist {
    size_t n;
    double le[MAX_BUCKETS]; /* upper bounds; the last is +Inf */
    double count[MAX_BUCKETS];
};

static char *
s_get_metrics(const struct suite *s, int d)
{
    struct vt_http_result r;
    char *out = NULL, url[200];
    snprintf(url, sizeof url, "%s/metrics", s->url[d]);
    if (vt_http_url("GET", url, NULL, 0, NULL, &r) == 0 && r.status == 200 && r.body) {
        out = strdup(r.body);
    }
    vt_http_result_fini(&r);
    return out;
}

/* A counter summed over its series; 0 when it has none yet (labelled counters appear with
 * their first increment). */
static double
s_metric(const struct suite *s, int d, const char *name)
{
    char *text = s_get_metrics(s, d);
    double v = text ? vt_metric_text_sum(text, name) : -1;
    free(text);
    return v < 0 ? 0 : v;
}

static void
s_hist(const struct suite *s, int d, const char *name, struct hist *h)
{
    memset(h, 0, sizeof *h);
    char *t = s_get_metrics(s, d);
    char prefix[160];
    snprintf(prefix, sizeof prefix, "%s_bucket{le=\"", name);
    size_t pn = strlen(prefix);
    for (const char *line = t; line && *line && h->n < MAX_BUCKETS;) {
        const char *eol = strchr(line, '\n');
        if (strncmp(line, prefix, pn) == 0) {
            const char *le = line + pn;
            h->le[h->n] = strncmp(le, "+Inf", 4) == 0 ? INFINITY : strtod(le, NULL);
            const char *v = strchr(le, '}');
            h->count[h->n] = v ? strtod(v + 1, NULL) : 0;
            h->n++;
        }
        line = eol ? eol + 1 : NULL;
    }
    free(t);
}

/* Quantile q of the observations between two reads of a cumulative histogram; linear inside
 * the bucket. NAN without observations. */
static double
s_quantile(const struct hist *a, const struct hist *b, double q)
{
    if (a->n != b->n || b->n == 0) {
        return NAN;
    }
    double total = b->count[b->n - 1] - a->count[a->n - 1];
    if (total <= 0) {
        return NAN;
    }
    double rank = q * total, prev_c = 0, prev_le = 0;
    for (size_t i = 0; i < b->n; i++) {
        double c = b->count[i] - a->count[i];
        if (c >= rank) {
            if (isinf(b->le[i])) {
                return prev_le; /* beyond the last bound: report it as a lower bound */
            }
            double inside = c - prev_c;
            return prev_le + (inside > 0 ? (rank - prev_c) / inside : 0) * (b->le[i] - prev_le);
        }
        prev_c = c;
        prev_le = b->le[i];
    }
    return NAN;
}

/* Every event dropped anywhere along the way. */
static double
s_drops(const struct suite *s)
{
    return s_metric(s, D_PROP, "vexfs_events_dropped_total") +
           s_metric(s, D_ROUTING, "vexfs_events_dropped_total") +
           s_metric(s, D_ANALYTICS, "vexfs_analytics_dropped_total");
}

/* ---- the suite ------------------------------------------------------------------------------- */

static int
s_start(struct suite *s, int d)
{
    char bin[512], cfg[400], log[400];
    snprintf(bin, sizeof bin, "%s/vexfs-%s", vt_bin_dir(), s_prog[d]);
    snprintf(cfg, sizeof cfg, "%s/suite.yaml", s->dir);
    snprintf(log, sizeof log, "%s/%s.log", s->dir, s_prog[d]);
    char *argv[] = {bin, (char *)"--config", cfg, NULL};
    s->pid[d] = vt_spawn(argv, NULL, log);
    if (s->pid[d] <= 0 || !vt_wait_ready(s->rest[d], 60000)) {
        fprintf(stderr, "bench: %s did not start; see %s\n", s_prog[d], log);
        return -1;
    }
    return 0;
}

static void
s_stop(struct suite *s)
{
    for (int d = D_N - 1; d >= 0; d--) {
        if (s->pid[d] > 0) {
            vt_stop(s->pid[d], SIGTERM, 30000);
            s->pid[d] = 0;
        }
    }
}

static int
s_create_topic(const char *brokers, const char *topic, int partitions)
{
    char err[512];
    rd_kafka_conf_t *c = vt_kafka_conf(brokers);
    if (!c) {
        return -1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "bench: Kafka client: %s\n", err);
        return -1;
    }
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1, err, sizeof err);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    int rc = ev ? 0 : -1;
    if (ev) {
        size_t n;
        const rd_kafka_topic_result_t **tr =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        if (n != 1 || (rd_kafka_topic_result_error(tr[0]) != RD_KAFKA_RESP_ERR_NO_ERROR &&
                       rd_kafka_topic_result_error(tr[0]) !=
                           RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)) {
            fprintf(stderr, "bench: creating %s failed\n", topic);
            rc = -1;
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_destroy(rk);
    sleep(1); /* the new topic's metadata reaches the listeners */
    return rc;
}

static int
s_suite_start(struct suite *s)
{
    char *dir = vt_tmpdir();
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    free(dir);
    for (int d = 0; d < D_N; d++) {
        s->rest[d] = vt_free_port();
        /* The daemons serve HTTPS with the test support's material (vt_http_url trusts it). */
        snprintf(s->url[d], sizeof s->url[d], "%s://127.0.0.1:%u",
                 vt_tls_dir()[0] ? "https" : "http", (unsigned)s->rest[d]);
    }
    s->ingest = vt_free_port();
    s->prop_out = vt_free_port();
    s->out_an = vt_free_port();
    snprintf(s->ingest_ep, sizeof s->ingest_ep, "tcp://127.0.0.1:%u", (unsigned)s->ingest);
    char rules[400], queries[400], tok[400], cfg[400], text[4096], prefix[160] = "";
    snprintf(rules, sizeof rules, "%s/rules.yaml", s->dir);
    snprintf(queries, sizeof queries, "%s/queries.json", s->dir);
    snprintf(tok, sizeof tok, "%s/token", s->dir);
    snprintf(cfg, sizeof cfg, "%s/suite.yaml", s->dir);
    vt_write_file(tok, TOKEN "\n");
    vt_write_file(rules, "rules:\n  - id: all-writes\n    priority: 1\n"
                         "    conditions: {event_types: [filesystem_write]}\n"
                         "    target_boundaries: [analytics]\n");
    vt_write_file(queries,
                  "[{\"id\":\"bytes-per-user\",\"event_types\":[\"filesystem_write\"],"
                  "\"window\":{\"kind\":\"tumbling\",\"size_ms\":1000,\"allowed_lateness_ms\":100},"
                  "\"group_by\":[\"metadata.user_id\"],"
                  "\"aggregations\":[{\"fn\":\"count\",\"as\":\"writes\"},"
                  "{\"fn\":\"sum\",\"field\":\"content.size\",\"as\":\"bytes\"}]}]");
    if (s->kafka) {
        snprintf(s->topic, sizeof s->topic, "vexfs.bench.%d.%ld.routed.analytics", (int)getpid(),
                 (long)time(NULL));
        snprintf(prefix, sizeof prefix, "%.*s", (int)(strlen(s->topic) - strlen("analytics")),
                 s->topic);
        if (s_create_topic(s->kafka, s->topic, s->partitions) < 0) {
            return -1;
        }
    }
    char journal[400] = "";
    if (s->kafka && s->journal) {
        char jt[200];
        snprintf(jt, sizeof jt, "%s.journal", s->topic);
        if (s_create_topic(s->kafka, jt, s->partitions) < 0) {
            return -1;
        }
        snprintf(journal, sizeof journal, "  kafka_brokers: \"%s\"\n  kafka_topic: \"%s.journal\"\n",
                 s->kafka, s->topic);
    }
    snprintf(text, sizeof text,
             "event_propagation:\n  ingest_endpoint: tcp://127.0.0.1:%u\n"
             "  output_endpoint: tcp://127.0.0.1:%u\n  tap_endpoint: \"\"\n  rest_port: %u\n%s"
             "event_routing:\n  input_endpoint: tcp://127.0.0.1:%u\n"
             "  output_analytics: tcp://127.0.0.1:%u\n  output_automation: \"\"\n"
             "  output_coordinator: \"\"\n  output_graph: \"\"\n  output_vector: \"\"\n"
             "  rules_file: %s\n  rest_port: %u\n  kafka_brokers: \"%s\"\n"
             "  kafka_topic_prefix: \"%s\"\n"
             "stream_analytics:\n  input_endpoint: \">tcp://127.0.0.1:%u\"\n"
             "  results_endpoint: \"\"\n  queries_file: %s\n  rest_port: %u\n"
             "  kafka_brokers: \"%s\"\n  topic: \"%s\"\n  results_topic: \"%s.results\"\n"
             "  group_id: \"bench-%d\"\n"
             "admin:\n  token_file: %s\nlogging:\n  level: warn\n",
             s->ingest, s->prop_out, s->rest[D_PROP], journal, s->prop_out, s->out_an, rules,
             s->rest[D_ROUTING], s->kafka ? s->kafka : "", s->kafka ? prefix : "vexfs.routed.",
             s->out_an, queries, s->rest[D_ANALYTICS], s->kafka ? s->kafka : "",
             s->kafka ? s->topic : "vexfs.routed.analytics",
             s->kafka ? s->topic : "vexfs.analytics", (int)getpid(), tok);
    vt_write_file(cfg, text);
    for (int d = 0; d < D_N; d++) {
        if (s_start(s, d) < 0) {
            return -1;
        }
    }
    return 0;
}

/* ---- load ------------------------------------------------------------------------------------ */

#define N_USERS 64

/* One packed batch of `n` writes, their event time now. */
static void
s_send_batch(zsock_t *push, int n, uint64_t seq)
{
    static char paths[1000][48], users[N_USERS][8];
    vx_event_t ev[1000];
    vx_event_t *ptrs[1000];
    Vexfs__V1__Event__ContentEntry c[1000], *cp[1000][1];
    Vexfs__V1__Event__MetadataEntry m[1000], *mp[1000][1];
    uint64_t now = vx_wall_ns();
    for (int k = 0; k < n; k++) {
        vx_event_t init = VEXFS__V1__EVENT__INIT;
        Vexfs__V1__Event__ContentEntry ci = VEXFS__V1__EVENT__CONTENT_ENTRY__INIT;
        Vexfs__V1__Event__MetadataEntry mi = VEXFS__V1__EVENT__METADATA_ENTRY__INIT;
        ev[k] = init;
        c[k] = ci;
        m[k] = mi;
        int u = (int)((seq * 7 + (uint64_t)k) % N_USERS);
        snprintf(paths[k], sizeof paths[k], "/srv/bench/%d/%llu-%d", u,
                 (unsigned long long)seq, k);
        snprintf(users[u], sizeof users[u], "u%d", u);
        c[k].key = (char *)"size";
        c[k].value = (char *)"4096";
        cp[k][0] = &c[k];
        m[k].key = (char *)"user_id";
        m[k].value = users[u];
        mp[k][0] = &m[k];
        ev[k].type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
        ev[k].path = paths[k];
        ev[k].timestamp_ns = now;
        ev[k].n_content = 1;
        ev[k].content = cp[k];
        ev[k].n_metadata = 1;
        ev[k].metadata = mp[k];
        ptrs[k] = &ev[k];
    }
    vx_batch_t b = VEXFS__V1__EVENT_BATCH__INIT;
    b.events = ptrs;
    b.n_events = (size_t)n;
    b.sender = (char *)"bench-suite";
    b.batch_sequence = seq;
    vx_wire_send(push, "events", &b, 0);
}

struct result {
    double rate, achieved, p50, p99, delivered, sent, drops;
    bool sustained;
};

/* Waits (up to 2 minutes) until analytics has consumed what a rate that was not sustained left
 * queued: its event counter stands still for 1.5 s. The next rate then measures itself only. */
static void
s_drain(const struct suite *s)
{
    double last = -1;
    uint64_t changed = vx_mono_ns(), deadline = changed + 120 * VX_NS_PER_S;
    while (vx_mono_ns() < deadline) {
        double v = s_metric(s, D_ANALYTICS, "vexfs_analytics_events_total");
        if (v != last) {
            last = v;
            changed = vx_mono_ns();
        } else if (vx_mono_ns() - changed >= 1500 * VX_NS_PER_MS) {
            return;
        }
        usleep(250000);
    }
}

/* Sends `rate` events/s for `seconds` in batches every millisecond (or larger batches when
 * the rate needs more than 1000 per millisecond), then waits up to 3 s for analytics. A run
 * after one that was not sustained first lets analytics drain. */
static void
s_run_rate(const struct suite *s, zsock_t *push, uint64_t *seq, double rate, int seconds,
           struct result *r)
{
    static bool backlog;
    if (backlog) {
        s_drain(s);
    }
    memset(r, 0, sizeof *r);
    r->rate = rate;
    struct hist h0, h1;
    s_hist(s, D_ANALYTICS, "vexfs_analytics_ingest_latency_seconds", &h0);
    double ev0 = s_metric(s, D_ANALYTICS, "vexfs_analytics_events_total");
    double drops0 = s_drops(s);
    uint64_t t0 = vx_mono_ns(), end = t0 + (uint64_t)seconds * VX_NS_PER_S;
    double sent = 0;
    uint64_t tick = 1000000; /* 1 ms */
    for (uint64_t next = t0; next < end; next += tick) {
        double due = rate * (double)(next + tick - t0) / 1e9 - sent;
        while (due >= 1) {
            int n = due > 1000 ? 1000 : (int)due;
            s_send_batch(push, n, ++*seq);
            sent += n;
            due -= n;
        }
        uint64_t now = vx_mono_ns();
        if (now < next + tick) {
            struct timespec ts = {0, (long)(next + tick - now)};
            nanosleep(&ts, NULL);
        }
    }
    double took = (double)(vx_mono_ns() - t0) / 1e9;
    r->sent = sent;
    r->achieved = sent / took;
    double delivered = 0;
    for (int i = 0; i < 60; i++) {
        delivered = s_metric(s, D_ANALYTICS, "vexfs_analytics_events_total") - ev0;
        if (delivered >= sent) {
            break;
        }
        usleep(50000);
    }
    r->delivered = delivered;
    s_hist(s, D_ANALYTICS, "vexfs_analytics_ingest_latency_seconds", &h1);
    r->p50 = s_quantile(&h0, &h1, 0.50);
    r->p99 = s_quantile(&h0, &h1, 0.99);
    r->drops = s_drops(s) - drops0;
    /* Sustained: everything arrived, nothing dropped, the producer kept the pace (5%). */
    r->sustained = delivered >= sent && r->drops == 0 && r->achieved >= 0.95 * rate;
    backlog = !r->sustained;
}

static void
s_print(const char *path, const struct result *r)
{
    printf("  %-6s %8.0f ev/s offered  %8.0f sent/s  p50 %8.3f ms  p99 %8.3f ms  "
           "delivered %.0f/%.0f  drops %.0f  %s\n",
           path, r->rate, r->achieved, r->p50 * 1e3, r->p99 * 1e3, r->delivered, r->sent,
           r->drops, r->sustained ? "sustained" : "NOT sustained");
    fflush(stdout);
}

/* A suite started elsewhere (--external): its addresses from the environment. */
static int
s_external(struct suite *s)
{
    static const char *const vars[D_N] = {"VX_SUITE_PROPAGATION_URL", "VX_SUITE_ROUTING_URL",
                                          "VX_SUITE_ANALYTICS_URL"};
    const char *ingest = getenv("VX_SUITE_INGEST");
    if (!ingest || !*ingest) {
        fprintf(stderr, "bench: --external needs VX_SUITE_INGEST\n");
        return -1;
    }
    snprintf(s->ingest_ep, sizeof s->ingest_ep, "%s", ingest);
    for (int d = 0; d < D_N; d++) {
        const char *u = getenv(vars[d]);
        if (!u || !*u) {
            fprintf(stderr, "bench: --external needs %s\n", vars[d]);
            return -1;
        }
        snprintf(s->url[d], sizeof s->url[d], "%s", u);
    }
    const char *secrets = getenv("VX_SUITE_SECRETS");
    if (secrets && *secrets) {
        char keys[300], tls[300], ctl[400];
        snprintf(keys, sizeof keys, "%s/keys", secrets);
        snprintf(tls, sizeof tls, "%s/tls", secrets);
        snprintf(ctl, sizeof ctl, "%s/ctl.crt", tls);
        struct stat st;
        if (stat(ctl, &st) < 0 || stat(keys, &st) < 0) {
            fprintf(stderr, "bench: VX_SUITE_SECRETS=%s: no keys/ or tls/ctl.crt there "
                            "(scripts/deploy-secrets.sh makes them)\n", secrets);
            return -1;
        }
        vt_secure_use(keys, tls, "ctl");
    }
    vt_http_resolve(getenv("VX_SUITE_RESOLVE"));
    return 0;
}

static int
s_bench(const char *kafka, int seconds, bool journal, bool external, int partitions)
{
    const char *path = external ? "external" : kafka ? "kafka" : "zeromq";
    struct suite s = {.kafka = kafka, .journal = journal, .external = external,
                      .partitions = partitions};
    if (external ? s_external(&s) < 0 : s_suite_start(&s) < 0) {
        s_stop(&s);
        return 1;
    }
    zsock_t *push = vt_sock_ex(&(struct vt_sock_opts){.type = ZMQ_PUSH, .endpoint = s.ingest_ep,
                                                      .hwm = 10000});
    if (push == NULL) {
        s_stop(&s);
        return 1;
    }
    uint64_t seq = 0;
    struct result warm;
    s_run_rate(&s, push, &seq, 5000, 2, &warm); /* connections, consumer group, first window */

    printf("== suite end to end (%s%s): propagation -> routing -> analytics window, "
           "%d s per rate, CURVE on every ZeroMQ link\n",
           external ? "a suite started elsewhere, at " : path,
           external ? s.ingest_ep : journal ? " boundary, propagation journaling" : " boundary",
           seconds);
    static const double fixed[] = {10000, 50000, 100000};
    struct result r50 = {0};
    double best = 0, failed = 0; /* highest rate sustained, lowest above it that was not */
    for (size_t i = 0; i < 3; i++) {
        struct result r;
        s_run_rate(&s, push, &seq, fixed[i], seconds, &r);
        s_print(path, &r);
        if (fixed[i] == 50000) {
            r50 = r;
        }
        if (r.sustained) {
            best = fixed[i];
        } else if (failed == 0) {
            failed = fixed[i];
        }
    }
    if (best == 100000) {
        for (double rate = 200000; rate <= 3200000; rate *= 2) {
            struct result r;
            s_run_rate(&s, push, &seq, rate, seconds, &r);
            s_print(path, &r);
            if (!r.sustained) {
                failed = rate;
                break;
            }
            best = rate;
        }
    }
    /* Two halvings of the gap between them: the figure within a quarter of that step. */
    for (int k = 0; k < 2 && best > 0 && failed > best; k++) {
        double mid = (best + failed) / 2;
        struct result r;
        s_run_rate(&s, push, &seq, mid, seconds, &r);
        s_print(path, &r);
        if (r.sustained) {
            best = mid;
        } else {
            failed = mid;
        }
    }
    /* Not even 10k: halve until a rate holds, so a slow suite still gets a figure. */
    for (double rate = 5000; best == 0 && rate >= 625; rate /= 2) {
        struct result r;
        s_run_rate(&s, push, &seq, rate, seconds, &r);
        s_print(path, &r);
        if (r.sustained) {
            best = rate;
        }
    }
    printf("latency     %s: p99 at 50,000 events/s %.3f ms (p50 %.3f ms); target p99 < 5 ms: "
           "%s\n", path, r50.p99 * 1e3, r50.p50 * 1e3, r50.p99 < 5e-3 ? "met" : "NOT met");
    printf("throughput  %s: highest sustained rate with no drops %.0f events/s (rates tried: "
           "10k, 50k, 100k, then doubling, then two bisections; below 10k, halving)\n",
           path, best);
    zsock_destroy(&push);
    s_stop(&s);
    return 0;
}

int
main(int argc, char **argv)
{
    int seconds = 4, partitions = 1;
    bool journal = false, external = false, zeromq = true, kafka_path = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--journal") == 0) {
            journal = true;
        } else if (strcmp(argv[i], "--external") == 0) {
            external = true;
        } else if (strcmp(argv[i], "--partitions") == 0 && i + 1 < argc) {
            partitions = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            zeromq = strcmp(argv[++i], "zeromq") == 0;
            kafka_path = strcmp(argv[i], "kafka") == 0;
        } else {
            seconds = atoi(argv[i]);
        }
    }
    if (seconds < 1 || seconds > 600 || (!zeromq && !kafka_path) || partitions < 1 ||
        partitions > 64) {
        fprintf(stderr, "usage: bench_suite [--only zeromq|kafka] [--journal] [--partitions N] "
                        "[--external] [SECONDS_PER_RATE 1..600]\n");
        return 2;
    }
    zsys_handler_set(NULL);
    signal(SIGPIPE, SIG_IGN);
    if (external) {
        return s_bench(NULL, seconds, false, true, partitions);
    }
    int rc = zeromq ? s_bench(NULL, seconds, false, false, partitions) : 0;
    const char *kafka = getenv("VEXFS_KAFKA_BOOTSTRAP");
    if (rc == 0 && kafka_path && kafka && *kafka) {
        rc = s_bench(kafka, seconds, journal, false, partitions);
    } else if (rc == 0 && kafka_path) {
        printf("(no VEXFS_KAFKA_BOOTSTRAP: the Kafka path was not measured)\n");
        rc = zeromq ? 0 : 1;
    }
    return rc;
}
