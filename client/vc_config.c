/* SPDX-License-Identifier: Apache-2.0 */
/* A client's configuration: the client section's table and vexfs_config_*.
 *
 * The settings are the suite's own configuration machinery (vx_config.h): one table per
 * section, the same bounds, messages and environment overrides as every daemon. A
 * vexfs_config_t only collects the document (a file's sections, then single keys); the
 * effective configuration is built from it, defaults and environment applied, whenever it is
 * checked or used. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vc_priv.h"
#include "vx_log.h"
#include "vx_mem.h"
#include "vx_yaml.h"

const char *const vc_service_names[VC_N_SERVICES] = {"propagation", "routing", "coordinator",
                                                     "automation", "analytics"};

#define S_URL_KEY(svc, env, idx)                                                                \
    {svc "_url", VX_CFG_STRING, "", 0, 1024, false,                                            \
     "vexfs-" svc "'s REST base URL; empty: $" env ", else https://127.0.0.1:<its default "     \
     "port> (http:// when security.tls is off)",                                               \
     VX_CFG_AT(struct vc_config, url[idx])}

static const struct vx_cfg_key s_keys[] = {
    {"ingest_endpoint", VX_CFG_STRING, "tcp://127.0.0.1:5549", 0, 1024, false,
     "propagation's ingest_acked_endpoint (connected): emitted events go there in batches kept "
     "until acknowledged; empty: emitting is off",
     VX_CFG_AT(struct vc_config, ingest_endpoint)},
    {"tap_endpoint", VX_CFG_STRING, "tcp://127.0.0.1:5553", 0, 1024, false,
     "the tap vexfs_tap_open subscribes to when given none (propagation's tap_endpoint)",
     VX_CFG_AT(struct vc_config, tap_endpoint)},
    {"secret_key_file", VX_CFG_STRING, "", 0, 4096, false,
     "this program's CURVE key file (both halves, mode 0600); empty: "
     "<security.keys_dir>/<security.identity>.key",
     VX_CFG_AT(struct vc_config, secret_key_file)},
    {"server_key_file", VX_CFG_STRING, "", 0, 4096, false,
     "the daemons' CURVE public key file; empty: <security.keys_dir>/server.pub",
     VX_CFG_AT(struct vc_config, server_key_file)},
    {"ca_file", VX_CFG_STRING, "", 0, 4096, false,
     "the authority that verifies the daemons' certificates; empty: <security.tls_dir>/ca.crt "
     "(with security.tls off: the system's store, for https:// URLs given explicitly)",
     VX_CFG_AT(struct vc_config, ca_file)},
    {"client_cert_file", VX_CFG_STRING, "", 0, 4096, false,
     "a client certificate for mutual TLS; empty: <security.tls_dir>/<identity>.crt when that "
     "file exists, else none",
     VX_CFG_AT(struct vc_config, client_cert_file)},
    {"client_key_file", VX_CFG_STRING, "", 0, 4096, false,
     "its private key (mode 0600); empty: the certificate's name with .key",
     VX_CFG_AT(struct vc_config, client_key_file)},
    {"token", VX_CFG_SECRET, "", 0, 4096, false,
     "bearer token for the admin API (prefer token_file: a token in the environment or a file "
     "of settings is easily shown)",
     VX_CFG_AT(struct vc_config, token)},
    {"token_file", VX_CFG_STRING, "", 0, 4096, false,
     "file whose first line is the bearer token for the admin API; empty: $VEXFS_TOKEN_FILE, "
     "else no token",
     VX_CFG_AT(struct vc_config, token_file)},
    {"tenant", VX_CFG_STRING, "", 0, 64, false,
     "sent as X-VexFS-Tenant on admin calls (automation, analytics); empty: none",
     VX_CFG_AT(struct vc_config, tenant)},
    S_URL_KEY("propagation", "VEXFS_PROPAGATION_URL", VC_PROPAGATION),
    S_URL_KEY("routing", "VEXFS_ROUTING_URL", VC_ROUTING),
    S_URL_KEY("coordinator", "VEXFS_COORDINATOR_URL", VC_COORDINATOR),
    S_URL_KEY("automation", "VEXFS_AUTOMATION_URL", VC_AUTOMATION),
    S_URL_KEY("analytics", "VEXFS_ANALYTICS_URL", VC_ANALYTICS),
    {"producer_id", VX_CFG_STRING, "", 0, 256, false,
     "sender id of the client's batches; empty: client-<hostname>-<pid>",
     VX_CFG_AT(struct vc_config, producer_id)},
    {"batch_max_events", VX_CFG_INT, "100", 1, 10000, false, "events per batch at most",
     VX_CFG_AT(struct vc_config, batch_max_events)},
    {"batch_max_bytes", VX_CFG_INT, "1048576", 1024, 64LL * 1024 * 1024 - 4096, false,
     "packed bytes per batch at most (an event larger than this travels in a batch of its own)",
     VX_CFG_AT(struct vc_config, batch_max_bytes)},
    {"batch_max_delay_ms", VX_CFG_INT, "1", 0, 60000, false,
     "longest an emitted event waits for its batch to fill before the batch is sent",
     VX_CFG_AT(struct vc_config, batch_max_delay_ms)},
    {"buffer_max_batches", VX_CFG_INT, "1000", 1, 1000000, false,
     "batches held until propagation acknowledges them (the open batch counts); when full, "
     "emit calls wait up to their timeout, then fail with -ENOBUFS",
     VX_CFG_AT(struct vc_config, buffer_max_batches)},
    {"ack_window_batches", VX_CFG_INT, "64", 1, 100000, false,
     "batches sent and not yet acknowledged at once; the rest wait in the buffer",
     VX_CFG_AT(struct vc_config, ack_window_batches)},
    {"ack_timeout_ms", VX_CFG_INT, "2000", 1, 600000, false,
     "a batch unacknowledged this long is sent again (copies meet propagation's dedup window)",
     VX_CFG_AT(struct vc_config, ack_timeout_ms)},
    {"retry_interval_ms", VX_CFG_INT, "2", 1, 60000, false,
     "how often a batch ZeroMQ could not take yet (propagation away or full) is offered again",
     VX_CFG_AT(struct vc_config, retry_interval_ms)},
    {"http_timeout_ms", VX_CFG_INT, "10000", 1, 3600000, false,
     "longest one admin call may take (connection, TLS, answer)",
     VX_CFG_AT(struct vc_config, http_timeout_ms)},
    {"max_response_bytes", VX_CFG_INT, "16777216", 1024, 1073741824, false,
     "largest admin answer read; a larger one fails the call with -EMSGSIZE",
     VX_CFG_AT(struct vc_config, max_response_bytes)},
    {"log_level", VX_CFG_STRING, "warn", 0, 16, false,
     "the library's own log lines on stderr (a connection lost with batches unacknowledged, "
     "resends): debug, info, warn, error or off; one level for the process (the client made "
     "last sets it)",
     VX_CFG_AT(struct vc_config, log_level)},
};

static bool
s_is_url(const char *u)
{
    return u[0] == '\0' || strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0;
}

static int
cb_client_check(const void *bound, char *err, size_t errlen)
{
    const struct vc_config *c = bound;
    enum vx_log_level lvl;
    if (strcmp(c->log_level, "off") != 0 && vx_log_level_parse(c->log_level, &lvl) < 0) {
        snprintf(err, errlen, "client.log_level: expected debug, info, warn, error or off, got "
                              "\"%s\"", c->log_level);
        return -EINVAL;
    }
    for (int i = 0; i < VC_N_SERVICES; i++) {
        if (!s_is_url(c->url[i])) {
            snprintf(err, errlen, "client.%s_url: expected an http:// or https:// URL, got \"%s\"",
                     vc_service_names[i], c->url[i]);
            return -EINVAL;
        }
    }
    if (c->client_key_file[0] && !c->client_cert_file[0]) {
        snprintf(err, errlen, "client.client_key_file: needs client.client_cert_file");
        return -EINVAL;
    }
    if (c->token[0] && c->token_file[0]) {
        snprintf(err, errlen, "client.token and client.token_file: set one of them, not both");
        return -EINVAL;
    }
    if (strchr(c->tenant, '\r') || strchr(c->tenant, '\n')) {
        snprintf(err, errlen, "client.tenant: a line break is not allowed");
        return -EINVAL;
    }
    return 0;
}

const struct vx_cfg_section vc_cfg_section =
    VX_CFG_SECTION(VC_SECTION, s_keys, struct vc_config, cb_client_check);

const struct vx_cfg_section *const vc_sections[3] = {&vc_cfg_section, &vx_cfg_security_section,
                                                     &vx_cfg_transport_section};

int
vc_config_build(const vexfs_config_t *cfg, vx_config_t **out)
{
    char err[1024];
    if (vx_config_from_json(out, cfg->doc, vc_sections, 3, err, sizeof err) < 0) {
        return vc_fail(-EINVAL, "%s", err);
    }
    return 0;
}

vexfs_config_t *
vexfs_config_new(void)
{
    vexfs_config_t *cfg = vx_calloc(1, sizeof *cfg);
    cfg->doc = json_object();
    return cfg;
}

void
vexfs_config_destroy(vexfs_config_t **cfg)
{
    if (!cfg || !*cfg) {
        return;
    }
    json_decref((*cfg)->doc);
    vx_free(cfg);
}

/* Whether doc builds into a valid configuration. */
static int
s_try(json_t *doc)
{
    vexfs_config_t trial = {doc};
    vx_config_t *built = NULL;
    int rc = vc_config_build(&trial, &built);
    vx_config_destroy(&built);
    return rc;
}

