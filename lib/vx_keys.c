/* SPDX-License-Identifier: Apache-2.0 */
/* CURVE key files and keyrings. */
#include "vx_keys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "vx_mem.h"

#define S_FILE_MAX 4096 /* a key file is a few lines */
#define S_NAME_MAX 128

bool
vx_key_valid(const char *s)
{
    if (!s || strlen(s) != VX_KEY_TXT - 1) {
        return false;
    }
    uint8_t raw[32];
    return zmq_z85_decode(raw, s) != NULL;
}

/* Finds `field = "value"` in text (any indentation); copies value. */
static bool
s_field(const char *text, const char *field, char out[VX_KEY_TXT])
{
    size_t flen = strlen(field);
    const char *next = text;
    while (next) {
        const char *line = next;
        const char *nl = strchr(line, '\n');
        next = nl ? nl + 1 : NULL;
        const char *p = line;
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        if (strncmp(p, field, flen) != 0) {
            continue;
        }
        p += flen;
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        if (*p++ != '=') {
            continue;
        }
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        if (*p++ != '"') {
            continue;
        }
        const char *end = strchr(p, '"');
        if (!end || end - p != VX_KEY_TXT - 1) {
            return false;
        }
        memcpy(out, p, VX_KEY_TXT - 1);
        out[VX_KEY_TXT - 1] = '\0';
        return vx_key_valid(out);
    }
    return false;
}

/* Reads a small file into buf. */
static int
s_read(const char *path, char *buf, size_t cap, struct stat *st, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        snprintf(err, errlen, "%s: not a regular file", path);
        return -EINVAL;
    }
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    buf[n] = '\0';
    return 0;
}

int
vx_keys_load_secret(const char *path, struct vx_keypair *out, char *err, size_t errlen)
{
    char buf[S_FILE_MAX] = "";
    struct stat st = {0};
    int rc = s_read(path, buf, sizeof buf, &st, err, errlen);
    if (rc < 0) {
        return rc;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf(err, errlen,
                 "%s: a secret key must be readable by its owner only (mode %03o; chmod 600)",
                 path, (unsigned)(st.st_mode & 0777));
        return -EPERM;
    }
    if (!s_field(buf, "secret-key", out->secret_txt)) {
        snprintf(err, errlen, "%s: no valid secret-key = \"<40 Z85 characters>\" line", path);
        return -EINVAL;
    }
    /* The public half is derived, so a file cannot pair a secret with another's public key. */
    if (zmq_curve_public(out->public_txt, out->secret_txt) != 0) {
        snprintf(err, errlen, "%s: the secret key is not a CURVE key", path);
        return -EINVAL;
    }
    char listed[VX_KEY_TXT];
    if (s_field(buf, "public-key", listed) && strcmp(listed, out->public_txt) != 0) {
        snprintf(err, errlen, "%s: public-key does not belong to secret-key", path);
        return -EINVAL;
    }
    return 0;
}

int
vx_keys_load_public(const char *path, char out[VX_KEY_TXT], char *err, size_t errlen)
{
    char buf[S_FILE_MAX] = "";
    struct stat st = {0};
    int rc = s_read(path, buf, sizeof buf, &st, err, errlen);
    if (rc < 0) {
        return rc;
    }
    if (!s_field(buf, "public-key", out)) {
        snprintf(err, errlen, "%s: no valid public-key = \"<40 Z85 characters>\" line", path);
        return -EINVAL;
    }
    return 0;
}

static int
s_write(const char *path, mode_t mode, const char *text, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, e == EEXIST ? "exists (not overwritten)" : strerror(e));
        return -e;
    }
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    int e = w == (ssize_t)n ? 0 : errno ? errno : EIO;
    if (!e && fsync(fd) < 0) {
        e = errno;
    }
    close(fd);
    if (e) {
        unlink(path);
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    return 0;
}

