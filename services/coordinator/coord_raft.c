/* SPDX-License-Identifier: Apache-2.0 */
/* The raft thread: libraft + libuv, the operation queue, the status timer. */
#include "coord_raft.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "coord_input.h"
#include "coord_peer.h"
#include "coord_seal.h"
#include "coord_raft_priv.h"
#include "vx_clock.h"
#include "vx_log.h"
#include "vx_mem.h"

/* ---- operations ------------------------------------------------------------------------- */

struct coord_op *
coord_op_new(int kind, int refs)
{
    struct coord_op *op = vx_calloc(1, sizeof *op);
    atomic_init(&op->refs, refs);
    pthread_mutex_init(&op->mu, NULL);
    pthread_cond_init(&op->cv, NULL);
    op->kind = kind;
    op->start_ns = vx_mono_ns();
    return op;
}

void
coord_op_result_fini(struct coord_op_result *res)
{
    json_decref(res->apply.current);
    res->apply.current = NULL;
}

void
coord_op_release(struct coord_op *op)
{
    if (atomic_fetch_sub(&op->refs, 1) == 1) {
        pthread_mutex_destroy(&op->mu);
        pthread_cond_destroy(&op->cv);
        free(op->part);
        coord_op_result_fini(&op->res);
        free(op);
    }
}

/* Loop thread: publishes the result to the waiting caller and drops the loop's reference. */
void
coord_op_finish(struct coord_op *op, int status, const char *fmt, ...)
{
    coord_raft_t *r = op->owner;
    op->res.status = status;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(op->res.message, sizeof op->res.message, fmt, ap);
        va_end(ap);
    }
    op->res.latency_s = (double)(vx_mono_ns() - op->start_ns) / (double)VX_NS_PER_S;
    if (r) {
        op->res.term = r->raft.current_term;
        op->res.leader = coord_raft_live_leader(r);
        if (op->kind == COORD_OP_APPLY) {
            r->inflight--;
            if (op->input_epoch && r->input) {
                coord_input_finished(r->input, op->input_epoch, status);
            }
            if (status == 0) {
                vx_histogram_observe(r->m_latency, op->res.latency_s);
                if (op->res.latency_s * 1000.0 > (double)atomic_load(&r->max_latency_ms)) {
                    vx_counter_add(r->m_slow, 1);
                }
            } else if (status != -ENOTCONN) {
                vx_counter_add(r->m_failures, 1);
            }
        } else if (op->kind == COORD_OP_READ && status == 0) {
            vx_histogram_observe(r->m_read_latency, op->res.latency_s);
        }
    }
    pthread_mutex_lock(&op->mu);
    op->done = true;
    pthread_cond_signal(&op->cv);
    pthread_mutex_unlock(&op->mu);
    coord_op_release(op);
}

int
coord_raft_errno(int rv)
{
    switch (rv) {
    case RAFT_NOTLEADER:
        return -ENOTCONN;
    case RAFT_LEADERSHIPLOST:
        return -EAGAIN;
    case RAFT_CANTCHANGE:
        return -EBUSY;
    case RAFT_NOTFOUND:
    case RAFT_BADID:
        return -ENOENT;
    case RAFT_DUPLICATEID:
    case RAFT_DUPLICATEADDRESS:
        return -EEXIST;
    case RAFT_SHUTDOWN:
        return -ESHUTDOWN;
    case RAFT_NOSPACE:
        return -ENOSPC;
    default:
        return -EIO;
    }
}

static void
cb_transferred(struct raft_transfer *req)
{
    struct coord_op *op = req->data;
    coord_raft_t *r = op->owner;
    raft_id lid = 0;
    const char *addr = NULL;
    raft_leader(&r->raft, &lid, &addr);
    if (op->id != 0 && lid != op->id) {
        coord_op_finish(op, -ETIMEDOUT, "node %" PRIu64 " did not take over (leader is %llu)",
                        op->id, (unsigned long long)lid);
    } else if (op->id == 0 && lid == r->raft.id) {
        coord_op_finish(op, -ETIMEDOUT, "no other voter took over");
    } else {
        coord_op_finish(op, 0, NULL);
    }
}

static void cb_changed(struct raft_change *req, int status);

