/* SPDX-License-Identifier: Apache-2.0 */
/* vexfsctl as a real process: --version/--help, usage errors, emit over ZeroMQ (batching,
 * sender and batch sequence, bad stdin lines), tail on a PUB socket, status against a closed
 * port, and the three commands against a real vexfs-propagation (status up, emit -> tap ->
 * tail, emit over REST with its token and error answers). */
#include <check.h>
#include <czmq.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "prop_harness.h"
#include "vx_arena.h"
#include "vx_event.h"
#include "vx_test.h"
#include "vx_wire.h"

#define S_RUN_TIMEOUT_MS 30000

static const char *
s_ctl(void)
{
    static char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfsctl", vt_bin_dir());
    return bin;
}

/* Runs vexfsctl with the arguments in ap (NULL-terminated), env added to the environment (may
 * be NULL) and stdin text; fails the test when it does not exit by itself. */
static void
s_run_va(struct vt_run_result *r, char *const *env, const char *stdin_text, va_list ap)
{
    char *argv[64];
    size_t n = 0;
    argv[n++] = (char *)s_ctl();
    for (char *a = va_arg(ap, char *); a && n < 63; a = va_arg(ap, char *)) {
        argv[n++] = a;
    }
    argv[n] = NULL;
    int rc = vt_run(argv, env, stdin_text, S_RUN_TIMEOUT_MS, r);
    ck_assert_msg(rc == 0, "vexfsctl %s did not finish (rc %d); stderr: %s", argv[1], rc, r->err);
}

static void
s_run(struct vt_run_result *r, const char *stdin_text, ...)
{
    va_list ap;
    va_start(ap, stdin_text);
    s_run_va(r, NULL, stdin_text, ap);
    va_end(ap);
}

/* vexfsctl as a caller without a client certificate (VEXFS_CERT_FILE=none): only a token can
 * identify it. */
static void
s_run_anon(struct vt_run_result *r, const char *stdin_text, ...)
{
    char *const env[] = {(char *)"VEXFS_CERT_FILE=none", NULL};
    va_list ap;
    va_start(ap, stdin_text);
    s_run_va(r, env, stdin_text, ap);
    va_end(ap);
}

static int
s_exit_code(const struct vt_run_result *r)
{
    return WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
}

#define S_ASSERT_HAS(text, needle)                                                                 \
    ck_assert_msg(strstr((text), (needle)) != NULL, "expected '%s' in: %s", (needle), (text))

/* A bound socket of the given type on an ephemeral loopback port; its endpoint in ep. */
static zsock_t *
s_bind(int type, char *ep, size_t eplen)
{
    int port = 0;
    zsock_t *s = vt_sock_ex(&(struct vt_sock_opts){
        .type = type, .endpoint = "tcp://127.0.0.1:*", .bind = true, .port = &port});
    ck_assert_ptr_nonnull(s);
    ck_assert_int_gt(port, 0);
    snprintf(ep, eplen, "tcp://127.0.0.1:%d", port);
    return s;
}

/* Receives one batch within timeout_ms into arena; NULL when none came. */
static vx_batch_t *
s_recv_batch(zsock_t *s, vx_arena_t *arena, int timeout_ms)
{
    zsock_set_rcvtimeo(s, timeout_ms);
    struct vx_wire_msg m;
    if (vx_wire_recv(s, &m, 0) < 0) {
        return NULL;
    }
    ck_assert_str_eq(m.topic, "events");
    vx_batch_t *b = vx_wire_decode(zmq_msg_data(&m.body), zmq_msg_size(&m.body), arena);
    vx_wire_msg_fini(&m);
    ck_assert_msg(b != NULL, "vexfsctl sent an undecodable batch");
    return b;
}

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

/* Publishes one batch of events with paths prefix0 .. prefix(n-1). */
static void
s_publish(zsock_t *pub, const char *prefix, size_t n)
{
    vx_event_t ev[16];
    vx_event_t *evp[16];
    char paths[16][64];
    ck_assert_uint_le(n, 16);
    for (size_t i = 0; i < n; i++) {
        vexfs__v1__event__init(&ev[i]);
        ev[i].type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_CREATE;
        snprintf(paths[i], sizeof paths[i], "%s%zu", prefix, i);
        ev[i].path = paths[i];
        evp[i] = &ev[i];
    }
    vx_batch_t b;
    vexfs__v1__event_batch__init(&b);
    b.events = evp;
    b.n_events = n;
    b.sender = "test-publisher";
    ck_assert_int_eq(vx_wire_send(pub, "events", &b, 0), 0);
}

