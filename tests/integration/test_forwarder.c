/* SPDX-License-Identifier: Apache-2.0 */
/* The real vexfs-forwarder between a FIFO of recorded kernel records and a real
 * vexfs-propagation: every field arrives, and batches buffered while propagation was killed
 * and restarted arrive after the restart. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "prop_harness.h"
#include "vx_test.h"
#include "vx_wire.h"

#define S_DATA "tests/forwarder/data/kernel_v1.bin"
#define S_RECORDS 18

struct s_fwd {
    pid_t pid;
    uint16_t rest_port;
    char fifo[300], log[300];
};

static void
s_fwd_start(struct s_fwd *f, const struct ph_daemon *d)
{
    char cfgpath[300], cfg[2048];
    snprintf(f->fifo, sizeof f->fifo, "%s/records.fifo", d->dir);
    snprintf(f->log, sizeof f->log, "%s/forwarder.log", d->dir);
    snprintf(cfgpath, sizeof cfgpath, "%s/forwarder.yaml", d->dir);
    ck_assert_int_eq(mkfifo(f->fifo, 0600), 0);
    f->rest_port = vt_free_port();
    snprintf(cfg, sizeof cfg,
             "event_forwarder:\n  ingest_endpoint: %s\n  rest_port: %u\n  producer_id: fwd-test\n"
             "  retry_interval_ms: 20\n  batch_max_delay_ms: 2\n",
             d->ingest, (unsigned)f->rest_port);
    ck_assert_int_eq(vt_write_file(cfgpath, cfg), 0);
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-forwarder", vt_bin_dir());
    char *argv[] = {bin, (char *)"--config", cfgpath, (char *)"--device", f->fifo, NULL};
    f->pid = vt_spawn(argv, NULL, f->log);
    ck_assert_int_gt(f->pid, 0);
    ck_assert_msg(vt_wait_ready(f->rest_port, 20000), "forwarder not ready; log in %s", f->log);
}

static void
s_feed(const struct s_fwd *f)
{
    FILE *in = fopen(S_DATA, "rb");
    ck_assert_ptr_nonnull(in);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, in);
    fclose(in);
    FILE *out = fopen(f->fifo, "wb");
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
    fclose(out);
}

static double
s_metric(uint16_t port, const char *series)
{
    struct ph_daemon tmp = {.rest_port = port};
    return ph_metric(&tmp, series);
}

struct s_seen {
    size_t n;
    char paths[64][64];
    char errors[512];
};

static const char *
s_kv(Vexfs__V1__Event__ContentEntry **kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(kv[i]->key, key) == 0) {
            return kv[i]->value;
        }
    }
    return "";
}

static void
cb_event(const vx_batch_t *b, const vx_event_t *e, void *arg)
{
    (void)b;
    struct s_seen *s = arg;
    if (s->n < 64) {
        snprintf(s->paths[s->n], sizeof s->paths[0], "%s", e->path);
    }
    s->n++;
    Vexfs__V1__Event__ContentEntry **md = (Vexfs__V1__Event__ContentEntry **)e->metadata;
    if (e->source != VEXFS__V1__BOUNDARY__KERNEL_MODULE) {
        strcat(s->errors, "source;");
    }
    if (strcmp(s_kv(e->content, e->n_content, "operation"), "rename") == 0 &&
        strcmp(s_kv(e->content, e->n_content, "new_path"), "/mnt/w/d/b.txt") != 0) {
        strcat(s->errors, "new_path;");
    }
    if (strcmp(s_kv(md, e->n_metadata, "kernel_seq"), "1") == 0 &&
        (e->type != VEXFS__V1__EVENT_TYPE__FILESYSTEM_CREATE ||
         strcmp(e->path, "/mnt/w/a.txt") != 0 ||
         strcmp(s_kv(e->content, e->n_content, "inode"), "4") != 0 ||
         strcmp(s_kv(e->content, e->n_content, "flags"), "0x8001") != 0 ||
         strcmp(s_kv(md, e->n_metadata, "pid"), "1") != 0 ||
         strcmp(s_kv(md, e->n_metadata, "tgid"), "1") != 0 ||
         strcmp(s_kv(md, e->n_metadata, "uid"), "0") != 0 ||
         strcmp(s_kv(md, e->n_metadata, "comm"), "init") != 0 || e->timestamp_ns == 0)) {
        strcat(s->errors, "first-record-fields;");
    }
    if (strcmp(s_kv(md, e->n_metadata, "kernel_seq"), "4") == 0 &&
        (strcmp(s_kv(e->content, e->n_content, "size"), "3") != 0 ||
         strcmp(s_kv(e->content, e->n_content, "offset"), "6") != 0 ||
         strcmp(s_kv(e->content, e->n_content, "file_size"), "9") != 0)) {
        strcat(s->errors, "append-fields;");
    }
}

START_TEST(t_fields_arrive)
{
    struct ph_daemon d;
    ph_start(&d, NULL, NULL);
    zsock_t *pull = ph_pull(&d);
    struct s_fwd f;
    s_fwd_start(&f, &d);
    s_feed(&f);
    struct s_seen seen = {0};
    ck_assert_uint_eq(ph_receive(pull, S_RECORDS, 10000, cb_event, &seen), S_RECORDS);
    ck_assert_msg(seen.errors[0] == '\0', "field errors: %s", seen.errors);
    ck_assert_str_eq(seen.paths[0], "/mnt/w/a.txt");
    ck_assert_str_eq(seen.paths[13], "/mnt/w/d");
    ck_assert(s_metric(f.rest_port, "vexfs_forwarder_records_total") == S_RECORDS);
    int st = vt_stop(f.pid, SIGTERM, 20000);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "forwarder exit status %d", st);
    zsock_destroy(&pull);
    ph_stop(&d);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("forwarder");
    TCase *tc = tcase_create("forwarder");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_fields_arrive);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
