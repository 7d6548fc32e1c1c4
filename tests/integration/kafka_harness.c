/* SPDX-License-Identifier: Apache-2.0 */
#include "kafka_harness.h"

#include <check.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vt_kafka.h"
#include "vx_event.h"

const char *
kh_bootstrap(void)
{
    const char *b = getenv("VEXFS_KAFKA_BOOTSTRAP");
    ck_assert_msg(b && *b, "VEXFS_KAFKA_BOOTSTRAP is not set: run through scripts/run-tests.sh, "
                           "which starts the broker");
    return b;
}

rd_kafka_conf_t *
kh_conf(void)
{
    rd_kafka_conf_t *c = vt_kafka_conf(kh_bootstrap());
    ck_assert_msg(c != NULL, "no Kafka client settings (reason above)");
    return c;
}

void
kh_topic(char *out, size_t len, const char *what)
{
    snprintf(out, len, "vexfs.test.%s.%d.%ld", what, (int)getpid(), (long)time(NULL));
}

void
kh_create_topic(const char *topic, int partitions)
{
    char err[512];
    rd_kafka_conf_t *c = kh_conf();
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    ck_assert_msg(rk != NULL, "admin client: %s", err);
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1, err, sizeof err);
    ck_assert_msg(nt != NULL, "topic %s: %s", topic, err);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    ck_assert_msg(ev != NULL, "creating topic %s: no answer from the broker in 30 s", topic);
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    ck_assert_ptr_nonnull(res);
    size_t n;
    const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &n);
    ck_assert_uint_eq(n, 1);
    rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[0]);
    ck_assert_msg(e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS,
                  "creating topic %s: %s", topic, rd_kafka_err2str(e));
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    /* The metadata of a new topic reaches every broker listener shortly after. */
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    bool seen = false;
    for (int i = 0; i < 100 && !seen; i++) {
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(rk, 0, t, &md, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            seen = md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                   md->topics[0].partition_cnt == partitions;
            rd_kafka_metadata_destroy(md);
        }
        if (!seen) {
            usleep(100000);
        }
    }
    ck_assert_msg(seen, "topic %s with %d partitions never appeared in the metadata", topic,
                  partitions);
    rd_kafka_topic_destroy(t);
    rd_kafka_destroy(rk);
}

/* Reads the whole topic from the beginning; see kafka_harness.h. */
json_t *
kh_read_topic(const char *topic, size_t expect, size_t *total)
{
    char err[512];
    char group[128];
    snprintf(group, sizeof group, "vexfs-test-%d-%ld", (int)getpid(), (long)random());
    rd_kafka_conf_t *c = kh_conf();
    rd_kafka_conf_set(c, "group.id", group, err, sizeof err);
    rd_kafka_conf_set(c, "auto.offset.reset", "earliest", err, sizeof err);
    rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    ck_assert_msg(rk != NULL, "consumer: %s", err);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
    ck_assert_int_eq(rd_kafka_subscribe(rk, topics), 0);
    rd_kafka_topic_partition_list_destroy(topics);
    json_t *ids = json_object();
    *total = 0;
    time_t deadline = time(NULL) + 60;
    int idle = 0;
    while (time(NULL) < deadline && !(*total >= expect && idle >= 20)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            idle++;
            continue;
        }
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        idle = 0;
        vx_event_t *e = vexfs__v1__event__unpack(NULL, m->len, m->payload);
        ck_assert_msg(e != NULL, "journal holds an undecodable event at offset %lld",
                      (long long)m->offset);
        ck_assert_msg(m->key_len == strlen(e->path) && memcmp(m->key, e->path, m->key_len) == 0,
                      "message key is not the event's path");
        char id[VX_EVENT_ID_STR];
        ck_assert_uint_eq(e->id.len, 16);
        vx_event_id_format(e->id.data, id);
        json_object_set_new(ids, id,
                            json_integer(json_integer_value(json_object_get(ids, id)) + 1));
        (*total)++;
        vexfs__v1__event__free_unpacked(e, NULL);
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return ids;
}
