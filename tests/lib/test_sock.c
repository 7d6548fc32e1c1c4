/* SPDX-License-Identifier: Apache-2.0 */
/* vx_sock: the socket factory applies its options to real sockets, resolves wildcard ports,
 * names the endpoint in its errors, and the transport section loads with its defaults. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vx_sock.h"

static vx_socks_t *
s_socks(int hwm, int linger, int64_t max)
{
    char err[256];
    struct vx_transport_config tc = {hwm, linger, max};
    vx_socks_t *s = vx_socks_new(&tc, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    return s;
}

START_TEST(t_options_applied)
{
    vx_socks_t *socks = s_socks(123, 250, 1 << 20);
    char bound[256], err[256];
    struct vx_sock_spec spec = {.type = ZMQ_PULL, .endpoint = "tcp://127.0.0.1:*", .bind = true,
                                .rcvtimeo_ms = 700};
    zsock_t *pull = vx_sock_open(socks, &spec, bound, sizeof bound, err, sizeof err);
    ck_assert_msg(pull != NULL, "%s", err);
    ck_assert_msg(strncmp(bound, "tcp://127.0.0.1:", 16) == 0 && strcmp(bound + 16, "*") != 0,
                  "bound %s", bound);
    ck_assert_int_eq(zsock_rcvhwm(pull), 123);
    ck_assert_int_eq(zsock_sndhwm(pull), 123);
    ck_assert_int_eq(zsock_linger(pull), 250);
    ck_assert_int_eq(zsock_maxmsgsize(pull), 1 << 20);
    ck_assert_int_eq(zsock_rcvtimeo(pull), 700);

    struct vx_sock_spec out = {.type = ZMQ_PUSH, .endpoint = bound, .sndhwm = 7,
                               .linger_ms = 9, .immediate = true, .sndtimeo_ms = 100,
                               .reconnect_ivl_ms = 50, .reconnect_ivl_max_ms = 500};
    zsock_t *push = vx_sock_open(socks, &out, NULL, 0, err, sizeof err);
    ck_assert_msg(push != NULL, "%s", err);
    ck_assert_int_eq(zsock_sndhwm(push), 7);
    ck_assert_int_eq(zsock_linger(push), 9);
    ck_assert_int_eq(zsock_immediate(push), 1);
    ck_assert_int_eq(zsock_sndtimeo(push), 100);
    ck_assert_int_eq(zsock_reconnect_ivl(push), 50);
    ck_assert_int_eq(zsock_reconnect_ivl_max(push), 500);
    /* A sending-only socket gets no frame limit: it reads nothing from peers. */
    ck_assert_int_eq(zsock_maxmsgsize(push), -1);
    zstr_send(push, "hello");
    char *got = zstr_recv(pull);
    ck_assert_str_eq(got, "hello");
    free(got);

    struct vx_sock_spec unl = {.type = ZMQ_DEALER, .endpoint = bound,
                               .rcvhwm = VX_SOCK_HWM_NONE};
    zsock_t *dealer = vx_sock_open(socks, &unl, NULL, 0, err, sizeof err);
    ck_assert_int_eq(zsock_rcvhwm(dealer), 0);
    ck_assert_int_eq(zsock_maxmsgsize(dealer), 1 << 20);
    zsock_destroy(&dealer);
    zsock_destroy(&push);
    zsock_destroy(&pull);
    vx_socks_destroy(&socks);
    ck_assert_ptr_null(socks);
}
END_TEST

START_TEST(t_subscribe)
{
    vx_socks_t *socks = s_socks(1000, 0, 1 << 20);
    char bound[256], err[256];
    struct vx_sock_spec pub = {.type = ZMQ_PUB, .endpoint = "tcp://127.0.0.1:*", .bind = true};
    zsock_t *p = vx_sock_open(socks, &pub, bound, sizeof bound, err, sizeof err);
    struct vx_sock_spec sub = {.type = ZMQ_SUB, .endpoint = bound, .subscribe = "events",
                               .rcvtimeo_ms = 100};
    zsock_t *s = vx_sock_open(socks, &sub, NULL, 0, err, sizeof err);
    ck_assert_ptr_nonnull(s);
    /* Publish until the subscription has reached the publisher. */
    char *got = NULL;
    for (int i = 0; i < 50 && !got; i++) {
        zstr_send(p, "other");
        zstr_send(p, "events-1");
        got = zstr_recv(s);
    }
    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(got, "events-1");
    free(got);
    zsock_destroy(&s);
    zsock_destroy(&p);
    vx_socks_destroy(&socks);
}
END_TEST

START_TEST(t_errors_name_endpoint)
{
    vx_socks_t *socks = s_socks(1000, 0, 1 << 20);
    char err[256];
    struct vx_sock_spec bad = {.type = ZMQ_PULL, .endpoint = "tcp://300.1.1.1:5", .bind = true};
    ck_assert_ptr_null(vx_sock_open(socks, &bad, NULL, 0, err, sizeof err));
    ck_assert_msg(strstr(err, "cannot bind tcp://300.1.1.1:5"), "got: %s", err);
    struct vx_sock_spec none = {.type = ZMQ_PULL, .endpoint = "", .bind = true};
    ck_assert_ptr_null(vx_sock_open(socks, &none, NULL, 0, err, sizeof err));
    ck_assert_str_eq(err, "no endpoint given");
    /* Two binds of one endpoint: the second names it. */
    char bound[256];
    struct vx_sock_spec a = {.type = ZMQ_PULL, .endpoint = "tcp://127.0.0.1:*", .bind = true};
    zsock_t *first = vx_sock_open(socks, &a, bound, sizeof bound, err, sizeof err);
    struct vx_sock_spec b = {.type = ZMQ_PULL, .endpoint = bound, .bind = true};
    ck_assert_ptr_null(vx_sock_open(socks, &b, NULL, 0, err, sizeof err));
    ck_assert_msg(strstr(err, bound) && strstr(err, "in use"), "got: %s", err);
    zsock_destroy(&first);
    struct vx_transport_config zero = {0, 0, 0};
    ck_assert_ptr_null(vx_socks_new(&zero, err, sizeof err));
    vx_socks_destroy(&socks);
}
END_TEST

START_TEST(t_transport_section)
{
    char err[256];
    ck_assert_msg(vx_config_check_table(&vx_cfg_transport_section, err, sizeof err) == 0, "%s",
                  err);
    static const struct vx_cfg_section *const secs[] = {&vx_cfg_transport_section};
    setenv("VEXFS_TRANSPORT_HWM", "77", 1);
    vx_config_t *c = NULL;
    ck_assert_int_eq(vx_config_load(&c, NULL, secs, 1, err, sizeof err), 0);
    unsetenv("VEXFS_TRANSPORT_HWM");
    struct vx_transport_config tc;
    ck_assert_int_eq(vx_config_bind(c, &vx_cfg_transport_section, &tc), 0);
    ck_assert_int_eq(tc.hwm, 77);
    ck_assert_int_eq(tc.linger_ms, 0);
    ck_assert(tc.max_message_bytes == 64 * 1024 * 1024 + 4096);
    vx_config_destroy(&c);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("sock");
    TCase *tc = tcase_create("factory");
    tcase_add_test(tc, t_options_applied);
    tcase_add_test(tc, t_subscribe);
    tcase_add_test(tc, t_errors_name_endpoint);
    tcase_add_test(tc, t_transport_section);
    tcase_set_timeout(tc, 20);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
