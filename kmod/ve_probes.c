// SPDX-License-Identifier: GPL-2.0
/*
 * Where records come from: kprobes on the VFS.
 *
 * Directory operations (mkdir, rmdir, unlink, rename) and attribute changes
 * (chmod, chown, truncate) are seen twice. The security_path_* hook before
 * the operation is the one place that has the parent's struct path, hence
 * the full path across mounts; the record is built there and parked for the
 * calling task. The vfs_* (or notify_change) return then publishes it only
 * when the operation succeeded, with the inode it produced. A parked record
 * whose operation never comes is replaced by the task's next one, or evicted
 * when the table is full, and freed at unload.
 *
 * Opens, writes and reads carry their struct file, so one kretprobe on
 * vfs_open, vfs_write and vfs_read suffices; only regular files are looked at.
 */
#include <linux/cred.h>
#include <linux/dcache.h>
#include <linux/fs.h>
#include <linux/kprobes.h>
#include <linux/path.h>
#include <linux/percpu.h>
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/uidgid.h>

#include "ve_internal.h"

#define VE_PARKED	64
#define VE_MAXACTIVE	256

/* Scratch space for building paths; used with preemption off. */
struct ve_scratch {
	char a[PATH_MAX];
	char b[PATH_MAX];
};

static struct ve_scratch __percpu *ve_scratch;

struct ve_parked {
	const struct task_struct *task;
	const struct dentry *dentry;
	u16 op;
	struct vexfs_event_record *rec;
};

static struct ve_parked ve_parked[VE_PARKED];
static unsigned int ve_parked_next;	/* eviction cursor */
static DEFINE_SPINLOCK(ve_parked_lock);

/* ---- records ----------------------------------------------------------- */

struct vexfs_event_record *ve_rec_new(u16 op, const char *path, size_t len,
				      const char *path2, size_t len2)
{
	size_t total = ALIGN(sizeof(struct vexfs_event_record) + len + 1 +
			     len2 + 1, VEXFS_EV_ALIGN);
	struct vexfs_event_record *r;
	char *p;

	r = kzalloc(total, GFP_NOWAIT | __GFP_NOWARN);
	if (!r) {
		ve_ring_drop();
		return NULL;
	}
	r->magic = VEXFS_EV_MAGIC;
	r->version = VEXFS_EV_VERSION;
	r->header_len = sizeof(*r);
	r->record_len = total;
	r->op = op;
	r->path_len = len;
	r->path2_len = len2;
	r->pid = current->pid;
	r->tgid = current->tgid;
	r->uid = from_kuid_munged(&init_user_ns, current_fsuid());
	r->gid = from_kgid_munged(&init_user_ns, current_fsgid());
	r->count = 1;
	strscpy_pad(r->comm, current->comm, sizeof(r->comm));
	p = (char *)(r + 1);
	memcpy(p, path, len);
	if (len2)
		memcpy(p + len + 1, path2, len2);
	return r;
}

static void ve_rec_inode(struct vexfs_event_record *r, const struct inode *inode)
{
	if (!inode)
		return;
	r->ino = inode->i_ino;
	r->mode = inode->i_mode;
	r->file_size = i_size_read(inode);
}

static bool ve_ignored_task(void)
{
	return current->tgid == atomic_read(&ve_reader_tgid);
}

/* ---- paths ------------------------------------------------------------- */

/* The full path of p in buf; NULL when it cannot be named. */
static const char *ve_path(const struct path *p, char *buf, size_t *len)
{
	char *s = d_path(p, buf, PATH_MAX);

	if (IS_ERR(s))
		return NULL;
	*len = strlen(s);
	return s;
}

/* dir's path joined with the name of child, in buf. */
static const char *ve_child_path(const struct path *dir,
				 const struct dentry *child, char *buf,
				 size_t *len)
{
	size_t room = PATH_MAX - NAME_MAX - 2;
	size_t dlen, nlen = child->d_name.len;
	char *s = d_path(dir, buf, room);

	if (IS_ERR(s) || nlen > NAME_MAX)
		return NULL;
	dlen = strlen(s);
	/* d_path fills the end of its room; the name goes after it. */
	if (dlen != 1)
		s[dlen++] = '/';
	memcpy(s + dlen, child->d_name.name, nlen);
	dlen += nlen;
	s[dlen] = '\0';
	*len = dlen;
	return s;
}

