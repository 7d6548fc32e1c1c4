/* SPDX-License-Identifier: Apache-2.0 */
/* The state file (atomic replace) and the rules file. */
#include "rt_store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vx_clock.h"
#include "vx_event.h"
#include "vx_jsonfile.h"
#include "vx_mem.h"
#include "vx_yaml.h"

#define S_MAX_FILE (256u * 1024 * 1024)

static atomic_uint s_tmp_counter;

int
rt_set_parse(json_t *doc, const char *what, json_t **rules, json_t **filters, char *err,
             size_t errlen)
{
    *rules = NULL;
    *filters = NULL;
    if (json_is_array(doc)) {
        *rules = json_incref(doc);
        return 0;
    }
    if (!json_is_object(doc)) {
        snprintf(err, errlen,
                 "%s: expected {\"rules\":[...], \"filters\":[...]} or a list of rules", what);
        return -EINVAL;
    }
    const char *k;
    json_t *v;
    json_object_foreach(doc, k, v) {
        if (strcmp(k, "rules") != 0 && strcmp(k, "filters") != 0) {
            snprintf(err, errlen, "%s: unknown key '%.64s' (expected rules and filters)", what, k);
            return -EINVAL;
        }
        if (!json_is_array(v) && !json_is_null(v)) {
            snprintf(err, errlen, "%s: '%s' must be a list", what, k);
            return -EINVAL;
        }
    }
    json_t *r = json_object_get(doc, "rules");
    json_t *f = json_object_get(doc, "filters");
    *rules = json_is_array(r) ? json_incref(r) : NULL;
    *filters = json_is_array(f) ? json_incref(f) : NULL;
    return 0;
}

int
rt_store_init(const char *dir, char *err, size_t errlen)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) {
        snprintf(err, errlen, "state_dir: path too long");
        return -ENAMETOOLONG;
    }
    for (char *p = path + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(path, 0700) < 0 && errno != EEXIST) {
                snprintf(err, errlen, "state_dir: cannot create %s: %s", path, strerror(errno));
                return -errno;
            }
            *p = c;
            if (c == '\0') {
                break;
            }
        }
    }
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "state_dir: %s is not a directory", dir);
        return -ENOTDIR;
    }
    if (access(dir, W_OK) < 0) {
        snprintf(err, errlen, "state_dir: %s is not writable: %s", dir, strerror(errno));
        return -errno;
    }
    return 0;
}

/* Reads a whole file into a NUL-terminated heap buffer. */
static int
s_read_all(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -EINVAL;
    }
    if ((uint64_t)st.st_size > S_MAX_FILE) {
        snprintf(err, errlen, "%s: larger than %u bytes", path, S_MAX_FILE);
        close(fd);
        return -EFBIG;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = vx_malloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > S_MAX_FILE) {
                snprintf(err, errlen, "%s: larger than %u bytes", path, S_MAX_FILE);
                free(buf);
                close(fd);
                return -EFBIG;
            }
            cap *= 2;
            buf = vx_realloc(buf, cap);
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            int e = errno;
            snprintf(err, errlen, "%s: %s", path, strerror(e));
            free(buf);
            close(fd);
            return -e;
        }
        if (r == 0) {
            break;
        }
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

int
rt_store_load(const char *dir, const vx_sealer_t *sealer, json_t **doc, bool *stale,
              uint32_t *key_id, char *err, size_t errlen)
{
    *doc = NULL;
    char path[4352];
    snprintf(path, sizeof path, "%s/%s", dir, RT_STORE_FILE);
    json_t *d = NULL;
    char why[1024];
    int rc = vx_jsonfile_read_sealed(sealer, path, &d, stale, key_id, why, sizeof why);
    if (rc == -ENOENT) {
        return 0;
    }
    if (rc < 0) {
        snprintf(err, errlen, "state file %s", why);
        return rc;
    }
    json_t *fmt = json_object_get(d, "format");
    if (!json_is_integer(fmt) || json_integer_value(fmt) != RT_STORE_FORMAT ||
        !json_is_array(json_object_get(d, "rules")) ||
        !json_is_array(json_object_get(d, "filters"))) {
        snprintf(err, errlen, "%s: not a routing state file of format %d", path, RT_STORE_FORMAT);
        json_decref(d);
        return -EINVAL;
    }
    *doc = d;
    return 0;
}

