/* SPDX-License-Identifier: Apache-2.0 */
/* CURVE keys on disk: generating pairs, loading them with the checks an operator needs, and
 * the keyring of public keys a daemon admits.
 *
 * A key file is text in CZMQ's certificate layout (so zcert tools read it too):
 *
 *     curve
 *         public-key = "<40 Z85 characters>"
 *         secret-key = "<40 Z85 characters>"      (secret files only)
 *
 * NAME.pub holds the public half (mode 0644); NAME.key both halves (mode 0600). A secret key
 * file readable by group or others is refused, as ssh refuses such a private key.
 *
 * The suite's layout under security.keys_dir (see vx_sock.h):
 *     server.key, server.pub   the key every daemon's bound sockets present to clients
 *     <identity>.key           a program's own key, presented when it connects
 *     authorized/<name>.pub    the keys a daemon admits; <name> is the identity it sees */
#ifndef VX_KEYS_H
#define VX_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#define VX_KEY_TXT 41 /* 40 Z85 characters and NUL */

struct vx_keypair {
    char public_txt[VX_KEY_TXT];
    char secret_txt[VX_KEY_TXT];
};

/* Generates a pair and writes dir/name.pub and dir/name.key (refusing to overwrite either).
 * Returns 0 or -errno with a message in err. */
int vx_keys_generate(const char *dir, const char *name, char *err, size_t errlen);

/* Loads a secret key file. Refuses a missing file, one readable by group or others, and a
 * malformed one, with a message naming the file. Returns 0 or -errno. */
int vx_keys_load_secret(const char *path, struct vx_keypair *out, char *err, size_t errlen);

/* Loads the public key of a .pub (or .key) file. Returns 0 or -errno. */
int vx_keys_load_public(const char *path, char out[VX_KEY_TXT], char *err, size_t errlen);

/* The keys a daemon admits, by name. */
typedef struct vx_keyring vx_keyring_t;

/* Loads every dir/<name>.pub. An unreadable or malformed file is an error naming it; an empty
 * directory is allowed (nobody is admitted). Returns NULL with a message in err. */
vx_keyring_t *vx_keyring_load(const char *dir, char *err, size_t errlen);
/* An empty keyring, for tests and for adding keys one by one. */
vx_keyring_t *vx_keyring_new(void);
/* Adds name's key (copied). Returns 0, or -EINVAL when the key is malformed. */
int vx_keyring_add(vx_keyring_t *k, const char *name, const char *public_txt);
void vx_keyring_destroy(vx_keyring_t **k);
/* The name a public key is listed under, or NULL. Borrowed, valid while k lives. */
const char *vx_keyring_name(const vx_keyring_t *k, const char *public_txt);
size_t vx_keyring_size(const vx_keyring_t *k);

/* Whether s is a well-formed Z85 CURVE key (40 characters decoding to 32 bytes). */
bool vx_key_valid(const char *s);

#endif
