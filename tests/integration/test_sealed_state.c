/* SPDX-License-Identifier: Apache-2.0 */
/* The definitions files of vexfs-routing (state_dir/routing-rules.json) and vexfs-analytics
 * (state_dir/queries.json, alert_rules.json) sealed at rest, with the real daemons:
 *   - after rules, filters, queries and alert rules are stored, no file under the state
 *     folder holds their text (paths, patterns, names) in clear, and each file is one sealed
 *     record under the newest data key; a restart reads them back;
 *   - a wrong data key, no data keys (encryption off) and a flipped byte each stop the start
 *     with a message naming the file, and the file is left as it was;
 *   - a plaintext file (written with encryption off, as before sealing) is read and sealed at
 *     the first start with data keys;
 *   - after vexfsctl keys rotate-data, the next start re-seals every file under the new key
 *     (the state key id gauges say so) and the definitions are intact;
 *   - vexfs-automation's LMDB store, rotated under load (executions running before, across and
 *     after the restart onto the new key): its background re-seal reports done, and a walk of
 *     the raw databases with liblmdb finds every sealed value under the new key id. */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "an_harness.h"
#include "rt_harness.h"
#include "vx_clock.h"
#include "vx_seal.h"
#include "vx_test.h"

/* ---- helpers ------------------------------------------------------------------------------ */

static bool
s_tree_has(const char *dir, const char *needle)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "grep -rqaF -- '%s' '%s'", needle, dir);
    int rc = system(cmd);
    return WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
}

static char *
s_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    char *buf = calloc(1, 4 << 20);
    size_t n = fread(buf, 1, (4 << 20) - 1, f);
    fclose(f);
    if (len != NULL) {
        *len = n;
    }
    return buf;
}

static void
s_spit(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* A folder of data keys of its own: a copy of the test's key (id 1), or a new one. */
static void
s_keys(char *out, size_t outlen, const char *base, const char *name, bool copy_test_key)
{
    snprintf(out, outlen, "%s/%s", base, name);
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfsctl", vt_bin_dir());
    if (copy_test_key) {
        ck_assert_int_eq(mkdir(out, 0700), 0);
        char from[600], to[600];
        snprintf(from, sizeof from, "%s/data-1.key", getenv("VEXFS_AT_REST_DATA_KEYS_DIR"));
        snprintf(to, sizeof to, "%s/data-1.key", out);
        size_t n = 0;
        char *k = s_slurp(from, &n);
        s_spit(to, k, n);
        chmod(to, 0600);
        free(k);
        return;
    }
    char *argv[] = {bin, (char *)"keys", (char *)"rotate-data", out, NULL};
    struct vt_run_result r;
    ck_assert_int_eq(vt_run(argv, NULL, NULL, 30000, &r), 0);
    ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "rotate-data: %s", r.err);
    vt_run_result_fini(&r);
}

/* vexfsctl keys rotate-data dir: the new key's id. */
static unsigned
s_rotate(const char *dir)
{
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfsctl", vt_bin_dir());
    char *argv[] = {bin, (char *)"keys", (char *)"rotate-data", (char *)dir, NULL};
    struct vt_run_result r;
    ck_assert_int_eq(vt_run(argv, NULL, NULL, 30000, &r), 0);
    ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "rotate-data: %s", r.err);
    const char *at = r.out ? strstr(r.out, "data key ") : NULL; /* "DIR/data-N.key: data key N" */
    unsigned id = at ? (unsigned)strtoul(at + 9, NULL, 10) : 0;
    vt_run_result_fini(&r);
    ck_assert_uint_gt(id, 1);
    return id;
}

static uint32_t
s_key_id(const char *path)
{
    uint32_t id = 0;
    int rc = vx_seal_file_key_id(path, &id);
    ck_assert_msg(rc == 0, "%s is not a sealed record (%s)", path, strerror(-rc));
    return id;
}

/* Starts bin on cfg with env (extra environment, may be NULL), expects it to refuse to start:
 * a nonzero exit, a log line holding want1 and want2, and file unchanged. */
