/* SPDX-License-Identifier: Apache-2.0 */
/* vexfs-routing as a real process behind a real vexfs-propagation, with real downstream
 * consumers and the real Kafka broker: events reach exactly the boundaries their rules name,
 * filters drop them everywhere, explain has no side effects, sets persist and reload from the
 * rules file, bad sets change nothing, a set swapped 100 times under load loses and duplicates
 * nothing, and load balancing keeps each file on one consumer. */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "prop_harness.h"
#include "rt_harness.h"
#include "vx_test.h"

/* ---- boundaries ---------------------------------------------------------------------- */

#define S_CATEGORIES 6
#define S_N 600

static const char *const s_main_set =
    "{\"rules\":["
    "{\"id\":\"logs\",\"priority\":10,"
    " \"conditions\":{\"patterns\":[{\"kind\":\"suffix\",\"pattern\":\".log\"}]},"
    " \"target_boundaries\":[\"analytics\"],"
    " \"actions\":{\"add_tags\":{\"class\":\"log\"},\"priority_boost\":3}},"
    "{\"id\":\"data-writes\","
    " \"conditions\":{\"event_types\":[\"filesystem_write\"],"
    "               \"patterns\":[{\"kind\":\"prefix\",\"pattern\":\"/data/\"}]},"
    " \"target_boundaries\":[\"automation\"]},"
    "{\"id\":\"graph\",\"conditions\":{\"event_types\":[\"graph_node_create\"]},"
    " \"target_boundaries\":[\"graph\"],\"actions\":{\"route_to_boundaries\":[\"coordinator\"]}}"
    "],\"filters\":["
    "{\"id\":\"secrets\",\"kind\":\"path\","
    " \"conditions\":{\"patterns\":[{\"kind\":\"prefix\",\"pattern\":\"/secret/\"}]},"
    " \"action\":\"block\"}]}";

/* Event i of the main scenario and where it must arrive:
 *   0 write /data/f.log   analytics + automation   1 write /data/f.txt   automation
 *   2 create /tmp/f.log   analytics                3 write /secret/f.log blocked: nowhere
 *   4 create /tmp/f.txt   unrouted: nowhere        5 graph_node_create   graph + coordinator */
static void
s_main_event(size_t i, struct rh_event *e, char *path, size_t plen)
{
    static const char *const fmt[S_CATEGORIES] = {"/data/f%zu.log", "/data/f%zu.txt",
                                                  "/tmp/f%zu.log",  "/secret/f%zu.log",
                                                  "/tmp/f%zu.txt",  "/g/node%zu"};
    static const char *const type[S_CATEGORIES] = {"filesystem_write",  "filesystem_write",
                                                   "filesystem_create", "filesystem_write",
                                                   "filesystem_create", "graph_node_create"};
    snprintf(path, plen, fmt[i % S_CATEGORIES], i);
    e->type = type[i % S_CATEGORIES];
    e->path = path;
    e->n = (long)i;
}

static bool
s_main_expected(const char *boundary, size_t i)
{
    size_t c = i % S_CATEGORIES;
    if (strcmp(boundary, "analytics") == 0) {
        return c == 0 || c == 2;
    }
    if (strcmp(boundary, "automation") == 0) {
        return c == 0 || c == 1;
    }
    if (strcmp(boundary, "coordinator") == 0 || strcmp(boundary, "graph") == 0) {
        return c == 5;
    }
    return false;
}

START_TEST(t_events_reach_exactly_their_boundaries)
{
    char prefix[128], topic[200], yaml[512];
    snprintf(prefix, sizeof prefix, "vexfs.test.rt%d.%ld.", (int)getpid(), (long)time(NULL));
    snprintf(topic, sizeof topic, "%sanalytics", prefix);
    snprintf(yaml, sizeof yaml, "  kafka_brokers: \"%s\"\n  kafka_topic_prefix: \"%s\"\n",
             rh_bootstrap(), prefix);
    struct ph_daemon prop;
    ph_start(&prop, NULL, NULL);
    struct rh_daemon rt;
    rh_start(&rt, prop.output, yaml);
    rh_expect(&rt, "PUT", "/v1/rules", s_main_set, 200);

    /* One consumer per ZeroMQ boundary, vector included: it must receive nothing. */
    static const char *const zmq_b[] = {"automation", "coordinator", "graph", "vector"};
    struct rh_collector col[4];
    for (int b = 0; b < 4; b++) {
        rh_collect_start(&col[b], rh_out(&rt, zmq_b[b]), S_N);
    }
    static struct rh_event ev[S_N];
    static char paths[S_N][64];
    for (size_t i = 0; i < S_N; i++) {
        s_main_event(i, &ev[i], paths[i], sizeof paths[i]);
    }
    zsock_t *push = ph_push(&prop);
    uint64_t bseq = 0;
    rh_send(push, ev, S_N, &bseq);
    rh_wait_decided(&rt, S_N, 30000);
    /* What the daemon handed to each boundary: exactly the expected number, so once the
     * consumers hold that many distinct events nothing else can arrive. */
    for (int b = 0; b < RH_N_STD; b++) {
        size_t want = 0;
        for (size_t i = 0; i < S_N; i++) {
            want += s_main_expected(rh_std_boundaries[b], i);
        }
        char series[128];
        snprintf(series, sizeof series, "vexfs_events_routed_total{boundary=\"%s\"}",
                 rh_std_boundaries[b]);
        ck_assert_msg(rh_metric(&rt, series) == (double)want, "%s: %.0f routed, expected %zu",
                      series, rh_metric(&rt, series), want);
    }
    ck_assert_double_eq(rh_metric(&rt, "vexfs_events_filtered_total{filter=\"secrets\","
                                       "action=\"block\"}"),
                        S_N / S_CATEGORIES);
    ck_assert_double_eq(rh_metric(&rt, "vexfs_events_unrouted_total"), S_N / S_CATEGORIES);
    rh_stop(&rt); /* SIGTERM flushes every output, Kafka included */

    for (int b = 0; b < 4; b++) {
        size_t want = 0;
        for (size_t i = 0; i < S_N; i++) {
            want += s_main_expected(zmq_b[b], i);
        }
        size_t got = rh_collect_wait(&col[b], want, 10000);
        ck_assert_msg(got == want, "%s received %zu events, expected %zu", zmq_b[b], got, want);
        ck_assert_uint_eq(atomic_load(&col[b].other), 0);
        for (size_t i = 0; i < S_N; i++) {
            unsigned c = atomic_load(&col[b].counts[i]);
            ck_assert_msg(c == (s_main_expected(zmq_b[b], i) ? 1u : 0u),
                          "%s received event %zu (%s) %u times", zmq_b[b], i, paths[i], c);
        }
    }
    /* The decision's tags and priority travel with every copy; other fields unchanged. */
    json_t *tagged = rh_collect_sample(&col[0], "/data/f0.log");
    json_t *plain = rh_collect_sample(&col[0], "/data/f1.txt");
    ck_assert_ptr_nonnull(tagged);
    ck_assert_ptr_nonnull(plain);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(tagged, "metadata"),
                                                       "class")),
                     "log");
    ck_assert_int_eq(json_integer_value(json_object_get(tagged, "priority")), 3);
    ck_assert_str_eq(json_string_value(json_object_get(tagged, "type")), "filesystem_write");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(tagged, "content"), "n")),
                     "0");
    ck_assert_str_eq(json_string_value(json_object_get(tagged, "source")), "fuse");
    ck_assert_str_eq(json_string_value(json_object_get(tagged, "producer_id")), "prop-test");
    ck_assert_int_eq(json_object_size(json_object_get(plain, "metadata")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(plain, "priority")), 0);
    json_decref(tagged);
    json_decref(plain);
    for (int b = 0; b < 4; b++) {
        rh_collect_stop(&col[b]);
    }

    /* Analytics is the Kafka boundary: exactly its events, the blocked ones not at all. */
    size_t want = 0, other = 0;
    for (size_t i = 0; i < S_N; i++) {
        want += s_main_expected("analytics", i);
    }
    unsigned *counts = calloc(S_N, sizeof *counts);
    json_t *samples = json_array();
    size_t total = rh_read_topic(topic, want, counts, S_N, &other, samples);
    ck_assert_msg(total == want, "%s holds %zu events, expected %zu", topic, total, want);
    ck_assert_uint_eq(other, 0);
    for (size_t i = 0; i < S_N; i++) {
        ck_assert_msg(counts[i] == (s_main_expected("analytics", i) ? 1u : 0u),
                      "event %zu (%s) is %u times in %s", i, paths[i], counts[i], topic);
    }
    size_t k;
    json_t *e;
    json_array_foreach(samples, k, e) {
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "metadata"),
                                                           "class")),
                         "log");
        ck_assert_int_eq(json_integer_value(json_object_get(e, "priority")), 3);
    }
    json_decref(samples);
    free(counts);

    zsock_destroy(&push);
    ph_stop(&prop);
}
END_TEST

