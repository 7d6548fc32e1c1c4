/* SPDX-License-Identifier: Apache-2.0 */
/* Analytics windowing in-process, one core: events/s through a tumbling 1 s window grouped by
 * metadata.user_id (1,000 users) with count and sum(content.size), event time advancing 1 us
 * per event, so windows close as the stream goes. As a peer, the same loop only reading the
 * two fields the query needs (the floor any engine pays) is measured in the same run.
 * With VEXFS_KAFKA_BOOTSTRAP set, also the vexfs-analytics daemon ($VX_BIN_DIR) consuming a
 * topic of KAFKA_EVENTS events with that query: events/s from its first to its last event.
 *   bench_analytics [EVENTS [KAFKA_EVENTS]]   (defaults 5,000,000 and 1,000,000) */
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "an_query.h"
#include "an_window.h"
#include "vx_clock.h"
#include "vx_test.h"

#define S_USERS 1000
#define S_DISTINCT 4096 /* distinct prepared events, reused with new timestamps */

struct s_ev {
    vx_event_t e;
    Vexfs__V1__Event__MetadataEntry me, *mp[1];
    Vexfs__V1__Event__ContentEntry ce, *cp[1];
    char user[16], size[16];
};

static uint64_t s_windows;
static double s_checksum;

static void
cb_emit(const struct an_result *r, void *arg)
{
    (void)arg;
    s_windows++;
    s_checksum += r->values[1];
}

static const char *s_query =
    "{\"id\":\"bench\",\"event_types\":[\"filesystem_write\"],"
    "\"window\":{\"kind\":\"tumbling\",\"size_ms\":1000,\"allowed_lateness_ms\":100},"
    "\"group_by\":[\"metadata.user_id\"],\"aggregations\":[{\"fn\":\"count\"},"
    "{\"fn\":\"sum\",\"field\":\"content.size\"}]}";

static double
s_metric(uint16_t port, const char *series)
{
    return vt_metric(port, series);
}

