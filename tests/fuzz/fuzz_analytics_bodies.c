/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the bodies vexfs-analytics accepts from users over REST — alert rules
 * (POST/PUT /v1/alert-rules), replay requests (POST /v1/replay) — and the /metrics pages the
 * monitor scrapes from other services.
 *
 * Bytes are parsed as the REST layer parses a body (duplicate keys rejected) and handed to
 * both decoders. An accepted rule must hold what it was checked for: its normalised JSON
 * parses again into the same rule, and its condition is decidable on any value. The bytes are
 * also read as a Prometheus exposition for a metric named by the rule, or a fixed one.
 * fuzz-sources: services/analytics/an_rule.c services/analytics/an_replay.c services/analytics/an_prom.c */
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/analytics/an_prom.h"
#include "../../services/analytics/an_replay.h"
#include "../../services/analytics/an_rule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    const char *metric = "vexfs_x_total";
    char *key = (char *)"reason", *val = (char *)"late";
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    struct an_rule *r = NULL;
    if (j) {
        struct an_replay_req rq;
        if (an_replay_parse(j, &rq, err, sizeof err) == 0 && !rq.earliest && rq.from_ms < 0) {
            abort();
        }
        if (an_rule_parse(j, &r, err, sizeof err) == 0) {
            struct an_rule *again = NULL;
            if (an_rule_parse(r->json, &again, err, sizeof err) < 0 ||
                strcmp(again->name, r->name) != 0 || again->n_actions != r->n_actions ||
                again->n_labels != r->n_labels || again->for_ms != r->for_ms ||
                !(again->threshold == r->threshold)) {
                abort();
            }
            an_rule_destroy(&again);
            (void)an_rule_holds(r, NAN);
            metric = r->metric;
        } else if (!err[0]) {
            abort(); /* a refusal always says why */
        }
        json_decref(j);
    }
    double v;
    int n = an_prom_sum((const char *)data, size, metric, &key, &val, 1, &v);
    if (n < 0) {
        abort();
    }
    (void)an_prom_is_exposition((const char *)data, size);
    an_rule_destroy(&r);
    return 0;
}
