/* SPDX-License-Identifier: Apache-2.0 */
/* make install into a temporary PREFIX, as a user installs the suite: the programs, libvexfs
 * (shared and static) with its header and vexfs.pc, man pages made from --help, the vexfsctl
 * completion. A program is then built against the installed library with pkg-config, dynamically
 * and statically, and run against a real vexfs-propagation; the installed shared library
 * exports only vexfs_ names; the completion completes; make uninstall removes every file. */
#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "prop_harness.h"
#include "vx_test.h"

static bool
s_sanitized(void)
{
    const char *v = getenv("VX_SANITIZE");
    return v && strcmp(v, "1") == 0;
}

/* Runs a shell command line (the test's own, with paths it made) and returns its output;
 * fails the test unless it exits 0. Caller frees r. */
static void
s_sh(struct vt_run_result *r, const char *cmd, char *const env[])
{
    char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
    ck_assert_msg(vt_run(argv, env, NULL, 600000, r) == 0, "did not finish: %s", cmd);
    ck_assert_msg(WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0,
                  "%s\nexit status %d\nstdout: %s\nstderr: %s", cmd, r->status, r->out, r->err);
}

static void
s_exists(const char *prefix, const char *rel, bool executable)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", prefix, rel);
    ck_assert_msg(access(p, executable ? X_OK : R_OK) == 0, "%s was not installed", p);
}

static size_t
s_count_files(const char *dir)
{
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "find '%s' -type f -o -type l | wc -l", dir);
    struct vt_run_result r;
    s_sh(&r, cmd, NULL);
    size_t n = strtoul(r.out, NULL, 10);
    vt_run_result_fini(&r);
    return n;
}

