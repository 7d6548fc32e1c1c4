/* SPDX-License-Identifier: Apache-2.0 */
/* vexfsctl emit: sends events to propagation, over ZeroMQ (PUSH to its ingest endpoint) or
 * REST (POST /v1/events).
 *
 * Events are built from arguments (--type, --path, ...) or read as JSON lines on stdin, and
 * checked with the library's decoder and validator before they leave, so a bad line is
 * reported with its number here instead of being dropped silently downstream. Over ZeroMQ
 * every batch carries this process as sender and a batch sequence contiguous from 1, so the
 * receiver can see a lost batch. */
#include <curl/curl.h>
#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_opts.h"
#include "ctl_out.h"
#include "vx_arena.h"
#include "vx_clock.h"
#include "vx_config.h"
#include "vx_event.h"
#include "vx_mem.h"
#include "vx_sock.h"
#include "vx_wire.h"

#define S_CMD "emit"
#define S_DEFAULT_ENDPOINT "tcp://127.0.0.1:5550"
#define S_DEFAULT_BATCH 100
#define S_MAX_BATCH 10000           /* events propagation takes in one REST request */
#define S_MAX_COUNT 1000000000LL
#define S_SEND_TIMEOUT_MS 10000     /* waiting for a connected receiver */
#define S_LINGER_MS 5000            /* delivering the last batches after the socket closes */
#define S_HTTP_TIMEOUT_MS 30000L    /* a durable POST waits for the Kafka acknowledgement */
#define S_MAX_RESPONSE (1024 * 1024)
#define S_ARENA_FLUSH (32u * 1024 * 1024) /* also close a batch this large: bounded memory */

struct s_kv {
    char *key; /* owned */
    char *value; /* borrowed from argv */
};

/* The event described by the arguments. Strings are borrowed from argv. */
struct s_template {
    int type;
    int source;
    char *path;
    char *tenant;
    char *custom_type;
    uint32_t priority;
    struct s_kv *content;
    size_t n_content;
    struct s_kv *metadata;
    size_t n_metadata;
};

struct s_emit {
    /* options */
    const char *endpoint;
    const char *rest;
    const char *token_file;
    bool durable;
    size_t batch_max;
    /* transport: exactly one of push and curl */
    vx_socks_t *socks;
    zsock_t *push;
    CURL *curl;
    bool curl_global; /* curl_global_init succeeded: cleanup owed */
    struct curl_slist *headers;
    char *url;
    char curl_err[CURL_ERROR_SIZE];
    char sender[320];
    uint64_t batch_seq; /* batches sent so far; the next one carries batch_seq + 1 */
    /* the batch being filled; its events live in arena */
    vx_arena_t *arena;
    vx_event_t **events;
    size_t n;
    /* outcome */
    uint64_t sent;
    uint64_t bad_lines;
    bool failed;
};

struct s_buf {
    char *data;
    size_t len;
};

static void
s_usage(FILE *f)
{
    fprintf(f,
            "usage: " CTL_PROG " emit [--endpoint EP | --rest URL [--durable] [--token-file F]]\n"
            "                     [--batch N] [--type T --path P [--content K=V ...]\n"
            "                     [--metadata K=V ...] [--tenant X] [--priority N] [--count N]\n"
            "                     [--source B] [--custom-type NAME]]\n\n"
            "Sends events to vexfs-propagation. With --type the event is built from the\n"
            "arguments; without it, events are read from stdin, one JSON object per line (the\n"
            "form documented in lib/vx_event.h). A line that does not decode or validate is\n"
            "reported as 'line N: ...' and skipped; the exit status is then 1.\n\n"
            "  -e, --endpoint EP     ZeroMQ ingest endpoint to PUSH to (env\n"
            "                        VEXFS_INGEST_ENDPOINT, default %s)\n"
            "  -r, --rest URL        POST batches to URL/v1/events instead of ZeroMQ\n"
            "      --durable         with --rest: wait until Kafka has journaled each batch\n"
            "      --token-file F    with --rest: bearer token, first line of F\n"
            "  -b, --batch N         events per batch, 1..%d (default %d)\n"
            "  -t, --type T          event type, e.g. filesystem_write\n"
            "  -p, --path P          absolute path (required for filesystem_* types)\n"
            "  -c, --content K=V     content field (repeatable)\n"
            "  -m, --metadata K=V    metadata field (repeatable)\n"
            "      --tenant X        tenant\n"
            "      --priority N      0..255\n"
            "      --source B        boundary, e.g. userspace_api\n"
            "      --custom-type N   name of the kind (required with --type custom)\n"
            "  -n, --count N         send N copies, content field n = 0..N-1 (not duplicates)\n"
            "      --help, --version\n\n"
            "A summary 'sent N events in B batches (M invalid lines skipped)' goes to stderr\n"
            "(singular nouns for 1: 'sent 1 event in 1 batch').\n",
            S_DEFAULT_ENDPOINT, S_MAX_BATCH, S_DEFAULT_BATCH);
}

