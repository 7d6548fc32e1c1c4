/* SPDX-License-Identifier: Apache-2.0 */
/* Merging the per-partition final windows of a consumer group read from the results topic. */
#include "an_merge.h"

#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "an_partial.h"
#include "vx_mem.h"

#define S_FORMAT 1

/* One merged window: the latest record of each input partition. */
struct s_mwin {
    uint64_t start;
    char *group_text;
    json_t *parts; /* {"<partition>": record} */
};

struct s_qtab {
    zhash_t *wins; /* "<group json>\x1f<start>" -> struct s_mwin */
};

struct s_wm {
    int32_t partition;
    uint64_t clock;
    bool idle;
};

struct an_merge {
    char *group_id;
    size_t max_windows;
    zhash_t *queries; /* query id -> struct s_qtab */
    struct s_wm *wms;
    size_t n_wms;
    uint64_t evicted, records;
};

static void
cb_mwin_free(void *data)
{
    struct s_mwin *w = data;
    json_decref(w->parts);
    free(w->group_text);
    free(w);
}

static void
cb_qtab_free(void *data)
{
    struct s_qtab *t = data;
    zhash_destroy(&t->wins);
    free(t);
}

an_merge_t *
an_merge_new(const char *group_id, size_t max_windows)
{
    an_merge_t *m = vx_calloc(1, sizeof *m);
    m->group_id = vx_strdup(group_id);
    m->max_windows = max_windows ? max_windows : 1;
    m->queries = zhash_new();
    return m;
}

void
an_merge_destroy(an_merge_t **mp)
{
    an_merge_t *m = *mp;
    if (!m) {
        return;
    }
    zhash_destroy(&m->queries);
    free(m->wms);
    free(m->group_id);
    free(m);
    *mp = NULL;
}

char *
an_merge_key(const char *group_id, const struct an_result *r, size_t *klen)
{
    char *g = json_dumps(r->group, JSON_COMPACT | JSON_SORT_KEYS);
    char *k = NULL;
    int n = asprintf(&k, "%s\x1f%s\x1f%s\x1f%" PRIu64 "\x1f%d", group_id, r->query->id,
                     g ? g : "{}", r->start_ns, (int)r->partition);
    free(g);
    if (n < 0) {
        vx_oom(0);
    }
    *klen = (size_t)n;
    return k;
}

char *
an_merge_value(const char *group_id, const struct an_result *r)
{
    const struct an_query *q = r->query;
    json_t *states = json_array();
    for (size_t i = 0; i < q->n_aggs; i++) {
        json_array_append_new(states, an_partial_state(&q->aggs[i], &r->accs[i]));
    }
    json_t *j = json_pack("{s:i, s:s, s:s, s:O, s:I, s:I, s:i, s:I, s:b, s:o}", "format",
                          S_FORMAT, "group_id", group_id, "query", q->id, "group", r->group,
                          "start_ns", (json_int_t)r->start_ns, "end_ns", (json_int_t)r->end_ns,
                          "partition", (int)r->partition, "events", (json_int_t)r->events,
                          "evicted", r->evicted, "states", states);
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return text;
}

char *
an_merge_wm_key(const char *group_id, int32_t partition, size_t *klen)
{
    char *k = NULL;
    int n = asprintf(&k, "%s\x1f\x1fwatermark\x1f%d", group_id, (int)partition);
    if (n < 0) {
        vx_oom(0);
    }
    *klen = (size_t)n;
    return k;
}

char *
an_merge_wm_value(const char *group_id, int32_t partition, uint64_t clock, bool idle)
{
    json_t *j = json_pack("{s:i, s:s, s:i, s:I, s:b}", "format", S_FORMAT, "group_id", group_id,
                          "watermark_partition", (int)partition, "clock_ns", (json_int_t)clock,
                          "idle", idle);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return text;
}

