/* SPDX-License-Identifier: Apache-2.0 */
/* Producer identities (see prop_identity.h). */
#include "prop_identity.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_mem.h"
#include "vx_yaml.h"

#define S_MAX_VALUES 64
#define S_VALUE_MAX 256

struct prop_identity {
    char name[129];
    bool any_source;
    int sources[S_MAX_VALUES];
    size_t n_sources;
    bool any_tenant;
    char *tenants[S_MAX_VALUES];
    size_t n_tenants;
    char default_tenant[S_VALUE_MAX + 1];
};

struct prop_identities {
    struct prop_identity *ids;
    size_t n;
};

static const struct {
    const char *name;
    int source; /* 0: any */
} s_builtin[] = {
    {"forwarder", VEXFS__V1__BOUNDARY__KERNEL_MODULE},
    {"fuse", VEXFS__V1__BOUNDARY__FUSE},
    {"watch", VEXFS__V1__BOUNDARY__USERSPACE_API},
    {"automation", VEXFS__V1__BOUNDARY__AUTOMATION},
    {"analytics", VEXFS__V1__BOUNDARY__ANALYTICS},
    {"coordinator", VEXFS__V1__BOUNDARY__COORDINATOR},
    {"ctl", 0},
};

static void
s_free_ids(struct prop_identities *p)
{
    for (size_t i = 0; i < p->n; i++) {
        for (size_t k = 0; k < p->ids[i].n_tenants; k++) {
            free(p->ids[i].tenants[k]);
        }
    }
    free(p->ids);
    p->ids = NULL;
    p->n = 0;
}

/* Reads a list of strings; "*" sets *any. */
static int
s_list(json_t *v, const char *where, bool *any, char **out, int *out_src, size_t *n, char *err,
       size_t errlen)
{
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > S_MAX_VALUES) {
        snprintf(err, errlen, "%s: expected a list of 1 to %d strings", where, S_MAX_VALUES);
        return -EINVAL;
    }
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        const char *s = json_string_value(e);
        if (!s || !s[0] || strlen(s) > S_VALUE_MAX) {
            snprintf(err, errlen, "%s[%zu]: expected a string of 1 to %d characters", where, i,
                     S_VALUE_MAX);
            return -EINVAL;
        }
        if (strcmp(s, "*") == 0) {
            *any = true;
        } else if (out_src) {
            int b;
            if (vx_boundary_parse(s, &b) < 0) {
                snprintf(err, errlen, "%s[%zu]: unknown source \"%s\"", where, i, s);
                return -EINVAL;
            }
            out_src[(*n)++] = b;
        } else {
            out[(*n)++] = vx_strdup(s);
        }
    }
    return 0;
}

/* Every producer's rule is checked (known members, sources, tenants, default tenant among
 * them) before the table is used, so a bad identities file is refused as a whole rather
 * than letting a producer claim more than it should. */
