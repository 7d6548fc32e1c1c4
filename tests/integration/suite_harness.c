/* SPDX-License-Identifier: Apache-2.0 */
#include "suite_harness.h"

#include <check.h>
#include <czmq.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "coord_netns.h"
#include "kafka_harness.h"
#include "vx_arena.h"
#include "vx_test.h"
#include "vx_wire.h"

static const char *const s_names[SH_N] = {"propagation", "routing",    "coordinator1",
                                          "coordinator2", "coordinator3", "automation",
                                          "analytics",   "watch"};

const char *
sh_name(enum sh_daemon d)
{
    return s_names[d];
}

/* The repository's config/demo directory, absolute (tests run from the repository root). */
static void
s_demo_config(char *out, size_t len, const char *file)
{
    char cwd[PATH_MAX];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    snprintf(out, len, "%s/config/demo/%s", cwd, file);
    ck_assert_msg(access(out, R_OK) == 0, "%s is missing (run from the repository root)", out);
}

/* One configuration file for daemon d: every section the suite needs, with the per-node
 * values of a coordinator. */
static void
s_write_config(struct sh_suite *s, enum sh_daemon d)
{
    char rules[PATH_MAX], patterns[PATH_MAX], queries[PATH_MAX], workflows[PATH_MAX],
        scripts[PATH_MAX], members[512], path[400];
    s_demo_config(rules, sizeof rules, "rules.yaml");
    s_demo_config(patterns, sizeof patterns, "patterns.json");
    s_demo_config(queries, sizeof queries, "queries.json");
    s_demo_config(workflows, sizeof workflows, "workflows.json");
    s_demo_config(scripts, sizeof scripts, "scripts");
    /* With the coordinators in namespaces of their own (sh_prepare_ex), each answers raft on
     * its node address and connects to routing's coordinator boundary over its client link;
     * routing binds that boundary on every address so the links reach it. */
    const char *raft_host[3] = {"127.0.0.1", "127.0.0.1", "127.0.0.1"};
    if (s->netns) {
        for (int i = 0; i < 3; i++) {
            raft_host[i] = s->net.node_addr[i];
        }
    }
    snprintf(members, sizeof members, "1@%s:%u/%u,2@%s:%u/%u,3@%s:%u/%u", raft_host[0],
             s->raft[0], s->rest[SH_COORD1], raft_host[1], s->raft[1], s->rest[SH_COORD2],
             raft_host[2], s->raft[2], s->rest[SH_COORD3]);
    int node = d >= SH_COORD1 && d <= SH_COORD3 ? (int)(d - SH_COORD1) + 1 : 1;
    const char *coord_in_host = s->netns ? s->net.host_addr[node - 1] : "127.0.0.1";
    const char *out_coord_host = s->netns ? "0.0.0.0" : "127.0.0.1";
    const char *coord_rest_bind = s->netns ? "0.0.0.0" : "127.0.0.1";
    uint16_t rest = s->rest[d];
    char prefix[200];
    snprintf(prefix, sizeof prefix, "%.*s", (int)(strlen(s->routed) - strlen("analytics")),
             s->routed);
    size_t cap = 8192;
    char *y = malloc(cap);
    ck_assert_ptr_nonnull(y);
    snprintf(y, cap,
             "event_propagation:\n"
             "  enable_deduplication: true\n"
             "  dedup_window_ms: 1000\n"
             "  ingest_endpoint: tcp://127.0.0.1:%u\n"
             "  ingest_acked_endpoint: tcp://127.0.0.1:%u\n"
             "  output_endpoint: tcp://127.0.0.1:%u\n"
             "  output_acked: true\n"
             "  tap_endpoint: tcp://127.0.0.1:%u\n"
             "  rest_port: %u\n"
             "  kafka_brokers: \"%s\"\n"
             "  kafka_topic: \"%s\"\n"
             "event_routing:\n"
             "  input_endpoint: tcp://127.0.0.1:%u\n"
             "  input_acked: true\n"
             "  output_coordinator: tcp://%s:%u\n"
             "  output_automation: tcp://127.0.0.1:%u\n"
             "  output_analytics: tcp://127.0.0.1:%u\n"
             "  output_graph: tcp://127.0.0.1:%u\n"
             "  output_vector: tcp://127.0.0.1:%u\n"
             "  outputs: \"console=tcp://127.0.0.1:%u\"\n"
             "  enable_load_balancing: false\n"
             "  rules_file: %s\n"
             "  state_dir: %s/routing-state\n"
             "  kafka_brokers: \"%s\"\n"
             "  kafka_topic_prefix: \"%s\"\n"
             "  rest_port: %u\n"
             "distributed_coordination:\n"
             "  enable_raft_consensus: true\n"
             "  cluster_size: 3\n"
             "  node_id: %d\n"
             "  members: \"%s\"\n"
             "  data_dir: %s/coordinator%d\n"
             "  input_endpoint: \">tcp://%s:%u\"\n"
             "  rest_bind: %s\n"
             "  election_timeout_ms: 300\n"
             "  heartbeat_ms: 50\n"
             "  connect_retry_ms: 100\n"
             "  rest_port: %u\n"
             "reactive_automation:\n"
             "  input_endpoint: tcp://127.0.0.1:%u\n"
             "  patterns_file: %s\n"
             "  workflows_path: %s\n"
             "  scripts_dir: %s\n"
             "  state_dir: %s/automation-state\n"
             "  emit_endpoint: tcp://127.0.0.1:%u\n"
             "  emit_ack_endpoint: tcp://127.0.0.1:%u\n"
             "  rest_port: %u\n"
             "stream_analytics:\n"
             "  kafka_brokers: \"%s\"\n"
             "  topic: \"%s\"\n"
             "  results_topic: \"%s.results\"\n"
             "  group_id: \"%s\"\n"
             "  commit_interval_ms: 200\n"
             "  input_endpoint: \">tcp://127.0.0.1:%u\"\n"
             "  results_endpoint: tcp://127.0.0.1:%u\n"
             "  queries_file: %s\n"
             "  state_dir: %s/analytics-state\n"
             "  rest_port: %u\n"
             "userspace_watcher:\n"
             "  ingest_endpoint: tcp://127.0.0.1:%u\n"
             "  ack_endpoint: tcp://127.0.0.1:%u\n"
             "  batch_max_delay_ms: 5\n"
             "  rest_port: %u\n"
             "admin:\n"
             "  token_file: %s/token\n"
             "logging:\n"
             "  level: info\n",
             s->ingest, s->ingest_acked, s->prop_out, s->tap, rest, kh_bootstrap(), s->journal, s->prop_out,
             out_coord_host, s->out_coord, s->out_auto, s->out_an, s->out_graph, s->out_vector, s->out_console,
             rules, s->dir, kh_bootstrap(), prefix, rest, node, members, s->dir, node,
             coord_in_host, s->out_coord, coord_rest_bind, rest, s->out_auto, patterns, workflows, scripts, s->dir, s->ingest, s->ingest_acked, rest, kh_bootstrap(), s->routed,
             s->routed, s->routed, s->an_input, s->an_results, queries, s->dir, rest, s->ingest,
             s->ingest_acked, rest, s->dir);
    snprintf(path, sizeof path, "%s/%s.yaml", s->dir, s_names[d]);
    ck_assert_int_eq(vt_write_file(path, y), 0);
    free(y);
}

