/* SPDX-License-Identifier: Apache-2.0 */
/* The real vexfs-automation process running workflows: HTTP steps against a real HTTP server
 * started here on loopback (libmicrohttpd), a circuit breaker that opens on a failing target
 * and recovers, kill -9 in the middle of a workflow (interrupted and compensated on restart,
 * definitions all there), tenant isolation over REST, malformed definitions refused with the
 * field named and nothing changed, pattern/event/state triggers, emit into a ZeroMQ PULL socket
 * and into a real vexfs-propagation, definitions from workflows_path, SIGTERM with a script
 * running, and limits that queue work instead of dropping it. */
#include <check.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "prop_harness.h"
#include "vt_https.h"
#include "vx_test.h"
#include "vx_wire.h"

#define S_TOKEN "workflows-token"

/* ---- the daemon ------------------------------------------------------------------------------ */

struct s_daemon {
    pid_t pid;
    uint16_t port;
    char input[64];
    char emit[64];
    char dir[256];
    char cfg[300];
    char log[300];
};

static void
s_spawn(struct s_daemon *d)
{
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-automation", vt_bin_dir());
    char *argv[] = {bin, (char *)"--config", d->cfg, NULL};
    d->pid = vt_spawn(argv, NULL, d->log);
    ck_assert_int_gt(d->pid, 0);
    ck_assert_msg(vt_wait_ready(d->port, 20000), "automation not ready; log in %s", d->log);
}

/* Writes the configuration (extra: more reactive_automation lines; emit: the emit endpoint,
 * NULL for one of its own) and starts the daemon. */
static void
s_start_emit(struct s_daemon *d, const char *extra, const char *emit)
{
    memset(d, 0, sizeof *d);
    char *dir = vt_tmpdir();
    ck_assert_ptr_nonnull(dir);
    snprintf(d->dir, sizeof d->dir, "%s", dir);
    free(dir);
    d->port = vt_free_port();
    snprintf(d->input, sizeof d->input, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    if (emit != NULL) {
        snprintf(d->emit, sizeof d->emit, "%s", emit);
    } else {
        snprintf(d->emit, sizeof d->emit, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    }
    char tok[300], cfg[4096];
    snprintf(tok, sizeof tok, "%s/token", d->dir);
    snprintf(d->cfg, sizeof d->cfg, "%s/vexfs.yaml", d->dir);
    snprintf(d->log, sizeof d->log, "%s/automation.log", d->dir);
    ck_assert_int_eq(vt_write_file(tok, S_TOKEN "\n"), 0);
    snprintf(cfg, sizeof cfg,
             "reactive_automation:\n  rest_port: %u\n  input_endpoint: %s\n"
             "  emit_endpoint: %s\n  state_dir: %s/state\n"
             "  breaker_failure_threshold: 2\n  breaker_cooldown_ms: 2000\n"
             "  allow_inline_scripts: true\n%s"
             "admin:\n  token_file: %s\nlogging:\n  level: info\n",
             (unsigned)d->port, d->input, d->emit, d->dir, extra ? extra : "", tok);
    ck_assert_int_eq(vt_write_file(d->cfg, cfg), 0);
    s_spawn(d);
}

static void
s_start(struct s_daemon *d, const char *extra)
{
    s_start_emit(d, extra, NULL);
}

static void
s_stop(struct s_daemon *d)
{
    int status = vt_stop(d->pid, SIGTERM, 30000);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "automation did not exit cleanly on SIGTERM (status %d); log in %s", status,
                  d->log);
}

/* One request as tenant (NULL: no header) with the admin token; the body into out. Returns
 * the status. */
static long
s_req(const struct s_daemon *d, const char *method, const char *path, const char *body,
      const char *tenant, char *out, size_t outlen)
{
    char ca[400], cert[400], key[400];
    snprintf(ca, sizeof ca, "%s/ca.crt", vt_tls_dir());
    snprintf(cert, sizeof cert, "%s/test.crt", vt_tls_dir());
    snprintf(key, sizeof key, "%s/test.key", vt_tls_dir());
    struct vt_https_req rq = {.method = method, .port = d->port, .path = path, .body = body,
                              .token = S_TOKEN, .tenant = tenant, .ca_file = ca,
                              .cert_file = cert, .key_file = key, .timeout_ms = 20000};
    struct vt_http_result r;
    ck_assert_int_eq(vt_https(&rq, &r), 0);
    if (out != NULL) {
        snprintf(out, outlen, "%s", r.body ? r.body : "");
    }
    long status = r.status;
    vt_http_result_fini(&r);
    return status;
}

static json_t *
s_get_json(const struct s_daemon *d, const char *path, const char *tenant)
{
    static char body[1 << 20];
    long st = s_req(d, "GET", path, NULL, tenant, body, sizeof body);
    if (st != 200) {
        return NULL;
    }
    return json_loads(body, 0, NULL);
}

/* Starts workflow id as tenant with input; returns the execution id (static buffer). */
static const char *
s_execute(const struct s_daemon *d, const char *tenant, const char *id, const char *input)
{
    static char eid[64];
    char path[256], body[4096];
    snprintf(path, sizeof path, "/v1/workflows/%s/execute", id);
    long st = s_req(d, "POST", path, input, tenant, body, sizeof body);
    ck_assert_msg(st == 202, "execute %s: %ld %s", id, st, body);
    json_t *j = json_loads(body, 0, NULL);
    snprintf(eid, sizeof eid, "%s", json_string_value(json_object_get(j, "execution")));
    json_decref(j);
    return eid;
}

struct s_wait_exec {
    const struct s_daemon *d;
    const char *tenant;
    const char *id;
    const char *status;   /* wanted status */
    const char *step;     /* or: wanted step (running or done) */
};

static bool
cb_exec(void *arg)
{
    struct s_wait_exec *w = arg;
    char path[256];
    snprintf(path, sizeof path, "/v1/executions/%s", w->id);
    json_t *r = s_get_json(w->d, path, w->tenant);
    bool ok = false;
    if (r != NULL && w->status != NULL) {
        ok = strcmp(json_string_value(json_object_get(r, "status")), w->status) == 0;
    } else if (r != NULL && w->step != NULL) {
        size_t i;
        json_t *s;
        json_array_foreach(json_object_get(r, "steps"), i, s) {
            ok = ok || strcmp(json_string_value(json_object_get(s, "id")), w->step) == 0;
        }
    }
    json_decref(r);
    return ok;
}

static json_t *
s_wait_status(const struct s_daemon *d, const char *tenant, const char *id, const char *status)
{
    struct s_wait_exec w = {d, tenant, id, status, NULL};
    ck_assert_msg(vt_wait_until(cb_exec, &w, 60000), "execution %s never %s", id, status);
    char path[256];
    snprintf(path, sizeof path, "/v1/executions/%s", id);
    return s_get_json(d, path, tenant);
}

static json_t *
s_step(json_t *r, const char *id)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(r, "steps"), i, s) {
        if (strcmp(json_string_value(json_object_get(s, "id")), id) == 0) {
            return s;
        }
    }
    ck_abort_msg("no step %s", id);
    return NULL;
}

