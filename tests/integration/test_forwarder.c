/* SPDX-License-Identifier: Apache-2.0 */
/* The real vexfs-forwarder between a FIFO of recorded kernel records and a real
 * vexfs-propagation: every field arrives; over the acknowledged ingest, every event arrives
 * at least once while propagation is killed with kill -9 and restarted mid-stream, and exactly
 * once when batches are resent to a propagation that got them (its dedup window drops the
 * copies). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../kmod/vexfs_events_uapi.h"
#include "prop_harness.h"
#include "vx_ackrx.h"
#include "vx_test.h"
#include "vx_wire.h"

#define S_DATA "tests/forwarder/data/kernel_v1.bin"
#define S_RECORDS 18

struct s_fwd {
    pid_t pid;
    uint16_t rest_port;
    char fifo[300], log[300];
};

static void
s_fwd_start_with(struct s_fwd *f, const struct ph_daemon *d, const char *extra)
{
    char cfgpath[300], cfg[2048];
    snprintf(f->fifo, sizeof f->fifo, "%s/records.fifo", d->dir);
    snprintf(f->log, sizeof f->log, "%s/forwarder.log", d->dir);
    snprintf(cfgpath, sizeof cfgpath, "%s/forwarder.yaml", d->dir);
    ck_assert_int_eq(mkfifo(f->fifo, 0600), 0);
    f->rest_port = vt_free_port();
    snprintf(cfg, sizeof cfg,
             "event_forwarder:\n  ingest_endpoint: %s\n  rest_port: %u\n  producer_id: fwd-test\n"
             "  retry_interval_ms: 20\n  batch_max_delay_ms: 2\n%s",
             d->ingest, (unsigned)f->rest_port, extra);
    ck_assert_int_eq(vt_write_file(cfgpath, cfg), 0);
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-forwarder", vt_bin_dir());
    char *argv[] = {bin, (char *)"--config", cfgpath, (char *)"--device", f->fifo, NULL};
    f->pid = vt_spawn(argv, NULL, f->log);
    ck_assert_int_gt(f->pid, 0);
    ck_assert_msg(vt_wait_ready(f->rest_port, 20000), "forwarder not ready; log in %s", f->log);
}

static void
s_fwd_start(struct s_fwd *f, const struct ph_daemon *d)
{
    s_fwd_start_with(f, d, "");
}

static void
s_feed(const struct s_fwd *f)
{
    FILE *in = fopen(S_DATA, "rb");
    ck_assert_ptr_nonnull(in);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, in);
    fclose(in);
    FILE *out = fopen(f->fifo, "wb");
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
    fclose(out);
}

static double
s_metric(uint16_t port, const char *series)
{
    struct ph_daemon tmp = {.rest_port = port};
    return ph_metric(&tmp, series);
}

struct s_seen {
    size_t n;
    char paths[64][64];
    char errors[512];
};

static const char *
s_kv(Vexfs__V1__Event__ContentEntry **kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(kv[i]->key, key) == 0) {
            return kv[i]->value;
        }
    }
    return "";
}

static void
cb_event(const vx_batch_t *b, const vx_event_t *e, void *arg)
{
    (void)b;
    struct s_seen *s = arg;
    if (s->n < 64) {
        snprintf(s->paths[s->n], sizeof s->paths[0], "%s", e->path);
    }
    s->n++;
    Vexfs__V1__Event__ContentEntry **md = (Vexfs__V1__Event__ContentEntry **)e->metadata;
    if (e->source != VEXFS__V1__BOUNDARY__KERNEL_MODULE) {
        strcat(s->errors, "source;");
    }
    if (strcmp(s_kv(e->content, e->n_content, "operation"), "rename") == 0 &&
        strcmp(s_kv(e->content, e->n_content, "new_path"), "/mnt/w/d/b.txt") != 0) {
        strcat(s->errors, "new_path;");
    }
    if (strcmp(s_kv(md, e->n_metadata, "kernel_seq"), "1") == 0 &&
        (e->type != VEXFS__V1__EVENT_TYPE__FILESYSTEM_CREATE ||
         strcmp(e->path, "/mnt/w/a.txt") != 0 ||
         strcmp(s_kv(e->content, e->n_content, "inode"), "4") != 0 ||
         strcmp(s_kv(e->content, e->n_content, "flags"), "0x8001") != 0 ||
         strcmp(s_kv(md, e->n_metadata, "pid"), "1") != 0 ||
         strcmp(s_kv(md, e->n_metadata, "tgid"), "1") != 0 ||
         strcmp(s_kv(md, e->n_metadata, "uid"), "0") != 0 ||
         strcmp(s_kv(md, e->n_metadata, "comm"), "init") != 0 || e->timestamp_ns == 0)) {
        strcat(s->errors, "first-record-fields;");
    }
    if (strcmp(s_kv(md, e->n_metadata, "kernel_seq"), "4") == 0 &&
        (strcmp(s_kv(e->content, e->n_content, "size"), "3") != 0 ||
         strcmp(s_kv(e->content, e->n_content, "offset"), "6") != 0 ||
         strcmp(s_kv(e->content, e->n_content, "file_size"), "9") != 0)) {
        strcat(s->errors, "append-fields;");
    }
}

START_TEST(t_fields_arrive)
{
    struct ph_daemon d;
    ph_start(&d, NULL, NULL);
    zsock_t *pull = ph_pull(&d);
    struct s_fwd f;
    s_fwd_start(&f, &d);
    s_feed(&f);
    struct s_seen seen = {0};
    ck_assert_uint_eq(ph_receive(pull, S_RECORDS, 10000, cb_event, &seen), S_RECORDS);
    ck_assert_msg(seen.errors[0] == '\0', "field errors: %s", seen.errors);
    ck_assert_str_eq(seen.paths[0], "/mnt/w/a.txt");
    ck_assert_str_eq(seen.paths[13], "/mnt/w/d");
    ck_assert(s_metric(f.rest_port, "vexfs_forwarder_records_total") == S_RECORDS);
    int st = vt_stop(f.pid, SIGTERM, 20000);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "forwarder exit status %d", st);
    zsock_destroy(&pull);
    ph_stop(&d);
}
END_TEST

/* ---- the acknowledged ingest ---------------------------------------------------------- */

