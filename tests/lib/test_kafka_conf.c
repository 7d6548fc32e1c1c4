/* SPDX-License-Identifier: Apache-2.0 */
/* vx_kafka_conf: the kafka_security section validates its values, vx_kafka_conf_new turns it
 * into librdkafka settings (checked with rd_kafka_conf_get), refuses missing, shared or empty
 * secret files and plaintext off loopback with the key and file named, never quotes a secret,
 * and secret keys are masked in the effective configuration. Errors the brokers report are
 * sorted into refusals, TLS failures and transient ones. The real broker's side is
 * tests/integration/test_kafka_security.c. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vx_kafka_conf.h"
#include "vx_test.h"

static const struct vx_cfg_section *const s_only[] = {&vx_cfg_kafka_security_section};

/* Loads the section from JSON text; returns 0 and fills *cfg and *sec, or -EINVAL with err. */
static int
s_load(const char *json, vx_config_t **cfg, struct vx_kafka_security_config *sec, char *err,
       size_t errlen)
{
    json_error_t je;
    json_t *doc = json_loads(json, 0, &je);
    ck_assert_msg(doc != NULL, "bad test JSON: %s", je.text);
    int rc = vx_config_from_json(cfg, doc, s_only, 1, err, errlen);
    json_decref(doc);
    if (rc == 0) {
        ck_assert_int_eq(vx_config_bind(*cfg, &vx_cfg_kafka_security_section, sec), 0);
    }
    return rc;
}

/* Writes text to dir/name with mode; the path goes to path. */
static void
s_file(char *path, size_t len, const char *dir, const char *name, const char *text, mode_t mode)
{
    snprintf(path, len, "%s/%s", dir, name);
    ck_assert_int_eq(vt_write_file(path, text), 0);
    ck_assert_int_eq(chmod(path, mode), 0);
}

/* The value librdkafka holds for key, or "" when unset. */
static const char *
s_get(rd_kafka_conf_t *c, const char *key)
{
    static char buf[1024];
    size_t n = sizeof buf;
    if (rd_kafka_conf_get(c, key, buf, &n) != RD_KAFKA_CONF_OK) {
        buf[0] = '\0';
    }
    return buf;
}

START_TEST(t_table_and_defaults)
{
    char err[512];
    ck_assert_msg(vx_config_check_table(&vx_cfg_kafka_security_section, err, sizeof err) == 0,
                  "%s", err);
    vx_config_t *cfg = NULL;
    struct vx_kafka_security_config sec;
    ck_assert_msg(s_load("{}", &cfg, &sec, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(sec.protocol, "sasl_ssl");
    ck_assert_str_eq(sec.sasl_mechanism, "SCRAM-SHA-512");
    ck_assert(sec.ssl_verify_hostname);
    /* The defaults are secure, so without credentials a client cannot be made at all. */
    rd_kafka_conf_t *c = vx_kafka_conf_new("broker.example:9093", &sec, err, sizeof err);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err, "kafka_security.sasl_username: needed with protocol sasl_ssl"),
                  "got: %s", err);
    c = vx_kafka_conf_new("broker.example:9093", NULL, err, sizeof err);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err, "sasl_username"), "got: %s", err);
    vx_config_destroy(&cfg);
}
END_TEST

