/* SPDX-License-Identifier: Apache-2.0 */
/* librdkafka configurations with the suite's Kafka security applied (see vx_kafka_conf.h). */
#include "vx_kafka_conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vx_log.h"
#include "vx_mem.h"
#include "vx_tls.h"

#define S_SECRET_MAX 1024 /* longest secret file read (a password or passphrase line) */
#define S_SECTION "kafka_security"

static const struct vx_cfg_key s_keys[] = {
    {"protocol", VX_CFG_STRING, "sasl_ssl", 0, 16, false,
     "how every Kafka client of the program reaches the brokers: sasl_ssl (TLS and a SASL "
     "user), ssl (TLS; a client certificate if the broker asks for one), sasl_plaintext or "
     "plaintext (no TLS: allowed only when every bootstrap server is a loopback address)",
     VX_CFG_AT(struct vx_kafka_security_config, protocol)},
    {"sasl_mechanism", VX_CFG_STRING, "SCRAM-SHA-512", 0, 16, false,
     "SASL mechanism with sasl_ssl and sasl_plaintext: SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN "
     "(PLAIN sends the password itself, so only over TLS)",
     VX_CFG_AT(struct vx_kafka_security_config, sasl_mechanism)},
    {"sasl_username", VX_CFG_STRING, "", 0, 256, false,
     "SASL user name (needed with sasl_ssl and sasl_plaintext)",
     VX_CFG_AT(struct vx_kafka_security_config, sasl_username)},
    {"sasl_password_file", VX_CFG_SECRET, "", 0, 4096, false,
     "file whose first line is the SASL password; readable by its owner only (chmod 600)",
     VX_CFG_AT(struct vx_kafka_security_config, sasl_password_file)},
    {"ssl_ca_file", VX_CFG_STRING, "", 0, 4096, false,
     "PEM file of the authorities that signed the brokers' certificates; empty: the system's "
     "authorities",
     VX_CFG_AT(struct vx_kafka_security_config, ssl_ca_file)},
    {"ssl_certificate_file", VX_CFG_STRING, "", 0, 4096, false,
     "PEM client certificate presented to brokers that ask for one (mutual TLS); with "
     "ssl_key_file",
     VX_CFG_AT(struct vx_kafka_security_config, ssl_certificate_file)},
    {"ssl_key_file", VX_CFG_STRING, "", 0, 4096, false,
     "PEM private key of ssl_certificate_file; readable by its owner only",
     VX_CFG_AT(struct vx_kafka_security_config, ssl_key_file)},
    {"ssl_key_password_file", VX_CFG_SECRET, "", 0, 4096, false,
     "file whose first line is the passphrase of an encrypted ssl_key_file; readable by its "
     "owner only",
     VX_CFG_AT(struct vx_kafka_security_config, ssl_key_password_file)},
    {"ssl_keystore_file", VX_CFG_STRING, "", 0, 4096, false,
     "PKCS#12 file holding the client certificate and key, instead of the PEM pair; readable by "
     "its owner only",
     VX_CFG_AT(struct vx_kafka_security_config, ssl_keystore_file)},
    {"ssl_keystore_password_file", VX_CFG_SECRET, "", 0, 4096, false,
     "file whose first line is the password of ssl_keystore_file; readable by its owner only",
     VX_CFG_AT(struct vx_kafka_security_config, ssl_keystore_password_file)},
    {"ssl_verify_hostname", VX_CFG_BOOL, "true", 0, 0, false,
     "the broker's certificate must name the host or address dialled; false only for brokers "
     "whose certificates name no host (the CA is checked either way)",
     VX_CFG_AT(struct vx_kafka_security_config, ssl_verify_hostname)},
};

static bool
s_is_tls(const char *protocol)
{
    return strcmp(protocol, "sasl_ssl") == 0 || strcmp(protocol, "ssl") == 0;
}