static void
s_apply_wm(an_merge_t *m, json_t *j)
{
    int32_t p = (int32_t)json_integer_value(json_object_get(j, "watermark_partition"));
    uint64_t clock = (uint64_t)json_integer_value(json_object_get(j, "clock_ns"));
    bool idle = json_is_true(json_object_get(j, "idle"));
    for (size_t i = 0; i < m->n_wms; i++) {
        if (m->wms[i].partition == p) {
            m->wms[i].clock = clock > m->wms[i].clock ? clock : m->wms[i].clock;
            m->wms[i].idle = idle;
            return;
        }
    }
    m->wms = vx_realloc(m->wms, (m->n_wms + 1) * sizeof *m->wms);
    m->wms[m->n_wms++] = (struct s_wm){p, clock, idle};
}

/* Forgets the window with the lowest start of t. */
static void
s_evict_oldest(an_merge_t *m, struct s_qtab *t)
{
    const char *oldest = NULL;
    uint64_t low = UINT64_MAX;
    for (struct s_mwin *w = zhash_first(t->wins); w; w = zhash_next(t->wins)) {
        if (w->start < low) {
            low = w->start;
            oldest = zhash_cursor(t->wins);
        }
    }
    if (oldest) {
        char *key = vx_strdup(oldest);
        zhash_delete(t->wins, key);
        free(key);
        m->evicted++;
    }
}

int
an_merge_apply(an_merge_t *m, const void *val, size_t vlen)
{
    json_t *j = json_loadb(val, vlen, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(j) || json_integer_value(json_object_get(j, "format")) != S_FORMAT ||
        !json_is_string(json_object_get(j, "group_id"))) {
        json_decref(j);
        return -EPROTO;
    }
    if (strcmp(json_string_value(json_object_get(j, "group_id")), m->group_id) != 0) {
        json_decref(j);
        return 1;
    }
    if (json_is_integer(json_object_get(j, "watermark_partition"))) {
        s_apply_wm(m, j);
        json_decref(j);
        return 0;
    }
    const char *query = json_string_value(json_object_get(j, "query"));
    json_t *group = json_object_get(j, "group");
    json_t *start = json_object_get(j, "start_ns");
    json_t *part = json_object_get(j, "partition");
    if (!query || !json_is_object(group) || !json_is_integer(start) || !json_is_integer(part) ||
        !json_is_array(json_object_get(j, "states"))) {
        json_decref(j);
        return -EPROTO;
    }
    struct s_qtab *t = zhash_lookup(m->queries, query);
    if (!t) {
        t = vx_calloc(1, sizeof *t);
        t->wins = zhash_new();
        zhash_insert(m->queries, query, t);
        zhash_freefn(m->queries, query, cb_qtab_free);
    }
    char *gtext = json_dumps(group, JSON_COMPACT | JSON_SORT_KEYS);
    char *key = NULL;
    if (asprintf(&key, "%s\x1f%" PRIu64, gtext, (uint64_t)json_integer_value(start)) < 0) {
        vx_oom(0);
    }
    struct s_mwin *w = zhash_lookup(t->wins, key);
    if (!w) {
        if (zhash_size(t->wins) >= m->max_windows) {
            s_evict_oldest(m, t);
        }
        w = vx_calloc(1, sizeof *w);
        w->start = (uint64_t)json_integer_value(start);
        w->group_text = gtext;
        gtext = NULL;
        w->parts = json_object();
        zhash_insert(t->wins, key, w);
        zhash_freefn(t->wins, key, cb_mwin_free);
    }
    char pk[16];
    snprintf(pk, sizeof pk, "%d", (int)json_integer_value(part));
    json_object_set(w->parts, pk, j); /* the partition's latest record replaces its earlier one */
    m->records++;
    free(key);
    free(gtext);
    json_decref(j);
    return 0;
}

static int
cb_cmp_win(const void *a, const void *b)
{
    const struct s_mwin *x = *(struct s_mwin *const *)a, *y = *(struct s_mwin *const *)b;
    if (x->start != y->start) {
        return x->start < y->start ? -1 : 1;
    }
    return strcmp(x->group_text, y->group_text);
}

