/* SPDX-License-Identifier: Apache-2.0 */
/* The hash-chained, signed audit log (see vx_audit.h). */
#include "vx_audit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "vx_clock.h"
#include "vx_creds.h"
#include "vx_mem.h"

#define S_ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
#define S_LINE_MAX (64 * 1024)
#define S_DEFAULT_MAX_BYTES (64ull * 1024 * 1024)

struct vx_audit {
    pthread_mutex_t mu;
    pthread_cond_t synced; /* signalled when syncing drops to 0 */
    unsigned syncing;      /* appenders syncing outside the lock: the fd must stay open */
    char path[4096];
    char service[128];
    int fd;
    uint64_t size;
    uint64_t max_bytes;
    uint64_t seq;           /* of the last line written */
    uint64_t first_seq;     /* of this file's first line */
    char prev[65];          /* hash of the last line written */
    unsigned since_checkpoint;
    unsigned checkpoint_lines;
    uint64_t checkpoint_ns;
    uint64_t last_checkpoint;
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
    char pk_hex[2 * crypto_sign_PUBLICKEYBYTES + 1];
};

/* Reads a hex key file into out (len bytes). */
static int
s_read_hex(const char *path, unsigned char *out, size_t len, bool secret, char *err,
           size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -errno;
    }
    struct stat st;
    if (secret && fstat(fileno(f), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO))) {
        fclose(f);
        snprintf(err, errlen, "%s: a secret key must be readable by its owner only (chmod 600)",
                 path);
        return -EPERM;
    }
    char buf[512];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) {
        buf[--n] = '\0';
    }
    size_t got = 0;
    if (sodium_hex2bin(out, len, buf, n, NULL, &got, NULL) != 0 || got != len) {
        snprintf(err, errlen, "%s: expected %zu bytes in hex", path, len);
        return -EINVAL;
    }
    return 0;
}

int
vx_audit_keygen(const char *dir, const char *name, char *err, size_t errlen)
{
    vx_crypto_init();
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair(pk, sk);
    char hex[2 * crypto_sign_SECRETKEYBYTES + 2];
    char path[VX_PATH_MAX];
    const struct {
        const char *ext;
        const unsigned char *data;
        size_t len;
        mode_t mode;
    } files[] = {{"key", sk, sizeof sk, 0600}, {"pub", pk, sizeof pk, 0644}};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s.%s", dir, name, files[i].ext);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, files[i].mode);
        if (fd < 0) {
            int e = errno;
            snprintf(err, errlen, "%s: %s", path,
                     e == EEXIST ? "exists (not overwritten)" : strerror(e));
            return -e;
        }
        sodium_bin2hex(hex, sizeof hex, files[i].data, files[i].len);
        size_t n = strlen(hex);
        hex[n++] = '\n';
        bool ok = write(fd, hex, n) == (ssize_t)n && fsync(fd) == 0;
        close(fd);
        if (!ok) {
            snprintf(err, errlen, "%s: cannot write", path);
            return -EIO;
        }
    }
    sodium_memzero(sk, sizeof sk);
    return 0;
}