static void
cb_changed(struct raft_change *req, int status)
{
    struct coord_op *op = req->data;
    coord_raft_t *r = op->owner;
    if (status != 0) {
        coord_op_finish(op, coord_raft_errno(status), "%s", raft_strerror(status));
        return;
    }
    if (op->kind == COORD_OP_ADD && !op->assigned) {
        /* Added as spare; now promote: raft catches the node up before it votes. */
        op->assigned = true;
        int rv = raft_assign(&r->raft, &op->change, op->id, RAFT_VOTER, cb_changed);
        if (rv != 0) {
            coord_op_finish(op, coord_raft_errno(rv), "%s", raft_errmsg(&r->raft));
        }
        return;
    }
    coord_op_finish(op, 0, NULL);
}

static void
s_run_op(coord_raft_t *r, struct coord_op *op)
{
    op->owner = r;
    if (op->kind == COORD_OP_APPLY) {
        coord_group_add(r, op);
        return;
    }
    if (r->closing) {
        coord_op_finish(op, -ESHUTDOWN, "shutting down");
        return;
    }
    int rv = 0;
    switch (op->kind) {
    case COORD_OP_READ:
        coord_read_add(r, op);
        return;
    case COORD_OP_TRANSFER:
        op->transfer.data = op;
        if (op->id != 0 && op->id == r->raft.id && raft_state(&r->raft) == RAFT_LEADER) {
            op->res.already_leader = true;
            coord_op_finish(op, 0, "node %" PRIu64 " is the leader already", op->id);
            return;
        }
        if (op->id != 0 && !coord_raft_has_voter(r, op->id)) {
            coord_op_finish(op, -ENOENT, "node %" PRIu64 " is not a voter of the cluster", op->id);
            return;
        }
        rv = raft_transfer(&r->raft, &op->transfer, op->id, cb_transferred);
        break;
    case COORD_OP_ADD:
        if (coord_disk_blocked(r)) {
            coord_op_finish(op, -ENOSPC, "this node's disk is full (%s): nothing was changed",
                            coord_disk_why(r));
            return;
        }
        op->change.data = op;
        rv = raft_add(&r->raft, &op->change, op->id, op->member.raft_addr, cb_changed);
        if (rv == 0) {
            coord_raft_remember(r, &op->member);
        }
        break;
    case COORD_OP_REMOVE:
        if (coord_disk_blocked(r)) {
            coord_op_finish(op, -ENOSPC, "this node's disk is full (%s): nothing was changed",
                            coord_disk_why(r));
            return;
        }
        op->change.data = op;
        rv = raft_remove(&r->raft, &op->change, op->id, cb_changed);
        break;
    default:
        coord_op_finish(op, -EINVAL, "unknown operation");
        return;
    }
    if (rv != 0) {
        coord_op_finish(op, coord_raft_errno(rv), "%s", raft_errmsg(&r->raft));
    }
}

static void
cb_queue(uv_async_t *a)
{
    coord_raft_t *r = a->data;
    pthread_mutex_lock(&r->q_mu);
    struct coord_op *head = r->q_head;
    r->q_head = r->q_tail = NULL;
    bool stop = r->stop_requested;
    pthread_mutex_unlock(&r->q_mu);
    while (head) {
        struct coord_op *next = head->next;
        head->next = NULL;
        s_run_op(r, head);
        head = next;
    }
    coord_group_flush(r);
    if (stop && !r->closing) {
        coord_raft_close(r);
    }
}

/* Any thread: queues op (taking the loop's reference) and wakes the loop. */
static int
s_enqueue(coord_raft_t *r, struct coord_op *op)
{
    pthread_mutex_lock(&r->q_mu);
    if (r->stop_requested) {
        pthread_mutex_unlock(&r->q_mu);
        return -ESHUTDOWN;
    }
    if (r->q_tail) {
        r->q_tail->next = op;
    } else {
        r->q_head = op;
    }
    r->q_tail = op;
    pthread_mutex_unlock(&r->q_mu);
    uv_async_send(&r->async);
    return 0;
}

