/* SPDX-License-Identifier: Apache-2.0 */
/* Circuit breakers per action target (see au_breaker.h). */
#include "au_breaker.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vx_clock.h"
#include "vx_mem.h"

struct s_breaker {
    char *target;
    enum au_breaker_state state;
    uint32_t failures;     /* in a row */
    uint64_t opened_ns;
    bool probing;          /* half-open: a probe is out */
    uint64_t opens, rejected;
    vx_gauge_t *g_state;
    vx_counter_t *c_opens, *c_rejected;
};

struct au_breakers {
    pthread_mutex_t lock;
    uint32_t threshold;
    uint64_t cooldown_ns;
    vx_metrics_t *metrics;
    struct s_breaker *v;
    uint32_t n;
    uint64_t untracked;
};

au_breakers_t *
au_breakers_new(uint32_t failure_threshold, uint64_t cooldown_ms, vx_metrics_t *metrics)
{
    au_breakers_t *b = vx_calloc(1, sizeof *b);
    pthread_mutex_init(&b->lock, NULL);
    b->threshold = failure_threshold ? failure_threshold : 1;
    b->cooldown_ns = cooldown_ms * VX_NS_PER_MS;
    b->metrics = metrics;
    b->v = vx_calloc(AU_BREAKER_MAX, sizeof *b->v);
    return b;
}

void
au_breakers_destroy(au_breakers_t **bp)
{
    if (bp == NULL || *bp == NULL) {
        return;
    }
    au_breakers_t *b = *bp;
    for (uint32_t i = 0; i < b->n; i++) {
        free(b->v[i].target);
    }
    free(b->v);
    pthread_mutex_destroy(&b->lock);
    vx_free(bp);
}

const char *
au_breaker_state_name(enum au_breaker_state s)
{
    static const char *const n[] = {"closed", "open", "half_open"};
    return n[s];
}

static void
s_set(struct s_breaker *k, enum au_breaker_state st)
{
    k->state = st;
    if (k->g_state != NULL) {
        vx_gauge_set(k->g_state, (double)st);
    }
}

/* The breaker of target, created when new; NULL when the table is full (lock held). */
static struct s_breaker *
s_get(au_breakers_t *b, const char *target)
{
    for (uint32_t i = 0; i < b->n; i++) {
        if (strcmp(b->v[i].target, target) == 0) {
            return &b->v[i];
        }
    }
    if (b->n == AU_BREAKER_MAX) {
        b->untracked++;
        return NULL;
    }
    struct s_breaker *k = &b->v[b->n++];
    k->target = vx_strdup(target);
    if (b->metrics != NULL) {
        /* "tenant target": both as labels, so a tenant's breakers are told apart. */
        char tenant[AU_BREAKER_TENANT_MAX + 1] = "";
        const char *t = au_breaker_split(target, tenant, sizeof tenant);
        k->g_state = vx_metrics_gauge(b->metrics, "vexfs_automation_breaker_state",
                                      "Circuit breaker state by tenant and action target: 0 "
                                      "closed, 1 open, 2 half-open.",
                                      "tenant", tenant, "target", t, NULL);
        k->c_opens = vx_metrics_counter(b->metrics, "vexfs_automation_breaker_opens_total",
                                        "Times a circuit breaker opened, by tenant and action "
                                        "target.",
                                        "tenant", tenant, "target", t, NULL);
        k->c_rejected = vx_metrics_counter(b->metrics, "vexfs_automation_breaker_rejected_total",
                                           "Calls refused by an open circuit breaker, by tenant "
                                           "and action target.",
                                           "tenant", tenant, "target", t, NULL);
    }
    s_set(k, AU_BREAKER_CLOSED);
    return k;
}

/* Moves an open breaker past its cool-down to half-open (lock held). */
static void
s_tick(au_breakers_t *b, struct s_breaker *k, uint64_t now_ns)
{
    if (k->state == AU_BREAKER_OPEN && now_ns - k->opened_ns >= b->cooldown_ns) {
        s_set(k, AU_BREAKER_HALF_OPEN);
        k->probing = false;
    }
}

