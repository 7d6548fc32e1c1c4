/* SPDX-License-Identifier: Apache-2.0 */
/* Encryption at rest: sealed records and files under data keys with ids.
 *
 * A sealed record is
 *
 *     "VXS1" | algorithm (1 byte) | key id (4 bytes, big-endian) | nonce | ciphertext | tag
 *
 * with AES-256-GCM (algorithm 1, 12-byte nonce; only where the CPU has AES-NI) or
 * XChaCha20-Poly1305 (algorithm 2, 24-byte nonce), both from libsodium, a random nonce per
 * record and a 16-byte tag. The header and a BLAKE2b hash of the caller's associated data (the
 * record's name: an LMDB key, a file name, a Raft index) are authenticated with the payload,
 * so a record moved under another name, a flipped byte or a header edited to name another key
 * fails to open.
 *
 * Data keys live in one folder as data-<id>.key (id 1 to 4294967295, decimal), each 32 random
 * bytes as 64 hex characters, mode 0600 (a key readable by group or others is refused). The
 * highest id seals; every key opens the records that name it, so adding a key (vexfsctl keys
 * rotate-data) and re-sealing in the background keeps old records readable meanwhile.
 *
 * Thread-safety: a sealer is immutable after vx_sealer_load; any number of threads may seal
 * and open with it at once. */
#ifndef VX_SEAL_H
#define VX_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_config.h"

#define VX_SEAL_MAGIC "VXS1"
/* The most a record adds to its payload: magic, algorithm, key id, the longest nonce, tag. */
#define VX_SEAL_OVERHEAD (4 + 1 + 4 + 24 + 16)
#define VX_SEAL_KEY_BYTES 32

enum vx_seal_alg {
    VX_SEAL_AES256GCM = 1,
    VX_SEAL_XCHACHA20POLY1305 = 2,
};

/* The at_rest section: whether the program seals what it writes, with which keys and which
 * algorithm. A program lists vx_cfg_at_rest_section to take part. */
struct vx_at_rest_config {
    const char *encryption;    /* "required" or "off" */
    const char *data_keys_dir; /* data-<id>.key files */
    const char *algorithm;     /* "auto", "aes256gcm" or "xchacha20poly1305" */
};
extern const struct vx_cfg_section vx_cfg_at_rest_section;

typedef struct vx_sealer vx_sealer_t;

/* Loads every data-<id>.key of dir and chooses the algorithm ("auto": AES-256-GCM where the
 * CPU has AES-NI, XChaCha20-Poly1305 otherwise). Refuses, with a message naming the file, a
 * folder without keys, a key file that is malformed or readable by group or others, and
 * "aes256gcm" on a CPU without AES-NI. Returns NULL with a message in err; the caller owns
 * the result. */
vx_sealer_t *vx_sealer_load(const char *dir, const char *algorithm, char *err, size_t errlen);
/* A sealer from one key given in memory (tests, benchmarks). */
vx_sealer_t *vx_sealer_from_key(uint32_t id, const uint8_t key[VX_SEAL_KEY_BYTES],
                                enum vx_seal_alg alg, char *err, size_t errlen);
/* Accepts NULL; sets *s to NULL. Wipes the keys. */
void vx_sealer_destroy(vx_sealer_t **s);
/* "aes256gcm" or "xchacha20poly1305": what new records are sealed with. */
const char *vx_sealer_algorithm(const vx_sealer_t *s);
/* The id of the key new records are sealed with (the highest loaded). */
uint32_t vx_sealer_key_id(const vx_sealer_t *s);
/* How many keys were loaded. */
size_t vx_sealer_key_count(const vx_sealer_t *s);

/* Seals len bytes of in into out (cap bytes, at least len + VX_SEAL_OVERHEAD), binding ad
 * (may be NULL when adlen is 0). *outlen gets the record's length. Returns 0, or -ENOSPC when
 * cap is too small. */
int vx_seal(const vx_sealer_t *s, const void *ad, size_t adlen, const void *in, size_t len,
            uint8_t *out, size_t cap, size_t *outlen);
/* Opens a record sealed with the same ad into out (cap bytes, at least len). Returns 0, or
 * -EBADMSG (not a record, a changed byte, another ad), -ENOKEY (its key id is not loaded),
 * -ENOTSUP (its algorithm cannot run here) or -ENOSPC, with a message in err. */
int vx_unseal(const vx_sealer_t *s, const void *ad, size_t adlen, const uint8_t *in, size_t len,
              uint8_t *out, size_t cap, size_t *outlen, char *err, size_t errlen);

/* Whether in starts like a sealed record (magic and a known algorithm): how readers tell a
 * sealed record from plaintext written before encryption was turned on. */
bool vx_seal_is_sealed(const void *in, size_t len);
/* The key id a record names. Returns 0, or -EBADMSG when in is not a record. */
int vx_seal_record_key_id(const void *in, size_t len, uint32_t *id);

/* Writes a new key data-<id>.key (mode 0600) into dir (made, mode 0700, when absent), with id
 * one above the highest there. *id gets it. Returns 0 or -errno with a message in err. */
int vx_seal_key_generate(const char *dir, uint32_t *id, char *err, size_t errlen);

/* Writes data to path atomically (temporary file, fsync, rename, fsync of the folder), sealed
 * with s and the file's base name as associated data; s NULL writes plaintext. Returns 0 or
 * -errno with a message in err. */
int vx_seal_file_write(const vx_sealer_t *s, const char *path, const void *data, size_t len,
                       char *err, size_t errlen);
/* Reads path into *data (NUL-terminated, the caller frees it with free) and *len, opening it
 * when sealed; *was_plain tells a plaintext file (accepted only when s is NULL or allow_plain,
 * the migration path). Returns 0, -ENOENT when there is no file, or another -errno with a
 * message in err (a sealed file without a sealer, a changed byte, an unknown key). */
int vx_seal_file_read(const vx_sealer_t *s, const char *path, bool allow_plain, char **data,
                      size_t *len, bool *was_plain, char *err, size_t errlen);

/* The key id of the record a sealed file holds (*id), read from its header without opening
 * it: how a daemon tells a file sealed under an older data key. Returns 0, -EBADMSG when the
 * file is not sealed, or -errno. */
int vx_seal_file_key_id(const char *path, uint32_t *id);

#endif
