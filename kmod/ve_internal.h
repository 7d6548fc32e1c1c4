/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vexfs_events internals shared by the ring, the probes and the device.
 */
#ifndef VE_INTERNAL_H
#define VE_INTERNAL_H

#include <linux/atomic.h>
#include <linux/types.h>
#include <linux/wait.h>

#include "vexfs_events_uapi.h"

/* Counters exported read-only under /sys/module/vexfs_events/parameters/. */
extern atomic64_t ve_recorded;		/* records put into the ring */
extern atomic64_t ve_dropped;		/* records lost: ring full, no memory */
extern atomic64_t ve_coalesced;		/* writes/reads folded into a record */

extern bool ve_capture_reads;
/* tgid of the process holding the device open: its own I/O is never captured. */
extern atomic_t ve_reader_tgid;

/* ring */
extern wait_queue_head_t ve_ring_wait;
int ve_ring_init(unsigned int slots);
void ve_ring_fini(void);
/*
 * Takes ownership of rec, stamps seq and the time and queues it; never
 * blocks. A full ring drops the record (counted). cookie identifies the open
 * file: consecutive reads/writes of one file by one process at adjacent
 * offsets are folded into the newest unread record.
 */
void ve_ring_push(struct vexfs_event_record *rec, const void *cookie);
/* Counts a record that could not be made (no memory) as dropped. */
void ve_ring_drop(void);
bool ve_ring_empty(void);
/*
 * Copies whole records into buf, at most len bytes. Returns the bytes copied,
 * -EAGAIN when empty and nonblock, -EINVAL when the next record does not fit
 * into len, or -ERESTARTSYS.
 */
ssize_t ve_ring_read(char __user *buf, size_t len, bool nonblock);

/* prefixes */
bool ve_path_wanted(const char *path, size_t len);

/* records and probes */
struct vexfs_event_record *ve_rec_new(u16 op, const char *path, size_t len,
				      const char *path2, size_t len2);
int ve_probes_init(void);
void ve_probes_fini(void);
/* Probe hits lost because the kernel had no free kretprobe instance. */
u64 ve_probes_missed(void);

#endif /* VE_INTERNAL_H */
