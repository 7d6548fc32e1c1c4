/* SPDX-License-Identifier: Apache-2.0 */
/* One meaning per verb, for every object kind of vexfsctl, against the real daemons:
 * routing's rules and filters, automation's patterns and workflows (as one tenant while another
 * tenant's objects stay untouched), analytics' queries and metric alert rules.
 *
 * For each kind: apply creates and updates only the objects of its file; replace without --yes
 * refuses (exit 2, the objects it would delete named) and changes nothing; replace --yes makes
 * the file the set; a replace that deletes nothing needs no --yes; delete takes several ids and
 * changes nothing when one is unknown; list prints "none" for an empty set and an aligned table
 * otherwise; -o json, --json and -o yaml of list and get parse to the same document. Every
 * change is one step: a file with one invalid object changes nothing and the error names it;
 * a write with a stale If-Match is refused (412) and changes nothing; concurrent vexfsctl
 * writers either succeed or get the conflict error, never overwrite each other. Every effect
 * is checked with the daemon's own REST answer, not with vexfsctl. */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "an_harness.h"
#include "rt_harness.h"
#include "vt_https.h"
#include "vx_test.h"
#include "vx_yaml.h"

#define S_AU_TOKEN "ctl-verbs-token"

/* One kind under test. */
struct s_case {
    const char *words[4];  /* the command: {"rules"}, {"alerts", "metrics", "rules"} */
    uint16_t port;
    char url[64];
    char tok_file[300];
    const char *token;
    const char *tenant;    /* automation: the tenant acted as; NULL elsewhere */
    const char *list_path; /* GET: {field: [...]} */
    const char *set_path;  /* PUT and PATCH of the set, NULL: list_path */
    const char *field;
    const char *key;       /* "id" or "name" */
    const char *obj_fmt;   /* JSON of one object: %s its id, %d a number an update changes */
    const char *mod_path;  /* "a/b": where that number shows in the daemon's answer */
    const char *bad_fmt;   /* JSON of one object the daemon refuses: %s its id */
    char dir[256];         /* files */
};

/* Runs vexfsctl WORDS --url .. --token-file .. [--tenant T] ARGS... (NULL-terminated). */
static int
s_ctl(const struct s_case *c, struct vt_run_result *r, ...)
{
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfsctl", vt_bin_dir());
    char *argv[40];
    int n = 0;
    argv[n++] = bin;
    for (int i = 0; c->words[i] != NULL; i++) {
        argv[n++] = (char *)c->words[i];
    }
    argv[n++] = (char *)"--url";
    argv[n++] = (char *)c->url;
    argv[n++] = (char *)"--token-file";
    argv[n++] = (char *)c->tok_file;
    if (c->tenant != NULL) {
        argv[n++] = (char *)"--tenant";
        argv[n++] = (char *)c->tenant;
    }
    va_list ap;
    va_start(ap, r);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 39) {
        argv[n++] = (char *)a;
    }
    va_end(ap);
    argv[n] = NULL;
    ck_assert_int_eq(vt_run(argv, NULL, NULL, 60000, r), 0);
    return WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
}

/* The same as s_ctl, failing the test unless the exit status is want; the result is freed. */
#define S_CTL_EXPECT(c, want, ...)                                                                \
    do {                                                                                          \
        struct vt_run_result r_;                                                                  \
        int st_ = s_ctl((c), &r_, __VA_ARGS__, NULL);                                             \
        ck_assert_msg(st_ == (want), "%s: expected exit %d, got %d; stdout: %s; stderr: %s",      \
                      (c)->words[0], (want), st_, r_.out, r_.err);                               \
        vt_run_result_fini(&r_);                                                                  \
    } while (0)

