/* SPDX-License-Identifier: Apache-2.0 */
/* The REST routes of vexfs-propagation (see README, "Propagation REST API"). */
#ifndef PROP_HTTP_H
#define PROP_HTTP_H

#include "prop_server.h"
#include "vx_config.h"
#include "vx_http.h"

typedef struct prop_http prop_http_t;

/* Registers the route table (POST /v1/events, GET /v1/stats) and the readiness check on http,
 * before it starts. server is borrowed and must outlive the routes. Returns NULL with a
 * message in err when the table is refused (a programming error, caught by the tests). */
prop_http_t *prop_http_new(vx_http_t *http, prop_server_t *server, char *err, size_t errlen);
void prop_http_destroy(prop_http_t **p);

/* The route table (static, *n rows), for the test that checks every route's role. */
const struct vx_http_route_def *prop_http_route_table(size_t *n);

#endif