/* ---- parked records ---------------------------------------------------- */

static void ve_park(u16 op, const struct dentry *dentry,
		    struct vexfs_event_record *rec)
{
	struct vexfs_event_record *old = NULL;
	struct ve_parked *slot = NULL;
	unsigned long irqflags;
	unsigned int i;

	spin_lock_irqsave(&ve_parked_lock, irqflags);
	for (i = 0; i < VE_PARKED && !slot; i++)
		if (ve_parked[i].task == current)
			slot = &ve_parked[i];
	for (i = 0; i < VE_PARKED && !slot; i++)
		if (!ve_parked[i].task)
			slot = &ve_parked[i];
	if (!slot) {
		slot = &ve_parked[ve_parked_next];
		ve_parked_next = (ve_parked_next + 1) % VE_PARKED;
	}
	old = slot->rec;
	slot->task = current;
	slot->dentry = dentry;
	slot->op = op;
	slot->rec = rec;
	spin_unlock_irqrestore(&ve_parked_lock, irqflags);
	kfree(old);
}

/* The record the current task parked for op on dentry, or NULL. */
static struct vexfs_event_record *ve_unpark(u16 op, const struct dentry *dentry)
{
	struct vexfs_event_record *rec = NULL;
	unsigned long irqflags;
	unsigned int i;

	spin_lock_irqsave(&ve_parked_lock, irqflags);
	for (i = 0; i < VE_PARKED; i++) {
		struct ve_parked *s = &ve_parked[i];

		if (s->task == current && s->op == op && s->dentry == dentry) {
			rec = s->rec;
			memset(s, 0, sizeof(*s));
			break;
		}
	}
	spin_unlock_irqrestore(&ve_parked_lock, irqflags);
	return rec;
}

static void ve_parked_fini(void)
{
	unsigned int i;

	for (i = 0; i < VE_PARKED; i++) {
		kfree(ve_parked[i].rec);
		ve_parked[i].rec = NULL;
		ve_parked[i].task = NULL;
	}
}

/* Publishes (ret == 0) or discards the record parked for op on dentry. */
static void ve_complete(u16 op, const struct dentry *dentry, long ret,
			const struct iattr *attr)
{
	struct vexfs_event_record *rec = ve_unpark(op, dentry);

	if (!rec)
		return;
	if (ret) {
		kfree(rec);
		return;
	}
	if (op == VEXFS_EV_MKDIR || op == VEXFS_EV_SETATTR)
		ve_rec_inode(rec, d_inode(dentry));
	if (attr) {
		if (attr->ia_valid & ATTR_MODE) {
			rec->attr_mask |= VEXFS_EV_ATTR_MODE;
			rec->mode = attr->ia_mode;
		}
		if (attr->ia_valid & ATTR_UID) {
			rec->attr_mask |= VEXFS_EV_ATTR_UID;
			rec->new_uid = from_kuid_munged(&init_user_ns,
							attr->ia_uid);
		}
		if (attr->ia_valid & ATTR_GID) {
			rec->attr_mask |= VEXFS_EV_ATTR_GID;
			rec->new_gid = from_kgid_munged(&init_user_ns,
							attr->ia_gid);
		}
		if (attr->ia_valid & ATTR_SIZE) {
			rec->attr_mask |= VEXFS_EV_ATTR_SIZE;
			rec->size = attr->ia_size;
		}
	}
	ve_ring_push(rec, NULL);
}

/* ---- security_path_* hooks: build and park ----------------------------- */

static void ve_park_child(u16 op, const struct path *dir,
			  const struct dentry *dentry)
{
	struct ve_scratch *sc;
	struct vexfs_event_record *rec = NULL;
	const char *p;
	size_t len;

	if (ve_ignored_task())
		return;
	sc = get_cpu_ptr(ve_scratch);
	p = ve_child_path(dir, dentry, sc->a, &len);
	if (p && ve_path_wanted(p, len))
		rec = ve_rec_new(op, p, len, NULL, 0);
	put_cpu_ptr(ve_scratch);
	if (!rec)
		return;
	ve_rec_inode(rec, d_inode(dentry));
	ve_park(op, dentry, rec);
}