/* GET path as tenant (NULL: no header) straight from the daemon; the parsed body. */
static json_t *
s_rest(const struct s_case *c, const char *path, const char *tenant)
{
    char ca[400], cert[400], key[400];
    snprintf(ca, sizeof ca, "%s/ca.crt", vt_tls_dir());
    snprintf(cert, sizeof cert, "%s/test.crt", vt_tls_dir());
    snprintf(key, sizeof key, "%s/test.key", vt_tls_dir());
    struct vt_https_req rq = {.method = "GET", .port = c->port, .path = path,
                              .token = c->token, .tenant = tenant, .ca_file = ca,
                              .cert_file = cert, .key_file = key, .timeout_ms = 20000};
    struct vt_http_result r;
    ck_assert_int_eq(vt_https(&rq, &r), 0);
    ck_assert_msg(r.status == 200, "GET %s: HTTP %ld %s", path, r.status, r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    ck_assert_msg(j != NULL, "GET %s: not JSON: %s", path, r.body);
    vt_http_result_fini(&r);
    return j;
}

/* The ids of the daemon's current set, sorted, comma-separated (caller frees). */
static char *
s_ids_of(json_t *arr, const char *key)
{
    size_t n = json_array_size(arr);
    const char **ids = calloc(n + 1, sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        ids[i] = json_string_value(json_object_get(json_array_get(arr, i), key));
        if (ids[i] == NULL) {
            char *text = json_dumps(arr, JSON_COMPACT);
            ck_abort_msg("an object without a string '%s' in %s", key, text);
        }
    }
    for (size_t i = 0; i < n; i++) { /* insertion sort: a handful of ids */
        for (size_t j = i; j > 0 && strcmp(ids[j - 1], ids[j]) > 0; j--) {
            const char *t = ids[j];
            ids[j] = ids[j - 1];
            ids[j - 1] = t;
        }
    }
    char *out = calloc(1, 64 * (n + 1));
    for (size_t i = 0; i < n; i++) {
        strcat(out, i ? "," : "");
        strcat(out, ids[i]);
    }
    free(ids);
    return out;
}

static char *
s_ids(const struct s_case *c)
{
    json_t *j = s_rest(c, c->list_path, c->tenant);
    char *ids = s_ids_of(json_object_get(j, c->field), c->key);
    json_decref(j);
    return ids;
}

#define S_EXPECT_IDS(c, want)                                                                    \
    do {                                                                                         \
        char *ids_ = s_ids(c);                                                                   \
        ck_assert_msg(strcmp(ids_, (want)) == 0, "%s: the daemon's set is [%s], expected [%s]", \
                      (c)->words[0], ids_, (want));                                              \
        free(ids_);                                                                              \
    } while (0)

/* The number at c->mod_path in object id of the daemon's set. */
static long long
s_mod(const struct s_case *c, const char *id)
{
    json_t *j = s_rest(c, c->list_path, c->tenant);
    json_t *arr = json_object_get(j, c->field), *o = NULL, *x;
    size_t i;
    json_array_foreach(arr, i, x) {
        if (strcmp(json_string_value(json_object_get(x, c->key)), id) == 0) {
            o = x;
        }
    }
    ck_assert_ptr_nonnull(o);
    char path[128];
    snprintf(path, sizeof path, "%s", c->mod_path);
    for (char *save = NULL, *p = strtok_r(path, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
        o = json_is_array(o) ? json_array_get(o, (size_t)atoi(p)) : json_object_get(o, p);
    }
    ck_assert_msg(json_is_number(o), "%s: %s of %s is not a number", c->words[0], c->mod_path,
                  id);
    long long v = (long long)json_number_value(o);
    json_decref(j);
    return v;
}

/* Writes a file of objects "id:number,id:number" as a JSON list; returns its path (static). */
static const char *
s_file(const struct s_case *c, const char *name, const char *objs)
{
    static char path[400];
    snprintf(path, sizeof path, "%s/%s", c->dir, name);
    char text[8192] = "[", one[2048], id[64];
    int num;
    const char *p = objs;
    while (*p != '\0') {
        int used = 0;
        ck_assert_int_eq(sscanf(p, "%63[^:]:%d%n", id, &num, &used), 2);
        snprintf(one, sizeof one, c->obj_fmt, id, num);
        strcat(text, text[1] ? "," : "");
        strcat(text, one);
        p += used;
        p += *p == ',';
    }
    strcat(text, "]");
    ck_assert_int_eq(vt_write_file(path, text), 0);
    return path;
}

/* Column starts of a table line: 0 and every position after a run of two or more blanks. */
static int
s_columns(const char *line, size_t len, size_t *starts, int max)
{
    int n = 0;
    starts[n++] = 0;
    for (size_t i = 2; i < len && n < max; i++) {
        if (line[i] != ' ' && line[i - 1] == ' ' && line[i - 2] == ' ') {
            starts[n++] = i;
        }
    }
    return n;
}

/* list prints a header and one row per object, every column starting where its header does. */
static void
s_expect_table(const struct s_case *c, const char *want_id)
{
    struct vt_run_result r;
    ck_assert_int_eq(s_ctl(c, &r, "list", NULL), 0);
    const char *row = strchr(r.out, '\n');
    ck_assert_ptr_nonnull(row);
    row++;
    ck_assert_msg(strncmp(row, want_id, strlen(want_id)) == 0 ||
                      strstr(row, want_id) != NULL,
                  "%s list: no row for %s in:\n%s", c->words[0], want_id, r.out);
    size_t h[8], w[8];
    int nh = s_columns(r.out, (size_t)(row - 1 - r.out), h, 8);
    int nw = s_columns(row, strcspn(row, "\n"), w, 8);
    ck_assert_msg(nh >= 2 && nh == nw, "%s list: %d headers, %d cells:\n%s", c->words[0], nh,
                  nw, r.out);
    for (int i = 0; i < nh; i++) {
        ck_assert_msg(h[i] == w[i], "%s list: column %d starts at %zu in the header, %zu in the "
                      "row:\n%s", c->words[0], i, h[i], w[i], r.out);
    }
    vt_run_result_fini(&r);
}

/* Fails unless j and y are the same document: the same members, lists with the same ids,
 * other members equal (stats and states may move between two calls). */
static void
s_same(const struct s_case *c, const char *what, json_t *j, json_t *y, const char *text)
{
    ck_assert_msg(json_is_object(y) && json_object_size(y) == json_object_size(j),
                  "%s %s gives another document:\n%s", c->words[0], what, text);
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v) {
        json_t *yv = json_object_get(y, k);
        if (json_is_array(v) && strcmp(k, c->field) == 0) {
            char *a = s_ids_of(v, c->key), *b = s_ids_of(yv, c->key);
            ck_assert_str_eq(a, b);
            free(a);
            free(b);
        } else if (strcmp(k, "stats") != 0 && strcmp(k, "status") != 0) {
            ck_assert_msg(json_equal(v, yv), "%s %s: member %s differs:\n%s", c->words[0], what,
                          k, text);
        }
    }
}

/* -o json, --json and -o yaml of one command give the same document; returns it. */
static json_t *
s_expect_formats(const struct s_case *c, const char *verb, const char *arg)
{
    struct vt_run_result r;
    ck_assert_int_eq(s_ctl(c, &r, verb, "-o", "json", arg, NULL), 0);
    json_t *j = json_loads(r.out, 0, NULL);
    ck_assert_msg(j != NULL, "%s %s -o json: not JSON:\n%s", c->words[0], verb, r.out);
    vt_run_result_fini(&r);
    ck_assert_int_eq(s_ctl(c, &r, verb, "--json", arg, NULL), 0);
    json_t *j2 = json_loads(r.out, 0, NULL);
    s_same(c, "--json", j, j2, r.out);
    json_decref(j2);
    vt_run_result_fini(&r);
    ck_assert_int_eq(s_ctl(c, &r, verb, "-o", "yaml", arg, NULL), 0);
    char err[256];
    json_t *y = vx_yaml_parse(r.out, r.out_len, err, sizeof err);
    ck_assert_msg(y != NULL, "%s %s -o yaml: %s in:\n%s", c->words[0], verb, err, r.out);
    s_same(c, "-o yaml", j, y, r.out);
    json_decref(y);
    vt_run_result_fini(&r);
    return j;
}

/* One request straight to the daemon: method path [body] [If-Match]; returns the status and
 * keeps the answer's ETag in etag (VT_ETAG_LEN bytes, may be NULL) and its body in *body
 * (may be NULL; caller frees). */
static long
s_rest_x(const struct s_case *c, const char *method, const char *path, const char *body,
         const char *if_match, char *etag, char **out)
{
    char ca[400], cert[400], key[400];
    snprintf(ca, sizeof ca, "%s/ca.crt", vt_tls_dir());
    snprintf(cert, sizeof cert, "%s/test.crt", vt_tls_dir());
    snprintf(key, sizeof key, "%s/test.key", vt_tls_dir());
    struct vt_https_req rq = {.method = method, .port = c->port, .path = path, .body = body,
                              .token = c->token, .tenant = c->tenant, .ca_file = ca,
                              .cert_file = cert, .key_file = key, .timeout_ms = 20000,
                              .if_match = if_match, .etag_out = etag};
    struct vt_http_result r;
    ck_assert_int_eq(vt_https(&rq, &r), 0);
    long st = r.status;
    if (out != NULL) {
        *out = strdup(r.body);
    }
    vt_http_result_fini(&r);
    return st;
}

/* A file with two good objects and, third, one the daemon refuses: apply and replace --yes
 * both exit 1 naming the refused object (its place in the list and its id), and nothing
 * changes, not even the good objects before it. The set is a,b,d with a at 30. */
static void
s_expect_bad_file(struct s_case *c)
{
    char text[4096], one[1024], bad[1024], path[400];
    snprintf(one, sizeof one, c->obj_fmt, "a", 77);
    snprintf(bad, sizeof bad, c->bad_fmt, "zbad");
    int n = snprintf(text, sizeof text, "[%s,", one);
    snprintf(one, sizeof one, c->obj_fmt, "x", 10);
    snprintf(text + n, sizeof text - (size_t)n, "%s,%s]", one, bad);
    snprintf(path, sizeof path, "%s/bad-third.json", c->dir);
    ck_assert_int_eq(vt_write_file(path, text), 0);
    const char *verbs[2][2] = {{"apply", NULL}, {"replace", "--yes"}};
    for (int v = 0; v < 2; v++) {
        struct vt_run_result r;
        int st = s_ctl(c, &r, verbs[v][0], path, verbs[v][1], NULL);
        ck_assert_msg(st == 1 && strstr(r.err, "[2]") && strstr(r.err, "zbad"),
                      "%s %s of a file whose third object is invalid: expected exit 1 naming "
                      "[2] and zbad, got %d: %s", c->words[0], verbs[v][0], st, r.err);
        vt_run_result_fini(&r);
        S_EXPECT_IDS(c, "a,b,d");
        ck_assert_int_eq(s_mod(c, "a"), 30);
    }
}

/* Two writers: one reads the set (its ETag), the other changes it with vexfsctl; the first
 * one's write with If-Match of what it read is refused with 412 version_conflict and changes
 * nothing. Its write with the current tag goes through. The set is a,b,d with a at 30. */
static void
s_expect_conflict(struct s_case *c)
{
    char tag1[VT_ETAG_LEN], tag2[VT_ETAG_LEN], *body = NULL;
    ck_assert_int_eq(s_rest_x(c, "GET", c->list_path, NULL, NULL, tag1, NULL), 200);
    ck_assert_msg(tag1[0] == '"', "%s: GET %s has no ETag", c->words[0], c->list_path);
    S_CTL_EXPECT(c, 0, "apply", s_file(c, "a31.json", "a:31"));
    char one[1024], req[1200];
    snprintf(one, sizeof one, c->obj_fmt, "a", 32);
    snprintf(req, sizeof req, "{\"%s\":[%s]}", c->field, one);
    const char *set_path = c->set_path != NULL ? c->set_path : c->list_path;
    long st = s_rest_x(c, "PATCH", set_path, req, tag1, NULL, &body);
    ck_assert_msg(st == 412 && strstr(body, "version_conflict"),
                  "%s: PATCH %s with a stale If-Match %s: expected 412 version_conflict, got "
                  "%ld %s", c->words[0], set_path, tag1, st, body);
    free(body);
    st = s_rest_x(c, "PUT", set_path, req, tag1, NULL, &body);
    ck_assert_msg(st == 412, "%s: PUT with a stale If-Match: expected 412, got %ld %s",
                  c->words[0], st, body);
    free(body);
    S_EXPECT_IDS(c, "a,b,d");
    ck_assert_int_eq(s_mod(c, "a"), 31);
    ck_assert_int_eq(s_rest_x(c, "GET", c->list_path, NULL, NULL, tag2, NULL), 200);
    ck_assert_msg(strcmp(tag1, tag2) != 0, "%s: the ETag did not move after a change (%s)",
                  c->words[0], tag1);
    snprintf(one, sizeof one, c->obj_fmt, "a", 30);
    snprintf(req, sizeof req, "{\"%s\":[%s]}", c->field, one);
    st = s_rest_x(c, "PATCH", set_path, req, tag2, NULL, &body);
    ck_assert_msg(st == 200, "%s: PATCH with the current If-Match: %ld %s", c->words[0], st, body);
    free(body);
    S_EXPECT_IDS(c, "a,b,d");
    ck_assert_int_eq(s_mod(c, "a"), 30);
}

/* Whole stderr of a finished process (caller frees). */
static char *
s_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *text = calloc(1, 65536);
    if (f != NULL) {
        size_t n = fread(text, 1, 65535, f);
        text[n] = '\0';
        fclose(f);
    }
    return text;
}