/* ---- arguments ------------------------------------------------------------------------- */

/* "a, b, c": the names f(1), f(2), ... until f returns NULL, for error messages. */
static void
s_names(const char *(*f)(int), char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 1; f(i) && off < len; i++) {
        int w = snprintf(buf + off, len - off, "%s%s", i > 1 ? ", " : "", f(i));
        if (w < 0) {
            break;
        }
        off += (size_t)w;
    }
}

static int
s_parse_kv(const char *opt, char *arg, struct s_kv **list, size_t *n)
{
    char *eq = strchr(arg, '=');
    if (!eq || eq == arg) {
        ctl_err(S_CMD, "%s: expected KEY=VALUE, got '%s'", opt, arg);
        return -EINVAL;
    }
    size_t klen = (size_t)(eq - arg);
    for (size_t i = 0; i < *n; i++) {
        if (strlen((*list)[i].key) == klen && strncmp((*list)[i].key, arg, klen) == 0) {
            ctl_err(S_CMD, "%s: key '%.*s' given twice", opt, (int)klen, arg);
            return -EINVAL;
        }
    }
    *list = vx_realloc(*list, (*n + 1) * sizeof **list);
    (*list)[*n].key = vx_strndup(arg, klen);
    (*list)[*n].value = eq + 1;
    (*n)++;
    return 0;
}

static void
s_template_fini(struct s_template *t)
{
    for (size_t i = 0; i < t->n_content; i++) {
        free(t->content[i].key);
    }
    for (size_t i = 0; i < t->n_metadata; i++) {
        free(t->metadata[i].key);
    }
    vx_free(&t->content);
    vx_free(&t->metadata);
}

/* One event from the template, in arena memory. index >= 0 adds content field n = index. */
static vx_event_t *
s_build(const struct s_template *t, vx_arena_t *arena, long long index)
{
    vx_event_t *e = vx_arena_alloc(arena, sizeof *e);
    vexfs__v1__event__init(e);
    e->type = (Vexfs__V1__EventType)t->type;
    e->source = (Vexfs__V1__Boundary)t->source;
    e->timestamp_ns = vx_wall_ns();
    e->priority = t->priority;
    if (t->path) {
        e->path = t->path;
    }
    if (t->tenant) {
        e->tenant = t->tenant;
    }
    if (t->custom_type) {
        e->custom_type = t->custom_type;
    }
    size_t nc = t->n_content + (index >= 0 ? 1 : 0);
    e->content = vx_arena_alloc(arena, (nc + 1) * sizeof *e->content);
    for (size_t i = 0; i < nc; i++) {
        Vexfs__V1__Event__ContentEntry *ce = vx_arena_alloc(arena, sizeof *ce);
        vexfs__v1__event__content_entry__init(ce);
        if (i < t->n_content) {
            ce->key = t->content[i].key;
            ce->value = t->content[i].value;
        } else {
            ce->key = "n";
            ce->value = vx_arena_alloc(arena, 24);
            snprintf(ce->value, 24, "%lld", index);
        }
        e->content[i] = ce;
    }
    e->n_content = nc;
    e->metadata = vx_arena_alloc(arena, (t->n_metadata + 1) * sizeof *e->metadata);
    for (size_t i = 0; i < t->n_metadata; i++) {
        Vexfs__V1__Event__MetadataEntry *me = vx_arena_alloc(arena, sizeof *me);
        vexfs__v1__event__metadata_entry__init(me);
        me->key = t->metadata[i].key;
        me->value = t->metadata[i].value;
        e->metadata[i] = me;
    }
    e->n_metadata = t->n_metadata;
    return e;
}

