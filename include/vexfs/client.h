/* SPDX-License-Identifier: Apache-2.0 */
/* libvexfs: the VexFS client library for programs.
 *
 * A program sends semantic events into the suite, reads events from a tap and calls the
 * daemons' admin REST API, with the suite's own identity and security settings:
 *
 *     vexfs_config_t *cfg = vexfs_config_new();
 *     vexfs_config_set(cfg, "identity", "acme-app");        // <keys_dir>/acme-app.key
 *     vexfs_client_t *c = vexfs_client_new(cfg);             // NULL: see vexfs_last_error()
 *     vexfs_config_destroy(&cfg);
 *
 *     struct vexfs_kv content[] = {{"size", "4096"}};
 *     struct vexfs_event ev = VEXFS_EVENT_INIT;
 *     ev.type = "filesystem_write";
 *     ev.path = "/data/a.txt";
 *     ev.content = content;
 *     ev.n_content = 1;
 *     int rc = vexfs_client_emit(c, &ev, 1000);              // buffered, not yet acknowledged
 *     rc = vexfs_client_flush(c, 5000);                      // 0: propagation acknowledged it
 *     vexfs_client_close(&c, 5000, NULL);
 *
 * Build with `pkg-config --cflags --libs vexfs`.
 *
 * Delivery. Events go to propagation's acknowledged ingest (a ZeroMQ DEALER connected to its
 * ingest_acked_endpoint, CURVE-encrypted unless security.curve is off) in batches. Every batch
 * is kept in a bounded buffer (buffer_max_batches) until propagation acknowledges it, that is
 * until it published the batch's events to routing (and, with Kafka and ingest_ack_durable,
 * Kafka reported on each). A batch unanswered after ack_timeout_ms, or cut off by a lost
 * connection, is sent again: delivery is at least once, and propagation's deduplication window
 * removes the copies that arrive within it. Nothing is dropped silently: when the buffer is
 * full, emitting waits (up to the caller's timeout) and then fails with -ENOBUFS without
 * taking the event; the only events ever given up are those still held when the client is
 * closed (counted and returned by vexfs_client_close) and those ZeroMQ refused to send
 * (counted in vexfs_stats.lost_events and reported by the next vexfs_client_flush).
 *
 * An acknowledgement says propagation handed the batch on; an event it refused there (a
 * duplicate inside its window, or a source or tenant the client's identity may not claim) is
 * acknowledged too, and counted in propagation's vexfs_events_dropped_total{reason}. The
 * library validates every event before taking it (the same rules as propagation), so an
 * invalid event is refused at once with -EINVAL and a message naming the field.
 *
 * Errors. Functions return 0 (or a count) on success and a negative errno on failure; the
 * message of the last failure of the calling thread is vexfs_last_error(). Every error says
 * whether the operation happened: an emit that fails took nothing; a flush that fails leaves
 * every event buffered and still being delivered.
 *
 * Threads. A client owns one background thread that owns its ZeroMQ sockets. Every function
 * of a client may be called from any thread at the same time, except vexfs_client_close, which
 * must be the last call. A configuration is not thread-safe (build it, then make clients). A
 * tap may be used from any thread, one call at a time per tap (calls are serialised).
 *
 * Memory. Strings the library returns (char **) are the caller's and are freed with
 * vexfs_free. Pointers passed in are borrowed for the duration of the call only.
 *
 * Stability. Only vexfs_ names are exported. Structs that the caller fills begin with their
 * size (set by the _INIT macros), so later versions can add fields at the end without
 * breaking programs built against this header. */
#ifndef VEXFS_CLIENT_H
#define VEXFS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the library's exported functions (the library is built with hidden visibility). */
#if defined(__GNUC__)
#define VEXFS_API __attribute__((visibility("default")))
#else
#define VEXFS_API
#endif

/* The version of the library's API (major * 10000 + minor * 100 + patch) this header
 * describes, and the version string of the library linked at run time ("0.1.0"). */
#define VEXFS_CLIENT_API_VERSION 10000
VEXFS_API const char *vexfs_version(void);

/* ---- errors -------------------------------------------------------------------------------- */

