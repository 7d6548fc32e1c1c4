/* SPDX-License-Identifier: Apache-2.0 */
/* vx_config: tables, defaults, files, environment overrides, validation messages, patches. */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vx_config.h"
#include "vx_yaml.h"

struct s_conf {
    int32_t window_ms;
    bool enabled;
    const char *endpoint;
    const char *api_token;
    int64_t budget_ns;
};

static const struct vx_cfg_key s_keys[] = {
    {"window_ms", VX_CFG_INT, "1000", 1, 60000, true, "window", VX_CFG_AT(struct s_conf, window_ms)},
    {"enabled", VX_CFG_BOOL, "true", 0, 0, false, "switch", VX_CFG_AT(struct s_conf, enabled)},
    {"endpoint", VX_CFG_STRING, "tcp://127.0.0.1:5550", 0, 64, false, "where",
     VX_CFG_AT(struct s_conf, endpoint)},
    {"api_token", VX_CFG_STRING, "", 0, 64, true, "secret", VX_CFG_AT(struct s_conf, api_token)},
    {"budget_ns", VX_CFG_INT, "5000000000", 1, 60000000000LL, true, "budget",
     VX_CFG_AT(struct s_conf, budget_ns)},
};

/* A cross-key rule: the window must be shorter than the budget. */
static int
cb_check(const void *bound, char *err, size_t errlen)
{
    const struct s_conf *c = bound;
    if ((int64_t)c->window_ms * 1000000 >= c->budget_ns) {
        snprintf(err, errlen, "event_propagation.window_ms: must be below budget_ns (%lld ns)",
                 (long long)c->budget_ns);
        return -EINVAL;
    }
    return 0;
}

static const struct vx_cfg_section s_sec =
    VX_CFG_SECTION("event_propagation", s_keys, struct s_conf, cb_check);
static const struct vx_cfg_section *const s_secs[] = {&s_sec, &vx_cfg_logging_section};

static int
s_load_text(const char *text, vx_config_t **cfg, char *err, size_t errlen)
{
    json_t *doc = vx_yaml_parse(text, strlen(text), err, errlen);
    ck_assert_msg(doc != NULL, "yaml: %s", err);
    int rc = vx_config_from_json(cfg, doc, s_secs, 2, err, errlen);
    json_decref(doc);
    return rc;
}

START_TEST(t_defaults)
{
    char err[256];
    vx_config_t *c = NULL;
    ck_assert_int_eq(vx_config_load(&c, NULL, s_secs, 2, err, sizeof err), 0);
    ck_assert_int_eq(vx_config_int(c, "event_propagation", "window_ms"), 1000);
    ck_assert(vx_config_bool(c, "event_propagation", "enabled"));
    ck_assert_str_eq(vx_config_str(c, "event_propagation", "endpoint"), "tcp://127.0.0.1:5550");
    ck_assert_str_eq(vx_config_str(c, "logging", "level"), "info");
    vx_config_destroy(&c);
    ck_assert_ptr_null(c);
}
END_TEST

START_TEST(t_file_values_and_other_sections)
{
    char err[256];
    vx_config_t *c = NULL;
    int rc = s_load_text("event_propagation:\n  window_ms: 2_500\n  enabled: false\n"
                         "event_routing:\n  anything: 1\n",
                         &c, err, sizeof err);
    ck_assert_msg(rc == 0, "load: %s", err);
    ck_assert_int_eq(vx_config_int(c, "event_propagation", "window_ms"), 2500);
    ck_assert(!vx_config_bool(c, "event_propagation", "enabled"));
    vx_config_destroy(&c);
}
END_TEST

START_TEST(t_unknown_key_named)
{
    char err[256];
    vx_config_t *c = NULL;
    ck_assert_int_eq(s_load_text("event_propagation:\n  windw_ms: 5\n", &c, err, sizeof err),
                     -EINVAL);
    ck_assert_ptr_null(c);
    ck_assert_str_eq(err, "event_propagation.windw_ms: unknown key");
}
END_TEST

START_TEST(t_unknown_section_named)
{
    char err[256];
    vx_config_t *c = NULL;
    ck_assert_int_eq(s_load_text("event_propagaton:\n  window_ms: 5\n", &c, err, sizeof err),
                     -EINVAL);
    ck_assert_str_eq(err, "event_propagaton: unknown section");
}
END_TEST

