/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * vexfs_events: the record format read from /dev/vexfs_events.
 *
 * This header is the one contract between the kernel module and userspace
 * (vexfs-forwarder, tests). A read() returns zero or more whole records, each
 * a struct vexfs_event_record followed by path bytes:
 *
 *   header (header_len bytes) | path (path_len) | NUL | path2 (path2_len) | NUL
 *   | zero padding up to record_len (a multiple of 8)
 *
 * Compatibility rules: magic never changes. version grows when a field's
 * meaning changes; readers reject versions they do not know, and can skip
 * such a record because record_len keeps its meaning in every version. New
 * fields are only ever appended to the header, and header_len tells readers
 * where the paths start. All integers are in the byte order of the machine.
 *
 * seq counts every record the module meant to emit, dropped ones included:
 * a gap in seq is a record lost to a full ring (also counted in
 * /sys/module/vexfs_events/parameters/dropped).
 */
#ifndef VEXFS_EVENTS_UAPI_H
#define VEXFS_EVENTS_UAPI_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <linux/types.h>
#include <stddef.h>
#endif

#define VEXFS_EV_MAGIC		0x56584556u	/* "VXEV" read as little endian */
#define VEXFS_EV_VERSION	1
#define VEXFS_EV_DEVICE		"/dev/vexfs_events"
/* The same records for a reader holding CAP_AUDIT_READ (containers). */
#define VEXFS_EV_PROC_NAME	"vexfs_events"
#define VEXFS_EV_PROC		"/proc/" VEXFS_EV_PROC_NAME
#define VEXFS_EV_PATH_MAX	4096		/* longest path, without its NUL */
#define VEXFS_EV_ALIGN		8
/* The largest record of this version: a read buffer this big always works. */
#define VEXFS_EV_RECORD_MAX	(sizeof(struct vexfs_event_record) + \
				 2 * (VEXFS_EV_PATH_MAX + 1) + VEXFS_EV_ALIGN)

/* What happened. Values are stable; new operations go at the end. */
enum vexfs_ev_op {
	VEXFS_EV_CREATE = 1,	/* a regular file created by open(O_CREAT) */
	VEXFS_EV_OPEN_WRITE = 2,	/* an existing file opened for writing */
	VEXFS_EV_WRITE = 3,	/* bytes written (consecutive writes coalesced) */
	VEXFS_EV_READ = 4,	/* bytes read (only with capture_reads=1) */
	VEXFS_EV_UNLINK = 5,
	VEXFS_EV_RENAME = 6,	/* path is the old name, path2 the new one */
	VEXFS_EV_MKDIR = 7,
	VEXFS_EV_RMDIR = 8,
	VEXFS_EV_SETATTR = 9,	/* chmod, chown or truncate: see attr_mask */
	VEXFS_EV_OP_MAX = 9,
};

/* attr_mask bits of a VEXFS_EV_SETATTR record. */
#define VEXFS_EV_ATTR_MODE	0x1u	/* mode holds the new mode */
#define VEXFS_EV_ATTR_UID	0x2u	/* new_uid holds the new owner */
#define VEXFS_EV_ATTR_GID	0x4u	/* new_gid holds the new group */
#define VEXFS_EV_ATTR_SIZE	0x8u	/* size holds the new length */

struct vexfs_event_record {
	__u32 magic;		/* VEXFS_EV_MAGIC */
	__u16 version;		/* VEXFS_EV_VERSION */
	__u16 header_len;	/* sizeof(struct vexfs_event_record) */
	__u32 record_len;	/* whole record with paths and padding */
	__u16 op;		/* enum vexfs_ev_op */
	__u16 path_len;		/* bytes of path, without its NUL */
	__u16 path2_len;	/* bytes of path2 (rename target), 0 if none */
	__u16 reserved;		/* zero */
	__u32 flags;		/* open flags (O_*) of the file, rename flags */
	__u64 seq;		/* per module load, from 1; see above */
	__u64 timestamp_ns;	/* CLOCK_REALTIME when the operation finished */
	__u64 ino;		/* inode of the file (rename: the moved one) */
	__u64 size;		/* bytes written/read; setattr: new size */
	__s64 offset;		/* file offset of the first byte written/read */
	__u64 file_size;	/* size of the file after the operation */
	__u32 pid;		/* thread id */
	__u32 tgid;		/* process id */
	__u32 uid;		/* fsuid of the caller, in the initial namespace */
	__u32 gid;		/* fsgid of the caller */
	__u32 mode;		/* file type and permission bits after the op */
	__u32 attr_mask;	/* VEXFS_EV_ATTR_* for setattr */
	__u32 new_uid;		/* setattr with VEXFS_EV_ATTR_UID */
	__u32 new_gid;		/* setattr with VEXFS_EV_ATTR_GID */
	__u32 count;		/* operations folded into this record (>= 1) */
	__u32 reserved2;	/* zero */
	char comm[16];		/* task name, NUL padded */
};

#endif /* VEXFS_EVENTS_UAPI_H */