static bool
s_is_sasl(const char *protocol)
{
    return strncmp(protocol, "sasl_", 5) == 0;
}

/* The rules that involve several keys, on the values alone (no file is opened: a program that
 * lists the section may not use Kafka at all). */
static int
cb_check(const void *bound, char *err, size_t errlen)
{
    const struct vx_kafka_security_config *c = bound;
    static const char *const protocols[] = {"sasl_ssl", "ssl", "sasl_plaintext", "plaintext"};
    static const char *const mechanisms[] = {"SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"};
    bool known = false;
    for (size_t i = 0; i < sizeof protocols / sizeof protocols[0]; i++) {
        known = known || strcmp(c->protocol, protocols[i]) == 0;
    }
    if (!known) {
        snprintf(err, errlen,
                 S_SECTION ".protocol: expected sasl_ssl, ssl, sasl_plaintext or plaintext, got "
                           "\"%s\"",
                 c->protocol);
        return -EINVAL;
    }
    known = false;
    for (size_t i = 0; i < sizeof mechanisms / sizeof mechanisms[0]; i++) {
        known = known || strcmp(c->sasl_mechanism, mechanisms[i]) == 0;
    }
    if (!known) {
        snprintf(err, errlen,
                 S_SECTION ".sasl_mechanism: expected SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN, got "
                           "\"%s\"",
                 c->sasl_mechanism);
        return -EINVAL;
    }
    if (strcmp(c->sasl_mechanism, "PLAIN") == 0 && strcmp(c->protocol, "sasl_plaintext") == 0) {
        snprintf(err, errlen, S_SECTION ".sasl_mechanism: PLAIN sends the password itself, so it "
                                        "needs protocol sasl_ssl, not sasl_plaintext");
        return -EINVAL;
    }
    if (!c->ssl_certificate_file[0] != !c->ssl_key_file[0]) {
        snprintf(err, errlen, S_SECTION ".ssl_certificate_file and ssl_key_file: give both or "
                                        "neither");
        return -EINVAL;
    }
    if (c->ssl_keystore_file[0] && c->ssl_certificate_file[0]) {
        snprintf(err, errlen, S_SECTION ".ssl_keystore_file: a client certificate comes either "
                                        "from the keystore or from ssl_certificate_file, not "
                                        "both");
        return -EINVAL;
    }
    if (c->ssl_key_password_file[0] && !c->ssl_key_file[0]) {
        snprintf(err, errlen, S_SECTION ".ssl_key_password_file: needs ssl_key_file");
        return -EINVAL;
    }
    if (c->ssl_keystore_password_file[0] && !c->ssl_keystore_file[0]) {
        snprintf(err, errlen, S_SECTION ".ssl_keystore_password_file: needs ssl_keystore_file");
        return -EINVAL;
    }
    return 0;
}

const struct vx_cfg_section vx_cfg_kafka_security_section =
    VX_CFG_SECTION(S_SECTION, s_keys, struct vx_kafka_security_config, cb_check);

int
vx_kafka_security_from_env(vx_config_t **cfg, struct vx_kafka_security_config *out, char *err,
                           size_t errlen)
{
    static const struct vx_cfg_section *const only[] = {&vx_cfg_kafka_security_section};
    int rc = vx_config_load(cfg, NULL, only, 1, err, errlen);
    if (rc < 0) {
        return rc;
    }
    rc = vx_config_bind(*cfg, &vx_cfg_kafka_security_section, out);
    if (rc < 0) {
        snprintf(err, errlen, S_SECTION ": the section does not fit its table");
        vx_config_destroy(cfg);
    }
    return rc;
}

int
vx_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *err,
                  size_t errlen)
{
    char e[512];
    if (rd_kafka_conf_set(conf, key, value, e, sizeof e) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "kafka %s=%s: %s", key, value, e);
        return -EINVAL;
    }
    return 0;
}

