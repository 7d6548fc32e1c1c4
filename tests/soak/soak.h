/* SPDX-License-Identifier: Apache-2.0 */
/* The chaos soak: the whole suite on loopback under a steady acknowledged load while faults
 * are injected at random, and an independent checker counting, by event id, what every hop
 * delivered (README, "Chaos soak"). Shared declarations of its parts:
 *
 *   soak_main.c   options, the run's phases, the verdict
 *   soak_load.c   the producer: events at a steady rate over the acknowledged link (vx_link)
 *   soak_check.c  the checker's receivers (Kafka topics, routing's console boundary) and tally
 *   soak_fault.c  the fault injector and its timeline
 *
 * Every event of a run carries a 16-byte id made of the run's tag (8 bytes) and its number
 * (8 bytes, little-endian), so any receiver knows which event it holds without a shared table. */
#ifndef SOAK_H
#define SOAK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "suite_harness.h"

/* The hops the checker counts, in the summary's order. */
enum soak_hop {
    SOAK_HOP_JOURNAL = 0, /* propagation -> Kafka journal (vexfs.events) */
    SOAK_HOP_CONSOLE,     /* propagation -> routing -> the `console` ZeroMQ boundary */
    SOAK_HOP_N
};

struct soak_opts {
    int duration_s;      /* load and faults */
    int rate;            /* events per second */
    int batch;           /* events per batch */
    uint64_t seed;
    int fault_min_ms, fault_max_ms; /* gap between two faults */
    int hold_min_ms, hold_max_ms;   /* how long a fault lasts before it is healed */
    char faults[256];    /* comma-separated kinds the injector may pick */
    char strict[128];    /* comma-separated hops whose lost must be 0 */
    int drain_s;         /* after the load: how long the hops may take to catch up */
    int tmpfs_mb;        /* size of the tmpfs on the full-disk fault's state folder */
    char disk_dir[64];   /* that folder, under the suite's folder (routing-state, ...) */
};

/* ---- the producer ----------------------------------------------------------------------- */

struct soak_load;
/* Starts the producer thread: opts->rate events/s in batches of opts->batch to propagation's
 * acknowledged ingest, ids tagged with tag. max_events bounds the run. Caller owns. */
struct soak_load *soak_load_start(const struct sh_suite *s, const struct soak_opts *o,
                                  uint64_t tag, uint64_t max_events);
/* Stops taking new events (the link keeps resending what is unacknowledged). */
void soak_load_pause(struct soak_load *l);
/* What the link reports: events put (sent), acknowledged, resent, dropped, still held. */
struct soak_load_stats {
    uint64_t sent, acked, resent, dropped, held_batches, resets;
    uint64_t acked_upto; /* events 0..acked_upto-1 are in acknowledged batches */
    double elapsed_s;    /* seconds the load ran */
};
void soak_load_stats(struct soak_load *l, struct soak_load_stats *out);
/* Stops the thread and closes the link. */
void soak_load_stop(struct soak_load **l);

/* ---- the checker ------------------------------------------------------------------------ */

struct soak_check;
/* Starts the receivers: the journal topic, routing's console boundary (its own CURVE
 * identity "test"). Events whose id does not carry tag are ignored (the watcher's). */
struct soak_check *soak_check_start(const struct sh_suite *s, uint64_t tag, uint64_t max_events);
/* The slow consumer: the console receiver stops reading for ms milliseconds. */
void soak_check_stall(struct soak_check *c, int ms);
/* Distinct events seen on hop h among 0..upto-1, and all copies seen (duplicates = copies -
 * distinct). */
void soak_check_count(struct soak_check *c, enum soak_hop h, uint64_t upto, uint64_t *distinct,
                      uint64_t *copies);
/* The first few numbers below upto hop h has not seen, into buf (for the report). */
void soak_check_missing(struct soak_check *c, enum soak_hop h, uint64_t upto, char *buf,
                        size_t len);
const char *soak_hop_name(enum soak_hop h);
void soak_check_stop(struct soak_check **c);

/* ---- the fault injector ----------------------------------------------------------------- */

struct soak_faults;
/* Starts the injector thread: every fault_min..max ms it picks one kind of opts->faults at
 * random (seeded), applies it, holds it, heals it, and appends both to the log at log_path
 * (and stdout). disk_dir: the state folder on its own tmpfs (mounted by the caller). */
struct soak_faults *soak_faults_start(struct sh_suite *s, const struct soak_opts *o,
                                      struct soak_check *check, const char *log_path);
/* Stops picking, heals what is applied, joins the thread; returns the faults applied. A
 * failure (a daemon that would not start again) is written into err and makes it return -1.
 * died receives the daemons that exited by themselves during the run ("" when none); the
 * injector started each again and went on. */
int soak_faults_stop(struct soak_faults **f, char *err, size_t len, char *died, size_t dlen);
/* Whether name is a fault kind the injector knows (for the --faults option). */
bool soak_fault_kind_known(const char *name);
/* Removes the network namespaces of s (may be NULL) and those runs that are gone left. */
void soak_faults_cleanup(struct sh_suite *s);

/* Milliseconds since the run began, for the timeline. */
double soak_clock_s(void);

#endif