/* The message of the last failure of a vexfs_ call in the calling thread ("" when none yet).
 * Borrowed: valid until the thread's next failing vexfs_ call. Thread-safe (per thread). */
VEXFS_API const char *vexfs_last_error(void);

/* Frees a string the library returned (NULL is fine). */
VEXFS_API void vexfs_free(void *p);

/* ---- configuration ------------------------------------------------------------------------- */

/* Settings for a client: the keys of the `client` section, of the suite's `security` section
 * (curve, keys_dir, identity, tls, tls_dir) and of its `transport` section (hwm, linger_ms,
 * max_message_bytes). The README lists every key with its default and meaning. As for every
 * program of the suite, environment variables VEXFS_<SECTION>_<KEY> (VEXFS_SECURITY_KEYS_DIR,
 * VEXFS_CLIENT_INGEST_ENDPOINT, ...) override single keys, also keys set here; a service URL
 * left empty is taken from VEXFS_<SERVICE>_URL (vexfsctl's variables), else from the default
 * port on 127.0.0.1 (https:// unless security.tls is off). */
typedef struct vexfs_config vexfs_config_t;

/* A configuration with every key at its default. Caller owns; vexfs_config_destroy. Never NULL
 * (allocation failure aborts, as everywhere in the suite). */
VEXFS_API vexfs_config_t *vexfs_config_new(void);
/* Frees *cfg and sets it to NULL; accepts NULL. */
VEXFS_API void vexfs_config_destroy(vexfs_config_t **cfg);

/* Reads a YAML or JSON file of the suite's configuration layout and takes its `client`,
 * `security` and `transport` sections (the other services' sections are left alone; an
 * unknown section or key is an error). The last word wins: the file's keys replace those set
 * before, and keys set afterwards replace the file's.
 * Returns 0, or -EINVAL / -ENOENT with the file and key named in vexfs_last_error(); cfg is
 * unchanged on error. */
VEXFS_API int vexfs_config_load(vexfs_config_t *cfg, const char *path);

/* Sets one key ("ingest_endpoint", or with its section, "client.ingest_endpoint",
 * "security.keys_dir"). value is text as in a configuration file ("1000", "true", a path).
 * Returns 0; -ENOENT for an unknown key; -EINVAL for a value out of its bounds or one that
 * breaks a rule between keys (named in vexfs_last_error()); cfg is unchanged on error. */
VEXFS_API int vexfs_config_set(vexfs_config_t *cfg, const char *key, const char *value);

/* The effective configuration as JSON text, environment overrides applied and secrets masked
 * ("***"). Caller frees with vexfs_free. Returns NULL with -EINVAL's message in
 * vexfs_last_error() when the configuration does not validate. */
VEXFS_API char *vexfs_config_show(const vexfs_config_t *cfg);

/* ---- the client ---------------------------------------------------------------------------- */

typedef struct vexfs_client vexfs_client_t;

/* Makes a client from cfg (copied: cfg may be destroyed afterwards) after checking the
 * settings. The files they name are read when first needed, so a program needs only the
 * material of what it uses: the CURVE keys when the first ZeroMQ socket opens (the first emit,
 * vexfs_client_connect, vexfs_tap_open), the TLS files and the token at the first admin call;
 * each is then checked as the daemons check theirs (missing, malformed, a secret readable by
 * others: refused, the file named). Connecting is asynchronous and reconnects by itself.
 * Returns NULL on error (vexfs_last_error() says why). */
VEXFS_API vexfs_client_t *vexfs_client_new(const vexfs_config_t *cfg);

/* Starts the emitting link now (it otherwise starts at the first emit), so a program can
 * fail at start when its settings are wrong. Returns 0; -ENOTCONN when ingest_endpoint is
 * empty; -EIO when the link cannot start: a CURVE key file missing, malformed or readable by
 * others, or an endpoint the settings refuse (plain links off loopback), named in
 * vexfs_last_error(). A failed start is tried again by the next call. */
VEXFS_API int vexfs_client_connect(vexfs_client_t *c);

/* Delivers what is buffered for up to timeout_ms (0: not at all, < 0: without limit), stops
 * the background thread and frees everything; *c is set to NULL (accepts NULL or *c NULL).
 * abandoned (may be NULL) receives the number of emitted events that were not acknowledged
 * and are given up. Returns 0 when nothing was abandoned, else -ETIMEDOUT. No other call on
 * the client may run or follow (taps opened from it must be closed first). */