/* ---- transport ------------------------------------------------------------------------- */

static size_t
cb_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct s_buf *b = arg;
    size_t n = size * nmemb;
    if (b->len + n > S_MAX_RESPONSE) {
        return 0;
    }
    b->data = vx_realloc(b->data, b->len + n + 1);
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static int
cb_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)arg;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return ctl_stop ? 1 : 0; /* nonzero aborts the transfer: Ctrl-C is not held for 30 s */
}

/* Opens the ZeroMQ socket or prepares the HTTP client. Returns an exit status. */
static int
s_open(struct s_emit *em)
{
    if (em->rest) {
        char err[512];
        char *token = vx_config_read_secret(em->token_file, err, sizeof err);
        if (!token && err[0]) {
            ctl_err(S_CMD, "--token-file: %s", err);
            return CTL_EXIT_USAGE;
        }
        size_t n = strlen(em->rest);
        while (n > 0 && em->rest[n - 1] == '/') {
            n--;
        }
        size_t ulen = n + 64;
        em->url = vx_malloc(ulen);
        snprintf(em->url, ulen, "%.*s/v1/events%s", (int)n, em->rest,
                 em->durable ? "?durable=true" : "");
        em->headers = curl_slist_append(em->headers, "Content-Type: application/json");
        em->headers = curl_slist_append(em->headers, "Expect:");
        if (token) {
            size_t alen = strlen(token) + 32;
            char *auth = vx_malloc(alen);
            snprintf(auth, alen, "Authorization: Bearer %s", token);
            em->headers = curl_slist_append(em->headers, auth);
            free(auth);
            free(token);
        }
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            ctl_err(S_CMD, "cannot initialise libcurl");
            return CTL_EXIT_FAIL;
        }
        em->curl_global = true;
        em->curl = curl_easy_init();
        if (!em->curl || !em->headers) {
            ctl_err(S_CMD, "cannot initialise libcurl");
            return CTL_EXIT_FAIL;
        }
        curl_easy_setopt(em->curl, CURLOPT_URL, em->url);
        ctl_tls_apply(em->curl);
        curl_easy_setopt(em->curl, CURLOPT_POST, 1L);
        curl_easy_setopt(em->curl, CURLOPT_HTTPHEADER, em->headers);
        curl_easy_setopt(em->curl, CURLOPT_TIMEOUT_MS, S_HTTP_TIMEOUT_MS);
        curl_easy_setopt(em->curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(em->curl, CURLOPT_ERRORBUFFER, em->curl_err);
        curl_easy_setopt(em->curl, CURLOPT_WRITEFUNCTION, cb_write);
        curl_easy_setopt(em->curl, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(em->curl, CURLOPT_XFERINFOFUNCTION, cb_progress);
        curl_easy_setopt(em->curl, CURLOPT_USERAGENT, CTL_PROG "/" VX_VERSION);
        return CTL_EXIT_OK;
    }

    char host[256] = "";
    if (gethostname(host, sizeof host - 1) < 0 || !host[0]) {
        snprintf(host, sizeof host, "unknown");
    }
    snprintf(em->sender, sizeof em->sender, CTL_PROG "-%s-%ld", host, (long)getpid());
    em->socks = ctl_socks(S_CMD);
    if (!em->socks) {
        return CTL_EXIT_FAIL;
    }
    /* Queue only to a completed connection, so a send waits for a live receiver (and fails
     * after S_SEND_TIMEOUT_MS) instead of piling up for nobody; linger then delivers the
     * queued batches before the process exits. */
    struct vx_sock_spec spec = {
        .type = ZMQ_PUSH,
        .endpoint = em->endpoint,
        .immediate = true,
        .sndtimeo_ms = S_SEND_TIMEOUT_MS,
        .linger_ms = S_LINGER_MS,
    };
    char err[512];
    em->push = vx_sock_open(em->socks, &spec, NULL, 0, err, sizeof err);
    if (!em->push) {
        ctl_err(S_CMD, "--endpoint: %s", err);
        return CTL_EXIT_USAGE;
    }
    return CTL_EXIT_OK;
}

static void
s_close(struct s_emit *em)
{
    zsock_destroy(&em->push);
    vx_socks_destroy(&em->socks);
    if (em->curl) {
        curl_easy_cleanup(em->curl);
        em->curl = NULL;
    }
    if (em->curl_global) {
        curl_global_cleanup();
        em->curl_global = false;
    }
    curl_slist_free_all(em->headers);
    em->headers = NULL;
    vx_free(&em->url);
}

static int
s_push(struct s_emit *em)
{
    vx_batch_t b;
    vexfs__v1__event_batch__init(&b);
    b.events = em->events;
    b.n_events = em->n;
    b.sender = em->sender;
    b.batch_sequence = em->batch_seq + 1;
    int rc = vx_wire_send(em->push, VX_WIRE_TOPIC, &b, 0);
    if (rc == -EAGAIN) {
        ctl_err(S_CMD,
                "%s: no receiver took batch %llu within %d ms (none connected, or all full)",
                em->endpoint, (unsigned long long)b.batch_sequence, S_SEND_TIMEOUT_MS);
    } else if (rc == -EINTR) {
        ctl_err(S_CMD, "%s: interrupted while sending batch %llu", em->endpoint,
                (unsigned long long)b.batch_sequence);
    } else if (rc == -EMSGSIZE) {
        ctl_err(S_CMD, "batch %llu exceeds %u bytes; use a smaller --batch",
                (unsigned long long)b.batch_sequence, VX_WIRE_MAX_BATCH_BYTES);
    } else if (rc < 0) {
        ctl_err(S_CMD, "%s: sending batch %llu: %s", em->endpoint,
                (unsigned long long)b.batch_sequence, zmq_strerror(-rc));
    }
    return rc;
}

/* Prints a non-2xx answer: the server's {"error":{"code","message"}} when it sent one. */
static void
s_print_http_error(const struct s_emit *em, long code, const struct s_buf *resp)
{
    json_t *doc = resp->data ? json_loadb(resp->data, resp->len, 0, NULL) : NULL;
    json_t *e = json_object_get(doc, "error");
    const char *ecode = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (msg) {
        ctl_err(S_CMD, "POST %s (batch %llu): HTTP %ld %s: %s", em->url,
                (unsigned long long)em->batch_seq + 1, code, ecode ? ecode : "error", msg);
    } else {
        int n = resp->data ? (int)strcspn(resp->data, "\r\n") : 0;
        ctl_err(S_CMD, "POST %s (batch %llu): HTTP %ld%s%.*s", em->url,
                (unsigned long long)em->batch_seq + 1, code, n ? ": " : "", n > 512 ? 512 : n,
                resp->data ? resp->data : "");
    }
    json_decref(doc);
}

static int
s_post(struct s_emit *em)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < em->n; i++) {
        json_array_append_new(arr, vx_event_to_json(em->events[i]));
    }
    char *body = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    if (!body) {
        ctl_err(S_CMD, "cannot encode batch %llu as JSON", (unsigned long long)em->batch_seq + 1);
        return -ENOMEM;
    }
    struct s_buf resp = {NULL, 0};
    em->curl_err[0] = '\0';
    curl_easy_setopt(em->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(em->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(em->curl, CURLOPT_WRITEDATA, &resp);
    CURLcode cc = curl_easy_perform(em->curl);
    int rc = 0;
    long code = 0;
    if (cc != CURLE_OK) {
        const char *why = em->curl_err[0] ? em->curl_err : curl_easy_strerror(cc);
        if (cc == CURLE_ABORTED_BY_CALLBACK) {
            why = "interrupted";
        }
        ctl_err(S_CMD, "POST %s (batch %llu): %s", em->url, (unsigned long long)em->batch_seq + 1,
                why);
        rc = -EIO;
    } else {
        curl_easy_getinfo(em->curl, CURLINFO_RESPONSE_CODE, &code);
        if (code < 200 || code > 299) {
            s_print_http_error(em, code, &resp);
            rc = -EIO;
        }
    }
    free(resp.data);
    free(body);
    return rc;
}

/* Sends the batch being filled, if any. On failure marks the run failed. */
static int
s_flush(struct s_emit *em)
{
    if (em->n == 0 || em->failed) {
        return em->failed ? -EIO : 0;
    }
    int rc = em->push ? s_push(em) : s_post(em);
    if (rc < 0) {
        em->failed = true;
        return rc;
    }
    em->batch_seq++;
    em->sent += em->n;
    em->n = 0;
    vx_arena_reset(em->arena);
    return 0;
}

static int
s_add(struct s_emit *em, vx_event_t *e)
{
    em->events[em->n++] = e;
    if (em->n >= em->batch_max || vx_arena_used(em->arena) > S_ARENA_FLUSH) {
        return s_flush(em);
    }
    return 0;
}

/* ---- sources of events ----------------------------------------------------------------- */

static void
s_from_args(struct s_emit *em, const struct s_template *t, long long count, bool numbered)
{
    for (long long i = 0; i < count && !ctl_stop; i++) {
        if (s_add(em, s_build(t, em->arena, numbered ? i : -1)) < 0) {
            return;
        }
    }
}

static void
s_bad_line(struct s_emit *em, size_t lineno, const char *msg)
{
    fprintf(stderr, "line %zu: %s\n", lineno, msg);
    em->bad_lines++;
    if (em->n == 0) {
        vx_arena_reset(em->arena); /* drop what the failed decode allocated */
    }
}

static void
s_from_stdin(struct s_emit *em)
{
    char *line = NULL;
    size_t cap = 0;
    size_t lineno = 0;
    while (!ctl_stop && !em->failed) {
        errno = 0;
        ssize_t len = getline(&line, &cap, stdin);
        if (len < 0) {
            if (ferror(stdin) && errno == EINTR && !ctl_stop) {
                clearerr(stdin);
                continue;
            }
            if (ferror(stdin) && !ctl_stop) {
                ctl_err(S_CMD, "reading stdin: %s", strerror(errno));
                em->failed = true;
            }
            break;
        }
        if (ctl_stop) {
            break;
        }
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
            line[--len] = '\0';
        }
        if (strspn(line, " \t") == (size_t)len) {
            continue; /* blank lines separate nothing and are not errors */
        }
        char err[512];
        json_error_t jerr;
        json_t *obj = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES, &jerr);
        if (!obj) {
            snprintf(err, sizeof err, "invalid JSON at column %d: %s", jerr.column, jerr.text);
            s_bad_line(em, lineno, err);
            continue;
        }
        vx_event_t *e = NULL;
        enum vx_drop_reason reason = VX_DROP_BAD_JSON;
        int rc = vx_event_from_json(obj, em->arena, &e, err, sizeof err, &reason);
        json_decref(obj);
        if (rc == 0) {
            rc = vx_event_validate(e, err, sizeof err, &reason);
        }
        if (rc < 0) {
            s_bad_line(em, lineno, err);
            continue;
        }
        s_add(em, e);
    }
    free(line);
}