/* Concurrent vexfsctl writers, each applying one object of its own: every one either succeeds
 * (its object is there) or fails with the conflict error (its object is not), never a silent
 * overwrite. Rounds go on until a conflict has been seen (a deadline bounds them). The set is
 * a,b,d before and after. */
static void
s_expect_race(struct s_case *c)
{
    enum { S_WRITERS = 6 };
    int conflicts = 0;
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfsctl", vt_bin_dir());
    for (int round = 0; round < 40 && conflicts == 0; round++) {
        pid_t pids[S_WRITERS];
        char ids[S_WRITERS][32], logs[S_WRITERS][400], files[S_WRITERS][400];
        for (int w = 0; w < S_WRITERS; w++) {
            snprintf(ids[w], sizeof ids[w], "r%d-%d", round, w);
            snprintf(logs[w], sizeof logs[w], "%s/race-%d.err", c->dir, w);
            char objs[64];
            snprintf(objs, sizeof objs, "%s:10", ids[w]);
            snprintf(files[w], sizeof files[w], "%s", s_file(c, ids[w], objs));
            char *argv[16];
            int n = 0;
            argv[n++] = bin;
            for (int i = 0; c->words[i] != NULL; i++) {
                argv[n++] = (char *)c->words[i];
            }
            argv[n++] = (char *)"--url";
            argv[n++] = c->url;
            argv[n++] = (char *)"--token-file";
            argv[n++] = c->tok_file;
            if (c->tenant != NULL) {
                argv[n++] = (char *)"--tenant";
                argv[n++] = (char *)c->tenant;
            }
            argv[n++] = (char *)"apply";
            argv[n++] = files[w];
            argv[n] = NULL;
            pids[w] = vt_spawn(argv, NULL, logs[w]);
            ck_assert_int_gt(pids[w], 0);
        }
        char want[1024] = "a,b,d";
        for (int w = 0; w < S_WRITERS; w++) {
            int status = vt_wait_exit(pids[w], 60000);
            int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            char *err = s_slurp(logs[w]);
            ck_assert_msg(code == 0 || (code == 1 && strstr(err, "version_conflict") &&
                                        strstr(err, "nothing changed")),
                          "%s: a concurrent apply exited %d: %s", c->words[0], code, err);
            free(err);
            if (code == 0) {
                strcat(want, ",");
                strcat(want, ids[w]);
            }
            conflicts += code == 1;
        }
        /* ids sort as a,b,d,r..: the round's successes in writer order */
        char *have = s_ids(c);
        ck_assert_msg(strcmp(have, want) == 0, "%s: after concurrent applies the set is [%s], "
                      "the writers that succeeded make [%s]", c->words[0], have, want);
        free(have);
        char *del[S_WRITERS + 2];
        int nd = 0;
        for (int w = 0; w < S_WRITERS; w++) {
            if (strstr(want, ids[w]) != NULL) {
                del[nd++] = ids[w];
            }
        }
        struct vt_run_result r;
        if (nd > 0) {
            char *argv[S_WRITERS + 16];
            int n = 0;
            argv[n++] = bin;
            for (int i = 0; c->words[i] != NULL; i++) {
                argv[n++] = (char *)c->words[i];
            }
            argv[n++] = (char *)"--url";
            argv[n++] = c->url;
            argv[n++] = (char *)"--token-file";
            argv[n++] = c->tok_file;
            if (c->tenant != NULL) {
                argv[n++] = (char *)"--tenant";
                argv[n++] = (char *)c->tenant;
            }
            argv[n++] = (char *)"delete";
            for (int i = 0; i < nd; i++) {
                argv[n++] = del[i];
            }
            argv[n] = NULL;
            ck_assert_int_eq(vt_run(argv, NULL, NULL, 60000, &r), 0);
            ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "delete: %s", r.err);
            vt_run_result_fini(&r);
        }
        S_EXPECT_IDS(c, "a,b,d");
    }
    ck_assert_msg(conflicts > 0, "%s: 40 rounds of %d concurrent applies and no writer saw a "
                  "conflict", c->words[0], (int)S_WRITERS);
}