static int
s_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

/* Writes the new state to a temporary file (sealed when a data key is set, bound to the final
 * name) and syncs it, without renaming: the caller renames it (rt_store_commit) only once the
 * loop has taken the set, and removes it otherwise, so the state file never holds a set the
 * daemon did not apply. */
int
rt_store_prepare(const char *dir, const vx_sealer_t *sealer, json_t *doc,
                 struct rt_store_txn *txn, char *err, size_t errlen)
{
    memset(txn, 0, sizeof *txn);
    snprintf(txn->dir, sizeof txn->dir, "%s", dir);
    snprintf(txn->final, sizeof txn->final, "%s/%s", dir, RT_STORE_FILE);
    snprintf(txn->tmp, sizeof txn->tmp, "%s/.%s.%ld.%u.tmp", dir, RT_STORE_FILE, (long)getpid(),
             atomic_fetch_add(&s_tmp_counter, 1));
    char *text = json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS);
    if (!text) {
        snprintf(err, errlen, "state: cannot encode the rule set");
        return -ENOMEM;
    }
    size_t len = strlen(text), off = 0;
    if (sealer != NULL) {
        /* bound to the final name, which the file has when it is read */
        size_t cap = len + 1 + VX_SEAL_OVERHEAD, slen = 0;
        char *sealed = vx_malloc(cap);
        text[len] = '\n'; /* the same bytes as a plaintext file: the newline is sealed too */
        int src = vx_seal(sealer, RT_STORE_FILE, strlen(RT_STORE_FILE), text, len + 1,
                          (uint8_t *)sealed, cap, &slen);
        free(text);
        if (src < 0) {
            free(sealed);
            snprintf(err, errlen, "state: cannot seal the rule set: %s", strerror(-src));
            return src;
        }
        text = sealed;
        len = slen;
    }
    int rc = 0;
    int fd = open(txn->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "state: cannot create %s: %s", txn->tmp, strerror(-rc));
        free(text);
        return rc;
    }
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0) {
            rc = -errno;
            snprintf(err, errlen, "state: writing %s: %s", txn->tmp, strerror(-rc));
            break;
        }
        off += (size_t)w;
    }
    if (rc == 0 && sealer == NULL && write(fd, "\n", 1) != 1) {
        rc = -errno;
        snprintf(err, errlen, "state: writing %s: %s", txn->tmp, strerror(-rc));
    }
    if (rc == 0 && fsync(fd) < 0) {
        rc = -errno;
        snprintf(err, errlen, "state: syncing %s: %s", txn->tmp, strerror(-rc));
    }
    if (close(fd) < 0 && rc == 0) {
        rc = -errno;
        snprintf(err, errlen, "state: closing %s: %s", txn->tmp, strerror(-rc));
    }
    free(text);
    if (rc < 0) {
        unlink(txn->tmp);
        return rc;
    }
    txn->pending = true;
    return 0;
}

int
rt_store_commit(struct rt_store_txn *txn, char *err, size_t errlen)
{
    if (!txn->pending) {
        return 0;
    }
    txn->pending = false;
    if (rename(txn->tmp, txn->final) < 0) {
        int e = errno;
        snprintf(err, errlen, "state: cannot rename %s to %s: %s", txn->tmp, txn->final,
                 strerror(e));
        unlink(txn->tmp);
        return -e;
    }
    int rc = s_fsync_dir(txn->dir);
    if (rc < 0) {
        snprintf(err, errlen, "state: syncing directory %s: %s", txn->dir, strerror(-rc));
    }
    return rc;
}