START_TEST(t_bounds_and_types)
{
    char err[256];
    vx_config_t *c = NULL;
    ck_assert_int_eq(s_load_text("event_propagation:\n  window_ms: 0\n", &c, err, sizeof err),
                     -EINVAL);
    ck_assert_str_eq(err, "event_propagation.window_ms: must be between 1 and 60000, got 0");
    ck_assert_int_eq(s_load_text("event_propagation:\n  window_ms: soon\n", &c, err, sizeof err),
                     -EINVAL);
    ck_assert_str_eq(err, "event_propagation.window_ms: expected an integer");
    ck_assert_int_eq(s_load_text("event_propagation:\n  enabled: maybe\n", &c, err, sizeof err),
                     -EINVAL);
    ck_assert_str_eq(err, "event_propagation.enabled: expected a boolean (true or false)");
    ck_assert_int_eq(s_load_text("event_propagation:\n  endpoint: 5\n", &c, err, sizeof err),
                     -EINVAL);
    ck_assert_str_eq(err, "event_propagation.endpoint: expected a string");
}
END_TEST

START_TEST(t_environment_overrides)
{
    char err[256];
    vx_config_t *c = NULL;
    setenv("VEXFS_EVENT_PROPAGATION_WINDOW_MS", "777", 1);
    setenv("VEXFS_EVENT_PROPAGATION_ENABLED", "no", 1);
    int rc = s_load_text("event_propagation:\n  window_ms: 5\n", &c, err, sizeof err);
    ck_assert_msg(rc == 0, "load: %s", err);
    ck_assert_int_eq(vx_config_int(c, "event_propagation", "window_ms"), 777);
    ck_assert(!vx_config_bool(c, "event_propagation", "enabled"));
    vx_config_destroy(&c);
    setenv("VEXFS_EVENT_PROPAGATION_WINDOW_MS", "99999999", 1);
    ck_assert_int_eq(vx_config_load(&c, NULL, s_secs, 2, err, sizeof err), -EINVAL);
    ck_assert_msg(strstr(err, "VEXFS_EVENT_PROPAGATION_WINDOW_MS") &&
                      strstr(err, "must be between 1 and 60000"),
                  "got: %s", err);
    unsetenv("VEXFS_EVENT_PROPAGATION_WINDOW_MS");
    unsetenv("VEXFS_EVENT_PROPAGATION_ENABLED");
}
END_TEST

START_TEST(t_load_file_error_names_file)
{
    char err[512];
    char path[] = "/tmp/vx-config-test-XXXXXX.yaml";
    int fd = mkstemps(path, 5);
    ck_assert_int_ge(fd, 0);
    const char *text = "logging:\n  level: info\n  colour: red\n";
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    vx_config_t *c = NULL;
    ck_assert_int_eq(vx_config_load(&c, path, s_secs, 2, err, sizeof err), -EINVAL);
    ck_assert_msg(strstr(err, path) && strstr(err, "logging.colour: unknown key"), "got: %s", err);
    unlink(path);
}
END_TEST

START_TEST(t_patch)
{
    char err[256];
    vx_config_t *c = NULL;
    vx_config_t *n = NULL;
    ck_assert_int_eq(vx_config_load(&c, NULL, s_secs, 2, err, sizeof err), 0);
    json_t *p = json_pack("{s:i}", "window_ms", 250);
    ck_assert_int_eq(vx_config_patch(c, "event_propagation", p, &n, err, sizeof err), 0);
    ck_assert_int_eq(vx_config_int(n, "event_propagation", "window_ms"), 250);
    ck_assert_int_eq(vx_config_int(c, "event_propagation", "window_ms"), 1000);
    vx_config_destroy(&n);
    json_decref(p);

    p = json_pack("{s:b}", "enabled", 0);
    ck_assert_int_eq(vx_config_patch(c, "event_propagation", p, &n, err, sizeof err), -EINVAL);
    ck_assert_str_eq(err, "event_propagation.enabled: cannot be changed at run time (restart needed)");
    json_decref(p);
    p = json_pack("{s:i}", "window_ms", -1);
    ck_assert_int_eq(vx_config_patch(c, "event_propagation", p, &n, err, sizeof err), -EINVAL);
    ck_assert_ptr_null(n);
    json_decref(p);
    vx_config_destroy(&c);
}
END_TEST

START_TEST(t_secrets_masked)
{
    char err[256];
    vx_config_t *c = NULL;
    ck_assert_int_eq(s_load_text("event_propagation:\n  api_token: hunter2\n", &c, err, sizeof err),
                     0);
    json_t *j = vx_config_to_json(c);
    char *dump = json_dumps(j, 0);
    ck_assert_ptr_null(strstr(dump, "hunter2"));
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "event_propagation"),
                                                       "api_token")),
                     "***");
    free(dump);
    json_decref(j);
    vx_config_destroy(&c);
}
END_TEST

