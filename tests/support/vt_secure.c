/* SPDX-License-Identifier: Apache-2.0 */
/* The test process's security material, so tests run the suite as production does: CURVE on
 * every ZeroMQ link, HTTPS on every REST server.
 *
 * Before main, each test program makes a folder with a CURVE key set (vexfsctl keys init's
 * layout: server, one identity per program of the suite plus "test", all authorized) and a
 * TLS set (vexfsctl certs init's: an authority, a server certificate for 127.0.0.1, localhost
 * and ::1, client certificates "test" and "ctl"), a credentials file making those two
 * certificates admins, an audit signing key (keys/audit.key), an audit folder and a data key
 * for encryption at rest (data-keys/data-1.key), and points VEXFS_SECURITY_KEYS_DIR,
 * VEXFS_SECURITY_TLS_DIR, VEXFS_SECURITY_CREDENTIALS_FILE, VEXFS_SECURITY_AUDIT_DIR and
 * VEXFS_AT_REST_DATA_KEYS_DIR at them. Daemons and tools the test starts inherit the
 * environment. */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vx_audit.h"
#include "vx_keys.h"
#include "vx_seal.h"
#include "vx_sock.h"
#include "vx_tls.h"
#include "vx_test.h"

static char s_root[256];
static pid_t s_maker;
static char s_keys[300];
static char s_tls[300];

static const char *const s_identities[] = {
    "propagation", "routing", "coordinator", "automation", "analytics", "forwarder",
    "fuse",        "watch",   "ctl",         "test",
};

static void
s_die(const char *what, const char *err)
{
    fprintf(stderr, "test security material: %s: %s\n", what, err);
    exit(99);
}

static void
s_copy(const char *src, const char *dst)
{
    FILE *in = fopen(src, "r"), *out = fopen(dst, "w");
    if (!in || !out) {
        s_die(dst, strerror(errno));
    }
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        fwrite(buf, 1, n, out);
    }
    fclose(in);
    fclose(out);
}

static void
s_make(void)
{
    char err[1024], path[700], dst[800];
    snprintf(s_root, sizeof s_root, "%s/vexfs-test-secure.XXXXXX", vt_tmp_root());
    if (!mkdtemp(s_root)) {
        s_die(s_root, strerror(errno));
    }
    snprintf(s_keys, sizeof s_keys, "%s/keys", s_root);
    snprintf(s_tls, sizeof s_tls, "%s/tls", s_root);
    snprintf(path, sizeof path, "%s/authorized", s_keys);
    if (mkdir(s_keys, 0700) < 0 || mkdir(path, 0700) < 0 || mkdir(s_tls, 0700) < 0) {
        s_die(s_root, strerror(errno));
    }
    if (vx_keys_generate(s_keys, "server", err, sizeof err) < 0) {
        s_die("server key", err);
    }
    for (size_t i = 0; i < sizeof s_identities / sizeof s_identities[0]; i++) {
        if (vx_keys_generate(s_keys, s_identities[i], err, sizeof err) < 0) {
            s_die(s_identities[i], err);
        }
        snprintf(path, sizeof path, "%s/%s.pub", s_keys, s_identities[i]);
        snprintf(dst, sizeof dst, "%s/authorized/%s.pub", s_keys, s_identities[i]);
        s_copy(path, dst);
    }
    const char *hosts[] = {"127.0.0.1", "localhost", "::1"};
    if (vx_tls_make_ca(s_tls, "ca", err, sizeof err) < 0 ||
        vx_tls_make_cert(s_tls, "server", "ca", hosts, 3, true, err, sizeof err) < 0 ||
        vx_tls_make_cert(s_tls, "test", "ca", NULL, 0, false, err, sizeof err) < 0 ||
        vx_tls_make_cert(s_tls, "ctl", "ca", NULL, 0, false, err, sizeof err) < 0) {
        s_die("TLS certificates", err);
    }
    /* REST credentials: the test's and vexfsctl's client certificates are admins of every
     * tenant; the audit log's signing key and folder. */
    char creds[400], audit[400];
    snprintf(creds, sizeof creds, "%s/credentials.yaml", s_root);
    snprintf(audit, sizeof audit, "%s/audit", s_root);
    if (vt_write_file(creds, "credentials:\n"
                             "  - {name: test, role: admin, tenants: [\"*\"], certificate_cn: test}\n"
                             "  - {name: ctl, role: admin, tenants: [\"*\"], certificate_cn: ctl}\n") <
            0 ||
        mkdir(audit, 0700) < 0) {
        s_die(creds, strerror(errno));
    }
    if (vx_audit_keygen(s_keys, "audit", err, sizeof err) < 0) {
        s_die("audit key", err);
    }
    /* Data keys for encryption at rest. */
    char data_keys[400];
    uint32_t data_id;
    snprintf(data_keys, sizeof data_keys, "%s/data-keys", s_root);
    if (vx_seal_key_generate(data_keys, &data_id, err, sizeof err) < 0) {
        s_die("data key", err);
    }
    setenv("VEXFS_AT_REST_DATA_KEYS_DIR", data_keys, 1);
    setenv("VEXFS_SECURITY_KEYS_DIR", s_keys, 1);
    setenv("VEXFS_SECURITY_TLS_DIR", s_tls, 1);
    setenv("VEXFS_SECURITY_CREDENTIALS_FILE", creds, 1);
    setenv("VEXFS_SECURITY_AUDIT_DIR", audit, 1);
}