#define S_MAX_EVENTS 40000

/* Records made from the recorded ones, each with its own path and kernel sequence 1..n. */
struct s_stream {
    uint8_t *buf;
    size_t len;
    size_t *end; /* end[i]: offset just past record i */
    size_t n;
};

static void
s_stream_make(struct s_stream *st, size_t n)
{
    FILE *in = fopen(S_DATA, "rb");
    ck_assert_ptr_nonnull(in);
    static uint8_t rec[1 << 16];
    size_t rlen = fread(rec, 1, sizeof rec, in);
    fclose(in);
    /* The recorded records are well-formed (test_translate checks them): read them plainly. */
    struct {
        struct vexfs_event_record h;
        const char *path, *path2;
    } tm[S_RECORDS];
    size_t nt = 0;
    for (size_t off = 0; off + sizeof tm[0].h <= rlen && nt < S_RECORDS;) {
        memcpy(&tm[nt].h, rec + off, sizeof tm[nt].h);
        ck_assert_uint_eq(tm[nt].h.magic, VEXFS_EV_MAGIC);
        ck_assert_uint_ge(tm[nt].h.record_len, sizeof tm[nt].h);
        tm[nt].path = (const char *)rec + off + tm[nt].h.header_len;
        tm[nt].path2 = tm[nt].h.path2_len ? tm[nt].path + tm[nt].h.path_len + 1 : NULL;
        off += tm[nt].h.record_len;
        nt++;
    }
    ck_assert_uint_eq(nt, S_RECORDS);
    st->buf = malloc(n * 1024);
    st->end = calloc(n, sizeof *st->end);
    st->n = n;
    st->len = 0;
    for (size_t i = 0; i < n; i++) {
        const __typeof__(tm[0]) *t = &tm[i % nt];
        char p1[300], p2[300] = "";
        int l1 = snprintf(p1, sizeof p1, "/acked/%06zu%s", i, t->path);
        int l2 = t->path2 ? snprintf(p2, sizeof p2, "/acked/%06zu%s", i, t->path2) : 0;
        struct vexfs_event_record h = t->h;
        h.header_len = sizeof h;
        h.path_len = (__u16)l1;
        h.path2_len = (__u16)l2;
        h.seq = i + 1;
        size_t len = sizeof h + (size_t)l1 + 1 + (size_t)l2 + 1;
        len = (len + VEXFS_EV_ALIGN - 1) / VEXFS_EV_ALIGN * VEXFS_EV_ALIGN;
        h.record_len = (__u32)len;
        uint8_t *out = st->buf + st->len;
        memset(out, 0, len);
        memcpy(out, &h, sizeof h);
        memcpy(out + sizeof h, p1, (size_t)l1);
        memcpy(out + sizeof h + (size_t)l1 + 1, p2, (size_t)l2);
        st->len += len;
        st->end[i] = st->len;
    }
}

