/* SPDX-License-Identifier: Apache-2.0 */
/* Kafka clients of tests and benchmarks with the suite's security settings (vt_kafka.h). */
#include "vt_kafka.h"

#include <stdio.h>
#include <stdlib.h>

#include "vx_kafka_conf.h"

rd_kafka_conf_t *
vt_kafka_conf(const char *bootstrap)
{
    char err[1024];
    vx_config_t *cfg = NULL;
    struct vx_kafka_security_config sec;
    if (vx_kafka_security_from_env(&cfg, &sec, err, sizeof err) < 0) {
        fprintf(stderr, "kafka client settings from the environment: %s\n", err);
        return NULL;
    }
    rd_kafka_conf_t *c = vx_kafka_conf_new(bootstrap, &sec, err, sizeof err);
    vx_config_destroy(&cfg);
    if (!c) {
        fprintf(stderr, "kafka client for %s: %s (are the settings of scripts/kafka.sh env "
                        "exported?)\n",
                bootstrap, err);
    }
    return c;
}

const char *
vt_kafka_env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        fprintf(stderr, "%s is not set: run through scripts/run-tests.sh, which exports "
                        "the test broker's settings (scripts/kafka.sh env)\n",
                name);
        return NULL;
    }
    return v;
}
