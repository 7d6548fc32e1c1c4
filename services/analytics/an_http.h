/* SPDX-License-Identifier: Apache-2.0 */
/* REST routes of vexfs-analytics: queries, their results, anomalies, readiness. */
#ifndef AN_HTTP_H
#define AN_HTTP_H

#include "an_server.h"
#include "vx_http.h"

typedef struct an_http an_http_t;

/* Registers the route table and /ready on http (before it starts). server is borrowed and must
 * outlive the routes. Returns NULL with a message in err when the table is refused (a
 * programming error, caught by the tests). */
an_http_t *an_http_new(vx_http_t *http, an_server_t *server, char *err, size_t errlen);
void an_http_destroy(an_http_t **h);

/* The route table (static, *n rows), for the test that checks every route's role. */
const struct vx_http_route_def *an_http_route_table(size_t *n);

#endif