/* Reads what fd has within timeout_ms into a growing string; false at end of file. */
static bool
s_read_some(int fd, char **buf, size_t *len, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) <= 0) {
        return true;
    }
    char chunk[4096];
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n <= 0) {
        return false;
    }
    *buf = realloc(*buf, *len + (size_t)n + 1);
    ck_assert_ptr_nonnull(*buf);
    memcpy(*buf + *len, chunk, (size_t)n);
    *len += (size_t)n;
    (*buf)[*len] = '\0';
    return true;
}

static size_t
s_count_lines(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++) {
        n += *s == '\n';
    }
    return n;
}

/* ---- version, help, usage ------------------------------------------------------------------ */

START_TEST(t_version_and_help)
{
    struct vt_run_result r;
    s_run(&r, NULL, "--version", NULL);
    ck_assert_int_eq(s_exit_code(&r), 0);
    ck_assert_str_eq(r.out, "vexfsctl " VX_VERSION "\n");
    vt_run_result_fini(&r);

    s_run(&r, NULL, "--help", NULL);
    ck_assert_int_eq(s_exit_code(&r), 0);
    S_ASSERT_HAS(r.out, "usage: vexfsctl");
    S_ASSERT_HAS(r.out, "status");
    S_ASSERT_HAS(r.out, "emit");
    S_ASSERT_HAS(r.out, "tail");
    vt_run_result_fini(&r);

    s_run(&r, NULL, "emit", "--help", NULL);
    ck_assert_int_eq(s_exit_code(&r), 0);
    S_ASSERT_HAS(r.out, "--count");
    S_ASSERT_HAS(r.out, "--rest");
    vt_run_result_fini(&r);

    s_run(&r, NULL, "tail", "--version", NULL);
    ck_assert_int_eq(s_exit_code(&r), 0);
    ck_assert_str_eq(r.out, "vexfsctl " VX_VERSION "\n");
    vt_run_result_fini(&r);
}
END_TEST

START_TEST(t_usage_errors)
{
    struct vt_run_result r;
    s_run(&r, NULL, "emit", "--type", "filesystem_write", "--path", "/x", "--priority", "300",
          NULL);
    ck_assert_int_eq(s_exit_code(&r), 2);
    S_ASSERT_HAS(r.err, "vexfsctl emit: --priority: expected 0..255, got 300");
    vt_run_result_fini(&r);

    s_run(&r, NULL, "frobnicate", NULL);
    ck_assert_int_eq(s_exit_code(&r), 2);
    S_ASSERT_HAS(r.err, "unknown command 'frobnicate'");
    vt_run_result_fini(&r);

    s_run(&r, NULL, "emit", "--path", "/x", NULL);
    ck_assert_int_eq(s_exit_code(&r), 2);
    S_ASSERT_HAS(r.err, "--path needs --type");
    vt_run_result_fini(&r);

    s_run(&r, NULL, "emit", "--type", "filesystem_write", NULL);
    ck_assert_int_eq(s_exit_code(&r), 2);
    S_ASSERT_HAS(r.err, "field 'path': required for filesystem_write events");
    vt_run_result_fini(&r);

    s_run(&r, NULL, "status", "--only", "propagation,nosuch", NULL);
    ck_assert_int_eq(s_exit_code(&r), 2);
    S_ASSERT_HAS(r.err, "--only: unknown service 'nosuch'");
    vt_run_result_fini(&r);

    s_run(&r, NULL, "tail", "--bogus", NULL);
    ck_assert_int_eq(s_exit_code(&r), 2);
    S_ASSERT_HAS(r.err, "vexfsctl tail: unknown option '--bogus'");
    vt_run_result_fini(&r);
}
END_TEST

/* ---- emit over ZeroMQ ---------------------------------------------------------------------- */