/* Queues op and waits for it; fills res. Consumes the caller's reference. */
static int
s_call(coord_raft_t *r, struct coord_op *op, int timeout_ms, struct coord_op_result *res)
{
    memset(res, 0, sizeof *res);
    int rc = s_enqueue(r, op);
    if (rc < 0) {
        /* Two references (the loop's, never handed over, and ours): the second release frees.
         * NOLINTNEXTLINE(clang-analyzer-unix.Malloc): the count starts at 2 */
        coord_op_release(op);
        coord_op_release(op); // NOLINT(clang-analyzer-unix.Malloc)
        res->status = rc;
        snprintf(res->message, sizeof res->message, "shutting down");
        return rc;
    }
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    uint64_t ns = (uint64_t)dl.tv_nsec + (uint64_t)timeout_ms * VX_NS_PER_MS;
    dl.tv_sec += (time_t)(ns / VX_NS_PER_S);
    dl.tv_nsec = (long)(ns % VX_NS_PER_S);
    pthread_mutex_lock(&op->mu);
    while (!op->done) {
        if (pthread_cond_timedwait(&op->cv, &op->mu, &dl) == ETIMEDOUT) {
            break;
        }
    }
    if (op->done) {
        *res = op->res;
        json_incref(res->apply.current);
    } else {
        res->status = -ETIMEDOUT;
        snprintf(res->message, sizeof res->message, "no outcome within %d ms", timeout_ms);
        res->leader = coord_raft_leader(r, NULL) ? atomic_load(&r->leader_id) : 0;
    }
    pthread_mutex_unlock(&op->mu);
    coord_op_release(op);
    return res->status;
}

int
coord_raft_submit(coord_raft_t *r, int kind, const void *payload, size_t len, int timeout_ms,
                  struct coord_op_result *res)
{
    struct coord_op *op = coord_op_new(COORD_OP_APPLY, 2);
    op->part_kind = kind;
    op->part = vx_malloc(len ? len : 1);
    memcpy(op->part, payload, len);
    op->part_len = len;
    return s_call(r, op, timeout_ms, res);
}

int
coord_raft_read(coord_raft_t *r, enum coord_consistency mode, int timeout_ms,
                struct coord_op_result *res)
{
    if (mode == COORD_READ_ANY) {
        memset(res, 0, sizeof *res);
        return 0;
    }
    struct coord_op *op = coord_op_new(COORD_OP_READ, 2);
    op->read_mode = (int)mode;
    return s_call(r, op, timeout_ms, res);
}

int
coord_raft_transfer(coord_raft_t *r, uint64_t id, int timeout_ms, struct coord_op_result *res)
{
    struct coord_op *op = coord_op_new(COORD_OP_TRANSFER, 2);
    op->id = id;
    return s_call(r, op, timeout_ms, res);
}

int
coord_raft_add(coord_raft_t *r, const struct coord_member *m, int timeout_ms,
               struct coord_op_result *res)
{
    struct coord_op *op = coord_op_new(COORD_OP_ADD, 2);
    op->id = m->id;
    op->member = *m;
    return s_call(r, op, timeout_ms, res);
}

int
coord_raft_remove(coord_raft_t *r, uint64_t id, int timeout_ms, struct coord_op_result *res)
{
    struct coord_op *op = coord_op_new(COORD_OP_REMOVE, 2);
    op->id = id;
    return s_call(r, op, timeout_ms, res);
}

/* ---- the state machine, as raft sees it ---------------------------------------------------- */

/* A sealed entry or snapshot that does not open stops this node: it must not apply less than
 * the others, nor anything it cannot check. Loop thread. */
void
coord_raft_fatal(coord_raft_t *r, const char *what, const char *err)
{
    vx_error("COORD-SEALED", "%s: %s; stopping (the state machine applied nothing of it)", what,
             err);
    atomic_store(&r->failed, true);
    kill(getpid(), SIGTERM);
}