static int
s_parse(struct prop_identities *p, json_t *doc, const char *path, char *err, size_t errlen)
{
    json_t *producers = json_object_get(doc, "producers");
    if (!json_is_object(doc) || json_object_size(doc) != 1 || !json_is_object(producers)) {
        snprintf(err, errlen, "%s: expected one key, producers, mapping names to rules", path);
        return -EINVAL;
    }
    p->ids = vx_calloc(json_object_size(producers) + 1, sizeof *p->ids);
    const char *name;
    json_t *rule;
    json_object_foreach(producers, name, rule) {
        struct prop_identity *id = &p->ids[p->n++];
        char where[300];
        if (!name[0] || strlen(name) >= sizeof id->name) {
            snprintf(err, errlen, "%s: producers: a name is 1 to 128 characters", path);
            return -EINVAL;
        }
        snprintf(id->name, sizeof id->name, "%s", name);
        const char *key;
        json_t *v;
        json_object_foreach(rule, key, v) {
            if (strcmp(key, "sources") != 0 && strcmp(key, "tenants") != 0 &&
                strcmp(key, "default_tenant") != 0) {
                snprintf(err, errlen, "%s: producers.%s.%s: unknown key (sources, tenants, "
                                      "default_tenant)", path, name, key);
                return -EINVAL;
            }
        }
        if (!json_is_object(rule)) {
            snprintf(err, errlen, "%s: producers.%s: expected a mapping", path, name);
            return -EINVAL;
        }
        snprintf(where, sizeof where, "%s: producers.%s.sources", path, name);
        if (s_list(json_object_get(rule, "sources"), where, &id->any_source, NULL, id->sources,
                   &id->n_sources, err, errlen) < 0) {
            return -EINVAL;
        }
        snprintf(where, sizeof where, "%s: producers.%s.tenants", path, name);
        if (s_list(json_object_get(rule, "tenants"), where, &id->any_tenant, id->tenants, NULL,
                   &id->n_tenants, err, errlen) < 0) {
            return -EINVAL;
        }
        json_t *dt = json_object_get(rule, "default_tenant");
        if (dt) {
            const char *t = json_string_value(dt);
            if (!t || strlen(t) > S_VALUE_MAX) {
                snprintf(err, errlen, "%s: producers.%s.default_tenant: expected a string of at "
                                      "most %d characters", path, name, S_VALUE_MAX);
                return -EINVAL;
            }
            snprintf(id->default_tenant, sizeof id->default_tenant, "%s", t);
            bool listed = id->any_tenant || !t[0];
            for (size_t k = 0; k < id->n_tenants; k++) {
                listed = listed || strcmp(id->tenants[k], t) == 0;
            }
            if (!listed) {
                snprintf(err, errlen, "%s: producers.%s.default_tenant: \"%s\" is not one of its "
                                      "tenants", path, name, t);
                return -EINVAL;
            }
        }
    }
    return 0;
}

prop_identities_t *
prop_identities_load(const char *path, char *err, size_t errlen)
{
    prop_identities_t *p = vx_calloc(1, sizeof *p);
    if (!path || !path[0]) {
        size_t n = sizeof s_builtin / sizeof s_builtin[0];
        p->ids = vx_calloc(n, sizeof *p->ids);
        for (size_t i = 0; i < n; i++) {
            struct prop_identity *id = &p->ids[p->n++];
            snprintf(id->name, sizeof id->name, "%s", s_builtin[i].name);
            id->any_source = s_builtin[i].source == 0;
            if (!id->any_source) {
                id->sources[id->n_sources++] = s_builtin[i].source;
            }
            id->any_tenant = true;
        }
        return p;
    }
    json_t *doc = vx_yaml_load_file(path, err, errlen);
    if (!doc) {
        free(p);
        return NULL;
    }
    int rc = s_parse(p, doc, path, err, errlen);
    json_decref(doc);
    if (rc < 0) {
        s_free_ids(p);
        free(p);
        return NULL;
    }
    return p;
}

void
prop_identities_destroy(prop_identities_t **pp)
{
    if (!pp || !*pp) {
        return;
    }
    s_free_ids(*pp);
    vx_free(pp);
}

const struct prop_identity *
prop_identities_find(const prop_identities_t *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->ids[i].name, name) == 0) {
            return &p->ids[i];
        }
    }
    return NULL;
}

bool
prop_identity_allows(const struct prop_identity *id, const vx_event_t *e, char *why,
                     size_t whylen)
{
    bool source_ok = id->any_source || e->source == 0;
    for (size_t i = 0; !source_ok && i < id->n_sources; i++) {
        source_ok = (int)e->source == id->sources[i];
    }
    if (!source_ok) {
        const char *name = vx_boundary_name((int)e->source);
        snprintf(why, whylen, "source %s", name ? name : "(unknown)");
        return false;
    }
    /* An identity held to some tenants sends nothing tenant-less: such an event would belong
     * to no tenant and reach what every tenant's rules see. */
    const char *tenant = e->tenant && e->tenant[0] ? e->tenant : id->default_tenant;
    bool tenant_ok = id->any_tenant;
    for (size_t i = 0; !tenant_ok && i < id->n_tenants; i++) {
        tenant_ok = strcmp(id->tenants[i], tenant) == 0;
    }
    if (!tenant_ok) {
        snprintf(why, whylen, "tenant %.64s", tenant[0] ? tenant : "(none)");
        return false;
    }
    return true;
}

const char *
prop_identity_default_tenant(const struct prop_identity *id)
{
    return id->default_tenant;
}