START_TEST(t_filtered_and_unrouted_are_counted)
{
    struct ph_daemon prop;
    ph_start(&prop, NULL, NULL);
    struct rh_daemon rt;
    rh_start(&rt, prop.output, "  default_boundary: vector\n");
    rh_expect(&rt, "PUT", "/v1/rules", s_main_set, 200);
    static const char *const zmq_b[] = {"automation", "coordinator", "graph", "vector",
                                        "analytics"};
    struct rh_collector col[5];
    for (int b = 0; b < 5; b++) {
        rh_collect_start(&col[b], rh_out(&rt, zmq_b[b]), S_N);
    }
    static struct rh_event ev[S_N];
    static char paths[S_N][64];
    for (size_t i = 0; i < S_N; i++) {
        s_main_event(i, &ev[i], paths[i], sizeof paths[i]);
    }
    zsock_t *push = ph_push(&prop);
    uint64_t bseq = 0;
    rh_send(push, ev, S_N, &bseq);
    rh_wait_decided(&rt, S_N, 30000);
    size_t per_cat = S_N / S_CATEGORIES;
    ck_assert_double_eq(rh_metric(&rt, "vexfs_events_filtered_total{filter=\"secrets\","
                                       "action=\"block\"}"),
                        (double)per_cat);
    ck_assert_double_eq(rh_metric(&rt, "vexfs_events_unrouted_total"), (double)per_cat);
    ck_assert_double_eq(rh_metric(&rt, "vexfs_events_default_routed_total"), (double)per_cat);
    ck_assert_double_eq(rh_metric(&rt, "vexfs_events_received_total{source=\"fuse\"}"), S_N);
    ck_assert_double_eq(rh_metric(&rt, "vexfs_sequence_gaps_total{link=\"propagation\"}"), 0);
    ck_assert_double_eq(rh_metric(&rt, "vexfs_events_routed_total{boundary=\"analytics\"}"),
                        2.0 * (double)per_cat);
    /* Unrouted events go to the default boundary, vector; blocked ones nowhere. */
    ck_assert_uint_eq(rh_collect_wait(&col[3], per_cat, 10000), per_cat);
    for (size_t i = 0; i < S_N; i++) {
        ck_assert_uint_eq(atomic_load(&col[3].counts[i]), i % S_CATEGORIES == 4 ? 1u : 0u);
    }
    json_t *stats = NULL;
    ck_assert_int_eq(rh_call(&rt, "GET", "/v1/stats", NULL, &stats), 200);
    json_t *flt = json_array_get(json_object_get(stats, "filters"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(flt, "id")), "secrets");
    ck_assert_int_eq(json_integer_value(json_object_get(flt, "dropped")), (json_int_t)per_cat);
    json_t *r0 = json_array_get(json_object_get(stats, "rules"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(r0, "id")), "logs");
    ck_assert_int_eq(json_integer_value(json_object_get(r0, "matches")),
                     (json_int_t)(2 * per_cat));
    json_t *vec = json_object_get(json_object_get(stats, "boundaries"), "vector");
    ck_assert_int_eq(json_integer_value(json_object_get(vec, "events")), (json_int_t)per_cat);
    ck_assert_int_gt(json_integer_value(json_object_get(json_object_get(stats, "decision_latency"),
                                                        "count")),
                     0);
    json_decref(stats);
    rh_stop(&rt);
    for (int b = 0; b < 5; b++) {
        rh_collect_stop(&col[b]);
    }
    zsock_destroy(&push);
    ph_stop(&prop);
}
END_TEST

