/* SPDX-License-Identifier: Apache-2.0 */
/* The five verbs every object kind of vexfsctl shares (see ctl_set.h), written once over the
 * kind's description: its sections, REST paths, key member and table. */
#include "ctl_set.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "vx_mem.h"
#include "vx_yaml.h"

#define S_MAX_RESPONSE (256 * 1024 * 1024)
#define S_DEFAULT_TIMEOUT_MS 30000L

static void
s_usage(const struct ctl_kind *k, FILE *f)
{
    const struct ctl_section *s0 = &k->sec[0];
    const char *id = strcmp(s0->key, "name") == 0 ? "NAME" : "ID";
    char objs[64], get[32], del[32];
    snprintf(objs, sizeof objs, "%s%s%s", s0->many, k->nsec > 1 ? " and " : "",
             k->nsec > 1 ? k->sec[1].many : "");
    snprintf(get, sizeof get, "get %s", id);
    snprintf(del, sizeof del, "delete %s...", id);
    fprintf(f,
            "usage: " CTL_PROG " %s [OPTIONS] [COMMAND [ARG...]]\n\n"
            "%s\n\n"
            "Commands:\n"
            "  list              (the default) the %s as a table;\n"
            "                    \"none\" when there are none\n"
            "  %-17s one, as JSON (or -o yaml, -o table)\n"
            "  apply FILE        create or update the %s named in FILE;\n"
            "                    nothing else changes\n"
            "  replace FILE      make FILE the whole set; when that deletes any, lists them\n"
            "                    and changes nothing unless --yes is given (exit 2)\n"
            "  %-17s remove these; when one is unknown nothing changes (exit 1)\n"
            "%s"
            "\nFILE is YAML, or JSON when its name ends in .json. It holds\n%s\n\n"
            "Options:\n"
            "  -u, --url URL         the REST address (env %s,\n"
            "                        default %s)\n"
            "      --token-file F    bearer token, first line of F (env VEXFS_TOKEN_FILE)\n"
            "%s"
            "  -o, --output FORMAT   list and get: table, json or yaml\n"
            "      --json            the same as -o json\n"
            "  -y, --yes             replace: delete what FILE does not name\n"
            "      --help, --version\n\n"
            "Every change is one request, all or nothing, sent with If-Match: the ETag of the\n"
            "set as read first; when another writer changed the set in between, the daemon\n"
            "answers 412 version_conflict and nothing changes (run the command again).\n\n"
            "Exit status: 0 done, 1 the daemon refused (a conflict too) or could not be\n"
            "reached, or an unknown id; 2 usage, or a replace that would delete without --yes.\n",
            k->cmd, k->what, objs, get, objs, del, k->extra_help ? k->extra_help : "",
            k->file_help, k->url_env, k->default_url,
            k->tenant
                ? "      --tenant T        act as tenant T (default: the daemon's \"default\")\n"
                : "");
}

char *
ctl_set_path(const char *base, const char *id)
{
    char *esc = curl_easy_escape(NULL, id, 0);
    if (esc == NULL) {
        return NULL;
    }
    size_t len = strlen(base) + strlen(esc) + 2;
    char *path = vx_malloc(len);
    snprintf(path, len, "%s/%s", base, esc);
    curl_free(esc);
    return path;
}

static const char *
s_key(const struct ctl_section *sec, json_t *obj)
{
    return json_string_value(json_object_get(obj, sec->key));
}

/* Index of the object whose key is id in arr, -1 when none. */
static long
s_find(const struct ctl_section *sec, json_t *arr, const char *id)
{
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o) {
        const char *k = s_key(sec, o);
        if (k != NULL && strcmp(k, id) == 0) {
            return (long)i;
        }
    }
    return -1;
}

/* Checks one section's array from FILE: objects, each with a string key, no key twice. */
static int
s_check(const struct ctl_set *s, const char *file, int sec, json_t *arr)
{
    const struct ctl_section *sc = &s->kind->sec[sec];
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o) {
        const char *id = s_key(sc, o);
        if (!json_is_object(o) || id == NULL || id[0] == '\0') {
            ctl_err(s->kind->cmd, "%s: %s[%zu]: expected an object with a string '%s'", file,
                    sc->field, i, sc->key);
            return -EINVAL;
        }
        if (s_find(sc, arr, id) != (long)i) {
            ctl_err(s->kind->cmd, "%s: %s[%zu]: %s '%s' appears twice", file, sc->field, i,
                    sc->key, id);
            return -EINVAL;
        }
    }
    return 0;
}

