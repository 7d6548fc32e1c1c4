/* SPDX-License-Identifier: Apache-2.0 */
/* Script and HTTP step actions (see au_action.h).
 *
 * Scripts start with posix_spawn (no fork of a process holding ZeroMQ threads), in a new
 * process group so that a timeout kills whatever the script started too. Arguments and
 * environment carry every parameter; the script text is passed unchanged. Under a policy the
 * child is prlimit, which execs setpriv, which execs the interpreter (au_action.h). */
#include "au_action.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "au_expr.h"
#include "vx_clock.h"
#include "vx_mem.h"

extern char **environ;

#define S_ERR_TAIL 400
#define AU_SCRIPT_PATH "/usr/local/bin:/usr/bin:/bin"

struct s_strv {
    char **v;
    size_t n, cap;
};

static void
s_strv_add(struct s_strv *sv, char *s)
{
    if (sv->n + 2 > sv->cap) {
        sv->cap = sv->cap ? sv->cap * 2 : 16;
        sv->v = vx_realloc(sv->v, sv->cap * sizeof *sv->v);
    }
    sv->v[sv->n++] = s;
    sv->v[sv->n] = NULL;
}

static void
s_strv_free(struct s_strv *sv)
{
    for (size_t i = 0; i < sv->n; i++) {
        free(sv->v[i]);
    }
    free(sv->v);
}

/* The text of a template value: strings as they are, other values as compact JSON. */
static char *
s_text(json_t *tmpl, json_t *ctx)
{
    json_t *v = au_template_eval(tmpl, ctx);
    char *s;
    if (json_is_string(v)) {
        s = vx_strndup(json_string_value(v), json_string_length(v));
    } else if (json_is_null(v)) {
        s = vx_strdup("");
    } else {
        char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        s = vx_strdup(d ? d : "");
        free(d);
    }
    json_decref(v);
    return s;
}

static char *
s_kv(const char *k, const char *v)
{
    size_t n = strlen(k) + strlen(v) + 2;
    char *s = vx_malloc(n);
    snprintf(s, n, "%s=%s", k, v);
    return s;
}