/* ---- a real HTTP server for http steps -------------------------------------------------------- */

struct s_web {
    struct MHD_Daemon *mhd;
    uint16_t port;
    pthread_mutex_t lock;
    int fail;              /* /flaky answers 500 while set */
    int hits_ok, hits_flaky;
    char last_body[4096];
    char last_hdr[256];
};

struct s_upload {
    char buf[4096];
    size_t n;
};

static enum MHD_Result
cb_web(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
       const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)method;
    (void)version;
    struct s_web *w = cls;
    struct s_upload *u = *con_cls;
    if (u == NULL) {
        *con_cls = calloc(1, sizeof *u);
        return MHD_YES;
    }
    if (*upload_size > 0) {
        size_t take = *upload_size < sizeof u->buf - 1 - u->n ? *upload_size
                                                               : sizeof u->buf - 1 - u->n;
        memcpy(u->buf + u->n, upload, take);
        u->n += take;
        *upload_size = 0;
        return MHD_YES;
    }
    unsigned status = 200;
    char reply[4400];
    if (strcmp(url, "/slow") == 0) {
        usleep(3000000); /* past the step's timeout */
    }
    pthread_mutex_lock(&w->lock);
    if (strcmp(url, "/flaky") == 0) {
        w->hits_flaky++;
        status = w->fail ? 500 : 200;
        snprintf(reply, sizeof reply, "{\"flaky\":%d}", w->hits_flaky);
    } else {
        w->hits_ok++;
        const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Who");
        snprintf(w->last_hdr, sizeof w->last_hdr, "%s", h ? h : "");
        snprintf(w->last_body, sizeof w->last_body, "%.*s", (int)u->n, u->buf);
        snprintf(reply, sizeof reply, "{\"echo\":%s}", u->n ? w->last_body : "null");
    }
    pthread_mutex_unlock(&w->lock);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(reply), reply, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static void
cb_web_done(void *cls, struct MHD_Connection *conn, void **con_cls,
            enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

static void
s_web_start(struct s_web *w)
{
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->lock, NULL);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < 20 && w->mhd == NULL; i++) {
        w->port = vt_free_port();
        sa.sin_port = htons(w->port);
        w->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
                                  w->port, NULL, NULL, cb_web, w, MHD_OPTION_SOCK_ADDR, &sa,
                                  MHD_OPTION_NOTIFY_COMPLETED, cb_web_done, w, MHD_OPTION_END);
    }
    ck_assert_ptr_nonnull(w->mhd);
}

static void
s_web_stop(struct s_web *w)
{
    MHD_stop_daemon(w->mhd);
    pthread_mutex_destroy(&w->lock);
}

/* ---- tests ----------------------------------------------------------------------------------- */

struct s_breaker_wait {
    const struct s_daemon *d;
    const char *target;
    const char *state;
};

static bool
cb_breaker(void *arg)
{
    struct s_breaker_wait *b = arg;
    json_t *j = s_get_json(b->d, "/v1/breakers", NULL);
    bool ok = false;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(j, "breakers"), i, e) {
        ok = ok || (strcmp(json_string_value(json_object_get(e, "target")), b->target) == 0 &&
                    strcmp(json_string_value(json_object_get(e, "state")), b->state) == 0);
    }
    json_decref(j);
    return ok;
}

/* Without an outbound_allow entry for loopback, an HTTP step to the local listener is refused
 * before it connects, counted, and said so in the step's error. */
START_TEST(t_http_loopback_refused)
{
    struct s_web web;
    s_web_start(&web);
    struct s_daemon d;
    s_start(&d, NULL);
    char wf[4096], body[65536];
    snprintf(wf, sizeof wf,
             "{\"id\":\"call\",\"kind\":\"linear\",\"steps\":[{\"id\":\"get\",\"action\":{\"kind\":"
             "\"http\",\"url\":\"http://127.0.0.1:%u/ok\"}}]}",
             (unsigned)web.port);
    ck_assert_int_eq(s_req(&d, "POST", "/v1/workflows", wf, NULL, body, sizeof body), 201);
    const char *id = s_execute(&d, NULL, "call", NULL);
    json_t *r = s_wait_status(&d, NULL, id, "failed");
    json_t *a0 = json_array_get(json_object_get(s_step(r, "get"), "attempts"), 0);
    const char *e = json_string_value(json_object_get(a0, "error"));
    ck_assert_msg(e != NULL && strstr(e, "outbound address policy does not admit loopback") != NULL,
                  "expected a refusal by the address policy, got %s", e ? e : "(none)");
    json_decref(r);
    ck_assert_double_eq(vt_metric(d.port, "vexfs_outbound_refused_total{reason=\"loopback\"}"), 1);
    pthread_mutex_lock(&web.lock);
    ck_assert_int_eq(web.hits_ok, 0);
    pthread_mutex_unlock(&web.lock);
    s_stop(&d);
    s_web_stop(&web);
}
END_TEST