int
ctl_set_load(const struct ctl_set *s, const char *file, json_t **out)
{
    const struct ctl_kind *k = s->kind;
    char err[512];
    json_t *doc = vx_yaml_load_file(file, err, sizeof err);
    if (doc == NULL) {
        ctl_err(k->cmd, "%s", err);
        return -EINVAL;
    }
    for (int i = 0; i < k->nsec; i++) {
        out[i] = NULL;
    }
    bool set_form = false;
    if (json_is_object(doc)) {
        for (int i = 0; i < k->nsec; i++) {
            set_form = set_form || json_is_array(json_object_get(doc, k->sec[i].field));
        }
    }
    int rc = 0;
    if (set_form) {
        const char *name;
        json_t *v;
        json_object_foreach(doc, name, v) {
            int i = 0;
            while (i < k->nsec && strcmp(name, k->sec[i].field) != 0) {
                i++;
            }
            if (i == k->nsec || !json_is_array(v)) {
                ctl_err(k->cmd, "%s: %s: expected %s%s%s as lists of objects", file, name,
                        k->sec[0].field, k->nsec > 1 ? " and " : "",
                        k->nsec > 1 ? k->sec[1].field : "");
                rc = -EINVAL;
                goto out;
            }
            out[i] = json_incref(v);
        }
    } else if (json_is_array(doc)) {
        out[0] = json_incref(doc);
    } else if (json_is_object(doc) && json_object_get(doc, k->sec[0].key) != NULL) {
        out[0] = json_pack("[O]", doc);
    } else {
        ctl_err(k->cmd, "%s: expected %s", file, k->file_help);
        rc = -EINVAL;
        goto out;
    }
    for (int i = 0; i < k->nsec; i++) {
        if (out[i] == NULL) {
            out[i] = json_array();
        }
        rc = s_check(s, file, i, out[i]);
        if (rc < 0) {
            goto out;
        }
    }
out:
    if (rc < 0) {
        for (int i = 0; i < k->nsec; i++) {
            json_decref(out[i]);
            out[i] = NULL;
        }
    }
    json_decref(doc);
    return rc;
}

static void
s_free(const struct ctl_kind *k, json_t **arrs)
{
    for (int i = 0; i < k->nsec; i++) {
        json_decref(arrs[i]);
        arrs[i] = NULL;
    }
}

#define S_FETCH_TRIES 12

/* Sleeps base to 3 * base milliseconds: the spread comes from the clock's nanoseconds, so
 * writers that collided once do not wake together again. */
static void
s_backoff_ms(int base)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int ms = base + (int)((unsigned long)now.tv_nsec % (unsigned long)(2 * base + 1));
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) < 0 && errno == EINTR) {
    }
}

/* GETs every section's current list into cur[] (caller decrefs) and keeps the set's tag in
 * s->etag. A kind of two sections has one tag for both: when the two reads answer different
 * tags the set changed in between, and they are read again, after a short random pause that
 * grows with each attempt (other writers of the set back off the same way), S_FETCH_TRIES
 * times at most. */
static int
s_fetch(struct ctl_set *s, json_t **cur)
{
    const struct ctl_kind *k = s->kind;
    for (int i = 0; i < k->nsec; i++) {
        cur[i] = NULL;
    }
    for (int attempt = 0;; attempt++) {
        bool same = true;
        for (int i = 0; i < k->nsec; i++) {
            json_t *r = ctl_rest_call(&s->rest, "GET", k->sec[i].list_path, NULL, false);
            json_t *arr = r ? json_object_get(r, k->sec[i].field) : NULL;
            if (!json_is_array(arr)) {
                if (r != NULL) {
                    ctl_err(k->cmd, "GET %s: the answer has no '%s' list", k->sec[i].list_path,
                            k->sec[i].field);
                }
                json_decref(r);
                s_free(k, cur);
                return -EIO;
            }
            json_decref(cur[i]);
            cur[i] = json_incref(arr);
            json_decref(r);
            same = same && (i == 0 || strcmp(s->etag, s->rest.etag) == 0);
            snprintf(s->etag, sizeof s->etag, "%s", s->rest.etag);
        }
        if (same) {
            return 0;
        }
        if (attempt == S_FETCH_TRIES - 1) {
            ctl_err(k->cmd, "the %s keep changing while they are read; try again",
                    k->sec[0].many);
            s_free(k, cur);
            return -EAGAIN;
        }
        s_backoff_ms(5 * (attempt + 1));
    }
}