static void
s_stream_fini(struct s_stream *st)
{
    free(st->buf);
    free(st->end);
}

/* Writes records into the FIFO as far as the main thread allows (limit), in small chunks. */
struct s_writer {
    const struct s_stream *st;
    const char *fifo;
    atomic_size_t limit;
    atomic_size_t written;
    atomic_bool stop;
    pthread_t thread;
};

static void *
s_writer_main(void *arg)
{
    struct s_writer *w = arg;
    int fd = open(w->fifo, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        return NULL;
    }
    size_t done = 0, off = 0;
    while (!atomic_load(&w->stop) && done < w->st->n) {
        size_t limit = atomic_load(&w->limit);
        if (done >= limit) {
            usleep(1000);
            continue;
        }
        size_t upto = done + 100 < limit ? done + 100 : limit;
        size_t end = w->st->end[upto - 1];
        while (off < end) {
            ssize_t n = write(fd, w->st->buf + off, end - off);
            if (n < 0 && errno != EINTR) {
                close(fd);
                return NULL;
            }
            off += n > 0 ? (size_t)n : 0;
        }
        done = upto;
        atomic_store(&w->written, done);
        usleep(2000);
    }
    close(fd);
    return NULL;
}

/* Counts what propagation publishes, by kernel sequence. */
struct s_counter {
    const char *endpoint;
    size_t n;
    bool acked; /* a ROUTER answering every batch (propagation's output_acked), else a PULL */
    _Atomic uint32_t *seen;   /* seen[kernel_seq] */
    atomic_size_t distinct, total;
    atomic_bool stop;
    char errors[256];
    pthread_t thread;
};

/* Counts one batch's events by kernel sequence. */
static void
s_count(struct s_counter *c, const vx_batch_t *b)
{
    for (size_t i = 0; i < b->n_events; i++) {
        const vx_event_t *e = b->events[i];
        Vexfs__V1__Event__ContentEntry **md = (Vexfs__V1__Event__ContentEntry **)e->metadata;
        unsigned long long k = strtoull(s_kv(md, e->n_metadata, "kernel_seq"), NULL, 10);
        if (k == 0 || k > c->n) {
            snprintf(c->errors, sizeof c->errors, "unexpected kernel_seq %llu", k);
            continue;
        }
        if (atomic_fetch_add(&c->seen[k], 1) == 0) {
            atomic_fetch_add(&c->distinct, 1);
        }
        atomic_fetch_add(&c->total, 1);
    }
}

/* One message from the output: PULL (plain), or ROUTER (acknowledged: answered once
 * counted, as routing answers once it routed). Returns false when none came. */
static bool
s_counter_one(struct s_counter *c, zsock_t *sock, vx_arena_t *a)
{
    if (c->acked) {
        uint8_t id[VX_ACK_ID_MAX];
        size_t id_len = 0;
        zmq_msg_t body;
        if (vx_acks_recv(sock, id, &id_len, &body) < 0) {
            zmq_pollitem_t it = {zsock_resolve(sock), 0, ZMQ_POLLIN, 0};
            zmq_poll(&it, 1, 100);
            return false;
        }
        vx_batch_t *b = vx_wire_decode(zmq_msg_data(&body), zmq_msg_size(&body), a);
        if (b) {
            s_count(c, b);
            if (b->batch_sequence > 0) {
                vx_acks_send(sock, id, id_len, b->batch_sequence);
            }
        } else {
            snprintf(c->errors, sizeof c->errors, "undecodable batch");
        }
        zmq_msg_close(&body);
        return true;
    }
    struct vx_wire_msg m;
    if (vx_wire_recv(sock, &m, 0) < 0) {
        return false;
    }
    vx_batch_t *b = vx_wire_decode(zmq_msg_data(&m.body), zmq_msg_size(&m.body), a);
    if (b) {
        s_count(c, b);
    } else {
        snprintf(c->errors, sizeof c->errors, "undecodable batch");
    }
    vx_wire_msg_fini(&m);
    return true;
}