START_TEST(t_http_and_breaker)
{
    struct s_web web;
    s_web_start(&web);
    struct s_daemon d;
    s_start(&d, "  outbound_allow: 127.0.0.1/32\n");
    char wf[4096], body[65536];
    snprintf(wf, sizeof wf,
             "{\"id\":\"call\",\"kind\":\"linear\",\"steps\":[{\"id\":\"post\",\"action\":{\"kind\":"
             "\"http\",\"method\":\"POST\",\"url\":\"http://127.0.0.1:%u/ok\",\"headers\":{\"X-Who\":"
             "\"{{input.who}}\"},\"body\":{\"file\":\"{{input.file}}\",\"size\":\"{{input.size}}\"},"
             "\"expect_status\":200,\"keep_body\":true}}]}",
             (unsigned)web.port);
    ck_assert_int_eq(s_req(&d, "POST", "/v1/workflows", wf, NULL, body, sizeof body), 201);
    const char *id =
        s_execute(&d, NULL, "call", "{\"who\":\"ops\\r\\nX-Evil: 1\",\"file\":\"/a b\",\"size\":7}");
    json_t *r = s_wait_status(&d, NULL, id, "succeeded");
    json_t *res = json_object_get(s_step(r, "post"), "result");
    ck_assert_int_eq(json_integer_value(json_object_get(res, "status")), 200);
    json_t *echo = json_object_get(json_object_get(res, "body"), "echo");
    ck_assert_str_eq(json_string_value(json_object_get(echo, "file")), "/a b");
    ck_assert_int_eq(json_integer_value(json_object_get(echo, "size")), 7);
    pthread_mutex_lock(&web.lock);
    ck_assert_str_eq(web.last_hdr, "ops  X-Evil: 1"); /* no header injection */
    pthread_mutex_unlock(&web.lock);
    json_decref(r);

    /* A failing target: two failures open its breaker; later attempts never reach it. */
    snprintf(wf, sizeof wf,
             "{\"id\":\"flaky\",\"kind\":\"linear\",\"steps\":[{\"id\":\"get\",\"retry\":"
             "{\"max_retries\":3,\"backoff\":\"fixed\",\"base_delay_ms\":1},\"action\":{\"kind\":"
             "\"http\",\"url\":\"http://127.0.0.1:%u/flaky\"}}]}",
             (unsigned)web.port);
    ck_assert_int_eq(s_req(&d, "POST", "/v1/workflows", wf, NULL, body, sizeof body), 201);
    web.fail = 1;
    id = s_execute(&d, NULL, "flaky", NULL);
    r = s_wait_status(&d, NULL, id, "failed");
    json_t *att = json_object_get(s_step(r, "get"), "attempts");
    ck_assert_uint_eq(json_array_size(att), 4);
    char target[64], open_err[128];
    snprintf(target, sizeof target, "http:127.0.0.1:%u", (unsigned)web.port);
    snprintf(open_err, sizeof open_err, "circuit open for %s", target);
    for (size_t i = 0; i < 4; i++) {
        const char *e = json_string_value(json_object_get(json_array_get(att, i), "error"));
        if (i < 2) {
            ck_assert_msg(strstr(e, "unexpected status 500") != NULL, "%s", e);
        } else {
            ck_assert_str_eq(e, open_err);
        }
    }
    json_decref(r);
    pthread_mutex_lock(&web.lock);
    ck_assert_int_eq(web.hits_flaky, 2);
    pthread_mutex_unlock(&web.lock);
    json_t *b = s_get_json(&d, "/v1/breakers", NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(b, "breakers")), 1); /* per host:port */
    json_t *e = json_array_get(json_object_get(b, "breakers"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(e, "target")), target);
    json_decref(b);
    char series[128];
    snprintf(series, sizeof series,
             "vexfs_automation_breaker_opens_total{tenant=\"default\",target=\"%s\"}", target);
    ck_assert_double_eq(vt_metric(d.port, series), 1);

    /* It recovers: after the cool-down a probe goes through and closes the breaker. */
    pthread_mutex_lock(&web.lock);
    web.fail = 0;
    pthread_mutex_unlock(&web.lock);
    snprintf(series, sizeof series,
             "vexfs_automation_breaker_state{tenant=\"default\",target=\"%s\"}", target);
    double st = vt_metric(d.port, series);
    ck_assert_msg(st == 1 || st == 2, "breaker state %g", st); /* open, or already half-open */
    struct s_breaker_wait bw = {&d, target, "half_open"};
    ck_assert(vt_wait_until(cb_breaker, &bw, 30000));
    id = s_execute(&d, NULL, "flaky", NULL);
    r = s_wait_status(&d, NULL, id, "succeeded");
    json_decref(r);
    ck_assert_double_eq(vt_metric(d.port, series), 0);
    bw.state = "closed";
    ck_assert(cb_breaker(&bw));

    /* a call that outlives the step's timeout is aborted and recorded as timed out */
    snprintf(wf, sizeof wf,
             "{\"id\":\"slow\",\"kind\":\"linear\",\"steps\":[{\"id\":\"get\",\"timeout_ms\":"
             "300,\"action\":{\"kind\":\"http\",\"url\":\"http://127.0.0.1:%u/slow\"}}]}",
             (unsigned)web.port);
    ck_assert_int_eq(s_req(&d, "POST", "/v1/workflows", wf, NULL, body, sizeof body), 201);
    id = s_execute(&d, NULL, "slow", NULL);
    r = s_wait_status(&d, NULL, id, "failed");
    json_t *a0 = json_array_get(json_object_get(s_step(r, "get"), "attempts"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(a0, "status")), "timed_out");
    json_decref(r);
    pthread_mutex_lock(&web.lock);
    ck_assert_int_eq(web.hits_flaky, 3); /* the probe was the only call since it opened */
    pthread_mutex_unlock(&web.lock);
    s_stop(&d);
    s_web_stop(&web);
}
END_TEST

static bool
cb_file(void *arg)
{
    FILE *f = fopen(arg, "r");
    int pid = 0;
    bool ok = f != NULL && fscanf(f, "%d", &pid) == 1 && pid > 1;
    if (f != NULL) {
        fclose(f);
    }
    return ok;
}

/* Gone: no such process, or a zombie nobody has reaped yet. */
static bool
s_gone(int pid)
{
    if (kill(pid, 0) < 0) {
        return true;
    }
    char path[64], st[512] = "";
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return true;
    }
    size_t n = fread(st, 1, sizeof st - 1, f);
    st[n] = '\0';
    fclose(f);
    const char *p = strrchr(st, ')');
    return p != NULL && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

static const char *const s_crash_wf =
    "{\"id\":\"long\",\"kind\":\"linear\",\"steps\":["
    "{\"id\":\"reserve\",\"action\":{\"kind\":\"script\",\"interpreter\":\"bash\",\"args\":"
    "[\"{{input.dir}}\"],\"content\":\"echo reserve >> \\\"$1/log\\\"; echo '{\\\"slot\\\":3}'\"},"
    "\"compensate\":{\"kind\":\"script\",\"interpreter\":\"bash\",\"args\":[\"{{input.dir}}\","
    "\"{{steps.reserve.result.slot}}\"],\"content\":\"echo release-$2 >> \\\"$1/log\\\"\"}},"
    "{\"id\":\"mark\",\"action\":{\"kind\":\"set_state\",\"path\":\"job.phase\",\"value\":\"b\"}},"
    "{\"id\":\"wait\",\"action\":{\"kind\":\"script\",\"interpreter\":\"bash\",\"args\":"
    "[\"{{input.dir}}\"],\"content\":\"sleep 600 & echo $! > \\\"$1/sleep.pid\\\"; wait\"}}]}";