/* Pulls routing's console boundary until told to stop. */
static void *
s_console_main(void *arg)
{
    struct sh_suite *s = arg;
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%u", s->out_console);
    zsock_t *pull = vt_sock_ex(&(struct vt_sock_opts){.type = ZMQ_PULL, .endpoint = ep,
                                                      .rcvtimeo_ms = 100});
    ck_assert_ptr_nonnull(pull);
    vx_arena_t *a = vx_arena_new(1 << 20, 0);
    while (!atomic_load(&s->console_stop)) {
        struct vx_wire_msg m;
        if (vx_wire_recv(pull, &m, 0) < 0) {
            continue;
        }
        vx_batch_t *b = vx_wire_decode(zmq_msg_data(&m.body), zmq_msg_size(&m.body), a);
        if (b) {
            atomic_fetch_add(&s->console_events, (long)b->n_events);
        }
        vx_wire_msg_fini(&m);
        vx_arena_reset(a);
    }
    vx_arena_destroy(&a);
    zsock_destroy(&pull);
    return NULL;
}

void
sh_start(struct sh_suite *s, enum sh_daemon d)
{
    char bin[PATH_MAX], cfg[400], log[400];
    const char *prog = d >= SH_COORD1 && d <= SH_COORD3 ? "coordinator" : s_names[d];
    snprintf(bin, sizeof bin, "%s/vexfs-%s", vt_bin_dir(), prog);
    snprintf(cfg, sizeof cfg, "%s/%s.yaml", s->dir, s_names[d]);
    snprintf(log, sizeof log, "%s/%s.%d.log", s->dir, s_names[d], s->restarts[d]);
    char *argv_std[] = {bin, "--config", cfg, NULL};
    char *argv_watch[] = {bin, s->demo, "--config", cfg, NULL};
    char **argv = d == SH_WATCH ? argv_watch : argv_std;
    /* `ip netns exec` execs the program: the pid is the coordinator's own. */
    char *argv_ns[] = {(char *)cn_ip(), "netns", "exec", NULL, bin, "--config", cfg, NULL};
    if (s->netns && d >= SH_COORD1 && d <= SH_COORD3) {
        argv_ns[3] = s->net.ns[d - SH_COORD1];
        argv = argv_ns;
    }
    s->pid[d] = vt_spawn(argv, NULL, log);
    ck_assert_msg(s->pid[d] > 0, "cannot start %s", bin);
    ck_assert_msg(vt_wait_ready(s->rest[d], 30000), "%s not ready in 30 s; log in %s",
                  s_names[d], log);
}

