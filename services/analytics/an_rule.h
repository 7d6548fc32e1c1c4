/* SPDX-License-Identifier: Apache-2.0 */
/* Alert rules on the metrics of any service, as JSON (REST bodies and alert_rules_file):
 *
 *   {"name": "routing-drops", "target": "http://127.0.0.1:8081/metrics",
 *    "metric": "vexfs_routing_dropped_total", "labels": {"reason": "queue_full"},
 *    "condition": ">", "threshold": 100, "for_ms": 30000, "severity": "critical",
 *    "actions": [{"type": "webhook", "url": "http://hooks.example/alert"},
 *                {"type": "email", "to": ["ops@example.com"]}]}
 *
 * The rule's value is the sum of every series of `metric` whose labels include `labels`
 * (equality). condition is one of > >= < <= == !=; for_ms (default 0) is how long the
 * condition must hold before the alert fires; severity is info, warning or critical; actions
 * (at most AN_RULE_MAX_ACTIONS) are webhooks (POST of the alert as JSON) and emails (through
 * monitoring.smtp_url; `to` defaults to monitoring.smtp_to). Unknown members are rejected and
 * every error names the member. */
#ifndef AN_RULE_H
#define AN_RULE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AN_RULE_MAX_NAME 128
#define AN_RULE_MAX_LABELS 16
#define AN_RULE_MAX_ACTIONS 8
#define AN_RULE_MAX_RCPT 16
#define AN_RULE_MAX_URL 2048

enum an_cond { AN_COND_GT, AN_COND_GE, AN_COND_LT, AN_COND_LE, AN_COND_EQ, AN_COND_NE };

enum an_action_type { AN_ACTION_WEBHOOK, AN_ACTION_EMAIL };

struct an_action {
    enum an_action_type type;
    char *url;     /* webhook */
    char **to;     /* email recipients; none: monitoring.smtp_to */
    size_t n_to;
};

struct an_rule {
    char *name;
    char *target;
    char *metric;
    char **label_keys, **label_values;
    size_t n_labels;
    enum an_cond cond;
    double threshold;
    uint64_t for_ms;
    char *severity;
    struct an_action *actions;
    size_t n_actions;
    json_t *json; /* normalised, for GET and persistence */
};

/* Parses and validates (obj borrowed). Returns 0 and *out (caller owns), or -EINVAL with a
 * message naming the member. */
int an_rule_parse(json_t *obj, struct an_rule **out, char *err, size_t errlen);
void an_rule_destroy(struct an_rule **r);

/* True when value satisfies the rule's condition. */
bool an_rule_holds(const struct an_rule *r, double value);
const char *an_cond_name(enum an_cond c);

#endif
