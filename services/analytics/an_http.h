/* SPDX-License-Identifier: Apache-2.0 */
/* REST routes of vexfs-analytics: queries, their results, anomalies, readiness. */
#ifndef AN_HTTP_H
#define AN_HTTP_H

#include "an_server.h"
#include "vx_http.h"

typedef struct an_http an_http_t;

/* Adds the routes to http (before it starts). server is borrowed. */
an_http_t *an_http_new(vx_http_t *http, an_server_t *server);
void an_http_destroy(an_http_t **h);

#endif
