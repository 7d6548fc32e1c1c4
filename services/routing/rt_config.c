/* SPDX-License-Identifier: Apache-2.0 */
/* The event_routing section: every key the daemon reads, with bounds and help, and the
 * output plan derived from the output keys. */
#include "rt_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_mem.h"

static const struct vx_cfg_key s_keys[] = {
    {"max_pattern_matching_latency_ns", VX_CFG_INT, "1000", 1, 60000000000LL, true,
     "decision budget per event (rules and filters); slower decisions are counted in "
     "vexfs_routing_slow_decisions_total",
     VX_CFG_AT(struct rt_config, max_decision_ns)},
    {"enable_dynamic_reconfiguration", VX_CFG_BOOL, "true", 0, 0, false,
     "rules and filters may change while running (REST, SIGHUP, rules_file changes); false "
     "keeps the set loaded at start until restart",
     VX_CFG_AT(struct rt_config, reconfigurable)},
    {"enable_load_balancing", VX_CFG_BOOL, "true", 0, 0, false,
     "a boundary with several ZeroMQ endpoints: true gives each event to one of them, chosen "
     "by hash(path); false gives every event to each of them",
     VX_CFG_AT(struct rt_config, load_balance)},
    {"enable_pattern_caching", VX_CFG_BOOL, "true", 0, 0, false,
     "keep the last 4 replaced sets compiled: applying one of them again (same rules, "
     "filters and max_routing_rules) reuses its pattern databases instead of compiling",
     VX_CFG_AT(struct rt_config, caching)},
    {"max_routing_rules", VX_CFG_INT, "10000", 1, 1000000, true,
     "most rules in one set (filters: at most 1024); a larger set is refused (413)",
     VX_CFG_AT(struct rt_config, max_rules)},
    {"input_endpoint", VX_CFG_STRING, "tcp://127.0.0.1:5551", 0, 1024, false,
     "ZeroMQ PULL endpoint (connected) of propagation's output; several routing instances "
     "connected to it share the load",
     VX_CFG_AT(struct rt_config, input_endpoint)},
    {"input_acked", VX_CFG_BOOL, "false", 0, 0, false,
     "connect a ROUTER to input_endpoint instead of a PULL, for propagation's output_acked "
     "(a DEALER): each batch is acknowledged once routed, a resend is acknowledged again and "
     "not routed (vexfs_routing_input_duplicates_total)",
     VX_CFG_AT(struct rt_config, input_acked)},
    {"senders_max", VX_CFG_INT, "1024", 1, 1000000, false,
     "input_acked: senders whose batch sequences are remembered (the least recently heard "
     "is forgotten first)",
     VX_CFG_AT(struct rt_config, senders_max)},
    {"senders_save_ms", VX_CFG_INT, "1000", 10, 60000, false,
     "input_acked: how often the remembered senders are saved to <state_dir>/senders.json "
     "while they change",
     VX_CFG_AT(struct rt_config, senders_save_ms)},
    {"output_coordinator", VX_CFG_STRING, "tcp://127.0.0.1:5552", 0, 4096, false,
     "ZeroMQ PUSH endpoints (bound, comma-separated) of the coordinator boundary; empty: none",
     VX_CFG_AT(struct rt_config, output_coordinator)},
    {"output_automation", VX_CFG_STRING, "tcp://127.0.0.1:5554", 0, 4096, false,
     "ZeroMQ PUSH endpoints of the automation boundary; empty: none",
     VX_CFG_AT(struct rt_config, output_automation)},
    {"output_analytics", VX_CFG_STRING, "tcp://127.0.0.1:5555", 0, 4096, false,
     "ZeroMQ PUSH endpoints of the analytics boundary (Kafka instead when kafka_brokers is "
     "set and kafka_boundaries names it); empty: none",
     VX_CFG_AT(struct rt_config, output_analytics)},
    {"output_graph", VX_CFG_STRING, "tcp://127.0.0.1:5556", 0, 4096, false,
     "ZeroMQ PUSH endpoints of the graph boundary; empty: none",
     VX_CFG_AT(struct rt_config, output_graph)},
    {"output_vector", VX_CFG_STRING, "tcp://127.0.0.1:5557", 0, 4096, false,
     "ZeroMQ PUSH endpoints of the vector boundary; empty: none",
     VX_CFG_AT(struct rt_config, output_vector)},
    {"outputs", VX_CFG_STRING, "", 0, 16384, false,
     "more boundaries, or other endpoints for the five above: "
     "\"name=ep[,ep...][;name=ep...]\"; the endpoint \"tap\" makes a boundary whose events "
     "go only to tap_endpoint (for observers such as vexfsctl tail)",
     VX_CFG_AT(struct rt_config, outputs)},
    {"tap_endpoint", VX_CFG_STRING, "", 0, 1024, false,
     "ZeroMQ PUB endpoint, bound: every batch routed to a ZeroMQ boundary is also published "
     "here with the topic events.<boundary>, for observers (a slow or absent subscriber loses "
     "batches, never slows routing); empty: no tap (the profiles use tcp://127.0.0.1:5563)",
     VX_CFG_AT(struct rt_config, tap_endpoint)},
    {"default_boundary", VX_CFG_STRING, "", 0, 63, false,
     "boundary that receives events no rule routes (they are counted either way); empty: "
     "unrouted events go nowhere",
     VX_CFG_AT(struct rt_config, default_boundary)},
    {"kafka_brokers", VX_CFG_STRING, "", 0, 1024, false,
     "Kafka bootstrap servers (host:port,...); empty: every boundary is a ZeroMQ stream",
     VX_CFG_AT(struct rt_config, kafka_brokers)},
    {"kafka_boundaries", VX_CFG_STRING, "analytics", 0, 1024, false,
     "boundaries written to Kafka (comma-separated) when kafka_brokers is set",
     VX_CFG_AT(struct rt_config, kafka_boundaries)},
    {"kafka_topic_prefix", VX_CFG_STRING, "vexfs.routed.", 0, 200, false,
     "a Kafka boundary's topic is this prefix followed by the boundary name",
     VX_CFG_AT(struct rt_config, kafka_topic_prefix)},
    {"kafka_message_timeout_ms", VX_CFG_INT, "300000", 1000, 3600000, false,
     "how long the producer retries one event before reporting it failed",
     VX_CFG_AT(struct rt_config, kafka_message_timeout_ms)},
    {"queue_hwm", VX_CFG_INT, "1000", 1, 1000000, false,
     "ZeroMQ high-water mark in batches, input and every output socket",
     VX_CFG_AT(struct rt_config, queue_hwm)},
    {"boundary_policy", VX_CFG_STRING, "block", 0, 16, false,
     "what a boundary does when its queue is full: block (lossless: routing waits for that "
     "boundary's consumer; the others go on while its queue has room) or drop (the event "
     "skips that boundary, counted in vexfs_events_dropped_total{reason=\"boundary_full\"} "
     "and vexfs_routing_boundary_dropped_total{boundary})",
     VX_CFG_AT(struct rt_config, boundary_policy)},
    {"boundary_queue_events", VX_CFG_INT, "10000", 1, 10000000, false,
     "events one consumer of a boundary may have waiting in routing (for Kafka: the "
     "boundary's events not yet acknowledged) before the boundary's policy applies",
     VX_CFG_AT(struct rt_config, boundary_queue_events)},
    {"boundary_policies", VX_CFG_STRING, "", 0, 16384, false,
     "per-boundary policy and queue size: \"name=block|drop[:events][;name=...]\", e.g. "
     "\"automation=drop;analytics=block:100000\"; boundaries not named use boundary_policy "
     "and boundary_queue_events",
     VX_CFG_AT(struct rt_config, boundary_policies)},
    {"boundary_acked", VX_CFG_STRING, "", 0, 4096, false,
     "ZeroMQ boundaries whose consumers acknowledge each batch: \"name[;name...]\", e.g. "
     "\"coordinator;automation;analytics\"; each endpoint is then a bound DEALER (the "
     "consumer connects a ROUTER, input_acked) and a batch stays in routing until its consumer "
     "acknowledged it, sent again after boundary_ack_timeout_ms or a lost connection; empty: "
     "every ZeroMQ boundary is a PUSH without acknowledgements",
     VX_CFG_AT(struct rt_config, boundary_acked)},
    {"boundary_ack_window_batches", VX_CFG_INT, "64", 1, 1000, false,
     "batches sent to one consumer of an acknowledged boundary and not yet acknowledged at "
     "once; the rest wait in the boundary's queue",
     VX_CFG_AT(struct rt_config, boundary_ack_window_batches)},
    {"boundary_ack_timeout_ms", VX_CFG_INT, "2000", 1, 600000, false,
     "a batch an acknowledged boundary's consumer has not acknowledged this long is sent "
     "again (the consumer counts and drops the copy)",
     VX_CFG_AT(struct rt_config, boundary_ack_timeout_ms)},
    {"batch_max_events", VX_CFG_INT, "100", 1, 10000, true, "events per output batch",
     VX_CFG_AT(struct rt_config, batch_max_events)},
    {"batch_max_delay_us", VX_CFG_INT, "1000", 0, 1000000, true,
     "longest a routed event waits for its output batch to fill while input keeps coming",
     VX_CFG_AT(struct rt_config, batch_max_delay_us)},
    {"producer_id", VX_CFG_STRING, "", 0, 256, false,
     "sender id of output batches, + \"@<start ns, hex>\" per run; empty: "
     "routing-<hostname>-<pid>",
     VX_CFG_AT(struct rt_config, producer_id)},
    {"rules_file", VX_CFG_STRING, "", 0, 4096, false,
     "YAML or JSON file {rules: [...], filters: [...]}, loaded at start and again on SIGHUP "
     "or when it changes; empty: none",
     VX_CFG_AT(struct rt_config, rules_file)},
    {"rules_poll_ms", VX_CFG_INT, "1000", 100, 3600000, false,
     "how often the rules file's modification time is checked",
     VX_CFG_AT(struct rt_config, rules_poll_ms)},
    {"state_dir", VX_CFG_STRING, "", 0, 4096, false,
     "directory where the current rules and filters persist across restarts; empty: not "
     "persisted",
     VX_CFG_AT(struct rt_config, state_dir)},
    {"apply_timeout_ms", VX_CFG_INT, "10000", 100, 600000, false,
     "longest a rule change waits for the loop to take the new set (it is held up only while "
     "it waits for room in a full queue of a block-policy boundary)",
     VX_CFG_AT(struct rt_config, apply_timeout_ms)},
    {"rest_bind", VX_CFG_STRING, "127.0.0.1", 0, 64, false, "address of the REST server",
     VX_CFG_AT(struct rt_config, rest_bind)},
    {"rest_port", VX_CFG_INT, "8081", 0, 65535, false, "port of the REST server (0: any)",
     VX_CFG_AT(struct rt_config, rest_port)},
    {"shutdown_timeout_ms", VX_CFG_INT, "30000", 0, 600000, false,
     "on SIGTERM, how long to keep flushing outputs and Kafka before giving up",
     VX_CFG_AT(struct rt_config, shutdown_timeout_ms)},
};