/* The body of the set's PUT: {field: arr, ...} for every section. */
static json_t *
s_set_body(const struct ctl_kind *k, json_t **arrs)
{
    json_t *body = json_object();
    for (int i = 0; i < k->nsec; i++) {
        json_object_set(body, k->sec[i].field, arrs[i]);
    }
    return body;
}

/* Writes the set in one request: PUT (replace) or PATCH (create or update) of set_path with
 * {field: arr, ...} and If-Match: the tag s_fetch read, so that a change by anyone else in
 * between is refused (412) and nothing changes. Members the daemon adds to what it lists
 * (a query's stats) are not sent back. */
static int
s_write(struct ctl_set *s, const char *method, json_t **arrs)
{
    const struct ctl_kind *k = s->kind;
    json_t *body = json_object();
    for (int i = 0; i < k->nsec; i++) {
        json_t *arr = json_array();
        size_t j;
        json_t *o;
        json_array_foreach(arrs[i], j, o) {
            json_t *c = json_copy(o);
            if (k->derived != NULL) {
                json_object_del(c, k->derived);
            }
            json_array_append_new(arr, c);
        }
        json_object_set_new(body, k->sec[i].field, arr);
    }
    s->rest.if_match = s->etag[0] ? s->etag : NULL;
    json_t *r = ctl_rest_call(&s->rest, method, k->set_path, body, false);
    s->rest.if_match = NULL;
    json_decref(body);
    if (r == NULL) {
        if (s->rest.status == 412) {
            ctl_err(k->cmd, "the %s changed while this command ran (another writer); nothing "
                            "changed: run it again",
                    k->sec[0].many);
        }
        return -EIO;
    }
    json_decref(r);
    return 0;
}

/* Appends to the string in buf, cutting what does not fit. */
static void __attribute__((format(printf, 3, 4)))
s_append(char *buf, size_t len, const char *fmt, ...)
{
    size_t off = strlen(buf);
    if (off + 1 >= len) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + off, len - off, fmt, ap);
    va_end(ap);
}

/* Appends "N <noun> <verb>" to buf when n > 0. */
static void
s_part(char *buf, size_t len, long long n, const struct ctl_section *sec, const char *verb)
{
    if (n <= 0) {
        return;
    }
    char count[128];
    s_append(buf, len, "%s%s %s", buf[0] ? ", " : "",
             ctl_out_count(n, sec->one, sec->many, count, sizeof count), verb);
}

/* ---- list and get ---------------------------------------------------------------------------- */

static int
s_print_table(struct ctl_set *s, json_t **arrs)
{
    const struct ctl_kind *k = s->kind;
    struct ctl_table t;
    ctl_table_init(&t, k->columns);
    for (int i = 0; i < k->nsec; i++) {
        size_t j;
        json_t *o;
        json_array_foreach(arrs[i], j, o) {
            k->row(i, o, ctl_table_row(&t));
        }
    }
    if (t.nrows == 0) {
        printf("none\n");
    } else {
        ctl_table_print(&t, stdout);
    }
    ctl_table_fini(&t);
    return CTL_EXIT_OK;
}

static int
s_list(struct ctl_set *s)
{
    json_t *cur[2];
    if (s_fetch(s, cur) < 0) {
        return CTL_EXIT_FAIL;
    }
    int rc = CTL_EXIT_OK;
    if (s->fmt == CTL_FMT_JSON || s->fmt == CTL_FMT_YAML) {
        json_t *all = s_set_body(s->kind, cur);
        rc = ctl_out_print(stdout, s->fmt, all) < 0 ? CTL_EXIT_FAIL : CTL_EXIT_OK;
        json_decref(all);
    } else {
        rc = s_print_table(s, cur);
    }
    s_free(s->kind, cur);
    return rc;
}

