/* SPDX-License-Identifier: Apache-2.0 */
/* REST routes of vexfs-automation:
 *   GET    /v1/patterns            {"patterns":[...]} as given
 *   PUT    /v1/patterns            replaces the set: [...] or {"patterns":[...]}; 422 on error
 *   POST   /v1/patterns            adds one; 409 when its id exists
 *   GET    /v1/patterns/{id}       the pattern with "stats"; 404 when unknown
 *   PUT    /v1/patterns/{id}       replaces or adds (201) one; its "id" must be {id} or absent
 *   DELETE /v1/patterns/{id}       204; 404 when unknown
 *   GET    /v1/alerts              ?since=<seq>&limit=<n> (default 100, at most 10000)
 *   GET    /v1/stats               engine totals
 * A rejected change answers {"error":{"code":"invalid_pattern","message":...}} and changes
 * nothing. */
#ifndef AU_HTTP_H
#define AU_HTTP_H

#include "au_server.h"
#include "vx_http.h"

/* Adds the routes to http (before it starts); server is borrowed and must outlive it. */
void au_http_routes(vx_http_t *http, au_server_t *server);

#endif