START_TEST(t_bad_values_named)
{
    static const struct {
        const char *json, *expect;
    } cases[] = {
        {"{\"kafka_security\":{\"protocol\":\"tls\"}}",
         "kafka_security.protocol: expected sasl_ssl, ssl, sasl_plaintext or plaintext, got "
         "\"tls\""},
        {"{\"kafka_security\":{\"sasl_mechanism\":\"GSSAPI\"}}",
         "kafka_security.sasl_mechanism: expected SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN"},
        {"{\"kafka_security\":{\"protocol\":\"sasl_plaintext\",\"sasl_mechanism\":\"PLAIN\"}}",
         "PLAIN sends the password itself"},
        {"{\"kafka_security\":{\"ssl_certificate_file\":\"/x.crt\"}}",
         "ssl_certificate_file and ssl_key_file: give both or neither"},
        {"{\"kafka_security\":{\"ssl_keystore_file\":\"/k.p12\",\"ssl_certificate_file\":"
         "\"/x.crt\",\"ssl_key_file\":\"/x.key\"}}",
         "ssl_keystore_file: a client certificate comes either from the keystore"},
        {"{\"kafka_security\":{\"ssl_key_password_file\":\"/p\"}}",
         "ssl_key_password_file: needs ssl_key_file"},
        {"{\"kafka_security\":{\"ssl_keystore_password_file\":\"/p\"}}",
         "ssl_keystore_password_file: needs ssl_keystore_file"},
        {"{\"kafka_security\":{\"sasl_user\":\"x\"}}", "kafka_security.sasl_user: unknown key"},
        {"{\"kafka_security\":{\"ssl_verify_hostname\":\"maybe\"}}",
         "kafka_security.ssl_verify_hostname: expected a boolean"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512] = "";
        vx_config_t *cfg = NULL;
        struct vx_kafka_security_config sec;
        ck_assert_int_eq(s_load(cases[i].json, &cfg, &sec, err, sizeof err), -EINVAL);
        ck_assert_msg(strstr(err, cases[i].expect), "case %zu: expected \"%s\" in \"%s\"", i,
                      cases[i].expect, err);
        ck_assert_ptr_null(cfg);
    }
}
END_TEST

