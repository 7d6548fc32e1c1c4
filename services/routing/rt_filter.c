/* SPDX-License-Identifier: Apache-2.0 */
/* Filters: parsing and validation of the filter schema in rt_engine.h, their normalized JSON
 * form, and the state-free parts of their evaluation: time windows, the rate limiter (one
 * atomic word per filter) and hash-based sampling. */
#include "rt_rule.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "vx_clock.h"
#include "vx_mem.h"

#define S_DAY_S 86400u
#define S_MAX_WINDOWS 64
#define S_MAX_RATE 1e9

static const char *const s_kinds[] = {
    [RT_FILTER_CONTENT] = "content",       [RT_FILTER_PATH] = "path",
    [RT_FILTER_TEMPORAL] = "temporal",     [RT_FILTER_PRIORITY] = "priority",
    [RT_FILTER_RATE_LIMIT] = "rate_limit", [RT_FILTER_SAMPLE] = "sample",
};
static const char *const s_actions[] = {
    [RT_ACTION_BLOCK] = "block",
    [RT_ACTION_ALLOW] = "allow",
    [RT_ACTION_TAG] = "tag",
    [RT_ACTION_SAMPLE] = "sample",
};
static const char *const s_outcomes[] = {
    [RT_OUTCOME_BLOCKED] = "blocked",       [RT_OUTCOME_ALLOWED] = "allowed",
    [RT_OUTCOME_TAGGED] = "tagged",         [RT_OUTCOME_SAMPLED_IN] = "sampled_in",
    [RT_OUTCOME_SAMPLED_OUT] = "sampled_out",
};
static const char *const s_days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

#define S_COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *
rt_filter_kind_name(enum rt_filter_kind k)
{
    return (size_t)k < S_COUNT(s_kinds) ? s_kinds[k] : "?";
}

const char *
rt_filter_action_name(enum rt_filter_action a)
{
    return (size_t)a < S_COUNT(s_actions) ? s_actions[a] : "?";
}

const char *
rt_filter_outcome_name(enum rt_filter_outcome o)
{
    return (size_t)o < S_COUNT(s_outcomes) ? s_outcomes[o] : "?";
}

