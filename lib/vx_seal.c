/* SPDX-License-Identifier: Apache-2.0 */
/* Encryption at rest: sealed records and files under data keys with ids (see vx_seal.h). */
#include "vx_seal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vx_creds.h"
#include "vx_mem.h"

#define S_HEADER 9 /* magic, algorithm, key id */
#define S_TAG 16
#define S_AD_HASH 32
#define S_MAX_KEYS 1024
#define S_FILE_MAX (1ULL << 31) /* a sealed file larger than this is refused on read */

static const struct vx_cfg_key s_at_rest_keys[] = {
    {"encryption", VX_CFG_STRING, "required", 0, 16, false,
     "required: every file and stored record this program writes is sealed (authenticated "
     "encryption) under the data keys of data_keys_dir; off: plaintext",
     VX_CFG_AT(struct vx_at_rest_config, encryption)},
    {"data_keys_dir", VX_CFG_STRING, "/etc/vexfs/data-keys", 0, 4096, false,
     "folder of the data keys data-<id>.key (64 hex characters, mode 0600); the highest id "
     "seals, every key opens; vexfsctl keys rotate-data DIR adds one",
     VX_CFG_AT(struct vx_at_rest_config, data_keys_dir)},
    {"algorithm", VX_CFG_STRING, "auto", 0, 32, false,
     "auto: AES-256-GCM where the CPU has AES-NI, XChaCha20-Poly1305 otherwise (said at "
     "start); aes256gcm or xchacha20poly1305 to choose",
     VX_CFG_AT(struct vx_at_rest_config, algorithm)},
};

static int
cb_at_rest_check(const void *bound, char *err, size_t errlen)
{
    const struct vx_at_rest_config *c = bound;
    if (strcmp(c->encryption, "required") != 0 && strcmp(c->encryption, "off") != 0) {
        snprintf(err, errlen, "at_rest.encryption: expected required or off, got \"%s\"",
                 c->encryption);
        return -EINVAL;
    }
    if (strcmp(c->algorithm, "auto") != 0 && strcmp(c->algorithm, "aes256gcm") != 0 &&
        strcmp(c->algorithm, "xchacha20poly1305") != 0) {
        snprintf(err, errlen,
                 "at_rest.algorithm: expected auto, aes256gcm or xchacha20poly1305, got \"%s\"",
                 c->algorithm);
        return -EINVAL;
    }
    if (strcmp(c->encryption, "required") == 0 && !c->data_keys_dir[0]) {
        snprintf(err, errlen, "at_rest.data_keys_dir: needed when at_rest.encryption is required");
        return -EINVAL;
    }
    return 0;
}

const struct vx_cfg_section vx_cfg_at_rest_section =
    VX_CFG_SECTION("at_rest", s_at_rest_keys, struct vx_at_rest_config, cb_at_rest_check);

struct s_key {
    uint32_t id;
    uint8_t key[VX_SEAL_KEY_BYTES];
};

struct vx_sealer {
    enum vx_seal_alg alg;
    struct s_key *keys; /* sorted by id; the last seals */
    size_t n;
};

static size_t
s_nonce_len(enum vx_seal_alg alg)
{
    return alg == VX_SEAL_AES256GCM ? crypto_aead_aes256gcm_NPUBBYTES
                                    : crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
}

static const char *
s_alg_name(enum vx_seal_alg alg)
{
    return alg == VX_SEAL_AES256GCM ? "aes256gcm" : "xchacha20poly1305";
}

static int
s_choose(const char *algorithm, enum vx_seal_alg *alg, char *err, size_t errlen)
{
    bool aesni = crypto_aead_aes256gcm_is_available() != 0;
    if (!algorithm || strcmp(algorithm, "auto") == 0) {
        *alg = aesni ? VX_SEAL_AES256GCM : VX_SEAL_XCHACHA20POLY1305;
    } else if (strcmp(algorithm, "aes256gcm") == 0) {
        if (!aesni) {
            snprintf(err, errlen, "at_rest.algorithm aes256gcm: this CPU has no AES-NI (use auto "
                                  "or xchacha20poly1305)");
            return -ENOTSUP;
        }
        *alg = VX_SEAL_AES256GCM;
    } else if (strcmp(algorithm, "xchacha20poly1305") == 0) {
        *alg = VX_SEAL_XCHACHA20POLY1305;
    } else {
        snprintf(err, errlen, "unknown sealing algorithm \"%s\"", algorithm);
        return -EINVAL;
    }
    return 0;
}