int
vexfs_config_load(vexfs_config_t *cfg, const char *path)
{
    if (!cfg || !path) {
        return vc_fail(-EINVAL, "vexfs_config_load: no configuration or path given");
    }
    char err[1024];
    json_t *file = vx_yaml_load_file(path, err, sizeof err);
    if (!file) {
        return vc_fail(-ENOENT, "%s", err);
    }
    if (!json_is_object(file)) {
        json_decref(file);
        return vc_fail(-EINVAL, "%s: expected a mapping of sections", path);
    }
    /* Last one wins: the file's keys over what was set before, the other keys kept. The
     * sections of the other services are checked (an unknown section is an error) and left
     * to them. */
    json_t *doc = json_deep_copy(cfg->doc);
    const char *name;
    json_t *val;
    json_object_foreach(file, name, val) {
        json_t *have = json_object_get(doc, name);
        if (json_is_object(have) && json_is_object(val)) {
            json_object_update(have, val);
        } else {
            json_object_set(doc, name, val);
        }
    }
    json_decref(file);
    int rc = s_try(doc);
    if (rc < 0) {
        char inner[900];
        snprintf(inner, sizeof inner, "%s", vexfs_last_error());
        json_decref(doc);
        return vc_fail(rc, "%s: %s", path, inner);
    }
    json_decref(cfg->doc);
    cfg->doc = doc;
    return 0;
}