/* The boundaries of the suite that have their own output key, in plan order. */
static const char *const s_standard[] = {"analytics", "automation", "coordinator", "graph",
                                         "vector"};
#define S_N_STANDARD (sizeof s_standard / sizeof s_standard[0])

const char *
rt_policy_name(enum rt_policy p)
{
    return p == RT_POLICY_DROP ? "drop" : "block";
}

static int
s_policy_parse(const char *text, enum rt_policy *out)
{
    if (strcmp(text, "block") == 0) {
        *out = RT_POLICY_BLOCK;
    } else if (strcmp(text, "drop") == 0) {
        *out = RT_POLICY_DROP;
    } else {
        return -EINVAL;
    }
    return 0;
}

bool
rt_boundary_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= RT_BOUNDARY_MAX) {
        return false;
    }
    return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

/* Copies the trimmed text [b, e) into out (outlen bytes); returns its length, or -1 when
 * it does not fit. */
static int
s_trim(const char *b, const char *e, char *out, size_t outlen)
{
    while (b < e && (*b == ' ' || *b == '\t')) {
        b++;
    }
    while (e > b && (e[-1] == ' ' || e[-1] == '\t')) {
        e--;
    }
    size_t n = (size_t)(e - b);
    if (n >= outlen) {
        return -1;
    }
    memcpy(out, b, n);
    out[n] = '\0';
    return (int)n;
}