/* Whether one bootstrap entry ("host:port", "[v6]:port", "proto://host:port", "host") names a
 * loopback address. */
static bool
s_loopback_entry(const char *entry, size_t len)
{
    char buf[512];
    if (len == 0 || len >= sizeof buf) {
        return false;
    }
    memcpy(buf, entry, len);
    buf[len] = '\0';
    char *host = strstr(buf, "://");
    host = host ? host + 3 : buf;
    if (host[0] == '[') {
        char *close = strchr(host, ']');
        if (!close) {
            return false;
        }
        *close = '\0';
        host++;
    } else {
        char *colon = strrchr(host, ':');
        if (colon && strchr(host, ':') == colon) {
            *colon = '\0'; /* one colon: host:port; more: a bare IPv6 address */
        }
    }
    if (strcasecmp(host, "localhost") == 0) {
        return true;
    }
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET, host, &v4) == 1) {
        return (ntohl(v4.s_addr) >> 24) == 127;
    }
    return inet_pton(AF_INET6, host, &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

static bool
s_all_loopback(const char *brokers)
{
    const char *p = brokers;
    bool any = false;
    while (*p) {
        p += strspn(p, ", ");
        size_t n = strcspn(p, ", ");
        if (n == 0) {
            break;
        }
        if (!s_loopback_entry(p, n)) {
            return false;
        }
        any = true;
        p += n;
    }
    return any;
}

/* Reads the first line of a secret file into out (cap bytes, NUL-terminated, the line end
 * removed). The file must be a regular file readable by its owner only, hold a non-empty first
 * line of at most S_SECRET_MAX - 1 bytes and no NUL. Messages name the key and the file, never
 * the content. */
static int
s_read_secret(const char *key, const char *path, char *out, size_t cap, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, S_SECTION ".%s: %s: %s", key, path, strerror(e));
        return -e;
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, S_SECTION ".%s: %s: not a regular file", key, path);
        rc = -EINVAL;
        goto out;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf(err, errlen,
                 S_SECTION ".%s: %s: a secret must be readable by its owner only (mode %03o; "
                           "chmod 600)",
                 key, path, (unsigned)(st.st_mode & 0777));
        rc = -EPERM;
        goto out;
    }
    ssize_t n = read(fd, out, cap - 1);
    if (n < 0) {
        int e = errno;
        snprintf(err, errlen, S_SECTION ".%s: %s: %s", key, path, strerror(e));
        rc = -e;
        goto out;
    }
    out[n] = '\0';
    if (memchr(out, '\0', (size_t)n)) {
        snprintf(err, errlen, S_SECTION ".%s: %s: holds a NUL byte (expected one line of text)",
                 key, path);
        rc = -EINVAL;
        goto out;
    }
    size_t line = strcspn(out, "\r\n");
    if (line == (size_t)n && (size_t)n == cap - 1) {
        snprintf(err, errlen, S_SECTION ".%s: %s: the first line is longer than %zu bytes", key,
                 path, cap - 2);
        rc = -EINVAL;
        goto out;
    }
    out[line] = '\0';
    if (line == 0) {
        snprintf(err, errlen, S_SECTION ".%s: %s: empty (expected the secret on its first line)",
                 key, path);
        rc = -EINVAL;
    }
out:
    close(fd);
    if (rc < 0) {
        explicit_bzero(out, cap);
    }
    return rc;
}

/* A file that must exist and be PEM (a certificate or authority: secret false; a private key:
 * secret true, owner-only). */
static int
s_check_pem(const char *key, const char *path, bool secret, char *err, size_t errlen)
{
    char e[1024];
    char *pem = vx_tls_read_pem(path, secret, NULL, e, sizeof e);
    if (!pem) {
        snprintf(err, errlen, S_SECTION ".%s: %s", key, e);
        return -EINVAL;
    }
    explicit_bzero(pem, strlen(pem));
    free(pem);
    return 0;
}