static json_t *
s_merged(const struct an_query *q, struct s_mwin *w)
{
    size_t np = json_object_size(w->parts);
    json_t **states = vx_calloc(np ? np : 1, sizeof *states);
    json_t *parts = json_array(), *values = json_object(), *group = NULL;
    uint64_t end = 0, events = 0;
    bool approx = false, evicted = false;
    const char *k;
    json_t *rec;
    json_object_foreach(w->parts, k, rec) {
        json_array_append_new(parts, json_integer(strtol(k, NULL, 10)));
        uint64_t e = (uint64_t)json_integer_value(json_object_get(rec, "end_ns"));
        end = e > end ? e : end;
        events += (uint64_t)json_integer_value(json_object_get(rec, "events"));
        evicted |= json_is_true(json_object_get(rec, "evicted"));
        group = json_object_get(rec, "group");
    }
    for (size_t a = 0; a < q->n_aggs; a++) {
        size_t n = 0;
        json_object_foreach(w->parts, k, rec) {
            json_t *st = json_array_get(json_object_get(rec, "states"), a);
            if (json_is_object(st)) {
                states[n++] = st;
            }
        }
        double v = 0;
        bool has = an_partial_merge(&q->aggs[a], states, n, &v, &approx);
        json_t *jv;
        if (!has) {
            jv = json_null();
        } else if (q->aggs[a].fn == AN_FN_COUNT || q->aggs[a].fn == AN_FN_DISTINCT) {
            jv = json_integer((json_int_t)v);
        } else {
            jv = json_real(v);
        }
        json_object_set_new(values, q->aggs[a].as, jv);
    }
    free(states);
    json_t *j = json_pack("{s:s, s:O, s:I, s:I, s:I, s:o, s:b, s:o}", "query", q->id, "group",
                          group ? group : json_object(), "start_ns", (json_int_t)w->start,
                          "end_ns", (json_int_t)end, "events", (json_int_t)events, "values",
                          values, "final", true, "partitions", parts);
    if (approx) {
        json_object_set_new(j, "approximate", json_true());
    }
    if (evicted) {
        json_object_set_new(j, "evicted", json_true());
    }
    return j;
}

json_t *
an_merge_results(an_merge_t *m, const struct an_query *q, size_t limit)
{
    json_t *out = json_array();
    struct s_qtab *t = zhash_lookup(m->queries, q->id);
    if (!t) {
        return out;
    }
    size_t n = zhash_size(t->wins), i = 0;
    struct s_mwin **all = vx_calloc(n ? n : 1, sizeof *all);
    for (struct s_mwin *w = zhash_first(t->wins); w && i < n; w = zhash_next(t->wins)) {
        all[i++] = w;
    }
    qsort(all, i, sizeof *all, cb_cmp_win);
    for (size_t k = i > limit ? i - limit : 0; k < i; k++) {
        json_array_append_new(out, s_merged(q, all[k]));
    }
    free(all);
    return out;
}

void
an_merge_forget(an_merge_t *m, const char *query)
{
    zhash_delete(m->queries, query);
}

void
an_merge_clocks(const an_merge_t *m, const int32_t *skip, size_t n_skip, uint64_t *low,
                bool *active, uint64_t *high)
{
    for (size_t i = 0; i < m->n_wms; i++) {
        bool mine = false;
        for (size_t k = 0; k < n_skip && !mine; k++) {
            mine = skip[k] == m->wms[i].partition;
        }
        if (mine) {
            continue;
        }
        uint64_t c = m->wms[i].clock;
        *high = c > *high ? c : *high;
        if (!m->wms[i].idle && (!*active || c < *low)) {
            *low = c;
            *active = true;
        }
    }
}

uint64_t
an_merge_evicted(const an_merge_t *m)
{
    return m->evicted;
}

uint64_t
an_merge_records(const an_merge_t *m)
{
    return m->records;
}