START_TEST(t_sasl_ssl_applied)
{
    char *dir = vt_tmpdir();
    char err[1024], pw[700], json[4096], ca[700];
    s_file(pw, sizeof pw, dir, "sasl.password", "s3cret-Pa55\n", 0600);
    snprintf(ca, sizeof ca, "%s/ca.crt", vt_tls_dir());
    snprintf(json, sizeof json,
             "{\"kafka_security\":{\"sasl_username\":\"vexfs\",\"sasl_password_file\":\"%s\","
             "\"ssl_ca_file\":\"%s\"}}",
             pw, ca);
    vx_config_t *cfg = NULL;
    struct vx_kafka_security_config sec;
    ck_assert_msg(s_load(json, &cfg, &sec, err, sizeof err) == 0, "%s", err);
    rd_kafka_conf_t *c = vx_kafka_conf_new("kafka-1.example:9093,kafka-2.example:9093", &sec, err,
                                           sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_str_eq(s_get(c, "bootstrap.servers"), "kafka-1.example:9093,kafka-2.example:9093");
    ck_assert_str_eq(s_get(c, "security.protocol"), "sasl_ssl");
    ck_assert_str_eq(s_get(c, "sasl.mechanisms"), "SCRAM-SHA-512");
    ck_assert_str_eq(s_get(c, "sasl.username"), "vexfs");
    ck_assert_str_eq(s_get(c, "sasl.password"), "s3cret-Pa55"); /* the first line, no newline */
    ck_assert_str_eq(s_get(c, "ssl.ca.location"), ca);
    ck_assert_str_eq(s_get(c, "ssl.endpoint.identification.algorithm"), "https");
    rd_kafka_conf_destroy(c);

    /* The description names the user and the CA, never the password or its file. */
    char d[1024];
    vx_kafka_security_describe(&sec, d, sizeof d);
    ck_assert_msg(strstr(d, "sasl_ssl") && strstr(d, "SCRAM-SHA-512 user \"vexfs\"") &&
                      strstr(d, ca),
                  "got: %s", d);
    ck_assert_msg(!strstr(d, "s3cret") && !strstr(d, pw), "got: %s", d);

    /* --print-config and GET /v1/config: the secret keys read ***, the others as given. */
    json_t *shown = vx_config_to_json(cfg);
    json_t *ks = json_object_get(shown, "kafka_security");
    ck_assert_str_eq(json_string_value(json_object_get(ks, "sasl_password_file")), "***");
    ck_assert_str_eq(json_string_value(json_object_get(ks, "sasl_username")), "vexfs");
    ck_assert_str_eq(json_string_value(json_object_get(ks, "ssl_ca_file")), ca);
    ck_assert_str_eq(json_string_value(json_object_get(ks, "ssl_key_password_file")), "");
    char *text = json_dumps(shown, 0);
    ck_assert_msg(!strstr(text, "s3cret") && !strstr(text, pw), "got: %s", text);
    free(text);
    json_decref(shown);
    vx_config_destroy(&cfg);
    free(dir);
}
END_TEST

/* A secret file that is missing, shared, empty, a directory or too long: each refused with the
 * key and the file named, never its content. */
START_TEST(t_secret_files_checked)
{
    char *dir = vt_tmpdir();
    char err[1024], path[700], json[2048];
    static const struct {
        const char *name, *text;
        mode_t mode;
        const char *expect;
    } cases[] = {
        {"missing", NULL, 0, "No such file or directory"},
        {"shared", "hunter2-shared\n", 0644,
         "a secret must be readable by its owner only (mode 644; chmod 600)"},
        {"group", "hunter2-group\n", 0640, "(mode 640; chmod 600)"},
        {"empty", "", 0600, "empty (expected the secret on its first line)"},
        {"blank", "\nhunter2-second-line\n", 0600, "empty"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].text) {
            s_file(path, sizeof path, dir, cases[i].name, cases[i].text, cases[i].mode);
        } else {
            snprintf(path, sizeof path, "%s/%s", dir, cases[i].name);
        }
        snprintf(json, sizeof json,
                 "{\"kafka_security\":{\"sasl_username\":\"u\",\"sasl_password_file\":\"%s\"}}",
                 path);
        vx_config_t *cfg = NULL;
        struct vx_kafka_security_config sec;
        ck_assert_int_eq(s_load(json, &cfg, &sec, err, sizeof err), 0);
        rd_kafka_conf_t *c = vx_kafka_conf_new("127.0.0.1:9093", &sec, err, sizeof err);
        ck_assert_msg(c == NULL, "case %s accepted", cases[i].name);
        ck_assert_msg(strstr(err, "kafka_security.sasl_password_file: ") && strstr(err, path) &&
                          strstr(err, cases[i].expect),
                      "case %s: expected \"%s\" naming the key and %s, got \"%s\"",
                      cases[i].name, cases[i].expect, path, err);
        ck_assert_msg(!strstr(err, "hunter2"), "the secret was quoted: %s", err);
        vx_config_destroy(&cfg);
    }
    /* A directory, and a line longer than any password. */
    snprintf(json, sizeof json,
             "{\"kafka_security\":{\"sasl_username\":\"u\",\"sasl_password_file\":\"%s\"}}", dir);
    vx_config_t *cfg = NULL;
    struct vx_kafka_security_config sec;
    ck_assert_int_eq(s_load(json, &cfg, &sec, err, sizeof err), 0);
    ck_assert_ptr_null(vx_kafka_conf_new("127.0.0.1:9093", &sec, err, sizeof err));
    ck_assert_msg(strstr(err, "not a regular file"), "got: %s", err);
    vx_config_destroy(&cfg);
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    s_file(path, sizeof path, dir, "long", big, 0600);
    snprintf(json, sizeof json,
             "{\"kafka_security\":{\"sasl_username\":\"u\",\"sasl_password_file\":\"%s\"}}", path);
    ck_assert_int_eq(s_load(json, &cfg, &sec, err, sizeof err), 0);
    ck_assert_ptr_null(vx_kafka_conf_new("127.0.0.1:9093", &sec, err, sizeof err));
    ck_assert_msg(strstr(err, "the first line is longer than"), "got: %s", err);
    vx_config_destroy(&cfg);
    /* Without a password file at all. */
    ck_assert_int_eq(s_load("{\"kafka_security\":{\"sasl_username\":\"u\"}}", &cfg, &sec, err,
                            sizeof err),
                     0);
    ck_assert_ptr_null(vx_kafka_conf_new("127.0.0.1:9093", &sec, err, sizeof err));
    ck_assert_msg(strstr(err, "kafka_security.sasl_password_file: needed with protocol sasl_ssl"),
                  "got: %s", err);
    vx_config_destroy(&cfg);
    free(dir);
}
END_TEST

