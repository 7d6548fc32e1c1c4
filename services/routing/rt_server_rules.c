/* SPDX-License-Identifier: Apache-2.0 */
/* Routing's rule-set changes and readers as the REST API asks for them: replace, merge with an
 * If-Match version, add and delete one rule, explain, stats and readiness. Each change goes
 * through rt_server_apply (rt_server_set.c). */
#include "rt_server_priv.h"

#include <errno.h>
#include <string.h>

#include "vx_clock.h"
#include "vx_etag.h"
#include "vx_event.h"
#include "vx_log.h"
#include "vx_mem.h"

static bool
s_check_reconfigurable(rt_server_t *s, struct rt_result *out)
{
    memset(out, 0, sizeof *out);
    if (!s->reconfigurable) {
        rt_server_result_error(out, 409, "reconfiguration_disabled",
                       "event_routing.enable_dynamic_reconfiguration is false: the rule set "
                       "changes only at restart");
        return false;
    }
    return true;
}

void
rt_server_replace(rt_server_t *s, json_t *rules, json_t *filters, const char *origin,
                  struct rt_result *out)
{
    if (!s_check_reconfigurable(s, out)) {
        return;
    }
    pthread_mutex_lock(&s->set_mu);
    struct rt_set *cur = rt_set_pub_ref(s, NULL);
    rt_server_apply(s, rules ? rules : cur->rules, filters ? filters : cur->filters, origin, NULL, true,
            out);
    rt_set_release(&cur);
    pthread_mutex_unlock(&s->set_mu);
}

/* A copy of cur (an array of objects) with every object of given put in place of the one with
 * the same id, or appended (new reference). */
static json_t *
s_merge(json_t *cur, json_t *given)
{
    json_t *next = json_copy(cur);
    size_t i, j;
    json_t *g, *c;
    json_array_foreach(given, i, g) {
        const char *id = json_string_value(json_object_get(g, "id"));
        bool placed = false;
        json_array_foreach(next, j, c) {
            const char *cid = json_string_value(json_object_get(c, "id"));
            if (id != NULL && cid != NULL && strcmp(id, cid) == 0) {
                json_array_set(next, j, g);
                placed = true;
                break;
            }
        }
        if (!placed) {
            json_array_append(next, g);
        }
    }
    return next;
}

/* Builds the objects of a merge on their own, so that one refused is named by its place in
 * the request ("rules[N]" of what was sent), not in the merged set. Returns false with out
 * set when they do not build. */
static bool
s_validate_alone(rt_server_t *s, json_t *rules, json_t *filters, struct rt_result *out)
{
    json_t *none = json_array();
    struct rt_engine_opts opts = rt_server_engine_opts(s, atomic_load(&s->live.max_rules));
    rt_engine_t *engine = NULL;
    char err[900];
    int rc = rt_engine_build(rules ? rules : none, filters ? filters : none, &opts, &engine, err,
                             sizeof err);
    rt_engine_destroy(&engine);
    json_decref(none);
    if (rc < 0 && rc != -ENOMEM) {
        rt_server_result_error(out, rc == -E2BIG ? 413 : 422,
                       rc == -E2BIG ? "too_many_rules" : "invalid_rules", "%s", err);
        rt_server_count_change(s, "rest", false);
        return false;
    }
    return true;
}

void
rt_server_change(rt_server_t *s, json_t *rules, json_t *filters, bool merge,
                 const char *if_match, struct rt_result *out)
{
    if (!s_check_reconfigurable(s, out)) {
        return;
    }
    pthread_mutex_lock(&s->set_mu);
    uint64_t version;
    struct rt_set *cur = rt_set_pub_ref(s, &version);
    char etag[VX_ETAG_LEN];
    vx_etag_version(version, etag);
    if (!vx_etag_matches(if_match, etag)) {
        rt_server_result_error(out, 412, "version_conflict",
                       "the rules and filters changed since they were read (If-Match %.64s, now "
                       "%s): nothing changed; read them again",
                       if_match, etag);
    } else if (!merge || s_validate_alone(s, rules, filters, out)) {
        json_t *r = rules == NULL ? json_incref(cur->rules)
                    : merge       ? s_merge(cur->rules, rules)
                                  : json_incref(rules);
        json_t *f = filters == NULL ? json_incref(cur->filters)
                    : merge         ? s_merge(cur->filters, filters)
                                    : json_incref(filters);
        rt_server_apply(s, r, f, "rest", NULL, true, out);
        if (out->body != NULL) {
            vx_etag_version((uint64_t)json_integer_value(json_object_get(out->body, "version")),
                            etag);
            json_object_set_new(out->body, "etag", json_string(etag));
        }
        json_decref(r);
        json_decref(f);
    }
    rt_set_release(&cur);
    pthread_mutex_unlock(&s->set_mu);
}