static struct rt_output_spec *
s_find(struct rt_output_plan *plan, const char *name)
{
    for (size_t i = 0; i < plan->n; i++) {
        if (strcmp(plan->outputs[i].name, name) == 0) {
            return &plan->outputs[i];
        }
    }
    return NULL;
}

static struct rt_output_spec *
s_add(struct rt_output_plan *plan, const char *name, const char *where, char *err, size_t errlen)
{
    struct rt_output_spec *o = s_find(plan, name);
    if (o) {
        return o;
    }
    if (!rt_boundary_name_valid(name)) {
        snprintf(err, errlen, "%s: '%.64s' is not a boundary name (1 to 63 of a-z 0-9 _ . -)",
                 where, name);
        return NULL;
    }
    if (plan->n == RT_MAX_OUTPUTS) {
        snprintf(err, errlen, "%s: more than %d boundaries", where, RT_MAX_OUTPUTS);
        return NULL;
    }
    o = &plan->outputs[plan->n++];
    memset(o, 0, sizeof *o);
    snprintf(o->name, sizeof o->name, "%s", name);
    return o;
}

/* Parses a comma-separated endpoint list [b, e) into o's endpoints (replacing them). */
static int
s_endpoints(struct rt_output_spec *o, const char *b, const char *e, const char *where, char *err,
            size_t errlen)
{
    o->n_endpoints = 0;
    while (b < e) {
        const char *comma = memchr(b, ',', (size_t)(e - b));
        const char *end = comma ? comma : e;
        char ep[RT_ENDPOINT_MAX];
        int n = s_trim(b, end, ep, sizeof ep);
        if (n < 0) {
            snprintf(err, errlen, "%s: an endpoint is longer than %d characters", where,
                     RT_ENDPOINT_MAX - 1);
            return -EINVAL;
        }
        if (n == 0) {
            snprintf(err, errlen, "%s: empty endpoint in the list", where);
            return -EINVAL;
        }
        if (strcmp(ep, "tap") == 0) {
            o->tap_only = true;
            b = comma ? comma + 1 : e;
            continue;
        }
        if (!strstr(ep, "://")) {
            snprintf(err, errlen, "%s: '%s' is not a ZeroMQ endpoint (tcp://host:port, ipc://...)",
                     where, ep);
            return -EINVAL;
        }
        for (size_t i = 0; i < o->n_endpoints; i++) {
            if (strcmp(o->endpoints[i], ep) == 0) {
                snprintf(err, errlen, "%s: endpoint '%s' given twice", where, ep);
                return -EINVAL;
            }
        }
        if (o->n_endpoints == RT_MAX_ENDPOINTS) {
            snprintf(err, errlen, "%s: more than %d endpoints for boundary '%s'", where,
                     RT_MAX_ENDPOINTS, o->name);
            return -EINVAL;
        }
        snprintf(o->endpoints[o->n_endpoints++], RT_ENDPOINT_MAX, "%s", ep);
        b = comma ? comma + 1 : e;
    }
    return 0;
}