static int
cb_key_cmp(const void *a, const void *b)
{
    uint32_t x = ((const struct s_key *)a)->id, y = ((const struct s_key *)b)->id;
    return x < y ? -1 : x > y;
}

/* The id of a name data-<id>.key, or 0 when the name is not a key file's. */
static uint32_t
s_key_name_id(const char *name)
{
    if (strncmp(name, "data-", 5) != 0) {
        return 0;
    }
    const char *p = name + 5;
    uint64_t id = 0;
    size_t digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 11) {
        id = id * 10 + (uint64_t)(*p - '0');
        p++;
        digits++;
    }
    if (digits == 0 || strcmp(p, ".key") != 0 || id == 0 || id > UINT32_MAX ||
        (digits > 1 && name[5] == '0')) {
        return 0;
    }
    return (uint32_t)id;
}

/* Reads one key file: 64 hex characters and an optional newline, owner-only mode. */
static int
s_key_read(const char *path, uint8_t key[VX_SEAL_KEY_BYTES], char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    char buf[130] = "";
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        snprintf(err, errlen, "%s: not a regular file", path);
        return -EINVAL;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        close(fd);
        snprintf(err, errlen,
                 "%s: a data key must be readable by its owner only (mode %03o; chmod 600)", path,
                 (unsigned)(st.st_mode & 0777));
        return -EPERM;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    size_t len = (size_t)n;
    if (len > 0 && buf[len - 1] == '\n') {
        len--;
    }
    size_t bin_len = 0;
    if (len != 2 * VX_SEAL_KEY_BYTES ||
        sodium_hex2bin(key, VX_SEAL_KEY_BYTES, buf, len, NULL, &bin_len, NULL) != 0 ||
        bin_len != VX_SEAL_KEY_BYTES) {
        sodium_memzero(buf, sizeof buf);
        snprintf(err, errlen, "%s: a data key is 64 hexadecimal characters (32 bytes)", path);
        return -EINVAL;
    }
    sodium_memzero(buf, sizeof buf);
    return 0;
}

static vx_sealer_t *
s_sealer_new(enum vx_seal_alg alg)
{
    vx_sealer_t *s = vx_calloc(1, sizeof *s);
    s->alg = alg;
    s->keys = sodium_malloc(S_MAX_KEYS * sizeof *s->keys);
    if (!s->keys) {
        vx_free(&s);
        return NULL;
    }
    return s;
}

vx_sealer_t *
vx_sealer_load(const char *dir, const char *algorithm, char *err, size_t errlen)
{
    vx_crypto_init();
    enum vx_seal_alg alg;
    if (s_choose(algorithm, &alg, err, errlen) < 0) {
        return NULL;
    }
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "at_rest.data_keys_dir %s: %s (vexfsctl keys rotate-data %s makes "
                              "the first key)", dir, strerror(errno), dir);
        return NULL;
    }
    vx_sealer_t *s = s_sealer_new(alg);
    if (!s) {
        closedir(d);
        snprintf(err, errlen, "no locked memory for the data keys");
        return NULL;
    }
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        uint32_t id = s_key_name_id(de->d_name);
        if (id == 0) {
            continue;
        }
        if (s->n == S_MAX_KEYS) {
            snprintf(err, errlen, "%s: more than %d data keys", dir, S_MAX_KEYS);
            rc = -E2BIG;
            break;
        }
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        rc = s_key_read(path, s->keys[s->n].key, err, errlen);
        s->keys[s->n].id = id;
        s->n += rc == 0;
    }
    closedir(d);
    if (rc == 0 && s->n == 0) {
        snprintf(err, errlen, "at_rest.data_keys_dir %s: no data key (data-<id>.key); vexfsctl "
                              "keys rotate-data %s makes one", dir, dir);
        rc = -ENOKEY;
    }
    if (rc < 0) {
        vx_sealer_destroy(&s);
        return NULL;
    }
    qsort(s->keys, s->n, sizeof *s->keys, cb_key_cmp);
    return s;
}