void
rt_server_add_rule(rt_server_t *s, json_t *rule, struct rt_result *out)
{
    if (!s_check_reconfigurable(s, out)) {
        return;
    }
    if (!json_is_object(rule)) {
        rt_server_result_error(out, 400, "invalid_body", "expected one rule (a JSON object)");
        return;
    }
    const char *id = json_string_value(json_object_get(rule, "id"));
    pthread_mutex_lock(&s->set_mu);
    struct rt_set *cur = rt_set_pub_ref(s, NULL);
    if (id && rt_engine_rule_index(cur->engine, id) >= 0) {
        rt_server_result_error(out, 409, "duplicate_id", "a rule with id \"%.128s\" exists", id);
    } else {
        json_t *next = json_copy(cur->rules);
        json_array_append(next, rule);
        rt_server_apply(s, next, cur->filters, "rest", NULL, true, out);
        json_decref(next);
        if (out->body && id) {
            struct rt_set *now = rt_set_pub_ref(s, NULL);
            int32_t i = rt_engine_rule_index(now->engine, id);
            json_object_set(out->body, "rule", json_array_get(now->rules, (size_t)i));
            rt_set_release(&now);
            out->http = 201;
        }
    }
    rt_set_release(&cur);
    pthread_mutex_unlock(&s->set_mu);
}

void
rt_server_delete_rule(rt_server_t *s, const char *id, struct rt_result *out)
{
    if (!s_check_reconfigurable(s, out)) {
        return;
    }
    pthread_mutex_lock(&s->set_mu);
    struct rt_set *cur = rt_set_pub_ref(s, NULL);
    int32_t i = rt_engine_rule_index(cur->engine, id);
    if (i < 0) {
        rt_server_result_error(out, 404, "not_found", "no rule with id \"%.128s\"", id);
    } else {
        json_t *next = json_copy(cur->rules);
        json_array_remove(next, (size_t)i);
        rt_server_apply(s, next, cur->filters, "rest", NULL, true, out);
        json_decref(next);
        if (out->body) {
            json_object_set_new(out->body, "deleted", json_string(id));
        }
    }
    rt_set_release(&cur);
    pthread_mutex_unlock(&s->set_mu);
}

/* ---- readers -------------------------------------------------------------------------- */

json_t *
rt_server_rules(rt_server_t *s)
{
    uint64_t v;
    struct rt_set *set = rt_set_pub_ref(s, &v);
    json_t *j = json_pack("{s:I, s:O}", "version", (json_int_t)v, "rules", set->rules);
    rt_set_release(&set);
    return j;
}

json_t *
rt_server_filters(rt_server_t *s)
{
    uint64_t v;
    struct rt_set *set = rt_set_pub_ref(s, &v);
    json_t *j = json_pack("{s:I, s:O}", "version", (json_int_t)v, "filters", set->filters);
    rt_set_release(&set);
    return j;
}

json_t *
rt_server_rule(rt_server_t *s, const char *id)
{
    struct rt_set *set = rt_set_pub_ref(s, NULL);
    int32_t i = rt_engine_rule_index(set->engine, id);
    json_t *j = i >= 0 ? json_incref(json_array_get(set->rules, (size_t)i)) : NULL;
    rt_set_release(&set);
    return j;
}

void
rt_server_explain(rt_server_t *s, json_t *event, struct rt_result *out)
{
    memset(out, 0, sizeof *out);
    vx_arena_t *arena = vx_arena_new(64 * 1024, 64u * 1024 * 1024);
    vx_event_t *e = NULL;
    char err[512];
    enum vx_drop_reason reason = VX_DROP_BAD_JSON;
    int rc = vx_event_from_json(event, arena, &e, err, sizeof err, &reason);
    if (rc == 0) {
        rc = vx_event_validate(e, err, sizeof err, &reason);
    }
    if (rc < 0) {
        rt_server_result_error(out, reason == VX_DROP_BAD_JSON ? 400 : 422, "invalid_event", "%s",
                       err);
        vx_arena_destroy(&arena);
        return;
    }
    uint64_t version;
    struct rt_set *set = rt_set_pub_ref(s, &version);
    rt_scratch_t *scratch = rt_scratch_new(set->engine);
    if (!scratch) {
        rt_server_result_error(out, 503, "out_of_memory", "no memory for a pattern-matching scratch");
    } else {
        struct rt_decision d;
        rt_engine_decide(set->engine, scratch, e, vx_wall_ns(), true, &d);
        json_t *j = rt_decision_explain(set->engine, &d);
        json_t *outs = json_array();
        const char *path = e->path ? e->path : "";
        for (size_t i = 0; i < s->plan->n; i++) {
            if (d.targets & (1ULL << i)) {
                json_array_append_new(outs,
                                      rt_outputs_describe(s->outputs, i, path, strlen(path)));
            }
        }
        json_object_set_new(j, "outputs", outs);
        json_object_set_new(j, "version", json_integer((json_int_t)version));
        out->http = 200;
        out->body = j;
    }
    rt_scratch_destroy(&scratch);
    rt_set_release(&set);
    vx_arena_destroy(&arena);
}

