/* SPDX-License-Identifier: Apache-2.0 */
/* Example: emit a batch of events (all or nothing), then more from JSON text, and flush.
 *
 *     emit_batch [N] [TYPE] [PATH_PREFIX]
 *
 * N events (default 10) of TYPE (default filesystem_create) at PATH_PREFIX/file-<i> (default
 * /examples/batch), then two events given as one JSON array; then waits until propagation
 * acknowledged every one of them and prints the client's statistics. */
#include <stdio.h>
#include <stdlib.h>

#include <vexfs/client.h>

#define MAX_EVENTS 1000

int
main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 10;
    const char *type = argc > 2 ? argv[2] : "filesystem_create";
    const char *prefix = argc > 3 ? argv[3] : "/examples/batch";
    if (n < 1 || n > MAX_EVENTS) {
        fprintf(stderr, "emit_batch: N must be 1..%d\n", MAX_EVENTS);
        return 2;
    }

    vexfs_config_t *cfg = vexfs_config_new();
    vexfs_client_t *c = vexfs_client_new(cfg);
    vexfs_config_destroy(&cfg);
    if (!c) {
        fprintf(stderr, "emit_batch: %s\n", vexfs_last_error());
        return 1;
    }

    static struct vexfs_event events[MAX_EVENTS];
    static char paths[MAX_EVENTS][256];
    for (int i = 0; i < n; i++) {
        struct vexfs_event ev = VEXFS_EVENT_INIT;
        snprintf(paths[i], sizeof paths[i], "%s/file-%d", prefix, i);
        ev.type = type;
        ev.path = paths[i];
        events[i] = ev;
    }
    /* Every event is validated first: one bad event refuses the whole batch. */
    int rc = vexfs_client_emit_batch(c, events, (size_t)n, 5000);
    if (rc < 0) {
        fprintf(stderr, "emit_batch: %s\n", vexfs_last_error());
        vexfs_client_close(&c, 0, NULL);
        return 1;
    }

    char json[1024];
    snprintf(json, sizeof json,
             "[{\"type\":\"filesystem_write\",\"path\":\"%s/from-json-1\","
             "  \"content\":{\"size\":\"1\"}},"
             " {\"type\":\"filesystem_write\",\"path\":\"%s/from-json-2\","
             "  \"content\":{\"size\":\"2\"}}]",
             prefix, prefix);
    int taken = vexfs_client_emit_json(c, json, 5000);
    if (taken < 0) {
        fprintf(stderr, "emit_batch: %s\n", vexfs_last_error());
        vexfs_client_close(&c, 0, NULL);
        return 1;
    }

    if (vexfs_client_flush(c, 10000) < 0) {
        fprintf(stderr, "emit_batch: %s\n", vexfs_last_error());
        vexfs_client_close(&c, 0, NULL);
        return 1;
    }
    struct vexfs_stats st = VEXFS_STATS_INIT;
    vexfs_client_stats(c, &st);
    printf("emitted %llu events, acknowledged %llu (resent %llu, lost %llu)\n",
           (unsigned long long)st.emitted_events, (unsigned long long)st.acked_events,
           (unsigned long long)st.resent_events, (unsigned long long)st.lost_events);
    return vexfs_client_close(&c, 1000, NULL) == 0 ? 0 : 1;
}
