/* SPDX-License-Identifier: Apache-2.0 */
/* Numbered events for coordinator clusters and the check of their logs (coord_events.h). */
#include "coord_events.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_test.h"

void
ch_event_id(uint64_t n, char out[40])
{
    snprintf(out, 40, "00000000-0000-7000-8000-%012llx", (unsigned long long)n);
}

char *
ch_events_body(const char *prefix, unsigned files, uint64_t first, size_t count)
{
    json_t *a = json_array();
    for (size_t i = 0; i < count; i++) {
        char id[40], path[256], n[32];
        ch_event_id(first + i, id);
        snprintf(path, sizeof path, "%s%llu", prefix,
                 (unsigned long long)((first + i) % (files ? files : 1)));
        snprintf(n, sizeof n, "%llu", (unsigned long long)(first + i));
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:{s:s}}", "id", id, "type",
                                           "filesystem_write", "path", path, "content", "n", n));
    }
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

bool
ch_submit(struct ch_cluster *c, size_t via, const char *body, size_t count, int timeout_ms,
          unsigned skip)
{
    uint64_t deadline = vt_now_ms() + (uint64_t)timeout_ms;
    size_t node = via;
    while (vt_now_ms() < deadline) {
        json_t *o = NULL;
        long st = (c->node[node].pid > 0 && !(skip & (1u << node)))
                      ? ch_req(c, node, "POST", "/v1/events", body, &o)
                      : 0;
        if (st == 200) {
            ck_assert_int_eq(json_integer_value(json_object_get(o, "accepted")) +
                                 json_integer_value(json_object_get(o, "duplicates")),
                             (json_int_t)count);
            json_decref(o);
            return true;
        }
        json_t *leader = json_object_get(json_object_get(o, "leader"), "id");
        if (st == 421 && json_is_integer(leader) && json_integer_value(leader) >= 1 &&
            (size_t)json_integer_value(leader) <= c->n) {
            node = (size_t)json_integer_value(leader) - 1;
        } else {
            vt_sleep_ms(50);
            node = (node + 1) % c->n;
        }
        json_decref(o);
    }
    return false;
}

bool
ch_all_totals(struct ch_cluster *c, long long want, int timeout_ms, unsigned skip)
{
    for (int waited = 0; waited <= timeout_ms; waited += 50) {
        bool all = true;
        for (size_t i = 0; i < c->n; i++) {
            if (!(skip & (1u << i)) &&
                ch_int(c, i, "/v1/log?limit=0&consistency=any", "total") != want) {
                all = false;
            }
        }
        if (all) {
            return true;
        }
        vt_sleep_ms(50);
    }
    return false;
}

char *
ch_log_ids(struct ch_cluster *c, size_t i, long long total)
{
    size_t cap = (size_t)total * 40 + 1, len = 0;
    char *out = calloc(1, cap);
    for (long long from = 1; from <= total;) {
        char path[80];
        snprintf(path, sizeof path, "/v1/log?from=%lld&limit=5000&consistency=any", from);
        json_t *o = NULL;
        ck_assert_int_eq(ch_req(c, i, "GET", path, NULL, &o), 200);
        json_t *ev = json_object_get(o, "events");
        ck_assert_uint_gt(json_array_size(ev), 0);
        size_t k;
        json_t *e;
        json_array_foreach(ev, k, e) {
            ck_assert_int_eq(json_integer_value(json_object_get(e, "seq")), from + (long long)k);
            len += (size_t)snprintf(out + len, cap - len, "%s\n",
                                    json_string_value(json_object_get(e, "id")));
        }
        from += (long long)json_array_size(ev);
        json_decref(o);
    }
    return out;
}

void
ch_check_logs(struct ch_cluster *c, long long n)
{
    char *first = ch_log_ids(c, 0, n);
    for (size_t i = 1; i < c->n; i++) {
        char *other = ch_log_ids(c, i, n);
        ck_assert_msg(strcmp(first, other) == 0, "node %zu's log differs from node 1's", i + 1);
        free(other);
    }
    char *seen = calloc((size_t)n + 1, 1);
    for (char *line = first; *line;) {
        char *nl = strchr(line, '\n');
        unsigned long long v = strtoull(line + 24, NULL, 16);
        ck_assert_msg(v >= 1 && v <= (unsigned long long)n && !seen[v],
                      "event %llu twice or unknown", v);
        seen[v] = 1;
        line = nl + 1;
    }
    free(seen);
    free(first);
}
