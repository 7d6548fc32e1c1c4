/* SPDX-License-Identifier: Apache-2.0 */
/* Per-sender batch sequences of an acknowledged receiver (see vx_senders.h). */
#include "vx_senders.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <fcntl.h>
#include <unistd.h>

#include "vx_jsonfile.h"
#include "vx_mem.h"

#define S_WORDS (VX_SENDERS_WINDOW / 64)
#define S_ID_MAX 512 /* longest sender id kept in the file */

struct s_sender {
    char *id;
    uint64_t last;
    uint64_t seen;            /* clock of the last batch: the least recent is replaced */
    uint64_t bits[S_WORDS];   /* bit i: sequence last - i was taken */
};

struct vx_senders {
    int live_fd; /* VX_SENDERS_LIVE, open once written; -1 before */
    struct s_sender *v;
    size_t n, max;
    uint64_t clock, evicted;
    bool dirty;
};

vx_senders_t *
vx_senders_new(size_t max_senders)
{
    vx_senders_t *t = vx_calloc(1, sizeof *t);
    t->max = max_senders ? max_senders : 1;
    t->v = vx_calloc(t->max, sizeof *t->v);
    t->live_fd = -1;
    return t;
}

void
vx_senders_destroy(vx_senders_t **tp)
{
    if (!tp || !*tp) {
        return;
    }
    for (size_t i = 0; i < (*tp)->n; i++) {
        free((*tp)->v[i].id);
    }
    free((*tp)->v);
    if ((*tp)->live_fd >= 0) {
        close((*tp)->live_fd);
    }
    vx_free(tp);
}

static struct s_sender *
s_find(const vx_senders_t *t, const char *id)
{
    /* Few senders per receiver (the propagation instances of a deployment): a scan is enough. */
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->v[i].id, id) == 0) {
            return &t->v[i];
        }
    }
    return NULL;
}

static struct s_sender *
s_add(vx_senders_t *t, const char *id)
{
    struct s_sender *s;
    if (t->n < t->max) {
        s = &t->v[t->n++];
    } else {
        s = &t->v[0];
        for (size_t i = 1; i < t->n; i++) {
            if (t->v[i].seen < s->seen) {
                s = &t->v[i];
            }
        }
        free(s->id);
        t->evicted++;
    }
    memset(s, 0, sizeof *s);
    s->id = vx_strdup(id);
    return s;
}

static bool
s_bit(const struct s_sender *s, uint64_t i)
{
    return (s->bits[i / 64] >> (i % 64)) & 1;
}

static void
s_set(struct s_sender *s, uint64_t i)
{
    s->bits[i / 64] |= 1ULL << (i % 64);
}

/* Moves the window up by k sequences. */
static void
s_shift(struct s_sender *s, uint64_t k)
{
    if (k >= VX_SENDERS_WINDOW) {
        memset(s->bits, 0, sizeof s->bits);
        return;
    }
    size_t words = (size_t)(k / 64), rest = (size_t)(k % 64);
    for (size_t w = S_WORDS; w-- > 0;) {
        uint64_t v = w >= words ? s->bits[w - words] << rest : 0;
        if (rest && w >= words + 1) {
            v |= s->bits[w - words - 1] >> (64 - rest);
        }
        s->bits[w] = v;
    }
}

struct vx_senders_result
vx_senders_observe(vx_senders_t *t, const char *id, uint64_t seq)
{
    struct vx_senders_result r = {0};
    struct s_sender *s = s_find(t, id);
    t->clock++;
    t->dirty = true;
    if (!s) {
        s = s_add(t, id);
        s->last = seq;
        s->seen = t->clock;
        s_set(s, 0);
        r.new_sender = true;
        return r;
    }
    s->seen = t->clock;
    if (seq > s->last) {
        r.missing = seq - s->last - 1;
        s_shift(s, seq - s->last);
        s->last = seq;
        s_set(s, 0);
        return r;
    }
    uint64_t back = s->last - seq;
    if (back >= VX_SENDERS_WINDOW || s_bit(s, back)) {
        r.duplicate = true;
        return r;
    }
    s_set(s, back);
    r.late = true;
    return r;
}

size_t
vx_senders_count(const vx_senders_t *t)
{
    return t->n;
}

uint64_t
vx_senders_evicted(const vx_senders_t *t)
{
    return t->evicted;
}

uint64_t
vx_senders_last(const vx_senders_t *t, const char *id)
{
    const struct s_sender *s = s_find(t, id);
    return s ? s->last : 0;
}

bool
vx_senders_dirty(const vx_senders_t *t)
{
    return t->dirty;
}

/* ---- the state file ------------------------------------------------------------------------ */

/* The record as JSON text (caller frees), or NULL. */
static char *
s_encode(const vx_senders_t *t)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < t->n; i++) {
        const struct s_sender *s = &t->v[i];
        char hex[S_WORDS * 16 + 1];
        for (size_t w = 0; w < S_WORDS; w++) {
            snprintf(hex + w * 16, 17, "%016" PRIx64, s->bits[w]);
        }
        json_array_append_new(arr, json_pack("{s:s, s:I, s:s}", "sender", s->id, "last",
                                             (json_int_t)s->last, "taken", hex));
    }
    json_t *doc = json_pack("{s:i, s:o}", "version", 1, "senders", arr);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

