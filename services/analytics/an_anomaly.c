/* SPDX-License-Identifier: Apache-2.0 */
/* EWMA z-score anomaly detection over window results. */
#include "an_anomaly.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_mem.h"

struct s_series {
    struct s_series *next;
    char *key;
    char *query;
    uint64_t hash;
    double mean, var;
    uint64_t n;
};

struct an_anomaly {
    struct s_series **buckets;
    size_t n_buckets, n_series, max_series;
    json_t **ring;
    size_t max_records, head, n_records;
    uint64_t total, untracked;
};

an_anomaly_t *
an_anomaly_new(size_t max_series, size_t max_records)
{
    an_anomaly_t *a = vx_calloc(1, sizeof *a);
    a->max_series = max_series ? max_series : 1;
    a->n_buckets = 1024;
    a->buckets = vx_calloc(a->n_buckets, sizeof *a->buckets);
    a->max_records = max_records ? max_records : 1;
    a->ring = vx_calloc(a->max_records, sizeof *a->ring);
    return a;
}

void
an_anomaly_destroy(an_anomaly_t **ap)
{
    an_anomaly_t *a = *ap;
    if (!a) {
        return;
    }
    an_anomaly_forget(a, NULL);
    free(a->buckets);
    free(a->ring);
    free(a);
    *ap = NULL;
}

static struct s_series *
s_series_get(an_anomaly_t *a, const char *query, const char *key)
{
    uint64_t h = vx_hash64(key, strlen(key), 17);
    struct s_series **b = &a->buckets[h & (a->n_buckets - 1)];
    for (struct s_series *s = *b; s; s = s->next) {
        if (s->hash == h && strcmp(s->key, key) == 0) {
            return s;
        }
    }
    if (a->n_series >= a->max_series) {
        a->untracked++;
        return NULL;
    }
    struct s_series *s = vx_calloc(1, sizeof *s);
    s->key = vx_strdup(key);
    s->query = vx_strdup(query);
    s->hash = h;
    s->next = *b;
    *b = s;
    a->n_series++;
    return s;
}

static void
s_record(an_anomaly_t *a, json_t *rec)
{
    size_t slot = (a->head + a->n_records) % a->max_records;
    if (a->n_records == a->max_records) {
        json_decref(a->ring[a->head]);
        slot = a->head;
        a->head = (a->head + 1) % a->max_records;
    } else {
        a->n_records++;
    }
    a->ring[slot] = rec;
}

int
an_anomaly_observe(an_anomaly_t *a, const struct an_result *r)
{
    const struct an_query *q = r->query;
    char *group = json_dumps(r->group, JSON_COMPACT | JSON_SORT_KEYS);
    int found = 0;
    for (size_t i = 0; i < q->n_aggs; i++) {
        if (!r->has_value[i]) {
            continue;
        }
        char key[8192];
        snprintf(key, sizeof key, "%s\x1f%d\x1f%s\x1f%s", q->id, (int)r->partition,
                 group ? group : "", q->aggs[i].as);
        struct s_series *s = s_series_get(a, q->id, key);
        if (!s) {
            continue;
        }
        double x = r->values[i];
        if (s->n >= q->anomaly.min_windows) {
            double sd = sqrt(s->var);
            bool constant = sd < 1e-12;
            double z = constant ? 0 : (x - s->mean) / sd;
            if ((constant && fabs(x - s->mean) > 1e-9 * (fabs(s->mean) + 1)) ||
                (!constant && fabs(z) > q->anomaly.z_threshold)) {
                json_t *rec = json_pack("{s:s, s:i, s:O, s:s, s:I, s:I, s:f, s:f, s:f}", "query",
                                        q->id, "partition", (int)r->partition, "group", r->group,
                                        "aggregation", q->aggs[i].as, "start_ns",
                                        (json_int_t)r->start_ns, "end_ns", (json_int_t)r->end_ns,
                                        "value", x, "mean", s->mean, "stddev", sd);
                json_object_set_new(rec, "z_score", constant ? json_null() : json_real(z));
                if (q->tenant) { /* whose events: REST shows it to that tenant's callers */
                    json_object_set_new(rec, "tenant", json_string(q->tenant));
                }
                s_record(a, rec);
                a->total++;
                found++;
            }
        }
        if (s->n == 0) {
            s->mean = x;
            s->var = 0;
        } else {
            double diff = x - s->mean;
            double incr = q->anomaly.alpha * diff;
            s->mean += incr;
            s->var = (1 - q->anomaly.alpha) * (s->var + diff * incr);
        }
        s->n++;
    }
    free(group);
    return found;
}

json_t *
an_anomaly_list(const an_anomaly_t *a, const char *query)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < a->n_records; i++) {
        json_t *rec = a->ring[(a->head + i) % a->max_records];
        if (!query || strcmp(json_string_value(json_object_get(rec, "query")), query) == 0) {
            json_array_append(arr, rec);
        }
    }
    return arr;
}

void
an_anomaly_forget(an_anomaly_t *a, const char *query)
{
    for (size_t b = 0; b < a->n_buckets; b++) {
        struct s_series **pp = &a->buckets[b];
        while (*pp) {
            struct s_series *s = *pp;
            if (!query || strcmp(s->query, query) == 0) {
                *pp = s->next;
                free(s->key);
                free(s->query);
                free(s);
                a->n_series--;
            } else {
                pp = &s->next;
            }
        }
    }
    /* Keep the other queries' records, in order. */
    size_t kept = 0;
    json_t **tmp = vx_calloc(a->max_records, sizeof *tmp);
    for (size_t i = 0; i < a->n_records; i++) {
        json_t *rec = a->ring[(a->head + i) % a->max_records];
        if (!query || strcmp(json_string_value(json_object_get(rec, "query")), query) == 0) {
            json_decref(rec);
        } else {
            tmp[kept++] = rec;
        }
    }
    memcpy(a->ring, tmp, a->max_records * sizeof *tmp);
    free(tmp);
    a->head = 0;
    a->n_records = kept;
}

uint64_t
an_anomaly_total(const an_anomaly_t *a)
{
    return a->total;
}

uint64_t
an_anomaly_untracked(const an_anomaly_t *a)
{
    return a->untracked;
}
