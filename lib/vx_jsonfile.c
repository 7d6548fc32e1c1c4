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