/* ---- the command ----------------------------------------------------------------------- */

enum {
    S_OPT_DURABLE = CTL_OPT_OWN,
    S_OPT_TENANT,
    S_OPT_PRIORITY,
    S_OPT_SOURCE,
    S_OPT_CUSTOM_TYPE,
};

/* What the options said beyond the link (em) and the event template (t). */
struct s_args {
    const char *type_name;    /* --type: events are built from the arguments */
    const char *template_opt; /* first option that describes an argument-built event */
    bool endpoint_set;
    long long count;
    bool count_set;
};

/* Where the options go: the link (em), the event template (t) and the rest (a). */
struct s_opts {
    struct s_emit *em;
    struct s_template *t;
    struct s_args *a;
};

static void
cb_usage(FILE *f, void *arg)
{
    (void)arg;
    s_usage(f);
}

/* One option of emit's own into em, t or a; 0, or CTL_EXIT_USAGE after saying why. The options
 * that describe the event remember the first of them given (template_opt): they need --type. */
static int
cb_opt(void *arg, int c, char *value, char **argv)
{
    (void)argv;
    struct s_opts *o = arg;
    struct s_emit *em = o->em;
    struct s_template *t = o->t;
    struct s_args *a = o->a;
    long long v = 0;
    char names[512];
    switch (c) {
    case 'e':
        em->endpoint = value;
        a->endpoint_set = true;
        return 0;
    case 'r':
        if (!ctl_is_http_url(value)) {
            ctl_err(S_CMD, "--rest: expected an http:// or https:// URL, got '%s'", value);
            return CTL_EXIT_USAGE;
        }
        em->rest = value;
        return 0;
    case S_OPT_DURABLE:
        em->durable = true;
        return 0;
    case 'b':
        if (ctl_parse_int(S_CMD, "--batch", value, 1, S_MAX_BATCH, &v) < 0) {
            return CTL_EXIT_USAGE;
        }
        em->batch_max = (size_t)v;
        return 0;
    case 't':
        if (vx_event_type_parse(value, &t->type) < 0) {
            s_names(vx_event_type_name, names, sizeof names);
            ctl_err(S_CMD, "--type: unknown event type '%s' (one of %s)", value, names);
            return CTL_EXIT_USAGE;
        }
        a->type_name = value;
        return 0;
    case 'p':
        t->path = value;
        a->template_opt = a->template_opt ? a->template_opt : "--path";
        return 0;
    case 'c':
        if (s_parse_kv("--content", value, &t->content, &t->n_content) < 0) {
            return CTL_EXIT_USAGE;
        }
        a->template_opt = a->template_opt ? a->template_opt : "--content";
        return 0;
    case 'm':
        if (s_parse_kv("--metadata", value, &t->metadata, &t->n_metadata) < 0) {
            return CTL_EXIT_USAGE;
        }
        a->template_opt = a->template_opt ? a->template_opt : "--metadata";
        return 0;
    case S_OPT_TENANT:
        t->tenant = value;
        a->template_opt = a->template_opt ? a->template_opt : "--tenant";
        return 0;
    case S_OPT_PRIORITY:
        if (ctl_parse_int(S_CMD, "--priority", value, 0, 255, &v) < 0) {
            return CTL_EXIT_USAGE;
        }
        t->priority = (uint32_t)v;
        a->template_opt = a->template_opt ? a->template_opt : "--priority";
        return 0;
    case S_OPT_SOURCE:
        if (vx_boundary_parse(value, &t->source) < 0) {
            s_names(vx_boundary_name, names, sizeof names);
            ctl_err(S_CMD, "--source: unknown boundary '%s' (one of %s)", value, names);
            return CTL_EXIT_USAGE;
        }
        a->template_opt = a->template_opt ? a->template_opt : "--source";
        return 0;
    case S_OPT_CUSTOM_TYPE:
        t->custom_type = value;
        a->template_opt = a->template_opt ? a->template_opt : "--custom-type";
        return 0;
    case 'n':
        if (ctl_parse_int(S_CMD, "--count", value, 1, S_MAX_COUNT, &a->count) < 0) {
            return CTL_EXIT_USAGE;
        }
        a->count_set = true;
        a->template_opt = a->template_opt ? a->template_opt : "--count";
        return 0;
    default:
        return 0;
    }
}

