/* SPDX-License-Identifier: Apache-2.0 */
/* The Kafka clients of tests and benchmarks, made as the daemons make theirs: through
 * vx_kafka_conf_new with the kafka_security section read from the environment.
 *
 * scripts/run-tests.sh (and bench.sh, check.sh) export the test broker's client settings with
 * `eval "$(scripts/kafka.sh env)"`: VEXFS_KAFKA_SECURITY_PROTOCOL=sasl_ssl, the SCRAM user,
 * its password file and the broker's CA as VEXFS_KAFKA_SECURITY_* overrides, which every daemon
 * a test starts inherits too; VEXFS_KAFKA_SSL_BOOTSTRAP (the mutual-TLS listener),
 * VEXFS_KAFKA_CLIENT_DIR (its client certificate) and, on a broker started for benchmarks,
 * VEXFS_KAFKA_PLAIN_BOOTSTRAP (a plaintext listener). */
#ifndef VT_KAFKA_H
#define VT_KAFKA_H

#include <librdkafka/rdkafka.h>

/* A configuration for bootstrap with the environment's kafka_security settings (caller owns).
 * NULL, with the reason on stderr, when they are refused (a missing password file, ...). */
rd_kafka_conf_t *vt_kafka_conf(const char *bootstrap);

/* The variable's value, or NULL with a message on stderr naming it and scripts/kafka.sh env. */
const char *vt_kafka_env(const char *name);

#endif