/* A binary file that must exist, be regular and be readable by its owner only (a keystore). */
static int
s_check_private(const char *key, const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, S_SECTION ".%s: %s: %s", key, path, strerror(e));
        return -e;
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
        snprintf(err, errlen, S_SECTION ".%s: %s: not a non-empty regular file", key, path);
        rc = -EINVAL;
    } else if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf(err, errlen,
                 S_SECTION ".%s: %s: it holds a private key, so it must be readable by its owner "
                           "only (mode %03o; chmod 600)",
                 key, path, (unsigned)(st.st_mode & 0777));
        rc = -EPERM;
    }
    close(fd);
    return rc;
}

/* Sets a librdkafka secret from a file; the message never quotes the value. */
static int
s_set_secret(rd_kafka_conf_t *conf, const char *rdkey, const char *key, const char *path,
             char *err, size_t errlen)
{
    char secret[S_SECRET_MAX];
    int rc = s_read_secret(key, path, secret, sizeof secret, err, errlen);
    if (rc < 0) {
        return rc;
    }
    char e[512];
    if (rd_kafka_conf_set(conf, rdkey, secret, e, sizeof e) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, S_SECTION ".%s: librdkafka refused %s: %s", key, rdkey, e);
        rc = -EINVAL;
    }
    explicit_bzero(secret, sizeof secret);
    return rc;
}

/* OpenSSL's reason for the last failure, its queue emptied. */
static const char *
s_ssl_reason(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();
    if (e) {
        ERR_error_string_n(e, buf, len);
    } else {
        snprintf(buf, len, "unknown reason");
    }
    ERR_clear_error();
    return buf;
}

/* Hands a key's passphrase to OpenSSL; notes that one was asked for. */
struct s_pass {
    const char *pass; /* NULL: none configured */
    bool asked;
};

static int
cb_pem_pass(char *buf, int size, int rwflag, void *arg)
{
    (void)rwflag;
    struct s_pass *p = arg;
    p->asked = true;
    if (!p->pass) {
        return 0;
    }
    int n = (int)strlen(p->pass);
    if (n >= size) {
        return 0;
    }
    memcpy(buf, p->pass, (size_t)n);
    return n;
}

/* Why the client certificate, its key and a keystore are opened here, with OpenSSL: librdkafka
 * reads them with OpenSSL, so the same parser decides, and a start fails with a message naming
 * the key at fault (a wrong passphrase, a key that is not the certificate's) where librdkafka
 * would only say that the key did not load, and would leave OpenSSL's state behind on that
 * path. Both files PEM, the key owner-only. */
static int
s_check_client_pem(const struct vx_kafka_security_config *sec, char *err, size_t errlen)
{
    char why[256], pass[S_SECRET_MAX] = "";
    int rc = -EINVAL;
    X509 *crt = NULL;
    EVP_PKEY *key = NULL;
    BIO *bio = NULL;
    if (s_check_pem("ssl_certificate_file", sec->ssl_certificate_file, false, err, errlen) < 0 ||
        s_check_pem("ssl_key_file", sec->ssl_key_file, true, err, errlen) < 0) {
        return -EINVAL;
    }
    if (sec->ssl_key_password_file[0] &&
        s_read_secret("ssl_key_password_file", sec->ssl_key_password_file, pass, sizeof pass,
                      err, errlen) < 0) {
        return -EINVAL;
    }
    bio = BIO_new_file(sec->ssl_certificate_file, "r");
    crt = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!crt) {
        snprintf(err, errlen, S_SECTION ".ssl_certificate_file: %s: not a certificate: %s",
                 sec->ssl_certificate_file, s_ssl_reason(why, sizeof why));
        goto out;
    }
    struct s_pass p = {pass[0] ? pass : NULL, false};
    bio = BIO_new_file(sec->ssl_key_file, "r");
    key = bio ? PEM_read_bio_PrivateKey(bio, NULL, cb_pem_pass, &p) : NULL;
    BIO_free(bio);
    if (!key) {
        if (p.asked && p.pass) {
            snprintf(err, errlen,
                     S_SECTION ".ssl_key_password_file: the passphrase does not open %s: %s",
                     sec->ssl_key_file, s_ssl_reason(why, sizeof why));
        } else if (p.asked) {
            ERR_clear_error();
            snprintf(err, errlen,
                     S_SECTION ".ssl_key_file: %s is encrypted and no ssl_key_password_file is "
                               "given",
                     sec->ssl_key_file);
        } else {
            snprintf(err, errlen, S_SECTION ".ssl_key_file: %s: not a private key: %s",
                     sec->ssl_key_file, s_ssl_reason(why, sizeof why));
        }
        goto out;
    }
    if (X509_check_private_key(crt, key) != 1) {
        ERR_clear_error();
        snprintf(err, errlen, S_SECTION ".ssl_key_file: %s is not the key of %s",
                 sec->ssl_key_file, sec->ssl_certificate_file);
        goto out;
    }
    rc = 0;
