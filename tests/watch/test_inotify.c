/* SPDX-License-Identifier: Apache-2.0 */
/* The inotify back end with the real emitter into a ZeroMQ PULL socket of the test: moves
 * are paired into renames, a move out of the tree is a delete and a move in a create,
 * directories moved in are watched and their entries reported; bad arguments are refused. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vx_clock.h"
#include "vx_test.h"
#include "vx_wire.h"
#include "wt_config.h"
#include "wt_watch.h"

struct s_env {
    zsock_t *pull;
    vx_config_t *cfg;
    vx_metrics_t *metrics;
    vx_socks_t *socks;
    struct wt_config conf;
    fu_emit_t *emit;
    wt_watch_t *w;
    vx_arena_t *arena;
    char tree[PATH_MAX], out[PATH_MAX];
};

static void
s_env_init(struct s_env *v)
{
    memset(v, 0, sizeof *v);
    v->pull = zsock_new(ZMQ_PULL);
    int port = zsock_bind(v->pull, "tcp://127.0.0.1:*");
    ck_assert_int_gt(port, 0);
    char doc[512], err[256];
    snprintf(doc, sizeof doc,
             "{\"userspace_watcher\": {\"ingest_endpoint\": \"tcp://127.0.0.1:%d\", "
             "\"producer_id\": \"unit\", \"batch_max_delay_ms\": 0, \"rename_pair_ms\": 20}}",
             port);
    json_t *j = json_loads(doc, 0, NULL);
    const struct vx_cfg_section *const secs[] = {&wt_cfg_section};
    ck_assert_int_eq(vx_config_from_json(&v->cfg, j, secs, 1, err, sizeof err), 0);
    json_decref(j);
    v->metrics = vx_metrics_new();
    ck_assert_int_eq(vx_config_bind(v->cfg, &wt_cfg_section, &v->conf), 0);
    struct vx_transport_config tc = {1000, 0, 1 << 20, 0};
    v->socks = vx_socks_new(&tc, NULL, "test", NULL, err, sizeof err);
    v->emit = fu_emit_new(&v->conf.emit, v->socks, VEXFS__V1__BOUNDARY__USERSPACE_API, "watch",
                          v->metrics, err, sizeof err);
    ck_assert_msg(v->emit != NULL, "%s", err);
    char *d = vt_tmpdir();
    snprintf(v->tree, sizeof v->tree, "%s/tree", d);
    snprintf(v->out, sizeof v->out, "%s/out", d);
    free(d);
    ck_assert_int_eq(mkdir(v->tree, 0755), 0);
    ck_assert_int_eq(mkdir(v->out, 0755), 0);
    char *dirs[] = {v->tree};
    ck_assert_int_eq(wt_watch_new(&v->w, "inotify", dirs, 1, 20, v->emit, err, sizeof err), 0);
    ck_assert_str_eq(wt_watch_mode(v->w), "inotify");
    v->arena = vx_arena_new(1 << 16, 0);
}

static void
s_env_fini(struct s_env *v)
{
    wt_watch_destroy(&v->w);
    fu_emit_destroy(&v->emit);
    vx_metrics_destroy(&v->metrics);
    vx_config_destroy(&v->cfg);
    vx_socks_destroy(&v->socks);
    zsock_destroy(&v->pull);
    vx_arena_destroy(&v->arena);
}

/* Runs the watcher and collects "operation path[ -> new_path]" lines until n events came. */
static void
s_pump(struct s_env *v, size_t n, char lines[][2 * PATH_MAX + 32])
{
    size_t got = 0;
    uint64_t deadline = vx_mono_ns() + 5 * VX_NS_PER_S;
    while (got < n && vx_mono_ns() < deadline) {
        struct pollfd p = {wt_watch_fd(v->w), POLLIN, 0};
        int ms = wt_watch_timeout_ms(v->w);
        poll(&p, 1, ms < 0 || ms > 10 ? 10 : ms);
        ck_assert_int_eq(wt_watch_handle(v->w), 0);
        struct vx_wire_msg m;
        while (got < n && vx_wire_recv(zsock_resolve(v->pull), &m, ZMQ_DONTWAIT) == 0) {
            vx_batch_t *b = vx_wire_decode(zmq_msg_data(&m.body), zmq_msg_size(&m.body),
                                           v->arena);
            ck_assert_ptr_nonnull(b);
            ck_assert_str_eq(b->sender, "unit");
            for (size_t i = 0; i < b->n_events && got < n; i++) {
                const vx_event_t *e = b->events[i];
                ck_assert_int_eq(e->source, VEXFS__V1__BOUNDARY__USERSPACE_API);
                const char *op = "", *np = NULL;
                for (size_t k = 0; k < e->n_content; k++) {
                    if (strcmp(e->content[k]->key, "operation") == 0) {
                        op = e->content[k]->value;
                    } else if (strcmp(e->content[k]->key, "new_path") == 0) {
                        np = e->content[k]->value;
                    }
                }
                snprintf(lines[got++], 2 * PATH_MAX + 32, "%s %s%s%s", op, e->path,
                         np ? " -> " : "", np ? np : "");
            }
            vx_wire_msg_fini(&m);
            vx_arena_reset(v->arena);
        }
    }
    ck_assert_uint_eq(got, n);
}