/* Every boundary's policy and queue size: the defaults, then boundary_policies
 * "name=block|drop[:events][;...]" for the boundaries it names (each must exist). */
static int
s_policies(const struct rt_config *c, struct rt_output_plan *plan, char *err, size_t errlen)
{
    enum rt_policy def;
    if (s_policy_parse(c->boundary_policy, &def) < 0) {
        snprintf(err, errlen, RT_SECTION ".boundary_policy: expected block or drop, got '%.32s'",
                 c->boundary_policy);
        return -EINVAL;
    }
    uint32_t def_events = (uint32_t)c->boundary_queue_events;
    for (size_t i = 0; i < plan->n; i++) {
        plan->outputs[i].policy = def;
        plan->outputs[i].queue_events = def_events;
    }
    const char *where = RT_SECTION ".boundary_policies";
    const char *p = c->boundary_policies;
    while (*p) {
        const char *semi = strchr(p, ';');
        const char *end = semi ? semi : p + strlen(p);
        char entry[RT_BOUNDARY_MAX + 64], name[RT_BOUNDARY_MAX], pol[16];
        int n = s_trim(p, end, entry, sizeof entry);
        p = semi ? semi + 1 : end;
        if (n == 0) {
            continue; /* tolerate "a=drop;" and blank entries */
        }
        char *eq = n > 0 ? strchr(entry, '=') : NULL;
        if (!eq) {
            snprintf(err, errlen, "%s: expected name=block|drop[:events], got '%.100s'", where,
                     n > 0 ? entry : "(too long)");
            return -EINVAL;
        }
        *eq = '\0';
        char *colon = strchr(eq + 1, ':');
        if (colon) {
            *colon = '\0';
        }
        if (s_trim(entry, eq, name, sizeof name) <= 0 ||
            s_trim(eq + 1, eq + 1 + strlen(eq + 1), pol, sizeof pol) < 0) {
            snprintf(err, errlen, "%s: an entry without a boundary name", where);
            return -EINVAL;
        }
        struct rt_output_spec *o = s_find(plan, name);
        if (!o) {
            snprintf(err, errlen, "%s: '%s' is not a configured boundary", where, name);
            return -EINVAL;
        }
        if (s_policy_parse(pol, &o->policy) < 0) {
            snprintf(err, errlen, "%s: boundary '%s': expected block or drop, got '%s'", where,
                     name, pol);
            return -EINVAL;
        }
        if (colon) {
            char num[32], *stop = NULL;
            int nl = s_trim(colon + 1, colon + 1 + strlen(colon + 1), num, sizeof num);
            errno = 0;
            unsigned long long q = nl > 0 ? strtoull(num, &stop, 10) : 0;
            if (nl <= 0 || errno || stop == num || *stop != '\0' || q < 1 || q > 10000000) {
                snprintf(err, errlen, "%s: boundary '%s': queue size '%.32s' is not 1..10000000",
                         where, name, colon + 1);
                return -EINVAL;
            }
            o->queue_events = (uint32_t)q;
        }
    }
    return 0;
}

