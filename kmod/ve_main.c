// SPDX-License-Identifier: GPL-2.0
/*
 * vexfs_events: captures VFS operations under configured path prefixes and
 * hands them to userspace as records (vexfs_events_uapi.h) read from
 * /dev/vexfs_events or, identically, from /proc/vexfs_events.
 *
 * Settings and counters live under /sys/module/vexfs_events/parameters/:
 *   prefixes       (rw) comma-separated absolute paths; empty captures nothing
 *   capture_reads  (rw) also record reads (off: reads are frequent and cheap)
 *   ring_size      (ro) records the ring holds, set at load
 *   recorded, dropped, coalesced, missed (ro) counters
 *
 * The two paths admit one reader at a time between them, whose own file
 * operations are never captured (a reader that logs to a watched path would
 * feed itself).
 *
 * Why a /proc twin of the device: a container reaches a character device of
 * its host only when it is privileged (or a device plugin grants it), because
 * the device cgroup stands in front of every device node. A /proc file is
 * not a device node, so a container that is not privileged can open it; the
 * module admits there only a reader holding CAP_AUDIT_READ (read access to
 * the kernel's audit stream, which these records are a part of in kind), a
 * capability no container has unless it is granted by name. The device node
 * keeps its mode (0400, root) as its only gate.
 */
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/proc_fs.h>
#include <linux/capability.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>

#include "ve_internal.h"

#define VE_MAX_PREFIXES		16
#define VE_PREFIXES_TEXT	2048

atomic64_t ve_recorded = ATOMIC64_INIT(0);
atomic64_t ve_dropped = ATOMIC64_INIT(0);
atomic64_t ve_coalesced = ATOMIC64_INIT(0);
atomic_t ve_reader_tgid = ATOMIC_INIT(0);

bool ve_capture_reads;
module_param_named(capture_reads, ve_capture_reads, bool, 0644);
MODULE_PARM_DESC(capture_reads, "also record reads (default off)");

static unsigned int ve_ring_size = 4096;
module_param_named(ring_size, ve_ring_size, uint, 0444);
MODULE_PARM_DESC(ring_size, "records the ring holds, 16..1048576 (default 4096)");

/* ---- prefixes ---------------------------------------------------------- */

struct ve_prefixes {
	struct rcu_head rcu;
	unsigned int n;
	size_t len[VE_MAX_PREFIXES];
	const char *p[VE_MAX_PREFIXES];
	char text[];		/* the entries, NUL separated */
};

static struct ve_prefixes __rcu *ve_prefixes;
static DEFINE_MUTEX(ve_prefixes_lock);

bool ve_path_wanted(const char *path, size_t len)
{
	const struct ve_prefixes *pf;
	bool wanted = false;
	unsigned int i;

	rcu_read_lock();
	pf = rcu_dereference(ve_prefixes);
	for (i = 0; pf && i < pf->n && !wanted; i++) {
		size_t plen = pf->len[i];

		if (plen == 1)	/* "/" */
			wanted = true;
		else if (len >= plen && !memcmp(path, pf->p[i], plen) &&
			 (len == plen || path[plen] == '/'))
			wanted = true;
	}
	rcu_read_unlock();
	return wanted;
}

/* Parses "a,b,c" into a new list; every entry must be an absolute path. */
static struct ve_prefixes *ve_prefixes_parse(const char *val)
{
	size_t vlen = strlen(val);
	struct ve_prefixes *pf;
	char *cur, *tok;

	if (vlen >= VE_PREFIXES_TEXT)
		return ERR_PTR(-ENAMETOOLONG);
	pf = kzalloc(sizeof(*pf) + vlen + 1, GFP_KERNEL);
	if (!pf)
		return ERR_PTR(-ENOMEM);
	memcpy(pf->text, val, vlen + 1);
	cur = pf->text;
	while ((tok = strsep(&cur, ",\n")) != NULL) {
		size_t tlen = strlen(tok);

		if (!tlen)
			continue;
		if (tok[0] != '/' || pf->n == VE_MAX_PREFIXES) {
			kfree(pf);
			return ERR_PTR(-EINVAL);
		}
		while (tlen > 1 && tok[tlen - 1] == '/')
			tok[--tlen] = '\0';
		pf->p[pf->n] = tok;
		pf->len[pf->n] = tlen;
		pf->n++;
	}
	return pf;
}

static int ve_prefixes_set(const char *val, const struct kernel_param *kp)
{
	struct ve_prefixes *pf = ve_prefixes_parse(val);
	struct ve_prefixes *old;

	if (IS_ERR(pf))
		return PTR_ERR(pf);
	mutex_lock(&ve_prefixes_lock);
	old = rcu_replace_pointer(ve_prefixes, pf,
				  lockdep_is_held(&ve_prefixes_lock));
	mutex_unlock(&ve_prefixes_lock);
	if (old)
		kfree_rcu(old, rcu);
	return 0;
}

static int ve_prefixes_get(char *buf, const struct kernel_param *kp)
{
	const struct ve_prefixes *pf;
	unsigned int i;
	int n = 0;

	rcu_read_lock();
	pf = rcu_dereference(ve_prefixes);
	for (i = 0; pf && i < pf->n; i++)
		n += scnprintf(buf + n, PAGE_SIZE - n, "%s%s", i ? "," : "",
			       pf->p[i]);
	rcu_read_unlock();
	n += scnprintf(buf + n, PAGE_SIZE - n, "\n");
	return n;
}

static const struct kernel_param_ops ve_prefixes_ops = {
	.set = ve_prefixes_set,
	.get = ve_prefixes_get,
};

