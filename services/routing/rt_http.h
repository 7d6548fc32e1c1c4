/* SPDX-License-Identifier: Apache-2.0 */
/* The REST routes of vexfs-routing (see README, "vexfs-routing"). */
#ifndef RT_HTTP_H
#define RT_HTTP_H

#include "rt_server.h"
#include "vx_http.h"

typedef struct rt_http rt_http_t;

/* Registers the /v1 routes (but /v1/config, which vx_daemon serves) and /ready on http.
 * server is borrowed. */
rt_http_t *rt_http_new(vx_http_t *http, rt_server_t *server);
void rt_http_destroy(rt_http_t **p);

#endif