START_TEST(t_emit_count_in_batches)
{
    char ep[128];
    zsock_t *pull = s_bind(ZMQ_PULL, ep, sizeof ep);
    struct vt_run_result r;
    s_run(&r, NULL, "emit", "--endpoint", ep, "--type", "filesystem_write", "--path", "/x",
          "--count", "250", "--batch", "100", NULL);
    ck_assert_msg(s_exit_code(&r) == 0, "exit %d, stderr: %s", s_exit_code(&r), r.err);
    S_ASSERT_HAS(r.err, "sent 250 events in 3 batches (0 invalid lines skipped)");

    char host[256] = "";
    gethostname(host, sizeof host - 1);
    char sender[400];
    snprintf(sender, sizeof sender, "vexfsctl-%s-%ld", host, (long)r.pid);

    vx_arena_t *arena = vx_arena_new(1 << 20, 0);
    bool seen[250] = {false};
    long next = 0;
    const size_t sizes[3] = {100, 100, 50};
    for (uint64_t seq = 1; seq <= 3; seq++) {
        vx_batch_t *b = s_recv_batch(pull, arena, 10000);
        ck_assert_msg(b != NULL, "batch %llu did not arrive", (unsigned long long)seq);
        ck_assert_str_eq(b->sender, sender);
        ck_assert_uint_eq(b->batch_sequence, seq);
        ck_assert_uint_eq(b->n_events, sizes[seq - 1]);
        for (size_t i = 0; i < b->n_events; i++) {
            const vx_event_t *e = b->events[i];
            ck_assert_int_eq(e->type, VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE);
            ck_assert_str_eq(e->path, "/x");
            const char *n = s_content(e, "n");
            ck_assert_ptr_nonnull(n);
            long v = strtol(n, NULL, 10);
            ck_assert_int_eq(v, next);
            ck_assert(!seen[v]);
            seen[v] = true;
            next++;
        }
        vx_arena_reset(arena);
    }
    ck_assert_int_eq(next, 250);
    ck_assert_ptr_null(s_recv_batch(pull, arena, 200));
    vx_arena_destroy(&arena);
    vt_run_result_fini(&r);
    zsock_destroy(&pull);
}
END_TEST

START_TEST(t_emit_stdin_skips_bad_line)
{
    char ep[128];
    zsock_t *pull = s_bind(ZMQ_PULL, ep, sizeof ep);
    const char *input =
        "{\"type\":\"filesystem_write\",\"path\":\"/a\",\"content\":{\"k\":\"1\"}}\n"
        "{\"type\":\"no_such_type\",\"path\":\"/b\"}\n"
        "{\"type\":\"filesystem_create\",\"path\":\"/c\",\"tenant\":\"acme\"}\n";
    struct vt_run_result r;
    s_run(&r, input, "emit", "--endpoint", ep, NULL);
    ck_assert_int_eq(s_exit_code(&r), 1);
    S_ASSERT_HAS(r.err, "line 2: ");
    S_ASSERT_HAS(r.err, "no_such_type");
    ck_assert_ptr_null(strstr(r.err, "line 1:"));
    ck_assert_ptr_null(strstr(r.err, "line 3:"));
    S_ASSERT_HAS(r.err, "sent 2 events in 1 batch (1 invalid line skipped)");

    vx_arena_t *arena = vx_arena_new(1 << 20, 0);
    vx_batch_t *b = s_recv_batch(pull, arena, 10000);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(b->batch_sequence, 1);
    ck_assert_uint_eq(b->n_events, 2);
    ck_assert_str_eq(b->events[0]->path, "/a");
    ck_assert_str_eq(s_content(b->events[0], "k"), "1");
    ck_assert_str_eq(b->events[1]->path, "/c");
    ck_assert_str_eq(b->events[1]->tenant, "acme");
    vx_arena_reset(arena);
    ck_assert_ptr_null(s_recv_batch(pull, arena, 200));
    vx_arena_destroy(&arena);
    vt_run_result_fini(&r);
    zsock_destroy(&pull);
}
END_TEST

/* ---- tail ---------------------------------------------------------------------------------- */