START_TEST(t_kill9_interrupted)
{
    struct s_daemon d;
    s_start(&d, NULL);
    char body[65536];
    ck_assert_int_eq(s_req(&d, "POST", "/v1/workflows", s_crash_wf, "acme", body, sizeof body),
                     201);
    const char *pat = "{\"id\":\"dels\",\"kind\":\"threshold\",\"window_ms\":1000,\"elements\":"
                      "[{\"event_type\":\"filesystem_delete\",\"min_occurrences\":2}],"
                      "\"actions\":[{\"kind\":\"workflow\",\"workflow\":\"long\"}]}";
    ck_assert_int_eq(s_req(&d, "POST", "/v1/patterns", pat, "acme", body, sizeof body), 201);
    char input[512];
    snprintf(input, sizeof input, "{\"dir\":\"%s\"}", d.dir);
    char id[64];
    snprintf(id, sizeof id, "%s", s_execute(&d, "acme", "long", input));
    struct s_wait_exec w = {&d, "acme", id, NULL, "wait"};
    ck_assert(vt_wait_until(cb_exec, &w, 60000));
    char pidfile[512];
    snprintf(pidfile, sizeof pidfile, "%s/sleep.pid", d.dir);
    ck_assert(vt_wait_until(cb_file, pidfile, 30000));
    ck_assert_int_eq(vt_stop(d.pid, SIGKILL, 10000) >= 0, 1);
    FILE *pf = fopen(pidfile, "r");
    ck_assert_ptr_nonnull(pf);
    int sleeper = 0;
    ck_assert_int_eq(fscanf(pf, "%d", &sleeper), 1);
    fclose(pf);
    ck_assert(!s_gone(sleeper)); /* the crash left the script's child running */

    s_spawn(&d); /* same configuration and state directory */
    json_t *r = s_wait_status(&d, "acme", id, "interrupted");
    ck_assert(json_is_true(json_object_get(r, "recovered")));
    ck_assert_int_eq(json_integer_value(json_object_get(r, "orphans_killed")), 1);
    for (int i = 0; i < 500 && !s_gone(sleeper); i++) {
        usleep(10000);
    }
    ck_assert_msg(s_gone(sleeper), "the interrupted script's child %d still runs", sleeper);
    json_t *comp = json_object_get(r, "compensations");
    ck_assert_uint_eq(json_array_size(comp), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(comp, 0), "step")),
                     "reserve");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(comp, 0), "status")),
                     "succeeded");
    json_decref(r);
    char path[512];
    snprintf(path, sizeof path, "%s/log", d.dir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char log[256] = "";
    size_t n = fread(log, 1, sizeof log - 1, f);
    log[n] = '\0';
    fclose(f);
    ck_assert_str_eq(log, "reserve\nrelease-3\n");
    /* definitions survived */
    json_t *l = s_get_json(&d, "/v1/workflows", "acme");
    ck_assert_uint_eq(json_array_size(json_object_get(l, "workflows")), 1);
    json_decref(l);
    ck_assert_int_eq(s_req(&d, "GET", "/v1/patterns/dels", NULL, "acme", body, sizeof body), 200);
    /* and a clean restart does not compensate again: the record is in the durable history,
     * interrupted, and the script ran no more */
    s_stop(&d);
    s_spawn(&d);
    r = s_get_json(&d, "/v1/executions", "acme");
    ck_assert_uint_eq(json_array_size(json_object_get(r, "executions")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(r, "executions"), 0), "status")),
                     "interrupted");
    json_decref(r);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    n = fread(log, 1, sizeof log - 1, f);
    log[n] = '\0';
    fclose(f);
    ck_assert_str_eq(log, "reserve\nrelease-3\n");
    s_stop(&d);
}
END_TEST

START_TEST(t_tenant_isolation)
{
    struct s_daemon d;
    s_start(&d, NULL);
    char body[65536];
    const char *wf = "{\"id\":\"w\",\"kind\":\"linear\",\"steps\":[{\"id\":\"s\",\"action\":"
                     "{\"kind\":\"set_state\",\"path\":\"who\",\"value\":\"{{input.v}}\"}}]}";
    ck_assert_int_eq(s_req(&d, "POST", "/v1/workflows", wf, "alpha", body, sizeof body), 201);
    ck_assert_int_eq(s_req(&d, "GET", "/v1/workflows/w", NULL, "beta", body, sizeof body), 404);
    ck_assert_int_eq(s_req(&d, "POST", "/v1/workflows/w/execute", "{}", "beta", body, sizeof body),
                     404);
    ck_assert_int_eq(s_req(&d, "DELETE", "/v1/workflows/w", NULL, "beta", body, sizeof body), 404);
    json_t *l = s_get_json(&d, "/v1/workflows", "beta");
    ck_assert_uint_eq(json_array_size(json_object_get(l, "workflows")), 0);
    json_decref(l);
    /* the same id in another tenant is another workflow */
    ck_assert_int_eq(s_req(&d, "POST", "/v1/workflows", wf, "beta", body, sizeof body), 201);
    char ida[64];
    snprintf(ida, sizeof ida, "%s", s_execute(&d, "alpha", "w", "{\"v\":\"a\"}"));
    json_t *r = s_wait_status(&d, "alpha", ida, "succeeded");
    json_decref(r);
    char path[128];
    snprintf(path, sizeof path, "/v1/executions/%s", ida);
    ck_assert_int_eq(s_req(&d, "GET", path, NULL, "beta", body, sizeof body), 404);
    l = s_get_json(&d, "/v1/executions", "beta");
    ck_assert_uint_eq(json_array_size(json_object_get(l, "executions")), 0);
    json_decref(l);
    /* state is per tenant */
    ck_assert_int_eq(s_req(&d, "GET", "/v1/state", NULL, "alpha", body, sizeof body), 200);
    ck_assert_ptr_nonnull(strstr(body, "\"who\":\"a\""));
    ck_assert_int_eq(s_req(&d, "GET", "/v1/state", NULL, "beta", body, sizeof body), 200);
    ck_assert_str_eq(body, "{\"state\":{}}");
    /* patterns and their alerts too */
    const char *pat = "{\"id\":\"p\",\"kind\":\"threshold\",\"window_ms\":1000,\"elements\":"
                      "[{\"event_type\":\"filesystem_delete\"}],\"actions\":[{\"kind\":\"alert\","
                      "\"message\":\"m\"}]}";
    ck_assert_int_eq(s_req(&d, "POST", "/v1/patterns", pat, "alpha", body, sizeof body), 201);
    ck_assert_int_eq(s_req(&d, "GET", "/v1/patterns/p", NULL, "beta", body, sizeof body), 404);
    ck_assert_int_eq(s_req(&d, "GET", "/v1/patterns", NULL, "beta", body, sizeof body), 200);
    ck_assert_str_eq(body, "{\"patterns\":[]}");
    ck_assert_int_eq(s_req(&d, "POST", "/v1/patterns", pat, "beta", body, sizeof body), 409);
    ck_assert_int_eq(s_req(&d, "DELETE", "/v1/patterns/p", NULL, "beta", body, sizeof body), 404);
    ck_assert_int_eq(s_req(&d, "PUT", "/v1/patterns", "[]", "beta", body, sizeof body), 200);
    ck_assert_int_eq(s_req(&d, "GET", "/v1/patterns/p", NULL, "alpha", body, sizeof body), 200);
    ck_assert_int_eq(s_req(&d, "GET", "/v1/workflows", NULL, "bad tenant!", body, sizeof body),
                     400);
    ck_assert_ptr_nonnull(strstr(body, "X-VexFS-Tenant"));
    s_stop(&d);
}
END_TEST