static int ve_pre_unlink(struct kprobe *kp, struct pt_regs *regs)
{
	ve_park_child(VEXFS_EV_UNLINK,
		      (const struct path *)regs_get_kernel_argument(regs, 0),
		      (const struct dentry *)regs_get_kernel_argument(regs, 1));
	return 0;
}

static int ve_pre_mkdir(struct kprobe *kp, struct pt_regs *regs)
{
	ve_park_child(VEXFS_EV_MKDIR,
		      (const struct path *)regs_get_kernel_argument(regs, 0),
		      (const struct dentry *)regs_get_kernel_argument(regs, 1));
	return 0;
}

static int ve_pre_rmdir(struct kprobe *kp, struct pt_regs *regs)
{
	ve_park_child(VEXFS_EV_RMDIR,
		      (const struct path *)regs_get_kernel_argument(regs, 0),
		      (const struct dentry *)regs_get_kernel_argument(regs, 1));
	return 0;
}

static int ve_pre_rename(struct kprobe *kp, struct pt_regs *regs)
{
	const struct path *odir, *ndir;
	const struct dentry *od, *nd;
	struct vexfs_event_record *rec = NULL;
	struct ve_scratch *sc;
	const char *p1, *p2;
	size_t l1, l2;

	if (ve_ignored_task())
		return 0;
	odir = (const struct path *)regs_get_kernel_argument(regs, 0);
	od = (const struct dentry *)regs_get_kernel_argument(regs, 1);
	ndir = (const struct path *)regs_get_kernel_argument(regs, 2);
	nd = (const struct dentry *)regs_get_kernel_argument(regs, 3);
	sc = get_cpu_ptr(ve_scratch);
	p1 = ve_child_path(odir, od, sc->a, &l1);
	p2 = ve_child_path(ndir, nd, sc->b, &l2);
	if (p1 && p2 && (ve_path_wanted(p1, l1) || ve_path_wanted(p2, l2)))
		rec = ve_rec_new(VEXFS_EV_RENAME, p1, l1, p2, l2);
	put_cpu_ptr(ve_scratch);
	if (!rec)
		return 0;
	rec->flags = regs_get_kernel_argument(regs, 4);
	ve_rec_inode(rec, d_inode(od));
	ve_park(VEXFS_EV_RENAME, od, rec);
	return 0;
}

/* chmod, chown and truncate all take the file's struct path first. */
static int ve_pre_setattr(struct kprobe *kp, struct pt_regs *regs)
{
	const struct path *path;
	struct vexfs_event_record *rec = NULL;
	struct ve_scratch *sc;
	const char *p;
	size_t len;

	if (ve_ignored_task())
		return 0;
	path = (const struct path *)regs_get_kernel_argument(regs, 0);
	sc = get_cpu_ptr(ve_scratch);
	p = ve_path(path, sc->a, &len);
	if (p && ve_path_wanted(p, len))
		rec = ve_rec_new(VEXFS_EV_SETATTR, p, len, NULL, 0);
	put_cpu_ptr(ve_scratch);
	if (rec)
		ve_park(VEXFS_EV_SETATTR, path->dentry, rec);
	return 0;
}

/* ---- vfs_* returns: publish -------------------------------------------- */

/* What an entry handler keeps for its return handler. */
struct ve_call {
	const void *a;
	const void *b;
	loff_t pos;
};

static int ve_ent_arg2(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct ve_call *c = (struct ve_call *)ri->data;

	c->a = (const void *)regs_get_kernel_argument(regs, 2);
	return 0;
}

static int ve_ret_unlink(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct ve_call *c = (struct ve_call *)ri->data;

	ve_complete(VEXFS_EV_UNLINK, c->a, regs_return_value(regs), NULL);
	return 0;
}

static int ve_ret_mkdir(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct ve_call *c = (struct ve_call *)ri->data;

	ve_complete(VEXFS_EV_MKDIR, c->a, regs_return_value(regs), NULL);
	return 0;
}

