/* SPDX-License-Identifier: Apache-2.0 */
/* The one place a librdkafka configuration of the suite is made: every producer and consumer
 * (propagation's journal, routing's durable boundaries, analytics' consumers and result
 * producers, the tests' and benchmarks' own clients) starts from vx_kafka_conf_new, which sets
 * the bootstrap servers and the `kafka_security` section, so no client can reach a broker
 * without the configured TLS and credentials.
 *
 * The section (its keys in the README and --help):
 *
 *   kafka_security:
 *     protocol: sasl_ssl            # sasl_ssl (default), ssl, sasl_plaintext, plaintext
 *     sasl_mechanism: SCRAM-SHA-512 # or SCRAM-SHA-256, PLAIN (PLAIN only over TLS)
 *     sasl_username: vexfs
 *     sasl_password_file: /etc/vexfs/kafka/sasl.password    # mode 0600, first line
 *     ssl_ca_file: /etc/vexfs/kafka/ca.crt                  # "": the system's authorities
 *     ssl_certificate_file / ssl_key_file / ssl_key_password_file   # PEM client certificate
 *     ssl_keystore_file / ssl_keystore_password_file                 # or a PKCS#12 keystore
 *     ssl_verify_hostname: true     # the broker's certificate must name the host dialled
 *
 * Secrets (the SASL password, a key's passphrase, a keystore's password) are read from files
 * that must be readable by their owner only (as lib/vx_keys refuses a shared CURVE key); the
 * keys naming those files are VX_CFG_SECRET, so --print-config and GET /v1/config mask them, and
 * no message quotes a secret. Plaintext protocols are accepted only when every bootstrap server
 * is a loopback address (127.0.0.0/8, ::1, localhost), and say so at start, as
 * security.curve: off does for ZeroMQ.
 *
 * The section's own check (run by vx_config_load on every program that lists it) validates
 * the values alone; files and credentials are checked by vx_kafka_conf_new, that is, only by a
 * program that uses Kafka, when it builds its clients at start. */
#ifndef VX_KAFKA_CONF_H
#define VX_KAFKA_CONF_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

#include "vx_config.h"

struct vx_kafka_security_config {
    const char *protocol;             /* "sasl_ssl", "ssl", "sasl_plaintext", "plaintext" */
    const char *sasl_mechanism;       /* "SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN" */
    const char *sasl_username;
    const char *sasl_password_file;   /* secret file */
    const char *ssl_ca_file;          /* PEM; "": the system's authorities */
    const char *ssl_certificate_file; /* PEM client certificate; "": none */
    const char *ssl_key_file;         /* its PEM private key (owner-only file) */
    const char *ssl_key_password_file; /* passphrase of an encrypted ssl_key_file (secret file) */
    const char *ssl_keystore_file;    /* PKCS#12 client certificate and key (owner-only file) */
    const char *ssl_keystore_password_file; /* secret file */
    bool ssl_verify_hostname;         /* ssl.endpoint.identification.algorithm https or none */
};
extern const struct vx_cfg_section vx_cfg_kafka_security_section;

/* The section with its defaults and the environment's overrides (VEXFS_KAFKA_SECURITY_*), for
 * programs and tools that read no configuration file (the tests' and benchmarks' own clients).
 * Returns 0 and *cfg (caller owns; *out's strings borrow from it), or -EINVAL with err. */
int vx_kafka_security_from_env(vx_config_t **cfg, struct vx_kafka_security_config *out, char *err,
                               size_t errlen);

/* A new librdkafka configuration (caller owns; give it to rd_kafka_new or
 * rd_kafka_conf_destroy) with bootstrap.servers = brokers and sec applied: security.protocol,
 * the SASL mechanism, user and password, the CA, a client certificate and key (PEM or PKCS#12)
 * with their passphrases, hostname verification. sec NULL means the section's defaults. Every
 * file is checked here, so a start fails with a message naming the key and the file: missing,
 * unreadable, not PEM, a secret readable by group or others, an empty secret. A plaintext
 * protocol towards a broker off loopback is refused; on loopback it is logged once per process
 * (KAFKA-PLAIN). The first client of a process logs its settings (KAFKA-SECURITY, info).
 * Returns NULL with the reason in err. Secrets read from files are wiped from this library's
 * buffers once librdkafka holds its copy. */
rd_kafka_conf_t *vx_kafka_conf_new(const char *brokers, const struct vx_kafka_security_config *sec,
                                   char *err, size_t errlen);

/* rd_kafka_conf_set with the key and value named in err ("kafka linger.ms=x: ..."). Returns 0
 * or -EINVAL. Never use it for a secret: the value is quoted. */
int vx_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *err,
                      size_t errlen);

/* One line describing sec for start logs and error messages, without any secret:
 * "sasl_ssl, SCRAM-SHA-512 user \"vexfs\", CA /etc/vexfs/kafka/ca.crt". Returns out. */
char *vx_kafka_security_describe(const struct vx_kafka_security_config *sec, char *out,
                                 size_t outlen);

/* What an error reported to a librdkafka error callback means for the operator. */
enum vx_kafka_problem {
    VX_KAFKA_TRANSIENT, /* broker down, network: librdkafka retries */
    VX_KAFKA_REFUSED,   /* the broker refused this client: bad or missing credentials, a
                           client certificate it does not accept, a protocol it does not speak */
    VX_KAFKA_TLS,       /* TLS failed on this side: the broker's certificate is not trusted or
                           does not name the host */
    VX_KAFKA_FATAL,     /* the client must be recreated (idempotent producer state) */
};

/* Sorts an error callback's (err, reason) into a problem, without logging. */
enum vx_kafka_problem vx_kafka_classify(int err, const char *reason);

/* Logs one error callback's report, precisely: KAFKA-REFUSED / KAFKA-TLS (error level) naming
 * the client (`what`, e.g. "journal producer") and its security settings (`settings`, from
 * vx_kafka_security_describe; may be NULL), KAFKA-FATAL with librdkafka's fatal reason, else
 * KAFKA-ERROR (warning). Returns the problem. For use inside error callbacks. */
enum vx_kafka_problem vx_kafka_report_error(rd_kafka_t *rk, const char *what,
                                            const char *settings, int err, const char *reason);

#endif
