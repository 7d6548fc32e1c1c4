/* SPDX-License-Identifier: Apache-2.0 */
/* Durable JSON files (see vx_jsonfile.h). */
#include "vx_jsonfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vx_mem.h"

int
vx_jsonfile_mkdir(const char *dir)
{
    char *copy = vx_strdup(dir);
    for (char *p = copy + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(copy, 0700);
            *p = '/';
        }
    }
    int rc = mkdir(copy, 0700) < 0 && errno != EEXIST ? -errno : 0;
    free(copy);
    return rc;
}

int
vx_jsonfile_write(const char *path, json_t *j)
{
    char *text = json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS);
    if (text == NULL) {
        return -ENOMEM;
    }
    size_t n = strlen(text);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, text + off, n - off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0) {
            rc = -errno;
            break;
        }
        off += (size_t)w;
    }
    if (rc == 0 && fsync(fd) < 0) {
        rc = -errno;
    }
    close(fd);
    if (rc == 0 && rename(tmp, path) < 0) {
        rc = -errno;
    }
    if (rc == 0) {
        char *d = vx_strdup(path);
        int dfd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
        free(d);
    } else {
        unlink(tmp);
    }
out:
    free(text);
    return rc;
}

json_t *
vx_jsonfile_read(const char *path, int *missing, char *err, size_t errlen)
{
    *missing = 0;
    if (access(path, F_OK) < 0 && errno == ENOENT) {
        *missing = 1;
        return NULL;
    }
    json_error_t je;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (j == NULL) {
        snprintf(err, errlen, "%s: %s (line %d, column %d)", path, je.text, je.line, je.column);
    }
    return j;
}

int
vx_jsonfile_write_sealed(const vx_sealer_t *s, const char *path, json_t *j, char *err,
                         size_t errlen)
{
    char *text = json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS);
    if (text == NULL) {
        snprintf(err, errlen, "%s: cannot encode the document", path);
        return -ENOMEM;
    }
    int rc = vx_seal_file_write(s, path, text, strlen(text), err, errlen);
    free(text);
    return rc;
}

int
vx_jsonfile_read_sealed(const vx_sealer_t *s, const char *path, json_t **out, bool *stale,
                        uint32_t *key_id, char *err, size_t errlen)
{
    *out = NULL;
    if (stale != NULL) {
        *stale = false;
    }
    if (key_id != NULL) {
        *key_id = 0;
    }
    char *text = NULL;
    size_t len = 0;
    bool plain = false;
    /* plaintext is accepted: a file from before sealing, sealed when it is written again */
    int rc = vx_seal_file_read(s, path, true, &text, &len, &plain, err, errlen);
    if (rc < 0) {
        return rc;
    }
    uint32_t id = 0;
    if (!plain && vx_seal_file_key_id(path, &id) < 0) {
        id = 0;
    }
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (j == NULL) {
        snprintf(err, errlen, "%s: %s (line %d, column %d)%s", path, je.text, je.line, je.column,
                 plain && s != NULL ? ": neither a sealed record nor plaintext JSON" : "");
        return -EINVAL;
    }
    if (stale != NULL) {
        *stale = s != NULL && (plain || id != vx_sealer_key_id(s));
    }
    if (key_id != NULL) {
        *key_id = id;
    }
    *out = j;
    return 0;
}
