/* SPDX-License-Identifier: Apache-2.0 */
/* The monitor's HTTP and SMTP client (libcurl, one easy handle per call): scraping /metrics,
 * probing /health and /ready, webhook POSTs and emails. Each call has its own timeout and
 * is safe from any thread once curl_global_init ran. */
#ifndef AN_NOTIFY_H
#define AN_NOTIFY_H

#include <stddef.h>

#include "vx_netpolicy.h"

#define AN_FETCH_MAX (8u << 20) /* bytes of a scraped page */

/* The suite's TLS material for an_fetch (scrapes and health probes of the suite's services):
 * https URLs are verified against ca_file instead of the system's authorities, and cert_file
 * and key_file are presented as the client certificate (mutual TLS). "" or NULL: the system's
 * authorities, no client certificate. Call once at start, before any fetch; copies. */
void an_fetch_set_tls(const char *ca_file, const char *cert_file, const char *key_file);

/* GET url. Returns 0 with the HTTP status (and, when body is not NULL, the body: caller
 * frees, NUL-terminated, *len bytes), or -EIO with the transport's error in err. */
int an_fetch(const char *url, long timeout_ms, long *status, char **body, size_t *len, char *err,
             size_t errlen);

/* Webhooks and mail connect only where pol (borrowed; NULL: anywhere) admits the address
 * (vx_netpolicy.h): a refused address is -EACCES, "refused: the outbound address policy does
 * not admit loopback addresses (monitoring.outbound_allow)". Every other transport failure
 * (refused connection, reset, closed connection, not HTTP or SMTP, timeout) has one text, so
 * errors do not tell a closed port from an open one. */

/* POSTs json to url. Returns 0 on a 2xx answer, -EACCES or -EIO otherwise (reason in err). */
int an_notify_webhook(const vx_netpolicy_t *pol, const char *url, const char *json,
                      long timeout_ms, char *err, size_t errlen);

struct an_smtp {
    const char *url;  /* smtp://host:port or smtps://... */
    const char *from;
    long timeout_ms;
};

/* Sends a plain-text mail to n recipients. Returns 0, -EACCES or -EIO (reason in err). */
int an_notify_email(const vx_netpolicy_t *pol, const struct an_smtp *smtp, char *const *to,
                    size_t n, const char *subject, const char *body, char *err,
                    size_t errlen);

#endif
