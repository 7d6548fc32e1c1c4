/* SPDX-License-Identifier: Apache-2.0 */
/* Kernel records (kmod/vexfs_events_uapi.h) to semantic events.
 *
 * Input is a byte stream read from /dev/vexfs_events (or a file or FIFO holding the same
 * bytes), so a record may arrive in pieces and a damaged stream must be resynchronised:
 * fwd_record_parse frames and checks one record, fwd_record_translate turns a checked record
 * into an event. Neither trusts the input: every length is checked before use.
 *
 * The event (source kernel_module, timestamp_ns from the kernel, path = the record's path):
 *
 *   operation   type               extra content keys
 *   create      filesystem_create
 *   open_write  filesystem_write   (size 0: the file was opened for writing)
 *   write       filesystem_write
 *   read        filesystem_read
 *   unlink      filesystem_delete
 *   rename      filesystem_rename  new_path
 *   mkdir       filesystem_mkdir
 *   rmdir       filesystem_rmdir
 *   setattr     filesystem_chmod   attr ("mode,uid,gid,size" subset), new_uid, new_gid
 *
 * content, every event: operation, inode, size (bytes written/read; setattr: new size),
 *   offset, file_size (after the operation), mode (octal, e.g. "0100644"), flags (open or
 *   rename flags, hex "0x8001"), count (operations folded into the record).
 * metadata, every event: pid, tgid, uid, gid, comm, kernel_seq, abi_version. */
#ifndef FWD_TRANSLATE_H
#define FWD_TRANSLATE_H

#include <stddef.h>
#include <stdint.h>

#include "../../kmod/vexfs_events_uapi.h"
#include "vx_arena.h"
#include "vx_event.h"

/* Largest record accepted (the module's own maximum, with room for a longer header). */
#define FWD_RECORD_MAX (64u * 1024)

/* A checked record: the header (copied, so the input may be unaligned) and its paths
 * (borrowed from the input buffer, NUL-terminated). */
struct fwd_record {
    struct vexfs_event_record h;
    const char *path;
    const char *path2; /* NULL unless a rename */
};

/* Stable reasons for rejected records (metric labels). */
#define FWD_R_TRUNCATED "truncated"             /* the input ended inside a record */
#define FWD_R_CORRUPT "corrupt"                 /* bad magic, lengths or path framing */
#define FWD_R_VERSION "unsupported_version"     /* a well-framed record of another version */
#define FWD_R_OP "unknown_op"
#define FWD_R_PATH "bad_path"                   /* not absolute or not UTF-8 */

/* Frames one record at the start of buf[0..len).
 *  0        a valid record in *out; *used = its length.
 *  -EAGAIN  buf holds only the beginning of a record: read more (at the end of the input,
 *           the rest counts as FWD_R_TRUNCATED).
 *  -EPROTO  rejected: *reason says why, *used bytes are to be skipped (a whole record of an
 *           unknown version, or up to the next possible record start when corrupt). *used is
 *           always at least 1, so a caller loop always advances. */
int fwd_record_parse(const uint8_t *buf, size_t len, struct fwd_record *out, size_t *used,
                     const char **reason);

/* The event for a parsed record, allocated in arena (valid until it is reset). Returns 0, or
 * -EPROTO with *reason (FWD_R_OP, FWD_R_PATH), or -ENOMEM when the arena is over its limit. */
int fwd_record_translate(const struct fwd_record *r, vx_arena_t *arena, vx_event_t **out,
                         const char **reason);

/* The name of an operation ("write"), NULL when unknown. */
const char *fwd_op_name(unsigned op);

#endif
