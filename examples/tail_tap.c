/* SPDX-License-Identifier: Apache-2.0 */
/* Example: print the events a tap publishes, one JSON line each.
 *
 *     tail_tap [COUNT] [TIMEOUT_MS] [ENDPOINT]
 *
 * Subscribes to ENDPOINT (default: the client's tap_endpoint, propagation's tap) and prints
 * events until COUNT arrived (default 10) or TIMEOUT_MS passed without one (default 10000). A
 * tap is an observer: it sees what is published after it subscribed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <vexfs/client.h>

int
main(int argc, char **argv)
{
    int count = argc > 1 ? atoi(argv[1]) : 10;
    int timeout_ms = argc > 2 ? atoi(argv[2]) : 10000;
    const char *endpoint = argc > 3 ? argv[3] : NULL;

    vexfs_config_t *cfg = vexfs_config_new();
    vexfs_client_t *c = vexfs_client_new(cfg);
    vexfs_config_destroy(&cfg);
    if (!c) {
        fprintf(stderr, "tail_tap: %s\n", vexfs_last_error());
        return 1;
    }
    vexfs_tap_t *tap = vexfs_tap_open(c, endpoint);
    if (!tap) {
        fprintf(stderr, "tail_tap: %s\n", vexfs_last_error());
        vexfs_client_close(&c, 0, NULL);
        return 1;
    }
    fprintf(stderr, "tail_tap: subscribed\n");

    int received = 0, status = 0;
    while (received < count) {
        char *json = NULL;
        int rc = vexfs_tap_next(tap, timeout_ms, &json);
        if (rc == -ETIMEDOUT) {
            break;
        }
        if (rc < 0) {
            fprintf(stderr, "tail_tap: %s\n", vexfs_last_error());
            status = 1;
            break;
        }
        printf("%s\n", json);
        fflush(stdout);
        vexfs_free(json);
        received++;
    }
    uint64_t missed = 0, undecodable = 0;
    vexfs_tap_missed(tap, &missed, &undecodable);
    fprintf(stderr, "tail_tap: received %d events (%llu batches missed, %llu undecodable)\n",
            received, (unsigned long long)missed, (unsigned long long)undecodable);
    vexfs_tap_close(&tap);
    vexfs_client_close(&c, 0, NULL);
    return status;
}