/* The whole contract for one kind; the daemon starts empty or with anything in it. */
static void
s_contract(struct s_case *c)
{
    char *dir = vt_tmpdir();
    snprintf(c->dir, sizeof c->dir, "%s", dir);
    free(dir);
    const char *empty = s_file(c, "empty.json", "");
    S_CTL_EXPECT(c, 0, "replace", empty, "--yes");
    S_EXPECT_IDS(c, "");
    struct vt_run_result r;
    ck_assert_int_eq(s_ctl(c, &r, "list", NULL), 0);
    ck_assert_msg(strcmp(r.out, "none\n") == 0, "%s list of an empty set: '%s'", c->words[0],
                  r.out);
    vt_run_result_fini(&r);

    /* apply creates, then creates and updates without touching the others */
    S_CTL_EXPECT(c, 0, "apply", s_file(c, "ab.json", "a:10,b:10"));
    S_EXPECT_IDS(c, "a,b");
    ck_assert_int_eq(s_ctl(c, &r, "apply", s_file(c, "ac.json", "a:20,c:10"), NULL), 0);
    ck_assert_msg(strstr(r.err, "1 ") && strstr(r.err, "created") && strstr(r.err, "updated"),
                  "%s apply summary: %s", c->words[0], r.err);
    vt_run_result_fini(&r);
    S_EXPECT_IDS(c, "a,b,c");
    ck_assert_int_eq(s_mod(c, "a"), 20);
    ck_assert_int_eq(s_mod(c, "b"), 10);

    /* replace that would delete: refused, named, nothing changed */
    const char *ab = s_file(c, "ab2.json", "a:30,b:30");
    ck_assert_int_eq(s_ctl(c, &r, "replace", ab, NULL), 2);
    ck_assert_msg(strstr(r.err, "would delete") && strstr(r.err, " c") &&
                      strstr(r.err, "--yes"),
                  "%s replace without --yes: %s", c->words[0], r.err);
    vt_run_result_fini(&r);
    S_EXPECT_IDS(c, "a,b,c");
    ck_assert_int_eq(s_mod(c, "a"), 20);
    /* with --yes it replaces */
    S_CTL_EXPECT(c, 0, "replace", ab, "-y");
    S_EXPECT_IDS(c, "a,b");
    ck_assert_int_eq(s_mod(c, "a"), 30);
    /* a replace that deletes nothing needs no --yes */
    S_CTL_EXPECT(c, 0, "replace", s_file(c, "abd.json", "a:30,b:30,d:10"));
    S_EXPECT_IDS(c, "a,b,d");

    /* one step, all or nothing; concurrent writers are told, never overwritten */
    s_expect_bad_file(c);
    s_expect_conflict(c);
    s_expect_race(c);

    /* output formats and the table */
    json_t *j = s_expect_formats(c, "list", NULL);
    ck_assert_int_eq(json_array_size(json_object_get(j, c->field)), 3);
    json_decref(j);
    j = s_expect_formats(c, "get", "a");
    ck_assert_str_eq(json_string_value(json_object_get(j, c->key)), "a");
    json_decref(j);
    s_expect_table(c, "a");

    /* delete: several at once; all or nothing */
    ck_assert_int_eq(s_ctl(c, &r, "delete", "b", "zz", NULL), 1);
    ck_assert_msg(strstr(r.err, "'zz'") && strstr(r.err, "nothing deleted"), "%s", r.err);
    vt_run_result_fini(&r);
    S_EXPECT_IDS(c, "a,b,d");
    ck_assert_int_eq(s_ctl(c, &r, "delete", "b", "d", NULL), 0);
    ck_assert_msg(strstr(r.err, "2 ") && strstr(r.err, "deleted"), "%s", r.err);
    vt_run_result_fini(&r);
    S_EXPECT_IDS(c, "a");
    ck_assert_int_eq(s_ctl(c, &r, "delete", "a", NULL), 0);
    ck_assert_msg(strstr(r.err, "1 ") && strstr(r.err, "deleted"), "%s", r.err);
    vt_run_result_fini(&r);
    ck_assert_int_eq(s_ctl(c, &r, "list", NULL), 0);
    ck_assert_str_eq(r.out, "none\n");
    vt_run_result_fini(&r);
    ck_assert_int_eq(s_ctl(c, &r, "get", "a", NULL), 1);
    vt_run_result_fini(&r);

    /* usage errors */
    S_CTL_EXPECT(c, 2, "frobnicate");
    S_CTL_EXPECT(c, 2, "delete");
    S_CTL_EXPECT(c, 2, "list", "-o", "xml");
    /* a file that is not a set: exit 1, nothing changed */
    char bad[400];
    snprintf(bad, sizeof bad, "%s/bad.json", c->dir);
    ck_assert_int_eq(vt_write_file(bad, "[{\"nokey\":1}]"), 0);
    S_CTL_EXPECT(c, 1, "apply", bad);
    S_EXPECT_IDS(c, "");
}