static void
s_now(char out[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* What a checkpoint signs: the position and the hash of the chain up to it. */
static void
s_sig_message(char *out, size_t len, uint64_t seq, const char *prev)
{
    snprintf(out, len, "vexfs-audit-checkpoint|%llu|%s", (unsigned long long)seq, prev);
}

/* Writes one line (lock held): fills seq and prev, hashes it, appends it. */
static int
s_write(vx_audit_t *a, json_t *line)
{
    json_object_set_new(line, "prev", json_string(a->prev));
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text) {
        return -ENOMEM;
    }
    size_t n = strlen(text);
    /* One write for the line and its newline: concurrent readers never see half a line. */
    struct iovec iov[2] = {{text, n}, {(void *)"\n", 1}};
    ssize_t w = writev(a->fd, iov, 2);
    int rc = w == (ssize_t)(n + 1) ? 0 : -EIO;
    if (rc == 0) {
        vx_sha256_hex(text, n, a->prev);
        a->size += n + 1;
    }
    free(text);
    return rc;
}

static json_t *
s_line(vx_audit_t *a)
{
    char t[32];
    s_now(t);
    json_t *o = json_object();
    json_object_set_new(o, "seq", json_integer((json_int_t)++a->seq));
    json_object_set_new(o, "time", json_string(t));
    return o;
}

static int
s_checkpoint(vx_audit_t *a)
{
    json_t *o = s_line(a);
    char msg[200];
    s_sig_message(msg, sizeof msg, a->seq, a->prev);
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const unsigned char *)msg, strlen(msg), a->sk);
    char sig_hex[2 * crypto_sign_BYTES + 1];
    sodium_bin2hex(sig_hex, sizeof sig_hex, sig, sizeof sig);
    json_object_set_new(o, "checkpoint", json_pack("{s:s, s:s}", "signature", sig_hex,
                                                   "public_key", a->pk_hex));
    int rc = s_write(a, o);
    json_decref(o);
    a->since_checkpoint = 0;
    a->last_checkpoint = vx_mono_ns();
    return rc;
}

