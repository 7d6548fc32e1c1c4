/* SPDX-License-Identifier: Apache-2.0 */
/* vexfsctl tail: subscribes to an observer tap — propagation's (every event it publishes) or
 * routing's (the events routed to one boundary) — and prints every event as one compact JSON
 * line, so the stream can be piped into jq, grep or a file. It never reads a lossless
 * PUSH/PULL link: a reader there would take events away from their consumer.
 *
 * A tap is a PUB socket: a late subscriber misses what was published before it joined and
 * a slow one loses batches at its high-water mark, by design (observation must never slow the
 * pipeline). A message that is not a decodable batch is counted, not printed. */
#include <czmq.h>
#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ctl_opts.h"
#include "vx_event.h"
#include "vx_rx.h"
#include "vx_sock.h"
#include "vx_wire.h"

#define S_CMD "tail"
#define S_DEFAULT_ENDPOINT "tcp://127.0.0.1:5553"
#define S_ROUTING_TAP "tcp://127.0.0.1:5563"
#define S_BOUNDARY_MAX 64
#define S_ARENA_LIMIT (4ull * VX_WIRE_MAX_BATCH_BYTES) /* decoded form of the largest batch */
#define S_MAX_TIMEOUT_MS 86400000LL

static void
s_usage(FILE *f)
{
    fprintf(f,
            "usage: " CTL_PROG " tail [--endpoint EP] [--boundary NAME] [--count N]\n"
            "                     [--timeout-ms T]\n\n"
            "Subscribes to propagation's tap (topic \"%s\"), or with --boundary to routing's\n"
            "tap (topic \"%s.NAME\": what routing routes to that boundary), and prints each\n"
            "event as one compact JSON line on stdout. A tap loses batches for a slow reader\n"
            "and never takes events away from their consumers. Stops after N events, after T\n"
            "ms without any message, or on SIGINT/SIGTERM; exit status 0. A summary, including\n"
            "the number of messages that could not be decoded, goes to stderr.\n\n"
            "  -e, --endpoint EP     tap endpoint to connect to (env VEXFS_TAP_ENDPOINT,\n"
            "                        default %s; with --boundary, routing's tap_endpoint:\n"
            "                        env VEXFS_ROUTING_TAP_ENDPOINT, default %s)\n"
            "  -b, --boundary NAME   routing's events for boundary NAME\n"
            "  -n, --count N         stop after N events (default: no limit)\n"
            "  -t, --timeout-ms T    stop after T ms without a message (default: wait forever)\n"
            "      --help, --version\n",
            VX_WIRE_TOPIC, VX_WIRE_TOPIC, S_DEFAULT_ENDPOINT, S_ROUTING_TAP);
}

/* Prints the events of one batch, at most limit of them (0: all). Returns how many were
 * printed, or -errno when stdout failed (a closed pipe ends the command). */
static long long
s_print_batch(const vx_batch_t *b, long long limit)
{
    long long printed = 0;
    for (size_t i = 0; i < b->n_events && (limit == 0 || printed < limit); i++) {
        json_t *o = vx_event_to_json(b->events[i]);
        char *line = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        if (!line) {
            continue; /* jansson refused (out of memory): skip rather than print half */
        }
        fputs(line, stdout);
        fputc('\n', stdout);
        free(line);
        printed++;
    }
    if (fflush(stdout) != 0) {
        return -errno;
    }
    return printed;
}

/* What tail's options said. */
struct s_opts {
    const char *endpoint, *boundary;
    long long count, timeout_ms;
};

static void
cb_usage(FILE *f, void *arg)
{
    (void)arg;
    s_usage(f);
}

/* One of tail's options into o; 0, or CTL_EXIT_USAGE after saying why. */
static int
cb_opt(void *arg, int c, char *value, char **argv)
{
    (void)argv;
    struct s_opts *o = arg;
    switch (c) {
    case 'e':
        o->endpoint = value;
        return 0;
    case 'b':
        o->boundary = value;
        if (!value[0] || strlen(value) >= S_BOUNDARY_MAX) {
            ctl_err(S_CMD, "--boundary: expected a boundary name of 1 to %d characters",
                    S_BOUNDARY_MAX - 1);
            return CTL_EXIT_USAGE;
        }
        return 0;
    case 'p':
        ctl_err(S_CMD, "--pull is gone: a reader of a lossless link takes events away from "
                       "their consumer; use --boundary NAME (routing's tap) instead");
        return CTL_EXIT_USAGE;
    case 'n':
        return ctl_parse_int(S_CMD, "--count", value, 1, LLONG_MAX, &o->count) < 0
                   ? CTL_EXIT_USAGE
                   : 0;
    default: /* 't' */
        if (ctl_parse_int(S_CMD, "--timeout-ms", value, 1, S_MAX_TIMEOUT_MS, &o->timeout_ms) < 0) {
            return CTL_EXIT_USAGE;
        }
        return 0;
    }
}

