/* SPDX-License-Identifier: Apache-2.0 */
/* The stream_analytics configuration section. */
#ifndef AN_CONFIG_H
#define AN_CONFIG_H

#include "vx_config.h"

#define AN_SECTION "stream_analytics"

extern const struct vx_cfg_section an_cfg_section;

#include <stdbool.h>
#include <stddef.h>

/* A librdkafka setting of the input consumer. */
struct an_kafka_kv {
    const char *key, *value;
};

/* The input consumer's fetch and queue settings (enable_real_time_processing: real_time), the
 * same for the daemon and for the benchmark's bare consumer. Static; *n set to the count. */
const struct an_kafka_kv *an_kafka_fetch_conf(bool real_time, size_t *n);

#endif