/* ---- explain --------------------------------------------------------------------------- */

START_TEST(t_explain_has_no_side_effects)
{
    struct ph_daemon prop;
    ph_start(&prop, NULL, NULL);
    struct rh_daemon rt;
    rh_start(&rt, prop.output, NULL);
    rh_expect(&rt, "PUT", "/v1/rules",
          "{\"rules\":["
          "{\"id\":\"first\",\"priority\":5,\"conditions\":{\"patterns\":"
          "  [{\"kind\":\"prefix\",\"pattern\":\"/rl/\"}]},\"target_boundaries\":[\"automation\"],"
          "  \"actions\":{\"add_tags\":{\"a\":\"1\"}}},"
          "{\"id\":\"second\",\"priority\":1,\"conditions\":{\"patterns\":"
          "  [{\"kind\":\"suffix\",\"pattern\":\".log\"}]},\"target_boundaries\":[\"automation\"],"
          "  \"actions\":{\"priority_boost\":4}}],"
          "\"filters\":[{\"id\":\"burst\",\"kind\":\"rate_limit\",\"conditions\":{\"patterns\":"
          "  [{\"kind\":\"prefix\",\"pattern\":\"/rl/\"}]},\"rate_per_sec\":0.001,\"burst\":1,"
          "  \"action\":\"block\"}]}",
          200);
    struct rh_collector col;
    rh_collect_start(&col, rh_out(&rt, "automation"), 16);
    const char *ev = "{\"type\":\"filesystem_write\",\"path\":\"/rl/a.log\"}";
    for (int i = 0; i < 3; i++) {
        json_t *d = NULL;
        ck_assert_int_eq(rh_call(&rt, "POST", "/v1/route/test", ev, &d), 200);
        ck_assert(json_is_false(json_object_get(d, "dropped")));
        json_t *rules = json_object_get(d, "rules");
        ck_assert_int_eq(json_array_size(rules), 2);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(rules, 0), "id")),
                         "first");
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(rules, 1), "id")),
                         "second");
        ck_assert_str_eq(json_string_value(json_array_get(json_object_get(d, "targets"), 0)),
                         "automation");
        ck_assert_int_eq(json_integer_value(json_object_get(d, "priority")), 4);
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(d, "tags"), "a")), "1");
        json_t *o = json_array_get(json_object_get(d, "outputs"), 0);
        ck_assert_str_eq(json_string_value(json_array_get(json_object_get(o, "endpoints"), 0)),
                         rh_out(&rt, "automation"));
        json_decref(d);
    }
    /* Explains counted nothing and used no rate-limit token. */
    json_t *stats = NULL;
    ck_assert_int_eq(rh_call(&rt, "GET", "/v1/stats", NULL, &stats), 200);
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_array_get(json_object_get(stats, "rules"), 0), "matches")),
                     0);
    json_decref(stats);
    zsock_t *push = ph_push(&prop);
    uint64_t bseq = 0;
    struct rh_event two[2] = {{"filesystem_write", "/rl/a.log", 0},
                              {"filesystem_write", "/rl/b.log", 1}};
    rh_send(push, two, 2, &bseq);
    rh_wait_decided(&rt, 2, 10000);
    /* The bucket held one token: the first event passed, the second was blocked; nothing the
     * explains looked at was routed. */
    ck_assert_uint_eq(rh_collect_wait(&col, 1, 10000), 1);
    ck_assert_uint_eq(atomic_load(&col.counts[0]), 1);
    ck_assert_double_eq(rh_metric(&rt, "vexfs_events_filtered_total{filter=\"burst\","
                                       "action=\"block\"}"),
                        1);
    json_t *d = NULL;
    ck_assert_int_eq(rh_call(&rt, "POST", "/v1/route/test",
                             "{\"event\":{\"type\":\"filesystem_write\",\"path\":\"/rl/c.log\"}}",
                             &d),
                     200);
    ck_assert(json_is_true(json_object_get(d, "dropped")));
    ck_assert_int_eq(json_array_size(json_object_get(d, "targets")), 0);
    json_decref(d);
    /* An invalid event is refused with the validator's message. */
    ck_assert_int_eq(rh_call(&rt, "POST", "/v1/route/test",
                             "{\"type\":\"filesystem_write\",\"path\":\"relative\"}", &d),
                     422);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(d, "error"), "code")),
                     "invalid_event");
    json_decref(d);
    ck_assert_int_eq(rh_call(&rt, "POST", "/v1/route/test", "{\"type\":\"teleport\"}", &d), 422);
    json_decref(d);
    vt_sleep_ms(200);
    ck_assert_uint_eq(atomic_load(&col.total), 1);
    rh_stop(&rt);
    rh_collect_stop(&col);
    zsock_destroy(&push);
    ph_stop(&prop);
}
END_TEST

/* ---- persistence and the rules file ---------------------------------------------------- */

