/* SPDX-License-Identifier: Apache-2.0 */
/* The REST routes of vexfs-propagation (see README, "Propagation REST API"). */
#ifndef PROP_HTTP_H
#define PROP_HTTP_H

#include "prop_server.h"
#include "vx_config.h"
#include "vx_http.h"

typedef struct prop_http prop_http_t;

/* Registers POST /v1/events, GET /v1/stats and the readiness check on http. server is
 * borrowed. */
prop_http_t *prop_http_new(vx_http_t *http, prop_server_t *server);
void prop_http_destroy(prop_http_t **p);

#endif