/* ---- routing: rules and filters ------------------------------------------------------------ */

static void
s_rules_case(struct s_case *c, const struct rh_daemon *rt)
{
    memset(c, 0, sizeof *c);
    c->words[0] = "rules";
    c->port = rt->rest_port;
    snprintf(c->url, sizeof c->url, "https://127.0.0.1:%u", (unsigned)rt->rest_port);
    snprintf(c->tok_file, sizeof c->tok_file, "%s/token", rt->dir);
    c->token = RH_TOKEN;
    c->list_path = "/v1/rules";
    c->field = "rules";
    c->key = "id";
    c->obj_fmt = "{\"id\":\"%s\",\"priority\":%d,\"target_boundaries\":[\"analytics\"]}";
    c->mod_path = "priority";
    c->bad_fmt = "{\"id\":\"%s\",\"priority\":\"high\",\"target_boundaries\":[\"analytics\"]}";
}

START_TEST(t_rules)
{
    struct rh_daemon rt;
    rh_start(&rt, "tcp://127.0.0.1:1", NULL);
    struct s_case c;
    s_rules_case(&c, &rt);
    s_contract(&c);
    rh_stop(&rt);
}
END_TEST

/* Filters are part of the rules' set: apply of filters keeps the rules, a replace without
 * filters would delete them (refused), delete removes a filter and a rule in one change. */