VEXFS_API int vexfs_client_close(vexfs_client_t **c, int timeout_ms, uint64_t *abandoned);

/* ---- events -------------------------------------------------------------------------------- */

/* One string pair of an event's content or metadata map. */
struct vexfs_kv {
    const char *key;
    const char *value;
};

/* An event as C fields: the README's event table. Every field but type (and path for
 * filesystem events) is optional: NULL or 0 means absent, and propagation stamps what is
 * absent (id, timestamp, trace id; source and tenant from the client's identity). Initialise
 * with VEXFS_EVENT_INIT so that size is set and the rest is zero. */
struct vexfs_event {
    size_t size;                /* sizeof(struct vexfs_event) of the program's header */
    const char *type;           /* "filesystem_write", ..., "custom" */
    const char *custom_type;    /* the kind of a custom event */
    const char *source;         /* "userspace_api", ...; NULL: left to propagation */
    const char *path;           /* absolute and canonical */
    uint64_t timestamp_ns;      /* Unix ns; 0: the ingest time */
    const char *tenant;
    int priority;               /* 0..255 */
    const struct vexfs_kv *content;
    size_t n_content;
    const struct vexfs_kv *metadata;
    size_t n_metadata;
    const char *id;             /* UUID text or 32 hex digits */
    const char *trace_id;
    const char *const *parent_ids; /* UUID texts */
    size_t n_parent_ids;
};
#define VEXFS_EVENT_INIT {.size = sizeof(struct vexfs_event)}

/* Validates ev and takes it into the current batch. Waits up to timeout_ms (0: not at all,
 * < 0: without limit) while the buffer is full. Returns 0 once the event is buffered (it is
 * then delivered, at least once, unless the client is closed first); -EINVAL for an invalid
 * event (nothing taken; the field is named), -ENOBUFS when the buffer stayed full for
 * timeout_ms (nothing taken: emit it again later), -ENOTCONN when emitting is off
 * (ingest_endpoint empty), or the connect errors of vexfs_client_connect. Thread-safe. */
VEXFS_API int vexfs_client_emit(vexfs_client_t *c, const struct vexfs_event *ev, int timeout_ms);

/* The same for n events, all or nothing: either every event is valid and buffered, in order,
 * or none is (-EINVAL names the index: "events[3]: field 'path': ..."). -E2BIG when the events
 * need more buffer slots than buffer_max_batches (they could never fit). Thread-safe. */
VEXFS_API int vexfs_client_emit_batch(vexfs_client_t *c, const struct vexfs_event *events, size_t n,
                            int timeout_ms);

/* The same from JSON text: one event object, or an array of them (all or nothing), in the
 * README's JSON form. Returns the number of events taken (>= 0), or the errors above (-EINVAL
 * for JSON that does not parse, with line and column). Thread-safe. */
VEXFS_API int vexfs_client_emit_json(vexfs_client_t *c, const char *json, int timeout_ms);

/* Sends the current batch at once and waits until every event emitted before the call is
 * acknowledged, for up to timeout_ms (< 0: without limit). Returns 0; -ETIMEDOUT when some
 * are still unacknowledged (they stay buffered and are still delivered: flush again); -EIO
 * when events were given up since the previous flush that returned (a ZeroMQ send error;
 * the count is in the message and in vexfs_stats). Thread-safe. */
VEXFS_API int vexfs_client_flush(vexfs_client_t *c, int timeout_ms);

/* What the client did so far. Initialise with VEXFS_STATS_INIT. */
struct vexfs_stats {
    size_t size;                /* sizeof(struct vexfs_stats) of the program's header */
    uint64_t emitted_events;    /* taken by emit calls */
    uint64_t acked_events;      /* acknowledged by propagation */
    uint64_t resent_events;     /* sent again after a timeout or a lost connection */
    uint64_t lost_events;       /* given up on a send error */
    uint64_t refused_events;    /* events refused as invalid (-EINVAL; a batch counts whole) */
    uint64_t full_waits;        /* emit calls that found the buffer full and waited */
    uint64_t full_timeouts;     /* of those, gave up with -ENOBUFS */
    uint64_t batches_sent;      /* first sends */
    uint64_t link_resets;       /* connections lost with batches unacknowledged */
    uint64_t buffered_batches;  /* held now: waiting, or sent and not acknowledged */
    uint64_t unacked_batches;   /* sent and not yet acknowledged */
};
#define VEXFS_STATS_INIT {.size = sizeof(struct vexfs_stats)}