vx_sealer_t *
vx_sealer_from_key(uint32_t id, const uint8_t key[VX_SEAL_KEY_BYTES], enum vx_seal_alg alg,
                   char *err, size_t errlen)
{
    vx_crypto_init();
    if (id == 0) {
        snprintf(err, errlen, "a data key id is 1 to 4294967295");
        return NULL;
    }
    if (alg == VX_SEAL_AES256GCM && !crypto_aead_aes256gcm_is_available()) {
        snprintf(err, errlen, "this CPU has no AES-NI for aes256gcm");
        return NULL;
    }
    if (alg != VX_SEAL_AES256GCM && alg != VX_SEAL_XCHACHA20POLY1305) {
        snprintf(err, errlen, "unknown sealing algorithm %d", (int)alg);
        return NULL;
    }
    vx_sealer_t *s = s_sealer_new(alg);
    if (!s) {
        snprintf(err, errlen, "no locked memory for the data key");
        return NULL;
    }
    s->keys[0].id = id;
    memcpy(s->keys[0].key, key, VX_SEAL_KEY_BYTES);
    s->n = 1;
    return s;
}

void
vx_sealer_destroy(vx_sealer_t **s)
{
    if (!s || !*s) {
        return;
    }
    sodium_free((*s)->keys); /* wipes */
    vx_free(s);
}

const char *
vx_sealer_algorithm(const vx_sealer_t *s)
{
    return s_alg_name(s->alg);
}

uint32_t
vx_sealer_key_id(const vx_sealer_t *s)
{
    return s->keys[s->n - 1].id;
}

size_t
vx_sealer_key_count(const vx_sealer_t *s)
{
    return s->n;
}