START_TEST(t_rules_persist_across_restart)
{
    struct ph_daemon prop;
    ph_start(&prop, NULL, NULL);
    struct rh_daemon rt;
    rh_start(&rt, prop.output, NULL);
    rh_expect(&rt, "PUT", "/v1/rules", s_main_set, 200);
    json_t *rules = NULL, *filters = NULL, *after = NULL;
    ck_assert_int_eq(rh_call(&rt, "POST", "/v1/rules",
                             "{\"id\":\"extra\",\"conditions\":{\"patterns\":[{\"kind\":"
                             "\"glob\",\"pattern\":\"/keep/**\"}]},"
                             "\"target_boundaries\":[\"vector\"]}",
                             NULL),
                     201);
    ck_assert_int_eq(rh_call(&rt, "GET", "/v1/rules", NULL, &rules), 200);
    ck_assert_int_eq(rh_call(&rt, "GET", "/v1/filters", NULL, &filters), 200);
    ck_assert_int_eq(json_array_size(json_object_get(rules, "rules")), 4);
    rh_stop(&rt);
    struct stat st;
    char state[400];
    snprintf(state, sizeof state, "%s/routing-rules.json", rt.state_dir);
    ck_assert_int_eq(stat(state, &st), 0);

    rh_restart(&rt);
    ck_assert_int_eq(rh_call(&rt, "GET", "/v1/rules", NULL, &after), 200);
    ck_assert_msg(json_equal(rules, after), "rules changed across the restart");
    json_decref(after);
    ck_assert_int_eq(rh_call(&rt, "GET", "/v1/filters", NULL, &after), 200);
    ck_assert_msg(json_equal(filters, after), "filters changed across the restart");
    json_decref(after);
    ck_assert_int_eq(rh_call(&rt, "GET", "/v1/rules/extra", NULL, &after), 200);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(after,
                                                                      "target_boundaries"),
                                                      0)),
                     "vector");
    json_decref(after);
    /* The restored set routes. */
    struct rh_collector col;
    rh_collect_start(&col, rh_out(&rt, "vector"), 8);
    zsock_t *push = ph_push(&prop);
    uint64_t bseq = 0;
    struct rh_event e[2] = {{"filesystem_write", "/keep/x", 1},
                            {"filesystem_write", "/secret/keep/y", 2}};
    rh_send(push, e, 2, &bseq);
    ck_assert_uint_eq(rh_collect_wait(&col, 1, 10000), 1);
    ck_assert_uint_eq(atomic_load(&col.counts[1]), 1);
    /* And a delete persists too. */
    ck_assert_int_eq(rh_call(&rt, "DELETE", "/v1/rules/extra", NULL, NULL), 200);
    ck_assert_int_eq(rh_call(&rt, "GET", "/v1/rules/extra", NULL, NULL), 404);
    rh_stop(&rt);
    rh_restart(&rt);
    ck_assert_int_eq(rh_call(&rt, "GET", "/v1/rules/extra", NULL, NULL), 404);
    ck_assert_int_eq(rh_call(&rt, "GET", "/v1/rules/logs", NULL, NULL), 200);
    rh_stop(&rt);
    rh_collect_stop(&col);
    json_decref(rules);
    json_decref(filters);
    zsock_destroy(&push);
    ph_stop(&prop);
}
END_TEST

static const char *
s_first_rule_id(const struct rh_daemon *rt, char *buf, size_t len)
{
    json_t *j = NULL;
    buf[0] = '\0';
    if (rh_call(rt, "GET", "/v1/rules", NULL, &j) == 200) {
        const char *id = json_string_value(
            json_object_get(json_array_get(json_object_get(j, "rules"), 0), "id"));
        snprintf(buf, len, "%s", id ? id : "");
    }
    json_decref(j);
    return buf;
}

static void
s_wait_first_rule(const struct rh_daemon *rt, const char *want)
{
    char id[256];
    for (int waited = 0; waited < 15000; waited += 50) {
        if (strcmp(s_first_rule_id(rt, id, sizeof id), want) == 0) {
            return;
        }
        vt_sleep_ms(50);
    }
    ck_abort_msg("first rule is '%s', expected '%s'; log in %s", id, want, rt->log);
}

/* Replaces path by rename, so a watcher never reads a half-written file. */
static void
s_write_atomic(const char *path, const char *text)
{
    char tmp[400];
    snprintf(tmp, sizeof tmp, "%s.new", path);
    ck_assert_int_eq(vt_write_file(tmp, text), 0);
    ck_assert_int_eq(rename(tmp, path), 0);
}

static void
s_write_rules_file(const char *path, const char *rule_id, const char *boundary)
{
    char text[1024];
    snprintf(text, sizeof text,
             "# routing rules\n"
             "rules:\n"
             "  - id: %s\n"
             "    conditions:\n"
             "      event_types: [filesystem_write]\n"
             "    target_boundaries: [%s]\n"
             "filters:\n"
             "  - id: no-tmp\n"
             "    kind: path\n"
             "    conditions:\n"
             "      patterns: [{kind: prefix, pattern: /tmp/}]\n"
             "    action: block\n",
             rule_id, boundary);
    s_write_atomic(path, text);
}

START_TEST(t_rules_file_change_reloads)
{
    char *dir = vt_tmpdir();
    char file[300], yaml[512];
    snprintf(file, sizeof file, "%s/rules.yaml", dir);
    s_write_rules_file(file, "from-file-1", "automation");
    snprintf(yaml, sizeof yaml, "  rules_file: %s\n  rules_poll_ms: 100\n", file);
    struct rh_daemon rt;
    rh_start(&rt, "tcp://127.0.0.1:1", yaml);
    char id[256];
    ck_assert_str_eq(s_first_rule_id(&rt, id, sizeof id), "from-file-1");

    s_write_rules_file(file, "from-file-2", "coordinator");
    s_wait_first_rule(&rt, "from-file-2");

    /* A broken file is refused and the set keeps serving. */
    s_write_atomic(file, "rules:\n  - id: [unclosed\n");
    for (int waited = 0; waited < 15000 &&
                         rh_metric(&rt, "vexfs_routing_reloads_total{origin=\"file\","
                                        "result=\"rejected\"}") < 1;
         waited += 50) {
        vt_sleep_ms(50);
    }
    ck_assert_double_eq(rh_metric(&rt, "vexfs_routing_reloads_total{origin=\"file\","
                                       "result=\"rejected\"}"),
                        1);
    ck_assert_str_eq(s_first_rule_id(&rt, id, sizeof id), "from-file-2");
    /* So is a file that parses but does not build (unknown boundary). */
    s_write_rules_file(file, "from-file-3", "nowhere");
    for (int waited = 0; waited < 15000 &&
                         rh_metric(&rt, "vexfs_routing_reloads_total{origin=\"file\","
                                        "result=\"rejected\"}") < 2;
         waited += 50) {
        vt_sleep_ms(50);
    }
    ck_assert_str_eq(s_first_rule_id(&rt, id, sizeof id), "from-file-2");

    /* A REST change survives a restart while the file stays as it is ... */
    s_write_rules_file(file, "from-file-4", "graph");
    s_wait_first_rule(&rt, "from-file-4");
    rh_expect(&rt, "PUT", "/v1/rules", "[{\"id\":\"from-rest\",\"target_boundaries\":[\"vector\"]}]", 200);
    rh_stop(&rt);
    rh_restart(&rt);
    ck_assert_str_eq(s_first_rule_id(&rt, id, sizeof id), "from-rest");
    rh_stop(&rt);
    /* ... but a file edited while the daemon was down wins at the next start. */
    s_write_rules_file(file, "from-file-5", "analytics");
    rh_restart(&rt);
    ck_assert_str_eq(s_first_rule_id(&rt, id, sizeof id), "from-file-5");
    rh_stop(&rt);
    free(dir);
}
END_TEST

