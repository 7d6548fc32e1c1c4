/* SPDX-License-Identifier: Apache-2.0 */
/* TLS files and a deployment's certificate authority, with GnuTLS. */
#include "vx_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vx_mem.h"

#define S_PEM_MAX (1u << 20)
#define S_DAYS_CA 3650
#define S_DAYS_LEAF 825

char *
vx_tls_read_pem(const char *path, bool secret, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
        (size_t)st.st_size > S_PEM_MAX) {
        close(fd);
        snprintf(err, errlen, "%s: not a PEM file of 1 byte to 1 MiB", path);
        return NULL;
    }
    if (secret && (st.st_mode & (S_IRWXG | S_IRWXO))) {
        close(fd);
        snprintf(err, errlen,
                 "%s: a private key must be readable by its owner only (mode %03o; chmod 600)",
                 path, (unsigned)(st.st_mode & 0777));
        return NULL;
    }
    char *buf = vx_malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r <= 0) {
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    if (!strstr(buf, "-----BEGIN ")) {
        free(buf);
        snprintf(err, errlen, "%s: not PEM (no -----BEGIN line)", path);
        return NULL;
    }
    if (len) {
        *len = got;
    }
    return buf;
}

static int
s_write(const char *path, mode_t mode, const gnutls_datum_t *d, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, e == EEXIST ? "exists (not overwritten)" : strerror(e));
        return -e;
    }
    ssize_t w = write(fd, d->data, d->size);
    int e = w == (ssize_t)d->size ? 0 : EIO;
    if (!e && fsync(fd) < 0) {
        e = errno;
    }
    close(fd);
    if (e) {
        unlink(path);
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    return 0;
}

/* Fills what every certificate of the suite has: version, serial, validity, name, key. */
static int
s_common(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, const char *cn, int days)
{
    unsigned char serial[16];
    if (gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof serial) < 0) {
        return -EIO;
    }
    serial[0] &= 0x7f; /* a positive integer */
    time_t now = time(NULL);
    if (gnutls_x509_crt_set_version(crt, 3) < 0 ||
        gnutls_x509_crt_set_serial(crt, serial, sizeof serial) < 0 ||
        gnutls_x509_crt_set_activation_time(crt, now - 3600) < 0 ||
        gnutls_x509_crt_set_expiration_time(crt, now + (time_t)days * 86400) < 0 ||
        gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                      (unsigned)strlen(cn)) < 0 ||
        gnutls_x509_crt_set_key(crt, key) < 0) {
        return -EIO;
    }
    unsigned char id[64];
    size_t idlen = sizeof id;
    if (gnutls_x509_crt_get_key_id(crt, 0, id, &idlen) < 0 ||
        gnutls_x509_crt_set_subject_key_id(crt, id, idlen) < 0) {
        return -EIO;
    }
    return 0;
}

/* Writes crt and key as dir/name.crt and dir/name.key. */
static int
s_save(const char *dir, const char *name, gnutls_x509_crt_t crt, gnutls_x509_privkey_t key,
       char *err, size_t errlen)
{
    char crt_path[VX_PATH_MAX], key_path[VX_PATH_MAX];
    snprintf(crt_path, sizeof crt_path, "%s/%s.crt", dir, name);
    snprintf(key_path, sizeof key_path, "%s/%s.key", dir, name);
    gnutls_datum_t c = {NULL, 0}, k = {NULL, 0};
    int rc = -EIO;
    if (gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &c) < 0 ||
        gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &k) <
            0) {
        snprintf(err, errlen, "%s: cannot encode the certificate", name);
        goto out;
    }
    rc = s_write(key_path, 0600, &k, err, errlen);
    if (rc == 0) {
        rc = s_write(crt_path, 0644, &c, err, errlen);
        if (rc < 0) {
            unlink(key_path);
        }
    }
out:
    gnutls_free(c.data);
    gnutls_free(k.data);
    return rc;
}

static int
s_new_key(gnutls_x509_privkey_t *key)
{
    if (gnutls_x509_privkey_init(key) < 0) {
        return -ENOMEM;
    }
    if (gnutls_x509_privkey_generate(*key, GNUTLS_PK_ECDSA,
                                     GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0) {
        gnutls_x509_privkey_deinit(*key);
        return -EIO;
    }
    return 0;
}

int
vx_tls_make_ca(const char *dir, const char *name, char *err, size_t errlen)
{
    gnutls_x509_privkey_t key;
    gnutls_x509_crt_t crt;
    if (s_new_key(&key) < 0) {
        snprintf(err, errlen, "cannot generate a key");
        return -EIO;
    }
    int rc = -EIO;
    if (gnutls_x509_crt_init(&crt) < 0) {
        gnutls_x509_privkey_deinit(key);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (s_common(crt, key, name, S_DAYS_CA) < 0 ||
        gnutls_x509_crt_set_basic_constraints(crt, 1, -1) < 0 ||
        gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN) < 0 ||
        gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0) < 0) {
        snprintf(err, errlen, "%s: cannot make the authority's certificate", name);
    } else {
        rc = s_save(dir, name, crt, key, err, errlen);
    }
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
    return rc;
}