START_TEST(t_tail_prints_json_lines)
{
    char ep[128];
    zsock_t *pub = s_bind(ZMQ_PUB, ep, sizeof ep);
    char *argv[] = {(char *)s_ctl(), "tail", "--endpoint", ep, "--count", "5", NULL};
    int out = -1;
    pid_t pid = vt_spawn_pipes(argv, NULL, NULL, &out, NULL);
    ck_assert_int_gt(pid, 0);

    /* A subscriber joins some time after connecting and misses what was published before:
     * publish until tail has printed and exited. */
    char *buf = NULL;
    size_t len = 0;
    bool open_ = true;
    int64_t deadline = zclock_mono() + 20000;
    while (open_ && zclock_mono() < deadline) {
        s_publish(pub, "/tail/", 5);
        open_ = s_read_some(out, &buf, &len, 50);
    }
    while (open_ && zclock_mono() < deadline) {
        open_ = s_read_some(out, &buf, &len, 100);
    }
    close(out);
    int status = vt_wait_exit(pid, 10000);
    ck_assert_msg(!open_, "tail did not finish; output so far: %s", buf ? buf : "");
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "tail status %d", status);
    ck_assert_uint_eq(s_count_lines(buf), 5);

    char *save = NULL;
    size_t i = 0;
    vx_arena_t *arena = vx_arena_new(1 << 16, 0);
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        ck_assert_msg(o != NULL, "not JSON: %s", line);
        ck_assert_msg(strchr(line, ' ') == NULL, "not compact: %s", line);
        vx_event_t *e = NULL;
        char err[256];
        enum vx_drop_reason reason = VX_DROP_N;
        ck_assert_int_eq(vx_event_from_json(o, arena, &e, err, sizeof err, &reason), 0);
        char want[32];
        snprintf(want, sizeof want, "/tail/%zu", i);
        ck_assert_str_eq(e->path, want);
        ck_assert_int_eq(e->type, VEXFS__V1__EVENT_TYPE__FILESYSTEM_CREATE);
        json_decref(o);
    }
    ck_assert_uint_eq(i, 5);
    vx_arena_destroy(&arena);
    free(buf);
    zsock_destroy(&pub);
}
END_TEST

START_TEST(t_tail_counts_undecodable_and_stops_on_sigterm)
{
    char ep[128];
    zsock_t *pub = s_bind(ZMQ_PUB, ep, sizeof ep);
    char *argv[] = {(char *)s_ctl(), "tail", "--endpoint", ep, NULL};
    int out = -1, err = -1;
    pid_t pid = vt_spawn_pipes(argv, NULL, NULL, &out, &err);
    ck_assert_int_gt(pid, 0);

    /* Once the first line is out, tail is subscribed and sees everything that follows. */
    char *buf = NULL;
    size_t len = 0;
    int64_t deadline = zclock_mono() + 20000;
    while (len == 0 && zclock_mono() < deadline) {
        s_publish(pub, "/warmup/", 1);
        ck_assert(s_read_some(out, &buf, &len, 50));
    }
    ck_assert_uint_gt(len, 0);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(zstr_sendm(pub, "events"), 0);
        ck_assert_int_eq(zstr_send(pub, "\xff\xff\xff not a batch"), 0);
    }
    s_publish(pub, "/final/", 1);
    while (!strstr(buf, "/final/0") && zclock_mono() < deadline) {
        ck_assert(s_read_some(out, &buf, &len, 100));
    }
    S_ASSERT_HAS(buf, "/final/0");

    int status = vt_stop(pid, SIGTERM, 10000);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "tail status %d", status);
    char *ebuf = NULL;
    size_t elen = 0;
    while (s_read_some(err, &ebuf, &elen, 1000)) {
    }
    ck_assert_ptr_nonnull(ebuf);
    S_ASSERT_HAS(ebuf, "(2 undecodable messages)");
    close(out);
    close(err);
    free(buf);
    free(ebuf);
    zsock_destroy(&pub);
}
END_TEST

START_TEST(t_tail_timeout)
{
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    struct vt_run_result r;
    s_run(&r, NULL, "tail", "--endpoint", ep, "--timeout-ms", "300", NULL);
    ck_assert_int_eq(s_exit_code(&r), 0);
    ck_assert_str_eq(r.out, "");
    S_ASSERT_HAS(r.err, "received 0 events in 0 batches (0 undecodable messages)");
    vt_run_result_fini(&r);
}
END_TEST

/* ---- status -------------------------------------------------------------------------------- */

START_TEST(t_status_down)
{
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%u", (unsigned)vt_free_port());
    struct vt_run_result r;
    s_run(&r, NULL, "status", "--only", "propagation", "--propagation", url, NULL);
    ck_assert_int_eq(s_exit_code(&r), 1);
    S_ASSERT_HAS(r.out, "propagation");
    S_ASSERT_HAS(r.out, url);
    S_ASSERT_HAS(r.out, "down");
    ck_assert_ptr_null(strstr(r.out, "routing"));
    vt_run_result_fini(&r);
}
END_TEST

