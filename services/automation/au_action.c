/* SPDX-License-Identifier: Apache-2.0 */
/* Script and HTTP step actions (see au_action.h).
 *
 * Scripts start with posix_spawn (no fork of a process holding ZeroMQ threads), in a new
 * process group so that a timeout kills whatever the script started too. Arguments and
 * environment carry every parameter; the script text is passed unchanged. */
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
#include <sys/wait.h>
#include <unistd.h>

#include "au_expr.h"
#include "vx_clock.h"
#include "vx_mem.h"

extern char **environ;

#define S_ERR_TAIL 400

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

int
au_script_run(const struct au_act *a, json_t *ctx, uint64_t timeout_ms,
              const volatile int *stop, const char *exec_id, const char *step_id,
              struct au_act_out *out)
{
    struct s_strv argv = {0}, envv = {0};
    const char *interp = a->python ? "python3" : "bash";
    s_strv_add(&argv, vx_strdup(interp));
    if (a->content != NULL) {
        s_strv_add(&argv, vx_strdup("-c"));
        s_strv_add(&argv, vx_strdup(a->content));
        if (!a->python) {
            s_strv_add(&argv, vx_strdup("vexfs-step")); /* $0 */
        }
    } else {
        s_strv_add(&argv, vx_strdup(a->path));
    }
    size_t i;
    json_t *x;
    json_array_foreach(a->args, i, x) {
        s_strv_add(&argv, s_text(x, ctx));
    }
    for (char **e = environ; e != NULL && *e != NULL; e++) {
        if (strncmp(*e, "VX_", 3) != 0) {
            s_strv_add(&envv, vx_strdup(*e));
        }
    }
    const char *name;
    json_object_foreach(a->env, name, x) {
        char *v = s_text(x, ctx);
        s_strv_add(&envv, s_kv(name, v));
        free(v);
    }
    char *input = json_dumps(json_object_get(ctx, "input") ? json_object_get(ctx, "input")
                                                           : json_null(),
                             JSON_COMPACT | JSON_ENCODE_ANY);
    s_strv_add(&envv, s_kv("VX_INPUT", input ? input : "null"));
    free(input);
    s_strv_add(&envv, s_kv("VX_EXECUTION_ID", exec_id));
    s_strv_add(&envv, s_kv("VX_STEP_ID", step_id));

    int rc = 0;
    int po[2] = {-1, -1}, pe[2] = {-1, -1};
    char *obuf = vx_malloc(AU_SCRIPT_MAX_OUT + 1);
    size_t olen = 0;
    bool too_big = false;
    char etail[S_ERR_TAIL + 1] = "";
    size_t elen = 0;
    pid_t pid = -1;
    if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) {
        snprintf(out->err, sizeof out->err, "pipe: %s", strerror(errno));
        rc = -EIO;
        goto done;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
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
    int src = posix_spawnp(&pid, interp, &fa, &at, argv.v, envv.v);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(po[1]);
    close(pe[1]);
    po[1] = pe[1] = -1;
    if (src != 0) {
        snprintf(out->err, sizeof out->err, "cannot start %s: %s", interp, strerror(src));
        rc = -ENOENT;
        pid = -1;
        goto done;
    }
    out->pid = (int)pid;
    if (out->on_start != NULL) {
        out->on_start((int)pid, out->on_start_arg);
    }
    uint64_t deadline = vx_mono_ns() + timeout_ms * VX_NS_PER_MS;
    bool o_open = true, e_open = true;
    int status = 0;
    bool exited = false;
    while (!exited) {
        uint64_t now = vx_mono_ns();
        if (now >= deadline) {
            s_kill(pid);
            snprintf(out->err, sizeof out->err, "timed out after %llu ms; process group %d killed",
                     (unsigned long long)timeout_ms, (int)pid);
            out->timed_out = true;
            rc = -ETIMEDOUT;
            goto done;
        }
        if (*stop) {
            s_kill(pid);
            snprintf(out->err, sizeof out->err, "stopped: the daemon is shutting down");
            rc = -ECANCELED;
            goto done;
        }
        struct pollfd fds[2] = {{.fd = o_open ? po[0] : -1, .events = POLLIN},
                                {.fd = e_open ? pe[0] : -1, .events = POLLIN}};
        uint64_t left_ms = (deadline - now) / VX_NS_PER_MS + 1;
        int wait_ms = left_ms < 50 ? (int)left_ms : 50;
        if (o_open || e_open) {
            poll(fds, 2, wait_ms);
        }
        char tmp[4096];
        if (o_open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t n = read(po[0], tmp, sizeof tmp);
            if (n <= 0) {
                o_open = false;
            } else if (olen + (size_t)n > AU_SCRIPT_MAX_OUT) {
                too_big = true;
            } else {
                memcpy(obuf + olen, tmp, (size_t)n);
                olen += (size_t)n;
            }
        }
        if (e_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t n = read(pe[0], tmp, sizeof tmp);
            if (n <= 0) {
                e_open = false;
            } else {
                /* keep the last S_ERR_TAIL bytes */
                size_t take = (size_t)n > S_ERR_TAIL ? S_ERR_TAIL : (size_t)n;
                const char *src2 = tmp + (size_t)n - take;
                if (elen + take > S_ERR_TAIL) {
                    size_t drop = elen + take - S_ERR_TAIL;
                    memmove(etail, etail + drop, elen - drop);
                    elen -= drop;
                }
                memcpy(etail + elen, src2, take);
                elen += take;
                etail[elen] = '\0';
            }
        }
        if (!o_open && !e_open) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid) {
                exited = true;
            } else if (w == 0) {
                struct timespec ts = {0, 5 * 1000 * 1000};
                nanosleep(&ts, NULL);
            }
        }
    }
    /* Whatever the script left running in its group goes with it. */
    kill(-pid, SIGKILL);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        for (size_t k = 0; k < elen; k++) {
            if (etail[k] == '\n' || etail[k] == '\r') {
                etail[k] = ' ';
            }
        }
        if (WIFEXITED(status)) {
            snprintf(out->err, sizeof out->err, "exit status %d: %s", WEXITSTATUS(status), etail);
        } else {
            snprintf(out->err, sizeof out->err, "killed by signal %d: %s",
                     WIFSIGNALED(status) ? WTERMSIG(status) : 0, etail);
        }
        rc = -EIO;
        goto done;
    }
    if (too_big) {
        snprintf(out->err, sizeof out->err, "stdout larger than %u bytes", AU_SCRIPT_MAX_OUT);
        rc = -EPROTO;
        goto done;
    }
    obuf[olen] = '\0';
    size_t s0 = strspn(obuf, " \t\r\n");
    if (obuf[s0] == '\0') {
        out->result = json_null();
        goto done;
    }
    json_error_t je;
    out->result = json_loadb(obuf, olen, JSON_DECODE_ANY, &je);
    if (out->result == NULL) {
        snprintf(out->err, sizeof out->err, "stdout is not JSON: %s (line %d, column %d)", je.text,
                 je.line, je.column);
        rc = -EPROTO;
    }