/* boundary_acked "name[;name...]": each must be a configured boundary with consumers (not
 * "tap"); a Kafka one is left as it is (the broker acknowledges it). */
static int
s_acked(const struct rt_config *c, struct rt_output_plan *plan, char *err, size_t errlen)
{
    const char *where = RT_SECTION ".boundary_acked";
    const char *p = c->boundary_acked;
    while (*p) {
        const char *semi = strpbrk(p, ";,");
        const char *end = semi ? semi : p + strlen(p);
        char name[RT_BOUNDARY_MAX];
        int n = s_trim(p, end, name, sizeof name);
        p = semi ? semi + 1 : end;
        if (n == 0) {
            continue;
        }
        if (n < 0) {
            snprintf(err, errlen, "%s: a boundary name is longer than %d characters", where,
                     RT_BOUNDARY_MAX - 1);
            return -EINVAL;
        }
        struct rt_output_spec *o = s_find(plan, name);
        if (!o) {
            snprintf(err, errlen, "%s: '%s' is not a configured boundary", where, name);
            return -EINVAL;
        }
        if (o->tap_only) {
            snprintf(err, errlen, "%s: boundary '%s' is \"tap\": it has no consumer to answer",
                     where, name);
            return -EINVAL;
        }
        /* A Kafka boundary (kafka_brokers set by an override, say) is acknowledged by the
         * broker already: listed or not, it stays a topic. */
        o->acked = !o->kafka;
    }
    return 0;
}