START_TEST(t_status_json_down)
{
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%u", (unsigned)vt_free_port());
    char *env[] = {NULL, NULL};
    char envvar[128];
    snprintf(envvar, sizeof envvar, "VEXFS_ROUTING_URL=%s", url);
    env[0] = envvar;
    char *argv[] = {(char *)s_ctl(), "status", "--json", "--only", "routing", NULL};
    struct vt_run_result r;
    ck_assert_int_eq(vt_run(argv, env, NULL, S_RUN_TIMEOUT_MS, &r), 0);
    ck_assert_int_eq(s_exit_code(&r), 1);
    json_error_t jerr;
    json_t *doc = json_loads(r.out, 0, &jerr);
    ck_assert_msg(doc != NULL, "not JSON: %s", r.out);
    ck_assert(json_is_false(json_object_get(doc, "ok")));
    json_t *list = json_object_get(doc, "services");
    ck_assert_uint_eq(json_array_size(list), 1);
    json_t *s = json_array_get(list, 0);
    ck_assert_str_eq(json_string_value(json_object_get(s, "service")), "routing");
    ck_assert_str_eq(json_string_value(json_object_get(s, "url")), url);
    ck_assert_str_eq(json_string_value(json_object_get(s, "health")), "down");
    ck_assert(json_is_false(json_object_get(s, "ready")));
    ck_assert(json_is_string(json_object_get(s, "error")));
    json_decref(doc);
    vt_run_result_fini(&r);
}
END_TEST

/* ---- against a real vexfs-propagation ------------------------------------------------------ */