START_TEST(t_read_secret)
{
    char err[256];
    char path[] = "/tmp/vx-token-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_eq(write(fd, "  s3cret \n", 10), 10);
    close(fd);
    char *tok = vx_config_read_secret(path, err, sizeof err);
    ck_assert_str_eq(tok, "s3cret");
    free(tok);
    unlink(path);
    ck_assert_ptr_null(vx_config_read_secret(path, err, sizeof err));
    ck_assert_msg(strstr(err, "No such file"), "got: %s", err);
    ck_assert_ptr_null(vx_config_read_secret("", err, sizeof err));
    ck_assert_str_eq(err, "");
}
END_TEST

START_TEST(t_secrets_and_urls_masked)
{
    struct sc {
        const char *smtp;
        const char *hook;
        const char *api_key;
    };
    static const struct vx_cfg_key keys[] = {
        {"smtp_url", VX_CFG_SECRET, "", 0, 256, false, "mail", VX_CFG_AT(struct sc, smtp)},
        {"webhook", VX_CFG_STRING, "", 0, 256, false, "hook", VX_CFG_AT(struct sc, hook)},
        {"api_key", VX_CFG_SECRET, "", 0, 256, false, "key", VX_CFG_AT(struct sc, api_key)},
    };
    static const struct vx_cfg_section sec = VX_CFG_SECTION("monitoring", keys, struct sc, NULL);
    static const struct vx_cfg_section *const secs[] = {&sec};
    char err[256];
    ck_assert_msg(vx_config_check_table(&sec, err, sizeof err) == 0, "%s", err);
    json_t *doc = json_pack("{s:{s:s, s:s}}", "monitoring", "smtp_url",
                            "smtp://alice:S3cretMailPw@mail.example:25", "webhook",
                            "https://bob:pw@hooks.example/x?y=1");
    vx_config_t *c = NULL;
    ck_assert_int_eq(vx_config_from_json(&c, doc, secs, 1, err, sizeof err), 0);
    struct sc bound;
    ck_assert_int_eq(vx_config_bind(c, &sec, &bound), 0);
    ck_assert_str_eq(bound.smtp, "smtp://alice:S3cretMailPw@mail.example:25"); /* usable */
    json_t *shown = vx_config_to_json(c);
    char *text = json_dumps(shown, JSON_COMPACT);
    ck_assert_msg(!strstr(text, "S3cretMailPw") && !strstr(text, "alice") && !strstr(text, ":pw@"),
                  "a secret shows: %s", text);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(shown, "monitoring"),
                                                       "smtp_url")),
                     "***");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(shown, "monitoring"),
                                                       "webhook")),
                     "https://***@hooks.example/x?y=1");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(shown, "monitoring"),
                                                       "api_key")),
                     ""); /* empty stays empty: nothing to hide */
    free(text);
    json_decref(shown);
    json_decref(doc);
    vx_config_destroy(&c);
    char out[256];
    ck_assert_str_eq(vx_mask_urls("send to smtp://a:b@h:25 and http://h/p@x", out, sizeof out),
                     "send to smtp://***@h:25 and http://h/p@x");
    ck_assert_str_eq(vx_mask_urls("no url here", out, sizeof out), "no url here");
    /* without a scheme (a library quoting the address it resolves), e-mail addresses kept */
    ck_assert_str_eq(vx_mask_urls("Failed to resolve 'bob:Pw9@127.0.0.1:1:9092': no", out,
                                  sizeof out),
                     "Failed to resolve '***@127.0.0.1:1:9092': no");
    ck_assert_str_eq(vx_mask_urls("mail alice@example.com at 10:00", out, sizeof out),
                     "mail alice@example.com at 10:00");
    ck_assert_str_eq(vx_mask_urls("x://u:p@h", out, 8), "x://***");
}
END_TEST

START_TEST(t_bind_fills_struct)
{
    char err[256];
    vx_config_t *c = NULL;
    int rc = s_load_text("event_propagation:\n  window_ms: 2_500\n  enabled: false\n"
                         "  endpoint: ipc:///tmp/x\n",
                         &c, err, sizeof err);
    ck_assert_msg(rc == 0, "load: %s", err);
    struct s_conf conf;
    memset(&conf, 0xa5, sizeof conf);
    ck_assert_int_eq(vx_config_bind(c, &s_sec, &conf), 0);
    ck_assert_int_eq(conf.window_ms, 2500);
    ck_assert(!conf.enabled);
    ck_assert_str_eq(conf.endpoint, "ipc:///tmp/x");
    ck_assert_str_eq(conf.api_token, "");
    ck_assert(conf.budget_ns == 5000000000LL);
    struct vx_logging_config lg;
    ck_assert_int_eq(vx_config_bind(c, &vx_cfg_logging_section, &lg), 0);
    ck_assert_str_eq(lg.level, "info");
    /* A section the configuration was not loaded with. */
    struct vx_admin_config adm;
    ck_assert_int_eq(vx_config_bind(c, &vx_cfg_admin_section, &adm), -EINVAL);
    vx_config_destroy(&c);
}
END_TEST