out:
    explicit_bzero(pass, sizeof pass);
    EVP_PKEY_free(key);
    X509_free(crt);
    return rc;
}

/* Hands the PEM form of one certificate or key to librdkafka; the memory is wiped after. */
static int
s_set_cert(rd_kafka_conf_t *conf, rd_kafka_cert_type_t type, X509 *crt, EVP_PKEY *key,
           const char *path, char *err, size_t errlen)
{
    char e[512], why[256];
    BIO *mem = BIO_new(BIO_s_mem());
    int ok = mem && (crt ? PEM_write_bio_X509(mem, crt)
                         : PEM_write_bio_PrivateKey(mem, key, NULL, NULL, 0, NULL, NULL));
    if (!ok) {
        snprintf(err, errlen, S_SECTION ".ssl_keystore_file: %s: cannot encode its %s: %s", path,
                 crt ? "certificate" : "key", s_ssl_reason(why, sizeof why));
        BIO_free(mem);
        return -EINVAL;
    }
    char *data = NULL;
    long len = BIO_get_mem_data(mem, &data);
    rd_kafka_conf_res_t res =
        rd_kafka_conf_set_ssl_cert(conf, type, RD_KAFKA_CERT_ENC_PEM, data, (size_t)len, e,
                                   sizeof e);
    OPENSSL_cleanse(data, (size_t)len);
    BIO_free(mem);
    if (res != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, S_SECTION ".ssl_keystore_file: %s: librdkafka refused its %s: %s",
                 path, crt ? "certificate" : "key", e);
        return -EINVAL;
    }
    return 0;
}

/* Why a PKCS#12 keystore is opened here and its certificate and key handed to librdkafka in
 * memory rather than as ssl.keystore.location: librdkafka 2.0.2 leaks a key and a certificate
 * each time it opens a keystore itself (it allocates both before PKCS12_parse replaces them),
 * and opening it here also names the key at fault (a wrong or missing password) at start. The
 * file must be owner-only and open with the password of ssl_keystore_password_file (or none).
 * Only the keystore's own certificate is presented: other certificates in it are not sent as a
 * chain (an intermediate authority needs the PEM pair). */