START_TEST(t_sighup_rereads_rules_file)
{
    char *dir = vt_tmpdir();
    char file[300], yaml[512];
    snprintf(file, sizeof file, "%s/rules.yaml", dir);
    s_write_rules_file(file, "hup-1", "automation");
    /* Polling once an hour: only SIGHUP can make it reread the file now. */
    snprintf(yaml, sizeof yaml, "  rules_file: %s\n  rules_poll_ms: 3600000\n", file);
    struct rh_daemon rt;
    rh_start(&rt, "tcp://127.0.0.1:1", yaml);
    char id[256];
    ck_assert_str_eq(s_first_rule_id(&rt, id, sizeof id), "hup-1");
    s_write_rules_file(file, "hup-2", "coordinator");
    vt_sleep_ms(300);
    ck_assert_str_eq(s_first_rule_id(&rt, id, sizeof id), "hup-1");
    kill(rt.pid, SIGHUP);
    s_wait_first_rule(&rt, "hup-2");
    ck_assert_double_eq(rh_metric(&rt, "vexfs_routing_reloads_total{origin=\"signal\","
                                       "result=\"applied\"}"),
                        1);
    rh_stop(&rt);
    free(dir);
}
END_TEST

/* ---- bad input ------------------------------------------------------------------------- */

/* Sends a bad change; checks status, error code and a piece of the message, and that the sets
 * are exactly as before. */
static void
s_refused(const struct rh_daemon *rt, const char *method, const char *path, const char *body,
          long status, const char *code, const char *needle, const json_t *rules,
          const json_t *filters)
{
    json_t *j = NULL;
    long st = rh_call(rt, method, path, body, &j);
    json_t *err = json_object_get(j, "error");
    const char *c = json_string_value(json_object_get(err, "code"));
    const char *m = json_string_value(json_object_get(err, "message"));
    ck_assert_msg(st == status, "%s %s: status %ld, expected %ld (%s)", method, path, st, status,
                  m ? m : "");
    ck_assert_msg(c && strcmp(c, code) == 0, "%s %s: code %s, expected %s", method, path,
                  c ? c : "none", code);
    ck_assert_msg(m && strstr(m, needle), "%s %s: message '%s' does not mention '%s'", method,
                  path, m ? m : "", needle);
    json_decref(j);
    json_t *now = NULL;
    ck_assert_int_eq(rh_call(rt, "GET", "/v1/rules", NULL, &now), 200);
    ck_assert_msg(json_equal(now, rules), "rules changed after a refused %s %s", method, path);
    json_decref(now);
    ck_assert_int_eq(rh_call(rt, "GET", "/v1/filters", NULL, &now), 200);
    ck_assert_msg(json_equal(now, filters), "filters changed after a refused %s %s", method, path);
    json_decref(now);
}

START_TEST(t_bad_sets_change_nothing)
{
    struct rh_daemon rt;
    rh_start(&rt, "tcp://127.0.0.1:1", "  max_routing_rules: 5\n");
    rh_expect(&rt, "PUT", "/v1/rules", s_main_set, 200);
    json_t *rules = NULL, *filters = NULL;
    ck_assert_int_eq(rh_call(&rt, "GET", "/v1/rules", NULL, &rules), 200);
    ck_assert_int_eq(rh_call(&rt, "GET", "/v1/filters", NULL, &filters), 200);

    s_refused(&rt, "PUT", "/v1/rules",
              "[{\"id\":\"r\",\"conditions\":{\"patterns\":[{\"kind\":\"regex\","
              "\"pattern\":\"(unclosed\"}]},\"target_boundaries\":[\"analytics\"]}]",
              422, "invalid_rules", "regex \"(unclosed\"", rules, filters);
    s_refused(&rt, "PUT", "/v1/rules",
              "[{\"id\":\"r\",\"colour\":\"red\",\"target_boundaries\":[\"analytics\"]}]", 422,
              "invalid_rules", "colour", rules, filters);
    s_refused(&rt, "PUT", "/v1/rules", "[{\"id\":\"r\",\"target_boundaries\":[\"nowhere\"]}]",
              422, "invalid_rules", "nowhere", rules, filters);
    s_refused(&rt, "PUT", "/v1/rules",
              "[{\"id\":\"twice\",\"target_boundaries\":[\"graph\"]},"
              "{\"id\":\"twice\",\"target_boundaries\":[\"vector\"]}]",
              422, "invalid_rules", "twice", rules, filters);
    s_refused(&rt, "POST", "/v1/rules", "{\"id\":\"logs\",\"target_boundaries\":[\"graph\"]}",
              409, "duplicate_id", "logs", rules, filters);
    char big[4096];
    size_t n = (size_t)snprintf(big, sizeof big, "[");
    for (int i = 0; i < 6; i++) {
        n += (size_t)snprintf(big + n, sizeof big - n,
                              "%s{\"id\":\"r%d\",\"target_boundaries\":[\"graph\"]}", i ? "," : "",
                              i);
    }
    snprintf(big + n, sizeof big - n, "]");
    s_refused(&rt, "PUT", "/v1/rules", big, 413, "too_many_rules", "5", rules, filters);
    s_refused(&rt, "POST", "/v1/rules",
              "{\"id\":\"ok\",\"target_boundaries\":[\"graph\"],\"stop\":\"yes\"}", 422,
              "invalid_rules", "stop", rules, filters);
    s_refused(&rt, "PUT", "/v1/filters",
              "[{\"id\":\"f\",\"kind\":\"path\",\"action\":\"explode\",\"conditions\":"
              "{\"patterns\":[{\"kind\":\"prefix\",\"pattern\":\"/x\"}]}}]",
              422, "invalid_filters", "action", rules, filters);
    s_refused(&rt, "PUT", "/v1/rules", "[{\"id\":\"r\",", 400, "invalid_json", "", rules,
              filters);
    s_refused(&rt, "PUT", "/v1/rules", "{\"rulez\":[]}", 400, "invalid_body", "rulez", rules,
              filters);
    s_refused(&rt, "DELETE", "/v1/rules/absent", NULL, 404, "not_found", "absent", rules,
              filters);
    /* A body over admin.body_limit_bytes (1 MiB) is refused before it is parsed. */
    size_t blen = 1200 * 1024;
    char *huge = malloc(blen + 1);
    memset(huge, ' ', blen);
    huge[0] = '[';
    huge[blen - 1] = ']';
    huge[blen] = '\0';
    s_refused(&rt, "PUT", "/v1/rules", huge, 413, "body_too_large", "limit", rules, filters);
    free(huge);
    /* No token: refused before anything is parsed. */
    struct vt_http_result r;
    ck_assert_int_eq(vt_http_anon("PUT", rt.rest_port, "/v1/rules", "[]", &r), 0);
    ck_assert_int_eq(r.status, 401);
    vt_http_result_fini(&r);
    ck_assert_int_eq(vt_http("PUT", rt.rest_port, "/v1/rules", "[]", 2, "wrong", &r), 0);
    ck_assert_int_eq(r.status, 401);
    vt_http_result_fini(&r);
    json_t *now = NULL;
    ck_assert_int_eq(rh_call(&rt, "GET", "/v1/rules", NULL, &now), 200);
    ck_assert(json_equal(now, rules));
    json_decref(now);
    ck_assert_double_eq(rh_metric(&rt, "vexfs_routing_reloads_total{origin=\"rest\","
                                       "result=\"rejected\"}"),
                        7);
    /* max_routing_rules is live: once lowered, the next set is measured against it. */
    ck_assert_int_eq(rh_call(&rt, "PUT", "/v1/config", "{\"max_routing_rules\":2}", NULL), 200);
    s_refused(&rt, "POST", "/v1/rules",
              "{\"id\":\"one-more\",\"target_boundaries\":[\"graph\"]}", 413, "too_many_rules",
              "2", rules, filters);
    rh_stop(&rt);
    json_decref(rules);
    json_decref(filters);
}
END_TEST