static int
cb_fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    coord_raft_t *r = fsm->data;
    /* Entries are applied in order right after last_applied: this is the entry's index. */
    uint64_t index = r->raft.last_applied + 1;
    const void *data = buf->base;
    size_t len = buf->len;
    uint8_t *plain = NULL;
    if (coord_seal_is_sealed(data, len)) {
        char err[300], what[64];
        int rc = coord_seal_open(r->opts.sealer, COORD_SEAL_ENTRY, data, len, &plain, &len, err,
                                 sizeof err);
        if (rc == -ENOKEY && coord_raft_keys_reload(r)) {
            len = buf->len;
            rc = coord_seal_open(r->opts.sealer, COORD_SEAL_ENTRY, data, len, &plain, &len, err,
                                 sizeof err);
        }
        if (rc < 0) {
            snprintf(what, sizeof what, "entry %" PRIu64, index);
            coord_raft_fatal(r, what, err);
            return RAFT_CORRUPT;
        }
        data = plain;
    }
    const struct coord_apply_results *res = coord_fsm_apply(r->fsm, data, len, index);
    free(plain);
    for (size_t i = 0; i < res->n; i++) {
        if (res->r[i].status == -EPROTO) {
            vx_warn("COORD-APPLY", "part %zu of entry %" PRIu64 " not applied: %s", i, index,
                    res->r[i].message);
        }
    }
    *result = (void *)res;
    coord_read_applied(r, index);
    return 0;
}

/* ---- the thread ---------------------------------------------------------------------------- */

static void
cb_handle_closed(uv_handle_t *h)
{
    (void)h;
}

/* Frees the transport after libraft closed it. */
static void
s_transport_free(coord_raft_t *r)
{
    if (r->opts.peer_keys) {
        coord_peer_fini(&r->transport);
    } else {
        raft_uv_tcp_close(&r->transport);
    }
}

static void
cb_raft_closed(struct raft *raft)
{
    coord_raft_t *r = raft->data;
    raft_uv_close(&r->io);
    s_transport_free(r);
    if (r->handles_ready) {
        uv_close((uv_handle_t *)&r->async, cb_handle_closed);
    }
}

void
coord_raft_close(coord_raft_t *r)
{
    r->closing = true;
    coord_group_fail_pending(r, -ESHUTDOWN, "shutting down");
    coord_read_fail_all(r, -ESHUTDOWN, "shutting down");
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, cb_handle_closed);
    coord_input_destroy(&r->input);
    raft_close(&r->raft, cb_raft_closed);
}

static int
s_mkdirs(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0750) < 0 && errno != EEXIST) {
                return -errno;
            }
            *p = '/';
        }
    }
    if (mkdir(path, 0750) < 0 && errno != EEXIST) {
        return -errno;
    }
    return 0;
}

/* Builds the libraft stack in the order each layer needs the one below (uv loop, transport
 * -- authenticated or plain TCP --, disk I/O, FSM, raft instance) and marks each one ready as
 * it comes up, so that a failure at any step is undone by the close path for exactly the
 * layers that exist. */