done:
    for (int k = 0; k < 2; k++) {
        if (po[k] >= 0) {
            close(po[k]);
        }
        if (pe[k] >= 0) {
            close(pe[k]);
        }
    }
    free(obuf);
    s_strv_free(&argv);
    s_strv_free(&envv);
    return rc;
}

/* ---- HTTP --------------------------------------------------------------------------------- */

int
au_http_resolve(const struct au_act *a, json_t *ctx, char **url, char *target, size_t tlen,
                char *err, size_t errlen)
{
    char *u = au_template_str(a->url, ctx);
    CURLU *h = curl_url();
    char *host = NULL, *port = NULL;
    int rc = 0;
    if (h == NULL || curl_url_set(h, CURLUPART_URL, u, 0) != CURLUE_OK ||
        curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(h, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        snprintf(err, errlen, "url \"%.200s\" does not parse", u);
        rc = -EINVAL;
        free(u);
        u = NULL;
    } else {
        snprintf(target, tlen, "http:%s:%s", host, port);
    }
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(h);
    *url = u;
    return rc;
}

struct s_buf {
    char *data;
    size_t len;
    bool too_big;
};

static size_t
cb_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct s_buf *b = arg;
    size_t n = size * nmemb;
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

int
au_http_run(const struct au_act *a, json_t *ctx, const char *url, uint64_t timeout_ms,
            const volatile int *stop, struct au_act_out *out)
{
    CURL *c = curl_easy_init();
    if (c == NULL) {
        snprintf(out->err, sizeof out->err, "curl_easy_init failed");
        return -ENOMEM;
    }
    struct curl_slist *hdrs = NULL;
    char *body = NULL;
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
    if (a->body != NULL) {
        json_t *b = au_template_eval(a->body, ctx);
        if (json_is_string(b)) {
            body = vx_strndup(json_string_value(b), json_string_length(b));
        } else {
            body = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY);
            if (!has_ct) {
                hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
            }
        }
        json_decref(b);
    }
    struct s_buf rb = {0};
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
    long status = 0;
    if (cc != CURLE_OK) {
        if (cc == CURLE_OPERATION_TIMEDOUT) {
            out->timed_out = true;
            rc = -ETIMEDOUT;
        } else if (cc == CURLE_ABORTED_BY_CALLBACK) {
            rc = -ECANCELED;
        } else {
            rc = -EIO;
        }
        snprintf(out->err, sizeof out->err, "%s %.200s: %s%s", a->method, url,
                 curl_easy_strerror(cc), rb.too_big ? " (response larger than 1 MiB)" : "");
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        json_t *rj = NULL;
        if (rb.len > 0) {
            rj = json_loadb(rb.data, rb.len, JSON_DECODE_ANY, NULL);
            if (rj == NULL) {
                rj = json_stringn(rb.data, rb.len);
            }
        }
        out->result = json_pack("{s:i, s:o}", "status", (int)status, "body",
                                rj ? rj : json_null());
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
            rc = -EBADMSG;
        }
    }
    free(rb.data);
    free(body);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return rc;
}