START_TEST(t_reconfiguration_can_be_disabled)
{
    struct rh_daemon rt;
    rh_start(&rt, "tcp://127.0.0.1:1", "  enable_dynamic_reconfiguration: false\n");
    json_t *j = NULL;
    ck_assert_int_eq(rh_call(&rt, "PUT", "/v1/rules", "[]", &j), 409);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                     "reconfiguration_disabled");
    json_decref(j);
    ck_assert_int_eq(rh_call(&rt, "GET", "/v1/rules", NULL, NULL), 200);
    rh_stop(&rt);
}
END_TEST

/* ---- hot reload under load ------------------------------------------------------------- */

#define S_LOAD_MAX 2000000

struct s_sender {
    zsock_t *push;
    atomic_bool stop;
    atomic_size_t sent;
    size_t min;
    pthread_t thread;
};

static void *
s_sender_main(void *arg)
{
    struct s_sender *s = arg;
    static struct rh_event ev[100];
    static char paths[100][32];
    uint64_t bseq = 0;
    size_t sent = 0;
    while ((!atomic_load(&s->stop) || sent < s->min) && sent + 100 <= S_LOAD_MAX) {
        for (size_t k = 0; k < 100; k++) {
            snprintf(paths[k], sizeof paths[k], "/load/f%zu", (sent + k) % 997);
            ev[k] = (struct rh_event){"filesystem_write", paths[k], (long)(sent + k)};
        }
        rh_send(s->push, ev, 100, &bseq);
        sent += 100;
        atomic_store(&s->sent, sent);
    }
    return NULL;
}

START_TEST(t_hot_reload_100_swaps_under_load)
{
    struct ph_daemon prop;
    ph_start(&prop, "  queue_hwm: 10000\n", NULL);
    struct rh_daemon rt;
    rh_start(&rt, prop.output, "  queue_hwm: 10000\n");
    static const char *const set_a =
        "[{\"id\":\"load\",\"conditions\":{\"patterns\":[{\"kind\":\"prefix\","
        "\"pattern\":\"/load/\"}]},\"target_boundaries\":[\"automation\"]}]";
    static const char *const set_b =
        "[{\"id\":\"load\",\"conditions\":{\"patterns\":[{\"kind\":\"regex\","
        "\"pattern\":\"^/load/f[0-9]+$\"}]},\"target_boundaries\":[\"coordinator\"]}]";
    rh_expect(&rt, "PUT", "/v1/rules", set_a, 200);
    struct rh_collector a, b;
    rh_collect_start(&a, rh_out(&rt, "automation"), S_LOAD_MAX);
    rh_collect_start(&b, rh_out(&rt, "coordinator"), S_LOAD_MAX);
    struct s_sender snd = {.push = ph_push(&prop), .min = 50000};
    atomic_init(&snd.stop, false);
    atomic_init(&snd.sent, 0);
    pthread_create(&snd.thread, NULL, s_sender_main, &snd);
    /* Let the stream start, then swap while it flows. */
    while (atomic_load(&a.total) < 2000) {
        vt_sleep_ms(5);
    }
    size_t before = atomic_load(&a.total) + atomic_load(&b.total);
    json_t *v0 = NULL;
    rh_call(&rt, "GET", "/v1/rules", NULL, &v0);
    json_int_t version0 = json_integer_value(json_object_get(v0, "version"));
    json_decref(v0);
    for (int i = 0; i < 100; i++) {
        rh_expect(&rt, "PUT", "/v1/rules", i % 2 == 0 ? set_b : set_a, 200);
    }
    size_t during = atomic_load(&a.total) + atomic_load(&b.total) - before;
    atomic_store(&snd.stop, true);
    pthread_join(snd.thread, NULL);
    size_t sent = atomic_load(&snd.sent);
    rh_wait_decided(&rt, (double)sent, 60000);
    size_t got = 0;
    for (int waited = 0; waited < 30000; waited += 20) {
        got = atomic_load(&a.total) + atomic_load(&b.total);
        if (got >= sent) {
            break;
        }
        vt_sleep_ms(20);
    }
    rh_stop(&rt);
    got = atomic_load(&a.total) + atomic_load(&b.total);
    ck_assert_msg(got == sent, "%zu events sent, %zu arrived", sent, got);
    size_t lost = 0, twice = 0;
    for (size_t i = 0; i < sent; i++) {
        unsigned n = atomic_load(&a.counts[i]) + atomic_load(&b.counts[i]);
        lost += n == 0;
        twice += n > 1;
    }
    ck_assert_msg(lost == 0 && twice == 0, "%zu events lost, %zu arrived more than once", lost,
                  twice);
    ck_assert_msg(during > 0, "no event flowed while the set was swapped");
    ck_assert_uint_gt(atomic_load(&a.total), 0);
    ck_assert_uint_gt(atomic_load(&b.total), 0);
    ck_assert_uint_eq(atomic_load(&a.other) + atomic_load(&b.other), 0);
    rh_restart(&rt);
    json_t *v1 = NULL;
    rh_call(&rt, "GET", "/v1/rules", NULL, &v1);
    ck_assert_int_eq(json_integer_value(json_object_get(v1, "version")), version0 + 100);
    json_decref(v1);
    rh_stop(&rt);
    rh_collect_stop(&a);
    rh_collect_stop(&b);
    zsock_destroy(&snd.push);
    ph_stop(&prop);
}
END_TEST