START_TEST(t_rules_with_filters)
{
    struct rh_daemon rt;
    rh_start(&rt, "tcp://127.0.0.1:1", NULL);
    struct s_case c, f;
    s_rules_case(&c, &rt);
    f = c;
    f.list_path = "/v1/filters";
    f.field = "filters";
    char *dir = vt_tmpdir();
    snprintf(c.dir, sizeof c.dir, "%s", dir);
    free(dir);
    char rules[400], filters[400], both[400];
    snprintf(rules, sizeof rules, "%s/rules.yaml", c.dir);
    snprintf(filters, sizeof filters, "%s/filters.yaml", c.dir);
    snprintf(both, sizeof both, "%s/both.yaml", c.dir);
    ck_assert_int_eq(vt_write_file(rules, "rules:\n"
                                          "  - {id: logs, priority: 5,\n"
                                          "     target_boundaries: [vector]}\n"
                                          "filters: []\n"),
                     0);
    ck_assert_int_eq(vt_write_file(filters, "filters:\n"
                                            "  - id: private\n"
                                            "    kind: path\n"
                                            "    action: block\n"
                                            "    conditions: {patterns: [{kind: prefix, pattern: "
                                            "/private/}]}\n"),
                     0);
    ck_assert_int_eq(vt_write_file(both, "- {id: logs, priority: 5, target_boundaries: [vector]}\n"
                                         "- {id: more, target_boundaries: [graph]}\n"),
                     0);
    S_CTL_EXPECT(&c, 0, "replace", rules, "--yes");
    S_CTL_EXPECT(&c, 0, "apply", filters);
    S_EXPECT_IDS(&c, "logs");
    S_EXPECT_IDS(&f, "private");
    /* a list of rules replaces the rules and, having no filters, would delete the filter */
    struct vt_run_result r;
    ck_assert_int_eq(s_ctl(&c, &r, "replace", both, NULL), 2);
    ck_assert_msg(strstr(r.err, "1 filter: private"), "%s", r.err);
    vt_run_result_fini(&r);
    S_EXPECT_IDS(&c, "logs");
    S_EXPECT_IDS(&f, "private");
    /* apply of the same list keeps the filter */
    S_CTL_EXPECT(&c, 0, "apply", both);
    S_EXPECT_IDS(&c, "logs,more");
    S_EXPECT_IDS(&f, "private");
    /* the table lists both kinds */
    ck_assert_int_eq(s_ctl(&c, &r, "list", NULL), 0);
    ck_assert_msg(strstr(r.out, "rule    more") && strstr(r.out, "filter  private"), "%s", r.out);
    vt_run_result_fini(&r);
    ck_assert_int_eq(s_ctl(&c, &r, "get", "private", NULL), 0);
    json_t *j = json_loads(r.out, 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(j, "action")), "block");
    json_decref(j);
    vt_run_result_fini(&r);
    /* one delete, a filter and a rule */
    S_CTL_EXPECT(&c, 0, "delete", "private", "more");
    S_EXPECT_IDS(&c, "logs");
    S_EXPECT_IDS(&f, "");
    rh_stop(&rt);
}
END_TEST