START_TEST(t_bad_definitions)
{
    struct s_daemon d;
    s_start(&d, NULL);
    char body[65536];
    const struct {
        const char *wf;
        long status;
        const char *msg;
    } cases[] = {
        {"{\"id\":\"x\",\"kind\":\"linear\",\"steps\":[{\"id\":\"a\",\"action\":{\"kind\":"
         "\"shell\",\"cmd\":\"ls\"}}]}",
         400, "steps[0].action.kind: unknown step kind \\\"shell\\\""},
        {"{\"id\":\"x\",\"kind\":\"linear\"}", 400, "workflow \\\"x\\\": steps: missing"},
        {"{\"id\":\"x\",\"kind\":\"state_machine\",\"initial\":\"a\",\"states\":{\"a\":{"
         "\"transitions\":[{\"on\":\"success\",\"to\":\"b\"}]},\"b\":{\"transitions\":[{\"on\":"
         "\"failure\",\"to\":\"a\"}]},\"end\":{\"terminal\":true}}}",
         400, "no terminal state is reachable from \\\"a\\\", \\\"b\\\""},
        {"{\"id\":\"x\",\"kind\":\"linear\",\"steps\":[{\"id\":\"a\",\"action\":{\"kind\":"
         "\"delay\",\"ms\":-1}}]}",
         400, "steps[0].action.ms: expected an integer 0..86400000"},
        {"[1,2]", 400, "expected one workflow"},
        {"{\"id\":", 400, "invalid"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long st = s_req(&d, "POST", "/v1/workflows", cases[i].wf, NULL, body, sizeof body);
        ck_assert_msg(st == cases[i].status, "case %zu: %ld %s", i, st, body);
        ck_assert_msg(strstr(body, cases[i].msg) != NULL, "case %zu: %s lacks %s", i, body,
                      cases[i].msg);
        ck_assert_ptr_nonnull(strstr(body, "\"error\""));
    }
    json_t *l = s_get_json(&d, "/v1/workflows", NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(l, "workflows")), 0);
    json_decref(l);
    /* a good one, then a bad replacement leaves it as it was */
    const char *good = "{\"id\":\"g\",\"kind\":\"linear\",\"steps\":[{\"id\":\"a\",\"action\":"
                       "{\"kind\":\"delay\",\"ms\":1}}]}";
    ck_assert_int_eq(s_req(&d, "PUT", "/v1/workflows/g", good, NULL, body, sizeof body), 201);
    ck_assert_int_eq(s_req(&d, "PUT", "/v1/workflows/g",
                           "{\"kind\":\"linear\",\"steps\":[{\"id\":\"a\"}]}", NULL, body,
                           sizeof body),
                     400);
    ck_assert_int_eq(s_req(&d, "GET", "/v1/workflows/g", NULL, NULL, body, sizeof body), 200);
    ck_assert_ptr_nonnull(strstr(body, "\"delay\""));
    ck_assert_int_eq(s_req(&d, "POST", "/v1/workflows", good, NULL, body, sizeof body), 409);
    ck_assert_int_eq(s_req(&d, "PUT", "/v1/state/bad..path", "{\"value\":1}", NULL, body,
                           sizeof body),
                     400);
    ck_assert_int_eq(s_req(&d, "GET", "/v1/executions?limit=0", NULL, NULL, body, sizeof body),
                     400);
    s_stop(&d);
}
END_TEST

/* Sends one batch of events of type with paths, user and custom type. */
static void
s_send(zsock_t *push, int type, const char *path, size_t n, const char *custom, uint64_t seq)
{
    vx_event_t ev[8];
    vx_event_t *evp[8];
    ck_assert_uint_le(n, 8);
    for (size_t i = 0; i < n; i++) {
        vexfs__v1__event__init(&ev[i]);
        ev[i].type = (Vexfs__V1__EventType)type;
        ev[i].path = (char *)path;
        ev[i].custom_type = (char *)custom;
        evp[i] = &ev[i];
    }
    vx_batch_t b;
    vexfs__v1__event_batch__init(&b);
    b.events = evp;
    b.n_events = n;
    b.sender = (char *)"routing-test";
    b.batch_sequence = seq;
    ck_assert_int_eq(vx_wire_send(push, VX_WIRE_TOPIC, &b, 0), 0);
}

/* Receives one emitted event (JSON form) or NULL after timeout_ms. */
static json_t *
s_recv_event(zsock_t *pull, int timeout_ms)
{
    zsock_set_rcvtimeo(pull, timeout_ms);
    struct vx_wire_msg m;
    if (vx_wire_recv(pull, &m, 0) < 0) {
        return NULL;
    }
    vx_arena_t *a = vx_arena_new(4096, 1 << 20);
    vx_batch_t *b = vx_wire_decode(zmq_msg_data(&m.body), zmq_msg_size(&m.body), a);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(b->n_events, 1);
    json_t *j = vx_event_to_json(b->events[0]);
    vx_arena_destroy(&a);
    vx_wire_msg_fini(&m);
    return j;
}

struct s_count_wait {
    const struct s_daemon *d;
    const char *tenant;
    const char *workflow;
    size_t want;
};

static size_t
s_count_done(const struct s_daemon *d, const char *tenant, const char *workflow)
{
    json_t *l = s_get_json(d, "/v1/executions?status=succeeded", tenant);
    size_t n = 0, i;
    json_t *e;
    json_array_foreach(json_object_get(l, "executions"), i, e) {
        n += strcmp(json_string_value(json_object_get(e, "workflow")), workflow) == 0;
    }
    json_decref(l);
    return n;
}

static bool
cb_count(void *arg)
{
    struct s_count_wait *c = arg;
    return s_count_done(c->d, c->tenant, c->workflow) >= c->want;
}