static int
s_apply_keystore(rd_kafka_conf_t *conf, const struct vx_kafka_security_config *sec, char *err,
                 size_t errlen)
{
    const char *path = sec->ssl_keystore_file;
    if (s_check_private("ssl_keystore_file", path, err, errlen) < 0) {
        return -EINVAL;
    }
    char why[256], pass[S_SECRET_MAX] = "";
    if (sec->ssl_keystore_password_file[0] &&
        s_read_secret("ssl_keystore_password_file", sec->ssl_keystore_password_file, pass,
                      sizeof pass, err, errlen) < 0) {
        return -EINVAL;
    }
    int rc = -EINVAL;
    EVP_PKEY *key = NULL;
    X509 *crt = NULL;
    STACK_OF(X509) *others = NULL;
    BIO *bio = BIO_new_file(path, "rb");
    PKCS12 *p12 = bio ? d2i_PKCS12_bio(bio, NULL) : NULL;
    BIO_free(bio);
    if (!p12) {
        snprintf(err, errlen, S_SECTION ".ssl_keystore_file: %s: not a PKCS#12 file: %s", path,
                 s_ssl_reason(why, sizeof why));
        goto out;
    }
    const char *opener = NULL; /* the password that opens it: pass, NULL or "" */
    bool opens = false;
    if (pass[0]) {
        opener = pass;
        opens = PKCS12_verify_mac(p12, pass, -1) == 1;
    } else if (PKCS12_verify_mac(p12, NULL, 0) == 1) {
        opens = true;
    } else if (PKCS12_verify_mac(p12, "", 0) == 1) {
        opener = "";
        opens = true;
    }
    if (!opens) {
        ERR_clear_error();
        if (pass[0]) {
            snprintf(err, errlen,
                     S_SECTION ".ssl_keystore_password_file: the password does not open %s", path);
        } else {
            snprintf(err, errlen,
                     S_SECTION ".ssl_keystore_password_file: needed: %s does not open without a "
                               "password",
                     path);
        }
        goto out;
    }
    if (!PKCS12_parse(p12, opener, &key, &crt, &others) || !key || !crt) {
        snprintf(err, errlen,
                 S_SECTION ".ssl_keystore_file: %s holds no certificate with its key: %s", path,
                 s_ssl_reason(why, sizeof why));
        goto out;
    }
    if (s_set_cert(conf, RD_KAFKA_CERT_PUBLIC_KEY, crt, NULL, path, err, errlen) < 0 ||
        s_set_cert(conf, RD_KAFKA_CERT_PRIVATE_KEY, NULL, key, path, err, errlen) < 0) {
        goto out;
    }
    rc = 0;
out:
    explicit_bzero(pass, sizeof pass);
    sk_X509_pop_free(others, X509_free);
    EVP_PKEY_free(key);
    X509_free(crt);
    PKCS12_free(p12);
    return rc;
}

/* The TLS half: the authority, a client certificate (PEM pair or PKCS#12), host checking. */
static int
s_apply_tls(rd_kafka_conf_t *conf, const struct vx_kafka_security_config *sec, char *err,
            size_t errlen)
{
    if (sec->ssl_ca_file[0]) {
        if (s_check_pem("ssl_ca_file", sec->ssl_ca_file, false, err, errlen) < 0 ||
            vx_kafka_conf_set(conf, "ssl.ca.location", sec->ssl_ca_file, err, errlen) < 0) {
            return -EINVAL;
        }
    }
    if (sec->ssl_certificate_file[0]) {
        if (s_check_client_pem(sec, err, errlen) < 0 ||
            vx_kafka_conf_set(conf, "ssl.certificate.location", sec->ssl_certificate_file, err,
                              errlen) < 0 ||
            vx_kafka_conf_set(conf, "ssl.key.location", sec->ssl_key_file, err, errlen) < 0) {
            return -EINVAL;
        }
        if (sec->ssl_key_password_file[0] &&
            s_set_secret(conf, "ssl.key.password", "ssl_key_password_file",
                         sec->ssl_key_password_file, err, errlen) < 0) {
            return -EINVAL;
        }
    }
    if (sec->ssl_keystore_file[0]) {
        if (s_apply_keystore(conf, sec, err, errlen) < 0) {
            return -EINVAL;
        }
    }
    return vx_kafka_conf_set(conf, "ssl.endpoint.identification.algorithm",
                             sec->ssl_verify_hostname ? "https" : "none", err, errlen);
}

