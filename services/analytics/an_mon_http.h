/* SPDX-License-Identifier: Apache-2.0 */
/* REST routes of the monitor: /v1/alert-rules, /v1/alerts, /v1/health/system. */
#ifndef AN_MON_HTTP_H
#define AN_MON_HTTP_H

#include "an_monitor.h"
#include "vx_http.h"

/* Adds the routes before the server starts; monitor is borrowed. */
void an_mon_http_routes(vx_http_t *http, an_monitor_t *monitor);

#endif
