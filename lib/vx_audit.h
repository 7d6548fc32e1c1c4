/* SPDX-License-Identifier: Apache-2.0 */
/* The audit log: a tamper-evident record of every mutating REST call, every refused
 * authentication or authorisation, every credential change and every action on behalf of a
 * tenant.
 *
 * One JSON object per line. Each line carries "prev", the SHA-256 of the line before it (the
 * first line of a log: 64 zeros), so changing, removing or reordering a line breaks the chain
 * at the next one. Every checkpoint_lines lines, every checkpoint_ms and when the log closes,
 * a checkpoint line signs the chain so far with the daemon's Ed25519 key (libsodium), so the
 * chain cannot be rebuilt after an edit without the key. When the file passes max_bytes it is
 * renamed FILE.<first seq>-<last seq> and a new FILE continues the chain ("prev" of its first
 * line is the hash of the old file's last line).
 *
 *   {"seq":7,"time":"2026-12-07T10:00:00.123Z","service":"vexfs-routing","credential":"alice",
 *    "role":"operator","tenant":"acme","on_behalf_of":false,"method":"PUT","route":"/v1/rules",
 *    "body_sha256":"…","status":200,"outcome":"ok","prev":"…"}
 *   {"seq":8,"time":"…","checkpoint":{"signature":"…","public_key":"…"},"prev":"…"}
 *
 * vx_audit_verify (vexfsctl audit verify) checks a file and names the first line that breaks.
 * Thread-safe: REST handlers append concurrently. */
#ifndef VX_AUDIT_H
#define VX_AUDIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vx_audit vx_audit_t;

struct vx_audit_opts {
    const char *path;          /* the log file (its folder must exist) */
    const char *key_file;      /* Ed25519 secret key (vexfsctl keys init writes audit.key) */
    const char *service;       /* "vexfs-routing" */
    uint64_t max_bytes;        /* rotate past this; 0: 64 MiB */
    unsigned checkpoint_lines; /* 0: 100 */
    unsigned checkpoint_ms;    /* 0: 10 s */
};

/* Opens (or continues) the log: the chain goes on from the file's last line. Returns NULL
 * with a message in err (unreadable key, a log whose last line is not an audit line). */
vx_audit_t *vx_audit_open(const struct vx_audit_opts *o, char *err, size_t errlen);
/* Writes a final checkpoint and closes. */
void vx_audit_close(vx_audit_t **a);

/* One record. The fields given are copied into the line in this order; NULL strings are left
 * out. Returns 0 or -errno (the disk refused: the caller counts it). */
struct vx_audit_record {
    const char *credential; /* NULL: none was presented */
    const char *role;
    const char *tenant;
    bool on_behalf_of;      /* an admin acting for tenant through X-VexFS-Tenant */
    const char *method;
    const char *route;
    const char *path;
    const void *body;       /* hashed, never stored */
    size_t body_len;
    unsigned status;
    const char *outcome;    /* "ok", "unauthenticated", "forbidden", "refused", "error" */
    const char *detail;     /* e.g. the credential added, or why it was refused */
};
int vx_audit_append(vx_audit_t *a, const struct vx_audit_record *r);

/* Generates an Ed25519 pair: dir/name.key (0600) and dir/name.pub, hex. Returns 0 or -errno. */
int vx_audit_keygen(const char *dir, const char *name, char *err, size_t errlen);

/* Verifies a log file against a public key file (NULL: signatures are checked against the key
 * each checkpoint names, which proves only consistency). Returns 0 when intact, or -EBADMSG
 * with the first broken line and why in err ("line 12: changed or removed before it: its prev
 * does not match line 11"). *lines receives the number of lines read. */
int vx_audit_verify(const char *path, const char *public_key_file, size_t *lines, char *err,
                    size_t errlen);

#endif