static void
s_expect_refused(const char *bin, const char *cfg, char *const env[], const char *log,
                 const char *file, const char *want1, const char *want2)
{
    size_t before_len = 0, after_len = 0;
    char *before = s_slurp(file, &before_len);
    char *argv[] = {(char *)bin, (char *)"--config", (char *)cfg, NULL};
    unlink(log);
    pid_t pid = vt_spawn(argv, env, log);
    ck_assert_int_gt(pid, 0);
    int status = vt_wait_exit(pid, 30000);
    char *text = s_slurp(log, NULL);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0,
                  "%s started (status %d) where it had to refuse; log: %s", bin, status, text);
    ck_assert_msg(strstr(text, want1) != NULL && strstr(text, want2) != NULL,
                  "expected the refusal to name \"%s\" and say \"%s\"; log: %s", want1, want2,
                  text);
    free(text);
    char *after = s_slurp(file, &after_len);
    ck_assert_msg(before_len == after_len && memcmp(before, after, before_len) == 0,
                  "the refused start changed %s", file);
    free(before);
    free(after);
}

/* Flips one byte in the middle of file (in the ciphertext) and returns the original. */
static char *
s_flip(const char *file, size_t *len)
{
    char *orig = s_slurp(file, len);
    char *bad = malloc(*len);
    memcpy(bad, orig, *len);
    bad[*len / 2] ^= 0x20;
    s_spit(file, bad, *len);
    free(bad);
    return orig;
}

/* ---- routing ------------------------------------------------------------------------------ */

static const char *const s_rt_set =
    "{\"rules\":[{\"id\":\"rtrulemarker31\",\"conditions\":{\"patterns\":[{\"kind\":\"prefix\","
    "\"pattern\":\"/rtpathmarker5521/\"}]},\"target_boundaries\":[\"analytics\"]}],"
    "\"filters\":[{\"id\":\"rtfiltermarker77\",\"kind\":\"path\",\"conditions\":{\"patterns\":"
    "[{\"kind\":\"prefix\",\"pattern\":\"/rtsecretmarker9/\"}]},\"action\":\"block\"}]}";
static const char *const s_rt_markers[] = {"rtrulemarker31", "rtpathmarker5521",
                                           "rtfiltermarker77", "rtsecretmarker9"};

static void
s_rt_expect_rules(struct rh_daemon *rt)
{
    json_t *r = NULL;
    ck_assert_int_eq(rh_call(rt, "GET", "/v1/rules", NULL, &r), 200);
    char *txt = json_dumps(r, 0);
    ck_assert_msg(strstr(txt, "rtpathmarker5521") != NULL, "rules after restart: %s", txt);
    free(txt);
    json_decref(r);
    ck_assert_int_eq(rh_call(rt, "GET", "/v1/filters", NULL, &r), 200);
    txt = json_dumps(r, 0);
    ck_assert_msg(strstr(txt, "rtsecretmarker9") != NULL, "filters after restart: %s", txt);
    free(txt);
    json_decref(r);
}

static void
s_rt_no_markers(const struct rh_daemon *rt)
{
    for (size_t i = 0; i < sizeof s_rt_markers / sizeof s_rt_markers[0]; i++) {
        ck_assert_msg(!s_tree_has(rt->state_dir, s_rt_markers[i]), "\"%s\" is in clear under %s",
                      s_rt_markers[i], rt->state_dir);
    }
}