/* ---- automation: patterns and workflows ---------------------------------------------------- */

struct s_au {
    pid_t pid;
    uint16_t port;
    char dir[256];
    char tok[300];
    char log[300];
};

static void
s_au_start(struct s_au *e)
{
    memset(e, 0, sizeof *e);
    char *dir = vt_tmpdir();
    ck_assert_ptr_nonnull(dir);
    snprintf(e->dir, sizeof e->dir, "%s", dir);
    free(dir);
    e->port = vt_free_port();
    char cfgpath[300], cfg[2048];
    snprintf(e->tok, sizeof e->tok, "%s/token", e->dir);
    snprintf(cfgpath, sizeof cfgpath, "%s/vexfs.yaml", e->dir);
    snprintf(e->log, sizeof e->log, "%s/automation.log", e->dir);
    ck_assert_int_eq(vt_write_file(e->tok, S_AU_TOKEN "\n"), 0);
    snprintf(cfg, sizeof cfg,
             "reactive_automation:\n  rest_port: %u\n  input_endpoint: tcp://127.0.0.1:%u\n"
             "  state_dir: %s\nadmin:\n  token_file: %s\nlogging:\n  level: warn\n",
             (unsigned)e->port, (unsigned)vt_free_port(), e->dir, e->tok);
    ck_assert_int_eq(vt_write_file(cfgpath, cfg), 0);
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-automation", vt_bin_dir());
    char *argv[] = {bin, (char *)"--config", cfgpath, NULL};
    e->pid = vt_spawn(argv, NULL, e->log);
    ck_assert_int_gt(e->pid, 0);
    ck_assert_msg(vt_wait_ready(e->port, 20000), "automation not ready; log in %s", e->log);
}

static void
s_au_stop(struct s_au *e)
{
    int status = vt_stop(e->pid, SIGTERM, 30000);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "automation exit %d", status);
}

static void
s_au_case(struct s_case *c, const struct s_au *e, const char *cmd)
{
    memset(c, 0, sizeof *c);
    c->words[0] = cmd;
    c->port = e->port;
    snprintf(c->url, sizeof c->url, "https://127.0.0.1:%u", (unsigned)e->port);
    snprintf(c->tok_file, sizeof c->tok_file, "%s", e->tok);
    c->token = S_AU_TOKEN;
    c->tenant = "acme";
    c->key = "id";
}

/* Another tenant's objects are never touched by the acme tenant's replace and delete. */
static void
s_other_tenant(struct s_case *c, const char *file_text, const char *want)
{
    struct s_case o = *c;
    o.tenant = "other";
    char path[400];
    snprintf(path, sizeof path, "%s/other.json", c->dir);
    ck_assert_int_eq(vt_write_file(path, file_text), 0);
    S_CTL_EXPECT(&o, 0, "apply", path);
    S_EXPECT_IDS(&o, want);
    s_contract(c);
    S_EXPECT_IDS(&o, want);
}

START_TEST(t_patterns)
{
    struct s_au e;
    s_au_start(&e);
    struct s_case c;
    s_au_case(&c, &e, "patterns");
    c.list_path = "/v1/patterns";
    c.field = "patterns";
    c.obj_fmt = "{\"id\":\"%s\",\"kind\":\"threshold\",\"window_ms\":%d,"
                "\"elements\":[{\"event_type\":\"filesystem_delete\"}],"
                "\"actions\":[{\"kind\":\"alert\",\"message\":\"m\"}]}";
    c.mod_path = "window_ms";
    c.bad_fmt = "{\"id\":\"%s\",\"kind\":\"no-such-kind\",\"window_ms\":5,"
                "\"elements\":[{\"event_type\":\"filesystem_delete\"}],"
                "\"actions\":[{\"kind\":\"alert\",\"message\":\"m\"}]}";
    snprintf(c.dir, sizeof c.dir, "%s", e.dir);
    s_other_tenant(&c, "{\"id\":\"other-p\",\"kind\":\"threshold\",\"window_ms\":5,"
                       "\"elements\":[{\"event_type\":\"filesystem_delete\"}],"
                       "\"actions\":[{\"kind\":\"alert\",\"message\":\"m\"}]}",
                   "other-p");
    s_au_stop(&e);
}
END_TEST