bool
au_breaker_allow(au_breakers_t *b, const char *target, uint64_t now_ns)
{
    pthread_mutex_lock(&b->lock);
    struct s_breaker *k = s_get(b, target);
    bool ok = true;
    if (k != NULL) {
        s_tick(b, k, now_ns);
        if (k->state == AU_BREAKER_OPEN || (k->state == AU_BREAKER_HALF_OPEN && k->probing)) {
            ok = false;
            k->rejected++;
            if (k->c_rejected != NULL) {
                vx_counter_add(k->c_rejected, 1);
            }
        } else if (k->state == AU_BREAKER_HALF_OPEN) {
            k->probing = true;
        }
    }
    pthread_mutex_unlock(&b->lock);
    return ok;
}

void
au_breaker_done(au_breakers_t *b, const char *target, bool ok, uint64_t now_ns)
{
    pthread_mutex_lock(&b->lock);
    struct s_breaker *k = s_get(b, target);
    if (k != NULL) {
        if (ok) {
            k->failures = 0;
            k->probing = false;
            s_set(k, AU_BREAKER_CLOSED);
        } else {
            k->failures++;
            if (k->state == AU_BREAKER_HALF_OPEN ||
                (k->state == AU_BREAKER_CLOSED && k->failures >= b->threshold)) {
                s_set(k, AU_BREAKER_OPEN);
                k->opened_ns = now_ns;
                k->probing = false;
                k->opens++;
                if (k->c_opens != NULL) {
                    vx_counter_add(k->c_opens, 1);
                }
            }
        }
    }
    pthread_mutex_unlock(&b->lock);
}

enum au_breaker_state
au_breaker_state(au_breakers_t *b, const char *target, uint64_t now_ns)
{
    enum au_breaker_state st = AU_BREAKER_CLOSED;
    pthread_mutex_lock(&b->lock);
    for (uint32_t i = 0; i < b->n; i++) {
        if (strcmp(b->v[i].target, target) == 0) {
            s_tick(b, &b->v[i], now_ns);
            st = b->v[i].state;
        }
    }
    pthread_mutex_unlock(&b->lock);
    return st;
}

const char *
au_breaker_split(const char *key, char *tenant, size_t tlen)
{
    const char *sp = strchr(key, ' ');
    if (sp == NULL || (size_t)(sp - key) >= tlen) {
        if (tlen > 0) {
            tenant[0] = '\0';
        }
        return key;
    }
    memcpy(tenant, key, (size_t)(sp - key));
    tenant[sp - key] = '\0';
    return sp + 1;
}

json_t *
au_breakers_json(au_breakers_t *b, const char *tenant, uint64_t now_ns)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&b->lock);
    for (uint32_t i = 0; i < b->n; i++) {
        struct s_breaker *k = &b->v[i];
        char kt[AU_BREAKER_TENANT_MAX + 1];
        const char *target = au_breaker_split(k->target, kt, sizeof kt);
        if (tenant != NULL && strcmp(kt, tenant) != 0) {
            continue;
        }
        s_tick(b, k, now_ns);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "tenant", kt,
                                             "target", target, "state",
                                             au_breaker_state_name(k->state), "failures",
                                             (json_int_t)k->failures, "opens",
                                             (json_int_t)k->opens, "rejected",
                                             (json_int_t)k->rejected));
    }
    json_t *j = json_pack("{s:o, s:I, s:I, s:I}", "breakers", arr, "failure_threshold",
                          (json_int_t)b->threshold, "cooldown_ms",
                          (json_int_t)(b->cooldown_ns / VX_NS_PER_MS), "untracked",
                          (json_int_t)b->untracked);
    pthread_mutex_unlock(&b->lock);
    return j;
}
