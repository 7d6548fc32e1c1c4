/* SPDX-License-Identifier: Apache-2.0 */
/* Example: emit one event and wait until propagation acknowledged it.
 *
 *     emit_event [PATH] [SIZE]
 *
 * The settings come from the environment, as for every program of the suite:
 * VEXFS_SECURITY_KEYS_DIR and VEXFS_SECURITY_IDENTITY (the CURVE key this program presents),
 * VEXFS_CLIENT_INGEST_ENDPOINT (propagation's ingest_acked_endpoint), and so on. */
#include <stdio.h>
#include <stdlib.h>

#include <vexfs/client.h>

int
main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "/examples/a.txt";
    const char *size = argc > 2 ? argv[2] : "4096";

    vexfs_config_t *cfg = vexfs_config_new();
    vexfs_client_t *c = vexfs_client_new(cfg);
    vexfs_config_destroy(&cfg);
    if (!c) {
        fprintf(stderr, "emit_event: %s\n", vexfs_last_error());
        return 1;
    }

    struct vexfs_kv content[] = {{"size", size}};
    struct vexfs_event ev = VEXFS_EVENT_INIT;
    ev.type = "filesystem_write";
    ev.source = "userspace_api";
    ev.path = path;
    ev.content = content;
    ev.n_content = 1;

    /* Buffered at once (waiting up to 1 s if the buffer is full), then acknowledged. */
    int rc = vexfs_client_emit(c, &ev, 1000);
    if (rc == 0) {
        rc = vexfs_client_flush(c, 10000);
    }
    if (rc < 0) {
        fprintf(stderr, "emit_event: %s\n", vexfs_last_error());
        vexfs_client_close(&c, 0, NULL);
        return 1;
    }
    printf("acknowledged 1 event: filesystem_write %s\n", path);
    return vexfs_client_close(&c, 1000, NULL) == 0 ? 0 : 1;
}
