/* SPDX-License-Identifier: Apache-2.0 */
/* Replay of the Kafka input from a point in time or offsets (POST /v1/replay): locating the
 * range in every owned partition, seeking there, counting the replayed events, throttling to
 * replay_max_events_per_sec and seeing the end. The request's validation is an_replay.c. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "an_config.h"
#include "an_server_priv.h"
#include "vx_clock.h"
#include "vx_log.h"
#include "vx_mem.h"

static void
s_replay_fail(an_server_t *s, const char *what, const char *why)
{
    struct an_replay_run *rr = &s->replay;
    snprintf(rr->error, sizeof rr->error, "%s: %s", what, why);
    rr->state = AN_REPLAY_FAILED;
    rr->finished_ns = vx_mono_ns();
    vx_counter_add(s->c_replay_failed, 1);
    vx_warn("AN-REPLAY-FAILED", "%s", rr->error);
}

/* Where the replay starts and ends in every owned partition (rr->req), found from the broker
 * and sought to: parts (n_parts of them, at most s->n_parts) and their events in *total.
 * Returns 0, or -1 with what failed in what/why. Without the lock: broker round trips. */
static int
s_replay_locate(an_server_t *s, const struct an_replay_req *req, struct an_replay_part *parts,
                size_t *n_parts, uint64_t *total, char *what, size_t wlen, char *why,
                size_t ylen)
{
    int rc = -1;
    *n_parts = 0;
    *total = 0;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < s->n_parts; i++) {
        int32_t id = s->parts[i]->partition;
        if (id < 0) {
            continue;
        }
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(s->rk, s->topic, id, &lo, &hi,
                                                                   10000);
        if (err) {
            snprintf(what, wlen, "reading the partition's offsets");
            snprintf(why, ylen, "%s", rd_kafka_err2str(err));
            goto out;
        }
        parts[(*n_parts)++] = (struct an_replay_part){id, lo, hi, false};
        rd_kafka_topic_partition_list_add(list, s->topic, id)->offset =
            req->earliest ? lo : req->from_ms;
    }
    if (!req->earliest && list->cnt > 0) {
        rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(s->rk, list, 10000);
        if (err) {
            snprintf(what, wlen, "offsets for the timestamp");
            snprintf(why, ylen, "%s", rd_kafka_err2str(err));
            goto out;
        }
    }
    for (int i = 0; i < list->cnt; i++) {
        struct an_replay_part *rp = &parts[i];
        rd_kafka_topic_partition_t *tp = &list->elems[i];
        if (tp->err) {
            snprintf(what, wlen, "offsets for the timestamp");
            snprintf(why, ylen, "%s", rd_kafka_err2str(tp->err));
            goto out;
        }
        /* no message at or after the timestamp: nothing to replay in this partition */
        rp->start = tp->offset >= 0 ? tp->offset : rp->end;
        tp->offset = rp->start;
        *total += rp->end > rp->start ? (uint64_t)(rp->end - rp->start) : 0;
    }
    if (list->cnt > 0) {
        rd_kafka_error_t *kerr = rd_kafka_seek_partitions(s->rk, list, 10000);
        if (kerr) {
            snprintf(what, wlen, "seeking");
            snprintf(why, ylen, "%s", rd_kafka_error_string(kerr));
            rd_kafka_error_destroy(kerr);
            goto out;
        }
        for (int i = 0; i < list->cnt; i++) {
            if (list->elems[i].err) {
                snprintf(what, wlen, "seeking");
                snprintf(why, ylen, "%s", rd_kafka_err2str(list->elems[i].err));
                goto out;
            }
        }
    }
    rc = 0;
out:
    rd_kafka_topic_partition_list_destroy(list);
    return rc;
}

/* Finds where the replay starts and ends in every owned partition, seeks there and starts the
 * partitions' windows afresh. Called with the lock held, on the loop thread; the broker round
 * trips (up to 10 s each under a slow broker) run with the lock released, so REST readers
 * (GET /v1/replay, /metrics, queries) are not held up meanwhile. That is safe: only this thread
 * changes the partitions, and the replay stays pending meanwhile, so another POST is refused. */
void
an_input_replay_begin(an_server_t *s)
{
    struct an_replay_run *rr = &s->replay;
    struct an_replay_req req = rr->req;
    struct an_replay_part *parts = vx_calloc(s->n_parts ? s->n_parts : 1, sizeof *parts);
    size_t n_parts = 0;
    uint64_t total = 0;
    char what[64] = "", why[256] = "";
    pthread_mutex_unlock(&s->lock);
    int rc = s_replay_locate(s, &req, parts, &n_parts, &total, what, sizeof what, why,
                             sizeof why);
    pthread_mutex_lock(&s->lock);
    free(rr->parts);
    rr->parts = parts;
    rr->n_parts = n_parts;
    rr->done = 0;
    rr->total = total;
    rr->started_ns = vx_mono_ns();
    rr->error[0] = '\0';
    if (rc < 0) {
        s_replay_fail(s, what, why);
        return;
    }
    int32_t *ids = vx_calloc(rr->n_parts ? rr->n_parts : 1, sizeof *ids);
    for (size_t i = 0; i < rr->n_parts; i++) {
        ids[i] = rr->parts[i].partition;
    }
    uint64_t min_start = rr->req.earliest ? 0 : (uint64_t)rr->req.from_ms * VX_NS_PER_MS;
    an_server_ring_forget(s, ids, rr->n_parts, min_start);
    free(ids);
    an_server_sync_metrics(s);
    for (size_t i = 0; i < rr->n_parts; i++) {
        an_server_part_drop(s, rr->parts[i].partition);
        struct an_part *p = an_server_part(s, rr->parts[i].partition);
        an_engine_set_min_start(p->eng, min_start);
        p->start_offset = rr->parts[i].start;
    }
    rr->state = AN_REPLAY_RUNNING;
    vx_info("AN-REPLAY-START", "replaying %" PRIu64 " events in %zu partitions", rr->total,
            rr->n_parts);
}