/* CPU seconds (user + system) a process has used so far; -1 when unknown. */
static double
s_cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) {
        return -1;
    }
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) {
        return -1;
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Produces n events to a fresh topic, runs the daemon on it and times its consumption. */
static int
s_bench_kafka(const char *bootstrap, struct s_ev *evs, size_t n)
{
    char err[512], topic[128];
    snprintf(topic, sizeof topic, "vexfs.bench.analytics.%d", (int)getpid());
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_conf_set(c, "linger.ms", "20", err, sizeof err);
    rd_kafka_conf_set(c, "queue.buffering.max.messages", "1000000", err, sizeof err);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    if (!p) {
        fprintf(stderr, "bench: producer: %s\n", err);
        return -1;
    }
    uint8_t buf[512];
    for (size_t i = 0; i < n; i++) {
        vx_event_t *ev = &evs[i % S_DISTINCT].e;
        ev->timestamp_ns = 1700000000000000000ULL + i * 1000;
        size_t len = vexfs__v1__event__pack(ev, buf);
        while (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(buf, len),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(p, 10);
        }
    }
    rd_kafka_flush(p, 60000);
    rd_kafka_destroy(p);

    char *dir = vt_tmpdir();
    char qfile[300], cfg[300], text[2048], log[300];
    snprintf(qfile, sizeof qfile, "%s/q.json", dir);
    snprintf(cfg, sizeof cfg, "%s/vexfs.yaml", dir);
    snprintf(log, sizeof log, "%s/analytics.log", dir);
    snprintf(text, sizeof text, "[%s]", s_query);
    vt_write_file(qfile, text);
    uint16_t port = vt_free_port();
    snprintf(text, sizeof text,
             "stream_analytics:\n  rest_port: %u\n  kafka_brokers: %s\n  topic: %s\n"
             "  group_id: %s\n  queries_file: %s\n  results_endpoint: \"\"\n"
             "  results_topic: %s.results\n"
             "  enable_real_time_processing: false\n",
             (unsigned)port, bootstrap, topic, topic, qfile, topic);
    vt_write_file(cfg, text);
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-analytics", vt_bin_dir());
    char *argv[] = {bin, (char *)"--config", cfg, NULL};
    pid_t pid = vt_spawn(argv, NULL, log);
    if (pid < 0 || !vt_wait_ready(port, 20000)) {
        fprintf(stderr, "bench: vexfs-analytics did not start; log in %s\n", log);
        free(dir);
        return -1;
    }
    uint64_t t_first = 0, t_last = 0, deadline = vx_mono_ns() + 120 * VX_NS_PER_S;
    double got = 0, first = 0, cpu0 = 0, cpu1 = 0;
    while (vx_mono_ns() < deadline) {
        got = s_metric(port, "vexfs_analytics_events_total");
        if (got > 0 && !t_first) {
            t_first = vx_mono_ns();
            first = got;
            cpu0 = s_cpu_seconds(pid);
        }
        if (got >= (double)n) {
            t_last = vx_mono_ns();
            cpu1 = s_cpu_seconds(pid);
            break;
        }
        usleep(2000);
    }
    vt_stop(pid, SIGTERM, 30000);
    free(dir);
    if (!t_last || t_last == t_first) {
        fprintf(stderr, "bench: the daemon consumed %.0f of %zu events\n", got, n);
        return -1;
    }
    double s = (double)(t_last - t_first) / 1e9;
    printf("vexfs-analytics from Kafka, one consumer: %.0f events in %.3f s = %.0f events/s "
           "(target >= 500,000: %s)\n",
           (double)n - first, s, ((double)n - first) / s,
           ((double)n - first) / s >= 5e5 ? "met" : "NOT met");
    if (cpu0 >= 0 && cpu1 > cpu0) {
        printf("  the daemon used %.2f CPU-seconds: %.0f events per CPU-second (the broker runs "
               "on the same %ld cores)\n",
               cpu1 - cpu0, ((double)n - first) / (cpu1 - cpu0), sysconf(_SC_NPROCESSORS_ONLN));
    }
    return 0;
}

int
main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 5000000;
    size_t nk = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;
    struct s_ev *evs = calloc(S_DISTINCT, sizeof *evs);
    if (!evs) {
        return 1;
    }
    unsigned seed = 42;
    for (size_t i = 0; i < S_DISTINCT; i++) {
        struct s_ev *x = &evs[i];
        vexfs__v1__event__init(&x->e);
        x->e.type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
        x->e.path = (char *)"/srv/data/file";
        snprintf(x->user, sizeof x->user, "u%d", rand_r(&seed) % S_USERS);
        snprintf(x->size, sizeof x->size, "%d", rand_r(&seed) % 65536);
        vexfs__v1__event__metadata_entry__init(&x->me);
        x->me.key = (char *)"user_id";
        x->me.value = x->user;
        x->mp[0] = &x->me;
        x->e.metadata = x->mp;
        x->e.n_metadata = 1;
        vexfs__v1__event__content_entry__init(&x->ce);
        x->ce.key = (char *)"size";
        x->ce.value = x->size;
        x->cp[0] = &x->ce;
        x->e.content = x->cp;
        x->e.n_content = 1;
    }
    json_t *j = json_loads(s_query, 0, NULL);
    struct an_query *q = NULL;
    char err[256];
    if (an_query_parse(j, &q, err, sizeof err) < 0) {
        fprintf(stderr, "bench: %s\n", err);
        return 1;
    }
    json_decref(j);
    an_engine_t *e = an_engine_new(0, 100000, cb_emit, NULL);
    an_engine_add_query(e, q);

    /* the peer: read the group value and the number, nothing else */
    uint64_t t0 = vx_mono_ns();
    double peer_sum = 0;
    for (size_t i = 0; i < n; i++) {
        vx_event_t *ev = &evs[i % S_DISTINCT].e;
        ev->timestamp_ns = 1700000000000000000ULL + i * 1000;
        double v;
        char buf[32];
        const char *u = an_field_text(&q->group_by[0], ev, buf, sizeof buf);
        if (u && an_field_number(&q->aggs[1].field, ev, &v)) {
            peer_sum += v + (double)u[1];
        }
    }
    double peer_s = (double)(vx_mono_ns() - t0) / 1e9;

    t0 = vx_mono_ns();
    for (size_t i = 0; i < n; i++) {
        vx_event_t *ev = &evs[i % S_DISTINCT].e;
        ev->timestamp_ns = 1700000000000000000ULL + i * 1000;
        an_engine_process(e, ev);
    }
    double s = (double)(vx_mono_ns() - t0) / 1e9;
    struct an_query_stats st = {0};
    an_engine_stats(e, "bench", &st);
    printf("analytics windowed group-by count/sum, 1 core: %zu events in %.3f s = %.0f events/s "
           "(%.1f ns/event)\n",
           n, s, (double)n / s, s * 1e9 / (double)n);
    printf("  windows emitted %llu, open groups %llu, late %llu (checksum %.0f)\n",
           (unsigned long long)s_windows, (unsigned long long)st.open_groups,
           (unsigned long long)st.dropped_late, s_checksum);
    printf("  peer (reading the two fields only): %.0f events/s; engine at %.0f%% of it "
           "(peer checksum %.0f)\n",
           (double)n / peer_s, 100.0 * peer_s / s, peer_sum);
    printf("  target (DESIGN.md): >= 2,000,000 events/s: %s\n",
           (double)n / s >= 2e6 ? "met" : "NOT met");
    an_engine_destroy(&e);
    an_query_destroy(&q);
    int rc = 0;
    const char *bootstrap = getenv("VEXFS_KAFKA_BOOTSTRAP");
    if (bootstrap && *bootstrap && nk > 0) {
        rc = s_bench_kafka(bootstrap, evs, nk) < 0 ? 1 : 0;
    }
    free(evs);
    return rc;
}