/* Mutual TLS with a PEM pair (an owner-only key, its passphrase from a file) or a PKCS#12
 * keystore; the CA must be PEM. */
START_TEST(t_client_certificates)
{
    char *dir = vt_tmpdir();
    char err[1024], json[4096], crt[700], key[700], pass[700], ca[700], p12[700], notpem[700];
    snprintf(crt, sizeof crt, "%s/test.crt", vt_tls_dir());
    snprintf(key, sizeof key, "%s/test.key", vt_tls_dir());
    snprintf(ca, sizeof ca, "%s/ca.crt", vt_tls_dir());
    s_file(pass, sizeof pass, dir, "key.password", "passphrase\n", 0600);
    snprintf(json, sizeof json,
             "{\"kafka_security\":{\"protocol\":\"ssl\",\"ssl_ca_file\":\"%s\","
             "\"ssl_certificate_file\":\"%s\",\"ssl_key_file\":\"%s\","
             "\"ssl_key_password_file\":\"%s\",\"ssl_verify_hostname\":false}}",
             ca, crt, key, pass);
    vx_config_t *cfg = NULL;
    struct vx_kafka_security_config sec;
    ck_assert_msg(s_load(json, &cfg, &sec, err, sizeof err) == 0, "%s", err);
    rd_kafka_conf_t *c = vx_kafka_conf_new("kafka.example:9094", &sec, err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_str_eq(s_get(c, "security.protocol"), "ssl");
    ck_assert_str_eq(s_get(c, "ssl.certificate.location"), crt);
    ck_assert_str_eq(s_get(c, "ssl.key.location"), key);
    ck_assert_str_eq(s_get(c, "ssl.key.password"), "passphrase");
    ck_assert_str_eq(s_get(c, "ssl.endpoint.identification.algorithm"), "none");
    ck_assert_str_eq(s_get(c, "sasl.username"), ""); /* no SASL with ssl */
    rd_kafka_conf_destroy(c);
    vx_config_destroy(&cfg);

    /* A private key readable by others is refused, as ssh refuses one. */
    char shared_key[700];
    s_file(shared_key, sizeof shared_key, dir, "shared.key", "-----BEGIN PRIVATE KEY-----\n", 0644);
    snprintf(json, sizeof json,
             "{\"kafka_security\":{\"protocol\":\"ssl\",\"ssl_certificate_file\":\"%s\","
             "\"ssl_key_file\":\"%s\"}}",
             crt, shared_key);
    ck_assert_int_eq(s_load(json, &cfg, &sec, err, sizeof err), 0);
    ck_assert_ptr_null(vx_kafka_conf_new("kafka.example:9094", &sec, err, sizeof err));
    ck_assert_msg(strstr(err, "kafka_security.ssl_key_file: ") && strstr(err, shared_key) &&
                      strstr(err, "owner only"),
                  "got: %s", err);
    vx_config_destroy(&cfg);

    /* A CA that is not PEM, and one that is missing. */
    s_file(notpem, sizeof notpem, dir, "ca.txt", "not a certificate\n", 0644);
    snprintf(json, sizeof json,
             "{\"kafka_security\":{\"protocol\":\"ssl\",\"ssl_ca_file\":\"%s\"}}", notpem);
    ck_assert_int_eq(s_load(json, &cfg, &sec, err, sizeof err), 0);
    ck_assert_ptr_null(vx_kafka_conf_new("kafka.example:9094", &sec, err, sizeof err));
    ck_assert_msg(strstr(err, "kafka_security.ssl_ca_file: ") && strstr(err, "not PEM"),
                  "got: %s", err);
    vx_config_destroy(&cfg);
    snprintf(json, sizeof json,
             "{\"kafka_security\":{\"protocol\":\"ssl\",\"ssl_ca_file\":\"%s/none.crt\"}}", dir);
    ck_assert_int_eq(s_load(json, &cfg, &sec, err, sizeof err), 0);
    ck_assert_ptr_null(vx_kafka_conf_new("kafka.example:9094", &sec, err, sizeof err));
    ck_assert_msg(strstr(err, "kafka_security.ssl_ca_file: ") && strstr(err, "none.crt") &&
                      strstr(err, "No such file"),
                  "got: %s", err);
    vx_config_destroy(&cfg);

    /* A keystore: owner-only, its password from a file. */
    s_file(p12, sizeof p12, dir, "client.p12", "0\x82", 0644);
    snprintf(json, sizeof json,
             "{\"kafka_security\":{\"protocol\":\"ssl\",\"ssl_keystore_file\":\"%s\","
             "\"ssl_keystore_password_file\":\"%s\"}}",
             p12, pass);
    ck_assert_int_eq(s_load(json, &cfg, &sec, err, sizeof err), 0);
    ck_assert_ptr_null(vx_kafka_conf_new("kafka.example:9094", &sec, err, sizeof err));
    ck_assert_msg(strstr(err, "kafka_security.ssl_keystore_file: ") && strstr(err, "(mode 644"),
                  "got: %s", err);
    /* Owner-only but not PKCS#12 (a real keystore opens in test_kafka_security). */
    ck_assert_int_eq(chmod(p12, 0600), 0);
    ck_assert_ptr_null(vx_kafka_conf_new("kafka.example:9094", &sec, err, sizeof err));
    ck_assert_msg(strstr(err, "kafka_security.ssl_keystore_file: ") && strstr(err, p12) &&
                      strstr(err, "PKCS#12"),
                  "got: %s", err);
    vx_config_destroy(&cfg);

    /* A key that is not the certificate's. */
    char other_key[700];
    snprintf(other_key, sizeof other_key, "%s/ctl.key", vt_tls_dir());
    snprintf(json, sizeof json,
             "{\"kafka_security\":{\"protocol\":\"ssl\",\"ssl_certificate_file\":\"%s\","
             "\"ssl_key_file\":\"%s\"}}",
             crt, other_key);
    ck_assert_int_eq(s_load(json, &cfg, &sec, err, sizeof err), 0);
    ck_assert_ptr_null(vx_kafka_conf_new("kafka.example:9094", &sec, err, sizeof err));
    ck_assert_msg(strstr(err, "kafka_security.ssl_key_file: ") && strstr(err, other_key) &&
                      strstr(err, "is not the key of"),
                  "got: %s", err);
    vx_config_destroy(&cfg);
    /* A certificate file that holds no certificate. */
    snprintf(json, sizeof json,
             "{\"kafka_security\":{\"protocol\":\"ssl\",\"ssl_certificate_file\":\"%s\","
             "\"ssl_key_file\":\"%s\"}}",
             key, key);
    ck_assert_int_eq(s_load(json, &cfg, &sec, err, sizeof err), 0);
    ck_assert_ptr_null(vx_kafka_conf_new("kafka.example:9094", &sec, err, sizeof err));
    ck_assert_msg(strstr(err, "kafka_security.ssl_certificate_file: ") &&
                      strstr(err, "not a certificate"),
                  "got: %s", err);
    vx_config_destroy(&cfg);
    free(dir);
}
END_TEST

/* Plaintext only towards loopback brokers, SASL over plaintext as well. */
START_TEST(t_plaintext_loopback_only)
{
    static const struct {
        const char *brokers;
        bool ok;
    } cases[] = {
        {"127.0.0.1:9092", true},
        {"127.3.4.5:9092,localhost:9093", true},
        {"[::1]:9092", true},
        {"[0:0:0:0:0:0:0:1]:9092", true},
        {"PLAINTEXT://127.0.0.1:9092", true},
        {"LOCALHOST", true},
        {"kafka:9092", false},
        {"127.0.0.1:9092,10.0.0.7:9092", false},
        {"127.0.0.1.example.com:9092", false},
        {"[::2]:9092", false},
        {"0.0.0.0:9092", false},
        {"128.0.0.1:9092", false},
    };
    char err[1024];
    for (int sasl = 0; sasl < 2; sasl++) {
        vx_config_t *cfg = NULL;
        struct vx_kafka_security_config sec;
        char *dir = vt_tmpdir(), pw[700], json[1024];
        s_file(pw, sizeof pw, dir, "pw", "pw\n", 0600);
        snprintf(json, sizeof json,
                 "{\"kafka_security\":{\"protocol\":\"%s\",\"sasl_username\":\"u\","
                 "\"sasl_password_file\":\"%s\",\"sasl_mechanism\":\"SCRAM-SHA-256\"}}",
                 sasl ? "sasl_plaintext" : "plaintext", pw);
        ck_assert_int_eq(s_load(json, &cfg, &sec, err, sizeof err), 0);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            rd_kafka_conf_t *c = vx_kafka_conf_new(cases[i].brokers, &sec, err, sizeof err);
            if (cases[i].ok) {
                ck_assert_msg(c != NULL, "%s refused: %s", cases[i].brokers, err);
                ck_assert_str_eq(s_get(c, "security.protocol"),
                                 sasl ? "sasl_plaintext" : "plaintext");
                ck_assert_str_eq(s_get(c, "sasl.username"), sasl ? "u" : "");
                rd_kafka_conf_destroy(c);
            } else {
                ck_assert_msg(c == NULL, "%s accepted in plaintext", cases[i].brokers);
                ck_assert_msg(strstr(err, "allowed only when every bootstrap server is a loopback "
                                          "address") &&
                                  strstr(err, cases[i].brokers),
                              "got: %s", err);
            }
        }
        vx_config_destroy(&cfg);
        free(dir);
    }
    ck_assert_ptr_null(vx_kafka_conf_new("", NULL, err, sizeof err));
    ck_assert_msg(strstr(err, "no bootstrap servers"), "got: %s", err);
}
END_TEST

