/* SPDX-License-Identifier: Apache-2.0 */
/* The monitor's HTTP and SMTP client (libcurl, one easy handle per call): scraping /metrics,
 * probing /health and /ready, webhook POSTs and emails. Each call has its own timeout and
 * is safe from any thread once curl_global_init ran. */
#ifndef AN_NOTIFY_H
#define AN_NOTIFY_H

#include <stddef.h>

#define AN_FETCH_MAX (8u << 20) /* bytes of a scraped page */

/* The suite's TLS material for an_fetch's https URLs (the services it scrapes and probes
 * speak HTTPS with the deployment's authority): the CA to trust instead of the system's, and
 * the client certificate and key to present (NULL or "": none). Copied; call once before
 * any an_fetch, from one thread. Webhooks and mail keep the system's authorities. */
void an_fetch_tls(const char *ca_file, const char *cert_file, const char *key_file);

/* GET url. Returns 0 with the HTTP status (and, when body is not NULL, the body: caller
 * frees, NUL-terminated, *len bytes), or -EIO with the transport's error in err. */
int an_fetch(const char *url, long timeout_ms, long *status, char **body, size_t *len, char *err,
             size_t errlen);

/* POSTs json to url. Returns 0 on a 2xx answer, -EIO otherwise (reason in err). */
int an_notify_webhook(const char *url, const char *json, long timeout_ms, char *err,
                      size_t errlen);

struct an_smtp {
    const char *url;  /* smtp://host:port or smtps://... */
    const char *from;
    long timeout_ms;
};

/* Sends a plain-text mail to n recipients. Returns 0 or -EIO (reason in err). */
int an_notify_email(const struct an_smtp *smtp, char *const *to, size_t n, const char *subject,
                    const char *body, char *err, size_t errlen);

#endif