static const struct s_key *
s_key_find(const vx_sealer_t *s, uint32_t id)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->keys[mid].id == id) {
            return &s->keys[mid];
        }
        if (s->keys[mid].id < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

/* The authenticated data of a record: its header and a hash of the caller's data, so any
 * length of caller data costs no allocation. */
static void
s_ad(const uint8_t header[S_HEADER], const void *ad, size_t adlen,
     uint8_t out[S_HEADER + S_AD_HASH])
{
    memcpy(out, header, S_HEADER);
    crypto_generichash(out + S_HEADER, S_AD_HASH, ad, adlen, NULL, 0);
}

int
vx_seal(const vx_sealer_t *s, const void *ad, size_t adlen, const void *in, size_t len,
        uint8_t *out, size_t cap, size_t *outlen)
{
    size_t nlen = s_nonce_len(s->alg);
    size_t need = S_HEADER + nlen + len + S_TAG;
    if (cap < need || len > SIZE_MAX - VX_SEAL_OVERHEAD) {
        return -ENOSPC;
    }
    const struct s_key *k = &s->keys[s->n - 1];
    static const uint8_t magic[4] = {'V', 'X', 'S', '1'}; /* VX_SEAL_MAGIC, no terminator */
    memcpy(out, magic, sizeof magic);
    out[4] = (uint8_t)s->alg;
    out[5] = (uint8_t)(k->id >> 24);
    out[6] = (uint8_t)(k->id >> 16);
    out[7] = (uint8_t)(k->id >> 8);
    out[8] = (uint8_t)k->id;
    uint8_t *nonce = out + S_HEADER;
    randombytes_buf(nonce, nlen);
    uint8_t aad[S_HEADER + S_AD_HASH];
    s_ad(out, ad, adlen, aad);
    unsigned long long clen = 0;
    if (s->alg == VX_SEAL_AES256GCM) {
        crypto_aead_aes256gcm_encrypt(nonce + nlen, &clen, in, len, aad, sizeof aad, NULL, nonce,
                                      k->key);
    } else {
        crypto_aead_xchacha20poly1305_ietf_encrypt(nonce + nlen, &clen, in, len, aad, sizeof aad,
                                                   NULL, nonce, k->key);
    }
    *outlen = S_HEADER + nlen + (size_t)clen;
    return 0;
}

bool
vx_seal_is_sealed(const void *in, size_t len)
{
    const uint8_t *p = in;
    return len >= S_HEADER && memcmp(p, VX_SEAL_MAGIC, 4) == 0 &&
           (p[4] == VX_SEAL_AES256GCM || p[4] == VX_SEAL_XCHACHA20POLY1305);
}

int
vx_seal_record_key_id(const void *in, size_t len, uint32_t *id)
{
    if (!vx_seal_is_sealed(in, len)) {
        return -EBADMSG;
    }
    const uint8_t *p = in;
    *id = (uint32_t)p[5] << 24 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 8 | p[8];
    return 0;
}

int
vx_unseal(const vx_sealer_t *s, const void *ad, size_t adlen, const uint8_t *in, size_t len,
          uint8_t *out, size_t cap, size_t *outlen, char *err, size_t errlen)
{
    uint32_t id;
    if (vx_seal_record_key_id(in, len, &id) < 0) {
        snprintf(err, errlen, "not a sealed record (no " VX_SEAL_MAGIC " header)");
        return -EBADMSG;
    }
    enum vx_seal_alg alg = (enum vx_seal_alg)in[4];
    size_t nlen = s_nonce_len(alg);
    if (len < S_HEADER + nlen + S_TAG) {
        snprintf(err, errlen, "sealed record of %zu bytes is truncated", len);
        return -EBADMSG;
    }
    size_t plain = len - S_HEADER - nlen - S_TAG;
    if (cap < plain) {
        snprintf(err, errlen, "sealed record of %zu bytes: no room to open it", len);
        return -ENOSPC;
    }
    const struct s_key *k = s_key_find(s, id);
    if (!k) {
        snprintf(err, errlen, "sealed with data key %u, which is not loaded", (unsigned)id);
        return -ENOKEY;
    }
    if (alg == VX_SEAL_AES256GCM && !crypto_aead_aes256gcm_is_available()) {
        snprintf(err, errlen, "sealed with AES-256-GCM, which needs AES-NI this CPU lacks");
        return -ENOTSUP;
    }
    uint8_t aad[S_HEADER + S_AD_HASH];
    s_ad(in, ad, adlen, aad);
    const uint8_t *nonce = in + S_HEADER;
    unsigned long long mlen = 0;
    int rc = alg == VX_SEAL_AES256GCM
                 ? crypto_aead_aes256gcm_decrypt(out, &mlen, NULL, nonce + nlen, len - S_HEADER - nlen,
                                                 aad, sizeof aad, nonce, k->key)
                 : crypto_aead_xchacha20poly1305_ietf_decrypt(out, &mlen, NULL, nonce + nlen,
                                                              len - S_HEADER - nlen, aad,
                                                              sizeof aad, nonce, k->key);
    if (rc != 0) {
        snprintf(err, errlen, "sealed record does not authenticate under data key %u "
                              "(changed, truncated, stored under another name, or sealed with "
                              "another key of that id)",
                 (unsigned)id);
        return -EBADMSG;
    }
    *outlen = (size_t)mlen;
    return 0;
}

/* Creates dir with mode 0700 when absent. */
static int
s_mkdir(const char *dir, char *err, size_t errlen)
{
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", dir, strerror(e));
        return -e;
    }
    return 0;
}

int
vx_seal_key_generate(const char *dir, uint32_t *id, char *err, size_t errlen)
{
    vx_crypto_init();
    int rc = s_mkdir(dir, err, errlen);
    if (rc < 0) {
        return rc;
    }
    DIR *d = opendir(dir);
    if (!d) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", dir, strerror(e));
        return -e;
    }
    uint32_t top = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint32_t i = s_key_name_id(de->d_name);
        top = i > top ? i : top;
    }
    closedir(d);
    if (top == UINT32_MAX) {
        snprintf(err, errlen, "%s: the key ids are used up", dir);
        return -ERANGE;
    }
    uint8_t key[VX_SEAL_KEY_BYTES];
    char hex[2 * VX_SEAL_KEY_BYTES + 2];
    randombytes_buf(key, sizeof key);
    sodium_bin2hex(hex, sizeof hex, key, sizeof key);
    sodium_memzero(key, sizeof key);
    size_t n = strlen(hex);
    hex[n++] = '\n';
    char path[4400];
    snprintf(path, sizeof path, "%s/data-%u.key", dir, (unsigned)(top + 1));
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        sodium_memzero(hex, sizeof hex);
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    ssize_t w = write(fd, hex, n);
    int e = w == (ssize_t)n ? 0 : errno ? errno : EIO;
    if (!e && fsync(fd) < 0) {
        e = errno;
    }
    close(fd);
    sodium_memzero(hex, sizeof hex);
    if (e) {
        unlink(path);
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    *id = top + 1;
    return 0;
}

