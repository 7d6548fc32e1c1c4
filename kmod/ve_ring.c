// SPDX-License-Identifier: GPL-2.0
/*
 * The bounded record ring between the probes (producers, any task) and the
 * reader of /dev/vexfs_events.
 *
 * Producers run inside kprobe handlers with preemption off, so pushing never
 * sleeps and never waits for the reader: when the ring is full the record is
 * freed and counted. Records are separate allocations; the ring holds
 * pointers, so a reader takes a record out under the lock and copies it to
 * userspace after dropping it.
 */
#include <linux/minmax.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>

#include "ve_internal.h"

struct ve_slot {
	struct vexfs_event_record *rec;
	const void *cookie;
};

static struct ve_slot *ve_slots;
static unsigned int ve_nslots;
static unsigned int ve_head;	/* oldest record */
static unsigned int ve_count;
static u64 ve_seq;		/* last sequence handed out */
static DEFINE_SPINLOCK(ve_ring_lock);

DECLARE_WAIT_QUEUE_HEAD(ve_ring_wait);

int ve_ring_init(unsigned int slots)
{
	ve_slots = kvcalloc(slots, sizeof(*ve_slots), GFP_KERNEL);
	if (!ve_slots)
		return -ENOMEM;
	ve_nslots = slots;
	return 0;
}

void ve_ring_fini(void)
{
	unsigned int i;

	for (i = 0; i < ve_count; i++)
		kfree(ve_slots[(ve_head + i) % ve_nslots].rec);
	kvfree(ve_slots);
	ve_slots = NULL;
	ve_count = 0;
}

/* Folds rec into the newest record when it continues the same transfer. */
static bool ve_ring_fold(struct vexfs_event_record *rec, const void *cookie)
{
	struct ve_slot *last;

	if (!ve_count || !cookie ||
	    (rec->op != VEXFS_EV_WRITE && rec->op != VEXFS_EV_READ))
		return false;
	last = &ve_slots[(ve_head + ve_count - 1) % ve_nslots];
	if (last->cookie != cookie || last->rec->op != rec->op ||
	    last->rec->tgid != rec->tgid ||
	    last->rec->offset + (s64)last->rec->size != rec->offset)
		return false;
	last->rec->size += rec->size;
	last->rec->file_size = rec->file_size;
	last->rec->timestamp_ns = rec->timestamp_ns;
	last->rec->count++;
	return true;
}

void ve_ring_push(struct vexfs_event_record *rec, const void *cookie)
{
	unsigned long irqflags;
	bool queued = false;

	rec->timestamp_ns = ktime_get_real_ns();
	spin_lock_irqsave(&ve_ring_lock, irqflags);
	if (ve_ring_fold(rec, cookie)) {
		spin_unlock_irqrestore(&ve_ring_lock, irqflags);
		atomic64_inc(&ve_coalesced);
		kfree(rec);
		return;
	}
	rec->seq = ++ve_seq;
	if (ve_slots && ve_count < ve_nslots) {
		struct ve_slot *s = &ve_slots[(ve_head + ve_count) % ve_nslots];

		s->rec = rec;
		s->cookie = cookie;
		ve_count++;
		queued = true;
	}
	spin_unlock_irqrestore(&ve_ring_lock, irqflags);
	if (!queued) {
		atomic64_inc(&ve_dropped);
		kfree(rec);
		return;
	}
	atomic64_inc(&ve_recorded);
	wake_up_interruptible(&ve_ring_wait);
}

void ve_ring_drop(void)
{
	unsigned long irqflags;

	/* The sequence is consumed so that readers see the loss as a gap. */
	spin_lock_irqsave(&ve_ring_lock, irqflags);
	ve_seq++;
	spin_unlock_irqrestore(&ve_ring_lock, irqflags);
	atomic64_inc(&ve_dropped);
}

bool ve_ring_empty(void)
{
	return !READ_ONCE(ve_count);
}

/* Takes the oldest record out if it fits into room bytes. */
static struct vexfs_event_record *ve_ring_pop(size_t room, int *err)
{
	struct vexfs_event_record *rec = NULL;
	unsigned long irqflags;

	*err = 0;
	spin_lock_irqsave(&ve_ring_lock, irqflags);
	if (ve_count) {
		rec = ve_slots[ve_head].rec;
		if (rec->record_len > room) {
			rec = NULL;
			*err = -EINVAL;
		} else {
			ve_slots[ve_head].rec = NULL;
			ve_head = (ve_head + 1) % ve_nslots;
			ve_count--;
		}
	}
	spin_unlock_irqrestore(&ve_ring_lock, irqflags);
	return rec;
}

ssize_t ve_ring_read(char __user *buf, size_t len, bool nonblock)
{
	size_t done = 0;
	int err;

	for (;;) {
		struct vexfs_event_record *rec = ve_ring_pop(len - done, &err);

		if (!rec) {
			if (done)
				return done;
			if (err)
				return err;
			if (nonblock)
				return -EAGAIN;
			if (wait_event_interruptible(ve_ring_wait,
						     !ve_ring_empty()))
				return -ERESTARTSYS;
			continue;
		}
		if (copy_to_user(buf + done, rec, rec->record_len)) {
			/* Taken out but not delivered: lost, so counted. */
			atomic64_inc(&ve_dropped);
			kfree(rec);
			return done ? done : -EFAULT;
		}
		done += rec->record_len;
		kfree(rec);
	}
}