int
vx_senders_save(vx_senders_t *t, const vx_sealer_t *sealer, const char *dir, char *err,
                size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, VX_SENDERS_FILE);
    char *text = s_encode(t);
    if (!text) {
        snprintf(err, errlen, "%s: cannot encode the record", path);
        return -ENOMEM;
    }
    int rc = vx_seal_file_write(sealer, path, text, strlen(text), err, errlen);
    free(text);
    if (rc == 0) {
        t->dirty = false;
    }
    return rc;
}

char *
vx_senders_snapshot(vx_senders_t *t, size_t *len)
{
    char *text = s_encode(t);
    if (text) {
        *len = strlen(text);
        t->dirty = false;
    }
    return text;
}

int
vx_senders_save_live(vx_senders_t *t, const vx_sealer_t *sealer, const char *dir, char *err,
                     size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, VX_SENDERS_LIVE);
    if (t->live_fd < 0) {
        t->live_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (t->live_fd < 0) {
            int e = errno;
            snprintf(err, errlen, "%s: %s", path, strerror(e));
            return -e;
        }
    }
    char *text = s_encode(t);
    if (!text) {
        snprintf(err, errlen, "%s: cannot encode the record", path);
        return -ENOMEM;
    }
    size_t len = strlen(text), n = len;
    uint8_t *sealed = NULL;
    const void *bytes = text;
    if (sealer) {
        /* The file's base name is the associated data, as vx_seal_file_write binds it, so
         * vx_seal_file_read opens it. */
        sealed = vx_malloc(len + VX_SEAL_OVERHEAD);
        (void)vx_seal(sealer, VX_SENDERS_LIVE, strlen(VX_SENDERS_LIVE), text, len, sealed,
                      len + VX_SEAL_OVERHEAD, &n);
        bytes = sealed;
    }
    int rc = 0;
    ssize_t w = pwrite(t->live_fd, bytes, n, 0);
    if (w < 0 || (size_t)w != n || ftruncate(t->live_fd, (off_t)n) < 0) {
        rc = w < 0 || (size_t)w == n ? -errno : -EIO;
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
    }
    free(sealed);
    free(text);
    return rc;
}

static int
s_parse_hex(const char *hex, uint64_t *bits)
{
    if (strlen(hex) != S_WORDS * 16) {
        return -EINVAL;
    }
    for (size_t w = 0; w < S_WORDS; w++) {
        uint64_t v = 0;
        for (size_t k = 0; k < 16; k++) {
            char c = hex[w * 16 + k];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0) {
                return -EINVAL;
            }
            v = v << 4 | (uint64_t)d;
        }
        bits[w] = v;
    }
    return 0;
}

/* Takes the record doc into t (cleared first); name says where it came from in err. */
static int
s_load_doc(vx_senders_t *t, json_t *doc, const char *name, char *err, size_t errlen)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].id);
        t->v[i].id = NULL;
    }
    t->n = 0;
    json_t *arr = json_object_get(doc, "senders");
    size_t i;
    json_t *e;
    if (!json_is_array(arr)) {
        snprintf(err, errlen, "%s: no \"senders\" array", name);
        return -EINVAL;
    }
    json_array_foreach(arr, i, e) {
        const char *id = json_string_value(json_object_get(e, "sender"));
        json_t *last = json_object_get(e, "last");
        const char *hex = json_string_value(json_object_get(e, "taken"));
        uint64_t bits[S_WORDS];
        if (!id || strlen(id) > S_ID_MAX || !json_is_integer(last) ||
            json_integer_value(last) < 0 || !hex || s_parse_hex(hex, bits) < 0) {
            snprintf(err, errlen, "%s: senders[%zu] is not {sender, last, taken}", name, i);
            return -EINVAL;
        }
        struct s_sender *s = s_find(t, id);
        if (!s) {
            s = s_add(t, id);
        }
        s->last = (uint64_t)json_integer_value(last);
        memcpy(s->bits, bits, sizeof bits);
        s->seen = ++t->clock;
    }
    t->dirty = false;
    return 0;
}

/* Reads one record file into t (cleared first). */
static int
s_load_file(vx_senders_t *t, const vx_sealer_t *sealer, const char *path, char *err,
            size_t errlen)
{
    json_t *doc = NULL;
    int rc = vx_jsonfile_read_sealed(sealer, path, &doc, NULL, NULL, err, errlen);
    if (rc < 0) {
        return rc;
    }
    rc = s_load_doc(t, doc, path, err, errlen);
    json_decref(doc);
    return rc;
}

int
vx_senders_parse(vx_senders_t *t, const char *text, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    json_t *doc = json_loadb(text, len, 0, &je);
    if (!doc) {
        snprintf(err, errlen, "record: not JSON: %s (line %d)", je.text, je.line);
        return -EINVAL;
    }
    int rc = s_load_doc(t, doc, "record", err, errlen);
    json_decref(doc);
    return rc;
}

int
vx_senders_load(vx_senders_t *t, const vx_sealer_t *sealer, const char *dir, char *err,
                size_t errlen, char *note, size_t notelen)
{
    char path[4096];
    if (note) {
        note[0] = '\0';
    }
    snprintf(path, sizeof path, "%s/%s", dir, VX_SENDERS_LIVE);
    int rc = s_load_file(t, sealer, path, err, errlen);
    if (rc == 0) {
        return 0;
    }
    if (rc != -ENOENT && note) {
        snprintf(note, notelen, "%s", err);
    }
    snprintf(path, sizeof path, "%s/%s", dir, VX_SENDERS_FILE);
    rc = s_load_file(t, sealer, path, err, errlen);
    return rc == -ENOENT ? 0 : rc;
}