/* Reads the options into em, t and a. Returns -1 to go on, or the exit status (usage error,
 * --help, --version). */
static int
s_parse_opts(int argc, char **argv, struct s_emit *em, struct s_template *t, struct s_args *a)
{
    static const struct option own[] = {
        {"endpoint", required_argument, NULL, 'e'},
        {"rest", required_argument, NULL, 'r'},
        {"durable", no_argument, NULL, S_OPT_DURABLE},
        {"batch", required_argument, NULL, 'b'},
        {"type", required_argument, NULL, 't'},
        {"path", required_argument, NULL, 'p'},
        {"content", required_argument, NULL, 'c'},
        {"metadata", required_argument, NULL, 'm'},
        {"tenant", required_argument, NULL, S_OPT_TENANT},
        {"priority", required_argument, NULL, S_OPT_PRIORITY},
        {"source", required_argument, NULL, S_OPT_SOURCE},
        {"custom-type", required_argument, NULL, S_OPT_CUSTOM_TYPE},
        {"count", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    struct s_opts o = {.em = em, .t = t, .a = a};
    const struct ctl_optdef d = {
        .cmd = S_CMD,
        .common = CTL_COMMON_TOKEN_FILE | CTL_COMMON_NO_ARGS,
        .own = own,
        .own_short = "e:r:b:t:p:c:m:n:",
        .on_opt = cb_opt,
        .usage = cb_usage,
        .arg = &o,
    };
    struct ctl_common co;
    int code;
    if (!ctl_opts_parse(&d, argc, argv, &co, &code)) {
        return code;
    }
    em->token_file = co.token_file;
    return -1;
}

/* The rules between options; false (said on stderr) when they are broken. */
static bool
s_opts_agree(const struct s_emit *em, const struct s_template *t, const struct s_args *a)
{
    if (!a->type_name && a->template_opt) {
        ctl_err(S_CMD, "%s needs --type (without --type, events are read from stdin)",
                a->template_opt);
        return false;
    }
    if (em->rest && a->endpoint_set) {
        ctl_err(S_CMD, "--endpoint and --rest exclude each other");
        return false;
    }
    if (!em->rest && (em->durable || em->token_file)) {
        ctl_err(S_CMD, "%s needs --rest", em->durable ? "--durable" : "--token-file");
        return false;
    }
    for (size_t i = 0; a->count_set && i < t->n_content; i++) {
        if (strcmp(t->content[i].key, "n") == 0) {
            ctl_err(S_CMD, "--content: key 'n' is set by --count");
            return false;
        }
    }
    return true;
}

int
ctl_emit_main(int argc, char **argv)
{
    const char *env_ep = getenv("VEXFS_INGEST_ENDPOINT");
    struct s_emit em = {.endpoint = env_ep && *env_ep ? env_ep : S_DEFAULT_ENDPOINT,
                        .batch_max = S_DEFAULT_BATCH};
    struct s_template t = {0};
    struct s_args a = {.count = 1};
    int status = s_parse_opts(argc, argv, &em, &t, &a);
    if (status >= 0) {
        goto out;
    }
    status = CTL_EXIT_USAGE;
    if (!s_opts_agree(&em, &t, &a)) {
        goto out;
    }
    em.arena = vx_arena_new(64 * 1024, 0);
    em.events = vx_calloc(em.batch_max, sizeof *em.events);
    if (a.type_name) {
        /* Check the event once before anything is sent: a mistake here is a usage error. */
        char err[512];
        enum vx_drop_reason reason = VX_DROP_BAD_JSON;
        if (vx_event_validate(s_build(&t, em.arena, a.count_set ? 0 : -1), err, sizeof err,
                              &reason) < 0) {
            ctl_err(S_CMD, "%s", err);
            goto out;
        }
        vx_arena_reset(em.arena);
    }
    status = s_open(&em);
    if (status != CTL_EXIT_OK) {
        goto out;
    }
    if (a.type_name) {
        s_from_args(&em, &t, a.count, a.count_set);
    } else {
        s_from_stdin(&em);
    }
    s_flush(&em);
    char sent[64], batches[64], bad[64];
    fprintf(stderr, "sent %s in %s (%s skipped)\n",
            ctl_out_count((long long)em.sent, "event", "events", sent, sizeof sent),
            ctl_out_count((long long)em.batch_seq, "batch", "batches", batches, sizeof batches),
            ctl_out_count((long long)em.bad_lines, "invalid line", "invalid lines", bad,
                          sizeof bad));
    if (ctl_stop) {
        ctl_err(S_CMD, "interrupted");
    }
    status = em.failed || em.bad_lines > 0 || ctl_stop ? CTL_EXIT_FAIL : CTL_EXIT_OK;
out:
    s_close(&em);
    vx_free(&em.events);
    vx_arena_destroy(&em.arena);
    s_template_fini(&t);
    return status;
}
