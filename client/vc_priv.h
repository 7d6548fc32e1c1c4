/* SPDX-License-Identifier: Apache-2.0 */
/* libvexfs internals (prefix vc_): the client section, the client's state shared by its
 * files, and the helpers between them. Nothing here is exported from the library: only the
 * vexfs_ functions of include/vexfs/client.h are.
 *
 * Files: vc_config.c (configuration), vc_client.c (life cycle and the I/O thread that owns the
 * link to propagation), vc_emit.c (events into batches, flush), vc_event.c (a struct vexfs_event
 * or JSON into a packed Event), vc_tap.c (taps), vc_http.c (admin REST calls), vc_answer.c (their
 * answers decoded), vc_error.c (the per-thread error message). */
#ifndef VC_PRIV_H
#define VC_PRIV_H

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vexfs/client.h"
#include "vx_config.h"
#include "vx_link.h"
#include "vx_metrics.h"
#include "vx_sock.h"
#include "vx_wire.h"

#define VC_SECTION "client"

/* The services a client calls, in the order of their default ports (8080..8084). */
enum vc_service {
    VC_PROPAGATION,
    VC_ROUTING,
    VC_COORDINATOR,
    VC_AUTOMATION,
    VC_ANALYTICS,
    VC_N_SERVICES
};
extern const char *const vc_service_names[VC_N_SERVICES];

/* The client section, bound (strings borrowed from the vx_config_t). */
struct vc_config {
    const char *ingest_endpoint;
    const char *tap_endpoint;
    const char *secret_key_file;
    const char *server_key_file;
    const char *ca_file;
    const char *client_cert_file;
    const char *client_key_file;
    const char *token;
    const char *token_file;
    const char *tenant;
    const char *url[VC_N_SERVICES];
    const char *producer_id;
    int32_t batch_max_events;
    int32_t batch_max_bytes;
    int32_t batch_max_delay_ms;
    int32_t buffer_max_batches;
    int32_t ack_window_batches;
    int32_t ack_timeout_ms;
    int32_t retry_interval_ms;
    int32_t http_timeout_ms;
    int32_t max_response_bytes;
    const char *log_level;
};
extern const struct vx_cfg_section vc_cfg_section;

/* The sections a client reads, for vx_config_from_json. */
extern const struct vx_cfg_section *const vc_sections[3];

struct vexfs_config {
    json_t *doc; /* {section: {key: value}}: what the file and vexfs_config_set gave */
};

/* Builds the effective configuration of cfg (environment applied, validated). Returns 0 and
 * *out (caller owns), or -EINVAL with the message set. */
int vc_config_build(const vexfs_config_t *cfg, vx_config_t **out);

/* The HTTPS settings of a client: URLs checked at vexfs_client_new, the files they name read
 * at the first call. */
struct vc_http {
    char url[VC_N_SERVICES][1024];
    char *token;               /* NULL: none (read from token_file at the first call) */
    char token_file[4200];
    bool cert_optional;        /* cert_file is the identity's default: used when it exists */
    bool ready;                /* the files were read and checked (guarded by mu) */
    char ca_file[4200];        /* "": the system's store (plain http or an explicit https) */
    char cert_file[4200];      /* "": no client certificate */
    char key_file[4200];
    char tenant[128];
    long timeout_ms;
    size_t max_response;
    pthread_mutex_t mu;        /* guards the pool of idle curl handles */
    void *idle[4];
    size_t n_idle;
};

struct vexfs_client {
    vx_config_t *cfg;
    struct vc_config cc;
    struct vx_security_config sec;
    struct vx_transport_config tc;
    vx_socks_t *socks;
    struct vc_http http;
    char sender[300];          /* batches' sender id */

    /* The emitting side: everything below is guarded by mu. The I/O thread owns the link's
     * sockets and calls vx_link_pump; emitters only add to `cur` and put sealed batches into the
     * link's buffer (vx_link_put_batch touches no socket). */
    pthread_mutex_t mu;
    pthread_cond_t cv;         /* progress: room in the buffer, batches done, thread started */
    bool started, starting, stop;
    int start_rc;
    char start_err[600];
    pthread_t thread;
    int wake_fd;               /* eventfd: emitters wake the I/O thread */
    vx_metrics_t *metrics;     /* the link's counters (never exposed) */
    vx_link_t *link;
    struct vx_batchbuf cur;    /* the open batch */
    uint64_t cur_first_ns;     /* when its first event came */
    uint64_t emitted, refused, full_waits, full_timeouts;
    uint64_t lost_reported;    /* link drops already reported by a flush */
    uint64_t abandoned;        /* set by the I/O thread when it stops */
};

/* Starts the I/O thread if it is not running (mu held). Returns 0 or -errno with the message
 * set. */
int vc_client_start_locked(vexfs_client_t *c);
/* Seals the open batch into the link (mu held, thread started, cur.n > 0) and wakes the
 * thread. */
void vc_client_seal_locked(vexfs_client_t *c);
/* Wakes the I/O thread. */
void vc_client_wake(vexfs_client_t *c);

/* Event conversion (vc_event.c). Each packs one valid event into *out (caller frees) or
 * returns -EINVAL with the message in err (the field named). */
int vc_event_pack(const struct vexfs_event *ev, uint8_t **out, size_t *len, char *err,
                  size_t errlen);
int vc_event_pack_json(json_t *obj, uint8_t **out, size_t *len, char *err, size_t errlen);

/* HTTP settings from the configuration (URLs checked; files are read at the first call).
 * Returns 0 or -errno with the message set. */
int vc_http_init(struct vc_http *h, const struct vc_config *cc,
                 const struct vx_security_config *sec);
void vc_http_fini(struct vc_http *h);

/* Sets the calling thread's message (vexfs_last_error) and returns rc (a negative errno). */
int vc_fail(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