/* The standard boundaries' output_* keys, in s_standard's order. */
static int
s_plan_standard(const struct rt_config *c, struct rt_output_plan *plan, char *err, size_t errlen)
{
    char where[128];
    const char *const standard_eps[S_N_STANDARD] = {c->output_analytics, c->output_automation,
                                                    c->output_coordinator, c->output_graph,
                                                    c->output_vector};
    for (size_t i = 0; i < S_N_STANDARD; i++) {
        snprintf(where, sizeof where, RT_SECTION ".output_%s", s_standard[i]);
        const char *v = standard_eps[i];
        struct rt_output_spec *o = s_add(plan, s_standard[i], where, err, errlen);
        if (!o || s_endpoints(o, v, v + strlen(v), where, err, errlen) < 0) {
            return -EINVAL;
        }
    }

    return 0;
}

/* outputs: "name=ep[,ep...][;name=...]"; an entry for a standard boundary replaces its
 * output_* endpoints, "tap" alone makes a boundary that only the routing tap shows. */
static int
s_plan_outputs(const struct rt_config *c, struct rt_output_plan *plan, char *err, size_t errlen)
{
    char where[128];
    const char *p = c->outputs;
    snprintf(where, sizeof where, RT_SECTION ".outputs");
    while (*p) {
        const char *semi = strchr(p, ';');
        const char *end = semi ? semi : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        char name[RT_BOUNDARY_MAX];
        if (!eq) {
            char entry[RT_ENDPOINT_MAX];
            if (s_trim(p, end, entry, sizeof entry) == 0) {
                p = semi ? semi + 1 : end; /* tolerate "a=x;" and blank entries */
                continue;
            }
            snprintf(err, errlen, "%s: expected name=endpoint[,endpoint...], got '%s'", where,
                     entry);
            return -EINVAL;
        }
        if (s_trim(p, eq, name, sizeof name) <= 0) {
            snprintf(err, errlen, "%s: an entry without a boundary name", where);
            return -EINVAL;
        }
        struct rt_output_spec *o = s_add(plan, name, where, err, errlen);
        if (!o || s_endpoints(o, eq + 1, end, where, err, errlen) < 0) {
            return -EINVAL;
        }
        if (o->tap_only && o->n_endpoints > 0) {
            snprintf(err, errlen, "%s: boundary '%s': \"tap\" goes alone, not with endpoints",
                     where, name);
            return -EINVAL;
        }
        if (o->tap_only && !c->tap_endpoint[0]) {
            snprintf(err, errlen, "%s: boundary '%s' is \"tap\" but tap_endpoint is empty",
                     where, name);
            return -EINVAL;
        }
        if (o->n_endpoints == 0 && !o->tap_only) {
            snprintf(err, errlen, "%s: boundary '%s' has no endpoint", where, name);
            return -EINVAL;
        }
        p = semi ? semi + 1 : end;
    }

    return 0;
}

/* kafka_boundaries, when kafka_brokers is set: each named boundary goes to Kafka instead of
 * its ZeroMQ endpoints. */
