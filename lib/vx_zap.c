/* SPDX-License-Identifier: Apache-2.0 */
/* A ZAP handler over a keyring (see vx_zap.h). */
#include "vx_zap.h"

#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "vx_clock.h"
#include "vx_log.h"
#include "vx_mem.h"

#define S_ENDPOINT "inproc://zeromq.zap.01" /* fixed by RFC 27 */
#define S_POLL_MS 100
#define S_LOG_EVERY_NS (10 * VX_NS_PER_S)   /* refusals logged at most this often */

struct vx_zap {
    vx_keyring_t *ring;
    zsock_t *rep;
    pthread_t thread;
    atomic_bool stop;
    atomic_uint_fast64_t refused, admitted;
    vx_counter_t *c_unknown, *c_mechanism, *c_admitted;
    uint64_t last_log_ns;
    uint64_t unlogged;
};

/* Reads the frames of one request: version, request id, domain, address, routing id,
 * mechanism, then the credentials (a 32-byte key for CURVE). */
static void
s_handle(vx_zap_t *z, zmsg_t *req)
{
    char *version = zmsg_popstr(req);
    char *rid = zmsg_popstr(req);
    char *domain = zmsg_popstr(req);
    char *address = zmsg_popstr(req);
    zframe_t *identity = zmsg_pop(req);
    char *mechanism = zmsg_popstr(req);
    zframe_t *cred = zmsg_pop(req);
    const char *user = "";
    const char *status = "400";
    const char *text = "not admitted";
    char key[VX_KEY_TXT] = "";
    bool curve = mechanism && strcmp(mechanism, "CURVE") == 0;
    if (version && strcmp(version, "1.0") == 0 && curve && cred && zframe_size(cred) == 32) {
        zmq_z85_encode(key, zframe_data(cred), 32);
        const char *name = vx_keyring_name(z->ring, key);
        if (name) {
            user = name;
            status = "200";
            text = "OK";
        }
    }
    if (status[0] == '2') {
        atomic_fetch_add(&z->admitted, 1);
        if (z->c_admitted) {
            vx_counter_add(z->c_admitted, 1);
        }
        vx_debug("ZAP-ADMIT", "%s admitted from %s (domain %s)", user, address ? address : "?",
                 domain ? domain : "");
    } else {
        atomic_fetch_add(&z->refused, 1);
        vx_counter_t *c = curve ? z->c_unknown : z->c_mechanism;
        if (c) {
            vx_counter_add(c, 1);
        }
        uint64_t now = vx_mono_ns();
        if (now - z->last_log_ns >= S_LOG_EVERY_NS) {
            vx_warn("ZAP-REFUSE",
                    "refused %s client from %s (domain %s)%s%s; %llu more refused since the last "
                    "report",
                    curve ? "an unlisted CURVE" : "a non-CURVE", address ? address : "?",
                    domain ? domain : "", key[0] ? ", key " : "", key,
                    (unsigned long long)z->unlogged);
            z->last_log_ns = now;
            z->unlogged = 0;
        } else {
            z->unlogged++;
        }
    }
    zmsg_t *rep = zmsg_new();
    zmsg_addstr(rep, "1.0");
    zmsg_addstr(rep, rid ? rid : "");
    zmsg_addstr(rep, status);
    zmsg_addstr(rep, text);
    zmsg_addstr(rep, user);
    zmsg_addmem(rep, "", 0); /* no metadata */
    if (zmsg_send(&rep, z->rep) != 0) {
        zmsg_destroy(&rep);
    }
    free(version);
    free(rid);
    free(domain);
    free(address);
    free(mechanism);
    zframe_destroy(&identity);
    zframe_destroy(&cred);
}

static void *
s_main(void *arg)
{
    vx_zap_t *z = arg;
    zpoller_t *p = zpoller_new(z->rep, NULL);
    while (!atomic_load(&z->stop)) {
        if (zpoller_wait(p, S_POLL_MS) == NULL) {
            continue;
        }
        zmsg_t *req = zmsg_recv(z->rep);
        if (req) {
            s_handle(z, req);
            zmsg_destroy(&req);
        }
    }
    zpoller_destroy(&p);
    return NULL;
}

vx_zap_t *
vx_zap_start(vx_keyring_t *ring, vx_metrics_t *metrics, char *err, size_t errlen)
{
    vx_zap_t *z = vx_calloc(1, sizeof *z);
    z->ring = ring;
    /* The one socket of the suite not made by vx_sock_open: the handler's end of libzmq's own
     * in-process protocol, with no security of its own. */
    z->rep = zsock_new(ZMQ_REP);
    if (!z->rep || zsock_bind(z->rep, S_ENDPOINT) < 0) {
        snprintf(err, errlen, "cannot bind the ZAP handler at %s: %s", S_ENDPOINT,
                 zmq_strerror(zmq_errno()));
        zsock_destroy(&z->rep);
        vx_keyring_destroy(&z->ring);
        free(z);
        return NULL;
    }
    if (metrics) {
        const char *h = "ZeroMQ connections refused by the ZAP handler, by reason.";
        z->c_unknown = vx_metrics_counter(metrics, "vexfs_zmq_auth_refused_total", h, "reason",
                                          "unknown_key", NULL);
        z->c_mechanism = vx_metrics_counter(metrics, "vexfs_zmq_auth_refused_total", h,
                                            "reason", "not_curve", NULL);
        z->c_admitted = vx_metrics_counter(metrics, "vexfs_zmq_auth_admitted_total",
                                           "ZeroMQ connections admitted by the ZAP handler.",
                                           NULL);
    }
    if (pthread_create(&z->thread, NULL, s_main, z) != 0) {
        snprintf(err, errlen, "cannot start the ZAP handler thread");
        zsock_destroy(&z->rep);
        vx_keyring_destroy(&z->ring);
        free(z);
        return NULL;
    }
    return z;
}

void
vx_zap_stop(vx_zap_t **zp)
{
    if (!zp || !*zp) {
        return;
    }
    vx_zap_t *z = *zp;
    atomic_store(&z->stop, true);
    pthread_join(z->thread, NULL);
    zsock_destroy(&z->rep);
    vx_keyring_destroy(&z->ring);
    vx_free(zp);
}

uint64_t
vx_zap_refused(const vx_zap_t *z)
{
    return atomic_load(&z->refused);
}

uint64_t
vx_zap_admitted(const vx_zap_t *z)
{
    return atomic_load(&z->admitted);
}