/* Why this is one function for every client: a client made any other way could reach a broker
 * without the deployment's TLS and credentials, so the suite's producers, consumers, tests and
 * benchmarks all start here, and every file a start needs is checked before librdkafka sees it
 * (librdkafka would report a missing password file only as a failed login, much later). */
rd_kafka_conf_t *
vx_kafka_conf_new(const char *brokers, const struct vx_kafka_security_config *sec, char *err,
                  size_t errlen)
{
    vx_config_t *defaults = NULL;
    struct vx_kafka_security_config def;
    if (!sec) {
        static const struct vx_cfg_section *const only[] = {&vx_cfg_kafka_security_section};
        json_t *empty = json_object();
        int rc = vx_config_from_json(&defaults, empty, only, 1, err, errlen);
        json_decref(empty);
        if (rc < 0 || vx_config_bind(defaults, &vx_cfg_kafka_security_section, &def) < 0) {
            vx_config_destroy(&defaults);
            return NULL;
        }
        sec = &def;
    }
    rd_kafka_conf_t *conf = NULL;
    char check[512];
    if (cb_check(sec, check, sizeof check) < 0) {
        snprintf(err, errlen, "%s", check);
        goto fail;
    }
    if (!brokers || !brokers[0]) {
        snprintf(err, errlen, "kafka: no bootstrap servers");
        goto fail;
    }
    if (!s_is_tls(sec->protocol)) {
        if (!s_all_loopback(brokers)) {
            snprintf(err, errlen,
                     S_SECTION ".protocol %s sends events without TLS, so it is allowed only when "
                               "every bootstrap server is a loopback address, not \"%s\"",
                     sec->protocol, brokers);
            goto fail;
        }
        static atomic_bool warned;
        if (!atomic_exchange(&warned, true)) {
            vx_warn("KAFKA-PLAIN", S_SECTION ".protocol is %s: Kafka traffic to %s is not "
                                   "encrypted (allowed on loopback only)",
                    sec->protocol, brokers);
        }
    }
    conf = rd_kafka_conf_new();
    if (vx_kafka_conf_set(conf, "bootstrap.servers", brokers, err, errlen) < 0) {
        goto fail;
    }
    char proto[32];
    snprintf(proto, sizeof proto, "%s", sec->protocol);
    for (char *p = proto; *p; p++) {
        *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
    }
    if (vx_kafka_conf_set(conf, "security.protocol", proto, err, errlen) < 0) {
        goto fail;
    }
    if (s_is_sasl(sec->protocol)) {
        if (!sec->sasl_username[0]) {
            snprintf(err, errlen, S_SECTION ".sasl_username: needed with protocol %s",
                     sec->protocol);
            goto fail;
        }
        if (!sec->sasl_password_file[0]) {
            snprintf(err, errlen, S_SECTION ".sasl_password_file: needed with protocol %s",
                     sec->protocol);
            goto fail;
        }
        if (vx_kafka_conf_set(conf, "sasl.mechanisms", sec->sasl_mechanism, err, errlen) < 0 ||
            vx_kafka_conf_set(conf, "sasl.username", sec->sasl_username, err, errlen) < 0 ||
            s_set_secret(conf, "sasl.password", "sasl_password_file", sec->sasl_password_file,
                         err, errlen) < 0) {
            goto fail;
        }
    }
    if (s_is_tls(sec->protocol) && s_apply_tls(conf, sec, err, errlen) < 0) {
        goto fail;
    }
    static atomic_bool told;
    if (!atomic_exchange(&told, true)) {
        char d[1024];
        vx_info("KAFKA-SECURITY", "Kafka clients of %s: %s", brokers,
                vx_kafka_security_describe(sec, d, sizeof d));
    }
    vx_config_destroy(&defaults);
    return conf;
fail:
    if (conf) {
        rd_kafka_conf_destroy(conf);
    }
    vx_config_destroy(&defaults);
    return NULL;
}