static int
s_lookup(json_t *v, const char *const *names, size_t n)
{
    if (!json_is_string(v)) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(names[i], json_string_value(v)) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* "HH:MM" or "HH:MM:SS"; 24:00 only when allow_24. Returns seconds of the day or -1. */
static long
s_time_of_day(const char *s, bool allow_24)
{
    size_t len = strlen(s);
    if (len != 5 && len != 8) {
        return -1;
    }
    /* Digits in pairs separated by ':': check the shape, then read each pair. */
    for (size_t i = 0; i < len; i++) {
        if (i % 3 == 2 ? s[i] != ':' : (s[i] < '0' || s[i] > '9')) {
            return -1;
        }
    }
    long part[3] = {0, 0, 0};
    for (size_t i = 0; i < len; i += 3) {
        part[i / 3] = (long)(s[i] - '0') * 10 + (long)(s[i + 1] - '0');
    }
    long h = part[0], m = part[1], sec = part[2];
    if (h == 24 && m == 0 && sec == 0 && allow_24) {
        return S_DAY_S;
    }
    if (h > 23 || m > 59 || sec > 59) {
        return -1;
    }
    return h * 3600 + m * 60 + sec;
}

/* A time window: start and end (HH:MM[:SS]; start equal to end is refused), optional days
 * and UTC offset; each member is checked so a filter never holds a window that cannot be
 * evaluated. */
static int
s_window_parse(json_t *j, size_t i, struct rt_window *w, struct rt_perr *pe)
{
    static const char *const keys[] = {"start", "end", "days", "utc_offset_minutes", NULL};
    char where[64];
    snprintf(where, sizeof where, "conditions.time_windows[%zu]", i);
    if (!json_is_object(j)) {
        rt_perr_set(pe, "%s: expected an object", where);
        return -EINVAL;
    }
    if (rt_check_keys(j, where, keys, pe) < 0) {
        return -EINVAL;
    }
    json_t *s = json_object_get(j, "start");
    json_t *e = json_object_get(j, "end");
    long start = json_is_string(s) ? s_time_of_day(json_string_value(s), false) : -1;
    long end = json_is_string(e) ? s_time_of_day(json_string_value(e), true) : -1;
    if (start < 0) {
        rt_perr_set(pe, "%s.start: expected \"HH:MM\" or \"HH:MM:SS\" (00:00..23:59:59)", where);
        return -EINVAL;
    }
    if (end < 0) {
        rt_perr_set(pe, "%s.end: expected \"HH:MM\" or \"HH:MM:SS\" (00:00..24:00)", where);
        return -EINVAL;
    }
    if (start == end) {
        rt_perr_set(pe, "%s: start equals end; use 00:00..24:00 for a whole day", where);
        return -EINVAL;
    }
    w->start_s = (uint32_t)start;
    w->end_s = (uint32_t)end;
    json_t *days = json_object_get(j, "days");
    if (days == NULL) {
        w->days = 0x7f;
    } else {
        if (!json_is_array(days) || json_array_size(days) == 0) {
            rt_perr_set(pe, "%s.days: expected a non-empty array of sun..sat", where);
            return -EINVAL;
        }
        size_t k;
        json_t *d;
        json_array_foreach(days, k, d) {
            int day = s_lookup(d, s_days, S_COUNT(s_days));
            if (day < 0) {
                rt_perr_set(pe, "%s.days[%zu]: expected one of sun, mon, tue, wed, thu, fri, sat",
                            where, k);
                return -EINVAL;
            }
            w->days |= (uint8_t)(1u << day);
        }
    }
    json_t *off = json_object_get(j, "utc_offset_minutes");
    w->offset_min = 0;
    if (off != NULL) {
        if (!json_is_integer(off) || json_integer_value(off) < -1440 ||
            json_integer_value(off) > 1440) {
            rt_perr_set(pe, "%s.utc_offset_minutes: expected an integer -1440..1440", where);
            return -EINVAL;
        }
        w->offset_min = (int32_t)json_integer_value(off);
    }
    return 0;
}

static double
s_number(json_t *v)
{
    return json_is_integer(v) ? (double)json_integer_value(v) : json_real_value(v);
}

void
rt_filter_fini(struct rt_filter *f)
{
    free(f->id);
    free(f->description);
    rt_cond_fini(&f->cond);
    rt_tags_free(f->tags, f->n_tags);
    memset(f, 0, sizeof *f);
}

static int
s_filter_cond(json_t *c, struct rt_filter *f, struct rt_perr *pe)
{
    static const char *const ckeys[] = {
        "event_types",  "patterns",     "content_patterns", "pattern_match", "tenant",
        "min_priority", "max_priority", "time_windows",     "clock",         NULL};
    if (!json_is_object(c)) {
        rt_perr_set(pe, "conditions: expected an object");
        return -EINVAL;
    }
    if (rt_check_keys(c, "conditions", ckeys, pe) < 0 ||
        rt_cond_parse_common(c, &f->cond, pe) < 0) {
        return -EINVAL;
    }
    json_t *mx = json_object_get(c, "max_priority");
    if (mx != NULL) {
        if (!json_is_integer(mx) || json_integer_value(mx) < 0 ||
            json_integer_value(mx) > 255) {
            rt_perr_set(pe, "conditions.max_priority: expected an integer 0..255");
            return -EINVAL;
        }
        f->cond.max_priority = (uint32_t)json_integer_value(mx);
        f->cond.has_max = true;
        if (f->cond.max_priority < f->cond.min_priority) {
            rt_perr_set(pe, "conditions.max_priority: %u is below min_priority %u",
                        f->cond.max_priority, f->cond.min_priority);
            return -EINVAL;
        }
    }
    json_t *tw = json_object_get(c, "time_windows");
    if (tw != NULL) {
        if (!json_is_array(tw) || json_array_size(tw) > S_MAX_WINDOWS) {
            rt_perr_set(pe, "conditions.time_windows: expected an array of at most %d windows",
                        S_MAX_WINDOWS);
            return -EINVAL;
        }
        f->cond.windows = vx_calloc(json_array_size(tw) + 1, sizeof *f->cond.windows);
        size_t i;
        json_t *w;
        json_array_foreach(tw, i, w) {
            if (s_window_parse(w, i, &f->cond.windows[i], pe) < 0) {
                return -EINVAL;
            }
            f->cond.n_windows++;
        }
    }
    json_t *clk = json_object_get(c, "clock");
    if (clk != NULL) {
        static const char *const clocks[] = {"wall", "event"};
        int k = s_lookup(clk, clocks, 2);
        if (k < 0) {
            rt_perr_set(pe, "conditions.clock: expected \"wall\" or \"event\"");
            return -EINVAL;
        }
        f->cond.clock_event = k == 1;
    }
    return 0;
}

/* What each kind must have. */
static int
s_filter_kind_check(struct rt_filter *f, json_t *j, struct rt_perr *pe)
{
    const struct rt_cond *c = &f->cond;
    switch (f->kind) {
    case RT_FILTER_CONTENT:
        if (c->n_pats == 0) {
            rt_perr_set(pe, "conditions.patterns: a content filter needs at least one pattern");
            return -EINVAL;
        }
        break;
    case RT_FILTER_PATH:
        if (c->n_pats == 0) {
            rt_perr_set(pe, "conditions.patterns: a path filter needs at least one pattern");
            return -EINVAL;
        }
        for (uint32_t i = 0; i < c->n_pats; i++) {
            if (c->pats[i].src != RT_SRC_PATH) {
                rt_perr_set(pe, "conditions.patterns[%u].field: a path filter matches the path "
                                "only", i);
                return -EINVAL;
            }
        }
        break;
    case RT_FILTER_TEMPORAL:
        if (c->n_windows == 0) {
            rt_perr_set(pe, "conditions.time_windows: a temporal filter needs at least one "
                            "window");
            return -EINVAL;
        }
        break;
    case RT_FILTER_PRIORITY:
        if (!c->has_min && !c->has_max) {
            rt_perr_set(pe, "conditions: a priority filter needs min_priority or max_priority");
            return -EINVAL;
        }
        break;
    case RT_FILTER_RATE_LIMIT:
        if (f->action == RT_ACTION_ALLOW) {
            rt_perr_set(pe, "action: a rate_limit filter acts on the excess: block, tag or "
                            "sample");
            return -EINVAL;
        }
        break;
    case RT_FILTER_SAMPLE:
        if (f->action != RT_ACTION_SAMPLE) {
            rt_perr_set(pe, "action: a sample filter needs action \"sample\"");
            return -EINVAL;
        }
        break;
    }
    json_t *rate = json_object_get(j, "rate_per_sec");
    json_t *burst = json_object_get(j, "burst");
    if (f->kind == RT_FILTER_RATE_LIMIT) {
        if (!json_is_number(rate) || !(s_number(rate) > 0) || s_number(rate) > S_MAX_RATE) {
            rt_perr_set(pe, "rate_per_sec: expected a number > 0 and <= 1e9");
            return -EINVAL;
        }
        if (!json_is_integer(burst) || json_integer_value(burst) < 1 ||
            json_integer_value(burst) > 1000000000) {
            rt_perr_set(pe, "burst: expected an integer 1..1000000000");
            return -EINVAL;
        }
        f->rate_per_sec = s_number(rate);
        f->burst = (uint32_t)json_integer_value(burst);
        double iv = (double)VX_NS_PER_S / f->rate_per_sec;
        f->interval_ns = iv < 1 ? 1 : (uint64_t)llround(iv);
        f->tolerance_ns = f->interval_ns * (uint64_t)(f->burst - 1);
    } else if (rate != NULL || burst != NULL) {
        rt_perr_set(pe, "%s: only for kind rate_limit", rate != NULL ? "rate_per_sec" : "burst");
        return -EINVAL;
    }
    json_t *ratio = json_object_get(j, "sample_ratio");
    if (f->action == RT_ACTION_SAMPLE) {
        if (!json_is_number(ratio) || !(s_number(ratio) >= 0) || s_number(ratio) > 1) {
            rt_perr_set(pe, "sample_ratio: expected a number 0..1");
            return -EINVAL;
        }
        f->sample_ratio = s_number(ratio);
        f->sample_limit = (uint64_t)(f->sample_ratio * 9007199254740992.0); /* 2^53 */
        f->sample_seed = vx_hash64(f->id, strlen(f->id), 0x5a17u);
    } else if (ratio != NULL) {
        rt_perr_set(pe, "sample_ratio: only for action sample");
        return -EINVAL;
    }
    if (f->action == RT_ACTION_TAG && f->n_tags == 0) {
        rt_perr_set(pe, "add_tags: action tag needs at least one tag");
        return -EINVAL;
    }
    if (f->action == RT_ACTION_BLOCK && f->n_tags > 0) {
        rt_perr_set(pe, "add_tags: a blocked event is not tagged");
        return -EINVAL;
    }
    return 0;
}

static int
s_filter_parse(json_t *j, struct rt_filter *f, struct rt_perr *pe)
{
    static const char *const keys[] = {"id",       "description", "enabled",      "order",
                                       "kind",     "conditions",  "action",       "add_tags",
                                       "rate_per_sec", "burst",   "sample_ratio", NULL};
    if (!json_is_object(j)) {
        rt_perr_set(pe, "expected an object");
        return -EINVAL;
    }
    if (rt_parse_id(j, "id", &f->id, pe) < 0) {
        return -EINVAL;
    }
    pe->id = f->id;
    if (rt_check_keys(j, "", keys, pe) < 0) {
        return -EINVAL;
    }
    json_t *d = json_object_get(j, "description");
    if (d != NULL && !json_is_null(d) && !json_is_string(d)) {
        rt_perr_set(pe, "description: expected a string");
        return -EINVAL;
    }
    f->description = vx_strdup(json_is_string(d) ? json_string_value(d) : "");
    json_t *en = json_object_get(j, "enabled");
    if (en != NULL && !json_is_boolean(en)) {
        rt_perr_set(pe, "enabled: expected true or false");
        return -EINVAL;
    }
    f->enabled = en == NULL || json_is_true(en);
    json_t *ord = json_object_get(j, "order");
    if (ord != NULL && (!json_is_integer(ord) || json_integer_value(ord) < -1000000 ||
                        json_integer_value(ord) > 1000000)) {
        rt_perr_set(pe, "order: expected an integer -1000000..1000000");
        return -EINVAL;
    }
    f->order = ord ? (int32_t)json_integer_value(ord) : 0;
    int k = s_lookup(json_object_get(j, "kind"), s_kinds, S_COUNT(s_kinds));
    if (k < 0) {
        rt_perr_set(pe, "kind: expected content, path, temporal, priority, rate_limit or sample");
        return -EINVAL;
    }
    f->kind = (enum rt_filter_kind)k;
    json_t *act = json_object_get(j, "action");
    int a = act == NULL && f->kind == RT_FILTER_SAMPLE
                ? RT_ACTION_SAMPLE
                : s_lookup(act, s_actions, S_COUNT(s_actions));
    if (a < 0) {
        rt_perr_set(pe, "action: expected block, allow, tag or sample");
        return -EINVAL;
    }
    f->action = (enum rt_filter_action)a;
    f->cond.max_priority = 255;
    json_t *c = json_object_get(j, "conditions");
    if (c != NULL && s_filter_cond(c, f, pe) < 0) {
        return -EINVAL;
    }
    if (rt_parse_tags(json_object_get(j, "add_tags"), "add_tags", &f->tags, &f->n_tags, pe) < 0) {
        return -EINVAL;
    }
    return s_filter_kind_check(f, j, pe);
}

int
rt_filter_parse(json_t *j, const struct rt_names *b, struct rt_filter *out, struct rt_perr *pe)
{
    (void)b;
    memset(out, 0, sizeof *out);
    int rc = s_filter_parse(j, out, pe);
    if (rc < 0) {
        pe->id = NULL;
        rt_filter_fini(out);
    }
    return rc;
}

static json_t *
s_time_json(uint32_t s)
{
    if (s % 60 == 0) {
        return json_sprintf("%02u:%02u", s / 3600, s / 60 % 60);
    }
    return json_sprintf("%02u:%02u:%02u", s / 3600, s / 60 % 60, s % 60);
}

json_t *
rt_filter_to_json(const struct rt_filter *f)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(f->id));
    json_object_set_new(o, "description", json_string(f->description));
    json_object_set_new(o, "enabled", json_boolean(f->enabled));
    json_object_set_new(o, "order", json_integer(f->order));
    json_object_set_new(o, "kind", json_string(rt_filter_kind_name(f->kind)));
    json_t *c = json_object();
    rt_cond_common_to_json(&f->cond, c);
    json_object_set_new(c, "max_priority", json_integer(f->cond.max_priority));
    json_t *ws = json_array();
    for (uint32_t i = 0; i < f->cond.n_windows; i++) {
        const struct rt_window *w = &f->cond.windows[i];
        json_t *wj = json_object();
        json_object_set_new(wj, "start", s_time_json(w->start_s));
        json_object_set_new(wj, "end", s_time_json(w->end_s));
        json_t *days = json_array();
        for (int d = 0; d < 7; d++) {
            if (w->days & (1u << d)) {
                json_array_append_new(days, json_string(s_days[d]));
            }
        }
        json_object_set_new(wj, "days", days);
        json_object_set_new(wj, "utc_offset_minutes", json_integer(w->offset_min));
        json_array_append_new(ws, wj);
    }
    json_object_set_new(c, "time_windows", ws);
    json_object_set_new(c, "clock", json_string(f->cond.clock_event ? "event" : "wall"));
    json_object_set_new(o, "conditions", c);
    json_object_set_new(o, "action", json_string(rt_filter_action_name(f->action)));
    json_object_set_new(o, "add_tags", rt_tags_to_json(f->tags, f->n_tags));
    if (f->kind == RT_FILTER_RATE_LIMIT) {
        json_object_set_new(o, "rate_per_sec", json_real(f->rate_per_sec));
        json_object_set_new(o, "burst", json_integer(f->burst));
    }
    if (f->action == RT_ACTION_SAMPLE) {
        json_object_set_new(o, "sample_ratio", json_real(f->sample_ratio));
    }
    return o;
}