static int
s_start(coord_raft_t *r, char *err, size_t errlen)
{
    const struct coord_raft_opts *o = &r->opts;
    const struct coord_member *self = NULL;
    for (size_t i = 0; i < o->n_members; i++) {
        if (o->members[i].id == o->node_id) {
            self = &o->members[i];
        }
    }
    if (!self) {
        snprintf(err, errlen, "node_id %" PRIu64 " is not in members", o->node_id);
        return -EINVAL;
    }
    int rc = s_mkdirs(o->data_dir);
    if (rc < 0) {
        snprintf(err, errlen, "data_dir %s: %s", o->data_dir, strerror(-rc));
        return rc;
    }
    uv_loop_init(&r->loop);
    r->loop_ready = true;
    char bind[96] = "";
    if (o->raft_bind && o->raft_bind[0]) {
        const char *port = strrchr(self->raft_addr, ':');
        snprintf(bind, sizeof bind, "%s%s", o->raft_bind, port ? port : "");
    }
    int rv;
    if (o->peer_keys) {
        struct coord_peer_opts po = {.keys = o->peer_keys,
                                     .handshake_timeout_ms = o->handshake_timeout_ms,
                                     .bind_address = bind,
                                     .metrics = r->metrics,
                                     .on_view = coord_raft_on_view,
                                     .view_arg = r};
        rv = coord_peer_init(&r->transport, &r->loop, &po);
    } else {
        rv = raft_uv_tcp_init(&r->transport, &r->loop);
        if (rv == 0 && bind[0]) {
            rv = raft_uv_tcp_set_bind_address(&r->transport, bind);
            if (rv != 0) {
                raft_uv_tcp_close(&r->transport);
                snprintf(err, errlen, "raft_bind %s: %s", bind, raft_strerror(rv));
                return -EINVAL;
            }
        }
    }
    if (rv != 0) {
        snprintf(err, errlen, "raft transport: %s",
                 r->transport.errmsg[0] ? r->transport.errmsg : raft_strerror(rv));
        return -EIO;
    }
    r->transport_ready = true;
    rv = raft_uv_init(&r->io, &r->loop, o->data_dir, &r->transport);
    if (rv != 0) {
        snprintf(err, errlen, "raft I/O in %s: %s (needs a filesystem with O_DIRECT or tmpfs)",
                 o->data_dir, r->io.errmsg[0] ? r->io.errmsg : raft_strerror(rv));
        return -EIO;
    }
    r->io_ready = true;
    raft_uv_set_connect_retry_delay(&r->io, o->connect_retry_ms);
    coord_io_wrap(&r->iow, &r->io, r);
    coord_snap_fsm_init(r, &r->fsm_iface, cb_fsm_apply);
    if (o->sealer) {
        /* Sealed snapshots do not compress: libraft's LZ4 pass would only cost CPU. */
        raft_uv_set_snapshot_compression(&r->io, false);
    }
    rv = raft_init(&r->raft, &r->iow.outer, &r->fsm_iface, o->node_id, self->raft_addr);
    if (rv != 0) {
        snprintf(err, errlen, "raft_init: %s", raft_errmsg(&r->raft));
        return -EIO;
    }
    r->raft.data = r;
    r->raft_ready = true;
    if (o->bootstrap) {
        struct raft_configuration conf;
        raft_configuration_init(&conf);
        for (size_t i = 0; i < o->n_members; i++) {
            raft_configuration_add(&conf, o->members[i].id, o->members[i].raft_addr, RAFT_VOTER);
        }
        rv = raft_bootstrap(&r->raft, &conf);
        raft_configuration_close(&conf);
        if (rv != 0 && rv != RAFT_CANTBOOTSTRAP) {
            snprintf(err, errlen, "raft_bootstrap: %s", raft_errmsg(&r->raft));
            return -EIO;
        }
        vx_info("COORD-BOOT", "%s", rv == 0 ? "bootstrapped a new cluster configuration"
                                            : "data dir holds state: resuming");
    }
    raft_set_election_timeout(&r->raft, o->election_ms);
    raft_set_heartbeat_timeout(&r->raft, o->heartbeat_ms);
    raft_set_snapshot_threshold(&r->raft, o->snapshot_threshold);
    raft_set_snapshot_trailing(&r->raft, o->snapshot_trailing);
    raft_set_pre_vote(&r->raft, o->pre_vote);
    uv_async_init(&r->loop, &r->async, cb_queue);
    r->async.data = r;
    uv_timer_init(&r->loop, &r->timer);
    r->timer.data = r;
    r->handles_ready = true;
    rv = raft_start(&r->raft);
    if (rv != 0) {
        snprintf(err, errlen, "raft_start: %s", raft_errmsg(&r->raft));
        return -EIO;
    }
    unsigned period = o->heartbeat_ms < 50 ? o->heartbeat_ms : 50;
    uv_timer_start(&r->timer, coord_raft_cb_tick, 0, period);
    coord_reseal_scan_start(r);
    if (o->input_endpoint && o->input_endpoint[0]) {
        r->input = coord_input_new(r, o->socks, o->input_endpoint);
    }
    return 0;
}

static void *
s_thread(void *arg)
{
    coord_raft_t *r = arg;
    char err[512] = "";
    int rc = s_start(r, err, sizeof err);
    pthread_mutex_lock(&r->q_mu);
    r->start_rc = rc;
    snprintf(r->start_err, sizeof r->start_err, "%s", err);
    r->started = true;
    pthread_cond_broadcast(&r->start_cv);
    pthread_mutex_unlock(&r->q_mu);
    if (rc < 0) {
        /* Undo a partial start on this thread, where the loop lives. */
        if (r->raft_ready) {
            if (r->handles_ready) {
                uv_close((uv_handle_t *)&r->timer, cb_handle_closed);
            }
            raft_close(&r->raft, cb_raft_closed);
        } else {
            if (r->io_ready) {
                raft_uv_close(&r->io);
            }
            if (r->transport_ready) {
                s_transport_free(r);
            }
        }
    }
    if (r->loop_ready) {
        uv_run(&r->loop, UV_RUN_DEFAULT);
        if (uv_loop_close(&r->loop) != 0) {
            vx_warn("COORD-LOOP", "loop closed with handles still open");
        }
    }
    /* Operations queued after the loop stopped. */
    pthread_mutex_lock(&r->q_mu);
    struct coord_op *head = r->q_head;
    r->q_head = r->q_tail = NULL;
    pthread_mutex_unlock(&r->q_mu);
    while (head) {
        struct coord_op *next = head->next;
        head->owner = NULL;
        coord_op_finish(head, -ESHUTDOWN, "shutting down");
        head = next;
    }
    return NULL;
}