void
rt_store_abort(struct rt_store_txn *txn)
{
    if (txn->pending) {
        unlink(txn->tmp);
        txn->pending = false;
    }
}

void
rt_rules_file_stat(const char *path, struct rt_file_stamp *st)
{
    memset(st, 0, sizeof *st);
    struct stat sb;
    if (stat(path, &sb) < 0) {
        return;
    }
    st->exists = true;
    st->mtime_ns = (int64_t)sb.st_mtim.tv_sec * (int64_t)VX_NS_PER_S + sb.st_mtim.tv_nsec;
    st->size = (int64_t)sb.st_size;
    st->ino = (uint64_t)sb.st_ino;
}

bool
rt_file_stamp_equal(const struct rt_file_stamp *a, const struct rt_file_stamp *b)
{
    return a->exists == b->exists && a->mtime_ns == b->mtime_ns && a->size == b->size &&
           a->ino == b->ino;
}

int
rt_rules_file_load(const char *path, json_t **rules, json_t **filters, char hash[17], char *err,
                   size_t errlen)
{
    *rules = NULL;
    *filters = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc = s_read_all(path, &text, &len, err, errlen);
    if (rc < 0) {
        return rc;
    }
    snprintf(hash, 17, "%016llx", (unsigned long long)vx_hash64(text, len, 0x72756c6573ULL));
    json_t *doc;
    char perr[512];
    size_t plen = strlen(path);
    if (plen >= 5 && strcmp(path + plen - 5, ".json") == 0) {
        json_error_t je;
        doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        if (!doc) {
            snprintf(perr, sizeof perr, "line %d, column %d: %s", je.line, je.column, je.text);
        }
    } else {
        doc = vx_yaml_parse(text, len, perr, sizeof perr);
    }
    free(text);
    if (!doc) {
        snprintf(err, errlen, "%s: %s", path, perr);
        return -EINVAL;
    }
    rc = rt_set_parse(doc, path, rules, filters, err, errlen);
    json_decref(doc);
    return rc;
}

/* ---- the watcher ---------------------------------------------------------------------- */

struct rt_watch {
    char *path;
    int poll_ms;
    rt_watch_fn *fn;
    void *arg;
    struct rt_file_stamp stamp; /* watcher thread only */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;  /* guarded by mu */
    bool force; /* guarded by mu */
};

static void *
s_watch_main(void *arg)
{
    rt_watch_t *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        struct timespec deadline = vx_mono_timespec(vx_deadline_ms((uint64_t)w->poll_ms));
        while (!w->stop && !w->force) {
            if (pthread_cond_timedwait(&w->cv, &w->mu, &deadline) == ETIMEDOUT) {
                break;
            }
        }
        if (w->stop) {
            break;
        }
        bool force = w->force;
        w->force = false;
        pthread_mutex_unlock(&w->mu);
        struct rt_file_stamp st;
        rt_rules_file_stat(w->path, &st);
        bool changed = !rt_file_stamp_equal(&st, &w->stamp);
        w->stamp = st;
        if (force || changed) {
            w->fn(force, st.exists, w->arg);
        }
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

rt_watch_t *
rt_watch_new(const char *path, const struct rt_file_stamp *initial, int poll_ms, rt_watch_fn *fn,
             void *arg)
{
    rt_watch_t *w = vx_calloc(1, sizeof *w);
    w->path = vx_strdup(path);
    w->poll_ms = poll_ms > 0 ? poll_ms : 1000;
    w->fn = fn;
    w->arg = arg;
    w->stamp = *initial;
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&w->thread, NULL, s_watch_main, w) != 0) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w->path);
        free(w);
        return NULL;
    }
    return w;
}

void
rt_watch_trigger(rt_watch_t *w)
{
    pthread_mutex_lock(&w->mu);
    w->force = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void
rt_watch_destroy(rt_watch_t **wp)
{
    if (!wp || !*wp) {
        return;
    }
    rt_watch_t *w = *wp;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w->path);
    vx_free(wp);
}