static int ve_ret_rmdir(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct ve_call *c = (struct ve_call *)ri->data;

	ve_complete(VEXFS_EV_RMDIR, c->a, regs_return_value(regs), NULL);
	return 0;
}

static int ve_ent_rename(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct ve_call *c = (struct ve_call *)ri->data;
	const struct renamedata *rd;

	rd = (const struct renamedata *)regs_get_kernel_argument(regs, 0);
	c->a = rd->old_dentry;
	return 0;
}

static int ve_ret_rename(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct ve_call *c = (struct ve_call *)ri->data;

	ve_complete(VEXFS_EV_RENAME, c->a, regs_return_value(regs), NULL);
	return 0;
}

static int ve_ent_setattr(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct ve_call *c = (struct ve_call *)ri->data;

	c->a = (const void *)regs_get_kernel_argument(regs, 1);
	c->b = (const void *)regs_get_kernel_argument(regs, 2);
	return 0;
}

static int ve_ret_setattr(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct ve_call *c = (struct ve_call *)ri->data;

	ve_complete(VEXFS_EV_SETATTR, c->a, regs_return_value(regs), c->b);
	return 0;
}

/* ---- files: open, write, read ------------------------------------------ */

/* A record for an operation on an open regular file under a wanted prefix. */
static struct vexfs_event_record *ve_file_rec(u16 op, const struct file *f)
{
	struct vexfs_event_record *rec = NULL;
	struct ve_scratch *sc;
	const char *p;
	size_t len;

	sc = get_cpu_ptr(ve_scratch);
	p = ve_path(&f->f_path, sc->a, &len);
	if (p && ve_path_wanted(p, len))
		rec = ve_rec_new(op, p, len, NULL, 0);
	put_cpu_ptr(ve_scratch);
	if (rec) {
		rec->flags = f->f_flags;
		ve_rec_inode(rec, file_inode(f));
	}
	return rec;
}

static int ve_ent_open(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct ve_call *c = (struct ve_call *)ri->data;

	if (ve_ignored_task())
		return 1;	/* no return handler for this call */
	c->a = (const void *)regs_get_kernel_argument(regs, 1);
	return 0;
}

static int ve_ret_open(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct ve_call *c = (struct ve_call *)ri->data;
	const struct file *f = c->a;
	struct vexfs_event_record *rec;
	u16 op;

	if (regs_return_value(regs) || !S_ISREG(file_inode(f)->i_mode))
		return 0;
	if (f->f_mode & FMODE_CREATED)
		op = VEXFS_EV_CREATE;
	else if (f->f_mode & FMODE_WRITE)
		op = VEXFS_EV_OPEN_WRITE;
	else
		return 0;
	rec = ve_file_rec(op, f);
	if (rec)
		ve_ring_push(rec, NULL);
	return 0;
}

static int ve_ent_rw(struct kretprobe_instance *ri, struct pt_regs *regs,
		     bool reading)
{
	struct ve_call *c = (struct ve_call *)ri->data;
	const struct file *f;
	const loff_t *pos;

	if ((reading && !READ_ONCE(ve_capture_reads)) || ve_ignored_task())
		return 1;
	f = (const struct file *)regs_get_kernel_argument(regs, 0);
	if (!S_ISREG(file_inode(f)->i_mode))
		return 1;
	pos = (const loff_t *)regs_get_kernel_argument(regs, 3);
	c->a = f;
	c->pos = pos ? *pos : f->f_pos;
	return 0;
}

static int ve_ent_write(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	return ve_ent_rw(ri, regs, false);
}

static int ve_ent_read(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	return ve_ent_rw(ri, regs, true);
}

static void ve_ret_rw(struct kretprobe_instance *ri, struct pt_regs *regs,
		      u16 op)
{
	struct ve_call *c = (struct ve_call *)ri->data;
	long n = regs_return_value(regs);
	struct vexfs_event_record *rec;

	if (n <= 0)
		return;
	rec = ve_file_rec(op, c->a);
	if (!rec)
		return;
	rec->size = n;
	rec->offset = c->pos;
	/* An append's position is chosen inside the write: at the old end. */
	if (op == VEXFS_EV_WRITE && (rec->flags & O_APPEND))
		rec->offset = rec->file_size - n;
	ve_ring_push(rec, c->a);
}