static const char *
s_base(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

static int
s_write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Fsyncs the folder holding path, so a rename in it survives a crash. */
static void
s_sync_dir(const char *path)
{
    char dir[4400];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) {
        slash[1] = '\0';
    } else if (slash) {
        *slash = '\0';
    } else {
        snprintf(dir, sizeof dir, ".");
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int
vx_seal_file_write(const vx_sealer_t *s, const char *path, const void *data, size_t len,
                   char *err, size_t errlen)
{
    uint8_t *sealed = NULL;
    const void *bytes = data;
    size_t n = len;
    if (s) {
        size_t cap = len + VX_SEAL_OVERHEAD;
        sealed = vx_malloc(cap);
        (void)vx_seal(s, s_base(path), strlen(s_base(path)), data, len, sealed, cap, &n);
        bytes = sealed;
    }
    char tmp[4400];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
    } else {
        rc = s_write_all(fd, bytes, n);
        if (rc == 0 && fsync(fd) < 0) {
            rc = -errno;
        }
        close(fd);
        if (rc == 0 && rename(tmp, path) < 0) {
            rc = -errno;
        }
        if (rc < 0) {
            unlink(tmp);
        }
    }
    vx_free(&sealed);
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
        return rc;
    }
    s_sync_dir(path);
    return 0;
}

/* Reads the whole file (bounded by S_FILE_MAX) before deciding: a sealed file is opened with
 * the sealer's keys, a plaintext one is accepted only when allowed (and reported through
 * *was_plain, so the caller can seal it anew). */
int
vx_seal_file_read(const vx_sealer_t *s, const char *path, bool allow_plain, char **data,
                  size_t *len, bool *was_plain, char *err, size_t errlen)
{
    *data = NULL;
    *len = 0;
    *was_plain = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (unsigned long long)st.st_size > S_FILE_MAX) {
        close(fd);
        snprintf(err, errlen, "%s: not a regular file of at most 2 GiB", path);
        return -EINVAL;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *raw = vx_malloc(size + 1);
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, raw + got, size - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    if (got != size) {
        vx_free(&raw);
        snprintf(err, errlen, "%s: short read (%zu of %zu bytes)", path, got, size);
        return -EIO;
    }
    if (!vx_seal_is_sealed(raw, size)) {
        if (s && !allow_plain) {
            vx_free(&raw);
            snprintf(err, errlen, "%s: not sealed, but at_rest.encryption is required (see "
                                  "\"Encryption at rest\" in the README to migrate)", path);
            return -EBADMSG;
        }
        raw[size] = '\0';
        *data = (char *)raw;
        *len = size;
        *was_plain = true;
        return 0;
    }
    if (!s) {
        vx_free(&raw);
        snprintf(err, errlen, "%s: sealed, but at_rest.encryption is off (no data keys loaded)",
                 path);
        return -ENOKEY;
    }
    uint8_t *plain = vx_malloc(size + 1);
    size_t n = 0;
    char why[256];
    int rc = vx_unseal(s, s_base(path), strlen(s_base(path)), raw, size, plain, size, &n, why,
                       sizeof why);
    vx_free(&raw);
    if (rc < 0) {
        vx_free(&plain);
        snprintf(err, errlen, "%s: %s", path, why);
        return rc;
    }
    plain[n] = '\0';
    *data = (char *)plain;
    *len = n;
    return 0;
}

int
vx_seal_file_key_id(const char *path, uint32_t *id)
{
    uint8_t hdr[9];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    ssize_t n = read(fd, hdr, sizeof hdr);
    int e = errno;
    close(fd);
    if (n < 0) {
        return -e;
    }
    return vx_seal_record_key_id(hdr, (size_t)n, id);
}