json_t *
rt_server_stats(rt_server_t *s)
{
    uint64_t version;
    struct rt_set *set = rt_set_pub_ref(s, &version);
    json_t *rules = json_array();
    for (uint32_t i = 0; i < set->n_rules; i++) {
        json_array_append_new(rules,
                              json_pack("{s:s, s:I}", "id", rt_engine_rule_id(set->engine, i),
                                        "matches",
                                        (json_int_t)rt_engine_rule_matches(set->engine, i)));
    }
    json_t *filters = json_array();
    for (uint32_t i = 0; i < set->n_filters; i++) {
        struct rt_filter_info fi;
        if (rt_engine_filter_info(set->engine, i, &fi) < 0) {
            continue;
        }
        json_array_append_new(
            filters, json_pack("{s:s, s:s, s:s, s:I, s:I}", "id", fi.id, "kind",
                               rt_filter_kind_name(fi.kind), "action",
                               rt_filter_action_name(fi.action), "matches",
                               (json_int_t)rt_engine_filter_matches(set->engine, i), "dropped",
                               (json_int_t)rt_engine_filter_drops(set->engine, i)));
    }
    struct rt_engine_stats es;
    rt_engine_stats(set->engine, &es);
    rt_set_release(&set);
    json_t *in = json_object();
    for (int i = 0; i < RT_SERVER_N_SOURCES; i++) {
        uint64_t v = vx_counter_value(s->received[i]);
        const char *name = vx_boundary_name(i);
        if (v) {
            json_object_set_new(in, name ? name : "unspecified", json_integer((json_int_t)v));
        }
    }
    json_t *lat = json_pack("{s:f, s:f, s:f, s:I}", "p50_ns",
                            vx_histogram_quantile(s->latency, 0.50) * (double)VX_NS_PER_S, "p99_ns",
                            vx_histogram_quantile(s->latency, 0.99) * (double)VX_NS_PER_S, "p999_ns",
                            vx_histogram_quantile(s->latency, 0.999) * (double)VX_NS_PER_S, "count",
                            (json_int_t)vx_histogram_count(s->latency));
    json_t *dropped = json_pack(
        "{s:I, s:I, s:I}", "bad_frame", (json_int_t)vx_counter_value(s->drop_bad_frame),
        "bad_protobuf", (json_int_t)vx_counter_value(s->drop_bad_protobuf), "too_large",
        (json_int_t)vx_counter_value(s->drop_too_large));
    return json_pack("{s:I, s:o, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:o, s:o, s:o, s:o, "
                     "s:I, s:I, s:o, s:o}",
                     "version", (json_int_t)version, "received", in, "decided",
                     (json_int_t)vx_counter_value(s->processed), "decisions", "routed",
                     (json_int_t)es.routed, "unrouted", (json_int_t)es.unrouted, "to_default",
                     (json_int_t)es.to_default, "blocked", (json_int_t)es.blocked,
                     "sampled_out", (json_int_t)es.sampled_out, "scan_errors",
                     (json_int_t)es.scan_errors, "boundaries", rt_outputs_stats(s->outputs),
                     "rules", rules, "filters", filters, "decision_latency", lat,
                     "slow_decisions", (json_int_t)vx_counter_value(s->slow), "sequence_gaps",
                     (json_int_t)vx_counter_value(s->seq_gaps), "dropped", dropped,
                     "pattern_library", rt_hscheck_json(&s->hscheck));
}

bool
rt_server_ready(rt_server_t *s, json_t *detail)
{
    bool running = atomic_load(&s->running);
    bool kafka_ok = !rt_outputs_kafka_failed(s->outputs);
    json_object_set_new(detail, "loop", json_string(running ? "running" : "stopped"));
    json_object_set_new(detail, "kafka",
                        json_string(rt_outputs_has_kafka(s->outputs) ? (kafka_ok ? "ok" : "failed")
                                                                     : "off"));
    /* A blocked boundary degrades, it does not unready: one absent consumer must not take
     * the whole router out of service, but it is named here. */
    json_t *names = json_array(), *blocked = json_object();
    size_t n_blocked = rt_outputs_blocked(s->outputs, names, blocked);
    json_object_set_new(detail, "boundaries", json_string(n_blocked ? "degraded" : "ok"));
    json_object_set_new(detail, "degraded", names);
    json_object_set_new(detail, "blocked", blocked);
    json_object_set_new(detail, "pattern_library",
                        json_string(!s->hscheck.ran        ? "failed"
                                    : s->hscheck.affected ? "affected"
                                                          : "ok"));
    return running && kafka_ok;
}

bool
rt_server_reconfigurable(const rt_server_t *s)
{
    return s->reconfigurable;
}

struct rt_live *
rt_server_live(rt_server_t *s)
{
    return &s->live;
}