static int
s_plan_kafka(const struct rt_config *c, struct rt_output_plan *plan, char *err, size_t errlen)
{
    char where[128];
    if (c->kafka_brokers[0]) {
        snprintf(where, sizeof where, RT_SECTION ".kafka_boundaries");
        const char *k = c->kafka_boundaries;
        while (*k) {
            const char *comma = strchr(k, ',');
            const char *end = comma ? comma : k + strlen(k);
            char name[RT_BOUNDARY_MAX];
            int n = s_trim(k, end, name, sizeof name);
            if (n < 0) {
                snprintf(err, errlen, "%s: a boundary name is longer than %d characters", where,
                         RT_BOUNDARY_MAX - 1);
                return -EINVAL;
            }
            if (n > 0) {
                struct rt_output_spec *o = s_add(plan, name, where, err, errlen);
                if (!o) {
                    return -EINVAL;
                }
                o->kafka = true;
                o->tap_only = false;
                o->n_endpoints = 0;
            }
            k = comma ? comma + 1 : end;
        }
    }
    return 0;
}

/* Drops the boundaries left with neither endpoints, Kafka nor the tap (a standard boundary
 * whose output_* is empty), keeping the order of the rest. */
static void
s_plan_prune(struct rt_output_plan *plan)
{
    size_t kept = 0;
    for (size_t i = 0; i < plan->n; i++) {
        if (plan->outputs[i].kafka || plan->outputs[i].n_endpoints > 0 ||
            plan->outputs[i].tap_only) {
            if (kept != i) {
                plan->outputs[kept] = plan->outputs[i];
            }
            kept++;
        }
    }
    plan->n = kept;
}

/* default_boundary, when set, must be one of the boundaries that remain. */
static int
s_plan_default(const struct rt_config *c, struct rt_output_plan *plan, char *err, size_t errlen)
{
    const char *def = c->default_boundary;
    if (def[0]) {
        for (size_t i = 0; i < plan->n; i++) {
            if (strcmp(plan->outputs[i].name, def) == 0) {
                plan->default_index = (int)i;
            }
        }
        if (plan->default_index < 0) {
            snprintf(err, errlen,
                     RT_SECTION ".default_boundary: '%s' is not a configured boundary (it needs "
                                "an output_%s endpoint, an outputs entry or Kafka)",
                     def, def);
            return -EINVAL;
        }
    }
    return 0;
}

/* Turns the output keys into one plan in a fixed order (the standard output_* boundaries,
 * then outputs entries, then Kafka boundaries over both), because a later source replaces an
 * earlier one's endpoints; only when every boundary is known can the unused standard ones be
 * dropped, the policies and acknowledgements attached and default_boundary checked against
 * what remains. */
int
rt_config_plan(const struct rt_config *c, struct rt_output_plan *plan, char *err, size_t errlen)
{
    memset(plan, 0, sizeof *plan);
    plan->default_index = -1;
    if (s_plan_standard(c, plan, err, errlen) < 0 || s_plan_outputs(c, plan, err, errlen) < 0 ||
        s_plan_kafka(c, plan, err, errlen) < 0) {
        return -EINVAL;
    }
    s_plan_prune(plan);
    if (s_policies(c, plan, err, errlen) < 0 || s_acked(c, plan, err, errlen) < 0 ||
        s_plan_default(c, plan, err, errlen) < 0) {
        return -EINVAL;
    }
    return 0;
}

void
rt_live_load(struct rt_live *live, const struct rt_config *c)
{
    atomic_store(&live->max_decision_ns, (uint64_t)c->max_decision_ns);
    atomic_store(&live->batch_max_events, (uint32_t)c->batch_max_events);
    atomic_store(&live->batch_max_delay_us, (uint32_t)c->batch_max_delay_us);
    atomic_store(&live->max_rules, (uint32_t)c->max_rules);
}

/* Rules across keys: the output plan must build (every boundary named by default_boundary,
 * boundary_policies, kafka_boundaries or outputs exists and is well-formed), so that --check
 * and PUT /v1/config refuse what the start would. */
static int
cb_check(const void *bound, char *err, size_t errlen)
{
    struct rt_output_plan *plan = vx_malloc(sizeof *plan);
    int rc = rt_config_plan(bound, plan, err, errlen);
    free(plan);
    return rc;
}

const struct vx_cfg_section rt_cfg_section =
    VX_CFG_SECTION(RT_SECTION, s_keys, struct rt_config, cb_check);