static int
s_get(struct ctl_set *s, const char *id)
{
    const struct ctl_kind *k = s->kind;
    json_t *obj = NULL;
    int sec = 0;
    if (k->nsec == 1 && k->sec[0].item_path != NULL) {
        char *path = ctl_set_path(k->sec[0].item_path, id);
        obj = path ? ctl_rest_call(&s->rest, "GET", path, NULL, false) : NULL;
        free(path);
        if (obj == NULL) {
            return CTL_EXIT_FAIL;
        }
    } else {
        json_t *cur[2];
        if (s_fetch(s, cur) < 0) {
            return CTL_EXIT_FAIL;
        }
        for (sec = 0; sec < k->nsec && obj == NULL; sec++) {
            long at = s_find(&k->sec[sec], cur[sec], id);
            obj = at >= 0 ? json_incref(json_array_get(cur[sec], (size_t)at)) : NULL;
        }
        sec--;
        s_free(k, cur);
        if (obj == NULL) {
            ctl_err(k->cmd, "no %s%s%s '%s'", k->sec[0].one, k->nsec > 1 ? " or " : "",
                    k->nsec > 1 ? k->sec[1].one : "", id);
            return CTL_EXIT_FAIL;
        }
    }
    int rc = CTL_EXIT_OK;
    if (s->fmt == CTL_FMT_TABLE) {
        json_t *arrs[2] = {json_array(), json_array()};
        json_array_append(arrs[sec], obj);
        rc = s_print_table(s, arrs);
        json_decref(arrs[0]);
        json_decref(arrs[1]);
    } else {
        rc = ctl_out_print(stdout, s->fmt == CTL_FMT_YAML ? CTL_FMT_YAML : CTL_FMT_JSON, obj) < 0
                 ? CTL_EXIT_FAIL
                 : CTL_EXIT_OK;
    }
    json_decref(obj);
    return rc;
}

/* ---- apply, replace, delete ------------------------------------------------------------------ */

/* Creates or updates FILE's objects in one PATCH of the set; every other object stays as it
 * is. The set is read first only to count what is created and what updated; If-Match makes
 * the counts exact (a change in between refuses the write). */
static int
s_apply(struct ctl_set *s, const char *file)
{
    const struct ctl_kind *k = s->kind;
    json_t *want[2], *cur[2];
    if (ctl_set_load(s, file, want) < 0) {
        return CTL_EXIT_FAIL;
    }
    if (s_fetch(s, cur) < 0) {
        s_free(k, want);
        return CTL_EXIT_FAIL;
    }
    char summary[512] = "";
    const int nsec = k->nsec < 2 ? k->nsec : 2;
    long long created[2] = {0, 0}, updated[2] = {0, 0};
    for (int i = 0; i < nsec; i++) {
        size_t j;
        json_t *o;
        json_array_foreach(want[i], j, o) {
            if (s_find(&k->sec[i], cur[i], s_key(&k->sec[i], o)) >= 0) {
                updated[i]++;
            } else {
                created[i]++;
            }
        }
    }
    int rc = s_write(s, "PATCH", want);
    for (int i = 0; i < nsec; i++) {
        s_part(summary, sizeof summary, created[i], &k->sec[i], "created");
        s_part(summary, sizeof summary, updated[i], &k->sec[i], "updated");
    }
    if (rc == 0) {
        fprintf(stderr, "applied %s: %s\n", file, summary[0] ? summary : "nothing in it");
    }
    s_free(k, want);
    s_free(k, cur);
    return rc == 0 ? CTL_EXIT_OK : CTL_EXIT_FAIL;
}