/* Fills *out (up to out->size bytes). Returns 0, or -EINVAL when out->size is 0. Thread-safe. */
VEXFS_API int vexfs_client_stats(vexfs_client_t *c, struct vexfs_stats *out);

/* ---- taps ---------------------------------------------------------------------------------- */

/* A subscription to a tap: propagation's (tap_endpoint), or any other PUB of the suite that
 * publishes event batches (a routing boundary's tap). A tap is an observer: it sees what is
 * published after it joined, and a reader slower than the stream loses whole batches at the
 * publisher (by design: observation never slows the pipeline); the loss is counted in
 * vexfs_tap_missed (the batches' sequence numbers tell it). */
typedef struct vexfs_tap vexfs_tap_t;

/* Subscribes to endpoint (NULL: the configured tap_endpoint) with the client's identity.
 * Returns NULL on error (vexfs_last_error()). Thread-safe; the tap must be closed before the
 * client. */
VEXFS_API vexfs_tap_t *vexfs_tap_open(vexfs_client_t *c, const char *endpoint);

/* The next event as one line of compact JSON (the README's form, as vexfsctl tail prints it:
 * uint64 values above 2^63-1 as strings of digits). Waits up to timeout_ms (< 0: without
 * limit). Returns 0 with *json (caller frees with vexfs_free), -ETIMEDOUT when nothing came,
 * -EINTR when a signal interrupted the wait. A message that is not a valid event batch is
 * skipped and counted (vexfs_tap_missed's undecodable). Calls on one tap are serialised. */
VEXFS_API int vexfs_tap_next(vexfs_tap_t *t, int timeout_ms, char **json);

/* What the tap lost so far: batches missing in their publishers' sequences (dropped at the
 * publisher's high-water mark while this reader was slow, or published before it joined
 * between two it saw), and events (or whole messages, when they could not be counted) of
 * messages that were not valid event batches. Either pointer may be NULL. */
VEXFS_API void vexfs_tap_missed(vexfs_tap_t *t, uint64_t *missed_batches, uint64_t *undecodable);

/* Unsubscribes and frees; *t set to NULL; accepts NULL. */
VEXFS_API void vexfs_tap_close(vexfs_tap_t **t);

/* ---- the admin REST API -------------------------------------------------------------------- */

/* One call to a daemon's REST API: service "propagation", "routing", "coordinator",
 * "automation" or "analytics" (its URL from the configuration), method "GET", "POST", "PUT" or
 * "DELETE", path "/v1/..." (with its query string), body JSON text or NULL. The call carries the
 * configured credential (a bearer token, and the client certificate under mutual TLS) and the
 * tenant header when `tenant` is set, verifies the server against the suite's CA, and, for the
 * coordinator, follows a 421 answer to the leader it names.
 *
 * Returns 0 when the daemon answered, whatever the status: *status receives the HTTP status
 * and *response (may be NULL) the answer as JSON text (caller frees with vexfs_free; an empty
 * answer is "{}"; error answers are {"error":{"code":...,"message":...}}). Otherwise: -EINVAL
 * for an unknown service, a method outside the four or a body that is not JSON (nothing sent);
 * -ECONNREFUSED, -EHOSTUNREACH, -ETIMEDOUT (http_timeout_ms) or -EIO for transport failures,
 * -EACCES when the server's certificate does not verify, -EMSGSIZE for an answer over
 * max_response_bytes, and -EPROTO for an answer that is not JSON: the request may have been
 * carried out in these last cases. Thread-safe. */
VEXFS_API int vexfs_client_call(vexfs_client_t *c, const char *service, const char *method,
                      const char *path, const char *body, long *status, char **response);

#ifdef __cplusplus
}
#endif

#endif