/* ---- load balancing -------------------------------------------------------------------- */

#define S_LB_PATHS 64
#define S_LB_PER_PATH 40
#define S_LB_N (S_LB_PATHS * S_LB_PER_PATH)

static void
s_lb_send(const struct ph_daemon *prop)
{
    static struct rh_event ev[S_LB_N];
    static char paths[S_LB_PATHS][32];
    for (int p = 0; p < S_LB_PATHS; p++) {
        snprintf(paths[p], sizeof paths[p], "/lb/file-%d", p);
    }
    for (size_t i = 0; i < S_LB_N; i++) {
        ev[i] = (struct rh_event){"filesystem_write", paths[i % S_LB_PATHS], (long)i};
    }
    zsock_t *push = ph_push(prop);
    uint64_t bseq = 0;
    rh_send(push, ev, S_LB_N, &bseq);
    zsock_destroy(&push);
}

START_TEST(t_load_balancing_keeps_a_file_on_one_consumer)
{
    struct ph_daemon prop;
    ph_start(&prop, NULL, NULL);
    char yaml[512], ep1[64], ep2[64];
    snprintf(ep1, sizeof ep1, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    snprintf(ep2, sizeof ep2, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    snprintf(yaml, sizeof yaml, "  enable_load_balancing: true\n  outputs: \"analytics=%s,%s\"\n",
             ep1, ep2);
    struct rh_daemon rt;
    rh_start(&rt, prop.output, yaml);
    rh_expect(&rt, "PUT", "/v1/rules", "[{\"id\":\"all\",\"target_boundaries\":[\"analytics\"]}]", 200);
    struct rh_collector c[2];
    rh_collect_start(&c[0], ep1, S_LB_N);
    rh_collect_start(&c[1], ep2, S_LB_N);
    s_lb_send(&prop);
    rh_wait_decided(&rt, S_LB_N, 30000);
    for (int waited = 0;
         waited < 10000 && atomic_load(&c[0].total) + atomic_load(&c[1].total) < S_LB_N;
         waited += 10) {
        vt_sleep_ms(10);
    }
    ck_assert_uint_eq(atomic_load(&c[0].total) + atomic_load(&c[1].total), S_LB_N);
    for (size_t i = 0; i < S_LB_N; i++) {
        ck_assert_uint_eq(atomic_load(&c[0].counts[i]) + atomic_load(&c[1].counts[i]), 1);
    }
    /* Each file went to one consumer only, its events in order; both consumers got files. */
    size_t files[2] = {0, 0};
    for (int p = 0; p < S_LB_PATHS; p++) {
        char path[32];
        snprintf(path, sizeof path, "/lb/file-%d", p);
        bool in0 = json_object_get(c[0].paths, path) != NULL;
        bool in1 = json_object_get(c[1].paths, path) != NULL;
        ck_assert_msg(in0 != in1, "%s reached %s", path, in0 ? "both consumers" : "no consumer");
        files[in1]++;
        /* Explain names the consumer the file goes to. */
        char body[128];
        snprintf(body, sizeof body, "{\"type\":\"filesystem_write\",\"path\":\"%s\"}", path);
        json_t *d = NULL;
        ck_assert_int_eq(rh_call(&rt, "POST", "/v1/route/test", body, &d), 200);
        json_t *o = json_array_get(json_object_get(d, "outputs"), 0);
        ck_assert_int_eq(json_integer_value(json_object_get(o, "consumer")), in1 ? 1 : 0);
        ck_assert_str_eq(json_string_value(json_array_get(json_object_get(o, "endpoints"), 0)),
                         in1 ? ep2 : ep1);
        json_decref(d);
    }
    ck_assert_uint_gt(files[0], 0);
    ck_assert_uint_gt(files[1], 0);
    ck_assert_uint_eq(atomic_load(&c[0].out_of_order) + atomic_load(&c[1].out_of_order), 0);
    rh_stop(&rt);
    rh_collect_stop(&c[0]);
    rh_collect_stop(&c[1]);
    ph_stop(&prop);
}
END_TEST

START_TEST(t_without_load_balancing_every_consumer_gets_all)
{
    struct ph_daemon prop;
    ph_start(&prop, NULL, NULL);
    char yaml[512], ep1[64], ep2[64];
    snprintf(ep1, sizeof ep1, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    snprintf(ep2, sizeof ep2, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    snprintf(yaml, sizeof yaml,
             "  enable_load_balancing: false\n  outputs: \"audit=%s,%s\"\n", ep1, ep2);
    struct rh_daemon rt;
    rh_start(&rt, prop.output, yaml);
    rh_expect(&rt, "PUT", "/v1/rules", "[{\"id\":\"all\",\"target_boundaries\":[\"audit\"]}]", 200);
    struct rh_collector c[2];
    rh_collect_start(&c[0], ep1, S_LB_N);
    rh_collect_start(&c[1], ep2, S_LB_N);
    s_lb_send(&prop);
    ck_assert_uint_eq(rh_collect_wait(&c[0], S_LB_N, 30000), S_LB_N);
    ck_assert_uint_eq(rh_collect_wait(&c[1], S_LB_N, 30000), S_LB_N);
    for (size_t i = 0; i < S_LB_N; i++) {
        ck_assert_uint_eq(atomic_load(&c[0].counts[i]), 1);
        ck_assert_uint_eq(atomic_load(&c[1].counts[i]), 1);
    }
    rh_stop(&rt);
    rh_collect_stop(&c[0]);
    rh_collect_stop(&c[1]);
    ph_stop(&prop);
}
END_TEST

/* ---- vexfsctl rules -------------------------------------------------------------------- */

static int
s_ctl(const struct rh_daemon *rt, const char *tokfile, struct vt_run_result *r, const char *a1,
      const char *a2)
{
    char bin[512], url[64];
    snprintf(bin, sizeof bin, "%s/vexfsctl", vt_bin_dir());
    snprintf(url, sizeof url, "https://127.0.0.1:%u", (unsigned)rt->rest_port);
    char *argv[] = {bin,      (char *)"rules", (char *)a1, (char *)"--url", url,
                    (char *)"--token-file", (char *)tokfile, (char *)a2, NULL};
    if (!a2) {
        argv[7] = NULL;
    }
    ck_assert_int_eq(vt_run(argv, NULL, NULL, 20000, r), 0);
    return WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
}

START_TEST(t_vexfsctl_rules)
{
    struct rh_daemon rt;
    rh_start(&rt, "tcp://127.0.0.1:1", NULL);
    char tok[300], file[300], bad[300], ev[300];
    snprintf(tok, sizeof tok, "%s/token", rt.dir);
    snprintf(file, sizeof file, "%s/set.yaml", rt.dir);
    snprintf(bad, sizeof bad, "%s/bad.yaml", rt.dir);
    snprintf(ev, sizeof ev, "%s/event.json", rt.dir);
    ck_assert_int_eq(vt_write_file(file, "rules:\n"
                                         "  - id: ctl-logs\n"
                                         "    conditions: {patterns: [{kind: suffix, pattern: "
                                         ".log}]}\n"
                                         "    target_boundaries: [analytics]\n"
                                         "  - id: ctl-all\n"
                                         "    target_boundaries: [vector]\n"
                                         "filters:\n"
                                         "  - {id: ctl-block, kind: path, action: block,\n"
                                         "     conditions: {patterns: [{kind: prefix, pattern: "
                                         "/private/}]}}\n"),
                     0);
    ck_assert_int_eq(vt_write_file(bad, "rules:\n  - id: x\n    target_boundaries: [mars]\n"), 0);
    ck_assert_int_eq(vt_write_file(ev, "{\"type\":\"filesystem_write\",\"path\":\"/a/b.log\"}\n"),
                     0);
    struct vt_run_result r;
    ck_assert_int_eq(s_ctl(&rt, tok, &r, "apply", file), 0);
    vt_run_result_fini(&r);
    ck_assert_int_eq(s_ctl(&rt, tok, &r, "list", NULL), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "ctl-logs"));
    ck_assert_ptr_nonnull(strstr(r.out, "ctl-all"));
    ck_assert_ptr_nonnull(strstr(r.out, "ctl-block"));
    vt_run_result_fini(&r);
    ck_assert_int_eq(s_ctl(&rt, tok, &r, "get", "ctl-logs"), 0);
    json_t *rule = json_loads(r.out, 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(rule, "id")), "ctl-logs");
    json_decref(rule);
    vt_run_result_fini(&r);
    ck_assert_int_eq(s_ctl(&rt, tok, &r, "test", ev), 0);
    json_t *d = json_loads(r.out, 0, NULL);
    ck_assert_int_eq(json_array_size(json_object_get(d, "targets")), 2);
    json_decref(d);
    vt_run_result_fini(&r);
    /* A set that does not build: exit 1, the daemon's message, nothing changed. */
    ck_assert_int_eq(s_ctl(&rt, tok, &r, "apply", bad), 1);
    ck_assert_ptr_nonnull(strstr(r.err, "mars"));
    vt_run_result_fini(&r);
    ck_assert_int_eq(s_ctl(&rt, tok, &r, "get", "x"), 1);
    ck_assert_msg(strstr(r.err, "no rule or filter 'x'") != NULL, "%s", r.err);
    vt_run_result_fini(&r);
    ck_assert_int_eq(s_ctl(&rt, tok, &r, "delete", "ctl-all"), 0);
    vt_run_result_fini(&r);
    ck_assert_int_eq(s_ctl(&rt, tok, &r, "list", NULL), 0);
    ck_assert_ptr_null(strstr(r.out, "ctl-all"));
    ck_assert_ptr_nonnull(strstr(r.out, "ctl-logs"));
    vt_run_result_fini(&r);
    ck_assert_int_eq(s_ctl(&rt, tok, &r, "frobnicate", NULL), 2);
    vt_run_result_fini(&r);
    rh_stop(&rt);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("routing");
    TCase *tc = tcase_create("boundaries");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, t_events_reach_exactly_their_boundaries);
    tcase_add_test(tc, t_filtered_and_unrouted_are_counted);
    suite_add_tcase(s, tc);
    tc = tcase_create("explain");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, t_explain_has_no_side_effects);
    suite_add_tcase(s, tc);
    tc = tcase_create("persistence");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, t_rules_persist_across_restart);
    tcase_add_test(tc, t_rules_file_change_reloads);
    tcase_add_test(tc, t_sighup_rereads_rules_file);
    suite_add_tcase(s, tc);
    tc = tcase_create("bad_input");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, t_bad_sets_change_nothing);
    tcase_add_test(tc, t_reconfiguration_can_be_disabled);
    suite_add_tcase(s, tc);
    tc = tcase_create("hot_reload");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, t_hot_reload_100_swaps_under_load);
    suite_add_tcase(s, tc);
    tc = tcase_create("load_balancing");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, t_load_balancing_keeps_a_file_on_one_consumer);
    tcase_add_test(tc, t_without_load_balancing_every_consumer_gets_all);
    suite_add_tcase(s, tc);
    tc = tcase_create("vexfsctl");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, t_vexfsctl_rules);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