START_TEST(t_routing_sealed)
{
    char input[64];
    snprintf(input, sizeof input, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    struct rh_daemon rt;
    rh_start(&rt, input, NULL);
    char keys[400], other[400], file[600], bin[512], envo[600];
    s_keys(keys, sizeof keys, rt.dir, "keys", true);
    s_keys(other, sizeof other, rt.dir, "other-keys", false); /* id 1, other bytes */
    snprintf(file, sizeof file, "%s/routing-rules.json", rt.state_dir);
    snprintf(bin, sizeof bin, "%s/vexfs-routing", vt_bin_dir());
    rh_expect(&rt, "PUT", "/v1/rules", s_rt_set, 200);
    rh_stop(&rt);
    s_rt_no_markers(&rt);
    ck_assert_uint_eq(s_key_id(file), 1);

    /* a restart reads it back */
    rh_restart(&rt);
    s_rt_expect_rules(&rt);
    ck_assert_double_eq(rh_metric(&rt, "vexfs_routing_state_key_id"), 1);
    rh_stop(&rt);

    /* refusals, each naming the file and leaving it as it was */
    snprintf(envo, sizeof envo, "VEXFS_AT_REST_DATA_KEYS_DIR=%s", other);
    char *env_other[] = {envo, NULL};
    s_expect_refused(bin, rt.cfgpath, env_other, rt.log, file, "routing-rules.json",
                     "does not authenticate");
    char *env_off[] = {(char *)"VEXFS_AT_REST_ENCRYPTION=off", NULL};
    s_expect_refused(bin, rt.cfgpath, env_off, rt.log, file, "routing-rules.json",
                     "at_rest.encryption is off");
    size_t len = 0;
    char *orig = s_flip(file, &len);
    s_expect_refused(bin, rt.cfgpath, NULL, rt.log, file, "routing-rules.json",
                     "does not authenticate");
    s_spit(file, orig, len);
    free(orig);

    /* rotation: the next start re-seals under the new key */
    unsigned id = s_rotate(keys);
    setenv("VEXFS_AT_REST_DATA_KEYS_DIR", keys, 1);
    rh_restart(&rt);
    ck_assert_uint_eq(s_key_id(file), id);
    ck_assert_double_eq(rh_metric(&rt, "vexfs_routing_state_key_id"), (double)id);
    s_rt_expect_rules(&rt);
    rh_stop(&rt);
    s_rt_no_markers(&rt);
}
END_TEST

START_TEST(t_routing_migration)
{
    char input[64];
    snprintf(input, sizeof input, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    setenv("VEXFS_AT_REST_ENCRYPTION", "off", 1);
    struct rh_daemon rt;
    rh_start(&rt, input, NULL);
    rh_expect(&rt, "PUT", "/v1/rules", s_rt_set, 200);
    rh_stop(&rt);
    char file[600];
    snprintf(file, sizeof file, "%s/routing-rules.json", rt.state_dir);
    ck_assert_msg(s_tree_has(rt.state_dir, "rtpathmarker5521"),
                  "with encryption off the state file is plaintext");
    unsetenv("VEXFS_AT_REST_ENCRYPTION");
    rh_restart(&rt);
    s_rt_expect_rules(&rt);
    rh_stop(&rt);
    ck_assert_uint_eq(s_key_id(file), 1);
    s_rt_no_markers(&rt);
}
END_TEST

/* ---- analytics ---------------------------------------------------------------------------- */

struct s_an {
    struct ah_daemon d;
    char state[300];
    char cfg[300];
    uint16_t target_port;
};

static void
s_an_config(struct s_an *a)
{
    memset(a, 0, sizeof *a);
    char *t = vt_tmpdir();
    snprintf(a->d.dir, sizeof a->d.dir, "%s", t);
    free(t);
    snprintf(a->state, sizeof a->state, "%s/state", a->d.dir);
    snprintf(a->cfg, sizeof a->cfg, "%s/vexfs.yaml", a->d.dir);
    snprintf(a->d.log, sizeof a->d.log, "%s/analytics.log", a->d.dir);
    a->d.rest_port = vt_free_port();
    a->target_port = vt_free_port();
    snprintf(a->d.input, sizeof a->d.input, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    char tok[300], cfg[4096];
    snprintf(tok, sizeof tok, "%s/token", a->d.dir);
    ck_assert_int_eq(vt_write_file(tok, AH_TOKEN "\n"), 0);
    snprintf(cfg, sizeof cfg,
             "stream_analytics:\n  rest_port: %u\n  input_endpoint: %s\n  state_dir: %s\n"
             "admin:\n  token_file: %s\nlogging:\n  level: info\n",
             (unsigned)a->d.rest_port, a->d.input, a->state, tok);
    ck_assert_int_eq(vt_write_file(a->cfg, cfg), 0);
}

static void
s_an_launch(struct s_an *a)
{
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-analytics", vt_bin_dir());
    char *argv[] = {bin, (char *)"--config", a->cfg, NULL};
    a->d.pid = vt_spawn(argv, NULL, a->d.log);
    ck_assert_int_gt(a->d.pid, 0);
    ck_assert_msg(vt_wait_ready(a->d.rest_port, 30000), "analytics not ready; log in %s",
                  a->d.log);
}

static const char *const s_an_markers[] = {"anquerymarker42", "anpathmarker8817",
                                           "analertmarker63", "anmetricmarker5"};

static void
s_an_define(struct s_an *a)
{
    const char *q = "{\"id\":\"anquerymarker42\",\"window\":{\"kind\":\"tumbling\",\"size_ms\":"
                    "1000},\"filters\":[{\"field\":\"path\",\"op\":\"prefix\",\"value\":"
                    "\"/anpathmarker8817/\"}],"
                    "\"aggregations\":[{\"fn\":\"count\",\"as\":\"n\"}]}";
    json_t *out = NULL;
    long st = ah_call(&a->d, "POST", "/v1/queries", q, true, &out);
    char *txt = out ? json_dumps(out, 0) : NULL;
    ck_assert_msg(st == 201, "POST /v1/queries: %ld %s", st, txt ? txt : "");
    free(txt);
    json_decref(out);
    char rule[1024];
    snprintf(rule, sizeof rule,
             "{\"name\":\"analertmarker63\",\"target\":\"http://127.0.0.1:%u/metrics\","
             "\"metric\":\"anmetricmarker5\",\"condition\":\">\",\"threshold\":5}",
             (unsigned)a->target_port);
    st = ah_call(&a->d, "POST", "/v1/alert-rules", rule, true, &out);
    txt = out ? json_dumps(out, 0) : NULL;
    ck_assert_msg(st == 201, "POST /v1/alert-rules: %ld %s", st, txt ? txt : "");
    free(txt);
    json_decref(out);
}

static void
s_an_expect_defs(struct s_an *a)
{
    json_t *out = NULL;
    ck_assert_int_eq(ah_call(&a->d, "GET", "/v1/queries/anquerymarker42", NULL, true, &out),
                     200);
    json_decref(out);
    ck_assert_int_eq(ah_call(&a->d, "GET", "/v1/alert-rules/analertmarker63", NULL, true, &out),
                     200);
    json_decref(out);
}

static void
s_an_no_markers(const struct s_an *a)
{
    for (size_t i = 0; i < sizeof s_an_markers / sizeof s_an_markers[0]; i++) {
        ck_assert_msg(!s_tree_has(a->state, s_an_markers[i]), "\"%s\" is in clear under %s",
                      s_an_markers[i], a->state);
    }
}

START_TEST(t_analytics_sealed)
{
    struct s_an a;
    s_an_config(&a);
    s_an_launch(&a);
    s_an_define(&a);
    ah_stop(&a.d);
    s_an_no_markers(&a);
    char queries[400], rules[400], bin[512], keys[400], other[400], envo[600];
    snprintf(queries, sizeof queries, "%s/queries.json", a.state);
    snprintf(rules, sizeof rules, "%s/alert_rules.json", a.state);
    snprintf(bin, sizeof bin, "%s/vexfs-analytics", vt_bin_dir());
    ck_assert_uint_eq(s_key_id(queries), 1);
    ck_assert_uint_eq(s_key_id(rules), 1);
    s_an_launch(&a);
    s_an_expect_defs(&a);
    ck_assert_double_eq(ah_metric(&a.d, "vexfs_analytics_state_key_id{file=\"queries.json\"}"),
                        1);
    ah_stop(&a.d);

    s_keys(keys, sizeof keys, a.d.dir, "keys", true);
    s_keys(other, sizeof other, a.d.dir, "other-keys", false);
    snprintf(envo, sizeof envo, "VEXFS_AT_REST_DATA_KEYS_DIR=%s", other);
    char *env_other[] = {envo, NULL};
    s_expect_refused(bin, a.cfg, env_other, a.d.log, rules, "alert_rules.json",
                     "does not authenticate");
    char *env_off[] = {(char *)"VEXFS_AT_REST_ENCRYPTION=off", NULL};
    s_expect_refused(bin, a.cfg, env_off, a.d.log, rules, "alert_rules.json",
                     "at_rest.encryption is off");
    size_t len = 0;
    char *orig = s_flip(queries, &len);
    s_expect_refused(bin, a.cfg, NULL, a.d.log, queries, "queries.json",
                     "does not authenticate");
    s_spit(queries, orig, len);
    free(orig);
    orig = s_flip(rules, &len);
    s_expect_refused(bin, a.cfg, NULL, a.d.log, rules, "alert_rules.json",
                     "does not authenticate");
    s_spit(rules, orig, len);
    free(orig);

    /* rotation: re-sealed at the next start */
    unsigned id = s_rotate(keys);
    setenv("VEXFS_AT_REST_DATA_KEYS_DIR", keys, 1);
    s_an_launch(&a);
    ck_assert_uint_eq(s_key_id(queries), id);
    ck_assert_uint_eq(s_key_id(rules), id);
    ck_assert_double_eq(
        ah_metric(&a.d, "vexfs_analytics_state_key_id{file=\"alert_rules.json\"}"), (double)id);
    s_an_expect_defs(&a);
    ah_stop(&a.d);
    s_an_no_markers(&a);
}
END_TEST

START_TEST(t_analytics_migration)
{
    struct s_an a;
    s_an_config(&a);
    setenv("VEXFS_AT_REST_ENCRYPTION", "off", 1);
    s_an_launch(&a);
    s_an_define(&a);
    ah_stop(&a.d);
    ck_assert_msg(s_tree_has(a.state, "anquerymarker42") && s_tree_has(a.state, "analertmarker63"),
                  "with encryption off the files are plaintext");
    unsetenv("VEXFS_AT_REST_ENCRYPTION");
    s_an_launch(&a);
    s_an_expect_defs(&a);
    ah_stop(&a.d);
    char path[400];
    snprintf(path, sizeof path, "%s/queries.json", a.state);
    ck_assert_uint_eq(s_key_id(path), 1);
    snprintf(path, sizeof path, "%s/alert_rules.json", a.state);
    ck_assert_uint_eq(s_key_id(path), 1);
    s_an_no_markers(&a);
}
END_TEST

/* ---- automation: rotation under load --------------------------------------------------- */

#define S_AU_TOKEN "sealed-token"

struct s_au {
    pid_t pid;
    uint16_t port;
    char dir[256], state[300], cfg[300], log[300];
};

static void
s_au_start(struct s_au *a)
{
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-automation", vt_bin_dir());
    char *argv[] = {bin, (char *)"--config", a->cfg, NULL};
    a->pid = vt_spawn(argv, NULL, a->log);
    ck_assert_int_gt(a->pid, 0);
    ck_assert_msg(vt_wait_ready(a->port, 30000), "automation not ready; log in %s", a->log);
}

static void
s_au_stop(struct s_au *a)
{
    int status = vt_stop(a->pid, SIGTERM, 60000);
    a->pid = 0;
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "automation did not exit cleanly (status %d); log in %s", status, a->log);
}

static long
s_au_call(const struct s_au *a, const char *method, const char *path, const char *body,
          json_t **out)
{
    struct vt_http_result r;
    long st = 0;
    if (out != NULL) {
        *out = NULL;
    }
    if (vt_http(method, a->port, path, body, body ? strlen(body) : 0, S_AU_TOKEN, &r) == 0) {
        st = r.status;
        if (out != NULL && r.body != NULL) {
            *out = json_loads(r.body, 0, NULL);
        }
    }
    vt_http_result_fini(&r);
    return st;
}

struct s_au_load {
    struct s_au *a;
    atomic_bool stop;
    atomic_int accepted;
};

/* Executions started one after the other, as long as the test runs (refusals while the
 * daemon restarts or its queue is full are expected and not counted). They all write the
 * same keys, so many are refused at commit and run again (on_conflict retry) while the store
 * is re-sealed and while the daemon stops. */
static void *
cb_au_load(void *arg)
{
    struct s_au_load *l = arg;
    for (int i = 0; !atomic_load(&l->stop); i++) {
        char body[64];
        snprintf(body, sizeof body, "{\"i\":%d}", i);
        if (s_au_call(l->a, "POST", "/v1/workflows/w/execute", body, NULL) == 202) {
            atomic_fetch_add(&l->accepted, 1);
        } else {
            usleep(2000);
        }
    }
    return NULL;
}

static bool
cb_reseal_done(void *arg)
{
    struct s_au *a = arg;
    json_t *r = NULL;
    bool done = false;
    if (s_au_call(a, "GET", "/v1/stats", NULL, &r) == 200) {
        json_t *rs = json_object_get(json_object_get(r, "store"), "reseal");
        const char *st = json_string_value(json_object_get(rs, "state"));
        done = st != NULL && strcmp(st, "done") == 0;
    }
    json_decref(r);
    return done;
}

/* Counts the sealed values of every database of the store by key id (ids 1..3), reading the
 * environment with liblmdb directly. */
static void
s_lmdb_census(const char *state, size_t by_id[4], size_t *values)
{
    static const char *const dbs[] = {"meta", "state", "defs", "journal", "exec", "hist",
                                      "outbox"};
    memset(by_id, 0, 4 * sizeof *by_id);
    *values = 0;
    MDB_env *env = NULL;
    ck_assert_int_eq(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 16);
    mdb_env_set_mapsize(env, 1ull << 30);
    int rc = mdb_env_open(env, state, MDB_RDONLY, 0600);
    ck_assert_msg(rc == 0, "%s: %s", state, mdb_strerror(rc));
    MDB_txn *txn = NULL;
    ck_assert_int_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    for (size_t d = 0; d < sizeof dbs / sizeof dbs[0]; d++) {
        MDB_dbi dbi;
        ck_assert_int_eq(mdb_dbi_open(txn, dbs[d], 0, &dbi), 0);
        MDB_cursor *cur = NULL;
        ck_assert_int_eq(mdb_cursor_open(txn, dbi, &cur), 0);
        MDB_val k, v;
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            size_t hdr = strcmp(dbs[d], "state") == 0 ? 9 : 0; /* version, object flag */
            uint32_t id = 0;
            if (v.mv_size >= hdr &&
                vx_seal_record_key_id((uint8_t *)v.mv_data + hdr, v.mv_size - hdr, &id) == 0) {
                by_id[id < 4 ? id : 3]++;
                (*values)++;
            } else {
                ck_assert_msg(strcmp(dbs[d], "meta") == 0, "a value in %s is not sealed",
                              dbs[d]);
            }
        }
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    mdb_env_close(env);
}

START_TEST(t_automation_rotation)
{
    struct s_au a;
    memset(&a, 0, sizeof a);
    char *t = vt_tmpdir();
    snprintf(a.dir, sizeof a.dir, "%s", t);
    free(t);
    snprintf(a.state, sizeof a.state, "%s/state", a.dir);
    snprintf(a.cfg, sizeof a.cfg, "%s/vexfs.yaml", a.dir);
    snprintf(a.log, sizeof a.log, "%s/automation.log", a.dir);
    a.port = vt_free_port();
    char tok[300], cfg[2048], keys[400];
    snprintf(tok, sizeof tok, "%s/token", a.dir);
    ck_assert_int_eq(vt_write_file(tok, S_AU_TOKEN "\n"), 0);
    snprintf(cfg, sizeof cfg,
             "reactive_automation:\n  rest_port: %u\n  input_endpoint: tcp://127.0.0.1:%u\n"
             "  state_dir: %s\n  max_executions: 100000\n  max_queued_workflows: 2000\n"
             "admin:\n  token_file: %s\nlogging:\n  level: info\n",
             (unsigned)a.port, (unsigned)vt_free_port(), a.state, tok);
    ck_assert_int_eq(vt_write_file(a.cfg, cfg), 0);
    s_keys(keys, sizeof keys, a.dir, "keys", true);
    setenv("VEXFS_AT_REST_DATA_KEYS_DIR", keys, 1);
    s_au_start(&a);
    const char *wf = "{\"id\":\"w\",\"kind\":\"linear\",\"on_conflict\":\"retry\","
                     "\"conflict_retries\":100,\"steps\":[{\"id\":\"a\",\"action\":{"
                     "\"kind\":\"set_state\",\"path\":\"load.a\",\"value\":\"{{input.i}}\"}},"
                     "{\"id\":\"b\",\"action\":{\"kind\":\"set_state\",\"path\":\"load.b\","
                     "\"value\":\"{{input.i}}\"}}]}";
    ck_assert_int_eq(s_au_call(&a, "PUT", "/v1/workflows/w", wf, NULL), 201);
    for (int i = 0; i < 30; i++) {
        char path[64], body[64];
        snprintf(path, sizeof path, "/v1/state/keep.k%d", i);
        snprintf(body, sizeof body, "{\"value\":%d}", i);
        ck_assert_int_eq(s_au_call(&a, "PUT", path, body, NULL), 204);
    }
    struct s_au_load load = {.a = &a};
    pthread_t th;
    pthread_create(&th, NULL, cb_au_load, &load);
    uint64_t until = vx_mono_ns() + 2 * VX_NS_PER_S;
    while (vx_mono_ns() < until || atomic_load(&load.accepted) < 50) {
        usleep(10000);
    }
    /* rotation, and the restart that takes the new key, while executions keep coming */
    unsigned id = s_rotate(keys);
    s_au_stop(&a);
    s_au_start(&a);
    int before = atomic_load(&load.accepted);
    ck_assert_msg(vt_wait_until(cb_reseal_done, &a, 60000), "the re-seal did not finish; log %s",
                  a.log);
    uint64_t more = vx_mono_ns() + 30 * VX_NS_PER_S;
    while (atomic_load(&load.accepted) < before + 20 && vx_mono_ns() < more) {
        usleep(10000);
    }
    atomic_store(&load.stop, true);
    pthread_join(th, NULL);
    ck_assert_int_ge(atomic_load(&load.accepted), before + 20);
    json_t *r = NULL;
    ck_assert_int_eq(s_au_call(&a, "GET", "/v1/stats", NULL, &r), 200);
    json_t *rs = json_object_get(json_object_get(r, "store"), "reseal");
    ck_assert_int_eq(json_integer_value(json_object_get(rs, "key_id")), id);
    ck_assert_int_eq(json_integer_value(json_object_get(rs, "remaining")), 0);
    ck_assert_int_gt(json_integer_value(json_object_get(rs, "resealed")), 60);
    json_decref(r);
    ck_assert_int_eq(s_au_call(&a, "GET", "/v1/state", NULL, &r), 200);
    json_t *keep = json_object_get(json_object_get(r, "state"), "keep");
    ck_assert_int_eq(json_integer_value(json_object_get(keep, "k29")), 29);
    json_decref(r);
    s_au_stop(&a);
    size_t by[4], values = 0;
    s_lmdb_census(a.state, by, &values);
    ck_assert_msg(by[1] == 0 && by[id < 4 ? id : 3] == values,
                  "%zu values under key 1, %zu of %zu under key %u", by[1],
                  by[id < 4 ? id : 3], values, id);
    ck_assert_uint_gt(values, 60);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("sealed_state");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"routing_sealed", t_routing_sealed},
        {"routing_migration", t_routing_migration},
        {"analytics_sealed", t_analytics_sealed},
        {"analytics_migration", t_analytics_migration},
        {"automation_rotation", t_automation_rotation},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_test(tc, cases[i].test);
        tcase_set_timeout(tc, 180);
        suite_add_tcase(s, tc);
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