START_TEST(t_triggers_and_emit)
{
    struct s_daemon d;
    s_start(&d, NULL);
    zsock_t *push = vt_sock_ex(&(struct vt_sock_opts){.type = ZMQ_PUSH, .endpoint = d.input,
                                                      .bind = true, .linger_ms = 1000});
    zsock_t *pull = vt_sock(ZMQ_PULL, d.emit, true);
    ck_assert(push && pull);
    char body[65536];
    const char *react =
        "{\"id\":\"react\",\"kind\":\"linear\",\"triggers\":[{\"kind\":\"pattern\",\"pattern\":"
        "\"burst\"}],\"steps\":[{\"id\":\"tell\",\"action\":{\"kind\":\"emit\",\"event\":{\"type\":"
        "\"custom\",\"custom_type\":\"reacted\",\"path\":\"{{input.event.path}}\",\"content\":"
        "{\"events\":\"{{input.match.events}}\"}}}}]}";
    ck_assert_int_eq(s_req(&d, "POST", "/v1/workflows", react, NULL, body, sizeof body), 201);
    const char *pat = "{\"id\":\"burst\",\"kind\":\"threshold\",\"window_ms\":10000,\"elements\":"
                      "[{\"event_type\":\"filesystem_delete\",\"min_occurrences\":3}],"
                      "\"actions\":[{\"kind\":\"emit\",\"event\":{\"type\":\"custom\","
                      "\"custom_type\":\"burst_seen\",\"path\":\"/alerts/burst\"}}]}";
    ck_assert_int_eq(s_req(&d, "POST", "/v1/patterns", pat, NULL, body, sizeof body), 201);
    s_send(push, VEXFS__V1__EVENT_TYPE__FILESYSTEM_DELETE, "/data/x", 3, NULL, 1);
    json_t *e1 = s_recv_event(pull, 30000);
    json_t *e2 = s_recv_event(pull, 30000);
    ck_assert_ptr_nonnull(e1);
    ck_assert_ptr_nonnull(e2);
    /* one from the pattern's emit action, one from the workflow's emit step, in either order */
    json_t *mine = strcmp(json_string_value(json_object_get(e1, "custom_type")), "reacted") == 0
                       ? e1
                       : e2;
    json_t *pats = mine == e1 ? e2 : e1;
    ck_assert_str_eq(json_string_value(json_object_get(mine, "custom_type")), "reacted");
    ck_assert_str_eq(json_string_value(json_object_get(mine, "path")), "/data/x");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(mine, "content"), "events")),
                     "3");
    ck_assert_str_eq(json_string_value(json_object_get(mine, "source")), "automation");
    ck_assert_str_eq(json_string_value(json_object_get(pats, "custom_type")), "burst_seen");
    json_decref(e1);
    json_decref(e2);

    /* event trigger: a custom event under /in/ */
    const char *ev = "{\"id\":\"onev\",\"kind\":\"linear\",\"triggers\":[{\"kind\":\"event\","
                     "\"event_type\":\"custom\",\"when\":{\"path\":\"event.path\",\"op\":"
                     "\"prefix\",\"value\":\"/in/\"}}],\"steps\":[{\"id\":\"s\",\"action\":"
                     "{\"kind\":\"set_state\",\"path\":\"last\",\"value\":\"{{input.event.path}}\"}}]}";
    ck_assert_int_eq(s_req(&d, "POST", "/v1/workflows", ev, NULL, body, sizeof body), 201);
    s_send(push, VEXFS__V1__EVENT_TYPE__CUSTOM, "/out/1", 1, "x", 2);
    s_send(push, VEXFS__V1__EVENT_TYPE__CUSTOM, "/in/1", 1, "x", 3);
    struct s_count_wait cw = {&d, NULL, "onev", 1};
    ck_assert(vt_wait_until(cb_count, &cw, 30000));
    ck_assert_int_eq(s_req(&d, "GET", "/v1/state", NULL, NULL, body, sizeof body), 200);
    ck_assert_ptr_nonnull(strstr(body, "\"last\":\"/in/1\""));

    /* state trigger with tolerance: fires on crossing 80, re-arms only below 75 */
    const char *stw = "{\"id\":\"full\",\"kind\":\"linear\",\"triggers\":[{\"kind\":\"state\","
                      "\"state_path\":\"disk.usage\",\"op\":\"gt\",\"value\":80,\"tolerance\":5}],"
                      "\"steps\":[{\"id\":\"s\",\"action\":{\"kind\":\"delay\",\"ms\":0}}]}";
    ck_assert_int_eq(s_req(&d, "POST", "/v1/workflows", stw, NULL, body, sizeof body), 201);
    const char *vals[] = {"85", "83", "78", "90", "70", "95"};
    for (size_t i = 0; i < 6; i++) {
        char v[64];
        snprintf(v, sizeof v, "{\"value\":%s}", vals[i]);
        ck_assert_int_eq(s_req(&d, "PUT", "/v1/state/disk.usage", v, NULL, body, sizeof body),
                         204);
    }
    /* every PUT above started its executions before answering: count them all, any status */
    cw.workflow = "full";
    cw.want = 2;
    ck_assert(vt_wait_until(cb_count, &cw, 30000));
    json_t *all = s_get_json(&d, "/v1/executions", NULL);
    size_t n_full = 0, k;
    json_t *x;
    json_array_foreach(json_object_get(all, "executions"), k, x) {
        n_full += strcmp(json_string_value(json_object_get(x, "workflow")), "full") == 0;
    }
    json_decref(all);
    ck_assert_uint_eq(n_full, 2); /* 85 and 95; not 83 or 90 */
    zsock_destroy(&push);
    zsock_destroy(&pull);
    s_stop(&d);
}
END_TEST

/* A sequence pattern starts a workflow whose script reads its input (VX_INPUT) and prints the
 * number of matching events and their paths: exactly the three events of the match, in order,
 * none of the events in between; the workflow is read back from GET /v1/executions/{id}. */
START_TEST(t_match_events_input)
{
    struct s_daemon d;
    s_start(&d, "  max_match_events: 16\n");
    zsock_t *push = vt_sock_ex(&(struct vt_sock_opts){.type = ZMQ_PUSH, .endpoint = d.input,
                                                      .bind = true, .linger_ms = 1000});
    ck_assert_ptr_nonnull(push);
    char body[65536];
    const char *wf =
        "{\"id\":\"seen\",\"kind\":\"linear\",\"triggers\":[{\"kind\":\"pattern\",\"pattern\":"
        "\"cwd\"}],\"steps\":[{\"id\":\"echo\",\"action\":{\"kind\":\"script\",\"interpreter\":"
        "\"python\",\"content\":\"import json, os\\ni = json.loads(os.environ['VX_INPUT'])\\n"
        "print(json.dumps({'n': len(i['events']), 'paths': [e['path'] for e in i['events']], "
        "'last': i['event']['path'], 'kind': i['match']['kind']}))\\n\"}}]}";
    ck_assert_int_eq(s_req(&d, "POST", "/v1/workflows", wf, NULL, body, sizeof body), 201);
    const char *pat =
        "{\"id\":\"cwd\",\"kind\":\"sequence\",\"window_ms\":60000,\"elements\":["
        "{\"event_type\":\"filesystem_create\"},{\"event_type\":\"filesystem_write\","
        "\"conditions\":[{\"field\":\"path\",\"op\":\"prefix\",\"value\":\"/data/\"}]},"
        "{\"event_type\":\"filesystem_delete\"}],\"actions\":[{\"kind\":\"alert\","
        "\"message\":\"churn\"}]}";
    ck_assert_int_eq(s_req(&d, "POST", "/v1/patterns", pat, NULL, body, sizeof body), 201);
    s_send(push, VEXFS__V1__EVENT_TYPE__FILESYSTEM_CREATE, "/data/a", 1, NULL, 1);
    s_send(push, VEXFS__V1__EVENT_TYPE__FILESYSTEM_READ, "/data/noise", 1, NULL, 2);
    s_send(push, VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE, "/tmp/no-match", 1, NULL, 3);
    s_send(push, VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE, "/data/b", 1, NULL, 4);
    s_send(push, VEXFS__V1__EVENT_TYPE__FILESYSTEM_DELETE, "/data/c", 1, NULL, 5);
    struct s_count_wait cw = {&d, NULL, "seen", 1};
    ck_assert(vt_wait_until(cb_count, &cw, 60000));
    json_t *l = s_get_json(&d, "/v1/executions", NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(l, "executions")), 1);
    const char *id =
        json_string_value(json_object_get(json_array_get(json_object_get(l, "executions"), 0), "id"));
    ck_assert_ptr_nonnull(id);
    json_t *r = s_wait_status(&d, NULL, id, "succeeded");
    json_decref(l);
    json_t *res = json_object_get(s_step(r, "echo"), "result");
    ck_assert_msg(res != NULL, "step echo has no result");
    ck_assert_int_eq(json_integer_value(json_object_get(res, "n")), 3);
    char *paths = json_dumps(json_object_get(res, "paths"), JSON_COMPACT);
    ck_assert_str_eq(paths, "[\"/data/a\",\"/data/b\",\"/data/c\"]");
    free(paths);
    ck_assert_str_eq(json_string_value(json_object_get(res, "last")), "/data/c");
    ck_assert_str_eq(json_string_value(json_object_get(res, "kind")), "sequence");
    json_decref(r);
    ck_assert_double_eq(vt_metric(d.port, "vexfs_automation_match_events_truncated_total"
                                          "{reason=\"max_match_events\"}"),
                        0);
    ck_assert_double_gt(vt_metric(d.port, "vexfs_automation_match_event_bytes"), -1);
    zsock_destroy(&push);
    s_stop(&d);
}
END_TEST