START_TEST(t_environment)
{
    char *dir = vt_tmpdir(), pw[700], err[512];
    s_file(pw, sizeof pw, dir, "pw", "from-env\n", 0600);
    setenv("VEXFS_KAFKA_SECURITY_SASL_USERNAME", "envuser", 1);
    setenv("VEXFS_KAFKA_SECURITY_SASL_PASSWORD_FILE", pw, 1);
    setenv("VEXFS_KAFKA_SECURITY_SASL_MECHANISM", "SCRAM-SHA-256", 1);
    vx_config_t *cfg = NULL;
    struct vx_kafka_security_config sec;
    ck_assert_msg(vx_kafka_security_from_env(&cfg, &sec, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(sec.sasl_username, "envuser");
    rd_kafka_conf_t *c = vx_kafka_conf_new("k.example:9093", &sec, err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_str_eq(s_get(c, "sasl.mechanisms"), "SCRAM-SHA-256");
    ck_assert_str_eq(s_get(c, "sasl.password"), "from-env");
    rd_kafka_conf_destroy(c);
    vx_config_destroy(&cfg);
    setenv("VEXFS_KAFKA_SECURITY_PROTOCOL", "ssh", 1);
    ck_assert_int_eq(vx_kafka_security_from_env(&cfg, &sec, err, sizeof err), -EINVAL);
    ck_assert_msg(strstr(err, "protocol") && strstr(err, "\"ssh\""), "got: %s", err);
    unsetenv("VEXFS_KAFKA_SECURITY_PROTOCOL");
    free(dir);
}
END_TEST

/* librdkafka's words for the failures met against the real broker (see
 * test_kafka_security.c), each sorted for the operator. */
START_TEST(t_classify)
{
    static const struct {
        int err;
        const char *reason;
        enum vx_kafka_problem expect;
    } cases[] = {
        {RD_KAFKA_RESP_ERR__AUTHENTICATION,
         "sasl_ssl://127.0.0.1:19092/bootstrap: SASL authentication error: Authentication failed "
         "during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512",
         VX_KAFKA_REFUSED},
        {RD_KAFKA_RESP_ERR__TRANSPORT,
         "ssl://127.0.0.1:19092/bootstrap: Disconnected: verify that security.protocol is "
         "correctly configured, broker might require SASL authentication",
         VX_KAFKA_REFUSED},
        {RD_KAFKA_RESP_ERR__TRANSPORT,
         "127.0.0.1:19092/bootstrap: Disconnected while requesting ApiVersion: might be caused by "
         "incorrect security.protocol configuration (connecting to a SSL listener?)",
         VX_KAFKA_REFUSED},
        {RD_KAFKA_RESP_ERR__TRANSPORT,
         "ssl://127.0.0.1:19094/bootstrap: Receive failed: error:0A000412:SSL routines::sslv3 "
         "alert bad certificate: SSL alert number 42",
         VX_KAFKA_REFUSED},
        {RD_KAFKA_RESP_ERR__SSL,
         "ssl://127.0.0.1:19094/bootstrap: SSL handshake failed: error:0A000086:SSL "
         "routines::certificate verify failed: broker certificate could not be verified",
         VX_KAFKA_TLS},
        {RD_KAFKA_RESP_ERR__AUTHENTICATION,
         "ssl://127.0.0.1:19094/bootstrap: SSL handshake failed: ... certificate verify failed",
         VX_KAFKA_TLS},
        {RD_KAFKA_RESP_ERR__TRANSPORT, "127.0.0.1:19092/bootstrap: Connect to ipv4#127.0.0.1:19092 "
                                       "failed: Connection refused",
         VX_KAFKA_TRANSIENT},
        {RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, "1/1 brokers are down", VX_KAFKA_TRANSIENT},
        {RD_KAFKA_RESP_ERR__FATAL, "x", VX_KAFKA_FATAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_msg(vx_kafka_classify(cases[i].err, cases[i].reason) == cases[i].expect,
                      "case %zu (%s): expected %d, got %d", i, cases[i].reason, cases[i].expect,
                      vx_kafka_classify(cases[i].err, cases[i].reason));
    }
}
END_TEST

int
main(void)
{
    /* run-tests.sh exports the test broker's settings; these tests set their own. */
    for (size_t i = 0; i < vx_cfg_kafka_security_section.n_keys; i++) {
        char name[128];
        snprintf(name, sizeof name, "VEXFS_KAFKA_SECURITY_%s",
                 vx_cfg_kafka_security_section.keys[i].name);
        for (char *p = name; *p; p++) {
            *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
        }
        unsetenv(name);
    }
    Suite *s = suite_create("kafka_conf");
    TCase *tc = tcase_create("kafka_conf");
    tcase_add_test(tc, t_table_and_defaults);
    tcase_add_test(tc, t_bad_values_named);
    tcase_add_test(tc, t_sasl_ssl_applied);
    tcase_add_test(tc, t_secret_files_checked);
    tcase_add_test(tc, t_client_certificates);
    tcase_add_test(tc, t_plaintext_loopback_only);
    tcase_add_test(tc, t_environment);
    tcase_add_test(tc, t_classify);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