static void *
s_counter_main(void *arg)
{
    struct s_counter *c = arg;
    zsock_t *sock = vt_sock_ex(&(struct vt_sock_opts){
        .type = c->acked ? ZMQ_ROUTER : ZMQ_PULL, .endpoint = c->endpoint, .hwm = 100000,
        .rcvtimeo_ms = 100});
    ck_assert_ptr_nonnull(sock);
    vx_arena_t *a = vx_arena_new(1 << 20, 0);
    while (!atomic_load(&c->stop)) {
        if (s_counter_one(c, sock, a)) {
            vx_arena_reset(a);
        }
    }
    vx_arena_destroy(&a);
    zsock_destroy(&sock);
    return NULL;
}

static void
s_counter_start_ex(struct s_counter *c, const char *endpoint, size_t n, bool acked)
{
    memset(c, 0, sizeof *c);
    c->endpoint = endpoint;
    c->n = n;
    c->acked = acked;
    c->seen = calloc(n + 1, sizeof *c->seen);
    ck_assert_int_eq(pthread_create(&c->thread, NULL, s_counter_main, c), 0);
}

static void
s_counter_start(struct s_counter *c, const char *endpoint, size_t n)
{
    s_counter_start_ex(c, endpoint, n, false);
}

static void
s_counter_stop(struct s_counter *c)
{
    atomic_store(&c->stop, true);
    pthread_join(c->thread, NULL);
    free(c->seen);
}

/* Waits until cond holds; polls every 20 ms. */
#define S_WAIT_FOR(cond, ms)                                                                   \
    do {                                                                                       \
        for (int waited_ = 0; !(cond) && waited_ < (ms); waited_ += 20) {                      \
            usleep(20 * 1000);                                                                 \
        }                                                                                      \
    } while (0)

static void
s_fwd_start_acked(struct s_fwd *f, const struct ph_daemon *d, int ack_timeout_ms)
{
    char extra[512];
    snprintf(extra, sizeof extra,
             "  ack_endpoint: %s\n  ack_timeout_ms: %d\n  batch_max_events: 50\n"
             "  buffer_max_batches: 2000\n",
             d->acked, ack_timeout_ms);
    s_fwd_start_with(f, d, extra);
}

/* Waits until the forwarder holds no batch (everything acknowledged) and then until the
 * receiver saw nothing new for a while. */
static void
s_settle(const struct s_fwd *f, struct s_counter *c)
{
    S_WAIT_FOR(s_metric(f->rest_port, "vexfs_forwarder_buffered_batches") == 0, 60000);
    size_t last;
    do {
        last = atomic_load(&c->total);
        usleep(500 * 1000);
    } while (atomic_load(&c->total) != last);
}