START_TEST(t_status_up_against_propagation)
{
    struct ph_daemon d;
    ph_start(&d, NULL, NULL);
    char url[64], down[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%u/", (unsigned)d.rest_port);
    snprintf(down, sizeof down, "https://127.0.0.1:%u", (unsigned)vt_free_port());
    struct vt_run_result r;
    s_run(&r, NULL, "status", "--only", "propagation", "--propagation", url, NULL);
    ck_assert_msg(s_exit_code(&r) == 0, "exit %d: %s %s", s_exit_code(&r), r.out, r.err);
    S_ASSERT_HAS(r.out, "up");
    S_ASSERT_HAS(r.out, "yes");
    S_ASSERT_HAS(r.out, VX_VERSION);
    vt_run_result_fini(&r);

    /* A service that does not answer does not count against the ones that do. */
    s_run(&r, NULL, "status", "--json", "--only", "propagation,routing", "--propagation", url,
          "--routing", down, NULL);
    ck_assert_msg(s_exit_code(&r) == 0, "exit %d: %s %s", s_exit_code(&r), r.out, r.err);
    json_t *doc = json_loads(r.out, 0, NULL);
    ck_assert_ptr_nonnull(doc);
    ck_assert(json_is_true(json_object_get(doc, "ok")));
    json_t *p = json_array_get(json_object_get(doc, "services"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(p, "health")), "up");
    ck_assert(json_is_true(json_object_get(p, "ready")));
    ck_assert_str_eq(json_string_value(json_object_get(p, "version")), VX_VERSION);
    json_t *q = json_array_get(json_object_get(doc, "services"), 1);
    ck_assert_str_eq(json_string_value(json_object_get(q, "health")), "down");
    json_decref(doc);
    vt_run_result_fini(&r);
    ck_assert_int_eq(ph_stop(&d), 0);
}
END_TEST

/* The context file: --context FILE and VEXFS_CONTEXT choose it, its VEXFS_NAME=value lines
 * apply where the environment is silent (the environment wins), and a bad line or an absent
 * named file stops vexfsctl with exit status 2, naming the file and line. */
START_TEST(t_context_file)
{
    struct ph_daemon d;
    ph_start(&d, NULL, NULL);
    char *dir = vt_tmpdir();
    ck_assert_ptr_nonnull(dir);
    char ctx[512], bad[512], text[256], env_ctx[600], env_down[128];
    snprintf(ctx, sizeof ctx, "%s/context", dir);
    snprintf(bad, sizeof bad, "%s/bad-context", dir);
    snprintf(text, sizeof text, "# the suite of this test\n\nVEXFS_PROPAGATION_URL=https://127.0.0.1:%u\n",
             (unsigned)d.rest_port);
    ck_assert_int_eq(vt_write_file(ctx, text), 0);
    ck_assert_int_eq(vt_write_file(bad, "VEXFS_PROPAGATION_URL=https://127.0.0.1:1\nurl = x\n"), 0);

    struct vt_run_result r;
    s_run(&r, NULL, "--context", ctx, "status", "--only", "propagation", "--interval", "0", NULL);
    ck_assert_msg(s_exit_code(&r) == 0, "exit %d: %s %s", s_exit_code(&r), r.out, r.err);
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%u up", (unsigned)d.rest_port);
    S_ASSERT_HAS(r.out, url);
    vt_run_result_fini(&r);

    /* VEXFS_CONTEXT chooses it too; an environment variable wins over the file. */
    snprintf(env_ctx, sizeof env_ctx, "VEXFS_CONTEXT=%s", ctx);
    snprintf(env_down, sizeof env_down, "VEXFS_PROPAGATION_URL=https://127.0.0.1:%u",
             (unsigned)vt_free_port());
    char *argv[] = {(char *)s_ctl(), "status", "--only", "propagation", "--interval", "0", NULL};
    char *const env1[] = {env_ctx, NULL};
    ck_assert_int_eq(vt_run(argv, env1, NULL, S_RUN_TIMEOUT_MS, &r), 0);
    ck_assert_msg(s_exit_code(&r) == 0, "exit %d: %s %s", s_exit_code(&r), r.out, r.err);
    S_ASSERT_HAS(r.out, "yes");
    vt_run_result_fini(&r);
    char *const env2[] = {env_ctx, env_down, NULL};
    ck_assert_int_eq(vt_run(argv, env2, NULL, S_RUN_TIMEOUT_MS, &r), 0);
    ck_assert_msg(s_exit_code(&r) != 0, "the environment's URL (down) should win: %s", r.out);
    S_ASSERT_HAS(r.out, env_down + strlen("VEXFS_PROPAGATION_URL="));
    vt_run_result_fini(&r);

    /* Errors: a line that is not VEXFS_NAME=value, a named file that is absent. */
    s_run(&r, NULL, "--context", bad, "status", NULL);
    ck_assert_int_eq(s_exit_code(&r), 2);
    char where[600];
    snprintf(where, sizeof where, "context %s:2: expected VEXFS_NAME=value", bad);
    S_ASSERT_HAS(r.err, where);
    vt_run_result_fini(&r);
    s_run(&r, NULL, "--context", "/nonexistent/vexfs-context", "status", NULL);
    ck_assert_int_eq(s_exit_code(&r), 2);
    S_ASSERT_HAS(r.err, "context /nonexistent/vexfs-context: No such file or directory");
    vt_run_result_fini(&r);
    s_run(&r, NULL, "--context", NULL);
    ck_assert_int_eq(s_exit_code(&r), 2);
    S_ASSERT_HAS(r.err, "option '--context' needs a value");
    vt_run_result_fini(&r);

    free(dir);
    ck_assert_int_eq(ph_stop(&d), 0);
}
END_TEST

/* Posts small batches of events to propagation's REST ingest until told to stop. */
struct s_loader {
    uint16_t port;
    atomic_bool stop;
    long posted;
};

static void *
s_load(void *arg)
{
    struct s_loader *l = arg;
    const char *ev = "[{\"type\":\"filesystem_write\",\"path\":\"/load/a\"},"
                     "{\"type\":\"filesystem_write\",\"path\":\"/load/b\"}]";
    while (!atomic_load(&l->stop)) {
        struct vt_http_result r;
        if (vt_http("POST", l->port, "/v1/events", ev, strlen(ev), PH_TOKEN, &r) == 0 &&
            r.status == 202) {
            l->posted += 2;
        }
        vt_http_result_fini(&r);
        usleep(5000);
    }
    return NULL;
}

/* status reads uptime from /health and, from /metrics read twice, the rate of events taken in
 * and the dropped events (all reasons). */
START_TEST(t_status_uptime_rates_and_drops)
{
    struct ph_daemon d;
    ph_start(&d, NULL, NULL);
    zsock_t *pull = ph_pull(&d); /* a consumer, so propagation never blocks on its output */
    const char *bad = "{\"type\":\"filesystem_teleport\",\"path\":\"/x\"}";
    struct vt_http_result hr;
    ck_assert_int_eq(vt_http("POST", d.rest_port, "/v1/events", bad, strlen(bad), PH_TOKEN, &hr),
                     0);
    ck_assert_msg(hr.status == 422, "bad event: expected 422, got %ld %s", hr.status, hr.body);
    vt_http_result_fini(&hr);

    struct s_loader l = {.port = d.rest_port};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, s_load, &l), 0);
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%u", (unsigned)d.rest_port);
    struct vt_run_result r;
    s_run(&r, NULL, "status", "--json", "--interval", "1500", "--only", "propagation",
          "--propagation", url, NULL);
    atomic_store(&l.stop, true);
    pthread_join(th, NULL);
    ck_assert_msg(s_exit_code(&r) == 0, "exit %d: %s %s", s_exit_code(&r), r.out, r.err);
    json_t *doc = json_loads(r.out, 0, NULL);
    ck_assert_ptr_nonnull(doc);
    json_t *p = json_array_get(json_object_get(doc, "services"), 0);
    ck_assert_msg(json_is_integer(json_object_get(p, "uptime_s")) &&
                      json_integer_value(json_object_get(p, "uptime_s")) >= 0,
                  "uptime_s: %s", r.out);
    double rate = json_number_value(json_object_get(p, "events_per_s"));
    ck_assert_msg(json_is_number(json_object_get(p, "events_per_s")) && rate > 0,
                  "expected a positive events_per_s while %ld events were posted: %s", l.posted,
                  r.out);
    ck_assert_msg(json_integer_value(json_object_get(p, "dropped_total")) >= 1,
                  "expected the refused event among dropped_total: %s", r.out);
    json_decref(doc);
    vt_run_result_fini(&r);

    /* The table has the same columns. */
    s_run(&r, NULL, "status", "--interval", "0", "--only", "propagation", "--propagation", url,
          NULL);
    ck_assert_msg(s_exit_code(&r) == 0, "exit %d: %s %s", s_exit_code(&r), r.out, r.err);
    S_ASSERT_HAS(r.out, "UPTIME");
    S_ASSERT_HAS(r.out, "EVENTS/S");
    S_ASSERT_HAS(r.out, "DROPPED");
    vt_run_result_fini(&r);

    /* A bad interval is refused with a precise message. */
    s_run(&r, NULL, "status", "--interval", "soon", "--only", "propagation", NULL);
    ck_assert_int_eq(s_exit_code(&r), 2);
    S_ASSERT_HAS(r.err, "--interval");
    vt_run_result_fini(&r);
    zsock_destroy(&pull);
    ck_assert_int_eq(ph_stop(&d), 0);
}
END_TEST