/* FILE becomes the whole set; deleting anything needs --yes. */
static int
s_replace(struct ctl_set *s, const char *file)
{
    const struct ctl_kind *k = s->kind;
    json_t *want[2], *cur[2];
    if (ctl_set_load(s, file, want) < 0) {
        return CTL_EXIT_FAIL;
    }
    if (s_fetch(s, cur) < 0) {
        s_free(k, want);
        return CTL_EXIT_FAIL;
    }
    json_t *gone[2] = {json_array(), json_array()};
    long long created[2] = {0, 0}, updated[2] = {0, 0};
    char list[1024] = "", summary[512] = "";
    for (int i = 0; i < k->nsec; i++) {
        size_t j;
        json_t *o;
        json_array_foreach(cur[i], j, o) {
            const char *id = s_key(&k->sec[i], o);
            if (id != NULL && s_find(&k->sec[i], want[i], id) < 0) {
                json_array_append_new(gone[i], json_string(id));
            }
        }
        json_array_foreach(want[i], j, o) {
            if (s_find(&k->sec[i], cur[i], s_key(&k->sec[i], o)) >= 0) {
                updated[i]++;
            } else {
                created[i]++;
            }
        }
        if (json_array_size(gone[i]) > 0) {
            char count[128];
            s_append(list, sizeof list, "%s%s:", list[0] ? "; " : "",
                     ctl_out_count((long long)json_array_size(gone[i]), k->sec[i].one,
                                   k->sec[i].many, count, sizeof count));
            json_t *id;
            json_array_foreach(gone[i], j, id) {
                s_append(list, sizeof list, " %s", json_string_value(id));
            }
        }
    }
    int rc = CTL_EXIT_OK;
    if (list[0] && !s->yes) {
        ctl_err(k->cmd, "replace %s would delete %s; nothing changed (add --yes to replace)",
                file, list);
        rc = CTL_EXIT_USAGE;
        goto out;
    }
    if (s_write(s, "PUT", want) < 0) {
        rc = CTL_EXIT_FAIL;
        goto out;
    }
    for (int i = 0; i < k->nsec; i++) {
        s_part(summary, sizeof summary, created[i], &k->sec[i], "created");
        s_part(summary, sizeof summary, updated[i], &k->sec[i], "updated");
        s_part(summary, sizeof summary, (long long)json_array_size(gone[i]), &k->sec[i],
               "deleted");
    }
    fprintf(stderr, "replaced with %s: %s\n", file, summary[0] ? summary : "the set is empty");
out:
    json_decref(gone[0]);
    json_decref(gone[1]);
    s_free(k, want);
    s_free(k, cur);
    return rc;
}

/* Removes every id of ids; all or nothing when one is unknown. */
static int
s_delete(struct ctl_set *s, int n, char **ids)
{
    const struct ctl_kind *k = s->kind;
    const int nsec = k->nsec < 2 ? k->nsec : 2;
    json_t *cur[2];
    if (s_fetch(s, cur) < 0) {
        return CTL_EXIT_FAIL;
    }
    int rc = CTL_EXIT_OK;
    long long count[2] = {0, 0};
    int *where = vx_malloc((size_t)n * sizeof *where);
    for (int a = 0; a < n; a++) {
        where[a] = -1;
        for (int i = 0; i < nsec && where[a] < 0; i++) {
            where[a] = s_find(&k->sec[i], cur[i], ids[a]) >= 0 ? i : -1;
        }
        if (where[a] < 0) {
            ctl_err(k->cmd, "no %s%s%s '%s'; nothing deleted", k->sec[0].one,
                    k->nsec > 1 ? " or " : "", k->nsec > 1 ? k->sec[1].one : "", ids[a]);
            rc = CTL_EXIT_FAIL;
            goto out;
        }
    }
    for (int a = 0; a < n; a++) {
        int i = where[a];
        long at = s_find(&k->sec[i], cur[i], ids[a]);
        if (at < 0) {
            continue; /* named twice */
        }
        json_array_remove(cur[i], (size_t)at);
        count[i]++;
    }
    /* The rest of the set, written back in one PUT under If-Match: all the deletes or none. */
    if (s_write(s, "PUT", cur) < 0) {
        rc = CTL_EXIT_FAIL;
        goto out;
    }
    char summary[512] = "";
    for (int i = 0; i < nsec; i++) {
        s_part(summary, sizeof summary, count[i], &k->sec[i], "deleted");
    }
    fprintf(stderr, "%s\n", summary);
out:
    free(where);
    s_free(k, cur);
    return rc;
}

/* ---- the command ----------------------------------------------------------------------------- */

enum {
    S_OPT_TOKEN_FILE = 1000,
    S_OPT_TENANT,
    S_OPT_JSON,
};

/* The five verbs: name, least and most arguments (-1: any number). */
static const struct {
    const char *name;
    int min, max;
} s_verbs[] = {{"list", 0, 0}, {"get", 1, 1}, {"apply", 1, 1}, {"replace", 1, 1},
               {"delete", 1, -1}};
