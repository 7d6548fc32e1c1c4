/* SPDX-License-Identifier: Apache-2.0 */
/* Guest-side reader for scripts/kmod-test.sh: drains /dev/vexfs_events (or --path, e.g.
 * /proc/vexfs_events) and prints every record as one text line (fields by name) and one hex line
 * (the exact bytes, so the host can keep recorded records as fixtures). Exits after --idle-ms
 * without a record, or at --count records. --drop-audit-read gives up CAP_AUDIT_READ before
 * opening, as a container that was not granted it. Built static: the test initramfs has no C
 * library. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/capability.h>

#include "vexfs_events_uapi.h"

static const char *const s_ops[] = {"?", "create", "open_write", "write", "read", "unlink",
                                    "rename", "mkdir", "rmdir", "setattr"};

static void
s_print(const struct vexfs_event_record *r)
{
    const char *path = (const char *)r + r->header_len;
    const char *path2 = path + r->path_len + 1;
    printf("REC seq=%llu op=%s path=%s path2=%s ino=%llu size=%llu offset=%lld "
           "file_size=%llu pid=%u tgid=%u uid=%u gid=%u mode=%o attr=%x new_uid=%u new_gid=%u "
           "flags=%x count=%u comm=%.16s\n",
           (unsigned long long)r->seq, r->op <= VEXFS_EV_OP_MAX ? s_ops[r->op] : "?", path,
           r->path2_len ? path2 : "-", (unsigned long long)r->ino, (unsigned long long)r->size,
           (long long)r->offset, (unsigned long long)r->file_size, r->pid, r->tgid, r->uid,
           r->gid, r->mode, r->attr_mask, r->new_uid, r->new_gid, r->flags, r->count, r->comm);
    printf("HEX ");
    for (size_t i = 0; i < r->record_len; i++) {
        printf("%02x", ((const unsigned char *)r)[i]);
    }
    printf("\n");
}

/* Removes CAP_AUDIT_READ from the effective and permitted sets. */
static int
s_drop_audit_read(void)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) < 0) {
        return -1;
    }
    unsigned bit = CAP_AUDIT_READ % 32;
    d[CAP_AUDIT_READ / 32].effective &= ~(1u << bit);
    d[CAP_AUDIT_READ / 32].permitted &= ~(1u << bit);
    d[CAP_AUDIT_READ / 32].inheritable &= ~(1u << bit);
    return (int)syscall(SYS_capset, &h, d);
}

int
main(int argc, char **argv)
{
    int idle_ms = 1000;
    long max = -1;
    const char *path = VEXFS_EV_DEVICE;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--drop-audit-read") == 0) {
            if (s_drop_audit_read() < 0) {
                printf("READER-ERROR capset: %s\n", strerror(errno));
                return 1;
            }
        } else if (i + 1 < argc && strcmp(argv[i], "--idle-ms") == 0) {
            idle_ms = atoi(argv[++i]);
        } else if (i + 1 < argc && strcmp(argv[i], "--count") == 0) {
            max = atol(argv[++i]);
        } else if (i + 1 < argc && strcmp(argv[i], "--path") == 0) {
            path = argv[++i];
        }
    }
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    if (fd < 0) {
        printf("READER-ERROR open %s: %s\n", path, strerror(errno));
        return 1;
    }
    static _Alignas(8) unsigned char buf[65536];
    long n_rec = 0;
    printf("READER-START\n");
    fflush(stdout);
    while (max < 0 || n_rec < max) {
        struct pollfd p = {fd, POLLIN, 0};
        int pr = poll(&p, 1, idle_ms);
        if (pr == 0) {
            break;
        }
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EAGAIN) {
            continue;
        }
        if (n < 0) {
            printf("READER-ERROR read: %s\n", strerror(errno));
            return 1;
        }
        for (ssize_t off = 0; off < n;) {
            const struct vexfs_event_record *r = (const void *)(buf + off);
            s_print(r);
            off += r->record_len;
            n_rec++;
        }
        fflush(stdout);
    }
    printf("READER-END records=%ld\n", n_rec);
    close(fd);
    return 0;
}