struct s_queue_wait {
    const struct s_daemon *d;
    int running, queued;
};

static bool
cb_queue(void *arg)
{
    struct s_queue_wait *q = arg;
    json_t *s = s_get_json(q->d, "/v1/stats", NULL);
    json_t *x = json_object_get(s, "executions");
    bool ok = json_integer_value(json_object_get(x, "running")) == q->running &&
              json_integer_value(json_object_get(x, "queued")) == q->queued;
    json_decref(s);
    return ok;
}

START_TEST(t_limits_queue)
{
    struct s_daemon d;
    s_start(&d, "  tenant_max_concurrent: 1\n  max_queued_workflows: 3\n");
    char body[65536], wf[2048];
    snprintf(wf, sizeof wf,
             "{\"id\":\"block\",\"kind\":\"linear\",\"steps\":[{\"id\":\"s\",\"action\":{\"kind\":"
             "\"script\",\"interpreter\":\"bash\",\"args\":[\"%s\"],\"content\":\"while [ ! -e "
             "\\\"$1/go\\\" ]; do sleep 0.02; done\"}}]}",
             d.dir);
    ck_assert_int_eq(s_req(&d, "POST", "/v1/workflows", wf, "t1", body, sizeof body), 201);
    char ids[4][64];
    snprintf(ids[0], 64, "%s", s_execute(&d, "t1", "block", NULL));
    struct s_queue_wait q = {&d, 1, 0};
    ck_assert(vt_wait_until(cb_queue, &q, 30000));
    for (int i = 1; i < 4; i++) {
        snprintf(ids[i], 64, "%s", s_execute(&d, "t1", "block", NULL));
    }
    q.queued = 3;
    ck_assert(vt_wait_until(cb_queue, &q, 30000)); /* one runs, three wait: tenant limit 1 */
    ck_assert_int_eq(s_req(&d, "POST", "/v1/workflows/block/execute", NULL, "t1", body,
                           sizeof body),
                     429);
    ck_assert_double_eq(vt_metric(d.port, "vexfs_automation_queue_rejected_total"), 1);
    char go[512];
    snprintf(go, sizeof go, "%s/go", d.dir);
    ck_assert_int_eq(vt_write_file(go, ""), 0);
    for (int i = 0; i < 4; i++) {
        json_t *r = s_wait_status(&d, "t1", ids[i], "succeeded");
        json_decref(r);
    }
    s_stop(&d);
}
END_TEST

struct s_got {
    int n;
    char custom[64];
    char source[32];
    char path[64];
};

static void
cb_got(const vx_batch_t *b, const vx_event_t *e, void *arg)
{
    (void)b;
    struct s_got *g = arg;
    g->n++;
    snprintf(g->custom, sizeof g->custom, "%s", e->custom_type ? e->custom_type : "");
    snprintf(g->source, sizeof g->source, "%d", (int)e->source);
    snprintf(g->path, sizeof g->path, "%s", e->path ? e->path : "");
}

/* An emit step's event goes into a real vexfs-propagation and comes out of its output. */
START_TEST(t_emit_into_propagation)
{
    struct ph_daemon p;
    ph_start(&p, NULL, NULL);
    zsock_t *out = ph_pull(&p);
    struct s_daemon d;
    s_start_emit(&d, NULL, p.ingest);
    char body[65536];
    const char *wf = "{\"id\":\"tell\",\"kind\":\"linear\",\"steps\":[{\"id\":\"e\",\"action\":"
                     "{\"kind\":\"emit\",\"event\":{\"type\":\"custom\",\"custom_type\":"
                     "\"cleanup_done\",\"path\":\"{{input.path}}\"}}}]}";
    ck_assert_int_eq(s_req(&d, "POST", "/v1/workflows", wf, NULL, body, sizeof body), 201);
    const char *id = s_execute(&d, NULL, "tell", "{\"path\":\"/srv/x\"}");
    json_t *r = s_wait_status(&d, NULL, id, "succeeded");
    json_decref(r);
    struct s_got g = {0};
    ck_assert_uint_eq(ph_receive(out, 1, 30000, cb_got, &g), 1);
    ck_assert_str_eq(g.custom, "cleanup_done");
    ck_assert_str_eq(g.path, "/srv/x");
    int src = 0;
    ck_assert_int_eq(vx_boundary_parse("automation", &src), 0);
    char want[32];
    snprintf(want, sizeof want, "%d", src);
    ck_assert_str_eq(g.source, want);
    ck_assert_double_eq(vt_metric(d.port, "vexfs_automation_emitted_total"), 1);
    s_stop(&d);
    zsock_destroy(&out);
    ph_stop(&p);
}
END_TEST

static void
cb_got_path(const vx_batch_t *b, const vx_event_t *e, void *arg)
{
    (void)b;
    json_t *paths = arg;
    json_object_set_new(paths, e->path ? e->path : "", json_true());
}

/* emit_ack_endpoint: events emitted while propagation is killed -9 wait in automation's
 * acknowledged link and reach propagation's output once it is back. */