/* The table row of key (bare or "section.key") and its section, or NULL. */
static const struct vx_cfg_key *
s_find(const char *key, const struct vx_cfg_section **sec_out)
{
    const char *dot = strchr(key, '.');
    for (size_t i = 0; i < 3; i++) {
        const struct vx_cfg_section *sec = vc_sections[i];
        const char *name = key;
        if (dot) {
            size_t sl = (size_t)(dot - key);
            if (strlen(sec->name) != sl || strncmp(sec->name, key, sl) != 0) {
                continue;
            }
            name = dot + 1;
        }
        for (size_t k = 0; k < sec->n_keys; k++) {
            if (strcmp(sec->keys[k].name, name) == 0) {
                *sec_out = sec;
                return &sec->keys[k];
            }
        }
    }
    return NULL;
}

int
vexfs_config_set(vexfs_config_t *cfg, const char *key, const char *value)
{
    if (!cfg || !key || !value) {
        return vc_fail(-EINVAL, "vexfs_config_set: configuration, key and value are required");
    }
    const struct vx_cfg_section *sec = NULL;
    const struct vx_cfg_key *k = s_find(key, &sec);
    if (!k) {
        return vc_fail(-ENOENT, "%s: unknown key (the client, security and transport sections' "
                                "keys are listed in the README)", key);
    }
    /* Values are text, as in a file; the table's own parsing turns them into their type. */
    json_t *v = json_string(value);
    if (!v) {
        return vc_fail(-EINVAL, "%s.%s: not valid UTF-8", sec->name, k->name);
    }
    json_t *doc = json_deep_copy(cfg->doc);
    json_t *s = json_object_get(doc, sec->name);
    if (!json_is_object(s)) {
        s = json_object();
        json_object_set_new(doc, sec->name, s);
    }
    json_object_set_new(s, k->name, v);
    int rc = s_try(doc);
    if (rc < 0) {
        json_decref(doc);
        return rc;
    }
    json_decref(cfg->doc);
    cfg->doc = doc;
    return 0;
}

char *
vexfs_config_show(const vexfs_config_t *cfg)
{
    if (!cfg) {
        vc_fail(-EINVAL, "vexfs_config_show: no configuration given");
        return NULL;
    }
    vx_config_t *built = NULL;
    if (vc_config_build(cfg, &built) < 0) {
        return NULL;
    }
    json_t *j = vx_config_to_json(built);
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(j);
    vx_config_destroy(&built);
    if (!text) {
        vx_oom(0);
    }
    return text;
}
