/* SPDX-License-Identifier: Apache-2.0 */
/* Idempotent librdkafka producer with per-message delivery callbacks. */
#include "vx_kafka.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "vx_log.h"
#include "vx_mem.h"

struct vx_kafka {
    rd_kafka_t *rk;
    vx_kafka_dr_fn *dr;
    void *arg;
    atomic_bool fatal;
    atomic_bool refused;  /* the brokers refuse us (or TLS fails) since the last delivery */
    char what[300];       /* "producer for <brokers>", for messages */
    char settings[1024];  /* vx_kafka_security_describe, for messages */
};

static void
cb_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    vx_kafka_t *k = opaque;
    if (m->err) {
        k->dr(m->_private, -EIO, rd_kafka_err2str(m->err), k->arg);
    } else {
        atomic_store(&k->refused, false);
        k->dr(m->_private, 0, NULL, k->arg);
    }
}

static void
cb_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    vx_kafka_t *k = opaque;
    /* Transport errors are retried by librdkafka and logged once per occurrence; a refusal or
     * a TLS failure also marks the producer unhealthy until Kafka acknowledges a message. */
    switch (vx_kafka_report_error(rk, k->what, k->settings, err, reason)) {
    case VX_KAFKA_FATAL:
        atomic_store(&k->fatal, true);
        break;
    case VX_KAFKA_REFUSED:
    case VX_KAFKA_TLS:
        atomic_store(&k->refused, true);
        break;
    case VX_KAFKA_TRANSIENT:
        break;
    }
}

static void
cb_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    /* A broker connection's failure (facility FAIL) also reaches cb_error, which says what it
     * means; logging it here as well would say it twice. */
    if (level <= 4 && strcmp(fac, "FAIL") != 0) {
        vx_warn("KAFKA-LOG", "%s: %s", fac, buf);
    }
}

vx_kafka_t *
vx_kafka_new(const char *brokers, const struct vx_kafka_security_config *sec,
             int message_timeout_ms, const char *const *extra, vx_kafka_dr_fn *dr, void *arg,
             char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = vx_kafka_conf_new(brokers, sec, err, errlen);
    if (!conf) {
        return NULL;
    }
    vx_kafka_t *k = vx_calloc(1, sizeof *k);
    k->dr = dr;
    k->arg = arg;
    snprintf(k->what, sizeof k->what, "producer for %s", brokers);
    if (sec) {
        vx_kafka_security_describe(sec, k->settings, sizeof k->settings);
    } else {
        snprintf(k->settings, sizeof k->settings, "the defaults");
    }
    char timeout[32];
    snprintf(timeout, sizeof timeout, "%d", message_timeout_ms);
    const char *settings[][2] = {
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"linger.ms", "1"},
        {"message.timeout.ms", timeout},
        {"queue.buffering.max.messages", "1000000"},
        {"queue.buffering.max.kbytes", "1048576"},
        {"batch.num.messages", "10000"},
        {"compression.codec", "lz4"},
    };
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        if (vx_kafka_conf_set(conf, settings[i][0], settings[i][1], err, errlen) < 0) {
            goto fail;
        }
    }
    for (const char *const *e = extra; e && *e; e++) {
        char key[256];
        const char *eq = strchr(*e, '=');
        if (!eq || (size_t)(eq - *e) >= sizeof key) {
            snprintf(err, errlen, "kafka setting '%s': expected key=value", *e);
            goto fail;
        }
        memcpy(key, *e, (size_t)(eq - *e));
        key[eq - *e] = '\0';
        if (vx_kafka_conf_set(conf, key, eq + 1, err, errlen) < 0) {
            goto fail;
        }
    }
    rd_kafka_conf_set_opaque(conf, k);
    rd_kafka_conf_set_dr_msg_cb(conf, cb_delivery);
    rd_kafka_conf_set_error_cb(conf, cb_error);
    rd_kafka_conf_set_log_cb(conf, cb_log);
    k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (!k->rk) {
        goto fail;
    }
    return k;
fail:
    rd_kafka_conf_destroy(conf);
    free(k);
    return NULL;
}

void
vx_kafka_destroy(vx_kafka_t **kp, int flush_timeout_ms)
{
    if (!kp || !*kp) {
        return;
    }
    vx_kafka_t *k = *kp;
    rd_kafka_flush(k->rk, flush_timeout_ms);
    /* Whatever is left fails now, through the delivery callback, so no waiter hangs. */
    rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(k->rk, 0);
    rd_kafka_destroy(k->rk);
    vx_free(kp);
}

int
vx_kafka_produce(vx_kafka_t *k, const char *topic, const void *key, size_t key_len,
                 const void *value, size_t len, void *msg_opaque, int block_ms)
{
    if (atomic_load(&k->fatal)) {
        return -EIO;
    }
    int waited = 0;
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            k->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY((void *)key, key_len),
            RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            return 0;
        }
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            vx_warn("KAFKA-PRODUCE", "topic %s: %s", topic, rd_kafka_err2str(e));
            return -EIO;
        }
        if (waited >= block_ms) {
            return -ENOBUFS;
        }
        rd_kafka_poll(k->rk, 10);
        waited += 10;
    }
}

int
vx_kafka_poll(vx_kafka_t *k, int timeout_ms)
{
    return rd_kafka_poll(k->rk, timeout_ms);
}

int
vx_kafka_flush(vx_kafka_t *k, int timeout_ms)
{
    rd_kafka_flush(k->rk, timeout_ms);
    return rd_kafka_outq_len(k->rk);
}

int
vx_kafka_inflight(vx_kafka_t *k)
{
    return rd_kafka_outq_len(k->rk);
}

bool
vx_kafka_fatal(vx_kafka_t *k)
{
    return atomic_load(&k->fatal);
}

bool
vx_kafka_healthy(vx_kafka_t *k)
{
    return !atomic_load(&k->fatal) && !atomic_load(&k->refused);
}