/* Renames the full file away and starts a new one that continues the chain (lock held). */
static int
s_rotate(vx_audit_t *a)
{
    s_checkpoint(a);
    while (a->syncing) {
        pthread_cond_wait(&a->synced, &a->mu);
    }
    fdatasync(a->fd);
    char old[VX_PATH_MAX];
    snprintf(old, sizeof old, "%s.%llu-%llu", a->path, (unsigned long long)a->first_seq,
             (unsigned long long)a->seq);
    if (rename(a->path, old) < 0) {
        return -errno;
    }
    close(a->fd);
    a->fd = open(a->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (a->fd < 0) {
        return -errno;
    }
    a->size = 0;
    a->first_seq = a->seq + 1;
    json_t *o = s_line(a);
    const char *base = strrchr(old, '/');
    json_object_set_new(o, "rotated_from", json_string(base ? base + 1 : old));
    int rc = s_write(a, o);
    json_decref(o);
    return rc;
}

/* Reads the last line of an existing log to continue its chain. */
static int
s_resume(vx_audit_t *a, char *err, size_t errlen)
{
    FILE *f = fopen(a->path, "r");
    if (!f) {
        return errno == ENOENT ? 0 : -errno;
    }
    char *line = vx_malloc(S_LINE_MAX);
    char last[S_LINE_MAX];
    last[0] = '\0';
    bool first = true;
    while (fgets(line, S_LINE_MAX, f)) {
        size_t n = strlen(line);
        if (n && line[n - 1] == '\n') {
            line[--n] = '\0';
        }
        if (first) {
            json_t *o = json_loads(line, 0, NULL);
            a->first_seq = (uint64_t)json_integer_value(json_object_get(o, "seq"));
            json_decref(o);
            first = false;
        }
        memcpy(last, line, n + 1);
    }
    fclose(f);
    free(line);
    if (!last[0]) {
        return 0;
    }
    json_t *o = json_loads(last, 0, NULL);
    json_t *seq = json_object_get(o, "seq");
    if (!json_is_integer(seq)) {
        json_decref(o);
        snprintf(err, errlen, "%s: the last line is not an audit record (truncated?): "
                              "move the file away to start a new log", a->path);
        return -EINVAL;
    }
    a->seq = (uint64_t)json_integer_value(seq);
    vx_sha256_hex(last, strlen(last), a->prev);
    json_decref(o);
    struct stat st;
    if (stat(a->path, &st) == 0) {
        a->size = (uint64_t)st.st_size;
    }
    return 0;
}

vx_audit_t *
vx_audit_open(const struct vx_audit_opts *o, char *err, size_t errlen)
{
    vx_crypto_init();
    vx_audit_t *a = vx_calloc(1, sizeof *a);
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->synced, NULL);
    a->fd = -1;
    snprintf(a->path, sizeof a->path, "%s", o->path);
    snprintf(a->service, sizeof a->service, "%s", o->service ? o->service : "");
    a->max_bytes = o->max_bytes ? o->max_bytes : S_DEFAULT_MAX_BYTES;
    a->checkpoint_lines = o->checkpoint_lines ? o->checkpoint_lines : 100;
    a->checkpoint_ns = (uint64_t)(o->checkpoint_ms ? o->checkpoint_ms : 10000) * VX_NS_PER_MS;
    a->first_seq = 1;
    memcpy(a->prev, S_ZERO_HASH, 65);
    if (s_read_hex(o->key_file, a->sk, sizeof a->sk, true, err, errlen) < 0) {
        goto fail;
    }
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    crypto_sign_ed25519_sk_to_pk(pk, a->sk);
    sodium_bin2hex(a->pk_hex, sizeof a->pk_hex, pk, sizeof pk);
    int rc = s_resume(a, err, errlen);
    if (rc < 0) {
        if (!err[0]) {
            snprintf(err, errlen, "%s: %s", a->path, strerror(-rc));
        }
        goto fail;
    }
    a->fd = open(a->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (a->fd < 0) {
        snprintf(err, errlen, "%s: %s", a->path, strerror(errno));
        goto fail;
    }
    a->last_checkpoint = vx_mono_ns();
    return a;
fail:
    sodium_memzero(a->sk, sizeof a->sk);
    pthread_cond_destroy(&a->synced);
    pthread_mutex_destroy(&a->mu);
    free(a);
    return NULL;
}

void
vx_audit_close(vx_audit_t **ap)
{
    if (!ap || !*ap) {
        return;
    }
    vx_audit_t *a = *ap;
    if (a->fd >= 0) {
        s_checkpoint(a);
        fdatasync(a->fd);
        close(a->fd);
    }
    sodium_memzero(a->sk, sizeof a->sk);
    pthread_cond_destroy(&a->synced);
    pthread_mutex_destroy(&a->mu);
    vx_free(ap);
}

static void
s_set_str(json_t *o, const char *key, const char *v)
{
    if (v) {
        json_object_set_new(o, key, json_string(v));
    }
}

int
vx_audit_append(vx_audit_t *a, const struct vx_audit_record *r)
{
    pthread_mutex_lock(&a->mu);
    json_t *o = s_line(a);
    s_set_str(o, "service", a->service);
    s_set_str(o, "credential", r->credential);
    s_set_str(o, "role", r->role);
    s_set_str(o, "tenant", r->tenant);
    json_object_set_new(o, "on_behalf_of", json_boolean(r->on_behalf_of));
    s_set_str(o, "method", r->method);
    s_set_str(o, "route", r->route);
    s_set_str(o, "path", r->path);
    if (r->body && r->body_len) {
        char h[65];
        vx_sha256_hex(r->body, r->body_len, h);
        json_object_set_new(o, "body_sha256", json_string(h));
    }
    json_object_set_new(o, "status", json_integer(r->status));
    s_set_str(o, "outcome", r->outcome);
    s_set_str(o, "detail", r->detail);
    int rc = s_write(a, o);
    json_decref(o);
    bool synced = false;
    if (rc == 0 && (++a->since_checkpoint >= a->checkpoint_lines ||
                    vx_mono_ns() - a->last_checkpoint >= a->checkpoint_ns)) {
        rc = s_checkpoint(a);
        synced = true;
    }
    if (rc == 0 && a->size >= a->max_bytes) {
        rc = s_rotate(a);
    }
    int fd = a->fd;
    if (synced) {
        a->syncing++; /* a rotation waits before it closes fd */
    }
    pthread_mutex_unlock(&a->mu);
    /* A checkpoint's lines reach the disk outside the lock: other requests keep appending
     * meanwhile (the sync covers them too). */
    if (synced) {
        if (fd >= 0) {
            fdatasync(fd);
        }
        pthread_mutex_lock(&a->mu);
        if (--a->syncing == 0) {
            pthread_cond_broadcast(&a->synced);
        }
        pthread_mutex_unlock(&a->mu);
    }
    return rc;
}

/* ---- verification ------------------------------------------------------------------------- */

struct s_line {
    char *text;
    uint64_t seq;
    char prev[65];
    json_t *json;
};

static int
s_verify_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
s_verify_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -EBADMSG;
}