/* Loads dir/ca_name.{crt,key}. */
static int
s_load_ca(const char *dir, const char *ca_name, gnutls_x509_crt_t *crt,
          gnutls_x509_privkey_t *key, char *err, size_t errlen)
{
    char path[VX_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s.crt", dir, ca_name);
    size_t clen = 0, klen = 0;
    char *c = vx_tls_read_pem(path, false, &clen, err, errlen);
    if (!c) {
        return -ENOENT;
    }
    snprintf(path, sizeof path, "%s/%s.key", dir, ca_name);
    char *k = vx_tls_read_pem(path, true, &klen, err, errlen);
    if (!k) {
        free(c);
        return -ENOENT;
    }
    gnutls_datum_t cd = {(unsigned char *)c, (unsigned)clen}, kd = {(unsigned char *)k, (unsigned)klen};
    int rc = 0;
    gnutls_x509_crt_init(crt);
    gnutls_x509_privkey_init(key);
    if (gnutls_x509_crt_import(*crt, &cd, GNUTLS_X509_FMT_PEM) < 0 ||
        gnutls_x509_privkey_import2(*key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0) < 0) {
        snprintf(err, errlen, "%s/%s: not a certificate and key in PEM", dir, ca_name);
        gnutls_x509_crt_deinit(*crt);
        gnutls_x509_privkey_deinit(*key);
        rc = -EINVAL;
    }
    free(c);
    free(k);
    return rc;
}

/* Adds one subject alternative name: an IPv4/IPv6 address or a DNS name. */
static int
s_add_san(gnutls_x509_crt_t crt, const char *host)
{
    unsigned char ip[16];
    if (inet_pton(AF_INET, host, ip) == 1) {
        return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 4,
                                                    GNUTLS_FSAN_APPEND);
    }
    if (inet_pton(AF_INET6, host, ip) == 1) {
        return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 16,
                                                    GNUTLS_FSAN_APPEND);
    }
    return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, host,
                                                (unsigned)strlen(host), GNUTLS_FSAN_APPEND);
}

int
vx_tls_make_cert(const char *dir, const char *name, const char *ca_name,
                 const char *const *hosts, size_t n, bool server, char *err, size_t errlen)
{
    gnutls_x509_crt_t ca_crt, crt;
    gnutls_x509_privkey_t ca_key, key;
    int rc = s_load_ca(dir, ca_name, &ca_crt, &ca_key, err, errlen);
    if (rc < 0) {
        return rc;
    }
    rc = -EIO;
    if (s_new_key(&key) < 0) {
        snprintf(err, errlen, "cannot generate a key");
        goto out_ca;
    }
    gnutls_x509_crt_init(&crt);
    unsigned char id[64];
    size_t idlen = sizeof id;
    bool ok = s_common(crt, key, name, S_DAYS_LEAF) == 0 &&
              gnutls_x509_crt_set_basic_constraints(crt, 0, -1) >= 0 &&
              gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE) >= 0 &&
              gnutls_x509_crt_set_key_purpose_oid(crt,
                                                  server ? GNUTLS_KP_TLS_WWW_SERVER
                                                         : GNUTLS_KP_TLS_WWW_CLIENT,
                                                  0) >= 0 &&
              gnutls_x509_crt_get_subject_key_id(ca_crt, id, &idlen, NULL) >= 0 &&
              gnutls_x509_crt_set_authority_key_id(crt, id, idlen) >= 0;
    for (size_t i = 0; ok && i < n; i++) {
        ok = s_add_san(crt, hosts[i]) >= 0;
    }
    if (ok && gnutls_x509_crt_sign2(crt, ca_crt, ca_key, GNUTLS_DIG_SHA256, 0) >= 0) {
        rc = s_save(dir, name, crt, key, err, errlen);
    } else {
        snprintf(err, errlen, "%s: cannot make the certificate", name);
    }
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
out_ca:
    gnutls_x509_crt_deinit(ca_crt);
    gnutls_x509_privkey_deinit(ca_key);
    return rc;
}

int
vx_tls_check_pair(const char *cert_pem, const char *key_pem, char *err, size_t errlen)
{
    gnutls_certificate_credentials_t cred;
    if (gnutls_certificate_allocate_credentials(&cred) < 0) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    gnutls_datum_t c = {(unsigned char *)cert_pem, (unsigned)strlen(cert_pem)};
    gnutls_datum_t k = {(unsigned char *)key_pem, (unsigned)strlen(key_pem)};
    int rc = gnutls_certificate_set_x509_key_mem2(cred, &c, &k, GNUTLS_X509_FMT_PEM, NULL, 0);
    gnutls_certificate_free_credentials(cred);
    if (rc < 0) {
        snprintf(err, errlen, "%s", gnutls_strerror(rc));
        return -EINVAL;
    }
    return 0;
}

int
vx_tls_verify(const char *cert_pem, const char *ca_pem, const char *host, char *err,
              size_t errlen)
{
    gnutls_x509_crt_t crt, ca;
    gnutls_datum_t cd = {(unsigned char *)cert_pem, (unsigned)strlen(cert_pem)};
    gnutls_datum_t ad = {(unsigned char *)ca_pem, (unsigned)strlen(ca_pem)};
    gnutls_x509_crt_init(&crt);
    gnutls_x509_crt_init(&ca);
    int rc = -EINVAL;
    unsigned status = 0;
    if (gnutls_x509_crt_import(crt, &cd, GNUTLS_X509_FMT_PEM) < 0 ||
        gnutls_x509_crt_import(ca, &ad, GNUTLS_X509_FMT_PEM) < 0) {
        snprintf(err, errlen, "not a PEM certificate");
    } else if (gnutls_x509_crt_verify(crt, &ca, 1, 0, &status) < 0 || status != 0) {
        snprintf(err, errlen, "not issued by the authority (status 0x%x)", status);
    } else if (host && !gnutls_x509_crt_check_hostname(crt, host)) {
        snprintf(err, errlen, "does not name %s", host);
    } else {
        rc = 0;
    }
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_crt_deinit(ca);
    return rc;
}