START_TEST(t_kill9_at_least_once)
{
    enum { n = 24000, phases = 4 };
    struct ph_daemon d;
    /* The acknowledged output, as every shipped profile runs it: what propagation took is
     * answered only once its consumer answered, so a kill -9 loses nothing the forwarder was
     * told was taken (with a plain output, what was answered but still queued for the output
     * dies with the process, as the README says). */
    ph_start(&d, "  dedup_window_ms: 600000\n  output_acked: true\n", NULL);
    struct s_counter c;
    s_counter_start_ex(&c, d.output, n, true);
    struct s_fwd f;
    s_fwd_start_acked(&f, &d, 1000);
    struct s_stream st;
    s_stream_make(&st, n);
    struct s_writer w = {.st = &st, .fifo = f.fifo};
    ck_assert_int_eq(pthread_create(&w.thread, NULL, s_writer_main, &w), 0);

    for (size_t p = 0; p < phases; p++) {
        size_t start = p * n / phases;
        atomic_store(&w.limit, (p + 1) * n / phases);
        if (p == phases - 1) {
            break;
        }
        /* Mid-stream: a third of this phase has been published, the rest is flowing. */
        S_WAIT_FOR(atomic_load(&c.distinct) >= start + n / phases / 3, 60000);
        ck_assert_uint_ge(atomic_load(&c.distinct), start + n / phases / 3);
        if (p == 1) {
            /* Make sure batches are in flight when the process dies: stop it until the
             * forwarder has sent batches it cannot have acknowledged. */
            kill(d.pid, SIGSTOP);
            /* The phase's records may all be acknowledged already: let the writer go on into
             * the next phase's, which the stopped propagation cannot acknowledge. */
            atomic_store(&w.limit, (p + 2) * n / phases);
            S_WAIT_FOR(s_metric(f.rest_port, "vexfs_forwarder_unacked_batches") > 0, 20000);
            ck_assert(s_metric(f.rest_port, "vexfs_forwarder_unacked_batches") > 0);
        }
        ph_kill9(&d);
        usleep(200 * 1000); /* records keep coming in: the forwarder buffers them */
        ph_restart(&d);
    }
    S_WAIT_FOR(atomic_load(&c.distinct) == n, 120000);
    s_settle(&f, &c);
    atomic_store(&w.stop, true);
    pthread_join(w.thread, NULL);

    size_t distinct = atomic_load(&c.distinct), total = atomic_load(&c.total);
    double resent = s_metric(f.rest_port, "vexfs_forwarder_events_resent_total");
    double acked = s_metric(f.rest_port, "vexfs_forwarder_events_acked_total");
    ck_assert_msg(c.errors[0] == '\0', "receiver: %s", c.errors);
    ck_assert_msg(distinct == n, "%zu of %d events arrived (resent %.0f); logs in %s", distinct,
                  n, resent, d.dir);
    /* The stopped-then-killed instance had batches in flight: they were sent again. */
    ck_assert_msg(resent > 0, "nothing was resent");
    ck_assert(s_metric(f.rest_port, "vexfs_forwarder_link_resets_total") >= 1);
    /* A copy downstream can only come from a resend (to a new instance, which has an empty
     * dedup window). */
    ck_assert_msg(total - n <= (size_t)resent, "%zu duplicates but only %.0f events resent",
                  total - n, resent);
    ck_assert(acked >= n);
    ck_assert(s_metric(f.rest_port, "vexfs_forwarder_records_total") == n);
    ck_assert(s_metric(f.rest_port, "vexfs_forwarder_events_dropped_total{reason=\"shutdown\"}") ==
              0);
    ck_assert(s_metric(f.rest_port, "vexfs_forwarder_events_dropped_total{reason=\"send_error\"}") ==
              0);

    int stf = vt_stop(f.pid, SIGTERM, 20000);
    ck_assert_msg(WIFEXITED(stf) && WEXITSTATUS(stf) == 0, "forwarder exit status %d", stf);
    s_counter_stop(&c);
    s_stream_fini(&st);
    ph_stop(&d);
}
END_TEST

START_TEST(t_resend_deduplicated)
{
    enum { n = 4000 };
    struct ph_daemon d;
    ph_start(&d, "  dedup_window_ms: 600000\n", NULL);
    struct s_counter c;
    s_counter_start(&c, d.output, n);
    struct s_fwd f;
    s_fwd_start_acked(&f, &d, 300);
    struct s_stream st;
    s_stream_make(&st, n);
    struct s_writer w = {.st = &st, .fifo = f.fifo};
    ck_assert_int_eq(pthread_create(&w.thread, NULL, s_writer_main, &w), 0);

    atomic_store(&w.limit, n / 2);
    S_WAIT_FOR(atomic_load(&c.distinct) == n / 2, 60000);
    ck_assert_uint_eq(atomic_load(&c.distinct), n / 2);
    /* Propagation stops answering; the batches it holds unread time out and go again. */
    kill(d.pid, SIGSTOP);
    atomic_store(&w.limit, n);
    S_WAIT_FOR(s_metric(f.rest_port, "vexfs_forwarder_batches_resent_total") > 0, 30000);
    kill(d.pid, SIGCONT);
    ck_assert(s_metric(f.rest_port, "vexfs_forwarder_batches_resent_total") > 0);
    S_WAIT_FOR(atomic_load(&c.distinct) == n, 60000);
    s_settle(&f, &c);
    /* Every copy of a resend met the dedup window, none went downstream. */
    double resent = s_metric(f.rest_port, "vexfs_forwarder_events_resent_total");
    double resent_b = s_metric(f.rest_port, "vexfs_forwarder_batches_resent_total");
    S_WAIT_FOR(ph_metric(&d, "vexfs_events_deduplicated_total") == resent, 20000);
    ck_assert_msg(c.errors[0] == '\0', "receiver: %s", c.errors);
    ck_assert_uint_eq(atomic_load(&c.distinct), n);
    ck_assert_uint_eq(atomic_load(&c.total), n);
    ck_assert_msg(ph_metric(&d, "vexfs_events_deduplicated_total") == resent,
                  "propagation removed %.0f duplicates, the forwarder resent %.0f events",
                  ph_metric(&d, "vexfs_events_deduplicated_total"), resent);
    ck_assert(ph_metric(&d, "vexfs_batches_replayed_total") == resent_b);
    ck_assert(ph_metric(&d, "vexfs_events_processed_total") == n);
    ck_assert(s_metric(f.rest_port, "vexfs_forwarder_events_acked_total") == n);

    atomic_store(&w.stop, true);
    pthread_join(w.thread, NULL);
    int stf = vt_stop(f.pid, SIGTERM, 20000);
    ck_assert_msg(WIFEXITED(stf) && WEXITSTATUS(stf) == 0, "forwarder exit status %d", stf);
    s_counter_stop(&c);
    s_stream_fini(&st);
    ph_stop(&d);
}
END_TEST