/* Checks a checkpoint's signature. */
static bool
s_sig_ok(const struct s_line *l, const unsigned char *pk_given)
{
    json_t *cp = json_object_get(l->json, "checkpoint");
    const char *sig_hex = json_string_value(json_object_get(cp, "signature"));
    const char *pk_hex = json_string_value(json_object_get(cp, "public_key"));
    unsigned char sig[crypto_sign_BYTES], pk[crypto_sign_PUBLICKEYBYTES];
    size_t n = 0;
    if (!sig_hex || sodium_hex2bin(sig, sizeof sig, sig_hex, strlen(sig_hex), NULL, &n, NULL) ||
        n != sizeof sig) {
        return false;
    }
    if (pk_given) {
        memcpy(pk, pk_given, sizeof pk);
    } else if (!pk_hex || sodium_hex2bin(pk, sizeof pk, pk_hex, strlen(pk_hex), NULL, &n, NULL) ||
               n != sizeof pk) {
        return false;
    }
    char msg[200];
    s_sig_message(msg, sizeof msg, l->seq, l->prev);
    return crypto_sign_verify_detached(sig, (const unsigned char *)msg, strlen(msg), pk) == 0;
}

/* Reads every line of f into *ls (*n of them; the caller frees them, also on failure), each
 * with its parsed record, seq and prev; *ends_nl tells whether the last one ended with a
 * newline. Returns 0, or -EBADMSG at the first line that is not an audit record (told apart:
 * a last line cut short, or a line changed). */
static int
s_read_lines(FILE *f, struct s_line **ls, size_t *n, bool *ends_nl, char *err, size_t errlen)
{
    size_t cap = 1024;
    *ls = vx_calloc(cap, sizeof **ls);
    char *buf = vx_malloc(S_LINE_MAX);
    int rc = 0;
    bool ends_with_newline = true;
    while (fgets(buf, S_LINE_MAX, f)) {
        size_t len = strlen(buf);
        ends_with_newline = len && buf[len - 1] == '\n';
        if (ends_with_newline) {
            buf[--len] = '\0';
        }
        if (*n == cap) {
            cap *= 2;
            *ls = vx_realloc(*ls, cap * sizeof **ls);
        }
        struct s_line *l = &(*ls)[(*n)++];
        *l = (struct s_line){0};
        l->text = vx_strdup(buf);
        l->json = json_loads(buf, JSON_REJECT_DUPLICATES, NULL);
        json_t *seq = json_object_get(l->json, "seq");
        const char *prev = json_string_value(json_object_get(l->json, "prev"));
        if (!json_is_integer(seq) || !prev || strlen(prev) != 64) {
            bool last = !ends_with_newline && feof(f);
            rc = last ? s_verify_fail(err, errlen, "line %zu: cut short (the file was truncated)",
                                      *n)
                      : s_verify_fail(err, errlen, "line %zu: not an audit record (changed)", *n);
            goto out;
        }
        l->seq = (uint64_t)json_integer_value(seq);
        memcpy(l->prev, prev, 65);
    }
out:
    *ends_nl = ends_with_newline;
    free(buf);
    return rc;
}

/* Line i (> 0) must carry the sequence number after line i-1's; when it does not, says
 * whether lines were removed before it or moved (the expected line stands further down). */
