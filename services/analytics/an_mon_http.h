/* SPDX-License-Identifier: Apache-2.0 */
/* REST routes of the monitor: /v1/alert-rules, /v1/alerts, /v1/health/system. */
#ifndef AN_MON_HTTP_H
#define AN_MON_HTTP_H

#include "an_monitor.h"
#include "vx_http.h"

/* Registers the route table before the server starts; monitor is borrowed and must outlive
 * the routes. Returns 0, or -EINVAL with a message in err when the table is refused (a
 * programming error, caught by the tests). */
int an_mon_http_routes(vx_http_t *http, an_monitor_t *monitor, char *err, size_t errlen);

/* The route table (static, *n rows), for the test that checks every route's role. */
const struct vx_http_route_def *an_mon_http_route_table(size_t *n);

#endif