/* The last number after `after` in the last log line holding id; -1 when there is none. */
static long long
s_log_number(const char *path, const char *id, const char *after)
{
    FILE *fp = fopen(path, "r");
    char line[4096];
    long long v = -1;
    while (fp && fgets(line, sizeof line, fp)) {
        const char *p = strstr(line, id) ? strstr(line, after) : NULL;
        if (p) {
            v = strtoll(p + strlen(after), NULL, 10);
        }
    }
    if (fp) {
        fclose(fp);
    }
    return v;
}

/* The forwarder stops within shutdown_timeout_ms with propagation absent (_i 0: stopped before
 * any record) or stalled (_i 1: SIGSTOP), and counts every event it still held as lost, in its
 * log line and under vexfs_events_lost_total{hop="producer_to_propagation"}. Nothing was ever
 * acknowledged, so that is every event it translated. */
START_TEST(t_stop_in_time_propagation_gone)
{
    enum { n = 1000, timeout_ms = 5000, margin_ms = 4000 }; /* margin < timeout: see test_shutdown */
    struct ph_daemon d;
    ph_start(&d, NULL, NULL);
    struct s_fwd f;
    char extra[512];
    snprintf(extra, sizeof extra,
             "  ack_endpoint: %s\n  ack_timeout_ms: 500\n  batch_max_events: 50\n"
             "  buffer_max_batches: 2000\n  shutdown_timeout_ms: %d\n",
             d.acked, (int)timeout_ms);
    s_fwd_start_with(&f, &d, extra);
    if (_i == 0) {
        ph_stop(&d);
    } else {
        kill(d.pid, SIGSTOP);
    }
    struct s_stream st;
    s_stream_make(&st, n);
    struct s_writer w = {.st = &st, .fifo = f.fifo};
    atomic_store(&w.limit, n);
    ck_assert_int_eq(pthread_create(&w.thread, NULL, s_writer_main, &w), 0);
    S_WAIT_FOR(s_metric(f.rest_port, "vexfs_forwarder_records_total") == n, 60000);
    ck_assert(s_metric(f.rest_port, "vexfs_forwarder_records_total") == n);
    ck_assert(s_metric(f.rest_port, "vexfs_forwarder_events_acked_total") == 0);
    pthread_join(w.thread, NULL);
    uint64_t t0 = vt_now_ms();
    int stf = vt_stop(f.pid, SIGTERM, 60000);
    uint64_t ms = vt_now_ms() - t0;
    ck_assert_msg(WIFEXITED(stf) && WEXITSTATUS(stf) == 0, "forwarder exit status %d; log in %s",
                  stf, f.log);
    ck_assert_msg(ms <= timeout_ms + margin_ms, "the forwarder took %llu ms to stop; log in %s",
                  (unsigned long long)ms, f.log);
    long long lost = s_log_number(f.log, "FWD-STOP-DROP", "FWD-STOP-DROP ");
    ck_assert_msg(lost == n, "%lld events counted lost, expected %d; log in %s", lost, (int)n,
                  f.log);
    fprintf(stderr, "forwarder, propagation %s: stop took %llu ms, %lld events lost\n",
            _i == 0 ? "absent" : "stalled", (unsigned long long)ms, lost);
    s_stream_fini(&st);
    if (_i == 1) {
        kill(d.pid, SIGCONT);
        ph_stop(&d);
    }
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("forwarder");
    TCase *tc = tcase_create("forwarder");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, t_fields_arrive);
    tcase_add_test(tc, t_resend_deduplicated);
    tcase_add_test(tc, t_kill9_at_least_once);
    tcase_add_loop_test(tc, t_stop_in_time_propagation_gone, 0, 2);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