int
vx_keys_generate(const char *dir, const char *name, char *err, size_t errlen)
{
    if (!name[0] || strlen(name) > S_NAME_MAX || strchr(name, '/') || name[0] == '.') {
        snprintf(err, errlen, "%s: a key name is 1 to %d characters, without '/' and not "
                              "starting with '.'", name, S_NAME_MAX);
        return -EINVAL;
    }
    struct vx_keypair kp;
    if (zmq_curve_keypair(kp.public_txt, kp.secret_txt) != 0) {
        snprintf(err, errlen, "this libzmq has no CURVE support");
        return -ENOTSUP;
    }
    char pub[VX_PATH_MAX], key[VX_PATH_MAX], text[512];
    snprintf(pub, sizeof pub, "%s/%s.pub", dir, name);
    snprintf(key, sizeof key, "%s/%s.key", dir, name);
    snprintf(text, sizeof text,
             "#   VexFS CURVE public key of \"%s\"\n\nmetadata\n    name = \"%s\"\ncurve\n"
             "    public-key = \"%s\"\n",
             name, name, kp.public_txt);
    int rc = s_write(pub, 0644, text, err, errlen);
    if (rc < 0) {
        return rc;
    }
    snprintf(text, sizeof text,
             "#   VexFS CURVE secret key of \"%s\": keep it private (mode 0600)\n\nmetadata\n"
             "    name = \"%s\"\ncurve\n    public-key = \"%s\"\n    secret-key = \"%s\"\n",
             name, name, kp.public_txt, kp.secret_txt);
    rc = s_write(key, 0600, text, err, errlen);
    if (rc < 0) {
        unlink(pub);
    }
    return rc;
}

struct s_entry {
    char name[S_NAME_MAX + 1];
    char key[VX_KEY_TXT];
};

struct vx_keyring {
    struct s_entry *e;
    size_t n, cap;
};

vx_keyring_t *
vx_keyring_new(void)
{
    return vx_calloc(1, sizeof(vx_keyring_t));
}

void
vx_keyring_destroy(vx_keyring_t **k)
{
    if (!k || !*k) {
        return;
    }
    free((*k)->e);
    vx_free(k);
}

int
vx_keyring_add(vx_keyring_t *k, const char *name, const char *public_txt)
{
    if (!vx_key_valid(public_txt) || !name[0] || strlen(name) > S_NAME_MAX) {
        return -EINVAL;
    }
    if (k->n == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 16;
        k->e = vx_realloc(k->e, k->cap * sizeof *k->e);
    }
    snprintf(k->e[k->n].name, sizeof k->e[k->n].name, "%s", name);
    memcpy(k->e[k->n].key, public_txt, VX_KEY_TXT);
    k->n++;
    return 0;
}

const char *
vx_keyring_name(const vx_keyring_t *k, const char *public_txt)
{
    for (size_t i = 0; i < k->n; i++) {
        if (strcmp(k->e[i].key, public_txt) == 0) {
            return k->e[i].name;
        }
    }
    return NULL;
}

size_t
vx_keyring_size(const vx_keyring_t *k)
{
    return k->n;
}

vx_keyring_t *
vx_keyring_load(const char *dir, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return NULL;
    }
    vx_keyring_t *k = vx_keyring_new();
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len <= 4 || strcmp(de->d_name + len - 4, ".pub") != 0 || de->d_name[0] == '.') {
            continue;
        }
        char path[VX_PATH_MAX], name[S_NAME_MAX + 1], key[VX_KEY_TXT];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (len - 4 > S_NAME_MAX) {
            snprintf(err, errlen, "%s: name longer than %d characters", path, S_NAME_MAX);
            goto fail;
        }
        memcpy(name, de->d_name, len - 4);
        name[len - 4] = '\0';
        if (vx_keys_load_public(path, key, err, errlen) < 0) {
            goto fail;
        }
        const char *dup = vx_keyring_name(k, key);
        if (dup) {
            snprintf(err, errlen, "%s: the same key as %s/%s.pub", path, dir, dup);
            goto fail;
        }
        vx_keyring_add(k, name, key);
    }
    closedir(d);
    return k;
fail:
    closedir(d);
    vx_keyring_destroy(&k);
    return NULL;
}