/* ---- evaluation ------------------------------------------------------------------------- */

bool
rt_windows_match(const struct rt_window *w, uint32_t n, uint64_t t_ns)
{
    int64_t secs = (int64_t)(t_ns / VX_NS_PER_S);
    for (uint32_t i = 0; i < n; i++) {
        int64_t local = secs + (int64_t)w[i].offset_min * 60;
        int64_t dayno = local >= 0 ? local / S_DAY_S : (local - (S_DAY_S - 1)) / S_DAY_S;
        uint32_t sod = (uint32_t)(local - dayno * S_DAY_S);
        unsigned dow = (unsigned)(((dayno + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
        unsigned prev = (dow + 6) % 7;
        if (w[i].start_s < w[i].end_s) {
            if ((w[i].days & (1u << dow)) && sod >= w[i].start_s && sod < w[i].end_s) {
                return true;
            }
        } else {
            if ((w[i].days & (1u << dow)) && sod >= w[i].start_s) {
                return true;
            }
            if ((w[i].days & (1u << prev)) && sod < w[i].end_s) {
                return true;
            }
        }
    }
    return false;
}

bool
rt_rate_over(const struct rt_filter *f, _Atomic uint64_t *tat, uint64_t now_ns, bool consume)
{
    uint64_t cur = atomic_load_explicit(tat, memory_order_relaxed);
    for (;;) {
        uint64_t base = cur > now_ns ? cur : now_ns;
        if (base - now_ns > f->tolerance_ns) {
            return true;
        }
        if (!consume) {
            return false;
        }
        if (atomic_compare_exchange_weak_explicit(tat, &cur, base + f->interval_ns,
                                                  memory_order_relaxed, memory_order_relaxed)) {
            return false;
        }
    }
}

bool
rt_sample_keep(const struct rt_filter *f, const vx_event_t *ev)
{
    if (f->sample_ratio >= 1.0) {
        return true;
    }
    uint64_t h;
    if (ev->id.len > 0 && ev->id.data != NULL) {
        h = vx_hash64(ev->id.data, ev->id.len, f->sample_seed);
    } else if (ev->producer_id != NULL && ev->producer_id[0] != '\0') {
        h = vx_hash64(ev->producer_id, strlen(ev->producer_id), f->sample_seed ^ ev->sequence);
        h = vx_hash64(&h, sizeof h, ev->sequence);
    } else {
        h = vx_event_content_hash(ev) ^ f->sample_seed;
        h = vx_hash64(&h, sizeof h, ev->timestamp_ns);
    }
    return (h >> 11) < f->sample_limit;
}
