/* SPDX-License-Identifier: Apache-2.0 */
/* Example: read statistics through the admin API.
 *
 *     stats
 *
 * Asks propagation and routing for GET /v1/stats and prints a line for each: what came in,
 * what went on, what was dropped. The answers are JSON; this example reads them with jansson
 * (build with `pkg-config --cflags --libs vexfs jansson`). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include <vexfs/client.h>

/* GET path of service; the parsed answer when the status is 200, else NULL (reported). */
static json_t *
s_get(vexfs_client_t *c, const char *service, const char *path)
{
    long status = 0;
    char *answer = NULL;
    if (vexfs_client_call(c, service, "GET", path, NULL, &status, &answer) < 0) {
        fprintf(stderr, "stats: %s\n", vexfs_last_error());
        return NULL;
    }
    json_t *doc = json_loads(answer, 0, NULL);
    if (status != 200) {
        fprintf(stderr, "stats: %s %s: HTTP %ld %s\n", service, path, status, answer);
        json_decref(doc);
        doc = NULL;
    }
    vexfs_free(answer);
    return doc;
}

static json_int_t
s_sum(json_t *obj)
{
    json_int_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        n += json_integer_value(v);
    }
    return n;
}

int
main(void)
{
    vexfs_config_t *cfg = vexfs_config_new();
    vexfs_client_t *c = vexfs_client_new(cfg);
    vexfs_config_destroy(&cfg);
    if (!c) {
        fprintf(stderr, "stats: %s\n", vexfs_last_error());
        return 1;
    }
    int status = 0;
    json_t *p = s_get(c, "propagation", "/v1/stats");
    if (p) {
        printf("propagation: received %lld events, propagated %lld, deduplicated %lld, "
               "dropped %lld\n",
               (long long)s_sum(json_object_get(p, "received")),
               (long long)json_integer_value(json_object_get(p, "propagated")),
               (long long)json_integer_value(json_object_get(p, "deduplicated")),
               (long long)s_sum(json_object_get(p, "dropped")));
    }
    json_t *r = s_get(c, "routing", "/v1/stats");
    if (r) {
        json_t *d = json_object_get(r, "decisions");
        printf("routing: decided %lld events, routed %lld, unrouted %lld, blocked %lld\n",
               (long long)json_integer_value(json_object_get(r, "decided")),
               (long long)json_integer_value(json_object_get(d, "routed")),
               (long long)json_integer_value(json_object_get(d, "unrouted")),
               (long long)json_integer_value(json_object_get(d, "blocked")));
    }
    status = p && r ? 0 : 1;
    json_decref(p);
    json_decref(r);
    vexfs_client_close(&c, 0, NULL);
    return status;
}