static int
s_check_seq(const struct s_line *ls, size_t n, size_t i, char *err, size_t errlen)
{
    if (ls[i].seq == ls[i - 1].seq + 1) {
        return 0;
    }
    bool later = false;
    for (size_t k = i + 1; k < n && !later; k++) {
        later = ls[k].seq == ls[i - 1].seq + 1;
    }
    if (ls[i].seq > ls[i - 1].seq + 1 && !later) {
        return s_verify_fail(err, errlen,
                             "line %zu: sequence jumps from %llu to %llu: %llu line(s) removed "
                             "before it",
                             i + 1, (unsigned long long)ls[i - 1].seq,
                             (unsigned long long)ls[i].seq,
                             (unsigned long long)(ls[i].seq - ls[i - 1].seq - 1));
    }
    return s_verify_fail(err, errlen, "line %zu: sequence %llu after %llu: lines reordered", i + 1,
                         (unsigned long long)ls[i].seq, (unsigned long long)ls[i - 1].seq);
}

/* Line i's prev must be the hash of line i-1 (the first line: zeros, or the log it was rotated
 * from); when it is not, names the line that changed: line i-1 edited breaks the link into
 * line i only, line i's own prev edited breaks the next link too. */
static int
s_check_chain(const struct s_line *ls, size_t n, size_t i, char *err, size_t errlen)
{
    char h[65];
    bool chained;
    if (i == 0) {
        chained = strcmp(ls[0].prev, S_ZERO_HASH) == 0 ||
                  json_object_get(ls[0].json, "rotated_from");
    } else {
        vx_sha256_hex(ls[i - 1].text, strlen(ls[i - 1].text), h);
        chained = strcmp(h, ls[i].prev) == 0;
    }
    if (chained) {
        return 0;
    }
    bool next_ok = false;
    if (i + 1 < n) {
        vx_sha256_hex(ls[i].text, strlen(ls[i].text), h);
        next_ok = strcmp(h, ls[i + 1].prev) == 0;
    }
    size_t bad = i == 0 || !next_ok ? i + 1 : i;
    return s_verify_fail(err, errlen,
                         "line %zu: changed (the hash chain breaks between lines %zu and %zu)",
                         bad, i > 0 ? i : 1, i + 1);
}

/* Checks the whole file before it judges any line, so that a message can tell a removed line
 * from a moved one and an edited line from an edited link: the sequence, the hash chain, each
 * checkpoint's signature, and that the log ends on a signed checkpoint. */
int
vx_audit_verify(const char *path, const char *public_key_file, size_t *lines, char *err,
                size_t errlen)
{
    vx_crypto_init();
    *lines = 0;
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    if (public_key_file && s_read_hex(public_key_file, pk, sizeof pk, false, err, errlen) < 0) {
        return -EINVAL;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -errno;
    }
    size_t n = 0;
    struct s_line *ls = NULL;
    bool ends_nl = true;
    int rc = s_read_lines(f, &ls, &n, &ends_nl, err, errlen);
    if (rc < 0) {
        goto out;
    }
    *lines = n;
    if (n == 0) {
        rc = s_verify_fail(err, errlen, "%s: empty", path);
        goto out;
    }
    if (!ends_nl) {
        rc = s_verify_fail(err, errlen, "line %zu: cut short (the file was truncated)", n);
        goto out;
    }
    size_t last_cp = 0;
    for (size_t i = 0; i < n; i++) {
        rc = i > 0 ? s_check_seq(ls, n, i, err, errlen) : 0;
        if (rc == 0) {
            rc = s_check_chain(ls, n, i, err, errlen);
        }
        if (rc < 0) {
            goto out;
        }
        if (json_object_get(ls[i].json, "checkpoint")) {
            if (!s_sig_ok(&ls[i], public_key_file ? pk : NULL)) {
                rc = s_verify_fail(err, errlen, "line %zu: checkpoint signature does not verify%s",
                                   i + 1, public_key_file ? " with the given public key" : "");
                goto out;
            }
            last_cp = i + 1;
        }
    }
    if (last_cp != n) {
        rc = s_verify_fail(err, errlen,
                           "line %zu: the log ends %zu line(s) after its last signed checkpoint "
                           "(line %zu): truncated, or the daemon did not stop cleanly",
                           n, n - last_cp, last_cp);
    }
out:
    for (size_t i = 0; i < n; i++) {
        free(ls[i].text);
        json_decref(ls[i].json);
    }
    free(ls);
    fclose(f);
    return rc;
}
