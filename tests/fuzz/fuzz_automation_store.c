/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: what a REST caller hands automation's state store, on a real LMDB environment:
 * a history cursor (GET /v1/executions?cursor=), and a state write (a path and a JSON value,
 * as a set_state step or PUT /v1/state/{path} gives them).
 * fuzz-sources: services/automation/au_store.c services/automation/au_store_state.c
 * fuzz-sources: services/automation/au_store_hist.c lib/vx_jsonfile.c lib/vx_seal.c
 * fuzz-sources: services/automation/au_store_group.c services/automation/au_store_reseal.c
 * fuzz-sources: lib/vx_creds.c lib/vx_metrics.c
 *
 * The input is split at its first NUL: the part before is the cursor and the state path, the
 * part after the value's JSON. A bad cursor must be refused with a message; a commit must either
 * succeed and then show its value at its path in the tenant's view, or be refused with a
 * message and change nothing (the commit sequence stays). */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../services/automation/au_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static au_store_t *s_store;

static void
s_open(void)
{
    char dir[] = "/tmp/vexfs-fuzz-store-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        abort();
    }
    struct au_store_opts o = {.dir = dir, .map_bytes = 256u << 20, .no_sync = true,
                              .max_history = 50};
    char err[512];
    if (au_store_open(&s_store, &o, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
    for (int i = 0; i < 20; i++) {
        char id[32];
        snprintf(id, sizeof id, "e%d", i);
        json_t *rec = json_pack("{s:s, s:s, s:s}", "id", id, "tenant", "t", "status", "failed");
        struct au_store_commit c = {.hist_id = id, .hist_rec = rec, .hist_ns = 1000 + i,
                                    .snap_seq = UINT64_MAX};
        au_store_commit(s_store, &c, err, sizeof err);
        json_decref(rec);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (s_store == NULL) {
        s_open();
    }
    size_t cut = 0;
    while (cut < size && data[cut] != 0) {
        cut++;
    }
    if (cut > 1024) {
        return 0;
    }
    char head[1025];
    memcpy(head, data, cut);
    head[cut] = '\0';
    char err[1024] = "";
    struct au_store_query q = {.tenant = "t", .cursor = head, .limit = 7};
    json_t *page = au_store_exec_query(s_store, &q, err, sizeof err);
    if (page == NULL && err[0] == '\0') {
        abort(); /* a refusal says why */
    }
    json_decref(page);
    if (cut >= size || head[0] == '\0') {
        return 0;
    }
    json_t *v = json_loadb((const char *)data + cut + 1, size - cut - 1, JSON_DECODE_ANY, NULL);
    if (v == NULL) {
        return 0;
    }
    json_t *w = json_pack("[[s, O]]", head, v);
    if (w == NULL) { /* not UTF-8: no JSON string carries it */
        json_decref(v);
        return 0;
    }
    uint64_t before = au_store_seq(s_store);
    struct au_store_commit c = {.tenant = "f", .snap_seq = before, .writes = w};
    int rc = au_store_commit(s_store, &c, err, sizeof err);
    if (rc < 0 && (err[0] == '\0' || au_store_seq(s_store) != before)) {
        abort(); /* refused: with a message, nothing changed */
    }
    if (rc == 0 && c.seq != before + 1) {
        abort();
    }
    json_t *view = au_store_state_json(s_store, "f", NULL, err, sizeof err);
    if (view == NULL) {
        abort(); /* what it wrote, it reads */
    }
    json_decref(view);
    char key[12];
    json_t *ch;
    while ((ch = au_store_outbox_first(s_store, key)) != NULL) { /* bounded: drain it */
        json_decref(ch);
        au_store_outbox_del(s_store, key);
    }
    json_decref(w);
    json_decref(v);
    return 0;
}
