/* SPDX-License-Identifier: Apache-2.0 */
/* TLS material for the suite's REST servers and HTTP clients: reading certificate and key
 * files with the checks an operator needs, and making a small certificate authority for a
 * deployment (vexfsctl certs, make run, the tests) with GnuTLS.
 *
 * The suite's layout under admin.tls_dir (see vx_daemon.h):
 *     ca.crt                the authority every client of the suite verifies servers with,
 *                           and daemons verify client certificates with (mutual TLS)
 *     server.crt, server.key  presented by every daemon's REST server
 *     <name>.crt, <name>.key  a client's certificate (mutual TLS), e.g. ctl */
#ifndef VX_TLS_H
#define VX_TLS_H

#include <stdbool.h>
#include <stddef.h>

/* Reads a PEM file whole (NUL-terminated; caller frees). A secret (a private key) must be
 * readable by its owner only. Returns NULL with a message naming the file in err. */
char *vx_tls_read_pem(const char *path, bool secret, size_t *len, char *err, size_t errlen);

/* Makes dir/name.crt and dir/name.key (mode 0600): a self-signed authority. Refuses to
 * overwrite. Returns 0 or -errno with a message in err. */
int vx_tls_make_ca(const char *dir, const char *name, char *err, size_t errlen);

/* Makes dir/name.crt and dir/name.key signed by dir/ca_name.{crt,key}: a server certificate for
 * hosts[0..n) (DNS names or IP addresses, the subject alternative names) when server, else a
 * client certificate whose common name is name. Refuses to overwrite. Returns 0 or -errno. */
int vx_tls_make_cert(const char *dir, const char *name, const char *ca_name,
                     const char *const *hosts, size_t n, bool server, char *err, size_t errlen);

/* Checks that cert (PEM chain) and key (PEM) form a pair a TLS server can use. Returns 0 or
 * -EINVAL with GnuTLS's reason in err. */
int vx_tls_check_pair(const char *cert_pem, const char *key_pem, char *err, size_t errlen);

/* Checks that cert (PEM) was issued by ca (PEM) and names host; for tests and --check.
 * Returns 0 or -EINVAL with the reason in err. */
int vx_tls_verify(const char *cert_pem, const char *ca_pem, const char *host, char *err,
                  size_t errlen);

#endif