START_TEST(t_workflows)
{
    struct s_au e;
    s_au_start(&e);
    struct s_case c;
    s_au_case(&c, &e, "workflows");
    c.list_path = "/v1/workflows";
    c.field = "workflows";
    c.obj_fmt = "{\"id\":\"%s\",\"kind\":\"linear\",\"steps\":[{\"id\":\"d\",\"action\":"
                "{\"kind\":\"delay\",\"ms\":%d}}]}";
    c.mod_path = "steps/0/action/ms";
    c.bad_fmt = "{\"id\":\"%s\",\"kind\":\"linear\",\"steps\":[{\"id\":\"d\",\"action\":"
                "{\"kind\":\"no-such-action\"}}]}";
    snprintf(c.dir, sizeof c.dir, "%s", e.dir);
    s_other_tenant(&c, "{\"workflows\":[{\"id\":\"a\",\"kind\":\"linear\",\"steps\":[{\"id\":"
                       "\"d\",\"action\":{\"kind\":\"delay\",\"ms\":1}}]}]}",
                   "a");
    s_au_stop(&e);
}
END_TEST

/* ---- analytics: queries and metric alert rules --------------------------------------------- */

static void
s_an_case(struct s_case *c, const struct ah_daemon *d)
{
    memset(c, 0, sizeof *c);
    c->port = d->rest_port;
    snprintf(c->url, sizeof c->url, "https://127.0.0.1:%u", (unsigned)d->rest_port);
    snprintf(c->tok_file, sizeof c->tok_file, "%s/token", d->dir);
    c->token = AH_TOKEN;
}

START_TEST(t_queries)
{
    struct ah_daemon d;
    ah_start(&d, NULL, NULL);
    struct s_case c;
    s_an_case(&c, &d);
    c.words[0] = "queries";
    c.list_path = "/v1/queries";
    c.field = "queries";
    c.key = "id";
    c.obj_fmt = "{\"id\":\"%s\",\"window\":{\"kind\":\"tumbling\",\"size_ms\":%d},"
                "\"aggregations\":[{\"fn\":\"count\"}]}";
    c.mod_path = "window/size_ms";
    c.bad_fmt = "{\"id\":\"%s\",\"window\":{\"kind\":\"no-such-window\",\"size_ms\":5},"
                "\"aggregations\":[{\"fn\":\"count\"}]}";
    s_contract(&c);
    ah_stop(&d);
}
END_TEST

START_TEST(t_alert_rules)
{
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "monitoring:\n  enable_real_time_alerts: true\n"
             "  metrics_collection_interval_ms: 100\n");
    struct ah_daemon d;
    ah_start(&d, yaml, NULL);
    struct s_case c;
    s_an_case(&c, &d);
    c.words[0] = "alerts";
    c.words[1] = "metrics";
    c.words[2] = "rules";
    c.list_path = "/v1/alert-rules";
    c.field = "rules";
    c.key = "name";
    static char fmt[512];
    snprintf(fmt, sizeof fmt,
             "{\"name\":\"%%s\",\"target\":\"http://127.0.0.1:%u/metrics\",\"metric\":\"m\","
             "\"condition\":\">\",\"threshold\":0.2,\"for_ms\":%%d}",
             (unsigned)vt_free_port());
    c.obj_fmt = fmt;
    c.mod_path = "for_ms";
    c.bad_fmt = "{\"name\":\"%s\",\"target\":\"http://127.0.0.1:9/metrics\",\"metric\":"
                "\"m\",\"condition\":\"~\",\"threshold\":1}";
    s_contract(&c);

    /* numbers as they were meant, in the table, JSON and YAML */
    const char *file = s_file(&c, "one.json", "t:0");
    S_CTL_EXPECT(&c, 0, "apply", file);
    struct vt_run_result r;
    const char *const fmts[] = {"table", "json", "yaml"};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(s_ctl(&c, &r, "list", "-o", fmts[i], NULL), 0);
        ck_assert_msg(strstr(r.out, "0.2") && !strstr(r.out, "0.20000"), "-o %s:\n%s", fmts[i],
                      r.out);
        vt_run_result_fini(&r);
    }
    /* the short forms under "alerts metrics" */
    struct s_case s = c;
    s.words[2] = NULL;
    S_CTL_EXPECT(&s, 0, "delete", "t");
    S_EXPECT_IDS(&c, "");
    ah_stop(&d);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("ctl_verbs");
    TCase *tc = tcase_create("verbs");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, t_rules);
    tcase_add_test(tc, t_rules_with_filters);
    tcase_add_test(tc, t_patterns);
    tcase_add_test(tc, t_workflows);
    tcase_add_test(tc, t_queries);
    tcase_add_test(tc, t_alert_rules);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