START_TEST(t_emit_acked_survives_propagation_kill9)
{
    enum { N = 5 };
    struct ph_daemon p;
    ph_start(&p, NULL, NULL);
    zsock_t *out = ph_pull(&p);
    char extra[256];
    snprintf(extra, sizeof extra, "  emit_ack_endpoint: %s\n  emit_ack_timeout_ms: 1000\n",
             p.acked);
    struct s_daemon d;
    s_start_emit(&d, extra, p.ingest);
    char body[65536];
    const char *wf = "{\"id\":\"tell\",\"kind\":\"linear\",\"steps\":[{\"id\":\"e\",\"action\":"
                     "{\"kind\":\"emit\",\"event\":{\"type\":\"custom\",\"custom_type\":"
                     "\"cleanup_done\",\"path\":\"{{input.path}}\"}}}]}";
    ck_assert_int_eq(s_req(&d, "POST", "/v1/workflows", wf, NULL, body, sizeof body), 201);
    ph_kill9(&p);
    for (int i = 0; i < N; i++) {
        char input[64];
        snprintf(input, sizeof input, "{\"path\":\"/srv/acked%d\"}", i);
        const char *id = s_execute(&d, NULL, "tell", input);
        json_t *r = s_wait_status(&d, NULL, id, "succeeded");
        json_decref(r);
    }
    /* Held, not lost: nothing acknowledged while propagation is down. */
    ck_assert_double_eq(vt_metric(d.port, "vexfs_automation_emit_buffered_batches"), N);
    ck_assert_double_eq(vt_metric(d.port, "vexfs_automation_emit_events_acked_total"), 0);
    ph_restart(&p);
    json_t *paths = json_object();
    uint64_t end = vt_now_ms() + 60000;
    while (json_object_size(paths) < N && vt_now_ms() < end) {
        ph_receive(out, 1, 1000, cb_got_path, paths);
    }
    ck_assert_msg(json_object_size(paths) == N, "%zu of %d emitted events came out of "
                  "propagation", json_object_size(paths), N);
    for (int i = 0; i < N; i++) {
        char path[64];
        snprintf(path, sizeof path, "/srv/acked%d", i);
        ck_assert_msg(json_object_get(paths, path) != NULL, "%s never arrived", path);
    }
    json_decref(paths);
    end = vt_now_ms() + 30000;
    while (vt_metric(d.port, "vexfs_automation_emit_events_acked_total") < N &&
           vt_now_ms() < end) {
        vt_sleep_ms(50);
    }
    ck_assert_double_eq(vt_metric(d.port, "vexfs_automation_emit_events_acked_total"), N);
    ck_assert_double_eq(vt_metric(d.port, "vexfs_automation_emitted_total"), N);
    s_stop(&d);
    zsock_destroy(&out);
    ph_stop(&p);
}
END_TEST

/* Workflows from a directory named in the configuration; SIGTERM while one runs exits cleanly
 * and the next start reports it interrupted; the state directory then wins over the files. */
START_TEST(t_workflows_path_and_sigterm)
{
    char *dir = vt_tmpdir();
    char wdir[300], f1[340], f2[340], extra[600];
    snprintf(wdir, sizeof wdir, "%s/wf", dir);
    ck_assert_int_eq(mkdir(wdir, 0700), 0);
    snprintf(f1, sizeof f1, "%s/a.json", wdir);
    snprintf(f2, sizeof f2, "%s/b.json", wdir);
    ck_assert_int_eq(vt_write_file(f1, "{\"id\":\"one\",\"kind\":\"linear\",\"steps\":[{\"id\":"
                                       "\"s\",\"action\":{\"kind\":\"script\",\"interpreter\":"
                                       "\"bash\",\"content\":\"sleep 600\"}}]}"),
                     0);
    ck_assert_int_eq(vt_write_file(f2, "{\"workflows\":[{\"tenant\":\"acme\",\"workflow\":{\"id\":"
                                       "\"two\",\"kind\":\"linear\",\"steps\":[{\"id\":\"s\","
                                       "\"action\":{\"kind\":\"delay\",\"ms\":1}}]}}]}"),
                     0);
    snprintf(extra, sizeof extra, "  workflows_path: %s\n", wdir);
    struct s_daemon d;
    s_start(&d, extra);
    char body[65536];
    ck_assert_int_eq(s_req(&d, "GET", "/v1/workflows/one", NULL, NULL, body, sizeof body), 200);
    ck_assert_int_eq(s_req(&d, "GET", "/v1/workflows/two", NULL, "acme", body, sizeof body), 200);
    ck_assert_int_eq(s_req(&d, "GET", "/v1/workflows/two", NULL, NULL, body, sizeof body), 404);
    char id[64];
    snprintf(id, sizeof id, "%s", s_execute(&d, NULL, "one", NULL));
    struct s_wait_exec w = {&d, NULL, id, "running", NULL};
    ck_assert(vt_wait_until(cb_exec, &w, 60000));
    ck_assert_int_eq(s_req(&d, "DELETE", "/v1/workflows/one", NULL, NULL, body, sizeof body),
                     204);
    s_stop(&d); /* exit 0, no leak, while the script runs */
    /* a broken file no longer matters: state_dir holds the definitions now */
    ck_assert_int_eq(vt_write_file(f1, "{\"id\":"), 0);
    s_spawn(&d);
    json_t *r = s_wait_status(&d, NULL, id, "interrupted");
    json_decref(r);
    ck_assert_int_eq(s_req(&d, "GET", "/v1/workflows/one", NULL, NULL, body, sizeof body), 404);
    ck_assert_int_eq(s_req(&d, "GET", "/v1/workflows/two", NULL, "acme", body, sizeof body), 200);
    s_stop(&d);
    free(dir);
}
END_TEST

/* A definition file that does not validate stops the daemon at start with the reason. */
START_TEST(t_bad_workflows_path)
{
    char *dir = vt_tmpdir();
    char f[300], cfg[300], log[300], text[1024];
    snprintf(f, sizeof f, "%s/wf.json", dir);
    snprintf(cfg, sizeof cfg, "%s/c.yaml", dir);
    snprintf(log, sizeof log, "%s/log", dir);
    ck_assert_int_eq(vt_write_file(f, "[{\"id\":\"x\",\"kind\":\"linear\",\"steps\":[{\"id\":"
                                      "\"s\",\"action\":{\"kind\":\"teleport\"}}]}]"),
                     0);
    snprintf(text, sizeof text,
             "reactive_automation:\n  rest_port: %u\n  input_endpoint: tcp://127.0.0.1:%u\n"
             "  workflows_path: %s\n",
             (unsigned)vt_free_port(), (unsigned)vt_free_port(), f);
    ck_assert_int_eq(vt_write_file(cfg, text), 0);
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-automation", vt_bin_dir());
    char *argv[] = {bin, (char *)"--config", cfg, NULL};
    struct vt_run_result r;
    ck_assert_int_eq(vt_run(argv, NULL, NULL, 30000, &r), 0);
    ck_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) != 0);
    ck_assert_msg(strstr(r.err, "workflows[0]: workflow \"x\": steps[0].action.kind: unknown step "
                                "kind \"teleport\"") != NULL,
                  "%s", r.err);
    vt_run_result_fini(&r);
    free(dir);
}
END_TEST

int
main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *s = suite_create("workflows");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"http_loopback_refused", t_http_loopback_refused},
        {"http_and_breaker", t_http_and_breaker},
        {"kill9_interrupted", t_kill9_interrupted},
        {"tenant_isolation", t_tenant_isolation},
        {"bad_definitions", t_bad_definitions},
        {"triggers_and_emit", t_triggers_and_emit},
        {"match_events_input", t_match_events_input},
        {"limits_queue", t_limits_queue},
        {"workflows_path_and_sigterm", t_workflows_path_and_sigterm},
        {"bad_workflows_path", t_bad_workflows_path},
        {"emit_into_propagation", t_emit_into_propagation},
        {"emit_acked_survives_propagation_kill9", t_emit_acked_survives_propagation_kill9},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_test(tc, cases[i].test);
        tcase_set_timeout(tc, 180);
        suite_add_tcase(s, tc);
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