static int
cb_unlink(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Only the process that made the folder removes it: Check's forked tests exit too. */
static void
cb_remove(void)
{
    if (getpid() == s_maker && s_root[0]) {
        nftw(s_root, cb_unlink, 16, FTW_DEPTH | FTW_PHYS);
    }
}

/* Before main, and before Check forks the tests: each test inherits the folder. */
__attribute__((constructor)) static void
cb_make_material(void)
{
    if (getenv("VT_NO_SECURITY_MATERIAL")) { /* programs that only want the helpers */
        return;
    }
    s_make();
    s_maker = getpid();
    atexit(cb_remove);
}

const char *
vt_keys_dir(void)
{
    return s_keys;
}

const char *
vt_tls_dir(void)
{
    return s_tls;
}

static char s_client[64] = "test";

const char *
vt_tls_client(void)
{
    return s_client;
}

void
vt_secure_use(const char *keys_dir, const char *tls_dir, const char *client)
{
    snprintf(s_keys, sizeof s_keys, "%s", keys_dir);
    snprintf(s_tls, sizeof s_tls, "%s", tls_dir);
    snprintf(s_client, sizeof s_client, "%s", client);
}

static vx_socks_t *s_factories[2]; /* vt_sock_ex's, CURVE and plain; one per test process */
static pid_t s_factory_owner[2];

/* At exit, the process that made a factory closes it (its ZAP handler's socket included), so
 * CZMQ finds no socket left open. */
static void
cb_close_factories(void)
{
    for (int k = 0; k < 2; k++) {
        if (s_factories[k] && s_factory_owner[k] == getpid()) {
            vx_socks_destroy(&s_factories[k]);
        }
    }
}

vx_socks_t *
vt_socks(bool plain)
{
    int k = plain ? 1 : 0;
    /* Threads of one test (a collector beside the main thread) may open their first socket
     * at the same time: one factory of each kind, made once. */
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&lock);
    vx_socks_t *socks = s_factories[k];
    if (!socks || s_factory_owner[k] != getpid()) {
        char err[512];
        struct vx_transport_config tc = {1000, 0, 64 * 1024 * 1024 + 4096, 0};
        /* Identity "ctl": the suite's operator tool, which propagation's built-in producer
         * policy lets send events of any source and tenant, as tests do. */
        struct vx_security_config sc = {plain ? "off" : "required", s_keys, "ctl", "required",
                                        s_tls, false, "", "", "", false};
        socks = vx_socks_new(&tc, &sc, "ctl", NULL, err, sizeof err);
        s_factories[k] = socks;
        s_factory_owner[k] = getpid();
        /* After CZMQ's own exit handler, so this one runs first: zsys_init registers that one
         * (once) if no socket of the process has yet, as when the factory's ZAP handler starts
         * only with its first bound socket. */
        static pid_t registered;
        if (socks && registered != getpid()) {
            registered = getpid();
            zsys_init();
            atexit(cb_close_factories);
        }
        if (!socks) {
            s_die("socket factory", err);
        }
    }
    pthread_mutex_unlock(&lock);
    return socks;
}

zsock_t *
vt_sock_ex(const struct vt_sock_opts *o)
{
    vx_socks_t *socks = vt_socks(o->plain);
    char err[512], bound[256];
    struct vx_sock_spec spec = {.type = o->type, .endpoint = o->endpoint, .bind = o->bind,
                                .subscribe = o->subscribe ? o->subscribe : "",
                                .sndhwm = o->hwm, .rcvhwm = o->hwm, .linger_ms = o->linger_ms,
                                .rcvtimeo_ms = o->rcvtimeo_ms, .sndtimeo_ms = o->sndtimeo_ms,
                                .immediate = o->immediate,
                                .reconnect_ivl_ms = o->reconnect_ivl_ms,
                                .watch = o->wait_connected_ms > 0};
    zsock_t *s = vx_sock_open(socks, &spec, bound, sizeof bound, err, sizeof err);
    if (!s) {
        fprintf(stderr, "vt_sock %s: %s\n", o->endpoint, err);
        return NULL;
    }
    if (o->wait_connected_ms > 0 && !o->bind) {
        int waited = 0;
        while (vx_sock_handshakes(socks, s) == 0 && waited < o->wait_connected_ms) {
            usleep(10000);
            waited += 10;
        }
        if (vx_sock_handshakes(socks, s) == 0) {
            fprintf(stderr, "vt_sock %s: no completed handshake within %d ms\n", o->endpoint,
                    o->wait_connected_ms);
            zsock_destroy(&s);
            return NULL;
        }
        /* The subscription follows the handshake on the same connection; the publisher's
         * I/O thread reads it soon after. */
        usleep(100000);
    }
    if (o->port) {
        const char *colon = strrchr(bound, ':');
        *o->port = colon ? atoi(colon + 1) : -1;
    }
    return s;
}

zsock_t *
vt_sock(int type, const char *endpoint, bool bind)
{
    return vt_sock_ex(&(struct vt_sock_opts){.type = type, .endpoint = endpoint, .bind = bind});
}