#define S_N_VERBS (sizeof s_verbs / sizeof s_verbs[0])

/* Parses the options every kind shares, checks the verb and its number of arguments before
 * anything is sent (a usage error changes nothing), then runs the verb with one REST client. */
int
ctl_set_main(const struct ctl_kind *k, int argc, char **argv)
{
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},
        {"token-file", required_argument, NULL, S_OPT_TOKEN_FILE},
        {"tenant", required_argument, NULL, S_OPT_TENANT},
        {"output", required_argument, NULL, 'o'},
        {"json", no_argument, NULL, S_OPT_JSON},
        {"yes", no_argument, NULL, 'y'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct ctl_set s = {.kind = k};
    const char *url = getenv(k->url_env);
    const char *token_file = NULL, *tenant = NULL;
    if (url == NULL || *url == '\0') {
        url = k->default_url;
    }
    int ch;
    while ((ch = getopt_long(argc, argv, ":u:o:yhV", opts, NULL)) != -1) {
        switch (ch) {
        case 'u':
            url = optarg;
            break;
        case S_OPT_TOKEN_FILE:
            token_file = optarg;
            break;
        case S_OPT_TENANT:
            if (!k->tenant) {
                ctl_err(k->cmd, "--tenant: %s have no tenants", k->sec[0].many);
                return CTL_EXIT_USAGE;
            }
            tenant = optarg;
            break;
        case 'o':
            if (ctl_fmt_parse(optarg, &s.fmt) < 0) {
                ctl_err(k->cmd, "-o: expected table, json or yaml, got '%s'", optarg);
                return CTL_EXIT_USAGE;
            }
            break;
        case S_OPT_JSON:
            s.fmt = CTL_FMT_JSON;
            break;
        case 'y':
            s.yes = true;
            break;
        case 'h':
            s_usage(k, stdout);
            return CTL_EXIT_OK;
        case 'V':
            printf(CTL_PROG " %s\n", VX_VERSION);
            return CTL_EXIT_OK;
        default:
            return ctl_opt_error(k->cmd, ch, argv);
        }
    }
    if (!ctl_is_http_url(url)) {
        ctl_err(k->cmd, "--url: expected an http:// or https:// URL, got '%s'", url);
        return CTL_EXIT_USAGE;
    }
    const char *verb = optind < argc ? argv[optind] : "list";
    int nargs = optind < argc ? argc - optind - 1 : 0;
    char **args = argv + optind + 1;
    size_t v = 0;
    while (v < S_N_VERBS && strcmp(s_verbs[v].name, verb) != 0) {
        v++;
    }
    if (v < S_N_VERBS) {
        if (nargs < s_verbs[v].min || (s_verbs[v].max >= 0 && nargs > s_verbs[v].max)) {
            ctl_err(k->cmd, nargs < s_verbs[v].min ? "%s: missing argument (see --help)"
                                                   : "%s: too many arguments (see --help)",
                    verb);
            return CTL_EXIT_USAGE;
        }
    } else if (k->extra == NULL) {
        ctl_err(k->cmd, "unknown command '%s' (see --help)", verb);
        return CTL_EXIT_USAGE;
    }
    int rc = ctl_rest_init(&s.rest, k->cmd, url, token_file,
                           k->timeout_ms ? k->timeout_ms : S_DEFAULT_TIMEOUT_MS, S_MAX_RESPONSE);
    if (rc != 0) {
        return rc;
    }
    s.rest.tenant = tenant;
    switch (v) {
    case 0:
        rc = s_list(&s);
        break;
    case 1:
        rc = s_get(&s, args[0]);
        break;
    case 2:
        rc = s_apply(&s, args[0]);
        break;
    case 3:
        rc = s_replace(&s, args[0]);
        break;
    case 4:
        rc = s_delete(&s, nargs, args);
        break;
    default:
        rc = k->extra(&s, verb, nargs, args);
        if (rc < 0) {
            ctl_err(k->cmd, "unknown command '%s' (see --help)", verb);
            rc = CTL_EXIT_USAGE;
        }
        break;
    }
    ctl_rest_fini(&s.rest);
    return rc;
}