START_TEST(t_emit_through_propagation_to_tail)
{
    struct ph_daemon d;
    ph_start(&d, NULL, NULL);
    zsock_t *pull = ph_pull(&d); /* routing's place: propagation's output must drain */
    char *argv[] = {(char *)s_ctl(), "tail", "--endpoint", d.tap, "--count", "5", NULL};
    int out = -1;
    pid_t pid = vt_spawn_pipes(argv, NULL, NULL, &out, NULL);
    ck_assert_int_gt(pid, 0);

    /* Each round has its own path (no duplicates); rounds go on until tail has joined. */
    char *buf = NULL;
    size_t len = 0;
    bool open_ = true;
    int64_t deadline = zclock_mono() + 30000;
    for (int round = 0; open_ && zclock_mono() < deadline; round++) {
        char path[64];
        snprintf(path, sizeof path, "/e2e/%d", round);
        struct vt_run_result r;
        s_run(&r, NULL, "emit", "--endpoint", d.ingest, "--type", "filesystem_write", "--path",
              path, "--count", "5", NULL);
        ck_assert_msg(s_exit_code(&r) == 0, "emit: %s", r.err);
        vt_run_result_fini(&r);
        open_ = s_read_some(out, &buf, &len, 100);
    }
    while (open_ && zclock_mono() < deadline) {
        open_ = s_read_some(out, &buf, &len, 100);
    }
    close(out);
    int status = vt_wait_exit(pid, 10000);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "tail status %d", status);
    ck_assert_uint_eq(s_count_lines(buf), 5);
    char *save = NULL;
    vx_arena_t *arena = vx_arena_new(1 << 16, 0);
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *o = json_loads(line, 0, NULL);
        ck_assert_msg(o != NULL, "not JSON: %s", line);
        vx_event_t *e = NULL;
        char err[256];
        enum vx_drop_reason reason = VX_DROP_N;
        ck_assert_int_eq(vx_event_from_json(o, arena, &e, err, sizeof err, &reason), 0);
        ck_assert_int_eq(vx_event_validate(e, err, sizeof err, &reason), 0);
        ck_assert_int_eq(e->type, VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE);
        ck_assert_msg(strncmp(e->path, "/e2e/", 5) == 0, "path %s", e->path);
        ck_assert_uint_eq(e->id.len, VX_EVENT_ID_LEN); /* stamped by propagation */
        ck_assert_str_eq(e->producer_id, "prop-test");
        ck_assert_ptr_nonnull(s_content(e, "n"));
        json_decref(o);
    }
    vx_arena_destroy(&arena);
    free(buf);
    zsock_destroy(&pull);
    ck_assert_int_eq(ph_stop(&d), 0);
}
END_TEST