/* Prints what sub receives on topic (compared exactly) as JSON lines until count events (0:
 * no limit), the socket's receive timeout, a signal, or the reader of stdout going away; then
 * the totals on stderr. Returns the exit status. */
static int
s_receive(zsock_t *sub, const char *topic, long long count)
{
    int status = CTL_EXIT_OK;
    struct vx_rx_opts ro = {.decode = true, .arena_limit = S_ARENA_LIMIT, .topic = topic};
    vx_rx_t *rx = vx_rx_new("tail", &ro, NULL);
    long long events = 0, batches = 0, undecodable = 0;
    while (!ctl_stop && (count == 0 || events < count)) {
        struct vx_rx_batch in;
        int rc = vx_rx_recv(rx, sub, &in, 0);
        if (rc == -EAGAIN) {
            break; /* --timeout-ms passed without a message */
        }
        if (rc == -EINTR) {
            continue;
        }
        if (rc == -EPROTO) {
            undecodable++;
            continue;
        }
        batches++;
        long long printed = s_print_batch(in.batch, count == 0 ? 0 : count - events);
        if (printed < 0) {
            /* The reader went away (e.g. "| head"): that ends tail, it is not a failure. */
            if (printed != -EPIPE) {
                ctl_err(S_CMD, "writing stdout: %s", strerror((int)-printed));
                status = CTL_EXIT_FAIL;
            }
            break;
        }
        events += printed;
    }
    fprintf(stderr, "received %lld events in %lld batches (%lld undecodable messages)\n", events,
            batches, undecodable);
    vx_rx_destroy(&rx);
    return status;
}

int
ctl_tail_main(int argc, char **argv)
{
    static const struct option own[] = {
        {"endpoint", required_argument, NULL, 'e'},
        {"boundary", required_argument, NULL, 'b'},
        {"pull", no_argument, NULL, 'p'},
        {"count", required_argument, NULL, 'n'},
        {"timeout-ms", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    struct s_opts o = {.timeout_ms = -1};
    const struct ctl_optdef d = {
        .cmd = S_CMD,
        .common = CTL_COMMON_NO_ARGS,
        .own = own,
        .own_short = "e:b:n:t:",
        .on_opt = cb_opt,
        .usage = cb_usage,
        .arg = &o,
    };
    struct ctl_common co;
    int code;
    if (!ctl_opts_parse(&d, argc, argv, &co, &code)) {
        return code;
    }
    const char *endpoint = o.endpoint, *boundary = o.boundary;
    long long count = o.count, timeout_ms = o.timeout_ms;

    vx_socks_t *socks = ctl_socks(S_CMD);
    if (!socks) {
        return CTL_EXIT_FAIL;
    }
    /* "events.NAME" is also a prefix of "events.NAMEx": the topic is compared exactly below. */
    char topic[S_BOUNDARY_MAX + 16];
    snprintf(topic, sizeof topic, "%s%s%s", VX_WIRE_TOPIC, boundary ? "." : "",
             boundary ? boundary : "");
    if (!endpoint) {
        const char *env = getenv(boundary ? "VEXFS_ROUTING_TAP_ENDPOINT" : "VEXFS_TAP_ENDPOINT");
        endpoint = env && *env ? env : boundary ? S_ROUTING_TAP : S_DEFAULT_ENDPOINT;
    }
    struct vx_sock_spec spec = {
        .type = ZMQ_SUB,
        .endpoint = endpoint,
        .subscribe = topic,
        .rcvtimeo_ms = (int)timeout_ms,
    };
    char err[512];
    zsock_t *sub = vx_sock_open(socks, &spec, NULL, 0, err, sizeof err);
    if (!sub) {
        ctl_err(S_CMD, "--endpoint: %s", err);
        vx_socks_destroy(&socks);
        return CTL_EXIT_USAGE;
    }

    int status = s_receive(sub, topic, count);
    zsock_destroy(&sub);
    vx_socks_destroy(&socks);
    return status;
}