void
sh_start_all(struct sh_suite *s)
{
    sh_prepare(s, false);
    sh_launch(s);
}

void
sh_prepare(struct sh_suite *s, bool own_console)
{
    sh_prepare_ex(s, own_console, false);
}

void
sh_prepare_ex(struct sh_suite *s, bool own_console, bool coord_netns)
{
    memset(s, 0, sizeof *s);
    s->own_console = own_console;
    if (coord_netns) {
        cn_setup(&s->net, 3);
        s->netns = true;
    }
    char *dir = vt_tmpdir();
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    free(dir);
    snprintf(s->demo, sizeof s->demo, "%s/demo", s->dir);
    ck_assert_int_eq(mkdir(s->demo, 0755), 0);
    char tok[300];
    snprintf(tok, sizeof tok, "%s/token", s->dir);
    ck_assert_int_eq(vt_write_file(tok, SH_TOKEN "\n"), 0);

    kh_topic(s->journal, sizeof s->journal, "e2e-events");
    char base[140];
    kh_topic(base, sizeof base, "e2e");
    snprintf(s->routed, sizeof s->routed, "%s.routed.analytics", base);
    /* Routing creates its topic when it first writes; analytics subscribes before that, so the
     * topic must exist first (a consumer does not create topics). */
    kh_create_topic(s->routed, 3);
    kh_create_topic(s->journal, 3);

    for (int d = 0; d < SH_N; d++) {
        s->rest[d] = vt_free_port();
    }
    s->ingest = vt_free_port();
    s->ingest_acked = vt_free_port();
    s->prop_out = vt_free_port();
    s->tap = vt_free_port();
    s->out_coord = vt_free_port();
    s->out_auto = vt_free_port();
    s->out_an = vt_free_port();
    s->out_graph = vt_free_port();
    s->out_vector = vt_free_port();
    s->out_console = vt_free_port();
    s->an_input = vt_free_port();
    s->an_results = vt_free_port();
    for (int i = 0; i < 3; i++) {
        s->raft[i] = vt_free_port();
        if (s->netns) {
            /* Requests by port to a coordinator go to its client link. */
            vt_http_route(s->rest[SH_COORD1 + i], s->net.client_addr[i]);
        }
    }
    for (int d = 0; d < SH_N; d++) {
        s_write_config(s, (enum sh_daemon)d);
    }

}