static void
cb_collect_path(const vx_batch_t *b, const vx_event_t *e, void *arg)
{
    (void)b;
    size_t *n = arg;
    if (e->path && strcmp(e->path, "/rest") == 0) {
        (*n)++;
    }
}

START_TEST(t_emit_rest)
{
    struct ph_daemon d;
    ph_start(&d, NULL, NULL);
    zsock_t *pull = ph_pull(&d);
    char url[64], tokfile[300];
    snprintf(url, sizeof url, "https://127.0.0.1:%u", (unsigned)d.rest_port);
    snprintf(tokfile, sizeof tokfile, "%s/token", d.dir);

    struct vt_run_result r;
    s_run(&r, NULL, "emit", "--rest", url, "--token-file", tokfile, "--type", "filesystem_create",
          "--path", "/rest", "--count", "3", "--batch", "2", NULL);
    ck_assert_msg(s_exit_code(&r) == 0, "exit %d: %s", s_exit_code(&r), r.err);
    S_ASSERT_HAS(r.err, "sent 3 events in 2 batches (0 invalid lines skipped)");
    vt_run_result_fini(&r);
    size_t got = 0;
    ph_receive(pull, 3, 10000, cb_collect_path, &got);
    ck_assert_uint_eq(got, 3);

    /* Without a credential the server refuses: its status and message are shown, exit 1. */
    s_run_anon(&r, "{\"type\":\"system\"}\n", "emit", "--rest", url, NULL);
    ck_assert_int_eq(s_exit_code(&r), 1);
    S_ASSERT_HAS(r.err, "HTTP 401");
    S_ASSERT_HAS(r.err, "sent 0 events in 0 batches");
    vt_run_result_fini(&r);

    /* durable=true needs a Kafka journal, which this daemon does not have. */
    s_run(&r, NULL, "emit", "--rest", url, "--durable", "--token-file", tokfile, "--type",
          "system", NULL);
    ck_assert_int_eq(s_exit_code(&r), 1);
    S_ASSERT_HAS(r.err, "durable=true");
    S_ASSERT_HAS(r.err, "HTTP 409 no_journal");
    vt_run_result_fini(&r);

    zsock_destroy(&pull);
    ck_assert_int_eq(ph_stop(&d), 0);
}
END_TEST

static void
s_add(Suite *s, const char *name, const TTest *t, int timeout)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, timeout);
    tcase_add_test(tc, t);
    suite_add_tcase(s, tc);
}

int
main(void)
{
    zsys_handler_set(NULL);
    Suite *s = suite_create("vexfsctl");
    s_add(s, "version_help", t_version_and_help, 30);
    s_add(s, "usage_errors", t_usage_errors, 30);
    s_add(s, "emit_count_batches", t_emit_count_in_batches, 60);
    s_add(s, "emit_stdin_bad_line", t_emit_stdin_skips_bad_line, 60);
    s_add(s, "tail_json_lines", t_tail_prints_json_lines, 60);
    s_add(s, "tail_undecodable_sigterm", t_tail_counts_undecodable_and_stops_on_sigterm, 60);
    s_add(s, "tail_timeout", t_tail_timeout, 30);
    s_add(s, "status_down", t_status_down, 30);
    s_add(s, "status_json_env", t_status_json_down, 30);
    s_add(s, "status_up_propagation", t_status_up_against_propagation, 90);
    s_add(s, "context_file", t_context_file, 90);
    s_add(s, "status_rates", t_status_uptime_rates_and_drops, 90);
    s_add(s, "emit_propagation_tail", t_emit_through_propagation_to_tail, 120);
    s_add(s, "emit_rest", t_emit_rest, 90);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