static void
s_want(char lines[][2 * PATH_MAX + 32], size_t i, const char *op, const char *a, const char *b)
{
    char want[2 * PATH_MAX + 32];
    snprintf(want, sizeof want, "%s %s%s%s", op, a, b ? " -> " : "", b ? b : "");
    ck_assert_msg(strcmp(lines[i], want) == 0, "event %zu: got '%s', want '%s'", i, lines[i],
                  want);
}

static void
s_touch(const char *path)
{
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    ck_assert_int_ge(fd, 0);
    close(fd);
}

static char s_lines[8][2 * PATH_MAX + 32];

START_TEST(t_moves)
{
    struct s_env v;
    s_env_init(&v);
    char x[PATH_MAX + 16], x2[PATH_MAX + 16], y[PATH_MAX + 16], y2[PATH_MAX + 16];
    snprintf(x, sizeof x, "%s/x", v.tree);
    snprintf(x2, sizeof x2, "%s/x2", v.tree);
    snprintf(y, sizeof y, "%s/y", v.out);
    snprintf(y2, sizeof y2, "%s/y", v.tree);
    s_touch(x);
    ck_assert_int_eq(rename(x, x2), 0);
    s_pump(&v, 3, s_lines);
    s_want(s_lines, 0, "create", x, NULL);
    s_want(s_lines, 1, "write", x, NULL);
    s_want(s_lines, 2, "rename", x, x2);

    /* Out of the tree: a delete once no move in follows; into it: a create. */
    snprintf(y, sizeof y, "%s/x2", v.out);
    ck_assert_int_eq(rename(x2, y), 0);
    s_pump(&v, 1, s_lines);
    s_want(s_lines, 0, "unlink", x2, NULL);
    ck_assert_int_eq(rename(y, y2), 0);
    s_pump(&v, 1, s_lines);
    s_want(s_lines, 0, "create", y2, NULL);
    s_env_fini(&v);
}
END_TEST

START_TEST(t_directory_moved_in)
{
    struct s_env v;
    s_env_init(&v);
    char sub[PATH_MAX + 16], f[PATH_MAX + 16], in[PATH_MAX + 16], fin[PATH_MAX + 16],
        g[PATH_MAX + 16], in2[PATH_MAX + 16], g2[PATH_MAX + 16];
    snprintf(sub, sizeof sub, "%s/sub", v.out);
    snprintf(f, sizeof f, "%s/sub/f", v.out);
    snprintf(in, sizeof in, "%s/sub", v.tree);
    snprintf(fin, sizeof fin, "%s/sub/f", v.tree);
    snprintf(g, sizeof g, "%s/sub/g", v.tree);
    snprintf(in2, sizeof in2, "%s/sub2", v.tree);
    snprintf(g2, sizeof g2, "%s/sub2/g", v.tree);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    s_touch(f);
    ck_assert_int_eq(rename(sub, in), 0);
    s_pump(&v, 2, s_lines);
    s_want(s_lines, 0, "mkdir", in, NULL);
    s_want(s_lines, 1, "create", fin, NULL);
    /* Now watched; and still after the directory is renamed inside the tree. */
    s_touch(g);
    ck_assert_int_eq(rename(in, in2), 0);
    ck_assert_int_eq(unlink(g2), 0);
    s_pump(&v, 4, s_lines);
    s_want(s_lines, 0, "create", g, NULL);
    s_want(s_lines, 1, "write", g, NULL);
    s_want(s_lines, 2, "rename", in, in2);
    s_want(s_lines, 3, "unlink", g2, NULL);
    s_env_fini(&v);
}
END_TEST

START_TEST(t_bad_arguments)
{
    char err[256];
    wt_watch_t *w = NULL;
    char *none[] = {(char *)"/nonexistent/vexfs"};
    char *file[] = {(char *)"/etc/hostname"};
    char *tmp[] = {(char *)"/tmp"};
    ck_assert_int_eq(wt_watch_new(&w, "inotify", none, 1, 20, NULL, err, sizeof err), -ENOENT);
    ck_assert_ptr_null(w);
    ck_assert_int_eq(wt_watch_new(&w, "inotify", file, 1, 20, NULL, err, sizeof err), -ENOTDIR);
    ck_assert_int_eq(wt_watch_new(&w, "dnotify", tmp, 1, 20, NULL, err, sizeof err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "dnotify"));
    ck_assert_int_eq(wt_watch_new(&w, "inotify", tmp, 0, 20, NULL, err, sizeof err), -EINVAL);
    ck_assert_ptr_null(w);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("watch_inotify");
    TCase *tc = tcase_create("inotify");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, t_moves);
    tcase_add_test(tc, t_directory_moved_in);
    tcase_add_test(tc, t_bad_arguments);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