START_TEST(t_install_build_run_uninstall)
{
    char cwd[PATH_MAX], cmd[8192];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    char *prefix = vt_tmpdir();
    const char *san = s_sanitized() ? " SANITIZE=1" : "";
    struct vt_run_result r;

    snprintf(cmd, sizeof cmd, "make -C '%s' --no-print-directory install PREFIX='%s'%s", cwd,
             prefix, san);
    s_sh(&r, cmd, NULL);
    ck_assert_msg(strstr(r.out, "install: 9 programs, libvexfs "), "%s", r.out);
    vt_run_result_fini(&r);

    const char *progs[] = {"vexfs-propagation", "vexfs-routing", "vexfs-coordinator",
                           "vexfs-automation", "vexfs-analytics", "vexfs-forwarder",
                           "vexfs-fuse", "vexfs-watch"};
    char rel[300];
    for (size_t i = 0; i < sizeof progs / sizeof progs[0]; i++) {
        snprintf(rel, sizeof rel, "bin/%s", progs[i]);
        s_exists(prefix, rel, true);
        snprintf(rel, sizeof rel, "share/man/man8/%s.8", progs[i]);
        s_exists(prefix, rel, false);
    }
    s_exists(prefix, "bin/vexfsctl", true);
    s_exists(prefix, "share/man/man1/vexfsctl.1", false);
    s_exists(prefix, "lib/libvexfs.so", false);
    s_exists(prefix, "lib/libvexfs.so.1", false);
    s_exists(prefix, "lib/libvexfs.a", false);
    s_exists(prefix, "lib/pkgconfig/vexfs.pc", false);
    s_exists(prefix, "include/vexfs/client.h", false);
    s_exists(prefix, "share/bash-completion/completions/vexfsctl", false);

    /* The man page is the program's --help, in roff. */
    snprintf(cmd, sizeof cmd, "cat '%s/share/man/man1/vexfsctl.1'", prefix);
    s_sh(&r, cmd, NULL);
    ck_assert_msg(strstr(r.out, ".TH VEXFSCTL 1 ") && strstr(r.out, ".SH SYNOPSIS") &&
                      strstr(r.out, ".SS rules") && strstr(r.out, "apply FILE"),
                  "%s", r.out);
    vt_run_result_fini(&r);
    snprintf(cmd, sizeof cmd, "cat '%s/share/man/man8/vexfs-routing.8'", prefix);
    s_sh(&r, cmd, NULL);
    ck_assert_msg(strstr(r.out, ".TH VEXFS-ROUTING 8 ") &&
                      strstr(r.out, "max_pattern_matching_latency_ns"),
                  "%s", r.out);
    vt_run_result_fini(&r);

    /* The shared library exports its API and nothing of the suite's insides. */
    snprintf(cmd, sizeof cmd,
             "nm -D --defined-only '%s/lib/libvexfs.so' | awk '{print $3}' | "
             "grep -v -e '^vexfs_[a-z]' -e '^VEXFS_1$' || true",
             prefix);
    s_sh(&r, cmd, NULL);
    ck_assert_msg(r.out[0] == '\0', "exported besides the vexfs_ API:\n%s", r.out);
    vt_run_result_fini(&r);

    /* pkg-config finds it. */
    char pcpath[PATH_MAX + 32];
    snprintf(pcpath, sizeof pcpath, "PKG_CONFIG_PATH=%s/lib/pkgconfig", prefix);
    char *env[] = {pcpath, NULL};
    s_sh(&r, "pkg-config --cflags --libs vexfs", env);
    char want[PATH_MAX + 16];
    snprintf(want, sizeof want, "-I%s/include", prefix);
    ck_assert_msg(strstr(r.out, want) && strstr(r.out, "-lvexfs"), "%s", r.out);
    vt_run_result_fini(&r);

    /* A program built against the installed library, both ways, as the README says. */
    const char *sanflags = s_sanitized() ? "-fsanitize=address,undefined" : "";
    snprintf(cmd, sizeof cmd,
             "cc -o '%s/emit_dyn' '%s/examples/emit_event.c' $(pkg-config --cflags --libs vexfs) "
             "-Wl,-rpath,$(pkg-config --variable=libdir vexfs) %s && "
             "cc -o '%s/emit_static' '%s/examples/emit_event.c' $(pkg-config --cflags vexfs) "
             "$(pkg-config --variable=libdir vexfs)/libvexfs.a "
             "$(pkg-config --libs $(pkg-config --print-requires-private vexfs)) -lm -pthread %s",
             prefix, cwd, sanflags, prefix, cwd, sanflags);
    s_sh(&r, cmd, env);
    vt_run_result_fini(&r);
    snprintf(cmd, sizeof cmd, "ldd '%s/emit_dyn' | grep libvexfs", prefix);
    s_sh(&r, cmd, NULL);
    snprintf(want, sizeof want, "%s/lib/libvexfs.so.1", prefix);
    ck_assert_msg(strstr(r.out, want), "not the installed library: %s", r.out);
    vt_run_result_fini(&r);
    snprintf(cmd, sizeof cmd, "nm '%s/emit_static' | grep ' T vx_' || true", prefix);
    s_sh(&r, cmd, NULL);
    ck_assert_msg(r.out[0] == '\0', "the static library shows the suite's insides:\n%s", r.out);
    vt_run_result_fini(&r);

    struct ph_daemon d;
    ph_start(&d, NULL, NULL);
    zsock_t *pull = ph_pull(&d);
    char ep[128];
    snprintf(ep, sizeof ep, "VEXFS_CLIENT_INGEST_ENDPOINT=%s", d.acked);
    /* The program speaks CURVE with the test's keys as the operator identity ctl, which
     * propagation lets send any event. */
    char *run_env[] = {ep, "VEXFS_SECURITY_IDENTITY=ctl", NULL};
    const char *kinds[] = {"emit_dyn", "emit_static"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd, "'%s/%s' /installed/%s", prefix, kinds[i], kinds[i]);
        s_sh(&r, cmd, run_env);
        snprintf(want, sizeof want, "acknowledged 1 event: filesystem_write /installed/%s",
                 kinds[i]);
        ck_assert_msg(strstr(r.out, want), "%s: %s %s", kinds[i], r.out, r.err);
        vt_run_result_fini(&r);
    }
    zsock_destroy(&pull);
    ph_stop(&d);

    /* The completion completes commands and their verbs from the installed vexfsctl. */
    snprintf(cmd, sizeof cmd,
             "PATH='%s/bin':$PATH bash -c '. \"%s/share/bash-completion/completions/vexfsctl\"; "
             "COMP_WORDS=(vexfsctl ru); COMP_CWORD=1; _vexfsctl; echo \"1:${COMPREPLY[*]}\"; "
             "COMP_WORDS=(vexfsctl rules a); COMP_CWORD=2; _vexfsctl; echo \"2:${COMPREPLY[*]}\"; "
             "COMP_WORDS=(vexfsctl emit --ty); COMP_CWORD=2; _vexfsctl; "
             "echo \"3:${COMPREPLY[*]}\"'",
             prefix, prefix);
    s_sh(&r, cmd, NULL);
    ck_assert_msg(strstr(r.out, "1:rules\n") && strstr(r.out, "2:apply\n") &&
                      strstr(r.out, "3:--type\n"),
                  "%s", r.out);
    vt_run_result_fini(&r);

    /* make uninstall leaves nothing of ours (the test's own programs aside). */
    snprintf(cmd, sizeof cmd, "rm -f '%s/emit_dyn' '%s/emit_static' && "
                              "make -C '%s' --no-print-directory uninstall PREFIX='%s'%s",
             prefix, prefix, cwd, prefix, san);
    s_sh(&r, cmd, NULL);
    ck_assert_msg(strstr(r.out, "uninstall: removed 25 files"), "%s", r.out);
    vt_run_result_fini(&r);
    ck_assert_uint_eq(s_count_files(prefix), 0);
    free(prefix);
}
END_TEST

static Suite *
s_suite(void)
{
    Suite *s = suite_create("install");
    TCase *tc = tcase_create("install");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, t_install_build_run_uninstall);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(s_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