module_param_cb(prefixes, &ve_prefixes_ops, NULL, 0644);
MODULE_PARM_DESC(prefixes, "comma-separated absolute path prefixes to capture");

/* ---- read-only counters ------------------------------------------------ */

static int ve_counter_set(const char *val, const struct kernel_param *kp)
{
	return -EPERM;
}

static int ve_counter_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%lld\n", (long long)atomic64_read(kp->arg));
}

static const struct kernel_param_ops ve_counter_ops = {
	.set = ve_counter_set,
	.get = ve_counter_get,
};

module_param_cb(recorded, &ve_counter_ops, &ve_recorded, 0444);
MODULE_PARM_DESC(recorded, "records put into the ring");
module_param_cb(dropped, &ve_counter_ops, &ve_dropped, 0444);
MODULE_PARM_DESC(dropped, "records lost to a full ring or lack of memory");
module_param_cb(coalesced, &ve_counter_ops, &ve_coalesced, 0444);
MODULE_PARM_DESC(coalesced, "reads/writes folded into an earlier record");

static int ve_missed_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%llu\n", ve_probes_missed());
}

static const struct kernel_param_ops ve_missed_ops = {
	.set = ve_counter_set,
	.get = ve_missed_get,
};

module_param_cb(missed, &ve_missed_ops, NULL, 0444);
MODULE_PARM_DESC(missed, "probe hits lost for want of a kretprobe instance");

/* ---- the device -------------------------------------------------------- */

static atomic_t ve_open_count = ATOMIC_INIT(0);

static int ve_open(struct inode *inode, struct file *file)
{
	if (atomic_cmpxchg(&ve_open_count, 0, 1))
		return -EBUSY;
	atomic_set(&ve_reader_tgid, current->tgid);
	return 0;
}

static int ve_release(struct inode *inode, struct file *file)
{
	atomic_set(&ve_reader_tgid, 0);
	atomic_set(&ve_open_count, 0);
	return 0;
}

static ssize_t ve_read(struct file *file, char __user *buf, size_t len,
		       loff_t *ppos)
{
	return ve_ring_read(buf, len, file->f_flags & O_NONBLOCK);
}

static __poll_t ve_poll(struct file *file, struct poll_table_struct *wait)
{
	poll_wait(file, &ve_ring_wait, wait);
	return ve_ring_empty() ? 0 : EPOLLIN | EPOLLRDNORM;
}

static const struct file_operations ve_fops = {
	.owner = THIS_MODULE,
	.open = ve_open,
	.release = ve_release,
	.read = ve_read,
	.poll = ve_poll,
	.llseek = noop_llseek,
};

static struct miscdevice ve_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "vexfs_events",
	.fops = &ve_fops,
	.mode = 0400,
};

/* ---- the /proc twin ---------------------------------------------------- */

/*
 * A /proc file holds no reference on the module by itself: its reader takes
 * one, as the device's does through .owner, so the module cannot be unloaded
 * under a reader sleeping on the ring's wait queue.
 */
static int ve_proc_open(struct inode *inode, struct file *file)
{
	int err;

	if (!capable(CAP_AUDIT_READ))
		return -EPERM;
	if (!try_module_get(THIS_MODULE))
		return -ENODEV;
	err = ve_open(inode, file);
	if (err)
		module_put(THIS_MODULE);
	return err;
}

static int ve_proc_release(struct inode *inode, struct file *file)
{
	ve_release(inode, file);
	module_put(THIS_MODULE);
	return 0;
}

static const struct proc_ops ve_proc_ops = {
	.proc_open = ve_proc_open,
	.proc_release = ve_proc_release,
	.proc_read = ve_read,
	.proc_poll = ve_poll,
	.proc_lseek = noop_llseek,
};

static struct proc_dir_entry *ve_proc;

static int __init ve_init(void)
{
	int err;

	if (ve_ring_size < 16 || ve_ring_size > 1048576) {
		pr_err("vexfs_events: ring_size %u out of 16..1048576\n",
		       ve_ring_size);
		return -EINVAL;
	}
	err = ve_ring_init(ve_ring_size);
	if (err)
		return err;
	err = misc_register(&ve_misc);
	if (err)
		goto err_ring;
	ve_proc = proc_create(VEXFS_EV_PROC_NAME, 0400, NULL, &ve_proc_ops);
	if (!ve_proc) {
		err = -ENOMEM;
		goto err_misc;
	}
	err = ve_probes_init();
	if (err)
		goto err_proc;
	pr_info("vexfs_events: loaded, abi %u, ring %u records\n",
		VEXFS_EV_VERSION, ve_ring_size);
	return 0;

err_proc:
	proc_remove(ve_proc);
err_misc:
	misc_deregister(&ve_misc);
err_ring:
	ve_ring_fini();
	return err;
}

static void __exit ve_exit(void)
{
	struct ve_prefixes *pf;

	/* Probes first: once they are gone nothing pushes any more. */
	ve_probes_fini();
	proc_remove(ve_proc);
	misc_deregister(&ve_misc);
	ve_ring_fini();
	pf = rcu_replace_pointer(ve_prefixes, NULL, true);
	kfree(pf);
	rcu_barrier();
	pr_info("vexfs_events: unloaded, %lld recorded, %lld dropped\n",
		(long long)atomic64_read(&ve_recorded),
		(long long)atomic64_read(&ve_dropped));
}

module_init(ve_init);
module_exit(ve_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("VexFS semantic event capture: VFS operations to /dev/vexfs_events");
MODULE_AUTHOR("VexFS project");