static int ve_ret_write(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	ve_ret_rw(ri, regs, VEXFS_EV_WRITE);
	return 0;
}

static int ve_ret_read(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	ve_ret_rw(ri, regs, VEXFS_EV_READ);
	return 0;
}

/* ---- registration ------------------------------------------------------ */

#define VE_KPROBE(sym, fn) { .symbol_name = sym, .pre_handler = fn }
#define VE_KRETPROBE(sym, ent, ret) {					\
	.kp = { .symbol_name = sym },					\
	.entry_handler = ent,						\
	.handler = ret,							\
	.data_size = sizeof(struct ve_call),				\
	.maxactive = VE_MAXACTIVE,					\
}

static struct kprobe ve_kprobes[] = {
	VE_KPROBE("security_path_unlink", ve_pre_unlink),
	VE_KPROBE("security_path_mkdir", ve_pre_mkdir),
	VE_KPROBE("security_path_rmdir", ve_pre_rmdir),
	VE_KPROBE("security_path_rename", ve_pre_rename),
	VE_KPROBE("security_path_chmod", ve_pre_setattr),
	VE_KPROBE("security_path_chown", ve_pre_setattr),
	VE_KPROBE("security_path_truncate", ve_pre_setattr),
};

static struct kretprobe ve_kretprobes[] = {
	VE_KRETPROBE("vfs_unlink", ve_ent_arg2, ve_ret_unlink),
	VE_KRETPROBE("vfs_mkdir", ve_ent_arg2, ve_ret_mkdir),
	VE_KRETPROBE("vfs_rmdir", ve_ent_arg2, ve_ret_rmdir),
	VE_KRETPROBE("vfs_rename", ve_ent_rename, ve_ret_rename),
	VE_KRETPROBE("notify_change", ve_ent_setattr, ve_ret_setattr),
	VE_KRETPROBE("vfs_open", ve_ent_open, ve_ret_open),
	VE_KRETPROBE("vfs_write", ve_ent_write, ve_ret_write),
	VE_KRETPROBE("vfs_read", ve_ent_read, ve_ret_read),
};

static struct kprobe *ve_kprobe_ptrs[ARRAY_SIZE(ve_kprobes)];
static struct kretprobe *ve_kretprobe_ptrs[ARRAY_SIZE(ve_kretprobes)];

u64 ve_probes_missed(void)
{
	u64 n = 0;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(ve_kretprobes); i++)
		n += ve_kretprobes[i].nmissed;
	return n;
}

int ve_probes_init(void)
{
	unsigned int i;
	int err;

	ve_scratch = alloc_percpu(struct ve_scratch);
	if (!ve_scratch)
		return -ENOMEM;
	for (i = 0; i < ARRAY_SIZE(ve_kprobes); i++)
		ve_kprobe_ptrs[i] = &ve_kprobes[i];
	for (i = 0; i < ARRAY_SIZE(ve_kretprobes); i++)
		ve_kretprobe_ptrs[i] = &ve_kretprobes[i];
	/* Returns first: a parked record is then always collected. */
	err = register_kretprobes(ve_kretprobe_ptrs,
				  ARRAY_SIZE(ve_kretprobe_ptrs));
	if (err) {
		pr_err("vexfs_events: kretprobes: %d\n", err);
		goto err_free;
	}
	err = register_kprobes(ve_kprobe_ptrs, ARRAY_SIZE(ve_kprobe_ptrs));
	if (err) {
		pr_err("vexfs_events: kprobes: %d\n", err);
		goto err_ret;
	}
	return 0;

err_ret:
	unregister_kretprobes(ve_kretprobe_ptrs, ARRAY_SIZE(ve_kretprobe_ptrs));
err_free:
	free_percpu(ve_scratch);
	return err;
}

void ve_probes_fini(void)
{
	unregister_kprobes(ve_kprobe_ptrs, ARRAY_SIZE(ve_kprobe_ptrs));
	unregister_kretprobes(ve_kretprobe_ptrs, ARRAY_SIZE(ve_kretprobe_ptrs));
	ve_parked_fini();
	free_percpu(ve_scratch);
}