coord_raft_t *
coord_raft_new(const struct coord_raft_opts *opts, coord_fsm_t *fsm, vx_metrics_t *metrics,
               char *err, size_t errlen)
{
    coord_raft_t *r = vx_calloc(1, sizeof *r);
    r->opts = *opts;
    snprintf(r->data_dir, sizeof r->data_dir, "%s", opts->data_dir);
    r->opts.data_dir = r->data_dir;
    snprintf(r->input_ep, sizeof r->input_ep, "%s", opts->input_endpoint ? opts->input_endpoint : "");
    r->opts.input_endpoint = r->input_ep;
    snprintf(r->keys_dir, sizeof r->keys_dir, "%s", opts->data_keys_dir ? opts->data_keys_dir : "");
    snprintf(r->seal_alg, sizeof r->seal_alg, "%s",
             opts->seal_algorithm ? opts->seal_algorithm : "auto");
    r->opts.data_keys_dir = r->keys_dir;
    r->opts.seal_algorithm = r->seal_alg;
    atomic_init(&r->seal_key_id, opts->sealer ? vx_sealer_key_id(opts->sealer) : 0);
    r->fsm = fsm;
    r->metrics = metrics;
    atomic_init(&r->max_latency_ms, opts->max_latency_ms);
    /* Three heartbeat intervals without a word from the leader (at most an election timeout):
     * a heartbeat round failed, and this node stops sending clients to that leader. */
    r->leader_stale_ms = 3 * opts->heartbeat_ms < opts->election_ms ? 3 * opts->heartbeat_ms
                                                                     : opts->election_ms;
    pthread_mutex_init(&r->q_mu, NULL);
    pthread_cond_init(&r->start_cv, NULL);
    pthread_mutex_init(&r->st_mu, NULL);
    for (size_t i = 0; i < opts->n_members; i++) {
        coord_raft_remember(r, &opts->members[i]);
    }
    coord_raft_metrics_init(r, metrics);
    if (pthread_create(&r->thread, NULL, s_thread, r) != 0) {
        snprintf(err, errlen, "cannot start the raft thread");
        coord_raft_destroy(&r);
        return NULL;
    }
    r->thread_started = true;
    pthread_mutex_lock(&r->q_mu);
    while (!r->started) {
        pthread_cond_wait(&r->start_cv, &r->q_mu);
    }
    int rc = r->start_rc;
    pthread_mutex_unlock(&r->q_mu);
    if (rc < 0) {
        snprintf(err, errlen, "%s", r->start_err);
        coord_raft_destroy(&r);
        return NULL;
    }
    return r;
}

void
coord_raft_destroy(coord_raft_t **rp)
{
    if (!rp || !*rp) {
        return;
    }
    coord_raft_t *r = *rp;
    if (r->thread_started) {
        pthread_mutex_lock(&r->q_mu);
        r->stop_requested = true;
        bool running = r->start_rc == 0;
        pthread_mutex_unlock(&r->q_mu);
        if (running) {
            uv_async_send(&r->async);
        }
        pthread_join(r->thread, NULL);
    }
    pthread_mutex_destroy(&r->q_mu);
    pthread_cond_destroy(&r->start_cv);
    pthread_mutex_destroy(&r->st_mu);
    json_decref(r->view);
    coord_raft_keys_fini(r);
    vx_free(rp);
}

unsigned
coord_raft_retry_after_s(const coord_raft_t *r)
{
    return (r->opts.election_ms * 2 + 999) / 1000;
}

bool
coord_raft_failed(const coord_raft_t *r)
{
    return atomic_load(&r->failed);
}

void
coord_raft_set_max_latency(coord_raft_t *r, unsigned ms)
{
    atomic_store(&r->max_latency_ms, ms);
}