/* Kills the group and reaps the leader. */
static void
s_kill(pid_t pid)
{
    kill(-pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
}

/* The wrapper that applies the policy before the interpreter starts: prlimit sets the
 * limits, setpriv sets no_new_privs and, when configured, the user, group and no
 * supplementary groups; each execs the next, so the interpreter starts with all of it. */
static void
s_script_wrap(const struct au_act_policy *pol, struct s_strv *argv)
{
    char opt[64];
    s_strv_add(argv, vx_strdup("prlimit"));
    static const char *const names[] = {"--cpu", "--as", "--nofile", "--nproc"};
    const uint64_t vals[] = {pol->cpu_s, pol->memory_bytes, pol->open_files, pol->processes};
    for (size_t i = 0; i < 4; i++) {
        if (vals[i] > 0) {
            snprintf(opt, sizeof opt, "%s=%llu", names[i], (unsigned long long)vals[i]);
            s_strv_add(argv, vx_strdup(opt));
        }
    }
    s_strv_add(argv, vx_strdup("--"));
    s_strv_add(argv, vx_strdup("setpriv"));
    s_strv_add(argv, vx_strdup("--no-new-privs"));
    if (pol->drop) {
        snprintf(opt, sizeof opt, "--reuid=%lu", (unsigned long)pol->uid);
        s_strv_add(argv, vx_strdup(opt));
        snprintf(opt, sizeof opt, "--regid=%lu", (unsigned long)pol->gid);
        s_strv_add(argv, vx_strdup(opt));
        s_strv_add(argv, vx_strdup("--clear-groups"));
    }
    s_strv_add(argv, vx_strdup("--"));
}

/* argv: under a policy its wrapper, then the interpreter, the script (inline with -c, or its
 * file of the scripts directory), then the templated args. bash -c gets "vexfs-step" as $0 so
 * that the args are $1... */
static void
s_script_argv(const struct au_act *a, const struct au_act_policy *pol, json_t *ctx,
              const char *interp, struct s_strv *argv)
{
    if (pol != NULL) {
        s_script_wrap(pol, argv);
    }
    s_strv_add(argv, vx_strdup(interp));
    if (a->content != NULL) {
        s_strv_add(argv, vx_strdup("-c"));
        s_strv_add(argv, vx_strdup(a->content));
        if (!a->python) {
            s_strv_add(argv, vx_strdup("vexfs-step")); /* $0 */
        }
    } else {
        size_t n = strlen(pol->scripts_dir) + strlen(a->script) + 2;
        char *file = vx_malloc(n);
        snprintf(file, n, "%s/%s", pol->scripts_dir, a->script);
        s_strv_add(argv, file);
    }
    size_t i;
    json_t *x;
    json_array_foreach(a->args, i, x) {
        s_strv_add(argv, s_text(x, ctx));
    }
}

/* The environment: nothing of the daemon's own (its variables may carry secrets) under a
 * policy, only PATH; the templated env, then VX_INPUT, VX_EXECUTION_ID and VX_STEP_ID, which
 * the step cannot override. Without a policy (unit tests) the daemon's own without VX_*. */
static void
s_script_env(const struct au_act *a, const struct au_act_policy *pol, json_t *ctx,
             const char *exec_id, const char *step_id, struct s_strv *envv)
{
    if (pol != NULL) {
        s_strv_add(envv, vx_strdup("PATH=" AU_SCRIPT_PATH));
    }
    for (char **e = environ; pol == NULL && e != NULL && *e != NULL; e++) {
        if (strncmp(*e, "VX_", 3) != 0) {
            s_strv_add(envv, vx_strdup(*e));
        }
    }
    const char *name;
    json_t *x;
    json_object_foreach(a->env, name, x) {
        if (strcmp(name, "PATH") == 0 && pol != NULL) {
            continue; /* the interpreter and the wrapper are found on the fixed PATH */
        }
        char *v = s_text(x, ctx);
        s_strv_add(envv, s_kv(name, v));
        free(v);
    }
    json_t *in = json_object_get(ctx, "input");
    char *input = json_dumps(in ? in : json_null(), JSON_COMPACT | JSON_ENCODE_ANY);
    s_strv_add(envv, s_kv("VX_INPUT", input ? input : "null"));
    free(input);
    s_strv_add(envv, s_kv("VX_EXECUTION_ID", exec_id));
    s_strv_add(envv, s_kv("VX_STEP_ID", step_id));
}

/* Whether pol lets a run: a named script needs the scripts directory and a regular file in
 * it; inline content needs allow_inline. Returns 0, -ENOENT or -EPERM with out->err set. */
static int
s_script_allowed(const struct au_act *a, const struct au_act_policy *pol, struct au_act_out *out)
{
    if (a->content != NULL) {
        if (pol != NULL && !pol->allow_inline) {
            snprintf(out->err, sizeof out->err,
                     "inline script content is not allowed (reactive_automation."
                     "allow_inline_scripts is off); name a script of scripts_dir");
            return -EPERM;
        }
        return 0;
    }
    if (pol == NULL || pol->scripts_dir == NULL || pol->scripts_dir[0] == '\0') {
        snprintf(out->err, sizeof out->err,
                 "script \"%s\": no scripts directory (reactive_automation.scripts_dir)",
                 a->script);
        return -ENOENT;
    }
    char file[4200];
    snprintf(file, sizeof file, "%s/%s", pol->scripts_dir, a->script);
    struct stat st;
    if (stat(file, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(out->err, sizeof out->err, "script \"%s\": no such file in scripts_dir",
                 a->script);
        return -ENOENT;
    }
    return 0;
}

/* What a running script said: stdout (at most AU_SCRIPT_MAX_OUT), the tail of stderr for the
 * error message, and how it ended. */
struct s_output {
    char *obuf; /* AU_SCRIPT_MAX_OUT + 1 bytes */
    size_t olen;
    bool too_big;
    char etail[S_ERR_TAIL + 1];
    size_t elen;
    int status;
};

/* Starts the script in a process group of its own (so a timeout kills what it started too),
 * stdin from /dev/null, stdout and stderr into pipes whose read ends go to *out_fd and
 * *err_fd. posix_spawn, because a fork of a process holding ZeroMQ threads is not safe.
 * Returns 0, or -EIO / -ENOENT with out->err set. */
static int
s_script_spawn(const char *prog, char **argv, char **envp, bool chdir_root, pid_t *pid,
               int *out_fd, int *err_fd, struct au_act_out *out)
{
    int po[2] = {-1, -1}, pe[2] = {-1, -1};
    if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) {
        snprintf(out->err, sizeof out->err, "pipe: %s", strerror(errno));
        for (int k = 0; k < 2; k++) {
            if (po[k] >= 0) {
                close(po[k]);
            }
        }
        return -EIO;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (chdir_root) {
        posix_spawn_file_actions_addchdir_np(&fa, "/");
    }
    posix_spawn_file_actions_adddup2(&fa, po[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
    posix_spawnattr_init(&at);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    int src = posix_spawnp(pid, prog, &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(po[1]);
    close(pe[1]);
    if (src != 0) {
        close(po[0]);
        close(pe[0]);
        snprintf(out->err, sizeof out->err, "cannot start %s: %s", prog, strerror(src));
        return -ENOENT;
    }
    *out_fd = po[0];
    *err_fd = pe[0];
    return 0;
}

/* Keeps the last S_ERR_TAIL bytes of stderr. */
static void
s_err_tail(struct s_output *o, const char *tmp, size_t n)
{
    size_t take = n > S_ERR_TAIL ? S_ERR_TAIL : n;
    const char *src = tmp + n - take;
    if (o->elen + take > S_ERR_TAIL) {
        size_t drop = o->elen + take - S_ERR_TAIL;
        memmove(o->etail, o->etail + drop, o->elen - drop);
        o->elen -= drop;
    }
    memcpy(o->etail + o->elen, src, take);
    o->elen += take;
    o->etail[o->elen] = '\0';
}

/* Reads stdout and stderr until both close and the process has exited, killing its group at
 * the deadline or when *stop is set. Polls at most 50 ms at a time so that *stop is seen
 * promptly. Returns 0 (o->status set), or -ETIMEDOUT / -ECANCELED with out->err set. */
static int
s_script_collect(pid_t pid, int out_fd, int err_fd, uint64_t timeout_ms,
                 const volatile int *stop, struct s_output *o, struct au_act_out *out)
{
    uint64_t deadline = vx_mono_ns() + timeout_ms * VX_NS_PER_MS;
    bool o_open = true, e_open = true;
    for (;;) {
        uint64_t now = vx_mono_ns();
        if (now >= deadline) {
            s_kill(pid);
            snprintf(out->err, sizeof out->err, "timed out after %llu ms; process group %d killed",
                     (unsigned long long)timeout_ms, (int)pid);
            out->timed_out = true;
            return -ETIMEDOUT;
        }
        if (*stop) {
            s_kill(pid);
            snprintf(out->err, sizeof out->err, "stopped: the daemon is shutting down");
            return -ECANCELED;
        }
        struct pollfd fds[2] = {{.fd = o_open ? out_fd : -1, .events = POLLIN},
                                {.fd = e_open ? err_fd : -1, .events = POLLIN}};
        uint64_t left_ms = (deadline - now) / VX_NS_PER_MS + 1;
        int wait_ms = left_ms < 50 ? (int)left_ms : 50;
        if (o_open || e_open) {
            poll(fds, 2, wait_ms);
        }
        char tmp[4096];
        if (o_open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t n = read(out_fd, tmp, sizeof tmp);
            if (n <= 0) {
                o_open = false;
            } else if (o->olen + (size_t)n > AU_SCRIPT_MAX_OUT) {
                o->too_big = true;
            } else {
                memcpy(o->obuf + o->olen, tmp, (size_t)n);
                o->olen += (size_t)n;
            }
        }
        if (e_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t n = read(err_fd, tmp, sizeof tmp);
            if (n <= 0) {
                e_open = false;
            } else {
                s_err_tail(o, tmp, (size_t)n);
            }
        }
        if (!o_open && !e_open) {
            pid_t w = waitpid(pid, &o->status, WNOHANG);
            if (w == pid) {
                return 0;
            }
            if (w == 0) {
                struct timespec ts = {0, 5 * 1000 * 1000};
                nanosleep(&ts, NULL);
            }
        }
    }
}

/* The step's outcome from an exited script: exit 0 with JSON (or nothing) on stdout succeeds;
 * otherwise -EIO (exit status or signal, with the tail of stderr) or -EPROTO (stdout too
 * large or not JSON). */
static int
s_script_result(struct s_output *o, struct au_act_out *out)
{
    if (!WIFEXITED(o->status) || WEXITSTATUS(o->status) != 0) {
        for (size_t k = 0; k < o->elen; k++) {
            if (o->etail[k] == '\n' || o->etail[k] == '\r') {
                o->etail[k] = ' ';
            }
        }
        if (WIFEXITED(o->status)) {
            snprintf(out->err, sizeof out->err, "exit status %d: %s", WEXITSTATUS(o->status),
                     o->etail);
        } else {
            snprintf(out->err, sizeof out->err, "killed by signal %d: %s",
                     WIFSIGNALED(o->status) ? WTERMSIG(o->status) : 0, o->etail);
        }
        return -EIO;
    }
    if (o->too_big) {
        snprintf(out->err, sizeof out->err, "stdout larger than %u bytes", AU_SCRIPT_MAX_OUT);
        return -EPROTO;
    }
    o->obuf[o->olen] = '\0';
    size_t s0 = strspn(o->obuf, " \t\r\n");
    if (o->obuf[s0] == '\0') {
        out->result = json_null();
        return 0;
    }
    json_error_t je;
    out->result = json_loadb(o->obuf, o->olen, JSON_DECODE_ANY, &je);
    if (out->result == NULL) {
        snprintf(out->err, sizeof out->err, "stdout is not JSON: %s (line %d, column %d)",
                 je.text, je.line, je.column);
        return -EPROTO;
    }
    return 0;
}

int
au_script_run(const struct au_act *a, const struct au_act_policy *pol, json_t *ctx,
              uint64_t timeout_ms, const volatile int *stop, const char *exec_id,
              const char *step_id, struct au_act_out *out)
{
    int rc = s_script_allowed(a, pol, out);
    if (rc < 0) {
        return rc;
    }
    struct s_strv argv = {0}, envv = {0};
    const char *interp = a->python ? "python3" : "bash";
    s_script_argv(a, pol, ctx, interp, &argv);
    s_script_env(a, pol, ctx, exec_id, step_id, &envv);
    struct s_output o = {.obuf = vx_malloc(AU_SCRIPT_MAX_OUT + 1)};
    pid_t pid = -1;
    int out_fd = -1, err_fd = -1;
    /* under a policy the child is the wrapper (s_script_wrap), else the interpreter */
    const char *prog = pol != NULL ? "prlimit" : interp;
    rc = s_script_spawn(prog, argv.v, envv.v, pol != NULL, &pid, &out_fd, &err_fd, out);
    if (rc < 0) {
        goto out;
    }
    out->pid = (int)pid;
    if (out->on_start != NULL) {
        out->on_start((int)pid, out->on_start_arg);
    }
    rc = s_script_collect(pid, out_fd, err_fd, timeout_ms, stop, &o, out);
    if (rc < 0) {
        goto out;
    }
    /* Whatever the script left running in its group goes with it. */
    kill(-pid, SIGKILL);
    rc = s_script_result(&o, out);
out:
    if (out_fd >= 0) {
        close(out_fd);
    }
    if (err_fd >= 0) {
        close(err_fd);
    }
    free(o.obuf);
    s_strv_free(&argv);
    s_strv_free(&envv);
    return rc;
}

/* ---- HTTP --------------------------------------------------------------------------------- */

/* scheme, host and port of url as "scheme:host:port", and whether it names a user; -EINVAL
 * when it does not parse. */
static int
s_url_target(const char *url, char *target, size_t tlen, bool *has_user)
{
    CURLU *h = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL;
    int rc = -EINVAL;
    if (h != NULL && curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(h, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(h, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        *has_user = curl_url_get(h, CURLUPART_USER, &user, 0) == CURLUE_OK;
        snprintf(target, tlen, "%s:%s:%s", scheme, host, port);
        rc = 0;
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(user);
    curl_url_cleanup(h);
    return rc;
}

/* The request goes where the definition says: the resolved URL must have the scheme, host and
 * port of the definition's URL with its templates left empty (an event's "@host:port" in a
 * path template would otherwise turn the pinned host into user information). */
int
au_http_resolve(const struct au_act *a, json_t *ctx, char **url, char *target, size_t tlen,
                char *err, size_t errlen)
{
    char *u = au_template_url(a->url, ctx);
    char *pinned = au_template_url(a->url, NULL);
    char want[600], got[600];
    bool want_user = false, got_user = false;
    int rc = 0;
    if (s_url_target(u, got, sizeof got, &got_user) < 0) {
        snprintf(err, errlen, "url \"%.200s\" does not parse", u);
        rc = -EINVAL;
    } else if (s_url_target(pinned, want, sizeof want, &want_user) < 0 || strcmp(want, got) != 0 ||
               got_user != want_user) {
        snprintf(err, errlen, "url \"%.200s\": its templates changed where the request goes "
                              "(scheme, user, host or port); refused",
                 u);
        rc = -EPERM;
    } else {
        snprintf(target, tlen, "http:%s", strchr(got, ':') + 1);
    }
    free(pinned);
    if (rc < 0) {
        free(u);
        u = NULL;
    }
    *url = u;
    return rc;
}

struct s_buf {
    char *data;
    size_t len;
    bool too_big;
    bool discard; /* the step does not keep the body: read and dropped */
};

static size_t
cb_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct s_buf *b = arg;
    size_t n = size * nmemb;
    if (b->discard) {
        return n;
    }
    if (b->len + n > AU_HTTP_MAX_BODY) {
        b->too_big = true;
        return 0;
    }
    b->data = vx_realloc(b->data, b->len + n + 1);
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static int
cb_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    const volatile int *stop = arg;
    return *stop ? 1 : 0;
}

/* The request's header lines (templated; a CR or LF from the input becomes a space, so it
 * never adds a line) and body: a template yielding a string is sent as is, any other value as
 * JSON with a JSON Content-Type unless the step set one. *body is the caller's to free. */
static struct curl_slist *
s_http_request(const struct au_act *a, json_t *ctx, char **body)
{
    struct curl_slist *hdrs = NULL;
    bool has_ct = false;
    const char *hn;
    json_t *hv;
    json_object_foreach(a->headers, hn, hv) {
        char *v = au_template_str(json_string_value(hv), ctx);
        for (char *p = v; *p; p++) {
            if (*p == '\r' || *p == '\n') {
                *p = ' '; /* a value from the input never adds a header line */
            }
        }
        char *line = vx_malloc(strlen(hn) + strlen(v) + 3);
        sprintf(line, "%s: %s", hn, v);
        hdrs = curl_slist_append(hdrs, line);
        has_ct = has_ct || strcasecmp(hn, "Content-Type") == 0;
        free(line);
        free(v);
    }
    *body = NULL;
    if (a->body != NULL) {
        json_t *b = au_template_eval(a->body, ctx);
        if (json_is_string(b)) {
            *body = vx_strndup(json_string_value(b), json_string_length(b));
        } else {
            *body = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY);
            if (!has_ct) {
                hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
            }
        }
        json_decref(b);
    }
    return hdrs;
}

/* The step's result {"status","body"} from a completed transfer, and whether the status is
 * one the step expects (default 2xx): 0 or -EBADMSG. */
static int
s_http_outcome(const struct au_act *a, CURL *c, const char *url, const struct s_buf *rb,
               struct au_act_out *out)
{
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    out->result = json_pack("{s:i}", "status", (int)status);
    if (a->keep_body) {
        json_t *rj = NULL;
        if (rb->len > 0) {
            rj = json_loadb(rb->data, rb->len, JSON_DECODE_ANY, NULL);
            if (rj == NULL) {
                rj = json_stringn(rb->data, rb->len);
            }
        }
        json_object_set_new(out->result, "body", rj ? rj : json_null());
    }
    bool ok = false;
    if (a->n_expect == 0) {
        ok = status >= 200 && status <= 299;
    }
    for (uint32_t i = 0; i < a->n_expect; i++) {
        ok = ok || status == a->expect[i];
    }
    if (!ok) {
        snprintf(out->err, sizeof out->err, "%s %.200s: unexpected status %ld", a->method, url,
                 status);
        return -EBADMSG;
    }
    return 0;
}

/* One request under the action's deadline and the outbound policy; transport failures are
 * reported in one wording whatever libcurl said, so retries and circuit breakers treat them
 * alike, while an HTTP answer keeps its status for the workflow to judge. */
int
au_http_run(const struct au_act *a, const struct au_act_policy *pol, json_t *ctx,
            const char *url, uint64_t timeout_ms, const volatile int *stop,
            struct au_act_out *out)
{
    CURL *c = curl_easy_init();
    if (c == NULL) {
        snprintf(out->err, sizeof out->err, "curl_easy_init failed");
        return -ENOMEM;
    }
    char *body = NULL;
    struct curl_slist *hdrs = s_http_request(a, ctx, &body);
    struct s_buf rb = {.discard = !a->keep_body};
    struct vx_netpolicy_call call = {.p = pol ? pol->net : NULL};
    vx_netpolicy_curl(c, &call);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, a->method);
    if (strcmp(a->method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    }
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cb_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &rb);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, cb_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)stop);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    CURLcode cc = curl_easy_perform(c);
    int rc = 0;
    if (cc == CURLE_OK) {
        rc = s_http_outcome(a, c, url, &rb, out);
    } else if (call.refused != NULL) {
        snprintf(out->err, sizeof out->err,
                 "%s %.200s: refused: the outbound address policy does not admit %s addresses "
                 "(reactive_automation.outbound_allow)",
                 a->method, url, call.refused);
        rc = -EACCES;
    } else if (cc == CURLE_ABORTED_BY_CALLBACK) {
        snprintf(out->err, sizeof out->err, "stopped: the daemon is shutting down");
        rc = -ECANCELED;
    } else if (rb.too_big) {
        snprintf(out->err, sizeof out->err, "%s %.200s: response larger than %u bytes",
                 a->method, url, AU_HTTP_MAX_BODY);
        rc = -EIO;
    } else {
        /* One text for every transport failure: a refused connection, a reset, a closed
         * connection and a reply that is not HTTP read alike, so that a step's error does not
         * tell a closed port from an open one. */
        out->timed_out = cc == CURLE_OPERATION_TIMEDOUT;
        rc = out->timed_out ? -ETIMEDOUT : -EIO;
        snprintf(out->err, sizeof out->err,
                 "%s %.200s: no HTTP response (no connection, or none within %llu ms)",
                 a->method, url, (unsigned long long)timeout_ms);
    }
    free(rb.data);
    free(body);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return rc;
}