void
sh_launch(struct sh_suite *s)
{
    zsys_init();
    atomic_init(&s->console_stop, false);
    atomic_init(&s->console_events, 0);
    if (!s->own_console) {
        ck_assert_int_eq(pthread_create(&s->console_thread, NULL, s_console_main, s), 0);
    }

    sh_start(s, SH_PROPAGATION);
    sh_start(s, SH_ROUTING);
    /* The three nodes must be up together for the first election. */
    char bin[PATH_MAX];
    snprintf(bin, sizeof bin, "%s/vexfs-coordinator", vt_bin_dir());
    for (int d = SH_COORD1; d <= SH_COORD3; d++) {
        char cfg[400], log[400];
        snprintf(cfg, sizeof cfg, "%s/%s.yaml", s->dir, s_names[d]);
        snprintf(log, sizeof log, "%s/%s.0.log", s->dir, s_names[d]);
        char *plain[] = {bin, "--config", cfg, NULL};
        char *in_ns[] = {(char *)cn_ip(), "netns", "exec", NULL, bin, "--config", cfg, NULL};
        char **argv = plain;
        if (s->netns) {
            in_ns[3] = s->net.ns[d - SH_COORD1];
            argv = in_ns;
        }
        s->pid[d] = vt_spawn(argv, NULL, log);
        ck_assert_int_gt(s->pid[d], 0);
    }
    for (int d = SH_COORD1; d <= SH_COORD3; d++) {
        ck_assert_msg(vt_wait_ready(s->rest[d], 30000), "%s not ready; log in %s/%s.0.log",
                      s_names[d], s->dir, s_names[d]);
    }
    ck_assert_msg(sh_leader(s, 20000) >= 0, "the coordinators elected no leader");
    sh_start(s, SH_AUTOMATION);
    sh_start(s, SH_ANALYTICS);
    sh_start(s, SH_WATCH);
}

void
sh_kill9(struct sh_suite *s, enum sh_daemon d)
{
    ck_assert_int_gt(s->pid[d], 0);
    int st = vt_stop(s->pid[d], SIGKILL, 10000);
    ck_assert_msg(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
                  "%s did not die of SIGKILL (status %d)", s_names[d], st);
    s->pid[d] = 0;
    s->restarts[d]++;
}

void
sh_stop_all(struct sh_suite *s)
{
    static const enum sh_daemon order[SH_N] = {SH_WATCH,  SH_ANALYTICS, SH_AUTOMATION,
                                               SH_COORD3, SH_COORD2,    SH_COORD1,
                                               SH_ROUTING, SH_PROPAGATION};
    char failed[512] = "";
    for (int i = 0; i < SH_N; i++) {
        enum sh_daemon d = order[i];
        if (s->pid[d] <= 0) {
            continue;
        }
        int st = vt_stop(s->pid[d], SIGTERM, 30000);
        if (!(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
            size_t n = strlen(failed);
            snprintf(failed + n, sizeof failed - n, " %s (status %d; log %s/%s.%d.log)",
                     s_names[d], st, s->dir, s_names[d], s->restarts[d]);
        }
        s->pid[d] = 0;
    }
    atomic_store(&s->console_stop, true);
    if (!s->own_console) {
        pthread_join(s->console_thread, NULL);
    }
    if (s->netns) {
        for (int i = 0; i < 3; i++) {
            vt_http_route(s->rest[SH_COORD1 + i], NULL);
        }
        cn_cleanup(s->net.prefix);
        s->netns = false;
    }
    ck_assert_msg(failed[0] == '\0', "did not exit 0 on SIGTERM:%s", failed);
}

long
sh_call(const struct sh_suite *s, enum sh_daemon d, const char *method, const char *path,
        const char *body, json_t **out)
{
    struct vt_http_result r;
    if (out) {
        *out = NULL;
    }
    if (vt_http(method, s->rest[d], path, body, body ? strlen(body) : 0, SH_TOKEN, &r) != 0) {
        vt_http_result_fini(&r);
        return 0;
    }
    long status = r.status;
    if (out && r.body) {
        *out = json_loads(r.body, 0, NULL);
    }
    vt_http_result_fini(&r);
    return status;
}

double
sh_metric_sum(const struct sh_suite *s, enum sh_daemon d, const char *name)
{
    return vt_metric_sum(s->rest[d], name);
}

int
sh_leader(const struct sh_suite *s, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 50) {
        for (int d = SH_COORD1; d <= SH_COORD3; d++) {
            if (s->pid[d] <= 0) {
                continue;
            }
            json_t *o = NULL;
            bool leader =
                sh_call(s, (enum sh_daemon)d, "GET", "/v1/cluster", NULL, &o) == 200 &&
                strcmp(json_string_value(json_object_get(o, "status")) ?: "", "leader") == 0;
            json_decref(o);
            if (leader) {
                return d;
            }
        }
        vt_sleep_ms(50);
    }
    return -1;
}