static uint64_t
s_replay_remaining(an_server_t *s)
{
    uint64_t left = 0;
    for (size_t i = 0; i < s->replay.n_parts; i++) {
        const struct an_replay_part *rp = &s->replay.parts[i];
        struct an_part *p = rp->gone ? NULL : an_server_part_find(s, rp->partition);
        if (!p) {
            continue;
        }
        int64_t pos = p->next_offset > rp->start ? p->next_offset : rp->start;
        left += rp->end > pos ? (uint64_t)(rp->end - pos) : 0;
    }
    return left;
}

void
an_input_replay_check(an_server_t *s)
{
    if (s_replay_remaining(s) == 0) {
        s->replay.state = AN_REPLAY_DONE;
        s->replay.finished_ns = vx_mono_ns();
        vx_counter_add(s->c_replay_done, 1);
        vx_info("AN-REPLAY-DONE", "replayed %" PRIu64 " events", s->replay.done);
    }
}

int
an_server_replay(an_server_t *s, const struct an_replay_req *req)
{
    if (!s->rk) {
        return -ENOTSUP;
    }
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    if (s->replay.state == AN_REPLAY_PENDING || s->replay.state == AN_REPLAY_RUNNING) {
        rc = -EBUSY;
    } else {
        s->replay.state = AN_REPLAY_PENDING;
        s->replay.req = *req;
        s->replay.started_ns = vx_mono_ns();
        s->replay.finished_ns = 0;
        s->replay.done = s->replay.total = 0;
        s->replay.n_parts = 0;
        s->replay.error[0] = '\0';
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

json_t *
an_server_replay_status(an_server_t *s)
{
    pthread_mutex_lock(&s->lock);
    const struct an_replay_run *rr = &s->replay;
    uint64_t remaining = rr->state == AN_REPLAY_RUNNING ? s_replay_remaining(s) : 0;
    uint64_t end = rr->finished_ns ? rr->finished_ns : vx_mono_ns();
    double secs = rr->state == AN_REPLAY_IDLE ? 0 : (double)(end - rr->started_ns) / (double)VX_NS_PER_S;
    json_t *j = json_pack("{s:s, s:b, s:I, s:I, s:I, s:f, s:f}", "state",
                          an_replay_state_name(rr->state), "kafka", s->rk != NULL, "events_done",
                          (json_int_t)rr->done, "events_remaining", (json_int_t)remaining,
                          "events_total", (json_int_t)rr->total, "elapsed_s", secs,
                          "rate_events_per_s", secs > 0 ? (double)rr->done / secs : 0.0);
    if (rr->state != AN_REPLAY_IDLE) {
        json_object_set_new(j, "from",
                            rr->req.earliest ? json_string("earliest")
                                             : json_pack("{s:I}", "timestamp_ms",
                                                         (json_int_t)rr->req.from_ms));
    }
    json_t *parts = json_array();
    for (size_t i = 0; i < rr->n_parts; i++) {
        const struct an_replay_part *rp = &rr->parts[i];
        struct an_part *p = rp->gone ? NULL : an_server_part_find(s, rp->partition);
        json_array_append_new(parts, json_pack("{s:i, s:I, s:I, s:I, s:b}", "partition",
                                               (int)rp->partition, "start_offset",
                                               (json_int_t)rp->start, "end_offset",
                                               (json_int_t)rp->end, "position",
                                               (json_int_t)(p ? p->next_offset : -1), "revoked",
                                               rp->gone));
    }
    json_object_set_new(j, "partitions", parts);
    if (rr->error[0]) {
        json_object_set_new(j, "error", json_string(rr->error));
    }
    pthread_mutex_unlock(&s->lock);
    return j;
}

/* Counts message m when it falls in the range being replayed. Lock held. */
void
an_input_replay_count(an_server_t *s, const rd_kafka_message_t *m)
{
    for (size_t k = 0; k < s->replay.n_parts; k++) {
        const struct an_replay_part *rp = &s->replay.parts[k];
        if (rp->partition == m->partition && m->offset < rp->end) {
            s->replay.done++;
            vx_counter_add(s->c_replay_events, 1);
        }
    }
}

/* Keeps a replay under replay_max_events_per_sec by waiting before the next batch (at most
 * 100 ms at a time, so a stop is seen). */
void
an_input_replay_throttle(an_server_t *s)
{
    pthread_mutex_lock(&s->lock);
    uint64_t wait_ns = 0;
    if (s->replay.state == AN_REPLAY_RUNNING && s->replay_rate > 0) {
        double elapsed = (double)(vx_mono_ns() - s->replay.started_ns) / (double)VX_NS_PER_S;
        double ahead = (double)s->replay.done - (double)s->replay_rate * elapsed;
        if (ahead > 0) {
            double secs = ahead / (double)s->replay_rate;
            wait_ns = secs > 0.1 ? 100 * VX_NS_PER_MS : (uint64_t)(secs * (double)VX_NS_PER_S);
        }
    }
    pthread_mutex_unlock(&s->lock);
    if (wait_ns) {
        struct timespec ts = {(time_t)(wait_ns / 1000000000ULL), (long)(wait_ns % 1000000000ULL)};
        nanosleep(&ts, NULL);
    }
}
