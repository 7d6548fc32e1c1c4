/* SPDX-License-Identifier: Apache-2.0 */
/* The REST routes of vexfs-routing (see README, "vexfs-routing"). */
#ifndef RT_HTTP_H
#define RT_HTTP_H

#include "rt_server.h"
#include "vx_http.h"

typedef struct rt_http rt_http_t;

/* Registers the route table (the /v1 routes but /v1/config, which vx_daemon serves) and /ready
 * on http, before it starts. server is borrowed and must outlive the routes. Returns NULL with
 * a message in err when the table is refused (a programming error, caught by the tests). */
rt_http_t *rt_http_new(vx_http_t *http, rt_server_t *server, char *err, size_t errlen);
void rt_http_destroy(rt_http_t **p);

/* The route table (static, *n rows), for the test that checks every route's role. */
const struct vx_http_route_def *rt_http_route_table(size_t *n);

#endif