char *
vx_kafka_security_describe(const struct vx_kafka_security_config *sec, char *out, size_t outlen)
{
    size_t n = (size_t)snprintf(out, outlen, "%s", sec->protocol);
    if (s_is_sasl(sec->protocol) && n < outlen) {
        n += (size_t)snprintf(out + n, outlen - n, ", %s user \"%s\"", sec->sasl_mechanism,
                              sec->sasl_username);
    }
    if (s_is_tls(sec->protocol) && n < outlen) {
        n += (size_t)snprintf(out + n, outlen - n, ", CA %s",
                              sec->ssl_ca_file[0] ? sec->ssl_ca_file : "(system)");
        const char *cert = sec->ssl_certificate_file[0] ? sec->ssl_certificate_file
                                                        : sec->ssl_keystore_file;
        if (cert[0] && n < outlen) {
            n += (size_t)snprintf(out + n, outlen - n, ", client certificate %s", cert);
        }
        if (!sec->ssl_verify_hostname && n < outlen) {
            snprintf(out + n, outlen - n, ", host names not checked");
        }
    }
    return out;
}

enum vx_kafka_problem
vx_kafka_classify(int err, const char *reason)
{
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        return VX_KAFKA_FATAL;
    }
    if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION) {
        /* librdkafka reports both SASL refusals and failed TLS handshakes here; a handshake
         * that failed on our side (the broker's certificate) is a TLS problem of ours. */
        if (reason && (strstr(reason, "certificate verify failed") ||
                       strstr(reason, "hostname mismatch"))) {
            return VX_KAFKA_TLS;
        }
        return VX_KAFKA_REFUSED;
    }
    if (err == RD_KAFKA_RESP_ERR__SSL) {
        return reason && (strstr(reason, "alert") || strstr(reason, "bad certificate"))
                   ? VX_KAFKA_REFUSED
                   : VX_KAFKA_TLS;
    }
    if (reason && (strstr(reason, "SASL authentication") ||
                   strstr(reason, "might require SASL authentication") ||
                   strstr(reason, "incorrect security.protocol") ||
                   strstr(reason, "alert bad certificate") ||
                   strstr(reason, "alert certificate required") ||
                   strstr(reason, "alert unknown ca") ||
                   strstr(reason, "alert handshake failure"))) {
        return VX_KAFKA_REFUSED;
    }
    if (reason && strstr(reason, "certificate verify failed")) {
        return VX_KAFKA_TLS;
    }
    return VX_KAFKA_TRANSIENT;
}

enum vx_kafka_problem
vx_kafka_report_error(rd_kafka_t *rk, const char *what, const char *settings, int err,
                      const char *reason)
{
    enum vx_kafka_problem p = vx_kafka_classify(err, reason);
    switch (p) {
    case VX_KAFKA_FATAL: {
        char buf[512] = "";
        rd_kafka_fatal_error(rk, buf, sizeof buf);
        vx_error("KAFKA-FATAL", "%s: fatal error, the client must be recreated: %s", what, buf);
        break;
    }
    case VX_KAFKA_REFUSED:
        vx_error("KAFKA-REFUSED",
                 "%s: the broker refused this client (kafka_security: %s); check the credentials "
                 "and the protocol the broker's listener expects: %s",
                 what, settings ? settings : "see --print-config", reason);
        break;
    case VX_KAFKA_TLS:
        vx_error("KAFKA-TLS",
                 "%s: TLS with the broker failed (kafka_security: %s); check ssl_ca_file and the "
                 "host names in the broker's certificate: %s",
                 what, settings ? settings : "see --print-config", reason);
        break;
    case VX_KAFKA_TRANSIENT:
        vx_warn("KAFKA-ERROR", "%s: %s: %s", what, rd_kafka_err2name((rd_kafka_resp_err_t)err),
                reason);
        break;
    }
    return p;
}