START_TEST(t_cross_key_check)
{
    char err[256];
    vx_config_t *c = NULL;
    int rc = s_load_text("event_propagation:\n  window_ms: 6000\n  budget_ns: 5000000000\n", &c,
                         err, sizeof err);
    ck_assert_int_eq(rc, -EINVAL);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err, "window_ms: must be below budget_ns"), "got: %s", err);
    /* A live patch is held to the same rule and changes nothing when refused. */
    ck_assert_int_eq(vx_config_load(&c, NULL, s_secs, 2, err, sizeof err), 0);
    json_t *patch = json_pack("{s:i}", "budget_ns", 1000);
    vx_config_t *next = NULL;
    ck_assert_int_eq(vx_config_patch(c, "event_propagation", patch, &next, err, sizeof err),
                     -EINVAL);
    ck_assert_ptr_null(next);
    ck_assert_msg(strstr(err, "must be below budget_ns"), "got: %s", err);
    json_decref(patch);
    struct s_conf conf;
    ck_assert_int_eq(vx_config_bind(c, &s_sec, &conf), 0);
    ck_assert(conf.budget_ns == 5000000000LL);
    vx_config_destroy(&c);
}
END_TEST

struct s_bad {
    int32_t small;
    char flag;
    int64_t big;
};

START_TEST(t_table_check)
{
    char err[256];
    /* The suite's shared tables are well-formed. */
    ck_assert_msg(vx_config_check_table(&s_sec, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(vx_config_check_table(&vx_cfg_admin_section, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(vx_config_check_table(&vx_cfg_logging_section, err, sizeof err) == 0, "%s", err);
    /* An int32 field whose bounds do not fit it. */
    static const struct vx_cfg_key wide[] = {
        {"small", VX_CFG_INT, "1", 0, 5000000000LL, false, "x", VX_CFG_AT(struct s_bad, small)},
    };
    static const struct vx_cfg_section wide_sec =
        VX_CFG_SECTION("event_routing", wide, struct s_bad, NULL);
    ck_assert_int_eq(vx_config_check_table(&wide_sec, err, sizeof err), -EINVAL);
    ck_assert_msg(strstr(err, "event_routing.small"), "got: %s", err);
    /* A boolean key bound to a field of another size. */
    static const struct vx_cfg_key mistyped[] = {
        {"big", VX_CFG_BOOL, "true", 0, 0, false, "x", VX_CFG_AT(struct s_bad, big)},
    };
    static const struct vx_cfg_section mistyped_sec =
        VX_CFG_SECTION("event_routing", mistyped, struct s_bad, NULL);
    ck_assert_int_eq(vx_config_check_table(&mistyped_sec, err, sizeof err), -EINVAL);
    ck_assert_msg(strstr(err, "event_routing.big"), "got: %s", err);
    /* A default outside the bounds. */
    static const struct vx_cfg_key baddef[] = {
        {"small", VX_CFG_INT, "9", 0, 5, false, "x", VX_CFG_AT(struct s_bad, small)},
    };
    static const struct vx_cfg_section baddef_sec =
        VX_CFG_SECTION("event_routing", baddef, struct s_bad, NULL);
    ck_assert_int_eq(vx_config_check_table(&baddef_sec, err, sizeof err), -EINVAL);
    ck_assert_msg(strstr(err, "between 0 and 5"), "got: %s", err);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("load");
    tcase_add_test(tc, t_defaults);
    tcase_add_test(tc, t_file_values_and_other_sections);
    tcase_add_test(tc, t_environment_overrides);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_test(tc, t_unknown_key_named);
    tcase_add_test(tc, t_unknown_section_named);
    tcase_add_test(tc, t_bounds_and_types);
    tcase_add_test(tc, t_load_file_error_names_file);
    suite_add_tcase(s, tc);
    tc = tcase_create("runtime");
    tcase_add_test(tc, t_patch);
    tcase_add_test(tc, t_secrets_masked);
    tcase_add_test(tc, t_read_secret);
    suite_add_tcase(s, tc);
    tc = tcase_create("binding");
    tcase_add_test(tc, t_bind_fills_struct);
    tcase_add_test(tc, t_cross_key_check);
    tcase_add_test(tc, t_table_check);
    tcase_add_test(tc, t_secrets_and_urls_masked);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
